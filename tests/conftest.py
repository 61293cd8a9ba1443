"""Shared fixtures: paths to the real data, a lake helper, value matching."""

from __future__ import annotations

import math
import shutil
from datetime import datetime, timezone
from pathlib import Path

import pytest

from sessionlens import Lake, ingest
from sessionlens.privacy import keyed_hash, load_or_create_key

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
REAL = SHARED / "data" / "real"

needs_shared = pytest.mark.skipif(not REAL.exists(), reason="../shared/data/real is not beside the repo")

# expect keys that name a raw secret: compared through the lake's keyed hash
HASHED = {"client_ip": ("client_key", "ip"), "session_cookie": ("session_key", "session"),
          "user": ("user_key", "user"), "device": ("device_key", "device")}


def ingest_text(tmp_path: Path, text: str, name: str = "input.log", **kwargs):
    """Writes text to a file, ingests it into a fresh lake; returns (lake, summary)."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    src = tmp_path / name
    src.write_text(text)
    lake_dir = tmp_path / "lake"
    summary = ingest(lake_dir, [str(src)], **kwargs)
    return Lake(lake_dir), summary


def rows(lake: Lake, table: str = "requests", order: str = "line_no") -> list[dict]:
    rel = lake.sql(f"SELECT * FROM {table} ORDER BY {order}")
    cols = rel.columns
    return [dict(zip(cols, r, strict=True)) for r in rel.fetchall()]


def parse_ts(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc)


def check_expect(lake: Lake, row: dict, expect: dict) -> list[str]:
    """Differences between a stored row and expected values (empty if none)."""
    key = load_or_create_key(lake.root)
    problems = []
    for name, want in expect.items():
        if want == "__null__":
            want = None
        if name in HASHED:
            column, namespace = HASHED[name]
            got, want = row[column], keyed_hash(key, namespace, want)
        elif name == "ts":
            got, want = row["ts"], parse_ts(want) if want else None
        else:
            got = row[name]
        if isinstance(want, float) and isinstance(got, (int, float)):
            ok = math.isclose(got, want, rel_tol=1e-6, abs_tol=1e-6)
        else:
            ok = got == want
        if not ok:
            problems.append(f"{name}: got {got!r}, want {want!r}")
    return problems


def ingest_counted(tmp: Path, fmt: str, data: bytes) -> Path:
    """Ingests raw bytes with a named format; checks every whole line is accounted for.

    Returns the lake directory. The file is fresh, so a last line without its
    newline is held back unless it reads as a whole record; the summary must
    say which, and count it only when it is not held back.
    """
    src = tmp / "input.log"
    src.write_bytes(data)
    summary = ingest(tmp / "lake", [str(src)], fmt=fmt, allow_rejects=True)
    assert not summary.failed, summary.failed[0].message
    held = any("no newline yet" in w["what"] for w in summary.as_dict()["warnings"])
    tail = bool(data) and not data.endswith(b"\n")
    assert not held or tail
    assert summary.lines_read == data.count(b"\n") + (tail and not held) == summary.stored + summary.rejected
    assert "unaccounted (sessionlens bug)" not in summary.rejected_by_reason
    return tmp / "lake"


def scenario_lake(base: Path, make) -> tuple[dict, Path]:
    """Writes a generated scenario under ``base/inc`` (``make(path)`` returns its truth), ingests its logs
    and imports its markers into ``base/lake``; returns (truth, lake)."""
    from sessionlens.changes.store import import_markers

    truth = make(base / "inc")
    ingest(base / "lake", [str(base / "inc" / "logs")])
    markers = base / "inc" / "markers"
    if markers.is_dir():
        import_markers(base / "lake", [str(p) for p in sorted(markers.iterdir())])
    return truth, base / "lake"


@pytest.fixture
def inbox(tmp_path):
    """A nightly inbox holding the geocaching sample's logs and markers."""
    box = tmp_path / "inbox"
    shutil.copytree(ROOT / "sample_logs" / "geocaching" / "logs", box / "logs")
    shutil.copytree(ROOT / "sample_logs" / "geocaching" / "markers", box / "markers")
    return box


# The files that take longest, started first: with two workers taking whole
# files, a long file started last would leave one worker idle at the end.
SLOW_FIRST = ("test_spark_analyze.py", "test_spark_ingest.py", "test_spark_cluster.py", "test_spark_engine.py",
              "test_real_all.py", "test_every_format.py", "test_nightly.py", "test_split_ingest.py")


def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(SLOW_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(SLOW_FIRST)))  # stable: file order kept otherwise
