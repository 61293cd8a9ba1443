"""Logout loops: clients cycling rejected request -> logout -> login, many times within minutes.

A user who logs out and in once or twice is not a loop. Sizes are rates over
a stated period: ``max_cycles`` is the most logouts one client made in any
``window_minutes`` (a sliding window, so a loop is not split by the clock),
not a total over hours; ``period_seconds`` says that period.

From app events a client is the user (or session); from access logs it is
the address with its user agent. Behind a NAT (or in logs without a user
agent) one address holds many users, each logging out now and then: a loop
is mostly logouts and logins, so a client whose looping stretch is mostly
other requests is an office, not a loop. One client with a handful of
cycles is a person trying again; a loop is several clients, or one stuck
for ``solo_cycles`` cycles.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import cast

from ...lake.engine import Engine
from .base import Detector, nearest_cause
from .result import Anomaly, LogoutLoopAnomaly


@dataclass(frozen=True)
class LoopSettings:
    window_minutes: int = 10
    min_cycles: int = 5  # logouts by one client in any window
    min_clients: int = 3  # a loop a change caused catches many clients...
    solo_cycles: int = 15  # ... but fewer are reported when one cycled this often (a browser stuck in a loop)
    min_logout_share: float = 0.1  # access logs: logouts among the client's requests while looping


class LogoutLoop(Detector[LoopSettings]):
    name = "logout_loop"
    settings_class = LoopSettings

    def detect(self, engine: Engine, since, until, changes) -> list[Anomaly]:
        s = self.settings
        from_events = engine.one("logout_events")[0] > 0
        looping = engine.run("anomaly_logout_cycles", {"since": since, "until": until,
                                                       "window_minutes": s.window_minutes,
                                                       "min_cycles": s.min_cycles, "from_events": from_events})
        if not from_events and looping.height:
            looping = looping.filter(looping["logouts"] >= s.min_logout_share * looping["requests"].fill_null(0))
        # one person logging out and in five times in ten minutes is a person, not a loop
        max_cycles = int(cast(int, looping["cycles"].max())) if looping.height else 0
        if looping.height == 0 or (looping.height < s.min_clients and max_cycles < s.solo_cycles):
            return []
        clients = looping.height
        first, last = cast(datetime, looping["first_ts"].min()), cast(datetime, looping["last_ts"].max())
        median_cycles = float(cast(float, looping["cycles"].median()))
        cause, why = nearest_cause(changes, first)
        source = "logout events" if from_events else "requests to logout routes"
        period = f"{s.window_minutes} min"
        evidence = [f"{clients} client(s) logged out {s.min_cycles} or more times in {period} between "
                    f"{first:%Y-%m-%d %H:%M} and {last:%H:%M} UTC; up to {max_cycles} logout/login cycles per client "
                    f"in {period} (median {median_cycles:.0f}), {int(looping['logouts'].sum())} logouts in all "
                    f"(from {source})"]
        if why:
            evidence.append(why)
        users = int(looping["users"].sum())
        sessions = int(looping["sessions"].sum()) or None
        if not users:
            users = clients  # each looping client is one browser: one person at it
            evidence.append("users counted as looping clients (one person at each): the logouts name no user")
        return [LogoutLoopAnomaly(start=first, end=last, clients=clients, users=users, sessions=sessions,
                                  max_cycles=max_cycles, window_seconds=s.window_minutes * 60,
                                  total_cycles=int(looping["logouts"].sum()), explained_by=cause, evidence=evidence)]
