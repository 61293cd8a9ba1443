"""Access logs from nginx ``log_format`` and Apache ``LogFormat`` templates.

The fast path reads the whole file with DuckDB's parallel CSV reader, each
line split at its quotes (see :mod:`.quote_split`), and writes the lines
that split as the template does straight to Parquet. The others (truncated
lines, stray or escaped quotes, values the store refuses) are found by
number and parsed again by the template's regex, so an odd line costs
nothing to the lines around it. Only when the counts do not add up, or the
reader gives up on the file (a stray carriage return), is the whole file
parsed on the regex path.
"""

from __future__ import annotations

import re
from typing import Iterator

import duckdb

from ...sqltext import literal, literal_list
from ..lines import iter_lines
from ..normalise import complete_raw, normalise_sql
from ..paths import literal_path
from ..reader import compression_of, holds_byte
from ..rules import RuleSet
from .base import Batch, FallBack, FileJob, Parser, Sample
from .fields import access_raw_sql
from .quote_split import csv_options_sql, quote_split
from .template import DASH_SUFFIX, Template, compile_apache, compile_nginx, line_regex

# Why the fast path leaves a line to the regex (never stored: the regex decides).
ODD = "line does not split at its quotes as the format does"


class AccessLogParser(Parser):
    """Parses lines written from a template; subclasses compile the template."""

    numbers_rows = False  # DuckDB's CSV reader does not number the rows it reads

    def __init__(self, name: str, template: Template, description: str = "", samples: list[Sample] | None = None):
        super().__init__(name, description, samples)
        self.template = template
        self.regex, self.regex_names = line_regex(template)
        self._whole = re.compile(line_regex(template, typed=True, trailing=False)[0])
        self._prefix = re.compile(line_regex(template, typed=True, trailing=True)[0])
        self.split = quote_split(template)
        self._split_values = self.split.values_sql(template) if self.split else {}

    # --- detection ---------------------------------------------------------
    def detect_score(self, lines: list[str]) -> float:
        """Share of lines this layout explains whole, every field in its shape."""
        if not lines:
            return 0.0
        return sum(1 for line in lines if self._whole.match(line)) / len(lines)

    def may_explain_all(self, lines: list[str]) -> bool:
        return bool(lines) and bool(self._whole.match(lines[0]))

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
    def raw_select(self, var_sql: dict[str, str], job: FileJob, line_no: str, raw_line: str,
                   reject: str | None = None) -> str:
        exprs = access_raw_sql(var_sql, self.template.escape, job.options)
        exprs.update({"kind": "'request'", "line_no": line_no, "raw_line": raw_line})
        if reject is not None:
            exprs["reject"] = reject
        return complete_raw(exprs)

    def batches(self, con: duckdb.DuckDBPyConnection, job: FileJob) -> Iterator[Batch]:
        if self.split is not None and job.start_byte == 0:
            yield from self._fast(con, job)
        else:
            yield from self.slow_batches(con, job)

    def slow_batches(self, con: duckdb.DuckDBPyConnection, job: FileJob) -> Iterator[Batch]:
        """Without DuckDB's CSV reader (it gave up, or the job starts mid-file): numbered blocks of lines."""
        if self.split is not None:
            return self._numbered_split(con, job, keep_split=True)
        return self.regex_batches(con, job)

    def regex_batches(self, con: duckdb.DuckDBPyConnection, job: FileJob) -> Iterator[Batch]:
        """Every line through the template's regex (templates with no fast path)."""
        for _ in iter_lines(con, job.path, job.start_byte, job.first_line, job.chunk_bytes):
            yield self.regex_batch(con, "lines", job)

    def regex_batch(self, con: duckdb.DuckDBPyConnection, table: str, job: FileJob,
                     jobs: dict[int, FileJob] | None = None) -> Batch:
        """A batch parsing the lines of ``table`` (line_no, line) with the template's regex.

        With ``jobs`` the table also has ``_unit`` (the lines of several
        files, see :mod:`..group`): it is passed through, and each file's
        job gets its own warnings.
        """
        names = [f"v_{i}" for i in range(len(self.regex_names))]
        struct = f"regexp_extract(line, {literal(self.regex)}, {literal_list([*names, 'trail'])})"
        # Lines with fields the layout does not name are stored, and counted
        # for a warning: the extras are lost, and the user can name them.
        unit = "_unit" if jobs else "0"
        trailing = con.execute(
            f"SELECT {unit}, count(*) FROM (SELECT {unit}, {struct.replace('(line,', '(rtrim(line, chr(13)),', 1)} "
            f"AS m FROM {table}) WHERE m.trail <> '' GROUP BY 1"
        ).fetchall()
        for u, n in trailing:
            (jobs[u] if jobs else job).warn(
                f"lines carry fields after the last one that format {self.name} names; they were not stored",
                n, "give the whole layout with --nginx-format or --apache-format")
        # An empty value is NULL, as the CSV reader of the fast path gives it.
        var_sql: dict[str, str] = {}
        for var, n in zip(self.regex_names, names, strict=True):
            if var.endswith(DASH_SUFFIX):  # the value's quotes were left out: it is "-"
                var = var.removesuffix(DASH_SUFFIX)
                var_sql[var] = f"coalesce({var_sql[var]}, nullif(m.{n}, ''))"
            else:
                var_sql[var] = f"nullif(m.{n}, '')"
        select = self.raw_select(var_sql, job, "line_no", "line")
        no_match = literal(f"line does not match format {self.name}")
        passed = ", _unit" if jobs else ""
        # A line that does not match gives an empty struct: reject it.
        relation = f"""(
          SELECT * REPLACE (CASE WHEN NOT matched THEN {no_match} END AS reject)
          FROM (
            SELECT {select}, regexp_matches(line, {literal(self.regex)}) AS matched{passed}
            FROM (SELECT line_no, rtrim(line, chr(13)) AS line, {struct} AS m{passed} FROM {table}
                  WHERE rtrim(line, chr(13)) <> '')
          )
        )"""
        return Batch(relation=f"(SELECT * EXCLUDE (matched) FROM {relation})")

    def split_select(self, job: FileJob, line_no: str, raw_line: str, split_ok: str = "true") -> str:
        """Raw columns from a relation of parts (``p<i>``, ``s<i>``); a line split otherwise is rejected.

        ``split_ok``: SQL true when the line has the template's number of parts
        (the CSV reader has checked that already; a split made in SQL has not).
        """
        assert self.split is not None
        valid = f"{split_ok} AND {self.split.valid_sql()}"
        return self.raw_select(self._split_values, job, line_no, raw_line,
                               reject=f"CASE WHEN NOT ({valid}) THEN {literal(ODD)} END")

    def _fast(self, con: duckdb.DuckDBPyConnection, job: FileJob) -> Iterator[Batch]:
        split = self.split
        assert split is not None
        con.execute("DROP TABLE IF EXISTS reject_errors; DROP TABLE IF EXISTS reject_scans")
        compression = compression_of(job.path)  # by content: DuckDB's 'auto' goes by the file name
        with literal_path(job.path) as readable:  # `a[1].log` must not read `a1.log`
            csv = f"read_csv({literal(readable)}, {csv_options_sql(split)}, compression={literal(compression)})"
            select = self.split_select(job, "CAST(NULL AS BIGINT)", "CAST(NULL AS VARCHAR)")
            con.execute(f"CREATE OR REPLACE TEMP VIEW fast_good AS SELECT {select} FROM "
                        f"(SELECT *, {split.tokens_select()} FROM {csv})")
            # Written straight to Parquet in one parallel scan, the lines that
            # split as the template does and hold valid values; the others are
            # found below and parsed again by the regex.
            batch = Batch(relation="fast_good", direct=True)
            yield batch
        yield from self.rescue_batches(con, job, batch.stored, "reject_errors")

    def rescue_batches(self, con: duckdb.DuckDBPyConnection, job: FileJob, stored: int,
                       rejects: str) -> Iterator[Batch]:
        """Batches for the lines of a file the fast path did not store.

        Args:
            stored: the lines the fast path stored.
            rejects: a relation of the CSV reader's rejects for this file
                (``line``, ``csv_line``, ``error_type``).
        """
        if stored == job.lines:
            job.no_blank_lines()
            return
        # The reader rejected the lines with too few or too many parts, each
        # alone, with its number. Usually those are all the odd lines.
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE rescue AS
            SELECT line + $offset AS line_no, any_value(ltrim(csv_line, chr(10))) AS line,
                   bool_and(error_type IN ('TOO MANY COLUMNS', 'MISSING COLUMNS')) AS exact
            FROM {rejects} GROUP BY line""",
            {"offset": job.first_line - 1},
        )
        rescued, parts_only = con.execute(
            "SELECT count(*) FILTER (WHERE rtrim(line, chr(13)) <> ''), coalesce(bool_and(exact), true) FROM rescue"
        ).fetchall()[0]
        if self.rejects_cover(job, parts_only, stored, rescued):
            job.no_blank_lines()
        elif not self.rejects_exact(job, parts_only) or stored + rescued + len(job.blank_lines()) != job.lines:
            # Some lines split well but hold a value the store refuses (an
            # unreadable time, a status out of range ...), or the reader's
            # numbers or text cannot be trusted: find the lines by number.
            yield from self._odd_lines(con, job, stored)
            return
        if rescued:
            yield self.regex_batch(con, "rescue", job)

    @staticmethod
    def rejects_exact(job: FileJob, parts_only: bool) -> bool:
        """Whether the CSV reader's rejects are the file's odd lines with their true numbers and text.

        They are when every reject is a part-count error (``parts_only``)
        and no carriage return is in the file: DuckDB counts a CR-ended line
        as two, and keeps no text for a line that is not UTF-8 (a decoding
        error, not a part count).
        """
        return parts_only and not holds_byte(job.path, b"\r")

    @classmethod
    def rejects_cover(cls, job: FileJob, parts_only: bool, stored: int, rescued: int) -> bool:
        """Whether the reader's rejects are *all* the lines it did not store (and none is blank)."""
        return stored + rescued == job.lines and cls.rejects_exact(job, parts_only)

    def _odd_lines(self, con: duckdb.DuckDBPyConnection, job: FileJob, stored: int) -> Iterator[Batch]:
        """The lines the fast path did not store, found by number in one pass, parsed by the regex.

        Raises:
            FallBack: the lines found and the lines stored do not add up.
        """
        found = blank = 0
        for batch in self._numbered_split(con, job, keep_split=False):
            found += batch.lines
            yield batch
        blank = len(job.blank_lines())
        if stored + found + blank != job.lines:
            raise FallBack(f"counts do not add up: {stored} parsed + {found} odd + {blank} blank != {job.lines}")

    def _numbered_split(self, con: duckdb.DuckDBPyConnection, job: FileJob, keep_split: bool) -> Iterator[Batch]:
        """Lines read block by block with their numbers, split at quotes as the CSV reader splits them.

        The lines that split as the template does and hold values the store
        accepts are the ones the fast path stores: with ``keep_split`` they
        are yielded as a batch. The others are yielded as a batch for the
        regex (DuckDB prunes the normalising query to what a reject reason
        needs when it looks for them). Blank lines are recorded on the job.
        A line's trailing carriage return is dropped, as the regex drops it.
        """
        split = self.split
        assert split is not None
        parts = (f"(SELECT line_no, {split.parts_from_line('rtrim(line, chr(13))')} FROM lines "
                 "WHERE rtrim(line, chr(13)) <> '')")
        select = self.split_select(job, "line_no", "CAST(NULL AS VARCHAR)", split_ok="split_ok")
        relation = f"(SELECT {select} FROM (SELECT *, {split.tokens_select()} FROM {parts}))"
        refused = normalise_sql(relation, self.family, RuleSet(), job.options)
        blanks: list[int] = []
        for _ in iter_lines(con, job.path, job.start_byte, job.first_line, job.chunk_bytes):
            con.execute(f"""CREATE OR REPLACE TEMP TABLE odd AS
                SELECT line_no, line FROM lines
                WHERE line_no IN (SELECT line_no FROM ({refused}) WHERE _reject IS NOT NULL)""")
            blanks += [n for (n,) in con.execute(
                "SELECT line_no FROM lines WHERE rtrim(line, chr(13)) = '' ORDER BY line_no").fetchall()]
            if keep_split:
                yield Batch(relation=f"(SELECT * FROM {relation} WHERE line_no NOT IN (SELECT line_no FROM odd))")
            n = con.execute("SELECT count(*) FROM odd").fetchall()[0][0]
            if n:
                batch = self.regex_batch(con, "odd", job)
                batch.lines = n
                yield batch
        job.found_blank_lines(blanks)


class NginxParser(AccessLogParser):
    family = "nginx"

    def __init__(self, name: str, template: str, escape: str | None = None, description: str = "", samples=None):
        fmt = f"escape={escape} {template}" if escape else template
        super().__init__(name, compile_nginx(fmt), description, samples)


class ApacheParser(AccessLogParser):
    family = "apache"

    def __init__(self, name: str, template: str, description: str = "", samples=None):
        super().__init__(name, compile_apache(template), description, samples)
