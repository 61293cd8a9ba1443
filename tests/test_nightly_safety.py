"""Data safety of the nightly job: the webhook's deadline and retries, --out
checked first, no re-announcement without new data, the lake never ingests
itself."""

from __future__ import annotations

import email.utils
import threading
import time
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from click.testing import CliRunner

from sessionlens.cli import cli
from sessionlens.errors import InputError
from sessionlens.nightly import run_nightly
from sessionlens.notify import post_webhook, retry_after_seconds


def _inbox_files(box) -> int:
    return sum(1 for d in ("logs", "markers") for f in (box / d).rglob("*") if f.is_file())


# --- a scripted webhook server ---------------------------------------------------


class _Scripted(BaseHTTPRequestHandler):
    """Answers each POST with the server's next scripted answer: (status, headers) or "drip"."""

    protocol_version = "HTTP/1.0"

    def do_POST(self):  # noqa: N802
        server = self.server
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        server.requests.append(time.monotonic())
        action = server.script.pop(0) if server.script else (200, {})
        if action == "drip":  # a valid answer, one byte a second, never finished
            for byte in b"HTTP/1.1 200 OK\r\nX-Pad: " + b"a" * 10_000:
                if server.stop.wait(1.0):
                    return
                try:
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                except OSError:
                    return
            return
        status, headers = action
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Scripted)
    srv.daemon_threads = True
    srv.requests, srv.script, srv.stop = [], [], threading.Event()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    srv.url = f"http://127.0.0.1:{srv.server_port}/hook"
    yield srv
    srv.stop.set()
    srv.shutdown()
    srv.server_close()


# --- webhook: deadline, Retry-After, what is retried ----------------------------


def test_slow_drip_webhook_cannot_hold_the_run(inbox, tmp_path, server):
    server.script = ["drip"]
    runner = CliRunner()
    r = runner.invoke(cli, ["nightly", "--inbox", str(inbox), "--lake", str(tmp_path / "lake"), "--out",
                            str(tmp_path / "out"), "--webhook", server.url, "--webhook-timeout", "3"])
    returned = time.monotonic()
    assert r.exit_code == 0, r.output
    assert len(server.requests) == 1
    # from the webhook's request to the end of the run: the 3 s deadline, not the drip's pace
    assert returned - server.requests[0] < 4.0
    assert "warning: webhook failed after 1 attempt: no complete answer within the 3s deadline" in r.output
    assert (tmp_path / "out" / "2022-06-21.html").exists()
    assert any(line.startswith("spike ") for line in r.output.splitlines())


def test_post_webhook_drip_returns_at_the_deadline(server):
    server.script = ["drip"]
    started = time.monotonic()
    error = post_webhook(server.url, "hi", timeout=2)
    assert time.monotonic() - started < 2.5
    assert "within the 2s deadline" in error


def test_a_client_error_is_not_retried(server):
    server.script = [(400, {})]
    error = post_webhook(server.url, "hi", timeout=10)
    assert error == "webhook failed after 1 attempt: HTTP 400 (not retried)"
    assert len(server.requests) == 1


def test_404_is_not_retried_either(server):
    server.script = [(404, {}), (200, {})]
    assert "HTTP 404 (not retried)" in post_webhook(server.url, "hi", timeout=10)
    assert len(server.requests) == 1


@pytest.mark.parametrize("status", [503, 429])
def test_retry_after_seconds_is_honoured(server, status):
    server.script = [(status, {"Retry-After": "1"}), (200, {})]
    # a backoff of 0.1 s: the ~1 s gap can only come from Retry-After
    assert post_webhook(server.url, "hi", timeout=10, backoff=0.1) is None
    assert len(server.requests) == 2
    assert 0.9 <= server.requests[1] - server.requests[0] < 2.0


def test_retry_after_http_date_is_honoured(server):
    when = email.utils.format_datetime(datetime.now(timezone.utc) + timedelta(seconds=2), usegmt=True)
    server.script = [(429, {"Retry-After": when}), (200, {})]
    assert post_webhook(server.url, "hi", timeout=10, backoff=0.1) is None
    assert len(server.requests) == 2
    assert 0.9 <= server.requests[1] - server.requests[0] < 3.0  # the date has whole seconds


def test_429_without_retry_after_backs_off(server):
    server.script = [(429, {}), (200, {})]
    assert post_webhook(server.url, "hi", timeout=10, backoff=0.2) is None
    assert len(server.requests) == 2 and server.requests[1] - server.requests[0] >= 0.2


def test_a_retry_after_beyond_the_deadline_gives_up_now(server):
    server.script = [(503, {"Retry-After": "60"}), (200, {})]
    started = time.monotonic()
    error = post_webhook(server.url, "hi", timeout=3)
    assert time.monotonic() - started < 1.0
    assert "HTTP 503; the next try (in 60s) would pass the 3s deadline" in error
    assert len(server.requests) == 1


def test_5xx_retries_stop_at_the_deadline(server):
    server.script = [(500, {})] * 10
    started = time.monotonic()
    error = post_webhook(server.url, "hi", timeout=2.5, attempts=10, backoff=1.0)
    assert time.monotonic() - started < 2.5
    # tries at 0 s and 1 s; the next, at 3 s, would be too late
    assert len(server.requests) == 2 and "failed after 2 attempts: HTTP 500" in error


def test_connection_errors_are_retried_within_the_deadline():
    started = time.monotonic()
    error = post_webhook("http://127.0.0.1:9/nothing-listens", "hi", timeout=2, backoff=0.5)
    assert time.monotonic() - started < 2.0
    assert error.startswith("webhook failed after 3 attempts:")


def test_retry_after_parsing():
    now = datetime(2024, 1, 1, 12, 0, 0, tzinfo=timezone.utc)
    assert retry_after_seconds("5", now) == 5
    assert retry_after_seconds(" 0 ", now) == 0
    assert retry_after_seconds("-3", now) == 0
    assert retry_after_seconds("Mon, 01 Jan 2024 12:00:30 GMT", now) == 30
    assert retry_after_seconds("Mon, 01 Jan 2024 11:00:00 GMT", now) == 0  # in the past: now
    for junk in (None, "", "soon", "inf", "nan"):
        assert retry_after_seconds(junk, now) is None


def test_a_bad_webhook_url_or_timeout_fails_before_ingest(inbox, tmp_path):
    runner = CliRunner()
    base = ["nightly", "--inbox", str(inbox), "--lake", str(tmp_path / "lake"), "--out", str(tmp_path / "out")]
    r = runner.invoke(cli, base + ["--webhook", "ftp://example.com/x"])
    assert r.exit_code == 1 and "not an http(s) URL" in r.output
    r = runner.invoke(cli, base + ["--webhook", "http://127.0.0.1:9/x", "--webhook-timeout", "0"])
    assert r.exit_code == 2 and "--webhook-timeout" in r.output
    assert not (tmp_path / "lake").exists()


# --- --out is checked first -----------------------------------------------------------


def test_unwritable_out_fails_fast_with_one_line(inbox, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory\n")
    started = time.monotonic()
    r = CliRunner().invoke(cli, ["nightly", "--inbox", str(inbox), "--lake", str(tmp_path / "lake"),
                                 "--out", str(blocker / "reports")])
    assert time.monotonic() - started < 2.0
    assert r.exit_code == 1
    assert r.output.strip().splitlines() == [f"Error: --out {blocker / 'reports'}: cannot write there (Not a directory)"]
    assert "internal error" not in r.output
    assert not (tmp_path / "lake").exists()  # nothing was ingested


def test_out_that_is_a_file_is_an_input_error(inbox, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(InputError, match="exists and is not a directory"):
        run_nightly(inbox, tmp_path / "lake", blocker)
    assert not (tmp_path / "lake").exists()


def test_unwritable_lake_fails_before_ingest(inbox, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    r = CliRunner().invoke(cli, ["nightly", "--inbox", str(inbox), "--lake", str(blocker / "lake"),
                                 "--out", str(tmp_path / "out")])
    assert r.exit_code == 1 and "--lake" in r.output and "internal error" not in r.output


# --- no new data: no re-announcement ----------------------------------------------------


def test_a_night_without_new_data_says_so_and_posts_nothing(inbox, tmp_path, server):
    runner = CliRunner()
    out = tmp_path / "out"
    args = ["nightly", "--inbox", str(inbox), "--lake", str(tmp_path / "lake"), "--out", str(out),
            "--webhook", server.url, "--fail-on", "anomaly"]
    first = runner.invoke(cli, args)
    assert first.exit_code == 3, first.output
    assert len(server.requests) == 1
    report = out / "2022-06-21.html"
    before = (report.read_bytes(), (out / "nights.json").read_text())

    again = runner.invoke(cli, args)
    assert again.exit_code == 0, again.output  # nothing new was found
    stdout = [line for line in again.output.splitlines() if not line.startswith(("warning", "report"))]
    assert len(stdout) == 1 and stdout[0].startswith("no new data since 20")
    assert not any(line.startswith(("spike", "anomaly")) for line in again.output.splitlines())
    assert len(server.requests) == 1  # the old findings were not posted again
    assert (report.read_bytes(), (out / "nights.json").read_text()) == before
    assert "no new data since" in (out / "index.html").read_text()
    assert "2022-06-21.html" in (out / "index.html").read_text()  # the earlier nights stay listed

    # new data: a normal night again, and the index no longer says there is none
    (inbox / "logs" / "late.jsonl").write_text(
        '{"ts": "2022-06-22T01:00:00Z", "event": "login", "session_id": "s-late", "user_id": "late"}\n')
    third = runner.invoke(cli, args)
    assert "no new data" not in third.output
    assert len(server.requests) == 2
    assert "no new data" not in (out / "index.html").read_text()


def test_an_empty_inbox_is_no_new_data(tmp_path):
    (tmp_path / "inbox").mkdir()
    result = run_nightly(tmp_path / "inbox", tmp_path / "lake", tmp_path / "out")
    assert not result.new_data and result.lines() == ["no new data: nothing has been stored in the lake yet"]
    assert result.report is None and (tmp_path / "out" / "index.html").exists()


# --- the lake and the reports inside the inbox ------------------------------------------


def test_a_lake_inside_the_inbox_is_never_ingested(inbox, tmp_path):
    lake, out = inbox / "lake", inbox / "reports"
    n = _inbox_files(inbox)
    first = run_nightly(inbox, lake, out)
    assert len(first.summary.files) == n and first.summary.stored > 1000
    # files keep their own names (the inbox's), whatever way the inbox was read
    assert all(f.path.startswith(str(inbox.resolve() / "logs")) or f.path.startswith(str(inbox.resolve() / "markers"))
               for f in first.summary.files)
    assert list(lake.rglob("*.parquet")) and (lake / "_manifest.json").exists() and (out / "nights.json").exists()

    second = run_nightly(inbox, lake, out)
    assert len(second.summary.files) == n  # the lake's Parquet, manifest, key and the reports are not input
    assert not any(f.path.startswith((str(lake.resolve()), str(out.resolve()))) for f in second.summary.files)
    assert {f.status for f in second.summary.files} == {"skipped"}
    assert second.summary.stored == 0 and not second.new_data


def test_the_lake_cannot_be_the_inbox(inbox):
    with pytest.raises(InputError, match="must not be the inbox"):
        run_nightly(inbox, inbox, inbox.parent / "out")
