"""`sessionlens nightly`: the scheduled job.

Ingests what is new in an inbox (log and marker files; files already in the
lake are skipped, grown ones add their tail), analyses the last 24 hours
against the whole history, writes a dated report, ``latest.html`` and an
``index.html`` of all nights, and prints one line per finding. Safe from
cron: a lock keeps two runs apart, ingest is crash-safe, and every file is
written to a temporary name and renamed.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from html import escape
from pathlib import Path

from .analyze import Analysis, analyze, parse_when
from .changes import iso
from .errors import InputError, LakeLockedError
from .ingest import IngestSummary, ingest
from .report import write_report
from .summary import headline

DAY = timedelta(hours=24)
REGISTRY = "nights.json"


@dataclass
class NightlyResult:
    summary: IngestSummary
    analysis: Analysis
    report: Path
    findings: list[str] = field(default_factory=list)
    spikes: int = 0
    anomalies: int = 0
    webhook_error: str | None = None

    def exit_code(self, fail_on: str | None) -> int:
        if fail_on == "spike" and self.spikes:
            return 3
        if fail_on == "anomaly" and self.anomalies:
            return 3
        return 0


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
        if (a.get("end") or a["start"]) >= iso(since):
            anomalies += 1
            size = " ".join(f"{k}={a[k]}" for k in ("sessions", "users", "clients", "max_cycles") if a.get(k) is not None)
            lines.append(f"anomaly {a['kind']} {a['start']} {size} explained_by={a.get('explained_by')}")
    return lines, spikes, anomalies


def post_webhook(url: str, text: str, attempts: int = 3, backoff: float = 1.0) -> str | None:
    """Posts {"text": ...} (Slack-compatible); returns None, or why it failed after retries."""
    body = json.dumps({"text": text}).encode()
    error = None
    for attempt in range(attempts):
        try:
            req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"}, method="POST")
            with urllib.request.urlopen(req, timeout=10) as resp:
                if 200 <= resp.status < 300:
                    return None
                error = f"HTTP {resp.status}"
        except urllib.error.HTTPError as exc:
            error = f"HTTP {exc.code}"
        except (urllib.error.URLError, OSError) as exc:
            error = str(getattr(exc, "reason", exc))
        if attempt + 1 < attempts:
            time.sleep(backoff * (2 ** attempt))
    return f"webhook failed after {attempts} attempts: {error}"


def _index(out: Path, nights: dict) -> str:
    rows = "".join(
        f"<tr><td><a href=\"{escape(n['report'])}\">{escape(day)}</a></td><td>{n['spikes']}</td><td>{n['anomalies']}</td>"
        f"<td>{'<br>'.join(escape(f) for f in n['findings']) or 'nothing unusual'}</td></tr>"
        for day, n in sorted(nights.items(), reverse=True))
    return ("<!DOCTYPE html><html lang=en><head><meta charset=utf-8><meta name=viewport content=\"width=device-width, initial-scale=1\">"
            "<title>sessionlens nightly</title><style>body{font:15px system-ui,sans-serif;margin:16px}"
            "table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;padding:6px;text-align:left;vertical-align:top}"
            "</style></head><body><h1>sessionlens nightly</h1><p><a href=\"latest.html\">latest report</a></p>"
            f"<table><tr><th>night</th><th>spikes</th><th>anomalies</th><th>findings</th></tr>{rows}</table></body></html>")


def run_nightly(inbox: str | Path, lake: str | Path, out: str | Path, until: str | None = None,
                webhook: str | None = None, progress=None) -> NightlyResult:
    """One nightly run; see the module docstring."""
    inbox, out = Path(inbox), Path(out)
    if not inbox.is_dir():
        raise InputError(f"{inbox}: the inbox is not a directory")
    out.mkdir(parents=True, exist_ok=True)
    lock = open(out / ".nightly.lock", "a+")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        raise LakeLockedError(f"{out}: another nightly run is in progress") from None
    try:
        summary = ingest(lake, [str(inbox)], progress=progress)
        from .lake import Lake

        con = Lake(lake).connect()
        newest = con.sql("SELECT max(ts) FROM (SELECT max(ts) AS ts FROM requests UNION ALL SELECT max(ts) FROM events)").fetchall()[0][0]
        end = parse_when(until) if until else (newest + timedelta(seconds=1) if newest else datetime.now(timezone.utc))
        since = end - DAY
        analysis = analyze(lake, None, end)  # the whole history, for the baseline
        findings, spikes, anomalies = _findings(analysis, since)
        night = f"{(end - timedelta(seconds=1)):%Y-%m-%d}"
        report = out / f"{night}.html"
        tmp = write_report(lake, out / f".{night}.html.tmp.html", "html", analysis=analysis)
        os.replace(tmp, report)
        shutil.copyfile(report, out / ".latest.tmp")
        os.replace(out / ".latest.tmp", out / "latest.html")
        registry = out / REGISTRY
        nights = json.loads(registry.read_text()) if registry.exists() else {}
        nights[night] = {"report": report.name, "spikes": spikes, "anomalies": anomalies, "findings": findings}
        _atomic_write(registry, json.dumps(nights, indent=1))
        _atomic_write(out / "index.html", _index(out, nights))
        result = NightlyResult(summary, analysis, report, findings, spikes, anomalies)
        if webhook:
            text = f"sessionlens nightly {night}: " + ("; ".join(findings) if findings else "nothing unusual")
            result.webhook_error = post_webhook(webhook, text)
        return result
    finally:
        fcntl.flock(lock, fcntl.LOCK_UN)
        lock.close()
