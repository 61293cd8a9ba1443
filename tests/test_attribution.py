"""Attribution: causes that act late or gradually, the exposure veto, and every response assessed.

The traps of ``sessionlens.samples.traps_causes`` go through ingest, marker
import and ``analyze`` as a user's data would; the ranking is also checked
against hand-placed onsets, so it is tested apart from spike detection.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from sessionlens.analysis.attribute import AttributeSettings, rank
from sessionlens.analysis.pipeline import analyze
from sessionlens.analysis.scope import delay_of, parse_duration, percent_of, rollouts
from sessionlens.analysis.spikes import Spike
from sessionlens.changes import Change, all_changes
from sessionlens.lake.store import Lake
from sessionlens.samples.traps import _at
from sessionlens.samples.traps_causes import CAUSE_TRAPS

from .conftest import scenario_lake

UTC = timezone.utc


_prepared = scenario_lake


@pytest.fixture(scope="module")
def traps(tmp_path_factory):
    out = {}
    for name, fn in CAUSE_TRAPS.items():
        truth, lake = _prepared(tmp_path_factory.mktemp(name), fn)
        out[name] = (truth, lake, analyze(lake).to_json())
    return out


def _t(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# --- reading a scope ---------------------------------------------------------------------


@pytest.mark.parametrize("text, seconds", [
    ("1h", 3600), ("3600", 3600), (3600, 3600), ("60m", 3600), ("PT1H", 3600), ("pt1h30m", 5400),
    ("1h30m", 5400), ("90s", 90), ("2 hours", 7200), ("1 hour 15 minutes", 4500), ("P1D", 86400), ("1.5h", 5400),
])
def test_durations(text, seconds):
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "soon", "P", "PT", "-1h", "1 fortnight", True, None, [1], "1h then 2m"])
def test_unreadable_durations_are_none(text):
    assert parse_duration(text) is None


def _change(cid, at, **scope) -> Change:
    return Change(id=cid, at=at, kind=scope.pop("kind", "config"), label=scope.pop("label", cid), scope=scope)


def test_delay_from_scope():
    t = datetime(2024, 5, 7, 13, tzinfo=UTC)
    s = AttributeSettings()
    assert delay_of(_change("a", t, grace_period="1h"), s) == (timedelta(hours=1), "grace_period 1h")
    assert delay_of(_change("b", t, ttl=1800), s)[0] == timedelta(minutes=30)
    assert delay_of(_change("c", t, effective_at="2024-05-07T14:30:00Z"), s)[0] == timedelta(minutes=90)
    assert delay_of(_change("d", t, hosts=["web01"]), s) is None
    assert delay_of(_change("e", t, ttl="30d"), s) is None  # beyond max_delay: not a delay to wait for


def test_percent_rollouts_group_by_series():
    t = datetime(2024, 5, 7, 14, tzinfo=UTC)
    steps = [_change(f"f{p}", t + timedelta(minutes=i * 30), kind="feature_flag", label=f"new login at {p}%", percent=f"{p}%")
             for i, p in enumerate((10, 50, 100))]
    other = _change("g", t, kind="feature_flag", label="dark mode 20%", percent=20)
    off = _change("f0", t + timedelta(hours=2), kind="feature_flag", label="new login at 0%", percent=0)
    assert [percent_of(c) for c in steps] == [10, 50, 100]
    assert {k: [c.id for c in v] for k, v in rollouts(steps + [other, off]).items()} == {"f10": ["f10", "f50", "f100"]}


# --- the traps, end to end ---------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(CAUSE_TRAPS))
def test_trap_cause_and_roles(traps, name):
    truth, _, doc = traps[name]
    spikes = doc["spikes"]
    assert len(spikes) == truth["spikes"], [(s["onset"], s["end"]) for s in spikes]
    spike = spikes[0]
    assert spike["explained_by"] == truth["explained_by"], [(s["change_id"], s["role"], s["score"]) for s in spike["suspects"]]
    by_id = {s["change_id"]: s for s in spike["suspects"]}
    onset = _t(spike["onset"]) + timedelta(seconds=doc["bucket_seconds"])
    for cid, role in truth.get("roles", {}).items():
        wanted = role if isinstance(role, list) else [role]
        if cid.startswith("flag-sso-") and cid != "flag-sso-off":
            # a rollout step is a response only when made after the detected onset
            wanted = ["response"] if _t(by_id[cid]["at"]) >= onset else ["cause"]
        assert by_id[cid]["role"] in wanted, (cid, by_id[cid])


@pytest.mark.parametrize("name", sorted(CAUSE_TRAPS))
def test_trap_effects(traps, name):
    truth, _, doc = traps[name]
    by_id = {s["change_id"]: s for s in doc["spikes"][0]["suspects"]}
    for cid, effect in truth.get("effects", {}).items():
        s = by_id[cid]
        if s["role"] != "response":
            continue  # a rollout step merged into the cause by a late onset (checked above)
        assert s["effect"] == effect, (cid, s["evidence"])
        # both rates and their counts are in the evidence
        assert s["evidence"][0].count("%") >= 2 and "/" in s["evidence"][0]


def test_every_change_to_the_end_plus_effect_window_is_assessed(traps):
    truth, lake, doc = traps["responses_after_end"]
    spike = doc["spikes"][0]
    window_end = _t(spike["end"]) + AttributeSettings().effect_window
    listed = {s["change_id"] for s in spike["suspects"]}
    for c in all_changes(Lake(lake)):
        if c.linked_to is None and _t(spike["onset"]) <= c.at <= window_end:
            assert c.id in listed, c.id
    late = [s for s in spike["suspects"] if _t(s["at"]) > _t(spike["end"])]
    assert late and all(s["role"] == "response" and s["effect"] in ("helped", "hurt", "none") for s in late)
    assert all("after the spike's end" in s["evidence"][0] for s in late)


def test_canary_ruled_out_by_exposure(traps):
    _, _, doc = traps["secret_rotation_grace"]
    spike = doc["spikes"][0]
    by_id = {s["change_id"]: s for s in spike["suspects"]}
    canary, rotation = by_id["canary-web03"], by_id["secret-rotation"]
    assert canary["score"] < AttributeSettings().explain_threshold < rotation["score"]
    assert any("errors spread evenly: host web03" in e for e in canary["evidence"]), canary["evidence"]
    assert any("takes effect 1 h after" in e and "grace_period" in e for e in rotation["evidence"]), rotation["evidence"]
    # the ruled-out canary is listed after causes and responses
    assert spike["suspects"][-1]["change_id"] == "canary-web03"


def test_fading_spike_does_not_credit_a_late_change(traps):
    _, _, doc = traps["natural_end"]
    purge = next(s for s in doc["spikes"][0]["suspects"] if s["change_id"] == "cache-purge")
    assert purge["effect"] == "none" and "already falling" in purge["evidence"][0]


# --- ranking against hand-placed onsets (apart from detection) ----------------------------


def _spike(onset: datetime, end: datetime) -> Spike:
    return Spike("spike-1", onset, end, onset, 0.1, 0.001, 100, 1000)


@pytest.mark.parametrize("onset_minute, responses", [(0, {"flag-sso-50", "flag-sso-100"}), (30, {"flag-sso-100"})])
def test_percent_rollout_is_named_by_its_first_step(traps, onset_minute, responses):
    _, lake, _ = traps["percent_rollout"]
    engine = Lake(lake).engine()
    changes = all_changes(Lake(lake), _at(1, 11), _at(1, 18), engine=engine)
    onset = _at(1, 14, onset_minute)
    ranking = rank(engine, _spike(onset, _at(1, 15, 40)), changes, 120)
    suspects, explained = ranking.suspects, ranking.explained_by
    assert explained == "flag-sso-10"
    roles = {s.change.id: s.role for s in suspects}
    assert {cid for cid, r in roles.items() if r == "response" and cid.startswith("flag-sso-") and cid != "flag-sso-off"} == responses
    head = next(s for s in suspects if s.change.id == "flag-sso-10")
    assert any("rose with each step" in e for e in head.evidence), head.evidence
    assert suspects[0].change.id == "flag-sso-10"


def test_rotation_without_its_grace_period_loses_to_nothing(traps):
    """Without the grace period the rotation is an hour before the onset: too far to explain it."""
    _, lake, _ = traps["secret_rotation_grace"]
    engine = Lake(lake).engine()
    changes = all_changes(Lake(lake), _at(1, 11), _at(1, 18), engine=engine)
    bare = [Change(**{**c.__dict__, "scope": {}}) if c.id == "secret-rotation" else c for c in changes]
    ranking = rank(engine, _spike(_at(1, 14), _at(1, 15)), bare, 120)
    suspects, explained = ranking.suspects, ranking.explained_by
    assert explained is None
    assert next(s for s in suspects if s.change.id == "secret-rotation").score < 0.3
