"""A file's last line without its newline: counted, held back, or read again.

Log dumps and test fixtures often end without a newline, so such a line is
simply the last line. It waits only when the file looks mid-write: written
to in the last minutes, with a last line that is not a whole record of the
file's format (half an access-log line, half a JSON object). A compressed
file cut short waits for the whole file.

A line counted without its newline may still have been cut. When the file
grows, the byte after it decides (:func:`resume`): a newline means the line
was whole, and reading goes on after it; more text means it was cut, and
the segment that stored it is read again and replaced in the same commit.
Either way a line written in halves is stored once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from ..changes.markers import detect_marker_format
from ..errors import FormatError
from ..lake.store import Segment
from .formats import detect
from .formats.base import Parser
from .identity import ContentScan
from .reader import head_lines

# A file modified this recently may be mid-write: its unfinished last line
# waits, unless it reads as a whole record.
LIVE_SECONDS = 300
TAIL_LOOK_BYTES = 1 << 16  # how much of an unfinished last line, and of the lines before it, is judged
CONTEXT_LINES = 20  # the lines before it that it is judged with


@dataclass
class Resume:
    """Where reading a file starts, given the segment it continues.

    Attributes:
        start_byte: the first byte to read.
        before: newlines before it (its line is ``before + 1``).
        replaces: the continued segment when its cut last line is read again.
    """

    start_byte: int = 0
    before: int = 0
    replaces: Segment | None = None


def resume(covered: Segment | None, scan: ContentScan, replaced_in_run: bool = False) -> Resume:
    """Where to start reading a file whose content up to ``covered.end_byte`` is stored (None: nothing is).

    ``replaced_in_run``: a plan of this run already reads ``covered`` again.
    A segment is replaced once per run; a second file that would replace it
    goes on where it ended.
    """
    if covered is None:
        return Resume()
    at = covered.end_byte
    after = scan.mid_line_at.get(at)
    if after == b"\n":  # its last line was whole after all: go on after the newline
        return Resume(at + 1, scan.newlines_at[at] + 1)
    if after and not replaced_in_run:
        return Resume(covered.start_byte, covered.first_line - 1, covered)  # it was cut: read it again, replace it
    return Resume(at, scan.newlines_at[at])


def held_back(path: Path, scan: ContentScan, *, final: bool, compressed: bool, parser: Parser | None,
              start_byte: int, hint: str | None, whole_file: bool) -> bool:
    """Whether the file's last line (no newline yet) waits for the rest.

    Args:
        path: the file.
        scan: its content scan.
        final: the input is complete (stdin): nothing waits.
        compressed: the file is compressed (rotated: finished, unless cut short).
        parser: the format the user asked for (None: detected here if needed).
        start_byte / hint: where the new lines start, and the last format
            seen, for detection.
        whole_file: nothing of the file is stored yet (it may be a marker file).
    """
    if final or not scan.partial_tail:
        return False
    if scan.truncated:
        return True
    if compressed or time.time() - path.stat().st_mtime >= LIVE_SECONDS:
        return False
    return not _whole_record(path, scan, parser, start_byte, hint, whole_file)


def _whole_record(path: Path, scan: ContentScan, parser: Parser | None, start_byte: int, hint: str | None,
                  whole_file: bool) -> bool:
    """Whether the last line reads as a whole record of the file's format.

    The line is judged with the lines before it, as detection judges a
    file's head: it is whole when adding it does not lower their score (a
    stack frame continues the record above it; half an access-log line
    explains nothing). A marker file counts as whole (its own reader judges
    each record). Undecided (no format explains the head, a container's
    wrapper) is not whole.
    """
    if whole_file and parser is None and detect_marker_format(path):
        return True
    context, tail = _last_lines(path, scan)
    try:
        parser = parser or detect(head_lines(path, start_byte=start_byte), None, hint)
    except FormatError:
        return False
    with_tail = parser.detect_score([*context, tail])
    return with_tail > 0 and with_tail >= parser.detect_score(context)


def _last_lines(path: Path, scan: ContentScan) -> tuple[list[str], str]:
    """Up to CONTEXT_LINES whole lines before the unfinished last line, and that line."""
    with open(path, "rb") as fh:
        start = max(0, scan.complete_end - TAIL_LOOK_BYTES)
        fh.seek(start)
        before = fh.read(scan.complete_end - start)
        tail = fh.read(min(scan.size - scan.complete_end, TAIL_LOOK_BYTES))
    lines = before.decode("utf-8", "replace").split("\n")[:-1]  # the text after the last newline is empty
    if start > 0:
        lines = lines[1:]  # cut at the look's start
    context = [line.rstrip("\r") for line in lines if line.strip()][-CONTEXT_LINES:]
    return context, tail.decode("utf-8", "replace").rstrip("\r")
