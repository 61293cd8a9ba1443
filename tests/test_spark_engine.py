"""Spark and DuckDB give the same answer to every named query (issue 12).

One fixture lake (the archive and MFA samples: requests, app events and
changes); every file in ``sessionlens/queries/`` runs on both engines with
the same parameters and, for ``{{ dimension }}`` queries, each dimension. The
frames must be equal: the same columns in the same order, the same rows
(sorted on both sides), floats within 1e-9, times as the same UTC instants.
Skipped without pyspark, sqlglot or Java.
"""

from __future__ import annotations

import math
import os
import shutil
from datetime import datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from sessionlens import Lake, ingest
from sessionlens.changes.store import import_markers
from sessionlens.lake import sql
from sessionlens.lake.schema import PARTITIONED

pytest.importorskip("pyspark")
pytest.importorskip("sqlglot")
if not (shutil.which("java") or os.environ.get("JAVA_HOME")):
    pytest.skip("Spark needs Java", allow_module_level=True)

from sessionlens.lake.spark import SparkEngine, create_session  # noqa: E402 - after the skips: imports pyspark

pytestmark = pytest.mark.spark

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ("archive", "mfa")  # access logs with a spike, and app events (logouts, MFA enrolments)
# Small and quiet: two local threads, no web UI, few shuffle partitions for small results.
TEST_CONF = {"spark.ui.enabled": "false", "spark.sql.shuffle.partitions": "4", "spark.sql.session.timeZone": "UTC",
             "spark.driver.memory": "1g"}


def local_session():
    """The tests' Spark session (one per process: getOrCreate hands later modules the same one)."""
    return create_session("local[2,3]", TEST_CONF)  # two threads; a failed task is tried up to three times


@pytest.fixture(scope="module")
def spark():
    return local_session()


@pytest.fixture(scope="module")
def lake(tmp_path_factory) -> Lake:
    path = tmp_path_factory.mktemp("spark") / "lake"
    for name in SAMPLES:
        ingest(path, [str(ROOT / "sample_logs" / name / "logs")])
        import_markers(path, [str(p) for p in sorted((ROOT / "sample_logs" / name / "markers").iterdir())])
    return Lake(path)


@pytest.fixture(scope="module")
def engines(lake, spark):
    return lake.engine(), SparkEngine(lake, spark)


def _params(lake: Lake) -> dict:
    """Values for every query's parameters, from the lake's span (a query takes those it names)."""
    start, end = lake.engine().one("lake_span", {"lo": None, "hi": None}, table="requests")
    end += timedelta(seconds=1)
    mid = start + (end - start) / 2 + timedelta(milliseconds=500)  # off the bucket grid: slices count from it
    tail = end - timedelta(hours=2)
    return {
        "since": start, "until": end, "start": mid, "end": end, "hist_start": start, "lo": None, "hi": None,
        "bucket_seconds": 60, "slice_seconds": 600, "window_minutes": 15, "min_cycles": 2, "from_events": False,
        "min_clients": 2, "min_agents": 1, "max_candidates": 50, "min_users": 2, "max_values": 5, "cap": 4,
        "values": None, "before_start": start, "tail_start": tail, "tail_end": end, "base_start": start,
        "base_end": tail,
    }


# Beside the defaults: the variants a query's meaning turns on.
VARIANTS: dict[str, list[dict]] = {
    "anomaly_logout_cycles": [{"from_events": True}, {"from_events": False}],
    "rate_between": [{"values": None}, {"values": ["web01", "v1.41.0", "rails-encrypted-gcm", "GET", "200"]}],
    "rate_slices": [{"values": None}, {"values": ["web02", "v1.40.2", "GET"]}],
    "exposure_split": [{"values": ["web01", "v1.41.0", "rails-encrypted-gcm", "GET", "200"]}],
    "lake_span": [{}, {"lo": datetime(2023, 9, 18, 12, 0, 0, 250000), "hi": datetime(2023, 9, 19, 6, 0)}],
    # empty lists must bind on both engines (a gate by version alone names no format or host)
    "gate_minutes": [{"versions": [], "formats": [], "hosts": []},
                     {"versions": ["v1.41.0"], "formats": ["rails-encrypted-gcm"], "hosts": ["web03"]}],
    "gate_values": [{"hosts": []}, {"hosts": ["web02", "web05"]}],
}

# Every dimension for segment_shares; for the other {{ dimension }} queries (each run costs a Spark job)
# a text column, a number (status: a cast) and an expression (host_version).
SOME_DIMENSIONS = ("host", "cookie_format", "status", "host_version")


def _calls(name: str) -> list[dict]:
    holes = sql.holes(name)
    if "table" in holes:
        identifiers = [{"table": t} for t in PARTITIONED]
    elif "first" in holes:  # two dimensions at once: the pair infer asks for, and a text column with a number
        identifiers = [{"first": "edge_worker", "second": "cache_status"}, {"first": "host", "second": "status"}]
    elif "dimension" in holes:
        dims = sql.DIMENSIONS if name == "segment_shares" else SOME_DIMENSIONS
        identifiers = [{"dimension": d} for d in dims]
    else:
        identifiers = [{}]
    return [{"params": v, "identifiers": i} for v in VARIANTS.get(name, [{}]) for i in identifiers]


def _sorted(frame: pl.DataFrame) -> pl.DataFrame:
    """Rows in one order whatever the engine's (lists sort by their text)."""
    keys = [pl.col(c).cast(pl.String) if isinstance(frame.schema[c], pl.List) else pl.col(c) for c in frame.columns]
    return frame.sort(keys, nulls_last=True) if frame.columns else frame


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9) or (math.isnan(a) and math.isnan(b))
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return a == b  # datetimes: both UTC-aware, so equal instants compare equal


def assert_same_frames(duck: pl.DataFrame, spark: pl.DataFrame, what: str) -> None:
    assert spark.columns == duck.columns, what
    assert spark.height == duck.height, f"{what}: {spark.height} rows on Spark, {duck.height} on DuckDB"
    for column in duck.columns:
        d, s = duck.schema[column], spark.schema[column]
        assert d.is_temporal() == s.is_temporal() and d.is_numeric() == s.is_numeric(), f"{what}: {column} {d} {s}"
    for i, (d_row, s_row) in enumerate(zip(_sorted(duck).rows(), _sorted(spark).rows(), strict=True)):
        assert all(_same(x, y) for x, y in zip(d_row, s_row, strict=True)), f"{what} row {i}: {d_row} != {s_row}"


QUERIES = sorted(p.stem for p in sql.queries_dir().glob("*.sql"))


@pytest.mark.parametrize("name", QUERIES)
def test_query_same_on_both_engines(name, engines, lake):
    duck, spark = engines
    base = _params(lake)
    for call in _calls(name):
        params = {**base, **call["params"]}
        what = f"{name} {call['params']} {call['identifiers']}"
        assert_same_frames(duck.run(name, params, **call["identifiers"]),
                           spark.run(name, params, **call["identifiers"]), what)


def test_every_query_has_rows_somewhere(engines, lake):
    """The fixture lake exercises the queries: most return rows (an empty == empty check proves little)."""
    duck, _ = engines
    base = _params(lake)
    empty = [name for name in QUERIES
             if all(duck.run(name, {**base, **c["params"]}, **c["identifiers"]).height == 0 for c in _calls(name))]
    assert len(empty) <= 6, empty


def test_views_follow_the_manifest(tmp_path, spark):
    """A commit after the engine was made is visible to its next query; an empty table has its columns."""
    src = tmp_path / "a.log"
    src.write_text('1.2.3.4 - - [19/Sep/2023:16:00:00 +0000] "GET / HTTP/1.1" 200 5 "-" "curl"\n')
    ingest(tmp_path / "lake", [str(src)])
    engine = SparkEngine(tmp_path / "lake", spark)
    assert engine.one("window_events", {"start": datetime(2000, 1, 1), "end": datetime(2100, 1, 1)}) == (0,)
    src.write_text(src.read_text() + '1.2.3.4 - - [19/Sep/2023:16:00:01 +0000] "GET / HTTP/1.1" 200 5 "-" "curl"\n')
    ingest(tmp_path / "lake", [str(src)])
    assert engine.run("lake_hours", table="requests").rows() == [(datetime.fromisoformat("2023-09-19T16:00:00+00:00"),
                                                                  2)]
