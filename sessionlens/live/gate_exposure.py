"""Which requests a rollout reached (the gate's exposed traffic), and when it began.

Exposed means: the request's app version is one of ``versions``, or its
cookie format one of ``formats``, or its host one of ``hosts``. The gate is
asked about a version, a cookie format, hosts, or a change from the lake;
this module turns the question into those three lists, with a sentence for
each choice it made (``why``), from one query (``queries/gate_values.sql``:
when each version, cookie format and host was first seen).

A version alone is not enough: a new version that hands out a new cookie
format exposes the hosts still on the old version too, as soon as its users
bring the new cookies there (the archive incident: old hosts could not read
the new cookies). So a cookie format first seen since the start, and not in
the history before it, counts as exposed along with the version.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import polars as pl

from ..analysis.scope import scope_of, scope_values
from ..analysis.text import join_words
from ..changes.infer import all_changes
from ..changes.model import Change
from ..changes.store import written_changes
from ..errors import InputError
from ..lake.engine import Engine
from ..lake.store import Lake
from ..timeparse import fmt

HISTORY = timedelta(days=7)  # what a value must be absent from, before the start, to count as new
LOOKBACK = timedelta(hours=24)  # without --since or a change, the start is the first exposed minute within this
MIN_HISTORY = timedelta(hours=1)  # with less data before the start, every value would look new: none is called new


@dataclass(frozen=True)
class Exposure:
    """The exposed traffic, when it began, and why.

    Attributes:
        versions, formats, hosts: a request matching any of them is exposed.
        start: when the exposed traffic began; None when none was found.
        why: one sentence per choice made (a format added, a change's scope read).
        undecided: set when the traffic cannot be split (the gate cannot judge): why not.
        families_known: the site's route families (seen in the history or since).
    """

    versions: tuple[str, ...] = ()
    formats: tuple[str, ...] = ()
    hosts: tuple[str, ...] = ()
    start: datetime | None = None
    why: tuple[str, ...] = ()
    undecided: str | None = None
    families_known: int = 0

    def label(self) -> str:
        """The exposed traffic in words: ``v1.41.0 or rails-encrypted-gcm cookies``, ``hosts web01 and web02``."""
        parts = [*self.versions, *(f"{f} cookies" for f in self.formats)]
        if self.hosts:
            parts.append(("host " if len(self.hosts) == 1 else "hosts ") + join_words(self.hosts))
        return join_words(parts, " or ") or "nothing"

    def params(self) -> dict:
        """The lists as ``gate_minutes`` binds them."""
        return {"versions": list(self.versions), "formats": list(self.formats), "hosts": list(self.hosts)}

    def as_json(self) -> dict:
        return {"versions": list(self.versions), "cookie_formats": list(self.formats), "hosts": list(self.hosts),
                "why": list(self.why)}


class Seen:
    """When each value of a dimension was first and last seen (``gate_values``' rows)."""

    def __init__(self, frame: pl.DataFrame):
        self.rows: dict[str, list[dict]] = {}
        for row in frame.iter_rows(named=True):
            self.rows.setdefault(row["dimension"], []).append(row)

    def of(self, dimension: str) -> list[dict]:
        return self.rows.get(dimension, [])

    def data_start(self) -> datetime | None:
        return min((r["first_seen"] for r in self.of("host") + self.of("app_version")), default=None)

    def has_history(self, start: datetime) -> bool:
        first = self.data_start()
        return first is not None and start - first >= MIN_HISTORY

    def new_since(self, dimension: str, start: datetime, on_hosts: bool = False) -> list[str]:
        """Values first seen at or after ``start`` (none when the data before it is too short to tell)."""
        if not self.has_history(start):
            return []
        return [r["value"] for r in self.of(dimension)
                if r["first_seen"] >= start and (not on_hosts or r["first_on_hosts"] is not None)]

    def first_exposed(self, versions, formats, hosts, since: datetime) -> datetime | None:
        """The first minute, not before ``since``, in which a matching value was seen (None: not seen since)."""
        wanted = {("app_version", v) for v in versions} | {("cookie_format", f) for f in formats} | {
            ("host", h) for h in hosts}
        rows = [r for d, rs in self.rows.items() for r in rs if (d, r["value"]) in wanted and r["last_seen"] >= since]
        if not rows:
            return None
        first = max(min(r["first_seen"] for r in rows), since)
        return first.replace(second=0, microsecond=0)


def resolve(lake: Lake, engine: Engine, *, change: str | None, version: str | None, hosts: list[str] | None,
            cookie_format: str | None, since: datetime | None, now: datetime) -> Exposure:
    """The exposure the gate's options describe, read from the lake up to ``now``.

    Raises:
        InputError: ``change`` names no change in the lake.
    """
    found = find_change(lake, engine, change, now) if change else None
    anchor = since or (found.at if found else now - LOOKBACK)
    scope_hosts = _scope_list(scope_of(found), "hosts", "host") if found else []
    seen = Seen(engine.run("gate_values", {"since": anchor - HISTORY, "until": now, "hosts": scope_hosts}))
    families = len(seen.of("family"))
    if found:
        return _for_change(found, seen, since or found.at, now, scope_hosts, families)
    versions, formats = [version] if version else [], [cookie_format] if cookie_format else []
    hosts = list(hosts or [])
    start = since or seen.first_exposed(versions, formats, hosts, now - LOOKBACK)
    base = Exposure(tuple(versions), tuple(formats), tuple(hosts), start, families_known=families)
    if start is None:
        return Exposure(base.versions, base.formats, base.hosts, None,
                        undecided=f"no request from {base.label()} in the 24 h before {fmt(now)}",
                        families_known=families)
    why = [] if since else [f"start: the first minute with exposed traffic, {fmt(start)}"]
    added: list[str] = []
    if version:
        added, note = _new_formats(seen, start, versions)
        why += note
    return Exposure(base.versions, (*base.formats, *added), base.hosts, start, tuple(why), families_known=families)


def find_change(lake: Lake, engine: Engine, change_id: str, now: datetime) -> Change:
    """A written change by id, else an inferred one (inferred from the data before ``now``)."""
    for c in written_changes(lake):
        if c.id == change_id:
            return c
    for c in all_changes(lake, until=now, engine=engine):
        if c.id == change_id:
            return c
    raise InputError(f"no change {change_id!r} in the lake (`sessionlens changes list` shows the changes, "
                     "written and inferred)")


def _scope_list(scope: dict, *keys: str) -> list[str]:
    return [v for key in keys for v in scope_values(scope.get(key))]


def _new_formats(seen: Seen, start: datetime, versions: list[str], on_hosts: bool = False) -> tuple[list[str], list]:
    """Cookie formats new since ``start`` (exposed along with the version), and the sentence saying so."""
    if not seen.has_history(start):
        return [], [f"no cookie format added: the lake holds less than {MIN_HISTORY // timedelta(minutes=1)} min "
                    f"of requests before {fmt(start)}, too little to tell a new format from an old one"]
    added = seen.new_since("cookie_format", start, on_hosts)
    if not added:
        return [], []
    return added, [f"{join_words(added)} cookies count as exposed: first seen since {fmt(start)} and not in the "
                   f"{HISTORY.days} days before, so handed out by {join_words(versions)}; hosts on other versions "
                   "that read them are reached by the change too"]


def _for_change(change: Change, seen: Seen, start: datetime, now: datetime, scope_hosts: list[str],
                families: int) -> Exposure:
    """A change's exposure: its scope's version or cookie format, else what is new since it, else its hosts."""
    if start >= now:
        return Exposure(start=start, undecided=f"{change.id} starts at {fmt(start)}, not before the data's end "
                                               f"({fmt(now)})", families_known=families)
    scope = scope_of(change)
    versions = _scope_list(scope, "version", "versions", "app_version")
    formats = _scope_list(scope, "cookie_format", "cookie_formats")
    if versions or formats:
        why = [f"{change.id}'s scope names {join_words([*versions, *(f'{f} cookies' for f in formats)])}"]
        added: list[str] = []
        if versions and not formats:  # a new version's new cookies reach the old hosts too (module docstring)
            added, note = _new_formats(seen, start, versions, on_hosts=bool(scope_hosts))
            why += note
        return Exposure(tuple(versions), (*formats, *added), (), start, tuple(why), families_known=families)
    new_versions = seen.new_since("app_version", start, on_hosts=bool(scope_hosts))
    new_formats = seen.new_since("cookie_format", start, on_hosts=bool(scope_hosts))
    if new_versions or new_formats:
        named = join_words([*new_versions, *(f"{f} cookies" for f in new_formats)])
        where = " on its hosts" if scope_hosts else ""
        return Exposure(tuple(new_versions), tuple(new_formats), (), start, (
            f"{named}: first seen{where} since {change.id} at {fmt(start)}, and not in the {HISTORY.days} days "
            f"before (its scope names no version or cookie format)",), families_known=families)
    hosts_since = {r["value"] for r in seen.of("host") if r["last_seen"] >= start}
    if scope_hosts and set(scope_hosts) & hosts_since and not hosts_since <= set(scope_hosts):
        return Exposure((), (), tuple(scope_hosts), start, (
            f"{change.id}'s scope names {len(scope_hosts)} of the {len(hosts_since)} hosts seen since it",),
            families_known=families)
    return Exposure(start=start, families_known=families, undecided=(
        f"cannot tell {change.id}'s traffic apart yet (no new version or cookie format seen since {fmt(start)}"
        + (", and its scope names every host" if scope_hosts else "") + ")"))
