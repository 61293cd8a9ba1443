"""Mass invalidation: valid sessions wiped at once.

A burst of first-time session errors across many sessions, far above the
usual rate, each session (or user) hit about once: they sign in again, or
cannot. Unlike a sustained error rate, where the same users are hit again
and again and new sessions fail too.

Two sources, either enough alone:

* app events, which name the user;
* access logs that carry a session cookie (nginx, Cloudflare, Rails 2):
  a session counts when it had a successful request before and hits a
  session error for the first time. A wipe leaves the old cookie dead (it
  never works again) and the sessions opened after it working; a rolling
  cookie change keeps failing the new sessions as well, and a faulty host
  fails sessions that go on working elsewhere, so neither is a wipe.

Logs without a session cookie are not read for wipes: an address (even with
its user agent) is not a session, and behind a NAT many users share it.

A burst that recurs at the same time of day on the other days of the data
(a nightly session TTL purge) is routine, not an anomaly.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from statistics import median

import polars as pl

from ...changes.model import Change, iso
from ...lake.engine import Engine
from .base import Detector, nearest_cause
from .result import Anomaly, MassInvalidationAnomaly

# Change kinds that can wipe sessions by themselves; preferred as the cause
# over a later change of another kind.
WIPING_KINDS = ("session_store", "cookie", "maintenance", "config")


@dataclass(frozen=True)
class InvalidationSettings:
    window_minutes: int = 5
    min_users: int = 20  # distinct users hit in a window (app events)...
    min_sessions: int = 20  # ... or valid sessions failing for the first time (access logs)
    baseline_multiple: float = 10.0  # ... and this many times the usual number
    max_errors_per_user: float = 1.5  # each user hit about once over the burst (app events)
    max_young_share: float = 0.25  # access logs: at most this share of the failed sessions opened during the burst
    min_dead_share: float = 0.5  # access logs: at least this share never worked again
    quiet_windows: int = 2  # a burst ends after this many windows back at the usual level
    history: timedelta = timedelta(days=7)  # access logs: read this far back for the usual rate
    routine_slack: timedelta = timedelta(minutes=30)  # the same time of day, give or take


@dataclass(frozen=True)
class Burst:
    """Windows whose counts stand far above the usual level."""

    first: datetime  # start of the first window
    last: datetime  # end of the last window
    peak: int  # the most in one window
    usual: float  # the usual count per window


def find_bursts(hits: dict[datetime, int], first: datetime, last: datetime, step: timedelta,
                floor: int, multiple: float, quiet_windows: int) -> list[Burst]:
    """Bursts in a series of counts per window.

    Args:
        hits: count per window start; absent windows count zero.
        first: the first window's start; ``last``: the end of the series.
        step: the window length.
        floor: a burst window has at least this many...
        multiple: ... and this many times the median window.
        quiet_windows: a burst ends after more windows than this back at the
            usual level; windows between count as part of it while above it.

    Returns:
        The bursts, in time order.
    """
    n = max(1, int((last - first) / step))
    counts = [hits.get(first + i * step, 0) for i in range(n)]
    usual = float(median(counts))
    threshold = max(floor, multiple * max(usual, 1.0))
    normal = max(3 * usual, 2)  # back to this level, the burst is over
    spans: list[list[int]] = []
    open_, quiet = False, 0
    for i, c in enumerate(counts):
        if c >= threshold or (open_ and c > normal):
            if open_:
                spans[-1][1] = i
            elif c >= threshold:
                spans.append([i, i])
                open_ = True
            quiet = 0
        elif open_:
            quiet += 1
            open_ = quiet <= quiet_windows
    return [Burst(first + a * step, first + (b + 1) * step, max(counts[a:b + 1]), usual) for a, b in spans]


def is_routine(burst: Burst, others: list[Burst], data_start: datetime, data_end: datetime,
               slack: timedelta) -> bool:
    """Whether a burst recurs at the same time of day on the other days of the data.

    Routine when at least one other day, and at least half of the other days
    the data covers at that time, show a burst starting within ``slack``.
    """
    def tod_gap(a: datetime, b: datetime) -> float:
        d = abs((a - a.replace(hour=0, minute=0, second=0, microsecond=0))
                - (b - b.replace(hour=0, minute=0, second=0, microsecond=0))).total_seconds()
        return min(d, 86400 - d)

    days_with = {o.first.date() for o in others
                 if o.first.date() != burst.first.date() and tod_gap(o.first, burst.first) <= slack.total_seconds()}
    covered = 0
    day = timedelta(days=1)
    k = -int((burst.first - data_start) / day) - 1
    while burst.first + k * day < data_end:
        t = burst.first + k * day
        if k != 0 and data_start <= t < data_end:
            covered += 1
        k += 1
    return len(days_with) >= 1 and 2 * len(days_with) >= covered


class MassInvalidation(Detector[InvalidationSettings]):
    name = "mass_invalidation"
    settings_class = InvalidationSettings

    def detect(self, engine: Engine, since: datetime, until: datetime, changes: list[Change]) -> list[Anomaly]:
        found = self._from_events(engine, since, until, changes)
        for a in self._from_requests(engine, since, until, changes):
            same = [f for f in found if f.start - self._step() <= a.end and a.start <= f.end + self._step()]
            if not same:
                found.append(a)
                continue
            # one burst seen in both sources: reported once, from the events (they name users)
            f = same[0]
            f.sources = ["app_events", "access_logs"]
            f.evidence.append(f"access logs agree: {a.sessions} valid sessions failed for the first time")
            f.sessions = f.sessions or a.sessions
            f.clients = f.clients or a.clients
        # ordered as the contract's text sorts (to the second)
        return sorted(found, key=lambda f: iso(f.start))

    def _step(self) -> timedelta:
        return timedelta(minutes=self.settings.window_minutes)

    def _from_events(self, engine: Engine, since: datetime, until: datetime,
                     changes: list[Change]) -> list[MassInvalidationAnomaly]:
        s, step = self.settings, self._step()
        hits = engine.run("anomaly_session_error_hits", {"since": since, "until": until,
                                                         "window_minutes": s.window_minutes})
        if hits.height == 0:
            return []
        counts = dict(zip(hits["window_start"].to_list(), hits["hit"].to_list(), strict=True))
        start = min(counts)  # windows are aligned to the epoch, not to `since`
        windows = max(int((until - since) / step), hits.height)
        out: list[MassInvalidationAnomaly] = []
        bursts = find_bursts(counts, start, start + windows * step, step, s.min_users, s.baseline_multiple,
                             s.quiet_windows)
        for b in bursts:
            stats = engine.run("anomaly_errors_per_user", {"start": b.first, "end": b.last}).row(0, named=True)
            per_user = stats["errors"] / max(stats["users"], 1)
            if per_user > s.max_errors_per_user:
                continue  # the same users again and again: a sustained problem, not a wipe
            cause, why = nearest_cause(changes, b.first, slack=step, prefer=WIPING_KINDS)
            evidence = [f"{stats['users']} users hit by session errors between {b.first:%Y-%m-%d %H:%M} "
                        f"and {b.last:%H:%M} UTC, "
                        f"{stats['users_hit_once']} of them exactly once ({per_user:.2f} errors per user); "
                        f"up to {b.peak} users in {s.window_minutes} min against usually {b.usual:.0f} "
                        f"per {s.window_minutes} min (from app events)"]
            if why:
                evidence.append(why)
            out.append(MassInvalidationAnomaly(
                start=b.first, end=b.last, users=stats["users"], sessions=stats["sessions"] or None,
                clients=stats["clients"] or None, peak_users=b.peak, peak_window_seconds=int(step.total_seconds()),
                explained_by=cause, evidence=evidence, sources=["app_events"]))
        return out

    def _from_requests(self, engine: Engine, since: datetime, until: datetime,
                       changes: list[Change]) -> list[MassInvalidationAnomaly]:
        s, step = self.settings, self._step()
        read_from = since - s.history
        data_start, data_end, horizon = engine.run("session_key_span", {"since": read_from, "until": until}).row(0)
        if data_start is None:
            return []
        # one scan: the valid sessions that failed, read up to the end of the data (not of the window:
        # a narrowed window must not make a session that recovered at 17:05 look wiped)
        horizon = horizon + step if horizon else until
        failed = engine.run("anomaly_failed_sessions", {"since": read_from, "until": max(until, horizon)})
        hits = (failed.filter(pl.col("first_error") < until)
                .group_by(pl.col("first_error").dt.truncate(f"{s.window_minutes}m").alias("window_start"))
                .agg(pl.len().alias("hit")).sort("window_start"))
        if hits.height == 0:
            return []
        counts = dict(zip(hits["window_start"].to_list(), hits["hit"].to_list(), strict=True))
        first = min(counts)
        bursts = find_bursts(counts, first, data_end + step, step, s.min_sessions, s.baseline_multiple, s.quiet_windows)
        out: list[MassInvalidationAnomaly] = []
        # history-only bursts set the usual level; one at this time every day is a scheduled purge or TTL
        candidates = [b for b in bursts if since - step < b.first < until
                      and not is_routine(b, bursts, data_start, data_end, s.routine_slack)]
        by_burst = {i: _wiped(failed, b.first, b.last) for i, b in enumerate(candidates, 1)}
        for i, b in enumerate(candidates, 1):
            st = by_burst[i]
            n = st["sessions"]
            if not n or st["young"] > s.max_young_share * n:
                continue  # sessions opened after it began fail too: a sustained fault, not a wipe
            if st["dead"] < s.min_dead_share * n:
                continue  # the failed sessions go on working: errors on requests, not wiped sessions
            onset = st["onset"] or b.first
            cause, why = nearest_cause(changes, onset, slack=step, prefer=WIPING_KINDS)
            known_users = st["users"] > 0
            evidence = [f"{n} valid sessions hit a session error for the first time between {b.first:%Y-%m-%d %H:%M} "
                        f"and {b.last:%H:%M} UTC, up to {b.peak} in {s.window_minutes} min against usually "
                        f"{b.usual:.0f} per {s.window_minutes} min (from access logs)",
                        f"{st['dead']} of them never worked again and {st['young']} had been opened after it began; "
                        f"held by {st['clients']} client addresses and "
                        + (f"{st['users']} signed-in users" if known_users else
                           f"{st['browsers']} browsers (address + user agent), counted as users: "
                           "the logs name no signed-in user")]
            if why:
                evidence.append(why)
            out.append(MassInvalidationAnomaly(
                start=b.first, end=b.last, users=st["users"] if known_users else st["browsers"],
                users_estimated=not known_users, sessions=n, clients=st["clients"], peak_sessions=b.peak,
                peak_window_seconds=int(step.total_seconds()), explained_by=cause, evidence=evidence,
                sources=["access_logs"]))
        return out


def _wiped(failed: pl.DataFrame, start, end) -> dict:
    """The sessions whose first failure fell in [start, end): how many, how many new (first seen
    after ``start``), how many never worked again, and whom they belonged to."""
    w = failed.filter((pl.col("first_error") >= start) & (pl.col("first_error") < end))
    browsers = w.filter(pl.col("client_key").is_not_null()).select(
        pl.concat_str([pl.col("client_key"), pl.col("user_agent").fill_null("")], separator=" ").n_unique()).item()
    return {"sessions": w.height, "young": w.filter(pl.col("first_seen") >= start).height,
            "dead": w.filter(pl.col("last_ok") < pl.col("first_error")).height,
            "onset": w["first_error"].min(), "clients": w["client_key"].drop_nulls().n_unique(),
            "browsers": browsers, "users": w["user_key"].drop_nulls().n_unique()}
