"""Reports: one self-contained HTML file, Markdown with PNG charts, or the analysis JSON."""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..analysis.pipeline import analyze
from ..analysis.result import Analysis
from ..errors import InputError
from ..lake.engine import Engine
from ..lake.store import Lake
from ..outputs import writable_dir
from .html import render_html
from .markdown import render_markdown

FORMATS = ("html", "md", "json")


def prepare_out(out: str | Path, fmt: str | None = None) -> tuple[Path, str]:
    """(path, format) of a report to write, checked before any work: the format known, the folder
    there (created if missing) and writable, the path not a folder.

    Raises:
        InputError: with what is wrong, in one line.
    """
    out = Path(out)
    fmt = fmt or {".html": "html", ".htm": "html", ".md": "md", ".json": "json"}.get(out.suffix.lower())
    if fmt not in FORMATS:
        raise InputError(f"--type must be one of {', '.join(FORMATS)} (or give --out a .html, .md or .json name)")
    if out.is_dir():
        raise InputError(f"--out {out}: is a folder; give a file name")
    writable_dir(out.parent, "--out")
    if out.exists() and not os.access(out, os.W_OK):
        raise InputError(f"--out {out}: not writable")
    return out, fmt


def write_report(lake_dir: str | Path | Lake, out: str | Path, fmt: str | None = None, since: str | None = None,
                 until: str | None = None, analysis: Analysis | None = None, engine: Engine | None = None) -> Path:
    """Analyses a lake (unless given an analysis) and writes the report; returns its path.

    The format comes from ``fmt`` or the file's suffix (.html, .md, .json). ``engine``: the
    engine over ``lake_dir`` the charts query (default: one opened here, for the whole report).
    """
    path, fmt = prepare_out(out, fmt)
    engine = engine or Lake.of(lake_dir).engine()  # one connection for the analysis and the charts
    analysis = analysis or analyze(lake_dir, since, until, engine=engine)
    if fmt == "json":
        path.write_text(json.dumps(analysis.to_json(), indent=1) + "\n")
        return path
    if fmt == "html":
        path.write_text(render_html(engine, analysis))
    else:
        path.write_text(render_markdown(engine, analysis, path))
    return path
