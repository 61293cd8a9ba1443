"""Every lake table's columns, defined once: name -> DuckDB type.

Parquet files, views, empty-table stand-ins and the Arrow schemas of writers
all derive from these dicts; docs/schema.md describes each column.
"""

from __future__ import annotations

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
SCHEMAS: dict[str, dict[str, str]] = {"requests": STORED_COLUMNS, "events": STORED_COLUMNS, "rejects": REJECT_COLUMNS, "changes": CHANGE_COLUMNS}
