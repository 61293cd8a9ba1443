"""What every command promises: help with an example, one-line errors, distinct exit codes,
defaults from the environment and sessionlens.toml, a quick start, shell completion."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

import sessionlens.cli as cli_module
from sessionlens import errors
from sessionlens.cli import cli
from sessionlens.errors import InputError

HEAVY = ("polars", "duckdb", "scipy", "altair", "numpy", "pyarrow")
NGINX_FORMAT = ('$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" '
                '"$http_user_agent" $request_time $hostname $sent_http_x_app_version "$cookie__app_session"')
COOKIE = "s3cr3tS3ss10nV4lu3xyz"
SAMPLE = (
    f'198.51.100.23 - - [19/Sep/2023:16:09:01 +0000] "GET /works/1 HTTP/1.1" 200 512 "-" "Mozilla/5.0" 0.012 web07 '
    f'v1.41.0 "{COOKIE}"\n'
    '198.51.100.24 - - [19/Sep/2023:16:09:02 +0000] "GET /works/2 HTTP/1.1" 302 0 "-" "Mozilla/5.0" 0.004 web07 '
    'v1.41.0 "-"\n'
    "not a log line at all\n"
)


def _run(*args: str, env: dict | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sessionlens", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, cwd=cwd)


def _all_commands(group: click.Group, path: tuple[str, ...] = ()):
    for name, command in group.commands.items():
        yield path + (name,), command
        if isinstance(command, click.Group):
            yield from _all_commands(command, path + (name,))


# --- help, usage errors, internal errors ------------------------------------------


@pytest.mark.parametrize("path", [p for p, _ in _all_commands(cli)], ids=" ".join)
def test_every_command_and_subcommand_shows_an_example(path):
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Example" in result.output, f"sessionlens {' '.join(path)} --help teaches no example"


def test_top_level_help_documents_exit_codes_and_completion():
    out = CliRunner().invoke(cli, ["--help"]).output
    for code in ("70", "130", "usage error", "input error", "cannot judge", "findings"):
        assert code in out
    assert "_SESSIONLENS_COMPLETE" in out and "preview" in out


@pytest.mark.parametrize("args", [["analyze", "--no-such-flag"], ["sql", "--output", "xml", "SELECT 1"],
                                  ["report", "--lake", "x", "--out", "r.html", "--type", "pdf"], ["nope"]])
def test_usage_errors_exit_2_with_one_error_line(args):
    proc = _run(*args)
    assert proc.returncode == errors.EXIT_USAGE, proc.stderr
    assert "Traceback" not in proc.stderr
    assert len([line for line in proc.stderr.splitlines() if line.startswith("Error")]) == 1, proc.stderr


def test_unexpected_exception_exits_70_with_one_line(monkeypatch, capsys):
    import sessionlens.ingestion.formats as formats_module

    def broken():
        raise RuntimeError("a bug\nsecond line")

    monkeypatch.setattr(formats_module, "load_specs", broken)
    monkeypatch.setattr(sys, "argv", ["sessionlens", "formats"])
    monkeypatch.delenv("SESSIONLENS_DEBUG", raising=False)
    with pytest.raises(SystemExit) as exited:
        cli_module.main()
    assert exited.value.code == errors.EXIT_INTERNAL
    err = capsys.readouterr().err
    assert err.splitlines() == ["Error: internal error: RuntimeError: a bug (SESSIONLENS_DEBUG=1 shows the traceback)"]
    monkeypatch.setenv("SESSIONLENS_DEBUG", "1")
    with pytest.raises(RuntimeError):  # the traceback, for whoever debugs
        cli_module.main()


def test_input_errors_exit_1_and_interrupts_130(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["sessionlens", "sql", "--lake", "/no/such/lake", "SELECT 1"])
    with pytest.raises(SystemExit) as exited:
        cli_module.main()
    assert exited.value.code == errors.EXIT_INPUT
    assert capsys.readouterr().err.startswith("Error: /no/such/lake: no lake here")

    def interrupted(**_):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli_module, "cli", interrupted)
    with pytest.raises(SystemExit) as exited:
        cli_module.main()
    assert exited.value.code == errors.EXIT_INTERRUPTED


def test_exit_codes_are_distinct():
    codes = [errors.EXIT_OK, errors.EXIT_INPUT, errors.EXIT_USAGE, errors.EXIT_FINDINGS, errors.EXIT_CANNOT_JUDGE,
             errors.EXIT_INTERNAL, errors.EXIT_INTERRUPTED]
    assert len(set(codes)) == len(codes)
    assert errors.InputError.exit_code == 1 and errors.ConfigError.exit_code == 2


# --- start-up ------------------------------------------------------------------------


def test_nothing_heavy_is_imported_before_a_command_runs():
    code = ("import sys, sessionlens, sessionlens.cli\n"
            "from sessionlens.cli import cli\n"
            f"print(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r}))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]", proc.stdout
    proc = _run("--help")
    assert proc.returncode == 0 and "Commands:" in proc.stdout


def test_public_api_resolves_lazily_to_the_same_objects():
    import sessionlens
    from sessionlens import Analysis, FieldOptions, IngestSummary, Lake, SessionlensError, analyze, ingest, preview
    from sessionlens.analysis.pipeline import analyze as analyze_function
    from sessionlens.lake.store import Lake as LakeClass

    assert analyze is analyze_function and callable(sessionlens.analyze)  # the function, not the subpackage
    assert Lake is LakeClass and callable(ingest) and callable(preview)
    assert {Analysis, FieldOptions, IngestSummary, SessionlensError}
    assert set(sessionlens.__all__) <= set(dir(sessionlens))
    with pytest.raises(AttributeError):
        sessionlens.no_such_name  # noqa: B018


def test_shell_completion_script_is_produced():
    proc = subprocess.run([sys.executable, "-m", "sessionlens"], capture_output=True, text=True,
                          env={**os.environ, "_SESSIONLENS_COMPLETE": "bash_source"})
    assert proc.returncode == 0, proc.stderr
    assert "_sessionlens_completion" in proc.stdout and "complete " in proc.stdout
    proc = subprocess.run([sys.executable, "-m", "sessionlens"], capture_output=True, text=True,
                          env={**os.environ, "_SESSIONLENS_COMPLETE": "bash_complete",
                               "COMP_WORDS": "sessionlens an", "COMP_CWORD": "1"})
    assert "analyze" in proc.stdout


# --- defaults: flag > environment > sessionlens.toml > built-in ---------------------------------


@pytest.fixture
def seen(monkeypatch):
    """What `analyze` was called with (the analysis itself replaced by a stub that stops)."""
    import sessionlens.analysis.pipeline as pipeline

    calls: list[dict] = []

    def fake(lake, since=None, until=None, bucket_seconds=None, tz=None):
        calls.append({"lake": str(lake), "tz": tz, "bucket": bucket_seconds})
        raise InputError("stopped by the test")

    monkeypatch.setattr(pipeline, "analyze", fake)
    return calls


def test_precedence_flag_env_toml_default(tmp_path, monkeypatch, seen):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SESSIONLENS_LAKE", raising=False)
    runner = CliRunner()
    runner.invoke(cli, ["analyze", "--lake", "L"])
    assert seen[-1] == {"lake": "L", "tz": None, "bucket": None}  # built-in
    (tmp_path / "sessionlens.toml").write_text('lake = "toml-lake/"\n[analyze]\ntz = "Europe/Berlin"\nbucket = 300\n')
    r = runner.invoke(cli, ["analyze"])
    assert r.exit_code == 1 and "stopped by the test" in r.output
    assert seen[-1] == {"lake": "toml-lake/", "tz": "Europe/Berlin", "bucket": 300}  # sessionlens.toml
    runner.invoke(cli, ["analyze"], env={"SESSIONLENS_ANALYZE_TZ": "Asia/Tokyo", "SESSIONLENS_LAKE": "env-lake"})
    assert seen[-1] == {"lake": "env-lake", "tz": "Asia/Tokyo", "bucket": 300}  # environment over the file
    runner.invoke(cli, ["analyze", "--tz", "UTC", "--lake", "flag-lake"], env={"SESSIONLENS_ANALYZE_TZ": "Asia/Tokyo"})
    assert seen[-1] == {"lake": "flag-lake", "tz": "UTC", "bucket": 300}  # the flag over both


def test_toml_sections_reach_subcommands(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SESSIONLENS_LAKE", raising=False)
    (tmp_path / "sessionlens.toml").write_text('lake = "nowhere"\n[changes.list]\njson = true\n')
    r = CliRunner().invoke(cli, ["changes", "list"])
    assert r.exit_code == 1 and "nowhere: no lake here" in r.output


@pytest.mark.parametrize("text, needle", [
    ("lake = \n", "not valid TOML"),
    ("[analyse]\ntz = 'UTC'\n", "[analyse]: no such command"),
    ("[analyze]\ntimezone = 'UTC'\n", "has no option --timezone"),
    ("colour = true\n", "no command has an option --colour"),
])
def test_malformed_toml_is_a_one_line_usage_error(tmp_path, text, needle):
    (tmp_path / "sessionlens.toml").write_text(text)
    proc = _run("analyze", "--lake", "x", cwd=tmp_path)
    assert proc.returncode == errors.EXIT_USAGE
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: sessionlens.toml") and needle in lines[0], proc.stderr
    assert _run("--help", cwd=tmp_path).returncode == 0  # help alone does not need the file


# --- --out checked first, flag names ------------------------------------------------------------


def test_nightly_and_demo_check_out_before_any_work(tmp_path, monkeypatch):
    import sessionlens.demo as demo_module
    import sessionlens.nightly as nightly_module

    ran: list[str] = []
    monkeypatch.setattr(nightly_module, "ingest", lambda *a, **k: ran.append("ingest"))
    monkeypatch.setattr(demo_module, "generate", lambda *a, **k: ran.append("generate"))
    (tmp_path / "file.txt").write_text("x")
    (tmp_path / "inbox").mkdir()
    bad_out = tmp_path / "file.txt" / "out"
    r = CliRunner().invoke(cli, ["nightly", "--inbox", str(tmp_path / "inbox"), "--lake", str(tmp_path / "lake"),
                                 "--out", str(bad_out)])
    assert r.exit_code == 1 and "--out" in r.output and "internal error" not in r.output, r.output
    r = CliRunner().invoke(cli, ["demo", "--out", str(bad_out)])
    assert r.exit_code == 1 and "--out" in r.output and "internal error" not in r.output, r.output
    assert not ran


def test_report_type_and_its_old_spelling(tmp_path, seen):
    from sessionlens.lake.store import Lake

    lake = Lake(tmp_path / "L", create=True)  # an empty lake: the analysis is stopped before it reads
    for flag in ("--type", "--format"):
        out = tmp_path / f"report{flag}.txt"  # a suffix that names no type: the flag decides
        r = CliRunner().invoke(cli, ["report", "--lake", str(lake.root), "--out", str(out), flag, "json"])
        assert r.exit_code == 1 and "stopped by the test" in r.output, r.output  # past the --out check
    assert "--type" in CliRunner().invoke(cli, ["report", "--help"]).output
    assert "--format" not in CliRunner().invoke(cli, ["report", "--help"]).output


# --- preview ----------------------------------------------------------------------------------


def test_preview_shows_the_format_and_privacy_safe_records(tmp_path):
    log = tmp_path / "access.log"
    log.write_text(SAMPLE)
    r = CliRunner().invoke(cli, ["preview", "--nginx-format", NGINX_FORMAT, "--lines", "1", str(log)])
    assert r.exit_code == 0, r.output
    assert r.output.splitlines()[0] == f"{log}: nginx-custom; 1 of 3 record(s) shown, 1 would be rejected"
    assert "session_key:" in r.output and "client_key:" in r.output and "path: /works/1" in r.output
    assert "/works/2" not in r.output  # --lines 1
    assert "rejected: line 3: line does not match format nginx-custom" in r.output
    assert COOKIE not in r.output and "198.51.100" not in r.output  # hashed, never raw


def test_preview_json_and_detection(tmp_path):
    log = tmp_path / "access.log"
    log.write_text(SAMPLE)
    r = CliRunner().invoke(cli, ["preview", "--json", str(log)])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    assert doc["format"] == "nginx-sessionlens" and doc["read"] == 3 and doc["rejected_total"] == 1
    assert [rec["status"] for rec in doc["records"]] == [200, 302]
    assert COOKIE not in r.output and "198.51.100" not in r.output
    missing = CliRunner().invoke(cli, ["preview", str(tmp_path / "nope.log")])
    assert missing.exit_code == 1 and "no such file" in missing.output
