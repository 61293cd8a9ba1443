"""The time range of the bulk of a lake's data, never stretched by one outlier.

A single line dated years away (a broken clock, a misparse that slipped
through) must not decide what ``analyze`` or ``nightly`` look at, nor make
them scan or bucket decades. The span is the cluster of hours that holds the
most rows, where hours with data less than ``GAP`` apart belong together.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from .engine import Engine

GAP = timedelta(days=7)  # data further than this from the bulk is an outlier
# A few rows at an end of the bulk, apart from the rest by more than this,
# are stray too (a line dated hours ahead must not move "now").
EDGE_GAP = timedelta(hours=6)
EDGE_SHARE = 0.01


@dataclass(frozen=True)
class Span:
    """The bulk's first and last timestamp, and the rows left outside it."""

    start: datetime | None
    end: datetime | None
    outside: int = 0
    first_outside: datetime | None = None


def bulk_span(engine: Engine, table: str = "requests") -> Span:
    """The span of the bulk of ``table`` (``start`` is None when it is empty).

    Args:
        engine: the lake's engine (:meth:`Lake.engine <sessionlens.lake.store.Lake.engine>`).
        table: ``requests`` or ``events``.
    """
    hours = engine.run("lake_hours", table=table).rows()
    if not hours:
        return Span(None, None)
    clusters: list[list[tuple[datetime, int]]] = [[hours[0]]]
    for hr, n in hours[1:]:
        if hr - clusters[-1][-1][0] > GAP:
            clusters.append([])
        clusters[-1].append((hr, n))
    bulk = max(clusters, key=lambda c: sum(n for _, n in c))
    total = sum(n for _, n in bulk)
    trimmed = 0
    while len(bulk) > 1 and bulk[-1][0] - bulk[-2][0] > EDGE_GAP and bulk[-1][1] <= EDGE_SHARE * total:
        trimmed += bulk.pop()[1]
    while len(bulk) > 1 and bulk[1][0] - bulk[0][0] > EDGE_GAP and bulk[0][1] <= EDGE_SHARE * total:
        trimmed += bulk.pop(0)[1]
    lo, hi = bulk[0][0], bulk[-1][0] + timedelta(hours=1)
    start, end = engine.one("lake_span", {"lo": lo, "hi": hi}, table=table)
    outside = trimmed + sum(n for c in clusters if c is not bulk for _, n in c)
    first_outside = next((c[0][0] for c in clusters if c is not bulk), None)
    return Span(start, end, outside, first_outside)


def full_span(engine: Engine, table: str = "requests") -> tuple:
    """The first and last timestamp of ``table``, outliers included: ``(None, None)`` when it is empty."""
    return engine.one("lake_span", {"lo": None, "hi": None}, table=table)


def newest(engine: Engine) -> datetime | None:
    """The end of the bulk of the data, requests or events (a lake of app events only has no requests)."""
    ends = [bulk_span(engine, table).end for table in ("requests", "events")]
    return max((t for t in ends if t is not None), default=None)
