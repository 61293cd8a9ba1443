"""Where a spike's errors sit: the parts of the traffic holding far more than their share of them.

Two views of the spike window [onset, end), one list:

* single dimensions (``queries/segment_shares.sql``): each value of
  cookie_format, host_version, host, app_version, edge_worker, cache_status,
  route and client_key, judged on its own;
* multi-attribute elements (``queries/segment_leaves.sql`` and the engine in
  ``localise.py``): the traffic is cut into leaves, one per combination of
  host, app_version, cookie_format, edge_worker, cache_status, route family,
  vhost and method, each compared with its own history before the onset; the
  engine names the most general combinations that hold the anomalous errors,
  e.g. ``cookie_format=rails-encrypted-gcm`` *and* ``app_version=v1.40.2``
  (new cookies on hosts still on the old version).

A combination is one Segment whose ``dimension`` joins the attribute names
with '&' and whose ``value`` joins their values in the same order:
``Segment("host&app_version", "web04&v1.41.0", ...)``; its shares and rate
are those of exactly that combination in the spike window. A single
attribute the engine names is spelt as the single dimensions are.

Every segment holds at least ``min_error_share`` of the spike's errors and
``min_lift`` times its share of requests. The single dimensions come first,
best first by error share x log(lift), as the simplest statements; the
combinations after them, in the engine's order, say where within those the
errors sit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import timedelta

import polars as pl

from ..lake.engine import Engine
from .localise import LocalizeSettings, localize
from .spikes import Spike
from .text import names_something

# on equal scores the earlier dimension is listed first: host_version names both a host and a version
SEGMENT_DIMENSIONS = ("cookie_format", "host_version", "host", "app_version", "edge_worker", "cache_status",
                      "route", "client_key")
# the leaves' attributes (client_key stays a single dimension: a few clients are a note, not a combination)
LEAF_DIMENSIONS = ("host", "app_version", "cookie_format", "edge_worker", "cache_status", "route_family", "vhost",
                   "method")


@dataclass(frozen=True)
class SegmentSettings:
    """Thresholds of segment finding; defaults documented in docs/analysis.md."""

    min_error_share: float = 0.15  # a segment holds at least this share of the errors...
    min_lift: float = 2.0  # ... and this multiple of its share of requests
    max_single: int = 10  # single-dimension segments listed at most
    history_factor: float = 4.0  # the leaves' history: this many spike lengths before the onset...
    min_history: timedelta = timedelta(hours=1)  # ... at least this long...
    max_history: timedelta = timedelta(days=1)  # ... and at most this (one scan stays cheap)
    max_values: int = 12  # values kept per leaf dimension; the rest are lumped as '(other)'
    localize: LocalizeSettings = field(default_factory=LocalizeSettings)  # the engine's (the benchmark's too)


@dataclass
class Segment:
    """A part of the spike's traffic: a dimension's value, or a combination ('host&app_version', 'web04&v1.41.0').

    The shares are of the spike window's session errors and requests, the rate its errors over its requests.
    """

    dimension: str
    value: str
    error_share: float
    request_share: float
    rate: float

    @property
    def lift(self) -> float:
        return self.error_share / max(self.request_share, 1e-9)


def segments(engine: Engine, spike: Spike, settings: SegmentSettings = SegmentSettings()) -> list[Segment]:
    """Where the spike's errors sit far beyond their share of requests: single dimensions, then combinations."""
    found = _single(engine, spike, settings)
    for seg in _combined(engine, spike, settings):
        # the same errors out of the same requests (a route family that is one route, a host that alone
        # runs a version) is the same part of the traffic, already listed
        if not any(math.isclose(seg.error_share, s.error_share, abs_tol=1e-9)
                   and math.isclose(seg.request_share, s.request_share, abs_tol=1e-9) for s in found):
            found.append(seg)
    return found


def _concentrated(es: float, rs: float, settings: SegmentSettings) -> bool:
    return es >= settings.min_error_share and es >= settings.min_lift * rs


def _single(engine: Engine, spike: Spike, settings: SegmentSettings) -> list[Segment]:
    found = []
    for dim in SEGMENT_DIMENSIONS:
        frame = engine.run("segment_shares", {"start": spike.onset, "end": spike.end}, dimension=dim)
        for row in frame.head(20).iter_rows(named=True):
            es, rs = row["error_share"] or 0.0, row["request_share"] or 0.0
            if not names_something(dim, row["value"]):
                continue
            if _concentrated(es, rs, settings):
                found.append(Segment(dim, row["value"], float(es), float(rs), float(row["rate"] or 0.0)))
    # most surprising first: the error share weighted by how far it exceeds the request share
    found.sort(key=lambda s: -(s.error_share * math.log(s.lift)))
    return found[:settings.max_single]


def _combined(engine: Engine, spike: Spike, settings: SegmentSettings) -> list[Segment]:
    """The engine's elements over the leaves, as Segments."""
    length = spike.end - spike.onset
    history = min(max(length * settings.history_factor, settings.min_history), settings.max_history)
    leaves = engine.run("segment_leaves", {"hist_start": spike.onset - history, "start": spike.onset,
                                           "end": spike.end, "cap": settings.max_values})
    errors, requests = float(leaves["errors"].sum()), float(leaves["requests"].sum())
    if not errors or not requests:
        return []
    # a dimension with one value cannot tell one part of the traffic from another
    dims = [d for d in LEAF_DIMENSIONS if leaves[d].n_unique() > 1]
    out = []
    for element in localize(leaves, dims, settings.localize):
        attrs = [(d, element.attributes[d]) for d in dims if d in element.attributes]
        if any(v == "(other)" or not names_something(d, v) for d, v in attrs):
            continue  # a lump of leftover values, or traffic the logs say nothing about: nothing to name
        inside = leaves.filter(pl.all_horizontal([pl.col(d) == v for d, v in attrs]))
        e, n = float(inside["errors"].sum()), float(inside["requests"].sum())
        es, rs = e / errors, n / requests
        if _concentrated(es, rs, settings):
            out.append(Segment("&".join(d for d, _ in attrs), "&".join(v for _, v in attrs), float(es), float(rs),
                               float(e / max(n, 1))))
    return out
