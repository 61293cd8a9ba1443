"""Every lake table's columns, defined once: name -> DuckDB type.

Parquet files, views, empty-table stand-ins and the Arrow schemas of writers
all derive from these dicts; docs/schema.md describes each column.
"""

from __future__ import annotations

import pyarrow as pa

# The stored schema, shared by the `requests` and `events` tables; see docs/schema.md.
STORED_COLUMNS: dict[str, str] = {
    "ts": "TIMESTAMPTZ",
    "date": "DATE",
    "source": "VARCHAR",
    "event": "VARCHAR",
    "host": "VARCHAR",
    "vhost": "VARCHAR",
    "app_version": "VARCHAR",
    "method": "VARCHAR",
    "path": "VARCHAR",
    "route": "VARCHAR",
    "status": "SMALLINT",
    "bytes": "BIGINT",
    "latency_ms": "DOUBLE",
    "client_key": "VARCHAR",
    "session_key": "VARCHAR",
    "cookie_format": "VARCHAR",
    "user_key": "VARCHAR",
    "device_key": "VARCHAR",
    "edge_worker": "VARCHAR",
    "cache_status": "VARCHAR",
    "request_id": "VARCHAR",
    "user_agent": "VARCHAR",
    "referer": "VARCHAR",
    "controller": "VARCHAR",
    "exception": "VARCHAR",
    "error_kind": "VARCHAR",
    "error_rule": "VARCHAR",
    "file_id": "VARCHAR",
    "source_file": "VARCHAR",
    "line_no": "BIGINT",
    "client_ip": "VARCHAR",  # NULL unless ingested with --keep-raw-ips
}

REJECT_COLUMNS: dict[str, str] = {
    "file_id": "VARCHAR",
    "source_file": "VARCHAR",
    "line_no": "BIGINT",  # the record's first line
    "lines": "BIGINT",  # physical lines behind the rejected record: sum(lines) is the summary's count
    "reason": "VARCHAR",
    "excerpt": "VARCHAR",
}

CHANGE_COLUMNS: dict[str, str] = {
    "id": "VARCHAR",
    "at": "TIMESTAMPTZ",
    "end": "TIMESTAMPTZ",
    "kind": "VARCHAR",
    "label": "VARCHAR",
    "scope": "VARCHAR",
    "detail": "VARCHAR",
    "origin": "VARCHAR",
}
SCHEMAS: dict[str, dict[str, str]] = {
    "requests": STORED_COLUMNS, "events": STORED_COLUMNS, "rejects": REJECT_COLUMNS, "changes": CHANGE_COLUMNS,
}
TABLES = tuple(SCHEMAS)  # requests, events, rejects, changes: the lake's views
PARTITIONED = ("requests", "events")  # stored as date=YYYY-MM-DD/ folders (the date column is the folder's)

# DuckDB's types, as the lake's writers give them to pyarrow. Timestamps are
# microseconds in UTC, as DuckDB itself hands TIMESTAMPTZ columns to Arrow.
_ARROW_TYPES: dict[str, pa.DataType] = {
    "TIMESTAMPTZ": pa.timestamp("us", tz="UTC"),
    "DATE": pa.date32(),
    "VARCHAR": pa.string(),
    "SMALLINT": pa.int16(),
    "INTEGER": pa.int32(),
    "BIGINT": pa.int64(),
    "DOUBLE": pa.float64(),
    "BOOLEAN": pa.bool_(),
}


def arrow_schema(table: str) -> pa.Schema:
    """A lake table's columns as an Arrow schema, in the order of :data:`SCHEMAS`.

    Raises:
        KeyError: no such table, or a column type with no Arrow counterpart here.
    """
    return pa.schema([(name, _ARROW_TYPES[kind]) for name, kind in SCHEMAS[table].items()])


def conform(table: str, rows: pa.Table) -> pa.Table:
    """Rows with exactly a lake table's columns and types: missing columns NULL, others left out.

    Raises:
        pyarrow.ArrowInvalid: a column's values cannot be cast to its type.
    """
    schema = arrow_schema(table)
    columns = [rows.column(f.name).cast(f.type) if f.name in rows.column_names else pa.nulls(rows.num_rows, f.type)
               for f in schema]
    return pa.table(columns, schema=schema)
