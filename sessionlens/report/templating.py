"""The Jinja2 environment every HTML page is rendered with (autoescaped)."""

from __future__ import annotations

from functools import lru_cache

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape


@lru_cache(maxsize=None)
def environment() -> Environment:
    """Templates under ``sessionlens/report/templates``; every value is HTML-escaped unless marked safe."""
    return Environment(loader=PackageLoader("sessionlens.report", "templates"),
                       autoescape=select_autoescape(("html", "j2")), undefined=StrictUndefined,
                       trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)


def render(template: str, **context) -> str:
    """Renders one template by file name with the given values."""
    return environment().get_template(template).render(**context)
