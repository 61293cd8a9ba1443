"""Many small files of one access-log format, parsed in one pass.

Each file stays a segment of its own: its rows in its own folder, its own
counts, rejects and summary line. What a group shares is the work that
does not depend on the file's size: planning DuckDB's query (about 0.1 s,
more than parsing 500 lines takes) and writing the manifest. One CSV scan
reads every file of the group, split at quotes as the single-file fast
path splits them (:mod:`.formats.quote_split`), and the writer routes each
row to its file's folder and counts per file as it writes. The odd lines
of the files whose odd lines are all the reader's rejects are parsed by
the regex in one more batch; a file with other odd lines (a blank line, a
refused value) is finished alone, as the single-file fast path finishes
it; and a group the CSV reader cannot read (a stray carriage return) goes
file by file.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import uuid
from pathlib import Path
from typing import Callable

import duckdb

from ..lake.files import GLOB_CHARS
from ..sqltext import literal_list
from .formats.access import AccessLogParser
from .formats.base import Batch, FallBack, FileJob
from .formats.quote_split import csv_options_sql
from .options import FieldOptions
from .plan import SegmentPlan
from .reader import compression_of
from .rules import RuleSet
from .staging import SIGNALS, BatchWriter
from .units import Unit, UnitResult

GROUP_FILE_BYTES = 8 << 20  # a file up to this size may join a group
GROUP_BYTES = 512 << 20  # a group holds up to this many bytes ...
GROUP_FILES = 2_000  # ... and this many files


def groupable(plan: SegmentPlan, final: bool = False) -> bool:
    """Whether a planned file may be parsed in a group: a small, plain, whole access log with a fast path.

    ``final``: the input is standard input's copy, which goes as soon as
    its ingest returns, so it is parsed at once.
    """
    if final or len(plan.units) != 1 or plan.markers or plan.continues:
        return False
    unit = plan.units[0]
    parser = unit.parser
    segment = plan.segment
    return (isinstance(parser, AccessLogParser) and parser.split is not None and unit.whole
            and not segment.compressed and segment.end_byte - segment.start_byte <= GROUP_FILE_BYTES
            and not any(c in unit.path for c in GLOB_CHARS) and compression_of(Path(unit.path)) == "none")


def bounded(plan: SegmentPlan) -> Unit:
    """A groupable plan's unit, ending where the file ended when it was planned.

    A file may grow (or be rotated) while it waits for its group: the group
    scan reads it whole only if it still has that size, and otherwise the
    unit, no longer whole, is parsed alone from a copy of its planned bytes.
    """
    return dataclasses.replace(plan.units[0], end_byte=plan.segment.end_byte)


def same_group(a: SegmentPlan, b: SegmentPlan) -> bool:
    """Whether two groupable files can share a scan: the same format, the same year for year-less times."""
    ua, ub = a.units[0], b.units[0]
    return ua.parser is not None and ub.parser is not None and ua.parser.name == ub.parser.name \
        and ua.parser.template.source == ub.parser.template.source and ua.year == ub.year  # type: ignore[attr-defined]


def run_group(units: list[Unit], staging: Path, rules: RuleSet, options: FieldOptions, chunk_bytes: int,
              con: duckdb.DuckDBPyConnection, run_one: Callable[[Unit], UnitResult]) -> list[UnitResult]:
    """Parses the units (whole small files of one format) in one scan; returns one UnitResult per unit.

    Args:
        units: the files' units, all of one parser (see :func:`groupable`).
        staging / rules / options / chunk_bytes: the run's (see :class:`~.task.TaskContext`).
        con: the run's connection.
        run_one: parses a unit alone (for the files a group cannot finish).

    A file that fails alone raises from ``run_one``, as it would outside a group.
    """
    # Files that changed since they were planned go alone (from a copy of their planned bytes).
    changed = {i for i, u in enumerate(units) if _size_now(u.path) != u.end_byte}
    if len(units) == 1 and not changed:  # a group of one: the single-file path, one Parquet file per day
        return [run_one(units[0])]
    if changed:
        scanned = [u for i, u in enumerate(units) if i not in changed]
        by_scan = iter(run_group(scanned, staging, rules, options, chunk_bytes, con, run_one) if scanned else [])
        return [run_one(u) if i in changed else next(by_scan) for i, u in enumerate(units)]
    parser = units[0].parser
    assert isinstance(parser, AccessLogParser)
    jobs = [FileJob(Path(u.path), 0, u.first_line, u.lines, options, chunk_bytes, year=u.year,
                    origin=Path(u.origin), origin_start=u.origin_start) for u in units]
    folders = [staging / u.segment_id / f"unit-{u.index}-{uuid.uuid4().hex[:8]}" for u in units]
    constants = [{"file_id": u.segment_id, "source_file": u.label} for u in units]
    writer = BatchWriter(con, rules, options, {})
    try:
        relation = group_relation(parser, con, [u.path for u in units], jobs[0])
        counts = writer.write_routed(relation, parser, dict(enumerate(zip(folders, constants, strict=True))),
                                     f"g{uuid.uuid4().hex}")
    except (duckdb.Error, FallBack):
        # The reader gave up on a file of the group: every file goes alone.
        for folder in folders:
            shutil.rmtree(folder, ignore_errors=True)
        return [run_one(u) for u in units]
    keep_group_rejects(con)
    routes = dict(enumerate(zip(folders, constants, strict=True)))
    stored = {i: counts[i][0] for i in counts}
    # written to while the scan read it: more rows than planned lines, or a size that is no longer the plan's
    # (a line added while an odd one was dropped leaves the count right and the rows wrong)
    grown = {i for i, n in stored.items() if n > units[i].lines or _size_now(units[i].path) != units[i].end_byte}
    for i in grown:
        del stored[i], counts[i]
    # The odd lines of every file whose odd lines are all the reader's rejects: one regex batch for all.
    rescued: dict[int, tuple[int, int, dict[str, int], list[int]]] = {}
    batch, covered = group_rescue(parser, con, {i: j for i, j in enumerate(jobs) if i not in grown}, stored)
    if batch is not None:
        rescued = writer.write_batch_routed(batch, parser, {u: routes[u] for u in covered}, f"r{uuid.uuid4().hex}")
        for u in covered:
            jobs[u].no_blank_lines()
    results = []
    for i, (unit, job, folder) in enumerate(zip(units, jobs, folders, strict=True)):
        if i in grown:
            shutil.rmtree(folder, ignore_errors=True)
            results.append(run_one(unit))
            continue
        if i not in counts:
            folder.mkdir(parents=True, exist_ok=True)  # no row stored yet: the folder is not there
        result = UnitResult(unit.segment_id, unit.index, str(folder))
        signals = counts.get(i, [0] * len(SIGNALS))
        result.stored = signals[0]
        if i in covered:
            more_stored, more_rejected, reasons, more_signals = rescued.get(i, (0, 0, {}, [0] * len(SIGNALS)))
            result.stored += more_stored
            result.rejected += more_rejected
            result.reasons = reasons
            signals = [a + b for a, b in zip(signals, more_signals, strict=True)]
        if result.stored + result.rejected == unit.lines:
            result.signals = signals
            result.warnings = job.warnings
            results.append(result)
            continue
        if i in covered:  # the counts of a rescued file do not add up: parse it again alone
            shutil.rmtree(folder, ignore_errors=True)
            results.append(run_one(unit))
            continue
        # This file's odd lines are not all the reader's rejects: finish it as the single-file fast path would.
        con.execute("SET VARIABLE sl_file_id = $v", {"v": unit.segment_id})
        con.execute("SET VARIABLE sl_source_file = $v", {"v": unit.label})
        alone = BatchWriter(con, rules, options, constants[i])
        name = f"{unit.segment_id}-{unit.index}"
        try:
            more_stored, more_rejected = alone.run(
                parser.rescue_batches(con, job, result.stored, group_rejects_sql(i)), parser, folder,
                name + "-r", result.reasons)
        except FallBack:
            shutil.rmtree(folder, ignore_errors=True)
            results.append(run_one(unit))
            continue
        result.stored += more_stored
        result.rejected += more_rejected
        result.rejected += alone.write_job_blanks(job, folder, name, result.reasons)
        result.warnings = job.warnings
        result.signals = alone.signal_counts(folder)
        results.append(result)
    return results


def _size_now(path: str) -> int | None:
    try:
        return os.stat(path).st_size
    except OSError:
        return None  # gone: parsed alone, it fails as a file of its own


def group_relation(parser: AccessLogParser, con: duckdb.DuckDBPyConnection, paths: list[str], job: FileJob) -> str:
    """Raw columns of the split lines of several plain files, with ``_unit``: the file's place in ``paths``.

    The CSV reader's rejects are left in ``reject_errors`` for :func:`keep_group_rejects`.
    """
    split = parser.split
    assert split is not None
    con.execute("DROP TABLE IF EXISTS reject_errors; DROP TABLE IF EXISTS reject_scans")
    con.execute("CREATE OR REPLACE TEMP TABLE group_files AS "
                "SELECT unnest($paths) AS filename, unnest(range(len($paths))) AS _unit", {"paths": paths})
    csv = f"read_csv({literal_list(paths)}, {csv_options_sql(split)}, compression='none', filename=true)"
    select = parser.split_select(job, "CAST(NULL AS BIGINT)", "CAST(NULL AS VARCHAR)")
    return (f"(SELECT {select}, _unit FROM (SELECT *, {split.tokens_select()} FROM {csv}) "
            "JOIN group_files USING (filename))")


def keep_group_rejects(con: duckdb.DuckDBPyConnection) -> None:
    """Keeps the group scan's rejects, by file, for :func:`group_rejects_sql`."""
    con.execute("""CREATE OR REPLACE TEMP TABLE group_rejects AS
        SELECT g._unit, e.line, e.csv_line, e.error_type
        FROM reject_errors e JOIN reject_scans s USING (scan_id, file_id)
        JOIN group_files g ON g.filename = s.file_path""")


def group_rejects_sql(unit: int) -> str:
    """The group scan's rejects of one file, as :meth:`AccessLogParser.rescue_batches` reads them."""
    return f"(SELECT line, csv_line, error_type FROM group_rejects WHERE _unit = {int(unit)})"


def group_rescue(parser: AccessLogParser, con: duckdb.DuckDBPyConnection, jobs: dict[int, FileJob],
                 stored: dict[int, int]) -> tuple[Batch | None, list[int]]:
    """One regex batch for the odd lines of the files whose odd lines are all the reader's rejects.

    Args:
        jobs: the group's files by ``_unit``.
        stored: lines the group scan stored, by ``_unit``.

    Returns:
        (the batch over ``group_rescue`` with ``_unit``, or None if no file
        qualifies; the files it covers, which then have no blank line). The
        other files with odd lines are finished alone.
    """
    units = [u for u, job in jobs.items() if stored.get(u, 0) != job.lines]
    if not units:
        return None, []
    con.execute(
        """CREATE OR REPLACE TEMP TABLE group_rescue AS
        SELECT _unit, line AS line_no, any_value(ltrim(csv_line, chr(10))) AS line,
               bool_and(error_type IN ('TOO MANY COLUMNS', 'MISSING COLUMNS')) AS exact
        FROM group_rejects WHERE _unit IN (SELECT unnest($units)) GROUP BY _unit, line""",
        {"units": units},
    )  # whole files: the reader's numbers are the file's
    found = {u: (n, exact) for u, n, exact in con.execute(
        "SELECT _unit, count(*) FILTER (WHERE rtrim(line, chr(13)) <> ''), bool_and(exact) "
        "FROM group_rescue GROUP BY 1").fetchall()}
    # As rescue_batches decides for one file: every unstored line a reader reject, numbered exactly.
    simple = [u for u in units if u in found
              and parser.rejects_cover(jobs[u], found[u][1], stored.get(u, 0), found[u][0])]
    if not simple:
        return None, []
    con.execute("DELETE FROM group_rescue WHERE _unit NOT IN (SELECT unnest($units))", {"units": simple})
    return parser.regex_batch(con, "group_rescue", jobs[simple[0]], {u: jobs[u] for u in simple}), simple
