"""`sessionlens ingest` and `analyze --json` on DuckDB and on Spark: local[1], local[2], a two-worker cluster.

    python bench/spark.py                       # both: 50M lines ingested, 50M requests analysed
    python bench/spark.py --part ingest --ingest-lines 5000000 --no-record   # a quick look
    python bench/spark.py --part analyze --lines 2000000 --no-record   # a small lake, built here once

Ingest: --ingest-lines nginx lines (bench/ingest.py's generator, as ten
per-host files) ingested into a fresh lake by each engine; every lake must
hold the same rows (a content digest of each table, one hashing key for all).
Analyze: the lake bench/analyze_speed.py builds (50M requests over a week).

Times `analyze --json` end to end (process start to JSON) on one lake with
each engine, checks that every Spark answer equals DuckDB's (floats within
1e-9), and measures Spark's fixed cost apart: starting a session and running
a one-row query on the same master. The standalone cluster (a master and two
one-core workers on 127.0.0.1, started from the pyspark package as
tests/spark_cluster.py does) is started once, outside the timings, as a
site's cluster would already be running. Results are appended to
docs/benchmarks.md with the machine and the command.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from analyze_speed import build_lake  # noqa: E402
from common import machine, record  # noqa: E402
from ingest import generate  # noqa: E402

from sessionlens.privacy import KEY_FILE  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from spark_cluster import json_differences, start_cluster, stop_cluster  # noqa: E402

# a one-row query on a fresh session: what any Spark run pays before reading the lake
OVERHEAD = ("import sys, time; t = time.perf_counter(); "
            "from sessionlens.lake.spark import create_session; "
            "s = create_session(sys.argv[1], dict(a.split('=', 1) for a in sys.argv[2:])); "
            "s.range(1).count(); print(time.perf_counter() - t); s.stop()")
# the same analysis through the Python API, for a tree whose CLI has no --engine yet
API = ("import json, sys; from sessionlens import Lake, analyze; from sessionlens.lake.spark import SparkEngine; "
       "lake = Lake(sys.argv[1]); "
       "engine = SparkEngine(lake, master=sys.argv[2], conf=dict(a.split('=', 1) for a in sys.argv[3:])); "
       "print(json.dumps(analyze(lake, engine=engine).to_json()))")


def cli_has_engine() -> bool:
    """Whether this tree's `analyze` takes --engine (issue 12); else the Python API is timed instead."""
    out = subprocess.run([sys.executable, "-m", "sessionlens", "analyze", "--help"], capture_output=True, text=True)
    return "--engine" in out.stdout


def timed(cmd: list[str]) -> tuple[float, str]:
    """(seconds, stdout) of one process, run to its end."""
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-3000:]}")
    return seconds, proc.stdout


def analyze_command(lake: Path, master: str | None, conf: dict[str, str], cli: bool) -> list[str]:
    """The command that prints the analysis JSON: DuckDB when ``master`` is None, else Spark on it."""
    if master is None:
        return [sys.executable, "-m", "sessionlens", "analyze", "--lake", str(lake), "--json"]
    pairs = [f"{k}={v}" for k, v in conf.items()]
    if not cli:
        return [sys.executable, "-c", API, str(lake), master, *pairs]
    flags = [x for pair in pairs for x in ("--spark-conf", pair)]
    return [sys.executable, "-m", "sessionlens", "analyze", "--lake", str(lake), "--json", "--engine", "spark",
            "--spark-master", master, *flags]


HOSTS = 10
DIGEST = ("import json, sys; from sessionlens.lake.store import Lake; from sessionlens.lake.digest import digest; "
          "print(json.dumps(digest(Lake(sys.argv[1]))))")
KEY = "be11c4" * 10 + "abcd"  # one hashing key for every lake of the ingest bench: equal rows hash alike


def ingest_inputs(work: Path, lines: int) -> Path:
    """A folder of ten per-host nginx logs holding ``lines`` lines in all (generated once)."""
    folder = work / f"spark-ingest-{lines}"
    per_host = lines // HOSTS
    folder.mkdir(parents=True, exist_ok=True)
    for host in range(HOSTS):
        log = folder / f"web{host + 1:02d}.access.log"
        if not log.exists():
            t0 = time.perf_counter()
            generate(log.with_suffix(".tmp"), per_host, seed=100 + host)
            log.with_suffix(".tmp").rename(log)
            print(f"generated {log.name} in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
    return folder


def bench_ingest(args, extra: dict[str, str], cluster_conf) -> None:
    """Times `sessionlens ingest` into a fresh lake per engine; checks that every lake holds the same rows."""
    folder = ingest_inputs(args.work, args.ingest_lines)
    size_gb = sum(f.stat().st_size for f in folder.glob("*.log")) / 1e9
    rows: list[tuple[str, str, float, str]] = []
    reference: dict | None = None

    def one(label: str, master: str | None, conf: dict[str, str]) -> None:
        nonlocal reference
        lake = args.work / "spark-ingest-lake"
        shutil.rmtree(lake, ignore_errors=True)
        lake.mkdir(parents=True)
        (lake / KEY_FILE).write_text(KEY)
        cmd = [sys.executable, "-m", "sessionlens", "ingest", "--lake", str(lake), "--json", str(folder)]
        if master:
            cmd += ["--engine", "spark", "--spark-master", master,
                    *[x for k, v in {**conf, **extra}.items() for x in ("--spark-conf", f"{k}={v}")]]
        seconds, out = timed(cmd)
        summary = json.loads(out)
        assert summary["stored"] == summary["lines_read"] == args.ingest_lines - args.ingest_lines % HOSTS, summary
        _, digest = timed([sys.executable, "-c", DIGEST, str(lake)])
        if reference is None:
            reference, same = json.loads(digest), "reference"
        else:
            same = "yes" if json.loads(digest) == reference else "NO: the rows differ"
        rows.append((label, master or "-", seconds, same))
        print(f"ingest {label}: {seconds:.1f}s, same rows: {same}", file=sys.stderr)
        shutil.rmtree(lake, ignore_errors=True)

    one("DuckDB", None, {})
    one("Spark local[1]", "local[1]", {"spark.driver.memory": "1g"})
    one("Spark local[2]", "local[2]", {"spark.driver.memory": "1g"})
    with cluster_conf() as (conf, started):
        one("Spark standalone, 2 workers x 1 core", conf.pop("master"), conf)
    lines = args.ingest_lines - args.ingest_lines % HOSTS
    table = ["| engine | master | ingest s | lines/s | same rows as DuckDB |", "|---|---|---:|---:|---|"]
    for label, master, secs, same in rows:
        shown = master.rsplit(":", 1)[0] + ":<port>" if master.startswith("spark://") else master
        table.append(f"| {label} | `{shown}` | {secs:.1f} | {lines / secs:,.0f} | {same} |")
    record("\n".join([
        f"\n### Ingest on Spark: {lines:,} nginx lines ({size_gb:.1f} GB in {HOSTS} files), "
        f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC",
        f"Machine: {machine()}  ",
        f"Command: `python bench/spark.py --part ingest --ingest-lines {args.ingest_lines}`  ",
        "Each run is one `sessionlens ingest --json` process into a fresh lake, start to summary: DuckDB in the "
        "process, or `--engine spark` (files cut at 128 MB, one task per piece, one DuckDB thread per task, one "
        "commit). Same rows: a content digest of every table equals DuckDB's (one hashing key for all lakes). "
        f"The standalone cluster took {started:.1f}s to start, outside the timings. One run each.",
        "",
        *table,
        "",
    ]), not args.no_record)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--part", choices=["ingest", "analyze", "both"], default="both")
    ap.add_argument("--ingest-lines", type=int, default=50_000_000, help="lines to ingest (in ten files)")
    ap.add_argument("--lake", type=Path, help="an existing lake (default: bench/out/lake-analyze-50000000)")
    ap.add_argument("--lines", type=int, help="build (once) and use a lake of this many requests instead")
    ap.add_argument("--work", type=Path, default=ROOT / "bench" / "out")
    ap.add_argument("--worker-memory", default="1g", help="memory each of the two workers offers its executor")
    ap.add_argument("--spark-conf", action="append", default=[], metavar="K=V", help="passed to every Spark run")
    ap.add_argument("--no-record", action="store_true")
    args = ap.parse_args()
    extra = dict(pair.split("=", 1) for pair in args.spark_conf)

    @contextmanager
    def cluster_conf():
        with tempfile.TemporaryDirectory(prefix="spark-cluster-") as tmp:
            t0 = time.perf_counter()
            cluster = start_cluster(Path(tmp), workers=2, cores=1, memory=args.worker_memory)
            started = time.perf_counter() - t0
            try:
                yield {"master": cluster.master_url, "spark.driver.memory": "2g", "spark.driver.host": "127.0.0.1",
                       "spark.driver.bindAddress": "127.0.0.1", "spark.executor.memory": args.worker_memory,
                       "spark.pyspark.python": sys.executable}, started
            finally:
                stop_cluster(cluster)

    if args.part in ("ingest", "both"):
        bench_ingest(args, extra, cluster_conf)
    if args.part in ("analyze", "both"):
        bench_analyze(args, extra, cluster_conf)


def bench_analyze(args, extra: dict[str, str], cluster_conf) -> None:
    """Times `analyze --json` on one lake with each engine; checks every Spark answer against DuckDB's."""
    if args.lines:
        lake = build_lake(args.work, args.lines)
    else:
        lake = args.lake or args.work / "lake-analyze-50000000"
    if not (lake / "_manifest.json").exists():
        raise SystemExit(f"{lake} is not a lake: give --lines N to build one, or run bench/analyze_speed.py")
    cli = cli_has_engine()

    seconds, out = timed(analyze_command(lake, None, {}, cli))
    reference = json.loads(out)
    requests = reference["totals"]["requests"]
    rows: list[tuple[str, str, float, float | None, str]] = [("DuckDB", "-", seconds, None, "reference")]

    def spark(label: str, master: str, conf: dict[str, str]) -> None:
        conf = {**conf, **extra}
        overhead, _ = timed([sys.executable, "-c", OVERHEAD, master, *[f"{k}={v}" for k, v in conf.items()]])
        seconds, out = timed(analyze_command(lake, master, conf, cli))
        diff = json_differences(reference, json.loads(out), tol=1e-9)
        same = "yes" if not diff else f"NO: {len(diff)} differences, first {diff[0]}"
        rows.append((f"Spark {label}", master, seconds, overhead, same))
        print(f"{label}: {seconds:.1f}s (session start {overhead:.1f}s), same as DuckDB: {same}", file=sys.stderr)

    base = {"spark.driver.memory": "2g"}
    spark("local[1]", "local[1]", base)
    spark("local[2]", "local[2]", base)
    with cluster_conf() as (conf, started):
        spark("standalone, 2 workers x 1 core", conf.pop("master"), conf)

    command = "python bench/spark.py --part analyze" + (f" --lines {args.lines}" if args.lines else "")
    table = ["| engine | master | analyze s | requests/s | session start s | same JSON as DuckDB |",
             "|---|---|---:|---:|---:|---|"]
    for label, master, secs, overhead, same in rows:
        start = "-" if overhead is None else f"{overhead:.1f}"
        shown = master.rsplit(":", 1)[0] + ":<port>" if master.startswith("spark://") else master
        table.append(f"| {label} | `{shown}` | {secs:.1f} | {requests / secs:,.0f} | {start} | {same} |")
    how = ("`sessionlens analyze --json --engine spark --spark-master ...`" if cli else
           "`analyze(lake, engine=SparkEngine(lake, master=...))` in a fresh process (this tree's CLI had no "
           "--engine yet)")
    text = "\n".join([
        f"\n### Analyze on Spark: {requests:,} requests, {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC",
        f"Machine: {machine()}  ",
        f"Command: `{command}`  ",
        f"Lake: `{lake.relative_to(ROOT) if lake.is_relative_to(ROOT) else lake}`; each run is one process, start "
        f"to JSON: DuckDB `sessionlens analyze --json`, Spark {how}. Session start: a fresh process starting a "
        f"Spark session on the same master and counting one row (the fixed cost inside each Spark run). The "
        f"standalone cluster (pyspark's own master and workers on 127.0.0.1, {args.worker_memory} each) took "
        f"{started:.1f}s to start, outside the timings. One run each.",
        "",
        *table,
        "",
    ])
    record(text, not args.no_record)


if __name__ == "__main__":
    main()
