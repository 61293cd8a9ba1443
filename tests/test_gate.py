"""`sessionlens gate` (issue 14): the sequential test alone, then the gate over real lakes.

* The mixture test: quiet under H0 over 2,000 seeded sequences however often it is read,
  quick on a 10x rise, the tolerance respected, minutes without one side ignored.
* The archive rollout, polled each simulated minute from the first upgraded host on, fails
  before web02 upgrades (16:12), by version and by the deploy marker; the same rollout
  without the cookie break never fails and passes once --for has passed with enough traffic.
* A tiny site: "cannot judge yet", with fewer requests missing as traffic arrives, then a pass.
* The command line: exit codes 0/3/4, --json, one-line errors, --wait.

The lakes are built once per module (the archive at scale 2: about 7 s each).
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from click.testing import CliRunner

from sessionlens import ingest
from sessionlens.changes.store import add_change
from sessionlens.cli import cli
from sessionlens.errors import InputError
from sessionlens.live.gate import gate, gate_wait
from sessionlens.live.sequential import GRID, log_mixture, minute_llr, mixture_sprt, needed_requests
from sessionlens.samples import archive, generate, traps

from .conftest import scenario_lake

UTC = timezone.utc
SCALE, SEED = 2.0, 7  # scale 1 shows the same, with the fail a minute later (bench/gate_false_fail.py)
ALPHA = 0.01
FIRST_LOOK = archive.DEPLOY_START + timedelta(minutes=1)  # the first whole minute of web01 on v1.41.0
WEB02 = archive.DEPLOY_START + timedelta(minutes=3)  # 16:12: the second host upgrades
# The archive's traffic (~100 requests a minute at scale 2) reaches ~1,800 exposed requests before the rolling
# deploy has covered every host; at the share of traffic a rolling deploy reaches, the default +1 point needs
# more than that (docs/gate.md), so these lakes are gated for +2 points. The fail side does not depend on it.
DETECT = 0.02


def minutes(first: datetime, last: datetime):
    t = first
    while t <= last:
        yield t
        t += timedelta(minutes=1)


# --- the sequential test alone ------------------------------------------------------------


def _null(rng, sequences=2000, length=60, rate=0.01):
    rx = rng.poisson(rng.uniform(2, 30, (sequences, 1)), (sequences, length))
    ru = rng.poisson(rng.uniform(20, 200, (sequences, 1)), (sequences, length))
    return rx, rng.binomial(rx, rate), ru, rng.binomial(ru, rate)


def test_null_sequences_stay_below_the_boundary_over_every_look():
    rng = np.random.default_rng(14)
    path = log_mixture(minute_llr(*_null(rng)))
    crossed = path.max(axis=-1) >= math.log(1 / ALPHA)  # read after every minute: the worst look counts
    assert crossed.mean() <= ALPHA
    assert path.shape == (2000, 60)


def test_a_tenfold_rate_crosses_within_minutes():
    rng = np.random.default_rng(15)
    rx = rng.poisson(10, (200, 30))
    ru = rng.poisson(90, (200, 30))
    path = log_mixture(minute_llr(rx, rng.binomial(rx, 0.1), ru, rng.binomial(ru, 0.01)))
    first = np.argmax(path >= math.log(1 / ALPHA), axis=-1)
    assert (path.max(axis=-1) >= math.log(1 / ALPHA)).all()
    assert np.median(first) <= 10  # about 10 exposed errors against 1 expected: minutes, not hours


def test_tolerance_is_respected():
    rng = np.random.default_rng(16)
    rx, ru = rng.poisson(20, (1000, 60)), rng.poisson(80, (1000, 60))
    ex, eu = rng.binomial(rx, 0.015), rng.binomial(ru, 0.01)  # 1.5x
    tolerated = log_mixture(minute_llr(rx, ex, ru, eu, tolerance=1.5)).max(axis=-1) >= math.log(1 / ALPHA)
    strict = log_mixture(minute_llr(rx, ex, ru, eu, tolerance=1.0)).max(axis=-1) >= math.log(1 / ALPHA)
    assert tolerated.mean() <= ALPHA
    assert strict.mean() > 5 * ALPHA  # the same data does fail when 1.5x is not tolerated


def test_minutes_without_one_side_or_without_errors_add_nothing():
    rx, ex, ru, eu = [5, 0, 5, 5], [2, 0, 0, 1], [50, 50, 0, 50], [0, 3, 1, 0]
    llr = minute_llr(rx, ex, ru, eu)
    assert llr.shape == (len(GRID), 4)
    assert (llr[:, 1] == 0).all() and (llr[:, 2] == 0).all()  # no exposed, no unexposed requests
    assert (minute_llr([5], [0], [50], [0]) == 0).all()  # no error at all
    full = mixture_sprt(rx, ex, ru, eu, alpha=ALPHA)
    kept = mixture_sprt([5, 5], [2, 1], [50, 50], [0, 0], alpha=ALPHA)
    assert full.last == pytest.approx(kept.last)


def test_strata_add_up_within_a_minute():
    cells = mixture_sprt([3, 4, 5], [1, 2, 1], [30, 20, 50], [0, 1, 0], alpha=ALPHA, steps=[0, 0, 1])
    one, two = minute_llr([3, 4], [1, 2], [30, 20], [0, 1]), minute_llr([5], [1], [50], [0])
    by_hand = log_mixture(np.stack([one.sum(axis=1), two[:, 0]], axis=1))
    assert cells.log_lambda == pytest.approx(by_hand)


def test_needed_requests_is_the_drift_formula_and_expected_to_cross():
    rate, detect, alpha = 0.002, 0.01, ALPHA / 2
    n = needed_requests(rate, 0.001, detect=detect, alpha=alpha)
    # a canary that is a sliver of the traffic: the Poisson drift (p+d)·log θ - (θ-1)·p of the best component
    drift = max((rate + detect) * math.log(g) - (g - 1) * rate for g in GRID)
    assert n == pytest.approx(math.log(len(GRID) / alpha) / drift, rel=0.01)
    assert needed_requests(rate, 0.5, detect=detect, alpha=alpha) > n  # half the traffic: the split says less
    assert needed_requests(rate, 0.1, detect=0.03, alpha=alpha) < needed_requests(rate, 0.1, detect=detect,
                                                                                  alpha=alpha)
    assert needed_requests(0.3, 0.1, detect=0.001, alpha=alpha) is None  # too small a rise to resolve
    # after `needed` exposed requests at +d, about half the rollouts have crossed (it is an expectation)
    rng = np.random.default_rng(17)
    share, per_minute = 0.1, 400
    steps = math.ceil(needed_requests(rate, share, detect=detect, alpha=alpha) / (share * per_minute))
    rx = np.full((400, steps), int(share * per_minute))
    ru = np.full((400, steps), per_minute - int(share * per_minute))
    path = log_mixture(minute_llr(rx, rng.binomial(rx, rate + detect), ru, rng.binomial(ru, rate)))
    assert 0.3 <= (path.max(axis=-1) >= math.log(1 / alpha)).mean() <= 0.9


# --- the archive rollout, broken and clean --------------------------------------------------


@pytest.fixture(scope="module")
def broken(tmp_path_factory):
    _, lake = scenario_lake(tmp_path_factory.mktemp("broken"), lambda p: generate("archive", p, SEED, SCALE))
    return lake


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    _, lake = scenario_lake(tmp_path_factory.mktemp("clean"),
                            lambda p: archive.generate(p, seed=SEED, scale=SCALE, clean=True))
    return lake


@pytest.mark.parametrize("what", [{"version": "v1.41.0"}, {"change": "deploy-1041"}], ids=["version", "change"])
def test_the_archive_rollout_fails_before_the_second_host_upgrades(broken, what):
    looks = []
    for now in minutes(FIRST_LOOK, WEB02):
        looks.append(gate(broken, until=now, detect=DETECT, **what))
        if looks[-1].verdict == "fail":
            break
    result = looks[-1]
    assert result.verdict == "fail" and result.exit_code == 3, [r.lines() for r in looks]
    assert result.now <= WEB02
    assert all(r.verdict == "cannot-judge" for r in looks[:-1])
    doc = result.to_json()
    # the new cookies count as exposed: old hosts failing them are the incident
    assert doc["exposure"]["versions"] == ["v1.41.0"] and doc["exposure"]["cookie_formats"] == ["rails-encrypted-gcm"]
    assert doc["exposure"]["why"]
    assert doc["exposed"]["rate"] > 10 * doc["unexposed"]["rate"] and doc["exposed"]["errors"] >= 5
    assert doc["evidence"]["peak"] >= doc["evidence"]["threshold"] == 2 / ALPHA
    text = result.evidence_line()
    assert text.startswith("v1.41.0 or rails-encrypted-gcm cookies: ") and "crossed at" in text


@pytest.mark.parametrize("what", [{"version": "v1.41.0"}, {"change": "deploy-1041"}], ids=["version", "change"])
def test_a_clean_rollout_of_the_same_size_never_fails_and_passes_after_for(clean, what):
    looks = [gate(clean, until=now, detect=DETECT, **what)
             for now in minutes(FIRST_LOOK, archive.DEPLOY_START + timedelta(minutes=30))]
    verdicts = [r.verdict for r in looks]
    assert "fail" not in verdicts
    first_pass = verdicts.index("pass")
    passed = looks[first_pass]
    assert passed.now - passed.start >= timedelta(minutes=15)
    assert passed.judgement.overall.exposed.requests >= passed.judgement.needed >= 200
    assert set(verdicts[:first_pass]) == {"cannot-judge"}
    assert looks[first_pass - 1].judgement.more_needed or looks[first_pass - 1].now - passed.start < timedelta(
        minutes=15)


# --- a tiny site -----------------------------------------------------------------------------

CANARY = traps.START + timedelta(hours=6)


def _tiny_logs(out, hours: float = 24):
    traps.simulate(out, 5, 1, 0.1, lambda t: 1.0 if t < traps.START + timedelta(hours=hours) else 0.0,
                   lambda t, h, c: 0.001, clients=300, hosts=["web01", "web02", "web03"],
                   version=lambda t, h: "v2.4.0" if h == "web02" and t >= CANARY else "v2.3.0")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """Three hosts, a few requests a minute (0.1 a second at the busiest hour); web02 runs v2.4.0 from 06:00."""
    base = tmp_path_factory.mktemp("tiny")
    _tiny_logs(base)
    ingest(base / "lake", [str(base / "logs")])
    return base / "lake"


def test_a_tiny_site_cannot_be_judged_until_enough_traffic_arrives(tiny):
    # gated for +1 point (the default is 2): the smaller the rise to catch, the more traffic it takes
    looks = [gate(tiny, version="v2.4.0", until=CANARY + timedelta(hours=h), detect=0.01) for h in (1, 4, 8, 12)]
    assert [r.exit_code for r in looks] == [4, 4, 4, 4]
    missing = [r.judgement.more_needed for r in looks]
    assert missing == sorted(missing, reverse=True) and missing[-1] < missing[0] / 5, missing
    assert all("more exposed requests are needed" in r.lines()[0] for r in looks)
    final = gate(tiny, version="v2.4.0", detect=0.01)  # the whole day: enough
    assert final.verdict == "pass", final.lines()
    assert final.judgement.overall.exposed.requests >= final.judgement.needed


def test_change_scopes_and_what_they_expose(tiny):
    at = CANARY.strftime("%Y-%m-%dT%H:%M:%SZ")
    later = (CANARY + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    add_change(tiny, at, "deploy", "canary", scope=["hosts=web02"], change_id="canary")
    add_change(tiny, later, "deploy", "everywhere", scope=["hosts=web01,web02,web03"], change_id="all-hosts")
    add_change(tiny, later, "config", "one host", scope=["hosts=web03"], change_id="one-host")
    add_change(tiny, later, "deploy", "named", scope=["version=v2.4.0"], change_id="named")
    by_new_version = gate(tiny, change="canary").exposure  # its hosts are all but one; v2.4.0 is new since it
    assert by_new_version.versions == ("v2.4.0",) and not by_new_version.hosts
    assert gate(tiny, change="named").exposure.versions == ("v2.4.0",)
    assert gate(tiny, change="one-host").exposure.hosts == ("web03",)  # nothing new since: its hosts split
    undecided = gate(tiny, change="all-hosts")
    assert undecided.exit_code == 4 and "cannot tell all-hosts's traffic apart" in undecided.lines()[0]
    with pytest.raises(InputError, match="no change 'nope'"):
        gate(tiny, change="nope")


@pytest.mark.parametrize("kwargs, message", [
    ({}, "exactly one of"),
    ({"version": "v2.4.0", "hosts": "web01"}, "exactly one of"),
    ({"version": "v2.4.0", "since": "soon"}, "unreadable time"),
    ({"version": "v2.4.0", "since": "2024-05-06T10:00Z", "until": "2024-05-06T09:00Z"}, "before --until"),
    ({"version": "v2.4.0", "alpha": 1.5}, "--alpha"),
    ({"hosts": " , "}, "--hosts"),
])
def test_input_errors(tiny, kwargs, message):
    with pytest.raises(InputError, match=message):
        gate(tiny, **kwargs)


def test_wait_sees_new_commits_and_stops_at_a_verdict(tmp_path):
    """--wait looks again after each interval and sees what was ingested meanwhile."""
    first, rest = tmp_path / "first", tmp_path / "rest"
    _tiny_logs(first, hours=7)
    _tiny_logs(rest)
    ingest(tmp_path / "lake", [str(first / "logs" / "access.log")])
    clock = [0.0]
    looks = []

    def sleep(seconds):  # the next batch of logs lands while the gate waits
        clock[0] += seconds
        ingest(tmp_path / "lake", [str(rest / "logs" / "access.log")])

    result = gate_wait(tmp_path / "lake", version="v2.4.0", interval=30, duration=timedelta(minutes=15),
                       on_look=looks.append, sleep=sleep, clock=lambda: clock[0])
    assert [r.verdict for r in looks] == ["cannot-judge", "pass"] and result is looks[-1]
    stuck = gate_wait(tmp_path / "lake", version="v9", interval=300, duration=timedelta(minutes=15),
                      sleep=lambda s: clock.__setitem__(0, clock[0] + s), clock=lambda: clock[0])
    assert stuck.exit_code == 4  # never decided: the last look when --for ran out


# --- the command line --------------------------------------------------------------------


def _run(*args):
    return CliRunner().invoke(cli, ["gate", *args])


def test_cli_exit_codes_and_json(broken, clean, tiny):
    iso = "%Y-%m-%dT%H:%MZ"
    failed = _run("--lake", str(broken), "--version", "v1.41.0", "--until", WEB02.strftime(iso))
    assert failed.exit_code == 3, failed.output
    assert failed.output.startswith("FAIL (exit 3)") and "crossed at" in failed.output
    passed = _run("--lake", str(clean), "--change", "deploy-1041", "--detect", str(DETECT), "--json",
                  "--until", (archive.DEPLOY_START + timedelta(minutes=30)).strftime(iso))
    assert passed.exit_code == 0, passed.output
    doc = json.loads(passed.output)
    for key in ("verdict", "exit_code", "exposure", "start", "now", "minutes", "exposed", "unexposed", "ratio",
                "evidence", "route_families", "needed_requests", "more_requests_needed", "reason"):
        assert key in doc
    assert doc["verdict"] == "pass" and doc["exit_code"] == 0 and doc["more_requests_needed"] == 0
    assert set(doc["exposure"]) >= {"versions", "cookie_formats", "hosts", "why"}
    waiting = _run("--lake", str(tiny), "--hosts", "web02", "--since", "2024-05-06T06:00Z", "--until",
                   "2024-05-06T07:00Z", "--json")
    assert waiting.exit_code == 4
    doc = json.loads(waiting.output)
    assert doc["verdict"] == "cannot-judge" and doc["more_requests_needed"] > 0 and doc["exposure"]["hosts"] == ["web02"]


@pytest.mark.parametrize("args, code, message", [
    (["--lake", "LAKE", "--change", "nope"], 1, "no change 'nope'"),
    (["--lake", "LAKE", "--version", "v1", "--cookie-format", "jwt"], 2, "exactly one of"),
    (["--lake", "LAKE"], 2, "exactly one of"),
    (["--lake", "LAKE", "--version", "v1", "--for", "soon"], 2, "--for"),
    (["--lake", "LAKE", "--version", "v1", "--until", "whenever"], 1, "unreadable time"),
    (["--lake", "LAKE", "--version", "v1", "--alpha", "2"], 2, "--alpha"),
    (["--lake", "LAKE", "--no-such-flag"], 2, "No such option"),
])
def test_cli_errors_are_one_line(tiny, args, code, message):
    result = _run(*[str(tiny) if a == "LAKE" else a for a in args])
    assert result.exit_code == code, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error")]
    assert len(errors) == 1 and message in errors[0] and "Traceback" not in result.output


def test_cli_help():
    result = _run("--help")
    assert result.exit_code == 0 and "Exit codes" in result.output and "Examples" in result.output
