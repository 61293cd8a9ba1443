"""`sessionlens watch`: follow growing logs, ingest them, alert once when session errors spike."""

from __future__ import annotations

import json
import time

import click

from .common import console, duration_value, input_format_options, json_option, lake_option, tz_option


@click.command()
@lake_option(created=True)
@click.option("--interval", default=10.0, show_default=True, type=click.FloatRange(min=0.5), metavar="SECONDS",
              help="Seconds between cycles (ingest what is new, analyse, alert).")
@click.option("--once", is_flag=True, help="One cycle, then exit: for cron and tests.")
@click.option("--window", default="1h", show_default=True, callback=duration_value, metavar="DURATION",
              help="The recent stretch analysed each cycle, against the lake's history (up to 7 days before it).")
@click.option("--webhook", metavar="URL", help="POST each alert as {\"text\": ...} (Slack-compatible).")
@click.option("--pagerduty-routing-key", "pagerduty_key", metavar="KEY",
              help="Send each alert to PagerDuty (Events API v2: trigger on onset, resolve on resolution).")
@click.option("--pagerduty-url", hidden=True, help="The Events API endpoint (tests, proxies).")
@click.option("--on-alert", "command", metavar="COMMAND",
              help="Run COMMAND in the shell for each alert: the alert as JSON on its standard input, "
                   "SESSIONLENS_EVENT (onset/resolved) and SESSIONLENS_SUMMARY in its environment.")
@click.option("--alert-timeout", default=30.0, show_default=True, type=click.FloatRange(min=0, min_open=True),
              metavar="SECONDS", help="Deadline of each delivery (webhook, PagerDuty, command), retries included.")
@input_format_options()
@tz_option()
@json_option("With --once: print the cycle as one JSON object.")
@click.argument("paths", nargs=-1, required=True)
def watch(lake, interval, once, window, webhook, pagerduty_key, pagerduty_url, command, alert_timeout, fmt,
          nginx_format, apache_format, json_map, rules_file, tz, as_json, paths):
    """Follow growing log files and folders: ingest new lines every few
    seconds, watch the session-error rate of the recent minutes against
    its history, and alert once when a spike begins (and once when it ends),
    naming the most likely change.

    PATHS are files and folders, as for `ingest` (marker files included:
    a deploy's marker is how an alert names it). Rotation loses and
    duplicates nothing: a file is known by its content, and the rotated
    siblings of a named file (access.log.1, access.log.1.gz) are read too.
    A killed watch resumes where its last committed cycle ended.

    Time is the data's: the window ends at the newest request, and the lag
    (now minus the newest request) shows how far behind the logs are.
    What was alerted is kept in LAKE/_watch.json. See docs/live.md (a
    systemd unit, alert payloads).

    \b
    Exit codes:
      0  stopped (Ctrl-C ends a running watch with 130)
      1  bad input: a path whose folder does not exist, an unusable lake or URL,
         another watch following the same lake
      2  usage error: an unknown flag or value

    \b
    Examples:
      sessionlens watch --lake lake/ /var/log/nginx/ /srv/deploys/markers.jsonl
      sessionlens watch --lake lake/ --webhook https://hooks.slack.com/services/T0/B0/XX /var/log/nginx/access.log
      sessionlens watch --lake lake/ --once --json /var/log/nginx/
    """
    from ..errors import InputError
    from ..live.alerts import Channels
    from ..live.watch import Watcher, WatchSettings
    from ..notify import check_url

    if webhook:
        check_url(webhook, "--webhook")
    if pagerduty_url:
        check_url(pagerduty_url, "--pagerduty-url")
    if as_json and not once:
        raise InputError("--json prints one cycle: use it with --once")
    ingest_options = {"fmt": fmt, "nginx_format": nginx_format, "apache_format": apache_format,
                      "json_map": json_map, "rules_file": rules_file}
    settings = WatchSettings(window=window, tz=tz, ingest_options=ingest_options)
    channels = Channels(webhook, pagerduty_key, pagerduty_url, command, alert_timeout)
    with Watcher(lake, list(paths), settings, channels) as watcher:
        if once:
            _once(watcher, as_json, tz)
        else:
            _follow(watcher, interval, tz)


def _once(watcher, as_json: bool, tz: str | None) -> None:
    from ..live.view import cycle_json, cycle_lines, recent_rates

    done = watcher.cycle()
    rates = recent_rates(watcher.lake, done.data_end, watcher.settings.window) if done.data_end else None
    if as_json:
        click.echo(json.dumps(cycle_json(done, rates), indent=1))
    else:
        for line in cycle_lines(done, rates, tz):
            click.echo(line)


def _follow(watcher, interval: float, tz: str | None) -> None:
    from rich.live import Live

    from ..errors import SessionlensError
    from ..live.view import cycle_lines, recent_rates, render

    out = console()
    history: list[str] = []
    with Live(console=out, auto_refresh=False, transient=False) as live:
        while True:
            began = time.monotonic()
            try:
                done = watcher.cycle()
            except SessionlensError as exc:  # a file rotated away mid-read, a lake busy: the next cycle retries
                out.print(f"cycle failed: {exc}; trying again in {interval:g} s", highlight=False, markup=False)
                time.sleep(interval)
                continue
            rates = recent_rates(watcher.lake, done.data_end, watcher.settings.window) if done.data_end else None
            history.extend(f"{a.event}: {a.summary}" for a in done.alerts)
            if out.is_terminal:
                live.update(render(done, rates, tz, history), refresh=True)
            else:  # a service's log: the cycle's lines, not a redrawn screen
                for line in cycle_lines(done, rates, tz):
                    out.print(line, highlight=False, markup=False, soft_wrap=True)
            time.sleep(max(0.0, interval - (time.monotonic() - began)))
