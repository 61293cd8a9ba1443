"""DuckDB connections over the lake: settings, and one view per table over its listed files.

A view reads exactly the files the manifest lists (:meth:`Lake.files
<sessionlens.lake.store.Lake.files>`), never a glob, so a reader sees whole
commits only. A table without files is an empty stand-in with its columns.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Mapping, Sequence

import duckdb

from ..sqltext import ident, literal, literal_list
from .schema import PARTITIONED, SCHEMAS

MEMORY_LIMIT = "600MB"


def quiet_progress(con: duckdb.DuckDBPyConnection) -> None:
    """No progress bar: on a terminal it would write into --json output.

    Inside Jupyter without ipywidgets DuckDB refuses to change the setting;
    there it draws nothing on stdout anyway.
    """
    try:
        con.execute("SET enable_progress_bar = false")
    except duckdb.Error:
        pass


def shared_spill_dir() -> Path:
    """Where analysis connections spill large aggregations (shared by runs: they read only the lake)."""
    spill = Path(tempfile.gettempdir()) / "sessionlens-duckdb"
    spill.mkdir(exist_ok=True)
    return spill


def open_connection(memory_limit: str, spill: Path) -> duckdb.DuckDBPyConnection:
    """A new in-memory DuckDB connection set up for the lake (UTC, memory limit, spill folder, no progress bar)."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"SET memory_limit = {literal(memory_limit)}")
    quiet_progress(con)
    con.execute(f"SET temp_directory = {literal(spill)}")  # large aggregations spill instead of failing
    # a lake's Parquet files are never rewritten under the same name: their footers can be kept between
    # queries (an analysis runs dozens of queries over the same files)
    con.execute("SET parquet_metadata_cache = true")
    return con


def table_sql(table: str, files: Sequence[str]) -> str:
    """The SELECT a table's view runs: its columns, in schema order, over the given files."""
    schema = SCHEMAS[table]
    if not files:
        cols = ", ".join(f"CAST(NULL AS {kind}) AS {ident(name)}" for name, kind in schema.items())
        return f"SELECT {cols} WHERE false"
    hive = "true" if table in PARTITIONED else "false"
    order = ", ".join(ident(name) for name in schema)
    return (f"SELECT {order} FROM read_parquet({literal_list(files)}, hive_partitioning={hive}, "
            "union_by_name=true)")


def create_views(con: duckdb.DuckDBPyConnection, files: Mapping[str, Sequence[str]]) -> None:
    """(Re)creates one view per table over the given files (absolute paths)."""
    for table, paths in files.items():
        con.execute(f"CREATE OR REPLACE VIEW {ident(table)} AS {table_sql(table, paths)}")
