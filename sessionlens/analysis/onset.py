"""When an episode of raised errors began, and where its core lies.

Pure functions over per-bucket counts (``err``) and their expectation
(``mu``), shared by the overall search (:mod:`spikes`) and the segment search
(:mod:`segment_spikes`):

* ``date_onset``: the change points of the variance-stabilised counts;
* ``onset_index``: the best two-rate split (a Poisson likelihood scan);
* ``onset_interval``: the onsets the counts allow (a likelihood interval),
  which attribution uses when small counts blur the onset;
* ``trim``: the core of a CUSUM run, widened by steps raised in their own right.
"""

from __future__ import annotations

import math

import numpy as np

from .changepoint import change_points
from .cusum import poisson_gain

ONSET_AFTER = 60  # date_onset looks at most this many buckets past the first raised one
ONSET_BEFORE = 60  # the onset is searched from this many buckets before the first raised one
ONSET_RISE = 0.25  # noise units: the least rise (and level above expectation) that dates an onset
ONSET_SUPPORT = 3.0  # log-likelihood units: onsets this close to the best are as plausible
STEP_GAIN = 7.0  # log-likelihood (about p < 1e-3) that keeps a lower step beside a run's core
TRIM_POINTS = 600  # trim() works on at most this many blocks (its cost is quadratic)

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


def date_onset(err: np.ndarray, mu: np.ndarray, lo: int, first: int, last: int) -> int | None:
    """Where the rate left its expectation, by the change points of the counts in ``[lo, last]``
    (at most ``ONSET_AFTER`` buckets past ``first``).

    The counts are variance-stabilised against their expectation (Anscombe:
    ``2(sqrt(errors + 3/8) - sqrt(expected + 3/8))`` has unit noise whatever
    the level), so ``changepoint.change_points`` runs with ``sigma=1`` and its
    defaults: the function the TCPD benchmark measures. The onset is the
    first change point after which the level rises by at least ``ONSET_RISE`` noise
    unit (the rate above its expectation after it), no later than two buckets after ``first`` (the first raised bucket);
    None when there is none (the rise began before ``lo``).
    """
    last = min(last, first + ONSET_AFTER)  # the rise, not the whole course of a long spike
    z = 2 * (np.sqrt(err[lo:last + 1] + 0.375) - np.sqrt(mu[lo:last + 1] + 0.375))
    cps = change_points(z, sigma=1.0)
    bounds = [0, *cps, len(z)]
    for i, c in enumerate(cps, 1):
        if lo + c > first + 2:
            break
        after = z[c:bounds[i + 1]].mean()
        if after - z[bounds[i - 1]:c].mean() >= ONSET_RISE and after >= ONSET_RISE:
            return lo + c
    return None


def onset_interval(err: np.ndarray, mu: np.ndarray, lo: int, first: int, last: int) -> tuple[int, int, int]:
    """(earliest, latest, most likely) bucket of the onset, given the counts: a likelihood interval.

    For each candidate onset ``c`` in ``[lo, first]``, the log-likelihood
    gain of "raised from ``c`` on" over "as expected"; onsets within
    ``ONSET_SUPPORT`` of the best are as good as it. Small counts make the
    interval wide (one stray error proves little), which attribution uses so
    that a change made just after a blurred onset is still a candidate cause.
    """
    hi = min(last, first + ONSET_AFTER) + 1
    cands = np.arange(lo, min(first + ONSET_AFTER // 4, hi - 1) + 1)
    if len(cands) == 0:
        return first, first, first
    ce = np.cumsum(err[lo:hi][::-1])[::-1]  # errors from each bucket to hi
    cm = np.cumsum(np.maximum(mu[lo:hi], 1e-12)[::-1])[::-1]
    e, m = ce[cands - lo], cm[cands - lo]
    gain = np.where(e > m, poisson_gain(e, m), 0.0)  # a rise only
    ok = cands[gain >= gain.max() - ONSET_SUPPORT]
    return int(ok.min()), int(ok.max()), int(cands[int(np.argmax(gain))])


def settle_onset(dated: int | None, interval: tuple[int, int, int], first: int) -> tuple[int, int, int]:
    """(onset, earliest, latest): the change-point date when the counts allow it, else the most likely one;
    never after ``first``, the first raised bucket (the spike cannot start before its onset)."""
    earliest, latest, best = interval
    onset = dated if dated is not None and earliest <= dated <= latest else best
    onset = min(onset, first)
    return onset, min(earliest, onset), max(latest, onset)


def trim(err: np.ndarray, mu: np.ndarray, lo: int, hi: int) -> tuple[int, int]:
    """The core of a CUSUM run ``[lo, hi)``: where the excess over expectation rose and where it stopped.

    A run at a low tuned ratio can start hours early and end late when the
    baseline is a little off; the core is the stretch that maximises the
    excess log-likelihood of one raised rate inside against the expectation
    outside (a two-sided split by cumulative sums), widened by the lower
    steps beside it that are raised in their own right.
    """
    if hi - lo <= 2:
        return lo, hi
    step = -(-(hi - lo) // TRIM_POINTS)  # long runs are cut at the resolution of TRIM_POINTS blocks
    e = np.add.reduceat(err[lo:hi], np.arange(0, hi - lo, step))
    m = np.maximum(np.add.reduceat(mu[lo:hi], np.arange(0, hi - lo, step)), 1e-12)
    ce = np.concatenate([[0.0], np.cumsum(e)])
    cm = np.concatenate([[0.0], np.cumsum(m)])
    # for every [a, b): the Poisson log-likelihood gain of its own rate over the expected one
    de = ce[None, :] - ce[:, None]
    dm = cm[None, :] - cm[:, None]
    gain = np.where((de > 0) & (dm > 0), poisson_gain(de, dm), -np.inf)
    gain[np.tril_indices_from(gain)] = -np.inf
    a, b = (int(x) for x in np.unravel_index(int(np.argmax(gain)), gain.shape))
    # One raised rate favours the densest stretch; a lower step before or after it (a rollout's
    # 10% step before its 50%) is kept when it is raised in its own right.
    before = [(g, x) for x in range(a) if _raised(g := gain[x, a], de[x, a], dm[x, a])]
    after = [(g, y) for y in range(b + 1, len(ce)) if _raised(g := gain[b, y], de[b, y], dm[b, y])]
    a = max(before)[1] if before else a
    b = max(after)[1] if after else b
    return lo + a * step, min(hi, lo + b * step)


def _raised(gain: float, errors: float, expected: float) -> bool:
    """A stretch raised in its own right: ``STEP_GAIN`` of likelihood and twice the expected errors."""
    return gain >= STEP_GAIN and errors >= 2 * expected
