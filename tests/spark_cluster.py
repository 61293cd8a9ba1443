"""A real Spark standalone cluster on 127.0.0.1: one master, two workers.

The cluster is started from the pyspark package's own launcher
(``$SPARK_HOME/bin/spark-class``), the way a site's operators start one, so
tests and ``bench/spark.py`` exercise a driver talking to separate executor
JVMs over the network, not ``local[*]`` threads in one JVM.

Use the ``spark_cluster`` fixture (session scope: one cluster per test run;
it yields the master URL) by importing it into a test module, or call
:func:`standalone_cluster` directly (the benchmark does). Every process runs
in its own process group and is stopped with the group, so a JVM the
launcher forked never outlives the run, even when a start fails.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

START_TIMEOUT = 120.0  # seconds; two JVM starts on a busy 2-core machine take ~10 s
STOP_TIMEOUT = 15.0


class ClusterError(RuntimeError):
    """The cluster did not come up; the message carries the processes' logs."""


@dataclass
class Cluster:
    """A running standalone cluster.

    Attributes:
        master_url: ``spark://127.0.0.1:<port>``, for ``SparkSession.builder.master``.
        webui_url: the master's web UI (its ``/json/`` page lists the workers).
        base: the folder holding every log and work dir.
        processes: master first, then the workers.
    """

    master_url: str
    webui_url: str
    base: Path
    processes: list[subprocess.Popen] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)

    def state(self) -> dict[str, Any]:
        """The master's JSON status (workers, cores, applications)."""
        with urllib.request.urlopen(f"{self.webui_url}/json/", timeout=5) as resp:
            return json.load(resp)

    def log_text(self, tail: int = 40) -> str:
        """The last lines of every process's log, for a failure message."""
        parts = []
        for log in self.logs:
            lines = log.read_text(errors="replace").splitlines() if log.exists() else ["(no log)"]
            parts.append(f"--- {log.name} (last {tail} lines)\n" + "\n".join(lines[-tail:]))
        return "\n".join(parts)


def spark_home() -> Path | None:
    """The pyspark package folder (it holds bin/spark-class and the jars), or None without pyspark or Java."""
    try:
        from pyspark.find_spark_home import _find_spark_home  # heavy optional library: only when a cluster is wanted
    except ImportError:
        return None
    if not (os.environ.get("JAVA_HOME") or shutil.which("java")):
        return None
    home = Path(_find_spark_home())
    return home if (home / "bin" / "spark-class").exists() else None


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (the kernel's pick)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _environment(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "SPARK_HOME": str(home),
        "SPARK_LOCAL_IP": "127.0.0.1",  # no lookup of the machine's name, no binding to outside interfaces
        "SPARK_LOCAL_HOSTNAME": "127.0.0.1",
        "PYSPARK_PYTHON": sys.executable,  # executors' Python workers: the interpreter that has pyspark
        "SPARK_NO_DAEMONIZE": "1",
    })
    env.pop("SPARK_CONF_DIR", None)  # a user's cluster settings must not leak into the test cluster
    return env


def _launch(home: Path, args: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen:
    with open(log, "wb") as out:
        # its own session, so the launcher and the JVM it execs are stopped as one group
        return subprocess.Popen([str(home / "bin" / "spark-class"), *args], stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=env, cwd=log.parent, start_new_session=True)


def start_cluster(base: Path, workers: int = 2, cores: int = 1, memory: str = "1g",
                  timeout: float = START_TIMEOUT) -> Cluster:
    """Starts a master and ``workers`` workers, and waits until all registered.

    Args:
        base: an empty folder for logs and the workers' work dirs.
        workers: how many workers.
        cores: cores each worker offers.
        memory: memory each worker offers to executors (``1g``).
        timeout: seconds to wait for every worker to register.

    Returns:
        The running cluster; stop it with :func:`stop_cluster`.

    Raises:
        ClusterError: pyspark or Java is missing, a process exited, or the
            workers did not register in time (the message holds the logs).
            Whatever was started is stopped first.
    """
    home = spark_home()
    if home is None:
        raise ClusterError("pyspark or Java is not installed")
    base.mkdir(parents=True, exist_ok=True)
    env = _environment(home)
    port, webui = free_port(), free_port()
    cluster = Cluster(f"spark://127.0.0.1:{port}", f"http://127.0.0.1:{webui}", base)
    try:
        cluster.logs.append(base / "master.log")
        cluster.processes.append(_launch(home, [
            "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1", "--port", str(port),
            "--webui-port", str(webui)], cluster.logs[-1], env))
        for i in range(workers):
            work = base / f"worker-{i}"
            work.mkdir(exist_ok=True)
            cluster.logs.append(base / f"worker-{i}.log")
            cluster.processes.append(_launch(home, [
                "org.apache.spark.deploy.worker.Worker", "--host", "127.0.0.1", "--port", str(free_port()),
                "--webui-port", str(free_port()), "--cores", str(cores), "--memory", memory,
                "--work-dir", str(work), cluster.master_url], cluster.logs[-1], env))
        _wait_for_workers(cluster, workers, timeout)
    except BaseException:
        stop_cluster(cluster)
        raise
    return cluster


def _wait_for_workers(cluster: Cluster, workers: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    alive = 0
    while time.monotonic() < deadline:
        for proc in cluster.processes:
            if proc.poll() is not None:
                raise ClusterError(f"a Spark process exited with code {proc.returncode} while the cluster "
                                   f"started\n{cluster.log_text()}")
        try:
            alive = int(cluster.state().get("aliveworkers", 0))
        except (urllib.error.URLError, OSError, ValueError):
            alive = 0  # the master's web UI is not up yet
        if alive >= workers:
            return
        time.sleep(0.5)
    raise ClusterError(f"{alive} of {workers} Spark workers registered with {cluster.master_url} within "
                       f"{timeout:.0f} s\n{cluster.log_text()}")


def stop_cluster(cluster: Cluster) -> None:
    """Stops every process group of the cluster (workers first), killing what does not stop in time."""
    procs = list(reversed(cluster.processes))
    for proc in procs:
        _signal_group(proc, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    for proc in procs:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
        # the group may hold executor JVMs the worker forked: they go too
        _signal_group(proc, signal.SIGKILL)
        proc.wait()


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)  # start_new_session made the pid the group id
    except (ProcessLookupError, PermissionError):
        pass


@contextmanager
def standalone_cluster(base: Path | None = None, workers: int = 2, cores: int = 1,
                       memory: str = "1g") -> Iterator[Cluster]:
    """A running cluster for the ``with`` block; logs under ``base`` (else a temporary folder, removed after)."""
    own = base is None
    folder = Path(tempfile.mkdtemp(prefix="spark-cluster-")) if base is None else base
    cluster = start_cluster(folder, workers=workers, cores=cores, memory=memory)
    try:
        yield cluster
    finally:
        stop_cluster(cluster)
        if own:
            shutil.rmtree(folder, ignore_errors=True)


def json_differences(a: Any, b: Any, tol: float = 1e-9, path: str = "$") -> list[str]:
    """Where two JSON documents differ (empty when equal; floats within ``tol``, relative or absolute)."""
    if isinstance(a, dict) and isinstance(b, dict):
        if a.keys() != b.keys():
            return [f"{path}: keys {sorted(a.keys() ^ b.keys())} in one only"]
        return [d for k in a for d in json_differences(a[k], b[k], tol, f"{path}.{k}")]
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{path}: {len(a)} items against {len(b)}"]
        return [d for i, (x, y) in enumerate(zip(a, b, strict=True)) for d in json_differences(x, y, tol, f"{path}[{i}]")]
    if isinstance(a, float) or isinstance(b, float):
        if (isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool)
                and not isinstance(b, bool) and math.isclose(a, b, rel_tol=tol, abs_tol=tol)):
            return []
        return [f"{path}: {a!r} against {b!r}"]
    return [] if a == b else [f"{path}: {a!r} against {b!r}"]


@pytest.fixture(scope="session")
def spark_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The master URL of a standalone master and two one-core workers on 127.0.0.1 (skips without pyspark/Java)."""
    if spark_home() is None:
        pytest.skip("pyspark or Java is not installed (pip install -e '.[spark]')")
    cluster = start_cluster(tmp_path_factory.mktemp("spark-cluster"))
    try:
        yield cluster.master_url
    finally:
        stop_cluster(cluster)
