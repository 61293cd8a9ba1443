"""Container log wrappers: found on the first lines, stripped before parsing.

Logs collected from containers carry the runtime's wrapper around each line
the program wrote:

* ``docker compose logs``: ``web-1  | <line>`` (the service name padded to a
  column, possibly coloured with ANSI escapes);
* Kubernetes CRI (containerd, CRI-O): ``<RFC 3339 time> stdout F <line>``
  (``P`` marks a partial line that the runtime split);
* Docker's ``json-file`` driver: ``{"log": "<line>\\n", "stream": "stdout",
  "time": "..."}`` (a ``log`` without its final newline is a part of a long
  line that the driver split).

The wrapper is removed into a private staging file (mode 0600, deleted after
the file is ingested) with one line for each line of the original, so line
numbers, counts and rejects still refer to the file the user named. A line
the runtime split into parts is joined again: the whole line stands on the
line of its first part and the lines of the other parts are left blank (they
count as blank lines). The stripping runs per block in C (``re.sub``) or in
Polars, not per line in Python; only a block holding parts is walked line by
line.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import polars as pl

from .reader import iter_line_chunks

_ANSI = r"(?:\x1b\[[0-9;]*m)*"
# The colour codes may wrap the name alone, or the name and its padding.
COMPOSE = re.compile(rf"^{_ANSI}[A-Za-z0-9][A-Za-z0-9_.-]*(?:[ \t]|\x1b\[[0-9;]*m)*\|{_ANSI} ?{_ANSI}", re.M)
_CRI_TIME = r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+(?:Z|[+-][0-9]{2}:[0-9]{2})"
CRI = re.compile(rf"^{_CRI_TIME} (?:stdout|stderr) [FP] ", re.M)
_CRI_PARTIAL = re.compile(rf"^{_CRI_TIME} (?:stdout|stderr) P ", re.M)
_CRI_LINE = re.compile(rf"{_CRI_TIME} (stdout|stderr) ([FP]) (.*)", re.S)
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
    parts: dict[str, list[str]] = {}  # stream -> the parts of a split line not yet finished
    with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as out:
        for _, text in iter_line_chunks(path, start_byte):
            out.write(_strip(text, kind, parts))
        # The file ends within a split line: what there is of it is the line.
        for pieces in parts.values():
            out.write(_joined(pieces))
    return dest


def _joined(pieces: list[str]) -> str:
    """A line split into parts: whole on the first part's line, then one blank line per other part."""
    return "".join(pieces).replace("\n", " ").rstrip("\r") + "\n" * len(pieces)


def _strip(text: str, kind: str, parts: dict[str, list[str]] | None = None) -> str:
    parts = {} if parts is None else parts
    if kind == "compose":
        return COMPOSE.sub("", text)
    if kind == "cri":
        if not parts and not _CRI_PARTIAL.search(text):
            return CRI.sub("", text)
        return _join_parts(text, parts, _cri_part)
    return _unwrap_json(text, parts)


def _cri_part(line: str) -> tuple[str, str, bool] | None:
    """(stream, text, is a partial) of a CRI record; None for another line."""
    m = _CRI_LINE.fullmatch(line)
    return (m.group(1), m.group(3), m.group(2) == "P") if m else None


def _json_part(line: str) -> tuple[str, str, bool] | None:
    """(stream, text, is a partial) of a json-file record; None for another line."""
    try:
        record = json.loads(line)
        text = record["log"]
    except (ValueError, KeyError, TypeError):
        return None
    if not isinstance(text, str) or not isinstance(record, dict):
        return None
    return str(record.get("stream", "")), text.rstrip("\n").rstrip("\r"), not text.endswith("\n")


def _join_parts(text: str, parts: dict[str, list[str]], part_of) -> str:
    """Unwraps a block line by line, joining the parts of split lines (see the module's doc)."""
    out = []
    for line in text.rstrip("\n").split("\n"):
        part = part_of(line)
        if part is None:
            out.append(line + "\n")
            continue
        stream, body, partial = part
        if partial:
            parts.setdefault(stream, []).append(body)
        elif stream in parts:
            out.append(_joined(parts.pop(stream) + [body]))
        else:
            out.append(body.replace("\n", " ") + "\n")
    return "".join(out)


def _unwrap_json(text: str, parts: dict[str, list[str]] | None = None) -> str:
    """The ``log`` value of each json-file record, one output line per input line."""
    parts = {} if parts is None else parts
    lines = pl.Series("line", text.rstrip("\n").split("\n"))
    is_record = lines.str.starts_with('{"log":')
    raw = lines.str.json_path_match("$.log")
    if parts or (is_record & raw.is_not_null() & ~raw.str.ends_with("\n")).any():
        return _join_parts(text, parts, _json_part)  # a long line split in parts
    inner = raw.str.strip_chars_end("\r\n")
    # A value holding a newline mid-text would add a line: keep it on one.
    inner = inner.str.replace_all("\n", " ", literal=True)
    out = pl.select(pl.when(is_record & inner.is_not_null()).then(inner).otherwise(lines)).to_series()
    return out.str.join("\n").item() + "\n"  # joined in Polars: no Python string per line
