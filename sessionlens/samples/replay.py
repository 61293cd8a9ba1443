"""Replay an incident's logs in accelerated time into growing files, as servers would write them.

``sessionlens watch`` and ``sessionlens gate`` act on logs while they grow.
Their tests and ``bench/live.py`` need the sample incidents as they were
*written*: per-host files that gain lines minute by minute, one host after
another switching version, and a rotation in the middle. A :class:`Replay`
reads every log file of an incident once, dates each line, and then writes
the lines up to a simulated time with :meth:`Replay.advance`; the clock is
the caller's, so a test moves an hour in a second.

Each source file becomes one growing plain file (``web01.access.log.gz`` ->
``web01.access.log``). A line without a time of its own (a stack frame, the
middle of a Rails request) goes with the line before it. Marker files are
copied whole when the replay starts: deploy tools write a marker when the
change starts, and attribution only ever counts a change before the onset.

:meth:`Replay.rotate` rotates a file the three ways logrotate does: rename
and create, ``copytruncate``, or rename and compress (a new ``.gz``).

Test and benchmark tooling: plain Python over the sample's few hundred
thousand lines, never on an ingest path.
"""

from __future__ import annotations

import gzip
import json
import re
import shutil
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

_CLF = re.compile(r"\[(\d{2}/\w{3}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4})\]")
_ISO = re.compile(r"(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2})(?:\.\d+)?(Z|[+-]\d{2}:?\d{2})?")
_JSON_TIME_KEYS = ("ts", "time", "timestamp", "@timestamp", "EdgeStartTimestamp", "date")
ROTATIONS = ("rename", "copytruncate", "gzip")


def line_time(line: str) -> datetime | None:
    """The time a log line was written at, read the way the sample formats write it; None if it has none."""
    if line.startswith("{"):
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        if isinstance(record, dict):
            for key in _JSON_TIME_KEYS:
                value = record.get(key)
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    # epoch seconds, milliseconds or nanoseconds, told apart by size
                    seconds = value / 1e9 if value > 1e14 else value / 1e3 if value > 1e11 else value
                    return datetime.fromtimestamp(seconds, timezone.utc)
                if isinstance(value, str):
                    found = _iso(value)
                    if found:
                        return found
    m = _CLF.search(line)
    if m:
        return datetime.strptime(m.group(1), "%d/%b/%Y:%H:%M:%S %z").astimezone(timezone.utc)
    return _iso(line)


def _iso(text: str) -> datetime | None:
    m = _ISO.search(text)
    if not m:
        return None
    zone = (m.group(3) or "Z").replace("Z", "+00:00")
    if len(zone) == 5:  # +0000
        zone = zone[:3] + ":" + zone[3:]
    return datetime.fromisoformat(f"{m.group(1)}T{m.group(2)}{zone}").astimezone(timezone.utc)


@dataclass
class _Source:
    """One source file's lines, dated, and how many of them have been written."""

    target: Path
    lines: list[str]
    times: list[datetime]
    written: int = 0


@dataclass
class Replay:
    """The logs of an incident folder (``logs/``, ``markers/``) written out as time passes.

    Args:
        incident: a folder holding ``logs/`` and optionally ``markers/`` (what
            ``sessionlens.samples.generate`` writes).
        out: where the growing files go: ``out/logs/...`` and ``out/markers/``.
    """

    incident: Path
    out: Path
    sources: list[_Source] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.incident, self.out = Path(self.incident), Path(self.out)
        logs = self.incident / "logs"
        for path in sorted(p for p in logs.rglob("*") if p.is_file()):
            opener = gzip.open if path.suffix == ".gz" else open
            with opener(path, "rt", encoding="utf-8", newline="") as fh:
                lines = fh.read().splitlines(keepends=True)
            times: list[datetime] = []
            last = datetime.min.replace(tzinfo=timezone.utc)
            for line in lines:
                last = line_time(line) or last
                times.append(last)
            rel = path.relative_to(logs)
            target = self.out / "logs" / (rel.with_suffix("") if path.suffix == ".gz" else rel)
            self.sources.append(_Source(target, lines, times))
        for source in self.sources:
            source.target.parent.mkdir(parents=True, exist_ok=True)
            source.target.touch()
        markers = self.incident / "markers"
        if markers.is_dir():
            shutil.copytree(markers, self.out / "markers", dirs_exist_ok=True)

    @property
    def logs(self) -> Path:
        """The folder of growing log files."""
        return self.out / "logs"

    @property
    def markers(self) -> Path:
        """The folder of marker files."""
        return self.out / "markers"

    def files(self) -> list[Path]:
        """The growing files, one per source file."""
        return [s.target for s in self.sources]

    def advance(self, until: datetime) -> int:
        """Appends every line written before ``until`` that is not written yet; returns how many lines."""
        total = 0
        for source in self.sources:
            stop = source.written
            while stop < len(source.lines) and source.times[stop] < until:
                stop += 1
            # a request's later lines (no time of their own) go with it
            while stop < len(source.lines) and stop > source.written and source.times[stop] == source.times[stop - 1] \
                    and line_time(source.lines[stop]) is None:
                stop += 1
            if stop > source.written:
                with open(source.target, "a", encoding="utf-8", newline="") as fh:
                    fh.writelines(source.lines[source.written:stop])
                total += stop - source.written
                source.written = stop
        return total

    def lines_written(self) -> int:
        """How many lines all files hold together, rotated parts included."""
        return sum(s.written for s in self.sources)

    def rotate(self, target: Path, how: str = "rename", suffix: str = ".1") -> Path:
        """Rotates one growing file as logrotate would; returns the rotated file's path.

        ``rename``: the file is renamed to ``name.1`` and a new empty file is
        created; ``copytruncate``: copied to ``name.1``, then emptied in
        place; ``gzip``: renamed, then compressed to ``name.1.gz`` (the
        uncompressed rotated file removed), as ``compress`` without
        ``delaycompress`` does.
        """
        if how not in ROTATIONS:
            raise ValueError(f"rotation {how!r}: one of {', '.join(ROTATIONS)}")
        target = Path(target)
        rotated = target.with_name(target.name + suffix)
        if how == "copytruncate":
            shutil.copyfile(target, rotated)
            with open(target, "r+b") as fh:
                fh.truncate(0)
            return rotated
        target.rename(rotated)
        target.touch()
        if how == "gzip":
            packed = rotated.with_name(rotated.name + ".gz")
            with open(rotated, "rb") as src, gzip.open(packed, "wb") as dst:
                shutil.copyfileobj(src, dst)
            rotated.unlink()
            return packed
        return rotated
