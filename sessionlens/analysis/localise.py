"""Multi-attribute localisation: which attribute combinations explain a failure spike.

The engine behind ``segments.segments`` (and what ``bench/segments_riskloc.py``
scores). Its input is *leaves*: one row per combination of attribute values,
with failures and totals now (``errors``, ``requests``) and in a history
before (``hist_errors``, ``hist_requests``). A leaf is anomalous when its
failures now stand well above what its own history predicts (the history
shrunk toward the overall rate, so a leaf new since then is judged by the
overall rate). The search then names *elements*, such as ``host=web04`` or
``cookie_format=rails-encrypted-gcm & app_version=v1.40.2``: the most general
combination of up to ``max_order`` attributes holding most of the anomalous
excess (``share``) whose traffic is mostly anomalous (``purity``); the
leaves it covers are removed and the search repeats for a further element.
Polars does the grouping; the loop is over attribute subsets, never rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import polars as pl
from scipy.stats import poisson


@dataclass(frozen=True)
class LocalizeSettings:
    """Thresholds of the search; the same object serves analyze and the benchmark."""

    max_order: int = 3  # attributes in one element at most
    max_elements: int = 3
    shrink: float = 50.0  # requests of prior pulling a leaf's history to the overall rate
    alpha: float = 1.35e-3  # a leaf is anomalous when its failures are this unlikely under its expectation...
    min_ratio: float = 1.5  # ... and its rate this multiple of its expected rate
    element_alpha: float = 1e-3  # ... and an element's failures this unlikely, divided by the number of leaves
    min_score: float = 0.15  # the first element needs share x purity at least this
    min_purity: float = 0.6  # a further element's traffic must be mostly in anomalous leaves...
    min_share: float = 0.1  # ... and it must hold this share of the anomalous excess
    prefer_general: float = 1.05  # a more specific element must beat a more general one by this factor


@dataclass
class Element:
    """A combination of attribute values, with how well it explains the anomalous leaves."""

    attributes: dict[str, str]
    score: float  # share x purity
    share: float  # of the anomalous excess of failures
    purity: float  # of its traffic in anomalous leaves


def anomalous_leaves(leaves: pl.DataFrame, settings: LocalizeSettings) -> pl.DataFrame:
    """The leaves with their expected failures now (``_exp``), excess and anomaly flag (``_anom``)."""
    hist_n = float(leaves["hist_requests"].sum())
    overall = float(leaves["hist_errors"].sum()) / hist_n if hist_n else 0.0
    out = leaves.with_columns(
        _exp=pl.col("requests") * (pl.col("hist_errors") + settings.shrink * overall)
        / (pl.col("hist_requests") + settings.shrink))
    out = out.with_columns(_excess=pl.col("errors") - pl.col("_exp"))
    # Poisson tail, not a normal approximation: a small leaf's 3 errors where 0.01 were expected count
    p = poisson.sf(out["errors"].to_numpy() - 1, out["_exp"].to_numpy())
    return out.with_columns(_anom=pl.Series(p < settings.alpha) & (pl.col("_excess") > 0)
                            & (pl.col("errors") >= settings.min_ratio * pl.col("_exp")))


def localize(leaves: pl.DataFrame, dims: list[str], settings: LocalizeSettings = LocalizeSettings()) -> list[Element]:
    """Elements explaining the failures now, best first (empty when no leaf is anomalous).

    Args:
        leaves: one row per combination of ``dims``, with ``errors``, ``requests``, ``hist_errors`` and
            ``hist_requests``.
        dims: the attribute columns, in order of preference when elements tie.
        settings: the search's thresholds.
    """
    if leaves.height == 0 or not dims:
        return []
    cur = anomalous_leaves(leaves.with_columns([pl.col(d).cast(pl.String) for d in dims]), settings)
    total_excess = float(cur.filter(pl.col("_anom"))["_excess"].sum())
    if not total_excess or total_excess <= 0:
        return []
    chosen: list[Element] = []
    remaining = cur
    for _ in range(settings.max_elements):
        best = _best_element(remaining, dims, total_excess, settings)
        if best is None or (not chosen and best.score < settings.min_score) or (
                chosen and (best.purity < settings.min_purity or best.share < settings.min_share)):
            break
        inside = pl.all_horizontal([pl.col(k) == v for k, v in best.attributes.items()])
        part = remaining.filter(inside)
        # one leaf in a thousand passes the leaf test by chance: the element as a whole must stand out
        # beyond that (Bonferroni over the leaves), or it is noise in a quiet split of the traffic
        if poisson.sf(part["errors"].sum() - 1, part["_exp"].sum()) >= settings.element_alpha / cur.height:
            break
        chosen.append(best)
        remaining = remaining.filter(~inside)
        if remaining.filter(pl.col("_anom")).height == 0:
            break
    return chosen


def _best_element(leaves: pl.DataFrame, dims: list[str], total_excess: float,
                  settings: LocalizeSettings) -> Element | None:
    """The best-scoring element over all attribute subsets; general ones win ties."""
    best: Element | None = None
    for order in range(1, min(settings.max_order, len(dims)) + 1):
        for combo in combinations(dims, order):
            g = leaves.group_by(list(combo)).agg(
                ex=pl.when(pl.col("_anom")).then(pl.col("_excess")).otherwise(0).sum(),
                hit=pl.when(pl.col("_anom")).then(pl.col("requests")).otherwise(0).sum(),
                n=pl.col("requests").sum())
            g = g.with_columns(share=pl.col("ex") / total_excess, purity=pl.col("hit") / pl.col("n").clip(1))
            # ties go to the first value in sort order, so a run does not depend on hash order
            g = g.with_columns(score=pl.col("share") * pl.col("purity")).sort(
                ["score", *combo], descending=[True] + [False] * len(combo)).head(1)
            if g.height == 0:
                continue
            row = g.row(0, named=True)
            cand = Element({d: row[d] for d in combo}, row["score"], row["share"], row["purity"])
            if best is None or cand.score > best.score * settings.prefer_general:
                best = cand
    return best
