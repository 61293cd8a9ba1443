"""Pooled evidence for small counts and slow rises: a Poisson CUSUM over many series at once.

One bucket on its own cannot show a tenfold rise on a site with a handful of
requests a minute, nor one extra error a minute: the evidence has to be
added up over buckets. The CUSUM adds, bucket by bucket, the log-likelihood
ratio of "the rate is ``ratio`` times its expectation" against "it is as
expected",

    x_t = errors_t * ln(ratio) - expected_t * (ratio - 1),

and keeps the running sum from going below zero. Where the sum climbs past
``threshold`` the rate left its expectation; the onset is where that climb
began (the last zero before it) and the end is where the sum peaked. Under
the expectation the chance that the sum ever reaches ``h`` from zero is at
most ``e^-h`` (Wald), so ``threshold_for`` sets ``h`` from the number of
buckets and series searched: that is the multiple-testing control.

All series are processed as one 2-D array: the CUSUM is Lindley's
recursion, ``S_t = C_t - min(0, min_{s<=t} C_s)`` over the cumulative sum
``C``, so there is no Python loop over buckets.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Episode:
    """A run of buckets ``[onset, end)`` of one series where the rate stood above its expectation."""

    series: int
    onset: int
    end: int
    llr: float  # the log-likelihood ratio the run reached
    ratio: float  # the ratio the CUSUM was tuned to


def threshold_for(buckets: int, series: int, ratios: int, false_alarm: float) -> float:
    """The CUSUM threshold keeping false episodes below ``false_alarm`` over every series, bucket and ratio."""
    return math.log(max(buckets, 1) * max(series, 1) * max(ratios, 1) / false_alarm)


def poisson_gain(errors, expected):
    """Log-likelihood gain of "the rate is errors/expected" over "as expected": ``e ln(e/m) - (e - m)``,
    0 where there are no errors or nothing expected (works on numbers and numpy arrays)."""
    e = np.asarray(errors, dtype=float)
    m = np.asarray(expected, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        gain = np.where((e > 0) & (m > 0), e * np.log(e / m) - (e - m), 0.0)
    return gain if gain.ndim else float(gain)


def _increments(errors: np.ndarray, expected: np.ndarray, ratio: float) -> np.ndarray:
    return errors * math.log(ratio) - expected * (ratio - 1.0)


def _lindley(x: np.ndarray) -> np.ndarray:
    """The CUSUM of increments ``x`` from zero, along the last axis."""
    c = np.cumsum(x, axis=-1)
    return c - np.minimum.accumulate(np.minimum(c, 0.0), axis=-1)


def cusum(errors: np.ndarray, expected: np.ndarray, ratio: float) -> np.ndarray:
    """The CUSUM statistic per bucket; ``errors`` and ``expected`` are (series, buckets) arrays."""
    return _lindley(_increments(errors, expected, ratio))


def episodes(errors: np.ndarray, expected: np.ndarray, ratios: tuple[float, ...], threshold: float) -> list[Episode]:
    """Every run where the CUSUM of some ratio passed ``threshold``, per series; overlapping runs of
    one series (found at different ratios) are joined, keeping the earliest onset."""
    errors = np.atleast_2d(np.asarray(errors, dtype=float))
    expected = np.atleast_2d(np.maximum(np.asarray(expected, dtype=float), 1e-12))
    found: list[Episode] = []
    for ratio in ratios:
        x = _increments(errors, expected, ratio)
        s = _lindley(x)
        for row in np.flatnonzero((s >= threshold).any(axis=1)):
            found += _runs(int(row), x[row], errors[row], expected[row], threshold, ratio)
    return _join(found)


def _runs(row: int, x: np.ndarray, errors: np.ndarray, expected: np.ndarray, threshold: float,
          ratio: float) -> list[Episode]:
    """The runs of one series that pass the threshold: from the last zero before the alarm to the end.

    The end is the last peak of the statistic before the counts since it
    favour "as expected" over "as raised as the run so far" by
    ``threshold`` (the fitted rise, not the tuned ratio: after a hundredfold
    spike on a quiet site, an hour at the usual rate ends it, though the
    statistic itself would take hours to come down), or before the statistic
    is back at zero. The search then starts afresh after it, so a second
    spike hours later is its own run.
    """
    out = []
    n, t = len(x), 0
    while t < n:
        s = _lindley(x[t:])
        above = np.flatnonzero(s >= threshold)
        if not len(above):
            break
        alarm = int(above[0])
        zeros = np.flatnonzero(s[:alarm] <= 0)
        onset = int(zeros[-1]) + 1 if len(zeros) else 0
        e, m = errors[t:], expected[t:]
        peak, best = alarm, s[alarm]
        e_in, m_in = float(e[onset:alarm + 1].sum()), float(m[onset:alarm + 1].sum())
        e_after = m_after = 0.0
        for k in range(alarm + 1, len(s)):  # only the few series that alarmed, from the alarm on
            if s[k] >= best:
                peak, best = k, s[k]
                e_in, m_in = e_in + e_after + e[k], m_in + m_after + m[k]
                e_after = m_after = 0.0
                continue
            e_after, m_after = e_after + e[k], m_after + m[k]
            rise = max(e_in / max(m_in, 1e-12), ratio)
            if s[k] <= 0 or m_after * (rise - 1) - e_after * math.log(rise) >= threshold:
                break
        out.append(Episode(row, t + onset, t + peak + 1, float(best), ratio))
        t += peak + 1
    return out


def _join(found: list[Episode]) -> list[Episode]:
    found.sort(key=lambda e: (e.series, e.onset))
    out: list[Episode] = []
    for e in found:
        last = out[-1] if out else None
        if last and last.series == e.series and e.onset <= last.end:
            out[-1] = Episode(e.series, last.onset, max(last.end, e.end), max(last.llr, e.llr),
                              last.ratio if last.llr >= e.llr else e.ratio)
        else:
            out.append(e)
    return out
