"""A possible cause: a change made before a spike's onset, scored on timing, rate and exposure.

The score (0..1) is the proximity of the change (taking effect, a delay in
its scope counted) to the onset, times a blend of the rate's jump and the
evidence that the errors sit where the change reached: an exposure contrast
(exposed against unexposed traffic over the same minutes), the spike's
segments that point at it, or a percentage rollout's dose response. A
change that reached a minority of the traffic while the rest carries the
spike is vetoed (reported ``unrelated``).
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from ..changes.model import Change
from ..lake.engine import Engine
from .scope import delay_of, exposure, percent_of, scope_of, scope_values
from .segments import Segment
from .spikes import Spike
from .suspects import AttributeSettings, Suspect, Where, rate_test, rates, spike_scope
from .text import duration, join_words, multiple, p_text, pct, times


def timing(spike: Spike, change: Change, linked: list[Change], bucket: timedelta,
            settings: AttributeSettings, until: datetime | None = None) -> tuple[float, datetime, str]:
    """(minutes from the change taking effect to the onset, when it took effect, words).

    A change acts over [at, end] (a rollout's end, or the end of the inferred
    rollout folded into it, or ``until`` for the last step of a percentage
    rollout before the onset), and over the same span shifted by a delay its
    scope names; the onset is measured to the nearest of them, a bucket of
    slack either side (the onset is only known to the bucket).
    """
    ends = [change.end or change.at] + [c.end or c.at for c in linked] + ([until] if until else [])
    end = max(ends)
    spans = [(change.at, end, "")]
    delay = delay_of(change, settings)
    if delay:
        spans.append((change.at + delay[0], end + delay[0], delay[1]))
    best = None
    # the onset as an interval: the counts allow it from onset_earliest to onset_latest (a bucket at least)
    earliest = min(spike.onset, spike.onset_earliest or spike.onset)
    latest = max(spike.onset + bucket, spike.onset_latest or spike.onset)
    for s, e, why in spans:
        if latest < s:
            gap = s - latest
        elif earliest <= e + bucket:
            gap = timedelta(0)
        else:
            gap = earliest - e - bucket
        if best is None or gap < best[0]:
            best = (gap, s, why)
    assert best is not None  # spans always holds the change itself
    gap, start, why = best
    minutes = gap.total_seconds() / 60
    since_start = (spike.onset - start).total_seconds() / 60
    if spike.onset + bucket < start and spike.onset_latest and spike.onset_latest >= start:
        return minutes, start, (f"made {-since_start:.0f} min after the estimated onset, within its uncertainty "
                                f"(the counts allow an onset up to {spike.onset_latest:%H:%M})")
    if why and delay:
        words = (f"takes effect {duration(delay[0].total_seconds())} after it was made ({why}); onset "
                 + (f"{since_start:.0f} min after that" if since_start >= 1 else
                    f"{-since_start:.0f} min before that" if since_start <= -1 else "within a bucket of that"))
    elif end > change.at + bucket and spike.onset <= end + bucket:
        words = f"onset {since_start:.0f} min after it began, while it was rolling out (until {end:%H:%M})"
    else:
        words = (f"onset {since_start:.0f} min after the change began" if since_start >= 1
                 else "onset within a bucket of the change")
    return minutes, start, words


def score_cause(engine: Engine, spike: Spike, change: Change, linked: list[Change], segs: list[Segment],
                bucket: timedelta, settings: AttributeSettings, steps: list[Change] | None = None) -> Suspect:
    """A possible cause's score (0..1) and evidence; role ``unrelated`` when the exposure veto applies.

    ``steps``: the steps of the percentage rollout this change starts (it
    then stands for the whole rollout).
    """
    evidence: list[str] = []
    where = spike_scope(spike)
    before_onset = [s for s in steps or [] if s.at <= max(spike.onset + bucket, spike.onset_latest or spike.onset)]
    minutes, effective, words = timing(spike, change, linked, bucket, settings,
                                        until=before_onset[-1].at if len(before_onset) > 1 else None)
    proximity = math.exp(-minutes / settings.proximity_minutes)
    evidence.append(words)

    # the rate before the change took effect against the rate from the onset on
    split = min(effective, spike.onset)
    span = max(timedelta(minutes=30), bucket * 10)
    n1, e1 = rates(engine, split - span, split, where)
    n2, e2 = rates(engine, spike.onset, min(spike.onset + span, spike.end), where)
    r1, r2 = e1 / max(n1, 1), e2 / max(n2, 1)
    p = rate_test(e1, n1, e2, n2)
    jump = 0.0
    if r2 > r1 and p < 0.05:
        # graded by size (a tenfold rise is full marks) and by certainty (p < 1e-3 is full marks):
        # a small site's jump from 0 to 3% on a few hundred requests is evidence, if less sure
        certainty = min(1.0, -math.log10(max(p, 1e-300)) / 3)
        jump = min(1.0, math.log(max(multiple(r2, r1), 1.0)) / math.log(10)) * certainty
    evidence.append(f"error rate {pct(r1)} -> {pct(r2)} ({times(r2, r1)}, {p_text(p)})")

    # where did the errors go? exposure contrast and segments
    link, vetoed, tested = 0.0, [], 0
    dims = exposure(change, linked)
    for dim, values in dims:
        named = join_words(values, ", ", limit=4, more="...")
        split_rows = engine.run("exposure_split", {"start": split, "end": spike.end, "values": values}, dimension=dim)
        rows = {row["exposed"]: row for row in split_rows.iter_rows(named=True)}
        if True not in rows or False not in rows:
            continue  # everything (or nothing) was exposed: no contrast to read
        tested += 1
        ex, un = rows[True], rows[False]
        rex, run_ = ex["errors"] / max(ex["requests"], 1), un["errors"] / max(un["requests"], 1)
        pe = rate_test(un["errors"], un["requests"], ex["errors"], ex["requests"])
        if rex > run_ and pe < 1e-3:
            link = max(link, min(1.0, math.log(multiple(rex, run_) if run_ > 0 else 1e9) / math.log(10)))
            evidence.append(f"{dim} in {named}: {pct(rex)} errors vs {pct(run_)} elsewhere over the "
                            f"same minutes ({times(rex, run_)}, {p_text(pe)})")
            continue
        # The veto: the change reached a minority of the traffic, the rest carries the spike,
        # and the traffic it reached errs no more than the rest (with enough of it to tell).
        share = ex["requests"] / max(ex["requests"] + un["requests"], 1)
        spike_in_rest = run_ >= 2 * r1 and rate_test(e1, n1, un["errors"], un["requests"]) < 1e-3
        if (share < settings.veto_max_share and spike_in_rest and rex < 1.5 * run_
                and ex["requests"] * run_ >= 5):
            vetoed.append(f"errors spread evenly: {dim} {named} {pct(rex)} vs {pct(run_)} elsewhere "
                          f"({pct(share)} of requests reached); the traffic it did not reach carries the spike, "
                          "so it cannot explain it")
    for seg in segs:
        hit = _segment_points_at(seg, dims, linked)
        if hit is not None:
            link = max(link, min(1.0, seg.error_share + 0.2))
            evidence.append(f"errors concentrated where {seg.dimension}={seg.value} "
                            f"({pct(seg.error_share)} of errors, {pct(seg.request_share)} of requests){hit}")
            break
    if steps:
        dose, words = _dose_response(engine, spike, steps, where)
        evidence.append(words)
        link = max(link, dose)
    if link == 0.0 and not vetoed:
        # nothing to test exposure against, or a fleet-wide change: judged by timing and rate alone
        link = 0.5 * jump
        if not dims:
            evidence.append("no scope to test exposure against: judged by timing and rate alone")
        elif not tested:
            evidence.append("its scope covers all the traffic: judged by timing and rate alone")
        else:
            evidence.append("errors not concentrated in the traffic it reached: judged by timing and rate alone")
    # timing gates the rest: a change long before the onset explains little however the rate moved
    score = proximity * (0.45 * jump + 0.55 * link)
    if vetoed and link == 0.0:
        evidence += vetoed
        return Suspect(change, "unrelated", round(score * settings.veto_factor, 3), evidence)
    return Suspect(change, "cause", round(score, 3), evidence)


def _segment_points_at(seg: Segment, dims: list[tuple[str, list[str]]], linked: list[Change]) -> str | None:
    """None unless the segment names what the change exposed; else words to add to the evidence."""
    if any(seg.dimension == d and seg.value in v for d, v in dims):
        return ""
    versions = [v for d, vs in dims if d == "app_version" for v in vs]
    if seg.dimension == "host_version" and any(seg.value.endswith(" @ " + v) for v in versions):
        return ""
    # a rolling deploy leaves a mixed fleet: hosts still on the old version fail on what the new one wrote
    old = [v for c in linked for v in scope_values(scope_of(c).get("from_versions"))]
    if old and (seg.dimension == "app_version" and seg.value in old
                or seg.dimension == "host_version" and any(seg.value.endswith(" @ " + v) for v in old)):
        return ", the version it replaced, during a rolling deploy (a mixed fleet)"
    return None


def _dose_response(engine: Engine, spike: Spike, steps: list[Change], where: Where) -> tuple[float, str]:
    """Does the rate follow the rollout's percentage? (link 0..1, words)."""
    bounds = [s.at for s in steps] + [spike.end]
    measured = []
    for s, start, end in zip(steps, bounds, bounds[1:], strict=False):
        if start >= spike.end or end <= start:
            continue
        n, e = rates(engine, start, end, where)
        percent = percent_of(s)
        if n and percent is not None:  # (a rollout's steps all have one)
            measured.append((percent, n, e))
    words = "rollout of " + " -> ".join(f"{percent_of(s):g}%" for s in steps)
    if len(measured) < 2:
        return 0.0, words
    text = ", ".join(f"{p:g}%: {pct(e / n)}" for p, n, e in measured)
    (p0, n0, e0), (p1, n1, e1) = measured[0], measured[-1]
    rising = all(b[2] / b[1] >= 0.8 * (a[2] / a[1]) for a, b in zip(measured, measured[1:], strict=False))
    if p1 > p0 and rising and e1 / n1 > e0 / n0 and rate_test(e0, n0, e1, n1) < 1e-3:
        return 0.8, f"{words}; the error rate rose with each step ({text})"
    return 0.0, f"{words}; the error rate did not follow the steps ({text})"
