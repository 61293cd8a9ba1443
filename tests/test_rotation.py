"""Rotated logs are counted once: logrotate's rename, copytruncate,
delaycompress and compress, truncated gzip, half-written lines."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from sessionlens import Lake, ingest


class LogDir:
    """A log directory written like nginx with logrotate beside it."""

    def __init__(self, root: Path):
        self.root = root
        self.logs = root / "logs"
        self.logs.mkdir(parents=True)
        self.lake = root / "lake"
        self.written: list[str] = []  # every line ever written, in order

    def line(self, n: int, dup: bool = False) -> str:
        path = "/same" if dup else f"/w/{n}"
        return (f'203.0.113.{n % 250} - - [19/Sep/2023:{10 + n // 3600 % 12:02d}:{n // 60 % 60:02d}:{n % 60:02d} +0000] '
                f'"GET {path} HTTP/1.1" 200 1 "-" "UA"\n')

    def write(self, k: int, dup: bool = False) -> None:
        with open(self.logs / "access.log", "a") as fh:
            for _ in range(k):
                text = self.line(7 if dup else len(self.written) + 1, dup)
                fh.write(text)
                self.written.append(text)

    def rotate_rename(self) -> None:
        """logrotate's default: access.log -> access.log.1 (older ones shift), new file."""
        for i in range(8, 0, -1):
            for suffix in ("", ".gz"):
                src = self.logs / f"access.log.{i}{suffix}"
                if src.exists():
                    src.rename(self.logs / f"access.log.{i + 1}{suffix}")
        if (self.logs / "access.log").exists():
            (self.logs / "access.log").rename(self.logs / "access.log.1")

    def compress(self, name: str) -> None:
        src = self.logs / name
        if src.exists() and not name.endswith(".gz"):
            with open(src, "rb") as fh, gzip.open(self.logs / (name + ".gz"), "wb") as out:
                shutil.copyfileobj(fh, out)
            src.unlink()

    def copytruncate(self) -> None:
        src = self.logs / "access.log"
        if src.exists():
            shutil.copy(src, self.logs / "access.log.1")
            open(src, "w").close()

    def ingest(self):
        return ingest(self.lake, [str(self.logs)])

    def stored_paths(self) -> list[str]:
        return sorted(r[0] for r in Lake(self.lake).sql("SELECT path FROM requests").fetchall())

    def expected_paths(self) -> list[str]:
        return sorted(line.split('"GET ')[1].split(" ")[0] for line in self.written)


def test_three_days_of_logrotate_store_every_line_once(tmp_path):
    d = LogDir(tmp_path)
    # day 1: plain rename rotation with delaycompress
    d.write(550)
    d.ingest()
    d.write(100)
    d.rotate_rename()
    d.write(500)
    d.ingest()
    # day 2: delaycompress compresses yesterday's .1 as it shifts it
    d.rotate_rename()
    d.compress("access.log.2")
    d.write(600)
    d.ingest()
    # day 3: copytruncate, and the copy compressed later
    d.write(50)
    d.copytruncate()
    d.write(250)
    d.ingest()
    d.rotate_rename()  # access.log.1 (the copy) -> .2, access.log -> .1
    d.compress("access.log.2")
    d.ingest()
    assert len(d.written) == 2050
    assert d.stored_paths() == d.expected_paths()


def test_identical_lines_that_really_occur_twice_are_stored_twice(tmp_path):
    d = LogDir(tmp_path)
    d.write(10)
    d.write(2, dup=True)  # two identical requests in one second
    d.ingest()
    d.rotate_rename()
    d.compress("access.log.1")
    d.ingest()
    assert d.stored_paths().count("/same") == 2


def test_truncated_gzip_then_the_full_file_stores_every_line_once(tmp_path):
    d = LogDir(tmp_path)
    d.write(3000)
    full = gzip.compress((d.logs / "access.log").read_bytes())
    (d.logs / "access.log").unlink()
    cut = d.logs / "access.log.1.gz"
    cut.write_bytes(full[: len(full) // 2])
    summary = d.ingest()
    assert any("cut short" in w["what"] for w in summary.as_dict()["warnings"])
    first = summary.stored
    assert 0 < first < 3000
    cut.write_bytes(full)  # the complete file arrives
    again = d.ingest()
    assert again.files[0].status == "appended" and again.stored == 3000 - first
    assert d.stored_paths() == d.expected_paths()


def test_a_line_written_in_two_halves_is_stored_once(tmp_path):
    d = LogDir(tmp_path)
    d.write(20)
    whole = d.line(21)
    with open(d.logs / "access.log", "a") as fh:
        fh.write(whole[:40])
    summary = d.ingest()
    assert summary.stored == 20 and summary.rejected == 0
    assert any("no newline yet" in w["what"] for w in summary.as_dict()["warnings"])
    with open(d.logs / "access.log", "a") as fh:
        fh.write(whole[40:])
    d.written.append(whole)
    again = d.ingest()
    assert (again.stored, again.rejected) == (1, 0)
    assert Lake(d.lake).sql("SELECT count(*) FROM rejects").fetchall()[0][0] == 0
    assert d.stored_paths() == d.expected_paths()


LONG_AGO = 1_600_000_000  # an mtime long past: nobody is writing the file any more


def _rejects(lake: Path) -> list[tuple]:
    return Lake(lake).sql("SELECT line_no, reason FROM rejects ORDER BY line_no").fetchall()


def test_a_fresh_copy_whose_last_line_has_no_newline_counts_that_line(tmp_path):
    """A dump copied a second ago (fresh mtime) often ends without a newline: a whole last record counts."""
    d = LogDir(tmp_path)
    d.write(5)
    path = d.logs / "access.log"
    path.write_bytes(path.read_bytes().rstrip(b"\n"))
    summary = d.ingest()
    assert (summary.stored, summary.rejected) == (5, 0)
    assert not any("newline" in w["what"] for w in summary.as_dict()["warnings"])
    assert d.stored_paths() == d.expected_paths()
    assert d.ingest().files[0].status == "skipped"  # and once only
    with open(path, "a") as fh:  # the newline arrives, then more lines
        fh.write("\n" + d.line(6) + d.line(7))
    d.written += [d.line(6), d.line(7)]
    again = d.ingest()
    assert (again.files[0].status, again.stored, again.rejected) == ("appended", 2, 0)
    assert again.files[0].message == "continues access.log from line 6"
    assert d.stored_paths() == d.expected_paths()


def test_a_counted_last_line_that_was_cut_is_read_again_when_the_rest_arrives(tmp_path):
    """A file left alone has its cut last line counted (a reject); when the rest comes, the segment is replaced."""
    d = LogDir(tmp_path)
    d.write(20)
    path = d.logs / "access.log"
    whole = d.line(21)
    with open(path, "a") as fh:
        fh.write(whole[:40])
    os.utime(path, (LONG_AGO, LONG_AGO))
    first = d.ingest()
    assert (first.stored, first.rejected) == (20, 1)
    assert [n for n, _ in _rejects(d.lake)] == [21]
    with open(path, "a") as fh:
        fh.write(whole[40:] + d.line(22))
    d.written += [whole, d.line(22)]
    again = d.ingest()
    assert again.files[0].status == "appended" and "read again" in again.files[0].message
    assert (again.stored, again.rejected) == (22, 0)
    assert _rejects(d.lake) == []
    assert d.stored_paths() == d.expected_paths()
    assert len(Lake(d.lake).read_manifest().segments) == 1
    assert d.ingest().files[0].status == "skipped"


def test_a_cut_line_that_grows_twice_without_its_newline_stays_stored_once(tmp_path):
    d = LogDir(tmp_path)
    d.write(3)
    path = d.logs / "access.log"
    whole = d.line(4)
    for cut in (30, 60, len(whole) - 4):  # never the whole record
        with open(path, "w") as fh:
            fh.write("".join(d.written) + whole[:cut])
        os.utime(path, (LONG_AGO, LONG_AGO))
        d.ingest()
        assert Lake(d.lake).sql("SELECT count(*) FROM requests").fetchall() == [(3,)]
        assert [n for n, _ in _rejects(d.lake)] == [4]
    with open(path, "a") as fh:
        fh.write(whole[-4:])
    d.written.append(whole)
    d.ingest()
    assert d.stored_paths() == d.expected_paths() and _rejects(d.lake) == []


def test_a_cut_copy_and_its_grown_file_in_one_run_store_each_line_once(tmp_path):
    """One run meets the copy that ends mid-line first, then the file it grew into."""
    d = LogDir(tmp_path)
    d.write(10)
    whole = d.line(11)
    full = "".join(d.written) + whole
    (d.logs / "a-copy.log").write_text(full[:-20])
    (d.logs / "b-grown.log").write_text(full)
    for f in d.logs.glob("*.log"):
        os.utime(f, (LONG_AGO, LONG_AGO))
    (d.logs / "access.log").unlink()
    d.written.append(whole)
    summary = d.ingest()
    assert [f.status for f in summary.files] == ["ingested", "appended"]
    assert d.stored_paths() == d.expected_paths() and _rejects(d.lake) == []


def test_two_real_files_sharing_their_first_lines_are_both_read_whole(tmp_path):
    """request-log-analyzer's decompression.log is rails_22.log with a typo in its last line, and neither
    ends with a newline: each is one whole Rails request, whatever the files' age."""
    real = Path(__file__).parents[2] / "shared/data/real/request_log_analyzer_fixtures"
    for name in ("decompression.log", "rails_22.log"):
        shutil.copy(real / name, tmp_path / name)  # fresh copies
    summary = ingest(tmp_path / "lake", [str(tmp_path / "decompression.log"), str(tmp_path / "rails_22.log")])
    assert [(f.status, f.lines_read, f.rejected) for f in summary.files] == [("ingested", 12, 0)] * 2
    rows = Lake(tmp_path / "lake").sql("SELECT source_file, status, path FROM requests ORDER BY 1").fetchall()
    assert [(Path(f).name, st, p) for f, st, p in rows] == [("decompression.log", 200, "/demo"),
                                                             ("rails_22.log", 200, "/demo")]


def test_a_replaced_cut_copy_is_still_known_on_the_next_run(tmp_path):
    """The original replaces the cut copy's segment; the copy, met again, is already ingested (its hash is kept)."""
    d = LogDir(tmp_path)
    d.write(5)
    full = (d.logs / "access.log").read_text()
    (d.logs / "access.log").unlink()
    (d.logs / "a-copy.log").write_text(full[: len(full) - 30])
    (d.logs / "b-original.log").write_text(full)
    for f in d.logs.iterdir():
        os.utime(f, (LONG_AGO, LONG_AGO))
    first = d.ingest()
    assert [f.status for f in first.files] == ["ingested", "appended"]
    again = d.ingest()
    assert [f.status for f in again.files] == ["skipped", "skipped"]
    assert d.stored_paths() == d.expected_paths() and _rejects(d.lake) == []


def test_a_fresh_file_of_one_line_without_its_newline_is_not_stored_twice_when_it_grows(tmp_path):
    """Its first line had no newline, so its segment has no fingerprint: it is still found when the file grows."""
    d = LogDir(tmp_path)
    path = d.logs / "access.log"
    path.write_text(d.line(1).rstrip("\n"))
    assert d.ingest().stored == 1
    with open(path, "a") as fh:
        fh.write("\n" + d.line(2))
    d.written += [d.line(1), d.line(2)]
    again = d.ingest()
    assert (again.files[0].status, again.stored) == ("appended", 1)
    assert d.stored_paths() == d.expected_paths()


def test_a_marker_file_written_while_it_is_read_keeps_every_change(tmp_path):
    """A deploy-marker file whose last record is half written, then completed: read again whole, as markers."""
    records = [json.dumps({"id": f"deploy-{i}", "at": f"2023-09-19T1{i}:00:00Z", "kind": "deploy", "label": f"v{i}"})
               + "\n" for i in range(1, 4)]
    logs = tmp_path / "logs"
    logs.mkdir()
    path = logs / "deploys.jsonl"
    path.write_text(records[0] + records[1][:-25])
    ingest(tmp_path / "lake", [str(logs)])
    with open(path, "a") as fh:
        fh.write(records[1][-25:] + records[2])
    ingest(tmp_path / "lake", [str(logs)])
    lake = Lake(tmp_path / "lake")
    assert lake.sql("SELECT id FROM changes ORDER BY id").fetchall() == [("deploy-1",), ("deploy-2",), ("deploy-3",)]
    assert lake.sql("SELECT count(*) FROM requests UNION ALL SELECT count(*) FROM events").fetchall() == [(0,), (0,)]


class RotationMachine(RuleBasedStateMachine):
    """Any sequence of appends, rotations, truncations and compressions."""

    def __init__(self):
        super().__init__()
        self.tmp = tempfile.mkdtemp(prefix="sessionlens-rot-")
        self.d = LogDir(Path(self.tmp))

    @rule(k=st.integers(1, 40))
    def append(self, k):
        self.d.write(k)

    @rule()
    def rename(self):
        self.d.rotate_rename()

    @rule()
    def copytruncate(self):
        self.d.copytruncate()

    @rule(i=st.integers(1, 3))
    def compress(self, i):
        self.d.compress(f"access.log.{i}")

    @rule()
    def ingest_now(self):
        self.d.ingest()

    @invariant()
    def after_ingest_the_lake_holds_each_line_as_often_as_written(self):
        self.d.ingest()
        if self.d.written:
            assert self.d.stored_paths() == self.d.expected_paths()

    def teardown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)


RotationMachine.TestCase.settings = settings(
    max_examples=8, stateful_step_count=6, deadline=None, suppress_health_check=list(HealthCheck)
)
test_any_rotation_sequence = RotationMachine.TestCase
os.environ.setdefault("PYTHONHASHSEED", "0")
