"""`sessionlens gate`: a canary verdict for a delivery pipeline, from the lake.

:func:`gate` looks once: it reads which traffic the rollout reached
(:mod:`.gate_exposure`), counts that traffic and the rest minute by minute
(``queries/gate_minutes.sql``) and judges (:mod:`.gate_judge`, with the
sequential test of :mod:`.sequential`): ``fail`` (exit 3) as soon as the
exposed traffic fails sessions more often than tolerated, ``pass`` (exit 0)
once there was enough exposed traffic for a rise of ``detect`` to show and
``duration`` has passed since the start, else ``cannot-judge`` (exit 4),
with how much more traffic is needed. A pipeline polls it; :func:`gate_wait`
polls for it. docs/gate.md explains the test and the options.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from pathlib import Path
from typing import Callable

from ..analysis.text import duration as say_duration
from ..analysis.text import join_words, pct, plural, times
from ..changes.model import iso
from ..errors import InputError
from ..lake.span import bulk_span
from ..lake.store import Lake
from ..timeparse import fmt, fmt_span, parse_time
from .gate_exposure import Exposure, resolve
from .gate_judge import FAIL, PASS, WAIT, GateSettings, Judgement, Side, Test, judge

CHOICES = ("change", "version", "hosts", "cookie_format")


@dataclass
class GateResult:
    """One look: the exposure, the verdict and its numbers (``exit_code``, ``to_json()``, ``lines()``)."""

    exposure: Exposure
    judgement: Judgement
    settings: GateSettings
    start: datetime | None
    now: datetime | None

    @property
    def verdict(self) -> str:
        return self.judgement.verdict

    @property
    def exit_code(self) -> int:
        return self.judgement.exit_code

    def evidence_line(self, tz: str | tzinfo | None = None) -> str | None:
        """The comparison in plain words, with the evidence and when it crossed its boundary."""
        test = self.judgement.overall
        if test is None or not self.judgement.minutes:  # nothing compared yet: the reason says why
            return None
        return _compared(self.exposure.label(), test, self.judgement.minutes, tz)

    def to_json(self) -> dict:
        """The verdict as one JSON object (docs/gate.md lists the keys); times are UTC, ``inf`` is null."""
        j, test = self.judgement, self.judgement.overall
        sides = (test.exposed, test.unexposed) if test else (Side(0, 0), Side(0, 0))
        evidence: dict[str, object] = {"lambda": 1.0, "peak": 1.0, "threshold": 2 / self.settings.alpha,
                                       "crossed_at": None}
        if test:
            evidence = {"lambda": test.evidence.last, "peak": test.evidence.peak,
                        "threshold": test.evidence.threshold, "crossed_at": _iso(test.crossed_at)}
        out = {
            "verdict": j.verdict, "exit_code": j.exit_code, "reason": self._reason(),
            "evidence_text": self.evidence_line(),
            "exposure": {**self.exposure.as_json(), "label": self.exposure.label()},
            "start": _iso(self.start), "now": _iso(self.now), "minutes": j.minutes,
            "exposed": sides[0].as_json(), "unexposed": sides[1].as_json(), "ratio": test.ratio if test else None,
            "evidence": {**evidence, "alpha": self.settings.alpha / 2},
            "route_families": [f.as_json() for f in j.families], "route_families_counted": j.families_counted,
            "needed_requests": j.needed, "more_requests_needed": j.more_needed,
            "exposed_per_minute": j.exposed_per_minute, "wait_seconds": j.wait_seconds,
            "settings": self.settings.as_json(),
        }
        return _finite(out)

    def lines(self, tz: str | tzinfo | None = None) -> list[str]:
        """A few readable lines: the verdict, what was compared, the evidence, what is missing."""
        j = self.judgement
        head = {PASS: "PASS", FAIL: "FAIL", WAIT: "CANNOT JUDGE YET"}[j.verdict]
        out = [f"{head} (exit {j.exit_code}): {self._reason(tz)}"]
        if self.start is not None and self.now is not None:
            out.append(f"exposed: {self.exposure.label()}; {fmt_span(self.start, self.now, tz)}")
        out += [f"  {why}" for why in self.exposure.why]
        if (line := self.evidence_line(tz)) is not None:
            out.append(line)
        for f in j.families:
            if f.failed:
                out.append(_compared(f"route family {f.family}", f, None, tz))
        return out

    def _reason(self, tz: str | tzinfo | None = None) -> str:
        j = self.judgement
        if self.exposure.undecided:
            return self.exposure.undecided
        if j.verdict == FAIL and not (j.overall and j.overall.failed):
            failed = [str(f.family) for f in j.families if f.failed]
            return f"{j.reason}, on route famil{'y' if len(failed) == 1 else 'ies'} {join_words(failed)}"
        if j.verdict == WAIT and j.more_needed:
            rate = f" at the current {j.exposed_per_minute:.3g} a minute" if j.exposed_per_minute else ""
            when = f", about {say_duration(j.wait_seconds)}{rate}" if j.wait_seconds and math.isfinite(
                j.wait_seconds) else " (no exposed traffic lately)"
            return f"{j.reason}: {j.more_needed:,} more (of {j.needed:,}{when})"
        if j.verdict == WAIT and j.wait_seconds and self.start is not None:
            return f"{j.reason} (passes at {fmt(self.start + self.settings.duration, tz)} if nothing changes)"
        if j.verdict == PASS and j.overall:
            return (f"{j.reason}: {plural(j.overall.exposed.requests, 'exposed request')} over "
                    f"{say_duration((self.now - self.start).total_seconds()) if self.now and self.start else '?'}")
        return j.reason


def _compared(label: str, test: Test, minutes: int | None, tz) -> str:
    x, u = test.exposed, test.unexposed
    if x.rate is None or u.rate is None:
        return f"{label}: {plural(x.requests, 'request')}, nothing to compare with over the same minutes"
    over = f" over the same {plural(minutes, 'minute')}" if minutes else ""
    multiple = times(x.rate, u.rate) if x.errors or u.errors else "no session error on either side"
    line = (f"{label}: {_pct(x.rate)} of {plural(x.requests, 'request')} failed a session vs {_pct(u.rate)} of "
            f"{u.requests:,} elsewhere{over} ({multiple})")
    if test.crossed_at is not None:
        return line + f"; evidence 1/α crossed at {fmt(test.crossed_at, tz, date_too=False)}"
    return line + f"; evidence {test.evidence.last:.3g} of 1/α = {test.evidence.threshold:g}"


def _pct(rate: float) -> str:
    return "0%" if rate == 0 else pct(rate)


def _iso(t: datetime | None) -> str | None:
    return iso(t) if t is not None else None


def _finite(value):
    """JSON has no infinity: a ratio over a rate of 0 (or a wait without traffic) is null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def gate(lake: Lake | str | Path, *, change: str | None = None, version: str | None = None,
         hosts: str | list[str] | None = None, cookie_format: str | None = None, since=None, until=None,
         duration: timedelta = timedelta(minutes=15), min_requests: int = 200, detect: float = 0.02,
         alpha: float = 0.01, tolerance: float = 1.0, tz: str | None = None) -> GateResult:
    """Judges a rollout once: pass, fail, or cannot judge yet.

    Args:
        lake: the lake (a :class:`Lake` or its directory).
        change, version, hosts, cookie_format: exactly one: what the rollout is (a change's id
            from the lake, an app version, hosts as a list or ``"a,b"``, a cookie format).
        since: when it began (default: the change's time, else the first exposed minute in
            the 24 h before ``until``); a datetime or time text (``sessionlens.timeparse``).
        until: the end of the data looked at (default: the lake's newest request + 1 s).
        duration: a pass needs at least this long since the start (``--for``).
        min_requests, detect, alpha, tolerance: see :class:`GateSettings`.
        tz: the zone of times given without an offset.

    Raises:
        InputError: not exactly one of the four, an unreadable time, an unknown change, a
            setting out of range, or no lake there.
    """
    settings = GateSettings(duration, min_requests, detect, alpha, tolerance)
    host_list = _hosts(hosts)
    given = [name for name, value in zip(CHOICES, (change, version, host_list, cookie_format), strict=True) if value]
    if len(given) != 1:
        raise InputError("give exactly one of --change, --version, --hosts, --cookie-format"
                         + (f" (got {', '.join('--' + g.replace('_', '-') for g in given)})" if given else ""))
    start_at = parse_time(since, tz=tz, what="--since")
    until_at = parse_time(until, tz=tz, what="--until")
    if start_at is not None and until_at is not None and start_at >= until_at:
        raise InputError("--since must be before --until")
    the_lake = lake if isinstance(lake, Lake) else Lake(lake)
    engine = the_lake.engine()  # refreshed when the manifest changed: each look sees every commit made before it
    now = until_at
    if now is None:
        end = bulk_span(engine).end
        if end is None:
            return GateResult(Exposure(), Judgement(WAIT, "the lake holds no requests"), settings, start_at, None)
        now = end + timedelta(seconds=1)
    exposure = resolve(the_lake, engine, change=change, version=version, hosts=host_list, cookie_format=cookie_format,
                       since=start_at, now=now)
    if exposure.undecided or exposure.start is None:
        return GateResult(exposure, Judgement(WAIT, exposure.undecided or "no exposed traffic"), settings,
                          exposure.start, now)
    frame = engine.run("gate_minutes", {"start": exposure.start, "end": now, **exposure.params()})
    verdict = judge(frame, start=exposure.start, now=now, settings=settings, families_known=exposure.families_known)
    return GateResult(exposure, verdict, settings, exposure.start, now)


def _hosts(hosts: str | list[str] | None) -> list[str] | None:
    if hosts is None:
        return None
    items = hosts.split(",") if isinstance(hosts, str) else hosts
    out = [h.strip() for h in items if h and h.strip()]
    if not out:
        raise InputError("--hosts: give host names, comma-separated (e.g. web01,web02)")
    return out


def gate_wait(lake: Lake | str | Path, *, interval: float = 30.0, on_look: Callable[[GateResult], None] | None = None,
              sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic,
              **options) -> GateResult:
    """Looks every ``interval`` seconds until the verdict is pass or fail, or ``duration`` of wall-clock time
    has passed since the call; returns the last look. ``options``: those of :func:`gate`."""
    if interval <= 0:
        raise InputError("--interval must be above 0 seconds")
    the_lake = lake if isinstance(lake, Lake) else Lake(lake)
    deadline = clock() + options.get("duration", timedelta(minutes=15)).total_seconds()
    while True:
        result = gate(the_lake, **options)
        if on_look:
            on_look(result)
        if result.verdict in (PASS, FAIL) or clock() >= deadline:
            return result
        sleep(max(0.0, min(interval, deadline - clock())))
