"""Session anomalies a rate alone does not show; one module per detector."""

from __future__ import annotations

from .base import Detector
from .enrollment import CrossAccountEnrollment
from .invalidation import MassInvalidation
from .loops import LogoutLoop
from .sharing import SessionSharing

DETECTORS: dict[str, type[Detector]] = {d.name: d for d in (SessionSharing, LogoutLoop, MassInvalidation, CrossAccountEnrollment)}
# shown first: a shared session is a security incident
ORDER = ("session_sharing", "cross_account_enrollment", "logout_loop", "mass_invalidation")


def get(name: str) -> type[Detector]:
    return DETECTORS[name]


def detect_all(con, since, until, changes, settings: dict | None = None) -> list[dict]:
    """Every detector's findings, the most serious kinds first, then by time."""
    found = []
    for name, cls in DETECTORS.items():
        found += cls((settings or {}).get(name)).detect(con, since, until, changes)
    return sorted(found, key=lambda a: (ORDER.index(a["kind"]), a["start"]))
