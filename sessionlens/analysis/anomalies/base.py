"""What every anomaly detector shares: a name, its settings, and the cause lookup."""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import datetime, timedelta
from typing import ClassVar, Generic, TypeVar

from ...changes.model import Change
from ...lake.engine import Engine
from .result import Anomaly

S = TypeVar("S")


class Detector(ABC, Generic[S]):
    """An anomaly detector.

    Subclasses set ``name`` (the anomaly kind they report) and
    ``settings_class`` (a frozen dataclass whose defaults are the documented
    thresholds), and implement ``detect``.
    """

    name: ClassVar[str] = "base"
    settings_class: type[S]

    def __init__(self, settings: S | None = None) -> None:
        self.settings: S = settings if settings is not None else self.settings_class()

    @abstractmethod
    def detect(self, engine: Engine, since: datetime, until: datetime, changes: list[Change]) -> list[Anomaly]:
        """The anomalies found between ``since`` and ``until``, each with its most likely cause among ``changes``."""


def nearest_cause(changes: list[Change], start: datetime, lookback: timedelta = timedelta(hours=2),
                  slack: timedelta = timedelta(minutes=2), prefer: tuple[str, ...] = (),
                  prefer_within: timedelta = timedelta(minutes=30)) -> tuple[str | None, str | None]:
    """The last change made shortly before ``start`` (or within ``slack`` after it).

    Args:
        changes: every change known.
        start: when the anomaly began.
        lookback: how long before ``start`` a change may have been made.
        slack: how long after ``start``: the start is known to a window only.
        prefer: change kinds that can cause this anomaly by themselves; when
            one was made within ``prefer_within`` before ``start``, the last
            of those wins over a later change of another kind (a flag flipped
            a minute after a store flush did not wipe the sessions).
        prefer_within: how close a preferred change must be: one made hours
            earlier loses to any change made just before.

    Returns:
        Its id and an evidence sentence, or (None, None). Inferred changes
        folded into a written one are skipped.
    """
    ids = {c.id for c in changes}
    candidates = [c for c in changes if not (c.linked_to and c.linked_to in ids)
                  and start - lookback <= c.at <= start + slack]
    if not candidates:
        return None, None
    likely = [c for c in candidates if c.kind in prefer and c.at >= start - prefer_within]
    best = max(likely or candidates, key=lambda c: c.at)
    minutes = (start - best.at).total_seconds() / 60
    when = f"{minutes:.0f} min after" if minutes >= 1 else "as soon as"
    return best.id, f"began {when} {best.id} ({best.kind}: {best.label})"

