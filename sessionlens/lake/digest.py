"""A lake's content as a few numbers: equal digests mean equal tables, whatever wrote them.

Two ingests of the same logs (here and on Spark, one file at a time or
cut into pieces, today or after a crash and a rerun) must store the same
rows. Files, their names and their row order differ; the rows must not.
:func:`digest` gives, per table, the row count and an order-independent
hash of the rows (the sum of one 64-bit hash per row, over every column),
which is what comparing the sorted tables would show, without sorting.
"""

from __future__ import annotations

from ..sqltext import ident
from .schema import SCHEMAS
from .store import SEGMENTED, Lake


def digest(lake: Lake, tables: tuple[str, ...] = tuple(SEGMENTED)) -> dict[str, tuple[int, int]]:
    """(rows, content hash) per table; ingest time and file names play no part."""
    con = lake.engine().connection
    out = {}
    for table in tables:
        columns = ", ".join(ident(c) for c in SCHEMAS[table])
        rows, total = con.execute(
            f"SELECT count(*), coalesce(sum(hash({columns})::HUGEINT), 0) FROM {ident(table)}").fetchall()[0]
        out[table] = (int(rows), int(total))
    return out
