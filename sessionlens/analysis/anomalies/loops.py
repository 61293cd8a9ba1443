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

from ...lake import sql as queries
from .base import Detector, nearest_cause, window


@dataclass(frozen=True)
class LoopSettings:
    window_minutes: int = 10
    min_cycles: int = 5  # logouts by one client in any window
    min_clients: int = 3  # a loop a change caused catches many clients...
    solo_cycles: int = 15  # ... but fewer are reported when one cycled this often (a browser stuck in a loop)
    min_logout_share: float = 0.1  # access logs: logouts among the client's requests while looping


class LogoutLoop(Detector):
    name = "logout_loop"
    Settings = LoopSettings

    def detect(self, con, since, until, changes):
        s = self.settings
        from_events = con.sql("SELECT count(*) FROM events WHERE event = 'logout'").fetchall()[0][0] > 0
        looping = queries.run(con, "anomaly_logout_cycles", {"since": since, "until": until, "window_minutes": s.window_minutes,
                                                             "min_cycles": s.min_cycles, "from_events": from_events})
        if not from_events and looping.height:
            looping = looping.filter(looping["logouts"] >= s.min_logout_share * looping["requests"].fill_null(0))
        # one person logging out and in five times in ten minutes is a person, not a loop
        if looping.height == 0 or (looping.height < s.min_clients and int(looping["cycles"].max()) < s.solo_cycles):
            return []
        clients = looping.height
        first, last = looping["first_ts"].min(), looping["last_ts"].max()
        max_cycles = int(looping["cycles"].max())
        median_cycles = float(looping["cycles"].median())
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
        return [{"kind": self.name, **window(first, last), "clients": clients, "users": users, "sessions": sessions,
                 "max_cycles": max_cycles, "period_seconds": s.window_minutes * 60,
                 "total_cycles": int(looping["logouts"].sum()),
                 "explained_by": cause, "evidence": evidence}]
