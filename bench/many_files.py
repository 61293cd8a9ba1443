"""Many small files against one big file: the same lines, the same run.

    python bench/many_files.py                       # 1M lines, one file vs 2,000 files of 500
    python bench/many_files.py --lines 200000 --files 400 --no-record

Rotated and per-host logs come as many files. The lines (production-shaped
nginx, from bench/ingest.py's generator) are written once as one file and
once cut into ``--files`` files of consecutive lines in one folder; each is
ingested by one ``sessionlens ingest --json`` process into a fresh lake.
The goal (issue 13): the many files at no less than half the speed of one.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, machine, record  # noqa: E402
from ingest import PROFILES, generate  # noqa: E402

GOAL = 0.5  # many files' speed / one file's speed


def ingest(paths: list[Path], lake: Path) -> tuple[float, dict]:
    """Seconds and summary of one whole ingest process into a fresh lake."""
    shutil.rmtree(lake, ignore_errors=True)
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "sessionlens", "ingest", "--lake", str(lake), "--json",
                           *map(str, paths)], capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(proc.stderr[-3000:])
    return seconds, json.loads(proc.stdout)


def cut(src: Path, folder: Path, files: int) -> None:
    """Writes ``files`` files of consecutive lines of ``src`` into ``folder``."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    lines = src.read_bytes().splitlines(keepends=True)
    per = -(-len(lines) // files)
    for i in range(files):
        (folder / f"access-{i:05d}.log").write_bytes(b"".join(lines[i * per:(i + 1) * per]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--files", type=int, default=2_000)
    ap.add_argument("--work", type=Path, default=ROOT / "bench" / "out")
    ap.add_argument("--no-record", action="store_true")
    args = ap.parse_args()
    work = args.work / f"many-{args.lines}-{args.files}"
    work.mkdir(parents=True, exist_ok=True)
    one = work / "access.log"
    if not one.exists():
        generate(one, args.lines, seed=3, odd=PROFILES["production"])
    cut(one, work / "files", args.files)
    one_s, one_summary = ingest([one], work / "lake-one")
    many_s, many_summary = ingest([work / "files"], work / "lake-many")
    for summary in (one_summary, many_summary):
        assert summary["lines_read"] == args.lines == summary["stored"] + summary["rejected"], summary
    assert one_summary["stored"] == many_summary["stored"], (one_summary["stored"], many_summary["stored"])
    ratio = one_s / many_s
    rows = [f"| one file | 1 | {one_s:.1f} | {args.lines / one_s:,.0f} | |",
            f"| many files | {args.files:,} | {many_s:.1f} | {args.lines / many_s:,.0f} | "
            f"**{ratio:.2f}** ({'met' if ratio >= GOAL else 'not met'}; goal >= {GOAL}) |"]
    cmd = "python bench/many_files.py " + " ".join(a for a in sys.argv[1:] if a != "--no-record")
    record("\n".join([
        f"\n### Many files: {args.lines:,} lines as 1 file and as {args.files:,} files, "
        f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC",
        f"Machine: {machine()}  ",
        f"Command: `{cmd.strip()}`  ",
        "Production-shaped nginx lines (bench/ingest.py); each run is one `sessionlens ingest --json` process into a "
        "fresh lake, the many files given as their folder. Same rows stored in both.\n",
        "| input | files | seconds | lines/s | speed vs one file |", "|---|---:|---:|---:|---|", *rows, "",
    ]), not args.no_record)


if __name__ == "__main__":
    main()
