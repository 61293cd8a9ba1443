"""A real Spark standalone cluster (one master, two workers on 127.0.0.1) runs sessionlens's queries.

One cluster for the whole test run (``tests/spark_cluster.py``); one driver
session on it for this module. Skipped when pyspark or Java is missing.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from sessionlens import analyze
from sessionlens.changes.store import import_markers

from .conftest import ROOT
from .spark_cluster import json_differences, spark_cluster  # noqa: F401  (spark_cluster: the fixture)

pytestmark = pytest.mark.spark

EXECUTORS = 2
ARCHIVE = ROOT / "sample_logs" / "archive"


@pytest.fixture(scope="module")
def spark(spark_cluster):  # noqa: F811  (the imported fixture, requested by name)
    """A driver on the cluster, with both executors registered before any test runs a job."""
    pyspark_sql = pytest.importorskip("pyspark.sql")
    from pyspark import SparkContext

    if SparkContext._active_spark_context is not None:  # one context per process: another test's is done with
        SparkContext._active_spark_context.stop()
    # The executors run ingest tasks in the interpreter the driver names: this one (it has sessionlens).
    os.environ["PYSPARK_PYTHON"] = sys.executable
    session = (pyspark_sql.SparkSession.builder.master(spark_cluster).appName("sessionlens-tests")
               .config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1")
               .config("spark.ui.enabled", "false").config("spark.executor.memory", "512m")
               .config("spark.pyspark.python", sys.executable).config("spark.sql.session.timeZone", "UTC")
               .getOrCreate())
    try:
        tracker = session.sparkContext.statusTracker()
        deadline = time.monotonic() + 60
        # the driver counts as one executor; the standalone ones register a few seconds after the session starts
        while len(tracker.getExecutorInfos()) < EXECUTORS + 1 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(tracker.getExecutorInfos()) == EXECUTORS + 1, "the workers' executors did not register"
        yield session
    finally:
        session.stop()


def test_tasks_run_on_both_workers(spark):
    def where(index: int, _rows) -> list[tuple[int, str]]:
        """In a task: its partition and the executor's work dir (workdir/<app>/<executor id>, the task's cwd).

        Nested, so that it is pickled by value: the executors cannot import this test module.
        """
        from pyspark import TaskContext

        time.sleep(0.5)  # long enough that one executor cannot take every task before the other starts
        context = TaskContext.get()
        assert context is not None and context.partitionId() == index  # always set inside a task
        return [(index, os.getcwd())]

    sc = spark.sparkContext
    assert {e.host for e in sc.statusTracker().getExecutorInfos()} == {"127.0.0.1"}
    found = sc.parallelize(range(4), 4).mapPartitionsWithIndex(where).collect()
    assert sorted(p for p, _ in found) == list(range(4))
    dirs = {Path(cwd) for _, cwd in found}
    workers = {d.parent.parent.name for d in dirs}  # .../worker-N/app-.../<executor id>
    executors = {d.name for d in dirs}
    assert workers == {"worker-0", "worker-1"}, dirs
    assert len(executors) == EXECUTORS, dirs


@pytest.fixture(scope="module")
def archive_inputs(tmp_path_factory) -> list[Path]:
    """The archive sample's logs: four hosts as plain files (cut into pieces), four as they come (gzip)."""
    import gzip

    base = tmp_path_factory.mktemp("archive-inputs")
    out = []
    for gz in sorted((ARCHIVE / "logs").glob("*.gz")):
        if gz.name < "web05":
            out.append(base / gz.with_suffix("").name)
            out[-1].write_bytes(gzip.decompress(gz.read_bytes()))
            os.utime(out[-1], (1_600_000_000, 1_600_000_000))
        else:
            out.append(gz)
    return out


@pytest.mark.slow  # ~65 queries, each a few Spark stages on two one-core executors: 1-2 minutes
def test_ingest_and_analyze_through_the_cluster_equal_local(spark, archive_inputs, tmp_path):
    """The archive sample ingested by the cluster's tasks stores what a local ingest stores, and analyzes alike."""
    from sessionlens import Lake, ingest
    from sessionlens.lake.digest import digest
    from sessionlens.lake.spark import SparkEngine
    from sessionlens.privacy import KEY_FILE

    lakes = {}
    for name in ("local", "cluster"):
        lakes[name] = tmp_path / name
        lakes[name].mkdir()
        (lakes[name] / KEY_FILE).write_text("5e551011" * 8)  # one key: the same cookies hash alike
    local = ingest(lakes["local"], [str(p) for p in archive_inputs])
    remote = ingest(lakes["cluster"], [str(p) for p in archive_inputs], engine="spark", spark_session=spark,
                    split_bytes=200 << 10)
    assert [f.as_dict() for f in remote.files] == [f.as_dict() for f in local.files]
    assert remote.stored > 10_000
    assert digest(Lake(lakes["cluster"])) == digest(Lake(lakes["local"]))
    for lake in lakes.values():
        import_markers(lake, [str(p) for p in sorted((ARCHIVE / "markers").iterdir())])
    expected = analyze(Lake(lakes["local"])).to_json()
    assert expected["spikes"], "the archive sample has its spike"
    on_cluster = analyze(Lake(lakes["cluster"]), engine=SparkEngine(Lake(lakes["cluster"]), spark)).to_json()
    assert json_differences(expected, on_cluster, tol=1e-9) == []
