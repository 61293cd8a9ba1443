"""Rank the changes around a spike and say why, with evidence a reader can check.

For each change from a lookback window before the onset to the spike's end:

* a change made before the onset is a possible *cause*, scored on
  time to onset, the rate before and after it (with a significance test),
  and evidence that the errors sit where the change reached: an exposure
  contrast (exposed against unexposed traffic over the same minutes) when
  its scope names hosts, a version, a cookie format or an edge verdict, and
  the spike's segments that point at it;
* a change made after the onset is a *response*, whose effect (helped,
  hurt, none) compares the rate after it with the rate before it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from scipy.stats import binomtest

from . import queries
from .changes import Change
from .detect import Spike
from .segments import Segment, segments
from .wording import p_text, pct

@dataclass(frozen=True)
class AttributeSettings:
    """Thresholds of attribution; defaults documented in docs/analysis.md."""

    lookback: timedelta = timedelta(hours=2)
    proximity_minutes: float = 30.0  # a cause this long before the onset keeps 1/e of its score
    explain_threshold: float = 0.5  # the best cause explains the spike from this score
    effect_window: timedelta = timedelta(minutes=20)
    effect_alpha: float = 0.01


@dataclass
class Suspect:
    change: Change
    role: str
    score: float
    evidence: list[str] = field(default_factory=list)
    effect: str | None = None


def rate_test(e1: int, n1: int, e2: int, n2: int) -> float:
    """Two-sided p-value that two Poisson rates differ, conditional on the total."""
    if e1 + e2 == 0 or n1 == 0 or n2 == 0:
        return 1.0
    return binomtest(e2, e1 + e2, n2 / (n1 + n2)).pvalue


def _rates(con, start: datetime, end: datetime) -> tuple[int, int]:
    row = queries.run(con, "rate_between", {"start": start, "end": end}).row(0)
    return int(row[0]), int(row[1])


def exposure(change: Change, linked: list[Change]) -> list[tuple[str, list[str]]]:
    """The (dimension, values) a change's scope or its linked inferred changes name."""
    out: list[tuple[str, list[str]]] = []
    # a scope that is not an object (a lake written before markers were checked) names nothing
    scope = dict(change.scope) if isinstance(change.scope, dict) else {}
    for inf in linked:
        for k, v in (inf.scope.items() if isinstance(inf.scope, dict) else ()):
            scope.setdefault(k, v)
    for key, dim in (("cookie_format", "cookie_format"), ("version", "app_version"), ("edge_worker", "edge_worker"),
                     ("hosts", "host")):
        values = _scope_values(scope.get(key))
        if values:
            out.append((dim, values))
    return out


def _scope_values(value) -> list[str]:
    """A scope value as the texts to match: a string or number, or a list of them; anything else is skipped."""
    items = value if isinstance(value, (list, tuple)) else [value]
    return [str(x) for x in items if isinstance(x, (str, int, float)) and not isinstance(x, bool) and str(x)]


def score_cause(con, spike: Spike, change: Change, linked: list[Change], segs: list[Segment],
                bucket: timedelta, settings: AttributeSettings) -> Suspect:
    evidence: list[str] = []
    minutes = max(0.0, (spike.onset - change.at).total_seconds() / 60)
    # within a bucket of the onset counts as no delay: the onset is only known to the bucket
    proximity = math.exp(-max(0.0, minutes - bucket.total_seconds() / 60) / settings.proximity_minutes)
    evidence.append(f"onset {minutes:.0f} min after the change began" if minutes >= 1 else "onset within a bucket of the change")

    # the rate before the change against the rate from the onset on
    span = max(timedelta(minutes=30), bucket * 10)
    n1, e1 = _rates(con, change.at - span, change.at)
    n2, e2 = _rates(con, spike.onset, min(spike.onset + span, spike.end))
    r1, r2 = e1 / max(n1, 1), e2 / max(n2, 1)
    p = rate_test(e1, n1, e2, n2)
    ratio = r2 / r1 if r1 > 0 else (math.inf if r2 > 0 else 1.0)
    jump = 0.0
    if r2 > r1 and p < 1e-3:
        jump = min(1.0, math.log(max(ratio, 1.0)) / math.log(10))
    ratio_text = f"{ratio:.0f}x" if ratio != math.inf else "from none"
    evidence.append(f"error rate {pct(r1)} -> {pct(r2)} ({ratio_text}, {p_text(p)})")

    # where did the errors go? exposure contrast and segments
    link = 0.0
    dims = exposure(change, linked)
    for dim, values in dims:
        split = {row["exposed"]: row for row in queries.run(
            con, "exposure_split", {"start": change.at, "end": spike.end, "values": values}, dimension=dim).iter_rows(named=True)}
        if True not in split or False not in split:
            continue
        ex, un = split[True], split[False]
        rex, run_ = ex["errors"] / max(ex["requests"], 1), un["errors"] / max(un["requests"], 1)
        pe = rate_test(un["errors"], un["requests"], ex["errors"], ex["requests"])
        if rex > run_ and pe < 1e-3:
            contrast = rex / max(run_, 1e-9)
            link = max(link, min(1.0, math.log(contrast) / math.log(20)))
            evidence.append(f"{dim} in {', '.join(values[:4])}{'...' if len(values) > 4 else ''}: {pct(rex)} errors vs "
                            f"{pct(run_)} elsewhere over the same minutes ({p_text(pe)})")
    for seg in segs:
        if any(seg.dimension == d and seg.value in v for d, v in dims) or (
                seg.dimension == "host_version" and any(d == "app_version" and seg.value.endswith(" @ " + v[0]) for d, v in dims)):
            link = max(link, min(1.0, seg.error_share + 0.2))
            evidence.append(f"errors concentrated where {seg.dimension}={seg.value} "
                            f"({pct(seg.error_share)} of errors, {pct(seg.request_share)} of requests)")
            break
    if not dims:
        link = 0.5 * jump  # a change with no scope can only be judged by time and rate
        evidence.append("no scope to test exposure against: judged by timing and rate alone")
    # timing gates the rest: a change long before the onset explains little however the rate moved
    score = proximity * (0.45 * jump + 0.55 * link)
    return Suspect(change, "cause", round(score, 3), evidence)


def score_response(con, spike: Spike, change: Change, bucket: timedelta, settings: AttributeSettings,
                   previous: datetime | None = None, following: datetime | None = None) -> Suspect:
    """A response's effect: the rate after it against the rate before it.

    The windows stop at the neighbouring changes, so one toggle is not
    credited with the next one's effect.
    """
    minutes = (change.at - spike.onset).total_seconds() / 60
    w = settings.effect_window
    before_start = max(change.at - w, previous or change.at - w)
    after_start = change.at + bucket  # let it take effect
    after_end = min(after_start + w, following or after_start + w)
    if after_end - after_start < bucket * 2:
        after_start, after_end = change.at, max(after_end, change.at + bucket * 2)
    n1, e1 = _rates(con, before_start, change.at)
    n2, e2 = _rates(con, after_start, after_end)
    r1, r2 = e1 / max(n1, 1), e2 / max(n2, 1)
    p = rate_test(e1, n1, e2, n2)
    if p < settings.effect_alpha and r2 < 0.8 * r1:
        effect, words = "helped", f"rate {pct(r1)} -> {pct(r2)} after it ({p_text(p)})"
    elif p < settings.effect_alpha and r2 > 1.25 * r1:
        effect, words = "hurt", f"rate {pct(r1)} -> {pct(r2)} after it ({p_text(p)})"
    else:
        effect, words = "none", f"rate {pct(r1)} -> {pct(r2)} after it, no significant change"
    evidence = [f"made {minutes:.0f} min after onset; {words}"]
    return Suspect(change, "response", 0.05, evidence, effect)


def rank(con, spike: Spike, changes: list[Change], bucket_seconds: int,
         settings: AttributeSettings = AttributeSettings()) -> tuple[list[Suspect], list[Segment], str | None, list[str]]:
    """Suspects best first, the spike's segments, the explaining change id (or None), and notes."""
    bucket = timedelta(seconds=bucket_seconds)
    segs = segments(con, spike)
    by_id = {c.id: c for c in changes}
    linked: dict[str, list[Change]] = {}
    for c in changes:
        if c.linked_to and c.linked_to in by_id:
            linked.setdefault(c.linked_to, []).append(c)
    window = [c for c in changes if not (c.linked_to and c.linked_to in by_id)
              and spike.onset - settings.lookback <= c.at <= spike.end]
    suspects = []
    times = sorted({c.at for c in window})
    for c in window:
        if c.at < spike.onset + bucket:
            suspects.append(score_cause(con, spike, c, linked.get(c.id, []), segs, bucket, settings))
        else:
            prev = max((t for t in times if t < c.at), default=None)
            nxt = min((t for t in times if t > c.at), default=None)
            suspects.append(score_response(con, spike, c, bucket, settings, prev, nxt))
    notes: list[str] = []
    # errors from a handful of clients, at a tiny share of traffic, are not a change's doing
    clients = [s for s in segs if s.dimension == "client_key"]
    top = sum(s.error_share for s in clients)
    if clients and len(clients) <= 5 and top >= 0.5:
        share = sum(s.request_share for s in clients)
        notes.append(f"{pct(top)} of the errors come from {len(clients)} client(s) sending {pct(share)} of requests")
        for s in suspects:
            if s.role == "cause" and not any("client" in e for e in s.evidence):
                s.score = round(s.score * 0.4, 3)
    suspects.sort(key=lambda s: (s.role != "cause", -s.score, s.change.at))
    best = next((s for s in suspects if s.role == "cause"), None)
    explained = best.change.id if best and best.score >= settings.explain_threshold else None
    return suspects, segs, explained, notes
