"""The sample incidents: every line ingests, and each incident shows in the lake."""

from __future__ import annotations

import json

import pytest

from sessionlens import Lake, ingest
from sessionlens.privacy import keyed_hash, load_or_create_key
from sessionlens.samples import INCIDENTS, generate

from .conftest import ROOT


@pytest.fixture(scope="module")
def incidents(tmp_path_factory):
    out = {}
    for name in INCIDENTS:
        base = tmp_path_factory.mktemp(name)
        truth = generate(name, base / "logs", seed=11, scale=0.4)
        summary = ingest(base / "lake", [str(base / "logs" / "logs")])
        out[name] = (truth, summary, Lake(base / "lake"))
    return out


@pytest.mark.parametrize("name", sorted(INCIDENTS))
def test_every_line_ingests(incidents, name):
    _, summary, _ = incidents[name]
    assert not summary.failed
    assert summary.rejected == 0, summary.rejected_by_reason
    assert summary.lines_read == summary.stored > 1000


def test_generator_is_seeded(tmp_path):
    a = generate("archive", tmp_path / "a", seed=5, scale=0.1)
    b = generate("archive", tmp_path / "b", seed=5, scale=0.1)
    assert a == b
    assert (tmp_path / "a/logs/web01.access.log").read_bytes() == (tmp_path / "b/logs/web01.access.log").read_bytes()


def test_archive_errors_follow_the_cookie_change(incidents):
    truth, summary, lake = incidents["archive"]
    assert {f.format for f in summary.files} == {"nginx-edge"}
    rows = lake.sql("""
        SELECT cookie_format, app_version, count(*) FILTER (WHERE error_kind IS NOT NULL) AS errors, count(*) AS n
        FROM requests WHERE ts BETWEEN '2023-09-19 16:09:00+00' AND '2023-09-19 19:00:00+00' GROUP BY ALL""").fetchall()
    by = {(c, v): (e, n) for c, v, e, n in rows}
    gcm_old = by[("rails-encrypted-gcm", "v1.40.2")]
    assert gcm_old[0] / gcm_old[1] > 0.2  # new cookies on old hosts fail often
    baseline = lake.sql("""SELECT count(*) FILTER (WHERE error_kind IS NOT NULL) / count(*) FROM requests
                           WHERE ts < '2023-09-19 12:00:00+00'""").fetchall()[0][0]
    assert baseline < 0.005
    hosts = lake.sql("SELECT count(DISTINCT host) FROM requests").fetchall()[0][0]
    assert hosts == 8
    verdicts = {r[0] for r in lake.sql("SELECT DISTINCT edge_worker FROM requests").fetchall()}
    assert verdicts == {"on", "off", "bypass"}


def test_geocaching_shared_session_is_in_the_lake(incidents):
    truth, _, lake = incidents["geocaching"]
    key = load_or_create_key(lake.root)
    sharing = truth["anomalies"][0]
    assert sharing["users"] == 33
    rows = lake.sql("""SELECT session_key, count(DISTINCT user_key) FROM events WHERE event = 'login'
                       GROUP BY 1 HAVING count(DISTINCT user_key) > 1""").fetchall()
    assert len(rows) == 1 and rows[0][1] == 33
    users = {r[0] for r in lake.sql(f"SELECT DISTINCT user_key FROM events WHERE session_key = '{rows[0][0]}'").fetchall()}
    assert users == {keyed_hash(key, "user", u) for u in sharing["user_ids"]}
    # all three Logpush timestamp encodings were read
    days = lake.sql("SELECT count(DISTINCT date) FROM requests").fetchall()[0][0]
    assert days == 3


def test_mfa_incident_parts_are_in_the_lake(incidents):
    truth, summary, lake = incidents["mfa"]
    assert {f.format for f in summary.files} == {"rails", "app-events"}
    device = truth["anomalies"][2]["device"]
    key = load_or_create_key(lake.root)
    n = lake.sql(f"""SELECT count(DISTINCT user_key) FROM events
                     WHERE event = 'mfa_enroll' AND device_key = '{keyed_hash(key, 'device', device)}'""").fetchall()[0][0]
    assert n == truth["anomalies"][2]["users"]
    loops = lake.sql("""SELECT count(*) FROM events WHERE event = 'logout'
                        AND ts BETWEEN '2024-03-05 11:05:00+00' AND '2024-03-05 14:00:00+00'""").fetchall()[0][0]
    assert loops > 100
    rails_401 = lake.sql("SELECT count(*) FROM requests WHERE source = 'rails' AND error_kind = 'unauthorized'").fetchall()[0][0]
    assert rails_401 > 100


@pytest.mark.parametrize("name", sorted(INCIDENTS))
def test_committed_samples_ingest_every_line(tmp_path, name):
    summary = ingest(tmp_path / "lake", [str(ROOT / "sample_logs" / name / "logs")])
    assert not summary.failed and summary.rejected == 0 and summary.stored > 1000


def test_committed_samples_match_the_generator(tmp_path):
    """sample_logs/ is what `python sample_logs/generate.py` writes."""
    committed = ROOT / "sample_logs"
    for name in INCIDENTS:
        truth = json.loads((committed / name / "ground_truth.json").read_text())
        fresh = generate(name, tmp_path / name, seed=7, scale=0.1)
        assert truth == fresh, name
