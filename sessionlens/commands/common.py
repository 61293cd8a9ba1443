"""Options the commands share, declared once, and small output helpers.

Every option that means the same in several commands (``--lake``,
``--since/--until/--tz``, ``--json``, the input ``--format`` and its
siblings, ``--engine`` and its Spark settings) is made here, so its name, help and environment variable are the
same everywhere.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import click

F = Callable[..., Any]


def lake_option(created: bool = False) -> Callable[[F], F]:
    """``--lake``; ``SESSIONLENS_LAKE`` sets it for a whole shell, sessionlens.toml for a folder."""
    return click.option("--lake", required=True, envvar="SESSIONLENS_LAKE", show_envvar=True,
                        type=click.Path(file_okay=False),
                        help="Lake directory" + (" (created if missing)." if created else "."))


def json_option(what: str = "Print the result as JSON.") -> Callable[[F], F]:
    """``--json``: machine-readable output instead of text."""
    return click.option("--json", "as_json", is_flag=True, help=what)


def since_option(help: str = "Start of the window (default: the lake's first request).") -> Callable[[F], F]:
    return click.option("--since", metavar="TIME", help=help)


def until_option(help: str = "End of the window (default: the lake's last request).") -> Callable[[F], F]:
    return click.option("--until", metavar="TIME", help=help)


def tz_option(help: str = "Time zone (IANA, e.g. Europe/Berlin) of times given without an offset, of today/yesterday, "
                          "and of the text (default: UTC; the JSON stays UTC).") -> Callable[[F], F]:
    return click.option("--tz", metavar="ZONE", help=help)


def duration_value(ctx: click.Context, param: click.Parameter, value: str | None):
    """A click callback: ``30m``, ``1h``, ``90s``, ``1h30m``, ``PT15M`` as a timedelta (more than zero)."""
    if value is None:
        return None
    from ..analysis.scope import parse_duration

    parsed = parse_duration(value)
    if parsed is None or parsed.total_seconds() <= 0:
        raise click.BadParameter(f"{value!r}: expected a duration such as 15m, 1h, 90s or 1h30m", ctx, param)
    return parsed


def stacked(options: Sequence[Callable[[Any], Any]]) -> Callable[[F], F]:
    """One decorator applying ``options`` so that ``--help`` lists them in the order given."""
    def decorate(f: F) -> F:
        for option in reversed(options):
            f = option(f)
        return f

    return decorate


def window_options(since_help: str | None = None) -> Callable[[F], F]:
    """``--since``, ``--until`` and ``--tz``: the window of an analysis."""
    def decorate(f: F) -> F:
        f = tz_option()(f)
        f = until_option()(f)
        return (since_option(since_help) if since_help else since_option())(f)

    return decorate


def input_format_options() -> Callable[[F], F]:
    """How log lines are read: ``--format NAME`` or a layout (nginx, Apache, JSON map); default: detect."""
    options = [
        click.option("--format", "fmt", metavar="NAME",
                     help="A format from `sessionlens formats`; default: detect per file."),
        click.option("--nginx-format", metavar="LOG_FORMAT",
                     help="An nginx log_format string (prefix 'escape=json ' if used)."),
        click.option("--apache-format", metavar="LOGFORMAT", help="An Apache LogFormat string."),
        click.option("--json-map", metavar="MAP", help="JSON field names, e.g. ts=time,status=code,session=sid."),
        click.option("--rules", "rules_file", type=click.Path(dir_okay=False),
                     help="TOML file of session-error rules to add or override."),
    ]

    return stacked(options)


ENGINES = ["duckdb", "spark"]  # sessionlens.lake.engines.ENGINES (not imported here: --help stays quick)


def _spark_conf(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> tuple[str, ...]:
    for pair in value:
        if "=" not in pair or not pair.partition("=")[0].strip():
            raise click.BadParameter(f"{pair!r}: expected KEY=VALUE (e.g. spark.executor.memory=4g)", ctx, param)
    return value


ENGINE_HELP = ("Query engine: DuckDB on this machine, or Spark SQL over the same lake "
               "(pip install 'sessionlens[spark]'; docs/scale.md).")


def engine_options(engine_help: str = ENGINE_HELP) -> Callable[[F], F]:
    """``--engine duckdb|spark``, ``--spark-master`` and ``--spark-conf``: which engine does the work.

    ``SESSIONLENS_ENGINE`` (or ``engine = "spark"`` in sessionlens.toml) sets
    the engine for every command that has the option.
    """
    options = [
        click.option("--engine", type=click.Choice(ENGINES), default="duckdb", show_default=True,
                     envvar="SESSIONLENS_ENGINE", show_envvar=True, help=engine_help),
        click.option("--spark-master", default=None, metavar="URL",
                     help="Spark master with --engine spark (local[N], spark://host:7077, yarn ...); "
                          "default: spark-submit's --master, else local[*]."),
        click.option("--spark-conf", multiple=True, metavar="KEY=VALUE", callback=_spark_conf,
                     help="A Spark setting with --engine spark (repeatable), e.g. spark.executor.memory=4g."),
    ]

    return stacked(options)


def open_engine(lake, engine: str, spark_master: str | None, spark_conf: tuple[str, ...]):
    """The engine the options ask for over ``lake``; None for DuckDB (the library opens the lake's own)."""
    if engine == "duckdb":
        return None
    from ..lake.engines import make_engine, parse_conf

    return make_engine(lake, engine, spark_master, parse_conf(spark_conf))


def deprecated_alias(flag: str, name: str, choices: list[str]) -> Callable[[F], F]:
    """A hidden old spelling of an option (e.g. ``sql --format`` for ``--output``) that still works."""
    return click.option(flag, name, type=click.Choice(choices), hidden=True,
                        help="Deprecated spelling; see docs/cli.md.")


def console(stderr: bool = False, wide_when_piped: bool = False):
    """A rich Console (imported here, when a command prints, not at start-up).

    ``wide_when_piped``: with no terminal width to fit (piped or captured),
    160 columns, so table rows stay whole.
    """
    from rich.console import Console

    out = Console(stderr=stderr)
    if wide_when_piped and not out.is_terminal:
        out = Console(stderr=stderr, width=160)
    return out
