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
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import tempfile
import weakref
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import duckdb

from ..errors import LakeError, LakeLockedError, QueryError
from .schema import CHANGE_COLUMNS, REJECT_COLUMNS, SCHEMAS, STORED_COLUMNS  # noqa: F401

MANIFEST = "_manifest.json"
STAGING = "_staging"
LOCK = "_lock"
TABLES = ("requests", "events", "rejects", "changes")
PARTITIONED = ("requests", "events")
MEMORY_LIMIT = "600MB"
PENDING_PREFIX = "_"  # pyarrow datasets (and Spark) skip names starting with _ or .
PENDING_SUFFIX = ".tmp"  # DuckDB's and Polars' *.parquet globs do not match it (they do match _ and . names)



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



class Lake:
    """A lake directory; open it for reading or hold its lock to write."""

    def __init__(self, root: str | Path, create: bool = False):
        self.root = Path(root)
        self._pending: dict[str, Path] = {}  # published, not committed yet: final name -> pending file
        self._exposed: list[Path] = []  # pending names of committed files, removed at the end of the writer's turn
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
        """Replaces the manifest atomically (write, fsync, rename): the commit.

        Files published (see :meth:`publish`) and listed in the new manifest
        then get their final names.
        """
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
        self._expose(manifest)

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
            try:
                self._drop_pending_names()
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
        """Moves a staged table directory's parquet files into the lake, still invisible.

        Each file goes next to its final place under its pending name
        (``_part-*.parquet.tmp``, see :func:`pending_name`), which no direct
        reader's glob matches. Returns the final paths, relative to the lake
        root, for the manifest: :meth:`write_manifest` gives the files their
        final names once the manifest listing them has replaced the old one.
        """
        moved = []
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
        dest = self.root / pending_name(rel)
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(src, dest)
        self._pending[str(rel)] = dest
        return str(rel)

    def _expose(self, manifest: Manifest) -> None:
        """Step 3 of a publish: final names for the pending files the manifest now lists."""
        if not self._pending:
            return
        listed = {p for t in TABLES for p in manifest.files(t)}
        dirs = set()
        for rel in [r for r in self._pending if r in listed]:
            hidden = self._pending.pop(rel)
            _link(hidden, self.root / rel)
            self._exposed.append(hidden)
            dirs.add(hidden.parent)
        for d in dirs:
            _fsync_dir(d)

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
        removed = 0
        for table in TABLES:
            if not (self.root / table).exists():
                continue
            for path in sorted((self.root / table).rglob("*")):
                if not path.is_file():
                    continue
                rel = path.relative_to(self.root)
                final = final_name(rel)
                if final is not None:  # a pending name
                    if str(final) in listed:
                        if not (self.root / final).exists():
                            _link(path, self.root / final)  # committed, then crashed: finish the publish
                            _fsync_dir(path.parent)
                    else:
                        removed += 1
                    path.unlink()
                elif (path.suffix == ".parquet" and str(rel) not in listed) or _LINK_TMP.search(path.name):
                    path.unlink()
                    removed += 1
                else:
                    continue
                with contextlib.suppress(OSError):
                    if path.parent != self.root / table:
                        path.parent.rmdir()  # only if empty: a partition of uncommitted files
        return removed

    # --- reading -----------------------------------------------------------
    def connect(self, memory_limit: str = MEMORY_LIMIT, sandbox: bool = False) -> duckdb.DuckDBPyConnection:
        """A DuckDB connection with a view per table over the listed files.

        ``sandbox``: for SQL written by users (``sessionlens sql``,
        :meth:`sql`). The connection can then read the lake's committed
        Parquet files and nothing else (not the key, not other files, no
        network, no extensions), and its configuration is locked. DuckDB's
        settings do not stop writes (``COPY ... TO`` a lake file with
        ``USE_TMP_FILE false`` or into the spill directory, ``CREATE
        TABLE``, ``ATTACH``...): run only statements :func:`check_read_only`
        accepts, as :meth:`sql` does. Analysis code uses the default,
        unrestricted connection.
        """
        con = duckdb.connect()
        con.execute("SET TimeZone = 'UTC'")
        con.execute(f"SET memory_limit = '{memory_limit}'")
        quiet_progress(con)
        if sandbox:
            # A private spill directory: DuckDB lets a query read its temp
            # directory, and a shared one holds other runs' spilled data.
            spill = Path(tempfile.mkdtemp(prefix="sessionlens-sql-"))
            weakref.finalize(con, shutil.rmtree, spill, True)
        else:
            spill = Path(tempfile.gettempdir()) / "sessionlens-duckdb"
            spill.mkdir(exist_ok=True)
        con.execute(f"SET temp_directory = {_sql_str(str(spill))}")  # large aggregations spill instead of failing
        manifest = self.read_manifest()
        readable: list[str] = []
        for table in TABLES:
            files = self.files(table, manifest)
            readable.extend(files)
            con.execute(f"CREATE OR REPLACE VIEW {table} AS {self.table_sql(table, files)}")
        if sandbox:
            _lock_down(con, readable)
        return con

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

        files = self.files(table)
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
        from . import sql as queries

        sql = queries.load(name)
        identifiers = {k: v for k, v in params.items() if "{{ " + k + " }}" in sql}
        values = {k: v for k, v in params.items() if k not in identifiers}
        return queries.run(self.connect(), name, values, **identifiers)

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
                is DuckDB's own, on one line.
        """
        try:
            if unsafe:
                return self.connect().sql(query)
            con = self.connect(sandbox=True)
            statements = check_read_only(con, query)
            for statement in statements[:-1]:
                con.sql(statement)  # bound (errors show), not run: it only reads, and only the last one's rows are shown
            return con.sql(statements[-1])
        except duckdb.Error as exc:
            raise query_error(exc) from None


def check_read_only(con: duckdb.DuckDBPyConnection, query: str) -> list:
    """The query's statements, if every one only reads; else QueryError.

    Inspects DuckDB's own parse (statement types), so comments, case and
    several statements in one string are handled as DuckDB sees them.
    ``EXPLAIN`` is accepted when the statement it explains is (``EXPLAIN
    ANALYZE`` runs it).
    """
    statements = con.extract_statements(query)
    if not statements:
        raise QueryError("no SQL statement given")
    for statement in statements:
        kind = _statement_kind(statement)
        if kind == "EXPLAIN":
            inner = _EXPLAIN_PREFIX.sub("", statement.query, count=1)
            try:
                inner_statements = con.extract_statements(inner) if inner != statement.query else []
            except duckdb.Error:
                inner_statements = []
            if not inner_statements or any(_statement_kind(s) != "SELECT" for s in inner_statements):
                raise QueryError(_refusal("EXPLAIN of a statement other than SELECT is"))
        elif kind == "MULTI":
            raise QueryError(_refusal("PIVOT without an IN list (it creates types) is") +
                             "; name the values: PIVOT t ON col IN ('a', 'b') USING count(*)")
        elif kind == "UNKNOWN":
            raise QueryError(_refusal("this kind of statement is"))
        elif kind != "SELECT":
            raise QueryError(_refusal(f"{_KIND_NAMES.get(kind, kind)} statements are"))
    return statements


_EXPLAIN_PREFIX = re.compile(r"^\s*EXPLAIN\s+(?:ANALY[SZ]E\s+)?(?:\([^()]*\)\s*)?", re.IGNORECASE)
_KIND_NAMES = {"MERGE_INTO": "MERGE", "LOAD": "INSTALL and LOAD", "VARIABLE_SET": "SET VARIABLE",
               "COPY_DATABASE": "COPY FROM DATABASE", "PRAGMA": "PRAGMA and IMPORT", "VACUUM": "VACUUM and ANALYZE",
               "CALL": "CALL and CHECKPOINT", "SET": "SET, RESET and USE", "TRANSACTION": "transaction",
               "CREATE_FUNC": "CREATE FUNCTION"}


def _statement_kind(statement) -> str:
    try:
        return statement.type.name
    except ValueError:  # a statement type the Python client has no name for
        return "UNKNOWN"


def _refusal(what: str) -> str:
    return f"sessionlens sql is read-only: {what} not allowed (only SELECT and EXPLAIN SELECT; --unsafe lifts this)"


def query_error(exc: BaseException) -> QueryError:
    """DuckDB's message on one line: its first line and hints, without the query excerpt.

    Keeps e.g. ``Did you mean "requests"?`` and ``Candidate bindings``; drops
    the ``LINE 1: ...`` echo of the query and the lists of possible
    solutions after a blank line. Each line is redacted, as every message is.
    """
    from ..privacy import redact

    kept = []
    for line in str(exc).splitlines():
        if not line.strip() or re.match(r"\s*LINE \d+:", line):
            break
        kept.append(redact(line.strip()))
    message = " ".join(kept) or type(exc).__name__
    if "disabled by configuration" in message:
        message += " (sessionlens sql reads only the lake's views and their files; see docs/sql.md)"
    return QueryError(message)


def _lock_down(con: duckdb.DuckDBPyConnection, readable: list[str]) -> None:
    """Confines a connection to the given files and locks its configuration."""
    con.execute(f"SET allowed_paths = [{', '.join(_sql_str(p) for p in readable)}]")
    con.execute("SET enable_external_access = false")
    con.execute("SET autoinstall_known_extensions = false")
    con.execute("SET autoload_known_extensions = false")
    con.execute("SET allow_community_extensions = false")
    con.execute("SET lock_configuration = true")


def quiet_progress(con: duckdb.DuckDBPyConnection) -> None:
    """No progress bar: on a terminal it would write into --json output.

    Inside Jupyter without ipywidgets DuckDB refuses to change the setting;
    there it draws nothing on stdout anyway.
    """
    try:
        con.execute("SET enable_progress_bar = false")
    except duckdb.Error:
        pass


def pending_name(rel: str | Path) -> Path:
    """Where a file waits between publish and commit: ``d/part-x.parquet`` -> ``d/_part-x.parquet.tmp``."""
    rel = Path(rel)
    return rel.with_name(PENDING_PREFIX + rel.name + PENDING_SUFFIX)


def final_name(rel: str | Path) -> Path | None:
    """The final name of a pending file (inverse of :func:`pending_name`); None for other names."""
    rel = Path(rel)
    name = rel.name
    if name.startswith(PENDING_PREFIX) and name.endswith(".parquet" + PENDING_SUFFIX):
        return rel.with_name(name[len(PENDING_PREFIX):-len(PENDING_SUFFIX)])
    return None


_LINK_TMP = re.compile(r"\.parquet\.\d+\.(?:link|copy)$")


def _link(src: Path, dest: Path) -> None:
    """Gives ``src`` a second name ``dest`` (atomically replacing a stale ``dest``)."""
    try:
        os.link(src, dest)
    except FileExistsError:
        tmp = dest.with_name(dest.name + f".{os.getpid()}.link")
        os.link(src, tmp)
        os.replace(tmp, dest)
    except OSError:  # a file system without hard links: a copy, renamed into place
        tmp = dest.with_name(dest.name + f".{os.getpid()}.copy")
        shutil.copyfile(src, tmp)
        os.replace(tmp, dest)


def _sql_str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


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
