"""`analyze --json --engine spark` says what `--engine duckdb` says (issue 12).

The three sample incidents and the traps the analysis tests use (the spike
traps, the cause traps, the anomaly traps) are analysed through the command
line on both engines; the documents must be equal: the same spikes,
suspects, roles, effects, segments and anomalies, floats within 1e-9.
Skipped without pyspark, sqlglot or Java.

Each case costs about 20 s of Spark: the default run takes the incidents
and eight traps that reach every part of the analysis (segment spikes, slow
rises, no signal, two spikes, responses, rollouts, grace periods,
anomalies); ``SESSIONLENS_SPARK_ALL=1`` runs all 25.
"""

from __future__ import annotations

import functools
import json
import math
import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from sessionlens.cli import cli
from sessionlens.samples import generate
from sessionlens.samples.traps import TRAPS, generate_trap
from sessionlens.samples.traps_anomalies import ANOMALY_TRAPS, generate_anomaly_trap
from sessionlens.samples.traps_causes import CAUSE_TRAPS

from .conftest import scenario_lake

pytest.importorskip("pyspark")
pytest.importorskip("sqlglot")
if not (shutil.which("java") or os.environ.get("JAVA_HOME")):
    pytest.skip("Spark needs Java", allow_module_level=True)

from .test_spark_engine import TEST_CONF, local_session  # noqa: E402 - after the skips: imports pyspark

pytestmark = pytest.mark.spark

# The sample incidents, then every trap: spikes and non-spikes, causes and responses, session anomalies.
CASES = {
    **{name: functools.partial(generate, name, seed=7, scale=1.0) for name in ("archive", "geocaching", "mfa")},
    **{name: functools.partial(generate_trap, name) for name in TRAPS},
    **{name: fn for name, fn in CAUSE_TRAPS.items()},
    **{name: functools.partial(generate_anomaly_trap, name, scale=0.5) for name in ANOMALY_TRAPS},
}


@pytest.fixture(scope="module")
def spark():
    return local_session()  # started once; the CLI's engine finds it running (one session per process)


def _analyze(lake: Path, *extra: str) -> dict:
    result = CliRunner().invoke(cli, ["analyze", "--lake", str(lake), "--json", *extra])
    assert result.exit_code in (0, 4), result.output
    return json.loads(result.stdout)


def _differences(a, b, where: str = "$") -> list[str]:
    """Where two JSON documents differ (floats within 1e-9)."""
    if isinstance(a, dict) and isinstance(b, dict):
        if list(a) != list(b):
            return [f"{where}: keys {list(a)} != {list(b)}"]
        return [d for k in a for d in _differences(a[k], b[k], f"{where}.{k}")]
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{where}: {len(a)} items != {len(b)}"]
        return [d for i, (x, y) in enumerate(zip(a, b, strict=True)) for d in _differences(x, y, f"{where}[{i}]")]
    if isinstance(a, float) and isinstance(b, (int, float)) and not isinstance(b, bool):
        return [] if math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9) else [f"{where}: {a!r} != {b!r}"]
    return [] if a == b and type(a) is type(b) else [f"{where}: {a!r} != {b!r}"]


EVERY_PART = ("archive", "geocaching", "mfa", "canary_one_host", "slow_rise", "no_signal", "two_spikes",
              "response_hurts", "percent_rollout", "secret_rotation_grace", "mass_invalidation_access")
RUN = sorted(CASES) if os.environ.get("SESSIONLENS_SPARK_ALL", "") not in ("", "0") else list(EVERY_PART)


@pytest.mark.parametrize("name", RUN)
def test_analyze_json_same_on_spark(name, spark, tmp_path):
    truth, lake = scenario_lake(tmp_path, CASES[name])
    window = [f"--{k}={v}" for k, v in truth.get("analyze", {}).items() if k in ("since", "until")]
    duck = _analyze(lake, *window)
    conf = [arg for k, v in TEST_CONF.items() for arg in ("--spark-conf", f"{k}={v}")]
    on_spark = _analyze(lake, *window, "--engine", "spark", "--spark-master", "local[2]", *conf)
    assert duck["verdict"] in ("spike", "normal", "no-signal", "no-data")
    assert not _differences(duck, on_spark), "\n".join(_differences(duck, on_spark)[:20])


def test_engine_from_environment(spark, tmp_path, monkeypatch):
    """SESSIONLENS_ENGINE=spark picks Spark without a flag; a malformed --spark-conf is a usage error."""
    result = CliRunner().invoke(cli, ["analyze", "--lake", str(tmp_path), "--spark-conf", "novalue"])
    assert result.exit_code == 2 and "KEY=VALUE" in result.output
    monkeypatch.setenv("SESSIONLENS_ENGINE", "nosuch")
    result = CliRunner().invoke(cli, ["analyze", "--lake", str(tmp_path)])
    assert result.exit_code == 2 and "nosuch" in result.output
