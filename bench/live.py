"""`sessionlens watch` live: time from onset to alert on the three sample incidents; lag and CPU at 5,000 lines/s.

Part 1 replays each sample incident (seed 7, scale 1) in accelerated time
into growing files (:class:`sessionlens.samples.replay.Replay`): the history
up to 30 minutes before the ground truth's onset arrives in the first
cycle, then one ``watch`` cycle per simulated minute until the onset alert
(or 40 minutes). It reports the simulated minutes from the onset to the
alert, whether the alert names the ground truth's cause, and the cycle's
wall time.

Part 2 runs ``sessionlens watch --interval 10`` as a process while a
writer appends nginx lines stamped with the wall clock at 5,000 lines/s to
four files, and reports the ingest lag of each cycle (how old the newest
stored line was when the cycle committed) and the watch process's CPU
share (user + system time of the process over wall time, from /proc).

    python bench/live.py [--seconds 120] [--rate 5000] [--no-record]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from common import ROOT, record, section

from sessionlens.lake.store import Lake
from sessionlens.live.watch import Watcher
from sessionlens.samples import generate
from sessionlens.samples.replay import Replay

UTC = timezone.utc


def onset_to_alert(name: str, work: Path) -> dict:
    truth = generate(name, work / name / "inc", seed=7, scale=1.0)
    onset = datetime.fromisoformat(truth["spike"]["onset_after"].replace("Z", "+00:00"))
    replay = Replay(work / name / "inc", work / name / "live")
    now = onset - timedelta(minutes=30)
    replay.advance(now)
    paths = [str(replay.logs), str(replay.markers)]
    seconds, alert, at = [], None, None
    while now <= onset + timedelta(minutes=40) and alert is None:
        began = time.perf_counter()
        with Watcher(work / name / "lake", paths) as watcher:
            done = watcher.cycle()
        seconds.append(time.perf_counter() - began)
        onsets = [a for a in done.alerts if a.event == "onset"]
        if onsets:
            alert, at = onsets[0], done.data_end
        now += timedelta(minutes=1)
        replay.advance(now)
    suspect = (alert.details.get("suspect") or {}).get("id") if alert else None
    return {"incident": name, "onset": onset, "alert_at": at, "cause": truth["cause"], "named": suspect,
            "minutes": (at - onset).total_seconds() / 60 if at else None,
            "cycle_s": sum(seconds[1:]) / max(len(seconds) - 1, 1), "first_cycle_s": seconds[0]}


LINE = ('{ip} - - [{t}] "GET /works/{n} HTTP/1.1" {status} 2048 "-" "Mozilla/5.0 (X11; Linux x86_64)" 0.012 '
        '{host} v2.0.1 "{cookie}" "on" "dynamic" "-" "-"\n')


def follow(seconds: float, rate: int, work: Path) -> dict:
    logs = work / "follow" / "logs"
    logs.mkdir(parents=True)
    hosts = [f"web0{i}" for i in range(1, 5)]
    files = {h: open(logs / f"{h}.access.log", "a") for h in hosts}
    lake = work / "follow" / "lake"
    env = {**os.environ, "COLUMNS": "200"}
    cmd = [sys.executable, "-m", "sessionlens", "watch", "--lake", str(lake), "--interval", "10", str(logs)]
    out = open(work / "follow" / "watch.out", "w")
    proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
    tick, written, n = 0.2, 0, 0
    started = time.monotonic()
    cpu_before = _cpu(proc.pid)
    while time.monotonic() - started < seconds:
        t = datetime.now(UTC).strftime("%d/%b/%Y:%H:%M:%S +0000")
        per_file = int(rate * tick / len(hosts))
        for h, fh in files.items():
            fh.write("".join(LINE.format(ip=f"10.1.{k % 200}.{k % 250}", t=t, n=k, status=200 if k % 97 else 302,
                                         host=h, cookie=f"s{k % 5000:08x}--a1b2c3d4e5f6a7b8c9d0")
                             for k in range(n, n + per_file)))
            fh.flush()
            n += per_file
            written += per_file
        time.sleep(max(0.0, tick - (time.monotonic() - started) % tick))
    cpu = _cpu(proc.pid) - cpu_before
    wall = time.monotonic() - started
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=60)
    out.close()
    for fh in files.values():
        fh.close()
    lags = [_seconds(m) for m in re.findall(r"\(lag ([^)]*)\)", (work / "follow" / "watch.out").read_text())]
    lags = [x for x in lags if x is not None][1:]  # the first cycle starts before the writer has run
    # one more cycle reads what was written after the last one: then every line is in the lake, once
    subprocess.run(cmd[:-1] + ["--once", str(logs)], check=True, capture_output=True, env=env)
    lake_rows = Lake(lake).engine().one("window_totals", {"start": datetime(2000, 1, 1, tzinfo=UTC),
                                                          "end": datetime(2100, 1, 1, tzinfo=UTC)})[0]
    return {"lines": written, "rate": written / wall, "cpu_share": cpu / wall, "lags": lags, "stored": lake_rows}


def _cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _seconds(text: str) -> float | None:
    m = re.match(r"(\d+) s$", text) or re.match(r"(\d+) min$", text)
    if not m:
        return None
    return float(m.group(1)) * (60 if text.endswith("min") else 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=120)
    ap.add_argument("--rate", type=int, default=5000)
    ap.add_argument("--no-record", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
        work = Path(tmp)
        incidents = [onset_to_alert(name, work) for name in ("archive", "geocaching", "mfa")]
        followed = follow(args.seconds, args.rate, work)
    rows = ["| incident | onset (truth, after) | alert at (data time) | onset to alert | names | cause | "
            "cycle (s) |", "|---|---|---|---|---|---|---|"]
    for r in incidents:
        late = f"{r['minutes']:.0f} min" if r["minutes"] is not None else "no alert in 40 min"
        at = f"{r['alert_at']:%H:%M}" if r["alert_at"] else "-"
        rows.append(f"| {r['incident']} | {r['onset']:%H:%M} | {at} | {late} | {r['named']} | {r['cause']} "
                    f"| {r['cycle_s']:.2f} |")
    lags = followed["lags"]
    lines = [*rows, "",
             f"Following {followed['rate']:,.0f} lines/s ({followed['lines']:,} lines, 4 files) "
             f"for {args.seconds:.0f} s "
             f"with `--interval 10`: watch CPU share {followed['cpu_share']:.0%} of one core; ingest lag at commit "
             + (f"median {sorted(lags)[len(lags) // 2]:.0f} s, max {max(lags):.0f} s over {len(lags)} cycles "
                "(add up to the interval waited between cycles)" if lags else "not measured (no cycle finished)")
             + f"; after a last `--once`, the lake holds {followed['stored']:,} of the {followed['lines']:,} lines."]
    print(json.dumps({"incidents": incidents, "follow": followed}, default=str, indent=1))
    record(section("Live: onset to alert, lag and CPU while following (bench/live.py)",
                   f"python bench/live.py --seconds {args.seconds:g} --rate {args.rate}", *lines),
           enabled=not args.no_record)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
