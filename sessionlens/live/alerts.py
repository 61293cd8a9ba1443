"""What ``watch`` says when a spike begins or ends, and how it says it (webhook, PagerDuty, a command).

An alert is made from the analysis of the recent minutes: for an onset, the
spike's headline (how much, since when) and its top suspect with the first
lines of its evidence; for a resolution, how long it lasted. Delivery goes
through :mod:`sessionlens.notify`, which never raises: an undeliverable
alert is reported in the cycle's result and on the terminal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..analysis.headline import headline
from ..analysis.result import SpikeReport
from ..analysis.text import duration, pct
from ..changes.model import iso
from ..notify import pagerduty_event, post_webhook, run_hook, slack_escape


@dataclass
class Alert:
    """One alert: a spike's onset or its resolution."""

    event: str  # "onset" or "resolved"
    key: str  # the incident it belongs to (its first onset, ISO): ties a resolution to its onset
    summary: str  # one line
    details: dict[str, Any] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)  # channel -> why delivery failed

    def payload(self) -> dict[str, Any]:
        """The alert as JSON: what a command hook reads on its standard input."""
        return {"event": self.event, "incident": self.key, "summary": self.summary, **self.details}


def suspect_details(report: SpikeReport) -> dict[str, Any] | None:
    """The top-ranked change of a spike: id, label, role, score and its first evidence lines."""
    if not report.suspects:
        return None
    top = report.suspects[0]
    return {"id": top.change.id, "label": top.change.label, "kind": top.change.kind, "role": top.role,
            "score": round(top.score, 3), "evidence": top.evidence[:4]}


def onset_alert(key: str, report: SpikeReport, lake: str, tz: str | None = None) -> Alert:
    """The alert for a spike that has just begun."""
    spike = report.spike
    suspect = suspect_details(report)
    text = f"sessionlens: {headline(report, tz)}"
    if suspect and suspect["evidence"]:
        text += f" Evidence: {'; '.join(suspect['evidence'][:2])}."
    details = {
        "onset": iso(spike.onset), "rate": round(spike.rate, 6), "peak_rate": round(spike.peak_rate, 6),
        "baseline_rate": round(spike.baseline_rate, 6), "session_errors": spike.session_errors,
        "requests": spike.requests, "segment": list(spike.segment) if spike.segment else None,
        "explained_by": report.explained_by, "suspect": suspect, "lake": lake,
    }
    return Alert("onset", key, text, details)


def resolved_alert(key: str, onset: datetime, ended: datetime, why: str, lake: str) -> Alert:
    """The alert for a spike that is over (or was not confirmed by later data)."""
    lasted = duration((ended - onset).total_seconds())
    text = f"sessionlens: resolved: the session-error spike from {iso(onset)} {why} (lasted {lasted})"
    return Alert("resolved", key, text, {"onset": iso(onset), "ended": iso(ended), "lake": lake})


def overall_text(rate: float, baseline: float) -> str:
    """``2.1% of requests (baseline 0.1%)``: the live view's headline numbers."""
    return f"{pct(rate)} of requests (baseline {pct(baseline)})"


@dataclass
class Channels:
    """Where alerts go; any of them, several at once, or none (the terminal only)."""

    webhook: str | None = None
    pagerduty_key: str | None = None
    pagerduty_url: str | None = None  # default: PagerDuty's Events API v2
    command: str | None = None
    timeout: float = 30.0

    def deliver(self, alert: Alert, dedup: str) -> dict[str, str]:
        """Sends ``alert`` everywhere configured; returns the failures by channel (empty: all delivered)."""
        failures: dict[str, str] = {}
        if self.webhook:
            error = post_webhook(self.webhook, slack_escape(alert.summary), timeout=self.timeout)
            if error:
                failures["webhook"] = error
        if self.pagerduty_key:
            action = "trigger" if alert.event == "onset" else "resolve"
            extra = {"url": self.pagerduty_url} if self.pagerduty_url else {}
            error = pagerduty_event(self.pagerduty_key, action, dedup, alert.summary, source=str(alert.details.get(
                "lake", "sessionlens")), details=alert.payload(), timeout=self.timeout, **extra)
            if error:
                failures["pagerduty"] = error
        if self.command:
            error = run_hook(self.command, alert.payload(), timeout=self.timeout)
            if error:
                failures["command"] = error
        alert.failures = failures
        return failures
