"""Run the SQL files in ``queries/`` by name.

Each file is one query with named CTEs and a header comment saying what it
returns and which parameters it takes. Values are bound by DuckDB as named
parameters (``$since``); identifiers can only be substituted from fixed
whitelists, written ``{{ name }}`` in the file: ``{{ table }}`` takes one of
the lake's tables, any other placeholder a column to group by
(:data:`DIMENSIONS`).
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from ..errors import QueryError
from ..sqltext import fill, ident, placeholders
from .schema import TABLES

# What a query may be asked to group by: a name and the SQL it stands for.
DIMENSIONS = {
    "cookie_format": "cookie_format", "app_version": "app_version", "host": "host", "edge_worker": "edge_worker",
    "cache_status": "cache_status", "route": "route", "client_key": "client_key", "method": "method",
    "status": "status", "source": "source", "vhost": "vhost", "user_agent": "user_agent",
    "host_version": "host || ' @ ' || app_version",
}


def queries_dir() -> Path:
    """The package's ``queries`` folder (one SQL file per query)."""
    return Path(__file__).resolve().parent.parent / "queries"


@lru_cache(maxsize=None)
def load(name: str) -> str:
    """The text of ``queries/<name>.sql`` (QueryError if there is no such file)."""
    path = queries_dir() / f"{name}.sql"
    if not path.is_file():
        raise QueryError(f"no query named {name!r} in {queries_dir()}")
    return path.read_text()


def _identifier(key: str, value: str) -> str:
    """The SQL a placeholder stands for, from its whitelist (QueryError for anything else)."""
    if key == "table":
        if value not in TABLES:
            raise QueryError(f"{value!r} is not a table of the lake ({', '.join(TABLES)})")
        return ident(value)
    if value not in DIMENSIONS:
        raise QueryError(f"{value!r} is not a column a query may group by ({', '.join(DIMENSIONS)})")
    return f"({DIMENSIONS[value]})"


def render(name: str, **identifiers: str) -> str:
    """A named query's text with its ``{{ placeholders }}`` filled from the whitelists."""
    parts = {key: _identifier(key, value) for key, value in identifiers.items()}
    try:
        return fill(load(name), **parts)
    except ValueError as exc:  # a hole without a value, or a value without a hole
        raise QueryError(f"query {name}: {exc}") from None


def holes(name: str) -> set[str]:
    """The ``{{ identifiers }}`` a named query takes (such as the dimension to group by)."""
    return placeholders(load(name))


def prepare(name: str, params=None, **identifiers: str) -> tuple[str, dict]:
    """A named query's text with its identifiers filled, and the parameters it binds.

    Raises:
        QueryError: unknown query, identifier or missing parameter.
    """
    text = render(name, **identifiers)
    wanted = set(re.findall(r"\$(\w+)", text))
    bound = {k: v for k, v in (params or {}).items() if k in wanted}
    missing = wanted - set(bound)
    if missing:
        raise QueryError(f"query {name} needs parameter(s) {', '.join(sorted(missing))}")
    return text, bound

