"""What the multi-line parsers (applog, rails) share: whole-record chunks,
syslog prefixes and year-less timestamps.

BSD syslog (RFC 3164) writes ``Jun 16 09:29:41 web1 app[123]: message``:
no year and no zone. The year comes from ``--year`` or else from the
file's modification time; a record that would then lie more than a day
after the file was last written belongs to the previous year (a file
rotated across New Year). Times are read as UTC, like every zone-less
timestamp in sessionlens.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Iterator

from ...sqltext import literal
from ..reader import iter_line_chunks
from .base import FileJob

# Parts: ts, host, tag (program), pid, body. The space before "[pid]" is
# optional because some daemons write "app_p [1957]:".
SYSLOG_RE = (
    r"^([A-Z][a-z]{2} +[0-9]{1,2} [0-9]{2}:[0-9]{2}:[0-9]{2}) (\S+) ([^\s:\[]+) ?(?:\[([0-9]+)\])?: ?(.*)$"
)
SYSLOG_PARTS = ["sts", "shost", "stag", "spid", "body"]

YEAR_WARNING = "year-less timestamps: year taken from the file's modification time"

# A full timestamp inside a syslog message wins over the prefix's: ISO 8601
# (with ',' or '.' decimals) or the access-log form [25/Feb/2019:16:19:48.143].
EMBEDDED_ISO_RE = (r"([0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9]{2}:[0-9]{2}:[0-9]{2}(?:[.,][0-9]+)?"
                   r"(?:Z|[+-][0-9]{2}:?[0-9]{2})?)")
EMBEDDED_CLF_RE = r"([0-9]{2}/[A-Z][a-z]{2}/[0-9]{4}:[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?(?: [+-][0-9]{4})?)"


@dataclass(frozen=True)
class YearContext:
    """How a job completes year-less timestamps.

    Attributes:
        year: the year to assume.
        inferred: True when it came from the file, not from ``--year``.
        latest: with an inferred year, the file's modification time (UTC):
            no record can be later, give or take a day of clock skew.
    """

    year: int
    inferred: bool
    latest: datetime | None


def year_context(job: FileJob) -> YearContext:
    """The year for the job's year-less timestamps (``--year`` first)."""
    try:
        # the named file, not a copy
        mtime = datetime.fromtimestamp(os.stat(job.origin or job.path).st_mtime, timezone.utc)
    except OSError:  # pragma: no cover - the engine has read the file already
        mtime = datetime.now(timezone.utc)
    if job.options.year is not None:
        return YearContext(job.options.year, False, None)
    return YearContext(job.year if job.year is not None else mtime.year, True, mtime)


def yearless_ts_sql(expr: str, ctx: YearContext) -> str:
    """SQL turning ``Jun 16 09:29:41`` into a TIMESTAMPTZ of the context's year.

    With an inferred year, a date more than a day after the file's last
    write is taken from the year before; so is Feb 29 of a non-leap year.
    """
    text = f"regexp_replace({expr}, ' +', ' ', 'g')"

    def parse(year: int) -> str:
        return f"try_strptime({literal(f'{year} ')} || {text}, '%Y %b %d %H:%M:%S')"

    if not ctx.inferred or ctx.latest is None:
        return f"({parse(ctx.year)} AT TIME ZONE 'UTC')"
    limit = ctx.latest.strftime("%Y-%m-%d %H:%M:%S")
    this, before = parse(ctx.year), parse(ctx.year - 1)
    return (
        f"(CASE WHEN {this} IS NULL OR {this} > TIMESTAMP {literal(limit)} + INTERVAL 1 DAY "
        f"THEN {before} ELSE {this} END AT TIME ZONE 'UTC')"
    )


def embedded_ts_sql(text: str) -> str:
    """SQL for the first full timestamp inside a message, or NULL."""
    iso = f"nullif(regexp_extract({text}, {literal(EMBEDDED_ISO_RE)}, 1), '')"
    clf = f"nullif(regexp_extract({text}, {literal(EMBEDDED_CLF_RE)}, 1), '')"
    return f"""coalesce(
      try_cast(replace({iso}, ',', '.') AS TIMESTAMPTZ),
      try_strptime({clf}, '%d/%b/%Y:%H:%M:%S.%g %z'),
      try_strptime({clf}, '%d/%b/%Y:%H:%M:%S %z'),
      try_strptime({clf}, '%d/%b/%Y:%H:%M:%S.%g') AT TIME ZONE 'UTC',
      try_strptime({clf}, '%d/%b/%Y:%H:%M:%S') AT TIME ZONE 'UTC')"""


def warn_yearless(job: FileJob, ctx: YearContext, lines: int) -> None:
    """Tells the user, once per file, that a year was guessed for ``lines`` lines."""
    if lines and ctx.inferred:
        job.warn(YEAR_WARNING, int(lines), "--year")


def record_chunks(job: FileJob) -> Iterator[tuple[int, str]]:
    """The job's line chunks, with a lone last line joined to the chunk before it.

    The reader hands a file's final line, when it lacks a newline, over as a
    chunk of its own; for a multi-line format that would cut the last record
    in two. Memory stays bounded by two chunks.
    """
    held: tuple[int, str] | None = None
    for first, text in iter_line_chunks(job.path, job.start_byte, job.first_line, job.chunk_bytes):
        if held is not None and text.find("\n") >= len(text) - 1 and len(held[1]) + len(text) <= 2 * job.chunk_bytes:
            held = (held[0], held[1] + text)
            continue
        if held is not None:
            yield held
        held = (first, text)
    if held is not None:
        yield held
