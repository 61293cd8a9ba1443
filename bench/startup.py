"""Start-up: `sessionlens --help` and the ingest of a 100-line file, each a whole process, several runs.

    python bench/startup.py            # 10 runs each, recorded in docs/benchmarks.md
    python bench/startup.py --runs 3 --no-record

What a user waits for before any work: the interpreter, sessionlens's
imports, the command itself. The 100-line file is nginx lines from
bench/ingest.py's generator (production-shaped), ingested into a fresh
lake each run. Reports the median and the slowest run.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, record  # noqa: E402
from ingest import PROFILES, generate  # noqa: E402

GOALS = {"--help": 0.3, "ingest 100 lines": 1.0}  # seconds (issue 13)


def timed(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-2000:]}")
    return seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--no-record", action="store_true")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="sessionlens-startup-") as tmp:
        log = Path(tmp) / "access.log"
        generate(log, 100, seed=5, odd=PROFILES["production"])
        timed([sys.executable, "-m", "sessionlens", "--help"])  # warm the file cache once, as a user's shell is
        cases = {
            "--help": lambda: timed([sys.executable, "-m", "sessionlens", "--help"]),
            "ingest 100 lines": lambda: _ingest(Path(tmp), log),
        }
        for name, run in cases.items():
            times = [run() for _ in range(args.runs)]
            median, worst = statistics.median(times), max(times)
            ok = "yes" if worst < GOALS[name] else "NO"
            rows.append(f"| `sessionlens {name}` | {median:.2f} | {worst:.2f} | < {GOALS[name]} s | {ok} |")
            print(rows[-1], file=sys.stderr)
    record("\n".join([
        f"\n### Start-up, {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC",
        f"Machine: {machine()}  ",
        f"Command: `python bench/startup.py --runs {args.runs}`  ",
        f"Each is a whole process (`python -m sessionlens ...`), {args.runs} runs; the ingest goes into a fresh lake "
        "each run.\n",
        "| command | median s | slowest s | goal | met |", "|---|---:|---:|---|---|", *rows, "",
    ]), not args.no_record)


def _ingest(base: Path, log: Path) -> float:
    lake = base / "lake"
    shutil.rmtree(lake, ignore_errors=True)
    return timed([sys.executable, "-m", "sessionlens", "ingest", "--lake", str(lake), "--json", str(log)])


if __name__ == "__main__":
    main()
