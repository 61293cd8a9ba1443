"""Files cut into units and parsed piece by piece store what one pass stores.

The distributed ingest (:mod:`sessionlens.ingestion.distributed`) plans
here, parses units anywhere and commits once. These tests run its units
in this process (no Spark needed) and compare with the local ingest, line
for line: the same rows (by a content digest of each table), the same
per-file counts, coverage and warnings. Spark itself runs the same code in
``test_spark_ingest.py``.
"""

from __future__ import annotations

import gzip
import os
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sessionlens import ingest
from sessionlens.ingestion.distributed import ingest_distributed
from sessionlens.ingestion.formats import build_parser
from sessionlens.ingestion.options import FieldOptions
from sessionlens.ingestion.plan import Planner
from sessionlens.ingestion.rules import load_rules
from sessionlens.ingestion.summary import FileResult, IngestSummary
from sessionlens.lake.digest import digest
from sessionlens.lake.store import Lake
from sessionlens.privacy import KEY_FILE

from .conftest import ROOT

REAL = ROOT.parent / "shared" / "data" / "real"
OLD = 1_600_000_000  # an mtime long past: a last line without newline counts, as in a rotated file


def in_process(fn, tasks, progress=None):
    """A task runner without Spark: each task (a bundle of units) on its own, in order, as one-task partitions."""
    out = [r for task in tasks for r in fn([task])]
    if progress:
        progress(len(tasks), len(tasks))
    return out


def new_lake(path: Path) -> Path:
    """A lake with a fixed hashing key, so two lakes hash the same cookies alike."""
    path.mkdir(parents=True)
    (path / KEY_FILE).write_text("0123456789abcdef" * 4)
    return path


def split_ingest(lake: Path, paths: list[Path], split_bytes: int, runner=in_process, **kw) -> IngestSummary:
    """The distributed ingest, its tasks run here; inputs listed as the CLI would."""
    the_lake = Lake.of(lake, create=True)
    files = [(p, str(Path(p).resolve()), True, False) for p in paths]
    with the_lake.writer():
        return ingest_distributed(the_lake, files, None, load_rules(None), FieldOptions(), runner,
                                  split_bytes=split_bytes, **kw)


def per_file(summary: IngestSummary) -> list[dict]:
    return [f.as_dict() for f in summary.files]


def trap_file(path: Path) -> Path:
    """Real Apache lines with traps between them: garbage, blank and CRLF lines, \\x22 escapes, no final newline."""
    real = (REAL / "elastic_apache_logs" / "apache_logs").read_text(errors="replace").splitlines()[:400]
    lines = []
    for i, line in enumerate(real):
        lines.append(line)
        if i % 37 == 5:
            lines.append("this is not an access log line")
        if i % 53 == 7:
            lines.append("")
        if i % 41 == 9:
            lines.append(line + "\r")
        if i % 29 == 3:
            lines.append(line.replace('"Mozilla', '"Mo\\x22zilla'))
    path.write_text("\n".join(lines))  # the last line has no newline
    os.utime(path, (OLD, OLD))
    return path


def test_units_cover_every_line_once(tmp_path):
    """The cuts of a file are line starts; their lines add up and follow on."""
    src = trap_file(tmp_path / "access.log")
    lake = Lake.of(new_lake(tmp_path / "lake"), create=True)
    with lake.writer():
        plan = Planner(lake, None, FieldOptions(), split_bytes=4096).plan(src, str(src), FileResult(str(src)),
                                                                         IngestSummary())
    assert plan is not None and len(plan.units) > 20
    data = src.read_bytes()
    assert sum(u.lines for u in plan.units) == plan.segment.lines == data.count(b"\n") + 1
    for a, b in zip(plan.units, plan.units[1:], strict=False):
        assert a.end_byte == b.start_byte and data[b.start_byte - 1:b.start_byte] == b"\n"
        assert b.first_line == a.first_line + a.lines
    # the last unit ends where the plan ends, not "at the end": the file may be growing
    assert plan.units[0].start_byte == 0 and plan.units[-1].end_byte == len(data) == plan.segment.end_byte


@pytest.mark.parametrize("split_bytes", [1 << 30, 256 << 10])
def test_split_ingest_stores_what_one_pass_stores(tmp_path, split_bytes):
    inputs = [REAL / "elastic_apache_logs" / "apache_logs", REAL / "logparser_hackers_access" / "hackers-access.log",
              trap_file(tmp_path / "traps.log")]
    local = ingest(new_lake(tmp_path / "local"), [str(p) for p in inputs])
    split = split_ingest(new_lake(tmp_path / "split"), inputs, split_bytes)
    assert per_file(split) == per_file(local)
    assert local.rejected > 0 and local.stored > 10_000  # the traps were met, the real lines stored
    assert digest(Lake.of(tmp_path / "split")) == digest(Lake.of(tmp_path / "local"))


def test_samples_and_markers_split_as_one_pass(tmp_path):
    """Compressed files (one unit each), app events, Rails logs, Cloudflare JSON and marker files."""
    archive = tmp_path / "archive"
    shutil.copytree(ROOT / "sample_logs" / "archive", archive)
    for gz in (archive / "logs").glob("*.gz"):  # plain copies of half the hosts: those are cut
        if gz.name < "web05":
            gz.with_suffix("").write_bytes(gzip.decompress(gz.read_bytes()))
            gz.unlink()
    inputs = [archive, ROOT / "sample_logs" / "mfa", ROOT / "sample_logs" / "geocaching"]
    files = sorted(f for d in inputs for f in d.rglob("*") if f.is_file() and f.suffix != ".json")
    local = ingest(new_lake(tmp_path / "local"), [str(f) for f in files])
    split = split_ingest(new_lake(tmp_path / "split"), files, 160 << 10)
    assert per_file(split) == per_file(local)
    assert any(f.format and f.format.startswith("markers:") for f in split.files)
    assert digest(Lake.of(tmp_path / "split"), ("requests", "events", "rejects", "changes")) == \
        digest(Lake.of(tmp_path / "local"), ("requests", "events", "rejects", "changes"))


def test_grown_and_repeated_files_add_only_new_lines(tmp_path):
    """A second run adds nothing; a grown file adds its tail; a copy met in the same run adds nothing."""
    src = REAL / "elastic_apache_logs" / "apache_logs"
    lines = src.read_bytes().splitlines(keepends=True)
    log = tmp_path / "in" / "access.log"
    log.parent.mkdir()
    log.write_bytes(b"".join(lines[:4000]))
    os.utime(log, (OLD, OLD))
    copy = tmp_path / "in" / "access.log.copy"
    shutil.copy(log, copy)
    first = split_ingest(new_lake(tmp_path / "lake"), [log, copy], 200_000)
    assert [f.status for f in first.files] == ["ingested", "skipped"] and first.stored == 4000
    local_first = ingest(new_lake(tmp_path / "local"), [str(log), str(copy)])
    again = split_ingest(tmp_path / "lake", [log], 200_000)
    assert again.stored == 0 and again.files[0].status == "skipped"
    log.write_bytes(b"".join(lines))
    os.utime(log, (OLD, OLD))
    grown = split_ingest(tmp_path / "lake", [log], 200_000)
    assert grown.files[0].status == "appended" and grown.lines_read == len(lines) - 4000
    local_grown = ingest(tmp_path / "local", [str(log)])
    assert per_file(first) == per_file(local_first) and per_file(grown) == per_file(local_grown)
    assert digest(Lake.of(tmp_path / "lake")) == digest(Lake.of(tmp_path / "local"))


def test_rotated_pair_in_one_run_reads_each_line_once(tmp_path):
    """access.log.1 (yesterday) and access.log (yesterday + today) in one run: the second continues the first."""
    lines = (REAL / "elastic_apache_logs" / "apache_logs").read_bytes().splitlines(keepends=True)
    old, new = tmp_path / "access.log.1", tmp_path / "access.log"
    old.write_bytes(b"".join(lines[:3000]))
    new.write_bytes(b"".join(lines[:5000]))
    for f in (old, new):
        os.utime(f, (OLD, OLD))
    split = split_ingest(new_lake(tmp_path / "split"), [old, new], 100_000)
    assert [f.status for f in split.files] == ["ingested", "appended"]
    assert split.lines_read == 5000
    local = ingest(new_lake(tmp_path / "local"), [str(old), str(new)])
    assert digest(Lake.of(tmp_path / "split")) == digest(Lake.of(tmp_path / "local"))
    assert per_file(split) == per_file(local)


def test_a_file_continuing_a_refused_one_is_not_stored(tmp_path):
    """If the first file of a rotated pair is refused (nearly all rejected), its successor cannot be half-stored."""
    old, new = tmp_path / "access.log.1", tmp_path / "access.log"
    junk = [f"junk line {i}\n" for i in range(50)]
    old.write_text("".join(junk))
    new.write_text("".join(junk) + "".join(f"more junk {i}\n" for i in range(50)))
    for f in (old, new):
        os.utime(f, (OLD, OLD))
    the_lake = Lake.of(new_lake(tmp_path / "lake"), create=True)
    with the_lake.writer():
        summary = ingest_distributed(the_lake, [(old, str(old), True, False), (new, str(new), True, False)],
                                     build_parser("nginx-combined", None, None, None), load_rules(None),
                                     FieldOptions(), in_process, split_bytes=256)
    assert [f.status for f in summary.files] == ["failed", "failed"]
    assert "continues a file that was not stored" in summary.files[1].message
    assert the_lake.read_manifest().segments == []
    assert not [p for p in the_lake.root.rglob("*.parquet")]


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(split_bytes=st.integers(min_value=8_000, max_value=60_000))
def test_any_cut_size_stores_the_same_rows(tmp_path_factory, split_bytes):
    base = tmp_path_factory.mktemp("cut")
    src = trap_file(base / "traps.log")
    local = ingest(new_lake(base / "local"), [str(src)])
    split = split_ingest(new_lake(base / "split"), [src], split_bytes)
    assert per_file(split) == per_file(local)
    assert digest(Lake.of(base / "split")) == digest(Lake.of(base / "local"))


def test_the_key_on_its_way_to_tasks_never_shows_itself(tmp_path):
    """The context pickled to every task carries the lake's key; no repr, str or format of it prints the key."""
    import pickle

    from sessionlens.ingestion.ingestor import run_context
    from sessionlens.privacy import load_or_create_key

    lake = Lake.of(new_lake(tmp_path / "lake"), create=True)
    key = load_or_create_key(lake.root)
    with run_context(lake, load_rules(None), FieldOptions(), 1 << 20) as ctx:
        shipped = pickle.loads(pickle.dumps(ctx))
        for text in (repr(ctx), str(ctx), f"{ctx}", repr(shipped.key), str(shipped.key), f"{shipped.key}",
                     "%s" % shipped.key, repr(shipped)):
            assert key not in text and "<hidden>" in text
        assert shipped.key.value == key  # and yet the task hashes with it


def test_small_files_go_as_one_task_and_store_what_a_local_run_stores(tmp_path):
    """A folder of small access logs with traps: bundled into group tasks, the same rows as a local run."""
    from .test_group_ingest import folder_of_traps

    logs = folder_of_traps(tmp_path)
    files = sorted(f for f in logs.iterdir())
    sizes: list[int] = []

    def runner(fn, tasks, progress=None):
        sizes.extend(len(task) for task in tasks)
        return in_process(fn, tasks, progress)

    local = ingest(new_lake(tmp_path / "local"), [str(f) for f in files])
    split = split_ingest(new_lake(tmp_path / "split"), files, 1 << 30, runner)
    assert max(sizes) >= 4  # the small nginx files of one format went as one task
    assert per_file(split) == per_file(local)
    assert digest(Lake.of(tmp_path / "split")) == digest(Lake.of(tmp_path / "local"))


def test_a_cut_copy_and_its_grown_file_in_one_distributed_run_store_each_line_once(tmp_path):
    """One commit holds both files: the grown one replaces the cut copy's segment, which is not stored."""
    real = (REAL / "elastic_apache_logs" / "apache_logs").read_text(errors="replace").splitlines(keepends=True)[:300]
    full = "".join(real)
    copy, grown = tmp_path / "a-copy.log", tmp_path / "b-grown.log"
    copy.write_text(full[:-25])  # its last line cut, no newline
    grown.write_text(full)
    for f in (copy, grown):
        os.utime(f, (OLD, OLD))
    lake = new_lake(tmp_path / "lake")
    summary = split_ingest(lake, [copy, grown], 8_000)
    assert [f.status for f in summary.files] == ["ingested", "appended"]
    assert "read again" in summary.files[1].message
    the_lake = Lake.of(lake)
    assert [s.path for s in the_lake.read_manifest().segments] == [str(grown)]
    assert the_lake.sql("SELECT count(*) FROM requests").fetchall() == [(300,)]
    assert the_lake.sql("SELECT count(*) FROM rejects").fetchall() == [(0,)]
    on_disk = {str(p.relative_to(lake)) for p in lake.glob("requests/**/*.parquet")}
    assert on_disk == set(the_lake.read_manifest().files("requests"))
