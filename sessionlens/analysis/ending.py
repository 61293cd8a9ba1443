"""What is still abnormal at the end of the data, in sentences a reader can act on.

An analysis says when a spike began and what caused it; the person reading
it during an incident also needs to know what is wrong *now*: a host left on
the bad version after a rollback, a cookie format still failing, a rate not
yet back to its baseline. Over the last ``tail`` of the window (30 min, or a
few buckets when buckets are long):

* the overall rate, when a spike is still open there, against that spike's
  baseline (a spike confined to one segment: that segment's rate);
* each value of host, app_version, host × version, cookie_format and
  edge_worker against the rest of the traffic over the same minutes (slice
  by slice, weighted as the value's requests fall) *and* against its own
  rate in the hours before the spike (so a host that always errs a little
  more is not news). A value gone before the last slices is not "still"
  anything.

A value is reported only with at least ``min_errors`` errors, a rate at least
``min_multiple`` times both references, a one-sided conditional binomial
test below ``alpha``, and at most ``max_request_share`` of the traffic (above
that, "the rest" is the minority and the overall sentence says it better).
Quiet data, or data back to normal, says nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Iterable

import polars as pl
from scipy.stats import binomtest, poisson

from ..lake.engine import Engine
from ..lake.sql import DIMENSIONS as GROUPABLE
from .spikes import Spike
from .text import duration, join_words, multiple, names_something, pct, times

DIMENSIONS = ("host", "app_version", "host_version", "cookie_format", "edge_worker")
LABELS = {"cookie_format": "cookie format", "edge_worker": "edge worker verdict", "app_version": "version",
          "host": "host", "host_version": "host and version"}
Q = "'"  # a possessive apostrophe, outside f-string expressions
PRIORITY = {"host": 0, "app_version": 1, "host_version": 1}  # the order sentences come in; others after


@dataclass(frozen=True)
class EndingSettings:
    """Thresholds of the end-of-data check; defaults documented in docs/analysis.md."""

    tail: timedelta = timedelta(minutes=30)  # "the end of the data"...
    tail_buckets: int = 3  # ... or this many buckets, if longer
    slice: timedelta = timedelta(minutes=5)  # values are compared with the rest slice by slice (or bucket by bucket)
    recent_slices: int = 2  # a value must still be seen in the last slices
    baseline_span: timedelta = timedelta(hours=6)  # a segment's own rate: this long before the spike
    before_span: timedelta = timedelta(hours=2)  # "still runs": versions the other hosts served this long before
    min_errors: int = 10
    min_multiple: float = 2.0
    alpha: float = 1e-4  # about 100 values are tested: a false sentence in roughly one analysis in a hundred
    max_request_share: float = 0.5
    shrink_requests: float = 500.0  # pulls a thin segment's own baseline toward the overall one
    max_sentences: int = 5


@dataclass
class Finding:
    """One dimension value whose error rate stands out at the end of the data."""

    dimension: str
    value: str
    errors: int
    requests: int
    reference: float  # the rest's rate over the same minutes, weighted as the value's requests fall
    share: float  # of the end's errors
    p: float

    @property
    def rate(self) -> float:
        return self.errors / max(self.requests, 1)

    @property
    def strength(self) -> float:
        """Share of the end's errors weighted by how far the rate exceeds the rest (as segments rank)."""
        m = multiple(self.rate, self.reference)
        return self.share * (math.log(m) if m != math.inf else 10.0)


def still_abnormal(engine: Engine, start: datetime, end: datetime, bucket_seconds: int, spikes: Iterable[Spike] = (),
                   settings: EndingSettings = EndingSettings()) -> list[str]:
    """Sentences on what is still abnormal at the end of the window's data; empty when all is normal.

    Args:
        engine: the lake's query engine.
        start: the window's start.
        end: the window's end; the end of the data is the last request before it.
        bucket_seconds: the analysis's bucket (the tail is at least ``tail_buckets`` of them).
        spikes: the analysis's spikes: an open one gives the overall baseline; the
            first onset bounds the period a segment's own rate comes from.
        settings: thresholds.
    """
    last = engine.run("ending_last_request", {"start": start, "end": end})["last_ts"][0]
    if last is None:
        return []
    span = max(settings.tail, timedelta(seconds=bucket_seconds * settings.tail_buckets))
    tail_start = max(start, last - span)
    tail_end = max(end, last + timedelta(microseconds=1))
    period = f"last {duration((last - tail_start).total_seconds() + 1)}"
    spikes = sorted(spikes, key=lambda s: s.onset)
    # a segment's own rate comes from before the first spike: a window before a later one could lie
    # inside an earlier one
    onset = next((s.onset for s in spikes if s.onset < tail_start), None)
    base_end = min(tail_start, onset) if onset else tail_start
    params = {"tail_start": tail_start, "tail_end": tail_end, "base_start": base_end - settings.baseline_span,
              "base_end": base_end, "slice_seconds": max(int(settings.slice.total_seconds()), bucket_seconds)}
    frames = {dim: engine.run("ending_segments", params, dimension=dim) for dim in DIMENSIONS}

    sentences = []
    for spike in spikes:  # each spike still open at the end: the overall one, or one per segment
        if spike.end > tail_start:
            sentence = _overall(engine, spike, frames, params, period, settings)
            if sentence and sentence not in sentences:
                sentences.append(sentence)
    found = [f for dim in DIMENSIONS for f in _findings(dim, frames[dim], settings)]
    if found:
        served = engine.run("ending_host_versions", {"before_start": tail_start - settings.before_span,
                                                     "tail_start": tail_start, "tail_end": tail_end})
        sentences += _words(found, served, period, settings)
    return sentences[:settings.max_sentences]


def _overall(engine: Engine, spike: Spike, frames: dict[str, pl.DataFrame], params: dict[str, Any], period: str,
             settings: EndingSettings) -> str | None:
    """The open spike's rate (overall, or in its segment) at the end against its baseline."""
    segment = spike.segment  # a spike confined to one segment, e.g. ("host", "web07")
    if segment:
        dim, value = segment
        frame = frames.get(dim)
        if frame is None:
            if dim not in GROUPABLE:
                return None
            frame = engine.run("ending_segments", params, dimension=dim)
        rows = frame.filter((pl.col("value") == str(value)) & pl.col("slice").is_not_null())
        errors, requests = int(rows["errors"].sum()), int(rows["requests"].sum())
        where = f"the session-error rate on {LABELS.get(dim, dim)} {value}"
    else:
        # every request falls in one value (or "(none)") of any dimension
        tail = frames[DIMENSIONS[0]].filter(pl.col("slice").is_not_null())
        errors, requests = int(tail["errors"].sum()), int(tail["requests"].sum())
        where = "the overall session-error rate"
    rate, base = errors / max(requests, 1), spike.baseline_rate
    if errors < settings.min_errors or multiple(rate, base) < settings.min_multiple:
        return None
    if base > 0 and poisson.sf(errors - 1, requests * base) >= settings.alpha:
        return None
    if base == 0:  # no multiple of nothing
        return f"{where} is still {pct(rate)} against a baseline of 0% ({period})"
    return f"{where} is still {times(rate, base)} its baseline ({pct(rate)} vs {pct(base)}, {period})"


def _findings(dim: str, frame: pl.DataFrame, settings: EndingSettings) -> list[Finding]:
    """The dimension's values that stand out against the rest and against their own past.

    The rest's rate is taken slice by slice and weighted as the value's
    requests fall: a value seen mostly in the worse minutes of the tail (an
    edge verdict toggled halfway through it) is not blamed for them.
    """
    tail = frame.filter(pl.col("slice").is_not_null())
    if tail.height == 0:
        return []
    total_e, total_n = int(tail["errors"].sum()), int(tail["requests"].sum())
    per_slice = tail.group_by("slice").agg(slice_e=pl.col("errors").sum(), slice_n=pl.col("requests").sum())
    compared = (tail.join(per_slice, on="slice")
                .with_columns(rest_e=pl.col("slice_e") - pl.col("errors"),
                              rest_n=pl.col("slice_n") - pl.col("requests"))
                .filter(pl.col("rest_n") > 0)  # a slice with no other traffic has nothing to compare with
                .group_by("value")
                .agg(e=pl.col("errors").sum(), n=pl.col("requests").sum(),
                     expected=(pl.col("requests") * pl.col("rest_e") / pl.col("rest_n")).sum(),
                     trials=pl.col("slice_e").sum(),  # the errors of the slices it shares with the rest...
                     mean=(pl.col("slice_e") * pl.col("requests") / pl.col("slice_n")).sum())  # ... its due part
                .filter(pl.col("e") >= settings.min_errors))
    # a value gone before the last slices (an edge worker toggled off mid-tail) is not "still" anything
    recent = sorted(tail["slice"].unique().to_list())[-settings.recent_slices:]
    present = set(tail.filter(pl.col("slice").is_in(recent))["value"].to_list())
    compared = compared.filter(pl.col("value").is_in(present))
    base = frame.filter(pl.col("slice").is_null())
    base_of = {r["value"]: (int(r["errors"]), int(r["requests"])) for r in base.iter_rows(named=True)}
    base_e, base_n = int(base["errors"].sum()), int(base["requests"].sum())
    k = settings.shrink_requests
    out = []
    for row in compared.iter_rows(named=True):  # one row per value: a handful, never per log row
        value, e, n = row["value"], int(row["e"]), int(row["n"])
        if not names_something(dim, value):
            continue  # no host, no version: nothing to name
        if n / total_n > settings.max_request_share:
            continue
        rate, reference = e / n, row["expected"] / n
        if multiple(rate, reference) < settings.min_multiple:
            continue
        # its own rate before, shrunk toward everyone's: a value new at the end has only the latter
        if base_n:
            own_e, own_n = base_of.get(value, (0, 0))
            own = (own_e + k * base_e / base_n) / (own_n + k)
            if multiple(rate, own) < settings.min_multiple:
                continue
        # under "the same rate as the rest", its errors are (about) binomial over the slices' errors
        trials = int(row["trials"])
        p = binomtest(e, trials, min(1.0, row["mean"] / trials), alternative="greater").pvalue if trials else 1.0
        if p < settings.alpha:
            out.append(Finding(dim, value, e, n, reference, e / max(total_e, 1), p))
    return out


def _words(found: list[Finding], served, period: str, settings: EndingSettings) -> list[str]:
    """One sentence per finding, the host one naming its version; the same rows said once."""
    by_host: dict[str, list[tuple[str, int, int]]] = {}
    for row in served.iter_rows(named=True):
        by_host.setdefault(row["host"], []).append((row["app_version"], int(row["tail_requests"]),
                                                    int(row["before_requests"])))
    hosts = {f.value for f in found if f.dimension == "host"}
    versions = {f.value for f in found if f.dimension == "app_version"}
    out = []
    # hosts first: a host left on a version is what an operator can act on at once
    for f in sorted(found, key=lambda f: (PRIORITY.get(f.dimension, 2), -f.strength)):
        def versus(theirs: str, f=f) -> str:
            if f.reference == 0:  # no multiple of nothing
                return f"is {pct(f.rate)} while {theirs} is 0% ({period})"
            return f"is {times(f.rate, f.reference)} {theirs} ({pct(f.rate)} vs {pct(f.reference)}, {period})"

        label, rest = LABELS.get(f.dimension, f.dimension), versus("the rest's")
        if f.dimension == "host":
            out.append(_host_sentence(f.value, by_host, versus))
        elif f.dimension == "app_version":
            on = sorted(h for h, vs in by_host.items() if any(v == f.value and t for v, t, _ in vs))
            if on and set(on) <= hosts:
                continue  # the host sentences already name it
            where = f" (on {join_words(on, limit=3)})" if on else ""
            out.append(f"the session-error rate of version {f.value}{where} {versus('the other versions' + Q)}")
        elif f.dimension == "host_version":
            host, _, version = f.value.rpartition(" @ ")
            if host in hosts or version in versions:
                continue
            out.append(f"the session-error rate of {host} on {version} {rest}")
        elif f.dimension == "cookie_format" and f.value == "(none)":
            out.append(f"the session-error rate of requests without a session cookie {rest}")
        else:
            out.append(f"the session-error rate of requests with {label} {f.value} {rest}")
    return out


def _host_sentence(host: str, by_host: dict, versus) -> str:
    """``web04 still runs v1.41.0 (the other hosts run v1.40.2) and its session-error rate is 8x theirs (...)``."""
    mine = [(v, t) for v, t, _ in by_host.get(host, []) if t]
    others = {h: [(v, t) for v, t, _ in vs if t] for h, vs in by_host.items() if h != host}
    if mine:
        version = max(mine, key=lambda vt: vt[1])[0]
        theirs = sorted({max(vs, key=lambda vt: vt[1])[0] for vs in others.values() if vs})
        if theirs and version not in theirs:
            # "still": other hosts served it before the end and have moved off it since
            before = any(v == version and b for h, vs in by_host.items() if h != host for v, _, b in vs)
            runs = "still runs" if before else "runs"
            return (f"{host} {runs} {version} (the other hosts run {join_words(theirs, limit=3)}) "
                    f"and its session-error rate {versus('theirs')}")
    return f"{host}'s session-error rate {versus('the other hosts' + Q)}"

