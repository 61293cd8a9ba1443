"""Framework application logs: Django, Laravel, Python logging, Apache error_log.

A record starts at a line with a recognised header (a timestamp, or at least
a level) and takes the continuation lines under it (stack traces). Records
become ``app_error`` events; Django runserver access lines become requests.
"""

from __future__ import annotations

import re
from typing import Iterator

import duckdb

from ..normalise import complete_raw
from ..reader import iter_line_chunks
from .base import Batch, FileJob, Parser, lines_relation

# name -> (regex with named parts, strptime formats for its timestamp)
HEADERS: list[tuple[str, str, list[str]]] = [
    # Laravel / Monolog: [2016-08-15 22:41:11] production.NOTICE: ...
    (
        "monolog",
        r"^\[([0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9:]{8}(?:\.[0-9]+)?(?:[+-][0-9]{2}:?[0-9]{2}|Z)?)\] (\w+)\.(\w+): (.*)$",
        [],
    ),
    # Apache 2.2/2.4 error_log: [Mon Apr 27 17:26:52 2015] [error] ...
    (
        "apache_error",
        r"^\[(\w{3} \w{3} +[0-9]{1,2} [0-9:]{8}(?:\.[0-9]+)? [0-9]{4})\] \[([^\]]*)\] ()(.*)$",
        ["%a %b %d %H:%M:%S.%f %Y", "%a %b %d %H:%M:%S %Y"],
    ),
    # Django runserver access line: [28/Apr/2015 07:44:25] "POST /x/ HTTP/1.1" 200 1293
    (
        "runserver",
        r"^\[([0-9]{2}/\w{3}/[0-9]{4} [0-9:]{8})\] \"(\w+) (\S+)[^\"]*\" ([0-9]{3}) (.*)$",
        ["%d/%b/%Y %H:%M:%S"],
    ),
    # Python logging: 2023-09-19 16:10:02,114 WARNING django.security.csrf ...
    (
        "python",
        r"^([0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9:]{8}(?:[.,][0-9]+)?(?:[+-][0-9]{2}:?[0-9]{2}|Z)?)\s+\[?(\w+)\]?\s+()(.*)$",
        [],
    ),
    # syslog (no year, so no usable timestamp): Jun 16 09:29:41 host prog: ...
    ("syslog", r"^(\w{3} +[0-9]{1,2} [0-9:]{8}) (\S+) ()([^:]+: .*)$", []),
    # a bare level: [WARNING] django.security.csrf: ...
    ("level", r"^()\[(DEBUG|INFO|NOTICE|WARNING|WARN|ERROR|CRITICAL|FATAL)\] ()(.*)$", []),
]
DETECT_RES = [re.compile(h[1]) for h in HEADERS]
# Lines that belong to the record above them: stack traces and indented text.
CONTINUATION = r"^(?:Stack trace:|#[0-9]+ |Traceback|\s|\S+Error: |\S+Exception: |File \"|\{main\}|Next )"
CONTINUATION_RE = re.compile(CONTINUATION)


def _q(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _ts_sql(name: str, formats: list[str], col: str) -> str:
    if name == "syslog" or name == "level":
        return "CAST(NULL AS TIMESTAMPTZ)"
    if not formats:  # ISO-like: DuckDB casts it (',' decimal comma fixed first)
        return f"try_cast(replace({col}, ',', '.') AS TIMESTAMPTZ)"
    arms = ", ".join(f"try_strptime({col}, {_q(f)})" for f in formats)
    return f"coalesce({arms}) AT TIME ZONE 'UTC'" if len(formats) > 1 else f"try_strptime({col}, {_q(formats[0])}) AT TIME ZONE 'UTC'"


class AppLogParser(Parser):
    """Multi-line framework logs; the last resort of detection."""

    family = "applog"

    def detect_score(self, lines: list[str]) -> float:
        if not lines:
            return 0.0
        heads = sum(1 for line in lines if any(r.match(line) for r in DETECT_RES))
        if not heads:
            return 0.0
        known = sum(1 for line in lines if any(r.match(line) for r in DETECT_RES) or CONTINUATION_RE.match(line))
        return known / len(lines)

    def batches(self, con: duckdb.DuckDBPyConnection, job: FileJob) -> Iterator[Batch]:
        for first, text in iter_line_chunks(job.path, job.start_byte, job.first_line, job.chunk_bytes):
            lines_relation(con, first, text)
            yield Batch(relation=self.relation("lines"))

    @staticmethod
    def relation(table: str) -> str:
        matches = ",\n    ".join(
            f"regexp_extract(line, {_q(rx)}, ['ts', 'a', 'b', 'rest']) AS m_{name}" for name, rx, _ in HEADERS
        )
        which = " ".join(f"WHEN regexp_matches(line, {_q(rx)}) THEN '{name}'" for name, rx, _ in HEADERS)
        ts = " ".join(f"WHEN '{name}' THEN {_ts_sql(name, fmts, f'm_{name}.ts')}" for name, _, fmts in HEADERS)
        rest = " ".join(f"WHEN '{name}' THEN m_{name}.rest" for name, _, _ in HEADERS)
        level = " ".join(
            f"WHEN '{name}' THEN m_{name}.{'b' if name == 'monolog' else 'a'}" for name, _, _ in HEADERS if name != "runserver"
        )
        grouped = f"""
WITH l AS (SELECT line_no, rtrim(line, chr(13)) AS line FROM {table} WHERE rtrim(line, chr(13)) <> ''),
m AS (SELECT *, CASE {which} END AS header, {matches} FROM l),
g AS (SELECT *,
  -- a header starts a record; so does any line that is not a continuation,
  -- which then stands alone and is rejected for having no header
  sum(CASE WHEN header IS NOT NULL OR NOT regexp_matches(line, {_q(CONTINUATION)}) THEN 1 ELSE 0 END)
    OVER (ORDER BY line_no) AS grp FROM m),
rec AS (
  SELECT grp,
    min(line_no) AS line_no, count(*) AS n_lines, arg_min(line, line_no) AS raw_line,
    arg_min(header, line_no) AS header,
    string_agg(line, chr(10) ORDER BY line_no) AS message,
    arg_min(CASE header {ts} END, line_no) AS ts,
    arg_min(CASE header {rest} END, line_no) AS first_msg,
    arg_min(CASE header {level} END, line_no) AS level,
    arg_min(m_runserver, line_no) AS rs
  FROM g GROUP BY grp
)
SELECT * FROM rec"""
        exprs = {
            "ts": "ts",
            "kind": "CASE WHEN header = 'runserver' THEN 'request' ELSE 'event' END",
            "event": "CASE WHEN header = 'runserver' THEN NULL ELSE 'app_error' END",
            "method": "CASE WHEN header = 'runserver' THEN rs.a END",
            "uri": "CASE WHEN header = 'runserver' THEN rs.b ELSE nullif(regexp_extract(first_msg, ': (/\\S*)\\s*$', 1), '') END",
            "status": "CASE WHEN header = 'runserver' THEN try_cast(rs.rest[1:3] AS INTEGER) END",
            "exception": "nullif(regexp_extract(message, '([A-Z][A-Za-z0-9]*(?:\\\\[A-Z][A-Za-z0-9]*)+Exception)', 1), '')",
            "message": "message",
            "line_no": "line_no",
            "raw_line": "raw_line",
            "n_lines": "n_lines",
            "reject": "CASE WHEN header IS NULL THEN 'no recognisable log header' "
            "WHEN header = 'syslog' THEN 'syslog timestamp has no year' END",
        }
        return f"(SELECT {complete_raw(exprs)} FROM ({grouped}))"
