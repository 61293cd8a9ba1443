"""One input file into the lake: identity, new lines, parse, stage, publish, manifest.

For each file: hash it, skip it if the manifest has its content already,
ingest only the new tail if it grew, detect its format, parse it in
batches into a staging directory (:mod:`.staging`), then commit the segment
through the lake (:meth:`Lake.commit_segment`). Memory is bounded by the
batch size and DuckDB's memory limit.
"""

from __future__ import annotations

import shutil
import time
import zlib
from pathlib import Path

import duckdb
import xxhash
import zstandard

from ..changes.markers import detect_marker_format
from ..errors import DetectionError, FormatError, InputError
from ..lake.store import MEMORY_LIMIT, Lake, Segment, now_iso, quiet_progress
from ..privacy import load_or_create_key, redact
from ..sqltext import literal
from .containers import detect_wrapper, unwrap
from .formats import detect
from .formats.base import FallBack, FileJob, IngestWarning, Parser
from .identity import fingerprint_of, scan_content, stage_range
from .marker_files import ingest_markers
from .options import FieldOptions
from .paths import NOT_LOGS, file_year
from .reader import compression_of, ensure_readable, head_lines
from .rules import RuleSet
from .staging import BatchWriter, coverage_warnings
from .summary import FileResult, IngestSummary, ProgressFn

# A file with at least this share of its lines rejected is not stored unless
# the user allows it: the format is most likely wrong.
REJECT_ALL_SHARE = 0.9
# A file modified this recently may be mid-write: its unfinished last line waits.
LIVE_SECONDS = 300
REJECT_ALL_MIN_LINES = 10  # a smaller file is an excerpt: its rejects are kept


def connect_for_ingest(lake: Lake, key: str) -> duckdb.DuckDBPyConnection:
    """The run's DuckDB connection: UTC, bounded memory spilling under the lake, the hashing key set."""
    con = duckdb.connect()
    tmp = lake.staging_dir("duckdb-tmp")
    for setting in (
        "SET TimeZone = 'UTC'",
        f"SET memory_limit = {literal(MEMORY_LIMIT)}",
        "SET preserve_insertion_order = false",
        f"SET temp_directory = {literal(tmp)}",
    ):
        con.execute(setting)
    quiet_progress(con)
    con.execute("SET VARIABLE sl_key = $key", {"key": key})
    return con


class Ingestor:
    """One ingest run over one lake (whose write lock the caller holds)."""

    def __init__(
        self,
        lake: Lake,
        parser: Parser | None,
        rules: RuleSet,
        options: FieldOptions,
        progress: ProgressFn | None = None,
        chunk_bytes: int = 32 << 20,
        allow_rejects: bool = False,
    ):
        self.lake = lake
        self.allow_rejects = allow_rejects
        self.parser = parser
        self.rules = rules
        self.options = options
        self.progress = progress
        self.chunk_bytes = chunk_bytes
        self.summary = IngestSummary()
        self.con = connect_for_ingest(lake, load_or_create_key(lake.root))

    def ingest_file(self, path: Path, label: str, named: bool = True, final: bool = False) -> FileResult:
        """Ingests one file's new lines; ``final``: the input will not grow (stdin)."""
        result = FileResult(path=label)
        try:
            ensure_readable(path)
            if not named and path.suffix.lower() in NOT_LOGS:
                result.status, result.message = "skipped", f"not a log file ({path.suffix} in a directory)"
            else:
                self._ingest(path, label, result, final, named)
        except DetectionError as exc:
            if named:
                result.status, result.message = "failed", str(exc)
            else:  # a README or data file beside the logs: say so, do not fail the run
                result.status, result.message = "skipped", "not a log file: no known format matches its first lines"
        except FormatError as exc:
            result.status, result.message = "failed", str(exc)
        except InputError as exc:
            result.status, result.message = "failed", str(exc)
        except (EOFError, zlib.error, zstandard.ZstdError) as exc:
            result.status, result.message = "failed", f"cannot decompress: {exc}"
        except duckdb.Error as exc:
            # One bad file must not sink the run. DuckDB quotes input in its
            # messages, so the message is redacted like any excerpt.
            result.status, result.message = "failed", f"parse error: {redact(str(exc).splitlines()[0])}"
        self.summary.files.append(result)
        return result

    def _ingest(self, path: Path, label: str, result: FileResult, final: bool = False, named: bool = True) -> None:
        manifest = self.lake.read_manifest()
        compressed = compression_of(path) != "none"
        # Identity by decompressed content (module identity): the candidates
        # share the first line; a candidate is continued if the content up to
        # its end hashes the same. Only what lies beyond is new.
        fingerprint = fingerprint_of(path)
        candidates = [s for s in manifest.segments if fingerprint and s.fingerprint == fingerprint]
        scan = scan_content(path, [s.end_byte for s in candidates])
        covered = max((s for s in candidates if scan.hash_at.get(s.end_byte) == s.prefix_hash),
                      key=lambda s: s.end_byte, default=None)
        start_byte = covered.end_byte if covered else 0
        # A file written to in the last minutes may be mid-line: its unfinished
        # last line waits for its newline. A compressed (rotated) file or an
        # older one is finished, and its last line counts; a cut compressed
        # file is not, and its cut line waits for the whole file.
        live = not compressed and time.time() - path.stat().st_mtime < LIVE_SECONDS
        end_byte = scan.size if (final or not (live or scan.truncated)) else scan.complete_end
        end_hash = scan.total_hash if end_byte == scan.size else scan.full_hash
        if end_byte < scan.size:
            result.warnings.append(IngestWarning(
                "the last line has no newline yet: held back until it is complete or the file is rotated", 1,
                "").as_dict())
        if scan.size == 0:
            result.status, result.message = "skipped", "empty file"
            return
        if scan.truncated:
            result.warnings.append(IngestWarning(
                "the compressed file is cut short: its lines up to the cut were read; the complete file "
                "will add only the rest", 0, "ingest the complete file when it is there").as_dict())
        if end_byte <= start_byte or manifest.find_hash(end_hash):
            result.status = "skipped"
            result.message = ("already ingested (`sessionlens forget` it to read it again)"
                              if scan.size <= start_byte or end_byte == scan.size
                              else "nothing new: the last line is still being written")
            return
        if self.parser is None and not compressed and not covered:
            marker_format = detect_marker_format(path)
            if marker_format:
                ingest_markers(self.lake, self.summary, path, label, marker_format, end_hash, scan.size, result,
                               fingerprint)
                return
        first_line = (scan.newlines_at.get(start_byte, 0) if covered else 0) + 1
        lines = scan.newlines - (scan.newlines_at.get(start_byte, 0) if covered else 0) + (end_byte > scan.complete_end)
        if covered:
            result.status = "appended"
            result.message = f"continues {Path(covered.path).name} from line {first_line:,}"
        work = self.lake.staging_dir(f"input-{end_hash[:16]}")
        parse_path = path
        if start_byte or end_byte < scan.size:
            # Parse exactly the new whole lines, from a private copy.
            parse_path = stage_range(path, start_byte, end_byte, work / "range.log")
        head = head_lines(parse_path)
        wrapper = detect_wrapper(head)
        if wrapper:
            # Parse a private copy without the container's wrapper; line
            # numbers stay those of the file the user named.
            parse_path = unwrap(parse_path, wrapper, work / "lines.log")
            head = head_lines(parse_path)
        job = FileJob(parse_path, 0, first_line, lines, self.options, self.chunk_bytes,
                      year=self.options.year or file_year(path), origin=path, origin_start=start_byte)
        job.warnings.extend(IngestWarning(**w) for w in result.warnings)
        empty = not head and lines == len(job.blank_lines())  # nothing but blank lines
        parser = self.parser if empty else (self.parser or detect(head, None))
        result.format = (f"{wrapper}:" if wrapper else "") + parser.name if parser else None
        segment_id = xxhash.xxh3_64_hexdigest(f"{end_hash}:{start_byte}".encode())
        staging = self.lake.staging_dir(segment_id)
        self.con.execute("SET VARIABLE sl_file_id = $v", {"v": segment_id})
        self.con.execute("SET VARIABLE sl_source_file = $v", {"v": label})
        writer = BatchWriter(self.con, self.rules, self.options, {"file_id": segment_id, "source_file": label})

        reasons: dict[str, int] = {}
        stored = rejected = 0
        if parser and not empty:
            try:
                stored, rejected = writer.run(parser.batches(self.con, job), parser, staging, segment_id, reasons)
            except FallBack:
                shutil.rmtree(staging)
                staging = self.lake.staging_dir(segment_id)
                reasons.clear()
                del job.warnings[len(result.warnings):]  # keep the file's own warnings, drop the parser's
                stored, rejected = writer.run(parser.slow_batches(self.con, job), parser, staging, segment_id,
                                              reasons)
        blanks = job.blank_lines()
        if blanks:
            writer.write_blank_rejects(blanks, staging, segment_id)
            reasons["blank line"] = reasons.get("blank line", 0) + len(blanks)
            rejected += len(blanks)
        shutil.rmtree(work, ignore_errors=True)
        if stored + rejected != lines:
            # Never silently: a parser bug must show in the counts.
            reasons["unaccounted (sessionlens bug)"] = lines - stored - rejected
            rejected = lines - stored
        result.coverage = writer.coverage(staging, stored)
        result.warnings = [w.as_dict() for w in job.warnings] + coverage_warnings(result.coverage, stored, parser)
        if (not self.allow_rejects and lines >= REJECT_ALL_MIN_LINES and rejected >= REJECT_ALL_SHARE * lines
                and stored < lines):
            # Nearly every line rejected: a wrong format, most likely. Keep
            # nothing, so that the next run with the right format reads it.
            shutil.rmtree(staging, ignore_errors=True)
            top = max(reasons.items(), key=lambda kv: kv[1])[0] if reasons else "rejected"
            result.status = "failed" if named else "skipped"
            result.lines_read, result.rejected = lines, rejected
            result.message = (f"{rejected:,} of {lines:,} lines rejected ({top}): nothing stored; check the format "
                              "(--format, --nginx-format, --apache-format) or pass --allow-rejects to keep them")
            return

        self.lake.commit_segment(
            Segment(
                segment_id=segment_id,
                path=label,
                start_byte=start_byte,
                end_byte=end_byte,
                prefix_hash=end_hash,
                fingerprint=fingerprint,
                first_line=first_line,
                lines=lines,
                format=parser.name if parser else "",
                stored=stored,
                rejected=rejected,
                compressed=compressed,
                ingested_at=now_iso(),
            ),
            staging,  # its files become the segment's parts
        )
        result.lines_read, result.stored, result.rejected = lines, stored, rejected
        self.summary.count_rejects(reasons)
