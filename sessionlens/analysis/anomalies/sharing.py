"""Session sharing: one session used by several distinct users.

A security incident: users see each other's data. Found from app events or
the signed-in user a response names; where no identity exists, from one
session used by many unrelated clients at once. One user on many devices,
many users behind one NAT address (each with their own session), and a user
who logs out and back in (a new session) are none of these.

Sizes are always filled: ``sessions``; ``clients`` (distinct addresses);
``users`` from the user keys the logs carry, or, where they name nobody,
the distinct browsers (address + user agent) on the cookie, each taken for
a person (``users_estimated`` is then true and the evidence says so).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from ...lake.engine import Engine
from .base import Detector, nearest_cause
from .result import Anomaly, SessionSharingAnomaly


@dataclass(frozen=True)
class SharingSettings:
    min_users: int = 2  # distinct users on one session
    window_minutes: int = 10  # for the no-identity test:
    min_clients: int = 5  # ... this many client addresses on one session in one window
    min_agents: int = 3  # ... with this many different user agents
    merge_gap: timedelta = timedelta(minutes=30)  # shared sessions this close form one incident
    max_candidates: int = 2000  # sessions examined window by window, most spread first


class SessionSharing(Detector[SharingSettings]):
    name = "session_sharing"
    settings_class = SharingSettings

    def detect(self, engine: Engine, since, until, changes) -> list[Anomaly]:
        s = self.settings
        params = {"since": since, "until": until, "min_users": s.min_users, "window_minutes": s.window_minutes,
                  "min_clients": s.min_clients, "min_agents": s.min_agents, "max_candidates": s.max_candidates}
        by_user = engine.run("anomaly_shared_sessions", params)
        by_client = engine.run("anomaly_session_clients", params)
        # (first, last, session, user keys, clients, browsers)
        found = [(r["first_seen"], r["last_seen"], r["session_key"], set(r["user_keys"]), r["clients"], None)
                 for r in by_user.iter_rows(named=True)]
        known = {f[2] for f in found}
        found += [(r["first_seen"], r["last_seen"], r["session_key"], set(), r["clients"], r["browsers"])
                  for r in by_client.iter_rows(named=True) if r["session_key"] not in known]
        found.sort(key=lambda f: f[0])
        incidents: list[list] = []
        for f in found:
            if incidents and f[0] - max(x[1] for x in incidents[-1]) <= s.merge_gap:
                incidents[-1].append(f)
            else:
                incidents.append([f])
        out: list[Anomaly] = []
        for group in incidents:
            first, last = min(f[0] for f in group), max(f[1] for f in group)
            users = set().union(*(f[3] for f in group))
            clients = sum(f[4] or 0 for f in group)
            browsers = sum(f[5] or 0 for f in group if not f[3])
            cause, why = nearest_cause(changes, first)
            if users:
                evidence = [f"{len(group)} session(s) used by {len(users)} distinct users "
                            f"from {clients} client addresses between {first:%Y-%m-%d %H:%M} and {last:%H:%M} UTC"]
            else:
                # no identity in the logs: each browser on the cookie is taken for a person
                evidence = [f"{len(group)} session(s) used from up to {clients} client addresses at once "
                            f"between {first:%Y-%m-%d %H:%M} and {last:%H:%M} UTC",
                            f"users counted as {browsers} distinct browsers (address + user agent) in the busiest "
                            f"{s.window_minutes} min: the logs name no signed-in user"]
            if users and browsers:
                evidence.append(f"and {browsers} browsers (address + user agent) on shared sessions that name no user")
            if why:
                evidence.append(why)
            out.append(SessionSharingAnomaly(
                start=first, end=last, sessions=len(group),
                # sessions with no identity add their browsers, each taken for a person
                users=len(users) + browsers, users_estimated=browsers > 0, clients=clients,
                explained_by=cause, evidence=evidence,
                # keyed hashes: who to tell, without naming anyone in the report
                user_keys=sorted(users)))
        return out
