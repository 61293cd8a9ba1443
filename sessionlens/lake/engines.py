"""Which query engine answers a command: DuckDB on this machine, or Spark over the same lake.

:func:`make_engine` is the one place an engine is chosen by name (the
``--engine``, ``--spark-master`` and ``--spark-conf`` options, or a Python
caller): ``duckdb`` is the lake's own engine (:meth:`Lake.engine
<sessionlens.lake.store.Lake.engine>`), ``spark`` a
:class:`~sessionlens.lake.spark.SparkEngine` over the lake's files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Mapping

from ..errors import InputError
from .engine import Engine
from .store import Lake

ENGINES = ("duckdb", "spark")
DEFAULT_MASTER: str | None = None  # spark-submit --master when run under it, else local[*]


def make_engine(lake: Lake | str | Path, name: str = "duckdb", master: str | None = DEFAULT_MASTER,
                conf: Mapping[str, str] | None = None, session: Any = None) -> Engine:
    """The query engine ``name`` over ``lake``.

    Args:
        lake: the lake (a :class:`Lake` keeps its one DuckDB connection) or its folder.
        name: ``duckdb`` or ``spark``.
        master: Spark's master URL (``local[*]``, ``spark://host:7077``, ``yarn``...).
        conf: Spark settings (``spark.executor.memory`` ...).
        session: an existing SparkSession to run on instead of creating one.

    Raises:
        InputError: an unknown engine, or Spark asked for without pyspark and sqlglot installed.
    """
    if name == "duckdb":
        return Lake.of(lake).engine()
    if name != "spark":
        raise InputError(f"--engine {name}: unknown engine (engines: {', '.join(ENGINES)})")
    return spark_module("--engine spark").SparkEngine(lake, session=session, master=master, conf=conf)


def spark_module(what: str) -> Any:
    """The :mod:`sessionlens.lake.spark` module, imported on first use.

    Raises:
        InputError: pyspark or sqlglot is not installed (``what`` says who asked).
    """
    try:
        from . import spark  # heavy: loads pyspark (and sqlglot), an optional extra only Spark runs need
    except ImportError as exc:
        raise InputError(f"{what} needs pyspark and sqlglot ({exc.name} is missing): "
                         "pip install 'sessionlens[spark]'") from None
    return spark


def parse_conf(pairs: Iterable[str]) -> dict[str, str]:
    """``KEY=VALUE`` settings (``--spark-conf``) as a dict; the last one of a key wins.

    Raises:
        InputError: a setting without ``=`` or without a key.
    """
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InputError(f"--spark-conf {pair!r}: expected KEY=VALUE (e.g. spark.executor.memory=4g)")
        out[key.strip()] = value
    return out
