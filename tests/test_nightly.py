"""The nightly job: idempotent runs, reports and index, exit codes, webhook, lock."""

from __future__ import annotations

import fcntl
import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from click.testing import CliRunner

from sessionlens.cli import cli
from sessionlens.nightly import run_nightly
from sessionlens.notify import post_webhook


class _Hook(BaseHTTPRequestHandler):
    bodies: list = []
    fail_first = 0

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).bodies.append(json.loads(body))
        if type(self).fail_first > 0:
            type(self).fail_first -= 1
            self.send_response(500)
        else:
            self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def hook():
    _Hook.bodies, _Hook.fail_first = [], 1
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook", _Hook
    server.shutdown()


def test_nightly_writes_reports_and_findings(inbox, tmp_path, hook):
    url, handler = hook
    runner = CliRunner()
    args = ["nightly", "--inbox", str(inbox), "--lake", str(tmp_path / "lake"), "--out", str(tmp_path / "out")]
    first = runner.invoke(cli, args + ["--fail-on", "anomaly", "--webhook", url])
    assert first.exit_code == 3, first.output  # the shared session is an anomaly
    lines = first.output.splitlines()
    assert any(line.startswith("anomaly session_sharing") and "users=33" in line for line in lines)
    assert any(line.startswith("spike ") and "config-apt-upgrade" in line for line in lines)
    out = tmp_path / "out"
    assert (out / "2022-06-21.html").exists() and (out / "latest.html").read_text() == (out / "2022-06-21.html").read_text()
    assert "2022-06-21.html" in (out / "index.html").read_text()
    # the webhook failed once with 500, was retried, and got a Slack-style text
    assert len(handler.bodies) == 2 and "session_sharing" in handler.bodies[-1]["text"]
    # a second run ingests nothing again, counts nothing twice and re-announces nothing
    again = runner.invoke(cli, args + ["--webhook", url])
    assert again.exit_code == 0
    assert again.output.startswith("no new data since ") and "spike " not in again.output
    assert len(handler.bodies) == 2
    assert json.loads((out / "nights.json").read_text())["2022-06-21"]["spikes"] == 1


def test_grown_inbox_adds_only_new_lines(inbox, tmp_path):
    result = run_nightly(inbox, tmp_path / "lake", tmp_path / "out")
    stored = result.summary.stored
    assert stored > 1000
    log = next((inbox / "logs").rglob("app-events.jsonl.gz"))
    extra = inbox / "logs" / "late.jsonl"
    extra.write_text('{"ts": "2022-06-22T01:00:00Z", "event": "login", "session_id": "s-late", "user_id": "late"}\n')
    second = run_nightly(inbox, tmp_path / "lake", tmp_path / "out")
    assert second.summary.stored == 1 and log.exists()
    assert {f.status for f in second.summary.files if f.path != str(extra.resolve())} == {"skipped"}


def test_webhook_failure_is_reported_not_fatal(inbox, tmp_path):
    result = run_nightly(inbox, tmp_path / "lake", tmp_path / "out", webhook="http://127.0.0.1:9/nothing-listens")
    assert result.webhook_error and "failed after 3 attempts" in result.webhook_error
    assert result.report.exists()


def test_post_webhook_gives_up(monkeypatch):
    monkeypatch.setattr("time.sleep", lambda s: None)
    assert "failed after 2 attempts" in post_webhook("http://127.0.0.1:9/x", "hi", attempts=2)


def test_a_second_run_is_refused_while_one_runs(inbox, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    with open(out / ".nightly.lock", "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        r = CliRunner().invoke(cli, ["nightly", "--inbox", str(inbox), "--lake", str(tmp_path / "lake"), "--out", str(out)])
    assert r.exit_code == 1 and "another nightly run is in progress" in r.output


def test_missing_inbox(tmp_path):
    r = CliRunner().invoke(cli, ["nightly", "--inbox", str(tmp_path / "nope"), "--lake", str(tmp_path / "l"), "--out", str(tmp_path / "o")])
    assert r.exit_code == 1 and "not a directory" in r.output
