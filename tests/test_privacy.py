"""Canary tokens and IPs planted in every format never reach the lake, output or logs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
from click.testing import CliRunner

from sessionlens.cli import cli

SESSION = "CanarySessionA1b2C3d4E5f6G7h8I9j0KkLlMmNnOoPpQq"  # base64-ish, like a real cookie
RAILS_COOKIE = f"{SESSION}--0123456789abcdef0123456789abcdef01234567"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJjYW5hcnkiOiJ0b2tlbi12YWx1ZS05OTkifQ.Q2FuYXJ5U2lnbmF0dXJlQmxvYjEyMw"
CSRF_TOKEN = "CanaryAuthenticityTokenZZ99yy88XX77ww66=="
IP = "203.0.113.199"
IP6 = "2001:db8:cafe:beef:1234:5678:9abc:def0"
USER = "canary-user-4471@example.org"
CANARIES = [SESSION, RAILS_COOKIE, JWT, CSRF_TOKEN, IP, IP6, USER, "eyJjYW5hcnkiOiJ0b2tlbi12YWx1ZS05OTkifQ"]

NGINX = (
    f'{IP} - - [19/Sep/2023:16:09:12 +0000] "POST /works/1/kudos HTTP/1.1" 422 312 "-" "Mozilla/5.0" 0.041 web03 v1.40.2 '
    f'"{RAILS_COOKIE}" "on" "-" "{USER}" "-"\n'
    f'{IP6} - - [19/Sep/2023:16:09:13 +0000] "GET /works/2 HTTP/1.1" 200 512 "-" "Mozilla/5.0" 0.020 web01 v1.41.0 '
    f'"{JWT}" "bypass" "HIT" "-" "-"\n'
    # malformed: the canaries sit in a rejected line, whose excerpt is kept
    f'{IP} - - [19/Sep/2023:16:09:14 +0000] "GET /x HTTP/1.1" oops "{RAILS_COOKIE}" session={SESSION} {JWT}\n'
)
CLOUDFLARE = (
    json.dumps({"EdgeStartTimestamp": "2023-09-19T16:10:00Z", "ClientIP": IP, "ClientRequestURI": "/", "EdgeResponseStatus": 200,
                "Cookies": {"_app_session": RAILS_COOKIE}, "RequestHeaders": {"cookie": f"_app_session={RAILS_COOKIE}"}}) + "\n"
    + '{"EdgeStartTimestamp": "broken json ' + SESSION + '"\n'
)
EVENTS = (
    json.dumps({"ts": "2023-09-19T16:10:00Z", "event": "login", "session_id": SESSION, "user_id": USER, "ip": IP}) + "\n"
    + json.dumps({"ts": "not a time", "event": "login", "session_id": SESSION, "user_id": USER, "ip": IP}) + "\n"
)
RAILS = (
    f'I, [2023-09-19T16:10:02.114321 #4127]  INFO -- : [web03] [5b3c1e7a-2f0d-4c1e-9d52-7a1f0e2b9c44] Started POST "/works/1/kudos" for {IP} at 2023-09-19 16:10:02 +0000\n'
    f'I, [2023-09-19T16:10:02.115002 #4127]  INFO -- : [web03] [5b3c1e7a-2f0d-4c1e-9d52-7a1f0e2b9c44]   Parameters: {{"authenticity_token"=>"{CSRF_TOKEN}", "session"=>"{SESSION}"}}\n'
    f'W, [2023-09-19T16:10:02.121876 #4127]  WARN -- : [web03] [5b3c1e7a-2f0d-4c1e-9d52-7a1f0e2b9c44] Can\'t verify CSRF token authenticity.\n'
    f'I, [2023-09-19T16:10:02.122410 #4127]  INFO -- : [web03] [5b3c1e7a-2f0d-4c1e-9d52-7a1f0e2b9c44] Completed 422 Unprocessable Entity in 8ms\n'
    f'Parameters without a header {CSRF_TOKEN} from {IP}\n'
)


def _plant(tmp_path: Path) -> list[Path]:
    files = {"access.log": NGINX, "cf.ndjson": CLOUDFLARE, "events.jsonl": EVENTS, "production.log": RAILS}
    paths = []
    for name, text in files.items():
        p = tmp_path / "in" / name
        p.parent.mkdir(exist_ok=True)
        p.write_text(text)
        paths.append(p)
    return paths


def _lake_text(lake: Path) -> str:
    """Every value in every Parquet file, plus every other file's bytes, as text."""
    chunks = []
    for f in lake.rglob("*"):
        if not f.is_file():
            continue
        if f.suffix == ".parquet":
            chunks.append(json.dumps(pq.read_table(f).to_pylist(), default=str))
        else:
            chunks.append(f.read_bytes().decode("utf-8", "replace"))
    return "\n".join(chunks)


def _assert_clean(text: str, where: str) -> None:
    for canary in CANARIES:
        assert canary not in text, f"canary {canary[:20]}... leaked into {where}"


def test_canaries_never_reach_the_lake_or_the_output(tmp_path):
    paths = _plant(tmp_path)
    lake = tmp_path / "lake"
    runner = CliRunner()
    outputs = []
    for p, fmt in zip(paths, ["nginx-edge", "cloudflare-http-requests", "app-events", "rails"], strict=True):
        result = runner.invoke(cli, ["ingest", "--lake", str(lake), "--format", fmt, str(p)])
        outputs.append(result.output)
        assert result.exit_code == 0, result.output
    # the data did arrive: rows exist and sessions are followed by their hash
    q = runner.invoke(cli, ["sql", "--lake", str(lake), "--format", "json",
                            "SELECT * FROM requests UNION ALL BY NAME SELECT * FROM events"])
    assert q.exit_code == 0 and len(json.loads(q.output)) >= 5
    rejects = runner.invoke(cli, ["sql", "--lake", str(lake), "--format", "csv", "SELECT * FROM rejects"])
    assert rejects.output.count("\n") >= 4  # header + the planted malformed lines
    _assert_clean(_lake_text(lake), "the lake")
    _assert_clean("\n".join(outputs + [q.output, rejects.output]), "command output")


def test_canaries_never_reach_stderr_or_json_summary(tmp_path):
    paths = _plant(tmp_path)
    out = ""
    for p, fmt in zip(paths, ["nginx-edge", "cloudflare-http-requests", "app-events", "rails"], strict=True):
        proc = subprocess.run(
            [sys.executable, "-m", "sessionlens", "ingest", "--lake", str(tmp_path / "lake"), "--json", "--format", fmt, str(p)],
            capture_output=True, text=True,
        )
        assert proc.returncode == 0, proc.stderr
        out += proc.stdout + proc.stderr
    # a failing run: the error message must not quote the input either
    bad = subprocess.run([sys.executable, "-m", "sessionlens", "sql", "--lake", str(tmp_path / "lake"),
                          f"SELECT CAST('{SESSION}' AS INTEGER)"], capture_output=True, text=True)
    assert bad.returncode != 0 and "Traceback" not in bad.stderr
    _assert_clean(out + bad.stdout + bad.stderr, "stdout/stderr")


def test_key_is_private(tmp_path):
    _plant(tmp_path)
    CliRunner().invoke(cli, ["ingest", "--lake", str(tmp_path / "lake"), str(tmp_path / "in" / "access.log")])
    key = tmp_path / "lake" / "_key"
    assert key.stat().st_mode & 0o777 == 0o600
