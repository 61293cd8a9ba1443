"""Ingest log files into the lake: the run over every input.

The run takes the lake's write lock, expands the inputs (:mod:`.paths`),
chooses the parser the user asked for (or none, to detect per file) and
hands each file to an :class:`~.ingestor.Ingestor`, which stages, publishes
and commits it. Its totals are an :class:`~.summary.IngestSummary`.

The names of the public API live here: ``sessionlens.ingest``,
``sessionlens.preview`` and ``sessionlens.IngestSummary`` are imported from
this module.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import BinaryIO, Iterable

from ..errors import SessionlensError
from ..lake.store import Lake
from .formats import build_parser
from .ingestor import Ingestor
from .options import FieldOptions
from .paths import STDIN_LABEL, expand_inputs, expand_paths
from .preview import preview
from .reader import stage_stdin
from .rules import load_rules
from .summary import FileResult, IngestSummary, ProgressFn

__all__ = ["IngestSummary", "FileResult", "ingest", "expand_paths", "build_parser", "preview", "SessionlensError"]


def ingest(
    lake: Lake | str | Path,
    paths: Iterable[str],
    *,
    fmt: str | None = None,
    nginx_format: str | None = None,
    apache_format: str | None = None,
    json_map: str | None = None,
    rules_file: str | Path | None = None,
    options: FieldOptions | None = None,
    progress: ProgressFn | None = None,
    stdin: BinaryIO | None = None,
    chunk_bytes: int = 32 << 20,
    allow_rejects: bool = False,
    exclude: Iterable[str | Path] = (),
) -> IngestSummary:
    """Ingests files into a lake (created if missing) and returns the summary.

    Args:
        lake: the lake directory, or a :class:`Lake` (its engine is then shared).
        paths: files, directories, globs, or '-' for standard input.
        fmt: a format name from ``sessionlens formats``; default: detect.
        nginx_format / apache_format: a log_format / LogFormat string.
        json_map: ``ts=time,status=code,...`` for JSON lines.
        rules_file: TOML rules added to (or overriding) the defaults.
        options: how fields map to columns (session cookie name, headers...).
        progress: called with (file label, bytes done) after each file.
        stdin: a binary stream to read for '-' (default: sys.stdin).
        chunk_bytes: batch size for the chunked parsers.
        allow_rejects: store a file even when nearly all its lines are
            rejected (by default such a file stores nothing and fails: its
            format is most likely wrong, and a later run can read it).
        exclude: directories whose files a directory input leaves out (the
            lake's own directory always is).

    Raises:
        InputError: a path does not exist or an option is invalid.
        LakeLockedError: another run holds the lake.
    """
    started = time.perf_counter()
    files = expand_inputs(paths, [Path(lake), *map(Path, exclude)])  # never the lake's own files
    parser = build_parser(fmt, nginx_format, apache_format, json_map)
    rules = load_rules(rules_file)
    lake_obj = Lake.of(lake, create=True)
    # The writer's garbage collection removes the staging area, and with it
    # any raw input (stdin copies, unwrapped or ranged copies) a killed run left.
    with lake_obj.writer():
        ingestor = Ingestor(lake_obj, parser, rules, options or FieldOptions(), progress, chunk_bytes, allow_rejects)
        for name, named in files:
            if name == "-":
                folder = lake_obj.staging_dir(f"stdin-{os.getpid()}")
                staged = stage_stdin(folder / "stdin.log", stdin)
                ingestor.ingest_file(staged, STDIN_LABEL, final=True)
                shutil.rmtree(folder, ignore_errors=True)
            else:
                ingestor.ingest_file(Path(name), str(Path(name).resolve()), named)
            if progress:
                progress(name, Path(name).stat().st_size if name != "-" else 0)
        ingestor.con.close()
    summary = ingestor.summary
    summary.seconds = time.perf_counter() - started
    return summary

