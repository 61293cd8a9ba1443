"""Idempotent ingest, growing files, locking, and crash safety (kill -9)."""

from __future__ import annotations

import gzip
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sessionlens import Lake, ingest
from sessionlens.errors import LakeLockedError
from sessionlens.samples import generate

LINE = ('203.0.113.{n} - - [19/Sep/2023:16:{m:02d}:12 +0000] "GET /works/{n} HTTP/1.1" 200 512 "-" "Mozilla/5.0"\n')


def _lines(start: int, count: int) -> str:
    return "".join(LINE.format(n=i % 250, m=i % 60) for i in range(start, start + count))


def _fingerprint(lake_dir: Path) -> tuple:
    """Row counts and an order-independent hash of every table's rows."""
    lake = Lake(lake_dir)
    out = []
    for table in ("requests", "events", "rejects"):
        out.append(lake.sql(f"SELECT count(*), coalesce(sum(hash(t)), 0) FROM {table} AS t").fetchall()[0])
    return tuple(out)


def test_reingest_adds_nothing(tmp_path):
    src = tmp_path / "a.log"
    src.write_text(_lines(0, 500) + "garbage line\n")
    first = ingest(tmp_path / "lake", [str(src)])
    before = _fingerprint(tmp_path / "lake")
    second = ingest(tmp_path / "lake", [str(src)])
    assert first.files[0].status == "ingested" and second.files[0].status == "skipped"
    assert second.stored == second.rejected == 0
    assert _fingerprint(tmp_path / "lake") == before
    # the same content under another name is the same file
    copy = tmp_path / "copy.log"
    shutil.copy(src, copy)
    assert ingest(tmp_path / "lake", [str(copy)]).files[0].status == "skipped"
    assert _fingerprint(tmp_path / "lake") == before


def test_appended_file_ingests_only_new_lines(tmp_path):
    src = tmp_path / "grow.log"
    src.write_text(_lines(0, 300))
    ingest(tmp_path / "lake", [str(src)])
    with open(src, "a") as fh:
        fh.write(_lines(300, 200) + "not a log line\n")
    summary = ingest(tmp_path / "lake", [str(src)])
    result = summary.files[0]
    assert result.status == "appended"
    assert (result.lines_read, result.stored, result.rejected) == (201, 200, 1)
    lake = Lake(tmp_path / "lake")
    assert lake.sql("SELECT count(*) FROM requests").fetchall()[0][0] == 500
    # the reject keeps its line number in the whole file
    assert lake.sql("SELECT line_no FROM rejects").fetchall() == [(501,)]
    # and the grown file compares equal to ingesting it whole
    whole = tmp_path / "whole"
    ingest(whole, [str(src)])
    assert _fingerprint(whole)[0][0] == _fingerprint(tmp_path / "lake")[0][0]


def test_rewritten_file_is_ingested_as_new_content(tmp_path):
    src = tmp_path / "rot.log"
    src.write_text(_lines(0, 100))
    ingest(tmp_path / "lake", [str(src)])
    src.write_text(_lines(1000, 150))  # logrotate: same name, other content
    summary = ingest(tmp_path / "lake", [str(src)])
    assert summary.files[0].status == "ingested" and summary.stored == 150
    assert Lake(tmp_path / "lake").sql("SELECT count(*) FROM requests").fetchall()[0][0] == 250


def test_gzip_and_zstd_are_read_transparently(tmp_path):
    import zstandard

    text = _lines(0, 400)
    (tmp_path / "a.log.gz").write_bytes(gzip.compress(text.encode()))
    (tmp_path / "b.log.zst").write_bytes(zstandard.ZstdCompressor().compress(_lines(400, 400).encode()))
    summary = ingest(tmp_path / "lake", [str(tmp_path / "a.log.gz"), str(tmp_path / "b.log.zst")])
    assert [f.stored for f in summary.files] == [400, 400]
    assert ingest(tmp_path / "lake", [str(tmp_path / "a.log.gz")]).files[0].status == "skipped"
    # the same content in another packing is the same file: nothing is added
    (tmp_path / "a.log.zst").write_bytes(zstandard.ZstdCompressor().compress(text.encode()))
    assert ingest(tmp_path / "lake", [str(tmp_path / "a.log.zst")]).files[0].status == "skipped"


def test_stdin(tmp_path):
    import io

    summary = ingest(tmp_path / "lake", ["-"], fmt="nginx-combined", stdin=io.BytesIO(_lines(0, 50).encode()))
    assert summary.files[0].path == "<stdin>" and summary.stored == 50
    again = ingest(tmp_path / "lake", ["-"], fmt="nginx-combined", stdin=io.BytesIO(_lines(0, 50).encode()))
    assert again.files[0].status == "skipped"


def test_second_writer_is_refused(tmp_path):
    lake = Lake(tmp_path / "lake", create=True)
    with lake.writer():
        with pytest.raises(LakeLockedError):
            ingest(tmp_path / "lake", [str(tmp_path)])


def test_unlisted_files_are_invisible_and_collected(tmp_path):
    src = tmp_path / "a.log"
    src.write_text(_lines(0, 10))
    ingest(tmp_path / "lake", [str(src)])
    stray = tmp_path / "lake" / "requests" / "date=2023-09-19" / "part-stray.parquet"
    shutil.copy(next((tmp_path / "lake" / "requests").rglob("*.parquet")), stray)
    assert Lake(tmp_path / "lake").sql("SELECT count(*) FROM requests").fetchall()[0][0] == 10
    src2 = tmp_path / "b.log"
    src2.write_text(_lines(10, 5))
    ingest(tmp_path / "lake", [str(src2)])  # a writer cleans up what a crash left
    assert not stray.exists()


@pytest.mark.slow
def test_kill_9_then_rerun_equals_one_clean_run(tmp_path):
    logs = tmp_path / "samples"
    generate("archive", logs, seed=3, scale=0.5)
    clean = tmp_path / "clean"
    ingest(clean, [str(logs / "logs")])
    want = _fingerprint(clean)
    # same hashing key, so keyed hashes compare equal
    (tmp_path / "crashy").mkdir()
    shutil.copy(clean / "_key", tmp_path / "crashy" / "_key")
    cmd = [sys.executable, "-m", "sessionlens", "ingest", "--lake", str(tmp_path / "crashy"), str(logs / "logs")]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    killed = 0
    for delay in (0.3, 0.6, 0.9, 1.2, 1.6):
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        time.sleep(delay)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            killed += 1
        proc.wait()
        # after every kill the lake is readable and holds only whole files
        got = _fingerprint(tmp_path / "crashy")
        assert got[0][0] <= want[0][0]
    assert killed >= 2, "the ingest finished before it could be killed; raise the sample scale"
    done = subprocess.run(cmd, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert _fingerprint(tmp_path / "crashy") == want


def test_gzip_content_without_gz_name_and_fake_magic(tmp_path):
    text = _lines(0, 120)
    (tmp_path / "rotated.log.1").write_bytes(gzip.compress(text.encode()))  # gzip, no .gz name
    (tmp_path / "fake.log").write_bytes(b"\x1f\x8b" + b" not really gzip\n")  # magic, not gzip
    summary = ingest(tmp_path / "lake", [str(tmp_path / "rotated.log.1")], fmt="nginx-combined")
    assert summary.stored == 120
    fake = ingest(tmp_path / "lake", [str(tmp_path / "fake.log")], fmt="nginx-combined")
    assert (fake.lines_read, fake.stored, fake.rejected) == (1, 0, 1)


def test_truncated_gzip_keeps_the_lines_before_the_cut(tmp_path):
    blob = gzip.compress(_lines(0, 2000).encode())
    (tmp_path / "cut.log.gz").write_bytes(blob[: len(blob) // 2])
    summary = ingest(tmp_path / "lake", [str(tmp_path / "cut.log.gz")], fmt="nginx-combined")
    f = summary.files[0]
    assert f.status == "ingested" and 0 < f.stored < 2000
    assert f.lines_read == f.stored + f.rejected


# --- crashes while publishing: what direct Parquet readers see -----------------------------

DAY_LINE = '198.51.100.{n} - - [{d:02d}/Sep/2023:10:00:{s:02d} +0000] "GET /p/{n} HTTP/1.1" 200 64 "-" "curl/8"\n'
KILL_BEFORE_COMMIT = """
import os, signal, sys
from sessionlens import ingest, lake
lake.Lake.write_manifest = lambda self, manifest: os.kill(os.getpid(), signal.SIGKILL)
ingest(sys.argv[1], [sys.argv[2]])
"""
KILL_WHILE_LINKING = """
import os, signal, sys
from sessionlens import ingest
from sessionlens.lake import files
real, calls = files.link, []
def link(src, dest):
    calls.append(dest)
    if len(calls) == 2:
        os.kill(os.getpid(), signal.SIGKILL)
    real(src, dest)
files.link = link
ingest(sys.argv[1], [sys.argv[2]])
"""


def _days_log(path: Path, days: int, per_day: int) -> Path:
    path.write_text("".join(DAY_LINE.format(n=i % 250, d=1 + i % days, s=i % 60) for i in range(days * per_day)))
    return path


def _direct_counts(lake_dir: Path) -> tuple[int, int]:
    """Rows seen by the globs docs/schema.md shows, in DuckDB and in Polars."""
    import duckdb
    import polars as pl

    pattern = str(lake_dir / "requests" / "**" / "*.parquet")
    n_duck = duckdb.sql(f"SELECT count(*) FROM read_parquet('{pattern}', hive_partitioning=true)").fetchall()[0][0]
    n_polars = pl.scan_parquet(pattern, hive_partitioning=True).select(pl.len()).collect().item()
    return n_duck, n_polars


def _manifest_counts(lake_dir: Path) -> tuple[int, int, int]:
    """Rows seen by `sessionlens sql`, Lake.relation and Lake.scan (the manifest's readers)."""
    from click.testing import CliRunner

    from sessionlens.cli import cli

    out = CliRunner().invoke(cli, ["sql", "--lake", str(lake_dir), "--format", "csv", "SELECT count(*) AS n FROM requests"])
    assert out.exit_code == 0, out.output
    lake = Lake(lake_dir)
    return (int(out.stdout.splitlines()[1]), lake.relation("requests").count("*").fetchall()[0][0],
            lake.frame("requests").height)


def _crash(code: str, lake_dir: Path, log: Path) -> None:
    proc = subprocess.run([sys.executable, "-c", code, str(lake_dir), str(log)], capture_output=True, text=True)
    assert proc.returncode == -signal.SIGKILL, proc.stderr


def test_crash_before_the_commit_is_invisible_to_direct_reads(tmp_path):
    lake_dir = tmp_path / "lake"
    ingest(lake_dir, [str(_days_log(tmp_path / "small.log", 2, 500))])  # 1,000 rows
    _crash(KILL_BEFORE_COMMIT, lake_dir, _days_log(tmp_path / "big.log", 5, 4_000))  # 20,000 more, published
    pending = list((lake_dir / "requests").rglob("_part-*.parquet.tmp"))
    assert len(pending) == 5  # the killed writer's files sit in the lake, under their pending names
    assert _direct_counts(lake_dir) == (1_000, 1_000)
    assert _manifest_counts(lake_dir) == (1_000, 1_000, 1_000)
    # the next writer removes them
    ingest(lake_dir, [str(_days_log(tmp_path / "more.log", 1, 10))])
    assert not list((lake_dir / "requests").rglob("*.tmp"))
    assert _direct_counts(lake_dir) == (1_010, 1_010) and _manifest_counts(lake_dir)[0] == 1_010


def test_crash_between_commit_and_final_names_is_finished_by_the_next_writer(tmp_path):
    lake_dir = tmp_path / "lake"
    ingest(lake_dir, [str(_days_log(tmp_path / "small.log", 2, 500))])
    _crash(KILL_WHILE_LINKING, lake_dir, _days_log(tmp_path / "big.log", 5, 2_000))  # committed, 1 of 5 files named
    # the manifest's readers see the whole commit ...
    assert _manifest_counts(lake_dir) == (11_000, 11_000, 11_000)
    # ... a direct glob only committed files: here the one with its final name
    duck, polars = _direct_counts(lake_dir)
    assert duck == polars == 1_000 + 2_000
    ingest(lake_dir, [str(_days_log(tmp_path / "more.log", 1, 10))])  # the next writer finishes the publish
    assert not list((lake_dir / "requests").rglob("*.tmp"))
    assert _direct_counts(lake_dir) == (11_010, 11_010)
    assert _manifest_counts(lake_dir) == (11_010, 11_010, 11_010)


def test_direct_reads_never_run_ahead_of_the_manifest(tmp_path):
    """While a writer publishes, every file a direct glob finds is already listed."""
    import glob
    import json as jsonlib

    logs = [_days_log(tmp_path / f"in-{i}.log", 3, 50 + i) for i in range(12)]
    lake_dir = tmp_path / "lake"
    lake_dir.mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "sessionlens", "ingest", "--lake", str(lake_dir), *map(str, logs)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    checks = 0
    while True:
        done = proc.poll() is not None
        seen = {os.path.relpath(p, lake_dir) for p in glob.glob(str(lake_dir / "requests" / "**" / "*.parquet"),
                                                                 recursive=True)}
        try:
            manifest = jsonlib.loads((lake_dir / "_manifest.json").read_text())
        except FileNotFoundError:
            manifest = {"segments": []}
        listed = {p for s in manifest["segments"] for p in s["parts"].get("requests", [])}
        assert seen <= listed, seen - listed
        checks += 1
        if done:
            break
    assert proc.returncode == 0, proc.stderr.read()
    assert checks > 3 and len(listed) == 36
