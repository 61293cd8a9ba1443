"""`sessionlens nightly` on a lake of one week against one of eight weeks, the same new day ingested.

    python bench/nightly_history.py [--per-day 300000] [--runs 3]

Builds (once, under bench/out/) two lakes of generated nginx logs from 8
hosts, one file per day: 7 days and 56 days, both ending on the same day.
Each run copies a lake, puts the next day's log in an inbox and times
`sessionlens nightly` as a whole process (ingest of the new day, analysis
of the night against its history, reports). Target (issue 13): the 8-week
lake takes no more than 1.2 times what the 1-week lake takes.
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
from common import record, section  # noqa: E402
from ingest import generate  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DAY = 86400
NEW_DAY = 1700006400  # 2023-11-15 00:00 UTC: the night analysed; the histories end just before it


def day_log(folder: Path, day_start: int, per_day: int) -> Path:
    path = folder / f"access-{datetime.fromtimestamp(day_start, timezone.utc):%Y%m%d}.log"
    if not path.exists():
        generate(path, per_day, seed=day_start % 100_003, start=day_start, span=DAY, stable_versions=True)
    return path


def history_lake(work: Path, days: int, per_day: int) -> Path:
    """A lake holding ``days`` days before NEW_DAY, one file per day, built once and kept."""
    lake = work / f"lake-nightly-{days}d-{per_day}"
    if (lake / "_manifest.json").exists():
        return lake
    logs = work / f"nightly-logs-{per_day}"
    logs.mkdir(parents=True, exist_ok=True)
    files = [day_log(logs, NEW_DAY - (d + 1) * DAY, per_day) for d in range(days)]
    subprocess.run([sys.executable, "-m", "sessionlens", "ingest", "--lake", str(lake), "--json",
                    *map(str, files)], check=True, capture_output=True)
    print(f"built the {days}-day lake", file=sys.stderr)
    return lake


def time_nightly(lake: Path, new_day: Path) -> float:
    """Seconds for one nightly run over a copy of ``lake`` with ``new_day`` in its inbox."""
    with tempfile.TemporaryDirectory(dir=lake.parent) as tmp:
        copy, inbox, out = Path(tmp) / "lake", Path(tmp) / "inbox", Path(tmp) / "out"
        shutil.copytree(lake, copy)
        inbox.mkdir()
        shutil.copy(new_day, inbox / new_day.name)
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "sessionlens", "nightly", "--inbox", str(inbox), "--lake", str(copy),
                        "--out", str(out)], check=False, capture_output=True)  # exit 3/4 are verdicts, not failures
        seconds = time.perf_counter() - t
        if not (out / "latest.html").exists():
            raise SystemExit(f"nightly wrote no report over {lake}")
        return seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--per-day", type=int, default=300_000, help="requests per day")
    ap.add_argument("--runs", type=int, default=3, help="runs per lake (the median is kept)")
    ap.add_argument("--work", type=Path, default=ROOT / "bench" / "out")
    ap.add_argument("--no-record", action="store_true")
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    lakes = {days: history_lake(args.work, days, args.per_day) for days in (7, 56)}
    new_day = day_log(args.work / f"nightly-logs-{args.per_day}", NEW_DAY, args.per_day)
    times: dict[int, list[float]] = {7: [], 56: []}
    for _ in range(args.runs):  # interleaved, so a busy moment hits both
        for days, lake in lakes.items():
            times[days].append(time_nightly(lake, new_day))
    week, eight = statistics.median(times[7]), statistics.median(times[56])
    runs = "; ".join(f"{d} days: " + ", ".join(f"{t:.1f}" for t in ts) + " s" for d, ts in times.items())
    text = section(
        f"Nightly against its history: {args.per_day:,} requests a day",
        f"python bench/nightly_history.py --per-day {args.per_day} --runs {args.runs}",
        f"`sessionlens nightly` as a whole process (the same new day ingested, then the night analysed and "
        f"reported), median of {args.runs} runs: {week:.1f} s with 1 week in the lake, {eight:.1f} s with 8 weeks: "
        f"**{eight / week:.2f}x** (target: at most 1.2x). Runs: {runs}.")
    record(text, not args.no_record)


if __name__ == "__main__":
    main()
