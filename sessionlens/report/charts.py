"""The report's charts, as Altair objects (usable from a notebook too).

The data comes through the query engine seam (:class:`Engine`), never from a
connection of the chart's own.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import altair as alt
import polars as pl

from ..analysis.result import Analysis, SpikeReport
from ..lake.engine import Engine
from ..lake.store import Lake

UTC = alt.Scale(type="utc")  # logs are in UTC; a reader's browser must not shift them


def timeline(engine: Engine, analysis: Analysis, report: SpikeReport) -> alt.LayerChart:
    """Session-error rate around a spike, the spike as a band, each change as a labelled rule."""
    s = report.spike
    start = max(analysis.window[0], s.onset - timedelta(hours=6))
    end = min(analysis.window[1], s.end + timedelta(hours=2))
    series = engine.run("rate_by_bucket", {"since": start, "until": end, "bucket_seconds": analysis.bucket_seconds})
    series = series.with_columns(rate=pl.col("errors") / pl.col("requests"))
    base = alt.Chart(series).encode(
        x=alt.X("bucket:T", title="time (UTC)", scale=UTC, axis=alt.Axis(format="%d %b %H:%M")))
    line = base.mark_line(color="#c0392b").encode(
        y=alt.Y("rate:Q", title="session-error rate", axis=alt.Axis(format="%")),
        tooltip=["bucket:T", "requests:Q", "errors:Q", alt.Tooltip("rate:Q", format=".2%")])
    band = alt.Chart(pl.DataFrame({"start": [s.start], "end": [s.end]})).mark_rect(
        opacity=0.12, color="#c0392b").encode(x=alt.X("start:T", scale=UTC), x2="end:T")
    changes = pl.DataFrame({"at": [x.change.at for x in report.suspects], "id": [x.change.id for x in report.suspects],
                            "role": [x.role for x in report.suspects]})
    layers = [band, line]
    if changes.height:
        rules = alt.Chart(changes).mark_rule(strokeDash=[4, 3]).encode(
            x=alt.X("at:T", scale=UTC),
            color=alt.Color("role:N", scale=alt.Scale(domain=["cause", "response"], range=["#2c3e50", "#7f8c8d"])),
            tooltip=["id:N", "role:N", "at:T"])
        labels = alt.Chart(changes).mark_text(angle=270, align="left", dx=4, dy=-4, fontSize=10).encode(
            x=alt.X("at:T", scale=UTC), y=alt.value(4), text="id:N")
        layers += [rules, labels]
    return alt.layer(*layers).properties(width="container", height=240, title=f"{s.id}: session-error rate")


def segments(report: SpikeReport) -> alt.Chart | None:
    """Error share against request share for the segments where errors concentrate."""
    if not report.segments:
        return None
    rows = []
    for g in report.segments[:8]:
        name = f"{g.dimension}={g.value}"[:60]
        rows += [{"segment": name, "share": g.error_share, "of": "errors"},
                 {"segment": name, "share": g.request_share, "of": "requests"}]
    return alt.Chart(pl.DataFrame(rows)).mark_bar().encode(
        y=alt.Y("segment:N", sort=None, title=None), x=alt.X("share:Q", axis=alt.Axis(format="%"), title="share"),
        yOffset="of:N",
        color=alt.Color("of:N", scale=alt.Scale(domain=["errors", "requests"], range=["#c0392b", "#95a5a6"])),
        tooltip=["segment:N", "of:N", alt.Tooltip("share:Q", format=".1%")],
    ).properties(width="container", title="where the errors are: share of errors vs share of requests")


def host_versions(engine: Engine, report: SpikeReport) -> alt.Chart | None:
    """Which version each host served, over the spike: rolling deploys and rollbacks at a glance."""
    s = report.spike
    frame = engine.run("host_versions", {"start": s.onset - timedelta(hours=1), "end": s.end + timedelta(minutes=30)})
    if frame.height == 0 or frame["app_version"].n_unique() < 2:
        return None
    return alt.Chart(frame).mark_rect().encode(
        x=alt.X("window_start:T", title="time (UTC)", scale=UTC, axis=alt.Axis(format="%H:%M")), x2="window_end:T",
        y=alt.Y("host:N", title=None),
        color=alt.Color("app_version:N", title="version"),
        tooltip=["host:N", "app_version:N", "window_start:T", "requests:Q"],
    ).properties(width="container", height=18 * frame["host"].n_unique(), title="hosts × app version")


def spike_charts(engine: Engine, analysis: Analysis, report: SpikeReport) -> dict[str, alt.TopLevelMixin | None]:
    """A spike's charts by name, in report order: ``timeline``, ``segments``, ``hosts`` (None where there is none)."""
    return {"timeline": timeline(engine, analysis, report), "segments": segments(report),
            "hosts": host_versions(engine, report)}


def all_charts(analysis: Analysis, lake_dir: str | Path) -> list[alt.TopLevelMixin]:
    """Every report chart of an analysis as Altair objects, spike by spike (for notebooks)."""
    engine = Lake(lake_dir).engine()  # one connection for all of them
    return [c for r in analysis.spikes for c in spike_charts(engine, analysis, r).values() if c is not None]
