"""The terminal summary of an analysis (rich)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from .analyze import Analysis
from .attribute import pct


def headline(report) -> str:
    s = report.spike
    ratio = s.peak_rate / s.baseline_rate if s.baseline_rate else float("inf")
    cause = f"most likely cause: {report.explained_by}" if report.explained_by else "no change explains it well"
    return (f"Session errors rose {ratio:.0f}x at {s.onset:%Y-%m-%d %H:%M} UTC "
            f"({pct(s.baseline_rate)} -> peak {pct(s.peak_rate)}); {cause}")


def print_summary(result: Analysis, console: Console) -> None:
    start, end = result.window
    console.print(f"[bold]sessionlens[/bold] {start:%Y-%m-%d %H:%M} - {end:%Y-%m-%d %H:%M} UTC: "
                  f"{result.requests:,} requests, {result.session_errors:,} session errors "
                  f"({pct(result.session_errors / max(result.requests, 1))}), bucket {result.bucket_seconds}s")
    if result.anomalies:
        # first: a shared session is a security incident
        console.print()
        console.print(f"[bold red]{len(result.anomalies)} session anomal{'y' if len(result.anomalies) == 1 else 'ies'}[/bold red]")
        for a in result.anomalies:
            size = ", ".join(f"{k} {a[k]}" for k in ("sessions", "users", "clients", "max_cycles") if a.get(k) is not None)
            cause = f"; likely {a['explained_by']}" if a.get("explained_by") else ""
            console.print(f"  [bold]{a['kind']}[/bold] {a['start'][:16].replace('T', ' ')} - {a['end'][11:16]} UTC "
                          f"({size}){cause}", highlight=False)
            for line in a.get("evidence", []):
                console.print(f"    {line}", highlight=False)
    if not result.spikes:
        console.print("No spike in the session-error rate: it stayed within what is normal for each hour.")
        return
    for report in result.spikes:
        s = report.spike
        console.print()
        console.print(f"[bold red]{s.id}[/bold red] {headline(report)}", highlight=False)
        console.print(f"  from {s.start:%H:%M} to {s.end:%H:%M} UTC: {s.session_errors:,} errors in {s.requests:,} requests",
                      highlight=False)
        for note in report.notes:
            console.print(f"  [yellow]{note}[/yellow]", highlight=False)
        table = Table(show_header=True, header_style="bold", expand=False)
        for col in ("change", "at", "role", "score", "evidence"):
            table.add_column(col, overflow="fold")
        for x in report.suspects:
            role = x.role + (f" ({x.effect})" if x.effect else "")
            table.add_row(f"{x.change.id}\n[dim]{x.change.label}[/dim]", f"{x.change.at:%H:%M}", role, f"{x.score:.2f}",
                          "\n".join(x.evidence))
        console.print(table)
        if report.segments:
            seg = Table(title="where the errors are", show_header=True, header_style="bold")
            for col in ("dimension", "value", "errors", "requests", "rate"):
                seg.add_column(col)
            for g in report.segments[:6]:
                seg.add_row(g.dimension, g.value[:40], pct(g.error_share), pct(g.request_share), pct(g.rate))
            console.print(seg)
