"""Property tests: no input crashes ingest, and every line is accounted for."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sessionlens import Lake, ingest

from .conftest import ingest_counted

GOOD = {
    "nginx-edge": '203.0.113.7 - - [19/Sep/2023:16:09:12 +0000] "POST /works/123/kudos HTTP/1.1" 422 312 "-" "Mozilla/5.0 (X11)" 0.041 web03 v1.40.2 "BAh7CEkiD3Nl--3f9c2b6b1a0e4d8c9f7a6b5c4d3e2f1a0b9c8d7e" "on" "MISS" "u1" "-"',
    "apache-combined": '10.0.0.1 - - [07/Apr/2016:18:42:24 +0000] "GET /a?b=1 HTTP/1.1" 400 75 "" "Mozilla/5.0 (iPad)"',
    "cloudflare-http-requests": json.dumps({"EdgeStartTimestamp": 1695139921000000000, "ClientIP": "192.0.2.1", "ClientRequestURI": "/", "EdgeResponseStatus": 200}),
    "app-events": json.dumps({"ts": "2022-06-21T20:45:10Z", "event": "login", "session_id": "s1", "user_id": "u1"}),
    "rails": 'I, [2023-09-19T16:10:02.114321 #4127]  INFO -- : [5b3c1e7a-2f0d-4c1e-9d52-7a1f0e2b9c44] Started POST "/works/1/kudos" for 203.0.113.7 at 2023-09-19 16:10:02 +0000',
    "applog": "[2016-08-15 22:41:11] production.NOTICE: exception 'Illuminate\\Session\\TokenMismatchException' in x.php:67",
}
FORMATS = sorted(GOOD)


@st.composite
def log_bytes(draw, fmt: str) -> bytes:
    """Lines mixing good lines, damaged good lines, garbage and huge lines."""
    good = GOOD[fmt].encode()
    pieces = []
    for _ in range(draw(st.integers(1, 12))):
        kind = draw(st.sampled_from(["good", "truncated", "mutated", "bytes", "huge", "badtime", "blank"]))
        if kind == "good":
            pieces.append(good)
        elif kind == "truncated":
            pieces.append(good[: draw(st.integers(0, len(good)))])
        elif kind == "mutated":
            at = draw(st.integers(0, len(good) - 1))
            pieces.append(good[:at] + draw(st.binary(min_size=1, max_size=4)) + good[at + 1 :])
        elif kind == "bytes":
            pieces.append(draw(st.binary(max_size=200)).replace(b"\n", b" "))
        elif kind == "huge":
            pieces.append(good[:40] + b"x" * (1 << 20) + good[40:])
        elif kind == "badtime":
            pieces.append(good.replace(b"2023", b"20x3").replace(b"2022", b"9999-99").replace(b"16:09", b"99:99"))
        else:
            pieces.append(b"")
    text = b"\n".join(pieces)
    if draw(st.booleans()):
        text += b"\n"
    return text


def _physical_lines(data: bytes, warnings: list[dict]) -> int:
    """Lines read: a fresh file's last line without its newline is held back when it is not a whole record."""
    held = any("no newline yet" in w["what"] for w in warnings)
    return data.count(b"\n") + (bool(data) and not data.endswith(b"\n") and not held)


def _check(fmt: str, data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        lake = Lake(ingest_counted(Path(tmp), fmt, data))
        lake.sql("SELECT count(*) FROM requests UNION ALL SELECT count(*) FROM events UNION ALL SELECT count(*) FROM rejects").fetchall()


SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _make(fmt):
    @SETTINGS
    @given(data=log_bytes(fmt))
    def test(data):
        _check(fmt, data)

    test.__name__ = f"test_no_input_crashes_{fmt.replace('-', '_')}"
    return test


for _fmt in FORMATS:
    globals()[f"test_no_input_crashes_{_fmt.replace('-', '_')}"] = _make(_fmt)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=3000))
def test_detection_never_crashes_on_arbitrary_bytes(data):
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "x.log"
        src.write_bytes(data)
        summary = ingest(Path(tmp) / "lake", [str(src)])
        f = summary.files[0]
        # either a format understood it and every line is counted, or it is
        # refused with a reason, or it holds no whole line yet
        assert f.status in ("ingested", "failed") or (f.status == "skipped" and b"\n" not in data)
        if f.status != "ingested":
            assert f.message
        else:
            assert f.lines_read == f.stored + f.rejected == _physical_lines(data, f.warnings)
