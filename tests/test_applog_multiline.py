"""Multi-line records: stack traces under app-log records, Rails 1/2/3 requests,
and year-less (syslog) timestamps.

Sample lines are written here from each format's public documentation;
the real files come from ../shared/data/real (see SOURCES.md there).
"""

from __future__ import annotations

import io
import os
from datetime import datetime, timezone

import pytest

from sessionlens import Lake, ingest
from sessionlens.ingestion.engine import preview
from sessionlens.ingestion.formats import detect
from sessionlens.ingestion.formats.multiline import YEAR_WARNING
from sessionlens.ingestion.formats.rails_legacy import ZONE_WARNING
from sessionlens.ingestion.options import FieldOptions
from sessionlens.privacy import keyed_hash, load_or_create_key

from .conftest import REAL, ingest_text, needs_shared, rows

RLA = REAL / "request_log_analyzer_fixtures"
CSRF = REAL / "csrf_app_logs"


def utc(*parts) -> datetime:
    return datetime(*parts, tzinfo=timezone.utc)


def balanced(summary) -> None:
    for f in summary.files:
        assert f.status != "failed", f.message
        assert f.lines_read == f.stored + f.rejected, f.path


def warnings_of(summary) -> dict[str, dict]:
    return {w["what"]: w for f in summary.files for w in f.warnings}


def ingest_whole(tmp_path, data: bytes, **kwargs):
    """Ingests bytes as a finished input (stdin): a live file's last line
    without a newline would be held back until it is complete."""
    return ingest(tmp_path / "lake", ["-"], stdin=io.BytesIO(data), **kwargs)


# --- stack traces ---------------------------------------------------------

LARAVEL = """\
[2023-09-19 16:10:02] production.ERROR: CSRF token mismatch. {"userId":17,"exception":"[object] (Illuminate\\\\Session\\\\TokenMismatchException(code: 0): CSRF token mismatch. at /var/www/app/vendor/laravel/framework/src/Illuminate/Foundation/Http/Middleware/VerifyCsrfToken.php:86)
[stacktrace]
#0 /var/www/app/vendor/laravel/framework/src/Illuminate/Pipeline/Pipeline.php(183): Illuminate\\\\Foundation\\\\Http\\\\Middleware\\\\VerifyCsrfToken->handle(Object(Illuminate\\\\Http\\\\Request), Object(Closure))
#1 /var/www/app/public/index.php(52): Illuminate\\\\Foundation\\\\Http\\\\Kernel->handle(Object(Illuminate\\\\Http\\\\Request))
#2 {main}

[previous exception] [object] (RuntimeException(code: 0): The session store was
rotated while the request was in flight at /var/www/app/app/Http/Kernel.php:40)
[stacktrace]
#0 {main}
"} 
[2023-09-19 16:10:05] production.INFO: User 17 signed in again 
"""


def test_laravel_record_with_stacktrace_and_previous_exception_is_one_event(tmp_path):
    lake, summary = ingest_text(tmp_path, LARAVEL)
    assert summary.files[0].format == "applog"
    # 12 lines: one blank (rejected as such), the rest in two records
    assert (summary.lines_read, summary.stored, summary.rejected) == (12, 11, 1)
    assert summary.rejected_by_reason == {"blank line": 1}
    events = rows(lake, "events")
    assert [(e["line_no"], e["ts"]) for e in events] == [(1, utc(2023, 9, 19, 16, 10, 2)), (12, utc(2023, 9, 19, 16, 10, 5))]
    first = events[0]
    # Monolog's JSON doubles the backslashes; the stored class has single ones
    assert first["exception"] == "Illuminate\\Session\\TokenMismatchException"
    assert (first["event"], first["error_kind"], first["error_rule"]) == ("app_error", "csrf", "laravel-token-mismatch")
    assert events[1]["exception"] is None and events[1]["error_kind"] is None


@needs_shared
def test_real_laravel_excerpts_have_no_rejects_and_name_the_exception(tmp_path):
    summary = ingest(tmp_path / "lake", [str(CSRF / "laravel52_cachet_2064.log"), str(CSRF / "laravel4_bootstrap_starter_23.log"),
                                         str(CSRF / "laravel54_monica_331.log")], options=FieldOptions(year=2017))
    balanced(summary)
    assert summary.rejected == 0, summary.rejected_by_reason
    lake = Lake(tmp_path / "lake")
    got = lake.sql("SELECT source_file, line_no, ts, exception, error_kind FROM events ORDER BY source_file").fetchall()
    assert [(r[0].rsplit("/", 1)[1], r[1], r[2], r[3], r[4]) for r in got] == [
        ("laravel4_bootstrap_starter_23.log", 1, utc(2013, 3, 17, 22, 45, 28), "Illuminate\\Session\\TokenMismatchException", "csrf"),
        ("laravel52_cachet_2064.log", 1, utc(2016, 8, 15, 22, 41, 11), "Illuminate\\Session\\TokenMismatchException", "csrf"),
        # syslog-prefixed: "Jun 16 09:29:41", the year from --year
        ("laravel54_monica_331.log", 1, utc(2017, 6, 16, 9, 29, 41), "Illuminate\\Session\\TokenMismatchException", "csrf"),
    ]


PYTHON = """\
2023-09-19 16:11:40,002 ERROR django.request Internal Server Error: /dashboard/
Traceback (most recent call last):
  File "/srv/app/venv/lib/python3.11/site-packages/django/core/signing.py", line 180, in loads
    raise BadSignature('Signature "%s" does not match' % sig)
django.core.signing.BadSignature: Signature does not match

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File "/srv/app/venv/lib/python3.11/site-packages/django/contrib/sessions/backends/signed_cookies.py", line 20, in load
    raise SuspiciousSession('Session data corrupted')
django.contrib.sessions.exceptions.SuspiciousSession: Session data corrupted
2023-09-19 16:11:41,500 WARNING django.security.SuspiciousSession Session data corrupted
2023-09-19 16:11:42,000 ERROR app.views lookup failed
Traceback (most recent call last):
  File "/srv/app/views.py", line 3, in index
    return d['x']
KeyError: 'x'
"""


def test_python_traceback_names_the_last_exception(tmp_path):
    lake, summary = ingest_text(tmp_path, PYTHON)
    balanced(summary)
    assert summary.rejected_by_reason == {"blank line": 2}
    got = [(e["line_no"], e["path"], e["exception"], e["error_kind"]) for e in rows(lake, "events")]
    assert got == [
        (1, "/dashboard/", "django.contrib.sessions.exceptions.SuspiciousSession", "invalid"),
        # Django's security logger is named after the SuspiciousOperation subclass
        (13, None, "SuspiciousSession", "invalid"),
        (14, None, "KeyError", None),
    ]


JAVA = """\
2023-09-19 16:10:02.114 ERROR 4127 --- [nio-8080-exec-1] o.a.c.c.C.[.[.[/].[dispatcherServlet]    : Servlet.service() threw exception
org.springframework.security.web.csrf.InvalidCsrfTokenException: Invalid CSRF Token was found on the request parameter '_csrf'.
\tat org.springframework.security.web.csrf.CsrfFilter.doFilterInternal(CsrfFilter.java:127)
\tat org.springframework.web.filter.OncePerRequestFilter.doFilter(OncePerRequestFilter.java:116)
Caused by: java.lang.IllegalStateException: session expired
\tat com.example.session.Store.load(Store.java:42)
\t... 12 more
2023-09-19 16:10:02.200  INFO 4127 --- [nio-8080-exec-2] c.e.web.HomeController                   : GET /home
2023-09-19 16:10:03,114 ERROR [main] com.example.Billing - charge failed
java.lang.IllegalArgumentException: amount < 0
\tat com.example.Billing.charge(Billing.java:10)
16:10:04.114 [main] ERROR com.example.Billing - logback's console layout has no date
"""


def test_java_trace_with_caused_by_is_one_record_named_by_its_outer_exception(tmp_path):
    lake, summary = ingest_text(tmp_path, JAVA)
    assert summary.files[0].format == "applog"
    balanced(summary)
    assert (summary.lines_read, summary.stored, summary.rejected) == (12, 11, 1)
    assert summary.rejected_by_reason == {"timestamp has no date (time of day only)": 1}
    got = [(e["line_no"], e["ts"], e["exception"]) for e in rows(lake, "events")]
    assert got == [
        (1, utc(2023, 9, 19, 16, 10, 2, 114000), "org.springframework.security.web.csrf.InvalidCsrfTokenException"),
        (8, utc(2023, 9, 19, 16, 10, 2, 200000), None),
        (9, utc(2023, 9, 19, 16, 10, 3, 114000), "java.lang.IllegalArgumentException"),
    ]
    # Spring Security's CSRF exception is a session error (rule spring-csrf); the other is not
    got = rows(lake, "events")
    assert (got[0]["error_kind"], got[0]["error_rule"]) == ("csrf", "spring-csrf")
    assert got[-1]["error_kind"] is None


INTERLEAVED = """\
Jun 16 09:29:41 web1 php[101]: production.ERROR: Illuminate\\Session\\TokenMismatchException in /var/www/VerifyCsrfToken.php:68
Jun 16 09:29:41 web1 java[202]: ERROR session restore failed
Jun 16 09:29:41 web1 php[101]: #0 /var/www/Pipeline.php(148): Illuminate\\Foundation\\Http\\Middleware\\VerifyCsrfToken->handle()
Jun 16 09:29:42 web1 java[202]: java.lang.IllegalStateException: session expired
Jun 16 09:29:42 web1 php[101]: #1 {main}
Jun 16 09:29:42 web1 java[202]: #011at com.example.session.Store.load(Store.java:42)
Jun 16 09:29:43 web1 py[303]: 2019-06-16 09:29:43,000 ERROR django.request Internal Server Error: /cart/
Jun 16 09:29:43 web1 py[303]: Traceback (most recent call last):
Jun 16 09:29:43 web1 java[202]: #011... 12 more
Jun 16 09:29:43 web1 py[303]:   File "/srv/app/cart.py", line 12, in view
Jun 16 09:29:43 web1 py[303]: KeyError: 'user_id'
not a log line at all
"""


def test_interleaved_processes_keep_their_own_traces(tmp_path):
    lake, summary = ingest_text(tmp_path, INTERLEAVED, options=FieldOptions(year=2019))
    balanced(summary)
    assert (summary.lines_read, summary.stored, summary.rejected) == (12, 11, 1)
    assert summary.rejected_by_reason == {"no recognisable log header": 1}
    got = [(e["line_no"], e["ts"], e["exception"], e["error_kind"]) for e in rows(lake, "events")]
    assert got == [
        (1, utc(2019, 6, 16, 9, 29, 41), "Illuminate\\Session\\TokenMismatchException", "csrf"),
        (2, utc(2019, 6, 16, 9, 29, 41), "java.lang.IllegalStateException", None),
        (7, utc(2019, 6, 16, 9, 29, 43), "KeyError", None),  # its own timestamp wins over the prefix
    ]
    assert Lake(tmp_path / "lake").sql("SELECT line_no FROM rejects").fetchall() == [(12,)]


@pytest.mark.parametrize("chunk_bytes", [64, 300, 1 << 20])
def test_counts_add_up_whatever_the_chunk_size(tmp_path, chunk_bytes):
    text = LARAVEL + PYTHON + JAVA
    _, summary = ingest_text(tmp_path, text, chunk_bytes=chunk_bytes)
    balanced(summary)
    assert summary.lines_read == len(text.splitlines())


def test_last_line_without_newline_stays_in_its_record(tmp_path):
    # a finished input (stdin) counts its unterminated last line
    summary = ingest_whole(tmp_path, PYTHON.rstrip("\n").encode())
    balanced(summary)
    assert summary.lines_read == len(PYTHON.splitlines())
    assert [e["exception"] for e in rows(Lake(tmp_path / "lake"), "events")][-1] == "KeyError"


# --- syslog years ---------------------------------------------------------

SYSLOG = """\
Feb 27 08:00:00 web1 app[9]: production.WARNING: Page Expired
Jun 16 09:29:41 web1 app[9]: production.ERROR: session store unavailable
Jun 16 09:29:42 web1 app[9]: [2018-06-16 09:29:42] production.INFO: with its own timestamp
"""


def test_syslog_year_from_the_option(tmp_path):
    lake, summary = ingest_text(tmp_path, SYSLOG, options=FieldOptions(year=2019))
    balanced(summary)
    assert summary.rejected == 0
    assert [e["ts"] for e in rows(lake, "events")] == [
        utc(2019, 2, 27, 8, 0, 0), utc(2019, 6, 16, 9, 29, 41), utc(2018, 6, 16, 9, 29, 42)]
    assert YEAR_WARNING not in warnings_of(summary)


def test_syslog_year_from_the_file_date_rolls_back_across_new_year(tmp_path):
    src = tmp_path / "app.log"
    src.write_text(SYSLOG)
    mtime = utc(2021, 3, 1, 12, 0, 0).timestamp()
    os.utime(src, (mtime, mtime))
    summary = ingest(tmp_path / "lake", [str(src)])
    balanced(summary)
    assert summary.rejected == 0
    got = [e["ts"] for e in rows(Lake(tmp_path / "lake"), "events")]
    # the file was last written on 2021-03-01: June can only be June 2020
    assert got == [utc(2021, 2, 27, 8, 0, 0), utc(2020, 6, 16, 9, 29, 41), utc(2018, 6, 16, 9, 29, 42)]
    warning = warnings_of(summary)[YEAR_WARNING]
    assert (warning["lines"], warning["fix"]) == (2, "--year")


# --- Rails 1.x / 2.x / plain 3 --------------------------------------------

def requests_of(tmp_path, name: str, **kwargs):
    """A fixture's requests; most of them end without a newline, so they go in as finished input."""
    summary = ingest_whole(tmp_path, (RLA / name).read_bytes(), **kwargs)
    balanced(summary)
    return summary, rows(Lake(tmp_path / "lake"), "requests")


def ip(lake_dir, value: str) -> str:
    return keyed_hash(load_or_create_key(lake_dir), "ip", value)


@needs_shared
def test_rails_1x_requests_with_wrapped_cookie_sessions(tmp_path):
    summary, reqs = requests_of(tmp_path, "rails_1x.log")
    assert summary.files[0].format == "rails"
    # 59 lines (the last one has no newline, so `wc -l` says 58)
    assert (summary.lines_read, summary.stored, summary.rejected) == (59, 53, 6)
    assert summary.rejected_by_reason == {"blank line": 6}
    got = [(r["line_no"], r["ts"], r["method"], r["path"], r["status"], r["controller"], r["latency_ms"]) for r in reqs]
    assert got == [
        (1, utc(2008, 8, 14, 21, 16, 25), "GET", "/", 200, "DashboardController#index", pytest.approx(226.99)),
        (16, utc(2008, 8, 14, 21, 16, 30), "GET", "/people", 302, "PeopleController#index", pytest.approx(47.59)),
        (30, utc(2008, 8, 14, 21, 16, 30), "GET", "/people/2545", 200, "PeopleController#show", pytest.approx(290.77)),
        (47, utc(2008, 8, 14, 21, 16, 35), "GET", "/people/2545/picture", 200, "PeopleController#picture", pytest.approx(53.83)),
    ]
    assert {r["client_key"] for r in reqs} == {ip(tmp_path / "lake", "1.1.1.1")}
    # the cookie store's session is wrapped over lines 2-8: the whole value is hashed
    lines = (RLA / "rails_1x.log").read_text().splitlines()
    cookie = lines[1].split("Session ID: ", 1)[1] + "".join(lines[2:8])
    assert cookie.endswith("--7918aed37151c13360cd370c37b541f136146fbd")
    key = load_or_create_key(tmp_path / "lake")
    assert reqs[0]["session_key"] == keyed_hash(key, "session", cookie)
    assert len({r["session_key"] for r in reqs}) == 4
    assert warnings_of(summary)[ZONE_WARNING]["lines"] == 53


@needs_shared
@pytest.mark.parametrize("name,want", [
    ("rails_22.log", [(1, utc(2008, 12, 10, 16, 28, 9), "/demo", 200, "PageController#demo", 614.0, "127.0.0.1")]),
    ("rails_22_cached.log",
     [(1, utc(2008, 12, 24, 7, 36, 53), "/cached/cached/", 200, "CachedController#cached", 3.0, "1.1.1.1")]),
    # Rails 3 without the Logger prefix: +0100 local times stored in UTC
    ("rails_3_partials.log", [(1, utc(2012, 11, 21, 14, 21, 13), "/foobartest", 200, "HomeController#foobartest", 58.0, "127.0.0.1"),
                              (9, utc(2012, 11, 21, 14, 21, 31), "/foobartest", 200, "HomeController#foobartest", 2.0, "127.0.0.1")]),
])
def test_rails_2_and_plain_rails_3_fixtures(tmp_path, name, want):
    summary, reqs = requests_of(tmp_path, name)
    assert summary.files[0].format == "rails"
    assert summary.rejected_by_reason in ({}, {"blank line": 2})
    got = [(r["line_no"], r["ts"], r["path"], r["status"], r["controller"], r["latency_ms"], r["client_key"]) for r in reqs]
    assert got == [w[:6] + (ip(tmp_path / "lake", w[6]),) for w in want]
    assert all(r["method"] == "GET" for r in reqs)
    assert (ZONE_WARNING in warnings_of(summary)) == name.startswith("rails_22")


@needs_shared
def test_unordered_rails_2_requests_are_not_guessed(tmp_path):
    # Two Processing lines, then two Completed lines, and no pid to tell
    # them apart (request-log-analyzer refuses this file too). The first
    # Completed closes the open request; the second has no start and is rejected.
    summary, reqs = requests_of(tmp_path, "rails_unordered.log")
    assert summary.rejected_by_reason == {"blank line": 2, "request end without its start line (interleaved or cut log)": 1}
    got = [(r["line_no"], r["controller"], r["path"], r["status"]) for r in reqs]
    assert got == [(1, "AccountController#dashboard", None, None), (6, "ProjectsController#new", "/projects/new", 200)]


@needs_shared
def test_syslog_rails_1x_and_oink_group_by_pid(tmp_path):
    summary, reqs = requests_of(tmp_path / "a", "syslog_1x.log")
    assert (summary.lines_read, summary.stored) == (5, 5)
    r = reqs[0]
    # the Processing line's own full timestamp wins over the year-less prefix
    assert (r["ts"], r["method"], r["path"], r["status"], r["controller"]) == (
        utc(2008, 7, 13, 6, 25, 58), "GET", "/employee.xml", 200, "EmployeeController#index")
    assert r["latency_ms"] == pytest.approx(216.65)
    assert r["session_key"] == keyed_hash(load_or_create_key(tmp_path / "a" / "lake"), "session", "bd1810833653be11c38ad1e5675635bd")
    assert YEAR_WARNING not in warnings_of(summary)

    summary, reqs = requests_of(tmp_path / "b", "oink_22_failure.log")
    got = [(r["line_no"], r["controller"], r["status"], r["exception"]) for r in reqs]
    assert got == [
        (1, "FileRecordsController#inline", None, "NoMethodError"),
        (4, "FileRecordsController#inline", 200, None),
        (10, "FileRecordsController#inline", None, "NoMethodError"),
        (13, "InnovationsController#innovation_param", 200, None),
    ]
    assert reqs[3]["latency_ms"] == 11922.0


@needs_shared
def test_legacy_rails_is_detected_as_rails():
    from sessionlens.ingestion.reader import head_lines

    for name in ("rails_1x.log", "rails_22.log", "rails_22_cached.log", "rails_3_partials.log", "rails_unordered.log",
                 "syslog_1x.log", "oink_22.log"):
        assert detect(head_lines(RLA / name)).family == "rails", name
    frame = preview(RLA / "rails_22.log")
    assert frame.height == 1 and frame["_n_lines"][0] == 12


def test_a_session_id_without_its_request_is_rejected_without_its_value(tmp_path):
    # e.g. the first lines of a file cut inside a Rails 2 request
    text = ("  Session ID: 3f1d8c0e9a7b45d2a6e1c4b8f0d2e7a9\n"
            "Processing PeopleController#index (for 192.0.2.20 at 2008-06-26 15:10:51) [GET]\n"
            "Completed in 100ms (View: 50, DB: 20) | 200 OK [http://www.example.com/people]\n")
    lake, summary = ingest_text(tmp_path, text, fmt="rails")
    assert (summary.stored, summary.rejected) == (2, 1)
    (line_no, excerpt), = lake.sql("SELECT line_no, excerpt FROM rejects").fetchall()
    assert line_no == 1 and "3f1d8c0e9a7b" not in excerpt
    assert [r["session_key"] for r in rows(lake, "requests")] == [None]
