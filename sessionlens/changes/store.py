"""The lake's ``changes`` table: written changes read, added, imported and removed.

Written changes come from marker files (:func:`import_markers`, read in
:mod:`.markers`, each record checked by :mod:`.validate`) and from ``changes
add`` (:func:`add_change`); ``changes remove`` takes them out again
(:func:`remove_changes`). Every write goes through
:meth:`Lake.write_table <sessionlens.lake.store.Lake.write_table>`, which
commits it like any other lake write. Stored changes are read defensively:
nothing the table holds, even from before records were checked, may crash a
reader.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from ..errors import InputError
from ..lake.schema import arrow_schema, conform
from ..lake.store import Lake
from .markers import read_marker_file
from .model import Change
from .validate import KINDS, RecordError, clean, record_id, scope_of_stored
from .validate import parse_time as check_time
from .validate import scope as check_scope


@dataclass
class ImportResult:
    """What :func:`import_markers` did: records read, added, already there, rejected.

    ``read == added + len(skipped_existing) + len(rejected)``.
    """

    read: int = 0
    added: int = 0
    skipped_existing: list[str] = field(default_factory=list)  # ids the lake holds already
    rejected: list[str] = field(default_factory=list)  # "file: line N: why" for each bad record

    def to_json(self) -> dict:
        """The result as ``changes import --json`` prints it."""
        return {"read": self.read, "added": self.added, "skipped_existing": list(self.skipped_existing),
                "rejected": list(self.rejected)}


def written_changes(lake: Lake) -> list[Change]:
    """The changes stored in the lake (imported or added), oldest first.

    Read defensively: a lake written before records were checked may hold a
    scope that is not an object (read as ``{}``) or an end before the start.
    """
    frame = lake.engine().run("written_changes")
    out = []
    for row in frame.iter_rows(named=True):
        start, end = row["at"], row["end"]
        out.append(Change(id=str(row["id"] or ""), at=start, end=end if end is not None and end >= start else None,
                          kind=row["kind"] or "other", label=row["label"] or "", scope=scope_of_stored(row["scope"]),
                          detail=row["detail"] or "", origin=row["origin"] or ""))
    return out


def store(lake: Lake, changes: list[Change], locked: bool = False) -> tuple[int, list[str]]:
    """Adds changes to the lake; ids already there are skipped. Returns (added, skipped ids).

    ``locked``: the caller holds the lake's write lock already (an ingest).
    """
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
        lake.write_table("changes", pa.Table.from_pylist([c.as_row() for c in new], schema=arrow_schema("changes")))
    return len(new), skipped


def import_markers(lake_dir: Lake | str | Path, paths: list[str]) -> ImportResult:
    """Imports marker files into a lake (created if missing).

    Good records are stored, bad ones listed in ``rejected`` with file, line
    and reason. Unlike ``ingest``, an import does not write the rejects
    table, which accounts for ingested files.

    Raises:
        InputError: a path is not a file, or not a marker file sessionlens reads.
    """
    files = []
    for p in paths:
        path = Path(p)
        if not path.is_file():
            raise InputError(f"{p}: no such file")
        files.append(read_marker_file(path))
    changes = [c for f in files for c in f.changes]
    added, skipped = store(Lake.of(lake_dir, create=True), changes)
    return ImportResult(read=sum(f.read for f in files), added=added, skipped_existing=skipped,
                        rejected=[m for f in files for m in f.problems()])


def add_change(lake_dir: Lake | str | Path, at: str, kind: str, label: str, scope: list[str] | None = None,
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
    added, _ = store(Lake.of(lake_dir, create=True), [change])
    if not added:
        raise InputError(f"a change with id {cid} exists already")
    return change


def remove_changes(lake_dir: Lake | str | Path, ids: list[str]) -> list[str]:
    """Removes written changes by id, all of them or none; returns the ids removed.

    The change files holding them are replaced by one file without them, in
    one commit, so a reader sees the changes either all there or all gone.
    Inferred changes (``inferred:...``) are recomputed from the logs on every
    analysis and cannot be removed. A removed change comes back if its
    marker file is imported again (``ingest`` skips files it has seen).
    """
    wanted = list(dict.fromkeys(ids))
    if not wanted:
        raise InputError("name at least one change id to remove")
    lake = Lake.of(lake_dir)
    with lake.writer():
        tables: dict[str, pa.Table] = {}
        found: set[str] = set()
        for rel, table in lake.read_parts("changes").items():
            hit = set(table.column("id").to_pylist()) & set(wanted)
            if hit:
                tables[rel], found = table, found | hit
        missing = [i for i in wanted if i not in found]
        if missing:
            first = missing[0]
            why = (f"{first} is an inferred change: it is recomputed from the logs on every analysis and cannot be "
                   "removed" if first.startswith("inferred:") else f"no written change has the id {first}")
            more = f" ({len(missing) - 1} more id(s) not found)" if len(missing) > 1 else ""
            raise InputError(f"{why}{more}; nothing was removed")
        kept = []
        for table in tables.values():
            keep = [i for i, cid in enumerate(table.column("id").to_pylist()) if cid not in found]
            kept.append(conform("changes", table.take(pa.array(keep, pa.int64()))))
        lake.write_table("changes", pa.concat_tables(kept), replace=list(tables))
    return [i for i in wanted if i in found]
