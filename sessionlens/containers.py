"""Container log wrappers: found on the first lines, stripped before parsing.

Logs collected from containers carry the runtime's wrapper around each line
the program wrote:

* ``docker compose logs``: ``web-1  | <line>`` (the service name padded to a
  column, possibly coloured with ANSI escapes);
* Kubernetes CRI (containerd, CRI-O): ``<RFC 3339 time> stdout F <line>``
  (``P`` marks a partial line that the runtime split);
* Docker's ``json-file`` driver: ``{"log": "<line>\\n", "stream": "stdout",
  "time": "..."}``.

The wrapper is removed into a private staging file (mode 0600, deleted after
the file is ingested) with one line for each line of the original, so line
numbers, counts and rejects still refer to the file the user named. The
stripping runs per block in C (``re.sub``) or in Polars, not per line in
Python.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from .reader import iter_line_chunks

_ANSI = r"(?:\x1b\[[0-9;]*m)*"
COMPOSE = re.compile(rf"^{_ANSI}[A-Za-z0-9][A-Za-z0-9_.-]*\s*{_ANSI}\|{_ANSI} ?{_ANSI}", re.M)
CRI = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+(?:Z|[+-][0-9]{2}:[0-9]{2}) (?:stdout|stderr) [FP] ", re.M)
DOCKER_JSON = re.compile(r'^\{"log":".*","stream":"(?:stdout|stderr)"', re.M)
_SHARE = 0.6  # share of the first lines that must carry the wrapper


def detect_wrapper(lines: list[str]) -> str | None:
    """'compose', 'cri', 'docker-json' or None, from a file's first lines."""
    if not lines:
        return None
    for name, pattern in (("docker-json", DOCKER_JSON), ("cri", CRI), ("compose", COMPOSE)):
        if sum(1 for line in lines if pattern.match(line)) / len(lines) >= _SHARE:
            return name
    return None


def unwrap(path: Path, kind: str, dest: Path, start_byte: int = 0) -> Path:
    """Writes the file's lines (from ``start_byte``) without the wrapper to ``dest``.

    Lines that do not carry the wrapper are kept as they are, so a stray
    line is parsed (and, if need be, rejected) like any other.
    """
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as out:
        for _, text in iter_line_chunks(path, start_byte):
            out.write(_strip(text, kind))
    return dest


def _strip(text: str, kind: str) -> str:
    if kind == "compose":
        return COMPOSE.sub("", text)
    if kind == "cri":
        return CRI.sub("", text)
    return _unwrap_json(text)


def _unwrap_json(text: str) -> str:
    """The ``log`` value of each json-file record, one output line per input line."""
    import polars as pl

    lines = pl.Series("line", text.rstrip("\n").split("\n"))
    is_record = lines.str.starts_with('{"log":')
    inner = lines.str.json_path_match("$.log").str.strip_chars_end("\r\n")
    # A value holding a newline mid-text would add a line: keep it on one.
    inner = inner.str.replace_all("\n", " ", literal=True)
    out = pl.select(pl.when(is_record & inner.is_not_null()).then(inner).otherwise(lines)).to_series()
    return "\n".join(out.to_list()) + "\n"
