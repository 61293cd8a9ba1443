"""Anomalies from access logs alone (issue 10): the trap with ground truth, sizes, and negative controls."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from sessionlens import Lake, ingest
from sessionlens.analysis.anomalies.base import nearest_cause
from sessionlens.analysis.anomalies.invalidation import Burst, find_bursts, is_routine
from sessionlens.analysis.anomalies.loops import LogoutLoop, LoopSettings
from sessionlens.analysis.pipeline import analyze
from sessionlens.changes import Change, import_markers
from sessionlens.samples import generate
from sessionlens.samples.core import BROWSERS, nginx_edge_line, write_jsonl
from sessionlens.samples.traps import START, simulate
from sessionlens.samples.traps_anomalies import ANOMALY_TRAPS, Site, generate_anomaly_trap, simulate_site

from .conftest import scenario_lake

UTC = timezone.utc


_prepared = scenario_lake


def _kinds(doc: dict) -> list[str]:
    return [a["kind"] for a in doc["anomalies"]]


@pytest.fixture(scope="module")
def wipe(tmp_path_factory):
    truth, lake = _prepared(tmp_path_factory.mktemp("wipe"),
                            lambda p: generate_anomaly_trap("mass_invalidation_access", p, scale=0.5))
    return truth, analyze(lake).to_json()


def test_mass_invalidation_seen_only_in_access_logs(wipe):
    truth, doc = wipe
    want = truth["anomalies"][0]
    assert _kinds(doc) == ["mass_invalidation"]
    got = doc["anomalies"][0]
    assert got["explained_by"] == want["explained_by"] == "redis-flushall"  # not the deploy 45 min before
    at = datetime.fromisoformat(want["at"].replace("Z", "+00:00"))
    start = datetime.fromisoformat(got["start"].replace("Z", "+00:00"))
    assert at - timedelta(minutes=5) <= start <= at
    # the sessions the flush wiped (and that came back before the data ends), give or take the background
    assert 0.9 * want["sessions"] <= got["sessions"] <= 1.05 * want["sessions"]
    assert got["sources"] == ["access_logs"] and got["users_estimated"] is False
    # sizes always filled, and the unit and period said
    assert got["users"] >= 0.9 * got["sessions"] and got["clients"] >= 0.9 * got["sessions"]
    assert got["peak_sessions"] >= 20 and got["peak_window_seconds"] == 300
    assert f"up to {got['peak_sessions']} in 5 min" in got["evidence"][0]
    # a flush is also a spike in the rate, caused by the same change
    assert len(doc["spikes"]) == truth["spikes"] == 1 and doc["spikes"][0]["explained_by"] == "redis-flushall"


def test_without_user_header_users_are_estimated_from_browsers(tmp_path):
    flush = START + timedelta(days=1, hours=14, minutes=20)

    def make(out):
        truth = simulate_site(out, 31, 0.4, Site(wipes=(flush,), user_header=False))
        write_jsonl(out / "markers" / "changes.jsonl", [
            {"id": "secret-rotation", "at": flush.isoformat(), "kind": "cookie", "label": "secret_key_base rotated"}])
        return truth

    truth, lake = _prepared(tmp_path, make)
    (got,) = analyze(lake).to_json()["anomalies"]
    assert got["kind"] == "mass_invalidation" and got["explained_by"] == "secret-rotation"
    assert got["users_estimated"] is True and got["users"] >= 0.9 * got["sessions"]
    assert "the logs name no signed-in user" in got["evidence"][1]


@pytest.mark.parametrize("name", ["ordinary_day_access"])
def test_ordinary_days_have_no_anomaly(tmp_path, name):
    """Expirations now and then, 80 users behind one office address, a deploy that keeps sessions valid."""
    truth, lake = _prepared(tmp_path, lambda p: generate_anomaly_trap(name, p, scale=0.5))
    assert analyze(lake).to_json()["anomalies"] == truth["anomalies"] == []


def test_errors_on_sessions_that_go_on_working_are_not_a_wipe(tmp_path):
    """Half the requests fail for an hour (a bad release), but the cookies stay valid: a spike, no wipe."""
    bad = (START + timedelta(hours=14), START + timedelta(hours=15))

    def make(out):
        n = simulate(out, 41, 1, 0.5, lambda t: 1.0, lambda t, h, c: 0.5 if bad[0] <= t < bad[1] else 0.001)
        write_jsonl(out / "markers" / "changes.jsonl", [
            {"id": "release", "at": bad[0].isoformat(), "kind": "deploy", "label": "v3"}])
        return n

    _, lake = _prepared(tmp_path, make)
    con = Lake(lake).connect()
    # it does stand far above the usual first failures: only the wipe tests keep it out
    first = con.execute("SELECT count(DISTINCT session_key) FROM requests WHERE error_kind IS NOT NULL "
                        "AND ts >= $a AND ts < $b", {"a": bad[0], "b": bad[0] + timedelta(minutes=5)}).fetchall()[0][0]
    assert first >= 40
    doc = analyze(lake).to_json()
    assert doc["anomalies"] == [] and len(doc["spikes"]) == 1


def test_daily_ttl_expiry_is_routine(tmp_path):
    """All sessions expire at 09:00 every day: normal for 09:00, not an anomaly, once history shows it."""
    truth, lake = _prepared(tmp_path, lambda p: generate_anomaly_trap("nightly_ttl_access", p, scale=0.5))
    assert truth["anomalies"] == []
    assert analyze(lake).to_json()["anomalies"] == []
    # the last day alone: the two days before, read as history, show the same burst
    assert analyze(lake, since="2024-05-08T00:00:00Z").to_json()["anomalies"] == []
    # the first day alone has no history: a wipe nobody could know to be routine
    first = analyze(lake, until="2024-05-06T23:59:00Z").to_json()["anomalies"]
    assert [a["kind"] for a in first] == ["mass_invalidation"]


def test_both_sources_report_one_burst(tmp_path):
    """Geocaching has app events and Cloudflare logs with cookies: its wipe is reported once, from both."""
    truth = generate("geocaching", tmp_path / "inc", seed=7, scale=0.3)
    ingest(tmp_path / "lake", [str(tmp_path / "inc" / "logs")])
    import_markers(tmp_path / "lake", [str(p) for p in sorted((tmp_path / "inc" / "markers").iterdir())])
    wipes = [a for a in analyze(tmp_path / "lake").to_json()["anomalies"] if a["kind"] == "mass_invalidation"]
    assert len(wipes) == 1
    assert wipes[0]["sources"] == ["app_events", "access_logs"]
    assert wipes[0]["explained_by"] == truth["anomalies"][1]["explained_by"]
    assert all(wipes[0][k] for k in ("users", "sessions", "clients"))


# --- the parts, with small hand-made data ----------------------------------------


T0 = datetime(2024, 6, 3, 9, 0, tzinfo=UTC)


def _line(t, ip, path, status=200, cookie=None, ua=BROWSERS[0], method="GET", location=None, user=None):
    return nginx_edge_line({"ts": t, "ip": ip, "ua": ua, "method": method, "uri": path, "status": status, "bytes": 100,
                            "latency": 0.01, "host": "web01", "version": "v1", "cookie": cookie, "edge": "on",
                            "cache": "dynamic", "user_hdr": user, "location": location}) + "\n"


def _loops(tmp_path, lines, settings=None):
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "access.log").write_text("".join(sorted(lines, key=lambda x: x[x.index("["):])))
    ingest(tmp_path / "lake", [str(tmp_path / "logs")])
    found = LogoutLoop(settings).detect(Lake(tmp_path / "lake").engine(), T0 - timedelta(hours=1),
                                        T0 + timedelta(hours=3), [])
    return [a.to_json() for a in found]  # as the contract writes them


def test_logout_loop_sizes_are_per_period(tmp_path):
    lines = []
    t = T0
    for k in range(8):  # one browser cycling every 20 s, twice in a row with a pause: 8 cycles in 10 min at most
        for path, status, method in (("/api/me", 302, "GET"), ("/users/logout", 302, "DELETE"),
                                     ("/users/login", 200, "GET")):
            lines.append(_line(t, "192.0.2.50", path, status, cookie=f"loop-cookie-{k:04d}-abcdefgh", method=method,
                               location="/users/login?reason=expired" if path == "/api/me" else None))
            t += timedelta(seconds=6)
    t += timedelta(minutes=40)
    for _ in range(6):  # the same browser later: six more, in another stretch
        lines.append(_line(t, "192.0.2.50", "/users/logout", 302, method="DELETE"))
        lines.append(_line(t + timedelta(seconds=5), "192.0.2.50", "/users/login", 200))
        t += timedelta(seconds=30)
    (loop,) = _loops(tmp_path, lines, LoopSettings(min_clients=1))  # sizes, for one browser
    assert loop["clients"] == 1 and loop["max_cycles"] == 8 and loop["period_seconds"] == 600
    assert loop["total_cycles"] == 14 and loop["users"] == 1
    assert "up to 8 logout/login cycles per client in 10 min" in loop["evidence"][0]


def test_office_behind_one_address_is_not_a_loop(tmp_path):
    lines = []
    for i in range(40):  # forty people at one address and one browser build, each logging out once at 17:00
        t = T0 + timedelta(hours=8, seconds=15 * i)
        cookie = f"office-session-{i:04d}-abcdefgh"
        for k in range(12):
            lines.append(_line(t - timedelta(minutes=k), "203.0.113.1", f"/items/{k}", cookie=cookie, ua=BROWSERS[1]))
        lines.append(_line(t, "203.0.113.1", "/users/logout", 302, cookie=cookie, ua=BROWSERS[1], method="POST"))
    assert _loops(tmp_path, lines) == []


def test_a_wiping_change_is_preferred_to_a_later_unrelated_one():
    flush = T0
    changes = [Change(id="deploy", at=flush - timedelta(minutes=40), kind="deploy", label="v2"),
               Change(id="flush", at=flush, kind="session_store", label="FLUSHALL"),
               Change(id="flag", at=flush + timedelta(minutes=1), kind="feature_flag", label="dark mode")]
    prefer = ("session_store", "cookie", "maintenance", "config")
    assert nearest_cause(changes, flush + timedelta(seconds=30), slack=timedelta(minutes=5))[0] == "flag"
    assert nearest_cause(changes, flush + timedelta(seconds=30), slack=timedelta(minutes=5),
                         prefer=prefer)[0] == "flush"
    # a store change hours before loses to the change made just before
    old = Change(id="old", at=flush - timedelta(minutes=90), kind="config", label="x")
    assert nearest_cause(changes[:1] + changes[2:] + [old], flush + timedelta(minutes=2), prefer=prefer)[0] == "flag"


def test_bursts_end_when_the_rate_is_back_to_normal():
    step = timedelta(minutes=5)
    counts = {T0 + i * step: 1 for i in range(0, 200, 3)}  # a background of one now and then
    counts.update({T0 + 100 * step: 120, T0 + 101 * step: 60, T0 + 102 * step: 9, T0 + 103 * step: 4,
                   T0 + 104 * step: 1, T0 + 130 * step: 15})  # a wipe, its tail; a lesser bump later
    (b,) = find_bursts(counts, T0, T0 + 200 * step, step, floor=20, multiple=10, quiet_windows=2)
    assert (b.first, b.last, b.peak, b.usual) == (T0 + 100 * step, T0 + 104 * step, 120, 0.0)


def test_routine_needs_the_same_time_on_most_other_days():
    day = timedelta(days=1)
    at9 = [Burst(T0 + k * day, T0 + k * day + timedelta(minutes=30), 100, 0.0) for k in range(4)]
    start, end = T0 - timedelta(hours=9), T0 + 4 * day
    assert is_routine(at9[3], at9, start, end, timedelta(minutes=30))
    assert not is_routine(at9[3], at9[3:], start, end, timedelta(minutes=30))  # once only
    assert not is_routine(at9[3], at9[2:], start, end, timedelta(minutes=30))  # one other day in three
    moved = [Burst(b.first + timedelta(hours=2), b.last, 100, 0.0) for b in at9[:3]]
    assert not is_routine(at9[3], moved + at9[3:], start, end, timedelta(minutes=30))


def test_every_anomaly_trap_writes_its_expectation(tmp_path):
    for name, fn in ANOMALY_TRAPS.items():
        assert fn.__name__ == name
    expected = generate_anomaly_trap("ordinary_day_access", tmp_path, seed=5, scale=0.1)
    assert (tmp_path / "expected.json").is_file() and expected["anomalies"] == []
