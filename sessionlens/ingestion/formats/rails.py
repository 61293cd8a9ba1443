"""Rails production logs: one request spread over several lines.

Lines of one request are joined by the request-id tag
(``config.log_tags = [:request_id]``, optionally after a host tag), or,
untagged, by process id and the order of the lines that open a request:
``Started GET "/" for ...`` (Rails 3+, with or without the Logger prefix)
and ``Processing Foo#bar (for ... at ...) [GET]`` (Rails 1.x/2.x, see
:mod:`.rails_legacy`). The process id comes from the Logger header, a
Passenger prefix or a syslog prefix. Concurrent requests interleave; lines
without a header (backtraces, wrapped parameters) belong to the record
above them. In a plain log (no Logger header, no request id) a second
``Completed`` line cannot belong to the request it follows: it starts a
record of its own, which has no start line and is rejected unless a
syslog prefix dates it. All of it is window functions in DuckDB, so
grouping costs no Python per line.
"""

from __future__ import annotations

import re
from typing import Iterator

import duckdb

from ...sqltext import fill, literal, literal_list
from ..normalise import complete_raw
from . import rails_legacy as legacy
from .base import Batch, FileJob, Parser, lines_relation
from .multiline import SYSLOG_PARTS, SYSLOG_RE, record_chunks, warn_yearless, year_context, yearless_ts_sql

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
    rf"Completed [0-9]{{3}} |ActionController::|method=[A-Z]+ path=\S+ format=\S+ controller=|{legacy.STRONG}"
)
WEAK_RE = re.compile(
    r"\.rb:[0-9]+:in |^\s*Parameters: |Can't verify CSRF|^App [0-9]+ (?:stdout|stderr|output):|"
    rf"^[0-9]{{1,2}}:[0-9]{{2}}:[0-9]{{2}} [AP]M \S+\s+\||^heroku/router |{legacy.WEAK}"
)
SYSLOG_PY_RE = re.compile(SYSLOG_RE)


def started_ts_sql(text: str) -> str:
    """The timestamp on a Started line: '2023-09-19 16:10:02 +0000' and older shapes."""
    return f"""coalesce(
      try_strptime({text}, '%Y-%m-%d %H:%M:%S %z'),
      try_strptime({text}, '%a %b %d %H:%M:%S %z %Y'),
      try_cast(replace({text}, ' UTC', '') AS TIMESTAMP) AT TIME ZONE 'UTC')"""


# One row per request; the holes are filled by grouping_sql.
GROUPING_SQL = """
WITH l AS (
  SELECT line_no, rtrim(line, chr(13)) AS line FROM {{ table }} WHERE rtrim(line, chr(13)) <> ''
),
p AS (
  SELECT line_no, line,
    regexp_extract(line, {{ header_re }}, ['pre', 'sev', 'ts', 'pid', 'rest']) AS h,
    regexp_extract(line, {{ passenger_re }}, ['ppid', 'prest']) AS pg,
    regexp_extract(line, {{ syslog_re }}, {{ syslog_parts }}) AS sy
  FROM l
),
q AS (
  SELECT line_no, line, h.ts <> '' AS has_header, nullif(h.ts, '') AS header_ts,
    nullif(sy.sts, '') AS syslog_ts,
    coalesce(nullif(h.pid, ''), nullif(pg.ppid, ''), nullif(sy.spid, ''),
             CASE WHEN sy.sts <> '' THEN sy.shost || ':' || sy.stag END) AS pid,
    nullif(regexp_extract(h.pre, '^app/(\\S+)', 1), '') AS dyno,
    CASE WHEN h.ts <> '' THEN h.rest
         WHEN pg.ppid <> '' THEN pg.prest
         WHEN sy.sts <> '' THEN sy.body
         ELSE regexp_replace(line, {{ foreman_re }}, '') END AS msg0
  FROM p
),
t AS (
  SELECT *,
    regexp_extract(msg0, '^\\s*((?:\\[[^\\]]*\\] ?)*)(.*)$', ['tags', 'msg']) AS tm
  FROM q
),
t2 AS (
  SELECT *, tm.msg AS msg, {{ legacy_line_items }} FROM t
),
u AS (
  SELECT *,
    list_filter(regexp_extract_all(tm.tags, '\\[([^\\]]*)\\]', 1),
                lambda x: regexp_full_match(x, {{ rid_re }}))[1] AS rid,
    list_filter(regexp_extract_all(tm.tags, '\\[([^\\]]*)\\]', 1),
                lambda x: NOT regexp_full_match(x, {{ rid_re }}) AND NOT regexp_full_match(x, '-+'))[1] AS host_tag,
    regexp_matches(tm.msg, '^\\s*Started [A-Z]+ "') OR is_processing AS is_started,
    has_header OR pid IS NOT NULL AS anchored,
    {{ legacy_session_wrap }}
  FROM t2
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
             'p::' || nth_started) AS grp0
  FROM w
),
y AS (
  SELECT *,
    sum(CASE WHEN is_completed THEN 1 ELSE 0 END)
      OVER (PARTITION BY grp0 ORDER BY line_no ROWS UNBOUNDED PRECEDING) AS nth_completed
  FROM x
),
z AS (
  SELECT *,
    -- plain logs: a second Completed line ends some other request (see the module docstring)
    CASE WHEN nth_completed > 1 AND NOT has_header AND NOT starts_with(grp0, 'r:')
         THEN grp0 || '+' || (nth_completed - 1) ELSE grp0 END AS grp
  FROM y
),
rec AS (
  SELECT grp,
    min(line_no) AS line_no,
    count(*) AS n_lines,
    arg_min(line, line_no) AS raw_line,
    min(header_ts) AS header_ts,
    arg_min(syslog_ts, line_no) AS syslog_ts,
    bool_or(is_started) AS has_start,
    bool_or(is_completed) AS has_end,
    string_agg(msg, chr(10) ORDER BY line_no) AS message,
    max(regexp_extract(msg, {{ started_re }}, ['m', 'u', 'ip', 'at'])) FILTER (WHERE is_started) AS s,
    max(regexp_extract(msg, {{ completed_re }}, ['st', 'ms']))
      FILTER (WHERE regexp_matches(msg, 'Completed [0-9]{3}')) AS c,
    max(regexp_extract(msg, {{ lograge_re }}, ['m', 'u', 'st']))
      FILTER (WHERE regexp_matches(msg, 'method=[A-Z]+ path=')) AS lg,
    max(regexp_extract(msg, 'Processing by (\\S+) as', 1)) FILTER (WHERE contains(msg, 'Processing by')) AS controller,
    arg_min(regexp_extract(msg, {{ exception_re }}, 1), line_no)
      FILTER (WHERE regexp_matches(msg, {{ exception_re }})) AS exception,
    {{ legacy_record_items }},
    any_value(rid2) AS request_id,
    coalesce(any_value(host_tag), any_value(dyno)) AS host
  FROM z GROUP BY grp
)
SELECT *,
  regexp_extract(s.at, '([+-][0-9]{4})$', 1) AS started_offset
FROM rec
"""


def grouping_sql(table: str) -> str:
    """:data:`GROUPING_SQL` over ``table``, a relation of (line_no, line)."""
    return fill(GROUPING_SQL, table=table, header_re=literal(HEADER_RE), passenger_re=literal(PASSENGER_RE),
                syslog_re=literal(SYSLOG_RE), syslog_parts=literal_list(SYSLOG_PARTS), foreman_re=literal(FOREMAN_RE),
                legacy_line_items=legacy.line_items_sql("tm.msg"), rid_re=literal(RID_RE),
                legacy_session_wrap=legacy.session_wrap_sql(), started_re=literal(STARTED_RE),
                completed_re=literal(COMPLETED_RE), lograge_re=literal(LOGRAGE_RE), exception_re=literal(EXCEPTION_RE),
                legacy_record_items=legacy.record_items_sql())


class RailsParser(Parser):
    """Rails request logs: Logger/TaggedLogging (3+), plain Rails 3+, Rails 1.x/2.x."""

    family = "rails"

    def may_explain_all(self, lines: list[str]) -> bool:
        if not lines:
            return False
        m = SYSLOG_PY_RE.match(lines[0])
        body = m.group(5) if m else lines[0]
        return bool(STRONG_RE.search(body) or WEAK_RE.search(body))  # the first line can only be known so

    def detect_score(self, lines: list[str]) -> float:
        if not lines:
            return 0.0
        strong = known = 0
        inside = False  # between a line that opens a request and its Completed line
        for line in lines:
            m = SYSLOG_PY_RE.match(line)
            body = m.group(5) if m else line
            is_strong = bool(STRONG_RE.search(body))
            strong += is_strong
            if is_strong or inside or WEAK_RE.search(body):
                known += 1
            if legacy.OPENER_PY_RE.search(body):
                inside = True
            elif legacy.CLOSER_PY_RE.search(body):
                inside = False
        return known / len(lines) if strong else 0.0

    def batches(self, con: duckdb.DuckDBPyConnection, job: FileJob) -> Iterator[Batch]:
        ctx = year_context(job)
        records = self.records_sql("lines", yearless_ts_sql("syslog_ts", ctx))
        for first, text in record_chunks(job):
            lines_relation(con, first, text)
            # materialised, so the warnings' line counts cost no second parse
            con.execute(f"CREATE OR REPLACE TEMP TABLE rails_records AS {records}")
            zoneless, yearless = con.execute(
                "SELECT coalesce(sum(n_lines) FILTER (WHERE ts_from = 'processing'), 0), "
                "coalesce(sum(n_lines) FILTER (WHERE ts_from = 'syslog'), 0) FROM rails_records"
            ).fetchall()[0]
            if zoneless:
                job.warn(legacy.ZONE_WARNING, int(zoneless))
            warn_yearless(job, ctx, yearless)
            yield Batch(relation=self.relation("rails_records"))

    @staticmethod
    def records_sql(table: str, yearless_ts: str) -> str:
        """One row per request of the chunk in ``table``, with its timestamp and where it came from.

        Args:
            table: a relation of (line_no, line).
            yearless_ts: SQL completing ``syslog_ts`` (``Jun 16 09:29:41``) with a year.
        """
        started_ts = started_ts_sql("nullif(s.at, '')")
        header_ts = (
            "CASE WHEN started_offset <> '' "
            "THEN try_strptime(header_ts || ' ' || started_offset, '%Y-%m-%dT%H:%M:%S.%f %z') "
            "ELSE try_cast(header_ts AS TIMESTAMP) AT TIME ZONE 'UTC' END"
        )
        grouped = grouping_sql(table)
        # the first full timestamp wins; the syslog prefix's year-less one is the last resort
        return f"""
SELECT *, coalesce(ts_header, ts_started, ts_processing, ts_syslog) AS ts,
  CASE WHEN ts_header IS NOT NULL THEN 'header' WHEN ts_started IS NOT NULL THEN 'started'
       WHEN ts_processing IS NOT NULL THEN 'processing' WHEN ts_syslog IS NOT NULL THEN 'syslog' END AS ts_from
FROM (
  SELECT *, {header_ts} AS ts_header, {started_ts} AS ts_started, {legacy.processing_ts_sql()} AS ts_processing,
    CASE WHEN syslog_ts IS NOT NULL THEN {yearless_ts} END AS ts_syslog
  FROM ({grouped})
)"""

    @staticmethod
    def relation(table: str) -> str:
        """Raw columns over a table made by :meth:`records_sql`."""
        exprs = {
            "ts": "ts",
            "kind": "'request'",
            "method": "coalesce(nullif(s.m, ''), nullif(lg.m, ''), nullif(p2.m, ''))",
            "uri": f"coalesce(nullif(s.u, ''), nullif(lg.u, ''), {legacy.uri_sql()})",
            "vhost": legacy.vhost_sql(),
            "client_ip": "coalesce(nullif(s.ip, ''), nullif(p2.ip, ''))",
            "status": "coalesce(try_cast(coalesce(nullif(c.st, ''), nullif(lg.st, ''), nullif(c2.st, '')) AS INTEGER), "
            f"{legacy.rescue_status_sql()})",
            "latency_ms": f"coalesce(try_cast(nullif(c.ms, '') AS DOUBLE), {legacy.latency_sql()})",
            "controller": "coalesce(nullif(controller, ''), nullif(p2.ctl, ''))",
            "exception": "coalesce(nullif(exception, ''), nullif(error_line, ''))",
            # a cookie-store session is wrapped over lines: the whole value is the cookie
            "session_cookie": "nullif(session_head || coalesce(session_tail, ''), '')",
            "message": "message",
            "request_id": "request_id",
            "host": "host",
            "line_no": "line_no",
            "raw_line": "raw_line",
            "n_lines": "n_lines",
            "reject": "CASE WHEN ts IS NULL AND has_end AND NOT has_start "
            "THEN 'request end without its start line (interleaved or cut log)' END",
        }
        return f"(SELECT {complete_raw(exprs)} FROM {table})"
