"""Explained in words: the headline, the score legend, what is still abnormal at the end, anomaly sizes."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from typing import ClassVar

import pytest
from markupsafe import escape as markup_escape
from rich.console import Console

from sessionlens import Lake, ingest
from sessionlens.analysis.anomalies.result import (
    Anomaly,
    CrossAccountEnrollmentAnomaly,
    LogoutLoopAnomaly,
    MassInvalidationAnomaly,
    SessionSharingAnomaly,
)
from sessionlens.analysis.headline import headline
from sessionlens.analysis.pipeline import analyze
from sessionlens.analysis.text import anomaly_size, duration, pct, times
from sessionlens.changes.store import import_markers
from sessionlens.lake.engine import DuckDBEngine
from sessionlens.report.html import render_html
from sessionlens.report.markdown import render_markdown
from sessionlens.report.terminal import ENDING_TITLE, print_summary
from sessionlens.samples import generate
from sessionlens.samples.traps import BASE_ERROR, generate_trap, simulate

REMNANT_UNTIL = "2023-09-19 18:30"  # after the manual rollback, before the clean redeploy: web04 is left on v1.41.0


def _lake(base, make) -> str:
    make(base / "inc")
    ingest(base / "lake", [str(base / "inc" / "logs")])
    markers = base / "inc" / "markers"
    if markers.is_dir():
        import_markers(base / "lake", [str(p) for p in sorted(markers.iterdir())])
    return str(base / "lake")


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    lake = _lake(tmp_path_factory.mktemp("archive"), lambda p: generate("archive", p, seed=7, scale=0.6))
    return lake, analyze(lake), analyze(lake, until=REMNANT_UNTIL)


def _terminal(analysis) -> str:
    console = Console(record=True, width=400, color_system=None)
    print_summary(analysis, console)
    return "\n".join(" ".join(line.split()) for line in console.export_text().splitlines())  # rich pads and wraps


# --- the headline ---------------------------------------------------------------------------------------------

def test_headline_names_the_change_by_id_and_label(archive):
    _, full, _ = archive
    report = full.spikes[0]
    assert report.explained_by == "deploy-1041"
    line = headline(report)
    assert 'most likely cause: deploy-1041 "Archive v1.41.0 (Rails 7 cookie changes)"' in line
    assert line.startswith("Session errors rose ")


def test_headline_has_one_multiple_and_it_agrees_with_the_spike_numbers(archive):
    _, full, _ = archive
    report = full.spikes[0]
    s, line = report.spike, headline(report)
    multiples = re.findall(r"\b\d+(?:\.\d)?x\b", line)
    assert len(multiples) == 1, line  # the peak is a rate, not a second multiple
    rate = s.session_errors / s.requests
    assert multiples[0] == times(rate, s.baseline_rate)
    assert abs(float(multiples[0][:-1]) - rate / s.baseline_rate) <= 0.5 + 0.01 * rate / s.baseline_rate
    assert f"({pct(s.baseline_rate)} -> {pct(rate)} over the spike, peak {pct(s.peak_rate)})" in line
    # the JSON carries the numbers the headline is computed from
    doc = full.to_json()["spikes"][0]
    assert doc["session_errors"] == s.session_errors and doc["requests"] == s.requests
    assert times(doc["session_errors"] / doc["requests"], doc["baseline_rate"]) == multiples[0]


def test_headline_is_the_same_sentence_everywhere(archive):
    lake, full, _ = archive
    line = headline(full.spikes[0])
    engine = DuckDBEngine(Lake(lake).connect())
    assert line in _terminal(full)
    assert markup_escape(line) in render_html(engine, full)  # Jinja2's autoescape
    assert markup_escape(line) in full._repr_html_()  # the notebook summary too


def test_headline_without_a_cause_says_what_the_errors_share(archive):
    _, full, _ = archive
    report = replace(full.spikes[0], explained_by=None)
    line = headline(report)
    top = report.segments[0]
    assert "no change explains it; the errors have in common:" in line
    assert f"{top.dimension} {top.value} ({pct(top.error_share)} of errors" in line
    assert "no segment" in headline(replace(report, segments=[]))


def test_headline_of_a_spike_confined_to_a_segment(archive):
    _, full, _ = archive
    spike = SimpleNamespace(**{**vars(full.spikes[0].spike), "segment": ("host", "web07")})
    line = headline(replace(full.spikes[0], spike=spike))
    assert line.startswith("Session errors on host web07 rose ")


# --- the score legend -----------------------------------------------------------------------------------------

def test_score_is_explained_where_it_is_shown(archive, tmp_path):
    lake, full, _ = archive
    engine = DuckDBEngine(Lake(lake).connect())
    legend = re.compile(r"score \(0 to 1, causes only\) = timing x \(0\.45 rate jump \+ 0\.55 link\).*"
                        r"explains the spike from 0\.50", re.S)
    assert legend.search(" ".join(_terminal(full).split()))
    assert legend.search(render_html(engine, full))
    md = render_markdown(engine, full, tmp_path / "r.md")
    assert legend.search(md)
    # under the suspects table, not somewhere else
    table_end = max(i for i, line in enumerate(md.splitlines()) if line.startswith("| **"))
    assert "score (0 to 1" in md.splitlines()[table_end + 2]


# --- what is still abnormal at the end of the data ------------------------------------------------------------

def test_the_host_left_on_the_new_version_is_said_in_words(archive, tmp_path):
    lake, _, during = archive
    found = [s for s in during.still_abnormal if s.startswith("web04 ")]
    assert found, during.still_abnormal
    sentence = found[0]
    assert "web04 still runs v1.41.0 (the other hosts run v1.40.2)" in sentence
    m = re.search(r"is (\S+) theirs \((\S+%) vs (\S+%), last 30 min\)", sentence)
    assert m, sentence
    # the multiple is the two rates shown, computed one way: web04 against the other hosts, minute slice by slice
    con = Lake(lake).connect()
    end = datetime(2023, 9, 19, 18, 30, tzinfo=timezone.utc)
    last = con.execute("SELECT max(ts) FROM requests WHERE ts < $end", {"end": end}).fetchall()[0][0]
    e, n, expected = con.execute("""
        WITH s AS (SELECT time_bucket(to_seconds($slice), ts, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS slice,
                          host = 'web04' AS mine, error_kind FROM requests WHERE ts >= $start AND ts < $end),
             c AS (SELECT slice, count(*) FILTER (WHERE mine) AS n, count(error_kind) FILTER (WHERE mine) AS e,
                          count(*) FILTER (WHERE NOT mine) AS rn, count(error_kind) FILTER (WHERE NOT mine) AS re
                   FROM s GROUP BY slice)
        SELECT sum(e), sum(n), sum(n * re / rn) FROM c WHERE rn > 0""",
        {"slice": max(300, during.bucket_seconds), "start": last - timedelta(minutes=30), "end": end}).fetchall()[0]
    mine, rest = e / n, expected / n
    assert (m.group(1), m.group(2), m.group(3)) == (times(mine, rest), pct(mine), pct(rest))
    assert mine > 3 * rest
    # the overall rate is said against the open spike's baseline
    assert any(s.startswith("the overall session-error rate is still ") for s in during.still_abnormal)
    # in the JSON, the terminal, the HTML and the Markdown
    assert during.to_json()["still_abnormal"] == during.still_abnormal
    assert ENDING_TITLE in _terminal(during) and "web04 still runs v1.41.0" in _terminal(during)
    assert "web04 still runs v1.41.0" in render_html(DuckDBEngine(con), during)
    assert "web04 still runs v1.41.0" in render_markdown(DuckDBEngine(con), during, tmp_path / "d.md")


def test_nothing_is_still_abnormal_once_the_incident_is_over(archive):
    lake, full, _ = archive
    assert full.still_abnormal == []
    assert ENDING_TITLE not in _terminal(full)


@pytest.fixture(scope="module")
def quiet(tmp_path_factory):
    return _lake(tmp_path_factory.mktemp("quiet"), lambda p: generate_trap("quiet", p, scale=0.5))


@pytest.mark.parametrize("until", [None, "2024-05-07 10:30", "2024-05-07 12:30", "2024-05-07 15:30"])
def test_a_quiet_day_says_nothing(quiet, until):
    analysis = analyze(quiet, until=until)
    assert analysis.verdict == "normal" and analysis.still_abnormal == []


def _host_lake(base, error) -> str:
    return _lake(base, lambda p: simulate(p, 11, 2, 0.6, lambda t: 1.0, error))


@pytest.fixture(scope="module")
def hosts(tmp_path_factory):
    """web03 fails a fifth of its requests all along (not news); web05 turns bad for the last 90 minutes (news)."""
    turn = datetime(2024, 5, 7, 22, 30, tzinfo=timezone.utc)

    def always(t, host, client):
        return 0.2 if host == "web03" else BASE_ERROR

    def late(t, host, client):
        return 0.3 if host == "web05" and t >= turn else always(t, host, client)

    return (_host_lake(tmp_path_factory.mktemp("always"), always),
            _host_lake(tmp_path_factory.mktemp("late"), late))


def test_a_host_that_always_errs_more_is_not_news(hosts):
    assert analyze(hosts[0]).still_abnormal == []


def test_a_host_gone_bad_at_the_end_is_named(hosts):
    said = analyze(hosts[1]).still_abnormal
    ours = [s for s in said if s.startswith("web05")]
    assert ours and "the other hosts'" in ours[0] and "last 30 min" in ours[0], said
    assert not any("web03" in s for s in said), said


def test_no_multiple_of_nothing():
    import polars as pl

    from sessionlens.analysis.ending import EndingSettings, Finding, _words

    served = pl.DataFrame(schema={"host": pl.Utf8, "app_version": pl.Utf8, "tail_requests": pl.Int64,
                                  "before_requests": pl.Int64})
    [line] = _words([Finding("host", "web07", 30, 100, 0.0, 1.0, 1e-9)], served, "last 30 min", EndingSettings())
    assert line == "web07's session-error rate is 30% while the other hosts' is 0% (last 30 min)"


# --- anomaly sizes: unit and period ---------------------------------------------------------------------------

def _t(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@dataclass(kw_only=True)
class _NewKind(Anomaly):
    """A kind ``anomaly_size`` does not know yet."""

    kind: ClassVar[str] = "something_new"
    users: int

    @property
    def size(self) -> int:
        return self.users

    @property
    def unit(self) -> str:
        return "users"


@pytest.mark.parametrize("anomaly, expected", [
    (LogoutLoopAnomaly(start=_t("2024-05-07T10:00:00Z"), end=_t("2024-05-07T10:42:00Z"), clients=412, users=412,
                       sessions=None, max_cycles=57, window_seconds=600, total_cycles=9000),
     "412 clients looping, up to 57 logout/login cycles per client within 10 min"),
    (LogoutLoopAnomaly(start=_t("2024-05-07T10:00:00Z"), end=_t("2024-05-07T10:42:00Z"), clients=1, users=1,
                       sessions=None, max_cycles=7, window_seconds=0, total_cycles=7),
     "1 client looping, up to 7 logout/login cycles per client over 42 min"),
    (SessionSharingAnomaly(start=_t("2024-05-07T10:00:00Z"), end=_t("2024-05-07T13:00:00Z"), sessions=1, users=33,
                           users_estimated=False, clients=4),
     "1 session used by 33 distinct users over 3 h"),
    (SessionSharingAnomaly(start=_t("2024-05-07T10:00:00Z"), end=_t("2024-05-07T10:10:00Z"), sessions=2, users=0,
                           users_estimated=False, clients=9),
     "2 sessions used from up to 9 client addresses at once over 10 min"),
    (MassInvalidationAnomaly(start=_t("2024-05-07T10:00:00Z"), end=_t("2024-05-07T10:15:00Z"), users=1894,
                             peak_window_seconds=300),
     "1,894 users hit by session errors over 15 min"),
    (CrossAccountEnrollmentAnomaly(start=_t("2024-05-07T10:00:00Z"), end=_t("2024-05-07T10:00:00Z"), users=5,
                                   device="abc"),
     "one device on 5 accounts"),
    (_NewKind(start=_t("2024-05-07T10:00:00Z"), end=_t("2024-05-07T10:00:00Z"), users=4), "users 4"),
])
def test_anomaly_sizes_say_their_unit_and_period(anomaly, expected):
    assert anomaly_size(anomaly) == expected


@pytest.mark.parametrize("seconds, expected", [(40, "40 s"), (1800, "30 min"), (5400, "1 h 30 min"),
                                               (7200, "2 h"), (3 * 86400, "3 days")])
def test_duration(seconds, expected):
    assert duration(seconds) == expected


def test_times_is_the_one_multiple():
    assert times(0.13, 0.0011) == "118x" and times(0.03, 0.01) == "3.0x" and times(0.1, 0) == "from none"
    assert math.isclose(float(times(0.0881, 0.0013)[:-1]), 68, abs_tol=0.5)
