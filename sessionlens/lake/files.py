"""The lake's files on disk: pending names, second names, durable renames, cleanup.

A published file waits under its *pending* name (``_part-*.parquet.tmp``)
until the manifest listing it is committed, then gets its final name as a
hard link (see :mod:`sessionlens.lake.store` for the whole protocol).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from pathlib import Path
from typing import Collection, Iterable

# DuckDB (and Spark) read a listed file path as a glob pattern when it holds one of these:
# `a[1].log` would read `a1.log`.
GLOB_CHARS = "*?[{"

PENDING_PREFIX = "_"  # pyarrow datasets (and Spark) skip names starting with _ or .
PENDING_SUFFIX = ".tmp"  # DuckDB's and Polars' *.parquet globs do not match it (they do match _ and . names)
LINK_TMP = re.compile(r"\.parquet\.\d+\.(?:link|copy)$")  # what link() leaves if it dies half-way


def pending_name(rel: str | Path) -> Path:
    """Where a file waits between publish and commit: ``d/part-x.parquet`` -> ``d/_part-x.parquet.tmp``."""
    rel = Path(rel)
    return rel.with_name(PENDING_PREFIX + rel.name + PENDING_SUFFIX)


def final_name(rel: str | Path) -> Path | None:
    """The final name of a pending file (inverse of :func:`pending_name`); None for other names."""
    rel = Path(rel)
    name = rel.name
    if name.startswith(PENDING_PREFIX) and name.endswith(".parquet" + PENDING_SUFFIX):
        return rel.with_name(name[len(PENDING_PREFIX):-len(PENDING_SUFFIX)])
    return None


def link(src: Path, dest: Path) -> None:
    """Gives ``src`` a second name ``dest`` (atomically replacing a stale ``dest``)."""
    try:
        os.link(src, dest)
    except FileExistsError:
        tmp = dest.with_name(dest.name + f".{os.getpid()}.link")
        os.link(src, tmp)
        os.replace(tmp, dest)
    except OSError:  # a file system without hard links: a copy, renamed into place
        tmp = dest.with_name(dest.name + f".{os.getpid()}.copy")
        shutil.copyfile(src, tmp)
        os.replace(tmp, dest)


def fsync_dir(path: Path) -> None:
    """Makes a folder's renames durable (a no-op where folders cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_uncommitted(root: Path, tables: Iterable[str], listed: Collection[str]) -> int:
    """Removes a crashed writer's files under the tables' folders; returns how many were uncommitted.

    Pending files the manifest lists (committed, then the writer crashed
    before naming them) get their final names; other pending files, parquet
    files not listed and half-made links are removed, and so are the
    partition folders this empties.
    """
    removed = 0
    for table in tables:
        if not (root / table).exists():
            continue
        for path in sorted((root / table).rglob("*")):
            if not path.is_file():
                continue
            rel = path.relative_to(root)
            final = final_name(rel)
            if final is not None:  # a pending name
                if str(final) in listed:
                    if not (root / final).exists():
                        link(path, root / final)  # committed, then crashed: finish the publish
                        fsync_dir(path.parent)
                else:
                    removed += 1
                path.unlink()
            elif (path.suffix == ".parquet" and str(rel) not in listed) or LINK_TMP.search(path.name):
                path.unlink()
                removed += 1
            else:
                continue
            with contextlib.suppress(OSError):
                if path.parent != root / table:
                    path.parent.rmdir()  # only if empty: a partition of uncommitted files
    return removed
