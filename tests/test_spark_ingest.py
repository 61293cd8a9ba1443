"""`ingest --engine spark`: units parsed by Spark tasks, one commit, the rows a local ingest stores.

Compared by a content digest of each table (:func:`sessionlens.lake.digest.digest`)
and by the per-file summary. A task killed after writing its files is
retried and only the retry's files are committed; a job whose task keeps
dying commits nothing and leaves no file a reader could see. Skipped when
pyspark or Java is missing.
"""

from __future__ import annotations

import functools
import gzip
import json
import os
import shutil
import signal
from pathlib import Path

import pytest
from click.testing import CliRunner

from sessionlens import ingest
from sessionlens.cli import cli
from sessionlens.errors import EngineError
from sessionlens.ingestion.distributed import ingest_distributed
from sessionlens.ingestion.options import FieldOptions
from sessionlens.ingestion.rules import load_rules
from sessionlens.lake.digest import digest
from sessionlens.lake.store import Lake
from sessionlens.privacy import KEY_FILE

from .conftest import ROOT
from .test_split_ingest import REAL, new_lake, per_file

pytest.importorskip("pyspark")
if not (os.environ.get("JAVA_HOME") or shutil.which("java")):
    pytest.skip("Spark needs Java", allow_module_level=True)

from sessionlens.lake.spark import run_tasks  # noqa: E402 - after the skips: imports pyspark

from .test_spark_engine import local_session  # noqa: E402

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def spark():
    return local_session()


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> list[Path]:
    """Real access logs and plain copies of two archive hosts (cut into pieces), the rest of the samples as given."""
    base = tmp_path_factory.mktemp("inputs")
    plain = []
    for host in ("web01", "web02"):
        gz = ROOT / "sample_logs" / "archive" / "logs" / f"{host}.access.log.gz"
        plain.append(base / f"{host}.access.log")
        plain[-1].write_bytes(gzip.decompress(gz.read_bytes()))
        os.utime(plain[-1], (1_600_000_000, 1_600_000_000))
    samples = [f for name in ("archive", "mfa", "geocaching")
               for f in sorted((ROOT / "sample_logs" / name).rglob("*")) if f.is_file() and f.suffix != ".json"
               and not f.name.startswith(("web01", "web02"))]
    return [REAL / "elastic_apache_logs" / "apache_logs", *plain, *samples]


@pytest.fixture(scope="module")
def local_lake(inputs, tmp_path_factory) -> tuple[Path, list[dict]]:
    path = new_lake(tmp_path_factory.mktemp("local") / "lake")
    return path, per_file(ingest(path, [str(p) for p in inputs]))


def _spark_ingest(lake: Path, inputs: list[Path], spark, fn_wrapper=None, split_bytes: int = 128 << 10):
    """The distributed ingest on the tests' session; ``fn_wrapper`` wraps each task's function (fault injection)."""
    the_lake = Lake.of(lake, create=True)

    def run(fn, units, progress):
        return run_tasks(spark, fn_wrapper(fn) if fn_wrapper else fn, units, progress, "test ingest")

    with the_lake.writer():
        return ingest_distributed(the_lake, [(p, str(p.resolve()), True, False) for p in inputs], None,
                                  load_rules(None), FieldOptions(), run, split_bytes=split_bytes)


def _consistent(lake: Path) -> None:
    """The files on disk are exactly the manifest's; nothing pending or staged is left."""
    the_lake = Lake(lake)
    manifest = the_lake.read_manifest()
    for table in ("requests", "events", "rejects", "changes"):
        on_disk = {str(p.relative_to(lake)) for p in (lake / table).rglob("*.parquet")}
        assert set(manifest.files(table)) == on_disk, table
    assert not list(lake.rglob("*.tmp"))
    assert not any(p.suffix in (".parquet", ".log") for p in (lake / "_staging").rglob("*"))


def kill_after_writing(fn, unit_index: int = 1, every_attempt: bool = False):
    """Wraps a task function: the task holding unit ``unit_index`` of a cut file dies by SIGKILL after writing.

    Its files are on disk in its folder, its result never reaches the driver:
    the worst moment for a crash. Nested functions are pickled by value, so
    the executors need not import this test module.
    """

    def task(bundles):
        from pyspark import TaskContext

        bundles = list(bundles)
        results = fn(bundles)
        context = TaskContext.get()
        first_try = context is not None and context.attemptNumber() == 0
        if any(u.index == unit_index for bundle in bundles for u in bundle) and (every_attempt or first_try):
            os.kill(os.getpid(), signal.SIGKILL)
        return results

    return task


def test_spark_ingest_stores_what_a_local_ingest_stores(spark, inputs, local_lake, tmp_path, capfd):
    local, local_files = local_lake
    summary = _spark_ingest(new_lake(tmp_path / "lake"), inputs, spark)
    out, err = capfd.readouterr()
    assert (tmp_path / "lake" / KEY_FILE).read_text() not in out + err  # the key reached the tasks unlogged
    assert per_file(summary) == local_files
    assert summary.stored > 50_000 and any(f["format"].startswith("markers:") for f in local_files if f["format"])
    assert digest(Lake.of(tmp_path / "lake"), ("requests", "events", "rejects", "changes")) == \
        digest(Lake.of(local), ("requests", "events", "rejects", "changes"))
    _consistent(tmp_path / "lake")
    again = _spark_ingest(tmp_path / "lake", inputs, spark)
    assert again.stored == 0 and {f.status for f in again.files} == {"skipped"}


def test_a_killed_task_is_retried_and_only_its_retry_is_committed(spark, inputs, local_lake, tmp_path):
    local, local_files = local_lake
    summary = _spark_ingest(new_lake(tmp_path / "lake"), inputs, spark, kill_after_writing)
    assert per_file(summary) == local_files
    assert digest(Lake.of(tmp_path / "lake")) == digest(Lake.of(local))
    _consistent(tmp_path / "lake")


def test_a_task_that_keeps_dying_commits_nothing(spark, inputs, local_lake, tmp_path):
    local, _ = local_lake
    lake = new_lake(tmp_path / "lake")
    ingest(lake, [str(inputs[0])])  # something committed before: it must stay as it was
    before = Lake(lake).read_manifest()
    with pytest.raises(EngineError, match="a Spark task failed"):
        _spark_ingest(lake, inputs, spark, functools.partial(kill_after_writing, every_attempt=True))
    assert Lake(lake).read_manifest() == before
    _consistent(lake)
    assert _spark_ingest(lake, inputs, spark).stored > 0  # the run again, without the fault, completes it
    assert digest(Lake.of(lake)) == digest(Lake.of(local))


def test_cli_ingest_on_spark(spark, tmp_path):
    """`ingest --engine spark` from the CLI: the summary, then a second run that adds nothing."""
    src = REAL / "logparser_hackers_access" / "hackers-access.log"
    args = ["ingest", "--lake", str(tmp_path / "lake"), "--engine", "spark", "--spark-master", "local[2]",
            "--split-mb", "1", "--json", str(src)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["lines_read"] == summary["stored"] + summary["rejected"] > 3000
    local = ingest(tmp_path / "local", [str(src)])
    assert (summary["stored"], summary["rejected"]) == (local.stored, local.rejected)
    again = json.loads(CliRunner().invoke(cli, args).stdout)
    assert again["stored"] == 0 and again["files_skipped"] == 1


def test_standard_input_on_spark_leaves_no_copy(spark, tmp_path):
    """`ingest --engine spark -`: the copy of standard input the executors read is gone after the run."""
    src = REAL / "logparser_hackers_access" / "hackers-access.log"
    result = CliRunner().invoke(cli, ["ingest", "--lake", str(tmp_path / "lake"), "--engine", "spark", "--json",
                                      "--format", "nginx-combined", "-"], input=src.read_bytes())
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    local = ingest(tmp_path / "local", [str(src)], fmt="nginx-combined")
    assert (summary["stored"], summary["rejected"]) == (local.stored, local.rejected)
    assert not [p for p in (tmp_path / "lake" / "_staging").rglob("*") if p.is_file()]
