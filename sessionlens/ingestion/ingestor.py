"""One ingest run in this process: each file planned, parsed and committed in turn.

For each file: plan it (:mod:`.plan`: identity, new lines, format), run
its units on the run's one connection (:mod:`.task`), add up and check
their counts and commit its segment (:mod:`.commit`). A file is committed
before the next one starts, so an interrupted run keeps the files it
finished; small access logs of one format wait and are parsed and
committed together (:mod:`.group`), which is what makes 2,000 rotated
files cost about what one file of their size costs. Memory is bounded by
the batch size and DuckDB's memory limit.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import zlib
from pathlib import Path
from typing import Iterator

import duckdb
import zstandard

from ..errors import DetectionError, FormatError, InputError
from ..lake.store import Lake
from ..privacy import load_or_create_key, redact
from .commit import commit, discard, settle
from .formats.base import Parser
from .group import GROUP_BYTES, GROUP_FILES, bounded, groupable, same_group
from .options import FieldOptions
from .plan import Planner, SegmentPlan
from .reader import ensure_readable
from .rules import RuleSet
from .summary import FileResult, IngestSummary, ProgressFn
from .task import LakeKey, TaskContext, worker
from .units import UnitResult


def read_failure(exc: BaseException, named: bool) -> tuple[str, str] | None:
    """(status, message) for an error that sinks one file but not the run; None for any other error."""
    if isinstance(exc, DetectionError):
        if named:
            return "failed", str(exc)
        # a README or data file beside the logs: say so, do not fail the run
        return "skipped", "not a log file: no known format matches its first lines"
    if isinstance(exc, (FormatError, InputError)):
        return "failed", str(exc)
    if isinstance(exc, (EOFError, zlib.error, zstandard.ZstdError)):
        return "failed", f"cannot decompress: {exc}"
    if isinstance(exc, (FileNotFoundError, PermissionError, IsADirectoryError)):
        return "failed", f"cannot read it: {exc.strerror or exc}"  # gone or locked since it was listed
    if isinstance(exc, duckdb.Error):
        # DuckDB quotes input in its messages, so the message is redacted like any excerpt.
        return "failed", f"parse error: {redact(str(exc).splitlines()[0])}"
    return None


@contextlib.contextmanager
def run_context(lake: Lake, rules: RuleSet, options: FieldOptions, chunk_bytes: int, threads: int = 0,
                scratch: bool = True) -> Iterator[TaskContext]:
    """The run's staging folder on the lake and what every unit shares; the folder goes when the run ends.

    Args:
        scratch: keep the units' private copies and spill files on the
            lake's file system too (a local run); else each task uses its
            machine's temp folder.
    """
    staging = lake.staging_dir(f"run-{os.getpid()}")
    try:
        yield TaskContext(staging, rules, options, chunk_bytes, LakeKey(load_or_create_key(lake.root)), threads,
                          staging / "scratch" if scratch else None)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


class Ingestor:
    """One ingest run over one lake (whose write lock the caller holds), in this process."""

    def __init__(self, lake: Lake, parser: Parser | None, rules: RuleSet, options: FieldOptions,
                 progress: ProgressFn | None = None, chunk_bytes: int = 32 << 20, allow_rejects: bool = False):
        self.lake = lake
        self.allow_rejects = allow_rejects
        self.progress = progress
        self.summary = IngestSummary()
        self.planner = Planner(lake, parser, options)
        self._stack = contextlib.ExitStack()
        ctx = self._stack.enter_context(run_context(lake, rules, options, chunk_bytes))
        self._run = self._stack.enter_context(worker(ctx))
        self._group: list[SegmentPlan] = []  # small files waiting to be parsed together
        self._group_bytes = 0

    def close(self) -> None:
        """Closes the run's connection and removes its staging folder (files still waiting in a group are dropped)."""
        for plan in self._group:
            self.planner.planned.remove(plan.segment)
            discard(plan, [])
        self._group = []
        self._stack.close()

    def ingest_file(self, path: Path, label: str, named: bool = True, final: bool = False) -> FileResult:
        """Ingests one file's new lines; ``final``: the input will not grow (stdin).

        A small access log may wait to be parsed with others of its format
        (see :mod:`.group`): its result is filled in when the group is
        parsed, at the latest by :meth:`finish`.
        """
        result = FileResult(path=label)
        plan: SegmentPlan | None = None
        results = []
        grouped = False
        try:
            ensure_readable(path)
            plan = self.planner.plan(path, label, result, self.summary, final=final, named=named)
            if plan is not None and plan.continues in {p.segment.segment_id for p in self._group}:
                # It continues a file still waiting in the group: once that one is stored (or
                # refused), the file is planned again against what the lake then holds.
                self.planner.planned.remove(plan.segment)
                discard(plan, [])
                self.flush()
                result = FileResult(path=label)
                plan = self.planner.plan(path, label, result, self.summary, final=final, named=named)
            if plan is not None and groupable(plan, final):
                if self._group and not same_group(self._group[0], plan):
                    self.flush()
                grouped = True  # from here the group owns the plan
                self._group.append(plan)
                self._group_bytes += plan.segment.end_byte - plan.segment.start_byte
                self.summary.files.append(result)
                if len(self._group) >= GROUP_FILES or self._group_bytes >= GROUP_BYTES:
                    self.flush()
                return result
            if plan is not None:
                self.flush()  # files are committed in the order given
                results = [self._run(unit) for unit in plan.units]
                settled = settle(plan, results, self.summary, self.allow_rejects, set())
                if settled:
                    commit(self.lake, [settled], self.summary)
        except Exception as exc:  # one bad file must not sink the run
            failure = read_failure(exc, named)
            if failure is None:
                raise
            result.status, result.message = failure
        finally:
            if plan is not None and not grouped:
                self.planner.planned.remove(plan.segment)  # committed, or not stored: no longer pending
                discard(plan, results)
        self.summary.files.append(result)
        return result

    def flush(self) -> None:
        """Parses the files waiting in a group in one scan and commits them together (one manifest commit)."""
        group, self._group, self._group_bytes = self._group, [], 0
        if not group:
            return
        results: list[UnitResult] = []
        try:
            try:
                results = self._run.group([bounded(plan) for plan in group])
            except Exception as exc:
                if read_failure(exc, True) is None:
                    raise
                # A file of the group failed alone: each file again, alone, as outside a group.
                for plan in group:
                    self._alone(plan)
                return
            settled = []
            refused: set[str] = set()
            for plan, result in zip(group, results, strict=True):
                done = settle(plan, [result], self.summary, self.allow_rejects, refused)
                if done:
                    settled.append(done)
            commit(self.lake, settled, self.summary)
        finally:
            for i, plan in enumerate(group):
                self.planner.planned.remove(plan.segment)
                discard(plan, results[i:i + 1])

    def finish(self) -> None:
        """Parses and commits the files still waiting in a group."""
        self.flush()

    def _alone(self, plan: SegmentPlan) -> None:
        """Parses and commits one planned file; a failure is the file's, as in :meth:`ingest_file`."""
        results: list[UnitResult] = []
        try:
            results = [self._run(unit) for unit in plan.units]
            settled = settle(plan, results, self.summary, self.allow_rejects, set())
            if settled:
                commit(self.lake, [settled], self.summary)
        except Exception as exc:
            failure = read_failure(exc, plan.named)
            if failure is None:
                raise
            plan.result.status, plan.result.message = failure
        finally:
            discard(plan, results)
