"""The one time parser of every command's time options, with a fixed "now"."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from click.testing import CliRunner

from sessionlens import Lake
from sessionlens.analysis.pipeline import parse_when
from sessionlens.cli import cli
from sessionlens.errors import InputError
from sessionlens.timeparse import fmt, fmt_span, parse_time, zone

UTC = timezone.utc
NOW = datetime(2023, 9, 19, 16, 30, 15, tzinfo=UTC)
AFTER_FALL_BACK = datetime(2023, 10, 30, 12, 0, tzinfo=UTC)  # Europe/Berlin left summer time on Oct 29
AFTER_SPRING = datetime(2023, 3, 27, 12, 0, tzinfo=UTC)  # ... and entered it on Mar 26


def u(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


TABLE = [
    # text, --tz, now, expected (UTC)
    ("2023-09-19T16:00:00Z", None, NOW, u(2023, 9, 19, 16)),
    ("2023-09-19T16:00:00z", None, NOW, u(2023, 9, 19, 16)),
    ("2023-09-19T15:00:00+02:00", None, NOW, u(2023, 9, 19, 13)),
    ("2023-09-19T15:00:00+02:00", "America/New_York", NOW, u(2023, 9, 19, 13)),  # an offset beats --tz
    ("2023-09-19T10:00-0500", None, NOW, u(2023, 9, 19, 15)),
    ("2023-09-19T16:00:00.250Z", None, NOW, u(2023, 9, 19, 16, 0, 0, 250000)),
    ("2023-09-19 16:00", None, NOW, u(2023, 9, 19, 16)),
    ("2023-09-19 16:00", "Europe/Berlin", NOW, u(2023, 9, 19, 14)),
    ("2023-09-19", None, NOW, u(2023, 9, 19)),
    ("2023-09-19", "Asia/Tokyo", NOW, u(2023, 9, 18, 15)),
    ("20230919T160000Z", None, NOW, u(2023, 9, 19, 16)),
    ("20230919", None, NOW, u(2023, 9, 19)),
    # what sessionlens prints can be typed back
    ("2023-09-19 18:00 +02:00", None, NOW, u(2023, 9, 19, 16)),
    ("2023-09-19 16:00 UTC", "Europe/Berlin", NOW, u(2023, 9, 19, 16)),
    # epoch seconds and milliseconds
    ("1695139200", None, NOW, u(2023, 9, 19, 16)),
    ("1695139200.5", None, NOW, u(2023, 9, 19, 16, 0, 0, 500000)),
    ("1695139200123", None, NOW, u(2023, 9, 19, 16, 0, 0, 123000)),
    ("@1695139200", "Europe/Berlin", NOW, u(2023, 9, 19, 16)),
    # words and durations, counted from the injected now
    ("now", None, NOW, NOW),
    ("NOW", "Europe/Berlin", NOW, NOW),
    ("today", None, NOW, u(2023, 9, 19)),
    ("yesterday", None, NOW, u(2023, 9, 18)),
    ("today", "Europe/Berlin", NOW, u(2023, 9, 18, 22)),
    ("yesterday", "America/Los_Angeles", NOW, u(2023, 9, 18, 7)),
    ("yesterday 16:00", None, NOW, u(2023, 9, 18, 16)),
    ("16:00", "Europe/Berlin", NOW, u(2023, 9, 19, 14)),
    ("2h ago", None, NOW, NOW - timedelta(hours=2)),
    ("2h ago", "Europe/Berlin", NOW, NOW - timedelta(hours=2)),
    ("30m ago", None, NOW, NOW - timedelta(minutes=30)),
    ("30m", None, NOW, NOW - timedelta(minutes=30)),
    ("1d", None, NOW, NOW - timedelta(days=1)),
    ("1w", None, NOW, NOW - timedelta(weeks=1)),
    ("90s", None, NOW, NOW - timedelta(seconds=90)),
    ("1h30m", None, NOW, NOW - timedelta(minutes=90)),
    ("1.5h ago", None, NOW, NOW - timedelta(minutes=90)),
    ("2 hours ago", None, NOW, NOW - timedelta(hours=2)),
    ("now-2h", None, NOW, NOW - timedelta(hours=2)),
    ("-15m", None, NOW, NOW - timedelta(minutes=15)),
    # DST: midnight in the zone, whatever the length of the day
    ("today", "Europe/Berlin", AFTER_FALL_BACK, u(2023, 10, 29, 23)),  # CET, +01:00
    ("yesterday", "Europe/Berlin", AFTER_FALL_BACK, u(2023, 10, 28, 22)),  # CEST: a 25-hour day
    ("today", "Europe/Berlin", AFTER_SPRING, u(2023, 3, 26, 22)),  # CEST, +02:00
    ("yesterday", "Europe/Berlin", AFTER_SPRING, u(2023, 3, 25, 23)),  # CET: a 24-hour day before a 23-hour one
    ("yesterday 12:00", "Europe/Berlin", AFTER_FALL_BACK, u(2023, 10, 29, 11)),
    ("1d", "Europe/Berlin", AFTER_FALL_BACK, AFTER_FALL_BACK - timedelta(hours=24)),  # durations are exact
    # the repeated hour of a fall-back is its first occurrence; after it, the new offset
    ("2023-10-29 02:30", "Europe/Berlin", NOW, u(2023, 10, 29, 0, 30)),
    ("2023-10-29 03:30", "Europe/Berlin", NOW, u(2023, 10, 29, 2, 30)),
    ("2023-03-26 03:30", "Europe/Berlin", NOW, u(2023, 3, 26, 1, 30)),
    ("2023-11-05 01:30", "America/New_York", NOW, u(2023, 11, 5, 5, 30)),
    ("2023-11-05 01:30-05:00", "America/New_York", NOW, u(2023, 11, 5, 6, 30)),
    # a zone whose midnight was skipped: today is the day's first instant
    ("today", "America/Sao_Paulo", datetime(2018, 11, 4, 12, tzinfo=UTC), u(2018, 11, 4, 3)),
]


@pytest.mark.parametrize("text,tz,now,want", TABLE, ids=[f"{t}|{z}" for t, z, _, _ in TABLE])
def test_table(text, tz, now, want):
    got = parse_time(text, tz=tz, now=now)
    assert got == want and got.tzinfo is UTC, got


BAD = [
    ("", "empty"),
    ("the day before", None),
    ("2023", "9 to 11 digits"),  # not 1970-01-01T00:33:43
    ("12345", "9 to 11 digits"),
    ("123456789012345", "9 to 11 digits"),
    ("3M", "months"),
    ("1y", None),
    ("2023-02-30", "day is out of range"),
    ("2023-09-19T16:00+25:00", "impossible offset"),
    ("25:00", "not a time of day"),
    ("yesterdays", None),
    ("x" * 100, "too long"),
]


@pytest.mark.parametrize("text,why", BAD)
def test_unreadable(text, why):
    with pytest.raises(InputError) as exc:
        parse_time(text, now=NOW, what="--since")
    message = str(exc.value)
    assert message.startswith("--since: unreadable time") and "2h ago" in message
    if why:
        assert why in message


def test_a_skipped_local_time_is_refused():
    with pytest.raises(InputError, match="does not exist in Europe/Berlin"):
        parse_time("2023-03-26 02:30", tz="Europe/Berlin", now=NOW)
    assert parse_time("2023-03-26 02:30", now=NOW) == u(2023, 3, 26, 2, 30)  # fine in UTC


def test_zones():
    assert zone(None) is UTC and zone("UTC") is UTC and zone("Etc/UTC") is UTC
    assert zone("+05:30").utcoffset(None) == timedelta(hours=5, minutes=30)
    for bad in ("Mars/Base", "Europe", "", "../etc/passwd"):
        with pytest.raises(InputError, match="not a time zone"):
            zone(bad)


def test_display_with_offsets():
    t = u(2023, 9, 19, 16, 10)
    assert fmt(t) == "2023-09-19 16:10 UTC"
    assert fmt(t, "Europe/Berlin") == "2023-09-19 18:10 +02:00"
    assert fmt(t, "Asia/Kolkata") == "2023-09-19 21:40 +05:30"
    assert fmt_span(u(2023, 9, 19, 16), u(2023, 9, 19, 17)) == "2023-09-19 16:00 - 17:00 UTC"
    # a window across the fall-back shows each end with its own offset
    assert fmt_span(u(2023, 10, 29, 0), u(2023, 10, 29, 3), "Europe/Berlin") == \
        "2023-10-29 02:00 +02:00 - 2023-10-29 04:00 +01:00 (Europe/Berlin)"
    # what is shown parses back to the same instant
    for when in (t, u(2023, 10, 29, 0, 30), u(2023, 10, 29, 1, 30), u(2023, 3, 26, 1, 0)):
        for tz in (None, "Europe/Berlin", "America/New_York"):
            assert parse_time(fmt(when, tz), now=NOW) == when.replace(second=0)


def test_datetimes_and_the_old_name():
    assert parse_time(None) is None and parse_when(None) is None
    assert parse_time(datetime(2023, 9, 19, 18, tzinfo=timezone(timedelta(hours=2)))) == u(2023, 9, 19, 16)
    assert parse_time(datetime(2023, 9, 19, 18), tz="Europe/Berlin") == u(2023, 9, 19, 16)
    # nightly imports parse_when from analyze: same parser
    assert parse_when("2023-09-19T16:00:00Z") == u(2023, 9, 19, 16)
    assert parse_when("2h ago", now=NOW) == NOW - timedelta(hours=2)
    assert parse_when("1695139200") == u(2023, 9, 19, 16)
    ago = parse_when("10m ago")
    assert abs((datetime.now(UTC) - timedelta(minutes=10) - ago).total_seconds()) < 60


# --- the commands use it ---------------------------------------------------------------


LINE = ('203.0.113.{n} - - [19/Sep/2023:16:{m:02d}:00 +0000] "GET /works/{n} HTTP/1.1" 200 512 "-" '
        '"Mozilla/5.0" "_app_session=abc{n}"\n')


def test_changes_add_takes_now_and_local_times(tmp_path):
    lake = tmp_path / "lake"
    Lake(lake, create=True)
    runner = CliRunner()
    before = datetime.now(UTC)
    out = runner.invoke(cli, ["changes", "add", "--lake", str(lake), "--at", "now", "--kind", "deploy",
                              "--label", "hotfix"])
    assert out.exit_code == 0, out.output
    out = runner.invoke(cli, ["changes", "add", "--lake", str(lake), "--at", "2023-09-19 18:09", "--tz",
                              "Europe/Berlin", "--end", "2023-09-19 18:20", "--kind", "deploy", "--label", "canary",
                              "--id", "canary-1"])
    assert out.exit_code == 0, out.output
    out = runner.invoke(cli, ["changes", "add", "--lake", str(lake), "--at", "10m ago", "--kind", "config",
                              "--label", "flag", "--id", "flag-1"])
    assert out.exit_code == 0, out.output
    listing = runner.invoke(cli, ["changes", "list", "--lake", str(lake), "--json"]).output
    listed = {c["id"]: c for c in json.loads(listing)}
    assert listed["canary-1"]["at"] == "2023-09-19T16:09:00Z" and listed["canary-1"]["end"] == "2023-09-19T16:20:00Z"
    hotfix = next(c for c in listed.values() if c["label"] == "hotfix")
    assert before - timedelta(seconds=1) <= datetime.fromisoformat(hotfix["at"].replace("Z", "+00:00")) \
        <= datetime.now(UTC) + timedelta(seconds=1)
    flag = datetime.fromisoformat(listed["flag-1"]["at"].replace("Z", "+00:00"))
    assert abs((before - timedelta(minutes=10) - flag).total_seconds()) < 60
    bad = runner.invoke(cli, ["changes", "add", "--lake", str(lake), "--at", "soonish", "--kind", "deploy",
                              "--label", "x"])
    assert bad.exit_code == 1 and "--at: unreadable time" in bad.output


def test_analyze_and_report_take_relative_times(tmp_path):
    src = tmp_path / "access.log"
    src.write_text("".join(LINE.format(n=i, m=i % 60) for i in range(120)))
    from sessionlens import ingest

    ingest(tmp_path / "lake", [str(src)])
    runner = CliRunner()
    # "2h ago" is read (no longer refused); the data is from 2023: no data in that window
    out = runner.invoke(cli, ["analyze", "--lake", str(tmp_path / "lake"), "--since", "2h ago", "--json"])
    assert out.exit_code == 4, out.output
    assert json.loads(out.output)["verdict"] == "no-data"
    out = runner.invoke(cli, ["analyze", "--lake", str(tmp_path / "lake"), "--since", "1695139200", "--until",
                              "1695142800000", "--tz", "Europe/Berlin"])
    assert "2023-09-19 18:00 +02:00 - 19:00 +02:00 (Europe/Berlin)" in " ".join(out.output.split()), out.output
    report = tmp_path / "r.json"
    out = runner.invoke(cli, ["report", "--lake", str(tmp_path / "lake"), "--out", str(report), "--since",
                              "2023-09-19 18:00", "--tz", "Europe/Berlin"])
    assert out.exit_code == 4, out.output  # written; these lines show no session, so no all-clear
    assert json.loads(report.read_text())["window"]["start"] == "2023-09-19T16:00:00Z"
    bad = runner.invoke(cli, ["report", "--lake", str(tmp_path / "lake"), "--out", str(report), "--tz", "Nowhere/X"])
    assert bad.exit_code == 1 and "not a time zone" in bad.output
