"""Markdown for a postmortem or a chat, with the charts as PNG files beside it.

Everything that came from a log or a change marker (paths, user agents,
hosts, change ids, labels and details, evidence, notes, anomaly text) goes
through ``md_text``: ``<``, ``>`` and ``&`` become entities, so no HTML
(``<script>``, ``<img onerror>``) or autolink reaches a renderer, and the
characters of Markdown syntax (links and images ``[..](..)``, emphasis, code
spans, table pipes, backslashes) are backslash-escaped, so the text shows as
written and never becomes a link. Such text is never put in a code span,
where neither escape would apply.
"""

from __future__ import annotations

import re
from html import escape
from pathlib import Path

from ..analysis.pipeline import Analysis
from ..analysis.text import anomaly_size, pct
from ..analysis.headline import headline
from .terminal import ENDING_TITLE, score_legend
from . import charts


_MD_SYNTAX = re.compile(r"([\\`*_\[\]|~])")


def md_text(text) -> str:
    """Text from a log as inert Markdown: HTML-escaped, Markdown syntax escaped, on one line."""
    text = escape(str(text), quote=False)
    text = _MD_SYNTAX.sub(r"\\\1", text)
    return re.sub(r"[\r\n]+", " ", text)


def render_markdown(con, analysis: Analysis, out: Path) -> str:
    import vl_convert

    start, end = analysis.window
    lines = ["# sessionlens report", "",
             f"{start:%Y-%m-%d %H:%M} – {end:%Y-%m-%d %H:%M} UTC: {analysis.requests:,} requests, "
             f"{analysis.session_errors:,} session errors, bucket {analysis.bucket_seconds}s", ""]
    if analysis.spikes:
        lines += [f"**{md_text(headline(r))}**" for r in analysis.spikes]
    elif analysis.verdict in ("no-signal", "no-data"):  # never an all-clear where the data cannot tell
        title = "Cannot judge" if analysis.verdict == "no-signal" else "No data"
        lines.append(f"**{title}:** {md_text(analysis.verdict_detail(analysis.local))}.")
    else:
        lines.append(f"No spike in the session-error rate ({md_text(analysis.verdict_detail(analysis.local))}).")
    if analysis.still_abnormal:
        lines += ["", f"**{ENDING_TITLE}:**", ""] + [f"- {md_text(line)}" for line in analysis.still_abnormal]
    if analysis.anomalies:
        lines += ["", "## Session anomalies", ""]
        for a in analysis.anomalies:
            cause = f" Most likely: **{md_text(a['explained_by'])}**." if a.get("explained_by") else ""
            lines.append(f"- **{md_text(a['kind'])}** {md_text(a['start'])} – {md_text(a.get('end') or '')} "
                         f"({md_text(anomaly_size(a))}).{cause} "
                         + "; ".join(md_text(e) for e in a.get("evidence", [])))
    for r in analysis.spikes:
        s = r.spike
        lines += ["", f"## {md_text(s.id)}: onset {s.onset:%Y-%m-%d %H:%M} UTC", "",
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
            lines.append(f"| **{md_text(x.change.id)}** {md_text(x.change.label)} | {x.change.at:%H:%M} | {md_text(role)} | "
                         f"{x.score:.2f} | {md_text('; '.join(x.evidence))} |")
        if r.suspects:
            lines += ["", f"*{md_text(score_legend())}*"]
        for note in r.notes:
            lines += ["", f"> {md_text(note)}"]
    return "\n".join(lines) + "\n"
