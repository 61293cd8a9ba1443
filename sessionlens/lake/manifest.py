"""The manifest: which ingested segments and files make up the lake.

``_manifest.json`` is the lake's only notion of visibility (see
:mod:`sessionlens.lake.store` for the publish protocol built on it). It is
replaced atomically (write, fsync, rename), never edited in place.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from ..errors import LakeError
from .files import fsync_dir

MANIFEST = "_manifest.json"
VERSION = 1


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
    # prefix hashes of segments this one replaced (read again from their start when their last line,
    # stored without its newline, grew): a copy of such a segment's content is still known
    aliases: list[str] = field(default_factory=list)


@dataclass
class Manifest:
    """The lake's list of segments and change files."""

    segments: list[Segment] = field(default_factory=list)
    extra_parts: dict[str, list[str]] = field(default_factory=dict)  # tables outside segments, e.g. changes

    def files(self, table: str) -> list[str]:
        """A table's listed files, relative to the lake root."""
        out = [p for seg in self.segments for p in seg.parts.get(table, [])]
        return out + self.extra_parts.get(table, [])

    def find_hash(self, content_hash: str) -> Segment | None:
        """The segment whose content (or a content it replaced) hashes to ``content_hash``."""
        return next((s for s in self.segments if s.prefix_hash == content_hash or content_hash in s.aliases), None)


def read_manifest(root: Path) -> Manifest:
    """The manifest of the lake at ``root`` (empty when there is none yet).

    Raises:
        LakeError: the file exists but cannot be read as a manifest.
    """
    path = root / MANIFEST
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


def write_manifest(root: Path, manifest: Manifest) -> None:
    """Replaces the manifest atomically (write, fsync, rename, fsync the folder)."""
    data = {
        "version": VERSION,
        "segments": [s.__dict__ for s in manifest.segments],
        "extra_parts": manifest.extra_parts,
    }
    tmp = root / (MANIFEST + ".tmp")
    with open(tmp, "w") as fh:
        json.dump(data, fh, indent=1)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, root / MANIFEST)
    fsync_dir(root)


def stamp(root: Path) -> tuple[int, int, int] | None:
    """What changes whenever the manifest is replaced (inode, size, mtime); None without one.

    A replace is a rename of a new file, so the inode changes even within
    the file system's timestamp resolution.
    """
    try:
        st = os.stat(root / MANIFEST)
    except FileNotFoundError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns


def now_iso() -> str:
    """The current UTC time as the manifest writes it (``ingested_at``)."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
