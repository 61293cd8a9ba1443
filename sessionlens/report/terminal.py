"""The terminal summary of an analysis (rich).

Times are shown in the analysis's display zone (``--tz``), each with its
offset, or in UTC; the JSON document stays in UTC.
"""

from __future__ import annotations

from datetime import datetime

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..analysis.headline import headline
from ..analysis.result import SIGNALS, Analysis
from ..analysis.text import anomaly_size, pct
from ..timeparse import fmt, fmt_span, offset, zone
from .view import ENDING_TITLE, role_text, score_legend


def clock_span(start: datetime, end: datetime, tz: str | None = None) -> str:
    """``16:10 to 19:06 UTC``; each end with its offset when a DST change lies between."""
    z = zone(tz)
    a, b = start.astimezone(z), end.astimezone(z)
    if offset(a) == offset(b):
        return f"{a:%H:%M} to {b:%H:%M} {offset(b)}"
    return f"{a:%H:%M} {offset(a)} to {b:%H:%M} {offset(b)}"


def verdict_line(result: Analysis, tz: str | None = None) -> str:
    """The verdict in one sentence, times in the display zone."""
    show = lambda t: fmt(t, tz)  # noqa: E731
    if result.verdict == "no-data":
        return f"No data: {result.verdict_detail(show)}."
    if result.verdict == "no-signal":
        return f"Cannot judge: {result.verdict_detail(show)}."
    if result.verdict == "spike":
        n = len(result.spikes)
        return f"{n} spike{'' if n == 1 else 's'} in the session-error rate:"
    line = "No spike in the session-error rate: it stayed within what is normal for each hour"
    missing = [what for col, what in SIGNALS if not result.signals.get(col)]
    if missing and result.signals:
        line += f" (no request carries {' or '.join(missing)}"
        line += ", so no session error could show)" if not result.signals.get("error_kind") else ")"
    return line + "."


def _iso_text(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


def print_summary(result: Analysis, console: Console, tz: str | None = None) -> None:
    tz = tz if tz is not None else result.display_tz
    start, end = result.window
    head = f"[bold]sessionlens[/bold] {fmt_span(start, end, tz)}: "
    if result.verdict == "no-data":
        console.print(head + "no requests", highlight=False)
    elif result.verdict == "no-signal":
        console.print(head + f"{result.requests:,} requests, none showing a session, bucket {result.bucket_seconds}s",
                      highlight=False)
    else:
        console.print(head + f"{result.requests:,} requests, {result.session_errors:,} session errors "
                      f"({pct(result.session_errors / max(result.requests, 1))}), bucket {result.bucket_seconds}s",
                      highlight=False)
        if result.baseline and result.baseline[0] < start:
            console.print(f"[dim]baseline from {fmt_span(result.baseline[0], result.baseline[1], tz)}[/dim]",
                          highlight=False)
    if result.anomalies:
        # first: a shared session is a security incident
        console.print()
        n = len(result.anomalies)
        console.print(f"[bold red]{n} session anomal{'y' if n == 1 else 'ies'}[/bold red]")
        for a in result.anomalies:
            size = anomaly_size(a)
            cause = f"; likely {a.explained_by}" if a.explained_by else ""
            a_start, a_end = a.start, a.end
            when = fmt_span(a_start, a_end, tz) if a_end else fmt(a_start, tz)
            console.print(f"  [bold]{a.kind}[/bold] {when} ({size}){cause}", highlight=False)
            for line in a.evidence:
                console.print(f"    {line}", highlight=False)
    if result.verdict != "spike":
        if result.anomalies:
            console.print()
        console.print(verdict_line(result, tz), highlight=False)
        _print_ending(result, console)
        return
    legend = True
    for report in result.spikes:
        s = report.spike
        console.print()
        console.print(f"[bold red]{escape(s.id)}[/bold red] {escape(headline(report, tz))}", highlight=False)
        console.print(f"  from {clock_span(s.start, s.end, tz)}: {s.session_errors:,} errors in "
                      f"{s.requests:,} requests",
                      highlight=False)
        for note in report.notes:
            console.print(f"  [yellow]{note}[/yellow]", highlight=False)
        table = Table(show_header=True, header_style="bold", expand=False)
        for col in ("change", "at", "role", "score", "evidence"):
            table.add_column(col, overflow="fold")
        for x in report.suspects:
            table.add_row(f"{x.change.id}\n[dim]{x.change.label}[/dim]", f"{x.change.at.astimezone(zone(tz)):%H:%M}",
                          role_text(x), f"{x.score:.2f}", "\n".join(x.evidence))
        console.print(table)
        if report.suspects and legend:  # once: the same legend under every table is noise in a terminal
            console.print(f"[dim]{score_legend()}[/dim]", highlight=False)
            legend = False
        if report.segments:
            seg = Table(title="where the errors are", show_header=True, header_style="bold")
            for col in ("dimension", "value", "share of errors", "share of requests", "error rate"):
                seg.add_column(col)
            for g in report.segments[:6]:
                seg.add_row(g.dimension, g.value[:40], pct(g.error_share), pct(g.request_share), pct(g.rate))
            console.print(seg)
    _print_ending(result, console)


def _print_ending(result: Analysis, console: Console) -> None:
    """Last, where a terminal leaves the eye: what is still wrong now."""
    lines = getattr(result, "still_abnormal", None) or []
    if not lines:
        return
    console.print()
    console.print(f"[bold yellow]{ENDING_TITLE}:[/bold yellow]", highlight=False)
    for line in lines:
        console.print(f"  - {escape(line)}", highlight=False)
