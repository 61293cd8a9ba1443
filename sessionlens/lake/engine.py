"""The query engine seam: run a named query over the lake, get a frame back.

Analysis code asks an :class:`Engine` for the result of a query in
``sessionlens/queries/`` by name, with values bound by name and identifiers
(a column to group by) chosen from a whitelist; it never holds a DuckDB
connection. A second engine (Spark) implements the same two methods.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Mapping

import duckdb
import polars as pl

from ..errors import QueryError
from ..privacy import redact
from . import sql


class Engine(ABC):
    """Runs the package's named queries over one lake."""

    name: str = "engine"

    @abstractmethod
    def run(self, query: str, params: Mapping[str, Any] | None = None, **identifiers: str) -> pl.DataFrame:
        """Runs a named query.

        Args:
            query: a file name under ``queries/`` without ``.sql``.
            params: values for the query's ``$parameters`` (extra keys are ignored).
            **identifiers: the query's ``{{ placeholders }}``, each a name from
                :data:`sql.DIMENSIONS`.

        Returns:
            The rows as a Polars frame.

        Raises:
            QueryError: the query is unknown, a parameter is missing, or the engine rejects it.
        """

    def one(self, query: str, params: Mapping[str, Any] | None = None, **identifiers: str) -> tuple:
        """The first row of a named query as a tuple (all None when it returns no row)."""
        frame = self.run(query, params, **identifiers)
        return frame.row(0) if frame.height else tuple(None for _ in frame.columns)


class DuckDBEngine(Engine):
    """The local engine: DuckDB over the lake's views (one connection per command)."""

    name = "duckdb"

    def __init__(self, con: duckdb.DuckDBPyConnection):
        self.connection = con

    def run(self, query: str, params: Mapping[str, Any] | None = None, **identifiers: str) -> pl.DataFrame:
        from .duckdb_buckets import fast_buckets  # heavy: sqlglot (80 ms), imported when a query first runs

        text, bound = sql.prepare(query, params, **identifiers)
        try:
            return self.connection.sql(fast_buckets(text), params=bound).pl()
        except duckdb.Error as exc:
            raise QueryError(f"query {query}: {redact(str(exc).splitlines()[0])}") from None

