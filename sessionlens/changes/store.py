"""Changes: markers people wrote down, and changes inferred from the logs.

Written markers come from sessionlens JSON lines or CSV, Grafana annotations,
Honeycomb markers and Cloudflare audit logs (v1 Logpush fields and the v2
API shape). Inferred changes come from the lake: an application version
taking over on hosts (a rolling deploy is the set of those), a cookie format
first seen, and the edge worker's verdict or the cache status mix switching.
An inferred change that matches a written one is linked to it, not listed
twice.

Marker files are read in :mod:`sessionlens.markers`, record by record, each
checked by the rules of :mod:`sessionlens.markers_validate`. Written changes
are removed with :func:`remove_changes` (``sessionlens changes remove``).
Stored changes are read defensively: nothing a lake holds in the ``changes``
table, even from before records were checked, may crash a reader.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import xxhash

from ..errors import InputError, LakeError
from ..lake.store import Lake, now_iso
from .validate import KINDS, RecordError, clean, record_id, scope_of_stored
from .validate import parse_time as check_time
from .validate import scope as check_scope

__all__ = ["KINDS", "Change", "MarkerFile", "read_marker_file", "read_markers", "detect_marker_format", "import_markers",
           "add_change", "remove_changes", "written_changes", "all_changes", "parse_time"]


@dataclass
class Change:
    """One change. ``at``/``end`` are aware UTC datetimes; ``scope`` is open."""

    id: str
    at: datetime
    kind: str = "other"
    label: str = ""
    end: datetime | None = None
    scope: dict = field(default_factory=dict)
    detail: str = ""
    origin: str = "manual"
    linked_to: str | None = None  # for an inferred change matching a written one

    def as_row(self) -> dict:
        row = asdict(self)
        row["scope"] = json.dumps(self.scope, sort_keys=True)
        return row

    def as_json(self) -> dict:
        d = asdict(self)
        d["at"] = iso(self.at)
        d["end"] = iso(self.end) if self.end else None
        return d


def iso(t: datetime) -> str:
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value) -> datetime:
    """RFC 3339 text, or epoch seconds / milliseconds / nanoseconds, within 1990 .. now + 1 day.

    Raises ValueError (a RecordError) for anything else, never an overflow.
    """
    return check_time(value)


# --- storing -----------------------------------------------------------------------


def written_changes(lake: Lake) -> list[Change]:
    """The changes stored in the lake (imported or added), oldest first.

    Read defensively: a lake written before records were checked may hold a
    scope that is not an object (read as ``{}``) or an end before the start.
    """
    con = lake.connect()
    rel = con.sql('SELECT id, "at", "end", kind, label, scope, detail, origin FROM changes WHERE "at" IS NOT NULL ORDER BY "at"')
    out = []
    for cid, at, end, kind, label, scope, detail, origin in rel.fetchall():
        out.append(Change(id=str(cid or ""), at=at, end=end if end is not None and end >= at else None,
                          kind=kind or "other", label=label or "", scope=scope_of_stored(scope),
                          detail=detail or "", origin=origin or ""))
    return out


def store(lake: Lake, changes: list[Change], locked: bool = False) -> tuple[int, list[str]]:
    """Adds changes to the lake; ids already there are skipped. Returns (added, skipped ids).

    ``locked``: the caller holds the lake's write lock already (an ingest).
    """
    import contextlib

    import pyarrow as pa
    import pyarrow.parquet as pq

    with contextlib.nullcontext() if locked else lake.writer():
        existing = {c.id for c in written_changes(lake)}
        new, skipped, seen = [], [], set()
        for c in changes:
            if c.id in existing or c.id in seen:
                skipped.append(c.id)
            else:
                seen.add(c.id)
                new.append(c)
        if not new:
            return 0, skipped
        rows = [c.as_row() for c in new]
        table = pa.Table.from_pylist(
            [{k: r[k] for k in ("id", "at", "end", "kind", "label", "scope", "detail", "origin")} for r in rows],
            schema=pa.schema([("id", pa.string()), ("at", pa.timestamp("us", tz="UTC")), ("end", pa.timestamp("us", tz="UTC")),
                              ("kind", pa.string()), ("label", pa.string()), ("scope", pa.string()),
                              ("detail", pa.string()), ("origin", pa.string())]),
        )
        name = xxhash.xxh3_64_hexdigest(("".join(sorted(c.id for c in new)) + now_iso()).encode())
        rel = Path("changes") / f"part-{name}.parquet"
        (lake.root / "changes").mkdir(exist_ok=True)
        tmp = lake.root / "_staging" / f"changes-{name}.parquet"
        tmp.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, tmp, compression="zstd")
        lake.publish_file(tmp, rel)  # visible under its final name only once the manifest lists it
        manifest = lake.read_manifest()
        manifest.extra_parts.setdefault("changes", []).append(str(rel))
        lake.write_manifest(manifest)
    return len(new), skipped


def __getattr__(name: str):
    """Marker files are read in markers.py; their names stay importable from here."""
    if name in ("MarkerFile", "detect_marker_format", "read_marker_file", "read_markers"):
        from . import markers

        return getattr(markers, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def import_markers(lake_dir: str | Path, paths: list[str]) -> dict:
    """Imports marker files into a lake (created if missing).

    Good records are stored, bad ones listed in ``rejected`` with file, line
    and reason (``read`` = added + skipped_existing + rejected). Unlike
    ``ingest``, an import does not write the rejects table, which accounts
    for ingested files.
    """
    from . import markers

    files = []
    for p in paths:
        path = Path(p)
        if not path.is_file():
            raise InputError(f"{p}: no such file")
        files.append(markers.read_marker_file(path))
    changes = [c for f in files for c in f.changes]
    added, skipped = store(Lake(lake_dir, create=True), changes)
    return {"read": sum(f.read for f in files), "added": added, "skipped_existing": skipped,
            "rejected": [m for f in files for m in f.problems()]}


def add_change(lake_dir: str | Path, at: str, kind: str, label: str, scope: list[str] | None = None,
               change_id: str | None = None, end: str | None = None, detail: str = "") -> Change:
    """Records one change by hand; ``scope`` items are key=value (hosts=web01,web02)."""
    if kind not in KINDS:
        raise InputError(f"--kind must be one of {', '.join(KINDS)}")
    try:
        when = check_time(at, "auto", "--at")
        until = check_time(end, "auto", "--end") if end else None
        if until is not None and until < when:
            raise RecordError("--end", "is before --at")
        cid = record_id(change_id, "--id") if change_id is not None else f"manual-{when:%Y%m%dT%H%M}-{kind}"
    except RecordError as exc:
        raise InputError(str(exc)) from None
    sc: dict = {}
    for item in scope or []:
        if "=" not in item:
            raise InputError(f"--scope {item!r} is not key=value")
        k, v = item.split("=", 1)
        k = {"host": "hosts", "path": "paths"}.get(k, k)
        sc[k] = [x for x in v.split(",") if x] if k in ("hosts", "paths") else v
    try:
        sc = check_scope(sc)
    except RecordError as exc:
        raise InputError(f"--{exc}") from None
    change = Change(id=cid, at=when, end=until, kind=kind, label=clean(label), scope=sc, detail=clean(detail),
                    origin="manual")
    added, _ = store(Lake(lake_dir, create=True), [change])
    if not added:
        raise InputError(f"a change with id {cid} exists already")
    return change


def remove_changes(lake_dir: str | Path, ids: list[str]) -> list[str]:
    """Removes written changes by id, all of them or none; returns the ids removed.

    The change files holding them are rewritten without them and the
    manifest naming the new files replaces the old one atomically, so a
    reader sees the changes either all there or all gone. Inferred changes
    (``inferred:...``) are recomputed from the logs on every analysis and
    cannot be removed. A removed change comes back if its marker file is
    imported again (``ingest`` skips files it has seen).
    """
    import pyarrow.parquet as pq

    wanted = list(dict.fromkeys(ids))
    if not wanted:
        raise InputError("name at least one change id to remove")
    lake = Lake(lake_dir)
    with lake.writer():
        manifest = lake.read_manifest()
        parts = list(manifest.extra_parts.get("changes", []))
        tables, found = {}, set()
        for rel in parts:
            try:
                table = pq.read_table(lake.root / rel)
            except (OSError, ValueError) as exc:  # pyarrow's errors derive from these
                raise LakeError(f"{lake.root / rel}: unreadable change file ({str(exc).splitlines()[0]})") from None
            hit = set(table.column("id").to_pylist()) & set(wanted)
            if hit:
                tables[rel], found = table, found | hit
        missing = [i for i in wanted if i not in found]
        if missing:
            first = missing[0]
            why = (f"{first} is an inferred change: it is recomputed from the logs on every analysis and cannot be removed"
                   if first.startswith("inferred:") else f"no written change has the id {first}")
            more = f" ({len(missing) - 1} more id(s) not found)" if len(missing) > 1 else ""
            raise InputError(f"{why}{more}; nothing was removed")
        new_parts = []
        stamp = now_iso()
        for rel in parts:
            if rel not in tables:
                new_parts.append(rel)
                continue
            table = tables[rel]
            keep = [i for i, cid in enumerate(table.column("id").to_pylist()) if cid not in found]
            if not keep:
                continue
            name = xxhash.xxh3_64_hexdigest(f"{rel}:{stamp}:{','.join(sorted(found))}".encode())
            tmp = lake.staging_dir(f"changes-remove-{name}") / "part.parquet"
            pq.write_table(table.take(keep), tmp, compression="zstd")
            new_rel = str(Path("changes") / f"part-{name}.parquet")
            lake.publish_file(tmp, new_rel)
            new_parts.append(new_rel)
        manifest.extra_parts["changes"] = new_parts
        lake.write_manifest(manifest)
        for rel in tables:
            (lake.root / rel).unlink(missing_ok=True)
    return [i for i in wanted if i in found]


# --- inferring -------------------------------------------------------------------

ROLLOUT_GAP = timedelta(minutes=20)  # host switches further apart are separate rollouts
NEW_AFTER = timedelta(hours=1)  # a format seen within the first hour of data was always there
MIX_JUMP = 0.3  # a verdict's share moving this much between 5-minute windows is a switch


def infer_changes(con, since: datetime, until: datetime) -> list[Change]:
    """Changes nobody wrote down, read from the lake's requests."""
    from ..lake import sql as queries

    params = {"since": since, "until": until}
    out: list[Change] = []

    # versions taking over host by host; a rolling deploy is one change
    transitions = queries.run(con, "version_transitions", params)
    by_version: dict[str, list[dict]] = {}
    for row in transitions.iter_rows(named=True):
        by_version.setdefault(row["to_version"], []).append(row)
    earlier_versions = set(transitions["from_version"].to_list()) if transitions.height else set()
    for version, rows in by_version.items():
        group: list[dict] = []
        for row in rows + [None]:
            if group and (row is None or row["at"] - group[-1]["at"] > ROLLOUT_GAP):
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
            if row is not None:
                group.append(row)

    formats = queries.run(con, "cookie_formats_seen", params)
    for row in formats.iter_rows(named=True):
        if row["first_seen"] - since >= NEW_AFTER and row["requests"] >= 20:
            out.append(Change(
                id=f"inferred:cookie:{row['cookie_format']}", at=row["first_seen"], kind="cookie",
                label=f"session cookies in a new format: {row['cookie_format']}",
                scope={"cookie_format": row["cookie_format"]}, origin="inferred"))

    for dimension, kind in (("edge_worker", "edge_worker"), ("cache_status", "cache")):
        out += _mix_switches(queries.run(con, "mix_by_window", params, dimension=dimension), dimension, kind)
    return sorted(out, key=lambda c: c.at)


def _mix_switches(mix, dimension: str, kind: str) -> list[Change]:
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


def all_changes(lake: Lake, since: datetime | None = None, until: datetime | None = None, con=None) -> list[Change]:
    """Written and inferred changes; inferred ones carry ``linked_to`` when matched."""
    con = con or lake.connect()
    if since is None or until is None:
        lo, hi = con.sql("SELECT min(ts), max(ts) FROM requests").fetchall()[0]
        if lo is None:
            return written_changes(lake)
        since = since or lo
        until = until or hi + timedelta(seconds=1)
    written = written_changes(lake)
    inferred = infer_changes(con, since, until)
    link(inferred, written)
    return sorted(written + inferred, key=lambda c: c.at)
