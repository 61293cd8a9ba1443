"""`sessionlens nightly` and `sessionlens demo`: whole runs, from the inbox or the samples to the reports."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .common import console, engine_options, lake_option, open_engine, until_option


@click.command()
@click.option("--inbox", required=True, type=click.Path(file_okay=False), help="Folder where logs and markers land.")
@lake_option(created=True)
@click.option("--out", required=True, type=click.Path(file_okay=False),
              help="Folder for the dated reports, latest.html, index.html.")
@until_option("End of the night (default: the newest event in the lake).")
@click.option("--fail-on", "fail_on", type=click.Choice(["spike", "anomaly"]), help="Exit 3 when this was found.")
@click.option("--webhook", metavar="URL", help="POST a short JSON summary ({\"text\": ...}, Slack-compatible).")
@click.option("--webhook-timeout", "webhook_timeout", default=30.0, show_default=True, metavar="SECONDS",
              type=click.FloatRange(min=0, min_open=True),
              help="Total deadline of the webhook post, retries included.")
@engine_options()
def nightly(inbox, lake, out, until, fail_on, webhook, webhook_timeout, engine, spark_master, spark_conf):
    """The scheduled job: ingest what is new, analyse the last 24 hours
    against the history, write reports, print one line per finding.

    Safe to run from cron: a lock keeps two runs apart, a killed run is
    completed by the next, nothing is counted twice. --out, --lake, --inbox
    and --webhook are checked before anything is ingested. See
    docs/nightly.md for a crontab line and a systemd timer.

    \b
    Exit codes:
      0  analysed (or no new data since the last run)
      1  bad input: an unusable --out, --lake, --inbox or --webhook
      2  usage error: an unknown flag or value
      3  --fail-on matched
      4  cannot judge the night: no requests in it, or none showing a session
      70 internal error (a bug)

    \b
    Example:
      sessionlens nightly --inbox /var/log/incoming --lake /srv/sessionlens/lake \\
        --out /srv/sessionlens/reports --fail-on anomaly
    """
    from ..nightly import run_nightly

    def queries(the_lake):  # the engine opens after the ingest, once the inputs have been checked
        return open_engine(the_lake, engine, spark_master, spark_conf)

    chosen = {"engine": queries} if engine != "duckdb" else {}  # DuckDB: the lake's own engine
    result = run_nightly(inbox, lake, out, until, webhook, webhook_timeout=webhook_timeout, **chosen)
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


@click.command()
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
    from ..demo import run_demo

    run_demo(Path(out), seed=seed, scale=scale, console=console())
