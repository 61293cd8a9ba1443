"""`sessionlens analyze`: the spikes, their suspects and segments, as the JSON contract says.

See ../shared/spec/analysis-json.md (schema_version 1) and docs/analysis.md.

``since``/``until`` choose what is *reported*, never what counts as normal:
spikes are detected over a longer series that starts up to ``history``
(7 days) before ``since`` (bucketed counts only), and reported where they
overlap the window. The ``verdict`` says what the window allows to
conclude: ``spike``, ``normal``, ``no-signal`` (requests, but nothing that
shows a session) or ``no-data`` (no requests at all).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from html import escape
from pathlib import Path
from typing import Callable

from ..lake import sql as queries
from ..lake.span import bulk_span
from .anomalies import detect_all
from .attribute import AttributeSettings, Suspect, rank
from .segments import Segment
from ..changes.store import Change, all_changes, iso
from .spikes import DetectSettings, Spike, choose_bucket, fit_baseline, spikes_from_flags
from .segment_spikes import count_series, find_segment_spikes, segment_series
from .ending import still_abnormal
from ..errors import InputError
from ..lake.store import Lake
from ..timeparse import fmt, parse_time, zone
from .headline import headline
from .text import pct

SCHEMA_VERSION = 1
HISTORY = timedelta(days=7)  # how far before --since the baseline may draw from
MAX_HISTORY_BUCKETS = 50_000  # ... and at most this many buckets of it (a --bucket of seconds stays cheap)

VERDICTS = ("spike", "normal", "no-signal", "no-data")
# the columns that show a session, as the verdict names them
SIGNALS = (("session_key", "a session cookie"), ("user_key", "a user"), ("error_kind", "a session-error rule match"))


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
            return (f"{self.requests:,} requests, but none carries {_or(missing)}, so session errors cannot be told "
                    "from other traffic (name the cookie with ingest --session-cookie, or add session-error rules "
                    "with --rules)")
        if self.verdict == "spike":
            first = self.spikes[0].spike
            began = " (it began before the window)" if first.onset < start else ""
            return (f"{len(self.spikes)} spike{'' if len(self.spikes) == 1 else 's'} in the session-error rate, "
                    f"the first from {show(first.onset)}{began}")
        detail = (f"no spike in the session-error rate over {self.requests:,} requests "
                  f"({self.session_errors:,} session errors)")
        if missing:
            detail += f"; no request carries {_or(missing)}"
            if not self.signals.get("error_kind"):
                detail += ", so no session error could show"
        return detail

    def local(self, t: datetime, date_too: bool = True) -> str:
        """A time as the terminal and reports show it: in ``display_tz``, with its offset (or UTC)."""
        return fmt(t, self.display_tz, date_too)

    def _repr_html_(self) -> str:
        """A compact summary in a notebook (charts: ``sessionlens.report.charts.all_charts``)."""
        if self.verdict in ("no-data", "no-signal"):
            out = [f"<p><b>{escape(self.verdict)}</b>: {escape(self.verdict_detail(self.local))}</p>"]
        else:
            out = [f"<p><b>{self.requests:,}</b> requests, <b>{self.session_errors:,}</b> session errors, "
                   f"{len(self.spikes)} spike(s), {len(self.anomalies)} anomal{'y' if len(self.anomalies) == 1 else 'ies'}</p>"]
        for a in self.anomalies:
            out.append(f"<p>⚠ <b>{escape(a['kind'])}</b> {escape(a['start'])}: {escape('; '.join(a.get('evidence', [])))}</p>")
        for r in self.spikes:
            out.append(f"<h4>{escape(headline(r, self.display_tz))}</h4><table><tr><th>change</th><th>role</th><th>score</th><th>evidence</th></tr>")
            for x in r.suspects:
                role = x.role + (f" ({x.effect})" if x.effect else "")
                out.append(f"<tr><td>{escape(x.change.id)}</td><td>{escape(role)}</td><td>{x.score:.2f}</td>"
                           f"<td>{escape('; '.join(x.evidence))}</td></tr>")
            out.append("</table>")
            if r.segments:
                segs = ", ".join(f"{g.dimension}={g.value} ({pct(g.error_share)} of errors)" for g in r.segments[:4])
                out.append(f"<p>where: {escape(segs)}</p>")
        return "".join(out)

    def to_json(self) -> dict:
        return {
            "schema_version": SCHEMA_VERSION,
            "verdict": self.verdict,
            "verdict_detail": self.verdict_detail(),
            "window": {"start": iso(self.window[0]), "end": iso(self.window[1])},
            "baseline": {"start": iso(self.baseline[0]), "end": iso(self.baseline[1])} if self.baseline else None,
            "bucket_seconds": self.bucket_seconds,
            "totals": {"requests": self.requests, "session_errors": self.session_errors,
                       "rejected_lines": self.rejected_lines},
            "spikes": [_spike_json(r) for r in self.spikes],
            "anomalies": self.anomalies,
            "still_abnormal": self.still_abnormal,
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
        # additive: the segment a spike is confined to (null for the overall rate)
        "segment": {"dimension": s.segment[0], "value": s.segment[1]} if s.segment else None,
    }


def _suspect_json(x: Suspect) -> dict:
    d = {"change_id": x.change.id, "kind": x.change.kind, "label": x.change.label, "at": iso(x.change.at),
         "role": x.role, "score": x.score, "evidence": x.evidence}
    if x.role == "response":
        d["effect"] = x.effect
    return d


def _or(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]


def parse_when(text: str | datetime | None, *, tz: str | None = None, now: datetime | None = None,
               what: str = "time") -> datetime | None:
    """Kept for existing imports: ``timeparse.parse_time`` (every syntax it reads)."""
    return parse_time(text, tz=tz, now=now, what=what)


def _window(since: datetime | None, until: datetime | None, con, now: datetime | None = None) -> tuple:
    """(start, end, requests span, events span): the window, from the options and else the data.

    One side given and the other taken from the data can come out reversed
    (``--since`` after the last request): the given side wins, and the
    window is empty rather than an error.
    """
    span = bulk_span(con)
    events = bulk_span(con, "events") if span.start is None else None  # a lake of app events only
    data = span if span.start is not None else events
    lo = data.start if data and data.start is not None else None
    hi = data.end + timedelta(seconds=1) if data and data.end is not None else None
    start, end = since or lo, until or hi
    if start is None and end is None:
        start = end = parse_time("now", now=now)
    start, end = start or end, end or start
    if start > end:
        if since:
            end = start
        else:
            start = end
    return start, end, span, events


def detect_spikes(con, series, since: datetime, until: datetime, bucket: int,
                  settings: DetectSettings = DetectSettings()) -> list[Spike]:
    """Spikes of the overall rate and of single segments, oldest first.

    The pooled search's threshold counts every series searched (the
    overall one and each segment value), so more segments do not mean
    more false spikes.
    """
    if series.height == 0:
        return []
    frames = segment_series(con, since, until, bucket)
    searched = 1 + count_series(frames)
    fit = fit_baseline(series, bucket, settings, searched)
    overall = spikes_from_flags(fit.series, fit.flagged, fit.pooled, fit.expected, bucket, settings)
    return find_segment_spikes(frames, fit, overall, bucket, settings, searched)


def analyze(
    lake_dir: str | Path,
    since: str | datetime | None = None,
    until: str | datetime | None = None,
    bucket_seconds: int | None = None,
    detect_settings: DetectSettings = DetectSettings(),
    attribute_settings: AttributeSettings = AttributeSettings(),
    anomaly_settings: dict | None = None,
    *,
    tz: str | None = None,
    now: datetime | None = None,
    history: timedelta = HISTORY,
) -> Analysis:
    """Analyses a lake: spikes in the session-error rate and the changes behind them.

    ``since``/``until``: the window reported (text in any syntax of
    ``sessionlens.timeparse``, or datetimes); default: the bulk of the
    lake's requests. The baseline draws on up to ``history`` before
    ``since``. ``tz``: the zone of times written without an offset and of
    the terminal and report text (the JSON stays UTC); ``now``: the time
    that ``now``, ``2h ago`` and ``yesterday`` count from.
    """
    lake = Lake(lake_dir)
    con = lake.connect()
    zone(tz)  # an unknown --tz fails before any work
    since = parse_time(since, tz=tz, now=now, what="--since")
    until = parse_time(until, tz=tz, now=now, what="--until")
    if since is not None and until is not None and until <= since:
        raise InputError("--until must be after --since")
    # The bulk of the data, not its extremes: one line dated years away must
    # not widen what is analysed (or what it costs).
    start, end, span, events = _window(since, until, con, now)
    requests, errors, *carrying = con.execute(
        "SELECT count(*), count(error_kind), " + ", ".join(f"count({c})" for c, _ in SIGNALS)
        + " FROM requests WHERE ts >= $start AND ts < $end", {"start": start, "end": end}).fetchall()[0]
    signals = {c: int(n) for (c, _), n in zip(SIGNALS, carrying)}
    rejected = sum(s.rejected for s in lake.read_manifest().segments)
    bucket = bucket_seconds or choose_bucket(requests, (end - start).total_seconds(), detect_settings)
    result = Analysis((start, end), bucket, int(requests), int(errors), rejected, [], [], [],
                      signals=signals, display_tz=tz, lake_outside=span.outside,
                      asked=(since is not None, until is not None),
                      lake_range=(span.start, span.end) if span.start is not None else None,
                      events_range=(events.start, events.end) if events and events.start is not None else None)
    if not requests:
        result.verdict = "no-data"
        result.window_events = con.execute("SELECT count(*) FROM events WHERE ts >= $start AND ts < $end",
                                           {"start": start, "end": end}).fetchall()[0][0]
    elif not any(signals.values()):
        result.verdict = "no-signal"
    if result.verdict != "normal":
        # nothing to detect a rate in; app events can still show anomalies
        result.changes = all_changes(lake, start - attribute_settings.lookback, end, con=con)
        result.anomalies = detect_all(con, start, end, result.changes, anomaly_settings)
        return result

    # What counts as normal comes from before the window too: the series
    # starts up to `history` before `since` (within the bulk of the data).
    reach = min(history, timedelta(seconds=MAX_HISTORY_BUCKETS * bucket))
    detect_start = min(start, max(start - reach, span.start)) if span.start is not None else start
    series = queries.run(con, "rate_by_bucket", {"since": detect_start, "until": end, "bucket_seconds": bucket})
    found = detect_spikes(con, series, detect_start, end, bucket, detect_settings)
    found = [s for s in found if s.end > start and s.start < end]
    spikes = [replace(s, id=f"spike-{i}", end=min(s.end, end)) for i, s in enumerate(found, 1)]
    earliest = min([start] + [s.onset for s in spikes])
    changes = all_changes(lake, earliest - attribute_settings.lookback, end, con=con)
    reports = []
    for spike in spikes:
        suspects, segs, explained, notes = rank(con, spike, changes, bucket, attribute_settings)
        if spike.onset < start:
            notes.insert(0, f"began before the window (at {fmt(spike.onset, tz)}); its counts include that time")
        reports.append(SpikeReport(spike, suspects, segs, explained, notes))
    result.spikes, result.changes, result.baseline = reports, changes, (detect_start, end)
    result.anomalies = detect_all(con, start, end, changes, anomaly_settings)
    result.verdict = "spike" if reports else "normal"
    result.still_abnormal = still_abnormal(con, start, end, bucket, [r.spike for r in reports])
    return result
