"""Framework application logs: Laravel/Monolog, Django and Python logging, Java
(Spring Boot, log4j), gunicorn, Apache error_log, optionally behind syslog.

A record starts at a line with a recognised header (a timestamp, or at least
a level) and takes the continuation lines under it: stack traces in the
layouts of :mod:`.stacktrace`, and every line of a Monolog JSON context left
open by its header. The record's exception class goes to ``exception``.
Records become ``app_error`` events; Django runserver access lines become
requests.

Syslog-prefixed lines (``Jun 16 09:29:41 web1 app[123]: ...``) are read by
their message: a message that is itself a known header keeps its own
timestamp, as does one carrying an embedded full timestamp; otherwise the
prefix's year-less time is completed (see :mod:`.multiline`). Lines of
different syslog programs/pids are grouped apart, so interleaved processes
keep their traces.
"""

from __future__ import annotations

import re
from typing import Iterator

import duckdb

from ...sqltext import fill, literal, literal_list
from ..normalise import complete_raw
from .base import Batch, FileJob, Parser, lines_relation
from .multiline import (
    SYSLOG_PARTS,
    SYSLOG_RE,
    embedded_ts_sql,
    record_chunks,
    warn_yearless,
    year_context,
    yearless_ts_sql,
)
from .stacktrace import (
    CONTINUATION,
    CONTINUATION_RE,
    MONOLOG_CONTEXT_CLOSE,
    MONOLOG_CONTEXT_OPEN,
    exception_sql,
    line_flags_sql,
    record_aggregates_sql,
)

_ISO = r"[0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9]{2}:[0-9]{2}:[0-9]{2}(?:[.,][0-9]+)?(?:Z|[+-][0-9]{2}:?[0-9]{2})?"
_LEVEL = r"(?:TRACE|DEBUG|INFO|NOTICE|WARN|WARNING|ERROR|SEVERE|CRITICAL|FATAL)"
ISO_TS = "try_cast(replace({{ c }}, ',', '.') AS TIMESTAMPTZ)"  # ',' decimals: Python and log4j

# name -> (regex with exactly four groups: ts, a, b, rest; SQL template for its
# timestamp from the text {{ c }}, or None: the header has no date, its records are rejected)
HEADERS: list[tuple[str, str, str | None]] = [
    # Laravel / Monolog: [2016-08-15 22:41:11] production.NOTICE: ...
    ("monolog", rf"^\[({_ISO})\] ([\w-]+)\.(\w+): (.*)$", ISO_TS),
    # Apache 2.2/2.4 error_log: [Mon Apr 27 17:26:52 2015] [error] ...
    (
        "apache_error",
        r"^\[(\w{3} \w{3} +[0-9]{1,2} [0-9:]{8}(?:\.[0-9]+)? [0-9]{4})\] \[([^\]]*)\] ()(.*)$",
        "coalesce(try_strptime({{ c }}, '%a %b %d %H:%M:%S.%f %Y'), try_strptime({{ c }}, '%a %b %d %H:%M:%S %Y')) "
        "AT TIME ZONE 'UTC'",
    ),
    # Django runserver access line: [28/Apr/2015 07:44:25] "POST /x/ HTTP/1.1" 200 1293
    (
        "runserver",
        r"^\[([0-9]{2}/\w{3}/[0-9]{4} [0-9:]{8})\] \"(\w+) (\S+)[^\"]*\" ([0-9]{3}) (.*)$",
        "try_strptime({{ c }}, '%d/%b/%Y %H:%M:%S') AT TIME ZONE 'UTC'",
    ),
    # gunicorn: [2023-09-19 16:10:02 +0000] [4127] [ERROR] Exception in worker process
    (
        "gunicorn",
        r"^\[([0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{8} [+-][0-9]{4})\] \[[0-9]+\] \[(\w+)\] ()(.*)$",
        "try_strptime({{ c }}, '%Y-%m-%d %H:%M:%S %z')",
    ),
    # Spring Boot (logback): 2023-09-19 16:10:02.114 ERROR 4127 --- [nio-8080-exec-1] o.s.s.w.csrf.CsrfFilter : ...
    # (3.2+ adds "[appname] " before the thread)
    ("spring_boot", rf"^({_ISO})\s+({_LEVEL})\s+[0-9]+ --- (?:\[[^\]]*\] )?\[[^\]]*\] (\S+)\s*: ?(.*)$", ISO_TS),
    # log4j / logback "%d %-5p [%t] %c - %m": 2023-09-19 16:10:02,114 ERROR [main] com.foo.Bar - msg
    ("log4j", rf"^({_ISO})\s+({_LEVEL})\s+\[[^\]]*\]\s+(\S+)\s+-\s(.*)$", ISO_TS),
    # Python logging: 2023-09-19 16:10:02,114 WARNING django.security.csrf ...
    ("python", rf"^({_ISO})\s+\[?(\w+)\]?\s+()(.*)$", ISO_TS),
    # logback's default console layout has the time of day only: no date, so rejected
    ("time_only", rf"^([0-9]{{2}}:[0-9]{{2}}:[0-9]{{2}}\.[0-9]{{3}}) \[[^\]]*\] ({_LEVEL})\s+(\S+) - (.*)$", None),
    # a bare level: [WARNING] django.security.csrf: ...
    ("level", r"^()\[(DEBUG|INFO|NOTICE|WARNING|WARN|ERROR|CRITICAL|FATAL)\] ()(.*)$", None),
]
DETECT_RES = [re.compile(h[1]) for h in HEADERS]
SYSLOG_PY_RE = re.compile(SYSLOG_RE)

REJECTS = {
    "time_only": "timestamp has no date (time of day only)",
}


class AppLogParser(Parser):
    """Multi-line framework logs; the last resort of detection."""

    family = "applog"

    def may_explain_all(self, lines: list[str]) -> bool:
        if not lines:
            return False
        m = SYSLOG_PY_RE.match(lines[0])
        body = m.group(5) if m else lines[0]
        return bool(m or any(r.match(body) for r in DETECT_RES) or CONTINUATION_RE.match(body))

    def detect_score(self, lines: list[str]) -> float:
        if not lines:
            return 0.0
        heads = known = 0
        for line in lines:
            m = SYSLOG_PY_RE.match(line)
            body = m.group(5) if m else line
            if m or any(r.match(body) for r in DETECT_RES):
                heads += 1
                known += 1
            elif CONTINUATION_RE.match(body):
                known += 1
        return known / len(lines) if heads else 0.0

    def batches(self, con: duckdb.DuckDBPyConnection, job: FileJob) -> Iterator[Batch]:
        ctx = year_context(job)
        records = self.records_sql("lines", yearless_ts_sql("syslog_ts", ctx))
        for first, text in record_chunks(job):
            lines_relation(con, first, text)
            # materialised, so the year-less lines are counted without a second parse
            con.execute(f"CREATE OR REPLACE TEMP TABLE applog_records AS {records}")
            yearless = con.execute(
                "SELECT coalesce(sum(n_lines), 0) FROM applog_records WHERE year_less").fetchall()[0][0]
            warn_yearless(job, ctx, yearless)
            yield Batch(relation=self.relation("applog_records"))

    @staticmethod
    def records_sql(table: str, yearless_ts: str) -> str:
        """One row per record of the chunk in ``table``, with its parts.

        Args:
            table: a relation of (line_no, line).
            yearless_ts: SQL completing ``syslog_ts`` (``Jun 16 09:29:41``) with a year.
        """
        matches = ",\n    ".join(
            f"regexp_extract(body, {literal(rx)}, ['ts', 'a', 'b', 'rest']) AS m_{name}" for name, rx, _ in HEADERS
        )
        which = " ".join(f"WHEN regexp_matches(body, {literal(rx)}) THEN {literal(name)}" for name, rx, _ in HEADERS)
        ts = " ".join(f"WHEN {literal(name)} THEN {fill(sql, c=f'm_{name}.ts') if sql else 'NULL'}"
                      for name, _, sql in HEADERS)
        rest = " ".join(f"WHEN {literal(name)} THEN m_{name}.rest" for name, _, _ in HEADERS)
        return f"""
WITH l AS (SELECT line_no, rtrim(line, chr(13)) AS line FROM {table} WHERE rtrim(line, chr(13)) <> ''),
s AS (SELECT line_no, line, regexp_extract(line, {literal(SYSLOG_RE)}, {literal_list(SYSLOG_PARTS)}) AS sy FROM l),
b AS (
  SELECT line_no, line, nullif(sy.sts, '') AS sts,
    -- rsyslog escapes a tab as #011, so Java frames arrive as "#011at ..."
    CASE WHEN sy.sts <> '' THEN replace(sy.body, '#011', chr(9)) ELSE line END AS body,
    CASE WHEN sy.sts <> '' THEN sy.shost || ' ' || sy.stag || '[' || sy.spid || ']' END AS own_stream
  FROM s
),
m AS (
  SELECT *, CASE {which} END AS known, {matches},
    regexp_matches(body, {literal(CONTINUATION)}) AS is_cont,
    -- a line without a syslog prefix continues the stream of the line above
    coalesce(last_value(own_stream IGNORE NULLS) OVER (ORDER BY line_no ROWS UNBOUNDED PRECEDING), '') AS stream
  FROM b
),
c AS (
  SELECT *,
    coalesce(last_value(
      CASE WHEN known IS NOT NULL
             THEN known = 'monolog' AND regexp_matches(body, {literal(MONOLOG_CONTEXT_OPEN)})
                  AND NOT regexp_matches(body, {literal(MONOLOG_CONTEXT_CLOSE)})
           WHEN regexp_matches(body, {literal(MONOLOG_CONTEXT_CLOSE)}) THEN false END IGNORE NULLS)
      OVER (PARTITION BY stream ORDER BY line_no ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), false)
      AS in_context
  FROM m
),
h AS (
  SELECT *,
    CASE WHEN known IS NOT NULL THEN known
         WHEN sts IS NOT NULL AND NOT is_cont AND NOT in_context THEN 'syslog' END AS header
  FROM c
),
g AS (
  SELECT *,
    -- a header starts a record; so does any line that continues nothing,
    -- which then stands alone and is rejected for having no header
    header IS NOT NULL OR NOT (is_cont OR in_context) AS is_first,
    {line_flags_sql('body')}
  FROM h
),
n AS (
  SELECT *, sum(CASE WHEN is_first THEN 1 ELSE 0 END)
    OVER (PARTITION BY stream ORDER BY line_no ROWS UNBOUNDED PRECEDING) AS grp
  FROM g
),
rec AS (
  SELECT stream, grp,
    min(line_no) AS line_no, count(*) AS n_lines, arg_min(line, line_no) AS raw_line,
    arg_min(header, line_no) AS header,
    string_agg(body, chr(10) ORDER BY line_no) AS message,
    arg_min(CASE header {ts} END, line_no) AS own_ts,
    arg_min(sts, line_no) AS syslog_ts,
    arg_min(CASE header {rest} WHEN 'syslog' THEN body END, line_no) AS first_msg,
    arg_min(m_runserver, line_no) AS rs,
    {record_aggregates_sql()}
  FROM n GROUP BY stream, grp
),
dated AS (
  SELECT *, CASE WHEN header = 'syslog' THEN {embedded_ts_sql('first_msg')} END AS embedded_ts FROM rec
)
SELECT *,
  CASE WHEN header = 'syslog' THEN coalesce(embedded_ts, {yearless_ts}) ELSE own_ts END AS ts,
  coalesce(header = 'syslog' AND embedded_ts IS NULL AND syslog_ts IS NOT NULL, false) AS year_less,
  {exception_sql('message')} AS exception
FROM dated"""

    @staticmethod
    def relation(table: str) -> str:
        """Raw columns over a table made by :meth:`records_sql`."""
        rejects = " ".join(f"WHEN header = {literal(name)} THEN {literal(why)}" for name, why in REJECTS.items())
        exprs = {
            "ts": "ts",
            "kind": "CASE WHEN header = 'runserver' THEN 'request' ELSE 'event' END",
            "event": "CASE WHEN header = 'runserver' THEN NULL ELSE 'app_error' END",
            "method": "CASE WHEN header = 'runserver' THEN rs.a END",
            "uri": "CASE WHEN header = 'runserver' THEN rs.b "
            "ELSE nullif(regexp_extract(first_msg, ': (/\\S*)\\s*$', 1), '') END",
            "status": "CASE WHEN header = 'runserver' THEN try_cast(rs.rest[1:3] AS INTEGER) END",
            # Django logs a SuspiciousOperation to a logger named after its class
            "exception": "coalesce(exception, CASE WHEN header = 'python' THEN "
            "nullif(regexp_extract(first_msg, '^django\\.security\\.([A-Z]\\w+)', 1), '') END)",
            "message": "message",
            "line_no": "line_no",
            "raw_line": "raw_line",
            "n_lines": "n_lines",
            "reject": f"CASE WHEN header IS NULL THEN 'no recognisable log header' {rejects} END",
        }
        return f"(SELECT {complete_raw(exprs)} FROM {table})"
