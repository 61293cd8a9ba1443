"""The SQL sandbox of ``sessionlens sql``: read-only statements on a locked connection.

SQL written by users runs on a connection that can read the lake's
committed Parquet files and nothing else (:func:`lock_down`), and only
statements that read are run (:func:`check_read_only`, which inspects
DuckDB's own parse). :func:`query_error` turns DuckDB's errors into
:class:`~sessionlens.errors.QueryError` with DuckDB's whole message (hints
and ``LINE 1:`` carets included), redacted.
"""

from __future__ import annotations

import re

import duckdb

from ..errors import QueryError
from ..privacy import redact
from ..sqltext import literal

_EXPLAIN_PREFIX = re.compile(r"^\s*EXPLAIN\s+(?:ANALY[SZ]E\s+)?(?:\([^()]*\)\s*)?", re.IGNORECASE)
_KIND_NAMES = {"MERGE_INTO": "MERGE", "LOAD": "INSTALL and LOAD", "VARIABLE_SET": "SET VARIABLE",
               "COPY_DATABASE": "COPY FROM DATABASE", "PRAGMA": "PRAGMA and IMPORT", "VACUUM": "VACUUM and ANALYZE",
               "CALL": "CALL and CHECKPOINT", "SET": "SET, RESET and USE", "TRANSACTION": "transaction",
               "CREATE_FUNC": "CREATE FUNCTION"}


def check_read_only(con: duckdb.DuckDBPyConnection, query: str) -> list:
    """The query's statements, if every one only reads; else QueryError.

    Inspects DuckDB's own parse (statement types), so comments, case and
    several statements in one string are handled as DuckDB sees them.
    ``EXPLAIN`` is accepted when the statement it explains is (``EXPLAIN
    ANALYZE`` runs it).

    Raises:
        QueryError: a statement that does not only read, or no statement.
        duckdb.Error: the query does not parse.
    """
    statements = con.extract_statements(query)
    if not statements:
        raise QueryError("no SQL statement given")
    for statement in statements:
        kind = _statement_kind(statement)
        if kind == "EXPLAIN":
            inner = _EXPLAIN_PREFIX.sub("", statement.query, count=1)
            try:
                inner_statements = con.extract_statements(inner) if inner != statement.query else []
            except duckdb.Error:
                inner_statements = []
            if not inner_statements or any(_statement_kind(s) != "SELECT" for s in inner_statements):
                raise QueryError(_refusal("EXPLAIN of a statement other than SELECT is"))
        elif kind == "MULTI":
            raise QueryError(_refusal("PIVOT without an IN list (it creates types) is") +
                             "; name the values: PIVOT t ON col IN ('a', 'b') USING count(*)")
        elif kind == "UNKNOWN":
            raise QueryError(_refusal("this kind of statement is"))
        elif kind != "SELECT":
            raise QueryError(_refusal(f"{_KIND_NAMES.get(kind, kind)} statements are"))
    return statements


def _statement_kind(statement) -> str:
    try:
        return statement.type.name
    except ValueError:  # a statement type the Python client has no name for
        return "UNKNOWN"


def _refusal(what: str) -> str:
    return f"sessionlens sql is read-only: {what} not allowed (only SELECT and EXPLAIN SELECT; --unsafe lifts this)"


def query_error(exc: BaseException) -> QueryError:
    """DuckDB's whole message as a QueryError, each line redacted.

    Keeps the hints (``Did you mean "requests"?``, ``Candidate bindings``)
    and the ``LINE 1: ...`` echo of the query with its ``^^^`` carets, so the
    message may span several lines; blank lines and trailing spaces are
    dropped. Each line goes through :func:`~sessionlens.privacy.redact`, as
    every message does, so a secret in the query is not echoed.
    """
    kept = [redact(line.rstrip()) for line in str(exc).splitlines() if line.strip()]
    message = "\n".join(kept) or type(exc).__name__
    if "disabled by configuration" in message:
        message += " (sessionlens sql reads only the lake's views and their files; see docs/sql.md)"
    return QueryError(message)


def lock_down(con: duckdb.DuckDBPyConnection, readable: list[str]) -> None:
    """Confines a connection to the given files and locks its configuration."""
    con.execute(f"SET allowed_paths = [{', '.join(literal(p) for p in readable)}]")
    con.execute("SET enable_external_access = false")
    con.execute("SET autoinstall_known_extensions = false")
    con.execute("SET autoload_known_extensions = false")
    con.execute("SET allow_community_extensions = false")
    con.execute("SET lock_configuration = true")


def fetch_frame(rel: duckdb.DuckDBPyRelation | None):
    """The rows of a relation from :meth:`Lake.sql` as a Polars frame (None: a statement without rows).

    DuckDB binds a query when the relation is made but may fail only while
    its rows are fetched (a failed cast): that error too becomes a
    :class:`QueryError` with DuckDB's message.

    Raises:
        QueryError: DuckDB failed while producing the rows, or Polars cannot
            hold a column's type (an INTERVAL, a UNION).
    """
    if rel is None:
        return None
    try:
        return rel.pl()
    except duckdb.Error as exc:
        raise query_error(exc) from None
    except Exception as exc:
        if not type(exc).__module__.startswith("polars"):
            raise
        odd = [(name, str(kind)) for name, kind in zip(rel.columns, rel.types, strict=True)
               if str(kind).split("(")[0] in _NO_POLARS_TYPE]
        which = ", ".join(f"column {name} ({kind})" for name, kind in odd) or "a column"
        example = odd[0][0] if odd else "x"
        raise QueryError(f"cannot show {which} of this result; cast it to text: "
                         f"SELECT {example}::VARCHAR") from None


_NO_POLARS_TYPE = ("INTERVAL", "UNION")  # DuckDB types Polars has no column for
