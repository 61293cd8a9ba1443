"""Typed results: anomalies with a size and its unit, their JSON as the contract shapes it, detector settings."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timedelta, timezone

import pytest
from click.testing import CliRunner
from markupsafe import escape

from sessionlens import Lake, ingest
from sessionlens.analysis.anomalies import DETECTORS, detect_all
from sessionlens.analysis.anomalies.base import Detector
from sessionlens.analysis.anomalies.result import (
    Anomaly,
    CrossAccountEnrollmentAnomaly,
    LogoutLoopAnomaly,
    MassInvalidationAnomaly,
    SessionSharingAnomaly,
)
from sessionlens.analysis.attribute import rank
from sessionlens.analysis.headline import headline
from sessionlens.analysis.pipeline import analyze
from sessionlens.analysis.result import Analysis, SpikeReport
from sessionlens.analysis.suspects import Ranking
from sessionlens.analysis.text import anomaly_size
from sessionlens.changes import all_changes, import_markers
from sessionlens.cli import cli
from sessionlens.nightly import _findings
from sessionlens.samples import INCIDENTS, generate

T0 = datetime(2024, 5, 7, 10, tzinfo=timezone.utc)

# The keys of each kind's object in ../shared/spec/analysis-json.md, in order (mass_invalidation: from app
# events; from access logs it has users_estimated and peak_sessions instead of peak_users).
SHAPES = {
    "session_sharing": ["kind", "start", "end", "sessions", "users", "users_estimated", "clients", "explained_by",
                        "evidence", "user_keys"],
    "logout_loop": ["kind", "start", "end", "clients", "users", "sessions", "max_cycles", "period_seconds",
                    "total_cycles", "explained_by", "evidence"],
    "mass_invalidation": ["kind", "start", "end", "users", "sessions", "clients", "peak_users", "peak_window_seconds",
                          "explained_by", "evidence", "sources"],
    "cross_account_enrollment": ["kind", "start", "end", "device", "users", "explained_by", "evidence"],
}


@pytest.fixture(scope="module")
def samples(tmp_path_factory):
    """Each sample incident ingested with its markers: (lake dir, analysis)."""
    out = {}
    for name in INCIDENTS:
        base = tmp_path_factory.mktemp(name)
        generate(name, base / "logs", seed=11, scale=0.4)
        ingest(base / "lake", [str(base / "logs" / "logs")])
        import_markers(base / "lake", [str(p) for p in sorted((base / "logs" / "markers").iterdir())])
        out[name] = (base / "lake", analyze(base / "lake"))
    return out


def test_every_kind_is_found_with_a_positive_size_and_a_unit(samples):
    found = [a for _, analysis in samples.values() for a in analysis.anomalies]
    assert {a.kind for a in found} == set(DETECTORS)
    for a in found:
        assert isinstance(a, Anomaly)
        assert isinstance(a.size, int) and a.size > 0, a
        assert a.unit in ("users", "clients", "accounts", "sessions"), a
        assert a.end >= a.start


def test_the_headline_size_of_each_kind(samples):
    by_kind = {a.kind: a for _, analysis in samples.values() for a in analysis.anomalies}
    loop = by_kind["logout_loop"]
    assert (loop.size, loop.unit) == (loop.clients, "clients")
    device = by_kind["cross_account_enrollment"]
    assert (device.size, device.unit) == (device.users, "accounts")
    assert by_kind["session_sharing"].unit == "users" and by_kind["mass_invalidation"].unit == "users"


def test_to_json_has_the_contracts_shape(samples):
    for _, analysis in samples.values():
        doc = analysis.to_json()
        assert doc["anomalies"] == [a.to_json() for a in analysis.anomalies]
        for a in doc["anomalies"]:
            shape = SHAPES[a["kind"]]
            if a["kind"] == "mass_invalidation" and a["sources"] == ["access_logs"]:
                shape = [k for k in shape if k != "peak_users"]
                shape.insert(shape.index("users") + 1, "users_estimated")
                shape.insert(shape.index("peak_window_seconds"), "peak_sessions")
            assert list(a) == shape
            for key in ("start", "end"):
                assert datetime.strptime(a[key], "%Y-%m-%dT%H:%M:%SZ")
        # the typed times are the JSON's, to the second
        for a, d in zip(analysis.anomalies, doc["anomalies"], strict=True):
            assert d["start"] == a.start.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        json.dumps(doc)  # every value is plain JSON


def test_typed_anomalies_write_exactly_the_dicts_they_replace():
    when = {"start": T0, "end": T0 + timedelta(minutes=42)}
    iso = {"start": "2024-05-07T10:00:00Z", "end": "2024-05-07T10:42:00Z"}
    assert LogoutLoopAnomaly(**when, clients=412, users=400, sessions=None, max_cycles=57, window_seconds=600,
                             total_cycles=9000, explained_by="deploy-2209", evidence=["e"]).to_json() == {
        "kind": "logout_loop", **iso, "clients": 412, "users": 400, "sessions": None, "max_cycles": 57,
        "period_seconds": 600, "total_cycles": 9000, "explained_by": "deploy-2209", "evidence": ["e"]}
    assert SessionSharingAnomaly(**when, sessions=1, users=33, users_estimated=False, clients=5,
                                 user_keys=["a", "b"]).to_json() == {
        "kind": "session_sharing", **iso, "sessions": 1, "users": 33, "users_estimated": False, "clients": 5,
        "explained_by": None, "evidence": [], "user_keys": ["a", "b"]}
    events = MassInvalidationAnomaly(**when, users=1894, sessions=None, clients=None, peak_users=700,
                                     peak_window_seconds=300, sources=["app_events"])
    assert list(events.to_json().items()) == [
        ("kind", "mass_invalidation"), *iso.items(), ("users", 1894), ("sessions", None), ("clients", None),
        ("peak_users", 700), ("peak_window_seconds", 300), ("explained_by", None), ("evidence", []),
        ("sources", ["app_events"])]
    logs = MassInvalidationAnomaly(**when, users=80, users_estimated=True, sessions=90, clients=85,
                                   peak_sessions=40, peak_window_seconds=300, sources=["access_logs"])
    assert list(logs.to_json()) == ["kind", "start", "end", "users", "users_estimated", "sessions", "clients",
                                    "peak_sessions", "peak_window_seconds", "explained_by", "evidence", "sources"]
    device = CrossAccountEnrollmentAnomaly(**when, device="d1", users=5)
    assert device.to_json() == {"kind": "cross_account_enrollment", **iso, "device": "d1", "users": 5,
                                "explained_by": None, "evidence": []}
    assert (device.size, device.unit, logs.size, logs.unit) == (5, "accounts", 80, "users")


def test_the_registry_declares_each_detectors_settings():
    assert set(DETECTORS) == {"session_sharing", "logout_loop", "mass_invalidation", "cross_account_enrollment"}
    for name, cls in DETECTORS.items():
        assert issubclass(cls, Detector) and cls.name == name
        settings = cls.settings_class()  # every threshold has a default
        assert dataclasses.is_dataclass(settings)
        assert settings.__dataclass_params__.frozen
        assert all(f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
                   for f in dataclasses.fields(settings))
        assert cls().settings == settings  # defaults when none are given
        custom = dataclasses.replace(settings)
        assert cls(custom).settings is custom


def test_detectors_take_the_engine_and_settings(samples):
    lake, analysis = samples["mfa"]
    engine = Lake(lake).engine()
    start, end = analysis.window
    found = detect_all(engine, start, end, analysis.changes)
    assert [a.to_json() for a in found] == [a.to_json() for a in analysis.anomalies]
    strict = {"cross_account_enrollment": DETECTORS["cross_account_enrollment"].settings_class(min_users=10**6)}
    assert "cross_account_enrollment" not in {a.kind for a in detect_all(engine, start, end, analysis.changes, strict)}


def test_rank_returns_a_ranking_the_report_is_built_from(samples):
    lake, analysis = samples["archive"]
    assert isinstance(analysis, Analysis) and analysis.spikes
    report = analysis.spikes[0]
    engine = Lake(lake).engine()
    changes = all_changes(Lake(lake), report.spike.onset - timedelta(hours=2), analysis.window[1], engine=engine)
    ranking = rank(engine, report.spike, changes, analysis.bucket_seconds)
    assert isinstance(ranking, Ranking)
    again = SpikeReport.of(report.spike, ranking)
    assert again.to_json() == report.to_json()


def test_analyze_json_is_the_typed_results_json(samples):
    """``analyze --json`` prints ``Analysis.to_json()``: spikes and anomalies through their own ``to_json``."""
    lake, analysis = samples["archive"]
    out = CliRunner().invoke(cli, ["analyze", "--lake", str(lake), "--json"])
    assert out.exit_code == 0, out.output
    doc = json.loads(out.output)
    assert doc == json.loads(json.dumps(analysis.to_json()))
    assert doc["spikes"] == [r.to_json() for r in analysis.spikes]


# --- each kind words itself -------------------------------------------------------------------------------------

def test_each_kind_words_its_own_size_and_counts():
    """``anomaly_size`` is the anomaly's own ``describe()``; ``headline_counts`` are the nightly finding's counts."""
    when = {"start": T0, "end": T0 + timedelta(minutes=15)}
    loop = LogoutLoopAnomaly(**when, clients=4, users=4, sessions=None, max_cycles=7, window_seconds=600,
                             total_cycles=9)
    shared = SessionSharingAnomaly(**when, sessions=1, users=0, users_estimated=True, clients=3)
    wiped = MassInvalidationAnomaly(**when, users=80, users_estimated=True, sessions=90, clients=85,
                                    peak_sessions=40, peak_window_seconds=300)
    device = CrossAccountEnrollmentAnomaly(start=T0, end=T0, device="d1", users=5)
    for a in (loop, shared, wiped, device):
        assert anomaly_size(a) == a.describe()
    assert loop.describe() == "4 clients looping, up to 7 logout/login cycles per client within 10 min"
    assert shared.size_text() == "1 session used from up to 3 client addresses at once"
    assert wiped.describe() == "80 users hit by session errors over 15 min"
    assert device.describe() == "one device on 5 accounts"  # a single moment has no period
    # keyed as the JSON keys them, unknown (None) counts left out
    assert loop.headline_counts() == {"users": 4, "clients": 4, "max_cycles": 7}
    assert shared.headline_counts() == {"sessions": 1, "users": 0, "clients": 3}
    assert wiped.headline_counts() == {"sessions": 90, "users": 80, "clients": 85}
    assert device.headline_counts() == {"users": 5}
    for a in (loop, shared, wiped, device):
        assert all(a.to_json()[k] == v for k, v in a.headline_counts().items())


def test_nightly_findings_name_each_anomalys_counts(samples):
    _, analysis = samples["mfa"]
    lines, _, anomalies = _findings(analysis, analysis.window[0])
    assert anomalies == len(analysis.anomalies) > 0
    loop = next(a for a in analysis.anomalies if a.kind == "logout_loop")
    assert (f"anomaly logout_loop {loop.to_json()['start']} users={loop.users} clients={loop.clients} "
            f"max_cycles={loop.max_cycles} explained_by={loop.explained_by}") in lines


# --- the notebook summary -----------------------------------------------------------------------------------------

SCRIPT = "<script>alert(1)</script>"
IMG = '<img src=x onerror="alert(2)">'


def test_notebook_summary_shows_the_analysis(samples):
    _, analysis = samples["archive"]
    html = analysis._repr_html_()
    assert f"<b>{analysis.requests:,}</b> requests, <b>{analysis.session_errors:,}</b> session errors" in html
    assert f"{len(analysis.spikes)} spike(s)" in html
    report = analysis.spikes[0]
    assert f"<h4>{escape(headline(report, analysis.display_tz))}</h4>" in html
    top = report.suspects[0]
    assert f"<tr><td>{escape(top.change.id)}</td><td>{escape(top.role)}" in html
    assert f"<td>{top.score:.2f}</td>" in html
    assert "<p>where: " in html and "of errors)" in html
    _, geo = samples["geocaching"]
    sharing = next(a for a in geo.anomalies if a.kind == "session_sharing")
    assert f"⚠ <b>session_sharing</b> {sharing.to_json()['start']}: " in geo._repr_html_()
    empty = dataclasses.replace(analysis, verdict="no-data", spikes=[], anomalies=[])
    assert empty._repr_html_().startswith("<p><b>no-data</b>: ")


def test_notebook_summary_escapes_hostile_text(samples):
    _, analysis = samples["archive"]
    report = analysis.spikes[0]
    top = report.suspects[0]
    hostile_change = dataclasses.replace(top.change, id=f"deploy-{IMG}", label=f"v2 {SCRIPT}")
    suspects = [dataclasses.replace(top, change=hostile_change, evidence=[f"deployed {IMG}", SCRIPT]),
                *report.suspects[1:]]
    anomaly = SessionSharingAnomaly(start=T0, end=T0, sessions=1, users=3, users_estimated=False, clients=3,
                                    evidence=[f"began after {hostile_change.id} ({hostile_change.label})"])
    hostile = dataclasses.replace(analysis, spikes=[dataclasses.replace(report, suspects=suspects,
                                                                        explained_by=hostile_change.id)],
                                  anomalies=[anomaly])
    html = hostile._repr_html_()
    assert "<script" not in html and "<img" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=&#34;alert(2)&#34;&gt;" in html
    # in each place it shows: the headline (the cause's label), the suspect's id and evidence, the anomaly's evidence
    headline_html = html.split("<h4>")[1].split("</h4>")[0]
    assert "v2 &lt;script&gt;" in headline_html
    assert "<tr><td>deploy-&lt;img " in html
    assert "<td>deployed &lt;img src=x onerror=&#34;alert(2)&#34;&gt;; &lt;script&gt;" in html
    assert "⚠ <b>session_sharing</b> 2024-05-07T10:00:00Z: began after deploy-&lt;img " in html
