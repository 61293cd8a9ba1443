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

from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from ..changes.infer import all_changes
from ..errors import InputError
from ..lake.engine import Engine
from ..lake.span import Span, bulk_span
from ..lake.store import Lake
from ..timeparse import fmt, parse_time, zone
from .anomalies import detect_all
from .attribute import AttributeSettings, rank
from .ending import still_abnormal
from .result import SCHEMA_VERSION, SIGNALS, VERDICTS, Analysis, SpikeReport
from .segment_spikes import count_series, find_segment_spikes, segment_series
from .spikes import DetectSettings, Spike, choose_bucket, fit_baseline, spikes_from_flags

# Analysis, SpikeReport and the contract's constants live in .result; importable from here as before
__all__ = ["HISTORY", "SCHEMA_VERSION", "SIGNALS", "VERDICTS", "Analysis", "SpikeReport", "analyze",
           "detect_spikes", "parse_when"]

HISTORY = timedelta(days=7)  # how far before --since the baseline may draw from
MAX_HISTORY_BUCKETS = 50_000  # ... and at most this many buckets of it (a --bucket of seconds stays cheap)


def parse_when(text: str | datetime | None, *, tz: str | None = None, now: datetime | None = None,
               what: str = "time") -> datetime | None:
    """Kept for existing imports: ``timeparse.parse_time`` (every syntax it reads)."""
    return parse_time(text, tz=tz, now=now, what=what)


def _window(since: datetime | None, until: datetime | None, engine: Engine,
            now: datetime | None = None) -> tuple[datetime, datetime, Span, Span | None]:
    """(start, end, requests span, events span): the window, from the options and else the data.

    One side given and the other taken from the data can come out reversed
    (``--since`` after the last request): the given side wins, and the
    window is empty rather than an error.
    """
    span = bulk_span(engine)
    events = bulk_span(engine, "events") if span.start is None else None  # a lake of app events only
    data = span if span.start is not None else events
    lo = data.start if data and data.start is not None else None
    hi = data.end + timedelta(seconds=1) if data and data.end is not None else None
    start, end = since or lo, until or hi
    if start is None and end is None:
        start = end = parse_time("now", now=now)
    start, end = start or end, end or start
    assert start is not None and end is not None  # (both were None only when neither was given)
    if start > end:
        if since:
            end = start
        else:
            start = end
    return start, end, span, events


def detect_spikes(engine: Engine, series: pl.DataFrame, since: datetime, until: datetime, bucket: int,
                  settings: DetectSettings | None = None) -> list[Spike]:
    """Spikes of the overall rate and of single segments, oldest first.

    The pooled search's threshold counts every series searched (the
    overall one and each segment value), so more segments do not mean
    more false spikes. ``settings``: default ``DetectSettings()``.
    """
    settings = settings or DetectSettings()
    if series.height == 0:
        return []
    frames = segment_series(engine, since, until, bucket)
    searched = 1 + count_series(frames)
    fit = fit_baseline(series, bucket, settings, searched)
    overall = spikes_from_flags(fit.series, fit.flagged, fit.pooled, fit.expected, bucket, settings)
    return find_segment_spikes(frames, fit, overall, bucket, settings, searched)


def analyze(
    lake_dir: str | Path | Lake,
    since: str | datetime | None = None,
    until: str | datetime | None = None,
    bucket_seconds: int | None = None,
    detect_settings: DetectSettings | None = None,
    attribute_settings: AttributeSettings | None = None,
    anomaly_settings: dict[str, Any] | None = None,
    *,
    tz: str | None = None,
    now: datetime | None = None,
    history: timedelta = HISTORY,
    engine: Engine | None = None,
) -> Analysis:
    """Analyses a lake: spikes in the session-error rate and the changes behind them.

    ``since``/``until``: the window reported (text in any syntax of
    ``sessionlens.timeparse``, or datetimes); default: the bulk of the
    lake's requests. The baseline draws on up to ``history`` before
    ``since``. ``tz``: the zone of times written without an offset and of
    the terminal and report text (the JSON stays UTC); ``now``: the time
    that ``now``, ``2h ago`` and ``yesterday`` count from. ``engine``: the
    lake's query engine when the caller has one (else one is opened).
    """
    detect_settings = detect_settings or DetectSettings()
    attribute_settings = attribute_settings or AttributeSettings()
    lake = Lake.of(lake_dir)
    engine = engine or lake.engine()
    zone(tz)  # an unknown --tz fails before any work
    since = parse_time(since, tz=tz, now=now, what="--since")
    until = parse_time(until, tz=tz, now=now, what="--until")
    if since is not None and until is not None and until <= since:
        raise InputError("--until must be after --since")
    # The bulk of the data, not its extremes: one line dated years away must
    # not widen what is analysed (or what it costs).
    start, end, span, events = _window(since, until, engine, now)
    totals = engine.run("window_totals", {"start": start, "end": end}).row(0, named=True)
    requests, errors = totals["requests"], totals["session_errors"]
    signals = {c: int(totals[c]) for c, _ in SIGNALS}
    rejected = sum(s.rejected for s in lake.read_manifest().segments)
    bucket = bucket_seconds or choose_bucket(requests, (end - start).total_seconds(), detect_settings)
    result = Analysis((start, end), bucket, int(requests), int(errors), rejected, [], [], [],
                      signals=signals, display_tz=tz, lake_outside=span.outside,
                      asked=(since is not None, until is not None),
                      lake_range=(span.start, span.end) if span.start is not None and span.end is not None else None,
                      events_range=((events.start, events.end)
                                    if events and events.start is not None and events.end is not None else None))
    if not requests:
        result.verdict = "no-data"
        result.window_events = int(engine.one("window_events", {"start": start, "end": end})[0])
    elif not any(signals.values()):
        result.verdict = "no-signal"
    if result.verdict != "normal":
        # nothing to detect a rate in; app events can still show anomalies
        result.changes = all_changes(lake, start - attribute_settings.lookback, end, engine=engine)
        result.anomalies = detect_all(engine, start, end, result.changes, anomaly_settings)
        return result

    # What counts as normal comes from before the window too: the series
    # starts up to `history` before `since` (within the bulk of the data).
    reach = min(history, timedelta(seconds=MAX_HISTORY_BUCKETS * bucket))
    detect_start = min(start, max(start - reach, span.start)) if span.start is not None else start
    series = engine.run("rate_by_bucket", {"since": detect_start, "until": end, "bucket_seconds": bucket})
    found = detect_spikes(engine, series, detect_start, end, bucket, detect_settings)
    found = [s for s in found if s.end > start and s.start < end]
    spikes = [replace(s, id=f"spike-{i}", end=min(s.end, end)) for i, s in enumerate(found, 1)]
    earliest = min([start] + [s.onset for s in spikes])
    changes = all_changes(lake, earliest - attribute_settings.lookback, end, engine=engine)
    reports = []
    for spike in spikes:
        ranking = rank(engine, spike, changes, bucket, attribute_settings)
        if spike.onset < start:
            ranking.notes.insert(0, f"began before the window (at {fmt(spike.onset, tz)}); "
                                    "its counts include that time")
        reports.append(SpikeReport.of(spike, ranking))
    result.spikes, result.changes, result.baseline = reports, changes, (detect_start, end)
    result.anomalies = detect_all(engine, start, end, changes, anomaly_settings)
    result.verdict = "spike" if reports else "normal"
    result.still_abnormal = still_abnormal(engine, start, end, bucket, [r.spike for r in reports])
    return result
