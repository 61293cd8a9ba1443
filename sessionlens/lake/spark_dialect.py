"""DuckDB SQL to Spark SQL: the one place where the two engines' functions are mapped.

The named queries in ``sessionlens/queries/`` are written once, in DuckDB's
dialect. :func:`to_spark` parses a query's text with sqlglot (DuckDB), maps
the functions sqlglot does not translate to Spark on its own, and writes
Spark SQL; ``$name`` parameters become Spark's named markers ``:name``
(bound by ``spark.sql(text, args=...)``). The mapped functions:

* ``time_bucket(width, ts [, origin])``: Spark has no ``date_bin``; the
  bucket start is computed in microseconds (``ts - pmod(ts - origin, width)``),
  from DuckDB's default origin (2000-01-03 00:00 UTC) when none is given;
* ``epoch(ts)``: seconds with their fraction (``unix_timestamp`` would drop it);
* ``to_seconds(n)``, ``to_minutes(n)``: ``make_dt_interval``;
* ``GROUPING(a, b, ...)`` of several columns: the sum of one-column
  ``GROUPING`` bits (Spark's ``grouping_id`` must name every grouping column);
* ``list(DISTINCT x ORDER BY x)``: ``sort_array(collect_set(x))`` (nulls are
  left out: the query filters them anyway);
* DuckDB's ``UNPIVOT t ON a, b INTO NAME n VALUE v``: ``t UNPIVOT (v FOR n IN (a, b))``.

Everything else (``count(*) FILTER (WHERE ...)``, ``GROUPING SETS``,
``arg_min``/``arg_max``, ``regexp_matches``, ``list_contains``, ``QUALIFY``,
``GROUP BY ALL``) sqlglot translates itself, or Spark shares.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Mapping

import sqlglot
from sqlglot import exp

from ..errors import QueryError

# DuckDB's time_bucket counts buckets from Monday 2000-01-03 when no origin is given.
DEFAULT_ORIGIN = "2000-01-03 00:00:00+00"
_MICROS = {"MICROSECOND": 1, "MILLISECOND": 1_000, "SECOND": 1_000_000, "MINUTE": 60_000_000,
           "HOUR": 3_600_000_000, "DAY": 86_400_000_000}
# to_seconds(n) and to_minutes(n): the interval functions DuckDB queries use, in microseconds per unit.
_INTERVAL_FUNCTIONS = {"TO_SECONDS": _MICROS["SECOND"], "TO_MINUTES": _MICROS["MINUTE"]}


def to_spark(text: str, params: Mapping[str, Any] | None = None) -> str:
    """A DuckDB query's text in Spark SQL (parameters written ``:name``).

    ``params``: the values to be bound. Spark takes only literals as a
    window frame's bounds (``RANGE BETWEEN to_minutes($window_minutes)
    PRECEDING``), so a parameter there is written into the text as a number;
    every other one stays a named marker.

    Raises:
        QueryError: sqlglot cannot parse the text, it uses a function with no
            mapping here (an interval sqlglot cannot size, a ``time_bucket`` by
            months), or a frame bound's parameter is not an integer.
    """
    inline = []
    for name in sorted(_frame_parameters(text)):
        value = (params or {}).get(name)
        if not isinstance(value, int) or isinstance(value, bool):
            raise QueryError(f"${name}: a window frame's bound must be an integer for Spark SQL, not {value!r}")
        inline.append((name, value))
    return _translate(text, tuple(inline))


@lru_cache(maxsize=None)
def parse_duckdb(text: str) -> exp.Expression:
    """A DuckDB query's syntax tree (QueryError when sqlglot cannot read it)."""
    try:
        return exp.maybe_parse(text, dialect="duckdb")
    except sqlglot.errors.ParseError as exc:
        raise QueryError(f"cannot translate to Spark SQL: {str(exc).splitlines()[0]}") from None


@lru_cache(maxsize=None)
def _frame_parameters(text: str) -> frozenset[str]:
    """The parameters a query uses in a window frame's bounds."""
    names: set[str] = set()
    for spec in parse_duckdb(text).find_all(exp.WindowSpec):
        for bound in (spec.args.get("start"), spec.args.get("end")):
            if isinstance(bound, exp.Expression):
                names.update(p.name for p in bound.find_all(exp.Placeholder))
    return frozenset(names)


@lru_cache(maxsize=None)
def _translate(text: str, inline: tuple[tuple[str, int], ...]) -> str:
    values = dict(inline)
    tree = parse_duckdb(text).copy()
    for placeholder in list(tree.find_all(exp.Placeholder)):
        if placeholder.name in values and placeholder.find_ancestor(exp.WindowSpec):
            placeholder.replace(exp.Literal.number(values[placeholder.name]))
    return tree.transform(_map_node).sql(dialect="spark")


def _map_node(node: exp.Expression) -> exp.Expression:
    """One node in Spark's terms (sqlglot's transform calls it on every node, top down)."""
    if isinstance(node, exp.DateBin):
        return _time_bucket(node)
    if isinstance(node, exp.TimeToUnix):  # epoch(ts): DOUBLE seconds with microseconds
        seconds = exp.cast(_unix_micros(node.this), exp.DataType.build("double"))  # DOUBLE, not DECIMAL
        return exp.Paren(this=exp.Div(this=seconds, expression=exp.Literal.number(1_000_000)))
    if isinstance(node, exp.Anonymous) and node.name.upper() in _INTERVAL_FUNCTIONS:
        return _interval(node)
    if isinstance(node, exp.Grouping) and len(node.expressions) > 1:
        return _grouping_bits(node)
    if isinstance(node, exp.ArrayAgg):
        return _sorted_set(node)
    if isinstance(node, exp.Subquery) and isinstance(node.this, exp.Pivot) and node.this.args.get("unpivot"):
        return _unpivot(node, node.this)
    return node


def _unix_micros(value: exp.Expression) -> exp.Expression:
    return exp.Anonymous(this="UNIX_MICROS", expressions=[value.copy()])


def bucket_width_micros(width: exp.Expression) -> exp.Expression:
    """A DuckDB interval expression as a number of microseconds (a SQL expression)."""
    if isinstance(width, exp.Interval):
        unit = width.unit.name.upper().removesuffix("S") if width.unit else ""
        if unit not in _MICROS or not width.this.is_number and not width.this.is_string:
            raise QueryError(f"cannot translate the interval {width.sql('duckdb')} to Spark SQL")
        return exp.Literal.number(int(float(width.this.name) * _MICROS[unit]))
    if isinstance(width, exp.Anonymous) and width.name.upper() in _INTERVAL_FUNCTIONS:
        factor = exp.Literal.number(_INTERVAL_FUNCTIONS[width.name.upper()])
        # BIGINT first: an hour in microseconds overflows INTEGER (an error in DuckDB and in ANSI Spark)
        return exp.Mul(this=exp.cast(exp.Paren(this=width.expressions[0].copy()), exp.DataType.build("bigint")),
                       expression=factor)
    raise QueryError(f"cannot translate the bucket width {width.sql('duckdb')} to Spark SQL")


def _time_bucket(node: exp.DateBin) -> exp.Expression:
    """``time_bucket(width, ts [, origin])`` as the start of ``ts``'s bucket, in microseconds.

    ``ts - pmod(ts - origin, width)``: pmod is never negative, so a time
    before the origin falls into the bucket below it, as in DuckDB.
    """
    width = bucket_width_micros(node.this)
    origin = node.args.get("unit")
    if origin is None:
        origin = exp.cast(exp.Literal.string(DEFAULT_ORIGIN), exp.DataType.build("timestamp"))
    elif isinstance(origin, exp.Cast):  # TIMESTAMPTZ '...': Spark's TIMESTAMP is an instant too
        origin = exp.cast(origin.this.copy(), exp.DataType.build("timestamp"))
    ts = _unix_micros(node.expression)
    since_origin = exp.Paren(this=exp.Sub(this=ts.copy(), expression=_unix_micros(origin)))
    offset = exp.Anonymous(this="PMOD", expressions=[since_origin, width])
    return exp.Anonymous(this="TIMESTAMP_MICROS", expressions=[exp.Sub(this=ts, expression=offset)])


def _interval(node: exp.Anonymous) -> exp.Expression:
    """``to_seconds(n)`` / ``to_minutes(n)`` as a day-time interval (a literal one when ``n`` is a number)."""
    value = node.expressions[0].copy()
    unit = "SECOND" if node.name.upper() == "TO_SECONDS" else "MINUTE"
    if isinstance(value, exp.Literal) and value.is_int:
        return exp.Interval(this=exp.Literal.string(value.name), unit=exp.Var(this=unit))
    zero = exp.Literal.number(0)
    args = [zero, zero, zero, value] if unit == "SECOND" else [zero, zero, value, zero]
    return exp.Anonymous(this="MAKE_DT_INTERVAL", expressions=args)


def _grouping_bits(node: exp.Grouping) -> exp.Expression:
    """``GROUPING(a, b, c)`` as ``GROUPING(a) * 4 + GROUPING(b) * 2 + GROUPING(c)``.

    Spark's ``grouping_id`` must name every grouping column (the time bucket
    too), so the bits are added up from one-column ``GROUPING``, which both
    engines share.
    """
    columns = list(node.expressions)
    terms: list[exp.Expression] = []
    for i, column in enumerate(columns):
        bit = exp.Grouping(expressions=[column.copy()])
        weight = 1 << (len(columns) - 1 - i)
        terms.append(exp.Mul(this=bit, expression=exp.Literal.number(weight)) if weight > 1 else bit)
    total = terms[0]
    for term in terms[1:]:
        total = exp.Add(this=total, expression=term)
    return exp.Paren(this=total)


def _sorted_set(node: exp.ArrayAgg) -> exp.Expression:
    """``list(DISTINCT x ORDER BY x)`` as ``sort_array(collect_set(x))``; other lists are left to sqlglot."""
    inner = node.this
    if not (isinstance(inner, exp.Order) and isinstance(inner.this, exp.Distinct)):
        return node
    values = inner.this.expressions
    keys = inner.expressions
    if len(values) != 1 or len(keys) != 1 or keys[0].this != values[0] or keys[0].args.get("desc"):
        raise QueryError(f"cannot translate {node.sql('duckdb')} to Spark SQL (only list(DISTINCT x ORDER BY x))")
    collected = exp.Anonymous(this="COLLECT_SET", expressions=[values[0].copy()])
    return exp.Anonymous(this="SORT_ARRAY", expressions=[collected])


def _unpivot(node: exp.Subquery, pivot: exp.Pivot) -> exp.Expression:
    """DuckDB's ``(UNPIVOT t ON a, b INTO NAME n VALUE v)`` as Spark's ``t UNPIVOT (v FOR n IN (a, b))``."""
    into = pivot.args.get("into")
    table = pivot.this
    if into is None or not isinstance(table, exp.Table) or len(into.expressions) != 1:
        raise QueryError(f"cannot translate {node.sql('duckdb')} to Spark SQL "
                         "(only UNPIVOT ... INTO NAME ... VALUE ...)")
    name, value = into.this.name, into.expressions[0].name
    spark = exp.Pivot(expressions=[exp.to_identifier(value)], unpivot=True,
                      fields=[exp.In(this=exp.to_identifier(name), expressions=[c.copy() for c in pivot.expressions])])
    unpivoted = table.copy()
    unpivoted.set("pivots", [spark])
    alias = node.args.get("alias")
    return exp.Subquery(this=exp.select("*").from_(unpivoted), alias=alias.copy() if alias else None)
