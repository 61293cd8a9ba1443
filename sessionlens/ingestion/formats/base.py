"""The parser base class and what a parser hands to the ingest engine."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import duckdb

from ..lines import register_lines
from ..options import FieldOptions
from ..reader import count_lines


@dataclass
class Sample:
    """A sample line of a format, with the stored values it must produce."""

    line: str
    expect: dict[str, Any] = field(default_factory=dict)


@dataclass
class IngestWarning:
    """Something about a file's lines that the user should know and can fix.

    Attributes:
        what: what was seen, in words.
        lines: how many lines it concerns.
        fix: the flag or action that fixes it ('' if none).
    """

    what: str
    lines: int
    fix: str = ""

    def as_dict(self) -> dict:
        return {"what": self.what, "lines": self.lines, "fix": self.fix}


@dataclass
class FileJob:
    """One byte range of one file to parse.

    Attributes:
        path: the file (possibly compressed) on disk.
        start_byte / first_line: where the range starts (after a previous
            ingest of a file that has since grown).
        lines: physical lines in the range.
        options: field options.
        year: the year for timestamps that carry none (syslog prefixes): the
            user's ``--year``, else the file's modification year.
        warnings: what the parser noticed and the user should hear about.
        origin / origin_start: the file the user named and the offset in its
            decompressed content where this job's lines begin, when ``path``
            is a private copy of a range of it (for formats whose header,
            such as W3C's ``#Fields:``, lies before the range).
    """

    path: Path
    start_byte: int
    first_line: int
    lines: int
    options: FieldOptions
    chunk_bytes: int = 32 << 20
    year: int | None = None
    warnings: list[IngestWarning] = field(default_factory=list)
    origin: Path | None = None
    origin_start: int = 0
    _blanks: list[int] | None = None

    def warn(self, what: str, lines: int, fix: str = "") -> None:
        """Records a warning for the file's summary (merged by ``what``)."""
        for w in self.warnings:
            if w.what == what:
                w.lines += lines
                return
        self.warnings.append(IngestWarning(what, lines, fix))

    def blank_lines(self) -> list[int]:
        """The blank lines' numbers, found on first use (a second pass over the file)."""
        if self._blanks is None:
            _, self._blanks = count_lines(self.path, self.start_byte, self.first_line)
        return self._blanks

    def found_blank_lines(self, numbers: list[int]) -> None:
        """Records the blank lines a parser's own pass found."""
        self._blanks = numbers

    def no_blank_lines(self) -> None:
        """Records that there are none (the fast path proves it by its counts)."""
        self._blanks = []


@dataclass
class Batch:
    """A relation of raw columns, and how many input lines it accounts for.

    Each record's raw column ``n_lines`` says how many physical lines are
    behind it (1 for single-line formats), so the run can check that lines
    read = lines stored + lines rejected. A ``direct`` batch is copied to
    Parquet in one streaming scan; the engine sets ``stored`` afterwards.
    """

    relation: str
    direct: bool = False  # written straight from the relation, stored rows only
    stored: int = 0  # set by the engine once the batch is written
    rejected: int = 0
    lines: int = 0  # input lines behind the batch, when the parser counts them beforehand


class FallBack(Exception):
    """Raised by a fast path that found input it cannot vouch for."""


class Parser:
    """A log format family. Subclasses set ``family`` and implement ``batches``.

    Attributes:
        name: the format's name (``nginx-combined``, ``rails`` ...).
        family: the parser family (``nginx``, ``apache``, ``cloudflare`` ...).
    """

    family = "base"
    # Whether stored rows keep their line number. A parser whose fast path
    # cannot number lines stores none, so a row is the same whichever path
    # (fast, rescue, fallback) parsed it; rejects always keep theirs.
    numbers_rows = True

    def __init__(self, name: str, description: str = "", samples: list[Sample] | None = None):
        self.name = name
        self.description = description
        self.samples = samples or []

    def detect_score(self, lines: list[str]) -> float:
        """Fraction of the given lines this format understands (0..1)."""
        raise NotImplementedError

    def may_explain_all(self, lines: list[str]) -> bool:
        """False only when :meth:`detect_score` of ``lines`` is surely below 1 (a cheap look at the first line).

        Detection with a hint (:func:`..detect`) asks it of every format that
        could tie with the hint's perfect score; the default never rules one out.
        """
        return True

    def batches(self, con: duckdb.DuckDBPyConnection, job: FileJob) -> Iterator[Batch]:
        """Yields relations of raw columns for the job's lines."""
        raise NotImplementedError

    def slow_batches(self, con: duckdb.DuckDBPyConnection, job: FileJob) -> Iterator[Batch]:
        """The batches again after a fast path raised :class:`FallBack`; without a fast path, the same ones."""
        return self.batches(con, job)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


def lines_relation(con: duckdb.DuckDBPyConnection, first_line: int, text: str, name: str = "lines") -> str:
    """Registers a chunk of text as a relation (line_no, line); returns its name.

    Blank lines at the chunk's end are left out. Splitting happens in numpy
    and Arrow (see :mod:`..lines`), so no Python object is made per line.
    """
    return register_lines(con, first_line, text.rstrip("\n").encode("utf-8", "surrogateescape") + b"\n", name)
