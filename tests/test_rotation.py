"""Rotated logs are counted once: logrotate's rename, copytruncate,
delaycompress and compress, truncated gzip, half-written lines."""

from __future__ import annotations

import gzip
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
