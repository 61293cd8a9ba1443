"""`sessionlens ingest` and `sessionlens forget`: what goes into the lake."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from ..errors import InputError
from .common import console, engine_options, input_format_options, json_option, lake_option


@click.command()
@lake_option(created=True)
@input_format_options()
@click.option("--session-cookie", metavar="NAME",
              help="Session cookie name (default: *session, *sess, *sid, PHPSESSID).")
@click.option("--version-header", default="x-app-version", show_default=True,
              help="Response header with the app version.")
@click.option("--edge-header", default="x-edge-worker", show_default=True,
              help="Request header with the edge worker's verdict.")
@click.option("--client-ip-from", type=click.Choice(["remote_addr", "xff", "xff-last"]), default="remote_addr",
              show_default=True,
              help="Client address: the connecting address, the first X-Forwarded-For entry, or its last entry "
                   "that is not a private/loopback proxy. A layout that logs only the list uses its first entry.")
@click.option("--keep-raw-ips", is_flag=True,
              help="Also store client IPs unhashed, in `client_ip` (hashed only by default).")
@click.option("--year", type=int, metavar="YYYY",
              help="Year of timestamps that carry none (syslog); default: the file's modification year.")
@click.option("--not-before", metavar="TIME", help="Reject records dated before this (default: 1990-01-01).")
@click.option("--not-after", metavar="TIME", help="Reject records dated after this (default: one day after now).")
@click.option("--allow-rejects", is_flag=True,
              help="Store a file even if nearly all its lines are rejected (by default it stores nothing and fails).")
@engine_options("Where lines are parsed: DuckDB in this process, or Spark executors over a shared file system "
                "(files, and large plain files cut at line boundaries, become tasks; one commit at the end; "
                "docs/scale.md).")
@click.option("--split-mb", type=click.IntRange(min=1), default=128, show_default=True, metavar="MB",
              help="With --engine spark, plain files larger than this are cut into pieces of about this size.")
@json_option("Print the summary as one JSON object.")
@click.argument("paths", nargs=-1, required=True)
def ingest(lake, fmt, nginx_format, apache_format, json_map, rules_file, session_cookie, version_header, edge_header,
           client_ip_from, keep_raw_ips, year, not_before, not_after, allow_rejects, engine, spark_master, spark_conf,
           split_mb, as_json, paths):
    """Ingest log files into a lake.

    PATHS are files, directories, globs or '-' for standard input; .gz and
    .zst are read transparently. Ingesting a file twice adds nothing; a file
    that grew adds only its new lines. Lines that cannot be parsed are kept
    in the lake's `rejects` table with file, line number and reason.

    \b
    Examples:
      sessionlens ingest --lake lake/ access.log app.log
      sessionlens ingest --lake lake/ --nginx-format \\
        '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" $request_time $hostname $sent_http_x_app_version "$cookie__app_session"' \\
        /var/log/nginx/access.log
      zcat old.log.gz | sessionlens ingest --lake lake/ --format nginx-combined -
      sessionlens ingest --lake /shared/lake --engine spark --spark-master spark://head:7077 /shared/logs/
    """  # noqa: E501 - the example is a real nginx log_format, shown whole
    from ..ingestion.engine import expand_paths
    from ..ingestion.engine import ingest as run_ingest
    from ..ingestion.options import FieldOptions
    from ..lake.engines import parse_conf

    options = FieldOptions(
        session_cookie=session_cookie,
        version_header=version_header,
        edge_header=edge_header,
        client_ip_from=client_ip_from,
        keep_raw_ips=keep_raw_ips,
        year=year,
        not_before=not_before,
        not_after=not_after,
    )
    files = expand_paths(paths)
    with _Progress(files) as progress:
        summary = run_ingest(
            lake, paths, fmt=fmt, nginx_format=nginx_format, apache_format=apache_format, json_map=json_map,
            rules_file=rules_file, options=options, progress=progress, allow_rejects=allow_rejects,
            engine=engine, spark_master=spark_master, spark_conf=parse_conf(spark_conf), split_bytes=split_mb << 20,
        )
    if as_json:
        click.echo(json.dumps(summary.as_dict()))
    else:
        _print_summary(summary)
    if summary.failed:
        failed = summary.failed
        if len(failed) <= 2:
            why = "; ".join(f"{Path(f.path).name}: {f.message[:200]}" for f in failed)
        else:
            why = ", ".join(Path(f.path).name for f in failed[:5]) + (" ..." if len(failed) > 5 else "")
            why += " (the summary says why)"
        raise InputError(f"{len(failed)} file(s) could not be ingested: {why}")


class _Progress:
    """A rich progress bar over input bytes, on a terminal only."""

    def __init__(self, files: list[str]):
        self.files = files
        self.bar: Any = None  # a rich Progress, imported only on a terminal

    def __enter__(self):
        err = console(stderr=True)
        if not err.is_terminal:
            return None
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

        total = sum(Path(f).stat().st_size for f in self.files if f != "-")
        bar = self.bar = Progress(TextColumn("{task.description}"), BarColumn(), TransferSpeedColumn(),
                                  TimeRemainingColumn(), console=err, transient=True)
        bar.start()
        task = bar.add_task("ingesting", total=total or None)

        def advance(name: str, nbytes: int) -> None:
            bar.update(task, advance=nbytes, description=f"ingesting {Path(name).name}")

        return advance

    def __exit__(self, *exc):
        if self.bar:
            self.bar.stop()
        return False


def _share(x: float | None) -> str:
    return "-" if x is None else f"{x:.0%}"


def _print_summary(summary) -> None:
    from rich.table import Table

    d = summary.as_dict()
    out = console(wide_when_piped=True)
    table = Table(title="ingest summary", show_header=True, header_style="bold")
    for col in ("file", "format", "status", "lines", "stored", "rejected", "session", "user", "latency", "errors"):
        text = col in ("file", "format")
        table.add_column(col, justify="left" if col in ("file", "format", "status") else "right",
                         overflow="fold" if text else "ellipsis", no_wrap=not text, min_width=10 if text else None)
    notes = []
    for f in summary.files:
        cov = f.coverage or {}
        if f.message:
            notes.append((Path(f.path).name, f.status,
                          f.message if len(f.message) <= 200 else f.message[:197] + "..."))
        table.add_row(Path(f.path).name, f.format or "-", f.status,
                      f"{f.lines_read:,}", f"{f.stored:,}", f"{f.rejected:,}",
                      _share(cov.get("session_cookie")), _share(cov.get("user_key")), _share(cov.get("latency")),
                      f"{cov['session_errors']:,}" if cov else "-")
    out.print(table)
    for name, status, message in notes:
        out.print(f"  {name} {status}: {message}", markup=False, highlight=False)
    out.print("[dim]session, user, latency: share of stored rows carrying a session cookie, a user, a latency; "
              "errors: rows matching a session-error rule[/dim]")
    rate = d["lines_read"] / d["seconds"] if d["seconds"] else 0
    out.print(f"{d['files']} file(s), {d['lines_read']:,} lines read, {d['stored']:,} stored, "
              f"{d['rejected']:,} rejected in {d['seconds']:.2f}s ({rate:,.0f} lines/s)")
    for reason, n in d["rejected_by_reason"].items():
        out.print(f"  rejected: {n:,} × {reason}", markup=False, highlight=False)
    for w in d["warnings"]:
        fix = f" (fix: {w['fix']})" if w["fix"] else ""
        out.print(f"  [yellow]warning[/yellow] {Path(w['file']).name}: {w['lines']:,} line(s): {w['what']}{fix}",
                  highlight=False)


@click.command()
@lake_option()
@click.option("--segment", "segments", multiple=True, metavar="ID", help="A segment id (the `file_id` column).")
@json_option("Print what was removed as JSON.")
@click.argument("files", nargs=-1)
def forget(lake, segments, as_json, files):
    """Remove what FILES (or segments) put in the lake, so they can be ingested again.

    A file is found by the path it was ingested under and by its content, so
    a rotated copy is found under either name. The removal is atomic: a
    reader sees the lake before or after it, never between.

    \b
    Example: a log read with the wrong format, read again with the right one
      sessionlens forget --lake lake/ /var/log/nginx/access.log
      sessionlens ingest --lake lake/ --nginx-format "$(cat fmt.txt)" /var/log/nginx/access.log
      sessionlens forget --lake lake/ --segment 3f9c2b6b1a0e4d8c
    """
    from ..ingestion.forget import forget as run_forget

    result = run_forget(lake, list(files), list(segments))
    if as_json:
        click.echo(json.dumps(result.as_dict()))
    else:
        click.echo(f"removed {len(result.segments)} segment(s) of {', '.join(result.files)}: "
                   f"{result.rows:,} rows and {result.rejects:,} rejected lines")
