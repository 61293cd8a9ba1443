"""Parsed batches -> Parquet files in a segment's staging folder.

Each batch of raw columns goes through the normalising query and is
written, still invisible, under the folder :meth:`Lake.staging_dir` gave;
the engine publishes the folder once the whole file is in. Also here: the
share of stored rows carrying each session signal (the file's coverage).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import duckdb

from ..lake.schema import STORED_COLUMNS
from ..lake.writer import write_query, write_routed
from ..privacy import redact
from ..sqltext import literal, literal_list
from .formats.base import Batch, FallBack, FileJob, IngestWarning, Parser
from .normalise import normalise_sql
from .options import FieldOptions
from .rules import RuleSet


@dataclass
class BatchWriter:
    """Writes one file's batches with a connection of the run.

    Attributes:
        con: the run's connection (its variables name the file).
        rules: the session-error rules.
        options: the field options.
        constants: columns with one value for the whole file (file_id, source_file).
    """

    con: duckdb.DuckDBPyConnection
    rules: RuleSet
    options: FieldOptions
    constants: dict[str, str]

    def run(self, batches: Iterable[Batch], parser: Parser, staging: Path, segment_id: str,
            reasons: dict[str, int]) -> tuple[int, int]:
        """Writes every batch; returns (stored, rejected) lines and adds rejects to ``reasons``."""
        stored = rejected = 0
        for seq, batch in enumerate(batches):
            s, r = self.write_batch(batch, parser, staging, f"{segment_id}-{seq}", reasons)
            stored += s
            rejected += r
        return stored, rejected

    def _copy(self, select: str, dest: Path, name: str, partitioned: bool,
              constants: dict[str, str] | None = None) -> int:
        return write_query(self.con, select, dest, name, "date" if partitioned else None, constants=constants)

    def write_batch(self, batch: Batch, parser: Parser, staging: Path, name: str,
                    reasons: dict[str, int]) -> tuple[int, int]:
        """Writes one batch's stored rows and rejects; returns (stored, rejected) lines."""
        norm = normalise_sql(batch.relation, parser.family, self.rules, self.options)
        constants = {"source": parser.family, **self.constants}
        cols = ", ".join(c if c != "line_no" or parser.numbers_rows else "CAST(NULL AS BIGINT) AS line_no"
                         for c in STORED_COLUMNS if c not in constants)
        if batch.direct:
            try:
                n = self._copy(f"SELECT {cols} FROM ({norm}) WHERE _reject IS NULL", staging / "requests", name, True,
                               constants)
            except duckdb.Error as exc:
                # The CSV reader gives up on some inputs (e.g. a stray \r at a
                # line start); the regex path reads them line by line.
                raise FallBack(f"CSV reader failed: {redact(str(exc).splitlines()[0])}") from None
            batch.stored = n
            return n, 0
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE norm AS {norm}")
        for table in ("requests", "events"):  # a table with no rows gets no file
            self._copy(f"SELECT {cols} FROM norm WHERE _reject IS NULL AND _table = {literal(table)}", staging / table,
                       name, True, constants)
        stored = self.con.execute("SELECT coalesce(sum(_n_lines), 0) FROM norm WHERE _reject IS NULL").fetchall()[0][0]
        rows = self.con.execute(
            "SELECT _reject, sum(_n_lines) FROM norm WHERE _reject IS NOT NULL GROUP BY 1"
        ).fetchall()
        for reason, n in rows:
            reasons[reason] = reasons.get(reason, 0) + int(n)
        rejected = sum(int(n) for _, n in rows)
        if rejected:
            self._copy(
                "SELECT file_id, source_file, line_no, _n_lines AS lines, _reject AS reason, _excerpt AS excerpt "
                "FROM norm WHERE _reject IS NOT NULL",
                staging / "rejects",
                name,
                False,
            )
        batch.stored, batch.rejected = int(stored), rejected
        return int(stored), rejected

    def write_routed(self, relation: str, parser: Parser, routes: dict[int, tuple[Path, dict[str, str]]],
                     name: str) -> dict[int, list[int]]:
        """Writes the stored rows of a relation of many files (its ``_unit`` column), each to its file's folder.

        Args:
            routes: ``_unit`` -> (the file's staging folder, its constant columns: file_id, source_file).

        Returns:
            ``_unit`` -> the file's signal counts (see :meth:`signal_counts`), for files with stored rows.
        """
        norm = normalise_sql(relation, parser.family, self.rules, self.options, extra=("_unit",))
        return write_routed(self.con, f"SELECT {self._routed_columns(parser, routes)} FROM ({norm}) n "
                            "JOIN route_constants USING (_unit) WHERE _reject IS NULL",
                            {u: (folder / "requests", {}) for u, (folder, _) in routes.items()}, name,
                            route_column="_unit", tally=SIGNALS[1:])

    def _routed_columns(self, parser: Parser, routes: dict[int, tuple[Path, dict[str, str]]]) -> str:
        """The stored columns of routed rows; their files' constants come from ``route_constants`` (made here)."""
        units = sorted(routes)
        self.con.execute("CREATE OR REPLACE TEMP TABLE route_constants AS SELECT unnest($u) AS _unit, "
                         "unnest($f) AS _file_id, unnest($s) AS _source_file",
                         {"u": units, "f": [routes[u][1]["file_id"] for u in units],
                          "s": [routes[u][1]["source_file"] for u in units]})
        special = {"source": literal(parser.family), "file_id": "_file_id", "source_file": "_source_file",
                   "line_no": "line_no" if parser.numbers_rows else "CAST(NULL AS BIGINT)"}
        return ", ".join(f"{special[c]} AS {c}" if c in special else c for c in STORED_COLUMNS) + ", _unit"

    def write_batch_routed(self, batch: Batch, parser: Parser, routes: dict[int, tuple[Path, dict[str, str]]],
                           name: str) -> dict[int, tuple[int, int, dict[str, int], list[int]]]:
        """Writes a batch of many files' rows (its ``_unit`` column): stored rows and rejects, each to its file.

        Returns:
            ``_unit`` -> (stored lines, rejected lines, rejects by reason,
            signal counts of the stored rows), for every file with rows.
        """
        norm = normalise_sql(batch.relation, parser.family, self.rules, self.options, extra=("_unit",))
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE norm AS {norm}")
        cols = self._routed_columns(parser, routes)
        signals: dict[int, list[int]] = {}
        for table in ("requests", "events"):
            counts = write_routed(self.con, f"SELECT {cols} FROM norm JOIN route_constants USING (_unit) "
                                  f"WHERE _reject IS NULL AND _table = {literal(table)}",
                                  {u: (folder / table, {}) for u, (folder, _) in routes.items()}, name,
                                  route_column="_unit", tally=SIGNALS[1:])
            for u, c in counts.items():
                signals[u] = [a + b for a, b in zip(signals.get(u, [0] * len(c)), c, strict=True)]
        write_routed(self.con, "SELECT _file_id AS file_id, _source_file AS source_file, line_no, _n_lines AS lines, "
                     "_reject AS reason, _excerpt AS excerpt, _unit FROM norm JOIN route_constants USING (_unit) "
                     "WHERE _reject IS NOT NULL",
                     {u: (folder / "rejects", {}) for u, (folder, _) in routes.items()}, name, None,
                     route_column="_unit")
        out: dict[int, tuple[int, int, dict[str, int], list[int]]] = {}
        rows = self.con.execute("SELECT _unit, _reject, sum(_n_lines) FROM norm GROUP BY ALL").fetchall()
        for u, reason, n in rows:
            stored, rejected, reasons, _ = out.get(u, (0, 0, {}, []))
            if reason is None:
                stored += int(n)
            else:
                rejected += int(n)
                reasons[reason] = reasons.get(reason, 0) + int(n)
            out[u] = (stored, rejected, reasons, signals.get(u, [0] * len(SIGNALS)))
        return out

    def write_job_blanks(self, job: FileJob, staging: Path, name: str, reasons: dict[str, int]) -> int:
        """Rejects for a job's blank lines (they count as read), added to ``reasons``; returns how many."""
        blanks = job.blank_lines()
        if blanks:
            self.write_blank_rejects(blanks, staging, name)
            reasons["blank line"] = reasons.get("blank line", 0) + len(blanks)
        return len(blanks)

    def write_blank_rejects(self, blanks: list[int], staging: Path, segment_id: str) -> None:
        """One reject per blank line (they count as read)."""
        self.con.execute("CREATE OR REPLACE TEMP TABLE blanks (line_no BIGINT)")
        self.con.executemany("INSERT INTO blanks VALUES (?)", [(b,) for b in blanks])
        self._copy(
            "SELECT getvariable('sl_file_id') AS file_id, getvariable('sl_source_file') AS source_file, "
            "line_no, 1 AS lines, 'blank line' AS reason, '' AS excerpt FROM blanks",
            staging / "rejects",
            f"{segment_id}-blank",
            False,
        )

    def signal_counts(self, staging: Path) -> list[int]:
        """Stored rows under ``staging``, and how many carry each session signal (see :func:`coverage_of`)."""
        files = [str(f) for t in ("requests", "events") for f in (staging / t).rglob("*.parquet")]
        if not files:
            return [0] * len(SIGNALS)
        row = self.con.execute(
            f"""SELECT count(*), {", ".join(f"count({column})" for column in SIGNALS[1:])}
                FROM read_parquet({literal_list(files)}, union_by_name=true)"""
        ).fetchall()[0]
        return [int(n) for n in row]


# What the coverage counts: rows, then the rows with each column set.
SIGNALS = ("rows", "session_key", "user_key", "latency_ms", "vhost", "error_kind", "host", "app_version")


def coverage_of(counts: list[int], stored: int) -> dict:
    """Share of a file's stored rows that carry each session signal, from its units' summed counts."""
    if not stored or not counts or not counts[0]:
        return {}
    n = dict(zip(SIGNALS, counts, strict=True))
    share = {"session_cookie": "session_key", "user_key": "user_key", "latency": "latency_ms", "vhost": "vhost",
             "host": "host", "app_version": "app_version"}
    return {"rows": n["rows"], **{k: round(n[c] / n["rows"], 4) for k, c in share.items()},
            "session_errors": n["error_kind"]}


def coverage_warnings(coverage: dict, stored: int, parser: Parser | None) -> list[dict]:
    """A warning when a file holds no session signal at all."""
    if not stored or not coverage or parser is None:
        return []
    if coverage["session_cookie"] == 0 and coverage["user_key"] == 0 and coverage["session_errors"] == 0:
        return [IngestWarning(
            "no session cookie, user or session-error rule in any stored row: this file cannot show session problems",
            stored, "log the session cookie (e.g. \"$cookie_NAME\" or %{NAME}C) or pass --session-cookie NAME",
        ).as_dict()]
    return []
