"""The lake owns its writes: manifest listing, one changes schema, one engine per Lake, one lock, quoting."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sessionlens import Lake
from sessionlens.changes.model import Change
from sessionlens.changes.store import remove_changes, store, written_changes
from sessionlens.errors import LakeError
from sessionlens.lake.lock import FileLock, LakeLockedError
from sessionlens.lake.schema import CHANGE_COLUMNS, arrow_schema
from sessionlens.lake.span import bulk_span, full_span
from sessionlens.sqltext import ident, literal, literal_list

from .conftest import ingest_text

AT = datetime(2023, 9, 19, 16, 9, tzinfo=timezone.utc)
LINE = '198.51.100.{n} - - [19/Sep/2023:10:{m:02d}:00 +0000] "GET /p/{n} HTTP/1.1" 200 64 "-" "curl/8"'


def _changes(*ids: str) -> list[Change]:
    return [Change(id=i, at=AT + timedelta(minutes=n), kind="deploy", label=f"release {i}", scope={"hosts": ["web01"]})
            for n, i in enumerate(ids)]


def _on_disk(lake: Lake, table: str) -> set[str]:
    return {str(p.relative_to(lake.root)) for p in (lake.root / table).rglob("*.parquet")}


def test_every_table_written_through_the_lake_is_in_the_manifest(tmp_path):
    lake, _ = ingest_text(tmp_path, "\n".join(LINE.format(n=i, m=i) for i in range(10)) + "\n")
    lake_dir = lake.root
    store(lake, _changes("a", "b"))
    store(lake, _changes("c"))
    manifest = lake.read_manifest()
    for table in ("requests", "changes"):
        listed = set(manifest.files(table))
        assert listed and listed == _on_disk(lake, table), table
    assert len(manifest.extra_parts["changes"]) == 2
    assert remove_changes(lake_dir, ["a", "c"]) == ["a", "c"]  # a rewrite is a write through the lake too
    after = Lake(lake_dir).read_manifest()
    assert set(after.files("changes")) == _on_disk(lake, "changes") and len(after.files("changes")) == 1
    assert [c.id for c in written_changes(Lake(lake_dir))] == ["b"]
    assert not list(lake.root.rglob("*.tmp"))  # no pending names left behind


def test_write_table_needs_the_lock_and_a_table_outside_segments(tmp_path):
    lake = Lake(tmp_path / "lake", create=True)
    rows = pa.Table.from_pylist([c.as_row() for c in _changes("x")], schema=arrow_schema("changes"))
    with pytest.raises(LakeError, match="writer lock"):
        lake.write_table("changes", rows)
    with lake.writer(), pytest.raises(LakeError, match="outside ingested segments"):
        lake.write_table("requests", rows)
    assert lake.read_manifest().files("changes") == []


def test_the_changes_files_have_exactly_the_schema_of_change_columns(tmp_path):
    lake = Lake(tmp_path / "lake", create=True)
    store(lake, _changes("a"))
    (rel,) = lake.read_manifest().files("changes")
    schema = pq.read_schema(lake.root / rel)
    assert schema.names == list(CHANGE_COLUMNS)
    assert schema.equals(arrow_schema("changes"))
    # and DuckDB reads them back as the schema's types
    described = lake.engine().connection.sql("DESCRIBE changes").fetchall()
    spelled = {"TIMESTAMP WITH TIME ZONE": "TIMESTAMPTZ"}  # DuckDB's long name for the type
    assert {name: spelled.get(kind, kind) for name, kind, *_ in described} == CHANGE_COLUMNS


def test_the_engine_is_one_connection_that_sees_later_commits(tmp_path):
    lake = Lake(tmp_path / "lake", create=True)
    engine = lake.engine()
    assert lake.engine() is engine and lake.engine().connection is engine.connection
    assert engine.connection.sql("SELECT count(*) FROM changes").fetchall() == [(0,)]
    store(lake, _changes("a", "b"))  # a commit through this object
    assert lake.engine().connection is engine.connection
    assert engine.connection.sql("SELECT count(*) FROM changes").fetchall() == [(2,)]
    store(Lake(lake.root), _changes("c"))  # a commit through another object
    assert lake.engine() is engine
    assert engine.connection.sql("SELECT count(*) FROM changes").fetchall() == [(3,)]
    assert lake.relation("changes").count("*").fetchall() == [(3,)]
    assert lake.query("lake_span", table="requests", lo=None, hi=None).row(0) == (None, None)


def test_the_lake_span_is_one_named_query(tmp_path):
    lines = [LINE.format(n=i, m=i) for i in range(30)]
    lake, _ = ingest_text(tmp_path, "\n".join(lines) + "\n")
    span = bulk_span(lake.engine())
    assert (span.start.minute, span.end.minute, span.outside) == (0, 29, 0)
    assert full_span(lake.engine()) == (span.start, span.end)
    assert bulk_span(lake.engine(), "events").start is None  # an empty table


def test_the_lock_refuses_a_second_writer(tmp_path):
    path = tmp_path / "_lock"
    with FileLock(path, "busy here"):
        second = FileLock(path, "busy here")
        with pytest.raises(LakeLockedError, match="busy here"):
            second.acquire()
        assert not second.held
    with FileLock(path, "busy here") as again:  # released: free again
        assert again.held
    lake = Lake(tmp_path / "lake", create=True)
    with lake.writer():
        with pytest.raises(LakeLockedError, match="another sessionlens run is writing"), Lake(lake.root).writer():
            pass


def test_the_lock_file_folder_must_be_writable(tmp_path):
    with pytest.raises(OSError):
        FileLock(tmp_path / "missing" / "_lock", "busy").acquire()


AWKWARD = ["O'Brien", "it''s", "'", "", "café ☕ 日本", "back\\slash", 'double"quote', "semi;colon -- comment",
           "new\nline", "tab\there"]


@pytest.mark.parametrize("text", AWKWARD)
def test_literal_round_trips_through_duckdb(text):
    assert duckdb.sql(f"SELECT {literal(text)}").fetchall() == [(text,)]


def test_literal_list_and_ident_round_trip_through_duckdb():
    assert duckdb.sql(f"SELECT {literal_list(AWKWARD)}").fetchall() == [(AWKWARD,)]
    con = duckdb.connect()
    weird = 'we"ird co"l'
    con.execute(f"CREATE TABLE t ({ident(weird)} INTEGER, {ident('at')} INTEGER)")
    assert [row[0] for row in con.sql("DESCRIBE t").fetchall()] == ['we"ird co"l', "at"]
    with pytest.raises(ValueError):
        literal("nul\x00byte")


def test_a_lake_at_an_awkward_path_is_read_through_quoted_file_lists(tmp_path):
    lake = Lake(tmp_path / "it's a \"lake\" café ☕" / "lake", create=True)
    store(lake, _changes("a", "b"))
    store(lake, _changes("c"))
    assert all("'" in path for path in lake.files("changes"))
    assert sorted(c.id for c in written_changes(lake)) == ["a", "b", "c"]
    assert lake.relation("changes").count("*").fetchall() == [(3,)]
    assert lake.sql("SELECT count(*) FROM changes").fetchall() == [(3,)]  # the sandbox's allowed paths too
    assert remove_changes(lake, ["b"]) == ["b"]
    assert sorted(c.id for c in written_changes(lake)) == ["a", "c"]


def _count_calls(monkeypatch, *names: str) -> dict[str, int]:
    """Counts calls to Lake methods (each still runs)."""
    calls = dict.fromkeys(names, 0)
    for name in names:
        original = getattr(Lake, name)

        def counted(self, *args, _name=name, _original=original, **kwargs):
            calls[_name] += 1
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(Lake, name, counted)
    return calls


def _consistent(lake: Lake) -> None:
    """Every table's files on disk are exactly the manifest's, and no pending or staged file is left."""
    manifest = lake.read_manifest()
    for table in ("requests", "events", "rejects", "changes"):
        assert set(manifest.files(table)) == _on_disk(lake, table), table
    assert not list(lake.root.rglob("*.tmp"))
    staging = lake.root / "_staging"
    assert not staging.exists() or not any(p.suffix in (".parquet", ".log") for p in staging.rglob("*"))


def test_ingest_commits_each_segment_once_through_the_lake(tmp_path, monkeypatch):
    from sessionlens import ingest

    calls = _count_calls(monkeypatch, "commit_segments", "write_manifest")
    inbox = tmp_path / "in"
    inbox.mkdir()
    for f in range(3):
        (inbox / f"access-{f}.log").write_text("\n".join(LINE.format(n=i, m=i + f) for i in range(10))
                                               + "\nnot a log line\n")
    summary = ingest(tmp_path / "lake", [str(inbox)])
    assert (summary.stored, summary.rejected) == (30, 3)
    # Small files of one format are parsed as a group: one commit lists their three segments.
    assert calls == {"commit_segments": 1, "write_manifest": 1}
    lake = Lake(tmp_path / "lake")
    manifest = lake.read_manifest()
    assert len(manifest.segments) == 3 and all(set(s.parts) == {"requests", "rejects"} for s in manifest.segments)
    _consistent(lake)
    again = ingest(tmp_path / "lake", [str(inbox)])  # idempotent: nothing new, no commit
    assert again.stored == 0 and calls == {"commit_segments": 1, "write_manifest": 1}


def test_marker_rejects_are_staged_and_committed_with_their_segment(tmp_path, monkeypatch):
    from sessionlens import ingest

    calls = _count_calls(monkeypatch, "commit_segment", "write_manifest", "stage_rows", "write_table")
    src = tmp_path / "deploy-markers.jsonl"
    src.write_text('{"id": "d1", "at": "2023-09-19T16:09:00Z", "kind": "deploy", "label": "v2"}\n'
                   '{"id": "d2", "at": "not a time"}\n')
    summary = ingest(tmp_path / "lake", [str(src)])
    (result,) = summary.files
    assert result.format.startswith("markers:") and (result.stored, result.rejected) == (1, 1)
    # the changes table is one commit (write_table), the segment with its rejects another
    assert calls == {"commit_segment": 1, "write_manifest": 2, "stage_rows": 2, "write_table": 1}
    lake = Lake(tmp_path / "lake")
    (segment,) = lake.read_manifest().segments
    assert list(segment.parts) == ["rejects"] and len(segment.parts["rejects"]) == 1
    assert pq.read_schema(lake.root / segment.parts["rejects"][0]).equals(arrow_schema("rejects"))
    assert lake.sql("SELECT line_no, lines FROM rejects").fetchall() == [(2, 1)]
    _consistent(lake)


def test_forget_drops_segments_in_one_commit_through_the_lake(tmp_path, monkeypatch):
    from sessionlens.ingestion.forget import forget

    lake, _ = ingest_text(tmp_path, "\n".join(LINE.format(n=i, m=i) for i in range(10)) + "\nnot a log line\n")
    ingest_text(tmp_path, "\n".join(LINE.format(n=i, m=i + 20) for i in range(5)) + "\n", name="other.log")
    store(lake, _changes("a"))
    calls = _count_calls(monkeypatch, "drop_segments", "write_manifest")
    result = forget(lake.root, [str(tmp_path / "input.log")])
    assert (result.rows, result.rejects, len(result.segments)) == (10, 1, 1)
    assert calls == {"drop_segments": 1, "write_manifest": 1}
    manifest = Lake(lake.root).read_manifest()
    assert [s.path for s in manifest.segments] == [str(tmp_path / "other.log")]
    assert len(manifest.files("changes")) == 1  # the changes table is not a segment's
    _consistent(lake)
    assert Lake(lake.root).sql("SELECT count(*) FROM requests").fetchall() == [(5,)]


def test_segment_writes_need_the_lock(tmp_path):
    from sessionlens.lake.manifest import Segment

    lake = Lake(tmp_path / "lake", create=True)
    segment = Segment("s1", "x.log", 0, 1, "h", 1, 1, "f", 1, 0)
    with pytest.raises(LakeError, match="writer lock"):
        lake.commit_segment(segment)
    with pytest.raises(LakeError, match="writer lock"):
        lake.drop_segments(["s1"])
    with lake.writer():
        lake.commit_segment(segment)
        assert lake.drop_segments(["nope"]) == []
        assert [s.segment_id for s in lake.drop_segments(["s1"])] == ["s1"]
    assert lake.read_manifest().segments == []
    with lake.writer(), pytest.raises(LakeError, match="partitioned"):
        lake.stage_rows(lake.staging_dir("x"), "requests", pa.table({"ts": [1]}), "x")


def test_the_written_changes_query_selects_exactly_change_columns(tmp_path):
    from sessionlens.lake.sql import load

    lake = Lake(tmp_path / "lake", create=True)
    assert lake.engine().run("written_changes").columns == list(CHANGE_COLUMNS)
    assert "CHANGE_COLUMNS" in load("written_changes")  # the header names its source


def test_no_module_outside_the_lake_writes_the_lake_by_hand():
    """Manifest commits, Parquet files and the staging area are the lake's own (sessionlens/lake/)."""
    import re
    from pathlib import Path

    import sessionlens

    package = Path(sessionlens.__file__).parent
    forbidden = re.compile(r"\bwrite_manifest\(|\bpq\.write_table\(|\bparquet\.write_table\(|[\"']_staging[\"']")
    offenders = []
    for path in sorted(package.rglob("*.py")):
        if path.parent.name == "lake" and path.parent.parent == package:
            continue
        for no, line in enumerate(path.read_text().splitlines(), 1):
            if forbidden.search(line):
                offenders.append(f"{path.relative_to(package)}:{no}: {line.strip()}")
    assert offenders == []
