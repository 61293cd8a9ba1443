"""Where a spike's errors sit: dimension values holding far more than their share of them."""

from __future__ import annotations

import math
from dataclasses import dataclass

from . import queries
from .detect import Spike

SEGMENT_DIMENSIONS = ("cookie_format", "app_version", "host", "host_version", "edge_worker", "cache_status",
                      "route", "client_key")


@dataclass(frozen=True)
class SegmentSettings:
    """Thresholds of segment finding; defaults documented in docs/analysis.md."""

    min_error_share: float = 0.15  # a segment holds at least this share of the errors...
    min_lift: float = 2.0  # ... and this multiple of its share of requests


@dataclass
class Segment:
    dimension: str
    value: str
    error_share: float
    request_share: float
    rate: float

    @property
    def lift(self) -> float:
        return self.error_share / max(self.request_share, 1e-9)


def segments(con, spike: Spike, settings: SegmentSettings = SegmentSettings()) -> list[Segment]:
    """Dimension values where the spike's errors sit far beyond their share of requests."""
    found = []
    for dim in SEGMENT_DIMENSIONS:
        frame = queries.run(con, "segment_shares", {"start": spike.onset, "end": spike.end}, dimension=dim)
        for row in frame.head(20).iter_rows(named=True):
            es, rs = row["error_share"] or 0.0, row["request_share"] or 0.0
            if row["value"] == "(none)" and dim != "cookie_format":
                continue
            if es >= settings.min_error_share and es >= settings.min_lift * rs:
                found.append(Segment(dim, row["value"], float(es), float(rs), float(row["rate"] or 0.0)))
    # most surprising first: the error share weighted by how far it exceeds the request share
    found.sort(key=lambda s: -(s.error_share * math.log(s.lift)))
    return found[:10]
