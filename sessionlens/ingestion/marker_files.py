"""A marker file met among the logs: its changes go to the ``changes`` table, its bad records to ``rejects``.

An ingest reads deploy and config markers (see :mod:`sessionlens.changes.markers`)
like any other input: the file is recorded in the manifest as a segment, so a
second run skips it, and its records are counted as read, stored or rejected.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pyarrow as pa

from ..changes.markers import read_marker_file
from ..changes.store import store
from ..lake.schema import arrow_schema
from ..lake.store import Lake, Segment, now_iso
from .summary import FileResult, IngestSummary


def ingest_markers(lake: Lake, summary: IngestSummary, path: Path, label: str, fmt: str, content_hash: str,
                   size: int, result: FileResult, fingerprint: str = "") -> None:
    """Stores a marker file's records, under the writer lock the caller holds.

    Records read = stored + rejected (one record = one counted line).
    """
    read = read_marker_file(path)
    store(lake, read.changes, locked=True)
    segment_id = content_hash[:16]
    staging = None
    if read.rejects:
        staging = lake.staging_dir(f"markers-{segment_id}")
        rows = [{"file_id": segment_id, "source_file": label, "line_no": r.line_no, "lines": 1,
                 "reason": f"marker {r.reason}", "excerpt": r.excerpt} for r in read.rejects]
        lake.stage_rows(staging, "rejects", pa.Table.from_pylist(rows, schema=arrow_schema("rejects")),
                        f"{segment_id}-markers")
    result.format = f"markers:{fmt}"
    result.lines_read, result.stored, result.rejected = read.read, len(read.changes), len(read.rejects)
    summary.count_rejects(Counter(f"bad marker {r.field}" for r in read.rejects))
    lake.commit_segment(Segment(
        segment_id=segment_id, path=label, start_byte=0, end_byte=size, prefix_hash=content_hash,
        fingerprint=fingerprint,
        first_line=1, lines=result.lines_read, format=result.format, stored=result.stored,
        rejected=result.rejected, ingested_at=now_iso()), staging)
