"""``time_bucket`` over ``TIMESTAMPTZ``, in integer microseconds, for DuckDB.

DuckDB buckets a ``TIMESTAMPTZ`` through its ICU calendar, row by row: on
50 million requests, ``time_bucket`` by 5 minutes costs 0.9 s where the same
buckets from ``epoch_us(ts)`` take 0.3 s (``date_trunc`` 3.3 s). The named
queries keep ``time_bucket`` (readable, and what the Spark translation maps);
:func:`fast_buckets` rewrites it, before DuckDB runs a query, as

    to_timestamp((E - ((E - O) % W + W) % W) / 1e6)

with E = ``epoch_us(ts)``, O = ``epoch_us(origin)`` and W the width in
microseconds: the start of ``ts``'s bucket counted from the origin, a time
before the origin falling into the bucket below it, as ``time_bucket`` does.
"""

from __future__ import annotations

from functools import lru_cache

from sqlglot import exp

from .spark_dialect import DEFAULT_ORIGIN, bucket_width_micros, parse_duckdb


def fast_buckets(text: str) -> str:
    """``text`` with every ``time_bucket(width, ts [, origin])`` in integer arithmetic (unchanged without one)."""
    return _rewrite(text) if "time_bucket" in text.lower() else text


@lru_cache(maxsize=None)
def _rewrite(text: str) -> str:
    return parse_duckdb(text).copy().transform(_bucket).sql(dialect="duckdb")


def _epoch_us(value: exp.Expression) -> exp.Expression:
    return exp.Anonymous(this="epoch_us", expressions=[value])


def _bucket(node: exp.Expression) -> exp.Expression:
    if not isinstance(node, exp.DateBin):
        return node
    width = exp.Paren(this=bucket_width_micros(node.this))
    origin = node.args.get("unit")
    if origin is None:
        origin = exp.cast(exp.Literal.string(DEFAULT_ORIGIN), exp.DataType.build("timestamptz"))
    ts = _epoch_us(node.expression.copy())
    since_origin = exp.Paren(this=exp.Sub(this=ts.copy(), expression=_epoch_us(origin.copy())))
    offset = exp.Mod(this=exp.Paren(this=exp.Add(this=exp.Mod(this=since_origin, expression=width.copy()),
                                                 expression=width.copy())),
                     expression=width.copy())
    start = exp.Paren(this=exp.Sub(this=ts, expression=exp.Paren(this=offset)))
    seconds = exp.Div(this=exp.cast(start, exp.DataType.build("double")), expression=exp.Literal.number(1_000_000))
    return exp.Anonymous(this="to_timestamp", expressions=[seconds])
