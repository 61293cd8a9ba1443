"""`sessionlens analyze`: the spikes, their suspects and segments, as the JSON contract says.

See ../shared/spec/analysis-json.md (schema_version 1) and docs/analysis.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from . import queries
from .timespan import bulk_span
from .anomalies import detect_all
from .attribute import AttributeSettings, Segment, Suspect, rank
from .changes import Change, all_changes, iso
from .detect import DetectSettings, Spike, choose_bucket, find_spikes
from .errors import InputError, LakeError
from .lake import Lake

SCHEMA_VERSION = 1


@dataclass
class SpikeReport:
    spike: Spike
    suspects: list[Suspect]
    segments: list[Segment]
    explained_by: str | None
    notes: list[str] = field(default_factory=list)


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
    anomalies: list[dict] = field(default_factory=list)

    def _repr_html_(self) -> str:
        """A compact summary in a notebook (charts: ``charts()``)."""
        from html import escape

        from .attribute import pct
        from .summary import headline

        out = [f"<p><b>{self.requests:,}</b> requests, <b>{self.session_errors:,}</b> session errors, "
               f"{len(self.spikes)} spike(s), {len(self.anomalies)} anomal{'y' if len(self.anomalies) == 1 else 'ies'}</p>"]
        for a in self.anomalies:
            out.append(f"<p>⚠ <b>{escape(a['kind'])}</b> {escape(a['start'])}: {escape('; '.join(a.get('evidence', [])))}</p>")
        for r in self.spikes:
            out.append(f"<h4>{escape(headline(r))}</h4><table><tr><th>change</th><th>role</th><th>score</th><th>evidence</th></tr>")
            for x in r.suspects:
                role = x.role + (f" ({x.effect})" if x.effect else "")
                out.append(f"<tr><td>{escape(x.change.id)}</td><td>{escape(role)}</td><td>{x.score:.2f}</td>"
                           f"<td>{escape('; '.join(x.evidence))}</td></tr>")
            out.append("</table>")
            if r.segments:
                segs = ", ".join(f"{g.dimension}={g.value} ({pct(g.error_share)} of errors)" for g in r.segments[:4])
                out.append(f"<p>where: {escape(segs)}</p>")
        return "".join(out)

    def charts(self, lake_dir: str | Path) -> list:
        """Every report chart as an Altair object, spike by spike."""
        from .report import charts as ch

        con = Lake(lake_dir).connect()
        out = []
        for r in self.spikes:
            out += [c for c in (ch.timeline(con, self, r), ch.segments(r), ch.host_versions(con, r)) if c is not None]
        return out

    def to_json(self) -> dict:
        return {
            "schema_version": SCHEMA_VERSION,
            "window": {"start": iso(self.window[0]), "end": iso(self.window[1])},
            "bucket_seconds": self.bucket_seconds,
            "totals": {"requests": self.requests, "session_errors": self.session_errors,
                       "rejected_lines": self.rejected_lines},
            "spikes": [_spike_json(r) for r in self.spikes],
            "anomalies": self.anomalies,
        }


def _spike_json(r: SpikeReport) -> dict:
    s = r.spike
    return {
        "id": s.id,
        "start": iso(s.start),
        "end": iso(s.end),
        "onset": iso(s.onset),
        "peak_rate": round(s.peak_rate, 6),
        "baseline_rate": round(s.baseline_rate, 6),
        "session_errors": s.session_errors,
        "requests": s.requests,
        "explained_by": r.explained_by,
        "suspects": [_suspect_json(x) for x in r.suspects],
        "segments": [{"dimension": g.dimension, "value": g.value, "error_share": round(g.error_share, 4),
                      "request_share": round(g.request_share, 4), "rate": round(g.rate, 6)} for g in r.segments],
    }


def _suspect_json(x: Suspect) -> dict:
    d = {"change_id": x.change.id, "kind": x.change.kind, "label": x.change.label, "at": iso(x.change.at),
         "role": x.role, "score": x.score, "evidence": x.evidence}
    if x.role == "response":
        d["effect"] = x.effect
    return d


def parse_when(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InputError(f"unreadable time {text!r} (use e.g. 2023-09-19T16:00:00Z)") from None
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)


def analyze(
    lake_dir: str | Path,
    since: str | datetime | None = None,
    until: str | datetime | None = None,
    bucket_seconds: int | None = None,
    detect_settings: DetectSettings = DetectSettings(),
    attribute_settings: AttributeSettings = AttributeSettings(),
    anomaly_settings: dict | None = None,
) -> Analysis:
    """Analyses a lake: spikes in the session-error rate and the changes behind them."""
    lake = Lake(lake_dir)
    con = lake.connect()
    since = parse_when(since) if isinstance(since, str) or since is None else since
    until = parse_when(until) if isinstance(until, str) or until is None else until
    # The bulk of the data, not its extremes: one line dated years away must
    # not widen what is analysed (or what it costs).
    span = bulk_span(con)
    lo, hi = span.start, span.end
    if lo is None:
        raise LakeError(f"{lake.root}: the lake has no requests to analyse (ingest access or app logs first)")
    start = since or lo
    end = until or hi + timedelta(seconds=1)
    if end <= start:
        raise InputError("--until must be after --since")
    totals = queries.run(con, "rate_between", {"start": start, "end": end}).row(0)
    rejected = sum(s.rejected for s in lake.read_manifest().segments)
    bucket = bucket_seconds or choose_bucket(totals[0], (end - start).total_seconds(), detect_settings)
    series = queries.run(con, "rate_by_bucket", {"since": start, "until": end, "bucket_seconds": bucket})
    spikes = find_spikes(series, bucket, detect_settings)
    changes = all_changes(lake, start - attribute_settings.lookback, end, con=con)
    reports = []
    for spike in spikes:
        suspects, segs, explained, notes = rank(con, spike, changes, bucket, attribute_settings)
        reports.append(SpikeReport(spike, suspects, segs, explained, notes))
    found = detect_all(con, start, end, changes, anomaly_settings)
    return Analysis((start, end), bucket, int(totals[0]), int(totals[1]), rejected, reports, changes, found)
