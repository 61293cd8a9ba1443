"""Custom nginx log_format and Apache LogFormat strings compile to parsers."""

from __future__ import annotations

import json

import pytest

from sessionlens.errors import FormatError
from sessionlens.ingestion.formats.template import compile_apache, compile_nginx

from .conftest import check_expect, ingest_text, rows

JSON_FORMAT = (
    "escape=json '{\"time\":\"$time_iso8601\",\"addr\":\"$remote_addr\",\"method\":\"$request_method\","
    "\"uri\":\"$request_uri\",\"status\":\"$status\",\"ua\":\"$http_user_agent\",\"up\":\"$upstream_response_time\","
    "\"cookie\":\"$http_cookie\",\"host\":\"$hostname\"}'"
)


def test_nginx_escape_json_and_iso_time(tmp_path):
    ua = 'Agent "quoted" \\ back'
    line = json.dumps({"time": "2023-09-19T18:09:12+02:00", "addr": "198.51.100.9", "method": "POST",
                       "uri": "/works/5/kudos?x=1", "status": "422", "ua": ua, "up": "0.010, 0.250",
                       "cookie": "theme=dark; _app_session=BAh7CEkiD3Nlc3Npb25faWQGOgZFVEki--3f9c2b6b1a0e4d8c9f7a6b5c4d3e2f1a0b9c8d7e; x=1",
                       "host": "web02"}, separators=(",", ":"))
    lake, summary = ingest_text(tmp_path, line + "\n", nginx_format=JSON_FORMAT)
    assert summary.stored == 1, summary.rejected_by_reason
    assert check_expect(lake, rows(lake)[0], {
        "ts": "2023-09-19T16:09:12Z", "method": "POST", "path": "/works/5/kudos", "route": "/works/:id/kudos",
        "status": 422, "user_agent": ua, "latency_ms": 250.0, "host": "web02", "cookie_format": "rails-signed-sha1",
        "session_cookie": "BAh7CEkiD3Nlc3Npb25faWQGOgZFVEki--3f9c2b6b1a0e4d8c9f7a6b5c4d3e2f1a0b9c8d7e",
        "client_ip": "198.51.100.9", "error_kind": "csrf"}) == []


def test_nginx_msec_uri_args_and_hex_escapes(tmp_path):
    fmt = '$msec $remote_addr "$uri" "$args" $status $bytes_sent "$http_user_agent" $server_name $request_id $upstream_addr'
    line = ('1695139752.123 203.0.113.4 "/users/login" "reason=expired&return_to=%2Fworks" 200 5120 '
            '"Mozilla \\x22quoted\\x22 \\x5C" example.org 7f3a9c 10.0.0.7:8080')
    lake, summary = ingest_text(tmp_path, line + "\n", nginx_format=fmt)
    assert summary.stored == 1, summary.rejected_by_reason
    assert check_expect(lake, rows(lake)[0], {
        "ts": "2023-09-19T16:09:12.123Z", "path": "/users/login", "status": 200, "bytes": 5120,
        "user_agent": 'Mozilla "quoted" \\', "vhost": "example.org", "request_id": "7f3a9c", "host": "10.0.0.7:8080",
        "error_kind": "expired", "error_rule": "login-redirect-expired"}) == []


def test_nginx_request_uri_and_upstream_headers(tmp_path):
    fmt = '$remote_addr [$time_local] $request_method $request_uri $status $upstream_http_x_app_version $upstream_cache_status $http_x_edge_worker'
    line = "203.0.113.4 [19/Sep/2023:16:09:12 +0000] GET /works/1?page=2 200 v1.41.0 HIT bypass"
    lake, summary = ingest_text(tmp_path, line + "\n", nginx_format=fmt)
    assert summary.stored == 1
    assert check_expect(lake, rows(lake)[0], {"method": "GET", "path": "/works/1", "app_version": "v1.41.0",
                                               "cache_status": "hit", "edge_worker": "bypass"}) == []


def test_apache_directives(tmp_path):
    fmt = ('%a %l %u %t %m %U%q %H %>s %B %D %v %{X-App-Version}o %{_app_session}C %{X-Edge-Worker}i '
           '%{UNIQUE_ID}e "%{User-Agent}i"')
    line = ('198.51.100.5 - - [19/Sep/2023:16:09:12 +0000] GET /works/9?x=1 HTTP/1.1 200 2048 45000 example.org v1.41.0 '
            'c2Vzc2lvbi1kYXRh--aXYtYmFzZTY0--dGFnLWJhc2U2NA== on Zx9 "curl/8.1"')
    lake, summary = ingest_text(tmp_path, line + "\n", apache_format=fmt)
    assert summary.stored == 1, summary.rejected_by_reason
    assert check_expect(lake, rows(lake)[0], {
        "ts": "2023-09-19T16:09:12Z", "method": "GET", "path": "/works/9", "status": 200, "bytes": 2048,
        "latency_ms": 45.0, "vhost": "example.org", "app_version": "v1.41.0", "cookie_format": "rails-encrypted-gcm",
        "edge_worker": "on", "user_agent": "curl/8.1", "client_ip": "198.51.100.5"}) == []


def test_apache_t_and_b_dash(tmp_path):
    # %b writes - for an empty body: 0 bytes (Apache's mod_log_config documentation)
    fmt = '%h %l %u %t "%r" %s %b %T'
    line = '192.0.2.1 - - [19/Sep/2023:16:09:12 -0400] "HEAD / HTTP/1.0" 304 - 2'
    lake, _ = ingest_text(tmp_path, line + "\n", apache_format=fmt)
    assert check_expect(lake, rows(lake)[0], {"ts": "2023-09-19T20:09:12Z", "status": 304, "bytes": 0,
                                               "latency_ms": 2000.0}) == []


@pytest.mark.parametrize("bad", ["no variables", "$"])
def test_bad_nginx_format(bad):
    with pytest.raises(FormatError):
        compile_nginx(bad)


def test_bad_apache_format():
    with pytest.raises(FormatError):
        compile_apache("%h %Z")


def test_layouts():
    t = compile_nginx('$remote_addr - $remote_user [$time_local] "$request" $status')
    assert t.fast_path and len(t.columns) == 7  # time_local spans two columns
    assert not compile_nginx("$remote_addr $request $status").fast_path  # unquoted request
    assert compile_nginx("escape=json '{\"a\":\"$status\"}'").escape == "json"


def test_json_map(tmp_path):
    line = json.dumps({"when": "2023-09-19T16:09:12Z", "code": 419, "route": "/cart", "sess": "abcdefghijklmnopqrstuvwxyz", "who": "u1"})
    lake, summary = ingest_text(tmp_path, line + "\n", json_map="ts=when,status=code,path=route,session=sess,user=who")
    assert summary.stored == 1
    assert check_expect(lake, rows(lake)[0], {"ts": "2023-09-19T16:09:12Z", "status": 419, "path": "/cart",
                                               "cookie_format": "php", "user": "u1", "error_kind": "csrf",
                                               "error_rule": "laravel-419"}) == []


def test_json_map_rejects_unknown_keys(tmp_path):
    with pytest.raises(FormatError):
        ingest_text(tmp_path, "{}\n", json_map="nope=x")
