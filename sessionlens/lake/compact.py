"""Merging the tail segments of a growing file, so a lake that is followed live stays quick to read.

``sessionlens watch`` ingests every few seconds; each cycle adds, per grown
file, a segment with a few small Parquet parts. Every query opens every
listed file, so after an hour of cycles a query spends most of its time on
file metadata. :func:`merge_tails` merges each run of consecutive segments
of one file (each starting where the one before ended, same file, same first
line) into one segment with one part per table and date, in one manifest
commit (:meth:`Lake.commit_segments` with ``replaces``).

What the merged segment keeps, so nothing else changes:

* its byte range, line range and counts are the run's, end to end;
* its ``prefix_hash`` is the last segment's, and the others' prefix hashes
  join its ``aliases``: a rotated copy that ends where an earlier segment
  ended is still known as stored (:meth:`Manifest.find_hash`);
* rows are the same rows, in the same order; their ``file_id`` is the
  merged segment's id (``forget --segment`` takes it);
* a file's newest segments (``KEEP_RECENT``) are never merged: a rotated
  copy is recognised where a segment ends, and copies are of recent states;
* a name whose segments start at byte 0 more than once (two contents with
  one first line, after a copytruncate) is left alone.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from .manifest import Segment
from .store import SEGMENTED, Lake

MIN_RUN = 8  # merge once a file has this many tail segments in a row ...
KEEP_RECENT = 8  # ... besides its newest ones, which stay
MAX_RUN_BYTES = 64 << 20  # ... and never into parts larger than this (memory is bounded by it)


def tail_runs(segments: list[Segment], min_run: int = MIN_RUN) -> list[list[Segment]]:
    """Runs of at least ``min_run`` segments that continue each other (same file, contiguous bytes and lines)."""
    by_file: dict[tuple[str, str, str], list[Segment]] = defaultdict(list)
    for seg in segments:
        if not seg.compressed and seg.fingerprint and not seg.format.startswith("markers:"):
            by_file[(seg.path, seg.fingerprint, seg.format)].append(seg)
    runs: list[list[Segment]] = []
    for segs in by_file.values():
        if sum(1 for s in segs if s.start_byte == 0) > 1:
            continue  # two contents under one name and first line (copytruncate): which follows which is unclear
        segs.sort(key=lambda s: s.start_byte)
        # The newest segments stay as they are: a rotated copy usually ends at one of their ends, and
        # is known as stored only there (a copy ending inside a merged range would be read again).
        segs = segs[:-KEEP_RECENT] if len(segs) > KEEP_RECENT else []
        run: list[Segment] = []
        for seg in segs:
            # (a segment that ended inside a line is continued after that line's newline, or replaced:
            # either way the next one does not start at its end, and the run stops there)
            continues = run and seg.start_byte == run[-1].end_byte and seg.first_line == run[-1].first_line + \
                run[-1].lines
            if run and (not continues or _bytes(run + [seg]) > MAX_RUN_BYTES):
                if len(run) >= min_run:
                    runs.append(run)
                run = []
            run.append(seg)
        if len(run) >= min_run:
            runs.append(run)
    return runs


def _bytes(run: list[Segment]) -> int:
    return sum(s.end_byte - s.start_byte for s in run)


def merge_tails(lake: Lake, min_run: int = MIN_RUN) -> int:
    """Merges every run of tail segments (see the module docstring); returns how many segments were merged away.

    Takes the lake's writer lock; one commit for all runs.
    """
    with lake.writer():
        runs = tail_runs(lake.read_manifest().segments, min_run)
        if not runs:
            return 0
        items = []
        for run in runs:
            merged, staged = _merge(lake, run)
            items.append((merged, [staged]))
        lake.commit_segments(items, replaces=[s.segment_id for run in runs for s in run])
    return sum(len(run) - 1 for run in runs)


def _plain(rows: pa.Table) -> pa.Table:
    """Dictionary-encoded columns as their values: writers differ in how they encode a text column."""
    fields = [f.with_type(f.type.value_type) if pa.types.is_dictionary(f.type) else f for f in rows.schema]
    return rows.cast(pa.schema(fields, metadata=rows.schema.metadata))


def _merge(lake: Lake, run: list[Segment]) -> tuple[Segment, Path]:
    first, last = run[0], run[-1]
    ids = "".join(s.segment_id for s in run)
    merged_id = "m" + hashlib.sha256(ids.encode()).hexdigest()[:15]
    staged = lake.staging_dir(f"merge-{merged_id}")
    for table in SEGMENTED:
        by_folder: dict[str, list[str]] = defaultdict(list)
        for seg in run:
            for part in seg.parts.get(table, []):
                by_folder[str(Path(part).parent)].append(part)
        for folder, parts in by_folder.items():
            rows = pa.concat_tables([_plain(pq.ParquetFile(lake.root / p).read()) for p in parts],
                                    promote_options="permissive")
            if "file_id" in rows.column_names:  # rows name their segment: `forget --segment` finds them
                rows = rows.set_column(rows.column_names.index("file_id"), rows.schema.field("file_id"),
                                       pa.array([merged_id] * rows.num_rows, rows.schema.field("file_id").type))
            dest = staged / folder / f"part-{merged_id}.parquet"
            dest.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(rows, dest, compression="zstd")
    aliases = sorted({a for s in run for a in s.aliases} | {s.prefix_hash for s in run[:-1]})
    merged = Segment(
        segment_id=merged_id, path=last.path, start_byte=first.start_byte, end_byte=last.end_byte,
        prefix_hash=last.prefix_hash, first_line=first.first_line, lines=sum(s.lines for s in run),
        format=last.format, stored=sum(s.stored for s in run), rejected=sum(s.rejected for s in run),
        compressed=False, fingerprint=first.fingerprint, aliases=aliases, ingested_at=last.ingested_at,
    )
    return merged, staged
