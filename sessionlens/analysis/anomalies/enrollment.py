"""Cross-account enrolment: one MFA device or factor attached to many accounts."""

from __future__ import annotations

from dataclasses import dataclass

from ...lake.engine import Engine
from .base import Detector, nearest_cause
from .result import Anomaly, CrossAccountEnrollmentAnomaly


@dataclass(frozen=True)
class EnrollmentSettings:
    min_users: int = 3  # accounts sharing one device key


class CrossAccountEnrollment(Detector[EnrollmentSettings]):
    name = "cross_account_enrollment"
    settings_class = EnrollmentSettings

    def detect(self, engine: Engine, since, until, changes) -> list[Anomaly]:
        found = engine.run("anomaly_shared_devices", {"since": since, "until": until,
                                                      "min_users": self.settings.min_users})
        out: list[Anomaly] = []
        for r in found.iter_rows(named=True):
            cause, why = nearest_cause(changes, r["first_seen"])
            minutes = (r["last_seen"] - r["first_seen"]).total_seconds() / 60
            evidence = [f"device {r['device_key']} enrolled on {r['users']} accounts within {minutes:.0f} min"]
            if why:
                evidence.append(why)
            out.append(CrossAccountEnrollmentAnomaly(start=r["first_seen"], end=r["last_seen"], device=r["device_key"],
                                                     users=r["users"], explained_by=cause, evidence=evidence))
        return out
