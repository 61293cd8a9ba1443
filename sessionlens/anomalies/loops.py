"""Logout loops: clients cycling rejected request -> logout -> login, many times within minutes.

A user who logs out and in once or twice is not a loop.
"""

from __future__ import annotations

from dataclasses import dataclass
import polars as pl

from .. import queries
from .base import Detector, nearest_cause, window


@dataclass(frozen=True)
class LoopSettings:
    window_minutes: int = 10
    min_cycles: int = 5  # logouts by one client in one window
    min_clients: int = 1


class LogoutLoop(Detector):
    name = "logout_loop"
    Settings = LoopSettings

    def detect(self, con, since, until, changes):
        s = self.settings
        from_events = con.sql("SELECT count(*) FROM events WHERE event = 'logout'").fetchall()[0][0] > 0
        cycles = queries.run(con, "anomaly_logout_cycles", {"since": since, "until": until, "window_minutes": s.window_minutes,
                                                            "from_events": from_events})
        looping = cycles.filter(cycles["cycles"] >= s.min_cycles)
        if looping.height == 0 or looping["client"].n_unique() < s.min_clients:
            return []
        clients = looping["client"].n_unique()
        per_client = looping.group_by("client").agg(pl.col("cycles").sum().alias("total"))
        first = looping["first_ts"].min()  # the first looping logout, not its window's start
        last = looping["last_ts"].max()
        max_cycles = int(per_client["total"].max())
        cause, why = nearest_cause(changes, first)
        source = "logout events" if from_events else "requests to logout routes"
        evidence = [f"{clients} client(s) logged out {s.min_cycles} or more times within {s.window_minutes} min "
                    f"(up to {max_cycles} cycles per client; from {source})"]
        if why:
            evidence.append(why)
        return [{"kind": self.name, **window(first, last), "clients": clients, "max_cycles": max_cycles,
                 "explained_by": cause, "evidence": evidence}]
