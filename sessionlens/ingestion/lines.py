"""A file's lines as an Arrow table (line_no, line) that DuckDB scans in place.

The per-line parsers (regex formats, JSON lines, W3C, the rescue of odd
access-log lines) read a file in blocks of whole lines. Splitting a block
into lines is done with numpy on the bytes and the result is handed to
DuckDB as an Arrow string array over one buffer: no Python object is made
per line, and nothing is copied into DuckDB before the query reads it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import duckdb
import numpy as np
import pyarrow as pa

from .reader import iter_line_blocks

# Rows per Arrow record batch: DuckDB scans batches in parallel.
SCAN_ROWS = 100_000


def lines_table(first_line: int, block: bytes) -> pa.Table:
    """The lines of ``block`` (whole lines, each ending with a newline) and their numbers.

    A line keeps a trailing ``\\r``; invalid UTF-8 is replaced with U+FFFD,
    as :func:`~sessionlens.ingestion.reader.iter_line_chunks` does.
    """
    if not block.endswith(b"\n"):
        block += b"\n"
    ends = np.flatnonzero(np.frombuffer(block, np.uint8) == 10)
    # Without its newlines the block holds the lines back to back: line i
    # starts where it started in the block, less the i newlines before it.
    starts = np.empty(len(ends) + 1, np.int64)
    starts[0] = 0
    starts[1:] = ends + 1
    offsets = starts - np.arange(len(starts), dtype=np.int64)
    values = block.replace(b"\n", b"")
    lines = pa.LargeStringArray.from_buffers(len(ends), pa.py_buffer(offsets), pa.py_buffer(values))
    try:
        lines.validate(full=True)
    except pa.ArrowInvalid:  # invalid UTF-8 somewhere in the block
        return lines_table(first_line, block.decode("utf-8", "replace").encode("utf-8"))
    numbers = pa.array(np.arange(first_line, first_line + len(ends), dtype=np.int64))
    table = pa.table({"line_no": numbers, "line": lines})
    return pa.Table.from_batches(table.to_batches(max_chunksize=SCAN_ROWS), table.schema)


def register_lines(con: duckdb.DuckDBPyConnection, first_line: int, block: bytes, name: str = "lines") -> str:
    """Makes ``name`` a view of the block's lines on ``con``; returns the name."""
    con.register(name, lines_table(first_line, block))
    return name


def iter_lines(con: duckdb.DuckDBPyConnection, path: Path, start_byte: int, first_line: int,
               chunk_bytes: int, name: str = "lines") -> Iterator[str]:
    """Registers each block of the file's lines as ``name`` in turn; yields the name.

    The view holds one block at a time: the caller uses it before asking
    for the next one.
    """
    try:
        for first, block in iter_line_blocks(path, start_byte, first_line, chunk_bytes):
            yield register_lines(con, first, block, name)
    finally:
        con.unregister(name)
