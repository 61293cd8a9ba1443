"""A planned file's units, parsed: check the counts, decide, and commit the segments.

The units of one file come back (from this process or from Spark tasks)
with their counts and folders. :func:`settle` adds them up, checks that
every line read was stored or rejected, refuses a file whose lines are
nearly all rejected (the format is most likely wrong), and fills in the
file's summary line. :func:`commit` then publishes every accepted file's
folders and lists their segments in one manifest commit.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from ..lake.store import Lake, Segment
from .formats.base import IngestWarning
from .marker_files import ingest_markers
from .plan import SegmentPlan
from .staging import coverage_of, coverage_warnings
from .summary import FileResult, IngestSummary
from .units import UnitResult

# A file with at least this share of its lines rejected is not stored unless
# the user allows it: the format is most likely wrong.
REJECT_ALL_SHARE = 0.9
REJECT_ALL_MIN_LINES = 10  # a smaller file is an excerpt: its rejects are kept


@dataclass
class Settled:
    """A file ready to commit: its segment (counts filled in) and the folders holding its files.

    A marker file has no folders: its ``markers`` (file, format) are read and stored at commit.
    """

    segment: Segment
    folders: list[Path] = field(default_factory=list)
    markers: tuple[Path, str] | None = None
    result: FileResult | None = None
    replaces: str = ""  # a segment this one reads again and takes the place of (see SegmentPlan)


def settle(plan: SegmentPlan, results: list[UnitResult], summary: IngestSummary, allow_rejects: bool,
           refused: set[str]) -> Settled | None:
    """Adds up a file's units; returns what to commit, or None (the file's result says why).

    Args:
        plan: the file's plan.
        results: one result per unit, in any order.
        summary: the run's summary (the file's rejects by reason are added to it).
        allow_rejects: store the file even when nearly all its lines are rejected.
        refused: segment ids not stored in this run; the file's id is added when it is not stored.
    """
    result, segment = plan.result, plan.segment
    results = sorted(results, key=lambda r: r.index)
    if plan.markers:
        return Settled(segment, markers=plan.markers, result=result)
    if plan.continues in refused:
        refused.add(segment.segment_id)
        result.status = "failed"
        result.message = "it continues a file that was not stored in this run: ingest it again once that one is"
        return None
    stored = sum(r.stored for r in results)
    rejected = sum(r.rejected for r in results)
    reasons: dict[str, int] = {}
    for r in results:
        for reason, n in r.reasons.items():
            reasons[reason] = reasons.get(reason, 0) + n
    lines = segment.lines
    if stored + rejected != lines:
        # Never silently: a parser bug must show in the counts.
        reasons["unaccounted (sessionlens bug)"] = lines - stored - rejected
        rejected = lines - stored
    warnings = list(plan.warnings)
    for r in results:
        for w in r.warnings:
            _merge(warnings, w)
    counts = [sum(column) for column in zip(*(r.signals for r in results), strict=True)] if results else []
    result.coverage = coverage_of(counts, stored)
    result.warnings = [w.as_dict() for w in warnings] + coverage_warnings(result.coverage, stored, plan.parser)
    if (not allow_rejects and lines >= REJECT_ALL_MIN_LINES and rejected >= REJECT_ALL_SHARE * lines
            and stored < lines):
        # Nearly every line rejected: a wrong format, most likely. Keep
        # nothing, so that the next run with the right format reads it.
        refused.add(segment.segment_id)
        top = max(reasons.items(), key=lambda kv: kv[1])[0] if reasons else "rejected"
        result.status = "failed" if plan.named else "skipped"
        result.lines_read, result.rejected = lines, rejected
        result.message = (f"{rejected:,} of {lines:,} lines rejected ({top}): nothing stored; check the format "
                          "(--format, --nginx-format, --apache-format) or pass --allow-rejects to keep them")
        return None
    segment.stored, segment.rejected = stored, rejected
    result.lines_read, result.stored, result.rejected = lines, stored, rejected
    summary.count_rejects(reasons)
    return Settled(segment, [Path(r.folder) for r in results], replaces=plan.replaces)


def commit(lake: Lake, settled: list[Settled], summary: IngestSummary) -> None:
    """Publishes every settled file's folders and lists their segments: one manifest commit.

    Marker files are stored first, each with its changes (a commit of
    their own: they are small, and a run that fails before this point has
    stored none of them).
    """
    for s in settled:
        if s.markers and s.result is not None:
            path, fmt = s.markers
            seg = s.segment
            ingest_markers(lake, summary, path, seg.path, fmt.removeprefix("markers:"), seg.prefix_hash,
                           seg.end_byte, s.result, seg.fingerprint)
    replaced = {s.replaces for s in settled if s.replaces}
    for s in settled:
        if s.segment.segment_id in replaced:  # planned in this run and read again by a later file
            for folder in s.folders:
                shutil.rmtree(folder, ignore_errors=True)
    lake.commit_segments([(s.segment, s.folders) for s in settled
                          if not s.markers and s.segment.segment_id not in replaced], replaces=replaced)


def discard(plan: SegmentPlan, results: list[UnitResult]) -> None:
    """Removes a file's parsed folders and private copies (not stored, or already committed)."""
    for r in results:
        shutil.rmtree(r.folder, ignore_errors=True)
    if plan.scratch is not None:
        shutil.rmtree(plan.scratch, ignore_errors=True)


def _merge(warnings: list[IngestWarning], w: IngestWarning) -> None:
    """Adds a unit's warning to the file's, merged by what was seen (as one pass over the file would)."""
    for mine in warnings:
        if mine.what == w.what:
            mine.lines += w.lines
            return
    warnings.append(IngestWarning(w.what, w.lines, w.fix))
