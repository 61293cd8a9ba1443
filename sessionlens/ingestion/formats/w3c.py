"""W3C extended log files: AWS CloudFront standard logs, and IIS as a bonus.

A W3C file declares its columns in a ``#Fields:`` directive, which may come
again mid-file with other columns (CloudFront adds fields over time; IIS
writes a new header block when its settings change). Each record is read
with the last ``#Fields:`` above it, inside DuckDB: a window function
carries the directive down to the records, and ``list_position`` finds each
known field in it. The directive in force at the end of a chunk is carried
into the next one. A job that starts mid-file (``start_byte``) uses the last
directive before it; lines read without any directive (the new part of a
file that grew, staged alone) use the spec's ``default_fields``, with a
warning, and lines that do not fit them are rejected, never guessed.

CloudFront records are tab-separated with URL-encoded values (a space is
``%20``, a ``%`` is ``%25``, so a request's own ``%20`` shows as ``%2520``):
they are decoded once, which gives back what the client sent. IIS records
are space-separated with ``+`` for the spaces in headers. CloudFront's
``time-taken`` is in seconds, IIS's in milliseconds. A directive without any
``x-edge-*`` field is taken for IIS. Dates and times are UTC.

A record may end with empty values beyond its directive's fields (CloudFront's
own documented example has a record with a trailing tab): they are ignored.
CloudFront's standard logging v2 and real-time field names (``timestamp``,
``timestamp(ms)``, ``cs-user-agent``, ``cs-referer``, ``cs-cookie``,
``cs-host``) are read like the legacy ones.

Header and comment lines (``#...``) are not records: each comes out as a
raw row rejected with ``W3C header line``, so lines read = stored +
rejected still adds up.

Spec keys: ``default_fields``, the field names (space-separated) used for
records that come before any ``#Fields:`` directive.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator

import duckdb

from ...sqltext import literal
from ..lines import iter_lines
from ..normalise import complete_raw
from ..options import FieldOptions
from ..reader import open_decompressed
from .base import Batch, FileJob, Parser, Sample
from .fields import xff_client_sql

HEADER = "W3C header line"
NO_FIELDS = "no #Fields directive before this line"
_FIELDS_LINE = re.compile(rb"(?m)^#Fields:[^\r\n]*")
_DATED = re.compile(r"\d{4}-\d{2}-\d{2}\t\d{2}:\d{2}:\d{2}\t")


def _split(line: str) -> list[str]:
    """A record's values: tab-separated (CloudFront) or space-separated (IIS)."""
    return line.split("\t") if "\t" in line else line.split(" ")


def _fits(values: list[str], fields: list[str]) -> bool:
    """As many values as fields, or more that are all empty (a trailing separator)."""
    return len(values) == len(fields) or (len(values) > len(fields) and not any(values[len(fields):]))


def _fields_before(path: Path, end: int) -> list[str] | None:
    """The last ``#Fields:`` directive in the file's first ``end`` bytes."""
    last, carry, pos = None, b"", 0
    with open_decompressed(path) as fh:
        while pos < end:
            block = fh.read(min(4 << 20, end - pos))
            if not block:
                break
            pos += len(block)
            data = carry + block
            cut = data.rfind(b"\n") + 1
            found = _FIELDS_LINE.findall(data[:cut])
            if found:
                last = found[-1]
            carry = data[cut:]
    if last is None:
        return None
    return last[len(b"#Fields:"):].decode("utf-8", "replace").lower().split()


class W3CParser(Parser):
    """W3C extended logs: fields named by the ``#Fields:`` directive in force."""

    family = "w3c"

    def __init__(self, name: str, description: str = "", samples: list[Sample] | None = None,
                 spec: dict | None = None):
        super().__init__(name, description, samples)
        self.default_fields = str((spec or {}).get("default_fields", "")).lower().split()

    # --- detection ---------------------------------------------------------
    def detect_score(self, lines: list[str]) -> float:
        """Share of lines that are directives or fit the directive in force.

        A file is claimed by its ``#Version:`` or ``#Fields:`` line, or, for a
        part without one (a file that grew), by records that start with a
        date and a time and have as many tab-separated values as the spec's
        default fields.
        """
        if not lines:
            return 0.0
        headed = any(line.startswith(("#Version:", "#Fields:")) for line in lines)
        fields = self.default_fields
        hits = 0
        for line in lines:
            line = line.rstrip("\r")
            if line.startswith("#"):
                hits += headed
                if line.startswith("#Fields:"):
                    fields = line[len("#Fields:"):].split()
            elif fields and _fits(_split(line), fields) and (headed or _DATED.match(line)):
                hits += 1
        return hits / len(lines)

    # --- parsing -----------------------------------------------------------
    def raw_exprs(self, options: FieldOptions) -> dict[str, str]:
        """Raw column -> SQL over ``fields`` (names), ``vals`` (values) and ``line``."""

        def v(*names: str) -> str:
            # several names: the legacy one, then the v2 / real-time one
            one = [f"nullif(nullif(vals[list_position(fields, {literal(n)})], '-'), '')" for n in names]
            return one[0] if len(one) == 1 else f"coalesce({', '.join(one)})"

        def decoded(expr: str) -> str:
            # CloudFront only; invalid escapes are kept as they are.
            return (f"CASE WHEN NOT iis AND contains({expr}, '%') "
                    f"THEN coalesce(try(url_decode({expr})), {expr}) ELSE {expr} END")

        def plus_spaces(expr: str) -> str:
            return f"CASE WHEN iis THEN replace({expr}, '+', ' ') ELSE {expr} END"

        # A user agent CloudFront encoded twice (%2520) still has %20 after one pass.
        ua = decoded(v("cs(user-agent)", "cs-user-agent"))
        ua = f"CASE WHEN NOT iis AND contains({ua}, '%20') THEN coalesce(try(url_decode({ua})), {ua}) ELSE {ua} END"
        query = decoded(v("cs-uri-query"))
        cookie = (f"CASE WHEN iis THEN replace({v('cs(cookie)')}, ';+', '; ') "
                  f"ELSE {decoded(v('cs(cookie)', 'cs-cookie'))} END")
        cip, xff = v("c-ip"), v("x-forwarded-for")
        if options.client_ip_from == "remote_addr":
            client = f"coalesce({cip}, {xff_client_sql(xff, 'xff')})"
        else:
            client = f"coalesce({xff_client_sql(xff, options.client_ip_from)}, {cip})"
        taken = f"try_cast({v('time-taken')} AS DOUBLE)"
        return {
            "ts": f"""coalesce(timezone('UTC', try_cast({v('date')} || ' ' || {v('time')} AS TIMESTAMP)),
                          to_timestamp(try_cast({v('timestamp')} AS DOUBLE)),
                          to_timestamp(try_cast({v('timestamp(ms)')} AS DOUBLE) / 1000))""",
            "client_ip": client,
            "method": v("cs-method"),
            "uri": f"{decoded(v('cs-uri-stem'))} || coalesce('?' || {query}, '')",
            "protocol": f"coalesce({v('cs-protocol-version')}, {v('cs-version')})",
            "status": f"try_cast({v('sc-status')} AS INTEGER)",
            "bytes": f"try_cast({v('sc-bytes')} AS BIGINT)",
            "latency_ms": f"CASE WHEN iis THEN {taken} ELSE {taken} * 1000 END",
            "host": f"coalesce({v('x-edge-location')}, {v('s-computername')}, {v('s-ip')})",
            "vhost": f"coalesce({v('x-host-header')}, {v('cs-host')}, {v('cs(host)')})",  # cs-host: v2's cs(Host)
            "remote_user": v("cs-username"),
            "user_agent": plus_spaces(ua),
            "referer": decoded(v("cs(referer)", "cs-referer")),
            "session_cookie": options.session_cookie_sql(cookie),
            "cache_status": f"lower({v('x-edge-result-type')})",
            "request_id": v("x-edge-request-id"),
        }

    def _prepare(self, con: duckdb.DuckDBPyConnection, carry: list[str] | None) -> None:
        """Table w3c_lines: each line with its values and the directive in force."""
        con.execute(
            r"""CREATE OR REPLACE TEMP TABLE w3c_lines AS
            SELECT *,
              -- IIS writes no x-edge-* field: its values are not URL-encoded
              NOT list_contains(fields, 'x-edge-request-id') AND NOT list_contains(fields, 'x-edge-location') AS iis,
              CASE WHEN NOT is_header THEN string_split(line, CASE WHEN contains(line, chr(9)) THEN chr(9) ELSE ' ' END)
              END AS vals
            FROM (
              SELECT *, coalesce(last_value(fdecl IGNORE NULLS) OVER (ORDER BY line_no), $carry::VARCHAR[]) AS fields
              FROM (
                SELECT line_no, line, starts_with(line, '#') AS is_header,
                  CASE WHEN starts_with(line, '#Fields:') THEN
                    list_transform(string_split_regex(trim(substr(line, 9)), '\s+'), lambda f: lower(f)) END AS fdecl
                FROM (SELECT line_no, rtrim(line, chr(13)) AS line FROM lines WHERE rtrim(line, chr(13)) <> '')))""",
            {"carry": carry},
        )

    def relation_sql(self, options: FieldOptions) -> str:
        """A relation of raw columns over ``w3c_lines``: one row per line."""
        cols = self.raw_exprs(options)
        mismatch = f"line does not match its #Fields directive (format {self.name})"
        cols.update({
            "kind": "'request'",
            "line_no": "line_no",
            "raw_line": "line",
            "reject": f"""CASE WHEN is_header THEN {literal(HEADER)}
                          WHEN fields IS NULL OR len(fields) = 0 THEN {literal(NO_FIELDS)}
                          WHEN len(vals) <> len(fields) AND NOT (len(vals) > len(fields) AND
                               len(list_filter(list_slice(vals, len(fields) + 1, len(vals)), lambda x: x <> '')) = 0)
                            THEN {literal(mismatch)} END""",
        })
        return f"(SELECT {complete_raw(cols)} FROM w3c_lines)"

    def batches(self, con: duckdb.DuckDBPyConnection, job: FileJob) -> Iterator[Batch]:
        """One batch per chunk; the directive in force is carried from chunk to chunk."""
        if job.origin is not None and job.origin_start:
            carry = _fields_before(job.origin, job.origin_start)  # the job reads a copy of the file's new lines
        else:
            carry = _fields_before(job.path, job.start_byte) if job.start_byte else None
        defaulted = carry is None and bool(self.default_fields)
        carry = carry or self.default_fields or None
        relation = self.relation_sql(job.options)
        for _ in iter_lines(con, job.path, job.start_byte, job.first_line, job.chunk_bytes):
            self._prepare(con, carry)
            if defaulted:
                # Records above the first directive are read with the spec's fields.
                n = con.execute(
                    "SELECT count(*) FROM w3c_lines WHERE NOT is_header AND line_no < coalesce("
                    "(SELECT min(line_no) FROM w3c_lines WHERE fdecl IS NOT NULL), 9223372036854775807)"
                ).fetchall()[0][0]
                if n:
                    job.warn(f"records before any #Fields directive were read with {self.name}'s standard fields",
                             n, "check the file's header lines")
            yield Batch(relation=relation)
            last = con.execute("SELECT fdecl FROM w3c_lines WHERE fdecl IS NOT NULL ORDER BY line_no DESC LIMIT 1"
                               ).fetchall()
            if last:
                carry, defaulted = list(last[0][0]), False

    def slow_batches(self, con: duckdb.DuckDBPyConnection, job: FileJob) -> Iterator[Batch]:
        """There is no faster path to fall back from: the same batches."""
        return self.batches(con, job)
