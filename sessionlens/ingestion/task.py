"""Parse one :class:`~.plan.Unit` into Parquet files in a folder of its own.

The same code runs in the ingest process (one connection for the whole
run) and in a Spark task (a connection per task): read the unit's lines,
parse them with its format, normalise them and write them under a new
folder of the run's staging area. Nothing is visible to readers until the
driver commits the folder's files with the segment (:mod:`.commit`), so a
task that dies half-way, or runs twice, leaves only a folder nobody lists.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import os
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import duckdb

from ..errors import InputError
from ..lake.store import quiet_progress
from ..sqltext import literal
from .formats.base import FallBack, FileJob
from .group import run_group
from .identity import fingerprint_of, stage_range
from .options import FieldOptions
from .rules import RuleSet
from .staging import BatchWriter
from .units import Unit, UnitResult

# DuckDB's memory cap for parsing: the scan streams, so this bounds its
# buffers; with Arrow batches and Parquet writers in flight a 5M-line ingest
# peaks at about 0.9 GB (600 MB here made it 1.1 GB for 5% more speed).
PARSE_MEMORY_LIMIT = "400MB"


class LakeKey(str):
    """The lake's hashing key, on its way to a task: a string that never shows itself in a log or a repr."""

    def __repr__(self) -> str:
        return "LakeKey(<hidden>)"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    @property
    def value(self) -> str:
        return str.__str__(self)


@dataclass
class TaskContext:
    """What every unit of a run shares: how to parse, where to write, the key to hash with.

    Attributes:
        staging: the run's folder in the lake's staging area (reachable by every task).
        rules / options / chunk_bytes: as the local run has them.
        key: the lake's hashing key.
        threads: DuckDB threads per task (0: DuckDB's default, every core).
        scratch: a folder local to the task's machine for private copies of
            ranges and DuckDB's spill files (None: the system's temp folder).
    """

    staging: Path
    rules: RuleSet
    options: FieldOptions
    chunk_bytes: int
    key: LakeKey
    threads: int = 0
    scratch: Path | None = None


def connect(staging: Path | None, key: str, threads: int = 0) -> duckdb.DuckDBPyConnection:
    """A parsing connection: UTC, bounded memory spilling under ``staging``, the hashing key set."""
    con = duckdb.connect()
    settings = ["SET TimeZone = 'UTC'", f"SET memory_limit = {literal(PARSE_MEMORY_LIMIT)}",
                "SET preserve_insertion_order = false"]
    if staging is not None:
        settings.append(f"SET temp_directory = {literal(staging)}")
    if threads:
        settings.append(f"SET threads = {int(threads)}")
    for setting in settings:
        con.execute(setting)
    quiet_progress(con)
    con.execute("SET VARIABLE sl_key = $key", {"key": key})
    return con


def run_units(units: Iterable[Unit], ctx: TaskContext) -> list[UnitResult]:
    """Runs units one after the other on one connection."""
    with worker(ctx) as run:
        return [run(unit) for unit in units]


def run_bundles(bundles: Iterable[list[Unit]], ctx: TaskContext) -> list[UnitResult]:
    """Runs bundles of units on one connection (a Spark partition's work): a bundle of several in one scan."""
    with worker(ctx) as run:
        return [r for bundle in bundles for r in (run.group(bundle) if len(bundle) > 1 else [run(bundle[0])])]


@dataclass
class Worker:
    """Runs units on one connection and one scratch folder: called with a unit, or with a group of them."""

    ctx: TaskContext
    con: duckdb.DuckDBPyConnection
    scratch: Path

    def __call__(self, unit: Unit) -> UnitResult:
        return run_unit(unit, self.ctx, self.con, self.scratch)

    def group(self, units: list[Unit]) -> list[UnitResult]:
        """Small whole files of one access format in one scan (see :mod:`.group`); one result per unit."""
        ctx = self.ctx
        return run_group(units, ctx.staging, ctx.rules, ctx.options, ctx.chunk_bytes, self.con, self)


@contextlib.contextmanager
def worker(ctx: TaskContext) -> Iterator[Worker]:
    """A :class:`Worker` whose connection and scratch folder last until the block ends."""
    with _scratch(ctx) as scratch:
        con = connect(scratch, ctx.key.value, ctx.threads)
        try:
            yield Worker(ctx, con, scratch)
        finally:
            con.close()


def run_unit(unit: Unit, ctx: TaskContext, con: duckdb.DuckDBPyConnection, scratch: Path) -> UnitResult:
    """Parses one unit into a new folder under ``ctx.staging``; returns what it wrote and counted.

    Raises:
        duckdb.Error, OSError, FormatError: the unit cannot be parsed (the whole file fails).
    """
    # A folder per attempt: a retried task never writes into the files of one that died.
    folder = ctx.staging / unit.segment_id / f"unit-{unit.index}-{uuid.uuid4().hex[:8]}"
    folder.mkdir(parents=True)
    result = UnitResult(unit.segment_id, unit.index, str(folder))
    copy = None
    path = Path(unit.path)
    _check_unchanged(unit)
    if unit.whole and unit.file_size is not None and _size_now(path) != unit.file_size:
        unit = dataclasses.replace(unit, file_size=None)  # grown since it was planned: read the planned bytes
    if not unit.whole:  # the CSV fast path reads whole files: parse a private copy of the range
        copy = stage_range(path, unit.start_byte, unit.end_byte if unit.end_byte is not None else 1 << 62,
                           scratch / f"range-{uuid.uuid4().hex[:8]}.log")
        _check_unchanged(unit)  # the copy holds the planned content only if the file is still the planned one
        path = copy
    try:
        result = _parse(unit, path, folder, result, ctx, con)
    finally:
        if copy is not None:
            copy.unlink(missing_ok=True)
    if copy is None and unit.file_size is not None and _size_now(path) != unit.file_size:
        # Written to while it was read: what was read may hold lines the plan did not count.
        # Parse again from a copy of the planned bytes (the next run reads the rest).
        shutil.rmtree(folder, ignore_errors=True)
        return run_unit(dataclasses.replace(unit, file_size=None), ctx, con, scratch)
    return result


def _check_unchanged(unit: Unit) -> None:
    """Raises InputError when the planned plain file was truncated or replaced since it was planned.

    A log may grow while it is read (that is handled), but one that shrank or
    starts with another line is no longer the content the plan counted: read
    as planned it would store the new content's lines under the old one's
    name and hash. The file fails this run; the next run plans it afresh.
    """
    if unit.file_size is None and not unit.fingerprint:
        return
    path = Path(unit.origin)
    size = _size_now(path)
    end = unit.end_byte if unit.end_byte is not None else unit.file_size or 0
    if size is None:  # rotated away (renamed or removed) since it was planned
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), str(path))
    if size < end or (unit.fingerprint and fingerprint_of(path) != unit.fingerprint):
        raise InputError(f"{unit.label}: changed while it was read (truncated or replaced, e.g. by copytruncate); "
                         "it is read again by the next run")


def _size_now(path: Path) -> int | None:
    try:
        return os.stat(path).st_size
    except OSError:
        return None


def _parse(unit: Unit, path: Path, folder: Path, result: UnitResult, ctx: TaskContext,
           con: duckdb.DuckDBPyConnection) -> UnitResult:
    """Parses ``path`` (the unit's file, or a copy of its range) into ``folder``."""
    job = FileJob(path, 0, unit.first_line, unit.lines, ctx.options, ctx.chunk_bytes, year=unit.year,
                  origin=Path(unit.origin), origin_start=unit.origin_start)
    con.execute("SET VARIABLE sl_file_id = $v", {"v": unit.segment_id})
    con.execute("SET VARIABLE sl_source_file = $v", {"v": unit.label})
    writer = BatchWriter(con, ctx.rules, ctx.options, {"file_id": unit.segment_id, "source_file": unit.label})
    name = f"{unit.segment_id}-{unit.index}"
    parser = unit.parser
    if parser is not None:
        try:
            result.stored, result.rejected = writer.run(parser.batches(con, job), parser, folder, name,
                                                        result.reasons)
        except FallBack:
            shutil.rmtree(folder)
            folder.mkdir()
            result.reasons.clear()
            job.warnings.clear()
            result.stored, result.rejected = writer.run(parser.slow_batches(con, job), parser, folder, name,
                                                        result.reasons)
    result.rejected += writer.write_job_blanks(job, folder, name, result.reasons)
    result.warnings = job.warnings
    result.signals = writer.signal_counts(folder)
    return result


@contextlib.contextmanager
def _scratch(ctx: TaskContext) -> Iterator[Path]:
    """A private folder for range copies and spill files, removed afterwards (raw lines may hold secrets)."""
    base = ctx.scratch or Path(tempfile.gettempdir())
    base.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="sessionlens-task-", dir=base))
    os.chmod(folder, 0o700)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
