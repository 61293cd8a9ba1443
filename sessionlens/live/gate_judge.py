"""The gate's verdict from per-minute counts: fail, pass, or cannot judge yet.

:func:`judge` takes the frame of ``queries/gate_minutes.sql`` (one row per
minute and route family: exposed and unexposed requests and session errors)
and decides; it reads no lake, so the benchmark feeds it simulated minutes
and the gate feeds it the lake's. Only whole minutes count (a minute still
filling would be counted again, differently, at the next look).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import polars as pl

from ..changes.model import iso
from ..errors import InputError
from .sequential import GRID, Evidence, mixture_sprt, needed_requests

MINUTE = timedelta(minutes=1)
RECENT = 15  # minutes whose exposed traffic gives the rate "how long until enough" is estimated from

PASS, FAIL, WAIT = "pass", "fail", "cannot-judge"
EXIT_CODES = {PASS: 0, FAIL: 3, WAIT: 4}


@dataclass(frozen=True)
class GateSettings:
    """What the gate tolerates and how sure it must be (the command's options, with their defaults).

    Attributes:
        duration: ``--for``: a pass needs at least this long since the start.
        min_requests: ``--min-requests``: a pass needs at least this many exposed requests.
        detect: ``--detect``: the rise (a share of exposed requests failing on top of what is
            tolerated) that enough traffic must be able to catch.
        alpha: ``--alpha``: the false-fail rate over every look, half for the overall test and
            half shared by the route families.
        tolerance: ``--tolerance``: the ratio of exposed to unexposed rates that still passes.
    """

    duration: timedelta = timedelta(minutes=15)
    min_requests: int = 200
    detect: float = 0.02
    alpha: float = 0.01
    tolerance: float = 1.0
    grid: tuple[float, ...] = GRID

    def __post_init__(self):
        problems = [msg for bad, msg in (
            (self.duration < timedelta(0), "--for must not be negative"),
            (self.min_requests < 0, "--min-requests must not be negative"),
            (not 0 < self.detect < 1, "--detect must be a share between 0 and 1 (0.01: one more request in 100)"),
            (not 0 < self.alpha < 1, "--alpha must be between 0 and 1 (0.01: at most 1 false fail in 100)"),
            (not self.tolerance > 0, "--tolerance must be above 0 (1: exposed no worse than the rest)"),
        ) if bad]
        if problems:
            raise InputError(problems[0])

    def as_json(self) -> dict:
        return {"for_seconds": self.duration.total_seconds(), "min_requests": self.min_requests,
                "detect": self.detect, "alpha": self.alpha, "tolerance": self.tolerance}


@dataclass(frozen=True)
class Side:
    """Requests and session errors of one side of the comparison."""

    requests: int
    errors: int

    @property
    def rate(self) -> float | None:
        return self.errors / self.requests if self.requests else None

    def as_json(self) -> dict:
        return {"requests": self.requests, "errors": self.errors, "rate": self.rate}


@dataclass(frozen=True)
class Test:
    """One sequential test (overall, or one route family) and what it saw."""

    family: str | None  # None: all traffic
    exposed: Side
    unexposed: Side
    evidence: Evidence
    crossed_at: datetime | None  # the end of the minute after which Λ reached 1/α

    @property
    def failed(self) -> bool:
        return self.crossed_at is not None

    @property
    def ratio(self) -> float | None:
        return ratio(self.exposed, self.unexposed)

    def as_json(self) -> dict:
        out = {"family": self.family} if self.family is not None else {}
        return {**out, "exposed": self.exposed.as_json(), "unexposed": self.unexposed.as_json(), "ratio": self.ratio,
                "evidence": {"lambda": self.evidence.last, "peak": self.evidence.peak,
                             "threshold": self.evidence.threshold,
                             "crossed_at": iso(self.crossed_at) if self.crossed_at else None},
                "failed": self.failed}


@dataclass
class Judgement:
    """The verdict and everything it rests on."""

    verdict: str
    reason: str
    minutes: int = 0  # whole minutes with both exposed and unexposed requests
    overall: Test | None = None
    families: list[Test] = field(default_factory=list)  # the route families tested, failing ones first
    families_counted: int = 0  # how many share the families' half of alpha
    needed: int | None = None
    more_needed: int | None = None
    exposed_per_minute: float | None = None
    wait_seconds: float | None = None  # roughly how long until a pass is possible

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.verdict]


def ratio(exposed: Side, unexposed: Side) -> float | None:
    if exposed.rate is None or unexposed.rate is None:
        return None
    if unexposed.rate == 0:
        return math.inf if exposed.errors else None
    return exposed.rate / unexposed.rate


COLUMNS = ("exposed_requests", "exposed_errors", "unexposed_requests", "unexposed_errors")


def _test(cells: pl.DataFrame, family: str | None, alpha: float, settings: GateSettings) -> Test:
    """The sequential test over ``cells`` (one row per minute and stratum, in time order).

    Each cell is compared alone (requests with a session cookie against requests with one, those
    without against those without: ``gate_minutes``' with_session), and a minute's evidence is the
    sum over its cells.
    """
    rx, ex, ru, eu = (cells[c].to_numpy().astype(float) for c in COLUMNS)
    minutes = cells["minute"].unique(maintain_order=True)
    steps = cells["minute"].rank("dense").to_numpy().astype(int) - 1
    evidence = mixture_sprt(rx, ex, ru, eu, alpha=alpha, tolerance=settings.tolerance, grid=settings.grid,
                            steps=steps)
    both = (rx > 0) & (ru > 0)  # the cells compared: the rates shown are over the same traffic as the test
    crossed = None if evidence.crossed is None else minutes[evidence.crossed] + MINUTE
    return Test(family, Side(int(rx[both].sum()), int(ex[both].sum())), Side(int(ru[both].sum()), int(eu[both].sum())),
                evidence, crossed)


def _strata(cells: pl.DataFrame) -> pl.DataFrame:
    """The cells of all route families together: one row per minute and stratum."""
    keys = ["minute", "with_session"] if "with_session" in cells.columns else ["minute"]
    return cells.group_by(keys).agg(pl.col(c).sum() for c in COLUMNS).sort(keys)


def judge(frame: pl.DataFrame, *, start: datetime, now: datetime, settings: GateSettings,
          families_known: int = 0) -> Judgement:
    """The verdict from per-minute counts.

    Args:
        frame: ``gate_minutes``' rows (minute, family, with_session and the four counts)
            between ``start`` and ``now``; without a ``with_session`` column, one stratum.
        start: when the exposed traffic began (the rollout, or ``--since``).
        now: the end of the data looked at; minutes that end after it are not counted yet.
        settings: tolerance, alpha, detect, min_requests, duration.
        families_known: the route families the site has (seen before or since the start):
            the families' half of alpha is split among at least this many, so that the split
            does not loosen as families gain exposed traffic over the looks.
    """
    whole = frame.filter(pl.col("minute") + MINUTE <= now)
    cells = _strata(whole)
    if int(cells["exposed_requests"].sum()) == 0:
        return Judgement(WAIT, "no exposed traffic yet: no request since the start matches the exposure")
    overall = _test(cells, None, settings.alpha / 2, settings)
    families, counted = _family_tests(whole, settings, families_known)
    compared = cells.filter((pl.col("exposed_requests") > 0) & (pl.col("unexposed_requests") > 0))
    out = Judgement(WAIT, "", compared["minute"].n_unique(), overall, families, counted)
    if overall.failed or any(f.failed for f in families):
        out.verdict, out.reason = FAIL, "the exposed traffic fails sessions more often than the rest"
        return out
    if compared.height == 0:
        out.reason = "no unexposed traffic over the same minutes to compare with"
        return out
    x, u = overall.exposed, overall.unexposed
    rate = (u.errors + 0.5) / (u.requests + 1)  # smoothed: never 0
    need = needed_requests(rate, x.requests / (x.requests + u.requests), detect=settings.detect,
                           alpha=settings.alpha / 2, tolerance=settings.tolerance, grid=settings.grid)
    # the rate at which exposed requests that count arrive: those with unexposed ones beside them
    per_minute = compared.group_by("minute").agg(pl.col("exposed_requests").sum())
    edge = now.replace(second=0, microsecond=0)  # the end of the last whole minute
    recent = per_minute.filter(pl.col("minute") >= edge - MINUTE * RECENT)
    out.exposed_per_minute = int(recent["exposed_requests"].sum()) / min(RECENT, max(1, (now - start) // MINUTE))
    if need is None:
        out.reason = (f"a rise of {settings.detect:.2%} of requests over an unexposed rate of {rate:.2%} is too "
                      "small for the test to resolve; give a larger --detect")
        return out
    out.needed = max(settings.min_requests, math.ceil(need))
    out.more_needed = max(0, out.needed - x.requests)
    elapsed = now - start
    if out.more_needed == 0 and elapsed >= settings.duration:
        out.verdict, out.reason = PASS, "enough exposed traffic, and the exposed rate is not worse than tolerated"
        return out
    traffic_wait = out.more_needed / out.exposed_per_minute * 60 if out.exposed_per_minute else math.inf
    out.wait_seconds = max(traffic_wait, (settings.duration - elapsed).total_seconds(), 0.0)
    out.reason = ("more exposed requests are needed" if out.more_needed
                  else "enough exposed traffic; --for has not passed since the start yet")
    return out


def _family_tests(whole: pl.DataFrame, settings: GateSettings, known: int) -> tuple[list[Test], int]:
    """One test per route family with exposed traffic; each gets (alpha/2) / (the families counted)."""
    exposed = whole.group_by("family").agg(pl.col("exposed_requests").sum()).filter(pl.col("exposed_requests") > 0)
    names = sorted(exposed["family"].to_list())
    counted = max(known, len(names))
    if counted <= 1:  # one family is the overall test again
        return [], counted
    alpha = settings.alpha / 2 / counted
    tests = [_test(_strata(whole.filter(pl.col("family") == name)), name, alpha, settings) for name in names]
    tests.sort(key=lambda t: (not t.failed, -float(np.max(t.evidence.log_lambda, initial=0.0))))
    return tests, counted
