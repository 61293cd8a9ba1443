"""Fuzz: marker files full of random records never crash a command.

Records get random types in every field (lists, nested objects, huge, NaN and
infinite numbers, 1e308, negative epochs, non-UTF-8 bytes, missing fields,
duplicate ids) in each marker format. They go through the reader, `changes
import`, `ingest` (a marker file with a small nginx log after it: the log must
still be ingested), `analyze`, the report and `nightly`: nothing may raise but
a SessionlensError, and records read = stored + rejected everywhere.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sessionlens import Lake, ingest
from sessionlens.analysis.pipeline import analyze
from sessionlens.changes.markers import detect_marker_format, read_marker_file
from sessionlens.changes.store import import_markers, written_changes
from sessionlens.errors import SessionlensError
from sessionlens.nightly import run_nightly
from sessionlens.report import write_report

T0 = datetime(2023, 9, 19, 16, 0, tzinfo=timezone.utc)
# more examples for a longer hunt: SESSIONLENS_FUZZ_SCALE=20 pytest tests/test_markers_fuzz.py
SCALE = float(os.environ.get("SESSIONLENS_FUZZ_SCALE", "1"))

# --- values ---------------------------------------------------------------------------

TIMES = st.one_of(
    st.integers(min_value=0, max_value=100).map(lambda m: (T0 + timedelta(minutes=m)).strftime("%Y-%m-%dT%H:%M:%SZ")),
    st.integers(min_value=0, max_value=100).map(lambda m: int((T0 + timedelta(minutes=m)).timestamp())),
    st.integers(min_value=0, max_value=100).map(lambda m: int((T0 + timedelta(minutes=m)).timestamp() * 1000)),
    st.sampled_from(["2023-09-19T16:40:00+02:00", "2023-09-19 16:45:00", "1695139740", "yesterday", "", "0",
                     "9999-12-31T23:59:59Z", "0001-01-01T00:00:00+05:00", "2023-13-45T99:00:00Z", "-1695139740",
                     "1" * 45, "2023-09-19T16:40:00.123456789Z"]),
)
NUMBERS = st.one_of(
    st.integers(min_value=-(10 ** 30), max_value=10 ** 30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([1e308, -1e308, 1e-308, -0.0, 2 ** 63, -(2 ** 63) - 1, 10 ** 400, -1695139740, 1695139740000000000]),
)
TEXTS = st.one_of(st.text(max_size=12), st.sampled_from(["", " ", "web01,web02", "deploy", "Feature-Flag", "inferred:x",
                                                          "\ud800", "\x00", "a\nb", "session=abc123", "\u2028"]))
SCALARS = st.one_of(st.none(), st.booleans(), NUMBERS, TEXTS, TIMES)
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                      st.dictionaries(TEXTS, inner, max_size=3)), max_leaves=6)
# a nested value (deeper ones, past the parser's recursion limit, come as garbage lines below)
DEEP = st.integers(min_value=20, max_value=200).map(lambda n: json.loads("[" * n + "]" * n))


def field(good):
    """A field: usually plausible, often anything at all, sometimes missing (None is 'leave it out')."""
    return st.one_of(good, good, VALUES, DEEP, st.just(MISSING))


MISSING = object()
IDS = st.one_of(st.sampled_from(["d1", "d2", "d3", "dup"]), st.integers(min_value=0, max_value=5), TEXTS)
SCOPES = st.one_of(st.just({"hosts": ["web01"]}), st.dictionaries(st.sampled_from(["hosts", "host", "version", "paths",
                                                                                    "percent", "x", ""]), VALUES, max_size=3))


def record(fields: dict) -> st.SearchStrategy:
    return st.fixed_dictionaries({k: field(v) for k, v in fields.items()}).map(
        lambda d: {k: v for k, v in d.items() if v is not MISSING})


SESSIONLENS = record({"id": IDS, "at": TIMES, "end": TIMES, "kind": st.sampled_from(["deploy", "config", "teleport", ""]),
                      "label": TEXTS, "scope": SCOPES, "detail": TEXTS})
GRAFANA = record({"id": IDS, "time": TIMES, "timeEnd": TIMES, "tags": st.lists(TEXTS, max_size=3), "text": TEXTS})
HONEYCOMB = record({"id": IDS, "start_time": TIMES, "end_time": TIMES, "type": TEXTS, "message": TEXTS, "url": TEXTS})
CF_V2 = record({"id": IDS, "action": st.fixed_dictionaries({"time": TIMES, "type": TEXTS, "description": TEXTS}),
                "timestamp": TIMES, "resource": st.dictionaries(st.sampled_from(["product", "type"]), TEXTS),
                "resources": VALUES, "zone": st.fixed_dictionaries({"name": TEXTS})})
CF_V1 = record({"ID": IDS, "When": TIMES, "ActionType": TEXTS, "ResourceType": TEXTS, "Metadata": VALUES})

# the first record makes the file recognisable as its format
FIRST = {
    "sessionlens-jsonl": {"id": "first", "at": "2023-09-19T16:01:00Z", "kind": "deploy"},
    "sessionlens-csv": {"id": "first", "at": "2023-09-19T16:01:00Z", "kind": "deploy"},
    "grafana": {"id": "first", "time": 1695139260000, "text": "first", "tags": ["deploy"]},
    "honeycomb": {"id": "first", "start_time": 1695139260, "type": "deploy"},
    "cloudflare-audit-v2": {"id": "first", "action": {"time": "2023-09-19T16:01:00Z", "type": "update"}},
    "cloudflare-audit-v1": {"ID": "first", "When": "2023-09-19T16:01:00Z", "ActionType": "update"},
}
RECORDS = {"sessionlens-jsonl": SESSIONLENS, "sessionlens-csv": SESSIONLENS, "grafana": GRAFANA, "honeycomb": HONEYCOMB,
           "cloudflare-audit-v2": CF_V2, "cloudflare-audit-v1": CF_V1}
GARBAGE = st.one_of(st.binary(min_size=1, max_size=20), st.sampled_from([b"\xff\xfe\x00", b"not json", b"[1, 2]", b"null",
                                                                       b"{\"id\": \"x\", \"at\": 1e400}", b"\xed\xa0\x80",
                                                                       b"[" * 30_000 + b"]" * 30_000,
                                                                       b'{"id": "deep", "at": 0, "scope": ' + b"[" * 5000]))


def _dumps(obj) -> str:
    try:
        return json.dumps(obj, allow_nan=True)
    except (ValueError, RecursionError):
        return "[]"


def _cell(value) -> str:
    return value if isinstance(value, str) else _dumps(value)


def marker_file(fmt: str, records: list[dict], garbage: list[bytes]) -> tuple[bytes, int]:
    """The file's bytes, and how many records it holds."""
    records = [FIRST[fmt]] + records
    if fmt in ("sessionlens-jsonl", "cloudflare-audit-v1"):
        lines = [_dumps(r).encode("utf-8", "surrogatepass") for r in records]
        for i, g in enumerate(garbage):  # garbage lines after the first, each one line
            lines.insert(1 + i % len(lines), g.replace(b"\n", b" ").replace(b"\r", b" "))
        body = b"\n".join(lines) + b"\n"
        return body, sum(1 for line in body.split(b"\n") if line.decode("utf-8", "replace").strip())
    if fmt == "sessionlens-csv":
        out = io.StringIO()
        w = csv.writer(out)  # \r\n line ends: a \r in a field is quoted
        cols = ["id", "at", "end", "kind", "label", "scope", "detail"]
        w.writerow(cols)
        for r in records:
            w.writerow([_cell(r[c]) if c in r else "" for c in cols])
        body = out.getvalue().encode("utf-8", "surrogatepass")
        if garbage:
            body += b"".join(g.replace(b"\n", b" ").replace(b"\r", b" ").replace(b'"', b"'") + b"\n" for g in garbage)
        n = sum(1 for row in csv.reader(io.StringIO(body.decode("utf-8", "replace"), newline=""))
                if any(c.strip() for c in row)) - 1
        return body, n
    items = records
    doc = {"result": items, "success": True} if fmt == "cloudflare-audit-v2" else items
    body = json.dumps(doc, indent=1, allow_nan=True).encode("utf-8", "surrogatepass")
    return body, len(items)


def _safe_dump(doc) -> bool:
    try:
        json.dumps(doc, allow_nan=True)
        return True
    except (ValueError, RecursionError):
        return False


FILES = st.sampled_from(sorted(RECORDS)).flatmap(
    lambda fmt: st.tuples(st.just(fmt), st.lists(RECORDS[fmt], max_size=6), st.lists(GARBAGE, max_size=2)))


def nginx_log(path: Path) -> int:
    """90 minutes of requests with a burst of 419s (session errors) from 16:40."""
    lines = []
    for i in range(900):
        t = T0 + timedelta(seconds=6 * i)
        status = 419 if 40 <= (t - T0).total_seconds() / 60 < 55 and i % 2 == 0 else 200
        lines.append(f'203.0.113.{i % 50} - - [{t:%d/%b/%Y:%H:%M:%S} +0000] "POST /form/{i % 7} HTTP/1.1" {status} 512 '
                     f'"-" "Mozilla/5.0"\n')
    path.write_text("".join(lines))
    return len(lines)


# --- properties -------------------------------------------------------------------------


@settings(max_examples=int(300 * SCALE), deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(FILES)
def test_reading_random_marker_files(spec):
    fmt, records, garbage = spec
    body, expected = marker_file(fmt, records, garbage if fmt in ("sessionlens-jsonl", "cloudflare-audit-v1",
                                                                  "sessionlens-csv") else [])
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "markers.txt"
        path.write_bytes(body)
        assert detect_marker_format(path) == fmt
        read = read_marker_file(path)
        assert read.read == len(read.changes) + len(read.rejects) == expected
        assert read.changes and read.changes[0].id.endswith("first")
        ids = [c.id for c in read.changes]
        assert len(ids) == len(set(ids))
        for c in read.changes:
            assert c.at.tzinfo is not None and (c.end is None or c.end >= c.at)
            assert isinstance(c.scope, dict) and isinstance(c.label, str) and isinstance(c.detail, str)
            assert all(isinstance(h, str) for h in c.scope.get("hosts", []))
            for v in c.scope.values():
                for x in (v if isinstance(v, list) else [v]):
                    assert isinstance(x, (str, int, float)) and not isinstance(x, bool)
                    assert not isinstance(x, float) or math.isfinite(x)
            c.as_row()["scope"].encode()  # storable: valid UTF-8 JSON text
        for r in read.rejects:
            # the catch-all for errors nobody foresaw must never be needed
            assert not r.reason.startswith("unreadable record"), r
            assert r.where and len(r.excerpt) <= 160


@settings(max_examples=int(25 * SCALE), deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(FILES, st.booleans())
def test_random_markers_through_every_command(spec, nightly):
    fmt, records, garbage = spec
    body, expected = marker_file(fmt, records, garbage if fmt != "grafana" and fmt != "honeycomb"
                                 and fmt != "cloudflare-audit-v2" else [])
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        inbox = base / "inbox"
        inbox.mkdir()
        (inbox / "a-markers.json").write_bytes(body)
        lines = nginx_log(inbox / "b-access.log")

        imported = import_markers(base / "imported", [str(inbox / "a-markers.json")])
        assert imported.read == expected == imported.added + len(imported.skipped_existing) + len(imported.rejected)

        if nightly:
            result = run_nightly(inbox, base / "lake", base / "out")
            summary = result.summary
            assert result.report.exists()
        else:
            summary = ingest(base / "lake", [str(inbox)])
        by_name = {Path(f.path).name: f for f in summary.files}
        log, markers = by_name["b-access.log"], by_name["a-markers.json"]
        assert log.status == "ingested" and log.stored == lines
        assert markers.status == "ingested" and markers.lines_read == expected == markers.stored + markers.rejected
        lake = Lake(base / "lake")
        stored_rejects = lake.sql("SELECT coalesce(sum(lines), 0) FROM rejects WHERE source_file LIKE '%a-markers.json'")
        assert stored_rejects.fetchall()[0][0] == markers.rejected
        assert len(written_changes(lake)) == markers.stored

        for target in (base / "lake", base / "imported"):
            try:
                analysis = analyze(target)
                write_report(target, base / "report.html", analysis=analysis)
                write_report(target, base / "report.md")
            except SessionlensError:
                assert target.name == "imported"  # a lake with markers only has no requests to analyse
