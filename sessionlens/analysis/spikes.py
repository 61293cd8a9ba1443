"""Spikes in the session-error rate: when they began, how big, when they ended.

The rate is errors over requests per bucket, never the count, so a traffic
surge at the same rate is no spike. Each bucket is tested against a baseline
that knows the hour of day once two days of history exist (what recurs every
night at 03:00 is normal for 03:00); a bucket stands out when its errors are
improbable under the baseline (Poisson upper tail) and the rate is clearly
higher. The onset is where the rate left its baseline (:mod:`onset`).

One bucket cannot show a small or slow rise, so evidence is also pooled over
buckets by a Poisson CUSUM (:mod:`cusum`), whose onset is where the rise truly
began. ``find_segment_spikes`` (:mod:`segment_spikes`) runs the same search
within each host, version, cookie format, edge verdict, cache, vhost, route.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

import numpy as np
import polars as pl
from scipy.stats import poisson

from .cusum import episodes, threshold_for
from .onset import ONSET_BEFORE, date_onset, onset_index, onset_interval, settle_onset, trim

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
        shrink_errors: prior weight (in errors) pulling a time-of-day factor below 1 back toward 1.
        rise_errors: prior weight (in errors) pulling a time-of-day factor above 1 toward 1.
        target_requests: the automatic bucket aims at this many requests per bucket.
        cusum_ratios: the rises the pooled (CUSUM) search is tuned to, as multiples of the baseline.
        false_alarm: the chance of one false pooled episode over a whole analysis (every series searched).
        min_pooled_ratio: a pooled episode's rate is at least this multiple of its baseline...
        min_pooled_errors: ... and it holds at least this many errors.
        min_segment_ratio: a segment's episode needs this multiple instead (its own baseline rests on
            fewer requests, and a shifting mix moves a segment's rate by a few times without any fault).
        max_bucket: the automatic bucket is at most this long (pooling makes long buckets unnecessary).
    """

    alpha: float = 1e-6
    min_ratio: float = 1.5
    min_errors: int = 4
    gap_buckets: int = 5
    min_spike_errors: int = 15
    shrink_errors: float = 20.0
    rise_errors: float = 2.0
    target_requests: float = 60.0
    cusum_ratios: tuple[float, ...] = (2.0, 8.0)
    false_alarm: float = 0.01
    min_pooled_ratio: float = 2.0
    min_pooled_errors: int = 5
    min_segment_ratio: float = 4.0
    max_bucket: int = 600


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
    segment: tuple[str, str] | None = None  # (dimension, value) when the spike is confined to one segment
    onset_earliest: datetime | None = None  # the earliest onset the counts allow (onset_interval)
    onset_latest: datetime | None = None  # ... and the latest; None: the onset's own bucket

    @property
    def rate(self) -> float:
        """The session-error rate over the whole spike."""
        return self.session_errors / max(self.requests, 1)


def choose_bucket(requests: int, seconds: float, settings: DetectSettings) -> int:
    """A bucket long enough to hold ``target_requests`` on average, from NICE_BUCKETS."""
    if requests <= 0 or seconds <= 0:
        return 60
    want = settings.target_requests * seconds / requests
    nice = [b for b in NICE_BUCKETS if b <= settings.max_bucket] or [NICE_BUCKETS[0]]
    return next((b for b in nice if b >= want), nice[-1])


def baseline(series: pl.DataFrame, flagged: np.ndarray, settings: DetectSettings) -> np.ndarray:
    """Expected rate per bucket, leaving flagged buckets out.

    With two days or more, a bucket's expectation comes from the *other*
    days (so a long incident cannot raise its own baseline): their overall
    rate, times an hour-of-day factor, times a factor for the bucket's
    quarter hour within that hour. Each factor is shrunk toward 1 by a
    prior worth ``shrink_errors`` errors, so a quiet hour with two errors
    yesterday does not set a baseline near zero, while a nightly purge
    that adds a hundred errors at 03:00-03:15 is learnt as normal there.
    With less history: the overall rate of the unflagged buckets.
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
    minute_of_day = (series["bucket"].dt.hour().cast(pl.Int32) * 60 + series["bucket"].dt.minute()).to_numpy()
    hour, slot = minute_of_day // 60, minute_of_day // 15
    ndays = day.max() + 1
    E, N = np.zeros(ndays), np.zeros(ndays)
    np.add.at(E, day[keep], err[keep])
    np.add.at(N, day[keep], req[keep])
    g_other = (E.sum() - E[day]) / np.maximum(N.sum() - N[day], 1.0)
    # hour of day, then quarter hour, on the other days: errors seen against errors predicted
    e_h, m_h = _other_days(day, hour, 24, err * keep, req * keep, ndays)
    f_hour = shrunk_factor(e_h, m_h * g_other, settings)
    e_s, m_s = _other_days(day, slot, 96, err * keep, req * keep, ndays)
    f_slot = shrunk_factor(e_s, m_s * g_other * f_hour, settings)
    return g_other * f_hour * f_slot


def shrunk_factor(seen: np.ndarray, predicted: np.ndarray, settings: DetectSettings) -> np.ndarray:
    """How much a time of day's rate departs from the rest: seen over predicted errors, shrunk toward 1.

    Asymmetric on purpose: a factor below 1 (a baseline under the site's
    usual rate, which makes false spikes) needs the evidence of
    ``shrink_errors`` errors, while a factor above 1 (a recurring nightly
    purge, which only makes the time less sensitive) needs ``rise_errors``.
    """
    low = (seen + settings.shrink_errors) / (predicted + settings.shrink_errors)
    high = (seen + settings.rise_errors) / (predicted + settings.rise_errors)
    return np.maximum(low, high)


def _other_days(day: np.ndarray, key: np.ndarray, keys: int, err: np.ndarray, req: np.ndarray,
                ndays: int) -> tuple[np.ndarray, np.ndarray]:
    """Errors and requests at each bucket's key (hour, quarter hour) summed over the other days."""
    E, N = np.zeros((ndays, keys)), np.zeros((ndays, keys))
    np.add.at(E, (day, key), err)
    np.add.at(N, (day, key), req)
    return E.sum(axis=0)[key] - E[day, key], N.sum(axis=0)[key] - N[day, key]


def flag(series: pl.DataFrame, expected: np.ndarray, settings: DetectSettings) -> tuple[np.ndarray, np.ndarray]:
    """(p-values, flags) per bucket under the expected rates."""
    req = series["requests"].to_numpy().astype(float)
    err = series["errors"].to_numpy().astype(float)
    mu = np.maximum(req * expected, 1e-9)
    p = poisson.sf(err - 1, mu)
    rate = err / np.maximum(req, 1)
    flags = ((p < settings.alpha) & (rate >= settings.min_ratio * np.maximum(expected, 1e-9))
             & (err >= settings.min_errors))
    return p, flags


def pooled_flags(req: np.ndarray, err: np.ndarray, expected: np.ndarray, settings: DetectSettings,
                 searched: int = 1) -> np.ndarray:
    """Buckets inside pooled (CUSUM) episodes that pass the episode gates, for one series.

    ``searched``: how many series the whole analysis searches, so the
    threshold keeps the false-alarm chance over all of them.
    """
    flags = np.zeros(len(req), dtype=bool)
    mu = req * np.maximum(expected, 1e-9)
    h = threshold_for(len(req), searched, len(settings.cusum_ratios), settings.false_alarm)
    for ep in episodes(err[None, :], mu[None, :], settings.cusum_ratios, h):
        lo, hi = trim(err, mu, ep.onset, ep.end)
        if episode_passes(err[lo:hi].sum(), mu[lo:hi].sum(), settings):
            flags[lo:hi] = True
    return flags


def episode_passes(errors: float, expected: float, settings: DetectSettings, segment: bool = False) -> bool:
    """A pooled episode counts when its errors are many and far above what was expected."""
    ratio = settings.min_segment_ratio if segment else settings.min_pooled_ratio
    return errors >= settings.min_pooled_errors and errors >= ratio * max(expected, 1e-9)


def find_spikes(series: pl.DataFrame, bucket_seconds: int, settings: DetectSettings = DetectSettings(),
                searched: int = 1) -> list[Spike]:
    """Spikes in a rate series (columns bucket, requests, errors), oldest first.

    ``searched``: the number of series the analysis searches in all (the
    overall rate and every segment), for the pooled search's threshold.
    """
    if series.height == 0:
        return []
    fit = fit_baseline(series, bucket_seconds, settings, searched)
    return spikes_from_flags(fit.series, fit.flagged, fit.pooled, fit.expected, bucket_seconds, settings)


@dataclass
class Fit:
    """A rate series with no gaps, its expected rate per bucket and the buckets found raised."""

    series: pl.DataFrame
    expected: np.ndarray
    flagged: np.ndarray
    pooled: np.ndarray

    @property
    def buckets(self) -> pl.DataFrame:
        """The bucket column alone, to build other series on the same buckets."""
        return self.series.select("bucket")


def fit_baseline(series: pl.DataFrame, bucket_seconds: int, settings: DetectSettings = DetectSettings(),
                 searched: int = 1) -> Fit:
    """The expected rate of every bucket, learnt without the raised buckets, and those buckets."""
    series = _fill_gaps(series, bucket_seconds)
    req = series["requests"].to_numpy().astype(float)
    err = series["errors"].to_numpy().astype(float)
    flagged = np.zeros(series.height, dtype=bool)
    pooled = flagged
    for _ in range(6):  # baseline without the spikes, flags against it, until they settle
        expected = baseline(series, flagged, settings)
        _, new_flags = flag(series, expected, settings)
        pooled = pooled_flags(req, err, expected, settings, searched)
        new_flags |= pooled
        if (new_flags == flagged).all():
            break
        flagged = new_flags
    return Fit(series, expected, flagged, pooled)


def spikes_from_flags(series: pl.DataFrame, flagged: np.ndarray, pooled: np.ndarray, expected: np.ndarray,
                      bucket_seconds: int, settings: DetectSettings) -> list[Spike]:
    """Flagged buckets grouped into spikes (quiet gaps of up to ``gap_buckets`` allowed), each dated."""
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
        # a spike rests on many errors in single buckets, or on a pooled episode (small or slow rises)
        if err[first:last + 1].sum() < settings.min_spike_errors and not pooled[first:last + 1].any():
            continue
        lo = max(previous_end, first - ONSET_BEFORE)
        previous_end = last + 1
        onset = date_onset(err, req * np.maximum(expected, 1e-9), lo, first, last)
        if onset is not None:
            # a change point dates the start of a ramp, which noise can pull a few buckets early:
            # the best two-rate split near it, up to the first raised bucket, sharpens it
            onset = onset_index(req, err, max(lo, onset - 3), min(len(req), max(first, onset) + 3))
        else:
            onset = onset_index(req, err, lo, min(len(req), first + 3)) if first > lo else first
        onset = min(onset, first) if not pooled[first] else onset
        onset, earliest, latest = settle_onset(onset, onset_interval(err, req * np.maximum(expected, 1e-9),
                                                                     lo, first, last), first)
        rates = err[first:last + 1] / np.maximum(req[first:last + 1], 1)
        spikes.append(Spike(
            id=f"spike-{len(spikes) + 1}",
            start=times[first],
            end=times[last] + timedelta(seconds=bucket_seconds),
            onset=times[onset],
            peak_rate=float(rates.max()),
            baseline_rate=float((expected[first:last + 1] * req[first:last + 1]).sum()
                                / max(req[first:last + 1].sum(), 1)),
            session_errors=int(err[first:last + 1].sum()),
            requests=int(req[first:last + 1].sum()),
            onset_earliest=times[earliest] if earliest < onset else None,
            onset_latest=times[latest] if latest > onset else None,
        ))
    return spikes


def _fill_gaps(series: pl.DataFrame, bucket_seconds: int) -> pl.DataFrame:
    """Buckets with no requests are rows of zeros, so positions are times."""
    buckets = series["bucket"]
    zone_ = buckets.dtype.time_zone if isinstance(buckets.dtype, pl.Datetime) else None
    first, last = cast(datetime, buckets.min()), cast(datetime, buckets.max())
    full = pl.DataFrame({"bucket": pl.datetime_range(first, last, interval=f"{bucket_seconds}s", eager=True,
                                                     time_zone=zone_)})
    return full.join(series, on="bucket", how="left").fill_null(0).sort("bucket")
