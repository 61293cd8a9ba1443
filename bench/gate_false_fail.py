"""`sessionlens gate`: false fails over 200 simulated clean rollouts, and how fast broken ones fail.

    python bench/gate_false_fail.py [--rollouts 200] [--broken 50] [--lakes 5] [--work DIR] [--no-record]

Simulated rollouts. Each is a frame of per-minute counts, as
``queries/gate_minutes.sql`` returns them (minute x route family x with or
without a session cookie: exposed and unexposed requests and session
errors), fed to ``sessionlens.live.gate_judge.judge`` -- the function the
gate calls -- after every simulated minute, with the default settings, until
it passes or fails or 60 minutes have passed. Sizes vary (30 to 200 requests
a minute, 4 to 10 hosts, seven route families with their own traffic, share
of session traffic and error rate, 0.05% to 1% session errors), and so does
the rollout: half roll host by host (every 2 to 5 minutes, as the archive
did), half keep a canary of one or two hosts; half hand out a new cookie
format, whose holders count as exposed on every host. Clean rollouts fail
no more often on the exposed side; broken ones add 10 to 40 points of
session errors to exposed requests with a session, or --detect (default 2 points) or twice
that to every exposed request (a pass after ``needed`` requests means a rise of
--detect was *expected* to have shown: about half of those rollouts fail first);
the archive-shaped ones add 50 (old hosts failing the new cookies, new hosts the old). A false fail is a fail at
any of the looks; the test keeps it under alpha = 1% however many looks.

Real lakes. ``--lakes`` seeds of the archive sample at scale 2, broken and
clean (``archive.generate(clean=True)``), ingested and polled with
``sessionlens.live.gate.gate(--version v1.41.0)`` each minute from 16:10 to
16:45, next to the same number of simulated rollouts shaped like the
archive (8 hosts, one every 3 minutes, ~100 requests a minute, the cookie
change), to show the simulation behaves as the lakes do.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import polars as pl

from sessionlens import ingest
from sessionlens.changes.store import import_markers
from sessionlens.live.gate import gate
from sessionlens.live.gate_judge import GateSettings, judge
from sessionlens.samples import archive

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import record, section  # noqa: E402

T0 = datetime(2024, 5, 6, 12, 0, tzinfo=timezone.utc)
HORIZON = 60  # minutes of looks per simulated rollout
FAMILIES = 7
SETTINGS = GateSettings()


def simulate(rng: np.random.Generator, *, broken: float = 0.0, everywhere: bool = False,
             shape: dict | None = None) -> pl.DataFrame:
    """One rollout's per-minute cells (gate_minutes' columns); ``broken``: extra failure share of exposed
    requests with a session on routes that can fail (``everywhere``: of every exposed request, as
    ``--detect`` counts it). ``shape`` fixes the rollout's parameters (else drawn)."""
    s = {"per_minute": rng.uniform(30, 200), "hosts": int(rng.integers(4, 11)), "rolling": rng.random() < 0.5,
         "step": rng.uniform(2, 5), "canary": int(rng.integers(1, 3)), "cookie": rng.random() < 0.5,
         "spread": rng.uniform(0.1, 0.5), "rate": float(np.exp(rng.uniform(np.log(5e-4), np.log(1e-2)))),
         **(shape or {})}
    share = rng.dirichlet(np.full(FAMILIES, 2.0))  # of the traffic, per route family
    sessions = rng.uniform(0.3, 0.8, FAMILIES)  # of a family's requests, those with a session cookie
    multiplier = np.exp(rng.uniform(np.log(0.3), np.log(3), FAMILIES))
    multiplier[0] = 0.0  # static assets: never a session error
    t = np.arange(HORIZON)
    hosts_new = (np.minimum(s["hosts"], 1 + t // s["step"]) if s["rolling"] else np.full(HORIZON, s["canary"]))
    h = hosts_new / s["hosts"]
    cookie = np.zeros(HORIZON)
    for m in range(1, HORIZON if s["cookie"] else 0):  # sessions pick up the new cookie as they meet new hosts
        cookie[m] = cookie[m - 1] + (1 - cookie[m - 1]) * (1 - np.exp(-s["spread"] * h[m - 1]))
    level = s["per_minute"] * (1 + 0.15 * np.sin(2 * np.pi * t / 90 + rng.uniform(0, 6.3)))
    frames = []
    for with_session in (False, True):
        lam = level[:, None] * share[None, :] * (sessions if with_session else 1 - sessions)[None, :]
        total = rng.poisson(rng.gamma(20.0, lam / 20.0))  # traffic a little burstier than Poisson
        exposed_share = (h + (1 - h) * cookie) if with_session else h
        rx = rng.binomial(total, np.broadcast_to(exposed_share[:, None], total.shape))
        ru = total - rx
        rate = s["rate"] * multiplier[None, :] * (1.0 if with_session else 0.05)
        extra = broken if everywhere else (broken * (multiplier[None, :] > 0) if with_session else 0.0)
        ex = rng.binomial(rx, np.broadcast_to(np.minimum(rate + extra, 1.0), rx.shape))
        eu = rng.binomial(ru, np.broadcast_to(rate, ru.shape))
        minute, family = np.meshgrid(t, np.arange(FAMILIES), indexing="ij")
        frames.append(pl.DataFrame({
            "minute": [T0 + timedelta(minutes=int(m)) for m in minute.ravel()],
            "family": [f"/f{f}" for f in family.ravel()], "with_session": with_session,
            "exposed_requests": rx.ravel(), "exposed_errors": ex.ravel(),
            "unexposed_requests": ru.ravel(), "unexposed_errors": eu.ravel()}))
    cells = pl.concat(frames)
    return cells.filter(pl.col("exposed_requests") + pl.col("unexposed_requests") > 0)


def poll(cells: pl.DataFrame) -> tuple[str, int]:
    """Looks after every minute until a verdict: (verdict, minutes from the start), ('none', HORIZON) if none."""
    for m in range(1, HORIZON + 1):
        verdict = judge(cells, start=T0, now=T0 + timedelta(minutes=m), settings=SETTINGS, families_known=FAMILIES)
        if verdict.verdict != "cannot-judge":
            return verdict.verdict, m
    return "none", HORIZON


ARCHIVE_SHAPE = {"per_minute": 100.0, "hosts": 8, "rolling": True, "step": 3.0, "cookie": True, "spread": 0.3,
                 "rate": 0.0012}


def archive_lakes(work: Path, seeds: list[int]) -> dict[str, list[tuple[str, int]]]:
    """The archive at scale 2, broken and clean, each polled with the gate every minute from 16:10."""
    out: dict[str, list[tuple[str, int]]] = {"broken": [], "clean": []}
    for seed in seeds:
        for kind in ("broken", "clean"):
            base = work / f"archive-{kind}-{seed}"
            if not (base / "lake" / "_manifest.json").exists():
                archive.generate(base / "inc", seed=seed, scale=2.0, clean=kind == "clean")
                ingest(base / "lake", [str(base / "inc" / "logs")])
                import_markers(base / "lake", [str(p) for p in sorted((base / "inc" / "markers").iterdir())])
            found = ("none", 36)
            for m in range(1, 37):
                result = gate(base / "lake", version="v1.41.0", until=archive.DEPLOY_START + timedelta(minutes=m))
                if result.verdict != "cannot-judge":
                    found = (result.verdict, m)
                    break
            out[kind].append(found)
            print(f"archive {kind} seed {seed}: {found}", file=sys.stderr)
    return out


def summary(results: list[tuple[str, int]]) -> dict:
    counts = {v: sum(1 for r, _ in results if r == v) for v in ("fail", "pass", "none")}
    fails = [m for r, m in results if r == "fail"]
    passes = [m for r, m in results if r == "pass"]
    return {**counts, "fail_minutes": fails, "pass_minutes": passes}


def spread(values: list[int]) -> str:
    if not values:
        return "-"
    q = np.percentile(values, [50, 90])
    return f"median {statistics.median(values):g}, p90 {q[1]:g}, max {max(values)} min"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rollouts", type=int, default=200, help="simulated clean rollouts")
    ap.add_argument("--broken", type=int, default=50, help="simulated broken rollouts (each kind)")
    ap.add_argument("--lakes", type=int, default=5, help="archive seeds run end to end (broken and clean)")
    ap.add_argument("--work", type=Path, default=None, help="where the archive lakes go (default: a temp dir)")
    ap.add_argument("--no-record", action="store_true")
    args = ap.parse_args()
    began = time.perf_counter()
    clean = [poll(simulate(np.random.default_rng(1000 + i))) for i in range(args.rollouts)]
    broken = [poll(simulate(np.random.default_rng(2000 + i), broken=float(np.random.default_rng(i).uniform(0.1, 0.4))))
              for i in range(args.broken)]
    at_detect = [poll(simulate(np.random.default_rng(3000 + i), broken=SETTINGS.detect, everywhere=True))
                 for i in range(args.broken)]
    twice = [poll(simulate(np.random.default_rng(3000 + i), broken=2 * SETTINGS.detect, everywhere=True))
             for i in range(args.broken)]
    like_archive = {kind: [poll(simulate(np.random.default_rng(4000 + i), broken=0.5 if kind == "broken" else 0.0,
                                         shape=ARCHIVE_SHAPE)) for i in range(args.lakes)]
                    for kind in ("broken", "clean")}
    simulated = time.perf_counter() - began
    with tempfile.TemporaryDirectory() as tmp:
        lakes = archive_lakes(args.work or Path(tmp), list(range(1, args.lakes + 1)))
    c, b, s, s2 = summary(clean), summary(broken), summary(at_detect), summary(twice)
    rows = [
        "| rollouts | n | fail | pass | no verdict in 60 min | fail after | pass after |",
        "|---|---:|---:|---:|---:|---|---|",
        f"| simulated clean | {args.rollouts} | **{c['fail']}** ({c['fail'] / args.rollouts:.1%}) | {c['pass']} | "
        f"{c['none']} | | {spread(c['pass_minutes'])} |",
        f"| simulated broken, +10 to 40 points | {args.broken} | {b['fail']} | {b['pass']} | {b['none']} | "
        f"{spread(b['fail_minutes'])} | |",
        f"| simulated broken, +{SETTINGS.detect:.0%} (= --detect) on every exposed request | {args.broken} | "
        f"{s['fail']} | "
        f"{s['pass']} | {s['none']} | {spread(s['fail_minutes'])} | {spread(s['pass_minutes'])} |",
        f"| simulated broken, +{2 * SETTINGS.detect:.0%} (twice --detect) on every exposed request | {args.broken} | "
        f"{s2['fail']} | {s2['pass']} | "
        f"{s2['none']} | {spread(s2['fail_minutes'])} | {spread(s2['pass_minutes'])} |",
    ]
    for kind in ("broken", "clean"):
        sim, real = summary(like_archive[kind]), summary(lakes[kind])
        for name, r in ((f"simulated like the archive, {kind}", sim), (f"archive lakes (scale 2), {kind}", real)):
            rows.append(f"| {name} | {args.lakes} | {r['fail']} | {r['pass']} | {r['none']} | "
                        f"{spread(r['fail_minutes'])} | {spread(r['pass_minutes'])} |")
    verdict = "met" if c["fail"] <= 0.01 * args.rollouts else "NOT met"
    text = section(
        f"Gate: false fails over {args.rollouts} clean rollouts, detection of broken ones",
        f"python bench/gate_false_fail.py --rollouts {args.rollouts} --broken {args.broken} --lakes {args.lakes}",
        f"Default settings (alpha {SETTINGS.alpha:.0%}, --detect {SETTINGS.detect:g}, "
        f"--min-requests {SETTINGS.min_requests}, --for 15m); every rollout looked at after "
        f"each minute from its first until a verdict or 60 min. False fails: **{c['fail']} of {args.rollouts}** "
        f"(target at most 1%: {verdict}). Minutes are counted from the first exposed minute; the archive lakes "
        f"from 16:09 (the first upgraded host; web02 upgrades at 16:12, minute 3). Simulation "
        f"{simulated:.0f} s; lakes (built, or reused from --work, then polled) "
        f"{time.perf_counter() - began - simulated:.0f} s.", "", *rows, "",
        "A rolling deploy that reaches every host within ~20 min may give no verdict within the hour: once most "
        "traffic is exposed the comparison has little left to compare with, and the needed requests grow "
        "(docs/gate.md); the archive-shaped runs show it on real lakes and in the simulation alike. "
        f"With a rise of exactly --detect, {s['pass']} of the {s['pass'] + s['fail']} rollouts decided passed: a "
        "pass says such a rise was *expected* to have shown by then, not that it certainly would have; with "
        f"twice --detect, {s2['pass']} of {s2['pass'] + s2['fail']}.")
    record(text, not args.no_record)


if __name__ == "__main__":
    main()
