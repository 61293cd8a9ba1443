"""Cross-account enrolment: one MFA device or factor attached to many accounts."""

from __future__ import annotations

from dataclasses import dataclass

from ...lake import sql as queries
from ...changes.store import iso
from .base import Detector, nearest_cause


@dataclass(frozen=True)
class EnrollmentSettings:
    min_users: int = 3  # accounts sharing one device key


class CrossAccountEnrollment(Detector):
    name = "cross_account_enrollment"
    Settings = EnrollmentSettings

    def detect(self, con, since, until, changes):
        found = queries.run(con, "anomaly_shared_devices", {"since": since, "until": until,
                                                            "min_users": self.settings.min_users})
        out = []
        for r in found.iter_rows(named=True):
            cause, why = nearest_cause(changes, r["first_seen"])
            minutes = (r["last_seen"] - r["first_seen"]).total_seconds() / 60
            evidence = [f"device {r['device_key']} enrolled on {r['users']} accounts within {minutes:.0f} min"]
            if why:
                evidence.append(why)
            out.append({"kind": self.name, "start": iso(r["first_seen"]), "end": iso(r["last_seen"]),
                        "device": r["device_key"], "users": r["users"], "explained_by": cause, "evidence": evidence})
        return out
