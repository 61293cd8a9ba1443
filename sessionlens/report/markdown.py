"""Markdown for a postmortem or a chat, with the charts as PNG files beside it."""

from __future__ import annotations

from pathlib import Path

from ..analyze import Analysis
from ..attribute import pct
from ..summary import headline
from . import charts


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render_markdown(con, analysis: Analysis, out: Path) -> str:
    import vl_convert

    start, end = analysis.window
    lines = ["# sessionlens report", "",
             f"{start:%Y-%m-%d %H:%M} – {end:%Y-%m-%d %H:%M} UTC: {analysis.requests:,} requests, "
             f"{analysis.session_errors:,} session errors, bucket {analysis.bucket_seconds}s", ""]
    lines += [f"**{_cell(headline(r))}**" for r in analysis.spikes] or ["No spike in the session-error rate."]
    if analysis.anomalies:
        lines += ["", "## Session anomalies", ""]
        for a in analysis.anomalies:
            cause = f" Most likely: `{a['explained_by']}`." if a.get("explained_by") else ""
            lines.append(f"- **{a['kind']}** {a['start']} – {a.get('end', '')}.{cause} " + "; ".join(_cell(e) for e in a.get("evidence", [])))
    for r in analysis.spikes:
        s = r.spike
        lines += ["", f"## {s.id}: onset {s.onset:%Y-%m-%d %H:%M} UTC", "",
                  f"{s.session_errors:,} session errors in {s.requests:,} requests; peak {pct(s.peak_rate)} against {pct(s.baseline_rate)}.", ""]
        for name, c in (("timeline", charts.timeline(con, analysis, r)), ("segments", charts.segments(r)),
                        ("hosts", charts.host_versions(con, r))):
            if c is None:
                continue
            png = out.with_name(f"{out.stem}-{s.id}-{name}.png")
            spec = c.properties(width=800).to_json()
            png.write_bytes(vl_convert.vegalite_to_png(spec, scale=1.5))
            lines.append(f"![{name}]({png.name})")
        lines += ["", "| change | at | role | score | evidence |", "|---|---|---|---|---|"]
        for x in r.suspects:
            role = x.role + (f" ({x.effect})" if x.effect else "")
            lines.append(f"| `{_cell(x.change.id)}` {_cell(x.change.label)} | {x.change.at:%H:%M} | {role} | {x.score:.2f} | "
                         f"{_cell('; '.join(x.evidence))} |")
        for note in r.notes:
            lines += ["", f"> {_cell(note)}"]
    return "\n".join(lines) + "\n"
