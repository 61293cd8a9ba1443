"""Production layouts that used to be misparsed in silence, written from nginx's
and Apache's documentation: every field lands in its column, or the user is told."""

from __future__ import annotations

import gzip
import os

import pytest

from sessionlens import ingest
from sessionlens.ingestion.formats import detect
from sessionlens.ingestion.options import FieldOptions

from .conftest import check_expect, ingest_text, rows

COMBINED = '{ip} - - [19/Sep/2023:16:09:{s:02d} +0000] "GET /works/{n} HTTP/1.1" 200 512 "-" "Mozilla/5.0"'


def combined(n: int, ip: str = "203.0.113.7") -> str:
    return COMBINED.format(ip=ip, s=n % 60, n=n)


@pytest.mark.parametrize(
    "lines,fmt",
    [
        ([combined(i) for i in range(5)], "nginx-combined"),
        # Apache's marks: %b writes '-' for an empty body
        ([combined(i).replace(" 512 ", " - ") for i in range(5)], "apache-combined"),
        ([combined(i) + f" 0.{i:03d}" for i in range(5)], "nginx-combined+request_time"),
        ([combined(i) + f" 0.{i:03d} 0.00{i}, 0.010" for i in range(5)],
         "nginx-combined+request_time+upstream_response_time"),
        ([combined(i) + f" {1000 + i * 977}" for i in range(5)], "apache-combined+D"),
        ([combined(i).replace(" 512 ", " - ") + f" {1500 + i}" for i in range(5)], "apache-combined+D"),
        ([combined(i) + f" 0.00{i} {'HIT' if i % 2 else 'MISS'}" for i in range(5)],
         "nginx-combined+request_time+upstream_cache_status"),
        ([combined(i) + ' "198.51.100.9, 10.0.0.1"' for i in range(5)], "nginx-main"),
        ([f"example{i}.org " + combined(i) for i in range(5)], "nginx-vhost-combined"),
        ([combined(i, ip="203.0.113.9, 10.0.0.2, 127.0.0.1") for i in range(5)], "nginx-xff-combined"),
        ([combined(i).replace("19/Sep/2023:16:09:", "2023-09-19T16:09:").replace(" +0000]", "+00:00]")
          for i in range(5)], "nginx-iso8601"),
    ],
)
def test_layout_detected_whole(lines, fmt):
    assert detect(lines).name == fmt


def test_small_integers_after_combined_are_apache_seconds():
    assert detect([combined(i) + f" {i}" for i in range(5)]).name == "apache-combined+T"


def test_an_unknown_trailing_column_is_not_guessed():
    assert detect([combined(i) + f" web0{i}" for i in range(5)]).name == "nginx-combined"


def test_vhost_prefix_is_not_read_as_the_client(tmp_path):
    text = "\n".join(f"shop{i % 2}.example.org " + combined(i, ip=f"198.51.100.{i}") for i in range(6)) + "\n"
    lake, summary = ingest_text(tmp_path, text)
    assert summary.files[0].format == "nginx-vhost-combined"
    got = rows(lake)
    assert [r["vhost"] for r in got[:2]] == ["shop0.example.org", "shop1.example.org"]
    assert check_expect(lake, got[3], {"client_ip": "198.51.100.3", "user": "__null__"}) == []


def test_forwarded_for_list_first_or_last_untrusted(tmp_path):
    text = combined(1, ip="203.0.113.9, 198.51.100.4, 10.0.0.2, 127.0.0.1") + "\n"
    lake, _ = ingest_text(tmp_path, text, name="first.log")
    assert check_expect(lake, rows(lake)[0], {"client_ip": "203.0.113.9", "user": "__null__"}) == []
    lake2, _ = ingest_text(tmp_path / "b", text, options=FieldOptions(client_ip_from="xff-last"))
    assert check_expect(lake2, rows(lake2)[0], {"client_ip": "198.51.100.4"}) == []


def test_trailing_fields_no_layout_names_are_stored_with_a_warning(tmp_path):
    text = "\n".join(combined(i) + f" web0{i % 3} v1.4{i % 2}" for i in range(10)) + "\n"
    lake, summary = ingest_text(tmp_path, text)
    assert (summary.stored, summary.rejected) == (10, 0)
    warnings = summary.as_dict()["warnings"]
    assert any("after the last one" in w["what"] and w["lines"] == 10 and "--nginx-format" in w["fix"]
               for w in warnings), warnings


def test_extended_layout_fills_latency_and_cache(tmp_path):
    text = "\n".join(combined(i) + f" 0.{i + 1:03d} {'HIT' if i % 2 else 'MISS'}" for i in range(4)) + "\n"
    lake, summary = ingest_text(tmp_path, text)
    got = rows(lake)
    assert [r["latency_ms"] for r in got] == pytest.approx([1.0, 2.0, 3.0, 4.0])
    assert [r["cache_status"] for r in got] == ["miss", "hit", "miss", "hit"]
    assert summary.files[0].coverage["latency"] == 1.0
    assert not summary.as_dict()["warnings"][1:]  # at most the no-session-signal warning


@pytest.mark.parametrize(
    "line,reason",
    [
        ('203.0.113.7 - - [19/Sep/2023:16:09:12 +0000] "GET / HTTP/1.1" 999 12 "-" "UA"', "status"),
        ('203.0.113.7 - - [19/Sep/2099:16:09:12 +0000] "GET / HTTP/1.1" 200 12 "-" "UA"', "plausible"),
        ('203.0.113.7 - - [19/Sep/1970:16:09:12 +0000] "GET / HTTP/1.1" 200 12 "-" "UA"', "plausible"),
    ],
)
def test_implausible_fields_are_rejected_with_a_reason(tmp_path, line, reason):
    lines = [combined(i) for i in range(5)] + [line]
    lake, summary = ingest_text(tmp_path, "\n".join(lines) + "\n", fmt="nginx-combined")
    assert (summary.stored, summary.rejected) == (5, 1)
    (got,) = rows(lake, "rejects")
    assert got["line_no"] == 6 and reason in got["reason"] and got["lines"] == 1


def test_forced_layout_on_vhost_lines_rejects_rather_than_misparses(tmp_path):
    text = "\n".join("example.org,x " + combined(i) for i in range(3)) + "\n"
    lake, summary = ingest_text(tmp_path, text, fmt="apache-combined")
    assert summary.stored == 0 and summary.rejected == 3


@pytest.mark.parametrize(
    "wrap",
    [
        lambda line, i: f"web-{i % 2 + 1}  | {line}",
        lambda line, i: f"\x1b[36mweb-1  | \x1b[0m{line}",
        lambda line, i: f"2023-09-19T16:09:{i:02d}.123456789Z stdout F {line}",
        lambda line, i: '{"log":"' + line.replace('"', '\\"') + '\\n","stream":"stdout","time":"2023-09-19T16:09:12Z"}',
    ],
    ids=["compose", "compose-colour", "cri", "docker-json"],
)
def test_container_wrappers_are_stripped(tmp_path, wrap):
    lines = [wrap(combined(i), i) for i in range(8)] + ["not a log line at all"]
    lake, summary = ingest_text(tmp_path, "\n".join(lines) + "\n")
    assert summary.files[0].format.endswith("nginx-combined")
    assert (summary.lines_read, summary.stored, summary.rejected) == (9, 8, 1)
    assert rows(lake, "rejects")[0]["line_no"] == 9
    assert rows(lake)[3]["path"] == "/works/3"
    staging = tmp_path / "lake" / "_staging"
    assert not staging.exists() or not any(p.is_file() for p in staging.rglob("*.log"))


def test_directory_with_docs_and_data_files_is_ingested(tmp_path):
    d = tmp_path / "logs"
    d.mkdir()
    (d / "access.log").write_text("\n".join(combined(i) for i in range(3)) + "\n")
    (d / "SOURCES.md").write_text("# where these logs come from\n")
    (d / "fields.json").write_text('[{"name": "ClientIP"}]\n')
    with gzip.open(d / "access.log.1.gz", "wt") as fh:
        fh.write("\n".join(combined(i + 10) for i in range(2)) + "\n")
    summary = ingest(tmp_path / "lake", [str(d)])
    by_name = {os.path.basename(f.path): f for f in summary.files}
    assert by_name["SOURCES.md"].status == "skipped"
    assert by_name["fields.json"].status == "skipped" and "not a log file" in by_name["fields.json"].message
    assert summary.stored == 5 and not summary.failed


def test_a_named_file_no_format_matches_fails_in_one_line(tmp_path):
    p = tmp_path / "notes.txt"
    p.write_text("hello\nworld\n")
    summary = ingest(tmp_path / "lake", [str(p)])
    (f,) = summary.failed
    assert "\n" not in f.message and "--format" in f.message


def test_rejects_table_counts_lines_like_the_summary(tmp_path):
    text = "\n".join([combined(1), "garbage", "", combined(2), combined(3), combined(4), "more garbage"]) + "\n"
    lake, summary = ingest_text(tmp_path, text)
    total = lake.sql("SELECT sum(lines) FROM rejects").fetchall()[0][0]
    assert total == summary.rejected == 3


def test_keep_raw_ips_stores_the_address_beside_its_hash(tmp_path):
    lake, summary = ingest_text(tmp_path, combined(1, ip="198.51.100.77") + "\n",
                                options=FieldOptions(keep_raw_ips=True))
    (row,) = rows(lake)
    assert row["client_ip"] == "198.51.100.77" and row["client_key"] and row["client_key"] != "198.51.100.77"
    lake2, _ = ingest_text(tmp_path / "b", combined(1, ip="198.51.100.77") + "\n")
    assert rows(lake2)[0]["client_ip"] is None


def test_coverage_and_no_signal_warning(tmp_path):
    text = "\n".join(combined(i) for i in range(4)) + "\n"
    _, summary = ingest_text(tmp_path, text)
    cov = summary.files[0].coverage
    assert cov["session_cookie"] == 0 and cov["user_key"] == 0 and cov["session_errors"] == 0
    assert any("cannot show session problems" in w["what"] for w in summary.files[0].warnings)


def test_labelled_timings_are_named(tmp_path):
    text = "\n".join(combined(i) + f' rt=0.{i + 1:03d} uct="0.000" uht="0.00{i}" urt="0.00{i}, 0.001"'
                     for i in range(4)) + "\n"
    lake, summary = ingest_text(tmp_path, text)
    assert summary.files[0].format == ("nginx-combined+request_time+upstream_connect_time+upstream_header_time"
                                       "+upstream_response_time")
    assert [r["latency_ms"] for r in rows(lake)] == pytest.approx([1.0, 2.0, 3.0, 4.0])
    assert not any("after the last one" in w["what"] for w in summary.as_dict()["warnings"])


def test_nginx_documented_upstream_time_layout(tmp_path):
    # nginx's docs concatenate the user agent's closing quote and rt= with no space
    text = "\n".join(combined(i) + f'rt=0.{i + 1:03d} uct="0.000" uht="0.001" urt="0.001"' for i in range(4)) + "\n"
    lake, summary = ingest_text(tmp_path, text)
    assert summary.files[0].format == "nginx-upstream-time"
    assert [r["latency_ms"] for r in rows(lake)] == pytest.approx([1.0, 2.0, 3.0, 4.0])


def test_apache_dash_bytes_are_zero(tmp_path):
    text = "\n".join(combined(i).replace(" 512 ", " - ") for i in range(4)) + "\n"
    lake, summary = ingest_text(tmp_path, text)
    assert summary.files[0].format == "apache-combined"
    assert {r["bytes"] for r in rows(lake)} == {0}


def test_nginx_hex_escapes_are_decoded(tmp_path):
    line = ('203.0.113.7 - - [19/Sep/2023:16:09:12 +0000] "GET /caf\\xC3\\xA9?q=1 HTTP/1.1" 200 5 "-" '
            '"Agent\\x09tab M\\xC3\\xBCller \\x22q\\x22"')
    # a byte that is not UTF-8 keeps its escape (the quote and backslash are still decoded)
    odd = line.replace("\\x22q\\x22", "\\x22q\\x22 \\xFF")
    lake, summary = ingest_text(tmp_path, "\n".join([line, line, odd]) + "\n", fmt="nginx-combined")
    got = rows(lake)
    assert {r["path"] for r in got} == {"/café"}
    assert sorted(r["user_agent"] for r in got) == ['Agent\ttab Müller "q"'] * 2 + ['Agent\\x09tab M\\xC3\\xBCller "q" \\xFF']


def test_ingress_retry_lists(tmp_path):
    fmt = ('$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" '
           '"$http_user_agent" $request_length $request_time [$proxy_upstream_name] [$proxy_alternative_upstream_name] '
           '$upstream_addr $upstream_response_length $upstream_response_time $upstream_status $req_id')
    line = ('203.0.113.7 - - [19/Sep/2023:16:09:12 +0000] "GET /api/me HTTP/1.1" 200 1830 "-" "curl/8" 400 0.516 '
            '[shop-api-8080] [] 10.0.0.1:80, 10.0.0.2:80 0, 1830 0.004, 0.512 502, 200 3f1c9a7e0b2d4c6e8f1a3b5c7d9e0f12')
    lake, summary = ingest_text(tmp_path, line + "\n", nginx_format=fmt)
    assert summary.stored == 1, summary.rejected_by_reason
    row = rows(lake)[0]
    assert (row["host"], row["request_id"], row["latency_ms"]) == ("10.0.0.2:80", "3f1c9a7e0b2d4c6e8f1a3b5c7d9e0f12", 516.0)


def test_json_cache_status_lower_case(tmp_path):
    line = '{"time": "2023-09-19T16:10:00Z", "status": 200, "path": "/a", "cache_status": "HIT"}'
    lake, _ = ingest_text(tmp_path, line + "\n")
    assert rows(lake)[0]["cache_status"] == "hit"


def test_absolute_urls_give_their_path(tmp_path):
    lines = ['{"time": "2023-09-19T16:10:00Z", "status": 200, "url": "https://example.org/works/5?x=1"}',
             '203.0.113.7 - - [19/Sep/2023:16:09:12 +0000] "GET http://example.org/works/6 HTTP/1.1" 200 5 "-" "UA"']
    lake, _ = ingest_text(tmp_path, lines[0] + "\n", name="a.jsonl")
    assert (rows(lake)[0]["path"], rows(lake)[0]["route"]) == ("/works/5", "/works/:id")
    lake2, _ = ingest_text(tmp_path / "b", lines[1] + "\n")
    assert rows(lake2)[0]["path"] == "/works/6"


def test_cloudflare_empty_cookie_does_not_hide_the_session_cookie(tmp_path):
    from sessionlens.privacy import keyed_hash, load_or_create_key

    line = ('{"EdgeStartTimestamp": "2023-09-19T16:12:01Z", "ClientRequestURI": "/", "EdgeResponseStatus": 200, '
            '"Cookies": {"sid": "", "_app_session": "abc--def"}}')
    lake, _ = ingest_text(tmp_path, line + "\n")
    row = rows(lake)[0]
    assert row["session_key"] == keyed_hash(load_or_create_key(lake.root), "session", "abc--def")


def test_a_lake_inside_the_input_directory_is_never_ingested(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "access.log").write_text("\n".join(combined(i) for i in range(3)) + "\n")
    ingest(logs / "lake", [str(logs)])
    (logs / "access.log").write_text("\n".join(combined(i) for i in range(4)) + "\n")
    again = ingest(logs / "lake", [str(logs)])
    assert [os.path.basename(f.path) for f in again.files] == ["access.log"]
