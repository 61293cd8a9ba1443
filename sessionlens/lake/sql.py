"""Run the SQL files in ``queries/`` by name.

Each file is one query with named CTEs and a header comment saying what it
returns and which parameters it takes. Values are bound by DuckDB as named
parameters (``$since``); identifiers (a column to group by) can only be
substituted from a fixed whitelist, written ``{{ name }}`` in the file.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from ..errors import QueryError
from ..sqltext import ident, literal, literal_list  # noqa: F401  (the SQL layer's quoting, re-exported)

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
    path = queries_dir() / f"{name}.sql"
    if not path.is_file():
        raise QueryError(f"no query named {name!r} in {queries_dir()}")
    return path.read_text()


def render(name: str, **identifiers: str) -> str:
    sql = load(name)
    for key, value in identifiers.items():
        if value not in DIMENSIONS:
            raise QueryError(f"{value!r} is not a column a query may group by ({', '.join(DIMENSIONS)})")
        sql = sql.replace("{{ " + key + " }}", f"({DIMENSIONS[value]})")
    if "{{" in sql:
        missing = re.findall(r"\{\{ (\w+) \}\}", sql)
        raise QueryError(f"query {name} needs {', '.join(missing)}")
    return sql


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


def run(con, name: str, params: dict | None = None, **identifiers: str):
    """Runs a named query on a DuckDB connection; returns a Polars frame.

    Analysis code goes through :class:`sessionlens.lake.engine.Engine`; this
    stays for code that holds a connection of its own.
    """
    from .engine import DuckDBEngine  # engine imports this module

    return DuckDBEngine(con).run(name, params, **identifiers)
