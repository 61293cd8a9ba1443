"""What a report says, as plain values: one source for the HTML and the Markdown report.

:func:`report_view` turns an :class:`Analysis` into texts and numbers (no
markup of any kind); the HTML template and the Markdown writer lay the same
values out, so the two reports cannot drift apart. Escaping is each
renderer's business: Jinja2's autoescape for HTML, ``md_text`` for Markdown.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..analysis.anomalies.result import Anomaly
from ..analysis.headline import headline
from ..analysis.result import Analysis, SpikeReport
from ..analysis.suspects import AttributeSettings, Suspect
from ..analysis.text import anomaly_size, pct

ENDING_TITLE = "Still abnormal at the end of the data"  # over the sentences of ``ending.still_abnormal``


def score_legend(settings: AttributeSettings | None = None) -> str:
    """What a suspect's score is made of, in one line under the suspects table (see attribute.score_cause)."""
    settings = settings or AttributeSettings()
    keep = pct(math.exp(-1))
    return (f"score (0 to 1, causes only) = timing x (0.45 rate jump + 0.55 link). Timing: a change "
            f"{settings.proximity_minutes:.0f} min before the onset keeps {keep}. Rate jump: the rate before the "
            "change against the rate from the onset (full at 10x, if significant). Link: the errors sit where the "
            "change reached (its hosts, version, cookie format or edge verdict, or a top segment). A cause explains "
            f"the spike from {settings.explain_threshold:.2f}; responses show 0.05 and an effect "
            "(rate after vs before).")


def role_text(suspect: Suspect) -> str:
    """``cause``, or ``response (rate 0.2x)``: the role with the effect a response had."""
    return suspect.role + (f" ({suspect.effect})" if suspect.effect else "")


@dataclass(frozen=True)
class SuspectRow:
    """One row of a spike's suspects table."""

    id: str
    label: str
    at: str  # HH:MM, UTC
    role: str
    score: str  # two decimals
    evidence: list[str]


@dataclass(frozen=True)
class SpikeView:
    """One spike's section: its numbers as text, its notes and suspects; ``report`` for its charts."""

    report: SpikeReport
    id: str
    onset: str  # YYYY-MM-DD HH:MM, UTC
    start: str  # HH:MM, UTC
    end: str  # HH:MM, UTC
    session_errors: int
    requests: int
    peak_rate: str
    baseline_rate: str
    notes: list[str]
    suspects: list[SuspectRow]


@dataclass(frozen=True)
class ReportView:
    """Everything a report shows, top to bottom.

    Attributes:
        totals: ``2023-09-18 00:00 – 2023-09-20 00:00 UTC: 1,234 requests, 56 session errors, bucket 300s``.
        headlines: one sentence per spike (``analysis.headline``).
        verdict: the analysis's verdict (``spike``, ``normal``, ``no-signal``, ``no-data``).
        verdict_title: ``Cannot judge`` or ``No data`` where the data cannot show a session problem, else None.
        verdict_detail: what the verdict rests on, times in the display zone.
        ending_title, still_abnormal: what is still wrong at the end of the data, under its title.
        anomalies: each anomaly with its size (``anomaly_size``); the anomaly is read by attribute only.
        spikes: a section per spike.
        legend: the score legend under each suspects table.
    """

    totals: str
    headlines: list[str]
    verdict: str
    verdict_title: str | None
    verdict_detail: str
    ending_title: str
    still_abnormal: list[str]
    anomalies: list[tuple[Anomaly, str]]
    spikes: list[SpikeView]
    legend: str


def _spike_view(report: SpikeReport) -> SpikeView:
    s = report.spike
    rows = [SuspectRow(id=x.change.id, label=x.change.label, at=f"{x.change.at:%H:%M}", role=role_text(x),
                       score=f"{x.score:.2f}", evidence=list(x.evidence)) for x in report.suspects]
    return SpikeView(report=report, id=s.id, onset=f"{s.onset:%Y-%m-%d %H:%M}", start=f"{s.start:%H:%M}",
                     end=f"{s.end:%H:%M}", session_errors=s.session_errors, requests=s.requests,
                     peak_rate=pct(s.peak_rate), baseline_rate=pct(s.baseline_rate), notes=list(report.notes),
                     suspects=rows)


def report_view(analysis: Analysis) -> ReportView:
    """The plain values of a report on ``analysis``."""
    start, end = analysis.window
    totals = (f"{start:%Y-%m-%d %H:%M} – {end:%Y-%m-%d %H:%M} UTC: {analysis.requests:,} requests, "
              f"{analysis.session_errors:,} session errors, bucket {analysis.bucket_seconds}s")
    # Never an all-clear where the data cannot show a session problem: those verdicts get a title of their own.
    title = {"no-signal": "Cannot judge", "no-data": "No data"}.get(analysis.verdict)
    return ReportView(
        totals=totals,
        headlines=[headline(r) for r in analysis.spikes],
        verdict=analysis.verdict,
        verdict_title=title,
        verdict_detail=analysis.verdict_detail(analysis.local),
        ending_title=ENDING_TITLE,
        still_abnormal=list(analysis.still_abnormal),
        anomalies=[(a, anomaly_size(a)) for a in analysis.anomalies],
        spikes=[_spike_view(r) for r in analysis.spikes],
        legend=score_legend(),
    )
