"""Typed results: anomalies with a size and its unit, their JSON as the contract shapes it, detector settings."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timedelta, timezone

import pytest
from click.testing import CliRunner

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
from sessionlens.analysis.pipeline import analyze
from sessionlens.analysis.result import Analysis, SpikeReport
from sessionlens.analysis.suspects import Ranking
from sessionlens.changes import all_changes, import_markers
from sessionlens.cli import cli
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
