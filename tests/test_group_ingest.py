"""Many small files parsed in one scan store what file-by-file parsing stores.

A folder of rotated and per-host logs is what on-call engineers get. Small
access logs of one format are parsed together (:mod:`sessionlens.ingestion.group`):
one CSV scan, rows routed to each file's own segment. These tests compare a
grouped ingest with the same ingest file by file: the same summary line per
file, the same rows, rejects and line numbers. The folder holds traps: odd
lines, a blank line, CRLF endings, a refused value between well-placed
quotes, a file of garbage, a gzip file, a copy of a file, another format in
the middle, real third-party lines.
"""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sessionlens import ingest
from sessionlens.ingestion import ingestor, task
from sessionlens.ingestion.formats import detect, load_specs
from sessionlens.lake.digest import digest
from sessionlens.lake.store import Lake
from sessionlens.privacy import KEY_FILE

from .conftest import ROOT

REAL = ROOT.parent / "shared" / "data" / "real"
LINE = ('10.0.{h}.{i} - - [19/Sep/2023:16:{m:02d}:{s:02d} +0000] "GET /works/{i} HTTP/1.1" 200 512 "-" '
        '"Mozilla/5.0 (X11; Linux x86_64)" 0.0{s:02d} web0{h} v1.41.0 "BAh7CEkiD3Nlc3Npb25faWQ{i:04d}--abc"')


def host_file(path: Path, host: int, n: int = 60) -> list[str]:
    lines = [LINE.format(h=host, i=i, m=i // 60 % 60, s=i % 60) for i in range(n)]
    path.write_text("\n".join(lines) + "\n")
    return lines


def folder_of_traps(root: Path) -> Path:
    logs = root / "logs"
    logs.mkdir()
    for h in range(12):
        host_file(logs / f"web{h:02d}.log", h)
    clean = (logs / "web00.log").read_text().splitlines()
    (logs / "web01.log").write_text("\n".join(clean[:10] + [clean[10][:45]] + clean[11:]) + "\n")  # truncated
    (logs / "web02.log").write_text("\n".join(clean[:5] + [""] + clean[5:]) + "\n")  # a blank line
    (logs / "web03.log").write_text("\r\n".join(clean) + "\r\n")  # CRLF: the reader gives up on this one
    (logs / "web04.log").write_text(  # quotes in place, the time unreadable: a refused value
        "\n".join(clean[:7] + [clean[7].replace("19/Sep", "99/Xyz")] + clean[8:]) + "\n")
    (logs / "web05.log").write_text("\n".join(clean[:3] + [clean[3] + ' "stray'] + clean[4:]))  # no final newline
    (logs / "web06.log").write_text("\n".join(["garbage, not a log line"] * 40) + "\n")
    (logs / "web07.log").write_bytes(gzip.compress((logs / "web07.log").read_bytes()))
    (logs / "web07.log").rename(logs / "web07.log.gz")
    shutil.copy(logs / "web08.log", logs / "web08-copy.log")
    shutil.copy(REAL / "elastic_apache_logs" / "apache_logs", logs / "web09b.log")  # another format between
    return logs


def fresh(path: Path) -> Path:
    path.mkdir(parents=True)
    (path / KEY_FILE).write_text("0123456789abcdef" * 4)
    return path


def files_of(summary) -> list[dict]:
    return [{k: v for k, v in f.as_dict().items() if k != "seconds"} for f in summary.files]


def test_a_grouped_folder_stores_what_file_by_file_stores(tmp_path, monkeypatch):
    logs = folder_of_traps(tmp_path)
    scans: list[int] = []
    real_group = task.Worker.group

    def spy(self, units):
        scans.append(len(units))
        return real_group(self, units)

    monkeypatch.setattr(task.Worker, "group", spy)
    grouped = ingest(fresh(tmp_path / "grouped"), [str(logs)], allow_rejects=False)
    monkeypatch.setattr(ingestor, "groupable", lambda plan, final=False: False)
    alone = ingest(fresh(tmp_path / "alone"), [str(logs)], allow_rejects=False)

    # The small nginx files went in groups; the gzip file, the garbage and the Apache file broke them.
    assert sum(scans) >= 9 and max(scans) >= 4
    assert files_of(grouped) == files_of(alone)
    assert digest(Lake.of(tmp_path / "grouped")) == digest(Lake.of(tmp_path / "alone"))
    by_name = {Path(f.path).name: f for f in grouped.files}
    assert by_name["web06.log"].status != "ok" and by_name["web06.log"].stored == 0  # refused, as alone
    assert by_name["web01.log"].rejected == 1 and by_name["web02.log"].rejected == 1  # truncated; blank
    assert by_name["web04.log"].rejected == 1 and by_name["web03.log"].stored == 60
    con = Lake.of(tmp_path / "grouped").engine().connection
    rejects = dict(con.execute("SELECT regexp_extract(source_file, '[^/]+$'), list(line_no ORDER BY line_no) "
                               "FROM rejects GROUP BY 1").fetchall())
    assert rejects["web01.log"] == [11] and rejects["web02.log"] == [6] and rejects["web04.log"] == [8]


def test_each_file_of_a_group_is_its_own_segment(tmp_path, monkeypatch):
    logs = tmp_path / "logs"
    logs.mkdir()
    for h in range(30):
        host_file(logs / f"web{h:02d}.log", h, n=20)
    scans: list[int] = []
    real_group = task.Worker.group
    monkeypatch.setattr(task.Worker, "group", lambda self, units: scans.append(len(units)) or real_group(self, units))
    summary = ingest(fresh(tmp_path / "lake"), [str(logs)])
    assert scans == [30]
    assert summary.stored == 600 and all(f.stored == 20 for f in summary.files)
    lake = Lake.of(tmp_path / "lake")
    segments = lake.read_manifest().segments
    assert len(segments) == 30 and len({s.segment_id for s in segments}) == 30
    con = lake.engine().connection
    per_file = con.execute("SELECT source_file, count(DISTINCT file_id), count(*) FROM requests GROUP BY 1").fetchall()
    assert len(per_file) == 30 and all(ids == 1 and rows == 20 for _, ids, rows in per_file)
    # a second run finds every file already stored
    again = ingest(tmp_path / "lake", [str(logs)])
    assert again.stored == 0 and len(lake.read_manifest().segments) == 30


HEADS = {
    **{spec.name: [s.line for s in spec.samples] for spec in load_specs() if spec.samples},
    "elastic-apache": (REAL / "elastic_apache_logs" / "apache_logs").read_text(errors="replace").splitlines()[:20],
    "hackers-access": (REAL / "logparser_hackers_access" / "hackers-access.log").read_text(
        errors="replace").splitlines()[:20],
}


@pytest.mark.parametrize("head", sorted(HEADS))
def test_a_hint_never_changes_what_detection_finds(head):
    lines = HEADS[head]
    try:
        expected = detect(lines).name
    except Exception as exc:  # no format: the hint must not find one either
        expected = type(exc).__name__
    for hint in [s.name for s in load_specs()] + ["no-such-format"]:
        try:
            got = detect(lines, hint=hint).name
        except Exception as exc:
            got = type(exc).__name__
        assert got == expected, (head, hint)


def nginx_lines(paths: list[str], minute: int = 0) -> str:
    return "".join(f'203.0.113.9 - - [05/Mar/2024:10:{minute:02d}:{i:02d} +0000] "GET {p} HTTP/1.1" 200 1 "-" "ua"\n'
                   for i, p in enumerate(paths))


@pytest.fixture
def late_change(monkeypatch):
    """Runs a function on a file waiting in a group: when the planner reaches the next file."""
    from sessionlens.ingestion.plan import Planner

    plan = Planner.plan
    todo: dict[str, object] = {}

    def planning(self, path, *args, **kwargs):
        if path.name in todo:
            todo.pop(path.name)()  # type: ignore[operator]
        return plan(self, path, *args, **kwargs)

    monkeypatch.setattr(Planner, "plan", planning)
    return todo


def test_a_file_that_grows_while_it_waits_is_stored_up_to_where_it_was_planned(tmp_path, late_change):
    a, b = tmp_path / "a.log", tmp_path / "b.log"
    a.write_text(nginx_lines(["/a/0", "/a/1", "/a/2"]))
    b.write_text(nginx_lines(["/b/0", "/b/1"], minute=1))
    late_change["b.log"] = lambda: a.open("a").write(nginx_lines(["/late"], minute=2))
    first = ingest(fresh(tmp_path / "lake"), [str(a), str(b)])
    assert [(f.lines_read, f.stored, f.rejected) for f in first.files] == [(3, 3, 0), (2, 2, 0)]
    again = ingest(tmp_path / "lake", [str(a)])
    assert again.stored == 1  # the line written while it waited, once
    con = Lake.of(tmp_path / "lake").engine().connection
    assert con.execute("SELECT count(*) FROM requests WHERE path = '/late'").fetchall()[0][0] == 1


def test_a_file_that_goes_while_it_waits_fails_alone(tmp_path, late_change):
    a, b = tmp_path / "a.log", tmp_path / "b.log"
    a.write_text(nginx_lines(["/a/0", "/a/1"]))
    b.write_text(nginx_lines(["/b/0", "/b/1"], minute=1))
    late_change["b.log"] = lambda: a.rename(tmp_path / "a.log.1")  # logrotate
    summary = ingest(fresh(tmp_path / "lake"), [str(a), str(b)])
    (gone, kept) = summary.files
    assert gone.status == "failed" and "No such file" in gone.message
    assert (kept.status, kept.stored) == ("ingested", 2)


def test_a_file_continuing_a_refused_waiting_file_is_read_whole(tmp_path):
    good = nginx_lines(["/p/1"])
    old = "".join(f'203.0.113.9 - - [05/Mar/1971:10:00:{i:02d} +0000] "GET /old HTTP/1.1" 200 1 "-" "ua"\n'
                  for i in range(9))
    (tmp_path / "copy.log").write_text(good + old)  # nearly all refused: not stored
    (tmp_path / "full.log").write_text(good + old + nginx_lines([f"/p/{i}" for i in range(11, 16)], minute=5))
    summary = ingest(fresh(tmp_path / "lake"), [str(tmp_path / "copy.log"), str(tmp_path / "full.log")])
    copy, full = summary.files
    assert copy.status == "failed" and copy.stored == 0
    assert (full.lines_read, full.stored, full.rejected) == (15, 6, 9)  # as if the copy had never been seen


def test_a_group_never_holds_files_open(tmp_path):
    """1,500 files under a limit of 256 open files (macOS's default) ingest like any other."""
    logs = tmp_path / "logs"
    logs.mkdir()
    for i in range(1500):
        (logs / f"host{i:04d}.log").write_text(nginx_lines([f"/{i}/a", f"/{i}/b"], minute=i % 60))
    out = subprocess.run(["bash", "-c", f'ulimit -n 256 && "{sys.executable}" -m sessionlens ingest --lake '
                          f'"{tmp_path / "lake"}" --json "{logs}"'], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    summary = json.loads(out.stdout)
    assert (summary["files"], summary["stored"], summary["rejected"]) == (1500, 3000, 0)


@pytest.mark.parametrize("name", ["a[1].log", "a?.log", "*.log", "a{1,2}.log"])
def test_a_file_named_like_a_glob_pattern_is_read_and_no_other(tmp_path, name):
    """DuckDB reads a path as a pattern: `a[1].log` would read `a1.log` (here with as many lines)."""
    real = (REAL / "elastic_apache_logs" / "apache_logs").read_text(errors="replace").splitlines(keepends=True)
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "a1.log").write_text("".join(real[100:150]))  # what the pattern would match
    (logs / name).write_text("".join(real[:50]))
    for each in ("alone", "folder"):
        lake = tmp_path / f"lake-{each}"
        summary = ingest(lake, [str(logs / name)] if each == "alone" else [str(logs)])
        assert summary.stored == 50 + 50 * (each == "folder")
        rows = Lake(lake).sql("SELECT source_file, min(ts), count(*) FROM requests GROUP BY 1 ORDER BY 1").fetchall()
        mine = [(n, str(t), c) for f, t, c in rows if (n := Path(f).name) == name]
        assert mine == [(name, "2015-05-17 10:05:00+00:00", 50)]
