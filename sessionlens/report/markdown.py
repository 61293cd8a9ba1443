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

from ..analysis.result import Analysis
from ..analysis.text import anomaly_size
from ..changes.model import iso
from ..lake.engine import Engine
from .view import report_view

_MD_SYNTAX = re.compile(r"([\\`*_\[\]|~])")


def md_text(text: object) -> str:
    """Text from a log as inert Markdown: HTML-escaped, Markdown syntax escaped, on one line."""
    text = escape(str(text), quote=False)
    text = _MD_SYNTAX.sub(r"\\\1", text)
    return re.sub(r"[\r\n]+", " ", text)


def render_markdown(engine: Engine, analysis: Analysis, out: Path) -> str:
    """The report on ``analysis`` as Markdown; its charts are written as PNG files beside ``out``.

    ``engine`` answers the charts' queries; the texts are those of the HTML report (``report.view``).
    """
    import vl_convert  # heavy (a native JavaScript runtime): only when a report is written

    from . import charts  # altair is heavy: the terminal summary, in this package too, never needs it

    view = report_view(analysis)
    lines = ["# sessionlens report", "", view.totals, ""]
    if view.headlines:
        lines += [f"**{md_text(line)}**" for line in view.headlines]
    elif view.verdict_title:  # never an all-clear where the data cannot tell
        lines.append(f"**{view.verdict_title}:** {md_text(view.verdict_detail)}.")
    else:
        lines.append(f"No spike in the session-error rate ({md_text(view.verdict_detail)}).")
    if view.still_abnormal:
        lines += ["", f"**{view.ending_title}:**", ""] + [f"- {md_text(line)}" for line in view.still_abnormal]
    if analysis.anomalies:
        lines += ["", "## Session anomalies", ""]
        for a in analysis.anomalies:
            cause = f" Most likely: **{md_text(a.explained_by)}**." if a.explained_by else ""
            lines.append(f"- **{md_text(a.kind)}** {md_text(iso(a.start))} – {md_text(iso(a.end))} "
                         f"({md_text(anomaly_size(a))}).{cause} "
                         + "; ".join(md_text(e) for e in a.evidence))
    for s in view.spikes:
        lines += ["", f"## {md_text(s.id)}: onset {s.onset} UTC", "",
                  f"{s.session_errors:,} session errors in {s.requests:,} requests; "
                  f"peak {s.peak_rate} against {s.baseline_rate}.", ""]
        for name, chart in charts.spike_charts(engine, analysis, s.report).items():
            if chart is None:
                continue
            png = out.with_name(f"{out.stem}-{s.id}-{name}.png")
            spec = chart.properties(width=800).to_json()
            png.write_bytes(vl_convert.vegalite_to_png(spec, scale=1.5))
            lines.append(f"![{name}]({png.name})")
        lines += ["", "| change | at | role | score | evidence |", "|---|---|---|---|---|"]
        for x in s.suspects:
            lines.append(f"| **{md_text(x.id)}** {md_text(x.label)} | {x.at} | {md_text(x.role)} | "
                         f"{x.score} | {md_text('; '.join(x.evidence))} |")
        if s.suspects:
            lines += ["", f"*{md_text(view.legend)}*"]
        for note in s.notes:
            lines += ["", f"> {md_text(note)}"]
    return "\n".join(lines) + "\n"
