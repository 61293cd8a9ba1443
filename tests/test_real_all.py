"""Everything under ../shared/data/real, ingested as a user would: one command
over the whole directory. Logs are read with their fields right, data sets and
docs are skipped with a note, and nothing fails or goes uncounted."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from sessionlens import Lake, ingest
from sessionlens.sqltext import literal

from .conftest import REAL, needs_shared

pytestmark = needs_shared


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    lake_dir = tmp_path_factory.mktemp("real") / "lake"
    summary = ingest(lake_dir, [str(REAL)])
    by_name = {str(Path(f.path).relative_to(REAL)): f for f in summary.files}
    return summary, by_name, Lake(lake_dir)


def _q(lake: Lake, sql: str):
    return lake.sql(sql).fetchall()


def test_nothing_fails_and_counts_add_up(real):
    summary, by_name, _ = real
    assert not summary.failed, [(f.path, f.message) for f in summary.failed]
    for name, f in by_name.items():
        assert f.lines_read == f.stored + f.rejected, name
    assert summary.stored > 13_700


def test_data_sets_and_docs_are_skipped_not_read(real):
    _, by_name, _ = real
    for name, f in by_name.items():
        if name.endswith((".md", ".csv", ".yaml")) or name.startswith(("tcpd/", "riskloc_RS/")):
            assert f.status == "skipped", name
            assert f.message, name


@pytest.mark.parametrize(
    "name,fmt",
    [
        ("elastic_apache_logs/apache_logs", "nginx-combined"),
        ("logparser_hackers_access/hackers-access.log", "nginx-combined"),
        ("request_log_analyzer_fixtures/apache_common.log", "apache-common"),
        ("request_log_analyzer_fixtures/s3_logs/2012-10-05-16-18-11-F9AAC5D1A55AEBAD", "aws-s3-access"),
        ("cloudflare/http_requests_sample.ndjson", "cloudflare-http-requests"),
        ("cloudflare/audit_logs_v2_short_example.json", "markers:cloudflare-audit-v2"),
        ("request_log_analyzer_fixtures/rails_22.log", "rails"),
        ("request_log_analyzer_fixtures/rails_1x.log", "rails"),
        ("csrf_app_logs/laravel52_cachet_2064.log", "applog"),
        ("csrf_app_logs/django_crits_467.log", "applog"),
        ("csrf_app_logs/rails42_kae_pr902.log", "rails"),
    ],
)
def test_formats_detected(real, name, fmt):
    _, by_name, _ = real
    f = by_name[name]
    assert f.format == fmt and f.status == "ingested", (f.format, f.status, f.message)


def test_apache_fields_and_times(real):
    _, by_name, lake = real
    src = str(REAL / "request_log_analyzer_fixtures" / "apache_combined.log")
    got = _q(lake, f"SELECT ts, method, path, status, bytes, user_agent FROM requests WHERE source_file = {literal(src)} "
                   "ORDER BY ts LIMIT 1")[0]
    # 02/Sep/2009:03:33:46 +0200 is 01:33:46 UTC
    assert got[0] == datetime(2009, 9, 2, 1, 33, 46, tzinfo=timezone.utc)
    assert got[1:] == ("GET", "/cart/install.txt", 404, 214, "Toata dragostea mea pentru diavola")


def test_s3_fields(real):
    _, _, lake = real
    rows = _q(lake, "SELECT vhost, method, status, latency_ms, referer FROM requests "
                    "WHERE request_id = 'CE74FF983317B326'")
    assert rows == [("lamestuff.com", "GET", 200, 42.0, "http://spike.grobste.in/portfolio")]


def test_cloudflare_fields(real):
    _, _, lake = real
    row = _q(lake, "SELECT vhost, method, path, status, bytes, request_id FROM requests WHERE request_id = '3a6050bcbe121a87'")
    assert row == [("www.theburritobot.com", "GET", "/static/img/testimonial-hipster.png", 200, 69045, "3a6050bcbe121a87")]


def test_rails_2_request_joined(real):
    _, _, lake = real
    src = str(REAL / "request_log_analyzer_fixtures" / "rails_22.log")
    row = _q(lake, f"SELECT controller, method, status, latency_ms, path FROM requests WHERE source_file = {literal(src)} "
                   "ORDER BY ts LIMIT 1")
    assert row == [("PageController#demo", "GET", 200, 614.0, "/demo")]


def test_csrf_excerpts_classified(real):
    _, _, lake = real
    kinds = dict(_q(lake, "SELECT regexp_extract(source_file, '[^/]+$'), count(*) FROM "
                          "(SELECT * FROM requests UNION ALL SELECT * FROM events) WHERE error_kind = 'csrf' GROUP BY 1"))
    for name in ("laravel52_cachet_2064.log", "laravel4_bootstrap_starter_23.log", "rails42_kae_pr902.log",
                 "rails7_spree_starter_1182.log", "django_crits_467.log"):
        assert kinds.get(name, 0) >= 1, (name, kinds)


def test_rejects_and_summary_agree(real):
    summary, _, lake = real
    marker_rejects = sum(f.rejected for f in summary.files if (f.format or "").startswith("markers:"))
    assert _q(lake, "SELECT coalesce(sum(lines), 0) FROM rejects")[0][0] == summary.rejected - marker_rejects


def test_no_raw_client_address_is_stored(real):
    _, _, lake = real
    text = repr(_q(lake, "SELECT * FROM requests")) + repr(_q(lake, "SELECT * FROM rejects"))
    for address in ("125.76.230.10", "89.163.242.206", "174.44.160.70"):
        assert address not in text
