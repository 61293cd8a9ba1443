"""`sessionlens demo`: the sample incidents, end to end."""

from __future__ import annotations

import shutil
from pathlib import Path

from rich.console import Console

from .ingest import ingest
from .samples import INCIDENTS, generate


def run_demo(out: Path, seed: int = 7, scale: float = 1.0, console: Console | None = None) -> dict[str, dict]:
    """Generates each sample incident under OUT/logs and ingests it into OUT/lakes.

    Returns, per incident, the ingest summary (as a dict) and its ground truth.
    """
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
            summary = ingest(lake, [str(logs / "logs")])
        d = summary.as_dict()
        results[name] = {"summary": d, "truth": truth}
        rate = d["lines_read"] / d["seconds"] if d["seconds"] else 0
        console.print(
            f"[bold]{name}[/bold]: {d['files']} files, {d['lines_read']:,} lines read, {d['stored']:,} stored, "
            f"{d['rejected']:,} rejected in {d['seconds']:.1f}s ({rate:,.0f} lines/s) -> {lake}"
        )
    console.print(f"\nLogs, markers and ground truth: {out / 'logs'}\nTry: sessionlens sql --lake {out / 'lakes' / 'archive'} "
                  "\"SELECT app_version, cookie_format, count(*) AS errors FROM requests WHERE error_kind IS NOT NULL GROUP BY ALL ORDER BY errors DESC\"")
    return results
