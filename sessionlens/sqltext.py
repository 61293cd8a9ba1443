"""SQL text helpers: the one place values and names are quoted into SQL.

Wherever DuckDB accepts a bound parameter (``$name``), bind it instead; these
helpers are for the places it does not (a view over a list of files, a
``SET``, a regex inlined into a generated parser). Nothing else in the
package writes a quote by hand.
"""

from __future__ import annotations

from typing import Iterable


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


def literal_body(value: object) -> str:
    """The inside of a string literal, for text spliced between quotes already written."""
    return literal(value)[1:-1]


def literal_list(values: Iterable[object]) -> str:
    """A SQL list of string literals: ``['a', 'b']``."""
    return "[" + ", ".join(literal(v) for v in values) + "]"


def ident(name: str) -> str:
    """A quoted SQL identifier: ``at`` becomes ``"at"`` (a keyword-safe column name)."""
    if "\x00" in name:
        raise ValueError("a SQL identifier cannot hold a NUL character")
    return '"' + name.replace('"', '""') + '"'
