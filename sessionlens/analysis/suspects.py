"""The vocabulary of attribution: its settings, a suspect, a ranking, and the rates it compares.

Attribution (:mod:`sessionlens.analysis.attribute`) ranks the changes around
a spike; :mod:`causes` scores the ones made before its onset,
:mod:`responses` the ones made after, and :mod:`scope` reads what a
change's scope says. They share what is here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from scipy.stats import binomtest

from ..changes.model import Change
from ..lake.engine import Engine
from ..lake.sql import DIMENSIONS
from .segments import Segment
from .spikes import Spike

# A part of the traffic a rate is read in: (dimension, values), or None for all of it.
Where = tuple[str, list[str]] | None


@dataclass(frozen=True)
class AttributeSettings:
    """Thresholds of attribution; defaults documented in docs/analysis.md."""

    lookback: timedelta = timedelta(hours=2)  # a cause took effect at most this long before the onset
    proximity_minutes: float = 30.0  # a cause this long before the onset keeps 1/e of its score
    explain_threshold: float = 0.5  # the best cause explains the spike from this score
    effect_window: timedelta = timedelta(minutes=20)  # a response is judged on this long after it
    effect_alpha: float = 0.05  # ... with a rate change this significant (and of min_effect at least)
    min_effect: float = 0.25  # ... of at least this relative size (helped <= 0.75x, hurt >= 1.25x)
    max_delay: timedelta = timedelta(days=2)  # longer delays read from a scope are ignored
    veto_max_share: float = 0.5  # the veto applies to changes that reached less of the traffic than this
    veto_factor: float = 0.1  # a vetoed change keeps this share of its score
    settle: timedelta = timedelta(minutes=2)  # a response's effect is measured from this long after it
    min_window: timedelta = timedelta(minutes=5)  # the windows before and after a response are at least this long


@dataclass
class Suspect:
    change: Change
    role: str
    score: float
    evidence: list[str] = field(default_factory=list)
    effect: str | None = None



@dataclass
class Ranking:
    """What attribution says about one spike.

    Attributes:
        suspects: best first: causes by score, then responses in time order, then
            changes the exposure veto ruled out.
        segments: where the spike's errors sit (:func:`segments.segments`).
        explained_by: the id of the change that explains the spike, or None.
        notes: remarks on the spike as a whole (a handful of clients behind most errors).
    """

    suspects: list[Suspect]
    segments: list[Segment]
    explained_by: str | None
    notes: list[str] = field(default_factory=list)


def rate_test(e1: int, n1: int, e2: int, n2: int) -> float:
    """Two-sided p-value that two Poisson rates differ, conditional on the total."""
    if e1 + e2 == 0 or n1 == 0 or n2 == 0:
        return 1.0
    return binomtest(e2, e1 + e2, n2 / (n1 + n2)).pvalue


def rates(engine: Engine, start: datetime, end: datetime, where: Where = None) -> tuple[int, int]:
    """(requests, errors) between two times, in the traffic ``where`` = (dimension, values) names."""
    if end <= start:
        return 0, 0
    dim, values = where if where else ("host", None)
    row = engine.one("rate_between", {"start": start, "end": end, "values": values}, dimension=dim)
    return int(row[0]), int(row[1])


def spike_scope(spike: Spike) -> Where:
    """The segment a spike is confined to, as a rate filter (None for the overall rate)."""
    seg = spike.segment
    if seg and seg[0] in DIMENSIONS:
        return seg[0], [str(seg[1])]
    return None
