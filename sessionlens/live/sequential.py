"""A sequential test of "the exposed traffic fails sessions more often", safe to look at after every minute.

The gate compares the session-error rate of the traffic a rollout reached
(exposed) with the rest (unexposed) over the same minutes. Within a minute
``m`` it conditions on that minute's session errors ``n_m = e_x + e_u``: if
the exposed rate is ``t`` times the unexposed one (H0; ``t`` is the
tolerance, 1 by default), each error is exposed with probability

    p0_m = t·r_x / (t·r_x + r_u)

(``r_x``, ``r_u``: the minute's exposed and unexposed requests), whatever the
unexposed rate itself is; so traffic that rises and falls, a daily rhythm or
a site-wide incident hitting both sides alike cancel out. Under the
alternative "θ times" (θ > t) the probability is ``p1_m = θ·r_x / (θ·r_x + r_u)``
and the minute's log likelihood ratio simplifies to

    e_x·log(θ/t) + n_m·log((t·r_x + r_u) / (θ·r_x + r_u)).

The evidence is a mixture over a grid of θ with equal weights,
``Λ = Σ_k w_k·exp(Σ_m llr_k,m)``. Each term is a product of per-minute
likelihood ratios whose ``p0_m`` is known before the minute's errors are
(it depends on requests only), so under H0 each term, and Λ, is a
nonnegative martingale with mean 1; by Ville's inequality
``P(Λ ever reaches 1/α) ≤ α``. The gate may therefore look after every
minute, or every 30 seconds, for as long as it likes: the chance of a false
fail stays at most α. A minute without exposed or unexposed requests, or
without errors, says nothing and adds nothing.

:func:`needed_requests` turns the same quantities round: how many exposed
requests it takes for a given rise to be expected to cross the boundary.
Pure numpy; nothing here knows about lakes or minutes as times.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# θ/t of the mixture's components: from a quarter more errors to a hundred times as many. Wide on purpose:
# a broken rollout fails far more than 1.25x (the archive's cookies: ~100x) and is then caught in minutes,
# while a grid that stopped at 3x would need many more errors to reach the same evidence.
GRID = (1.25, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0, 100.0)


@dataclass(frozen=True)
class Evidence:
    """The mixture's evidence after each minute, and whether it reached its boundary.

    Attributes:
        log_lambda: log Λ after each minute (cumulative; one value per minute given).
        threshold: the boundary 1/α.
        crossed: the index of the first minute after which Λ ≥ 1/α, or None.
    """

    log_lambda: np.ndarray
    threshold: float
    crossed: int | None

    @property
    def last(self) -> float:
        """Λ after the last minute (1.0 before any evidence)."""
        return float(np.exp(self.log_lambda[-1])) if self.log_lambda.size else 1.0

    @property
    def peak(self) -> float:
        """The largest Λ seen: the evidence a look at the worst moment would have had."""
        return float(np.exp(self.log_lambda.max())) if self.log_lambda.size else 1.0


def minute_llr(exposed_requests, exposed_errors, unexposed_requests, unexposed_errors,
               tolerance: float = 1.0, grid: tuple[float, ...] = GRID) -> np.ndarray:
    """Each component's log likelihood ratio per minute.

    Args:
        exposed_requests, exposed_errors, unexposed_requests, unexposed_errors: counts per
            minute, arrays of one shape (the last axis is time; leading axes are independent
            sequences, e.g. simulated rollouts).
        tolerance: t, the ratio of exposed to unexposed rates that is still fine.
        grid: θ/t of the components.

    Returns:
        An array of shape ``(len(grid), *counts.shape)``; zero where a minute lacks exposed
        requests, unexposed requests or errors.
    """
    rx, ex, ru, eu = (np.asarray(a, dtype=float) for a in
                      (exposed_requests, exposed_errors, unexposed_requests, unexposed_errors))
    n = ex + eu
    valid = (rx > 0) & (ru > 0) & (n > 0)
    ratio = np.asarray(grid, dtype=float).reshape((-1,) + (1,) * rx.ndim)  # θ/t, broadcast over the counts
    t = float(tolerance)
    with np.errstate(divide="ignore", invalid="ignore"):
        # log((t·rx + ru) / (θ·rx + ru)), with θ = t·ratio: stable, no 1 - p subtracted
        shrink = np.log(t * rx + ru) - np.log(t * ratio * rx + ru)
        llr = ex * np.log(ratio) + n * shrink
    return np.where(valid, llr, 0.0)


def log_mixture(llr: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """log Λ after each minute from the components' per-minute log likelihood ratios (first axis: components)."""
    cumulative = np.cumsum(llr, axis=-1)
    k = llr.shape[0]
    log_w = np.log(np.full(k, 1.0 / k) if weights is None else np.asarray(weights, dtype=float))
    terms = cumulative + log_w.reshape((-1,) + (1,) * (llr.ndim - 1))
    top = terms.max(axis=0)  # log-sum-exp: Λ reaches 1e100 on a broken rollout, exp() alone would overflow later
    return top + np.log(np.exp(terms - top).sum(axis=0))


def mixture_sprt(exposed_requests, exposed_errors, unexposed_requests, unexposed_errors, *, alpha: float,
                 tolerance: float = 1.0, grid: tuple[float, ...] = GRID, steps=None) -> Evidence:
    """The mixture test over one sequence of minutes (1-D counts).

    Args:
        alpha: the false-fail rate this test may spend; the boundary is 1/alpha.
        tolerance, grid: as in :func:`minute_llr`.
        steps: for counts split into strata (cells), the minute of each cell as an index
            0, 1, ... (non-decreasing); the cells of a minute add up to that minute's evidence.
            Under H0 the ratio holds within each stratum, so each cell is a conditional binomial
            of its own and the sum stays a martingale. None: one cell per minute.
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1, not {alpha}")
    llr = minute_llr(exposed_requests, exposed_errors, unexposed_requests, unexposed_errors, tolerance, grid)
    if steps is not None:
        index = np.asarray(steps, dtype=int)
        size = int(index.max()) + 1 if index.size else 0
        llr = np.stack([np.bincount(index, weights=row, minlength=size) for row in llr]) if size else llr[:, :0]
    path = log_mixture(llr) if llr.shape[-1] else np.zeros(0)
    threshold = 1.0 / alpha
    over = np.flatnonzero(path >= math.log(threshold))
    return Evidence(path, threshold, int(over[0]) if over.size else None)


def expected_llr(theta: float, rate: float, detect: float, share: float, tolerance: float = 1.0) -> float:
    """The expected log likelihood ratio of the component θ per exposed request.

    With the unexposed rate ``rate`` (p), the exposed rate ``t·p + detect`` (d
    more than tolerated) and a share ``s`` of the requests exposed, per
    exposed request there are ``t·p + d`` exposed errors and ``p·(1-s)/s``
    unexposed ones on average (Poisson counts); each exposed error adds
    ``log(p1/p0)`` and each unexposed one ``log((1-p1)/(1-p0))``. As ``s``
    goes to 0 this is ``(t·p + d)·log(θ/t) - (θ - t)·p``: the Poisson
    Kullback-Leibler drift of a canary that is a small part of the traffic.
    """
    t, s = float(tolerance), float(share)
    p0 = t * s / (t * s + 1 - s)
    p1 = theta * s / (theta * s + 1 - s)
    return (t * rate + detect) * math.log(p1 / p0) + rate * (1 - s) / s * math.log((1 - p1) / (1 - p0))


def needed_requests(rates, shares, weights=None, *, detect: float, alpha: float, tolerance: float = 1.0,
                    grid: tuple[float, ...] = GRID) -> float | None:
    """Exposed requests after which a rise of ``detect`` is expected to have crossed the boundary.

    Λ ≥ w_k·exp(llr_k), so the mixture crosses 1/α once one component's
    log likelihood ratio reaches ``log(K/α)`` (K components, equal weights).
    Each exposed request adds :func:`expected_llr` on average (over strata:
    each stratum's drift, weighted by its part of the exposed requests); the
    component with the largest drift gets there first:

        n = log(K/α) / max_k Σ_s weight_s · expected_llr(θ_k; rate_s, share_s)

    Args:
        rates: the unexposed session-error rate of each stratum (smoothed by the caller: never 0).
        shares: the exposed share of each stratum's requests; a stratum with a share of 0 or 1
            has nothing to compare and adds no evidence.
        weights: each stratum's part of the exposed requests (default: equal).
        detect: the extra share of exposed requests failing that the gate must catch.

    Returns:
        The number of exposed requests, or None when no component gains evidence from such a
        rise (a rise too small against a high rate: only a larger ``detect`` can be judged).
    """
    rates, shares = np.atleast_1d(np.asarray(rates, dtype=float)), np.atleast_1d(np.asarray(shares, dtype=float))
    w = np.full(rates.size, 1.0 / rates.size) if weights is None else np.atleast_1d(np.asarray(weights, dtype=float))
    if not (detect > 0 and np.all(rates > 0) and np.all((shares >= 0) & (shares <= 1))):
        raise ValueError(f"needed_requests: rates {rates}, shares {shares} or detect {detect} out of range")
    usable = (shares > 0) & (shares < 1) & (w > 0)

    def drift(theta: float) -> float:
        return sum(float(wi) * expected_llr(theta, float(p), detect, float(s), tolerance)
                   for p, s, wi in zip(rates[usable], shares[usable], w[usable], strict=True))

    best = max((drift(tolerance * g) for g in grid), default=0.0)
    if best <= 0:
        return None
    return math.log(len(grid) / alpha) / best
