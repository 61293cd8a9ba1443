"""Stream a DuckDB query into Hive-partitioned Parquet files.

DuckDB hands the result over as Arrow record batches; a writer thread splits
each batch by partition value and appends it to that partition's open
ParquetWriter. DuckDB keeps computing the next batches while the thread
compresses and writes, and the queue between them is short, so memory stays
bounded by a few batches whatever the input size.
"""

from __future__ import annotations

import queue
import threading
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

BATCH_ROWS = 122_880
QUEUE_BATCHES = 2
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
    constants = constants or {}
    reader = con.sql(select).to_arrow_reader(BATCH_ROWS)
    pending: queue.Queue = queue.Queue(maxsize=QUEUE_BATCHES)
    writers: dict[object, pq.ParquetWriter] = {}
    failure: list[BaseException] = []

    def target_for(value) -> Path:
        folder = dest / f"{partition}={value}" if partition else dest
        folder.mkdir(parents=True, exist_ok=True)
        return folder / f"part-{name}.parquet"

    def append(key, table: pa.Table) -> None:
        if key not in writers:
            # Hashes and timestamps are nearly unique: dictionary-encoding them
            # costs time and saves nothing.
            dictionary = [f.name for f in table.schema if f.name not in NO_DICTIONARY]
            writers[key] = pq.ParquetWriter(target_for(key), table.schema, compression="zstd",
                                            compression_level=compression_level, use_dictionary=dictionary)
        writers[key].write_table(table, row_group_size=BATCH_ROWS)

    def drain() -> None:
        try:
            while (batch := pending.get()) is not _DONE:
                table = pa.Table.from_batches([batch])
                for column, value in constants.items():
                    indices = pa.array(np.zeros(table.num_rows, dtype=np.int32))
                    table = table.append_column(column, pa.DictionaryArray.from_arrays(indices, pa.array([value])))
                if not partition:
                    append(None, table)
                    continue
                keys = table.column(partition)
                table = table.drop_columns([partition])
                values = pc.unique(keys).to_pylist()
                if len(values) == 1:  # the usual case: a batch within one day
                    append(values[0], table)
                else:
                    for value in values:
                        append(value, table.filter(pc.equal(keys, value)))
        except BaseException as exc:  # surfaced in the caller's thread
            failure.append(exc)
            while pending.get() is not _DONE:
                pass

    thread = threading.Thread(target=drain, name="parquet-writer", daemon=True)
    thread.start()
    rows = 0
    try:
        for batch in reader:
            if batch.num_rows:
                rows += batch.num_rows
                pending.put(batch)
    finally:
        pending.put(_DONE)
        thread.join()
        for w in writers.values():
            w.close()
    if failure:
        raise failure[0]
    return rows
