"""`sessionlens analyze` and `sessionlens report`: the analysis, printed or written."""

from __future__ import annotations

import json
import sys

import click

from ..errors import EXIT_CANNOT_JUDGE, EXIT_FINDINGS
from .common import console, deprecated_alias, engine_options, json_option, lake_option, open_engine, window_options

REPORT_TYPES = ["html", "md", "json"]
CANNOT_JUDGE = ("no-signal", "no-data")


@click.command()
@lake_option()
@json_option("Print the analysis document (spec/analysis-json.md).")
@window_options(since_help="Start of the window reported (default: the lake's first request). The baseline also "
                           "draws on up to 7 days before it.")
@click.option("--bucket", "bucket_seconds", type=click.IntRange(min=1),
              help="Bucket size in seconds (default: from traffic).")
@click.option("--fail-on", "fail_on", type=click.Choice(["spike"]), help="Exit 3 when a spike was found.")
@engine_options()
def analyze(lake, as_json, since, until, tz, bucket_seconds, fail_on, engine, spark_master, spark_conf):
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
      3  a spike was found and --fail-on spike was given
      4  cannot judge: no-signal (requests, but no session cookie, user or
         session-error rule match) or no-data (no requests in the window)
     70  internal error (a bug: SESSIONLENS_DEBUG=1 shows the traceback)

    \b
    Examples:
      sessionlens analyze --lake lake/
      sessionlens analyze --lake lake/ --json > analysis.json
      sessionlens analyze --lake lake/ --since 2023-09-19T12:00:00Z --fail-on spike
      sessionlens analyze --lake lake/ --since "2h ago" --tz Europe/Berlin
      sessionlens analyze --lake /shared/lake/ --engine spark --spark-master spark://head:7077
    """
    from ..analysis.pipeline import analyze as run_analyze

    queries = open_engine(lake, engine, spark_master, spark_conf)  # None: DuckDB, opened by the analysis
    chosen = {"engine": queries} if queries else {}
    result = run_analyze(lake, since, until, bucket_seconds, tz=tz, **chosen)
    if as_json:
        click.echo(json.dumps(result.to_json(), indent=1))
    else:
        from ..report.terminal import print_summary

        print_summary(result, console())
    if fail_on == "spike" and result.spikes:
        sys.exit(EXIT_FINDINGS)
    if result.verdict in CANNOT_JUDGE:
        sys.exit(EXIT_CANNOT_JUDGE)


@click.command()
@lake_option()
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Report file (.html, .md or .json).")
@click.option("--type", "report_type", type=click.Choice(REPORT_TYPES), help="Default: from --out's suffix.")
@deprecated_alias("--format", "legacy_type", REPORT_TYPES)
@window_options()
@engine_options()
def report(lake, out, report_type, legacy_type, since, until, tz, engine, spark_master, spark_conf):
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
    from ..analysis.pipeline import analyze as run_analyze
    from ..lake.store import Lake
    from ..report import prepare_out, write_report

    out, fmt = prepare_out(out, report_type or legacy_type)  # a bad --out fails before the analysis, not after it
    the_lake = Lake(lake)  # one lake and one engine for the analysis and the report's charts
    queries = open_engine(the_lake, engine, spark_master, spark_conf)  # None: the lake's DuckDB engine
    chosen = {"engine": queries} if queries else {}
    analysis = run_analyze(the_lake, since, until, tz=tz, **chosen)
    path = write_report(the_lake, out, fmt, analysis=analysis, **chosen)
    click.echo(str(path))
    if analysis.verdict in CANNOT_JUDGE:
        # the report is written and says so; the exit code tells a scheduler it is no all-clear
        click.echo(f"{analysis.verdict}: {analysis.verdict_detail()}", err=True)
        sys.exit(EXIT_CANNOT_JUDGE)
