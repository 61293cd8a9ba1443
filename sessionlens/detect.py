"""Spikes in the session-error rate: when they began, how big, when they ended.

The rate is errors over requests per bucket, never the count, so a traffic
surge at the same rate is no spike. Each bucket is tested against a
baseline that knows the hour of day once two days of history exist (what
recurs every night at 03:00 is normal for 03:00); a bucket stands out when
its errors are improbable under the baseline (Poisson upper tail) and the
rate is clearly higher. The onset is the change point where the rate left
its baseline, found by a Poisson likelihood scan.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import polars as pl
from scipy.stats import poisson

NICE_BUCKETS = (60, 120, 300, 600, 900, 1800, 3600)


@dataclass(frozen=True)
class DetectSettings:
    """Thresholds of spike detection; defaults documented in docs/analysis.md.

    Attributes:
        alpha: a bucket stands out when P(errors >= observed | baseline) < alpha.
        min_ratio: ... and its rate is at least this multiple of the baseline.
        min_errors: ... and it has at least this many errors.
        gap_buckets: quiet buckets allowed inside one spike.
        min_spike_errors: a spike needs at least this many errors in all.
        shrink_requests: weight (in requests) pulling an hour's baseline toward the global rate.
        target_requests: the automatic bucket aims at this many requests per bucket.
    """

    alpha: float = 1e-6
    min_ratio: float = 1.5
    min_errors: int = 4
    gap_buckets: int = 5
    min_spike_errors: int = 15
    shrink_requests: float = 500.0
    target_requests: float = 60.0


@dataclass
class Spike:
    """One episode of raised session-error rate."""

    id: str
    start: datetime
    end: datetime
    onset: datetime
    peak_rate: float
    baseline_rate: float
    session_errors: int
    requests: int


def choose_bucket(requests: int, seconds: float, settings: DetectSettings) -> int:
    """A bucket long enough to hold ``target_requests`` on average, from NICE_BUCKETS."""
    if requests <= 0 or seconds <= 0:
        return 60
    want = settings.target_requests * seconds / requests
    return next((b for b in NICE_BUCKETS if b >= want), NICE_BUCKETS[-1])


def baseline(series: pl.DataFrame, flagged: np.ndarray, settings: DetectSettings) -> np.ndarray:
    """Expected rate per bucket, leaving flagged buckets out.

    With two days or more, a bucket's expectation is the same hour of day on
    the *other* days (so a long incident cannot raise its own baseline),
    shrunk toward the other days' overall rate; with less history, the
    overall rate of the unflagged buckets.
    """
    req = series["requests"].to_numpy().astype(float)
    err = series["errors"].to_numpy().astype(float)
    keep = ~flagged
    start = series["bucket"].min()
    days_seen = series.filter(pl.col("requests") > 0)["bucket"].dt.date().n_unique() if series.height else 0
    if days_seen < 2:
        rate = err[keep].sum() / max(req[keep].sum(), 1.0)
        return np.full(len(req), rate)
    secs = (series["bucket"] - start).dt.total_seconds().to_numpy()
    day = (secs // 86400).astype(int)
    hour = series["bucket"].dt.hour().to_numpy().astype(int)
    ndays = day.max() + 1
    E = np.zeros((ndays, 24))
    N = np.zeros((ndays, 24))
    np.add.at(E, (day[keep], hour[keep]), err[keep])
    np.add.at(N, (day[keep], hour[keep]), req[keep])
    e_other = E.sum(axis=0)[hour] - E[day, hour]
    n_other = N.sum(axis=0)[hour] - N[day, hour]
    g_other = (E.sum() - E.sum(axis=1)[day]) / np.maximum(N.sum() - N.sum(axis=1)[day], 1.0)
    k = settings.shrink_requests
    return (e_other + k * g_other) / (n_other + k)


def flag(series: pl.DataFrame, expected: np.ndarray, settings: DetectSettings) -> tuple[np.ndarray, np.ndarray]:
    """(p-values, flags) per bucket under the expected rates."""
    req = series["requests"].to_numpy().astype(float)
    err = series["errors"].to_numpy().astype(float)
    mu = np.maximum(req * expected, 1e-9)
    p = poisson.sf(err - 1, mu)
    rate = err / np.maximum(req, 1)
    flags = (p < settings.alpha) & (rate >= settings.min_ratio * np.maximum(expected, 1e-9)) & (err >= settings.min_errors)
    return p, flags


def onset_index(req: np.ndarray, err: np.ndarray, lo: int, hi: int) -> int:
    """The split in [lo, hi) that best separates a low rate before from a high one after.

    Maximises the Poisson log-likelihood of two rates (a single change point).
    """
    best, best_ll = hi - 1, -math.inf
    cr, ce = np.cumsum(req[lo:hi]), np.cumsum(err[lo:hi])
    total_r, total_e = cr[-1], ce[-1]

    def ll(e: float, r: float) -> float:
        return e * math.log(e / r) - e if e > 0 and r > 0 else 0.0

    for i in range(1, hi - lo):
        r1, e1 = cr[i - 1], ce[i - 1]
        r2, e2 = total_r - r1, total_e - e1
        if e2 / max(r2, 1) <= e1 / max(r1, 1):
            continue  # the later segment must be the higher one
        value = ll(e1, r1) + ll(e2, r2)
        if value > best_ll:
            best, best_ll = lo + i, value
    return best


def find_spikes(series: pl.DataFrame, bucket_seconds: int, settings: DetectSettings = DetectSettings()) -> list[Spike]:
    """Spikes in a rate series (columns bucket, requests, errors), oldest first."""
    if series.height == 0:
        return []
    series = _fill_gaps(series, bucket_seconds)
    flagged = np.zeros(series.height, dtype=bool)
    for _ in range(6):  # baseline without the spikes, flags against it, until they settle
        expected = baseline(series, flagged, settings)
        _, new_flags = flag(series, expected, settings)
        if (new_flags == flagged).all():
            break
        flagged = new_flags
    req = series["requests"].to_numpy().astype(float)
    err = series["errors"].to_numpy().astype(float)
    times = series["bucket"].to_list()
    spikes: list[Spike] = []
    idx = np.flatnonzero(flagged)
    groups: list[list[int]] = []
    # gaps count only buckets that had requests: an outage with no traffic says nothing
    busy_before = np.cumsum(req > 0)
    for i in idx:
        if groups and busy_before[i - 1] - busy_before[groups[-1][-1]] <= settings.gap_buckets:
            groups[-1].append(int(i))
        else:
            groups.append([int(i)])
    previous_end = 0
    for g in groups:
        first, last = g[0], g[-1]
        if err[first:last + 1].sum() < settings.min_spike_errors:
            continue
        lo = max(previous_end, first - 30)
        previous_end = last + 1
        onset = onset_index(req, err, lo, min(len(req), first + 3)) if first > lo else first
        onset = min(onset, first)
        rates = err[first:last + 1] / np.maximum(req[first:last + 1], 1)
        spikes.append(Spike(
            id=f"spike-{len(spikes) + 1}",
            start=times[first],
            end=times[last] + timedelta(seconds=bucket_seconds),
            onset=times[onset],
            peak_rate=float(rates.max()),
            baseline_rate=float(expected[first:last + 1].mean()),
            session_errors=int(err[first:last + 1].sum()),
            requests=int(req[first:last + 1].sum()),
        ))
    return spikes


def _fill_gaps(series: pl.DataFrame, bucket_seconds: int) -> pl.DataFrame:
    """Buckets with no requests are rows of zeros, so positions are times."""
    full = pl.DataFrame({"bucket": pl.datetime_range(series["bucket"].min(), series["bucket"].max(),
                                                     interval=f"{bucket_seconds}s", eager=True,
                                                     time_zone=series["bucket"].dtype.time_zone)})
    return full.join(series, on="bucket", how="left").fill_null(0).sort("bucket")
