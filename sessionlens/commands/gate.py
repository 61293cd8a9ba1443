"""`sessionlens gate`: a canary verdict for a delivery pipeline (pass, fail, or not yet)."""

from __future__ import annotations

import json
import sys

import click

from .common import duration_value, json_option, lake_option, since_option, tz_option, until_option


@click.command()
@lake_option()
@click.option("--change", metavar="ID", help="A change in the lake (`sessionlens changes list`): its time is the "
                                              "start; its scope, or what is new since it, the exposed traffic.")
@click.option("--version", metavar="V", help="The new app version (cookie formats first seen since it count too).")
@click.option("--hosts", metavar="H,...", help="The canary hosts, comma-separated.")
@click.option("--cookie-format", metavar="F", help="The new session-cookie format (e.g. rails-encrypted-gcm).")
@since_option("When the rollout began (default: the change's time, else the first minute with exposed traffic "
              "in the 24 h before --until).")
@until_option("The end of the data judged (default: the lake's newest request; a time replays a rollout).")
@tz_option()
@click.option("--for", "duration", default="15m", show_default=True, metavar="DURATION", callback=duration_value,
              help="A pass needs this long since the start; with --wait, how long to keep looking.")
@click.option("--min-requests", type=click.IntRange(min=0), default=200, show_default=True,
              help="A pass needs at least this many exposed requests.")
@click.option("--detect", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.02, show_default=True,
              help="The rise a pass must have been able to catch: this share of exposed requests failing on top "
                   "(0.01: one more in a hundred).")
@click.option("--alpha", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.01, show_default=True,
              help="The false-fail rate, over every look of a rollout.")
@click.option("--tolerance", type=click.FloatRange(0, min_open=True), default=1.0, show_default=True,
              help="The ratio of the exposed to the unexposed rate that still passes (1.5: half as many again).")
@click.option("--wait", is_flag=True, help="Keep looking until pass or fail, or until --for has passed.")
@click.option("--interval", type=click.FloatRange(0, min_open=True), default=30.0, show_default=True, metavar="SECONDS",
              help="Seconds between looks with --wait.")
@json_option("Print the verdict as one JSON object (docs/gate.md).")
def gate(lake, change, version, hosts, cookie_format, since, until, tz, duration, min_requests, detect, alpha,
         tolerance, wait, interval, as_json):
    """Judge a rollout for a delivery pipeline: does the traffic it reached fail sessions more often?

    Compares the exposed traffic (the new version's requests and cookies,
    the canary hosts, the new cookie format or the change's scope) with the
    rest over the same minutes, overall and per route family, with a
    sequential test that may be run after every minute: over all the looks
    of a rollout, a good one fails with a chance of at most --alpha. Give
    exactly one of --change, --version, --hosts, --cookie-format.

    \b
    Exit codes:
      0  pass: enough exposed traffic, --for has passed, not worse than tolerated
      1  bad input: no lake, an unknown change, an unreadable time
      2  usage error: an unknown option, not exactly one of the four
      3  fail: the exposed traffic fails sessions more often (the evidence is printed)
      4  cannot judge yet: too little exposed traffic (how much more is printed),
         nothing to compare with, or the change's traffic cannot be told apart
     70  internal error (a bug: SESSIONLENS_DEBUG=1 shows the traceback)

    \b
    Examples:
      sessionlens gate --lake lake/ --version v1.41.0
      sessionlens gate --lake lake/ --change deploy-1041 --json
      sessionlens gate --lake lake/ --hosts web07,web08 --for 30m --wait
      sessionlens gate --lake lake/ --cookie-format rails-encrypted-gcm --until 2023-09-19T16:12Z
    """
    from ..live.gate import gate as run_gate
    from ..live.gate import gate_wait

    given = [flag for flag, value in (("--change", change), ("--version", version), ("--hosts", hosts),
                                      ("--cookie-format", cookie_format)) if value]
    if len(given) != 1:
        raise click.UsageError("give exactly one of --change, --version, --hosts, --cookie-format"
                               + (f" (got {', '.join(given)})" if given else ""))
    options = dict(change=change, version=version, hosts=hosts, cookie_format=cookie_format, since=since, until=until,
                   duration=duration, min_requests=min_requests, detect=detect, alpha=alpha, tolerance=tolerance, tz=tz)
    if wait:
        def progress(look):
            if look.verdict == "cannot-judge":
                click.echo(look.lines(tz)[0], err=True)

        result = gate_wait(lake, interval=interval, on_look=progress, **options)
    else:
        result = run_gate(lake, **options)
    if as_json:
        click.echo(json.dumps(result.to_json(), indent=1))
    else:
        click.echo("\n".join(result.lines(tz)))
    if result.exit_code:
        sys.exit(result.exit_code)
