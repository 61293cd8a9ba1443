"""The lake: Hive-partitioned Parquet, a manifest, and DuckDB views.

Layout under the lake directory::

    _key                      hashing key (mode 0600)
    _manifest.json            what is visible: ingested segments and their files
    _lock                     held by a writer
    _staging/                 files being written (never visible)
    requests/date=YYYY-MM-DD/part-*.parquet
    events/date=YYYY-MM-DD/part-*.parquet
    rejects/part-*.parquet
    changes/part-*.parquet

Visibility is the manifest: a file becomes part of the lake only when the
manifest naming it has been replaced atomically, and the views read exactly
the files it lists. A crash leaves at worst unlisted files, which the next
writer removes before it starts.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import duckdb

from .errors import LakeError, LakeLockedError, QueryError
from .normalise import REJECT_COLUMNS, STORED_COLUMNS

MANIFEST = "_manifest.json"
STAGING = "_staging"
LOCK = "_lock"
TABLES = ("requests", "events", "rejects", "changes")
PARTITIONED = ("requests", "events")
MEMORY_LIMIT = "600MB"

CHANGE_COLUMNS: dict[str, str] = {
    "id": "VARCHAR",
    "at": "TIMESTAMPTZ",
    "end": "TIMESTAMPTZ",
    "kind": "VARCHAR",
    "label": "VARCHAR",
    "scope": "VARCHAR",
    "detail": "VARCHAR",
    "origin": "VARCHAR",
}
SCHEMAS = {"requests": STORED_COLUMNS, "events": STORED_COLUMNS, "rejects": REJECT_COLUMNS, "changes": CHANGE_COLUMNS}


@dataclass
class Segment:
    """One ingested range of one source file's decompressed content.

    ``start_byte``/``end_byte`` are offsets in the decompressed content and
    ``prefix_hash`` is the hash of that content up to ``end_byte``.
    """

    segment_id: str
    path: str
    start_byte: int
    end_byte: int
    prefix_hash: str
    first_line: int
    lines: int
    format: str
    stored: int
    rejected: int
    compressed: bool = False
    parts: dict[str, list[str]] = field(default_factory=dict)
    ingested_at: str = ""
    fingerprint: str = ""  # hash of the content's first line: how a renamed or recompressed file is found


@dataclass
class Manifest:
    """The lake's list of segments and change files."""

    segments: list[Segment] = field(default_factory=list)
    extra_parts: dict[str, list[str]] = field(default_factory=dict)  # e.g. changes

    def files(self, table: str) -> list[str]:
        out = [p for seg in self.segments for p in seg.parts.get(table, [])]
        return out + self.extra_parts.get(table, [])

    def find_hash(self, content_hash: str) -> Segment | None:
        return next((s for s in self.segments if s.prefix_hash == content_hash), None)

    def last_segment_for(self, path: str) -> Segment | None:
        mine = [s for s in self.segments if s.path == path and not s.compressed]
        return max(mine, key=lambda s: s.end_byte) if mine else None


class Lake:
    """A lake directory; open it for reading or hold its lock to write."""

    def __init__(self, root: str | Path, create: bool = False):
        self.root = Path(root)
        if not self.root.exists():
            if not create:
                raise LakeError(f"{self.root}: no lake here (run `sessionlens ingest --lake {self.root} ...` first)")
            self.root.mkdir(parents=True)
        elif not self.root.is_dir():
            raise LakeError(f"{self.root}: not a directory")

    # --- manifest --------------------------------------------------------
    def read_manifest(self) -> Manifest:
        path = self.root / MANIFEST
        if not path.exists():
            return Manifest()
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise LakeError(f"{path}: unreadable manifest ({exc})") from None
        return Manifest(
            segments=[Segment(**s) for s in data.get("segments", [])],
            extra_parts=data.get("extra_parts", {}),
        )

    def write_manifest(self, manifest: Manifest) -> None:
        """Replaces the manifest atomically (write, fsync, rename)."""
        data = {
            "version": 1,
            "segments": [s.__dict__ for s in manifest.segments],
            "extra_parts": manifest.extra_parts,
        }
        tmp = self.root / (MANIFEST + ".tmp")
        with open(tmp, "w") as fh:
            json.dump(data, fh, indent=1)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.root / MANIFEST)
        _fsync_dir(self.root)

    # --- writing -----------------------------------------------------------
    @contextlib.contextmanager
    def writer(self) -> Iterator["Lake"]:
        """Holds the lake's write lock; cleans up what a crashed run left."""
        fh = open(self.root / LOCK, "a+")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.close()
            raise LakeLockedError(f"{self.root}: another sessionlens run is writing to this lake") from None
        try:
            self.collect_garbage()
            yield self
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
            fh.close()

    def staging_dir(self, name: str) -> Path:
        path = self.root / STAGING / name
        if path.exists():
            shutil.rmtree(path)
        path.mkdir(parents=True)
        return path

    def publish(self, staged: Path, table: str) -> list[str]:
        """Moves a staged table directory's parquet files into the lake.

        Returns their paths relative to the lake root. They stay invisible
        until a manifest listing them is written.
        """
        moved = []
        src_root = staged / table
        if not src_root.exists():
            return moved
        for src in sorted(src_root.rglob("*.parquet")):
            rel = Path(table) / src.relative_to(src_root)
            dest = self.root / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(src, dest)
            moved.append(str(rel))
        return moved

    def collect_garbage(self) -> int:
        """Removes staging leftovers and parquet files the manifest does not list."""
        shutil.rmtree(self.root / STAGING, ignore_errors=True)
        listed = {p for t in TABLES for p in self.read_manifest().files(t)}
        removed = 0
        for table in TABLES:
            for path in (self.root / table).rglob("*.parquet") if (self.root / table).exists() else []:
                if str(path.relative_to(self.root)) not in listed:
                    path.unlink()
                    removed += 1
        return removed

    # --- reading -----------------------------------------------------------
    def connect(self, memory_limit: str = MEMORY_LIMIT) -> duckdb.DuckDBPyConnection:
        """A DuckDB connection with a view per table over the listed files."""
        con = duckdb.connect()
        con.execute("SET TimeZone = 'UTC'")
        con.execute(f"SET memory_limit = '{memory_limit}'")
        quiet_progress(con)
        import tempfile

        spill = Path(tempfile.gettempdir()) / "sessionlens-duckdb"
        spill.mkdir(exist_ok=True)
        con.execute(f"SET temp_directory = '{spill}'")  # large aggregations spill instead of failing
        manifest = self.read_manifest()
        for table in TABLES:
            files = [str(self.root / p) for p in manifest.files(table)]
            con.execute(f"CREATE OR REPLACE VIEW {table} AS {self.table_sql(table, files)}")
        return con

    @staticmethod
    def table_sql(table: str, files: list[str]) -> str:
        schema = SCHEMAS[table]
        if not files:
            cols = ", ".join(f"CAST(NULL AS {t}) AS \"{c}\"" for c, t in schema.items())
            return f"SELECT {cols} WHERE false"
        listing = "[" + ", ".join("'" + f.replace("'", "''") + "'" for f in files) + "]"
        hive = "true" if table in PARTITIONED else "false"
        order = ", ".join(f'"{c}"' for c in schema)
        return f"SELECT {order} FROM read_parquet({listing}, hive_partitioning={hive}, union_by_name=true)"

    # --- notebook helpers ---------------------------------------------------------
    def relation(self, table: str) -> duckdb.DuckDBPyRelation:
        """A table as a DuckDB relation (lazy)."""
        if table not in TABLES:
            raise LakeError(f"no table {table!r} (tables: {', '.join(TABLES)})")
        return self.connect().sql(f"SELECT * FROM {table}")

    def scan(self, table: str):
        """A table as a Polars LazyFrame over the listed Parquet files."""
        import polars as pl

        files = [str(self.root / p) for p in self.read_manifest().files(table)]
        if not files:
            return self.relation(table).pl().lazy()
        return pl.scan_parquet(files, hive_partitioning=table in PARTITIONED)

    def frame(self, table: str, limit: int | None = None):
        """A table as a Polars DataFrame (mind the size: use ``scan`` for big lakes)."""
        lazy = self.scan(table)
        return (lazy.head(limit) if limit else lazy).collect()

    def query(self, name: str, **params):
        """Runs a file of queries/ by name; a Polars frame.

        Keywords fill the file's ``$parameters`` and its ``{{ identifiers }}``
        (such as the dimension to group by), whichever the file declares.
        """
        from . import queries

        sql = queries.load(name)
        identifiers = {k: v for k, v in params.items() if "{{ " + k + " }}" in sql}
        values = {k: v for k, v in params.items() if k not in identifiers}
        return queries.run(self.connect(), name, values, **identifiers)

    def sql(self, query: str) -> duckdb.DuckDBPyRelation:
        """Runs DuckDB SQL over the lake's views."""
        con = self.connect()
        try:
            return con.sql(query)
        except duckdb.Error as exc:
            from .privacy import redact

            raise QueryError(redact(str(exc).splitlines()[0])) from None


def quiet_progress(con: duckdb.DuckDBPyConnection) -> None:
    """No progress bar: on a terminal it would write into --json output.

    Inside Jupyter without ipywidgets DuckDB refuses to change the setting;
    there it draws nothing on stdout anyway.
    """
    try:
        con.execute("SET enable_progress_bar = false")
    except duckdb.Error:
        pass


def now_iso() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
