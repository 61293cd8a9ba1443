"""`sessionlens sql`: DuckDB SQL over the lake, sandboxed."""

from __future__ import annotations

import click

from .common import console, deprecated_alias, lake_option

OUTPUTS = ["table", "csv", "json"]


@click.command()
@lake_option()
@click.option("--output", "output", type=click.Choice(OUTPUTS), default="table", show_default=True,
              help="How the rows are printed.")
@deprecated_alias("--format", "legacy_output", OUTPUTS)
@click.option("--limit", default=100, show_default=True, help="Rows shown as a table (0: all).")
@click.option("--unsafe", is_flag=True,
              help="Lift the sandbox: full DuckDB (any file, COPY TO, ATTACH, INSTALL/LOAD, SET, writes), "
                   "including the lake's hashing key. See docs/sql.md.")
@click.argument("query")
def sql(lake, output, legacy_output, limit, unsafe, query):
    """Run DuckDB SQL over the lake's views, read-only.

    Views: requests, events, rejects, changes (see docs/schema.md). The query
    can read the lake's committed Parquet files and nothing else: no other
    file (not the hashing key), no COPY ... TO, ATTACH, INSTALL/LOAD, EXPORT,
    PRAGMA, SET or writes; only SELECT and EXPLAIN (docs/sql.md). --unsafe
    lifts all of that. A query DuckDB rejects fails with DuckDB's message,
    its hints and the position in the query.

    \b
    Examples:
      sessionlens sql --lake lake/ "SELECT cookie_format, count(*) FROM requests GROUP BY 1"
      sessionlens sql --lake lake/ --output csv "SELECT * FROM rejects" > rejects.csv
    """
    from ..lake.sandbox import fetch_frame
    from ..lake.store import Lake

    output = legacy_output or output
    if unsafe:
        click.echo("warning: --unsafe: this query runs with DuckDB's full access to files, network, "
                   "extensions and settings, and can read the lake's hashing key", err=True)
    frame = fetch_frame(Lake(lake).sql(query, unsafe=unsafe))
    if frame is None:  # a statement without rows (SET, ATTACH... with --unsafe)
        return
    if output == "csv":
        click.echo(frame.write_csv(), nl=False)
    elif output == "json":
        click.echo(frame.write_json())
    else:
        _print_frame(frame, limit)


def _print_frame(frame, limit: int) -> None:
    from rich.table import Table

    table = Table(show_header=True, header_style="bold")
    for col in frame.columns:
        table.add_column(col)
    shown = frame if not limit else frame.head(limit)
    for row in shown.iter_rows():
        table.add_row(*["" if v is None else str(v) for v in row])
    out = console()
    out.print(table)
    if limit and frame.height > limit:
        out.print(f"({frame.height - limit:,} more rows; use --limit 0 or --output csv)")
