"""Access logs from nginx ``log_format`` and Apache ``LogFormat`` templates.

The fast path reads the whole file with DuckDB's parallel, quote-aware CSV
reader. Lines it cannot split are re-parsed one by one with the template's
regex, so a malformed line costs nothing to the lines around it. If the
counts do not add up (an unterminated quote can swallow the next line into
one bad row), the file is parsed again on the regex path alone.
"""

from __future__ import annotations

import re
from typing import Iterator

import duckdb

from ...sqltext import literal, literal_list
from ..normalise import complete_raw
from ..reader import compression_of, iter_line_chunks
from .base import Batch, FallBack, FileJob, Parser, Sample, lines_relation
from .fields import access_raw_sql
from .template import Template, column_value_sql, compile_apache, compile_nginx, line_regex


class AccessLogParser(Parser):
    """Parses lines written from a template; subclasses compile the template."""

    def __init__(self, name: str, template: Template, description: str = "", samples: list[Sample] | None = None):
        super().__init__(name, description, samples)
        self.template = template
        self.regex, self.regex_names = line_regex(template)
        self._whole = re.compile(line_regex(template, typed=True, trailing=False)[0])
        self._prefix = re.compile(line_regex(template, typed=True, trailing=True)[0])

    # --- detection ---------------------------------------------------------
    def detect_score(self, lines: list[str]) -> float:
        """Share of lines this layout explains whole, every field in its shape."""
        if not lines:
            return 0.0
        return sum(1 for line in lines if self._whole.match(line)) / len(lines)

    def trailing_fields(self, lines: list[str]) -> list[str] | None:
        """What follows the layout's last field on lines it explains but for that.

        Returns the trailing texts (stripped) of the lines that match with
        extra fields, or None when fewer than all the lines match at all.
        """
        out = []
        for line in lines:
            m = self._prefix.match(line)
            if not m:
                return None
            out.append((m.group(m.re.groups) or "").strip())
        return out

    # --- parsing -----------------------------------------------------------
    def raw_select(self, var_sql: dict[str, str], job: FileJob, line_no: str, raw_line: str) -> str:
        exprs = access_raw_sql(var_sql, self.template.escape, job.options)
        exprs.update({"kind": "'request'", "line_no": line_no, "raw_line": raw_line})
        return complete_raw(exprs)

    def batches(self, con: duckdb.DuckDBPyConnection, job: FileJob) -> Iterator[Batch]:
        if self.template.fast_path and job.start_byte == 0:
            yield from self._fast(con, job)
        else:
            yield from self.slow_batches(con, job)

    def slow_batches(self, con: duckdb.DuckDBPyConnection, job: FileJob) -> Iterator[Batch]:
        for first, text in iter_line_chunks(job.path, job.start_byte, job.first_line, job.chunk_bytes):
            lines_relation(con, first, text)
            yield self._regex_batch(con, "lines", job)

    def _regex_batch(self, con: duckdb.DuckDBPyConnection, table: str, job: FileJob) -> Batch:
        names = [f"v_{i}" for i in range(len(self.regex_names))]
        struct = f"regexp_extract(line, {literal(self.regex)}, {literal_list([*names, 'trail'])})"
        # Lines with fields the layout does not name are stored, and counted
        # for a warning: the extras are lost, and the user can name them.
        trailing = con.execute(
            f"SELECT count(*) FROM (SELECT {struct.replace('(line,', '(rtrim(line, chr(13)),', 1)} AS m FROM {table}) "
            "WHERE m.trail <> ''"
        ).fetchall()[0][0]
        if trailing:
            job.warn(f"lines carry fields after the last one that format {self.name} names; they were not stored",
                     trailing, "give the whole layout with --nginx-format or --apache-format")
        var_sql = {var: f"m.{n}" for var, n in zip(self.regex_names, names, strict=True)}
        select = self.raw_select(var_sql, job, "line_no", "line")
        no_match = literal(f"line does not match format {self.name}")
        # A line that does not match gives an empty struct: reject it.
        relation = f"""(
          SELECT * REPLACE (CASE WHEN NOT matched THEN {no_match} END AS reject)
          FROM (
            SELECT {select}, regexp_matches(line, {literal(self.regex)}) AS matched
            FROM (SELECT line_no, rtrim(line, chr(13)) AS line, {struct} AS m FROM {table}
                  WHERE rtrim(line, chr(13)) <> '')
          )
        )"""
        return Batch(relation=f"(SELECT * EXCLUDE (matched) FROM {relation})")

    def _fast(self, con: duckdb.DuckDBPyConnection, job: FileJob) -> Iterator[Batch]:
        ncols = len(self.template.columns)
        col_names = [f"c{i}" for i in range(ncols)]
        columns = "{" + ", ".join(f"{literal(c)}: 'VARCHAR'" for c in col_names) + "}"
        con.execute("DROP TABLE IF EXISTS reject_errors; DROP TABLE IF EXISTS reject_scans")
        compression = compression_of(job.path)  # by content: DuckDB's 'auto' goes by the file name
        csv = (
            f"read_csv({literal(job.path)}, delim=' ', quote='\"', escape='\"', header=false, columns={columns}, "
            f"auto_detect=false, strict_mode=true, store_rejects=true, max_line_size=4194304, "
            f"new_line='\\n', compression={literal(compression)})"
        )
        var_sql = column_value_sql(self.template, col_names)
        select = self.raw_select(var_sql, job, "CAST(NULL AS BIGINT)", "CAST(NULL AS VARCHAR)")
        con.execute(f"CREATE OR REPLACE TEMP VIEW fast_good AS SELECT {select} FROM {csv}")
        # Written straight to Parquet in one parallel scan. Rows without a
        # readable timestamp are dropped there, and a row into which the
        # reader joined two lines (an unterminated quote) stands for two
        # lines: either way the count check below fails and the file goes
        # to the regex path, so no doubtful row is kept.
        batch = Batch(relation="fast_good", direct=True)
        yield batch
        stored = batch.stored
        # Every physical line of every rejected region is parsed again alone.
        con.execute(
            """CREATE OR REPLACE TEMP TABLE rescue AS
            WITH r AS (SELECT line, any_value(csv_line) AS csv_line FROM reject_errors GROUP BY line),
            split AS (
              SELECT line AS first, unnest(string_split(ltrim(csv_line, chr(10)), chr(10))) AS l,
                     unnest(range(0, len(string_split(ltrim(csv_line, chr(10)), chr(10))))) AS i
              FROM r)
            SELECT DISTINCT ON (first + i) first + i + $offset AS line_no, l AS line FROM split ORDER BY line_no""",
            {"offset": job.first_line - 1},
        )
        rescue_lines = con.execute("SELECT count(*) FROM rescue WHERE rtrim(line, chr(13)) <> ''").fetchall()[0][0]
        if stored + rescue_lines == job.lines:
            job.no_blank_lines()  # every line is accounted for: there is no blank one
        elif stored + rescue_lines + len(job.blank_lines()) != job.lines:
            raise FallBack(
                f"counts do not add up: {stored} parsed + {rescue_lines} rejected + {len(job.blank_lines())} blank "
                f"!= {job.lines}"
            )
        if rescue_lines:
            yield self._regex_batch(con, "rescue", job)


class NginxParser(AccessLogParser):
    family = "nginx"

    def __init__(self, name: str, template: str, escape: str | None = None, description: str = "", samples=None):
        fmt = f"escape={escape} {template}" if escape else template
        super().__init__(name, compile_nginx(fmt), description, samples)


class ApacheParser(AccessLogParser):
    family = "apache"

    def __init__(self, name: str, template: str, description: str = "", samples=None):
        super().__init__(name, compile_apache(template), description, samples)
