"""Secrets in URLs and in rejected lines never reach the lake (issue: data safety)."""

from __future__ import annotations

import io
import os
import stat

import pytest

from sessionlens import Lake, ingest

from .conftest import ingest_text, rows

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJjYW5hcnk3NyJ9.c2lnbmF0dXJlQ2FuYXJ5"
LINE = '203.0.113.7 - - [19/Sep/2023:16:09:{s:02d} +0000] "GET {path} HTTP/1.1" 200 12 "{ref}" "Mozilla/5.0"'


@pytest.mark.parametrize(
    "path,ref,secret",
    [
        ("/app;jsessionid=CanaryJsess1on0123456789/page", "-", "CanaryJsess1on0123456789"),
        ("/users/password/reset/CnryRst7x9Q2", "-", "CnryRst7x9Q2"),
        ("/account/confirm/k9CanaryConf1rm", "-", "k9CanaryConf1rm"),
        ("/invite/Inv1teCanary42", "-", "Inv1teCanary42"),
        ("/magic/MagicCanaryLinkTokenValue99", "-", "MagicCanaryLinkTokenValue99"),
        (f"/api/{JWT}/me", "-", "eyJzdWIiOiJjYW5hcnk3NyJ9"),
        ("/users/canary.person%40example.org/settings", "-", "canary.person"),
        ("/dl/AbCanaryRandomSegmentXy123456", "-", "AbCanaryRandomSegmentXy123456"),
        ("/", "https://example.org/cb#access_token=CanaryFragmentToken", "CanaryFragmentToken"),
        ("/", "https://canaryuser:CanaryPassw0rd@example.org/x", "CanaryPassw0rd"),
        ("/", "https://example.org/reset/CanaryRefReset9", "CanaryRefReset9"),
    ],
)
def test_secret_in_url_is_not_stored(tmp_path, path, ref, secret):
    lines = [LINE.format(s=i, path=path, ref=ref) for i in range(3)]
    lake, summary = ingest_text(tmp_path, "\n".join(lines) + "\n")
    assert summary.stored == 3
    got = rows(lake)
    text = repr(got)
    assert secret not in text
    assert all(":secret" in (r["path"] or "") + (r["route"] or "") + (r["referer"] or "") or
               ":email" in r["path"] or r["path"] in ("/app/page", "/") for r in got)


def test_ordinary_paths_keep_their_shape(tmp_path):
    paths = ["/works/123/kudos", "/stories/the-long-and-winding-road-chapter-12", "/confirm/42", "/login/2fa"]
    lake, _ = ingest_text(tmp_path, "\n".join(LINE.format(s=i, path=p, ref="-") for i, p in enumerate(paths)) + "\n")
    assert sorted(r["path"] for r in rows(lake)) == sorted(paths)


@pytest.mark.parametrize(
    "fragment,secret",
    [
        ("Authorization: Bearer CnryBr3", "CnryBr3"),
        ("token CnryTok9", "CnryTok9"),
        ('"otp"=>"481516"', "481516"),
        ("x-api-key CnryKey7", "CnryKey7"),
        ('{"otp": "234234"}', "234234"),
        ("Cookie: _app_session=CnrySess1", "CnrySess1"),
        ("?api_key=CnryQ9&x=1", "CnryQ9"),
    ],
)
def test_reject_excerpts_hide_every_secret_form(tmp_path, fragment, secret):
    good = [LINE.format(s=i, path="/a", ref="-") for i in range(10)]
    lake, summary = ingest_text(tmp_path, "\n".join(good + [f"garbage {fragment} more"]) + "\n")
    assert summary.rejected == 1
    (reject,) = rows(lake, "rejects")
    assert secret not in reject["excerpt"] and "garbage" in reject["excerpt"]


def test_stdin_is_staged_privately_and_leftovers_are_removed(tmp_path):
    lake_dir = tmp_path / "lake"
    ingest(lake_dir, ["-"], fmt="nginx-combined", stdin=io.BytesIO((LINE.format(s=1, path="/a", ref="-") + "\n").encode()))
    # a killed run's raw copy is removed by the next run
    leftover = lake_dir / "_staging" / "stdin-99999.log"
    leftover.write_text("203.0.113.250 raw line\n")
    ranged = lake_dir / "_staging" / "input-deadbeef"
    ranged.mkdir()
    (ranged / "range.log").write_text("203.0.113.251 raw line\n")
    ingest(lake_dir, ["-"], fmt="nginx-combined", stdin=io.BytesIO((LINE.format(s=2, path="/b", ref="-") + "\n").encode()))
    assert not leftover.exists() and not ranged.exists()
    assert Lake(lake_dir).sql("SELECT count(*) FROM requests").fetchall()[0][0] == 2


def test_stdin_staging_mode(tmp_path):
    from sessionlens.ingestion.reader import stage_stdin

    dest = stage_stdin(tmp_path / "s.log", io.BytesIO(b"x\n"))
    assert stat.S_IMODE(os.stat(dest).st_mode) == 0o600


def test_cloudflare_origin_address_is_not_stored_raw(tmp_path):
    import json

    records = [{"EdgeStartTimestamp": f"2023-09-19T16:10:0{i}Z", "ClientIP": "203.0.113.9", "ClientRequestURI": "/",
                "ClientRequestMethod": "GET", "EdgeResponseStatus": 200, "OriginIP": f"198.51.100.{200 + i % 2}"}
               for i in range(4)]
    lake, summary = ingest_text(tmp_path, "".join(json.dumps(r) + "\n" for r in records))
    got = rows(lake)
    assert summary.stored == 4 and "198.51.100.20" not in repr(got)
    hosts = {r["host"] for r in got}
    assert len(hosts) == 2 and all(h.startswith("origin-") for h in hosts)
