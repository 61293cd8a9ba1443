"""What the paths given to ``ingest`` stand for: files, directories, globs and '-' (stdin)."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Iterator

from ..errors import InputError
from ..lake.files import GLOB_CHARS

STDIN_LABEL = "<stdin>"

# Files found in a directory that are documentation, not logs.
NOT_LOGS = {".md", ".rst", ".html", ".htm", ".pdf", ".png", ".jpg", ".gif", ".svg", ".py", ".sh", ".toml", ".yaml",
            ".yml", ".ini", ".cfg", ".parquet", ".lock", ".pid", ".swp"}


def expand_paths(paths: Iterable[str]) -> list[str]:
    """Files, directories (recursively), globs and '-' (stdin), in order."""
    return [name for name, _ in expand_inputs(paths)]


def expand_inputs(paths: Iterable[str], exclude: Iterable[Path] = ()) -> list[tuple[str, bool]]:
    """(file, named) pairs: ``named`` is False for files found in a directory.

    A file found in a directory that no format matches is skipped with a
    note; a file named on its own is an error then. Files found in a
    directory under one of ``exclude`` (a lake, a report folder) are left out.
    """
    skip = [Path(e).resolve() for e in exclude]
    out: list[tuple[str, bool]] = []
    for raw in paths:
        if raw == "-":
            out.append(("-", True))
            continue
        p = Path(raw)
        if p.is_dir():
            found = sorted(str(f) for f in p.rglob("*")
                           if f.is_file() and not any(part.startswith(".") for part in f.relative_to(p).parts)
                           and not any(root == f.resolve() or root in f.resolve().parents for root in skip))
            out.extend((f, False) for f in found)
        elif p.exists():
            out.append((str(p), True))
        elif any(ch in raw for ch in "*?["):
            matches = sorted(m for m in glob.glob(raw, recursive=True) if Path(m).is_file())
            if not matches:
                raise InputError(f"{raw}: the pattern matches no file")
            out.extend((m, True) for m in matches)
        else:
            raise InputError(f"{raw}: no such file or directory")
    return out


def file_year(path: Path) -> int:
    """The year of a file's last modification: the year of its year-less times."""
    return datetime.fromtimestamp(path.stat().st_mtime, timezone.utc).year


@contextlib.contextmanager
def literal_path(path: Path) -> Iterator[Path]:
    """A name under which DuckDB's readers find exactly ``path``, not the files its glob characters match.

    A path without ``*?[{`` is its own name; another gets a symlink of a
    plain name in a private folder, removed afterwards.
    """
    if not any(c in str(path) for c in GLOB_CHARS):
        yield path
        return
    folder = tempfile.mkdtemp(prefix="sessionlens-link-")
    link = Path(folder) / "input"  # callers pass the compression, found by content
    try:
        os.symlink(os.path.abspath(path), link)
        yield link
    finally:
        shutil.rmtree(folder, ignore_errors=True)
