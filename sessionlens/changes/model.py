"""A change: what was changed, when, and where; the record every part of the package shares.

Written changes (marker files, ``changes add``) and inferred ones (read from
the logs) are both :class:`Change`. Times are aware UTC datetimes; in text
they are written as :func:`iso` gives them.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone

from .validate import parse_time as check_time


@dataclass
class Change:
    """One change. ``at``/``end`` are aware UTC datetimes; ``scope`` is open."""

    id: str
    at: datetime
    kind: str = "other"
    label: str = ""
    end: datetime | None = None
    scope: dict = field(default_factory=dict)
    detail: str = ""
    origin: str = "manual"
    linked_to: str | None = None  # for an inferred change matching a written one

    def as_row(self) -> dict:
        """The change as a row of the lake's ``changes`` table (scope as JSON text)."""
        row = asdict(self)
        row["scope"] = json.dumps(self.scope, sort_keys=True)
        return row

    def as_json(self) -> dict:
        """The change as JSON output shows it (times as :func:`iso` text)."""
        d = asdict(self)
        d["at"] = iso(self.at)
        d["end"] = iso(self.end) if self.end else None
        return d


def iso(t: datetime) -> str:
    """A time as UTC RFC 3339 text to the second: ``2023-09-19T16:09:00Z``."""
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: object) -> datetime:
    """RFC 3339 text, or epoch seconds / milliseconds / nanoseconds, within 1990 .. now + 1 day.

    Raises ValueError (a RecordError) for anything else, never an overflow.
    """
    return check_time(value)
