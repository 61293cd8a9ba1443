"""Raw canonical columns -> the lake's stored columns, in one SQL query.

Every parser yields the *raw* columns below (missing ones are NULL). The
normalising query hashes identities, names cookie formats, normalises
routes, classifies session errors and drops every raw secret, so raw values
exist only inside this one SELECT and never reach a file.
"""

from __future__ import annotations

from ..lake.schema import REJECT_COLUMNS, STORED_COLUMNS  # noqa: F401  (re-exported for parsers)
from ..privacy import cookie_format_sql, hash_sql, redact_sql, scrub_url_sql
from ..sqltext import fill, literal
from .options import FieldOptions
from .rules import RuleSet

RAW_COLUMNS: dict[str, str] = {
    "ts": "TIMESTAMPTZ",
    "line_no": "BIGINT",
    "kind": "VARCHAR",  # 'request' or 'event'
    "event": "VARCHAR",
    "method": "VARCHAR",
    "uri": "VARCHAR",
    "protocol": "VARCHAR",
    "status": "INTEGER",
    "bytes": "BIGINT",
    "latency_ms": "DOUBLE",
    "host": "VARCHAR",
    "vhost": "VARCHAR",
    "app_version": "VARCHAR",
    "client_ip": "VARCHAR",
    "remote_user": "VARCHAR",
    "user_id": "VARCHAR",
    "session_cookie": "VARCHAR",
    "user_agent": "VARCHAR",
    "referer": "VARCHAR",
    "edge_worker": "VARCHAR",
    "cache_status": "VARCHAR",
    "request_id": "VARCHAR",
    "location": "VARCHAR",
    "message": "VARCHAR",
    "device_id": "VARCHAR",
    "controller": "VARCHAR",
    "exception": "VARCHAR",
    "reject": "VARCHAR",  # a parser's reason to reject the record, if any
    "raw_line": "VARCHAR",  # the record's first line, only ever stored redacted
    "n_lines": "BIGINT",  # physical lines behind the record (multi-line formats)
}

# An id segment: digits, a UUID, or a long hex string. Applied twice because
# RE2 has no lookahead: /a/1/2 needs a second pass for the second id.
_ID_SEGMENT = ("/(?:[0-9]+|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
               "|[0-9a-fA-F]{16,})(/|$)")
ROUTE_SQL = ("regexp_replace(regexp_replace({{ path }}, {{ id_segment }}, '/:id\\1', 'g'), "
             "{{ id_segment }}, '/:id\\1', 'g')")


# Validation of parsed fields (see normalise_sql): timestamps before this are
# taken for misparses or broken clocks.
EARLIEST = "1990-01-01 00:00:00+00"
# An IPv4/IPv6 address (optionally bracketed, with a zone) or a host name:
# what a client column holds when the layout was read right.
CLIENT_SHAPE = r"\[?[0-9A-Fa-f:.]+(?:%[0-9A-Za-z]+)?\]?|[A-Za-z0-9_][A-Za-z0-9_.-]*|unknown"


def _time_window(options: FieldOptions) -> tuple[str, str, str]:
    """SQL bounds of plausible timestamps, and the window in words."""
    def lit(value: str) -> str:
        return f"TIMESTAMPTZ {literal(value)}"

    lo = lit(options.not_before or EARLIEST)
    hi = lit(options.not_after) if options.not_after else "now() + INTERVAL 1 DAY"
    words = f"{options.not_before or EARLIEST[:4]} to {options.not_after or 'tomorrow'}"
    return lo, hi, words


# "http://example.org/a?b" (absolute-form targets of proxies, JSON `url` fields) -> "/a?b"
ABSOLUTE_TO_PATH = (
    "CASE WHEN contains(uri, '://') AND NOT starts_with(uri, '/') "
    "THEN regexp_replace(uri, '^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*', '') ELSE uri END"
)


def route_sql(path_expr: str) -> str:
    """SQL turning /works/123/kudos into /works/:id/kudos."""
    return fill(ROUTE_SQL, path=path_expr, id_segment=literal(_ID_SEGMENT))


def complete_raw(exprs: dict[str, str]) -> str:
    """A SELECT list with every raw column, NULL where a parser has none."""
    cols = []
    for name, sqltype in RAW_COLUMNS.items():
        expr = exprs.get(name)
        cols.append(f"CAST({expr if expr is not None else 'NULL'} AS {sqltype}) AS {name}")
    return ",\n  ".join(cols)


def normalise_sql(raw_from: str, source: str, rules: RuleSet, options: FieldOptions,
                  extra: tuple[str, ...] = ()) -> str:
    """The query from a relation of raw columns to stored columns.

    Args:
        raw_from: a FROM-able SQL relation with every column of RAW_COLUMNS.
        source: the format family name stored in ``source``.
        rules: the session-error rules.
        options: field options (raw IPs kept or not).
        extra: columns of ``raw_from`` beyond the raw ones to pass through
            (a group's file of each row).

    The result also has ``_reject`` (why a record cannot be stored) and
    ``_table`` ('requests' or 'events'). ``file_id`` and ``source_file``
    come from DuckDB variables set per file.
    """
    kind_sql, rule_sql = rules.case_sql()
    excerpt = redact_sql("coalesce(_raw_line, '')")
    raw_ip = "client_ip" if options.keep_raw_ips else "CAST(NULL AS VARCHAR)"
    not_before, not_after, window = _time_window(options)
    return f"""
WITH raw AS (SELECT * FROM {raw_from}),
prepared AS (
  SELECT *,
    {literal(source)} AS source,
    nullif({scrub_url_sql("split_part(" + ABSOLUTE_TO_PATH + ", '?', 1)")}, '') AS _path,
    CASE WHEN contains(uri, '?') THEN substr(uri, strpos(uri, '?') + 1) END AS _query
  FROM raw
),
classified AS (
  SELECT *, {rule_sql} AS error_rule FROM prepared
),
shaped AS (
SELECT
  ts,
  CAST(timezone('UTC', ts) AS DATE) AS date,
  source,
  lower(event) AS event,
  host,
  vhost,
  app_version,
  upper(method) AS method,
  _path AS path,
  CASE WHEN starts_with(_path, '/') THEN {route_sql('_path')} END AS route,
  CAST(CASE WHEN status BETWEEN 100 AND 599 THEN status END AS SMALLINT) AS status,
  bytes,
  latency_ms,
  {hash_sql('client_ip', 'ip')} AS client_key,
  {hash_sql('session_cookie', 'session')} AS session_key,
  {cookie_format_sql('session_cookie')} AS cookie_format,
  {hash_sql('coalesce(user_id, remote_user)', 'user')} AS user_key,
  {hash_sql('device_id', 'device')} AS device_key,
  edge_worker,
  cache_status,
  request_id,
  user_agent,
  {scrub_url_sql("split_part(referer, '?', 1)")} AS referer,
  controller,
  exception,
  {kind_sql} AS error_kind,
  error_rule,
  getvariable('sl_file_id') AS file_id,
  getvariable('sl_source_file') AS source_file,
  line_no,
  {raw_ip} AS client_ip,
  CASE
    WHEN reject IS NOT NULL THEN reject
    WHEN ts IS NULL THEN 'missing or unreadable timestamp'
    WHEN ts < {not_before} OR ts > {not_after}
      THEN 'timestamp outside the plausible range ({window})'
    -- A field in the wrong column is the mark of a misparse: never store it.
    WHEN status > 599 OR status BETWEEN 1 AND 99 THEN 'status is not an HTTP status (100-599)'
    WHEN method IS NOT NULL AND NOT regexp_full_match(method, '[A-Za-z][A-Za-z_-]{{0,23}}')
      THEN 'method is not an HTTP method'
    WHEN client_ip IS NOT NULL AND NOT regexp_full_match(client_ip, {literal(CLIENT_SHAPE)})
      THEN 'client is not an IP address or host name'
  END AS _reject,
  CASE WHEN kind = 'event' THEN 'events' ELSE 'requests' END AS _table,
  raw_line AS _raw_line,
  coalesce(n_lines, 1) AS _n_lines{"".join(f", {c}" for c in extra)}
FROM classified
)
SELECT * EXCLUDE (_raw_line),
  CASE WHEN _reject IS NOT NULL THEN {excerpt} END AS _excerpt
FROM shaped
"""
