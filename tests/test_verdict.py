"""The verdict: an analysis says when it cannot judge, instead of a false all-clear.

Real Apache logs carry no session cookie, no user and match no session-error
rule: `no-signal`, exit 4. A window outside the data, a lake of app events
only, an empty lake: `no-data`, exit 4, with the lake's time range.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from sessionlens import Lake, analyze, ingest
from sessionlens.changes.model import iso
from sessionlens.cli import cli

from .conftest import REAL, ROOT, needs_shared

APACHE = REAL / "elastic_apache_logs" / "apache_logs"


def _run(*args: str):
    result = CliRunner().invoke(cli, ["analyze", *args])
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def apache_lake(tmp_path_factory):
    if not APACHE.exists():
        pytest.skip("../shared/data/real is not beside the repo")
    lake = tmp_path_factory.mktemp("apache") / "lake"
    ingest(lake, [str(APACHE)])
    return lake


def _range(lake) -> tuple[str, str, int]:
    lo, hi, n = Lake(lake).sql("SELECT min(ts), max(ts), count(*) FROM requests").fetchall()[0]
    return iso(lo), iso(hi), n


@needs_shared
def test_real_apache_logs_are_no_signal_not_normal(apache_lake):
    code, out = _run("--lake", str(apache_lake), "--json")
    doc = json.loads(out)
    assert code == 4, out
    assert doc["verdict"] == "no-signal"
    detail = doc["verdict_detail"]
    # it says which signals are missing: all three
    for column in ("session_key", "user_key", "error_kind"):
        assert column in detail, detail
    assert doc["totals"]["requests"] == _range(apache_lake)[2] == 9_999
    assert doc["spikes"] == [] and doc["baseline"] is None
    # the terminal says it in one sentence, never "normal"
    code, out = _run("--lake", str(apache_lake))
    assert code == 4
    flat = " ".join(out.split())
    assert "Cannot judge:" in flat and "session cookie" in flat and "No spike" not in flat
    assert flat.count("Cannot judge") == 1


@needs_shared
def test_real_apache_logs_with_a_user_are_a_signal(tmp_path):
    """A window that names users carries a session signal: `normal`, and the detail says what is missing."""
    lines = APACHE.read_text(errors="replace").splitlines(keepends=True)[:2000]
    src = tmp_path / "access.log"
    src.write_text("".join(line.replace(" - - [", " - frank [", 1) if i % 3 == 0 else line
                           for i, line in enumerate(lines)))
    ingest(tmp_path / "lake", [str(src)])
    code, out = _run("--lake", str(tmp_path / "lake"), "--json")
    doc = json.loads(out)
    assert code == 0 and doc["verdict"] == "normal"
    assert "session_key" in doc["verdict_detail"] and "error_kind" in doc["verdict_detail"]
    assert "user_key" not in doc["verdict_detail"]
    code, out = _run("--lake", str(tmp_path / "lake"))
    assert code == 0 and "no session error could show" in " ".join(out.split())


@needs_shared
def test_window_after_the_data_is_no_data_with_the_lakes_range(apache_lake):
    first, last, _ = _range(apache_lake)
    code, out = _run("--lake", str(apache_lake), "--json", "--since", "2016-01-01T00:00:00Z")
    doc = json.loads(out)
    assert code == 4 and doc["verdict"] == "no-data", out
    assert doc["totals"]["requests"] == 0 and doc["spikes"] == []
    assert first in doc["verdict_detail"] and last in doc["verdict_detail"], doc["verdict_detail"]
    assert doc["window"]["start"] == "2016-01-01T00:00:00Z"
    # before the data, and both ends outside it, too
    for args in (["--until", "2015-01-01"], ["--since", "2014-01-01", "--until", "2014-02-01"]):
        code, out = _run("--lake", str(apache_lake), "--json", *args)
        doc = json.loads(out)
        assert code == 4 and doc["verdict"] == "no-data" and first in doc["verdict_detail"], out
    code, out = _run("--lake", str(apache_lake), "--since", "2016-01-01")
    flat = " ".join(out.split())
    assert code == 4 and "No data:" in flat and "2015-05-17 10:05 UTC" in flat, flat
    assert "normal" not in flat


@needs_shared
def test_no_data_in_the_display_zone(apache_lake):
    code, out = _run("--lake", str(apache_lake), "--since", "2016-01-01", "--tz", "America/New_York")
    flat = " ".join(out.split())
    # 2015-05-17 10:05 UTC is 06:05 EDT; 2016-01-01 00:00 (New York) is EST
    assert code == 4 and "2015-05-17 06:05 -04:00" in flat and "2016-01-01 00:00 -05:00" in flat, flat


def test_lake_of_app_events_only_is_no_data_not_an_error(tmp_path):
    ingest(tmp_path / "lake", [str(ROOT / "sample_logs" / "mfa" / "logs" / "events.jsonl.gz")])
    result = analyze(tmp_path / "lake")  # raised LakeError before
    doc = result.to_json()
    assert doc["verdict"] == "no-data" and doc["totals"]["requests"] == 0
    assert "app events" in doc["verdict_detail"] and "2024-03-04T" in doc["verdict_detail"]
    # the events still show what a rate cannot
    assert {a["kind"] for a in doc["anomalies"]} >= {"cross_account_enrollment"}
    code, out = _run("--lake", str(tmp_path / "lake"), "--json")
    assert code == 4 and json.loads(out)["verdict"] == "no-data"


def test_empty_lake_is_no_data(tmp_path):
    Lake(tmp_path / "lake", create=True)
    code, out = _run("--lake", str(tmp_path / "lake"), "--json")
    doc = json.loads(out)
    assert code == 4 and doc["verdict"] == "no-data"
    assert "no requests or app events" in doc["verdict_detail"]
    assert _run("--lake", str(tmp_path / "nolake"))[0] == 1  # no lake at all stays an error


def test_exit_codes_are_documented():
    out = CliRunner().invoke(cli, ["analyze", "--help"]).output
    assert "Exit codes" in out and "no-signal" in out and "no-data" in out
    docs = (ROOT / "docs" / "analysis.md").read_text()
    assert "## Verdict" in docs and "exit" in docs.lower()


def test_reports_never_print_an_all_clear_without_signal(tmp_path):
    from click.testing import CliRunner

    from sessionlens import ingest
    from sessionlens.cli import cli

    from .conftest import REAL

    if not REAL.exists():
        import pytest

        pytest.skip("../shared/data/real is not beside the repo")
    ingest(tmp_path / "lake", [str(REAL / "logparser_hackers_access" / "hackers-access.log")])
    for name in ("r.html", "r.md"):
        result = CliRunner().invoke(cli, ["report", "--lake", str(tmp_path / "lake"), "--out", str(tmp_path / name)])
        assert result.exit_code == 4, result.output  # written, but no all-clear for a scheduler
        assert "no-signal" in result.output
        text = (tmp_path / name).read_text()
        assert "Cannot judge" in text and "stayed within what is normal" not in text


def test_nightly_without_session_signal_says_it_cannot_judge(tmp_path):
    """A night of logs with no session cookie, user or rule match is no "nothing unusual" night."""
    from sessionlens.samples.traps import no_signal

    no_signal(tmp_path / "gen")
    inbox = tmp_path / "gen" / "logs"
    r = CliRunner().invoke(cli, ["nightly", "--inbox", str(inbox), "--lake", str(tmp_path / "lake"),
                                 "--out", str(tmp_path / "out")])
    assert r.exit_code == 4, r.output
    assert "nothing unusual" not in r.output and "no-signal:" in r.output
    index = (tmp_path / "out" / "index.html").read_text()
    assert "cannot judge (no-signal)" in index and "nothing unusual" not in index
