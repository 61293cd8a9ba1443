"""Implausible times are rejected at ingest; one outlier never widens what analyze looks at."""

from __future__ import annotations

import time

from sessionlens import Lake, analyze
from sessionlens.ingestion.options import FieldOptions

from .conftest import ingest_text, rows

LINE = '203.0.113.{n} - - [{day}:{hh:02d}:{mm:02d}:00 +0000] "GET /works/{n} HTTP/1.1" {status} 512 "-" "Mozilla/5.0"'


def _day(day="19/Sep/2023", n=300):
    return [LINE.format(n=i % 250, day=day, hh=10 + i // 60, mm=i % 60, status=200) for i in range(n)]


def test_years_0001_9999_and_wild_offsets_are_rejected(tmp_path):
    odd = [LINE.format(n=1, day="19/Sep/0001", hh=10, mm=0, status=200),
           LINE.format(n=1, day="19/Sep/9999", hh=10, mm=0, status=200),
           LINE.format(n=1, day="19/Sep/2023", hh=10, mm=0, status=200).replace("+0000", "+2500")]
    lake, summary = ingest_text(tmp_path, "\n".join(_day(n=20) + odd) + "\n")
    assert summary.stored == 20 and summary.rejected == 3
    reasons = {r["reason"] for r in rows(lake, "rejects")}
    assert any("plausible" in r for r in reasons)


def test_the_window_can_be_set(tmp_path):
    lake, summary = ingest_text(tmp_path, "\n".join(_day(n=20)) + "\n",
                                options=FieldOptions(not_before="2023-09-19T10:10:00Z"), allow_rejects=True)
    assert (summary.stored, summary.rejected) == (10, 10)


def test_one_outlier_does_not_widen_the_analysis(tmp_path):
    lines = _day() + [LINE.format(n=7, day="01/Jan/2005", hh=3, mm=0, status=200)]
    lake, summary = ingest_text(tmp_path, "\n".join(lines) + "\n")
    assert summary.stored == 301
    started = time.perf_counter()
    result = analyze(tmp_path / "lake")
    assert time.perf_counter() - started < 60  # was minutes and gigabytes with decades of buckets
    start, end = result.window
    assert start.year == 2023 and end.year == 2023


def test_a_line_dated_hours_ahead_does_not_move_the_end(tmp_path):
    from sessionlens.lake.span import bulk_span

    lines = _day() + [LINE.format(n=7, day="20/Sep/2023", hh=11, mm=0, status=200)]
    ingest_text(tmp_path, "\n".join(lines) + "\n")
    span = bulk_span(Lake(tmp_path / "lake").engine())
    assert span.end.day == 19 and span.outside == 1
