"""SQL text helpers: the one place values and names are quoted into SQL.

Wherever DuckDB accepts a bound parameter (``$name``), bind it instead; these
helpers are for the places it does not (a view over a list of files, a
``SET``, a regex inlined into a generated parser). Nothing else in the
package writes a quote by hand.

SQL templates, in code as in the ``queries/*.sql`` files, name their holes
``{{ name }}``; :func:`fill` fills them with SQL text (already quoted with
the helpers here where it is a value).
"""

from __future__ import annotations

import re
from typing import Iterable

# A template's hole: ``{{ name }}`` (the spaces are optional).
PLACEHOLDER = re.compile(r"\{\{ *([A-Za-z_][A-Za-z0-9_]*) *\}\}")


def literal(value: object) -> str:
    """A SQL string literal: ``O'Brien`` becomes ``'O''Brien'``.

    Args:
        value: any value; it is converted with ``str``.

    Raises:
        ValueError: the text holds a NUL character, which no SQL string can carry.
    """
    text = str(value)
    if "\x00" in text:
        raise ValueError("a SQL string cannot hold a NUL character")
    return "'" + text.replace("'", "''") + "'"


def literal_list(values: Iterable[object]) -> str:
    """A SQL list of string literals: ``['a', 'b']``."""
    return "[" + ", ".join(literal(v) for v in values) + "]"


def ident(name: str) -> str:
    """A quoted SQL identifier: ``at`` becomes ``"at"`` (a keyword-safe column name)."""
    if "\x00" in name:
        raise ValueError("a SQL identifier cannot hold a NUL character")
    return '"' + name.replace('"', '""') + '"'


def placeholders(template: str) -> set[str]:
    """The names of a template's ``{{ name }}`` holes."""
    return set(PLACEHOLDER.findall(template))


def fill(template: str, **parts: str) -> str:
    """A SQL template with each ``{{ name }}`` replaced by ``parts[name]``.

    The parts are SQL text, put in as they are (quote a value with
    :func:`literal` first); they are not searched for holes again, so a
    part holding ``{{`` stays as it is.

    Raises:
        ValueError: a hole has no part, or a part has no hole (a misspelt
            name would otherwise pass unnoticed).
    """
    names = placeholders(template)
    missing = sorted(names - parts.keys())
    unused = sorted(parts.keys() - names)
    if missing or unused:
        problems = ([f"no value for {', '.join(missing)}"] if missing else []) + (
            [f"no hole for {', '.join(unused)}"] if unused else [])
        raise ValueError(f"SQL template: {'; '.join(problems)}")
    return PLACEHOLDER.sub(lambda m: parts[m.group(1)], template)
