"""One ingest run spread over Spark executors: plan here, parse there, commit here once.

The driver (this process, holding the lake's write lock) plans every
input (:mod:`.plan`); large plain files of a one-record-per-line format
are cut at line boundaries, so a file's lines spread over executors, and
small access logs of one format are bundled into one task that parses
them in one scan (:mod:`.group`), as a local run does. Each task runs
:func:`.task.run_bundles`, the code a local run uses, and writes each
unit's Parquet files to a folder of its own in the lake's staging area.
When every task has succeeded, the driver adds up the counts
(:func:`.commit.settle`) and lists every new segment in one manifest
commit.

So a task that dies leaves only an unlisted folder (Spark retries it in a
new one, and the driver takes the folder of the attempt that succeeded);
a job that fails commits nothing; and a second run adds nothing, a grown
file only its tail, as with a local run. The lake's hashing key travels to
the tasks inside the pickled context as a :class:`~.task.LakeKey`, which
shows itself as ``<hidden>`` in any log or repr.

Every executor must reach the input files and the lake under the same
paths (a shared file system), and import sessionlens.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from ..lake.store import Lake
from .commit import Settled, commit, discard, settle
from .formats.base import Parser
from .group import GROUP_BYTES, GROUP_FILES, bounded, groupable, same_group
from .ingestor import read_failure, run_context
from .options import FieldOptions
from .plan import Planner, SegmentPlan
from .reader import ensure_readable
from .rules import RuleSet
from .summary import FileResult, IngestSummary, ProgressFn
from .task import run_bundles
from .units import Unit, UnitResult

DEFAULT_SPLIT_BYTES = 128 << 20  # as Spark's own spark.sql.files.maxPartitionBytes
# Runs the tasks (a bundle of units each) and returns their units' results: lake.spark.run_tasks on a session.
TaskRunner = Callable[[Callable[[Iterable[list[Unit]]], list[UnitResult]], Sequence[list[Unit]],
                       Callable[[int, int], None] | None], list[UnitResult]]


def ingest_distributed(lake: Lake, files: list[tuple[Path, str, bool, bool]], parser: Parser | None,
                       rules: RuleSet, options: FieldOptions, run: TaskRunner, *,
                       progress: ProgressFn | None = None, chunk_bytes: int = 32 << 20, allow_rejects: bool = False,
                       split_bytes: int = DEFAULT_SPLIT_BYTES, threads: int = 1) -> IngestSummary:
    """Ingests files through ``run`` (Spark tasks), under the write lock the caller holds.

    Args:
        lake: the lake.
        files: (path to read, label the lake records, named by the user, final) per input.
        parser: the format the user asked for (None: detect per file).
        rules / options / chunk_bytes / allow_rejects: as for a local run.
        run: runs the units' tasks (see :data:`TaskRunner`).
        progress: called with (what, bytes) as tasks finish.
        split_bytes: cut large splittable files into units of about this size.
        threads: DuckDB threads per task (Spark gives a task one core by default).

    Raises:
        EngineError: a task kept failing; nothing is committed then.
    """
    summary = IngestSummary()
    planner = Planner(lake, parser, options, split_bytes)
    plans: list[SegmentPlan] = []
    for path, label, named, final in files:
        result = FileResult(path=label)
        try:
            ensure_readable(path)
            plan = planner.plan(path, label, result, summary, final=final, named=named)
        except Exception as exc:
            failure = read_failure(exc, named)
            if failure is None:
                raise
            result.status, result.message = failure
            plan = None
        summary.files.append(result)
        if plan is not None:
            plans.append(plan)
    tasks = sorted(bundles(plans), key=lambda b: sum(map(_size, b)), reverse=True)  # the longest start first
    with run_context(lake, rules, options, chunk_bytes, threads, scratch=False) as ctx:
        results = run(functools.partial(run_bundles, ctx=ctx), tasks, _bytes_progress(progress, tasks))
        by_segment: dict[str, list[UnitResult]] = defaultdict(list)
        for r in results:
            by_segment[r.segment_id].append(r)
        settled: list[Settled] = []
        refused: set[str] = set()
        for plan in plans:
            done = settle(plan, by_segment[plan.segment.segment_id], summary, allow_rejects, refused)
            if done is None:
                discard(plan, by_segment[plan.segment.segment_id])
            else:
                settled.append(done)
        commit(lake, settled, summary)
        for plan in plans:
            discard(plan, [])
    return summary


def bundles(plans: list[SegmentPlan]) -> list[list[Unit]]:
    """The tasks: consecutive small access logs of one format together (see :mod:`.group`), other units alone."""
    out: list[list[Unit]] = []
    group: list[SegmentPlan] = []
    size = 0

    def close() -> None:
        nonlocal group, size
        if group:
            out.append([bounded(p) for p in group])
        group, size = [], 0

    for plan in plans:
        if not groupable(plan):
            close()
            out.extend([u] for u in plan.units)
            continue
        if group and (not same_group(group[0], plan) or len(group) >= GROUP_FILES or size >= GROUP_BYTES):
            close()
        group.append(plan)
        size += plan.segment.end_byte - plan.segment.start_byte
    close()
    return out


def _size(unit: Unit) -> int:
    end = unit.end_byte if unit.end_byte is not None else Path(unit.path).stat().st_size
    return end - unit.start_byte


def _bytes_progress(progress: ProgressFn | None, tasks: list[list[Unit]]) -> Callable[[int, int], None] | None:
    """Turns (tasks done, tasks) into the ingest progress's (what, bytes advanced)."""
    if progress is None:
        return None
    total = sum(_size(u) for task in tasks for u in task)
    state: dict[str, Any] = {"reported": 0}

    def report(done: int, count: int) -> None:
        upto = total * done // count if count else total
        progress(f"Spark tasks: {done} of {count} done", upto - state["reported"])
        state["reported"] = upto

    return report
