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


def cusum(errors: np.ndarray, expected: np.ndarray, ratio: float) -> np.ndarray:
    """The CUSUM statistic per bucket; ``errors`` and ``expected`` are (series, buckets) arrays."""
    x = errors * math.log(ratio) - expected * (ratio - 1.0)
    c = np.cumsum(x, axis=1)
    floor = np.minimum.accumulate(np.minimum(c, 0.0), axis=1)
    return c - floor


def episodes(errors: np.ndarray, expected: np.ndarray, ratios: tuple[float, ...], threshold: float) -> list[Episode]:
    """Every run where the CUSUM of some ratio passed ``threshold``, per series; overlapping runs of
    one series (found at different ratios) are joined, keeping the earliest onset."""
    errors = np.atleast_2d(np.asarray(errors, dtype=float))
    expected = np.atleast_2d(np.maximum(np.asarray(expected, dtype=float), 1e-12))
    found: list[Episode] = []
    for ratio in ratios:
        s = cusum(errors, expected, ratio)
        for row in np.flatnonzero((s >= threshold).any(axis=1)):
            found += _runs(int(row), s[row], threshold, ratio)
    return _join(found)


def _runs(row: int, s: np.ndarray, threshold: float, ratio: float) -> list[Episode]:
    """The runs of one series' CUSUM that pass the threshold: rise from the last zero to the peak."""
    out = []
    n = len(s)
    zero = s <= 0
    t = 0
    while t < n:
        above = np.flatnonzero(s[t:] >= threshold)
        if not len(above):
            break
        alarm = t + int(above[0])
        zeros_before = np.flatnonzero(zero[:alarm])
        onset = int(zeros_before[-1]) + 1 if len(zeros_before) else 0
        zeros_after = np.flatnonzero(zero[alarm:])
        stop = alarm + int(zeros_after[0]) if len(zeros_after) else n
        peak = alarm + int(np.argmax(s[alarm:stop]))
        out.append(Episode(row, onset, peak + 1, float(s[peak]), ratio))
        t = stop
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
