"""`sessionlens demo`: the sample incidents, end to end."""

from __future__ import annotations

import shutil
from pathlib import Path

from rich.console import Console

from .analysis.headline import headline
from .analysis.pipeline import analyze
from .ingestion.engine import ingest
from .lake.store import Lake
from .outputs import writable_dir
from .report import write_report
from .samples import INCIDENTS, generate


def check_out_dir(out: Path) -> None:
    """Creates ``out`` if missing and proves it writable, before any work (one-line InputError if not)."""
    writable_dir(out, "--out")


def run_demo(out: Path, seed: int = 7, scale: float = 1.0, console: Console | None = None) -> dict[str, dict]:
    """Generates each sample incident under OUT/logs and ingests it into OUT/lakes.

    Returns, per incident, the ingest summary (as a dict) and its ground truth.

    Raises:
        InputError: ``out`` cannot be written (checked before anything is generated).
    """
    check_out_dir(out)
    console = console or Console()
    results: dict[str, dict] = {}
    for name in INCIDENTS:
        logs = out / "logs" / name
        lake = out / "lakes" / name
        for stale in (logs, lake):
            shutil.rmtree(stale, ignore_errors=True)
        with console.status(f"generating the {name} incident"):
            truth = generate(name, logs, seed=seed, scale=scale)
        with console.status(f"ingesting {name}"):
            summary = ingest(lake, [str(logs / "logs"), str(logs / "markers")])
        d = summary.as_dict()
        results[name] = {"summary": d, "truth": truth}
        rate = d["lines_read"] / d["seconds"] if d["seconds"] else 0
        console.print(
            f"[bold]{name}[/bold]: {d['files']} files, {d['lines_read']:,} lines read, {d['stored']:,} stored, "
            f"{d['rejected']:,} rejected in {d['seconds']:.1f}s ({rate:,.0f} lines/s) -> {lake}"
        )
    for name in INCIDENTS:
        the_lake = Lake(out / "lakes" / name)  # one connection for the analysis and the report
        analysis = analyze(the_lake)
        results[name]["analysis"] = analysis.to_json()
        for r in analysis.spikes:
            console.print(f"[bold]{name}[/bold]: {headline(r)}", highlight=False)
        for anomaly in analysis.anomalies:
            a = anomaly.to_json()
            console.print(f"[bold]{name}[/bold]: {a['kind']} at {a['start']}"
                          + (f", most likely {a['explained_by']}" if a.get("explained_by") else ""), highlight=False)
        if name == "archive":
            with console.status("writing the archive report"):
                report = write_report(the_lake, out / "report-archive.html", analysis=analysis)
            results[name]["report"] = str(report)
    console.print(f"\nLogs, markers and ground truth: {out / 'logs'}")
    console.print(f"Report: {results['archive']['report']}")
    console.print(f"Next: sessionlens analyze --lake {out / 'lakes' / 'archive'}")
    return results
