"""Stream a DuckDB query into Hive-partitioned Parquet files.

DuckDB hands the result over as Arrow record batches; a writer thread splits
each batch by partition value and appends it to that partition's open
ParquetWriter. DuckDB keeps computing the next batches while the thread
compresses and writes, and the queue between them is short, so memory stays
bounded by a few batches whatever the input size.
"""

from __future__ import annotations

import os
import queue
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Iterator, Sequence

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

BATCH_ROWS = 122_880
QUEUE_BATCHES = 2
WRITER_THREADS = 4  # threads writing the files of many routes (see write_routed)
_DONE = object()
NO_DICTIONARY = {"ts", "client_key", "session_key", "user_key", "device_key", "request_id", "line_no", "bytes",
                 "latency_ms"}


def write_query(
    con: duckdb.DuckDBPyConnection,
    select: str,
    dest: Path,
    name: str,
    partition: str | None = "date",
    compression_level: int = 3,
    constants: dict[str, str] | None = None,
) -> int:
    """Writes a query's rows under ``dest`` and returns how many were written.

    With ``partition``, rows go to ``dest/<partition>=<value>/part-<name>.parquet``
    (the column itself is left out of the file, as Hive layout has it);
    without, to ``dest/part-<name>.parquet``. Nothing is written for no rows.
    ``constants`` are columns with one value for every row (the source file):
    they are added here as one-entry dictionaries instead of being copied
    row by row out of DuckDB.
    """
    counts = write_routed(con, select, {None: (dest, constants or {})}, name, partition, compression_level)
    return counts[None][0] if None in counts else 0


def write_routed(
    con: duckdb.DuckDBPyConnection,
    select: str,
    routes: dict[Any, tuple[Path, dict[str, str]]],
    name: str,
    partition: str | None = "date",
    compression_level: int = 3,
    route_column: str | None = None,
    tally: Sequence[str] = (),
) -> dict[Any, list[int]]:
    """Writes a query's rows, each under the folder its route names, and counts them per route.

    Args:
        routes: route value -> (folder, constant columns), as ``dest`` and
            ``constants`` of :func:`write_query`. With ``route_column`` the
            query should carry such columns itself (per-route constants
            cost a little per route, and a group has thousands).
        route_column: the column holding each row's route (left out of the
            files); None: every row goes to the one route of ``routes``. A
            route's files are named ``part-<name>-<route>-<n>.parquet``: the
            caller makes ``name`` unique, as the lake keeps files by name.
        tally: columns whose non-NULL values are counted per route.

    Returns:
        route -> [rows, non-NULL count of each ``tally`` column], for routes with rows.
    """
    reader = con.sql(select).to_arrow_reader(BATCH_ROWS)
    # A group's batches wait longer: writing thousands of small files is slower than computing them.
    pending: queue.Queue = queue.Queue(maxsize=QUEUE_BATCHES if route_column is None else 4 * QUEUE_BATCHES)
    writers: dict[object, pq.ParquetWriter] = {}
    counts: dict[Any, list[int]] = {}
    failure: list[BaseException] = []

    written: dict[object, int] = {}  # a group's files written per (route, value): each slice is a file of its own

    def append(route, value, table: pa.Table) -> None:
        key = (route, value)
        folder = routes[route][0]
        folder = folder / f"{partition}={value}" if partition else folder
        if route_column is not None:
            # Thousands of routes: no file stays open (a process may open
            # only so many), each slice is written and closed at once.
            # Dictionaries do not pay in files of a few hundred rows either.
            seq = written[key] = written.get(key, -1) + 1
            os.makedirs(folder, exist_ok=True)
            pq.write_table(table, folder / f"part-{name}-{route}-{seq}.parquet", row_group_size=BATCH_ROWS,
                           compression="zstd", compression_level=compression_level, use_dictionary=False)
            return
        if key not in writers:
            os.makedirs(folder, exist_ok=True)
            # Hashes and timestamps are nearly unique: dictionary-encoding them
            # costs time and saves nothing.
            dictionary = [f.name for f in table.schema if f.name not in NO_DICTIONARY]
            writers[key] = pq.ParquetWriter(folder / f"part-{name}.parquet", table.schema, compression="zstd",
                                            compression_level=compression_level, use_dictionary=dictionary)
        writers[key].write_table(table, row_group_size=BATCH_ROWS)

    def with_constants(route, table: pa.Table) -> pa.Table:
        for column, value in routes[route][1].items():
            indices = pa.array(np.zeros(table.num_rows, dtype=np.int32))
            table = table.append_column(column, pa.DictionaryArray.from_arrays(indices, pa.array([value])))
        return table

    def add_counts(route, table: pa.Table) -> None:
        count = counts.setdefault(route, [0] * (1 + len(tally)))
        count[0] += table.num_rows
        for i, column in enumerate(tally, 1):
            count[i] += table.num_rows - table.column(column).null_count

    def runs(table: pa.Table, keys: list[str]) -> Iterator[tuple[tuple, pa.Table]]:
        """The table cut into runs of equal ``keys`` (sorted first if they are not all equal)."""
        if all(pc.count_distinct(table.column(k), mode="all").as_py() <= 1 for k in keys):
            yield tuple(table.column(k)[0].as_py() for k in keys), table.drop_columns(keys)
            return
        table = table.take(pc.sort_indices(table, sort_keys=[(k, "ascending") for k in keys]))
        change = np.zeros(table.num_rows - 1, dtype=bool)
        for k in keys:
            column = table.column(k)
            change |= pc.fill_null(pc.not_equal(column[1:], column[:-1]), True).to_numpy(zero_copy_only=False)
        bounds = [0, *(np.flatnonzero(change) + 1).tolist(), table.num_rows]
        rest = table.drop_columns(keys)
        for a, b in zip(bounds, bounds[1:], strict=False):
            yield tuple(table.column(k)[a].as_py() for k in keys), rest.slice(a, b - a)

    def routed(table: pa.Table) -> None:
        """A batch of many routes: counted by one group-by, cut by one sort, written by several threads."""
        assert route_column is not None
        aggregated = table.group_by(route_column).aggregate(
            [([], "count_all")] + [(c, "count") for c in tally]).to_pylist()
        for row in aggregated:
            count = counts.setdefault(row[route_column], [0] * (1 + len(tally)))
            count[0] += row["count_all"]
            for i, column in enumerate(tally, 1):
                count[i] += row[f"{column}_count"]
        keys = [route_column] + ([partition] if partition else [])
        parts = [(key[0], key[1] if partition else None, with_constants(key[0], part))
                 for key, part in runs(table, keys)]
        list(pool.map(lambda part: append(*part), parts))

    def drain() -> None:
        try:
            while (batch := pending.get()) is not _DONE:
                table = pa.Table.from_batches([batch])
                if route_column is not None:
                    routed(table)
                    continue
                route = next(iter(routes))
                add_counts(route, table)
                table = with_constants(route, table)
                if not partition:
                    append(route, None, table)
                    continue
                for (value,), part in runs(table, [partition]):
                    append(route, value, part)
        except BaseException as exc:  # surfaced in the caller's thread
            failure.append(exc)
            while pending.get() is not _DONE:
                pass

    # Many small files (a group's routes): their files are opened, written
    # and closed by a few threads at once (Arrow releases the GIL while it
    # encodes and compresses); one file is only ever written by one thread.
    pool = ThreadPoolExecutor(WRITER_THREADS, thread_name_prefix="parquet-route")
    thread = threading.Thread(target=drain, name="parquet-writer", daemon=True)
    thread.start()
    try:
        for batch in reader:
            if batch.num_rows:
                pending.put(batch)
    finally:
        pending.put(_DONE)
        thread.join()
        with pool:
            list(pool.map(lambda w: w.close(), writers.values()))
    if failure:
        raise failure[0]
    return counts
