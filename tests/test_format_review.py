"""Regressions from a review of the proxy, cloud and container formats against their documentation.

Each test holds lines written from a format's public documentation (or its
documented variants) that were once misparsed, rejected or mis-detected.
The single-line cases are also `[[sample]]`s of their spec files; these
tests add what a sample cannot say: detection without --format, wrapped and
split lines, counts, and that no planted client address or cookie reaches
the lake.
"""

from __future__ import annotations

import gzip
import json

import pytest

from sessionlens import Lake, ingest, preview
from sessionlens.errors import FormatError
from sessionlens.ingestion.containers import unwrap
from sessionlens.ingestion.formats import get_spec
from sessionlens.ingestion.formats.regexfmt import RegexParser

from .conftest import ingest_text, rows

NGINX = '192.0.2.{n} - - [05/Mar/2024:10:00:0{s} +0000] "GET /a/{n}?b=1 HTTP/1.1" 200 12 "-" "curl/8.1.2"'


def _lake_text(lake: Lake) -> str:
    return "\n".join(str(r) for t in ("requests", "events", "rejects") for r in lake.sql(f"SELECT * FROM {t}").fetchall())


def _sample_lines(fmt: str, first: int) -> list[str]:
    """The spec's sample lines from the `first`-th on (one record each, no headers)."""
    return [s.line for s in get_spec(fmt).samples[first:]]


# --- detection of the lines once rejected, without --format ------------------

# format -> index of its first sample added by this review
ADDED = {"aws-alb": 6, "aws-s3-access": 5, "haproxy-http": 6, "traefik-clf": 5, "envoy": 5, "uwsgi": 5}


@pytest.mark.parametrize("fmt", sorted(ADDED))
def test_new_lines_are_detected_and_all_stored(tmp_path, fmt):
    lines = _sample_lines(fmt, ADDED[fmt])
    spec_lines = _sample_lines(fmt, 0)
    # a file of the new lines between the older ones, detected on its own
    text = "\n".join(lines + spec_lines[: 8 - len(lines)]) + "\n"
    lake, summary = ingest_text(tmp_path, text)
    assert [f.format for f in summary.files] == [fmt]
    assert summary.rejected == 0, summary.rejected_by_reason
    assert summary.stored == summary.lines_read == text.count("\n")


# --- ALB ----------------------------------------------------------------------

def test_alb_decodes_x22_but_keeps_percent_escapes(tmp_path):
    line = ('https 2024-03-05T10:00:08.000000Z app/shop-lb/50dc6c495c0c9188 192.0.2.17:2817 10.0.0.1:80 0.000 0.001 '
            '0.000 200 200 34 366 "GET https://shop.example.com:443/a%2Fb/c%20d?x=\\x22y\\x22 HTTP/1.1" '
            '"curl/8.1.2 \\x22x\\x22 100%" - - arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/shop/73e2d6'
            ' "Root=1-58337262-36d228ad5d99923122bbe358" "-" "-" 0 2024-03-05T10:00:08.000000Z "forward" "-" "-"')
    lake, summary = ingest_text(tmp_path, line + "\n", fmt="aws-alb")
    (row,) = rows(lake)
    assert row["path"] == "/a%2Fb/c%20d"
    assert row["user_agent"] == 'curl/8.1.2 "x" 100%'


# --- CloudFront -----------------------------------------------------------------

CF_FIELDS = get_spec("aws-cloudfront").data["default_fields"]


def _cf_record(ip: str, extra: str = "") -> str:
    return ("2024-03-05\t21:02:31\tLAX1\t392\t" + ip + "\tGET\td111111abcdef8.cloudfront.net\t/index.html\t200\t-\t"
            "Mozilla/5.0%20(X11)\t-\t_shop_session=CanaryTok3nQ7x9Zr2Lm5Vb8Nc4Kd6Wf1Hy0Ps;%20theme=dark\tHit\t"
            "SOX4xwn4XV6Q4rgb7XiVGOHms_BGlTAC4KyHmureZmBNrjGdRLiNIQ==\td111111abcdef8.cloudfront.net\thttps\t23\t0.001"
            "\t-\tTLSv1.2\tECDHE-RSA-AES128-GCM-SHA256\tHit\tHTTP/2.0\t-\t-\t11040\t0.001\tHit\ttext/html\t78\t-\t-"
            + extra)


def test_cloudfront_gzip_file_with_trailing_tabs_is_detected_and_read_whole(tmp_path):
    text = "#Version: 1.0\n#Fields: " + CF_FIELDS + "\n" + "\n".join(
        _cf_record(f"192.0.2.{n}", "\t" if n % 2 else "") for n in range(10, 18)) + "\n"
    src = tmp_path / "E2EXAMPLE.2024-03-05-21.a1b2c3d4.gz"
    src.write_bytes(gzip.compress(text.encode()))
    summary = ingest(tmp_path / "lake", [str(src)])
    assert [f.format for f in summary.files] == ["aws-cloudfront"]
    assert (summary.stored, summary.rejected) == (8, 2)
    assert summary.rejected_by_reason == {"W3C header line": 2}
    lake = Lake(tmp_path / "lake")
    assert {r["cache_status"] for r in rows(lake)} == {"hit"}
    assert all(r["session_key"] for r in rows(lake))
    body = _lake_text(lake)
    assert "192.0.2.1" not in body and "CanaryTok3n" not in body


def test_cloudfront_record_with_a_value_too_many_is_still_rejected(tmp_path):
    text = "#Version: 1.0\n#Fields: " + CF_FIELDS + "\n" + _cf_record("192.0.2.20", "\textra") + "\n"
    lake, summary = ingest_text(tmp_path, text, fmt="aws-cloudfront", allow_rejects=True)
    assert summary.stored == 0
    assert summary.rejected_by_reason["line does not match its #Fields directive (format aws-cloudfront)"] == 1


# --- HAProxy ----------------------------------------------------------------------

def test_haproxy_rfc5424_and_iso_headers_give_the_zone_of_the_accept_date(tmp_path):
    base = ('{ip}:50516 [20/Jun/2024:11:47:56.766] fe_main be_app/s1 0/0/24/27/51 404 379 - - ---- 1/1/0/0/0 0/0 '
            '"GET /index.html HTTP/1.1"')
    text = "\n".join([
        "<134>1 2024-06-20T11:47:56.817934+02:00 lb1 haproxy 266980 - - " + base.format(ip="192.0.2.30"),
        "<134>1 2024-06-20T11:47:56.817934Z - haproxy 266980 - - " + base.format(ip="192.0.2.31"),
        "2024-06-20T11:47:56.817934-0500 " + base.format(ip="192.0.2.32"),
        "Jun 20 11:47:56 lb1 haproxy[266980]: " + base.format(ip="192.0.2.33"),
    ]) + "\n"
    lake, summary = ingest_text(tmp_path, text)
    assert [f.format for f in summary.files] == ["haproxy-http"]
    assert summary.stored == 4
    hours = [(r["ts"].astimezone().utctimetuple().tm_hour) for r in rows(lake)]
    assert hours == [9, 11, 16, 11]


def test_haproxy_vhost_is_never_an_address(tmp_path):
    head = '192.0.2.40:41008 [05/Mar/2024:10:00:26.000] fe_main~ be_app/app2 0/0/1/20/21 200 512 - - ---- 3/3/1/1/0 0/0 '
    text = "\n".join(head + h + ' "GET /b HTTP/1.1"' for h in (
        "{198.51.100.9}", "{2001:db8::9}", "{10.0.0.1:8080}", "{198.51.100.9, 10.0.0.1}", "{shop.example.com:8443}",
        "{localhost}")) + "\n"
    lake, summary = ingest_text(tmp_path, text, fmt="haproxy-http")
    assert [r["vhost"] for r in rows(lake)] == [None, None, None, None, "shop.example.com:8443", None]
    assert "198.51.100.9" not in _lake_text(lake)


def test_haproxy_truncated_request_and_httpslog_tail(tmp_path):
    text = "\n".join([
        '192.0.2.50:41001 [05/Mar/2024:10:00:17.000] fe_main~ be_app/app1 0/0/1/5/6 200 512 - - ---- 3/3/1/1/0 0/0 '
        '{shop.example.com} "GET /search?q=' + "a" * 900,
        '192.0.2.51:41002 [05/Mar/2024:10:00:18.000] fe_main~ be_app/app1 0/0/1/5/6 200 512 - - ---- 3/3/1/1/0 0/0 '
        '"GET /x HTTP/1.1" 0/0/0/0/0 -/-/-',
    ]) + "\n"
    lake, summary = ingest_text(tmp_path, text, fmt="haproxy-http")
    assert [(r["path"], r["vhost"]) for r in rows(lake)] == [("/search", "shop.example.com"), ("/x", None)]


# --- regex family keys --------------------------------------------------------------

def test_regex_keys_are_checked():
    spec = {"regex": "(?P<a>\\S+)", "fields": {"uri": {"group": "a", "unescape": "%"}}}
    with pytest.raises(FormatError, match="unescape"):
        RegexParser("x", spec=spec)
    spec = {"regex": "(?P<a>\\S+) (?P<b>\\S+)", "fields": {"ts": {"join": ["a", "c"], "iso8601": True}}}
    with pytest.raises(FormatError, match="no group c"):
        RegexParser("x", spec=spec)


# --- container wrappers ---------------------------------------------------------------

def test_compose_colours_around_name_and_padding(tmp_path):
    text = "\n".join([
        "web-api_1      | " + NGINX.format(n=60, s=0),
        "\x1b[36mweb-api_1      |\x1b[0m " + NGINX.format(n=61, s=1),
        "\x1b[32mproxy-12\x1b[0m  \x1b[32m|\x1b[0m " + NGINX.format(n=62, s=2),
        "my_long-service-name-2  | " + NGINX.format(n=63, s=3),
    ]) + "\n"
    lake, summary = ingest_text(tmp_path, text)
    assert [f.format for f in summary.files] == ["compose:nginx-combined"]
    assert (summary.stored, summary.rejected) == (4, 0)


def test_cri_partial_lines_are_joined(tmp_path):
    lines = [NGINX.format(n=70 + i, s=i) for i in range(4)]
    text = "\n".join([
        "2024-03-05T10:00:00.000000001Z stdout F " + lines[0],
        "2024-03-05T10:00:01.000000001Z stdout P " + lines[1][:20],
        "2024-03-05T10:00:01.000000002Z stdout P " + lines[1][20:50],
        "2024-03-05T10:00:01.000000003Z stdout F " + lines[1][50:],
        "2024-03-05T10:00:02.000000001+00:00 stderr F " + lines[2],
        "2024-03-05T10:00:03.000000001Z stdout P " + lines[3][:30],  # the file ends mid-line
    ]) + "\n"
    lake, summary = ingest_text(tmp_path, text, allow_rejects=True)
    assert [f.format for f in summary.files] == ["cri:nginx-combined"]
    assert summary.lines_read == 6 == summary.stored + summary.rejected
    assert [r["path"] for r in rows(lake)] == ["/a/70", "/a/71", "/a/72"]
    # the joined line stands on its first part's line; the other parts' lines are blank
    assert [(r["line_no"], r["reason"]) for r in rows(lake, "rejects")] == [
        (3, "blank line"), (4, "blank line"), (6, "line does not match format nginx-combined")]
    assert "192.0.2.7" not in _lake_text(lake)


def test_docker_json_partial_records_are_joined(tmp_path):
    line = NGINX.format(n=80, s=0).replace("curl/8.1.2", 'Mozilla/5.0 \\x22q\\x22 <b>')
    records = [{"log": line[:30], "stream": "stdout"}, {"log": line[30:] + "\n", "stream": "stdout"},
               {"log": NGINX.format(n=81, s=1) + "\n", "stream": "stderr"}]
    text = "\n".join(json.dumps(dict(r, time="2024-03-05T10:00:00.1Z"), separators=(",", ":")).replace("<", "\\u003c")
                     for r in records) + "\n"
    lake, summary = ingest_text(tmp_path, text)
    assert [f.format for f in summary.files] == ["docker-json:nginx-combined"]
    assert summary.lines_read == 3 == summary.stored + summary.rejected
    assert [(r["path"], r["user_agent"]) for r in rows(lake)] == [("/a/80", 'Mozilla/5.0 "q" <b>'),
                                                                   ("/a/81", "curl/8.1.2")]
    assert "192.0.2.8" not in _lake_text(lake)


def test_unwrap_keeps_one_line_per_line(tmp_path):
    src = tmp_path / "cri.log"
    src.write_text("2024-03-05T10:00:00Z stdout P ab\n2024-03-05T10:00:00Z stdout P cd\n"
                   "2024-03-05T10:00:00Z stdout F ef\nplain\n")
    assert unwrap(src, "cri", tmp_path / "out.log").read_text() == "abcdef\n\n\nplain\n"


def test_preview_reads_wrapped_split_lines(tmp_path):
    src = tmp_path / "pod.log"
    line = NGINX.format(n=90, s=0)
    src.write_text("2024-03-05T10:00:00Z stdout P " + line[:40] + "\n2024-03-05T10:00:00Z stdout F " + line[40:] + "\n")
    frame = preview(src)
    assert frame.filter(frame["_reject"].is_null())["path"].to_list() == ["/a/90"]
