"""What ``watch`` shows: the live terminal view, the lines of ``--once``, and its JSON.

The view answers what an on-call engineer asks during a rollout: is the
session-error rate off its baseline right now (a per-minute sparkline of the
window), where are the errors moving (the open spike's top segments, what is
still abnormal), what changed in the window, what was alerted, and how far
behind the logs the lake is (ingest lag).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ..analysis.text import duration, pct
from ..changes.model import iso
from ..lake.store import Lake
from ..timeparse import fmt
from .watch import Cycle

BARS = " ▁▂▃▄▅▆▇█"
BASELINE_SPAN = timedelta(hours=24)  # the rate before the window that the sparkline is compared with


@dataclass
class Rates:
    """Per-minute session-error rates of the window, and the rate of the day before it."""

    minutes: list[tuple[datetime, int, int]]  # (minute, requests, errors)
    baseline: float | None

    @property
    def rate(self) -> float | None:
        requests = sum(r for _, r, _ in self.minutes)
        return sum(e for _, _, e in self.minutes) / requests if requests else None

    def sparkline(self, width: int = 60) -> str:
        """One character per minute, scaled to the window's highest rate (blank: no requests)."""
        rates = [e / r if r else None for _, r, e in self.minutes[-width:]]
        top = max((x for x in rates if x is not None), default=0.0)
        return "".join(" " if x is None else BARS[min(8, int(round(8 * x / top))) if top else 1] for x in rates)


def recent_rates(lake: Lake, end: datetime, window: timedelta) -> Rates:
    """Minute by minute over ``window`` before ``end``, and the rate of the 24 hours before that."""
    frame = lake.engine().run("rate_by_bucket", {"since": end - window - BASELINE_SPAN, "until": end,
                                                 "bucket_seconds": 60})
    start = end - window
    minutes, before_n, before_e = [], 0, 0
    for bucket, requests, errors in frame.iter_rows():
        if bucket >= start:
            minutes.append((bucket, int(requests), int(errors)))
        else:
            before_n, before_e = before_n + int(requests), before_e + int(errors)
    return Rates(minutes, before_e / before_n if before_n else None)


def cycle_json(cycle: Cycle, rates: Rates | None) -> dict[str, Any]:
    """One cycle as JSON (``watch --once --json``)."""
    a = cycle.analysis
    return {
        "at": iso(cycle.started),
        "ingested": cycle.summary.as_dict() if cycle.summary else None,
        "data_end": iso(cycle.data_end) if cycle.data_end else None,
        "lag_seconds": round(cycle.lag_seconds, 1) if cycle.lag_seconds is not None else None,
        "verdict": a.verdict if a else "no-data",
        "rate": rates.rate if rates else None,
        "baseline_rate": rates.baseline if rates else None,
        "open_spikes": [r.to_json() for r in cycle.open_spikes],
        "alerts": [{**x.payload(), "delivery_failures": x.failures} for x in cycle.alerts],
        "notes": cycle.notes,
    }


def cycle_lines(cycle: Cycle, rates: Rates | None, tz: str | None = None) -> list[str]:
    """One cycle as a few plain lines (``watch --once``, and the log of a service)."""
    lines = []
    s = cycle.summary
    if s is not None:
        lines.append(f"ingested {s.lines_read:,} lines ({s.stored:,} stored, {s.rejected:,} rejected) "
                     f"from {len(s.files)} files in {s.seconds:.1f} s")
    if cycle.data_end is None:
        return lines + ["the lake holds no requests yet"] + cycle.notes
    lag = cycle.lag_seconds or 0.0
    lines.append(f"data up to {fmt(cycle.data_end - timedelta(seconds=1), tz)}"
                 f" (lag {duration(lag) if lag >= 0 else 'none: the data is dated ahead of this clock'})")
    a = cycle.analysis
    if a is not None and a.verdict in ("no-signal", "no-data"):
        # a rate of 0% where nothing shows a session is no all-clear: say what cannot be judged
        lines.append(f"cannot judge: {a.verdict}: {a.verdict_detail()}")
    elif rates is not None and rates.rate is not None:
        base = f"baseline {pct(rates.baseline)}" if rates.baseline is not None else "no baseline yet"
        lines.append(f"session errors over the window: {pct(rates.rate)} of requests ({base})")
    for report in cycle.open_spikes:
        lines.append(f"open spike since {fmt(report.spike.onset, tz)}: {pct(report.spike.rate)} of requests; "
                     f"top suspect {report.suspects[0].change.id if report.suspects else 'none'}")
    for alert in cycle.alerts:
        lines.append(f"ALERT {alert.event}: {alert.summary}")
        lines.extend(f"  not delivered by {channel}: {why}" for channel, why in alert.failures.items())
    return lines + cycle.notes


def render(cycle: Cycle, rates: Rates | None, tz: str | None = None, history: list[str] | None = None):
    """The live view: a rich renderable redrawn after each cycle."""
    from rich.console import Group
    from rich.panel import Panel
    from rich.table import Table

    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    lag = cycle.lag_seconds
    table.add_row("data up to", "-" if cycle.data_end is None else
                  f"{fmt(cycle.data_end - timedelta(seconds=1), tz)}  (lag {duration(max(lag or 0.0, 0.0))})")
    if rates is not None and rates.rate is not None:
        base = pct(rates.baseline) if rates.baseline is not None else "-"
        table.add_row("session errors", f"{pct(rates.rate)} of requests  (baseline {base})")
        table.add_row("per minute", f"[red]{rates.sparkline()}[/red]")
    a = cycle.analysis
    table.add_row("verdict", f"{a.verdict}: {a.verdict_detail()}" if a and a.verdict in ("no-signal", "no-data")
                  else a.verdict if a else "no-data")
    for report in cycle.open_spikes:
        top = report.suspects[0] if report.suspects else None
        table.add_row("open spike", f"since {fmt(report.spike.onset, tz)}, {pct(report.spike.rate)}; "
                      + (f"suspect {top.change.id} ({top.role}, {top.score:.2f})" if top else "no suspect"))
        for seg in report.segments[:3]:
            table.add_row("  moving", f"{seg.dimension}={seg.value}: {pct(seg.error_share)} of errors, "
                          f"{pct(seg.request_share)} of requests")
    for line in (a.still_abnormal if a else [])[:3]:
        table.add_row("still abnormal", line)
    if a is not None:
        start = a.window[0]
        for change in [c for c in a.changes if c.at >= start][-5:]:
            table.add_row("change", f"{fmt(change.at, tz)}  {change.id}  {change.label}")
    for line in (history or [])[-5:]:
        table.add_row("alert", line)
    for note in cycle.notes:
        table.add_row("note", note)
    return Group(Panel(table, title="sessionlens watch", subtitle="Ctrl-C stops"))
