# Longer than 300 lines: Lake is the one owner of the lake's writes and of a command's connection, and
# its publish steps are documented here next to the code taking them (the manifest, file moves, views,
# lock and SQL sandbox are modules of their own).
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
the files it lists. Publishing a segment goes in three steps:

1. its files move from ``_staging`` next to their final place under a
   *pending* name, ``_part-*.parquet.tmp``, which the globs of direct readers
   (``**/*.parquet`` in DuckDB and Polars, and pyarrow datasets, which skip
   ``_`` names) never match;
2. the manifest listing their final names ``part-*.parquet`` replaces the old
   one: the commit;
3. each final name is hard-linked to its pending file; the pending names are
   removed when the writer lets go of the lock.

Manifest-based readers (the views, :meth:`Lake.scan`) read a listed file under
its pending name while the final one does not exist yet, so they see exactly
the commit. A direct glob sees only committed files, but may lag behind the
manifest for the few milliseconds of step 3 (or until the next writer after a
crash within it). A crash before step 2 leaves only pending or staged files,
which are invisible to every reader; the next writer removes them, and finishes
a step 3 that a crash interrupted.

Every write to the lake is a method of :class:`Lake`: an ingested segment is
staged (:meth:`Lake.staging_dir`, :meth:`Lake.stage_rows`) and committed with
:meth:`Lake.commit_segment`, ``forget`` takes segments out with
:meth:`Lake.drop_segments`, and tables kept outside ingested segments
(``changes``) are written with :meth:`Lake.write_table`; each commit goes
through the same steps. Readers share one
connection per :class:`Lake` (:meth:`Lake.engine`), whose views follow every
commit. The manifest's format is in :mod:`.manifest`, the file moves in
:mod:`.files`, the views in :mod:`.views`.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import uuid
import weakref
from pathlib import Path
from typing import Collection, Iterator

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import LakeError
from ..sqltext import ident
from . import files as lake_files
from . import manifest as lake_manifest
from .engine import DuckDBEngine
from .files import GLOB_CHARS, pending_name
from .lock import FileLock, LakeLockedError
from .manifest import MANIFEST, Manifest, Segment, now_iso
from .sandbox import check_read_only, lock_down, query_error
from .schema import PARTITIONED, TABLES, conform
from .sql import holes as query_holes
from .views import MEMORY_LIMIT, create_views, open_connection, quiet_progress, shared_spill_dir

# Re-exported: the names ingestion and the tests import from here.
__all__ = ["LOCK", "MANIFEST", "MEMORY_LIMIT", "STAGING", "Lake", "LakeLockedError", "Manifest", "Segment", "now_iso",
           "quiet_progress"]

STAGING = "_staging"
LOCK = "_lock"
UNSEGMENTED = ("changes",)  # tables whose files the manifest lists outside segments (extra_parts)
SEGMENTED = tuple(t for t in TABLES if t not in UNSEGMENTED)  # requests, events, rejects: a segment's parts


class Lake:
    """A lake directory; open it for reading or hold its lock to write."""

    def __init__(self, root: str | Path, create: bool = False):
        self.root = Path(root)
        self._pending: dict[str, Path] = {}  # published, not committed yet: final name -> pending file
        self._exposed: list[Path] = []  # pending names of committed files, removed at the end of the writer's turn
        self._lock: FileLock | None = None  # held during writer()
        self._engine: DuckDBEngine | None = None  # engine(): one connection for this object
        self._engine_stamp: tuple[int, int, int] | None = None  # the manifest its views were made from
        if any(c in str(self.root.absolute()) for c in GLOB_CHARS):
            raise LakeError(f"{self.root}: a lake's path must not hold any of {' '.join(GLOB_CHARS)}: the query "
                            "engines read its file lists as patterns, which can match another lake's files; "
                            "rename or move it")
        if not self.root.exists():
            if not create:
                raise LakeError(f"{self.root}: no lake here (run `sessionlens ingest --lake {self.root} ...` first)")
            self.root.mkdir(parents=True)
        elif not self.root.is_dir():
            raise LakeError(f"{self.root}: not a directory")

    @classmethod
    def of(cls, lake: Lake | str | Path, create: bool = False) -> Lake:
        """``lake`` itself when it is a Lake (its engine and connection are shared), else the lake at that path.

        How a command opens its lake once and passes it down: functions that
        take a lake path accept the Lake object too.
        """
        return lake if isinstance(lake, Lake) else cls(lake, create=create)

    def __fspath__(self) -> str:
        """A Lake stands for its folder where a path is expected (``Path(lake)``, ``open``)."""
        return str(self.root)

    def __repr__(self) -> str:
        return f"Lake({str(self.root)!r})"

    # --- manifest --------------------------------------------------------
    def read_manifest(self) -> Manifest:
        return lake_manifest.read_manifest(self.root)

    def write_manifest(self, manifest: Manifest) -> None:
        """Replaces the manifest atomically (write, fsync, rename): the commit.

        Files published (see :meth:`publish`) and listed in the new manifest
        then get their final names; the next :meth:`engine` call lists them
        in its views (not each commit: an ingest commits once per segment).
        """
        lake_manifest.write_manifest(self.root, manifest)
        self._expose(manifest)
        self._engine_stamp = None  # views out of date

    # --- writing -----------------------------------------------------------
    @contextlib.contextmanager
    def writer(self) -> Iterator[Lake]:
        """Holds the lake's write lock; cleans up what a crashed run left.

        Raises:
            LakeLockedError: another run is writing to this lake.
        """
        lock = FileLock(self.root / LOCK, f"{self.root}: another sessionlens run is writing to this lake")
        with lock:
            self._lock = lock
            try:
                self.collect_garbage()
                yield self
            finally:
                self._lock = None
                self._drop_pending_names()

    def staging_dir(self, name: str) -> Path:
        """An empty folder under ``_staging`` (on the lake's file system) to write files in before publishing."""
        path = self.root / STAGING / name
        if path.exists():
            shutil.rmtree(path)
        path.mkdir(parents=True)
        return path

    def publish(self, staged: Path, table: str) -> list[str]:
        """Moves a staged table directory's parquet files into the lake, still invisible.

        Each file goes next to its final place under its pending name
        (``_part-*.parquet.tmp``, see :func:`pending_name`), which no direct
        reader's glob matches. Returns the final paths, relative to the lake
        root, for the manifest: :meth:`write_manifest` gives the files their
        final names once the manifest listing them has replaced the old one.
        """
        moved: list[str] = []
        src_root = staged / table
        if not src_root.exists():
            return moved
        for src in sorted(src_root.rglob("*.parquet")):
            moved.append(self.publish_file(src, Path(table) / src.relative_to(src_root)))
        return moved

    def publish_file(self, src: Path, rel: str | Path) -> str:
        """Moves one written file to its pending name for ``rel`` (relative to the lake root).

        ``rel`` is the final name to list in the manifest; the file takes it
        when :meth:`write_manifest` commits a manifest listing it. ``src``
        must be on the lake's file system (``_staging`` is).
        """
        rel = Path(rel)
        if (self.root / rel).exists():  # a listed file would be overwritten: another segment's rows lost
            raise LakeError(f"{self.root}: {rel} is already in the lake; not overwriting it")
        dest = self.root / pending_name(rel)
        dest.parent.mkdir(parents=True, exist_ok=True)
        src.replace(dest)
        self._pending[str(rel)] = dest
        return str(rel)

    def write_table(self, table: str, rows: pa.Table, replace: Collection[str] = ()) -> str | None:
        """Adds rows to a table kept outside ingested segments (``changes``) and commits them.

        The rows become one Parquet file with the table's schema
        (:func:`~sessionlens.lake.schema.arrow_schema`; missing columns are
        NULL, others dropped), published and listed by a new manifest that
        also leaves out the table's files named in ``replace``, which are
        deleted after the commit: a reader sees the old files or the new
        one, never both and never neither. Call it while holding
        :meth:`writer`.

        Returns:
            The new file's path relative to the lake root; None when ``rows``
            is empty (then only ``replace`` is committed).

        Raises:
            LakeError: the table is partitioned by segments, a file to
                replace is not one of its listed files, or the lock is not held.
        """
        if table not in UNSEGMENTED:
            raise LakeError(f"{table}: only tables outside ingested segments (changes) are written with write_table")
        self._require_lock("write_table")
        manifest = self.read_manifest()
        listed = manifest.extra_parts.get(table, [])
        dropped = set(replace)
        unknown = sorted(dropped - set(listed))
        if unknown:
            raise LakeError(f"{unknown[0]}: not a listed file of the {table} table")
        kept = [rel for rel in listed if rel not in dropped]
        new = None
        if rows.num_rows:
            name = uuid.uuid4().hex[:16]
            staged = self.stage_rows(self.staging_dir(f"{table}-{name}"), table, rows, name)
            new = self.publish_file(staged, Path(table) / f"part-{name}.parquet")  # final name once committed
            kept.append(new)
        manifest.extra_parts[table] = kept
        self.write_manifest(manifest)
        for rel in dropped:
            (self.root / rel).unlink(missing_ok=True)
        return new

    def stage_rows(self, staged: Path, table: str, rows: pa.Table, name: str) -> Path:
        """Writes rows of an unpartitioned table as one Parquet file in a staging folder, still invisible.

        The file goes to ``staged/<table>/part-<name>.parquet`` with the
        table's schema (:func:`~sessionlens.lake.schema.conform`), where
        :meth:`commit_segment` (or :meth:`publish`) picks it up.

        Raises:
            LakeError: the table is partitioned by date (its rows are written
                by :func:`~sessionlens.lake.writer.write_query`).
        """
        if table in PARTITIONED:
            raise LakeError(f"{table}: a partitioned table is staged with write_query, not stage_rows")
        dest = staged / table / f"part-{name}.parquet"
        dest.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(conform(table, rows), dest, compression="zstd")
        return dest

    def commit_segment(self, segment: Segment, staged: Path | None = None) -> Segment:
        """Publishes a segment's staged files and adds the segment to the manifest: one commit.

        The staged folder's tables (``requests``, ``events``, ``rejects``)
        are published (:meth:`publish`) and become the segment's ``parts``;
        then the manifest with the segment appended replaces the old one, and
        the staged folder is removed. Call it while holding :meth:`writer`.

        Returns:
            The segment, its ``parts`` filled in.

        Raises:
            LakeError: the lock is not held.
        """
        self.commit_segments([(segment, [staged] if staged is not None else [])])
        return segment

    def commit_segments(self, items: Collection[tuple[Segment, Collection[Path]]],
                        replaces: Collection[str] = ()) -> None:
        """Publishes several segments, each from one or more staged folders, in one manifest commit.

        As :meth:`commit_segment` for each segment (its ``parts`` are filled
        in and ``ingested_at`` set where empty), but readers see all of them
        appear at once. Nothing is committed for no items. The segments
        ``replaces`` names leave the manifest in the same commit (their rows
        are read again by the new ones); their files are deleted after it.

        Raises:
            LakeError: the lock is not held.
        """
        self._require_lock("commit_segments")
        if not items:
            return
        stamp = now_iso()
        for segment, folders in items:
            parts: dict[str, list[str]] = {}
            for folder in folders:
                for table in SEGMENTED:
                    parts.setdefault(table, []).extend(self.publish(folder, table))
            segment.parts = {t: p for t, p in parts.items() if p} if folders else segment.parts
            segment.ingested_at = segment.ingested_at or stamp
        manifest = self.read_manifest()
        gone = [s for s in manifest.segments if s.segment_id in replaces]
        manifest.segments = [s for s in manifest.segments if s.segment_id not in replaces]
        manifest.segments.extend(segment for segment, _ in items)
        self.write_manifest(manifest)
        for _, folders in items:
            for folder in folders:
                shutil.rmtree(folder, ignore_errors=True)
        self._delete_parts(gone)

    def drop_segments(self, segment_ids: Collection[str]) -> list[Segment]:
        """Takes segments out of the lake in one commit, then deletes their files.

        The manifest without them replaces the old one first (readers see
        the lake before or after, never between); their Parquet files are
        deleted after the commit. Ids not in the manifest are ignored. Call it
        while holding :meth:`writer`.

        Returns:
            The segments removed, as the manifest listed them (none: nothing
            was committed).

        Raises:
            LakeError: the lock is not held.
        """
        self._require_lock("drop_segments")
        wanted = set(segment_ids)
        manifest = self.read_manifest()
        gone = [s for s in manifest.segments if s.segment_id in wanted]
        if not gone:
            return []
        manifest.segments = [s for s in manifest.segments if s.segment_id not in wanted]
        self.write_manifest(manifest)  # the atomic step: from here on the data is gone for readers
        self._delete_parts(gone)
        return gone

    def _delete_parts(self, segments: Collection[Segment]) -> None:
        """Deletes the files of segments no longer in the manifest."""
        for seg in segments:
            for parts in seg.parts.values():
                for part in parts:
                    (self.root / part).unlink(missing_ok=True)

    def _require_lock(self, what: str) -> None:
        if self._lock is None:
            raise LakeError(f"{self.root}: {what} needs the writer lock (with lake.writer(): ...)")

    def _expose(self, manifest: Manifest) -> None:
        """Step 3 of a publish: final names for the pending files the manifest now lists."""
        if not self._pending:
            return
        listed = {p for t in TABLES for p in manifest.files(t)}
        dirs = set()
        for rel in [r for r in self._pending if r in listed]:
            hidden = self._pending.pop(rel)
            lake_files.link(hidden, self.root / rel)
            self._exposed.append(hidden)
            dirs.add(hidden.parent)
        for d in dirs:
            lake_files.fsync_dir(d)

    def _drop_pending_names(self) -> None:
        """Removes the pending names of files that have their final name (end of a writer's turn)."""
        exposed, self._exposed = self._exposed, []
        for hidden in exposed:
            with contextlib.suppress(FileNotFoundError):
                hidden.unlink()
        self._pending.clear()  # never committed: the next writer removes them

    def collect_garbage(self) -> int:
        """Cleans up after a crashed writer; returns how many uncommitted files it removed.

        Removes the staging area, pending files the manifest does not list and
        parquet files it does not list; gives listed files whose publish was
        cut short after the commit their final names.
        """
        shutil.rmtree(self.root / STAGING, ignore_errors=True)
        (self.root / (MANIFEST + ".tmp")).unlink(missing_ok=True)
        listed = {p for t in TABLES for p in self.read_manifest().files(t)}
        return lake_files.remove_uncommitted(self.root, TABLES, listed)

    # --- reading -----------------------------------------------------------
    def engine(self) -> DuckDBEngine:
        """The lake's query engine: one DuckDB connection for this Lake object.

        Cached: every call returns the same engine on the same connection,
        so a command opens its lake once and every query shares it. Each
        call makes the views again if the manifest has been replaced since
        (a commit through this object or any other): a query run on the
        returned engine sees every commit made before the call.
        """
        current = lake_manifest.stamp(self.root)
        if self._engine is None:
            self._engine = DuckDBEngine(self.connect())
            self._engine_stamp = current
        elif current != self._engine_stamp:
            self._engine_stamp = current
            self._create_views(self._engine.connection)  # the views list the current manifest's files
        return self._engine

    def connect(self, memory_limit: str = MEMORY_LIMIT, sandbox: bool = False) -> duckdb.DuckDBPyConnection:
        """A new DuckDB connection with a view per table over the listed files.

        Code that reads the lake shares :meth:`engine`'s connection instead;
        this is for a connection of one's own. ``sandbox``: for SQL written
        by users (``sessionlens sql``, :meth:`sql`). The connection can then
        read the lake's committed Parquet files and nothing else (not the
        key, not other files, no network, no extensions), and its
        configuration is locked. DuckDB's settings do not stop writes
        (``COPY ... TO`` a lake file with ``USE_TMP_FILE false`` or into the
        spill directory, ``CREATE TABLE``, ``ATTACH``...): run only
        statements :func:`check_read_only` accepts, as :meth:`sql` does.
        """
        if sandbox:
            # A private spill directory: DuckDB lets a query read its temp
            # directory, and a shared one holds other runs' spilled data.
            spill = Path(tempfile.mkdtemp(prefix="sessionlens-sql-"))
        else:
            spill = shared_spill_dir()
        con = open_connection(memory_limit, spill)
        if sandbox:
            weakref.finalize(con, shutil.rmtree, spill, True)
        readable = self._create_views(con)
        if sandbox:
            lock_down(con, readable)
        return con

    def _create_views(self, con: duckdb.DuckDBPyConnection, manifest: Manifest | None = None) -> list[str]:
        """(Re)creates the views over the current manifest's files; returns those files."""
        manifest = manifest or self.read_manifest()
        listing = {table: self.files(table, manifest) for table in TABLES}
        create_views(con, listing)
        return [path for paths in listing.values() for path in paths]

    def files(self, table: str, manifest: Manifest | None = None) -> list[str]:
        """Absolute paths of a table's committed files, as a reader should open them.

        A listed file is read under its pending name while its publish is
        between the commit and the final name (see the module's docstring).
        """
        manifest = manifest or self.read_manifest()
        out = []
        for rel in manifest.files(table):
            path = self.root.absolute() / rel
            if not path.exists():
                hidden = self.root.absolute() / pending_name(rel)
                if hidden.exists():
                    path = hidden
            out.append(str(path))
        return out

    def read_parts(self, table: str) -> dict[str, pa.Table]:
        """Each listed file of a table kept outside segments (``changes``), read whole, by its manifest name.

        For a rewrite through :meth:`write_table` (``replace`` takes these
        names): read it while holding :meth:`writer`, so the files cannot
        change in between.

        Raises:
            LakeError: the table is partitioned by segments, or a file cannot be read.
        """
        if table not in UNSEGMENTED:
            raise LakeError(f"{table}: only tables outside ingested segments (changes) are read by file")
        out: dict[str, pa.Table] = {}
        manifest = self.read_manifest()
        for rel, path in zip(manifest.files(table), self.files(table, manifest), strict=True):
            try:
                out[rel] = pq.read_table(path)
            except (OSError, ValueError) as exc:  # pyarrow's errors derive from these
                what = f"unreadable {table.removesuffix('s')} file"  # "unreadable change file"
                raise LakeError(f"{self.root / rel}: {what} ({str(exc).splitlines()[0]})") from None
        return out

    # --- notebook helpers ---------------------------------------------------------
    def relation(self, table: str) -> duckdb.DuckDBPyRelation:
        """A table as a DuckDB relation (lazy), on the :meth:`engine`'s connection."""
        if table not in TABLES:
            raise LakeError(f"no table {table!r} (tables: {', '.join(TABLES)})")
        return self.engine().connection.sql(f"SELECT * FROM {ident(table)}")

    def scan(self, table: str) -> pl.LazyFrame:
        """A table as a Polars LazyFrame over the listed Parquet files."""
        files = self.files(table)
        if not files:
            return self.relation(table).pl().lazy()
        return pl.scan_parquet(files, hive_partitioning=table in PARTITIONED)

    def frame(self, table: str, limit: int | None = None) -> pl.DataFrame:
        """A table as a Polars DataFrame (mind the size: use ``scan`` for big lakes)."""
        lazy = self.scan(table)
        return (lazy.head(limit) if limit else lazy).collect()

    def query(self, name: str, **params: object) -> pl.DataFrame:
        """Runs a file of queries/ by name on the :meth:`engine`; a Polars frame.

        Keywords fill the file's ``$parameters`` and its ``{{ identifiers }}``
        (such as the dimension to group by), whichever the file declares.
        """
        wanted = query_holes(name)
        identifiers = {k: str(v) for k, v in params.items() if k in wanted}
        values = {k: v for k, v in params.items() if k not in identifiers}
        return self.engine().run(name, values, **identifiers)

    def sql(self, query: str, unsafe: bool = False) -> duckdb.DuckDBPyRelation | None:
        """Runs DuckDB SQL over the lake's views, read-only and confined.

        The query runs on a sandboxed connection (see :meth:`connect`): it
        can read the views and the lake's committed Parquet files, never the
        hashing key nor any other file, and only ``SELECT`` (including
        ``WITH``, ``FROM``-first, ``DESCRIBE``, ``SUMMARIZE``, ``PIVOT ... IN``)
        and ``EXPLAIN`` of those are accepted. ``unsafe=True`` gives a plain
        connection with DuckDB's full powers (files, writes, extensions).

        Returns the last statement's relation (None for a statement without
        rows, only possible with ``unsafe``).

        Raises:
            QueryError: the query is refused or DuckDB rejects it; the message
                is DuckDB's own, hints and ``LINE 1:`` carets included (redacted).
        """
        try:
            if unsafe:
                return self.connect().sql(query)
            con = self.connect(sandbox=True)
            statements = check_read_only(con, query)
            for statement in statements[:-1]:
                con.sql(statement)  # bound (errors show), not run: it only reads; only the last one's rows show
            return con.sql(statements[-1])
        except duckdb.Error as exc:
            raise query_error(exc) from None

