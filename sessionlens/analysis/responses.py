"""A response: a change made after a spike's onset, judged by its effect on the rate.

``helped``, ``hurt`` or ``none``: the rate after it against the rate before
it, allowing for a trend already under way (a spike fading on its own is not
credited to whatever was done as it faded).
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from scipy.stats import norm

from ..changes.model import Change
from ..lake.engine import Engine
from .scope import scope_of, scope_values
from .spikes import Spike
from .suspects import AttributeSettings, Suspect, Where, rate_test, rates, spike_scope
from .text import duration, join_words, p_text, pct, times


def score_response(engine: Engine, spike: Spike, change: Change, bucket: timedelta, settings: AttributeSettings,
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
    where = spike_scope(spike)
    hosts = scope_values(scope_of(change).get("hosts"))
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
        n_in, _ = rates(engine, before_start, after_end, ("host", hosts))
        n_all, _ = rates(engine, before_start, after_end)
        if 0 < n_in < 0.9 * n_all and n_in >= 100:
            where, scope_words = ("host", hosts), " on " + join_words(hosts, ", ", limit=4, more="...")
    n1, e1 = rates(engine, before_start, change.at, where)
    n2, e2 = rates(engine, after_start, after_end, where)
    r1, r2 = e1 / max(n1, 1), e2 / max(n2, 1)
    p = rate_test(e1, n1, e2, n2)

    # A trend under way in the window before (a spike fading on its own, or still growing):
    # when significant, its straight line (floored at the baseline) is extrapolated over the
    # window after, and an effect in its direction must beat that line too. Whatever was done
    # as a spike faded is not credited with its end.
    ref_down = ref_up = r1
    trend = ""
    # (from half an effect window of data at least, and never extrapolated further than it spans)
    found = _trend(engine, before_start, change.at, where, settings) if change.at - before_start >= w / 2 else None
    if found:
        level, slope, centre = found  # rate at `centre`, change per second
        floor = spike.baseline_rate
        horizon = change.at + (change.at - before_start)
        after = [min(horizon, after_start + (after_end - after_start) * (k + 0.5) / 10) for k in range(10)]
        line = [max(floor, level + slope * (t - centre).total_seconds()) for t in after]
        expected = sum(line) / len(line)
        span = (change.at - before_start).total_seconds()
        start_rate, end_rate = (max(floor, level + slope * (t - centre).total_seconds())
                                for t in (before_start, change.at))
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


def _trend(engine: Engine, start: datetime, end: datetime, where: Where, settings: AttributeSettings
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
    frame = engine.run("rate_slices", {"start": start, "end": end, "slice_seconds": slice_, "values": values},
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
