"""``sessionlens.toml``: defaults for the command line, read from the working directory.

A setting at the top level applies to every command that has the option, a
table to one command (``[analyze]``) or one subcommand (``[changes.add]``)::

    lake = "lake/"

    [analyze]
    tz = "Europe/Berlin"
    bucket = 300

Keys are option names without the dashes (``fail-on`` or ``fail_on``). The
file supplies click's ``default_map``, so a flag on the command line wins,
then an environment variable (``SESSIONLENS_LAKE``,
``SESSIONLENS_ANALYZE_TZ``), then this file, then the built-in default.
A file that is not valid TOML, or a key no command knows, is a usage error
(:class:`~sessionlens.errors.ConfigError`, exit 2), so a typo is never
silently ignored.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from .errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

CONFIG_FILE = "sessionlens.toml"


def read_config(path: Path) -> dict[str, Any]:
    """The parsed TOML file; an empty dict when there is none.

    Raises:
        ConfigError: the file cannot be read or is not valid TOML (one line).
    """
    if not path.is_file():
        return {}
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read it ({exc.strerror or exc})") from None


def default_map(group: click.Group, config: dict[str, Any], path: Path | str = CONFIG_FILE) -> dict[str, Any]:
    """click's ``default_map`` for ``group`` from a parsed sessionlens.toml.

    Top-level values go to every command (and subcommand) that has the
    option; a table goes to the command it names, and a group's values to
    each of its subcommands.

    Raises:
        ConfigError: a key names no command or no option of one.
    """
    scalars = {k: v for k, v in config.items() if not isinstance(v, dict)}
    tables = {k: v for k, v in config.items() if isinstance(v, dict)}
    out = _for_group(group, scalars, tables, path, where="")
    known = {_key(name) for command in _commands(group) for name in _option_keys(command)}
    for key in scalars:
        if _key(key) not in known:
            raise ConfigError(f"{path}: {key} = ...: no command has an option --{key.replace('_', '-')}")
    return out


def _for_group(group: click.Group, inherited: dict, tables: dict, path, where: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in tables:
        if key not in group.commands:
            raise ConfigError(f"{path}: [{where}{key}]: no such command (commands: {', '.join(group.commands)})")
    for name, command in group.commands.items():
        section = tables.get(name, {})
        own = {k: v for k, v in section.items() if not isinstance(v, dict)}
        if isinstance(command, click.Group):
            sub = {k: v for k, v in section.items() if isinstance(v, dict)}
            out[name] = _for_group(command, {**inherited, **own}, sub, path, where=f"{where}{name}.")
            continue
        params = _option_keys(command)
        for key in own:
            if _key(key) not in params:
                raise ConfigError(f"{path}: [{where}{name}] {key} = ...: `sessionlens {where.replace('.', ' ')}"
                                  f"{name}` has no option --{key.replace('_', '-')}")
        values = {params[_key(k)]: v for k, v in inherited.items() if _key(k) in params}
        values.update({params[_key(k)]: v for k, v in own.items()})
        if values:
            out[name] = values
    return out


def _commands(group: click.Group):
    for command in group.commands.values():
        if isinstance(command, click.Group):
            yield from _commands(command)
        else:
            yield command


def _option_keys(command: click.Command) -> dict[str, str]:
    """Every name a setting may use for an option of ``command`` -> the option's parameter name."""
    keys = {}
    for param in command.params:
        if not isinstance(param, click.Option) or param.name is None or param.hidden:
            continue  # hidden: a deprecated alias, set through the option it stands for
        keys[_key(param.name)] = param.name
        for opt in param.opts + param.secondary_opts:
            keys[_key(opt)] = param.name
    return keys


def _key(name: str) -> str:
    return name.lstrip("-").replace("-", "_").lower()
