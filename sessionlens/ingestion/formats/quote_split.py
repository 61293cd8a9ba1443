"""The access-log fast path's view of a line: the pieces between its quotes.

nginx writes a ``"`` inside a value as ``\\x22`` and Apache as ``\\"``, so in
a template such as ``$remote_addr - [$time_local] "$request" $status ...``
every line holds the template's quotes and no others (Apache's escaped ones
aside). Split at ``"`` with no quoting rules at all, a line gives a fixed
number of *parts*: the quoted values, and between them *stretches* of
space-separated unquoted fields (`` 200 512 ``).

DuckDB's CSV reader does that split in parallel (``delim='"'``, ``quote=''``)
and, having no quotes to track, decides every line alone: a truncated line
or one with a stray quote has the wrong number of parts and is rejected by
itself, never taking its neighbours with it. The SQL here maps parts to the
template's columns and says whether a line splits exactly as the template
does; the lines that do not are parsed again by the template's regex.

The same SQL runs over parts made by ``string_split(line, '"')`` (the pass
that finds odd lines by number), so both agree on which lines are odd.
"""

from __future__ import annotations

from dataclasses import dataclass

from ...sqltext import literal
from .template import Template, column_value_sql


@dataclass(frozen=True)
class QuoteSplit:
    """How a template's CSV columns come out of a line split at its quotes.

    Attributes:
        parts: how many pieces a line splits into at ``"``.
        tokens: per part, the number of space-separated tokens its stretch
            holds (None for a quoted part).
        columns: per CSV column of the template, (part, token) where token
            is None for a quoted column.
    """

    parts: int
    tokens: tuple[int | None, ...]
    columns: tuple[tuple[int, int | None], ...]

    def part_names(self) -> list[str]:
        return [f"p{i}" for i in range(self.parts)]

    def tokens_select(self) -> str:
        """SELECT items adding each stretch's tokens (``s<i>``) to a relation with ``p<i>``."""
        return ", ".join(f"string_split(coalesce(p{i}, ''), ' ') AS s{i}"
                         for i, n in enumerate(self.tokens) if n is not None)

    def valid_sql(self) -> str:
        """True when the line splits as the template does (over ``p<i>`` and ``s<i>``)."""
        checks = []
        for i, n in enumerate(self.tokens):
            if n is None:
                # Apache writes a quote inside a value as \": the value then
                # seems to end at the backslash. Such lines go to the regex.
                checks.append(f"NOT ends_with(coalesce(p{i}, ''), '\\')")
                continue
            checks.append(f"len(s{i}) = {n}")
            if i > 0:  # the space after the quoted value before
                checks.append(f"s{i}[1] = ''")
            if i < self.parts - 1:  # the space before the next quoted value
                checks.append(f"s{i}[{n}] = ''")
        return " AND ".join(checks) or "true"

    def column_sql(self) -> list[str]:
        """SQL for each of the template's CSV columns' text."""
        # An empty quoted value is NULL (the reader's empty field), as the regex path gives it.
        return [f"p{part}" if token is None else f"s{part}[{token}]" for part, token in self.columns]

    def values_sql(self, template: Template) -> dict[str, str]:
        """SQL per template variable (as :func:`column_value_sql` gives for the CSV columns)."""
        return column_value_sql(template, self.column_sql())

    def parts_from_line(self, line: str) -> str:
        """SELECT items giving ``p<i>`` from a column of whole lines, as the CSV reader splits them.

        The reader takes empty fields after the last expected one as absent,
        and an empty field as NULL; so do these.
        """
        parts = f"string_split({line}, '\"')"
        extra = f"list_filter({parts}[{self.parts + 1}:], lambda x: x <> '')"
        items = [f"CASE WHEN len({parts}) >= {self.parts} AND len({extra}) = 0 THEN true ELSE false END AS split_ok"]
        items += [f"nullif({parts}[{i + 1}], '') AS p{i}" for i in range(self.parts)]
        return ", ".join(items)


def quote_split(template: Template) -> QuoteSplit | None:
    """The split of a fast-path template, or None when its quotes do not fill whole columns."""
    if not template.fast_path:
        return None
    # Parts alternate: a stretch of unquoted columns, a quoted column, a stretch ...
    stretches: list[list[int]] = [[]]
    quoted: list[int] = []
    for i, col in enumerate(template.columns):
        if col and col[0] == '"':
            quoted.append(i)
            stretches.append([])
        else:
            stretches[-1].append(i)
    parts = 2 * len(quoted) + 1
    tokens: list[int | None] = []
    where: dict[int, tuple[int, int | None]] = {}
    for j in range(parts):
        if j % 2:
            tokens.append(None)
            where[quoted[j // 2]] = (j, None)
            continue
        cols = stretches[j // 2]
        lead = 1 if j > 0 else 0  # the space after the quoted value before
        trail = 1 if j < parts - 1 else 0  # the space before the next one ("a" "b": one space, two tokens)
        for k, c in enumerate(cols):
            where[c] = (j, lead + k + 1)
        tokens.append(max(lead + len(cols) + trail, 1))
    return QuoteSplit(parts, tuple(tokens), tuple(where[i] for i in range(len(template.columns))))


def csv_options_sql(split: QuoteSplit) -> str:
    """read_csv options that split each line at its quotes into the parts, nothing else."""
    columns = "{" + ", ".join(f"{literal(n)}: 'VARCHAR'" for n in split.part_names()) + "}"
    return ("delim='\"', quote='', escape='', header=false, auto_detect=false, strict_mode=true, "
            f"store_rejects=true, max_line_size=4194304, new_line='\\n', columns={columns}")
