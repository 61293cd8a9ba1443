"""The work a plan describes: a :class:`Unit` (a byte range of one file to parse) and its :class:`UnitResult`.

Units are made by :mod:`.plan` and carried out by :func:`.task.run_unit`, here
or on a Spark executor; they are plain data, pickled to the executors.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .formats.base import IngestWarning, Parser


@dataclass
class Unit:
    """One task: the lines of a byte range of one file, parsed into a folder of its own.

    Attributes:
        segment_id: the segment the rows belong to (their ``file_id``).
        index: the unit's place in its segment (part names carry it).
        path: the file to read (the user's file, or a private copy on the lake).
        start_byte / end_byte: the range of ``path``'s decompressed content;
            ``end_byte`` None means to its end (a compressed file, or a
            private copy: neither grows). A range that is not the whole
            file is copied out privately before parsing (the CSV fast path
            reads whole files).
        first_line / lines: the number of the range's first line in the
            user's file, and how many physical lines the range holds.
        parser: the format's parser (None: a file of blank lines only).
        label: the file's name as the lake records it (``source_file``).
        year: the year for year-less timestamps.
        origin / origin_start: the user's file and where the range starts in
            its content (a W3C header before the range is read from there).
        file_size: the size of the plain file ``path`` when it was planned
            (None: compressed or a private copy). A unit that ends there
            reads the file in place, and again from a copy of its planned
            bytes if the file grew meanwhile: a log being written must not
            add lines the segment does not count.
        fingerprint: the file's first line's hash when planned: a file
            truncated or replaced since (copytruncate) is not read as if it
            were the planned one.
    """

    segment_id: str
    index: int
    path: str
    start_byte: int
    end_byte: int | None
    first_line: int
    lines: int
    parser: Parser | None
    label: str
    year: int | None
    origin: str
    origin_start: int
    file_size: int | None = None
    fingerprint: str = ""

    @property
    def whole(self) -> bool:
        """Whether the unit reads all of ``path`` as planned (no private copy needed)."""
        return self.start_byte == 0 and (self.end_byte is None or self.end_byte == self.file_size)


@dataclass
class UnitResult:
    """What a unit wrote and counted.

    Attributes:
        segment_id / index: which unit.
        folder: its files (``requests/``, ``events/``, ``rejects/``) to commit.
        stored / rejected: physical lines stored and rejected.
        reasons: rejected lines by reason.
        warnings: what the parser noticed, merged by what.
        signals: stored rows, and those carrying each session signal (see
            :meth:`.staging.BatchWriter.signal_counts`).
    """

    segment_id: str
    index: int
    folder: str
    stored: int = 0
    rejected: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    warnings: list[IngestWarning] = field(default_factory=list)
    signals: list[int] = field(default_factory=list)
