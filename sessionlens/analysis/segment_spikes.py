"""Spikes confined to one segment: a canary host, a version, a cookie format, an edge verdict, a route.

A canary on one host of ten can make that host's error rate jump tenfold
while the overall rate barely moves. So the pooled search of
:mod:`sessionlens.analysis.cusum` also runs within every value of the segment
dimensions. A value with history is held to its own baseline (its hours of
day on the other days, as the overall rate is), blended with the overall
expected rate by how many errors its history holds (a value that never
erred is not expected to stay at exactly zero); a *new* value (absent while
its share of the traffic would have brought 20 requests: a new version, a
canary host) is held to the overall expected rate. The threshold counts
every series searched, so searching more segments does not make more false
spikes.

A segment spike that overlaps a spike of the overall rate is not reported
again (the overall spike's ``segments`` show where its errors are), unless
the overall rate barely moved (less than ``CONFINED_MULTIPLE`` times its
baseline) and the segment holds most of the excess errors: then the spike
*is* the segment's and is reported as such. Of segment spikes that overlap
each other (the canary host and the version it runs are the same traffic)
the strongest stands for them.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import polars as pl

from ..lake.engine import Engine
from .cusum import episodes, poisson_gain, threshold_for
from .onset import ONSET_BEFORE, date_onset, onset_interval, settle_onset, trim
from .spikes import DetectSettings, Fit, Spike, baseline, episode_passes

# Searched in this order; on a tie the first names the spike (a host says more than its version).
SEARCHED_DIMENSIONS = ("host", "app_version", "cookie_format", "edge_worker", "cache_status", "vhost", "route")
MAX_VALUES = 30  # per dimension: the busiest values and those with the most errors
NEW_VALUE_REQUESTS = 20  # a value absent while its share would have brought this many requests is new
OWN_BASELINE_ERRORS = 10  # a value's own baseline gets half the weight once its history holds this many errors
MAX_RAISED_SHARE = 0.3  # a value raised for more of its active time than this is at its usual level
CONFINED_MULTIPLE = 3.0  # an overall spike below this multiple of its baseline may be a segment's...
CONFINED_SHARE = 0.7  # ... when one segment holds this share of its excess errors


def segment_series(engine: Engine, since: datetime, until: datetime, bucket_seconds: int) -> dict[str, pl.DataFrame]:
    """Per dimension, the rate series of its values (value, bucket, requests, errors), in one scan of the
    requests (``queries/rate_by_bucket_segments.sql``); dimensions with one value left out."""
    frame = engine.run("rate_by_bucket_segments", {"since": since, "until": until,
                                                   "bucket_seconds": bucket_seconds, "max_values": MAX_VALUES})
    out = {}
    for dim in SEARCHED_DIMENSIONS:
        part = frame.filter(pl.col("dimension") == dim).drop("dimension")
        if part["value"].n_unique() >= 2:
            out[dim] = part
    return out


def count_series(frames: dict[str, pl.DataFrame]) -> int:
    return sum(f["value"].n_unique() for f in frames.values())


def find_segment_spikes(frames: dict[str, pl.DataFrame], fit: Fit, overall: list[Spike], bucket_seconds: int,
                        settings: DetectSettings | None = None, searched: int = 1) -> list[Spike]:
    """Every spike, overall and confined to a segment, one per episode, oldest first.

    Args:
        frames: ``segment_series`` of the same period and bucket as ``fit``.
        fit: the overall series' fit (its expected rate per bucket).
        overall: the spikes found in the overall rate (each kept, or replaced by the segment it is confined to).
        settings: thresholds (default ``DetectSettings()``).
        searched: every series searched in the analysis (the threshold's multiple-testing count).
    """
    settings = settings or DetectSettings()
    times = fit.series["bucket"]
    base = np.maximum(fit.expected, 1e-9)
    h = threshold_for(len(times), searched, len(settings.cusum_ratios), settings.false_alarm)
    found: list[tuple[float, int, Spike]] = []
    for rank_dim, (dim, frame) in enumerate(frames.items()):
        values, req, err = _matrix(frame, times)
        mu0 = req * base[None, :]
        new = _new_values(req, fit)
        expected_errors = _expected(req, err, mu0, new, fit.buckets, settings, h)
        for ep in episodes(err, expected_errors, settings.cusum_ratios, h):
            e, m = err[ep.series], expected_errors[ep.series]
            lo, hi = trim(e, m, ep.onset, ep.end)
            errors, expected = float(e[lo:hi].sum()), float(m[lo:hi].sum())
            if not episode_passes(errors, expected, settings, segment=True):
                continue
            n = req[ep.series, lo:hi]
            if not new[ep.series] and (n > 0).sum() >= MAX_RAISED_SHARE * (req[ep.series] > 0).sum():
                continue  # raised for much of its life: a mix that shifted, not an episode to date
            rates = e[lo:hi] / np.maximum(n, 1)
            before = max(0, lo - ONSET_BEFORE)
            onset, earliest, latest = settle_onset(date_onset(e, m, before, lo, hi - 1),
                                                   onset_interval(e, m, before, lo, hi - 1), lo)
            start, end = times[lo], times[hi - 1] + timedelta(seconds=bucket_seconds)
            spike = Spike(id="", start=start, end=end, onset=times[onset], peak_rate=float(rates[n > 0].max()),
                          baseline_rate=expected / max(n.sum(), 1), session_errors=int(errors),
                          requests=int(n.sum()), segment=(dim, values[ep.series]),
                          onset_earliest=times[earliest] if earliest < onset else None,
                          onset_latest=times[latest] if latest > onset else None)
            found.append((poisson_gain(errors, expected), rank_dim, spike))
    return _strongest_per_episode(found, overall)


def _matrix(frame: pl.DataFrame, times: pl.Series) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(values, requests, errors) as (values x buckets) arrays on the overall series' buckets."""
    values = sorted(frame["value"].unique().to_list())
    index = {t: i for i, t in enumerate(times.to_list())}
    rows = frame.with_columns(pl.col("value").replace_strict(values, list(range(len(values))), return_dtype=pl.Int64)
                              .alias("_row"))
    cols = np.array([index.get(t, -1) for t in rows["bucket"].to_list()])
    ok = cols >= 0
    req = np.zeros((len(values), len(times)))
    err = np.zeros_like(req)
    r = rows["_row"].to_numpy()[ok]
    req[r, cols[ok]] = rows["requests"].to_numpy()[ok]
    err[r, cols[ok]] = rows["errors"].to_numpy()[ok]
    return values, req, err


def _new_values(req: np.ndarray, fit: Fit) -> np.ndarray:
    """Values absent while their share of the traffic would have brought ``NEW_VALUE_REQUESTS`` requests."""
    total = req.sum(axis=1)
    first_seen = np.argmax(req > 0, axis=1)
    all_requests = fit.series["requests"].to_numpy().astype(float)
    before = np.concatenate([[0.0], np.cumsum(all_requests)])[first_seen]
    after = np.maximum(all_requests.sum() - before, 1.0)
    return total / after * before >= NEW_VALUE_REQUESTS


def _expected(req: np.ndarray, err: np.ndarray, mu0: np.ndarray, new: np.ndarray, buckets: pl.DataFrame,
              settings: DetectSettings,
              h: float) -> np.ndarray:
    """Each value's expected errors per bucket, a (values, buckets) array.

    A value with history is held to its own baseline (``detect.baseline``:
    its hours of day on the other days, or its flat rate with less than two
    days): a login page that always errs, or errs on a daily rhythm of its
    own, is normal for itself. A *new* value, absent while its share of the
    traffic would have brought ``NEW_VALUE_REQUESTS`` requests (a new
    version, a canary host), has no history and is held to the overall
    expected rate. The baseline is learnt again without the raised runs,
    unless they cover more than ``MAX_RAISED_SHARE`` of the buckets where the
    value had requests (a value raised for most of its life is at its usual level).
    """

    expected = mu0.copy()
    for row in np.flatnonzero(~new):
        own = buckets.with_columns(requests=pl.Series(req[row]), errors=pl.Series(err[row]))
        flagged = np.zeros(req.shape[1], dtype=bool)
        mu = req[row] * baseline(own, flagged, settings)
        raised = np.zeros_like(flagged)
        for ep in episodes(err[row][None, :], mu[None, :], settings.cusum_ratios, h):
            raised[ep.onset:ep.end] = True
        active = req[row] > 0
        if raised.any() and (raised & active).sum() < MAX_RAISED_SHARE * active.sum():
            mu = req[row] * baseline(own, raised, settings)
        else:
            raised[:] = False
        # a value's own baseline is only as good as its errors: with few, it leans on the overall one
        # (a value that never erred must not be expected to stay at exactly zero)
        seen = err[row][~raised].sum()
        weight = seen / (seen + OWN_BASELINE_ERRORS)
        expected[row] = weight * mu + (1 - weight) * mu0[row]
    return expected


def _excess(spike: Spike) -> float:
    return spike.session_errors - spike.baseline_rate * spike.requests


def _strongest_per_episode(found: list[tuple[float, int, Spike]], overall: list[Spike]) -> list[Spike]:
    """Overall spikes (or the segment each is confined to) and the segment spikes no overall one covers;
    of overlapping segment spikes the strongest."""
    out: list[Spike] = []
    free = list(found)
    for o in overall:
        inside = [f for f in free if f[2].start < o.end and o.onset < f[2].end]
        free = [f for f in free if f not in inside]
        confined = [f for f in inside if _excess(f[2]) >= CONFINED_SHARE * max(_excess(o), 1e-9)]
        if confined and o.rate < CONFINED_MULTIPLE * max(o.baseline_rate, 1e-9):
            out.append(_pick(confined))
        else:
            out.append(o)
    free.sort(key=lambda f: f[2].start)
    groups: list[list[tuple[float, int, Spike]]] = []
    for f in free:
        if groups and any(f[2].start < g[2].end for g in groups[-1]):
            groups[-1].append(f)
        else:
            groups.append([f])
    return sorted(out + [_pick(g) for g in groups], key=lambda s: s.start)


def _pick(group: list[tuple[float, int, Spike]]) -> Spike:
    """The strongest; of those that are the same traffic as it (a canary host and the version only it
    runs: requests and errors within 10%) or within 2% of its strength, the earlier dimension in
    SEARCHED_DIMENSIONS names it."""
    top = max(group, key=lambda x: x[0])

    def same(x) -> bool:
        a, b = x[2], top[2]
        return (abs(a.requests - b.requests) <= 0.1 * b.requests
                and abs(a.session_errors - b.session_errors) <= 0.1 * max(b.session_errors, 1))

    return min((x for x in group if x[0] >= 0.98 * top[0] or same(x)), key=lambda x: x[1])[2]
