"""Changes nobody wrote down, inferred from the logs, and linked to written ones.

An application version taking over on hosts (a rolling deploy is the set of
those), a cookie format first seen, and the edge worker's verdict or the
cache status mix switching. An inferred change that matches a written one is
linked to it (``linked_to``), not listed twice; :func:`all_changes` gives
both kinds.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl

from ..lake.engine import Engine
from ..lake.span import full_span
from ..lake.store import Lake
from .model import Change
from .store import written_changes

ROLLOUT_GAP = timedelta(minutes=20)  # host switches further apart are separate rollouts
NEW_AFTER = timedelta(hours=1)  # a format seen within the first hour of data was always there
MIX_JUMP = 0.3  # a verdict's share moving this much between 5-minute windows is a switch


def infer_changes(engine: Engine, since: datetime, until: datetime) -> list[Change]:
    """Changes nobody wrote down, read from the lake's requests between ``since`` and ``until``.

    ``engine``: the lake's engine (:meth:`Lake.engine <sessionlens.lake.store.Lake.engine>`).
    """
    params = {"since": since, "until": until}
    out: list[Change] = []

    # versions taking over host by host; a rolling deploy is one change
    transitions = engine.run("version_transitions", params)
    by_version: dict[str, list[dict]] = {}
    for row in transitions.iter_rows(named=True):
        by_version.setdefault(row["to_version"], []).append(row)
    earlier_versions = set(transitions["from_version"].to_list()) if transitions.height else set()
    for version, rows in by_version.items():
        group: list[dict] = []
        ending: list[dict | None] = [*rows, None]  # None: the end, which closes the last group
        for entry in ending:
            if group and (entry is None or entry["at"] - group[-1]["at"] > ROLLOUT_GAP):
                start, end = group[0]["at"], group[-1]["at"]
                hosts = sorted({r["host"] for r in group})
                came_from = sorted({r["from_version"] for r in group})
                back = version in earlier_versions and any(
                    t["from_version"] == version and t["at"] < start for t in transitions.iter_rows(named=True))
                out.append(Change(
                    id=f"inferred:version:{version}@{start:%H%M}", at=start, end=end if end > start else None,
                    kind="rollback" if back else "deploy",
                    label=f"{version} took over on {len(hosts)} host(s) (from {', '.join(came_from)})",
                    scope={"hosts": hosts, "version": version, "from_versions": came_from}, origin="inferred"))
                group = []
            if entry is not None:
                group.append(entry)

    formats = engine.run("cookie_formats_seen", params)
    for row in formats.iter_rows(named=True):
        if row["first_seen"] - since >= NEW_AFTER and row["requests"] >= 20:
            out.append(Change(
                id=f"inferred:cookie:{row['cookie_format']}", at=row["first_seen"], kind="cookie",
                label=f"session cookies in a new format: {row['cookie_format']}",
                scope={"cookie_format": row["cookie_format"]}, origin="inferred"))

    mix = engine.run("mix_by_window", params, first="edge_worker", second="cache_status")  # both in one scan
    for which, dimension, kind in ((1, "edge_worker", "edge_worker"), (2, "cache_status", "cache")):
        out += _mix_switches(mix.filter(pl.col("which") == which).drop("which"), dimension, kind)
    return sorted(out, key=lambda c: c.at)


def _mix_switches(mix: pl.DataFrame, dimension: str, kind: str) -> list[Change]:
    """Windows where one value's share jumps and stays."""
    if mix.height == 0:
        return []
    wide = mix.pivot(on="value", index="window_start", values="share").sort("window_start").fill_null(0.0)
    values = [c for c in wide.columns if c != "window_start" and c != "(none)"]
    if wide.height < 3 or not values:
        return []
    out = []
    times = wide["window_start"].to_list()
    for v in values:
        share = wide[v].to_list()
        for i in range(1, len(share) - 1):
            jump = share[i] - share[i - 1]
            # the new level holds in the next window too
            if abs(jump) >= MIX_JUMP and abs(share[i + 1] - share[i - 1]) >= MIX_JUMP * 0.8:
                direction = "rose" if jump > 0 else "fell"
                out.append(Change(
                    id=f"inferred:{dimension}:{v}:{direction}@{times[i]:%m%d%H%M}", at=times[i], kind=kind,
                    label=f"{dimension} '{v}' {direction} from {share[i - 1]:.0%} to {share[i]:.0%} of requests",
                    scope={dimension: v}, origin="inferred"))
    return out


def link(inferred: list[Change], written: list[Change]) -> None:
    """Marks inferred changes that a written one already describes (the nearest in time)."""
    for c in inferred:
        for w in sorted(written, key=lambda w: abs((w.at - c.at).total_seconds())):
            w_end = (w.end or w.at) + timedelta(minutes=10)
            near = w.at - timedelta(minutes=5) <= c.at <= w_end
            if c.kind in ("deploy", "rollback") and w.kind in ("deploy", "rollback"):
                version = c.scope.get("version", "")
                named = version and (version in w.label or version in w.detail or version in w.id)
                if near and (named or w.kind == c.kind):
                    c.linked_to = w.id
            elif c.kind == "cookie" and w.kind in ("deploy", "cookie", "config") and near:
                c.linked_to = w.id
            elif c.kind == w.kind and c.kind in ("edge_worker", "cache") and abs((c.at - w.at).total_seconds()) <= 600:
                c.linked_to = w.id
            if c.linked_to:
                break


def all_changes(lake: Lake, since: datetime | None = None, until: datetime | None = None, *,
                engine: Engine | None = None) -> list[Change]:
    """Written and inferred changes, oldest first; inferred ones carry ``linked_to`` when matched.

    Changes are inferred between ``since`` and ``until`` (default: the
    lake's first and last request). ``engine``: what to infer them from;
    default the lake's own engine.
    """
    engine = engine or lake.engine()
    if since is None or until is None:
        lo, hi = full_span(engine, "requests")
        if lo is None:
            return written_changes(lake)
        since = since or lo
        until = until or hi + timedelta(seconds=1)
    written = written_changes(lake)
    inferred = infer_changes(engine, since, until)
    link(inferred, written)
    return sorted(written + inferred, key=lambda c: c.at)
