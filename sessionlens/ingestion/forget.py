"""Remove what a file put in the lake, so that it can be ingested again.

A file read with the wrong format, or one that should never have been
ingested, is forgotten atomically: its segments leave the manifest in one
replacement (readers see the lake before or after, never between), then
their Parquet parts are deleted. A file is found by the path it was ingested
under and by its content (the same identity ingest uses), so a log renamed
by rotation is found under either name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from ..errors import InputError
from ..lake.store import Lake, Segment
from .identity import fingerprint_of
from .paths import STDIN_LABEL


@dataclass
class ForgetResult:
    """What was removed."""

    segments: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    rows: int = 0
    rejects: int = 0

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def _matches(seg: Segment, files: list[Path], fingerprints: set[str], segment_ids: set[str]) -> bool:
    if seg.segment_id in segment_ids:
        return True
    if seg.fingerprint and seg.fingerprint in fingerprints:
        return True
    return any(seg.path == str(f) for f in files)


def forget(lake: Lake | str | Path, files: Sequence[str] = (), segments: Sequence[str] = ()) -> ForgetResult:
    """Removes the segments of the given files (by path or content) or ids.

    Args:
        lake: the lake directory, or a :class:`Lake`.
        files: input files as given to ``ingest`` (need not exist any more).
        segments: segment ids, as in the manifest and the ``file_id`` column.

    Raises:
        InputError: nothing in the lake matches.
        LakeLockedError: another run is writing the lake.
    """
    if not files and not segments:
        raise InputError("name a FILE or give --segment ID")
    lake_obj = Lake.of(lake)
    paths = [Path(f).resolve() for f in files if f != "-"] + ([Path(STDIN_LABEL)] if "-" in files else [])
    fingerprints = {fp for p in paths if p.is_file() and (fp := fingerprint_of(p))}
    with lake_obj.writer():
        matched = [s.segment_id for s in lake_obj.read_manifest().segments
                   if _matches(s, paths, fingerprints, set(segments))]
        if not matched:
            raise InputError("nothing in the lake comes from " + ", ".join([*files, *segments]))
        gone = lake_obj.drop_segments(matched)  # one commit, then their files are deleted
    return ForgetResult(segments=[s.segment_id for s in gone], files=sorted({s.path for s in gone}),
                        rows=sum(s.stored for s in gone), rejects=sum(s.rejected for s in gone))
