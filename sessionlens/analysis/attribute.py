"""Rank the changes around a spike and say why, with evidence a reader can check.

For each change from a lookback window before the onset to the spike's end
plus an effect window:

* a change made before the onset is a possible *cause*, scored on the time
  from when it took effect to the onset (a grace period, TTL or delay in its
  scope, a rollout's ``end`` and the steps of a percentage rollout count),
  the rate before and after, and evidence that the errors sit where the
  change reached: an exposure contrast (exposed against unexposed traffic
  over the same minutes) when its scope names hosts, a version, a cookie
  format or an edge verdict, and the spike's segments that point at it.
  A change that reached only part of the traffic while the rest carries the
  spike just as much cannot be the cause (the *exposure veto*): it is
  reported ``unrelated``, with the contrast as evidence;
* a change made after the onset, up to the spike's end plus the effect
  window, is a *response*: its effect (helped, hurt, none) compares the rate
  after it with the rate before it, allowing for a trend already under way.

Thresholds are the fields of :class:`AttributeSettings` (docs/analysis.md).
This module ranks; :mod:`causes` and :mod:`responses` score, :mod:`scope`
reads scopes, :mod:`suspects` holds the shared types.
"""

from __future__ import annotations

from datetime import timedelta

from ..changes.model import Change
from ..lake.engine import Engine
from .causes import score_cause, timing
from .responses import score_response
from .scope import percent_of, rollouts
from .segments import segments
from .spikes import Spike
from .suspects import AttributeSettings, Ranking, Suspect
from .text import pct

__all__ = ["AttributeSettings", "Ranking", "Suspect", "rank"]

ROLE_ORDER = {"cause": 0, "response": 1, "unrelated": 2}


def rank(engine: Engine, spike: Spike, changes: list[Change], bucket_seconds: int,
         settings: AttributeSettings | None = None) -> Ranking:
    """The changes around a spike, ranked, with the spike's segments, the explaining change and notes.

    Causes come first by score, then responses in time order, then changes
    the exposure veto ruled out. ``settings``: default ``AttributeSettings()``.
    """
    settings = settings or AttributeSettings()
    bucket = timedelta(seconds=bucket_seconds)
    segs = segments(engine, spike)
    by_id = {c.id: c for c in changes}
    linked: dict[str, list[Change]] = {}
    for c in changes:
        if c.linked_to and c.linked_to in by_id:
            linked.setdefault(c.linked_to, []).append(c)
    own = [c for c in changes if not (c.linked_to and c.linked_to in by_id)]
    series = rollouts(own)
    step_of = {s.id: first for first, steps in series.items() for s in steps[1:]}
    # a change made before the latest onset the counts allow may be the cause (small counts blur the onset)
    cause_end = max(spike.onset + bucket, spike.onset_latest or spike.onset)

    def before_onset(c: Change) -> bool:
        # a later step of a rollout begun before the onset is judged by what it did (a response) once the
        # rate has risen; only a single change gets the benefit of a blurred onset
        return c.at <= (spike.onset + bucket if c.id in step_of else cause_end)

    window: list[Change] = []
    for c in own:
        if before_onset(c):
            # a candidate cause: it took effect (a delay counted) within the lookback before the onset
            # a rollout's steps stand or fall together: it is in when any of its steps is
            steps = series.get(step_of.get(c.id, c.id), [c])
            if any(timing(spike, x, linked.get(x.id, []), bucket, settings)[0] <= settings.lookback.total_seconds() / 60
                   for x in steps if x.at <= cause_end):
                window.append(c)
        elif c.at <= spike.end + settings.effect_window:
            window.append(c)
    suspects: list[Suspect] = []
    times_ = sorted({c.at for c in window})
    scored: dict[str, Suspect] = {}
    for c in sorted(window, key=lambda c: c.at):
        if before_onset(c):
            if c.id in step_of and step_of[c.id] in by_id:
                continue  # scored with the rollout's first step below
            s = score_cause(engine, spike, c, linked.get(c.id, []), segs, bucket, settings, steps=series.get(c.id))
        else:
            prev = max((t for t in times_ if t < c.at), default=None)
            nxt = min((t for t in times_ if t > c.at), default=None)
            s = score_response(engine, spike, c, bucket, settings, prev, nxt)
            if c.id in step_of:
                first = series[step_of[c.id]]
                s.evidence.append(f"step {first.index(c) + 1} of the rollout {first[0].id} ({percent_of(c):g}%)")
        scored[c.id] = s
        suspects.append(s)
    for c in window:
        # later steps of a rollout begun before the onset: scored as part of it, under the first step's id
        if before_onset(c) and c.id in step_of and c.id not in scored:
            first = series[step_of[c.id]]
            head = scored.get(first[0].id)
            score = round(head.score * 0.5, 3) if head else 0.0
            suspects.append(Suspect(c, head.role if head else "cause", score, [
                f"step {first.index(c) + 1} of the rollout {first[0].id} ({percent_of(c):g}%): scored as part of "
                f"the rollout, named by its first step"]))
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
    suspects.sort(key=lambda s: (ROLE_ORDER.get(s.role, 3), -s.score if s.role != "response" else 0, s.change.at))
    best = next((s for s in suspects if s.role == "cause"), None)
    explained = best.change.id if best and best.score >= settings.explain_threshold else None
    return Ranking(suspects, segs, explained, notes)
