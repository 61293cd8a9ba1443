"""The sessionlens command line: a thin layer over the library.

The commands live in :mod:`sessionlens.commands`, one module per family;
this module assembles them into one group and does what every command
shares, once:

* defaults: flag > environment (``SESSIONLENS_LAKE``,
  ``SESSIONLENS_<COMMAND>_<OPTION>``) > ``./sessionlens.toml`` > built-in;
* errors: a :class:`~sessionlens.errors.SessionlensError` becomes a one-line
  message (``click.ClickException``) with its exit code, in
  :meth:`SessionlensGroup.invoke`; anything unexpected becomes one line and
  exit 70 in :func:`main`. Commands never catch and map errors themselves;
* start-up: only click is imported before a command runs, so ``--help`` is
  quick (see :mod:`sessionlens.commands`).

Exit codes are the named constants of :mod:`sessionlens.errors`; docs/cli.md
documents them.
"""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path

import click

from . import __version__
from .commands.analyze import analyze, report
from .commands.changes import changes
from .commands.formats import formats, preview
from .commands.gate import gate
from .commands.ingest import forget, ingest
from .commands.jobs import demo, nightly
from .commands.sql import sql
from .commands.watch import watch
from .config import CONFIG_FILE, default_map, read_config
from .errors import EXIT_INTERNAL, EXIT_INTERRUPTED, SessionlensError

EPILOG = """\b
Defaults come from flags, then the environment (SESSIONLENS_LAKE,
SESSIONLENS_<COMMAND>_<OPTION>, e.g. SESSIONLENS_ANALYZE_TZ), then
./sessionlens.toml. Shell completion: eval "$(_SESSIONLENS_COMPLETE=bash_source sessionlens)".
See docs/cli.md.

\b
Exit codes:
    0  ok
    1  input error: a bad file, lake, query or time
    2  usage error: a wrong flag or value, a malformed sessionlens.toml
    3  findings: --fail-on found what was asked for (analyze, nightly); gate: fail
    4  cannot judge: no-signal or no-data (analyze, report, nightly); gate: not yet
   70  internal error, a bug (SESSIONLENS_DEBUG=1 shows the traceback)
  130  interrupted
"""


def as_click_exception(exc: SessionlensError) -> click.ClickException:
    """The one-line message and exit code of a library error: the one place errors are mapped."""
    return _failure_class(exc.exit_code)(str(exc))


@functools.cache
def _failure_class(exit_code: int) -> type[click.ClickException]:
    # click reads a ClickException's exit code from its class
    return type(f"Exit{exit_code}", (click.ClickException,), {"exit_code": exit_code})


class SessionlensGroup(click.Group):
    """The ``sessionlens`` group: reads sessionlens.toml and maps library errors, for every command."""

    def make_context(self, info_name, args, parent=None, **extra):
        ctx = super().make_context(info_name, args, parent=parent, **extra)  # `sessionlens --help` stops here
        if parent is None and ctx.default_map is None:
            path = Path(CONFIG_FILE)
            try:
                ctx.default_map = default_map(self, read_config(path), path)
            except SessionlensError as exc:
                if not ctx.resilient_parsing:  # shell completion carries on without the file
                    raise as_click_exception(exc) from None
        return ctx

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except SessionlensError as exc:
            raise as_click_exception(exc) from None


@click.group(cls=SessionlensGroup, epilog=EPILOG,
             context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100,
                               "auto_envvar_prefix": "SESSIONLENS"})
@click.version_option(__version__, prog_name="sessionlens")
def cli() -> None:
    """Find the change that broke users' sessions.

    Ingest access and app logs into a private Parquet lake, then ask when
    session errors spiked and which change most likely caused it.

    \b
    Start here:
      sessionlens demo --out demo-out          # sample incidents, end to end
      sessionlens preview /var/log/nginx/access.log
      sessionlens ingest --lake lake/ /var/log/nginx/access.log*
      sessionlens analyze --lake lake/
      sessionlens sql --lake lake/ "SELECT count(*) FROM requests"
    """


def name_envvars(group: click.Group, prefix: str = "SESSIONLENS") -> None:
    """Gives every option the environment variable SESSIONLENS_<COMMAND>_<OPTION>, named after its flag.

    click's ``auto_envvar_prefix`` names the variable after the Python
    parameter (``--json`` would be ``..._AS_JSON``, ``--format`` ``..._FMT``);
    users know the flag. An option that names its own (``--lake``:
    ``SESSIONLENS_LAKE``) keeps it; a hidden alias gets none.
    """
    for name, command in group.commands.items():
        path = f"{prefix}_{name.upper().replace('-', '_')}"
        if isinstance(command, click.Group):
            name_envvars(command, path)
            continue
        for param in command.params:
            if isinstance(param, click.Option) and param.envvar is None and not param.hidden:
                flag = max(param.opts, key=len).lstrip("-")
                param.envvar = f"{path}_{flag.upper().replace('-', '_')}"


for _command in (ingest, preview, forget, formats, sql, changes, analyze, report, nightly, demo, watch, gate):
    cli.add_command(_command)
name_envvars(cli)


def main() -> None:
    """Entry point of the console script.

    Library errors exit 1 (and a malformed sessionlens.toml 2) with one
    line; usage errors exit 2 (click); unexpected errors become one line on
    stderr and exit 70 (EX_SOFTWARE), so a scheduler can tell a bug from a
    usage error; set SESSIONLENS_DEBUG=1 to see the traceback. Ctrl-C exits
    130.
    """
    try:
        code = cli(standalone_mode=False, prog_name="sessionlens")
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except (click.exceptions.Abort, KeyboardInterrupt):  # click turns Ctrl-C into Abort
        click.echo("Aborted.", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except Exception as exc:  # noqa: BLE001 - the last line of defence
        if os.environ.get("SESSIONLENS_DEBUG", "") not in ("", "0"):
            raise
        from .privacy import redact

        first = redact(str(exc).splitlines()[0]) if str(exc) else ""
        click.echo(f"Error: internal error: {type(exc).__name__}: {first} (SESSIONLENS_DEBUG=1 shows the traceback)",
                   err=True)
        sys.exit(EXIT_INTERNAL)
    sys.exit(code if isinstance(code, int) else 0)  # not standalone: click returns --help's and ctx.exit's code
