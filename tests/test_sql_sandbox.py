"""`sessionlens sql` is read-only and confined to the lake's committed files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from sessionlens import Lake, ingest
from sessionlens.cli import cli
from sessionlens.errors import QueryError

LINE = '203.0.113.{n} - - [19/Sep/2023:16:09:{s:02d} +0000] "GET /works/{n} HTTP/1.1" 200 512 "-" "Mozilla/5.0"\n'


@pytest.fixture(scope="module")
def lake(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("sandbox")
    src = tmp / "access.log"
    src.write_text("".join(LINE.format(n=i, s=i % 60) for i in range(40)) + "bad line\n")
    ingest(tmp / "lake", [str(src)])
    return tmp / "lake"


class Run:
    """What a command printed and returned."""

    def __init__(self, returncode: int, stdout: str, stderr: str):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


def _sql(lake: Path, *args: str, subprocess_: bool = False) -> Run:
    """``sessionlens sql --lake LAKE ARGS``: in-process (fast), or as a real process."""
    argv = ["sql", "--lake", str(lake), *args]
    if subprocess_:
        proc = subprocess.run([sys.executable, "-m", "sessionlens", *argv], capture_output=True, text=True)
        return Run(proc.returncode, proc.stdout, proc.stderr)
    result = CliRunner().invoke(cli, argv)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception  # would have been a traceback
    return Run(result.exit_code, result.stdout, result.stderr)


def _assert_one_line_failure(proc: Run, needle: str = "") -> str:
    assert proc.returncode != 0, proc.stdout
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), proc.stderr
    assert needle.lower() in lines[0].lower(), lines[0]
    return lines[0]


def _assert_duckdb_failure(proc: Run, needle: str = "") -> str:
    """A DuckDB error: DuckDB's whole message (hints, ``LINE 1:`` carets) after one ``Error:``, no traceback."""
    assert proc.returncode == 1, proc.stdout
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines[0].startswith("Error: ") and sum(line.startswith("Error") for line in lines) == 1, proc.stderr
    assert needle.lower() in lines[0].lower(), lines[0]
    return "\n".join(lines)


REFUSED = [
    ("SELECT * FROM read_csv('/etc/passwd')", "Permission Error"),
    ("SELECT * FROM read_text('{lake}/_key')", "Permission Error"),
    ("SELECT * FROM read_blob('{lake}/_key')", "Permission Error"),
    ("SELECT * FROM read_text('{lake}/requests/../_key')", "Permission Error"),
    ("SELECT * FROM read_parquet('{outside}')", "Permission Error"),
    ("SELECT * FROM read_parquet('{lake}/requests/**/*.parquet')", "Permission Error"),
    ("SELECT * FROM glob('{lake}/*')", "Permission Error"),
    ("COPY (SELECT 1) TO '{tmp}/x.csv'", "COPY statements are not allowed"),
    ("COPY (SELECT 1 AS a) TO '{part}' (FORMAT parquet)", "COPY statements are not allowed"),
    ("COPY (SELECT 1 AS a) TO '{part}' (FORMAT parquet, USE_TMP_FILE false)", "COPY statements are not allowed"),
    ("COPY requests FROM '/etc/passwd'", "COPY statements are not allowed"),
    ("EXPORT DATABASE '{tmp}/export'", "EXPORT statements are not allowed"),
    ("IMPORT DATABASE '{tmp}/export'", "not allowed"),
    ("ATTACH ':memory:' AS other", "ATTACH statements are not allowed"),
    ("ATTACH '{tmp}/x.duckdb' AS other", "ATTACH statements are not allowed"),
    ("INSTALL httpfs", "INSTALL and LOAD statements are not allowed"),
    ("LOAD httpfs", "INSTALL and LOAD statements are not allowed"),
    ("SET enable_external_access = true", "SET, RESET and USE statements are not allowed"),
    ("RESET lock_configuration", "SET, RESET and USE statements are not allowed"),
    ("SET VARIABLE x = 1", "not allowed"),
    ("PRAGMA version", "PRAGMA and IMPORT statements are not allowed"),
    ("PRAGMA enable_profiling", "not allowed"),
    ("CALL pragma_version()", "not allowed"),
    ("CHECKPOINT", "not allowed"),
    ("CREATE TABLE t AS SELECT 1", "CREATE statements are not allowed"),
    ("CREATE TEMP VIEW v AS SELECT 1", "CREATE statements are not allowed"),
    ("CREATE SECRET s (TYPE s3)", "CREATE statements are not allowed"),
    ("INSERT INTO requests (status) VALUES (200)", "INSERT statements are not allowed"),
    ("DELETE FROM requests", "DELETE statements are not allowed"),
    ("UPDATE requests SET status = 500", "UPDATE statements are not allowed"),
    ("DROP VIEW requests", "DROP statements are not allowed"),
    ("ALTER VIEW requests RENAME TO r", "ALTER statements are not allowed"),
    ("BEGIN", "not allowed"),
    ("VACUUM", "not allowed"),
    ("UPDATE EXTENSIONS", "not allowed"),
    ("EXPLAIN ANALYZE CREATE TABLE t AS SELECT 1", "EXPLAIN of a statement other than SELECT"),
    ("EXPLAIN ANALYZE COPY (SELECT 1) TO '{tmp}/y.csv'", "EXPLAIN of a statement other than SELECT"),
    ("SELECT 1; COPY (SELECT 1) TO '{tmp}/z.csv'", "COPY statements are not allowed"),
    ("/* comment */ copy (select 1) to '{tmp}/w.csv'", "COPY statements are not allowed"),
    ("PIVOT requests ON status USING count(*)", "PIVOT without an IN list"),
]


@pytest.mark.parametrize("query,needle", REFUSED, ids=[q for q, _ in REFUSED])
def test_refused_through_the_cli(lake, tmp_path, query, needle):
    outside = tmp_path / "outside.parquet"
    duckdb.sql(f"COPY (SELECT 1 AS a) TO '{outside}'")
    part = next((lake / "requests").rglob("*.parquet"))
    before = part.read_bytes()
    proc = _sql(lake, query.format(lake=lake, tmp=tmp_path, outside=outside, part=part))
    _assert_one_line_failure(proc, needle)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["outside.parquet"]  # nothing written
    assert part.read_bytes() == before


def test_key_is_never_in_output(lake):
    key = (lake / "_key").read_text().strip()
    for query in (f"SELECT * FROM read_text('{lake}/_key')", f"SELECT * FROM read_csv('{lake}/_key', header=false)",
                  f"SELECT * FROM sniff_csv('{lake}/_key')", f"SELECT * FROM parquet_metadata('{lake}/_key')"):
        proc = _sql(lake, query)
        assert proc.returncode != 0 and key not in proc.stdout + proc.stderr


def test_real_process_one_line_errors(lake, tmp_path):
    for query in ("SELECT * FROM read_csv('/etc/passwd')", f"COPY (SELECT 1) TO '{tmp_path}/x.csv'"):
        _assert_one_line_failure(_sql(lake, query, subprocess_=True))
    message = _assert_duckdb_failure(_sql(lake, "SELECT count(*) FROM reqests", subprocess_=True), "Catalog Error")
    assert 'Did you mean "requests"?' in message
    assert not (tmp_path / "x.csv").exists()


def test_readme_queries_still_work(lake):
    proc = _sql(lake, "SELECT app_version, cookie_format, count(*) FILTER (WHERE error_kind IS NOT NULL) AS errors, "
                      "count(*) AS n FROM requests GROUP BY ALL ORDER BY errors DESC")
    assert proc.returncode == 0, proc.stderr
    assert "40" in proc.stdout and not proc.stderr
    proc = _sql(lake, "--output", "csv", "SELECT * FROM rejects")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0].startswith("file_id,source_file,line_no")
    assert len(proc.stdout.splitlines()) == 2


@pytest.mark.parametrize("query", [
    "FROM requests SELECT count(*)",
    "WITH s AS (SELECT status FROM requests) SELECT count(*) FROM s",
    "DESCRIBE requests",
    "SUMMARIZE requests",
    "SHOW TABLES",
    "SELECT count(*) FROM events UNION ALL SELECT count(*) FROM changes",
    "PIVOT requests ON status IN (200) USING count(*)",
    "EXPLAIN SELECT count(*) FROM requests",
    "EXPLAIN ANALYZE SELECT count(*) FROM requests",
    "SELECT 1; SELECT count(*) FROM requests",
    "SELECT current_setting('enable_external_access') AS ext",
])
def test_reading_queries_work(lake, query):
    proc = _sql(lake, "--output", "json", query)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)


def test_the_sandbox_is_locked(lake):
    rel = Lake(lake).sql("SELECT current_setting('enable_external_access'), current_setting('lock_configuration'), "
                         "current_setting('autoinstall_known_extensions'), "
                         "current_setting('autoload_known_extensions')")
    assert rel.fetchall() == [(False, True, False, False)]


def test_errors_keep_duckdb_hints_and_carets(lake):
    message = _assert_duckdb_failure(_sql(lake, "SELECT count(*) FROM reqests"), "Catalog Error")
    assert 'Did you mean "requests"?' in message
    message = _assert_duckdb_failure(_sql(lake, "SELECT nope FROM requests"), "Binder Error")
    assert "Candidate bindings" in message
    message = _assert_duckdb_failure(_sql(lake, "SELEC 1"), "Parser Error")
    assert "LINE 1: SELEC 1" in message and "^" in message.splitlines()[-1]
    # raised while rows are fetched, not when the query is bound
    message = _assert_duckdb_failure(_sql(lake, "SELECT route::INT FROM requests"), "Conversion Error")
    assert "LINE 1: SELECT route::INT FROM requests" in message
    _assert_one_line_failure(_sql(lake, ""), "no SQL statement")


def test_error_messages_are_redacted(lake):
    secret = "Bearer eyJhbGciOiJIUzI1NiJ9abcdefghij"
    message = _assert_duckdb_failure(_sql(lake, f"SELECT '{secret}'::INT FROM requests"), "Conversion Error")
    assert "eyJhbGciOiJIUzI1NiJ9" not in message and "LINE 1:" in message


def test_a_type_polars_cannot_hold_is_a_one_line_error(lake):
    line = _assert_one_line_failure(_sql(lake, "SELECT max(ts) - min(ts) AS span FROM requests"), "cannot show")
    assert "span (INTERVAL)" in line and "span::VARCHAR" in line
    proc = _sql(lake, "--output", "csv", "SELECT (max(ts) - min(ts))::VARCHAR AS span FROM requests")
    assert proc.returncode == 0 and proc.stdout.splitlines()[0] == "span", proc.stderr


def test_unsafe_lifts_the_sandbox(lake, tmp_path):
    out = tmp_path / "out.csv"
    proc = _sql(lake, "--unsafe", f"COPY (SELECT status, count(*) AS n FROM requests GROUP BY 1) TO '{out}'",
                subprocess_=True)
    assert proc.returncode == 0, proc.stderr
    assert out.read_text().splitlines() == ["status,n", "200,40"]
    warning = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(warning) == 1 and warning[0].startswith("warning: --unsafe")
    proc = _sql(lake, "--unsafe", "SET threads = 1")  # no rows: prints nothing, succeeds
    assert proc.returncode == 0, proc.stderr
    proc = _sql(lake, "--unsafe", "--output", "csv", f"SELECT count(*) AS n FROM read_csv('{out}')")
    assert proc.returncode == 0 and proc.stdout.splitlines() == ["n", "1"]


def test_library_sql_is_sandboxed_too(lake, tmp_path):
    with pytest.raises(QueryError, match="COPY statements are not allowed"):
        Lake(lake).sql(f"COPY (SELECT 1) TO '{tmp_path}/x.csv'")
    with pytest.raises(QueryError, match="Permission Error"):
        Lake(lake).sql(f"SELECT * FROM read_text('{lake}/_key')")
    assert Lake(lake).sql("SELECT count(*) FROM requests").fetchall() == [(40,)]
    Lake(lake).sql(f"COPY (SELECT 1) TO '{tmp_path}/x.csv'", unsafe=True)
    assert (tmp_path / "x.csv").exists()
    # analysis code keeps its full connection
    con = Lake(lake).connect()
    con.sql(f"SELECT * FROM read_csv('{tmp_path}/x.csv')").fetchall()


def test_sandbox_spill_directory_is_private_and_removed(lake):
    import gc

    rel = Lake(lake).sql("SELECT current_setting('temp_directory')")
    spill = Path(rel.fetchall()[0][0])
    assert spill.name.startswith("sessionlens-sql-") and spill.exists()
    del rel
    gc.collect()
    assert not spill.exists()
