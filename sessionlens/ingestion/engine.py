"""Ingest log files into the lake.

For each file: hash it, skip it if the manifest has its content already,
ingest only the new tail if it grew, detect its format, parse it in
batches into a staging directory, then publish the files and finally the
manifest. Memory is bounded by the batch size and DuckDB's memory limit.
"""

from __future__ import annotations

import glob
import zlib
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import duckdb
import xxhash
import zstandard

from ..errors import DetectionError, FormatError, InputError, SessionlensError
from .formats import detect, get_spec, make_parser
from .containers import detect_wrapper, unwrap
from .formats.base import Batch, FallBack, FileJob, IngestWarning, Parser
from .formats.jsonlines import parse_json_map
from ..lake.store import MEMORY_LIMIT, Lake, Segment, now_iso, quiet_progress
from .normalise import STORED_COLUMNS, normalise_sql
from .options import FieldOptions
from ..privacy import load_or_create_key, redact
from ..lake.writer import write_query
from .identity import fingerprint_of, scan_content, stage_range
from .reader import compression_of, count_lines, ensure_readable, head_lines, stage_stdin
from .rules import RuleSet, load_rules

STDIN_LABEL = "<stdin>"
# A file with at least this share of its lines rejected is not stored unless
# the user allows it: the format is most likely wrong.
REJECT_ALL_SHARE = 0.9
# A file modified this recently may be mid-write: its unfinished last line waits.
LIVE_SECONDS = 300
REJECT_ALL_MIN_LINES = 10  # a smaller file is an excerpt: its rejects are kept


@dataclass
class FileResult:
    """What happened to one input file."""

    path: str
    format: str | None = None
    status: str = "ingested"  # ingested | appended | skipped | failed
    lines_read: int = 0
    stored: int = 0
    rejected: int = 0
    message: str = ""
    warnings: list[dict] = field(default_factory=list)
    coverage: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class IngestSummary:
    """The run's totals; ``as_dict`` is what ``ingest --json`` prints."""

    files: list[FileResult] = field(default_factory=list)
    rejected_by_reason: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def lines_read(self) -> int:
        return sum(f.lines_read for f in self.files)

    @property
    def stored(self) -> int:
        return sum(f.stored for f in self.files)

    @property
    def rejected(self) -> int:
        return sum(f.rejected for f in self.files)

    @property
    def failed(self) -> list[FileResult]:
        return [f for f in self.files if f.status == "failed"]

    def as_dict(self) -> dict:
        return {
            "files": len(self.files),
            "lines_read": self.lines_read,
            "stored": self.stored,
            "rejected": self.rejected,
            "rejected_by_reason": dict(sorted(self.rejected_by_reason.items(), key=lambda kv: -kv[1])),
            "seconds": round(self.seconds, 3),
            "files_skipped": sum(1 for f in self.files if f.status == "skipped"),
            "files_failed": len(self.failed),
            "warnings": [{"file": f.path, **w} for f in self.files for w in f.warnings],
            "per_file": [f.as_dict() for f in self.files],
        }


ProgressFn = Callable[[str, int], None]  # (file label, bytes done) -> None


# Files found in a directory that are documentation, not logs.
NOT_LOGS = {".md", ".rst", ".html", ".htm", ".pdf", ".png", ".jpg", ".gif", ".svg", ".py", ".sh", ".toml", ".yaml",
            ".yml", ".ini", ".cfg", ".parquet", ".lock", ".pid", ".swp"}


def expand_paths(paths: Iterable[str]) -> list[str]:
    """Files, directories (recursively), globs and '-' (stdin), in order."""
    return [name for name, _ in expand_inputs(paths)]


def expand_inputs(paths: Iterable[str], exclude: Iterable[Path] = ()) -> list[tuple[str, bool]]:
    """(file, named) pairs: ``named`` is False for files found in a directory.

    A file found in a directory that no format matches is skipped with a
    note; a file named on its own is an error then. Files found in a
    directory under one of ``exclude`` (a lake, a report folder) are left out.
    """
    skip = [Path(e).resolve() for e in exclude]
    out: list[tuple[str, bool]] = []
    for raw in paths:
        if raw == "-":
            out.append(("-", True))
            continue
        p = Path(raw)
        if p.is_dir():
            found = sorted(str(f) for f in p.rglob("*")
                           if f.is_file() and not any(part.startswith(".") for part in f.relative_to(p).parts)
                           and not any(root == f.resolve() or root in f.resolve().parents for root in skip))
            out.extend((f, False) for f in found)
        elif p.exists():
            out.append((str(p), True))
        elif any(ch in raw for ch in "*?["):
            matches = sorted(m for m in glob.glob(raw, recursive=True) if Path(m).is_file())
            if not matches:
                raise InputError(f"{raw}: the pattern matches no file")
            out.extend((m, True) for m in matches)
        else:
            raise InputError(f"{raw}: no such file or directory")
    return out


def build_parser(
    fmt: str | None = None,
    nginx_format: str | None = None,
    apache_format: str | None = None,
    json_map: str | None = None,
) -> Parser | None:
    """The parser the user asked for, or None to detect per file."""
    chosen = [x for x in (fmt, nginx_format, apache_format) if x]
    if len(chosen) > 1:
        raise InputError("give at most one of --format, --nginx-format and --apache-format")
    mapping = parse_json_map(json_map)
    if nginx_format:
        return make_parser("nginx", "nginx-custom", nginx_format)
    if apache_format:
        return make_parser("apache", "apache-custom", apache_format)
    if fmt:
        return get_spec(fmt).parser(mapping)
    if mapping:
        return make_parser("jsonl", "json-mapped", json_map=mapping)
    return None


def connect_for_ingest(lake: Lake, key: str) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    tmp = lake.root / "_staging" / "duckdb-tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    for setting in (
        "SET TimeZone = 'UTC'",
        f"SET memory_limit = '{MEMORY_LIMIT}'",
        "SET preserve_insertion_order = false",
        f"SET temp_directory = '{tmp}'",
    ):
        con.execute(setting)
    quiet_progress(con)
    con.execute("SET VARIABLE sl_key = $key", {"key": key})
    return con


class Ingestor:
    """One ingest run over one lake (holds its write lock)."""

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
        self.file_constants: dict[str, str] = {}

    # --- one file ------------------------------------------------------------
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
            from ..changes.store import detect_marker_format

            marker_format = detect_marker_format(path)
            if marker_format:
                self._ingest_markers(path, label, marker_format, end_hash, scan.size, result, fingerprint)
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
        self.file_constants = {"file_id": segment_id, "source_file": label}

        reasons: dict[str, int] = {}
        try:
            batches = parser.batches(self.con, job) if parser and not empty else iter(())
            stored, rejected = self._run(batches, parser, staging, segment_id, reasons)
        except FallBack:
            shutil.rmtree(staging)
            staging = self.lake.staging_dir(segment_id)
            reasons.clear()
            del job.warnings[len(result.warnings):]  # keep the file's own warnings, drop the parser's
            stored, rejected = self._run(parser.slow_batches(self.con, job), parser, staging, segment_id, reasons)
        blanks = job.blank_lines()
        if blanks:
            self._write_blank_rejects(blanks, staging, segment_id)
            reasons["blank line"] = reasons.get("blank line", 0) + len(blanks)
            rejected += len(blanks)
        shutil.rmtree(work, ignore_errors=True)
        if stored + rejected != lines:
            # Never silently: a parser bug must show in the counts.
            reasons["unaccounted (sessionlens bug)"] = lines - stored - rejected
            rejected = lines - stored
        result.coverage = self._coverage(staging, stored)
        result.warnings = [w.as_dict() for w in job.warnings] + _coverage_warnings(result.coverage, stored, parser)
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

        parts = {t: self.lake.publish(staging, t) for t in ("requests", "events", "rejects")}
        manifest = self.lake.read_manifest()
        manifest.segments.append(
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
                parts={t: p for t, p in parts.items() if p},
                ingested_at=now_iso(),
            )
        )
        self.lake.write_manifest(manifest)
        shutil.rmtree(staging, ignore_errors=True)
        result.lines_read, result.stored, result.rejected = lines, stored, rejected
        for reason, n in reasons.items():
            self.summary.rejected_by_reason[reason] = self.summary.rejected_by_reason.get(reason, 0) + n

    def _coverage(self, staging: Path, stored: int) -> dict:
        """Share of the file's stored rows that carry each session signal."""
        files = [str(f) for t in ("requests", "events") for f in (staging / t).rglob("*.parquet")]
        if not files or not stored:
            return {}
        listing = "[" + ", ".join("'" + f.replace("'", "''") + "'" for f in files) + "]"
        row = self.con.execute(
            f"""SELECT count(*), count(session_key), count(user_key), count(latency_ms), count(vhost),
                       count(error_kind), count(host), count(app_version)
                FROM read_parquet({listing}, union_by_name=true)"""
        ).fetchall()[0]
        n = row[0] or 1
        return {
            "rows": row[0],
            "session_cookie": round(row[1] / n, 4),
            "user_key": round(row[2] / n, 4),
            "latency": round(row[3] / n, 4),
            "vhost": round(row[4] / n, 4),
            "host": round(row[6] / n, 4),
            "app_version": round(row[7] / n, 4),
            "session_errors": row[5],
        }

    def _ingest_markers(self, path: Path, label: str, fmt: str, content_hash: str, size: int, result: FileResult,
                        fingerprint: str = "") -> None:
        """A marker file: its good records go to the changes table, its bad ones to rejects.

        Records read = stored + rejected (one record = one counted line).
        """
        import pyarrow as pa
        import pyarrow.parquet as pq

        from ..changes.store import store
        from ..changes.markers import read_marker_file
        from .normalise import REJECT_COLUMNS

        read = read_marker_file(path)
        store(self.lake, read.changes, locked=True)
        segment_id = content_hash[:16]
        parts: dict[str, list[str]] = {}
        if read.rejects:
            staging = self.lake.staging_dir(f"markers-{segment_id}")
            rows = [{"file_id": segment_id, "source_file": label, "line_no": r.line_no, "lines": 1,
                     "reason": f"marker {r.reason}", "excerpt": r.excerpt} for r in read.rejects]
            types = {"VARCHAR": pa.string(), "BIGINT": pa.int64()}
            schema = pa.schema([(c, types[t]) for c, t in REJECT_COLUMNS.items()])
            (staging / "rejects").mkdir()
            pq.write_table(pa.Table.from_pylist(rows, schema=schema), staging / "rejects" / f"part-{segment_id}-markers.parquet",
                           compression="zstd")
            parts["rejects"] = self.lake.publish(staging, "rejects")
            shutil.rmtree(staging, ignore_errors=True)
        result.format = f"markers:{fmt}"
        result.lines_read, result.stored, result.rejected = read.read, len(read.changes), len(read.rejects)
        for r in read.rejects:
            reason = f"bad marker {r.field}"
            self.summary.rejected_by_reason[reason] = self.summary.rejected_by_reason.get(reason, 0) + 1
        manifest = self.lake.read_manifest()
        manifest.segments.append(Segment(
            segment_id=segment_id, path=label, start_byte=0, end_byte=size, prefix_hash=content_hash,
            fingerprint=fingerprint,
            first_line=1, lines=result.lines_read, format=result.format, stored=result.stored,
            rejected=result.rejected, parts=parts, ingested_at=now_iso()))
        self.lake.write_manifest(manifest)

    # --- batches -------------------------------------------------------------
    def _run(self, batches, parser: Parser, staging: Path, segment_id: str, reasons: dict[str, int]) -> tuple[int, int]:
        stored = rejected = 0
        for seq, batch in enumerate(batches):
            s, r = self._write_batch(batch, parser, staging, f"{segment_id}-{seq}", reasons)
            stored += s
            rejected += r
        return stored, rejected

    def _copy(self, select: str, dest: Path, name: str, partitioned: bool, constants: dict[str, str] | None = None) -> int:
        return write_query(self.con, select, dest, name, "date" if partitioned else None, constants=constants)

    def _write_batch(self, batch: Batch, parser: Parser, staging: Path, name: str, reasons: dict[str, int]) -> tuple[int, int]:
        norm = normalise_sql(batch.relation, parser.family, self.rules, self.options)
        constants = {"source": parser.family, **self.file_constants}
        cols = ", ".join(c for c in STORED_COLUMNS if c not in constants)
        if batch.direct:
            try:
                n = self._copy(f"SELECT {cols} FROM ({norm}) WHERE _reject IS NULL", staging / "requests", name, True, constants)
            except duckdb.Error as exc:
                # The CSV reader gives up on some inputs (e.g. a stray \r at a
                # line start); the regex path reads them line by line.
                raise FallBack(f"CSV reader failed: {redact(str(exc).splitlines()[0])}") from None
            batch.stored = n
            return n, 0
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE norm AS {norm}")
        for table in ("requests", "events"):  # a table with no rows gets no file
            self._copy(f"SELECT {cols} FROM norm WHERE _reject IS NULL AND _table = '{table}'", staging / table, name, True,
                       constants)
        stored = self.con.execute("SELECT coalesce(sum(_n_lines), 0) FROM norm WHERE _reject IS NULL").fetchall()[0][0]
        rows = self.con.execute(
            "SELECT _reject, sum(_n_lines) FROM norm WHERE _reject IS NOT NULL GROUP BY 1"
        ).fetchall()
        for reason, n in rows:
            reasons[reason] = reasons.get(reason, 0) + int(n)
        rejected = sum(int(n) for _, n in rows)
        if rejected:
            self._copy(
                "SELECT file_id, source_file, line_no, _n_lines AS lines, _reject AS reason, _excerpt AS excerpt "
                "FROM norm WHERE _reject IS NOT NULL",
                staging / "rejects",
                name,
                False,
            )
        batch.stored, batch.rejected = int(stored), rejected
        return int(stored), rejected

    def _write_blank_rejects(self, blanks: list[int], staging: Path, segment_id: str) -> None:
        self.con.execute("CREATE OR REPLACE TEMP TABLE blanks (line_no BIGINT)")
        self.con.executemany("INSERT INTO blanks VALUES (?)", [(b,) for b in blanks])
        self._copy(
            "SELECT getvariable('sl_file_id') AS file_id, getvariable('sl_source_file') AS source_file, "
            "line_no, 1 AS lines, 'blank line' AS reason, '' AS excerpt FROM blanks",
            staging / "rejects",
            f"{segment_id}-blank",
            False,
        )


def _remove_raw_leftovers(lake: Lake) -> None:
    """Deletes raw input a killed run left in staging (stdin copies, unwrapped or ranged copies)."""
    staging = lake.root / "_staging"
    if not staging.exists():
        return
    for leftover in list(staging.glob("stdin-*.log")) + list(staging.glob("input-*")):
        if leftover.is_dir():
            shutil.rmtree(leftover, ignore_errors=True)
        else:
            leftover.unlink(missing_ok=True)


def file_year(path: Path) -> int:
    """The year of a file's last modification: the year of its year-less times."""
    from datetime import datetime, timezone

    return datetime.fromtimestamp(path.stat().st_mtime, timezone.utc).year


def _coverage_warnings(coverage: dict, stored: int, parser: Parser | None) -> list[dict]:
    """A warning when a file holds no session signal at all."""
    if not stored or not coverage or parser is None:
        return []
    if coverage["session_cookie"] == 0 and coverage["user_key"] == 0 and coverage["session_errors"] == 0:
        return [IngestWarning(
            "no session cookie, user or session-error rule in any stored row: this file cannot show session problems",
            stored, "log the session cookie (e.g. \"$cookie_NAME\" or %{NAME}C) or pass --session-cookie NAME",
        ).as_dict()]
    return []


def preview(
    path: str | Path,
    *,
    fmt: str | None = None,
    nginx_format: str | None = None,
    apache_format: str | None = None,
    json_map: str | None = None,
    rules_file: str | Path | None = None,
    options: FieldOptions | None = None,
):
    """Parses a file without a lake and returns its records as a Polars frame.

    Every record comes back, with ``_reject`` saying why it would not be
    stored (e.g. no timestamp). Hashes use a throwaway key, so they match
    nothing in any lake. Meant for checking a format on a sample file.
    """
    import tempfile

    path = Path(path)
    ensure_readable(path)
    with tempfile.TemporaryDirectory(prefix="sessionlens-preview-") as tmp:
        wrapper = detect_wrapper(head_lines(path))
        if wrapper:
            path = unwrap(path, wrapper, Path(tmp) / "lines.log")
        return _preview(path, build_parser(fmt, nginx_format, apache_format, json_map) or detect(head_lines(path)),
                        rules_file, options)


def _preview(path: Path, parser: Parser, rules_file, options: FieldOptions | None):
    import secrets

    import polars as pl

    rules = load_rules(rules_file)
    options = options or FieldOptions()
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET VARIABLE sl_key = $k", {"k": secrets.token_hex(32)})
    con.execute("SET VARIABLE sl_file_id = 'preview'")
    con.execute("SET VARIABLE sl_source_file = $v", {"v": str(path)})
    lines, _ = count_lines(path, find_blanks=False)
    job = FileJob(path, 0, 1, lines, options)
    frames = []

    def collect(batches):
        for batch in batches:
            frame = con.sql(normalise_sql(batch.relation, parser.family, rules, options)).pl()
            batch.stored = frame.height
            frames.append(frame)

    try:
        collect(parser.batches(con, job))
    except FallBack:
        frames.clear()
        collect(parser.slow_batches(con, job))
    con.close()
    if not frames:
        return pl.DataFrame()
    return pl.concat(frames, how="diagonal_relaxed").sort("line_no", nulls_last=True)


def ingest(
    lake: str | Path,
    paths: Iterable[str],
    *,
    fmt: str | None = None,
    nginx_format: str | None = None,
    apache_format: str | None = None,
    json_map: str | None = None,
    rules_file: str | Path | None = None,
    options: FieldOptions | None = None,
    progress: ProgressFn | None = None,
    stdin=None,
    chunk_bytes: int = 32 << 20,
    allow_rejects: bool = False,
    exclude: Iterable[str | Path] = (),
) -> IngestSummary:
    """Ingests files into a lake (created if missing) and returns the summary.

    Args:
        lake: the lake directory.
        paths: files, directories, globs, or '-' for standard input.
        fmt: a format name from ``sessionlens formats``; default: detect.
        nginx_format / apache_format: a log_format / LogFormat string.
        json_map: ``ts=time,status=code,...`` for JSON lines.
        rules_file: TOML rules added to (or overriding) the defaults.
        options: how fields map to columns (session cookie name, headers...).
        progress: called with (file label, bytes done) after each file.
        stdin: a binary stream to read for '-' (default: sys.stdin).
        chunk_bytes: batch size for the chunked parsers.
        allow_rejects: store a file even when nearly all its lines are
            rejected (by default such a file stores nothing and fails: its
            format is most likely wrong, and a later run can read it).
        exclude: directories whose files a directory input leaves out (the
            lake's own directory always is).

    Raises:
        InputError: a path does not exist or an option is invalid.
        LakeLockedError: another run holds the lake.
    """
    started = time.perf_counter()
    files = expand_inputs(paths, [Path(lake), *map(Path, exclude)])  # never the lake's own files
    parser = build_parser(fmt, nginx_format, apache_format, json_map)
    rules = load_rules(rules_file)
    lake_obj = Lake(lake, create=True)
    with lake_obj.writer():
        _remove_raw_leftovers(lake_obj)
        ingestor = Ingestor(lake_obj, parser, rules, options or FieldOptions(), progress, chunk_bytes, allow_rejects)
        for name, named in files:
            if name == "-":
                staged = lake_obj.root / "_staging" / f"stdin-{os.getpid()}.log"
                staged.parent.mkdir(parents=True, exist_ok=True)
                stage_stdin(staged, stdin)
                ingestor.ingest_file(staged, STDIN_LABEL, final=True)
                staged.unlink(missing_ok=True)
            else:
                ingestor.ingest_file(Path(name), str(Path(name).resolve()), named)
            if progress:
                progress(name, Path(name).stat().st_size if name != "-" else 0)
        ingestor.con.close()
    summary = ingestor.summary
    summary.seconds = time.perf_counter() - started
    return summary


__all__ = ["IngestSummary", "FileResult", "ingest", "expand_paths", "build_parser", "SessionlensError"]
