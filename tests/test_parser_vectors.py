"""The 80 peer parser vectors in ../shared/data/real/parser_vectors.json.

Each vector's expected values are mapped onto sessionlens's canonical
columns (client IPs and users through the lake's keyed hash).

Skipped, with reasons:
* ``apache_error`` and ``nginx_error`` (20 vectors): error logs carry no
  request, status or session fields; sessionlens reads access logs and app
  logs, and app-level errors through its ``applog`` format.
* the two vectors whose line is all dashes (``- - - - - - -``), which vector
  parses to an empty object: a record without a timestamp cannot be placed
  on the timeline, so sessionlens rejects it (reason 'missing or unreadable
  timestamp'), and the test asserts exactly that.
* expected keys sessionlens does not keep: ident/logname, protocol version,
  request length, upstream details other than the address, Rails
  parameters (they can hold tokens) and partial render times.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone

import pytest

from sessionlens import Lake, ingest
from sessionlens.ingestion.engine import preview
from sessionlens.privacy import keyed_hash, load_or_create_key

from .conftest import REAL, needs_shared

pytestmark = needs_shared

VECTORS = json.loads((REAL / "parser_vectors.json").read_text()) if REAL.exists() else []
ERROR_LOG_FORMATS = {"apache_error", "nginx_error"}

FORMATS = {
    "apache_common": {"fmt": "apache-common"},
    "apache_combined": {"fmt": "apache-combined"},
    "nginx_combined": {"fmt": "nginx-combined"},
    "nginx_main": {"fmt": "nginx-main"},
    "nginx_ingress_upstreaminfo": {"fmt": "nginx-ingress-upstreaminfo"},
    "nginx_fluentd": {"nginx_format": '$remote_addr $host $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"'},
    # request-log-analyzer takes its duration from the %T half of "%T/%D"
    "apache_vhost_combined": {"apache_format": '%h %l %v %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i" %T/%{usec}n'},
}

CLIENT = {"client", "remote_addr", "remote_host", "clientip", "connection.client.ip", "source.address", "remote"}
USER = {"user", "remote_user", "auth", "connection.client.user", "user.name"}
TS = {"timestamp", "time", "time_utc", "time_ns", "request.receive.time.last.epoch_ms"}
METHOD = {"method", "verb", "http_method", "http.request.method"}
PATH = {"path", "url.original", "request.firstline.uri"}
STATUS = {"status", "code", "response", "http_status", "request.status.last", "http.response.status_code"}
BYTES = {"size", "bytes", "body_bytes_size", "body_bytes_sent", "bytes_sent", "response.bytes", "http.response.body.bytes"}
REFERER = {"referrer", "referer", "http_referer", "http.request.referrer"}
AGENT = {"agent", "http_user_agent", "user_agent", "user_agent.original", "request.user-agent"}
IGNORED = {
    "identity", "remote_logname", "ident", "protocol", "http_version", "httpversion", "http.version", "request_length",
    "proxy_upstream_name", "proxy_alternative_upstream_name", "upstream_response_length", "upstream_response_time",
    "upstream_status", "compression", "line_type", "format", "params", "view", "db", "partial_duration",
    "missing_resource", "missing_resource_method", "message", "file", "line", "totalms", "viewms", "activerecordms",
    "request.receive.time.last", "request.receive.time.last.date", "request.receive.time.last.time",
    "connection.server.ip", "connection.server.child.processid", "request.header.host", "request.header.content-length",
    "request.referer", "error", "action", "controller", "event.original",
    # kept only as the source of the client IP with --client-ip-from xff
    "http_x_forwarded_for",
}


def _id(v):
    return v["source"].split("#")[-1][:60] + "|" + v["format"][:30]


def _flatten(expected):
    """Merges logstash's legacy/ecs views; returns (values, keys that must be absent)."""
    if expected is None:
        return {}, set()
    if "legacy" in expected or "ecs" in expected:
        merged, absent = {}, set()
        for part in (expected.get("legacy", {}), expected.get("ecs", {})):
            absent |= set(part.get("absent", []))
            merged.update({k: v for k, v in part.items() if k != "absent"})
        merged["_legacy_request_is_uri"] = True
        return merged, absent
    absent = set(expected.get("absent", []))
    return {k: v for k, v in expected.items() if k != "absent"}, absent


def _dash(v):
    if isinstance(v, str):
        v = v.strip('"')
    return None if v in ("-", "") else v


def _offset(line: str) -> timedelta:
    m = re.search(r" ([+-])(\d\d)(\d\d)\]", line) or re.search(r" ([+-])(\d\d)(\d\d)(?: \d{4})?$", line)
    if not m:
        return timedelta(0)
    sign = 1 if m.group(1) == "+" else -1
    return sign * timedelta(hours=int(m.group(2)), minutes=int(m.group(3)))


def _want_ts(key, value, line) -> datetime:
    if key in ("time_ns",):
        return datetime.fromtimestamp(value / 1e9, timezone.utc)
    if key.endswith("epoch_ms"):
        return datetime.fromtimestamp(value / 1e3, timezone.utc)
    if isinstance(value, int):  # request-log-analyzer: local wall clock, zone dropped
        local = datetime.strptime(str(value), "%Y%m%d%H%M%S").replace(tzinfo=timezone.utc)
        return local - _offset(line)
    text = value.strip()
    if re.match(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4}$", text):
        return datetime.strptime(text, "%Y-%m-%d %H:%M:%S %z").astimezone(timezone.utc)
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc)


def compare(row: dict, expected: dict, absent: set, line: str, key: str | None, fluentd_nginx: bool) -> list[str]:
    problems = []

    def check(name, got, want):
        if got != want:
            problems.append(f"{name}: got {got!r}, want {want!r}")

    legacy = expected.pop("_legacy_request_is_uri", False)
    for k, v in expected.items():
        if k == "host" and fluentd_nginx:
            check("vhost", row["vhost"], _dash(v))
        elif k in CLIENT or k == "host":
            check("client_key", row["client_key"], keyed_hash(key, "ip", _dash(v)) if key else row["client_key"])
        elif k in USER:
            check("user_key", row["user_key"], keyed_hash(key, "user", _dash(v)) if key else row["user_key"])
        elif k in TS:
            check("ts", row["ts"], _want_ts(k, v, line))
        elif k in METHOD:
            check("method", row["method"], _dash(v))
        elif k in PATH or (k == "request" and legacy):
            check("path", row["path"], _dash(v).split("?")[0] if _dash(v) else None)
        elif k in ("request", "request.firstline"):  # the whole request line
            m = re.match(r"^([A-Za-z]+) (.*?)(?: ([A-Za-z]+/[0-9.]+))?$", v or "")
            check("method", row["method"], m.group(1) if m else None)
            check("path", row["path"], (m.group(2).split("?")[0] or None) if m else None)
        elif k in STATUS:
            check("status", row["status"], int(v) if _dash(v) is not None else None)
        elif k in BYTES:
            want = int(v) if _dash(v) is not None else None
            if not (want == 0 and row["bytes"] is None and re.search(r'" \d{3} - ', line)):
                check("bytes", row["bytes"], want)
        elif k in REFERER:
            check("referer", row["referer"], _dash(v).split("?")[0] if _dash(v) else None)
        elif k in AGENT:
            check("user_agent", row["user_agent"], _dash(v))
        elif k == "vhost":
            check("vhost", row["vhost"], v)
        elif k == "duration":
            check("latency_ms", row["latency_ms"], v * 1000)
        elif k == "request_time":
            check("latency_ms", row["latency_ms"], v * 1000)
        elif k == "req_id":
            check("request_id", row["request_id"], v)
        elif k == "upstream_addr":
            check("host", row["host"], _dash(v))
        elif k in IGNORED:
            continue
        else:
            problems.append(f"unmapped expected key {k!r}")
    for k in absent:
        if k in ("response", "http.response.status_code"):
            check("status", row["status"], None)
    return problems


ACCESS = [v for v in VECTORS if v["format"] in FORMATS or v["format"].startswith("apache_custom:")]
RAILS = [v for v in VECTORS if v["format"].startswith("rails3")]


def test_vector_inventory():
    """Every vector is either tested here or skipped for a listed reason."""
    skipped = [v for v in VECTORS if v["format"] in ERROR_LOG_FORMATS]
    assert len(ACCESS) + len(RAILS) + len(skipped) == len(VECTORS) == 80


@pytest.mark.parametrize("vector", ACCESS, ids=[_id(v) for v in ACCESS])
def test_access_vector(tmp_path, vector):
    src = tmp_path / "line.log"
    src.write_text(vector["line"] + "\n")
    opts = FORMATS.get(vector["format"]) or {"apache_format": vector["format"].split(":", 1)[1]}
    summary = ingest(tmp_path / "lake", [str(src)], **opts)
    lake = Lake(tmp_path / "lake")
    assert summary.lines_read == summary.stored + summary.rejected == 1
    expected, absent = _flatten(vector["expected"])
    if "error" in vector or not expected:
        # error vectors must be rejected; all-dash lines too (no timestamp)
        assert summary.rejected == 1, f"should be rejected: {vector['line']!r}"
        rejects = lake.sql("SELECT line_no, reason FROM rejects").fetchall()
        assert rejects and rejects[0][0] == 1
        return
    assert summary.stored == 1, summary.rejected_by_reason
    rel = lake.sql("SELECT * FROM requests")
    row = dict(zip(rel.columns, rel.fetchall()[0], strict=True))
    key = load_or_create_key(lake.root)
    problems = compare(row, expected, absent, vector["line"], key, vector["format"] == "nginx_fluentd")
    assert problems == []


@pytest.mark.parametrize("vector", RAILS, ids=[_id(v) for v in RAILS])
def test_rails_vector(tmp_path, vector):
    src = tmp_path / "rails.log"
    src.write_text(vector["line"] + "\n")
    frame = preview(src, fmt="rails")
    assert frame.height == 1
    row = frame.row(0, named=True)
    expected, _ = _flatten(vector["expected"])
    expected.pop("_legacy_request_is_uri", None)
    if vector["format"] == "rails3_processing":
        assert row["controller"] == f"{expected['controller']}#{expected['action']}"
    elif vector["format"] == "rails3_completed":
        assert row["status"] == expected["status"]
        assert row["latency_ms"] == pytest.approx(expected["duration"] * 1000)
    elif vector["format"] == "rails3_error":
        want = expected.get("error") or {"routing_errors": "ActionController::RoutingError"}[expected["line_type"]]
        assert row["exception"] == want
    elif vector["format"] in ("rails3_started", "rails3_multiline"):
        assert row["method"] == expected["verb" if "verb" in expected else "method"]
        want_path = expected.get("request") or expected.get("path")
        assert row["path"] == want_path.split("?")[0]
        assert row["ts"] == _want_ts("timestamp", expected["timestamp"], vector["line"].splitlines()[0])
        assert row["_reject"] is None
        if vector["format"] == "rails3_multiline":
            assert row["controller"] == f"{expected['controller']}#{expected['action']}"
            assert row["status"] == int(expected["response"])
            assert row["latency_ms"] == pytest.approx(float(expected["totalms"]))
    elif vector["format"] in ("rails3_parameters", "rails3_rendered"):
        # parameters can carry tokens and are never kept; render times are not kept
        assert row["_reject"] == "missing or unreadable timestamp"
    else:  # pragma: no cover
        pytest.fail(f"untested rails vector kind {vector['format']}")
