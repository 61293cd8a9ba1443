"""`sessionlens nightly`: the scheduled job.

Ingests what is new in an inbox (log and marker files; files already in the
lake are skipped, grown ones add their tail), analyses the last 24 hours
against the whole history, writes a dated report, ``latest.html`` and an
``index.html`` of all nights, and prints one line per finding. Safe from
cron: a lock keeps two runs apart, ingest is crash-safe, and every file is
written to a temporary name and renamed.

Data safety:

* ``out`` (and the lake path, the webhook URL) are checked before anything
  is ingested, so a wrong ``--out`` fails in a second with one line.
* The lake's and the output's own directories are never ingested, even when
  they lie inside the inbox.
* A night with no new data (the ingest stored no row) is not analysed again:
  it says "no new data since ...", posts nothing, and leaves the reports of
  earlier nights as they are (the index says no new data came).
* The webhook has one total deadline, retries included; a server that
  answers a byte at a time cannot keep the run past it.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable

from .analysis.headline import headline
from .analysis.pipeline import Analysis, analyze, parse_when
from .changes.model import iso
from .errors import InputError
from .ingestion.engine import IngestSummary, ingest
from .lake.engine import Engine
from .lake.lock import FileLock
from .lake.span import newest
from .lake.store import Lake
from .notify import WEBHOOK_TIMEOUT, check_url, post_webhook, slack_escape
from .outputs import writable_dir
from .report import write_report
from .report.nightly_index import render_index

DAY = timedelta(hours=24)
REGISTRY = "nights.json"


@dataclass
class NightlyResult:
    summary: IngestSummary
    analysis: Analysis | None
    report: Path | None
    findings: list[str] = field(default_factory=list)
    spikes: int = 0
    anomalies: int = 0
    webhook_error: str | None = None
    new_data: bool = True
    note: str | None = None  # "no new data since ..." when nothing new was stored

    @property
    def cannot_judge(self) -> bool:
        """The night had no requests, or none showing a session: "nothing unusual" would be a false all-clear."""
        return self.analysis is not None and self.analysis.verdict in ("no-signal", "no-data")

    def lines(self) -> list[str]:
        """What the run prints on standard output: one line per finding, or the verdict."""
        if not self.new_data:
            return [self.note or "no new data"]
        if self.analysis is not None and self.cannot_judge:
            return self.findings + [f"{self.analysis.verdict}: {self.analysis.verdict_detail()}"]
        return self.findings or ["nothing unusual"]

    def exit_code(self, fail_on: str | None) -> int:
        if fail_on == "spike" and self.spikes:
            return 3
        if fail_on == "anomaly" and self.anomalies:
            return 3
        return 4 if self.cannot_judge else 0


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _findings(analysis: Analysis, since: datetime) -> tuple[list[str], int, int]:
    lines, spikes, anomalies = [], 0, 0
    for r in analysis.spikes:
        if r.spike.end > since:
            spikes += 1
            lines.append(f"spike {iso(r.spike.onset)} {headline(r)}")
    for a in analysis.anomalies:
        if iso(a.end or a.start) >= iso(since):
            anomalies += 1
            # the counts its kind names in a finding, keyed as the JSON keys them
            size = " ".join(f"{k}={v}" for k, v in a.headline_counts().items())
            lines.append(f"anomaly {a.kind} {iso(a.start)} {size} explained_by={a.explained_by}")
    return lines, spikes, anomalies


# --- checks, ingest, index -------------------------------------------------------


def _last_data_at(lake: Lake) -> str | None:
    """When rows were last stored in the lake (the newest ingest that stored any)."""
    times = [s.ingested_at for s in lake.read_manifest().segments if s.stored and s.ingested_at]
    return max(times) if times else None


def _read_nights(out: Path) -> dict:
    """The registry of nights reported so far (empty before the first)."""
    registry = out / REGISTRY
    return json.loads(registry.read_text()) if registry.exists() else {}


def run_nightly(inbox: str | Path, lake: str | Path, out: str | Path, until: str | None = None,
                webhook: str | None = None, progress=None, webhook_timeout: float = WEBHOOK_TIMEOUT,
                engine: Callable[[Lake], Engine] | None = None) -> NightlyResult:
    """One nightly run; see the module docstring.

    ``engine``: opens the query engine over the lake once the night's files
    are ingested (e.g. Spark: ``lambda lake: make_engine(lake, "spark")``);
    default the lake's own DuckDB engine.

    Raises InputError before anything is ingested when the inbox, ``out``,
    the lake path or the webhook URL cannot be used.
    """
    inbox, out, lake_dir = Path(inbox), Path(out), Path(lake)
    if not inbox.is_dir():
        raise InputError(f"{inbox}: the inbox is not a directory")
    if webhook:
        check_url(webhook, "--webhook")
    if not webhook_timeout or webhook_timeout <= 0:
        raise InputError("--webhook-timeout must be more than 0 seconds")
    until_t = parse_when(until) if until else None
    box = inbox.resolve()
    for path, what in ((out, "--out"), (lake_dir, "--lake")):
        if path.resolve() == box:
            raise InputError(f"{what} {path}: must not be the inbox itself")
    writable_dir(out, "--out")
    writable_dir(lake_dir, "--lake")
    lock = FileLock(out / ".nightly.lock", f"{out}: another nightly run is in progress")
    try:
        lock.acquire()
    except OSError as exc:
        raise InputError(f"--out {out}: cannot write there ({exc.strerror or type(exc).__name__})") from None
    try:
        lake_obj = Lake(lake_dir)  # the run's one lake: its engine (one connection) serves every query below
        # The lake's and the reports' own files are never input, even inside the inbox.
        summary = ingest(lake_obj, [str(inbox)], progress=progress, exclude=[out])  # the lake is always left out
        if summary.stored == 0:
            return _no_new_data(summary, lake_obj, out)
        queries = engine(lake_obj) if engine else lake_obj.engine()
        # The end of the bulk of the data: one line dated ahead must not move the night.
        last = newest(queries)
        end = until_t or (last + timedelta(seconds=1) if last else datetime.now(timezone.utc))
        since = end - DAY
        # the night; its baseline comes from the history before it
        analysis = analyze(lake_obj, since, end, engine=queries)
        findings, spikes, anomalies = _findings(analysis, since)
        night = f"{(end - timedelta(seconds=1)):%Y-%m-%d}"
        report = out / f"{night}.html"
        tmp = write_report(lake_dir, out / f".{night}.html.tmp.html", "html", analysis=analysis, engine=queries)
        os.replace(tmp, report)
        shutil.copyfile(report, out / ".latest.tmp")
        os.replace(out / ".latest.tmp", out / "latest.html")
        nights = _read_nights(out)
        nights[night] = {"report": report.name, "spikes": spikes, "anomalies": anomalies, "findings": findings,
                         "verdict": analysis.verdict}
        _atomic_write(out / REGISTRY, json.dumps(nights, indent=1))
        _atomic_write(out / "index.html", render_index(nights))
        result = NightlyResult(summary, analysis, report, findings, spikes, anomalies)
        if webhook:
            text = f"sessionlens nightly {night}: " + "; ".join(result.lines())
            result.webhook_error = post_webhook(webhook, slack_escape(text), timeout=webhook_timeout)
        return result
    finally:
        lock.release()


def _no_new_data(summary: IngestSummary, lake: Lake, out: Path) -> NightlyResult:
    """Nothing new was stored: say so; neither re-analyse nor re-announce earlier findings."""
    last = _last_data_at(lake)
    note = f"no new data since {last}" if last else "no new data: nothing has been stored in the lake yet"
    banner = f"Run at {iso(datetime.now(timezone.utc))}: {note}. The nights below were reported before."
    _atomic_write(out / "index.html", render_index(_read_nights(out), banner))
    latest = out / "latest.html"
    return NightlyResult(summary, None, latest if latest.exists() else None, new_data=False, note=note)
