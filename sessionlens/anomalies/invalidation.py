"""Mass invalidation: valid sessions wiped at once.

A burst of session errors across many users, each hit about once (they sign
in again, or cannot), unlike a sustained error rate where the same users are
hit again and again. Read from app events, which name the user.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from .. import queries
from .base import Detector, nearest_cause, window


@dataclass(frozen=True)
class InvalidationSettings:
    window_minutes: int = 5
    min_users: int = 20  # distinct users hit in a window...
    baseline_multiple: float = 10.0  # ... and this many times the usual number
    max_errors_per_user: float = 1.5  # each user hit about once over the burst
    quiet_windows: int = 2  # a burst ends after this many windows back at the usual level


class MassInvalidation(Detector):
    name = "mass_invalidation"
    Settings = InvalidationSettings

    def detect(self, con, since, until, changes):
        s = self.settings
        hits = queries.run(con, "anomaly_session_error_hits", {"since": since, "until": until, "window_minutes": s.window_minutes})
        if hits.height == 0:
            return []
        # the usual count per window, quiet windows (absent from the query) counted as zero
        windows = max(int((until - since).total_seconds() // (60 * s.window_minutes)), hits.height)
        padded = sorted(hits["hit"].to_list()) + [0] * (windows - hits.height)
        usual = float(sorted(padded)[len(padded) // 2])
        threshold = max(s.min_users, s.baseline_multiple * max(usual, 1.0))
        normal = max(3 * usual, 2)  # back to this level, the burst is over
        rows = hits.to_dicts()
        bursts: list[list[dict]] = []
        quiet, previous = 0, None
        step_ = timedelta(minutes=s.window_minutes)
        for r in rows:
            if previous is not None and bursts and bursts[-1]:
                # windows with no errors at all are absent from the query: they are quiet ones
                quiet += max(0, int((r["window_start"] - previous) / step_) - 1)
            previous = r["window_start"]
            if bursts and bursts[-1] and quiet > s.quiet_windows:
                bursts.append([])
            if r["hit"] >= threshold:
                if bursts and bursts[-1]:
                    bursts[-1].append(r)
                else:
                    bursts.append([r])
                quiet = 0
            elif r["hit"] > normal and bursts and bursts[-1]:
                bursts[-1].append(r)  # still recovering: users keep coming back to a wiped session
                quiet = 0
            else:
                quiet += 1
        out = []
        step = timedelta(minutes=s.window_minutes)
        for burst in [b for b in bursts if b]:
            first, last = burst[0]["window_start"], burst[-1]["window_start"] + step
            stats = queries.run(con, "anomaly_errors_per_user", {"start": first, "end": last}).row(0, named=True)
            per_user = stats["errors"] / max(stats["users"], 1)
            if per_user > s.max_errors_per_user:
                continue  # the same users again and again: a sustained problem, not a wipe
            cause, why = nearest_cause(changes, first, slack=step)
            evidence = [f"{stats['users']} users hit by session errors between {first:%Y-%m-%d %H:%M} and {last:%H:%M} UTC, "
                        f"{stats['users_hit_once']} of them exactly once ({per_user:.2f} errors per user); "
                        f"usually {usual:.0f} per {s.window_minutes} min"]
            if why:
                evidence.append(why)
            out.append({"kind": self.name, **window(first, last), "users": stats["users"], "explained_by": cause,
                        "evidence": evidence})
        return out
