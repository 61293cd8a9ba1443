"""`sessionlens watch`: follow growing logs, ingest them, and alert once when session errors spike.

One *cycle* (:meth:`Watcher.cycle`) does what a person tailing the logs
would, through the normal machinery:

1. ingest what is new in the watched paths with :func:`sessionlens.ingestion.engine.ingest`:
   a grown file adds its tail, a rotated one (renamed, copied and truncated,
   compressed) is known by its content, so no line is lost or stored twice,
   and a killed cycle leaves nothing half-committed;
   then the small segments that cycles add to a file's tail are merged
   (:func:`sessionlens.lake.compact.merge_tails`), so queries stay quick;
2. analyse the recent minutes (``window``, default 1 hour, ending at the
   newest request) against the lake's history with
   :func:`sessionlens.analysis.pipeline.analyze`;
3. alert: a spike still open at the end of the data that no earlier alert
   covers is an *onset* (alerted once, with its top suspect and evidence);
   an alerted spike no longer open for ``settle`` is *resolved* (alerted once).

Time is the data's: "now" is the newest request, so a replay in accelerated
time behaves as the real thing, and the *lag* (wall clock minus the newest
request, at commit) says how far behind the logs are. What was alerted is kept in
``<lake>/_watch.json``, written after the alerts were sent: a restart
neither forgets an open incident nor alerts it again (delivery is at least
once: a crash between sending and recording repeats one alert, which
PagerDuty's dedup key absorbs).

A file named on the command line is followed across rename-and-create
rotation: its rotated siblings (``access.log.1``, ``access.log-20240304.gz``)
changed since the previous cycle are read too, so the lines written between
the last cycle and the rotation are not lost.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from ..analysis.pipeline import Analysis, analyze
from ..analysis.result import SpikeReport
from ..changes.model import iso
from ..errors import InputError
from ..ingestion.engine import IngestSummary, ingest
from ..lake.compact import merge_tails
from ..lake.lock import FileLock, LakeLockedError
from ..lake.span import newest
from ..lake.store import Lake
from .alerts import Alert, Channels, onset_alert, resolved_alert

STATE = "_watch.json"
LOCK = "_watch.lock"
ROTATED_SLACK = timedelta(seconds=5)  # a sibling changed this long before the previous cycle still counts


@dataclass
class WatchSettings:
    """How ``watch`` looks: the window analysed each cycle and how long a spike must be over to be resolved."""

    window: timedelta = timedelta(hours=1)
    settle: timedelta = timedelta(minutes=5)  # not open for this long (data time): resolved
    ingest_options: dict[str, Any] = field(default_factory=dict)  # passed to ingest (fmt, options, ...)
    tz: str | None = None


@dataclass
class Cycle:
    """What one cycle did and saw."""

    started: datetime  # wall clock
    ingested: datetime  # wall clock when this cycle's lines were committed (or found nothing new)
    summary: IngestSummary | None
    data_end: datetime | None  # the newest request (+1 s): the data's "now"
    analysis: Analysis | None
    alerts: list[Alert] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # a lake busy with another writer, a path gone

    @property
    def lag_seconds(self) -> float | None:
        """How old the newest stored request was when this cycle committed: how far behind the logs the lake is.

        Between cycles add the time waited (up to ``--interval``).
        """
        return None if self.data_end is None else (self.ingested - self.data_end).total_seconds() + 1

    @property
    def open_spikes(self) -> list[SpikeReport]:
        return [] if self.analysis is None or self.data_end is None else ongoing(self.analysis, self.data_end)


def ongoing(analysis: Analysis, end: datetime) -> list[SpikeReport]:
    """The spikes still open at ``end``: their last bucket reaches the end of the data."""
    reach = timedelta(seconds=2 * analysis.bucket_seconds)
    return [r for r in analysis.spikes if r.spike.end >= end - reach]


def data_end(lake: Lake) -> datetime | None:
    """The newest request or event of the bulk of the data, plus a second; None for an empty lake."""
    last = newest(lake.engine())
    return last + timedelta(seconds=1) if last else None


class Watcher:
    """Follows ``paths`` into ``lake``; call :meth:`cycle` every few seconds (or once, for cron)."""

    def __init__(self, lake: str | Path | Lake, paths: list[str], settings: WatchSettings | None = None,
                 channels: Channels | None = None):
        if not paths:
            raise InputError("watch: name at least one log file or folder to follow")
        for raw in paths:
            if not Path(raw).exists() and not Path(raw).parent.is_dir() and not any(c in raw for c in "*?["):
                raise InputError(f"{raw}: no such file or directory, nor a folder it could appear in")
        self.lake = Lake.of(lake, create=True)
        self.paths = [str(p) for p in paths]
        self.settings = settings or WatchSettings()
        self.channels = channels or Channels()
        self.state_path = self.lake.root / STATE
        self.state = self._read_state()
        self._lock = FileLock(self.lake.root / LOCK, f"{self.lake.root}: another `sessionlens watch` follows it")

    def __enter__(self) -> Watcher:
        self._lock.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self._lock.release()

    # --- one cycle -----------------------------------------------------
    def cycle(self, until: datetime | None = None) -> Cycle:
        """Ingests what is new, analyses the recent window, sends the alerts due; see the module docstring."""
        started = datetime.now(timezone.utc)
        notes: list[str] = []
        inputs = self._inputs(notes)
        summary = None
        ingested_all = True
        if inputs:
            try:
                summary = ingest(self.lake, inputs, **self.settings.ingest_options)
            except LakeLockedError as exc:
                ingested_all = False
                notes.append(f"ingest skipped this cycle: {exc}")  # nightly or an ingest holds the lake
            else:
                try:
                    merge_tails(self.lake)  # a cycle's small tail segments, merged: queries stay quick
                except LakeLockedError:
                    pass  # another writer came in between: the next cycle merges
        ingested = datetime.now(timezone.utc)
        end = until or data_end(self.lake)
        analysis = None
        if end is not None:
            analysis = analyze(self.lake, end - self.settings.window, end, engine=self.lake.engine(),
                               tz=self.settings.tz)
        done = Cycle(started, ingested, summary, end, analysis, notes=notes)
        if analysis is not None and end is not None:
            done.alerts = self._alerts(analysis, end)
        if ingested_all:  # rotated siblings changed since a skipped cycle must still be read
            self.state["last_cycle"] = iso(started)
        self._write_state()
        return done

    def _inputs(self, notes: list[str]) -> list[str]:
        """The paths to ingest this cycle: those that exist, and the rotated siblings of named files."""
        previous = self.state.get("last_cycle")
        since = datetime.fromisoformat(previous.replace("Z", "+00:00")) - ROTATED_SLACK if previous else None
        out: list[str] = []
        for raw in self.paths:
            path = Path(raw)
            if path.is_dir():
                out.append(raw)
                continue
            if path.exists():
                out.append(raw)
            elif any(c in raw for c in "*?["):
                out.extend(sorted(m for m in glob.glob(raw, recursive=True) if Path(m).is_file()))
                continue  # a pattern names what exists: its rotated files match it or not
            else:
                notes.append(f"{raw}: not there this cycle (being rotated?)")
            if since is not None and path.parent.is_dir():
                out.extend(str(s) for s in rotated_siblings(path, since))
        return out

    # --- alerts --------------------------------------------------------
    def _alerts(self, analysis: Analysis, end: datetime) -> list[Alert]:
        incidents: dict[str, dict] = self.state.setdefault("incidents", {})
        lake = str(self.lake.root)
        sent: list[Alert] = []
        slack = timedelta(seconds=2 * analysis.bucket_seconds)
        seen: set[str] = set()
        for report in ongoing(analysis, end):
            s = report.spike
            key = next((k for k, inc in incidents.items() if inc["status"] == "open"
                        and _when(inc["onset"]) - slack <= s.end and s.onset <= _when(inc["seen"]) + slack), None)
            if key is None:
                key = iso(s.onset)
                alert = onset_alert(key, report, lake, self.settings.tz)
                self._send(alert)
                sent.append(alert)
                incidents[key] = {"onset": iso(s.onset), "status": "open", "alerted": iso(end),
                                  "summary": alert.summary}
            incidents[key]["seen"] = iso(end)
            seen.add(key)
        for key, inc in incidents.items():
            if inc["status"] != "open" or key in seen:
                continue
            last = _when(inc.get("seen", inc["alerted"]))
            if end - last < self.settings.settle:
                continue  # a quiet bucket or two is not the end of it
            onset = _when(inc["onset"])
            ended = next((r.spike.end for r in analysis.spikes if r.spike.end >= onset - slack
                          and r.spike.onset <= last + slack), None)
            why = "has ended" if ended is not None else "is no longer detected (later data did not confirm it)"
            alert = resolved_alert(key, onset, ended or last, why, lake)
            self._send(alert)
            sent.append(alert)
            inc.update(status="resolved", resolved=iso(end))
        return sent

    def _send(self, alert: Alert) -> None:
        self.channels.deliver(alert, dedup=self._dedup(alert.key))

    def _dedup(self, key: str) -> str:
        """PagerDuty's dedup key: this lake's incident, stable across restarts."""
        lake = hashlib.sha256(str(self.lake.root.resolve()).encode()).hexdigest()[:12]
        return f"sessionlens-{lake}-{key}"

    # --- state ---------------------------------------------------------
    def _read_state(self) -> dict:
        try:
            state = json.loads(self.state_path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise InputError(f"{self.state_path}: unreadable watch state ({exc}); remove it to start afresh") from None
        return state if isinstance(state, dict) else {}

    def _write_state(self) -> None:
        tmp = self.state_path.with_name(f".{STATE}.tmp")
        tmp.write_text(json.dumps(self.state, indent=1, sort_keys=True))
        os.replace(tmp, self.state_path)


def rotated_siblings(path: Path, since: datetime) -> list[Path]:
    """Files beside ``path`` named after it (``name.1``, ``name.1.gz``, ``name-20240304``) changed since ``since``."""
    out = []
    for sibling in sorted(path.parent.glob(f"{glob.escape(path.name)}[.-]*")):
        try:
            changed = datetime.fromtimestamp(sibling.stat().st_mtime, timezone.utc)
        except OSError:
            continue  # rotated away between the listing and the look
        if sibling.is_file() and changed >= since:
            out.append(sibling)
    return out


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
