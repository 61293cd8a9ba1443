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

import contextlib
import os
import shutil
import time
from pathlib import Path
from typing import Any, BinaryIO, Iterable, Iterator, Mapping

from ..errors import InputError, SessionlensError
from ..lake.engines import ENGINES, spark_module
from ..lake.store import Lake
from .distributed import DEFAULT_SPLIT_BYTES, ingest_distributed
from .formats import build_parser
from .formats.base import Parser
from .ingestor import Ingestor
from .options import FieldOptions
from .paths import STDIN_LABEL, expand_inputs, expand_paths
from .preview import preview
from .reader import stage_stdin
from .rules import RuleSet, load_rules
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
    engine: str = "duckdb",
    spark_master: str | None = None,
    spark_conf: Mapping[str, str] | None = None,
    spark_session: Any = None,
    split_bytes: int = DEFAULT_SPLIT_BYTES,
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
        engine: ``duckdb`` parses here, committing file by file; ``spark``
            parses on Spark executors (:mod:`.distributed`) and commits once.
        spark_master / spark_conf / spark_session: the Spark session to run
            on (as for analysis: :func:`sessionlens.lake.engines.make_engine`).
        split_bytes: with Spark, the size of the pieces a large file is cut into.

    Raises:
        InputError: a path does not exist or an option is invalid.
        LakeLockedError: another run holds the lake.
        EngineError: a Spark task kept failing (nothing was committed).
    """
    started = time.perf_counter()
    if engine not in ENGINES:
        raise InputError(f"--engine {engine}: unknown engine (engines: {', '.join(ENGINES)})")
    files = expand_inputs(paths, [Path(lake), *map(Path, exclude)])  # never the lake's own files
    parser = build_parser(fmt, nginx_format, apache_format, json_map)
    rules = load_rules(rules_file)
    opts = options or FieldOptions()
    lake_obj = Lake.of(lake, create=True)
    # The writer's garbage collection removes the staging area, and with it
    # any raw input (stdin copies, unwrapped or ranged copies) a killed run left.
    with lake_obj.writer():
        if engine == "spark":
            summary = _ingest_on_spark(lake_obj, files, parser, rules, opts, progress, stdin, chunk_bytes,
                                       allow_rejects, spark_master, spark_conf, spark_session, split_bytes)
        else:
            summary = _ingest_here(lake_obj, files, parser, rules, opts, progress, stdin, chunk_bytes,
                                   allow_rejects)
    summary.seconds = time.perf_counter() - started
    return summary


def _ingest_here(lake: Lake, files: list[tuple[str, bool]], parser: Parser | None, rules: RuleSet,
                 options: FieldOptions, progress: ProgressFn | None, stdin: BinaryIO | None, chunk_bytes: int,
                 allow_rejects: bool) -> IngestSummary:
    ingestor = Ingestor(lake, parser, rules, options, progress, chunk_bytes, allow_rejects)
    try:
        for name, named in files:
            if name == "-":
                with _stdin_copy(lake, stdin) as staged:
                    assert staged is not None
                    ingestor.ingest_file(staged, STDIN_LABEL, final=True)
            else:
                ingestor.ingest_file(Path(name), str(Path(name).resolve()), named)
            if progress:
                progress(name, Path(name).stat().st_size if name != "-" else 0)
        ingestor.finish()
    finally:
        ingestor.close()
    return ingestor.summary


def _ingest_on_spark(lake: Lake, files: list[tuple[str, bool]], parser: Parser | None, rules: RuleSet,
                     options: FieldOptions, progress: ProgressFn | None, stdin: BinaryIO | None, chunk_bytes: int,
                     allow_rejects: bool, master: str | None, conf: Mapping[str, str] | None, session: Any,
                     split_bytes: int) -> IngestSummary:
    spark = spark_module("--engine spark")
    session = session or spark.create_session(master, conf)
    threads = int(session.sparkContext.getConf().get("spark.task.cpus", "1"))  # the cores Spark gives a task

    def run(fn, units, on_progress):
        return spark.run_tasks(session, fn, units, on_progress, "sessionlens ingest")

    # Standard input is copied to the lake's file system, which every executor reaches.
    with _stdin_copy(lake, stdin, any(name == "-" for name, _ in files)) as staged:
        inputs = [(staged, STDIN_LABEL, True, True) if name == "-" and staged else
                  (Path(name), str(Path(name).resolve()), named, False) for name, named in files]
        return ingest_distributed(lake, inputs, parser, rules, options, run, progress=progress,
                                  chunk_bytes=chunk_bytes, allow_rejects=allow_rejects, split_bytes=split_bytes,
                                  threads=threads)


@contextlib.contextmanager
def _stdin_copy(lake: Lake, stdin: BinaryIO | None, wanted: bool = True) -> Iterator[Path | None]:
    """Standard input copied to the lake's staging area (to hash and re-read it); removed afterwards.

    Raw input may hold cookies and addresses: the copy never outlives the block.
    """
    if not wanted:
        yield None
        return
    folder = lake.staging_dir(f"stdin-{os.getpid()}")
    try:
        yield stage_stdin(folder / "stdin.log", stdin)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
