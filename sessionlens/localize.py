"""Multi-dimensional root-cause localisation: which attribute combinations explain a failure spike.

Given leaves (one row per combination of attribute values, with failures and
totals) over several time steps, find the elements, such as
``bitrate=2000 & p2p=1``, whose failures rose far beyond what their history
predicts, choosing the most general element whose traffic is uniformly hit.
Polars does the grouping; the search is over attribute subsets, not rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import polars as pl


@dataclass(frozen=True)
class LocalizeSettings:
    max_order: int = 3  # attributes in one element at most
    max_elements: int = 3
    shrink: float = 50.0  # requests of prior pulling a leaf's history to the global rate
    z: float = 3.0  # a leaf is anomalous when its excess exceeds z standard deviations...
    min_ratio: float = 1.5  # ... and its rate this multiple of its expected rate
    min_score: float = 0.15
    min_purity: float = 0.6  # an element's traffic must be mostly in anomalous leaves...
    min_share: float = 0.1  # ... and it must hold this share of the anomalous excess


@dataclass
class Element:
    attributes: dict[str, str]
    score: float
    share: float
    purity: float

    def key(self) -> str:
        return "&".join(f"{k}={v}" for k, v in sorted(self.attributes.items()))


def localize(frame: pl.DataFrame, dims: list[str], at, value: str = "value", total: str = "cnt", time: str = "min",
             settings: LocalizeSettings = LocalizeSettings()) -> list[Element]:
    """Elements explaining the failures at time ``at``, best first."""
    frame = frame.with_columns([pl.col(d).cast(pl.String) for d in dims])
    hist = frame.filter(pl.col(time) < at)
    cur = frame.filter(pl.col(time) == at)
    if cur.height == 0:
        return []
    glob = (hist[value].sum() / max(hist[total].sum(), 1)) if hist.height else 0.0
    past = hist.group_by(dims).agg(pl.col(value).sum().alias("_e"), pl.col(total).sum().alias("_n"))
    cur = (cur.group_by(dims).agg(pl.col(value).sum(), pl.col(total).sum())
           .join(past, on=dims, how="left").fill_null(0)
           .with_columns(_exp=pl.col(total) * (pl.col("_e") + settings.shrink * glob) / (pl.col("_n") + settings.shrink)))
    cur = cur.with_columns(_excess=pl.col(value) - pl.col("_exp"))
    cur = cur.with_columns(_anom=(pl.col("_excess") > settings.z * (pl.col("_exp") + 1).sqrt())
                           & (pl.col(value) >= settings.min_ratio * pl.col("_exp")))
    total_excess = cur.filter(pl.col("_anom"))["_excess"].sum()
    if not total_excess or total_excess <= 0:
        return []
    chosen: list[Element] = []
    remaining = cur
    for _ in range(settings.max_elements):
        best: Element | None = None
        for order in range(1, min(settings.max_order, len(dims)) + 1):
            for combo in combinations(dims, order):
                g = remaining.group_by(list(combo)).agg(
                    ex=pl.when(pl.col("_anom")).then(pl.col("_excess")).otherwise(0).sum(),
                    hit=pl.when(pl.col("_anom")).then(pl.col(total)).otherwise(0).sum(),
                    n=pl.col(total).sum())
                g = g.with_columns(share=pl.col("ex") / total_excess, purity=pl.col("hit") / pl.col("n").clip(1))
                g = g.with_columns(score=pl.col("share") * pl.col("purity")).sort("score", descending=True).head(1)
                if g.height == 0:
                    continue
                row = g.row(0, named=True)
                cand = Element({d: row[d] for d in combo}, row["score"], row["share"], row["purity"])
                # a more specific element must beat a more general one clearly
                if best is None or cand.score > best.score * 1.05:
                    best = cand
        if best is None or (not chosen and best.score < settings.min_score) or (
                chosen and (best.purity < settings.min_purity or best.share < settings.min_share)):
            break
        chosen.append(best)
        inside = pl.all_horizontal([pl.col(k) == v for k, v in best.attributes.items()])
        remaining = remaining.filter(~inside)
        if remaining.filter(pl.col("_anom")).height == 0:
            break
    return chosen
