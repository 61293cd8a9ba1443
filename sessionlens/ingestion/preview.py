"""Parse a file without a lake, to check a format on a sample (``sessionlens preview``)."""

from __future__ import annotations

import secrets
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import duckdb
import polars as pl

from .containers import detect_wrapper, unwrap
from .formats import build_parser, detect
from .formats.base import Batch, FallBack, FileJob, Parser
from .normalise import normalise_sql
from .options import FieldOptions
from .reader import count_lines, ensure_readable, head_lines
from .rules import load_rules


def preview(
    path: str | Path,
    *,
    fmt: str | None = None,
    nginx_format: str | None = None,
    apache_format: str | None = None,
    json_map: str | None = None,
    rules_file: str | Path | None = None,
    options: FieldOptions | None = None,
) -> pl.DataFrame:
    """Parses a file without a lake and returns its records as a Polars frame.

    Every record comes back, with ``_reject`` saying why it would not be
    stored (e.g. no timestamp). Hashes use a throwaway key, so they match
    nothing in any lake. Meant for checking a format on a sample file.
    """
    return preview_file(path, fmt=fmt, nginx_format=nginx_format, apache_format=apache_format, json_map=json_map,
                        rules_file=rules_file, options=options).frame


@dataclass
class Preview:
    """A previewed file: the format it was read with, named as ``ingest`` names it, and its records."""

    format: str  # e.g. ``nginx-combined``, or ``docker-compose:nginx-combined`` behind a container wrapper
    frame: pl.DataFrame


def preview_file(
    path: str | Path,
    *,
    fmt: str | None = None,
    nginx_format: str | None = None,
    apache_format: str | None = None,
    json_map: str | None = None,
    rules_file: str | Path | None = None,
    options: FieldOptions | None = None,
) -> Preview:
    """:func:`preview`, with the name of the format used (what ``sessionlens preview`` prints)."""
    path = Path(path)
    ensure_readable(path)
    with tempfile.TemporaryDirectory(prefix="sessionlens-preview-") as tmp:
        wrapper = detect_wrapper(head_lines(path))
        if wrapper:
            path = unwrap(path, wrapper, Path(tmp) / "lines.log")
        parser = build_parser(fmt, nginx_format, apache_format, json_map) or detect(head_lines(path))
        name = (f"{wrapper}:" if wrapper else "") + parser.name  # as ingest names it
        return Preview(name, _preview(path, parser, rules_file, options))


def _preview(path: Path, parser: Parser, rules_file: str | Path | None, options: FieldOptions | None) -> pl.DataFrame:
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

    def collect(batches: Iterable[Batch]) -> None:
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
