"""Rails production logs: one request spread over several lines.

Lines of one request are joined by the request-id tag
(``config.log_tags = [:request_id]``, optionally after a host tag), or,
untagged, by process id and the order of ``Started`` lines. Concurrent
requests interleave; lines without a Logger header (backtraces, wrapped
parameters) belong to the record above them. All of it is window functions
in DuckDB, so grouping costs no Python per line.
"""

from __future__ import annotations

import re
from typing import Iterator

import duckdb

from ..normalise import complete_raw
from ..reader import iter_line_chunks
from .base import Batch, FileJob, Parser, lines_relation

# "I, [2023-09-19T16:10:02.114321 #4127]  INFO -- : rest", with anything before it
# (Passenger's "App 7655 stdout: ", Heroku's "app/web.1 ", ManageIQ's "[----] ").
HEADER_RE = r"^(.*?)([DIWEFUA]), \[([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+) #([0-9]+)(?::\w+)?\]\s+\w+ -- [^:]*: ?(.*)$"
PASSENGER_RE = r"^App ([0-9]+) (?:stdout|stderr|output): ?(.*)$"
FOREMAN_RE = r"^[0-9]{1,2}:[0-9]{2}:[0-9]{2} [AP]M \S+\s+\|\s*"
RID_RE = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|[0-9a-fA-F]{16,}"
STARTED_RE = r"Started ([A-Z]+) \"([^\"]*)\" for (\S+) at (.+?)\s*$"
COMPLETED_RE = r"Completed ([0-9]{3})\b.*? in ([0-9.]+)ms"
LOGRAGE_RE = r"method=([A-Z]+) path=\"?([^\"\s]+)\"?.*?status=([0-9]{3})"
EXCEPTION_RE = r"([A-Z][A-Za-z0-9]*(?:::[A-Z][A-Za-z0-9]*)+) \("
# Lines only Rails writes, and lines Rails logs are full of.
STRONG_RE = re.compile(
    r"([DIWEFUA]), \[[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+ #[0-9]+|Started [A-Z]+ \"|Processing by \S+#\S+|"
    r"Completed [0-9]{3} |ActionController::|method=[A-Z]+ path=\S+ format=\S+ controller="
)
WEAK_RE = re.compile(
    r"\.rb:[0-9]+:in |^\s*Parameters: |Can't verify CSRF|^App [0-9]+ (?:stdout|stderr|output):|"
    r"^[0-9]{1,2}:[0-9]{2}:[0-9]{2} [AP]M \S+\s+\||^heroku/router "
)


def _q(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def started_ts_sql(text: str) -> str:
    """The timestamp on a Started line: '2023-09-19 16:10:02 +0000' and older shapes."""
    return f"""coalesce(
      try_strptime({text}, '%Y-%m-%d %H:%M:%S %z'),
      try_strptime({text}, '%a %b %d %H:%M:%S %z %Y'),
      try_cast(replace({text}, ' UTC', '') AS TIMESTAMP) AT TIME ZONE 'UTC')"""


GROUPING_SQL = f"""
WITH l AS (
  SELECT line_no, rtrim(line, chr(13)) AS line FROM {{table}} WHERE rtrim(line, chr(13)) <> ''
),
p AS (
  SELECT line_no, line,
    regexp_extract(line, {_q(HEADER_RE)}, ['pre', 'sev', 'ts', 'pid', 'rest']) AS h,
    regexp_extract(line, {_q(PASSENGER_RE)}, ['ppid', 'prest']) AS pg
  FROM l
),
q AS (
  SELECT line_no, line, h.ts <> '' AS has_header, nullif(h.ts, '') AS header_ts,
    coalesce(nullif(h.pid, ''), nullif(pg.ppid, '')) AS pid,
    nullif(regexp_extract(h.pre, '^app/(\\S+)', 1), '') AS dyno,
    CASE WHEN h.ts <> '' THEN h.rest
         WHEN pg.ppid <> '' THEN pg.prest
         ELSE regexp_replace(line, {_q(FOREMAN_RE)}, '') END AS msg0
  FROM p
),
t AS (
  SELECT *,
    regexp_extract(msg0, '^\\s*((?:\\[[^\\]]*\\] ?)*)(.*)$', ['tags', 'msg']) AS tm
  FROM q
),
u AS (
  SELECT *, tm.msg AS msg,
    list_filter(regexp_extract_all(tm.tags, '\\[([^\\]]*)\\]', 1), lambda x: regexp_full_match(x, {_q(RID_RE)}))[1] AS rid,
    list_filter(regexp_extract_all(tm.tags, '\\[([^\\]]*)\\]', 1),
                lambda x: NOT regexp_full_match(x, {_q(RID_RE)}) AND NOT regexp_full_match(x, '-+'))[1] AS host_tag,
    regexp_matches(tm.msg, '^\\s*Started [A-Z]+ "') AS is_started,
    has_header OR pid IS NOT NULL AS anchored
  FROM t
),
v AS (
  SELECT *,
    -- an untagged Started line just before a tagged line opens that request
    CASE WHEN rid IS NULL AND is_started THEN lead(rid) OVER (ORDER BY line_no) ELSE rid END AS rid2,
    sum(CASE WHEN is_started THEN 1 ELSE 0 END) OVER (PARTITION BY coalesce(pid, '') ORDER BY line_no) AS nth_started
  FROM u
),
w AS (
  SELECT *,
    CASE WHEN rid2 IS NOT NULL THEN 'r:' || rid2
         WHEN anchored OR is_started THEN 'p:' || coalesce(pid, '') || ':' || nth_started END AS grp_anchor
  FROM v
),
x AS (
  SELECT *,
    coalesce(grp_anchor, last_value(grp_anchor IGNORE NULLS) OVER (ORDER BY line_no ROWS UNBOUNDED PRECEDING),
             'p::' || nth_started) AS grp
  FROM w
),
rec AS (
  SELECT grp,
    min(line_no) AS line_no,
    count(*) AS n_lines,
    arg_min(line, line_no) AS raw_line,
    min(header_ts) AS header_ts,
    string_agg(msg, chr(10) ORDER BY line_no) AS message,
    max(regexp_extract(msg, {_q(STARTED_RE)}, ['m', 'u', 'ip', 'at'])) FILTER (WHERE is_started) AS s,
    max(regexp_extract(msg, {_q(COMPLETED_RE)}, ['st', 'ms'])) FILTER (WHERE regexp_matches(msg, 'Completed [0-9]{{3}}')) AS c,
    max(regexp_extract(msg, {_q(LOGRAGE_RE)}, ['m', 'u', 'st'])) FILTER (WHERE regexp_matches(msg, 'method=[A-Z]+ path=')) AS lg,
    max(regexp_extract(msg, 'Processing by (\\S+) as', 1)) FILTER (WHERE contains(msg, 'Processing by')) AS controller,
    min(regexp_extract(msg, {_q(EXCEPTION_RE)}, 1)) FILTER (WHERE regexp_matches(msg, {_q(EXCEPTION_RE)})) AS exception,
    any_value(rid2) AS request_id,
    coalesce(any_value(host_tag), any_value(dyno)) AS host
  FROM x GROUP BY grp
)
SELECT *,
  regexp_extract(s.at, '([+-][0-9]{{4}})$', 1) AS started_offset
FROM rec
"""


class RailsParser(Parser):
    """Rails (ActiveSupport::Logger / TaggedLogging) request logs."""

    family = "rails"

    def detect_score(self, lines: list[str]) -> float:
        if not lines:
            return 0.0
        strong = sum(1 for line in lines if STRONG_RE.search(line))
        if not strong:
            return 0.0
        weak = sum(1 for line in lines if not STRONG_RE.search(line) and WEAK_RE.search(line))
        return (strong + weak) / len(lines)

    def batches(self, con: duckdb.DuckDBPyConnection, job: FileJob) -> Iterator[Batch]:
        for first, text in iter_line_chunks(job.path, job.start_byte, job.first_line, job.chunk_bytes):
            lines_relation(con, first, text)
            yield Batch(relation=self.relation("lines"))

    @staticmethod
    def relation(table: str) -> str:
        started_ts = started_ts_sql("nullif(s.at, '')")
        header_ts = (
            "CASE WHEN started_offset <> '' "
            "THEN try_strptime(header_ts || ' ' || started_offset, '%Y-%m-%dT%H:%M:%S.%f %z') "
            "ELSE try_cast(header_ts AS TIMESTAMP) AT TIME ZONE 'UTC' END"
        )
        exprs = {
            "ts": f"coalesce({header_ts}, {started_ts})",
            "kind": "'request'",
            "method": "coalesce(nullif(s.m, ''), nullif(lg.m, ''))",
            "uri": "coalesce(nullif(s.u, ''), nullif(lg.u, ''))",
            "client_ip": "nullif(s.ip, '')",
            "status": "try_cast(coalesce(nullif(c.st, ''), nullif(lg.st, '')) AS INTEGER)",
            "latency_ms": "try_cast(nullif(c.ms, '') AS DOUBLE)",
            "controller": "nullif(controller, '')",
            "exception": "nullif(exception, '')",
            "message": "message",
            "request_id": "request_id",
            "host": "host",
            "line_no": "line_no",
            "raw_line": "raw_line",
            "n_lines": "n_lines",
        }
        grouped = GROUPING_SQL.replace("{table}", table)
        return f"(SELECT {complete_raw(exprs)} FROM ({grouped}))"
