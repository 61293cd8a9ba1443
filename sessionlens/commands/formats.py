"""`sessionlens formats` and `sessionlens preview`: which formats are read, and how a file reads."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import click

from .common import console, input_format_options, json_option

PREVIEW_HEAD_BYTES = 4 << 20  # a bigger file is previewed from its start: the rows shown are the first ones anyway
HIDDEN_IN_PREVIEW = ("date", "file_id", "source_file", "client_ip", "_table", "_n_lines")  # bookkeeping, raw IPs


@click.command()
@json_option("Print the formats as JSON.")
def formats(as_json):
    """List the log formats sessionlens reads, with a sample line each.

    Any nginx log_format or Apache LogFormat also works through
    --nginx-format / --apache-format; JSON lines take --json-map.

    \b
    Example:
      sessionlens formats
    """
    from ..ingestion.formats import load_specs

    specs = load_specs()
    if as_json:
        click.echo(json.dumps([{"name": s.name, "family": s.family, "description": s.description,
                                "template": s.template, "sample": s.samples[0].line if s.samples else None}
                               for s in specs], indent=1))
        return
    out = console()
    for s in specs:
        out.print(f"[bold]{s.name}[/bold]  ({s.family})  {s.description}", markup=True, highlight=False)
        if s.template:
            out.print(f"  template: {s.template}", markup=False, highlight=False)
        if s.samples:
            out.print(f"  sample:   {s.samples[0].line.splitlines()[0]}", markup=False, highlight=False)


@click.command()
@input_format_options()
@click.option("--lines", "n_lines", default=5, show_default=True, type=click.IntRange(min=1),
              help="How many parsed records to show.")
@json_option("Print the format and the records as one JSON object.")
@click.argument("file", type=click.Path(dir_okay=False))
def preview(fmt, nginx_format, apache_format, json_map, rules_file, n_lines, as_json, file):
    """Show how FILE reads: the format detected and its first records, parsed
    and normalised as the lake would store them, without a lake.

    Keys are hashed (with a throwaway key, so they match no lake), raw client
    IPs are not shown and cookies never are; a record that would be rejected
    says why, with a redacted excerpt. Use it to check a format before
    ingesting.

    \b
    Examples:
      sessionlens preview access.log
      sessionlens preview --format nginx-main --lines 20 access.log.gz
      sessionlens preview --json-map ts=time,status=code,session=sid app.jsonl --json
    """
    import polars as pl

    from ..ingestion.preview import preview_file

    path = Path(file)
    with tempfile.TemporaryDirectory(prefix="sessionlens-preview-") as tmp:
        sample = _head(path, Path(tmp))
        cut = sample != path
        previewed = preview_file(sample, fmt=fmt, nginx_format=nginx_format, apache_format=apache_format,
                                 json_map=json_map, rules_file=rules_file)
    frame, name = previewed.frame, previewed.format
    frame = frame.drop([c for c in HIDDEN_IN_PREVIEW if c in frame.columns])
    is_reject = pl.col("_reject").is_not_null() if "_reject" in frame.columns else pl.lit(False)
    stored = frame.filter(~is_reject).drop([c for c in ("_reject", "_excerpt") if c in frame.columns])
    rejects = frame.filter(is_reject)
    records = [{k: v for k, v in row.items() if v not in (None, "")} for row in stored.head(n_lines).to_dicts()]
    rejected = [{"line_no": r.get("line_no"), "reason": r.get("_reject"), "excerpt": r.get("_excerpt")}
                for r in rejects.head(n_lines).to_dicts()]
    if as_json:
        click.echo(json.dumps({"format": name, "read": frame.height, "rejected_total": rejects.height,
                               "records": records, "rejected": rejected}, default=_iso))
        return
    read = f"{frame.height:,} record(s) in its first {PREVIEW_HEAD_BYTES >> 20} MiB" if cut else f"{frame.height:,}"
    click.echo(f"{path}: {name}; {len(records)} of {read} record(s) shown, {rejects.height:,} would be rejected")
    for i, row in enumerate(records, 1):
        line = row.pop("line_no", None)
        click.echo(f"record {i}" + (f" (line {line})" if line else "") + ":")
        for key, value in row.items():
            click.echo(f"  {key}: {_iso(value)}")
    for r in rejected:
        click.echo(f"rejected: line {r['line_no']}: {r['reason']}: {r['excerpt']}")
    if rejects.height > len(rejected):
        click.echo(f"({rejects.height - len(rejected):,} more rejected)")


def _head(path: Path, tmp: Path) -> Path:
    """The file itself, or for a big one a copy of its start (same mtime: a year-less log takes its year)."""
    from ..ingestion.reader import ensure_readable, open_decompressed

    ensure_readable(path)
    if path.stat().st_size <= PREVIEW_HEAD_BYTES:
        return path
    dest = tmp / path.name.removesuffix(".gz").removesuffix(".zst")
    with open_decompressed(path) as src, open(dest, "wb") as out:
        out.write(src.read(PREVIEW_HEAD_BYTES))
    stat = path.stat()
    os.utime(dest, (stat.st_atime, stat.st_mtime))
    return dest


def _iso(value) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else str(value)

