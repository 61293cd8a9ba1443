"""A spike in one sentence: how much, from when, and why (terminal, reports, notebooks, nightly)."""

from __future__ import annotations

from ..timeparse import fmt
from .text import pct, times


def headline(report, tz: str | None = None) -> str:
    """The spike in one sentence: how much the rate rose (one multiple), from when, and why.

    The multiple is the spike's own rate (its session errors over its
    requests, onset to end) against its baseline, through
    ``text.times``; the peak is given as a rate, never as a second
    multiple. The cause is named by id and label; without one, the sentence
    says what the errors have in common (the spike's top segments).
    """
    s = report.spike
    rate = s.session_errors / s.requests if s.requests else s.peak_rate
    segment = getattr(s, "segment", None)  # a spike confined to one segment, e.g. ("host", "web07")
    where = f" on {segment[0]} {segment[1]}" if segment else ""
    before = pct(s.baseline_rate) if s.baseline_rate else "none"
    numbers = f"{before} -> {pct(rate)} over the spike, peak {pct(s.peak_rate)}"
    rose = f"rose {times(rate, s.baseline_rate)}" if s.baseline_rate > 0 else "appeared"
    return f"Session errors{where} {rose} from {fmt(s.onset, tz)} ({numbers}); {cause_text(report)}"


def cause_text(report) -> str:
    """``most likely cause: deploy-1041 "Archive v1.41.0 (...)"``, or what the errors have in common."""
    if report.explained_by:
        change = next((x.change for x in report.suspects if x.change.id == report.explained_by), None)
        label = change.label if change is not None and change.label and change.label != change.id else ""
        return f"most likely cause: {report.explained_by}" + (f' "{label}"' if label else "")
    top = report.segments[:2]
    if not top:
        return "no change explains it, and the errors share no segment"
    common = " and ".join(f"{g.dimension} {g.value} ({pct(g.error_share)} of errors, {pct(g.request_share)} "
                          "of requests)" for g in top)
    return f"no change explains it; the errors have in common: {common}"
