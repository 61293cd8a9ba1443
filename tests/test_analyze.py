"""Analysis: the sample incidents, the trap scenarios, and the JSON contract."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from click.testing import CliRunner

from sessionlens.analysis.pipeline import analyze
from sessionlens.cli import cli
from sessionlens.samples import INCIDENTS, generate
from sessionlens.samples.traps import TRAPS, generate_trap

from .conftest import scenario_lake

_prepared = scenario_lake


@pytest.fixture(scope="module")
def incidents(tmp_path_factory):
    out = {}
    for name in INCIDENTS:
        truth, lake = _prepared(tmp_path_factory.mktemp(name), lambda p, n=name: generate(n, p, seed=7, scale=1.0))
        out[name] = (truth, lake, analyze(lake).to_json())
    return out


def _t(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.mark.parametrize("name", sorted(INCIDENTS))
def test_incident_spike_and_cause(incidents, name):
    truth, _, doc = incidents[name]
    assert len(doc["spikes"]) == 1, [s["onset"] for s in doc["spikes"]]
    spike = doc["spikes"][0]
    want = truth["spike"]
    bucket = timedelta(seconds=doc["bucket_seconds"])  # the onset is known to the bucket
    assert _t(want["onset_after"]) - bucket <= _t(spike["onset"]) <= _t(want["onset_before"])
    assert _t(want["ends_after"]) <= _t(spike["end"]) <= _t(want["ends_before"])
    assert spike["explained_by"] == truth["cause"]
    assert spike["suspects"][0]["change_id"] == truth["cause"] and spike["suspects"][0]["role"] == "cause"
    assert spike["peak_rate"] > 10 * spike["baseline_rate"]


def test_archive_responses_and_segments(incidents):
    truth, _, doc = incidents["archive"]
    spike = doc["spikes"][0]
    by_id = {s["change_id"]: s for s in spike["suspects"]}
    for cid, effect in truth["responses"].items():
        assert by_id[cid]["role"] == "response" and by_id[cid]["effect"] == effect, cid
    # the cache and worker toggles are responses, never the cause
    for cid in ("cf-audit-2001", "cf-audit-2002", "cf-audit-2003", "cf-audit-2004", "rollback-1042"):
        assert by_id[cid]["role"] == "response"
    assert spike["segments"][0] == {**spike["segments"][0], "dimension": "cookie_format", "value": "rails-encrypted-gcm"}
    # the inferred rolling deploy and new cookie format are folded into the written deploy
    assert not any(s["change_id"].startswith("inferred:version:v1.41.0") for s in spike["suspects"])
    evidence = " ".join(by_id["deploy-1041"]["evidence"])
    assert "cookie_format" in evidence and "p <" in evidence


def test_json_document_shape(incidents):
    _, _, doc = incidents["archive"]
    # the contract's fields in order; later fields are additions (still_abnormal: ending.py)
    assert list(doc)[:9] == ["schema_version", "verdict", "verdict_detail", "window", "baseline", "bucket_seconds",
                             "totals", "spikes", "anomalies"]
    assert isinstance(doc["still_abnormal"], list) and all(isinstance(x, str) for x in doc["still_abnormal"])
    assert doc["verdict"] == "spike" and isinstance(doc["verdict_detail"], str)
    assert set(doc["baseline"]) == {"start", "end"}
    assert doc["schema_version"] == 1 and set(doc["totals"]) == {"requests", "session_errors", "rejected_lines"}
    spike = doc["spikes"][0]
    assert list(spike)[:11] == ["id", "start", "end", "onset", "peak_rate", "baseline_rate", "session_errors",
                                "requests", "explained_by", "suspects", "segments"]
    assert spike["segment"] is None  # a spike of the overall rate
    for s in spike["suspects"]:
        assert {"change_id", "kind", "label", "at", "role", "score", "evidence"} <= set(s)
        assert s["role"] in ("cause", "response", "unrelated") and 0 <= s["score"] <= 1
        assert ("effect" in s) == (s["role"] == "response")
        assert s["effect"] in (None, "helped", "hurt", "none") if "effect" in s else True
    assert [s["score"] for s in spike["suspects"] if s["role"] == "cause"] == sorted(
        [s["score"] for s in spike["suspects"] if s["role"] == "cause"], reverse=True)
    for g in spike["segments"]:
        assert set(g) == {"dimension", "value", "error_share", "request_share", "rate"}
    for key in ("start", "end", "onset"):
        assert spike[key].endswith("Z")


class _Traps(dict):
    """Each trap generated, ingested and analysed once, when a test first asks for it."""

    def __init__(self, factory):
        super().__init__()
        self.factory = factory

    def __missing__(self, name):
        base = self.factory.mktemp(name)
        expected, lake = _prepared(base, lambda p: generate_trap(name, p))
        self[name] = (expected, analyze(lake, **expected.get("analyze", {})).to_json(), lake)
        return self[name]


@pytest.fixture(scope="module")
def traps(tmp_path_factory):
    return _Traps(tmp_path_factory)


@pytest.mark.parametrize("name", sorted(TRAPS))
def test_trap(traps, name):
    expected, doc, _ = traps[name]
    spikes = doc["spikes"]
    assert len(spikes) == expected["spikes"], [(s["onset"], s["end"], s.get("segment")) for s in spikes]
    assert doc["verdict"] == expected.get("verdict", "spike" if spikes else "normal")
    if not spikes:
        return
    if "spike_segment" in expected:
        assert spikes[0]["segment"] == expected["spike_segment"]
    wanted = expected.get("explained_by")
    got = [s["explained_by"] for s in spikes]
    assert got == (wanted if isinstance(wanted, list) else [wanted])
    if "onset_after" in expected:
        assert _t(expected["onset_after"]) <= _t(spikes[0]["onset"]) <= _t(expected["onset_before"])
    for cid, role in expected.get("roles", {}).items():
        assert next(s for s in spikes[0]["suspects"] if s["change_id"] == cid)["role"] == role
    if "segment" in expected:
        dims = [(g["dimension"], g["value"]) for g in spikes[0]["segments"]]
        want = expected["segment"]
        assert any(d == want["dimension"] and ("value" not in want or v == want["value"]) for d, v in dims), dims


def test_cli_analyze_json_and_fail_on(incidents, tmp_path):
    _, lake, doc = incidents["geocaching"]
    runner = CliRunner()
    out = runner.invoke(cli, ["analyze", "--lake", str(lake), "--json"])
    assert out.exit_code == 0 and json.loads(out.output) == doc
    failing = runner.invoke(cli, ["analyze", "--lake", str(lake), "--json", "--fail-on", "spike"])
    assert failing.exit_code == 3
    human = runner.invoke(cli, ["analyze", "--lake", str(lake)])
    assert human.exit_code == 0 and "most likely cause: config-apt-upgrade" in human.output
    narrowed = runner.invoke(cli, ["analyze", "--lake", str(lake), "--json", "--since", "2022-06-19T00:00:00Z",
                                   "--until", "2022-06-21T12:00:00Z", "--fail-on", "spike"])
    assert narrowed.exit_code == 0 and json.loads(narrowed.output)["spikes"] == []
    bad = runner.invoke(cli, ["analyze", "--lake", str(lake), "--since", "the day before"])
    assert bad.exit_code == 1 and "unreadable time" in bad.output
    empty = runner.invoke(cli, ["analyze", "--lake", str(tmp_path / "nolake")])
    assert empty.exit_code == 1 and "no lake here" in empty.output


def test_reader_connections_never_draw_a_progress_bar(tmp_path):
    """DuckDB draws one on stdout for queries over ~2 s, which would corrupt --json."""
    from sessionlens import Lake

    lake = Lake(tmp_path / "lake", create=True)
    assert lake.connect().sql("SELECT current_setting('enable_progress_bar')").fetchall()[0][0] is False


def test_lake_query_by_name_with_identifiers(incidents):
    from sessionlens import Lake

    _, lake, _ = incidents["archive"]
    shares = Lake(lake).query("segment_shares", start="2023-09-19T16:00Z", end="2023-09-19T19:00Z", dimension="host")
    assert set(shares.columns) >= {"value", "errors", "requests", "error_share"} and shares.height == 8
    assert Lake(lake).frame("requests", 5).height == 5


# --- verdict and baseline from history -------------------------------------------------


@pytest.mark.parametrize("name", sorted(INCIDENTS))
def test_incident_verdict_is_spike(incidents, name):
    _, _, doc = incidents[name]
    assert doc["verdict"] == "spike" and doc["spikes"]
    assert doc["spikes"][0]["onset"] in doc["verdict_detail"]


def _ratio(spike: dict) -> float:
    return spike["peak_rate"] / spike["baseline_rate"]


def test_zooming_in_keeps_the_spike_and_its_baseline(incidents):
    """--since/--until choose what is reported, never what counts as normal."""
    _, lake, full = incidents["archive"]
    whole = full["spikes"][0]
    zoom = analyze(lake, "2023-09-19T16:00:00Z", "2023-09-19T17:00:00Z").to_json()
    assert zoom["verdict"] == "spike" and len(zoom["spikes"]) == 1, zoom["spikes"]
    spike = zoom["spikes"][0]
    assert spike["onset"] == whole["onset"] and spike["start"] == whole["start"]
    assert spike["end"] == "2023-09-19T17:00:00Z"  # clipped to the window
    assert spike["explained_by"] == whole["explained_by"] == "deploy-1041"
    # the baseline comes from the days before, not from inside the window
    assert zoom["baseline"] == {"start": full["window"]["start"], "end": "2023-09-19T17:00:00Z"}
    assert spike["baseline_rate"] < 0.005 and 0.5 < _ratio(spike) / _ratio(whole) < 2, (spike, whole)
    # from 15:00 on: the same spike as the whole run, not "10x from 16:16"
    later = analyze(lake, "2023-09-19T15:00:00Z").to_json()
    assert [(s["onset"], s["end"]) for s in later["spikes"]] == [(whole["onset"], whole["end"])]
    assert later["spikes"][0]["baseline_rate"] == whole["baseline_rate"]


def test_spike_that_began_before_the_window_keeps_its_onset(incidents):
    _, lake, full = incidents["archive"]
    result = analyze(lake, "2023-09-19T16:30:00Z", "2023-09-19T17:30:00Z")
    doc = result.to_json()
    assert [s["onset"] for s in doc["spikes"]] == [full["spikes"][0]["onset"]]
    assert doc["spikes"][0]["onset"] < doc["window"]["start"]
    assert "before the window" in doc["verdict_detail"] and "before the window" in result.spikes[0].notes[0]


def test_window_after_a_spike_is_normal(incidents):
    _, lake, _ = incidents["archive"]
    runner = CliRunner()
    out = runner.invoke(cli, ["analyze", "--lake", str(lake), "--json", "--since", "2023-09-19T20:00:00Z"])
    doc = json.loads(out.output)
    assert out.exit_code == 0 and doc["verdict"] == "normal" and doc["spikes"] == []
    assert doc["baseline"]["start"] < doc["window"]["start"]
    quiet = runner.invoke(cli, ["analyze", "--lake", str(lake), "--since", "2023-09-18", "--until", "2023-09-19"])
    assert quiet.exit_code == 0 and "No spike" in quiet.output


def test_window_header_in_the_display_zone(incidents):
    _, lake, _ = incidents["archive"]
    runner = CliRunner()
    # an offset is honoured and the header says the same instant in UTC
    out = runner.invoke(cli, ["analyze", "--lake", str(lake), "--since", "2023-09-19T18:00:00+02:00",
                              "--until", "2023-09-19T19:00:00+02:00"])
    assert out.exit_code == 0 and "2023-09-19 16:00 - 17:00 UTC" in out.output, out.output
    # --tz: naive times are Berlin's, the terminal speaks Berlin, the JSON stays UTC
    berlin = ["analyze", "--lake", str(lake), "--since", "2023-09-19 18:00", "--until", "2023-09-19 19:00",
              "--tz", "Europe/Berlin"]
    out = runner.invoke(cli, berlin)
    flat = " ".join(out.output.split())
    assert out.exit_code == 0 and "2023-09-19 18:00 +02:00 - 19:00 +02:00 (Europe/Berlin)" in flat, flat
    assert "from 2023-09-19 18:10 +02:00" in flat  # the headline's onset
    doc = json.loads(runner.invoke(cli, berlin + ["--json"]).output)
    assert doc["window"] == {"start": "2023-09-19T16:00:00Z", "end": "2023-09-19T17:00:00Z"}
    assert doc["spikes"][0]["onset"] == "2023-09-19T16:10:00Z"


@pytest.mark.parametrize("name", ["no_signal", "empty_window"])
def test_cannot_judge_traps_exit_4_from_the_cli(traps, name):
    expected, doc, lake = traps[name]
    args = ["analyze", "--lake", str(lake), "--json"]
    for key, value in expected.get("analyze", {}).items():
        args += [f"--{key}", value]
    out = CliRunner().invoke(cli, args)
    assert out.exit_code == 4, out.output
    assert json.loads(out.output)["verdict"] == expected["verdict"]


def test_narrowed_window_keeps_the_baseline_from_before(traps):
    expected, doc, _ = traps["narrow_window"]
    assert _t(doc["baseline"]["start"]) < _t(expected["analyze"]["since"]) - timedelta(hours=12)
    spike = doc["spikes"][0]
    assert spike["baseline_rate"] < 0.005 and spike["session_errors"] / spike["requests"] > 0.1


def test_segment_spike_counts_are_the_segments(traps):
    _, doc, lake = traps["canary_one_host"]
    spike = doc["spikes"][0]
    con = __import__("sessionlens.lake.store", fromlist=["Lake"]).Lake(lake).connect()
    n, e = con.execute("SELECT count(*), count(error_kind) FROM requests WHERE host = 'web04' AND ts >= ? AND ts < ?",
                       [_t(spike["start"]), _t(spike["end"])]).fetchone()
    assert (spike["requests"], spike["session_errors"]) == (n, e)
    overall = con.execute("SELECT count(error_kind) / count(*) FROM requests WHERE ts >= ? AND ts < ?",
                          [_t(spike["start"]), _t(spike["end"])]).fetchone()[0]
    assert overall < 3 * 0.004 < spike["session_errors"] / spike["requests"] / 2  # the overall rate hardly moved
