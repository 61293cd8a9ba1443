"""Real access logs and real framework CSRF excerpts from ../shared/data/real."""

from __future__ import annotations

import pytest

from sessionlens import Lake, ingest
from sessionlens.ingestion.engine import preview

from .conftest import REAL, needs_shared

pytestmark = needs_shared
CSRF = REAL / "csrf_app_logs"


def test_elastic_apache_log_stores_every_wellformed_line(tmp_path):
    summary = ingest(tmp_path / "lake", [str(REAL / "elastic_apache_logs" / "apache_logs")])
    assert summary.files[0].format in ("apache-combined", "nginx-combined")
    assert summary.lines_read == 10_000
    # line 8899 is truncated (its user agent lacks the closing quote): the only reject
    assert (summary.stored, summary.rejected) == (9_999, 1)
    lake = Lake(tmp_path / "lake")
    assert lake.sql("SELECT line_no, reason FROM rejects").fetchall() == [
        (8899, "line does not match format " + summary.files[0].format)]
    statuses = dict(lake.sql("SELECT status, count(*) FROM requests GROUP BY 1").fetchall())
    # SOURCES.md: 200=9126 ... ; the truncated line was a 200
    assert statuses == {200: 9125, 304: 445, 404: 213, 301: 164, 206: 45, 500: 3, 416: 2, 403: 2}
    # the line after the broken one was not swallowed
    assert lake.sql("SELECT count(*) FROM requests WHERE ts = TIMESTAMPTZ '2015-05-20 12:05:25+00'").fetchall()[0][0] >= 1


def test_hackers_access_log_all_lines(tmp_path):
    summary = ingest(tmp_path / "lake", [str(REAL / "logparser_hackers_access" / "hackers-access.log")])
    assert (summary.lines_read, summary.stored, summary.rejected) == (3456, 3456, 0)
    lake = Lake(tmp_path / "lake")
    statuses = dict(lake.sql("SELECT status, count(*) FROM requests GROUP BY 1").fetchall())
    assert statuses == {200: 2846, 302: 585, 403: 13, 404: 12}
    assert lake.sql("SELECT count(*) FROM requests WHERE method = 'POST'").fetchall()[0][0] == 1080
    # +0100 local times are stored in UTC
    first = lake.sql("SELECT min(ts) FROM requests").fetchall()[0][0]
    assert first.utcoffset().total_seconds() == 0 and first.year == 2015


# file -> (records that must be CSRF errors, extra checks on the first CSRF record)
EXCERPTS = {
    "rails42_kae_pr902.log": (1, {"status": 422, "controller": "CspReportUriController#report"}),
    "rails_passenger_myopicvicar_887.log": (1, {"status": 422, "path": "/search_queries", "method": "POST"}),
    "rails7_spree_starter_1182.log": (1, {"status": 422, "path": "/login"}),
    "rails52_lograge_authy_devise_91.log": (1, {"status": 422, "path": "/users/sign_in"}),
    "rails52_knock_234.log": (1, {"status": 422}),
    "rails_gitlab_8526.log": (1, {"status": 422}),
    "rails5beta_turbolinks.log": (1, {"status": 422, "path": "/admin/book/nodes"}),
    "rails42_manageiq_3955.log": (1, {}),
    "rails_refinery_1451.log": (1, {"status": 401}),
    "django_crits_467.log": (5, {"path": "/items/editor/"}),
    "django_gobii_135.log": (1, {}),
    "laravel4_bootstrap_starter_23.log": (1, {"exception": "Illuminate\\Session\\TokenMismatchException"}),
    "laravel52_cachet_2064.log": (1, {"exception": "Illuminate\\Session\\TokenMismatchException"}),
    "laravel54_monica_331.log": (1, {}),
}


@pytest.mark.parametrize("name", sorted(EXCERPTS))
def test_csrf_excerpt_is_classified(name):
    frame = preview(CSRF / name)
    csrf = frame.filter(frame["error_kind"] == "csrf")
    count, checks = EXCERPTS[name]
    assert csrf.height == count, frame.select("line_no", "error_kind", "_reject")
    first = csrf.row(0, named=True)
    for column, want in checks.items():
        assert first[column] == want, column


def test_truncated_heroku_excerpt_has_no_csrf_record():
    # the stored excerpt stops before the CSRF warning: claiming one would be a guess
    frame = preview(CSRF / "rails7_heroku_dcaf_2955.log")
    assert frame.filter(frame["error_kind"].is_not_null()).height == 0
    assert set(frame["request_id"].drop_nulls()) == {"b1d4d799-19a5-4f93-b1c4-317487ab7779", "390fc535-bb9b-456c-9eea-bb429b612b02"}


def test_passenger_interleaved_pids_are_separate_requests():
    frame = preview(CSRF / "rails_passenger_myopicvicar_887.log")
    by_path = {r["path"]: r for r in frame.iter_rows(named=True) if r["path"]}
    assert by_path["/search_queries"]["error_kind"] == "csrf"
    assert by_path["/search_queries/new"]["error_kind"] is None


def test_malformed_django_line_is_rejected_with_its_line_number(tmp_path):
    summary = ingest(tmp_path / "lake", [str(CSRF / "django_crits_467.log")])
    lake = Lake(tmp_path / "lake")
    assert summary.lines_read == summary.stored + summary.rejected == 7
    assert lake.sql("SELECT line_no, reason FROM rejects").fetchall() == [(2, "no recognisable log header")]
    assert lake.sql("SELECT count(*) FROM requests WHERE method = 'POST'").fetchall()[0][0] == 2
    assert lake.sql("SELECT count(*) FROM events WHERE error_kind = 'csrf'").fetchall()[0][0] == 4


def test_every_excerpt_ingests_with_counts_adding_up(tmp_path):
    summary = ingest(tmp_path / "lake", [str(CSRF / "*.log")])
    assert not summary.failed, [(f.path, f.message) for f in summary.failed]
    for f in summary.files:
        assert f.lines_read == f.stored + f.rejected, f.path
