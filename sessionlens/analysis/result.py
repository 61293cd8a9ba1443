"""The result of an analysis: spikes with their suspects, anomalies, the verdict; and the contract's JSON.

``Analysis.to_json`` is the document of ``../shared/spec/analysis-json.md``
(schema_version 1); ``SpikeReport.to_json`` and ``Anomaly.to_json`` give its
items. ``analyze()`` (:mod:`pipeline`) builds an ``Analysis``; the reports
present it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any, Callable

from jinja2 import Environment, PackageLoader, StrictUndefined, Template, select_autoescape

from ..changes.model import Change, iso
from ..timeparse import fmt
from .anomalies.result import Anomaly
from .headline import headline
from .segments import Segment
from .spikes import Spike
from .suspects import Ranking, Suspect
from .text import join_words, pct

SCHEMA_VERSION = 1
VERDICTS = ("spike", "normal", "no-signal", "no-data")
# the columns that show a session, as the verdict names them
SIGNALS = (("session_key", "a session cookie"), ("user_key", "a user"), ("error_kind", "a session-error rule match"))


@dataclass
class SpikeReport:
    """One spike with what attribution says about it (the ``spikes`` items of the contract)."""

    spike: Spike
    suspects: list[Suspect]
    segments: list[Segment]
    explained_by: str | None
    notes: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, spike: Spike, ranking: Ranking) -> SpikeReport:
        """The report of a spike from its ranking."""
        return cls(spike, ranking.suspects, ranking.segments, ranking.explained_by, ranking.notes)

    def to_json(self) -> dict[str, Any]:
        """The contract's object for this spike."""
        s = self.spike
        return {
            "id": s.id,
            "start": iso(s.start),
            "end": iso(s.end),
            "onset": iso(s.onset),
            "peak_rate": round(s.peak_rate, 6),
            "baseline_rate": round(s.baseline_rate, 6),
            "session_errors": s.session_errors,
            "requests": s.requests,
            "explained_by": self.explained_by,
            "suspects": [_suspect_json(x) for x in self.suspects],
            "segments": [{"dimension": g.dimension, "value": g.value, "error_share": round(g.error_share, 4),
                          "request_share": round(g.request_share, 4), "rate": round(g.rate, 6)} for g in self.segments],
            # additive: the segment a spike is confined to (null for the overall rate)
            "segment": {"dimension": s.segment[0], "value": s.segment[1]} if s.segment else None,
        }


@dataclass
class Analysis:
    """The result of an analysis; ``to_json`` is the contract's document."""

    window: tuple[datetime, datetime]
    bucket_seconds: int
    requests: int
    session_errors: int
    rejected_lines: int
    spikes: list[SpikeReport]
    changes: list[Change]
    anomalies: list[Anomaly] = field(default_factory=list)
    verdict: str = "normal"
    baseline: tuple[datetime, datetime] | None = None  # the period the baseline drew from
    signals: dict[str, int] = field(default_factory=dict)  # rows in the window carrying each signal column
    lake_range: tuple[datetime, datetime] | None = None  # the bulk of the lake's requests
    lake_outside: int = 0  # requests outside that bulk
    events_range: tuple[datetime, datetime] | None = None  # the bulk of the lake's events
    window_events: int = 0
    display_tz: str | None = None  # --tz: the zone of terminal and report text (the JSON stays UTC)
    asked: tuple[bool, bool] = (False, False)  # were --since and --until given
    still_abnormal: list[str] = field(default_factory=list)  # what is still wrong at the end of the data (ending.py)

    def verdict_detail(self, show: Callable[[datetime], str] = iso) -> str:
        """One sentence on what the verdict rests on; times through ``show`` (default: ISO UTC)."""
        start, end = self.window
        if self.verdict == "no-data":
            if not self.lake_range and not self.events_range:
                return "the lake holds no requests or app events (ingest access or app logs first)"
            if start == end:  # one end given, beyond the data on its side
                where = f"no requests from {show(start)} on" if self.asked[0] else f"no requests before {show(end)}"
            else:
                where = f"no requests between {show(start)} and {show(end)}"
            if self.window_events:
                where += f" (only {self.window_events:,} app event{'' if self.window_events == 1 else 's'})"
            if self.lake_range:
                lake = f"the lake holds requests from {show(self.lake_range[0])} to {show(self.lake_range[1])}"
                if self.lake_outside:
                    n = self.lake_outside
                    lake += f" (and {n:,} stray row{'' if n == 1 else 's'} outside that)"
            elif self.events_range:
                lake = (f"the lake holds no requests, only app events from {show(self.events_range[0])} "
                        f"to {show(self.events_range[1])}")
            else:
                lake = "the lake holds no requests"
            return f"{where}; {lake}"
        missing = [f"{what} ({col})" for col, what in SIGNALS if not self.signals.get(col)]
        if self.verdict == "no-signal":
            return (f"{self.requests:,} requests, but none carries {join_words(missing, ' or ')}, "
                    "so session errors cannot be told from other traffic (name the cookie with ingest "
                    "--session-cookie, or add session-error rules with --rules)")
        if self.verdict == "spike":
            first = self.spikes[0].spike
            began = " (it began before the window)" if first.onset < start else ""
            return (f"{len(self.spikes)} spike{'' if len(self.spikes) == 1 else 's'} in the session-error rate, "
                    f"the first from {show(first.onset)}{began}")
        detail = (f"no spike in the session-error rate over {self.requests:,} requests "
                  f"({self.session_errors:,} session errors)")
        if missing:
            detail += f"; no request carries {join_words(missing, ' or ')}"
            if not self.signals.get("error_kind"):
                detail += ", so no session error could show"
        return detail

    def local(self, t: datetime, date_too: bool = True) -> str:
        """A time as the terminal and reports show it: in ``display_tz``, with its offset (or UTC)."""
        return fmt(t, self.display_tz, date_too)

    def _repr_html_(self) -> str:
        """A compact summary in a notebook (charts: ``sessionlens.report.charts.all_charts``)."""
        return _notebook_summary().render(
            verdict=self.verdict, verdict_detail=self.verdict_detail(self.local), requests=self.requests,
            session_errors=self.session_errors, anomalies=self.anomalies,
            spikes=[(headline(r, self.display_tz), r) for r in self.spikes])

    def to_json(self) -> dict[str, Any]:
        """The contract's document (``../shared/spec/analysis-json.md``)."""
        return {
            "schema_version": SCHEMA_VERSION,
            "verdict": self.verdict,
            "verdict_detail": self.verdict_detail(),
            "window": {"start": iso(self.window[0]), "end": iso(self.window[1])},
            "baseline": {"start": iso(self.baseline[0]), "end": iso(self.baseline[1])} if self.baseline else None,
            "bucket_seconds": self.bucket_seconds,
            "totals": {"requests": self.requests, "session_errors": self.session_errors,
                       "rejected_lines": self.rejected_lines},
            "spikes": [r.to_json() for r in self.spikes],
            "anomalies": [a.to_json() for a in self.anomalies],
            "still_abnormal": self.still_abnormal,
        }


def _suspect_json(x: Suspect) -> dict[str, Any]:
    d: dict[str, Any] = {"change_id": x.change.id, "kind": x.change.kind, "label": x.change.label,
                         "at": iso(x.change.at), "role": x.role, "score": x.score, "evidence": x.evidence}
    if x.role == "response":
        d["effect"] = x.effect
    return d


@lru_cache(maxsize=None)
def _notebook_summary() -> Template:
    """The notebook template (``templates/notebook_summary.html.j2``), every value HTML-escaped.

    Its own small environment: the report's (``sessionlens.report.templating``)
    sits a layer above analysis.
    """
    env = Environment(loader=PackageLoader("sessionlens.analysis", "templates"),
                      autoescape=select_autoescape(("html", "j2")), undefined=StrictUndefined)
    env.filters["thousands"] = lambda n: f"{n:,}"
    env.filters["iso"] = iso
    env.filters["pct"] = pct
    return env.get_template("notebook_summary.html.j2")
