"""The command line: help everywhere, one-line errors, machine-readable output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from sessionlens.cli import cli

LINES = ('203.0.113.{n} - - [19/Sep/2023:16:09:{s:02d} +0000] "GET /works/{n} HTTP/1.1" 200 512 "-" "Mozilla/5.0"\n')


@pytest.fixture
def access_log(tmp_path):
    p = tmp_path / "access.log"
    p.write_text("".join(LINES.format(n=i, s=i % 60) for i in range(40)) + "bad line\n")
    return p


def test_every_command_has_help_with_an_example():
    runner = CliRunner()
    for name, command in cli.commands.items():
        result = runner.invoke(cli, [name, "--help"])
        assert result.exit_code == 0, name
        assert command.help and "Example" in result.output, f"{name} --help teaches no example"


def test_top_level_help_lists_commands():
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    for name in ("ingest", "formats", "sql", "demo"):
        assert name in result.output


def test_ingest_json_summary(access_log, tmp_path):
    result = CliRunner().invoke(cli, ["ingest", "--lake", str(tmp_path / "lake"), "--json", str(access_log)])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    for key in ("files", "lines_read", "stored", "rejected", "rejected_by_reason", "seconds"):
        assert key in summary
    assert (summary["files"], summary["lines_read"], summary["stored"], summary["rejected"]) == (1, 41, 40, 1)
    assert summary["rejected_by_reason"] == {"line does not match format nginx-combined": 1}  # no Apache marks: nginx


def test_ingest_human_summary(access_log, tmp_path):
    result = CliRunner().invoke(cli, ["ingest", "--lake", str(tmp_path / "lake"), str(access_log)])
    assert result.exit_code == 0
    assert "41 lines read, 40 stored, 1 rejected" in result.output


def _run(*args):
    return subprocess.run([sys.executable, "-m", "sessionlens", *args], capture_output=True, text=True)


@pytest.mark.parametrize("args,needle", [
    (["ingest", "--lake", "L", "/no/such/file.log"], "no such file or directory"),
    (["ingest", "--lake", "L", "--format", "nope", "x"], "no such file"),
    (["ingest", "--lake", "L", "--bogus-flag", "x"], "No such option"),
    (["sql", "--lake", "/no/such/lake", "SELECT 1"], "no lake here"),
    (["ingest", "--lake", "L", "--nginx-format", "no variables here", "-"], "no $variables"),
])
def test_errors_are_one_line_without_traceback(tmp_path, args, needle):
    args = [a.replace("L", str(tmp_path / "lake")) if a == "L" else a for a in args]
    proc = _run(*args)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    assert needle.lower() in proc.stderr.lower()
    assert len([line for line in proc.stderr.splitlines() if line.startswith("Error")]) == 1


def test_unknown_format_is_named(access_log, tmp_path):
    proc = _run("ingest", "--lake", str(tmp_path / "lake"), "--format", "nope", str(access_log))
    assert proc.returncode == 1 and "unknown format 'nope'" in proc.stderr and "nginx-combined" in proc.stderr


def test_undetectable_file_fails_clearly_but_others_ingest(access_log, tmp_path):
    odd = tmp_path / "notes.txt"
    odd.write_text("dear diary\nnothing to see\n")
    proc = _run("ingest", "--lake", str(tmp_path / "lake"), "--json", str(access_log), str(odd))
    assert proc.returncode == 1
    assert json.loads(proc.stdout)["stored"] == 40
    assert "notes.txt" in proc.stderr and "--format" in proc.stderr


def test_sql_formats(access_log, tmp_path):
    runner = CliRunner()
    lake = str(tmp_path / "lake")
    runner.invoke(cli, ["ingest", "--lake", lake, str(access_log)])
    table = runner.invoke(cli, ["sql", "--lake", lake, "SELECT count(*) AS n FROM requests"])
    assert table.exit_code == 0 and "40" in table.output
    csv = runner.invoke(cli, ["sql", "--lake", lake, "--output", "csv",
                              "SELECT status, count(*) AS n FROM requests GROUP BY 1"])
    assert csv.output.splitlines() == ["status,n", "200,40"]
    js = runner.invoke(cli, ["sql", "--lake", lake, "--output", "json", "SELECT line_no, reason FROM rejects"])
    assert json.loads(js.output) == [{"line_no": 41, "reason": "line does not match format nginx-combined"}]
    bad = runner.invoke(cli, ["sql", "--lake", lake, "SELECT nope FROM requests"])
    assert bad.exit_code == 1 and "nope" in bad.output and "Traceback" not in bad.output


def test_formats_lists_every_spec():
    from sessionlens.ingestion.formats import load_specs

    result = CliRunner().invoke(cli, ["formats", "--json"])
    names = {f["name"] for f in json.loads(result.output)}
    assert names == {s.name for s in load_specs()}
    assert all(f["sample"] for f in json.loads(result.output))


def test_stdin_dash(tmp_path):
    data = "".join(LINES.format(n=i, s=i) for i in range(5))
    result = CliRunner().invoke(cli, ["ingest", "--lake", str(tmp_path / "lake"), "--json", "--format",
                                      "nginx-combined", "-"], input=data)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["stored"] == 5


def test_progress_is_silent_when_piped(access_log, tmp_path):
    proc = _run("ingest", "--lake", str(tmp_path / "lake"), str(access_log))
    assert proc.returncode == 0 and proc.stderr == ""


def test_readme_lists_every_format():
    from sessionlens.ingestion.formats import load_specs

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    missing = [s.name for s in load_specs() if f"`{s.name}`" not in readme]
    assert not missing, missing


def test_formats_command_shows_every_format_with_a_sample(tmp_path):
    from sessionlens.ingestion.formats import load_specs

    result = CliRunner().invoke(cli, ["formats"])
    assert result.exit_code == 0
    for spec in load_specs():
        assert spec.name in result.output
    assert result.output.count("sample:") == len(load_specs())


@pytest.mark.parametrize("make_out, needle, code", [
    (lambda d: d, "is a directory", 2),  # --out names an existing folder: a usage error (click)
    (lambda d: d / "file.txt" / "r.html", "exists and is not a directory", 1),  # a file stands where a folder must be
    (lambda d: d / "r.pdf", "--type must be one of", 1),
])
def test_report_out_is_checked_before_the_analysis(access_log, tmp_path, monkeypatch, make_out, needle, code):
    import sessionlens.analysis.pipeline as analyze_module  # sessionlens.analyze is the function, not this module

    CliRunner().invoke(cli, ["ingest", "--lake", str(tmp_path / "lake"), str(access_log)])
    (tmp_path / "file.txt").write_text("x")
    ran = []
    monkeypatch.setattr(analyze_module, "analyze", lambda *a, **k: ran.append(1))
    r = CliRunner().invoke(cli, ["report", "--lake", str(tmp_path / "lake"), "--out", str(make_out(tmp_path))])
    assert r.exit_code == code and needle in r.output and "internal error" not in r.output, r.output
    assert not ran  # failed before any work


def test_internal_errors_exit_70_apart_from_usage_errors(monkeypatch, capsys):
    import sessionlens.cli as cli_module

    def boom(**_):
        raise RuntimeError("something broke")

    monkeypatch.setattr(cli_module, "cli", boom)
    monkeypatch.delenv("SESSIONLENS_DEBUG", raising=False)
    with pytest.raises(SystemExit) as exited:
        cli_module.main()
    assert exited.value.code == 70
    err = capsys.readouterr().err
    assert err.startswith("Error: internal error: RuntimeError: something broke") and "Traceback" not in err
    usage = CliRunner().invoke(cli, ["analyze", "--no-such-flag"])
    assert usage.exit_code == 2


def test_lake_from_the_environment(access_log, tmp_path):
    env = {"SESSIONLENS_LAKE": str(tmp_path / "lake")}
    assert CliRunner().invoke(cli, ["ingest", str(access_log)], env=env).exit_code == 0
    out = CliRunner().invoke(cli, ["sql", "SELECT count(*) AS n FROM requests", "--format", "csv"], env=env)
    assert out.exit_code == 0 and out.output.splitlines()[1] == "40", out.output
    assert "SESSIONLENS_LAKE" in CliRunner().invoke(cli, ["analyze", "--help"]).output


def test_a_lake_path_holding_glob_characters_is_refused_in_one_line(tmp_path):
    """The engines read the lake's file lists as patterns: `lake*` beside `lakeB` would read both lakes."""
    log = tmp_path / "a.log"
    log.write_text('203.0.113.7 - - [19/Sep/2023:10:00:01 +0000] "GET /w/1 HTTP/1.1" 200 1 "-" "UA"\n')
    result = CliRunner().invoke(cli, ["ingest", "--lake", str(tmp_path / "lake*"), str(log)])
    assert result.exit_code == 1, result.output
    assert "must not hold any of" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "lake*").exists()
