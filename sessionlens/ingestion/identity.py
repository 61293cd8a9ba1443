"""File identity by content, as log shippers do it.

A rotated log changes its name (``access.log`` -> ``access.log.1``), its
compression (``.1`` -> ``.1.gz``) or both, and copytruncate leaves a copy
whose start was already read. Like Filebeat's fingerprint and Vector's
checksum, sessionlens recognises a file by its *decompressed* content: the
hash of its first line finds the candidates, and the hash of the content up
to what a candidate covered proves the file continues it. Only what lies
beyond is ingested, whatever the file is called or however it is packed.

A last line without its newline counts as it is, unless the file looks
mid-write (see :mod:`.tail`). Should the file grow later, the byte after
that line tells what happened: a newline (the line was whole: go on after
it) or more of the line (it was cut: the segment that stored it is read
again and replaced), so a line written in halves is stored once.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import xxhash

from .reader import BLOCK, _Tolerant, open_decompressed

FINGERPRINT_BYTES = 4096  # a first line longer than this is fingerprinted by its start


@dataclass
class ContentScan:
    """What one pass over a file's decompressed content found.

    Attributes:
        fingerprint: hash of the first line ('' while no line is complete).
        size: decompressed bytes.
        complete_end: offset just after the last newline.
        newlines: newlines in the whole content.
        hash_at: content hash at each checkpoint asked for (within the content).
        newlines_at: newlines before each checkpoint.
        mid_line_at: the checkpoints that fall inside a line (the byte before
            is not a newline), each with the byte after it (b"" at the end).
        full_hash: hash of the content up to ``complete_end``.
        total_hash: hash of the whole content, unfinished last line included.
        truncated: the compressed stream was cut short.
        boundaries: line starts about every ``split_every`` bytes, each with
            the newlines before it: where a large file is cut into tasks.
    """

    fingerprint: str = ""
    size: int = 0
    complete_end: int = 0
    newlines: int = 0
    hash_at: dict[int, str] = field(default_factory=dict)
    newlines_at: dict[int, int] = field(default_factory=dict)
    mid_line_at: dict[int, bytes] = field(default_factory=dict)
    full_hash: str = ""
    total_hash: str = ""
    truncated: bool = False
    boundaries: dict[int, int] = field(default_factory=dict)

    @property
    def partial_tail(self) -> bool:
        """Whether the content ends in a line without its newline."""
        return self.size > self.complete_end


def fingerprint_of(path: Path) -> str:
    """Hash of the file's first complete line ('' if it has none yet)."""
    with open_decompressed(path) as fh:
        head = fh.read(FINGERPRINT_BYTES)
    cut = head.find(b"\n")
    if cut == -1 and len(head) < FINGERPRINT_BYTES:
        return ""
    return xxhash.xxh3_128(head if cut == -1 else head[: cut + 1]).hexdigest()


def scan_content(path: Path, checkpoints: list[int] | None = None, split_every: int = 0,
                 fingerprint: str | None = None) -> ContentScan:
    """One pass over the decompressed content: hashes, offsets, line counts.

    Args:
        path: the file (plain, gzip or zstd).
        checkpoints: offsets (line boundaries of earlier ingests) at which
            to record the content hash and the number of lines before them.
        split_every: if set, record in ``boundaries`` the first line start
            at or after each multiple of this many bytes (0: none).
        fingerprint: the file's :func:`fingerprint_of`, when the caller has it already.
    """
    scan = ContentScan(fingerprint=fingerprint_of(path) if fingerprint is None else fingerprint)
    marks = sorted(set(checkpoints or []))
    h = xxhash.xxh3_128()
    fed = 0  # bytes fed to the hash: always whole lines
    carry = b""
    next_split = split_every
    stream = open_decompressed(path)
    with stream as fh:
        while True:
            block = fh.read(BLOCK)
            if not block:
                break
            data = carry + block
            cut = data.rfind(b"\n") + 1
            body, carry = data[:cut], data[cut:]
            while split_every and next_split < fed + len(body):  # body is whole lines: a newline follows
                at = body.find(b"\n", next_split - fed) + 1
                scan.boundaries[fed + at] = scan.newlines + body.count(b"\n", 0, at)
                next_split = fed + at + split_every
            pos = 0
            while marks and fed + len(body) - pos >= marks[0]:
                upto = pos + marks.pop(0) - fed
                if upto < pos:  # a checkpoint already passed: cannot match
                    continue
                h.update(body[pos:upto])
                scan.newlines += body.count(b"\n", pos, upto)
                fed += upto - pos
                pos = upto
                scan.hash_at[fed] = h.hexdigest()
                scan.newlines_at[fed] = scan.newlines
                if 0 < upto < len(body) and body[upto - 1 : upto] != b"\n":
                    scan.mid_line_at[fed] = body[upto : upto + 1]
            h.update(body[pos:])
            scan.newlines += body.count(b"\n", pos)
            fed += len(body) - pos
        scan.truncated = isinstance(stream, _Tolerant) and stream.truncated
    if 0 in (checkpoints or []):
        scan.hash_at[0], scan.newlines_at[0] = xxhash.xxh3_128().hexdigest(), 0
    for mark in marks:  # inside the unfinished last line: an earlier ingest stopped there too
        if fed < mark <= fed + len(carry):
            at = h.copy()
            at.update(carry[: mark - fed])
            scan.hash_at[mark], scan.newlines_at[mark] = at.hexdigest(), scan.newlines
            scan.mid_line_at[mark] = carry[mark - fed : mark - fed + 1]
    scan.complete_end = fed
    scan.size = fed + len(carry)
    scan.full_hash = h.hexdigest()
    h.update(carry)
    scan.total_hash = h.hexdigest()
    return scan


def stage_range(path: Path, start: int, end: int, dest: Path) -> Path:
    """Copies the decompressed bytes [start, end) to a private file (mode 0600)."""
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out, open_decompressed(path) as fh:
        pos = 0
        while pos < end:
            block = fh.read(min(BLOCK, end - pos) if pos >= start else min(BLOCK, start - pos))
            if not block:
                break
            if pos >= start:
                out.write(block)
            pos += len(block)
    return dest
