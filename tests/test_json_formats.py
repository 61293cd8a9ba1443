"""JSON-lines formats: nested paths, arrays, objects, Traefik and Caddy, and no secret ever stored."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from sessionlens import Lake, ingest
from sessionlens.errors import FormatError
from sessionlens.ingestion.formats import detect, get_spec, load_specs
from sessionlens.ingestion.formats.base import FileJob
from sessionlens.ingestion.formats.jsonlines import parse_json_map
from sessionlens.ingestion.options import FieldOptions
from sessionlens.privacy import keyed_hash, load_or_create_key

from .conftest import ingest_text, rows

# Canaries: each must be findable if it leaked, so none is a substring of
# anything sessionlens writes by itself.
REMOTE_IP = "203.0.113.231"
CLIENT_IP = "2001:db8:dead:beef::4242"
TRAEFIK_IP = "198.51.100.199"
SESSION = "CanarySessZq81Wx"
AUTH = "CnryBearer7"  # short: the excerpt redaction's long-token rule cannot be what hides it
QUERY_TOKEN = "CanaryQueryTok55"
SET_COOKIE = "CanarySetCkie3"
COOKIE_ELSEWHERE = "CanaryOtherCk9"
CANARIES = [REMOTE_IP, CLIENT_IP, TRAEFIK_IP, SESSION, AUTH, QUERY_TOKEN, SET_COOKIE, COOKIE_ELSEWHERE]


def _caddy(ts, uri="/works/1", status=200, **request) -> str:
    req = {"remote_ip": REMOTE_IP, "remote_port": "50100", "client_ip": CLIENT_IP, "proto": "HTTP/2.0",
           "method": "GET", "host": "app.example.org", "uri": uri,
           "headers": {"User-Agent": ["Mozilla/5.0"], "Authorization": [f"Bearer {AUTH}"],
                       "Cookie": [f"lang=en; _app_session={SESSION}; other={COOKIE_ELSEWHERE}"]}}
    req.update(request)
    return json.dumps({"level": "info", "ts": ts, "logger": "http.log.access.log0", "msg": "handled request",
                       "request": req, "user_id": "", "duration": 0.002, "size": 10, "status": status,
                       "resp_headers": {"Set-Cookie": [f"_app_session={SET_COOKIE}; Path=/"]}})


def _traefik(start, path="/works/2", status=200) -> str:
    return json.dumps({"ClientAddr": f"{TRAEFIK_IP}:40001", "ClientHost": TRAEFIK_IP, "DownstreamStatus": status,
                       "Duration": 1000000, "RequestHost": "app.example.org", "RequestMethod": "POST",
                       "RequestPath": path, "StartUTC": start, "request_Authorization": f"Bearer {AUTH}",
                       "request_Cookie": f"_app_session={SESSION}", "request_X-Forwarded-For": REMOTE_IP,
                       "downstream_Set-Cookie": f"_app_session={SET_COOKIE}", "time": start})


def _lake_text(lake: Path) -> str:
    """Every value of every Parquet file, plus every other file's bytes, as text."""
    chunks = []
    for f in lake.rglob("*"):
        if f.is_file():
            chunks.append(f.read_bytes().decode("utf-8", "replace"))
            if f.suffix == ".parquet":  # zstd hides raw bytes: read the values too
                chunks.append(json.dumps(pq.read_table(f).to_pylist(), default=str))
    return "\n".join(chunks)


def _sql_text(lake: Lake) -> str:
    return "\n".join(str(rows(lake, t)) for t in ("requests", "events", "rejects"))


def test_canaries_in_nested_fields_never_reach_the_lake(tmp_path):
    caddy = tmp_path / "caddy.log"
    caddy.write_text("\n".join([
        _caddy(1709543702.5, uri=f"/reset?token={QUERY_TOKEN}"),
        _caddy(1709543703.5, status=403),
        _caddy("not a time", uri=f"/x?token={QUERY_TOKEN}"),  # rejected: its excerpt is kept
    ]) + "\n")
    traefik = tmp_path / "traefik.log"
    traefik.write_text("\n".join([_traefik("2024-03-04T09:15:00Z"), _traefik("never", path="/y")]) + "\n")
    # the generic format given a Caddy line: `request` is an alias of path, and an object
    generic = tmp_path / "generic.jsonl"
    generic.write_text(_caddy(1709543704.5) + "\n")
    lake_dir = tmp_path / "lake"
    summary = ingest(lake_dir, [str(caddy), str(traefik)])
    ingest(lake_dir, [str(generic)], fmt="json-access")
    assert [f.format for f in summary.files] == ["caddy-json", "traefik-json"]
    assert summary.stored == 3 and summary.rejected == 2

    lake = Lake(lake_dir)
    # the data did arrive, identities followed by their keyed hash
    key = load_or_create_key(lake_dir)
    stored = rows(lake)
    by_source = {(r["source_file"].rsplit("/", 1)[-1], r["line_no"]): r for r in stored}
    first = by_source[("caddy.log", 1)]
    assert first["path"] == "/reset" and first["client_key"] == keyed_hash(key, "ip", CLIENT_IP)
    assert first["session_key"] == keyed_hash(key, "session", SESSION)
    assert by_source[("traefik.log", 1)]["client_key"] == keyed_hash(key, "ip", TRAEFIK_IP)
    assert by_source[("generic.jsonl", 1)]["path"] is None  # an object is never text
    assert len(rows(lake, "rejects")) == 2

    text = _lake_text(lake_dir) + _sql_text(lake)
    for canary in CANARIES:
        assert canary not in text, f"canary {canary} leaked into the lake"


def test_reject_excerpts_blank_credentials(tmp_path):
    # credentials first, so the excerpt's length limit is not what hides them
    lines = [
        {"request": {"headers": {"Authorization": [f"Bearer {AUTH}"], "Cookie": [f"x={COOKIE_ELSEWHERE}"]},
                     "method": "GET", "uri": "/"}, "ts": "bad", "status": 200, "duration": 0.1},
        {"request_Authorization": f"Bearer {AUTH}", "request_Cookie": f"a={COOKIE_ELSEWHERE}", "StartUTC": "bad",
         "RequestMethod": "GET", "DownstreamStatus": 200},
        # rejected by the normaliser, not for its timestamp: excerpted all the same
        {"request_Authorization": f"Bearer {AUTH}", "request": {"headers": {"Cookie": [f"x={COOKIE_ELSEWHERE}"]},
         "method": "GET", "uri": "/"}, "StartUTC": "2024-03-04T09:00:00Z", "ts": 1709542800, "RequestMethod": "GET",
         "DownstreamStatus": 999, "status": 999, "duration": 0.1},
    ]
    for fmt in ("caddy-json", "traefik-json"):
        (tmp_path / fmt).mkdir()
        lake, summary = ingest_text(tmp_path / fmt, "\n".join(json.dumps(x) for x in lines) + "\n", fmt=fmt)
        assert summary.rejected == 3
        excerpts = [r["excerpt"] for r in rows(lake, "rejects")]
        assert all(excerpts) and not any(c in e for e in excerpts for c in CANARIES), excerpts


def test_json_map_reads_nested_paths(tmp_path):
    line = {"meta": {"time": "2024-03-04T09:00:00Z"}, "resp": {"code": 419},
            "req": {"path": "/works/3/kudos?x=1", "headers": {"User-Agent": ["Mozilla/5.0"], "Accept": ["a", "b"]}}}
    lake, summary = ingest_text(tmp_path, json.dumps(line) + "\n",
                                json_map="ts=meta.time,status=resp.code,path=req.path,ua=req.headers.User-Agent")
    assert summary.stored == 1
    row = rows(lake)[0]
    assert (row["status"], row["path"], row["route"]) == (419, "/works/3/kudos", "/works/:id/kudos")
    assert row["user_agent"] == "Mozilla/5.0"  # an array of one value, unwrapped


def test_dotted_key_names_are_found_too(tmp_path):
    line = {"@timestamp": "2024-03-04T09:00:00Z", "http.status": 500, "url.path": "/a"}
    lake, _ = ingest_text(tmp_path, json.dumps(line) + "\n", json_map="status=http.status,path=url.path")
    assert (rows(lake)[0]["status"], rows(lake)[0]["path"]) == (500, "/a")


def test_arrays_of_several_values_and_objects_are_null_not_text(tmp_path):
    lines = [
        {"ts": "2024-03-04T09:00:00Z", "path": {"value": "/a", "remote_ip": REMOTE_IP}, "status": 200,
         "user_agent": ["a", "b"], "referer": [{"x": 1}], "host": ["web1"]},
        {"ts": "2024-03-04T09:00:01Z", "request": {"uri": "/b", "client_ip": CLIENT_IP}, "status": 200,
         "request_id": [], "vhost": None},
    ]
    lake, summary = ingest_text(tmp_path, "\n".join(json.dumps(x) for x in lines) + "\n", fmt="json-access")
    assert summary.stored == 2
    for row in rows(lake):
        assert row["path"] is None and row["user_agent"] is None and row["referer"] is None
        assert row["request_id"] is None and row["vhost"] is None
    assert rows(lake)[0]["host"] == "web1"
    text = _sql_text(lake)
    assert "{" not in text.replace("{'", "") and REMOTE_IP not in text and CLIENT_IP not in text


def test_mapped_object_warns_and_the_record_keeps_going(tmp_path):
    src = tmp_path / "a.jsonl"
    lines = [{"t": "2024-03-04T09:00:00Z", "req": {"path": {"raw": "/a"}}, "code": 200},
             {"t": "2024-03-04T09:00:01Z", "req": {"path": "/b"}, "code": 200},
             {"t": "2024-03-04T09:00:02Z", "req": {"path": ["/c", "/d"]}, "code": 200}]
    src.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    parser = get_spec("json-access").parser(parse_json_map("ts=t,status=code,path=req.path"))
    job = FileJob(src, 0, 1, 3, FieldOptions())
    con = duckdb.connect()
    got = []
    for batch in parser.batches(con, job):
        got += con.execute(f"SELECT uri, status, ts IS NOT NULL FROM {batch.relation} ORDER BY line_no").fetchall()
    assert got == [(None, 200, True), ("/b", 200, True), (None, 200, True)]
    assert [(w.lines, w.fix) for w in job.warnings] == [(2, "--json-map path=<path of a value inside req.path>")]


def test_secret_fields_cannot_fill_plain_columns():
    for mapping in ("ua=request.headers.Cookie", "path=request_Authorization", "referer=req.remote_ip",
                    "host=ClientAddr", "request_id=headers.X-Forwarded-For", "message=access_token"):
        with pytest.raises(FormatError):
            parse_json_map(mapping)
    # hashed columns may take them
    assert parse_json_map("ip=request.remote_ip,cookie=request.headers.Cookie") == {
        "ip": "request.remote_ip", "cookie": "request.headers.Cookie"}


def test_caddy_and_traefik_fields(tmp_path):
    caddy = _caddy(1709543702.5, uri="/works/7?page=2", status=422)
    traefik = _traefik("2024-03-04T09:15:00.25Z", status=302)
    lake, _ = ingest_text(tmp_path, caddy + "\n", name="c.log")
    row = rows(lake)[0]
    assert (row["source"], row["method"], row["route"], row["status"], row["latency_ms"], row["vhost"]) == (
        "jsonl", "GET", "/works/:id", 422, 2.0, "app.example.org")
    assert row["user_agent"] == "Mozilla/5.0" and row["cookie_format"] == "opaque"
    (tmp_path / "t").mkdir()
    lake, _ = ingest_text(tmp_path / "t", traefik + "\n", name="t.log")
    row = rows(lake)[0]
    key = load_or_create_key(tmp_path / "t" / "lake")
    assert (row["method"], row["path"], row["status"], row["latency_ms"]) == ("POST", "/works/2", 302, 1.0)
    assert row["session_key"] == keyed_hash(key, "session", SESSION)
    assert row["client_key"] == keyed_hash(key, "ip", TRAEFIK_IP)


def test_client_ip_from_xff(tmp_path):
    lake, _ = ingest_text(tmp_path, _traefik("2024-03-04T09:15:00Z") + "\n",
                          options=FieldOptions(client_ip_from="xff"))
    key = load_or_create_key(tmp_path / "lake")
    assert rows(lake)[0]["client_key"] == keyed_hash(key, "ip", REMOTE_IP)
    # Caddy logs a repeated header as several array items: they are one list
    caddy = _caddy(1709543702.5, headers={"X-Forwarded-For": ["198.51.100.7, 10.0.0.2", "10.0.0.3"]})
    for mode, want in (("xff", "198.51.100.7"), ("xff-last", "198.51.100.7"), ("remote_addr", CLIENT_IP)):
        (tmp_path / mode).mkdir()
        lake, _ = ingest_text(tmp_path / mode, caddy + "\n", options=FieldOptions(client_ip_from=mode))
        key = load_or_create_key(tmp_path / mode / "lake")
        assert rows(lake)[0]["client_key"] == keyed_hash(key, "ip", want), mode


def test_detection_picks_the_specific_format_and_steals_nothing():
    samples = {spec.name: [s.line for s in spec.samples] for spec in load_specs()}
    for name in ("traefik-json", "caddy-json", "cloudflare-http-requests", "app-events", "json-access"):
        assert detect(samples[name]).name == name, name
    generic = [json.dumps({"time": "2024-03-04T09:00:00Z", "method": "GET", "path": "/", "status": 200})]
    assert detect(generic).name == "json-access"
    # one stray line among Traefik's does not hand the file to the generic format
    assert detect(samples["traefik-json"] + ['{"time": "2024-03-04T09:00:00Z"}']).name == "traefik-json"


def test_cloudflare_empty_strings_are_null(tmp_path):
    record = {"EdgeStartTimestamp": "2023-09-19T16:12:01Z", "ClientIP": "", "ClientRequestURI": "/a",
              "ClientRequestUserAgent": "", "ClientRequestReferer": "", "RayID": "", "EdgeResponseStatus": 200,
              "CacheCacheStatus": "", "ResponseHeaders": {"x-app-version": ""}, "Cookies": {}}
    lake, summary = ingest_text(tmp_path, json.dumps(record) + "\n", fmt="cloudflare-http-requests")
    assert summary.stored == 1
    row = rows(lake)[0]
    for col in ("user_agent", "referer", "request_id", "cache_status", "app_version", "client_key", "session_key"):
        assert row[col] is None, col


def test_read_equals_stored_plus_rejected(tmp_path):
    good = json.dumps({"ts": "2024-03-04T09:00:00Z", "status": 200, "path": "/ok"})
    text = "\n".join([
        good,
        "not json at all",
        "[1, 2, 3]",
        '["a", {"ts": "2024-03-04T09:00:00Z"}]',
        '{"ts": "2024-03-04T09:00:00Z", "status": 200',  # truncated
        '"just a string"',
        "",
        "  " + good + "\r",  # leading blanks and a CRLF ending
        json.dumps({"status": 500}),  # no timestamp
    ]) + "\n"
    lake, summary = ingest_text(tmp_path, text, fmt="json-access")
    assert summary.lines_read == 9
    assert summary.stored == 2 and summary.stored + summary.rejected == summary.lines_read
    assert summary.rejected_by_reason["not a JSON object"] == 5
    assert summary.rejected_by_reason["missing or unreadable timestamp"] == 1
