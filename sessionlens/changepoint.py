"""Change points in a univariate series: PELT with a Gaussian cost.

Two classic searches over a Gaussian cost: binary segmentation (``binseg``)
and PELT (``pelt``). ``bench/detect_tcpd.py`` scores them on the Turing
Change Point Dataset. Series are z-scored first, so one default penalty
serves series of any unit. (Spike onsets in session-error rates use the
Poisson scan in :mod:`sessionlens.detect`, which models counts directly.)
"""

from __future__ import annotations

import math

import numpy as np

DEFAULT_PENALTY = 3.0  # times log(n)
MIN_SIZE = 3


def _scaled(x: np.ndarray) -> np.ndarray:
    d = np.diff(x)
    mad = np.median(np.abs(d - np.median(d))) * 1.4826 / math.sqrt(2) if len(d) else 0.0
    if not mad or not math.isfinite(mad):
        mad = np.std(x) or 1.0
    return (x - np.median(x)) / mad


def pelt(series, penalty: float = DEFAULT_PENALTY, min_size: int = MIN_SIZE, cost: str = "mean",
         scale: str = "std") -> list[int]:
    """Indices where a new segment starts (0 excluded), by PELT.

    Args:
        series: the values (NaNs are filled with the previous value).
        penalty: cost of one more change point, in units of log(n).
        min_size: the shortest segment.
        cost: 'mean' (a shift in level) or 'meanvar' (level and spread).
        scale: 'mad' (by the noise of first differences) or 'std' (z-score).
    """
    x = np.asarray(series, dtype=float)
    if np.isnan(x).any():
        mask = np.isnan(x)
        idx = np.where(~mask, np.arange(len(x)), 0)
        np.maximum.accumulate(idx, out=idx)
        x = x[idx]
        x[np.isnan(x)] = np.nanmean(x) if np.isfinite(np.nanmean(x)) else 0.0
    n = len(x)
    if n < 2 * min_size:
        return []
    y = _scaled(x) if scale == "mad" else (x - x.mean()) / (x.std() or 1.0)
    s1 = np.concatenate([[0.0], np.cumsum(y)])
    s2 = np.concatenate([[0.0], np.cumsum(y * y)])
    beta = penalty * math.log(n)

    def seg_cost(a: int, b: int) -> float:  # segment y[a:b]
        m = b - a
        mean = (s1[b] - s1[a]) / m
        sse = max(s2[b] - s2[a] - m * mean * mean, 0.0)
        if cost == "mean":
            return sse
        var = max(sse / m, 1e-3)  # floor: a flat stretch must not cost minus infinity
        return m * (math.log(2 * math.pi * var) + 1)

    f = np.full(n + 1, math.inf)
    f[0] = -beta
    last = np.zeros(n + 1, dtype=int)
    candidates = [0]
    for t in range(min_size, n + 1):
        best, arg = math.inf, 0
        values = []
        for s in candidates:
            if t - s < min_size:
                values.append((s, math.inf))
                continue
            v = f[s] + seg_cost(s, t) + beta
            values.append((s, v))
            if v < best:
                best, arg = v, s
        f[t], last[t] = best, arg
        # pruning: candidates that can never be optimal again
        candidates = [s for s, v in values if v - beta <= best or t - s < min_size] + [t - min_size + 1]
        candidates = sorted(set(c for c in candidates if c <= t))
    cps, t = [], n
    while t > 0:
        s = last[t]
        if s > 0:
            cps.append(int(s))
        t = s
    return sorted(cps)


def binseg(series, penalty: float = 3.0, max_changes: int = 5, min_size: int = MIN_SIZE) -> list[int]:
    """Binary segmentation with a mean-shift cost on the z-scored series.

    Splits the segment whose best split lowers the cost most, while that
    gain exceeds ``penalty * log(n)``, at most ``max_changes`` times.
    """
    x = np.asarray(series, dtype=float)
    if np.isnan(x).any():
        x = np.where(np.isnan(x), np.nanmean(x), x)
    n = len(x)
    if n < 2 * min_size:
        return []
    y = (x - x.mean()) / (x.std() or 1.0)
    s1 = np.concatenate([[0.0], np.cumsum(y)])
    s2 = np.concatenate([[0.0], np.cumsum(y * y)])

    def sse(a: int, b: int) -> float:
        m = b - a
        return s2[b] - s2[a] - (s1[b] - s1[a]) ** 2 / m

    def best_split(a: int, b: int) -> tuple[float, int]:
        if b - a < 2 * min_size:
            return 0.0, -1
        ks = np.arange(a + min_size, b - min_size + 1)
        left = s2[ks] - s2[a] - (s1[ks] - s1[a]) ** 2 / (ks - a)
        right = s2[b] - s2[ks] - (s1[b] - s1[ks]) ** 2 / (b - ks)
        gains = sse(a, b) - left - right
        i = int(np.argmax(gains))
        return float(gains[i]), int(ks[i])

    beta = penalty * math.log(n)
    segments = [(0, n)]
    cps: list[int] = []
    while len(cps) < max_changes:
        options = [(best_split(a, b), (a, b)) for a, b in segments]
        (gain, k), (a, b) = max(options, key=lambda o: o[0][0])
        if k < 0 or gain <= beta:
            break
        cps.append(k)
        segments.remove((a, b))
        segments += [(a, k), (k, b)]
    return sorted(cps)
