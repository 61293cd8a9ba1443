"""What an input file needs: skip it, or parse these byte ranges into one new segment.

Planning runs where the lake's write lock is held (the driver): it
recognises the file by content (:mod:`.identity`), takes only lines no
segment covers, detects the container and the format, and describes the
work as :class:`Unit` s that :func:`.task.run_unit` carries out anywhere,
in this process or on a Spark executor. A large plain file whose format
has one record per line is cut at line boundaries into several units,
each knowing the number of its first line, so its rows are the rows a
single pass would give.

A plan is checked against the segments already committed *and* those
planned earlier in the same run, so one run that meets a file twice (or a
rotated file and its grown successor) plans each line once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import xxhash

from ..changes.markers import detect_marker_format
from ..lake import manifest as lake_manifest
from ..lake.store import Lake, Manifest, Segment
from .containers import detect_wrapper, unwrap
from .formats import detect
from .formats.access import AccessLogParser
from .formats.base import IngestWarning, Parser
from .formats.regexfmt import RegexParser
from .identity import ContentScan, fingerprint_of, scan_content, stage_range
from .options import FieldOptions
from .paths import NOT_LOGS, file_year
from .reader import compression_of, count_lines, head_lines
from .summary import FileResult, IngestSummary
from .tail import held_back, resume
from .units import Unit

# Formats with exactly one record per line and no state carried between
# lines (no header, no year inferred across records, no fields guessed
# from the first lines): a range of such a file parses the same on its own.
SPLITTABLE = (AccessLogParser, RegexParser)


@dataclass
class SegmentPlan:
    """One file's new lines: the segment to commit once its units are parsed.

    Attributes:
        segment: the segment as the manifest will list it (parts, counts and
            time are filled in at commit).
        result: the file's line in the run's summary.
        parser: the format (None for a file of blank lines only).
        units: the work, in line order.
        warnings: the file's own warnings (a held-back last line ...).
        continues: the id of a segment planned earlier in this run that this
            one continues ('' if none): it cannot be stored without it.
        replaces: the id of a segment whose last line was stored without its
            newline and has since grown: this one reads its lines again and
            takes its place in the same commit ('' if none).
        scratch: private copies made while planning, removed after the parse.
        named: the user named the file (not found in a directory): a file
            refused for its rejects fails the run rather than being skipped.
        markers: (file, marker format) for a file of deploy or config
            markers, stored as changes when the run commits (no units).
    """

    segment: Segment
    result: FileResult
    parser: Parser | None
    units: list[Unit]
    warnings: list[IngestWarning] = field(default_factory=list)
    continues: str = ""
    scratch: Path | None = None
    named: bool = True
    markers: tuple[Path, str] | None = None
    replaces: str = ""


@dataclass
class Planner:
    """Plans input files against a lake whose write lock the caller holds.

    Attributes:
        lake: the lake.
        parser: the format the user asked for (None: detect per file).
        options: field options (the year for year-less times).
        split_bytes: cut a large plain file of a one-record-per-line format
            into units of about this size (0: one unit per file).
        planned: segments planned in this run and not committed yet.
    """

    lake: Lake
    parser: Parser | None
    options: FieldOptions
    split_bytes: int = 0
    planned: list[Segment] = field(default_factory=list)
    _manifest: Manifest | None = field(default=None, repr=False)
    _stamp: tuple[int, int, int] | None = field(default=None, repr=False)
    _last_format: str | None = field(default=None, repr=False)  # the last file's detected format (a hint)

    def plan(self, path: Path, label: str, result: FileResult, summary: IngestSummary, *, final: bool = False,
             named: bool = True) -> SegmentPlan | None:
        """The plan for one readable file, or None when there is nothing to parse (``result`` says why).

        Raises:
            DetectionError: no known format matches the file's first lines.
            FormatError / InputError / OSError: the file cannot be read as given.
        """
        if not named and path.suffix.lower() in NOT_LOGS:
            result.status, result.message = "skipped", f"not a log file ({path.suffix} in a directory)"
            return None
        committed = self._committed()
        manifest = Manifest(segments=[*committed.segments, *self.planned], extra_parts=committed.extra_parts)
        compressed = compression_of(path) != "none"
        # Identity by decompressed content (module identity): the candidates
        # share the first line; a candidate is continued if the content up to
        # its end hashes the same. Only what lies beyond is new.
        fingerprint = fingerprint_of(path)
        # a segment stored before its first line had a newline has no fingerprint: it may be this file's start
        candidates = [s for s in manifest.segments if (fingerprint and s.fingerprint == fingerprint)
                      or (not s.fingerprint and s.lines and not s.format.startswith("markers:"))]
        splittable = self.split_bytes and not compressed and (self.parser is None or self._splittable(self.parser))
        scan = scan_content(path, [s.end_byte for s in candidates], self.split_bytes if splittable else 0,
                            fingerprint=fingerprint)
        covered = max((s for s in candidates if scan.hash_at.get(s.end_byte) == s.prefix_hash),
                      key=lambda s: s.end_byte, default=None)
        if covered and covered.format.startswith("markers:"):
            covered = None  # a grown marker file is read again whole, as markers (changes are kept by id)
        # see module tail: a last line stored without its newline (replaced at most once in a run)
        again = covered is not None and any(covered.prefix_hash in p.aliases for p in self.planned)
        start = resume(covered, scan, replaced_in_run=again)
        start_byte, before, replaces = start.start_byte, start.before, start.replaces
        held = held_back(path, scan, final=final, compressed=compressed, parser=self.parser, start_byte=start_byte,
                         hint=self._last_format, whole_file=covered is None)
        end_byte = scan.complete_end if held else scan.size
        end_hash = scan.total_hash if end_byte == scan.size else scan.full_hash
        warnings: list[IngestWarning] = []
        if end_byte < scan.size:
            warnings.append(IngestWarning(
                "the last line has no newline yet: held back until it is complete or the file is rotated", 1, ""))
        if scan.size == 0:
            result.status, result.message = "skipped", "empty file"
            return None
        if scan.truncated:
            warnings.append(IngestWarning(
                "the compressed file is cut short: its lines up to the cut were read; the complete file "
                "will add only the rest", 0, "ingest the complete file when it is there"))
        result.warnings = [w.as_dict() for w in warnings]
        if end_byte <= (replaces.end_byte if replaces else start_byte) or manifest.find_hash(end_hash):
            result.status = "skipped"
            result.message = ("already ingested (`sessionlens forget` it to read it again)"
                              if scan.size <= start_byte or end_byte == scan.size
                              else "nothing new: the last line is still being written")
            return None
        if self.parser is None and not compressed and not covered:
            marker_format = detect_marker_format(path)
            if marker_format:  # stored with the run's commit (:func:`.commit.commit`), not before
                segment = Segment(segment_id=end_hash[:16], path=label, start_byte=0, end_byte=scan.size,
                                  prefix_hash=end_hash, fingerprint=fingerprint, first_line=1, lines=0,
                                  format=f"markers:{marker_format}", stored=0, rejected=0)
                self.planned.append(segment)
                return SegmentPlan(segment, result, None, [], warnings, named=named, markers=(path, marker_format))
        first_line = before + 1
        lines = scan.newlines - before + (end_byte > scan.complete_end)
        if covered:
            result.status = "appended"
            result.message = f"continues {Path(covered.path).name} from line {first_line:,}"
            if replaces:
                result.message += " (its last line had no newline and was cut: read again from there)"
        segment_id = xxhash.xxh3_64_hexdigest(f"{end_hash}:{start_byte}".encode())
        head = head_lines(path, start_byte=start_byte)
        wrapper = detect_wrapper(head)
        scratch = None
        # A plain file's units end where the plan ends, even at the end of the file: it may be growing.
        parse_path, parse_start = path, start_byte
        parse_end = None if compressed and end_byte == scan.size else end_byte
        file_size = None if compressed else scan.size
        if wrapper:
            # Parse a private copy without the container's wrapper; line
            # numbers stay those of the file the user named.
            scratch = self.lake.staging_dir(f"input-{end_hash[:16]}")
            # always a copy of the planned bytes: the live file may be written to meanwhile
            parse_path = stage_range(path, start_byte, end_byte, scratch / "range.log")
            parse_path = unwrap(parse_path, wrapper, scratch / "lines.log")
            parse_start, parse_end, file_size = 0, None, None
            head = head_lines(parse_path)
        # Nothing but blank lines: no format to detect, nothing to parse.
        blank_only = not head and len(count_lines(parse_path, parse_start)[1]) >= lines
        parser = self.parser if blank_only else (self.parser or detect(head, None, self._last_format))
        if parser is not None and self.parser is None:
            self._last_format = parser.name  # the next file is most likely of the same format
        result.format = (f"{wrapper}:" if wrapper else "") + parser.name if parser else None
        segment = Segment(segment_id=segment_id, path=label, start_byte=start_byte, end_byte=end_byte,
                          prefix_hash=end_hash, fingerprint=fingerprint, first_line=first_line, lines=lines,
                          format=parser.name if parser else "", stored=0, rejected=0, compressed=compressed,
                          aliases=[*replaces.aliases, replaces.prefix_hash] if replaces else [])
        year = self.options.year or file_year(path)
        if wrapper or not (splittable and parser is not None and self._splittable(parser)):
            cuts = [(parse_start, parse_end, first_line, lines)]
        else:
            cuts = _cuts(scan, start_byte, end_byte, before, lines, open_end=compressed)
        units = [Unit(segment_id, i, str(parse_path), a, b, line, n, None if blank_only else parser, label, year,
                      str(path), a if parse_path == path else start_byte, file_size,
                      fingerprint if file_size is not None else "")
                 for i, (a, b, line, n) in enumerate(cuts)]
        self.planned.append(segment)
        return SegmentPlan(segment, result, parser, units, warnings, scratch=scratch, named=named,
                           continues=covered.segment_id if covered and any(covered is s for s in self.planned) else "",
                           replaces=replaces.segment_id if replaces else "")

    def _committed(self) -> Manifest:
        """The lake's manifest, read again only when a commit has replaced it (a run of many files reads it once)."""
        current = lake_manifest.stamp(self.lake.root)
        if self._manifest is None or current != self._stamp:
            self._manifest, self._stamp = self.lake.read_manifest(), current
        return self._manifest

    @staticmethod
    def _splittable(parser: Parser) -> bool:
        return isinstance(parser, SPLITTABLE)


def _cuts(scan: ContentScan, start: int, end: int, before: int, lines: int,
          open_end: bool = False) -> list[tuple[int, int | None, int, int]]:
    """(start, end or None, first line, lines) of each range of [start, end), cut at the scan's boundaries.

    ``open_end``: the last range ends at None when ``end`` is the end of the content (a compressed file).
    """
    starts = [start] + [b for b in sorted(scan.boundaries) if start < b < end]
    out = []
    for i, a in enumerate(starts):
        line_before = before if i == 0 else scan.boundaries[a]
        if i + 1 < len(starts):
            b: int | None = starts[i + 1]
            n = scan.boundaries[starts[i + 1]] - line_before
        else:
            b = None if open_end and end == scan.size else end
            n = lines - (line_before - before)
        out.append((a, b, line_before + 1, n))
    return out
