"""A wrong format is not final: nothing is stored for it, and `forget` undoes an ingest."""

from __future__ import annotations

import gzip
import json

from click.testing import CliRunner

from sessionlens import Lake, ingest
from sessionlens.cli import cli
from sessionlens.ingestion.forget import forget

LINE = '203.0.113.{n} - - [19/Sep/2023:16:09:{s:02d} +0000] "GET /works/{n} HTTP/1.1" 200 512 "-" "Mozilla/5.0"\n'
WRONG = '$remote_addr [$time_local] $status'


def _log(tmp_path, n=20, name="access.log"):
    p = tmp_path / name
    p.write_text("".join(LINE.format(n=i, s=i % 60) for i in range(n)))
    return p


def test_a_file_nearly_all_rejected_stores_nothing_and_fails(tmp_path):
    log = _log(tmp_path)
    runner = CliRunner()
    bad = runner.invoke(cli, ["ingest", "--lake", str(tmp_path / "lake"), "--nginx-format", WRONG, "--json", str(log)])
    assert bad.exit_code == 1
    summary = json.loads(bad.output.splitlines()[0])
    assert summary["per_file"][0]["status"] == "failed" and "--allow-rejects" in summary["per_file"][0]["message"]
    # the right format now reads it: nothing was kept from the wrong one
    good = runner.invoke(cli, ["ingest", "--lake", str(tmp_path / "lake"), "--json", str(log)])
    assert good.exit_code == 0 and json.loads(good.output)["stored"] == 20
    lake = Lake(tmp_path / "lake")
    assert lake.sql("SELECT count(*) FROM rejects").fetchall()[0][0] == 0


def test_allow_rejects_keeps_them(tmp_path):
    log = _log(tmp_path)
    summary = ingest(tmp_path / "lake", [str(log)], nginx_format=WRONG, allow_rejects=True)
    assert (summary.stored, summary.rejected) == (0, 20) and not summary.failed
    assert Lake(tmp_path / "lake").sql("SELECT sum(lines) FROM rejects").fetchall()[0][0] == 20


def test_forget_then_ingest_again_with_the_right_format(tmp_path):
    log = _log(tmp_path)
    ingest(tmp_path / "lake", [str(log)], nginx_format=WRONG, allow_rejects=True)
    assert ingest(tmp_path / "lake", [str(log)]).files[0].status == "skipped"
    result = CliRunner().invoke(cli, ["forget", "--lake", str(tmp_path / "lake"), str(log)])
    assert result.exit_code == 0 and "20 rejected" in result.output
    lake = Lake(tmp_path / "lake")
    assert lake.sql("SELECT count(*) FROM rejects").fetchall()[0][0] == 0
    assert not any((tmp_path / "lake" / "rejects").glob("*.parquet"))
    assert ingest(tmp_path / "lake", [str(log)]).stored == 20


def test_forget_finds_a_rotated_copy_by_content_and_by_segment(tmp_path):
    log = _log(tmp_path, 30)
    other = _log(tmp_path, 5, "other.log")
    other.write_text(other.read_text().replace("/works/", "/other/"))
    ingest(tmp_path / "lake", [str(log), str(other)])
    rotated = tmp_path / "access.log.1.gz"
    rotated.write_bytes(gzip.compress(log.read_bytes()))
    log.unlink()
    removed = forget(tmp_path / "lake", [str(rotated)])
    assert removed.rows == 30
    lake = Lake(tmp_path / "lake")
    assert lake.sql("SELECT count(*) FROM requests").fetchall()[0][0] == 5
    (file_id,) = lake.sql("SELECT DISTINCT file_id FROM requests").fetchall()[0]
    assert forget(tmp_path / "lake", segments=[file_id]).rows == 5
    assert Lake(tmp_path / "lake").sql("SELECT count(*) FROM requests").fetchall()[0][0] == 0


def test_forget_unknown_file_is_a_one_line_error(tmp_path):
    _log(tmp_path)
    ingest(tmp_path / "lake", [str(tmp_path / "access.log")])
    result = CliRunner().invoke(cli, ["forget", "--lake", str(tmp_path / "lake"), str(tmp_path / "nope.log")])
    assert result.exit_code == 1 and "nothing in the lake comes from" in result.output
    assert "Traceback" not in result.output
