"""Session anomalies: the sample incidents, positive cases, and negative controls that must report nothing."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from sessionlens import Lake, ingest
from sessionlens.analysis.anomalies import DETECTORS
from sessionlens.analysis.pipeline import analyze
from sessionlens.privacy import keyed_hash, load_or_create_key
from sessionlens.samples import generate

from .conftest import scenario_lake

T0 = datetime(2024, 6, 3, 9, 0, tzinfo=timezone.utc)


def _prepared(base, name):
    truth, lake = scenario_lake(base, lambda p: generate(name, p, seed=7, scale=1.0))
    return truth, lake, analyze(lake).to_json()


@pytest.fixture(scope="module")
def geocaching(tmp_path_factory):
    return _prepared(tmp_path_factory.mktemp("geo"), "geocaching")


@pytest.fixture(scope="module")
def mfa(tmp_path_factory):
    return _prepared(tmp_path_factory.mktemp("mfa"), "mfa")


def _one(doc, kind):
    found = [a for a in doc["anomalies"] if a["kind"] == kind]
    assert len(found) == 1, [a["kind"] for a in doc["anomalies"]]
    return found[0]


def test_shared_session_names_exactly_the_users_who_logged_in_during_the_fault(geocaching):
    truth, lake, doc = geocaching
    want = truth["anomalies"][0]
    got = _one(doc, "session_sharing")
    assert (got["sessions"], got["users"]) == (1, 33) == (want["sessions"], want["users"])
    key = load_or_create_key(Path(lake))
    assert set(got["user_keys"]) == {keyed_hash(key, "user", u) for u in want["user_ids"]}
    assert got["explained_by"] == "config-apt-upgrade"
    assert want["start_after"] <= got["start"] and got["start"] < want["end_before"]
    assert doc["anomalies"][0]["kind"] == "session_sharing"  # a security incident comes first
    # the report names no user: only keyed hashes
    assert not any(u in json.dumps(doc) for u in want["user_ids"])


def test_geocaching_mass_invalidation(geocaching):
    truth, _, doc = geocaching
    got = _one(doc, "mass_invalidation")
    assert got["explained_by"] == truth["anomalies"][1]["explained_by"]
    assert got["start"] <= truth["anomalies"][1]["at"] < got["end"]


def test_mfa_anomalies(mfa):
    truth, _, doc = mfa
    want = {a["kind"]: a for a in truth["anomalies"]}
    loop = _one(doc, "logout_loop")
    assert loop["explained_by"] == want["logout_loop"]["explained_by"]
    assert want["logout_loop"]["start_after"] <= loop["start"] and loop["end"] <= want["logout_loop"]["end_before"]
    assert loop["clients"] >= 0.8 * want["logout_loop"]["clients"] and loop["max_cycles"] >= 12
    device = _one(doc, "cross_account_enrollment")
    assert device["users"] == want["cross_account_enrollment"]["users"]
    assert device["explained_by"] == want["cross_account_enrollment"]["explained_by"]
    wipe = _one(doc, "mass_invalidation")
    assert wipe["explained_by"] == "maint-clear-tokens" and wipe["start"] <= want["mass_invalidation"]["at"]
    assert not any(a["kind"] == "session_sharing" for a in doc["anomalies"])


def test_archive_has_no_anomalies(tmp_path):
    _, _, doc = _prepared(tmp_path, "archive")
    assert doc["anomalies"] == []


# --- negative controls and synthetic positives ---------------------------------------


def _events(tmp_path, records, requests_lines=None):
    f = tmp_path / "events.jsonl"
    f.write_text("".join(json.dumps(r) + "\n" for r in records))
    paths = [str(f)]
    if requests_lines:
        g = tmp_path / "access.log"
        g.write_text("".join(requests_lines))
        paths.append(str(g))
    ingest(tmp_path / "lake", paths)
    engine = Lake(tmp_path / "lake").engine()
    out = []
    for cls in DETECTORS.values():  # as the contract writes them
        out += [a.to_json() for a in cls().detect(engine, T0 - timedelta(days=1), T0 + timedelta(days=2), [])]
    return out


def _ev(minutes, event, user, session, ip="198.51.100.7", **extra):
    return {"ts": (T0 + timedelta(minutes=minutes)).isoformat(), "event": event, "user_id": user,
            "session_id": session, "ip": ip, **extra}


def test_negative_controls_report_nothing(tmp_path):
    records = []
    # NAT: 60 users behind one address, each with a session of their own
    for i in range(60):
        records += [_ev(i, "login", f"nat{i}", f"nat-session-{i}", ip="203.0.113.1"),
                    _ev(i + 30, "logout", f"nat{i}", f"nat-session-{i}", ip="203.0.113.1")]
    # one user on five devices and addresses, a session each
    for d in range(5):
        records.append(_ev(100 + d, "login", "traveller", f"device-session-{d}", ip=f"192.0.2.{d + 10}"))
    # ordinary logout and login, twice
    for k in range(2):
        records += [_ev(200 + k * 20, "logout", "regular", f"regular-{k}"),
                    _ev(201 + k * 20, "login", "regular", f"regular-{k + 1}")]
    # normal enrolments: each user their own device
    for i in range(30):
        records.append(_ev(300 + i, "mfa_enroll", f"staff{i}", f"staff-session-{i}", device_id=f"totp-{i:04d}"))
    # a background of expired sessions, spread out
    for i in range(40):
        records.append(_ev(i * 30, "session_expired", f"bg{i}", f"bg-session-{i}"))
    assert _events(tmp_path, records) == []


def test_one_person_logging_out_five_times_is_not_a_loop(tmp_path):
    records = []
    for c in range(5):  # five logouts in five minutes by one user: trying again, not a loop a change caused
        records += [_ev(60 + c, "logout", "restless", f"r-{c}", ip="198.51.100.7"),
                    _ev(60 + c, "login", "restless", f"r-{c + 1}", ip="198.51.100.7")]
    assert [a for a in _events(tmp_path, records) if a["kind"] == "logout_loop"] == []


def test_synthetic_positives(tmp_path):
    records = [_ev(i, "login", f"victim{i}", "the-same-session") for i in range(4)]
    for who in range(3):  # three clients looping
        for c in range(6):
            records += [_ev(60 + c, "logout", f"looper{who}", f"loop-{who}-{c}", ip=f"198.51.100.{90 + who}"),
                        _ev(60 + c, "login_failed", f"looper{who}", None, ip=f"198.51.100.{90 + who}")]
    records += [_ev(120, "mfa_enroll", f"acct{i}", f"s{i}", device_id="one-device") for i in range(5)]
    kinds = sorted(a["kind"] for a in _events(tmp_path, records))
    assert kinds == ["cross_account_enrollment", "logout_loop", "session_sharing"]


def test_no_identity_sharing_from_many_clients(tmp_path):
    agents = ["Firefox/117", "Chrome/116", "Safari/16", "Edge/116"]
    lines = []
    for i in range(8):  # one cookie from 8 addresses and 4 browsers within minutes
        ts = (T0 + timedelta(minutes=i)).strftime("%d/%b/%Y:%H:%M:%S +0000")
        lines.append(f'10.9.{i}.1 - - [{ts}] "GET /account HTTP/1.1" 200 10 "-" "{agents[i % 4]}" 0.01 web01 v1 '
                     f'"stolen-session-cookie-value-0001" "on" "-" "-" "-"\n')
    for i in range(30):  # and ordinary traffic: one cookie per client
        ts = (T0 + timedelta(minutes=i)).strftime("%d/%b/%Y:%H:%M:%S +0000")
        lines.append(f'10.8.{i}.1 - - [{ts}] "GET /home HTTP/1.1" 200 10 "-" "Firefox/117" 0.01 web01 v1 '
                     f'"own-session-{i:04d}-abcdefgh" "on" "-" "-" "-"\n')
    found = _events(tmp_path, [_ev(0, "login", "someone", "x")], lines)
    (sharing,) = [a for a in found if a["kind"] == "session_sharing"]
    assert sharing["sessions"] == 1 and "8 client addresses" in sharing["evidence"][0]
    # no identity in the logs: users are the distinct browsers, and the report says so (issue 10)
    assert (sharing["users"], sharing["users_estimated"], sharing["clients"]) == (8, True, 8)
