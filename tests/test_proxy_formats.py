"""Formats of the servers in front of apps: ALB, CloudFront, HAProxy, Traefik, Envoy, uWSGI.

Sample lines come from each spec file (written from the formats' public
documentation); these tests check what single samples cannot: detection
on a whole file, quarantine of a malformed line, IPv6 clients, W3C header
blocks, server messages, and that no raw client address reaches the lake.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from sessionlens import Lake, ingest
from sessionlens.errors import FormatError
from sessionlens.ingestion.formats import detect, get_spec
from sessionlens.ingestion.formats.base import lines_relation
from sessionlens.ingestion.formats.regexfmt import RegexParser
from sessionlens.ingestion.options import FieldOptions
from sessionlens.ingestion.reader import head_lines
from sessionlens.privacy import keyed_hash, load_or_create_key

from .conftest import rows

FORMATS = ["aws-alb", "aws-cloudfront", "haproxy-http", "traefik-clf", "envoy", "uwsgi"]
CF_FIELDS = get_spec("aws-cloudfront").data["default_fields"]

# One line per format that looks like the format but is cut short.
MALFORMED = {
    "aws-alb": "http 2023-09-19T16:11:00.000000Z app/shop-lb/50dc6c495c0c9188 192.0.2.250:2817 10.0.0.1:80 0.000 0.001",
    "aws-cloudfront": "2023-09-19\t16:11:00\tFRA56-P5\t5120\t192.0.2.250\tGET",
    "haproxy-http": "Sep 19 16:11:00 lb1 haproxy[14387]: 192.0.2.250:33317 [19/Sep/2023:16:11:00.000] http-in static/srv1",
    "traefik-clf": '192.0.2.250 - - [19/Sep/2023:16:11:00 +0000] "GET /x HTTP/1.1" 200 12 "-" "curl/8.1.2" 9 "shop@docker"',
    "envoy": '[2023-09-19T16:11:00.000Z] "GET /x HTTP/1.1" 200 - 0 12 1 1 "192.0.2.250"',
    "uwsgi": "[pid: 1|app: 0|req: 1/1] 192.0.2.250 () {34 vars in 377 bytes} [Tue Sep 19 16:11:00 2023] GET /x =>",
}


def _records(fmt: str) -> tuple[list[str], list[str]]:
    """(header lines, record lines) from a spec's samples, one file's worth."""
    headers, records = [], []
    for i, sample in enumerate(get_spec(fmt).samples):
        n = int(get_spec(fmt).data["sample"][i].get("header_lines", 0))
        lines = sample.line.splitlines()
        if fmt == "aws-cloudfront" and lines[1] != "#Fields: " + CF_FIELDS:
            continue  # a sample with other fields belongs in its own block
        headers = headers or lines[:n]
        records += lines[n:]
    return headers, records


def _write(tmp_path: Path, name: str, lines: list[str]) -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return path


def _hash(lake: Path, ip: str) -> str:
    return keyed_hash(load_or_create_key(lake), "ip", ip)


@pytest.mark.parametrize("fmt", FORMATS)
def test_detected_and_malformed_line_quarantined(tmp_path, fmt):
    headers, records = _records(fmt)
    bad_at = len(headers) + 2  # 0-based index of the malformed line
    lines = headers + records[:2] + [MALFORMED[fmt]] + records[2:]
    path = _write(tmp_path, f"{fmt}.log", lines)
    assert detect(head_lines(path)).name == fmt
    summary = ingest(tmp_path / "lake", [str(path)])
    assert summary.files[0].format == fmt
    assert summary.lines_read == len(lines)
    assert summary.stored == len(records)
    assert summary.rejected == 1 + len(headers)
    lake = Lake(tmp_path / "lake")
    rejected = lake.sql("SELECT line_no, reason FROM rejects WHERE reason <> 'W3C header line'").fetchall()
    reason = (f"line does not match its #Fields directive (format {fmt})" if fmt == "aws-cloudfront"
              else f"line does not match format {fmt}")
    assert rejected == [(bad_at + 1, reason)]
    stored = rows(lake)
    assert all(r["ts"] is not None and r["source_file"] for r in stored)
    assert lake.sql("SELECT count(*) FROM requests WHERE client_key IS NULL").fetchall()[0][0] == 0


def test_proxy_lines_do_not_steal_combined_lines():
    combined = [
        '192.0.2.1 - - [19/Sep/2023:16:10:02 +0000] "GET /a HTTP/1.1" 200 12 "-" "curl/8.1.2"',
        '192.0.2.2 - bob [19/Sep/2023:16:10:03 +0000] "POST /b HTTP/1.1" 302 0 "https://x.example/" "Mozilla/5.0"',
    ]
    assert detect(combined).name == "nginx-combined"
    assert detect(_records("traefik-clf")[1]).name == "traefik-clf"


def test_ipv6_clients(tmp_path):
    alb = ('h2 2023-09-19T16:10:04.500000Z app/shop-lb/50dc6c495c0c9188 2001:db8:feed::9:48160 10.0.0.66:9000 0.000 '
           '0.002 0.000 200 200 5 257 "GET https://shop.example.com:443/a HTTP/2.0" "curl/8.1.2" - - - "Root=1-a" "-" "-"')
    haproxy = ('Sep 19 16:10:03 lb1 haproxy[8]: ::1:40120 [19/Sep/2023:16:10:03.001] fe be/app1 0/0/0/12/12 200 180 '
               '- - ---- 2/2/0/0/0 0/0 "GET /b HTTP/1.1"')
    istio = ('[2023-09-19T16:10:05.409Z] "GET /c HTTP/1.1" 200 - via_upstream - "-" 0 135 4 4 "-" "curl/8.1.2" '
             '"84961386-6d84-929d-98bd-c5aee93b5c88" "httpbin:8000" "10.44.1.27:80" inbound|8000|| 127.0.0.6:41854 '
             '10.44.1.27:80 [2001:db8:feed::10]:37652 outbound_.8000_._.httpbin.default.svc.cluster.local default')
    for fmt, line, ip in [("aws-alb", alb, "2001:db8:feed::9"), ("haproxy-http", haproxy, "::1"),
                          ("envoy", istio, "2001:db8:feed::10")]:
        lake_dir = tmp_path / fmt
        path = _write(tmp_path, f"{fmt}.log", [line])
        summary = ingest(lake_dir, [str(path)])
        assert (summary.files[0].format, summary.stored) == (fmt, 1), summary.rejected_by_reason
        assert rows(Lake(lake_dir))[0]["client_key"] == _hash(lake_dir, ip)


def test_cloudfront_second_fields_block_and_chunks(tmp_path):
    headers, records = _records("aws-cloudfront")
    # CloudFront adds fields over time; a later block names its own, in its own order.
    short = "#Fields: date time c-ip cs-method cs-uri-stem sc-status time-taken x-edge-result-type x-edge-request-id"
    block2 = ["#Version: 1.0", short,
              "2023-09-20\t08:00:01\t198.51.100.120\tGET\t/late/1\t200\t0.250\tMiss\tid-late-1",
              "2023-09-20\t08:00:02\t2001:db8::121\tPOST\t/late/2\t503\t1.500\tError\tid-late-2"]
    lines = headers + records + block2
    path = _write(tmp_path, "cf.log", lines)
    # small chunks: the directive in force must carry from one chunk into the next
    summary = ingest(tmp_path / "lake", [str(path)], chunk_bytes=600)
    assert summary.files[0].format == "aws-cloudfront"
    assert (summary.lines_read, summary.stored, summary.rejected) == (len(lines), len(records) + 2, 4)
    assert summary.rejected_by_reason == {"W3C header line": 4}
    lake = Lake(tmp_path / "lake")
    late = lake.sql("SELECT path, status, latency_ms, cache_status, request_id, client_key FROM requests "
                    "WHERE path LIKE '/late/%' ORDER BY path").fetchall()
    assert late == [("/late/1", 200, 250.0, "miss", "id-late-1", _hash(tmp_path / "lake", "198.51.100.120")),
                    ("/late/2", 503, 1500.0, "error", "id-late-2", _hash(tmp_path / "lake", "2001:db8::121"))]
    assert lake.sql("SELECT count(*) FROM requests WHERE vhost = 'shop.example.com'").fetchall()[0][0] == len(records)


def test_cloudfront_file_that_grew(tmp_path):
    headers, records = _records("aws-cloudfront")
    path = _write(tmp_path, "cf.log", headers + records[:2])
    ingest(tmp_path / "lake", [str(path)])
    with open(path, "a") as fh:  # the new part has no header of its own
        fh.write("\n".join(records[2:]) + "\n")
    summary = ingest(tmp_path / "lake", [str(path)])
    result = summary.files[0]
    assert (result.status, result.format) == ("appended", "aws-cloudfront")
    assert (result.stored, result.rejected) == (len(records) - 2, 0)
    # read with the #Fields directive that stands before the new part in the file
    assert not any("#Fields" in w["what"] for w in result.warnings)
    assert Lake(tmp_path / "lake").sql("SELECT count(DISTINCT request_id) FROM requests").fetchall()[0][0] == len(records)


def test_iis_w3c_file(tmp_path):
    lines = ["#Software: Microsoft Internet Information Services 10.0", "#Version: 1.0",
             "#Date: 2023-09-19 16:10:00",
             "#Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) "
             "cs(Referer) sc-status sc-substatus sc-win32-status time-taken",
             "2023-09-19 16:10:02 10.0.0.9 GET /account tab=orders 443 - 192.0.2.130 "
             "Mozilla/5.0+(Windows+NT+10.0;+Win64;+x64) - 302 0 0 15"]
    path = _write(tmp_path, "u_ex230919.log", lines)
    summary = ingest(tmp_path / "lake", [str(path)])
    assert (summary.stored, summary.rejected) == (1, 4)
    row = rows(Lake(tmp_path / "lake"))[0]
    assert (row["path"], row["status"], row["latency_ms"]) == ("/account", 302, 15.0)  # IIS: milliseconds
    assert row["user_agent"] == "Mozilla/5.0 (Windows NT 10.0; Win64; x64)"
    assert row["client_key"] == _hash(tmp_path / "lake", "192.0.2.130")


def test_server_messages_are_set_aside(tmp_path):
    banner = [
        "*** Starting uWSGI 2.0.22 (64bit) on [Tue Sep 19 16:09:58 2023] ***",
        "compiled with version: 12.2.0 on 19 September 2023 08:00:00",
        "os: Linux-6.1.0 #1 SMP Debian 6.1.52-1 (2023-09-07)",
        "nodename: web-7d9f", "machine: x86_64", "clock source: unix", "pcre jit disabled",
        "detected number of CPU cores: 4", "current working directory: /app",
        "detected binary path: /usr/local/bin/uwsgi",
        "uWSGI running as root, you can use --uid/--gid/--chroot options",
        "*** WARNING: you are running uWSGI as root !!! (use the --uid flag) *** ",
        "your memory page size is 4096 bytes", "detected max file descriptor number: 1048576",
        "lock engine: pthread robust mutexes", "thunder lock: disabled (you can enable it with --thunder-lock)",
        "uwsgi socket 0 bound to TCP address :8000 fd 3",
        "Python version: 3.11.5 (main, Sep  7 2023, 00:00:00) [GCC 12.2.0]",
        "*** Python threads support is disabled. You can enable it with --enable-threads ***",
        "your server socket listen backlog is limited to 100 connections",
        "mapped 145840 bytes (142 KB) for 1 cores", "*** Operational MODE: single process ***",
        "WSGI app 0 (mountpoint='') ready in 1 seconds on interpreter 0x55d0c1a2b3c0 pid: 1 (default app)",
        "spawned uWSGI worker 1 (and the only) (pid: 1, cores: 1)",
    ]
    records = _records("uwsgi")[1]
    path = _write(tmp_path, "uwsgi.log", banner + records)
    assert detect(head_lines(path)).name == "uwsgi"  # the banner fills the first lines
    summary = ingest(tmp_path / "lake", [str(path)])
    assert (summary.stored, summary.rejected) == (len(records), len(banner))
    assert summary.rejected_by_reason == {"not a request: uwsgi message line": len(banner)}

    haproxy = ["Sep 19 16:09:58 lb1 haproxy[14387]: Proxy http-in started.",
               "Sep 19 16:09:58 lb1 haproxy[14387]: Server static/srv2 is DOWN, reason: Layer4 timeout."]
    haproxy += _records("haproxy-http")[1]
    path = _write(tmp_path, "haproxy.log", haproxy)
    summary = ingest(tmp_path / "lake2", [str(path)])
    assert summary.files[0].format == "haproxy-http"
    assert summary.rejected_by_reason == {"not a request: haproxy-http message line": 2}


def test_raw_client_ips_never_reach_the_lake(tmp_path):
    canaries = {"aws-alb": ("198.18.0.11", "2001:db8:feed:beef::11"), "haproxy-http": ("198.18.0.12", "2001:db8:feed:beef::12"),
                "traefik-clf": ("198.18.0.13", "2001:db8:feed:beef::13"), "envoy": ("198.18.0.14", "2001:db8:feed:beef::14"),
                "uwsgi": ("198.18.0.15", "2001:db8:feed:beef::15"), "aws-cloudfront": ("198.18.0.16", "2001:db8:feed:beef::16")}
    replace = {"aws-alb": ["192.0.2.10", "2001:db8:cafe::17"], "haproxy-http": ["192.0.2.20", "2001:db8::5"],
               "traefik-clf": ["192.0.2.60", "2001:db8::62"], "envoy": ["192.0.2.70", "2001:db8::73"],
               "uwsgi": ["172.17.0.1", "2001:db8::83"], "aws-cloudfront": ["192.0.2.100", "2001:db8:cafe::102"]}
    paths = []
    for fmt, (v4, v6) in canaries.items():
        headers, records = _records(fmt)
        text = "\n".join(headers + records + [MALFORMED[fmt].replace("192.0.2.250", v4)]) + "\n"
        old4, old6 = replace[fmt]
        assert old4 in text and old6 in text, fmt
        paths.append(_write(tmp_path, f"{fmt}.log", [text.replace(old4, v4).replace(old6, v6).rstrip("\n")]))
    summary = ingest(tmp_path / "lake", [str(p) for p in paths])
    assert not summary.failed and summary.stored > 25 and summary.rejected >= 6
    chunks = []
    for f in (tmp_path / "lake").rglob("*"):
        if f.is_file():
            chunks.append(f.read_bytes().decode("utf-8", "replace"))
            if f.suffix == ".parquet":
                chunks.append(json.dumps(pq.read_table(f).to_pylist(), default=str))
    lake_text = "\n".join(chunks)
    for v4, v6 in canaries.values():
        assert v4 not in lake_text and v6 not in lake_text
    # ...yet each client is still followed by its keyed hash
    keys = {r[0] for r in Lake(tmp_path / "lake").sql("SELECT client_key FROM requests").fetchall()}
    assert {_hash(tmp_path / "lake", ip) for pair in canaries.values() for ip in pair} <= keys


def _parse(spec: dict, lines: list[str], options: FieldOptions | None = None) -> list[dict]:
    parser = RegexParser("t", spec=spec)
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    lines_relation(con, 1, "\n".join(lines) + "\n")
    rel = con.sql(f"SELECT * FROM {parser.relation_sql('lines', options or FieldOptions())}")
    return [dict(zip(rel.columns, r, strict=True)) for r in rel.fetchall()]


def test_declarative_conversions():
    spec = {"regex": r"(?P<peer>\S+) (?P<url>\S+) (?P<ua>\S+) (?P<xff>\S+) (?P<t>\S+) (?P<c>\S+)",
            "fields": {"client_ip": [{"group": "xff", "xff": True}, {"group": "peer", "strip_port": True}],
                       "host": {"group": "peer"},
                       "uri": {"group": "url", "strip_origin": True}, "vhost": {"group": "url", "origin_host": True},
                       "user_agent": {"group": "ua", "urldecode": True},
                       "ts": {"group": "t", "epoch": "ms"},
                       "session_cookie": {"group": "c", "cookie": True},
                       "latency_ms": {"group": "t", "scale": 0.5}}}
    got = _parse(spec, [
        "[2001:db8::1]:443 http://user:secret@shop.example.com:8080/a?b=1 Mozilla%20X - 1695139921000 a=1;_app_session=s1",
        "192.0.2.1:80 /relative?q=2 bad%ff 203.0.113.5,10.0.0.1 1695139921500 -",
        "2001:db8::2:51234 https://shop.example.com - - - -",
        "not enough fields",
    ])
    assert [g["client_ip"] for g in got[:3]] == ["2001:db8::1", "192.0.2.1", "2001:db8::2"]
    assert [g["uri"] for g in got[:3]] == ["/a?b=1", "/relative?q=2", "/"]
    assert [g["vhost"] for g in got[:3]] == ["shop.example.com", None, "shop.example.com"]
    assert "secret" not in json.dumps([(g["uri"], g["vhost"]) for g in got])
    assert [g["user_agent"] for g in got[:3]] == ["Mozilla X", "bad%ff", None]  # an invalid escape is kept
    assert got[0]["ts"].isoformat() == "2023-09-19T16:12:01+00:00" and got[1]["latency_ms"] == 847569960750.0
    assert [g["session_cookie"] for g in got[:2]] == ["s1", None]
    assert [g["reject"] for g in got] == [None, None, None, "line does not match format t"]
    # the X-Forwarded-For entry is the client when --client-ip-from says so
    assert _parse(spec, ["192.0.2.1:80 /x - 203.0.113.5,10.0.0.1 1 -"], FieldOptions(client_ip_from="xff"))[0][
        "client_ip"] == "203.0.113.5"


@pytest.mark.parametrize("fields,message", [
    ({"uri": {"group": "nope"}}, "has no group nope"),
    ({"uri": {"group": "a", "strip_prot": True}}, "unknown key"),
    ({"raw_line": {"group": "a"}}, "not a raw column"),
    ({"uri": {"urldecode": True}}, "needs `group`"),
])
def test_spec_mistakes_are_reported(fields, message):
    with pytest.raises(FormatError, match=message):
        RegexParser("t", spec={"regex": r"(?P<a>\S+)", "fields": fields})
