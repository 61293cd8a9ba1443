"""The Spark engine: the same named queries, run as Spark SQL over the lake's Parquet files.

:class:`SparkEngine` implements the :class:`~sessionlens.lake.engine.Engine`
seam: analysis and reports call ``run(name, params, **identifiers)`` and get
a Polars frame, whichever engine answers. The scans run on the cluster; only
their (small) results come back to the driver.

* Each lake table is a temporary view over exactly the files the manifest
  lists (:meth:`Lake.files <sessionlens.lake.store.Lake.files>`, as the
  DuckDB views), read with the table's schema from :mod:`.schema`; the
  ``date`` of ``requests`` and ``events`` comes from their ``date=`` folders.
  The views follow the manifest: a query sees every commit made before it.
* A query's DuckDB text is translated by :func:`.spark_dialect.to_spark` and
  its values bound as Spark's named parameters.
* Results come back through Arrow; timestamps are UTC instants, as DuckDB's
  ``TIMESTAMPTZ`` results are.

This module imports pyspark (a large optional library, ``pip install
'sessionlens[spark]'``): only :func:`sessionlens.lake.engines.make_engine`
imports it, when Spark is asked for.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence, TypeVar

import polars as pl
import pyarrow as pa
from pyspark.errors import PySparkException
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import StructType

from ..errors import EngineError, InputError, QueryError
from ..privacy import redact
from . import manifest as lake_manifest
from . import sql
from .engine import Engine
from .schema import PARTITIONED, SCHEMAS, TABLES
from .spark_dialect import to_spark
from .store import Lake

# Settings a session made here starts with; --spark-conf overrides them. UTC: the
# lake's times are instants and the queries' literal times are written in UTC.
DEFAULT_CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.ui.showConsoleProgress": "false",  # no progress bar in a terminal's output
}
T = TypeVar("T")
R = TypeVar("R")
PROGRESS_SECONDS = 0.5  # how often a running job's finished tasks are counted
STOP_SECONDS = 60  # how long a failed job's other tasks are waited for
KILL_GRACE_SECONDS = 2  # PySpark's default spark.python.task.killTimeout: a cancelled worker may write until then
# The lake's column types (lake/schema.py, DuckDB's names) in Spark's terms.
_SPARK_TYPES = {"TIMESTAMPTZ": "TIMESTAMP", "DATE": "DATE", "VARCHAR": "STRING", "SMALLINT": "SMALLINT",
                "INTEGER": "INT", "BIGINT": "BIGINT", "DOUBLE": "DOUBLE", "BOOLEAN": "BOOLEAN"}


def create_session(master: str | None = None, conf: Mapping[str, str] | None = None) -> SparkSession:
    """A Spark session on ``master`` (``local[*]``, ``spark://host:7077``, ``yarn``...) with ``conf`` set.

    Without ``master``, Spark's own choice stands: ``spark-submit --master``
    when run under spark-submit, else ``local[*]``.

    An already running session of this process is reused (Spark allows one
    per driver); its settings are then changed only where Spark allows it.

    Raises:
        InputError: Spark cannot start (no Java, an unreachable master...).
    """
    builder = SparkSession.builder.appName("sessionlens")
    if master:
        builder = builder.master(master)
    # Python tasks (distributed ingest) run sessionlens, so the executors' Python must have it. PySpark
    # takes it from PYSPARK_PYTHON (spark-submit sets it from spark.pyspark.python), else any `python3`:
    # a setting given here is honoured as spark-submit would; a local run uses this interpreter.
    python = (conf or {}).get("spark.pyspark.python")
    if python:
        os.environ["PYSPARK_PYTHON"] = python
    elif (master or "local").startswith("local") and "PYSPARK_GATEWAY_PORT" not in os.environ:
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    for key, value in {**DEFAULT_CONF, **(conf or {})}.items():
        builder = builder.config(key, value)
    try:
        session = builder.getOrCreate()
    except PySparkException as exc:
        raise InputError(f"cannot start Spark on {master or 'its default master'}: {_first_line(exc)}") from None
    # Spark's WARN lines (a window without partitions, the host's address) would bury the answer on the terminal.
    session.sparkContext.setLogLevel("ERROR")
    return session


def spark_schema(table: str) -> StructType:
    """A lake table's columns (:data:`~.schema.SCHEMAS`) as a Spark schema, in the same order."""
    schema = StructType.fromDDL(", ".join(f"`{name}` {_SPARK_TYPES[kind]}" for name, kind in SCHEMAS[table].items()))
    assert isinstance(schema, StructType)  # a column list parses to a struct
    return schema


class SparkEngine(Engine):
    """Runs the named queries as Spark SQL over one lake's committed Parquet files."""

    name = "spark"

    def __init__(self, lake: Lake | str | Path, session: SparkSession | None = None, master: str | None = None,
                 conf: Mapping[str, str] | None = None):
        """Opens the engine over ``lake``.

        Args:
            lake: the lake (or its folder). Every executor must reach its
                files under the same path (a shared file system or an object store).
            session: an existing SparkSession to run on (then ``master`` and
                ``conf`` are not used); by default one is created.
            master: the Spark master URL when a session is created.
            conf: Spark settings when a session is created (``spark.executor.memory``...).
        """
        self.lake = Lake.of(lake)
        base = session or create_session(master, conf)
        # A session of its own on the same SparkContext: its temporary views (one per
        # table) and its time zone do not touch those of the session handed in.
        self.session = base.newSession()
        self.session.conf.set("spark.sql.session.timeZone", "UTC")
        self._stamp: tuple[int, int, int] | None | bool = False  # the manifest the views were made from
        self.refresh()

    def refresh(self) -> None:
        """(Re)creates the views when the manifest has been replaced since they were made."""
        current = lake_manifest.stamp(self.lake.root)
        if current == self._stamp:
            return
        manifest = self.lake.read_manifest()
        for table in TABLES:
            self.table(table, self.lake.files(table, manifest)).createOrReplaceTempView(table)
        self._stamp = current

    def table(self, table: str, files: list[str]) -> DataFrame:
        """A lake table over the given Parquet files (absolute paths), with its schema's columns in order."""
        schema = spark_schema(table)
        if not files:
            return self.session.createDataFrame([], schema)
        reader = self.session.read.schema(schema)
        if table in PARTITIONED:  # `date` is the date=YYYY-MM-DD folder, read as DuckDB's hive_partitioning does
            reader = reader.option("basePath", str(self.lake.root.absolute() / table))
        return reader.parquet(*files).select(*[f"`{name}`" for name in SCHEMAS[table]])

    def run(self, query: str, params: Mapping[str, Any] | None = None, **identifiers: str) -> pl.DataFrame:
        text, bound = sql.prepare(query, params, **identifiers)
        self.refresh()
        spark_text = to_spark(text, bound)
        try:
            rows = self.session.sql(spark_text, args={k: _value(v) for k, v in bound.items()}).toArrow()
        except PySparkException as exc:
            raise QueryError(f"query {query} (Spark): {redact(_first_line(exc))}") from None
        return _frame(rows)


def run_tasks(session: SparkSession, fn: Callable[[Iterable[T]], list[R]], items: Sequence[T],
              progress: Callable[[int, int], None] | None = None, description: str = "sessionlens") -> list[R]:
    """Runs ``fn`` over ``items`` as Spark tasks, one item per task; returns the results in item order.

    ``fn`` gets an iterable of one item (a partition) and returns a list;
    it and the items are pickled to the executors, which must be able to
    import the modules ``fn`` lives in. ``progress(done, total)`` is called
    from a watching thread as tasks finish. A task that fails is retried
    as Spark's ``spark.task.maxFailures`` allows; only the attempt that
    succeeds returns its result.

    Raises:
        EngineError: a task kept failing (the message says why, redacted).
    """
    if not items:
        return []
    sc = session.sparkContext
    group = f"sessionlens-{uuid.uuid4().hex[:12]}"
    sc.setJobGroup(group, description)
    done = threading.Event()
    watcher = None
    if progress is not None:
        watcher = threading.Thread(target=_watch, args=(sc, group, len(items), progress, done), daemon=True)
        watcher.start()
    try:
        out = sc.parallelize(list(items), len(items)).mapPartitions(fn).collect()
    except Exception as exc:  # Py4J's and PySpark's errors alike: the job failed
        _stop(sc, group)
        raise EngineError(f"{description}: a Spark task failed: {redact(_task_failure(exc))}") from None
    finally:
        done.set()
        if watcher is not None:
            watcher.join()
        sc.setLocalProperty("spark.jobGroup.id", None)  # type: ignore[arg-type]  # None clears it (Spark's own idiom)
    if progress is not None:
        progress(len(items), len(items))
    return out


def _stop(sc: Any, group: str) -> None:
    """Cancels a failed job's other tasks and waits (bounded) until none runs.

    A failed job's other tasks keep running for a while; one still writing
    when the caller removes the run's staging folder would leave files there.
    A killed task's Python worker is given PySpark's kill timeout on top.
    """
    sc.cancelJobGroup(group)
    tracker = sc.statusTracker()
    deadline = time.monotonic() + STOP_SECONDS
    while time.monotonic() < deadline and _tasks(tracker, group, "numActiveTasks"):
        time.sleep(0.1)
    time.sleep(KILL_GRACE_SECONDS)


def _tasks(tracker: Any, group: str, count: str) -> int:
    """The sum of one task count (``numActiveTasks``, ``numCompletedTasks`` ...) over a job group's stages."""
    total = 0
    for job in tracker.getJobIdsForGroup(group):
        info = tracker.getJobInfo(job)
        for stage in (info.stageIds if info else []):
            stage_info = tracker.getStageInfo(stage)
            total += getattr(stage_info, count) if stage_info else 0
    return total


def _watch(sc: Any, group: str, total: int, progress: Callable[[int, int], None], done: threading.Event) -> None:
    """Reports the group's finished tasks until ``done`` is set."""
    tracker = sc.statusTracker()
    last = -1
    while not done.wait(PROGRESS_SECONDS):
        finished = _tasks(tracker, group, "numCompletedTasks")
        if finished != last and finished < total:
            progress(finished, total)
            last = finished


def _task_failure(exc: Exception) -> str:
    """The line of a failed job's message that says why the task failed (its Python error, if any)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    python = [line for line in lines
              if ("Error" in line or "Exception" in line) and not line.startswith(("at ", "File "))]
    for line in reversed(python):
        if not line.startswith(("org.apache", "py4j", "Caused by", "Traceback")):
            return line[:300]
    return (lines[0] if lines else type(exc).__name__)[:300]


def _first_line(exc: Exception) -> str:
    """The first line of Spark's message that says something (its messages often start with a blank one)."""
    return next((line.strip() for line in str(exc).splitlines() if line.strip()), type(exc).__name__)


def _value(value: Any) -> Any:
    """A parameter as Spark binds it: a time without a zone is UTC (as DuckDB's session reads it)."""
    if isinstance(value, dt.datetime) and value.tzinfo is None:
        return value.replace(tzinfo=dt.timezone.utc)
    if isinstance(value, (list, tuple)):
        return [_value(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):  # a NumPy scalar
        return value.item()
    return value


def _frame(rows: pa.Table) -> pl.DataFrame:
    """Spark's Arrow result as a Polars frame, its times UTC instants like DuckDB's TIMESTAMPTZ."""
    columns = []
    for field, column in zip(rows.schema, rows.columns, strict=True):
        if pa.types.is_timestamp(field.type):
            column = column.cast(pa.timestamp("us", tz="UTC"))
        columns.append(column)
    return pl.from_arrow(pa.table(columns, names=rows.column_names))  # type: ignore[return-value]
