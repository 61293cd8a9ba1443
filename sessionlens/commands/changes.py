"""`sessionlens changes ...`: the changes table (deploys, flags, config...)."""

from __future__ import annotations

import json

import click

from .common import console, json_option, lake_option, tz_option


@click.group()
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
@json_option()
@click.argument("paths", nargs=-1, required=True)
def changes_import(lake, as_json, paths):
    """Import marker files: sessionlens JSON lines or CSV, Grafana annotations,
    Honeycomb markers, Cloudflare audit logs (v1 and v2). Ids already in the
    lake are skipped, so importing twice adds nothing.

    \b
    Example:
      sessionlens changes import --lake lake/ markers/*.json markers/deploys.jsonl
    """
    from ..changes.store import import_markers

    data = import_markers(lake, list(paths)).to_json()
    if as_json:
        click.echo(json.dumps(data))
        return
    click.echo(f"{data['read']} marker(s) read, {data['added']} added, "
               f"{len(data['skipped_existing'])} already there, {len(data['rejected'])} rejected")
    for problem in data["rejected"]:
        click.echo(f"  rejected: {problem}", err=True)


@changes.command("add")
@lake_option()
@click.option("--at", "at", required=True, metavar="TIME",
              help="When it began: 2023-09-19T16:09:00Z, epoch seconds, now, 10m ago (as analyze --since).")
@click.option("--end", metavar="TIME", help="When a rollout ended (same syntax).")
@tz_option("Time zone (IANA) of --at/--end given without an offset (default: UTC).")
@click.option("--kind", required=True,
              help="deploy, rollback, config, feature_flag, cookie, edge_worker, cache, session_store, "
                   "maintenance or other.")
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
    from ..changes.store import add_change
    from ..timeparse import parse_time

    at_t = parse_time(at, tz=tz, what="--at")
    end_t = parse_time(end, tz=tz, what="--end")
    assert at_t is not None  # --at is required
    change = add_change(lake, at_t.isoformat(), kind, label, list(scope), change_id,
                        end_t.isoformat() if end_t else None)
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
    from ..changes.store import remove_changes

    removed = remove_changes(lake, list(ids))
    click.echo(f"removed {len(removed)} change(s): {', '.join(removed)}")


@changes.command("list")
@lake_option()
@json_option("Print the changes as JSON.")
@click.option("--all", "show_all", is_flag=True, help="Also list inferred changes that match a written one.")
def changes_list(lake, as_json, show_all):
    """List written and inferred changes, oldest first. An inferred change
    (id inferred:...) that matches a written one is folded into it unless --all.

    \b
    Example:
      sessionlens changes list --lake lake/
    """
    from rich.table import Table

    from ..changes.infer import all_changes
    from ..lake.store import Lake

    found = all_changes(Lake(lake))
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
    console().print(table)
