"""The Jinja2 environment every HTML page is rendered with (autoescaped, undefined names an error)."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from ..changes.model import iso


def thousands(n: int) -> str:
    """A count as the reports write it: ``12,345``."""
    return f"{n:,}"


def iso_text(t: datetime | str | None) -> str:
    """A time as the JSON writes it (``2023-09-19T16:09:00Z``); text already in that form is kept."""
    if t is None:
        return ""
    return t if isinstance(t, str) else iso(t)


@lru_cache(maxsize=None)
def environment() -> Environment:
    """Templates under ``sessionlens/report/templates``; every value is HTML-escaped unless marked safe."""
    env = Environment(loader=PackageLoader("sessionlens.report", "templates"),
                      autoescape=select_autoescape(("html", "j2")), undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters["thousands"] = thousands
    env.filters["iso"] = iso_text
    return env


def render(template: str, **context: Any) -> str:
    """Renders one template by file name with the given values."""
    return environment().get_template(template).render(**context)
