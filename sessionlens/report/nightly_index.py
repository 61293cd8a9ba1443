"""The nightly job's ``index.html``: every night reported, newest first, with its findings.

Rendered from ``templates/nightly_index.html.j2``; every value is
HTML-escaped by the template environment.
"""

from __future__ import annotations

from typing import Any, Mapping

from .templating import render

JUDGED = ("normal", "spike")  # verdicts of a night the analysis could judge


def quiet(night: Mapping[str, Any]) -> str:
    """A night without findings: "nothing unusual" only when the night could be judged."""
    verdict = night.get("verdict", "normal")
    return "nothing unusual" if verdict in JUDGED else f"cannot judge ({verdict})"


def render_index(nights: Mapping[str, Mapping[str, Any]], note: str | None = None) -> str:
    """The index page.

    Args:
        nights: the registry (``nights.json``): night (``YYYY-MM-DD``) ->
            ``report`` (file name), ``spikes``, ``anomalies``, ``findings``
            (lines) and ``verdict``.
        note: a banner above the table (a run that found no new data says so).
    """
    rows = [{"day": day, "report": night["report"], "spikes": night["spikes"], "anomalies": night["anomalies"],
             # as "<br>".join(findings) would be empty: no findings, or one empty line
             "findings": [] if list(night["findings"]) in ([], [""]) else list(night["findings"]),
             "quiet": quiet(night)}
            for day, night in sorted(nights.items(), reverse=True)]
    return render("nightly_index.html.j2", nights=rows, note=note)
