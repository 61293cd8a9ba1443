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
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from scipy.stats import binomtest, norm

from ..lake import sql as queries
from ..changes.store import Change
from .spikes import Spike
from .segments import Segment, segments
from .text import duration, multiple, p_text, pct, times


@dataclass(frozen=True)
class AttributeSettings:
    """Thresholds of attribution; defaults documented in docs/analysis.md."""

    lookback: timedelta = timedelta(hours=2)  # a cause took effect at most this long before the onset
    proximity_minutes: float = 30.0  # a cause this long before the onset keeps 1/e of its score
    explain_threshold: float = 0.5  # the best cause explains the spike from this score
    effect_window: timedelta = timedelta(minutes=20)  # a response is judged on this long after it
    effect_alpha: float = 0.05  # ... with a rate change this significant (and of min_effect at least)
    min_effect: float = 0.25  # ... of at least this relative size (helped <= 0.75x, hurt >= 1.25x)
    max_delay: timedelta = timedelta(days=2)  # longer delays read from a scope are ignored
    veto_max_share: float = 0.5  # the veto applies to changes that reached less of the traffic than this
    veto_factor: float = 0.1  # a vetoed change keeps this share of its score
    settle: timedelta = timedelta(minutes=2)  # a response's effect is measured from this long after it
    min_window: timedelta = timedelta(minutes=5)  # the windows before and after a response are at least this long


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


def _rates(con, start: datetime, end: datetime, where: tuple[str, list[str]] | None = None) -> tuple[int, int]:
    """(requests, errors) between two times, in the traffic ``where`` = (dimension, values) names."""
    if end <= start:
        return 0, 0
    dim, values = where if where else ("host", None)
    row = queries.run(con, "rate_between", {"start": start, "end": end, "values": values}, dimension=dim).row(0)
    return int(row[0]), int(row[1])


def _spike_scope(spike: Spike) -> tuple[str, list[str]] | None:
    """The segment a spike is confined to, as a rate filter (None for the overall rate)."""
    seg = getattr(spike, "segment", None)
    if seg and seg[0] in queries.DIMENSIONS:
        return seg[0], [str(seg[1])]
    return None


# --- what a scope says ---------------------------------------------------------------


def exposure(change: Change, linked: list[Change]) -> list[tuple[str, list[str]]]:
    """The (dimension, values) a change's scope or its linked inferred changes name."""
    out: list[tuple[str, list[str]]] = []
    scope = _scope(change)
    for inf in linked:
        for k, v in _scope(inf).items():
            scope.setdefault(k, v)
    for key, dim in (("cookie_format", "cookie_format"), ("version", "app_version"), ("edge_worker", "edge_worker"),
                     ("hosts", "host")):
        values = _scope_values(scope.get(key))
        if values:
            out.append((dim, values))
    return out


def _scope(change: Change) -> dict:
    # a scope that is not an object (a lake written before markers were checked) names nothing
    return dict(change.scope) if isinstance(change.scope, dict) else {}


def _scope_values(value) -> list[str]:
    """A scope value as the texts to match: a string or number, or a list of them; anything else is skipped."""
    items = value if isinstance(value, (list, tuple)) else [value]
    return [str(x) for x in items if isinstance(x, (str, int, float)) and not isinstance(x, bool) and str(x)]


DELAY_KEYS = ("grace_period", "grace", "delay", "ttl", "effective_after", "takes_effect_after", "session_ttl",
              "cookie_ttl")
_UNIT_SECONDS = {"s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1, "m": 60, "min": 60, "mins": 60,
                 "minute": 60, "minutes": 60, "h": 3600, "hr": 3600, "hrs": 3600, "hour": 3600, "hours": 3600,
                 "d": 86400, "day": 86400, "days": 86400, "w": 604800, "week": 604800, "weeks": 604800}
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(" + "|".join(sorted(_UNIT_SECONDS, key=len, reverse=True)) + r")(?![a-z])")
_ISO_DURATION = re.compile(r"P(?:(\d+(?:\.\d+)?)D)?(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?",
                           re.IGNORECASE)


def parse_duration(value) -> timedelta | None:
    """A duration from a scope: seconds (``3600``), ``1h``, ``60m``, ``1h30m``, ``2 hours``, ISO 8601 ``PT1H``.

    Returns None for anything else (never raises: a scope is free text).
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return timedelta(seconds=float(value)) if math.isfinite(value) and value >= 0 else None
    if not isinstance(value, str):
        return None
    text = value.strip().lower()
    if not text:
        return None
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        return timedelta(seconds=float(text))
    iso = _ISO_DURATION.fullmatch(text)
    if iso and text not in ("p", "pt") and any(iso.groups()):
        d, h, m, s = (float(x) if x else 0.0 for x in iso.groups())
        return timedelta(days=d, hours=h, minutes=m, seconds=s)
    rest = _PART.sub("", text).strip(" ,+and")
    parts = _PART.findall(text)
    if parts and not rest:
        return timedelta(seconds=sum(float(n) * _UNIT_SECONDS[u] for n, u in parts))
    return None


def delay_of(change: Change, settings: AttributeSettings) -> tuple[timedelta, str] | None:
    """When a change takes effect after it was made, from its scope, with the words saying why.

    ``effective_at`` (a time) wins over durations; among durations
    (:data:`DELAY_KEYS`) the first readable one counts.
    """
    scope = _scope(change)
    if "effective_at" in scope:
        from ..changes.store import parse_time

        try:
            when = parse_time(scope["effective_at"])
        except (ValueError, TypeError, OverflowError):
            when = None
        if when is not None and timedelta(0) < when - change.at <= settings.max_delay:
            return when - change.at, f"effective_at {scope['effective_at']}"
    for key in DELAY_KEYS:
        if key in scope:
            d = parse_duration(scope[key])
            if d is not None and timedelta(0) < d <= settings.max_delay:
                return d, f"{key} {scope[key]}"
    return None


def percent_of(change: Change) -> float | None:
    """The share of traffic a rollout step reached (``scope.percent``: 10, "10", "10%"), or None."""
    scope = _scope(change)
    for key in ("percent", "percentage", "rollout_percent", "pct"):
        value = scope.get(key)
        if isinstance(value, bool) or value is None:
            continue
        try:
            p = float(str(value).strip().rstrip("%").strip()) if isinstance(value, str) else float(value)
        except (ValueError, TypeError):
            continue
        if math.isfinite(p) and 0 <= p <= 100:
            return p
    return None


def _series_key(change: Change) -> tuple[str, str]:
    """What ties the steps of one rollout: a named flag/series in the scope, else the label without numbers."""
    scope = _scope(change)
    for key in ("series", "rollout", "flag", "feature", "feature_flag", "experiment"):
        if isinstance(scope.get(key), (str, int, float)) and not isinstance(scope.get(key), bool):
            return change.kind, f"{key}={scope[key]}"
    label = re.sub(r"\d+(?:\.\d+)?\s*%|\b\d+(?:\.\d+)?\b|percent|\bto\b|\bat\b", " ", change.label.lower())
    return change.kind, " ".join(re.findall(r"[a-z][a-z0-9_.-]*", label))


def rollouts(changes: list[Change]) -> dict[str, list[Change]]:
    """Percentage rollouts: changes of one series with ``scope.percent``, by the id of their first step.

    Two or more steps of the same kind and series (scope ``series``/``flag``/
    ``feature``..., else the label without its numbers) whose percentages
    never fall form one rollout; each is listed oldest first.
    """
    groups: dict[tuple[str, str], list[Change]] = {}
    for c in sorted(changes, key=lambda c: c.at):
        if percent_of(c) is not None:
            groups.setdefault(_series_key(c), []).append(c)
    out: dict[str, list[Change]] = {}
    for steps in groups.values():
        run: list[Change] = []
        for c in steps + [None]:
            # a lower percentage starts a new rollout (a rollback to 0 % is a response, not a step)
            if c is None or (run and percent_of(c) < percent_of(run[-1])):
                if len(run) >= 2:
                    out[run[0].id] = run
                run = []
            if c is not None:
                run.append(c)
    return out


# --- causes ---------------------------------------------------------------------------


def _timing(spike: Spike, change: Change, linked: list[Change], bucket: timedelta,
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
    gap, start, why = best
    minutes = gap.total_seconds() / 60
    since_start = (spike.onset - start).total_seconds() / 60
    if spike.onset + bucket < start and spike.onset_latest and spike.onset_latest >= start:
        return minutes, start, (f"made {-since_start:.0f} min after the estimated onset, within its uncertainty "
                                f"(the counts allow an onset up to {spike.onset_latest:%H:%M})")
    if why:
        words = (f"takes effect {duration(delay[0].total_seconds())} after it was made ({why}); onset "
                 + (f"{since_start:.0f} min after that" if since_start >= 1 else
                    f"{-since_start:.0f} min before that" if since_start <= -1 else "within a bucket of that"))
    elif end > change.at + bucket and spike.onset <= end + bucket:
        words = f"onset {since_start:.0f} min after it began, while it was rolling out (until {end:%H:%M})"
    else:
        words = f"onset {since_start:.0f} min after the change began" if since_start >= 1 else "onset within a bucket of the change"
    return minutes, start, words


def _values_text(values: list[str]) -> str:
    return ", ".join(values[:4]) + ("..." if len(values) > 4 else "")


def score_cause(con, spike: Spike, change: Change, linked: list[Change], segs: list[Segment],
                bucket: timedelta, settings: AttributeSettings, steps: list[Change] | None = None) -> Suspect:
    """A possible cause's score (0..1) and evidence; role ``unrelated`` when the exposure veto applies.

    ``steps``: the steps of the percentage rollout this change starts (it
    then stands for the whole rollout).
    """
    evidence: list[str] = []
    where = _spike_scope(spike)
    before_onset = [s for s in steps or [] if s.at <= max(spike.onset + bucket, spike.onset_latest or spike.onset)]
    minutes, effective, words = _timing(spike, change, linked, bucket, settings,
                                        until=before_onset[-1].at if len(before_onset) > 1 else None)
    proximity = math.exp(-minutes / settings.proximity_minutes)
    evidence.append(words)

    # the rate before the change took effect against the rate from the onset on
    split = min(effective, spike.onset)
    span = max(timedelta(minutes=30), bucket * 10)
    n1, e1 = _rates(con, split - span, split, where)
    n2, e2 = _rates(con, spike.onset, min(spike.onset + span, spike.end), where)
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
        rows = {row["exposed"]: row for row in queries.run(
            con, "exposure_split", {"start": split, "end": spike.end, "values": values}, dimension=dim).iter_rows(named=True)}
        if True not in rows or False not in rows:
            continue  # everything (or nothing) was exposed: no contrast to read
        tested += 1
        ex, un = rows[True], rows[False]
        rex, run_ = ex["errors"] / max(ex["requests"], 1), un["errors"] / max(un["requests"], 1)
        pe = rate_test(un["errors"], un["requests"], ex["errors"], ex["requests"])
        if rex > run_ and pe < 1e-3:
            link = max(link, min(1.0, math.log(multiple(rex, run_) if run_ > 0 else 1e9) / math.log(10)))
            evidence.append(f"{dim} in {_values_text(values)}: {pct(rex)} errors vs {pct(run_)} elsewhere over the "
                            f"same minutes ({times(rex, run_)}, {p_text(pe)})")
            continue
        # The veto: the change reached a minority of the traffic, the rest carries the spike,
        # and the traffic it reached errs no more than the rest (with enough of it to tell).
        share = ex["requests"] / max(ex["requests"] + un["requests"], 1)
        spike_in_rest = run_ >= 2 * r1 and rate_test(e1, n1, un["errors"], un["requests"]) < 1e-3
        if (share < settings.veto_max_share and spike_in_rest and rex < 1.5 * run_
                and ex["requests"] * run_ >= 5):
            vetoed.append(f"errors spread evenly: {dim} {_values_text(values)} {pct(rex)} vs {pct(run_)} elsewhere "
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
        dose, words = _dose_response(con, spike, steps, where)
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
    old = [v for c in linked for v in _scope_values(_scope(c).get("from_versions"))]
    if old and (seg.dimension == "app_version" and seg.value in old
                or seg.dimension == "host_version" and any(seg.value.endswith(" @ " + v) for v in old)):
        return ", the version it replaced, during a rolling deploy (a mixed fleet)"
    return None


def _dose_response(con, spike: Spike, steps: list[Change], where) -> tuple[float, str]:
    """Does the rate follow the rollout's percentage? (link 0..1, words)."""
    bounds = [s.at for s in steps] + [spike.end]
    measured = []
    for s, start, end in zip(steps, bounds, bounds[1:]):
        if start >= spike.end or end <= start:
            continue
        n, e = _rates(con, start, end, where)
        if n:
            measured.append((percent_of(s), n, e))
    words = "rollout of " + " -> ".join(f"{percent_of(s):g}%" for s in steps)
    if len(measured) < 2:
        return 0.0, words
    text = ", ".join(f"{p:g}%: {pct(e / n)}" for p, n, e in measured)
    (p0, n0, e0), (p1, n1, e1) = measured[0], measured[-1]
    rising = all(b[2] / b[1] >= 0.8 * (a[2] / a[1]) for a, b in zip(measured, measured[1:]))
    if p1 > p0 and rising and e1 / n1 > e0 / n0 and rate_test(e0, n0, e1, n1) < 1e-3:
        return 0.8, f"{words}; the error rate rose with each step ({text})"
    return 0.0, f"{words}; the error rate did not follow the steps ({text})"


# --- responses ------------------------------------------------------------------------


def score_response(con, spike: Spike, change: Change, bucket: timedelta, settings: AttributeSettings,
                   previous: datetime | None = None, following: datetime | None = None) -> Suspect:
    """A response's effect: the rate after it against the rate before it.

    Before: up to ``effect_window`` before it, from the onset and from the
    previous change on. After: from one bucket after it (or the end of its
    rollout) for ``effect_window``, stopping at the next change, so one
    toggle is not credited with the next one's effect. ``helped`` needs the
    rate to fall by ``min_effect`` or more with p < ``effect_alpha``;
    ``hurt`` to rise as much. A trend already under way in the window
    before (a spike fading on its own, or still growing) is extrapolated,
    and the effect must beat that too. A scope naming some of the hosts is
    judged on their traffic.
    """
    w = settings.effect_window
    where = _spike_scope(spike)
    hosts = _scope_values(_scope(change).get("hosts"))
    settle, shortest = settings.settle, settings.min_window
    # before: never across the previous change, nor back into a spike that had ended before it
    before_start = max(change.at - w, spike.onset)
    if previous and previous > before_start:
        # past the previous change's own settling, unless that leaves (almost) nothing
        before_start = previous + settle if change.at - (previous + settle) >= timedelta(minutes=1) else previous
    if change.at - spike.end >= settle:
        before_start = max(before_start, spike.end)
    after_start = change.at + settle  # let it take effect
    if change.end and change.end > after_start:
        after_start = min(change.end, change.at + w)  # a rolling change acts when rolled out
    after_end = min(after_start + w, following) if following and following > after_start else after_start + w
    overlap = ""
    if after_end - after_start < shortest:
        after_start = change.at + settle
        after_end = after_start + shortest
        if following:
            overlap = (f"; the next change follows within {duration((following - change.at).total_seconds())}, "
                       "so its effect is mixed in")

    scope_words = ""
    if hosts and not where:
        n_in, _ = _rates(con, before_start, after_end, ("host", hosts))
        n_all, _ = _rates(con, before_start, after_end)
        if 0 < n_in < 0.9 * n_all and n_in >= 100:
            where, scope_words = ("host", hosts), f" on {_values_text(hosts)}"
    n1, e1 = _rates(con, before_start, change.at, where)
    n2, e2 = _rates(con, after_start, after_end, where)
    r1, r2 = e1 / max(n1, 1), e2 / max(n2, 1)
    p = rate_test(e1, n1, e2, n2)

    # A trend under way in the window before (a spike fading on its own, or still growing):
    # when significant, its straight line (floored at the baseline) is extrapolated over the
    # window after, and an effect in its direction must beat that line too. Whatever was done
    # as a spike faded is not credited with its end.
    ref_down = ref_up = r1
    trend = ""
    # (from half an effect window of data at least, and never extrapolated further than it spans)
    found = _trend(con, before_start, change.at, where, settings) if change.at - before_start >= w / 2 else None
    if found:
        level, slope, centre = found  # rate at `centre`, change per second
        floor = spike.baseline_rate
        horizon = change.at + (change.at - before_start)
        after = [min(horizon, after_start + (after_end - after_start) * (k + 0.5) / 10) for k in range(10)]
        line = [max(floor, level + slope * (t - centre).total_seconds()) for t in after]
        expected = sum(line) / len(line)
        span = (change.at - before_start).total_seconds()
        start_rate, end_rate = (max(floor, level + slope * (t - centre).total_seconds()) for t in (before_start, change.at))
        words = f"{pct(start_rate)} -> {pct(end_rate)} over the {duration(span)} before"
        if slope < 0:
            if line[len(line) // 2] <= 2 * floor:
                ref_down = floor
                trend = f"; the rate was already falling ({words}) and would have been near its baseline by then"
            else:
                ref_down = expected
                trend = f"; the rate was already falling ({words}; {pct(expected)} expected after it by that trend)"
        else:
            ref_up = expected
            trend = f"; the rate was already rising ({words}; {pct(expected)} expected after it by that trend)"

    minutes = (change.at - spike.onset).total_seconds() / 60
    when = f"made {minutes:.0f} min after onset"
    if change.at >= spike.end:
        when += f" ({(change.at - spike.end).total_seconds() / 60:.0f} min after the spike's end)"
    counts = (f"rate{scope_words} {pct(r1)} ({e1:,}/{n1:,}) -> {pct(r2)} ({e2:,}/{n2:,}) after it "
              f"({times(r2, r1)}, {p_text(p)})")
    significant = p < settings.effect_alpha
    if significant and r2 <= (1 - settings.min_effect) * min(r1, ref_down):
        effect = "helped"
    elif significant and r2 >= (1 + settings.min_effect) * max(r1, ref_up):
        effect = "hurt"
    else:
        effect = "none"
    if effect == "none":
        why = "no significant change" if not significant else f"less than a {settings.min_effect:.0%} change"
        if significant and trend:
            why = "no more than the trend"
        counts += f", {why}"
    return Suspect(change, "response", 0.05, [f"{when}; {counts}{trend}{overlap}"], effect)


def _trend(con, start: datetime, end: datetime, where, settings: AttributeSettings
           ) -> tuple[float, float, datetime] | None:
    """A significant straight-line trend of the rate between two times, or None.

    Minute slices (at least six); the test is the Poisson score test for a
    log-linear slope (errors against time, requests as exposure), two-sided
    at ``effect_alpha``, and the trend must move the rate by ``min_effect``
    or more across the window. Returns (rate at the centre, change per
    second, the centre), the line fitted by least squares weighted by
    requests.
    """
    slice_ = 60
    if (end - start).total_seconds() < 6 * slice_:
        return None
    dim, values = where if where else ("host", None)
    frame = queries.run(con, "rate_slices", {"start": start, "end": end, "slice_seconds": slice_, "values": values},
                        dimension=dim)
    if frame.height < 6:
        return None
    t = ((frame["slice_start"] - start).dt.total_seconds().to_numpy() + slice_ / 2).astype(float)
    n = frame["requests"].to_numpy().astype(float)
    e = frame["errors"].to_numpy().astype(float)
    total_n, total_e = n.sum(), e.sum()
    if total_e < 5:
        return None
    rate = total_e / total_n
    tbar = (n * t).sum() / total_n
    var = rate * (n * (t - tbar) ** 2).sum()
    if var <= 0:
        return None
    z = (t * (e - n * rate)).sum() / math.sqrt(var)
    p = 2 * norm.sf(abs(z))
    slope = (n * (t - tbar) * (e / n - rate)).sum() / (n * (t - tbar) ** 2).sum()
    first, last = rate + slope * (t[0] - tbar), rate + slope * (t[-1] - tbar)
    moved = abs(last - first) >= settings.min_effect * max(first, last, 1e-12)
    if p >= settings.effect_alpha or not moved:
        return None
    return rate, slope, start + timedelta(seconds=float(tbar))


# --- ranking --------------------------------------------------------------------------


ROLE_ORDER = {"cause": 0, "response": 1, "unrelated": 2}


def rank(con, spike: Spike, changes: list[Change], bucket_seconds: int,
         settings: AttributeSettings = AttributeSettings()) -> tuple[list[Suspect], list[Segment], str | None, list[str]]:
    """Suspects best first, the spike's segments, the explaining change id (or None), and notes.

    Causes come first by score, then responses in time order, then changes
    the exposure veto ruled out.
    """
    bucket = timedelta(seconds=bucket_seconds)
    segs = segments(con, spike)
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

    window = []
    for c in own:
        if before_onset(c):
            # a candidate cause: it took effect (a delay counted) within the lookback before the onset
            # a rollout's steps stand or fall together: it is in when any of its steps is
            steps = series.get(step_of.get(c.id, c.id), [c])
            if any(_timing(spike, x, linked.get(x.id, []), bucket, settings)[0] <= settings.lookback.total_seconds() / 60
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
            s = score_cause(con, spike, c, linked.get(c.id, []), segs, bucket, settings, steps=series.get(c.id))
        else:
            prev = max((t for t in times_ if t < c.at), default=None)
            nxt = min((t for t in times_ if t > c.at), default=None)
            s = score_response(con, spike, c, bucket, settings, prev, nxt)
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
    return suspects, segs, explained, notes
