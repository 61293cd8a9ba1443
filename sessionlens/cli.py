"""The sessionlens command line: a thin layer over the library.

Each command calls one library function; library errors become one-line
messages (click.ClickException) with a non-zero exit, never a traceback.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from . import __version__
from .errors import SessionlensError
from .ingestion.options import FieldOptions

err_console = Console(stderr=True)


def lake_option(created: bool = False):
    """The ``--lake`` option every command shares; ``SESSIONLENS_LAKE`` sets it for a whole shell."""
    return click.option("--lake", required=True, envvar="SESSIONLENS_LAKE", show_envvar=True,
                        type=click.Path(file_okay=False),
                        help="Lake directory" + (" (created if missing)." if created else "."))


INTERNAL_ERROR = 70  # EX_SOFTWARE: a bug, told apart from usage errors (2) and bad input (1)


def _fail(exc: Exception) -> click.ClickException:
    return click.ClickException(str(exc))


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="sessionlens")
def cli() -> None:
    """Find the change that broke users' sessions.

    Ingest access and app logs into a private Parquet lake, then ask when
    session errors spiked and which change most likely caused it.

    \b
    Start here:
      sessionlens demo --out demo-out          # sample incidents, end to end
      sessionlens ingest --lake lake/ /var/log/nginx/access.log*
      sessionlens sql --lake lake/ "SELECT count(*) FROM requests"
    """


# --- ingest ---------------------------------------------------------------


@cli.command()
@lake_option(created=True)
@click.option("--format", "fmt", metavar="NAME", help="A format from `sessionlens formats`; default: detect per file.")
@click.option("--nginx-format", metavar="LOG_FORMAT", help="An nginx log_format string (prefix 'escape=json ' if used).")
@click.option("--apache-format", metavar="LOGFORMAT", help="An Apache LogFormat string.")
@click.option("--json-map", metavar="MAP", help="JSON field names, e.g. ts=time,status=code,session=sid.")
@click.option("--rules", "rules_file", type=click.Path(dir_okay=False), help="TOML file of session-error rules to add or override.")
@click.option("--session-cookie", metavar="NAME", help="Session cookie name (default: *session, *sess, *sid, PHPSESSID).")
@click.option("--version-header", default="x-app-version", show_default=True, help="Response header with the app version.")
@click.option("--edge-header", default="x-edge-worker", show_default=True, help="Request header with the edge worker's verdict.")
@click.option("--client-ip-from", type=click.Choice(["remote_addr", "xff", "xff-last"]), default="remote_addr",
              show_default=True,
              help="Client address: the connecting address, the first X-Forwarded-For entry, or its last entry "
                   "that is not a private/loopback proxy. A layout that logs only the list uses its first entry.")
@click.option("--keep-raw-ips", is_flag=True, help="Also store client IPs unhashed, in `client_ip` (hashed only by default).")
@click.option("--year", type=int, metavar="YYYY",
              help="Year of timestamps that carry none (syslog); default: the file's modification year.")
@click.option("--not-before", metavar="TIME", help="Reject records dated before this (default: 1990-01-01).")
@click.option("--not-after", metavar="TIME", help="Reject records dated after this (default: one day after now).")
@click.option("--allow-rejects", is_flag=True,
              help="Store a file even if nearly all its lines are rejected (by default it stores nothing and fails).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object.")
@click.argument("paths", nargs=-1, required=True)
def ingest(lake, fmt, nginx_format, apache_format, json_map, rules_file, session_cookie, version_header, edge_header,
           client_ip_from, keep_raw_ips, year, not_before, not_after, allow_rejects, as_json, paths):
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
    """
    from .ingestion.engine import expand_paths, ingest as run_ingest

    try:
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
        with _progress(files) as progress:
            summary = run_ingest(
                lake, paths, fmt=fmt, nginx_format=nginx_format, apache_format=apache_format, json_map=json_map,
                rules_file=rules_file, options=options, progress=progress, allow_rejects=allow_rejects,
            )
    except SessionlensError as exc:
        raise _fail(exc) from None
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
        raise click.ClickException(f"{len(failed)} file(s) could not be ingested: {why}")


class _progress:
    """A rich progress bar over input bytes, on a terminal only."""

    def __init__(self, files: list[str]):
        self.files = files
        self.bar = None

    def __enter__(self):
        if not err_console.is_terminal:
            return None
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

        total = sum(Path(f).stat().st_size for f in self.files if f != "-")
        self.bar = Progress(TextColumn("{task.description}"), BarColumn(), TransferSpeedColumn(),
                            TimeRemainingColumn(), console=err_console, transient=True)
        self.bar.start()
        task = self.bar.add_task("ingesting", total=total or None)

        def advance(name: str, nbytes: int) -> None:
            self.bar.update(task, advance=nbytes, description=f"ingesting {Path(name).name}")

        return advance

    def __exit__(self, *exc):
        if self.bar:
            self.bar.stop()
        return False


def _share(x: float | None) -> str:
    return "-" if x is None else f"{x:.0%}"


def _print_summary(summary) -> None:
    d = summary.as_dict()
    console = Console()
    if not console.is_terminal:  # piped or captured: no terminal width to fit, keep rows whole
        console = Console(width=160)
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
    console.print(table)
    for name, status, message in notes:
        console.print(f"  {name} {status}: {message}", markup=False, highlight=False)
    console.print("[dim]session, user, latency: share of stored rows carrying a session cookie, a user, a latency; "
                  "errors: rows matching a session-error rule[/dim]")
    rate = d["lines_read"] / d["seconds"] if d["seconds"] else 0
    console.print(f"{d['files']} file(s), {d['lines_read']:,} lines read, {d['stored']:,} stored, "
                  f"{d['rejected']:,} rejected in {d['seconds']:.2f}s ({rate:,.0f} lines/s)")
    for reason, n in d["rejected_by_reason"].items():
        console.print(f"  rejected: {n:,} × {reason}", markup=False, highlight=False)
    for w in d["warnings"]:
        fix = f" (fix: {w['fix']})" if w["fix"] else ""
        console.print(f"  [yellow]warning[/yellow] {Path(w['file']).name}: {w['lines']:,} line(s): {w['what']}{fix}",
                      highlight=False)


# --- forget ------------------------------------------------------------------


@cli.command()
@lake_option()
@click.option("--segment", "segments", multiple=True, metavar="ID", help="A segment id (the `file_id` column).")
@click.option("--json", "as_json", is_flag=True, help="Print what was removed as JSON.")
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
    from .ingestion.forget import forget as run_forget

    try:
        result = run_forget(lake, list(files), list(segments))
    except SessionlensError as exc:
        raise _fail(exc) from None
    if as_json:
        click.echo(json.dumps(result.as_dict()))
    else:
        click.echo(f"removed {len(result.segments)} segment(s) of {', '.join(result.files)}: "
                   f"{result.rows:,} rows and {result.rejects:,} rejected lines")


# --- formats ---------------------------------------------------------------


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the formats as JSON.")
def formats(as_json):
    """List the log formats sessionlens reads, with a sample line each.

    Any nginx log_format or Apache LogFormat also works through
    --nginx-format / --apache-format; JSON lines take --json-map.

    \b
    Example:
      sessionlens formats
    """
    from .ingestion.formats import load_specs

    specs = load_specs()
    if as_json:
        click.echo(json.dumps([{"name": s.name, "family": s.family, "description": s.description,
                                "template": s.template, "sample": s.samples[0].line if s.samples else None}
                               for s in specs], indent=1))
        return
    console = Console()
    for s in specs:
        console.print(f"[bold]{s.name}[/bold]  ({s.family})  {s.description}", markup=True, highlight=False)
        if s.template:
            console.print(f"  template: {s.template}", markup=False, highlight=False)
        if s.samples:
            console.print(f"  sample:   {s.samples[0].line.splitlines()[0]}", markup=False, highlight=False)


# --- sql ---------------------------------------------------------------------


@cli.command()
@lake_option()
@click.option("--format", "out_format", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
@click.option("--limit", default=100, show_default=True, help="Rows shown in table format (0: all).")
@click.option("--unsafe", is_flag=True,
              help="Lift the sandbox: full DuckDB (any file, COPY TO, ATTACH, INSTALL/LOAD, SET, writes), "
                   "including the lake's hashing key. See docs/sql.md.")
@click.argument("query")
def sql(lake, out_format, limit, unsafe, query):
    """Run DuckDB SQL over the lake's views, read-only.

    Views: requests, events, rejects, changes (see docs/schema.md). The query
    can read the lake's committed Parquet files and nothing else: no other
    file (not the hashing key), no COPY ... TO, ATTACH, INSTALL/LOAD, EXPORT,
    PRAGMA, SET or writes; only SELECT and EXPLAIN (docs/sql.md). --unsafe
    lifts all of that.

    \b
    Examples:
      sessionlens sql --lake lake/ "SELECT cookie_format, count(*) FROM requests GROUP BY 1"
      sessionlens sql --lake lake/ --format csv "SELECT * FROM rejects" > rejects.csv
    """
    from .lake.store import Lake, query_error

    if unsafe:
        click.echo("warning: --unsafe: this query runs with DuckDB's full access to files, network, "
                   "extensions and settings, and can read the lake's hashing key", err=True)
    try:
        rel = Lake(lake).sql(query, unsafe=unsafe)
        frame = rel.pl() if rel is not None else None
    except SessionlensError as exc:
        raise _fail(exc) from None
    except Exception as exc:  # DuckDB errors raised while fetching rows; anything else, still one line
        import duckdb

        if isinstance(exc, duckdb.Error):
            raise _fail(query_error(exc)) from None
        raise click.ClickException(f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from None
    if frame is None:  # a statement without rows (SET, ATTACH... with --unsafe)
        return
    if out_format == "csv":
        click.echo(frame.write_csv(), nl=False)
    elif out_format == "json":
        click.echo(frame.write_json())
    else:
        _print_frame(frame, limit)


def _print_frame(frame, limit: int) -> None:
    table = Table(show_header=True, header_style="bold")
    for col in frame.columns:
        table.add_column(col)
    shown = frame if not limit else frame.head(limit)
    for row in shown.iter_rows():
        table.add_row(*["" if v is None else str(v) for v in row])
    console = Console()
    console.print(table)
    if limit and frame.height > limit:
        console.print(f"({frame.height - limit:,} more rows; use --limit 0 or --format csv)")


# --- changes -------------------------------------------------------------------


@cli.group()
def changes():
    """Record what changed: import marker files, add one by hand, list or remove them.

    \b
    Examples:
      sessionlens changes import --lake lake/ deploys.jsonl grafana.json cloudflare_audit.json
      sessionlens changes add --lake lake/ --at 2023-09-19T16:09:00Z --kind deploy \\
        --label "v1.41.0 canary" --scope host=web07
      sessionlens changes list --lake lake/
      sessionlens changes remove --lake lake/ deploy-1041
    """


@changes.command("import")
@lake_option()
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.argument("paths", nargs=-1, required=True)
def changes_import(lake, as_json, paths):
    """Import marker files: sessionlens JSON lines or CSV, Grafana annotations,
    Honeycomb markers, Cloudflare audit logs (v1 and v2). Ids already in the
    lake are skipped, so importing twice adds nothing.

    \b
    Example:
      sessionlens changes import --lake lake/ markers/*.json markers/deploys.jsonl
    """
    from .changes.store import import_markers

    try:
        result = import_markers(lake, list(paths))
    except SessionlensError as exc:
        raise _fail(exc) from None
    if as_json:
        click.echo(json.dumps(result))
        return
    click.echo(f"{result['read']} marker(s) read, {result['added']} added, "
               f"{len(result['skipped_existing'])} already there, {len(result['rejected'])} rejected")
    for problem in result["rejected"]:
        click.echo(f"  rejected: {problem}", err=True)


@changes.command("add")
@lake_option()
@click.option("--at", "at", required=True, metavar="TIME",
              help="When it began: 2023-09-19T16:09:00Z, epoch seconds, now, 10m ago (as analyze --since).")
@click.option("--end", metavar="TIME", help="When a rollout ended (same syntax).")
@click.option("--tz", metavar="ZONE", help="Time zone (IANA) of --at/--end given without an offset (default: UTC).")
@click.option("--kind", required=True, help="deploy, rollback, config, feature_flag, cookie, edge_worker, cache, session_store, maintenance or other.")
@click.option("--label", required=True, help="What changed, in a few words.")
@click.option("--scope", multiple=True, help="key=value, e.g. host=web07 or hosts=web01,web02 (repeatable).")
@click.option("--id", "change_id", help="An id (default: manual-<time>-<kind>).")
def changes_add(lake, at, end, kind, label, scope, change_id, tz):
    """Record one change by hand.

    \b
    Examples:
      sessionlens changes add --lake lake/ --at 2023-09-19T16:09:00Z --kind deploy --label "canary" --scope host=web07
      sessionlens changes add --lake lake/ --at now --kind feature_flag --label "new login page"
    """
    from .changes.store import add_change
    from .timeparse import parse_time

    try:
        at_t = parse_time(at, tz=tz, what="--at")
        end_t = parse_time(end, tz=tz, what="--end")
        change = add_change(lake, at_t.isoformat(), kind, label, list(scope), change_id,
                            end_t.isoformat() if end_t else None)
    except SessionlensError as exc:
        raise _fail(exc) from None
    click.echo(f"added {change.id}")


@changes.command("remove")
@lake_option()
@click.argument("ids", nargs=-1, required=True)
def changes_remove(lake, ids):
    """Remove written changes (imported or added) by id: all of them or none.
    Inferred changes (inferred:...) are recomputed from the logs on every
    analysis and cannot be removed. Importing the marker file again adds a
    removed change back.

    \b
    Example:
      sessionlens changes remove --lake lake/ deploy-1041 canary-1
    """
    from .changes.store import remove_changes

    try:
        removed = remove_changes(lake, list(ids))
    except SessionlensError as exc:
        raise _fail(exc) from None
    click.echo(f"removed {len(removed)} change(s): {', '.join(removed)}")


@changes.command("list")
@lake_option()
@click.option("--json", "as_json", is_flag=True, help="Print the changes as JSON.")
@click.option("--all", "show_all", is_flag=True, help="Also list inferred changes that match a written one.")
def changes_list(lake, as_json, show_all):
    """List written and inferred changes, oldest first. An inferred change
    (id inferred:...) that matches a written one is folded into it unless --all.

    \b
    Example:
      sessionlens changes list --lake lake/
    """
    from .changes.store import all_changes
    from .lake.store import Lake

    try:
        found = all_changes(Lake(lake))
    except SessionlensError as exc:
        raise _fail(exc) from None
    shown = [c for c in found if show_all or not c.linked_to]
    if as_json:
        click.echo(json.dumps([c.as_json() for c in shown], default=str))
        return
    table = Table(show_header=True, header_style="bold")
    for col in ("at", "id", "kind", "label", "origin"):
        table.add_column(col)
    for c in shown:
        label = c.label + (f" (= {c.linked_to})" if c.linked_to else "")
        table.add_row(c.at.strftime("%Y-%m-%d %H:%M"), c.id, c.kind, label, c.origin)
    Console().print(table)


# --- analyze --------------------------------------------------------------------


@cli.command()
@lake_option()
@click.option("--json", "as_json", is_flag=True, help="Print the analysis document (spec/analysis-json.md).")
@click.option("--since", metavar="TIME",
              help="Start of the window reported (default: the lake's first request). The baseline also "
                   "draws on up to 7 days before it.")
@click.option("--until", metavar="TIME", help="End of the window (default: the lake's last request).")
@click.option("--tz", metavar="ZONE",
              help="Time zone (IANA, e.g. Europe/Berlin) of times given without an offset, of today/yesterday, "
                   "and of the terminal text (default: UTC; the JSON stays UTC).")
@click.option("--bucket", "bucket_seconds", type=click.IntRange(min=1), help="Bucket size in seconds (default: from traffic).")
@click.option("--fail-on", "fail_on", type=click.Choice(["spike"]), help="Exit 3 when a spike was found.")
def analyze(lake, as_json, since, until, tz, bucket_seconds, fail_on):
    """Find spikes in the session-error rate and the changes most likely behind them.

    For each spike: when it began (onset) and ended, how big it is, every
    change around it ranked with evidence (causes before the onset, responses
    after it with their effect), and where the errors concentrate.

    TIME: ISO 8601 (2023-09-19T16:00:00Z, 2023-09-19 18:00+02:00; without an
    offset: UTC or --tz), epoch seconds or milliseconds, now, today,
    yesterday, 16:00, 2h ago, 30m, 1d, 1w (docs/analysis.md).

    \b
    Exit codes:
      0  analysed: a spike or none (the verdict says which)
      1  bad input: unreadable time or zone, no lake
      2  usage error: an unknown or missing option
     70  internal error (a bug: SESSIONLENS_DEBUG=1 shows the traceback)
      3  a spike was found and --fail-on spike was given
      4  cannot judge: no-signal (requests, but no session cookie, user or
         session-error rule match) or no-data (no requests in the window)

    \b
    Examples:
      sessionlens analyze --lake lake/
      sessionlens analyze --lake lake/ --json > analysis.json
      sessionlens analyze --lake lake/ --since 2023-09-19T12:00:00Z --fail-on spike
      sessionlens analyze --lake lake/ --since "2h ago" --tz Europe/Berlin
    """
    from .analysis.pipeline import analyze as run_analyze

    try:
        result = run_analyze(lake, since, until, bucket_seconds, tz=tz)
    except SessionlensError as exc:
        raise _fail(exc) from None
    if as_json:
        click.echo(json.dumps(result.to_json(), indent=1))
    else:
        from .report.terminal import print_summary

        print_summary(result, Console())
    if fail_on == "spike" and result.spikes:
        sys.exit(3)
    if result.verdict in ("no-signal", "no-data"):
        sys.exit(4)


# --- report ---------------------------------------------------------------------


@cli.command()
@lake_option()
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Report file (.html, .md or .json).")
@click.option("--format", "fmt", type=click.Choice(["html", "md", "json"]), help="Default: from --out's suffix.")
@click.option("--since", metavar="TIME", help="Start of the window (default: the lake's first request); "
                                             "same syntax as analyze --since.")
@click.option("--until", metavar="TIME", help="End of the window (default: the lake's last request).")
@click.option("--tz", metavar="ZONE", help="Time zone (IANA) of times without an offset and of the report's text "
                                           "(default: UTC; the JSON stays UTC).")
def report(lake, out, fmt, since, until, tz):
    """Write the analysis as a report: one self-contained HTML file (opens
    offline, charts included), Markdown with PNG charts beside it, or the
    JSON of `analyze --json`.

    Exits 4 (after writing the report) when the window cannot be judged:
    no requests in it, or none showing a session (the report says which).

    \b
    Examples:
      sessionlens report --lake lake/ --out incident.html
      sessionlens report --lake lake/ --out postmortem.md
      sessionlens report --lake lake/ --out today.html --since today --tz Europe/Berlin
    """
    from .analysis.pipeline import analyze as run_analyze
    from .report import prepare_out, write_report

    try:
        out, fmt = prepare_out(out, fmt)  # a bad --out fails before the analysis, not after it
        analysis = run_analyze(lake, since, until, tz=tz)
        path = write_report(lake, out, fmt, analysis=analysis)
    except SessionlensError as exc:
        raise _fail(exc) from None
    click.echo(str(path))
    if analysis.verdict in ("no-signal", "no-data"):
        # the report is written and says so; the exit code tells a scheduler it is no all-clear
        click.echo(f"{analysis.verdict}: {analysis.verdict_detail()}", err=True)
        sys.exit(4)


# --- nightly --------------------------------------------------------------------


@cli.command()
@click.option("--inbox", required=True, type=click.Path(file_okay=False), help="Folder where logs and markers land.")
@lake_option(created=True)
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Folder for the dated reports, latest.html, index.html.")
@click.option("--until", help="End of the night (default: the newest event in the lake).")
@click.option("--fail-on", "fail_on", type=click.Choice(["spike", "anomaly"]), help="Exit 3 when this was found.")
@click.option("--webhook", metavar="URL", help="POST a short JSON summary ({\"text\": ...}, Slack-compatible).")
@click.option("--webhook-timeout", "webhook_timeout", default=30.0, show_default=True, metavar="SECONDS",
              type=click.FloatRange(min=0, min_open=True),
              help="Total deadline of the webhook post, retries included.")
def nightly(inbox, lake, out, until, fail_on, webhook, webhook_timeout):
    """The scheduled job: ingest what is new, analyse the last 24 hours
    against the history, write reports, print one line per finding.

    Safe to run from cron: a lock keeps two runs apart, a killed run is
    completed by the next, nothing is counted twice. See docs/nightly.md for
    a crontab line and a systemd timer.

    \b
    Exit codes:
      0  analysed (or no new data since the last run)
      3  --fail-on matched
      4  cannot judge the night: no requests in it, or none showing a session

    \b
    Example:
      sessionlens nightly --inbox /var/log/incoming --lake /srv/sessionlens/lake \\
        --out /srv/sessionlens/reports --fail-on anomaly
    """
    from .nightly import run_nightly

    try:
        result = run_nightly(inbox, lake, out, until, webhook, webhook_timeout=webhook_timeout)
    except SessionlensError as exc:
        raise _fail(exc) from None
    for line in result.lines():
        click.echo(line)
    if result.report:
        click.echo(f"report: {result.report}", err=True)
    if result.webhook_error:
        click.echo(f"warning: {result.webhook_error}", err=True)
    if result.summary.failed:
        click.echo(f"warning: {len(result.summary.failed)} file(s) in the inbox could not be ingested: "
                   + "; ".join(f"{f.path}: {f.message}" for f in result.summary.failed), err=True)
    code = result.exit_code(fail_on)
    if code:
        sys.exit(code)


# --- demo ----------------------------------------------------------------------


@cli.command()
@click.option("--out", default="demo-out", show_default=True, type=click.Path(file_okay=False),
              help="Directory for the sample logs, the lake and the report.")
@click.option("--seed", default=7, show_default=True, help="Seed of the sample generator.")
@click.option("--scale", default=1.0, show_default=True, help="Traffic multiplier (1.0 = small and quick).")
def demo(out, seed, scale):
    """Generate the three sample incidents and run sessionlens on them.

    Writes OUT/logs/<incident>/ (logs, markers, ground truth), ingests each
    incident (logs and markers) into OUT/lakes/<incident>/, prints what it
    found, and writes the archive incident's report to OUT/report-archive.html.

    \b
    Example:
      sessionlens demo --out demo-out
    """
    from .demo import run_demo

    try:
        run_demo(Path(out), seed=seed, scale=scale, console=Console())
    except SessionlensError as exc:
        raise _fail(exc) from None


def main() -> None:
    """Entry point of the console script.

    Unexpected errors become one line on stderr (exit 70, EX_SOFTWARE, so a
    scheduler can tell a bug from a usage error, 2); set SESSIONLENS_DEBUG=1
    to see the traceback.
    """
    import os

    try:
        cli(standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(1)
    except KeyboardInterrupt:  # pragma: no cover
        sys.exit(130)
    except Exception as exc:  # noqa: BLE001 - the last line of defence
        if os.environ.get("SESSIONLENS_DEBUG"):
            raise
        from .privacy import redact

        first = redact(str(exc).splitlines()[0]) if str(exc) else ""
        click.echo(f"Error: internal error: {type(exc).__name__}: {first} (SESSIONLENS_DEBUG=1 shows the traceback)", err=True)
        sys.exit(INTERNAL_ERROR)
