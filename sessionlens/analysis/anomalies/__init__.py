"""Session anomalies a rate alone does not show; one module per detector, typed results in ``result``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ...changes.model import Change, iso
from ...lake.engine import Engine
from .base import Detector
from .enrollment import CrossAccountEnrollment
from .invalidation import MassInvalidation
from .loops import LogoutLoop
from .result import Anomaly
from .sharing import SessionSharing

DETECTORS: dict[str, type[Detector[Any]]] = {
    d.name: d for d in (SessionSharing, LogoutLoop, MassInvalidation, CrossAccountEnrollment)}
# shown first: a shared session is a security incident
ORDER = ("session_sharing", "cross_account_enrollment", "logout_loop", "mass_invalidation")


def get(name: str) -> type[Detector[Any]]:
    """The detector class reporting anomalies of kind ``name``."""
    return DETECTORS[name]


def detect_all(engine: Engine, since: datetime, until: datetime, changes: list[Change],
               settings: dict[str, Any] | None = None) -> list[Anomaly]:
    """Every detector's findings, the most serious kinds first, then by time.

    Args:
        engine: the lake's query engine.
        since: the window's start; ``until``: its end.
        changes: every change known, for the causes.
        settings: per detector name, an instance of its ``settings_class`` (defaults otherwise).
    """
    found: list[Anomaly] = []
    for name, cls in DETECTORS.items():
        found += cls((settings or {}).get(name)).detect(engine, since, until, changes)
    # by time as the contract's text sorts (to the second)
    return sorted(found, key=lambda a: (ORDER.index(a.kind), iso(a.start)))
