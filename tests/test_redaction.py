"""Redacted excerpts keep what helps debugging and drop what identifies people."""

from __future__ import annotations

import duckdb
import pytest

from sessionlens.privacy import cookie_format, cookie_format_sql, redact, redact_sql

CASES = [
    ('1.2.3.4 - bob [19/Sep/2023:16:09:14 +0000] "GET /x HTTP/1.1" oops', "<ip> - bob [19/Sep/2023:16:09:14 +0000]"),
    ("2001:db8::7 - - [x]", "<ip> - - [x]"),
    ("fe80:0:0:0:202:b3ff:fe1e:8329 hi", "<ip> hi"),
    ("Admin::Book::NodesController#create", "Admin::Book::NodesController#create"),
    ("Cookie: _app_session=BAh7CEkiD3Nlc3Npb25faWQGOgZFVEki--3f9c2b6b1a0e4d8c9f7a6b5c4d3e2f1a0b9c8d7e; theme=dark",
     "Cookie: <redacted>; theme=dark"),
    ('"authenticity_token"=>"/G5pF6hSPx0Vf21Fi0FCh+VlOcHY4w8C"', '"authenticity_token"=>"<redacted>"'),
    ("contact ann.lee+x@example.co.uk now", "contact <email> now"),
]


@pytest.mark.parametrize("raw,want", CASES)
def test_python_redaction(raw, want):
    assert redact(raw).startswith(want)


@pytest.mark.parametrize("raw,want", CASES)
def test_sql_redaction_matches_python(raw, want):
    got = duckdb.execute(f"SELECT {redact_sql('x')} FROM (SELECT CAST(? AS VARCHAR) AS x)", [raw]).fetchall()[0][0]
    assert got == redact(raw)


@pytest.mark.parametrize("value,fmt", [
    ("BAh7CEkiD3Nlc3Npb25faWQGOgZFVEki--3f9c2b6b1a0e4d8c9f7a6b5c4d3e2f1a0b9c8d7e", "rails-signed-sha1"),
    ("BAh7CEkiD3Nlc3Npb25faWQGOgZFVEki--" + "ab" * 32, "rails-signed-sha256"),
    ("c2Vzc2lvbi1kYXRh--aXYtYmFzZTY0--dGFnLWJhc2U2NA==", "rails-encrypted-gcm"),
    ("c2Vzc2lvbi1kYXRhLWVuY3J5cHRlZA==--aXYtYmFzZTY0LTE2Ynl0ZXM=", "rails-encrypted-cbc"),
    ("eyJhbGciOiJIUzI1NiJ9.eyJzaWQiOiIxMjMifQ.c2lnbmF0dXJl", "jwt"),
    ("k3j9s0d8f7g6h5j4k3l2m1n0b9", "php"),
    ("Zm9vYmFyYmF6cXV4", "opaque"),
    (None, "none"),
    ("-", "none"),
])
def test_cookie_formats_python_and_sql_agree(value, fmt):
    assert cookie_format(value) == fmt
    sql = f"SELECT {cookie_format_sql('x')} FROM (SELECT CAST(? AS VARCHAR) AS x)"
    assert duckdb.execute(sql, [value]).fetchall()[0][0] == fmt
