# Longer than 300 lines: five marker formats, each a short mapping onto Change, share one record loop
# and its format detection; apart they would each need that loop.
"""Reading change-marker files: which format a file is, and its records as changes.

Formats: sessionlens JSON lines and CSV, Grafana annotations (HTTP API
export), Honeycomb markers, Cloudflare audit logs (v1 Logpush lines and the
v2 API response). A file is read record by record and every record checked
on its own (the rules: :mod:`sessionlens.changes.validate`): a bad record is
rejected with its place and reason, the rest of the file is kept, and
``read == len(changes) + len(rejects)`` always. Places are ``line N`` for
line formats and ``item N (line L)`` for items of a JSON array (N counted
from 0, L the line the item starts on).
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import xxhash

from ..errors import InputError
from ..privacy import redact
from .model import Change, iso
from .validate import (
    MarkerReject,
    RecordError,
    array_items,
    clean,
    json_type,
    record_id,
    sessionlens_kind,
    show,
    text,
    text_list,
)
from .validate import parse_time as check_time
from .validate import scope as check_scope

# Most specific first: an annotation tagged "edge_worker, deploy" is about the worker.
_KIND_PRIORITY = ("edge_worker", "cookie", "session_store", "cache", "feature_flag", "rollback", "maintenance",
                  "config", "deploy", "other")


def _kind(text: str | None, default: str = "other") -> str:
    """Maps a tag, type or action to one of KINDS."""
    t = (text or "").lower()
    for k in _KIND_PRIORITY:
        if k in t:
            return k
    if "rollback" in t or "revert" in t:
        return "rollback"
    if "flag" in t:
        return "feature_flag"
    if "worker" in t:
        return "edge_worker"
    if "cach" in t or "development mode" in t or "purge" in t:
        return "cache"
    if "release" in t or "deploy" in t:
        return "deploy"
    if "setting" in t or "config" in t:
        return "config"
    return default


@dataclass
class MarkerFile:
    """One marker file read: its format, the good records as changes, the rejected ones."""

    path: Path
    format: str
    changes: list[Change] = field(default_factory=list)
    rejects: list[MarkerReject] = field(default_factory=list)

    @property
    def read(self) -> int:
        """Records read: always ``len(changes) + len(rejects)``."""
        return len(self.changes) + len(self.rejects)

    def problems(self) -> list[str]:
        return [r.message(self.path.name) for r in self.rejects]


HEAD_BYTES = 200_000  # what detection reads of a file


def _head_text(path: Path, limit: int = HEAD_BYTES) -> tuple[str, bool]:
    """The file's first ``limit`` bytes as text, and whether that is the whole file."""
    with open(path, "rb") as fh:
        data = fh.read(limit + 1)
    return data[:limit].decode("utf-8", "replace").removeprefix("\ufeff"), len(data) <= limit


def _first_item(text: str, key: str | None = None) -> tuple[bool, object]:
    """(found, first item) of a JSON document's array whose start ``text`` holds: a big export's head."""
    try:
        for _, item, _ in array_items(text, key):
            return True, item
        return True, None  # an empty array
    except (ValueError, RecursionError):
        return False, None


def detect_marker_format(path: Path) -> str | None:
    """Names a marker file's format from its content, or None."""
    try:
        text, complete = _head_text(path)
    except OSError:
        return None
    stripped = text.lstrip()
    first = stripped.split("\n", 1)[0].strip() if stripped else ""
    if first.startswith("id,") and ",at" in first:
        return "sessionlens-csv"
    try:
        whole = json.loads(text)
    except (ValueError, RecursionError):
        whole = None
    if isinstance(whole, dict) and isinstance(whole.get("result"), list):
        return "cloudflare-audit-v2"
    if isinstance(whole, list) and whole:
        head = whole[0]
    elif whole is None and not complete and stripped[:1] in ("[", "{"):
        # an export bigger than the head: its first item tells
        if stripped[:1] == "{":
            return "cloudflare-audit-v2" if _first_item(stripped, "result")[0] else None
        head = _first_item(stripped)[1]
    else:
        head = None
    if isinstance(head, dict):
        if "time" in head and ("text" in head or "tags" in head):
            return "grafana"
        if "start_time" in head:
            return "honeycomb"
    # JSON lines: the first line that is a JSON object decides (a broken first line does not hide the rest)
    for line in [x for x in stripped.split("\n") if x.strip()][:10]:
        try:
            obj = json.loads(line)
        except (ValueError, RecursionError):
            continue
        if isinstance(obj, dict):
            if "id" in obj and "at" in obj:
                return "sessionlens-jsonl"
            if "When" in obj and ("ActionType" in obj or "ResourceType" in obj):
                return "cloudflare-audit-v1"
        return None
    return None


def read_markers(path: Path) -> tuple[list[Change], list[str]]:
    """Reads a marker file; returns (changes, problems with their line or item)."""
    read = read_marker_file(path)
    return read.changes, read.problems()


def read_marker_file(path: Path) -> MarkerFile:
    """Reads a marker file record by record; only an unknown or unreadable file raises (InputError)."""
    path = Path(path)
    fmt = detect_marker_format(path)
    if fmt is None:
        raise InputError(f"{path}: not a marker file sessionlens knows "
                         "(sessionlens JSON lines/CSV, Grafana, Honeycomb, Cloudflare audit)")
    try:
        text = path.read_bytes().decode("utf-8", "replace").removeprefix("\ufeff")
    except OSError as exc:
        raise InputError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    out = MarkerFile(path, fmt)
    make = _MAKERS[fmt]
    seen: dict[str, str] = {}
    for line_no, where, raw, obj in _records(path, text, fmt):
        try:
            if isinstance(obj, RecordError):
                raise obj
            if not isinstance(obj, dict):
                raise RecordError("record", f"{json_type(obj)} is not a JSON object")
            change = make(obj, fmt)
            if change.id in seen:
                raise RecordError("id", f"duplicate id {show(change.id)} (first at {seen[change.id]})")
        except RecordError as exc:
            reason, fault = str(exc), exc.field
        except (ValueError, TypeError, KeyError, AttributeError, OverflowError, RecursionError, UnicodeError) as exc:
            reason, fault = f"unreadable record ({type(exc).__name__})", "record"  # never expected: see the fuzz test
        else:
            seen[change.id] = where
            out.changes.append(change)
            continue
        out.rejects.append(MarkerReject(line_no, where, redact(clean(reason)), redact(clean(raw[:20_000])), fault))
    return out


def _records(path: Path, text: str, fmt: str):
    """(first line, where, raw text, parsed record or RecordError) for each record."""
    if fmt in ("sessionlens-jsonl", "cloudflare-audit-v1"):
        for n, line in enumerate(text.split("\n"), 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except (ValueError, RecursionError):
                obj = RecordError("record", "not a JSON line")
            yield n, f"line {n}", line, obj
    elif fmt == "sessionlens-csv":
        physical = text.split("\n")
        reader = csv.reader(line + "\n" for line in physical)
        header: list[str] | None = None
        done = 0
        while True:
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                start, done = done + 1, reader.line_num
                raw = "\n".join(physical[start - 1:done])
                yield start, f"line {start}", raw, RecordError("record", f"unreadable CSV ({exc})")
                continue
            start, done = done + 1, reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if header is None:
                header = [h.strip() for h in row]
                continue
            raw = ",".join(row)
            if len(row) > len(header):
                yield start, f"line {start}", raw, RecordError("record",
                                                               f"{len(row)} fields, the header has {len(header)}")
            else:  # a short row: its missing fields are missing (zip stops at the row's end)
                yield start, f"line {start}", raw, dict(zip(header, row, strict=False))
    else:  # one JSON document: Grafana and Honeycomb arrays, Cloudflare v2's "result"
        key = "result" if fmt == "cloudflare-audit-v2" else None
        try:
            whole = json.loads(text)
        except (ValueError, RecursionError):
            raise InputError(f"{path}: not valid JSON (a {fmt} file is one JSON document)") from None
        items: list[tuple[int | None, object, str]]
        try:  # the same items, with the line each starts on
            items = list(array_items(text, key))
        except (ValueError, RecursionError):
            listed = whole.get(key) if key and isinstance(whole, dict) else whole
            items = [(None, item, "") for item in (listed if isinstance(listed, list) else [])]
        for n, (first, item, raw) in enumerate(items):
            where = f"item {n}" + (f" (line {first})" if first else "")
            yield first, where, raw or _dump(item), item


def _dump(obj) -> str:
    try:
        return json.dumps(obj, ensure_ascii=False, default=str)
    except (ValueError, TypeError, RecursionError):
        return ""


def _end(value, at: datetime, unit: str, name: str) -> datetime | None:
    """An optional end: none when absent, else a plausible time not before ``at``."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    end = check_time(value, unit, name)
    if end < at:
        raise RecordError(name, f"{iso(end)} is before the start {iso(at)}")
    return end


def _from_sessionlens(d: dict, fmt: str) -> Change:
    at = check_time(d.get("at"), "auto", "at")
    return Change(id=record_id(d.get("id")), at=at, end=_end(d.get("end"), at, "auto", "end"),
                  kind=sessionlens_kind(d.get("kind")), label=text(d.get("label"), "label"),
                  scope=check_scope(d.get("scope")), detail=text(d.get("detail"), "detail"), origin=fmt)


def _from_grafana(a: dict, fmt: str) -> Change:
    """Grafana annotations: ``time``/``timeEnd`` in epoch milliseconds."""
    at = check_time(a.get("time"), "ms", "time")
    raw_end = a.get("timeEnd")
    end = None if raw_end == 0 and not isinstance(raw_end, bool) else _end(raw_end, at, "ms", "timeEnd")
    tags = text_list(a.get("tags"), "tags")
    label = text(a.get("text"), "text")
    return Change(id=f"grafana-{record_id(a.get('id'))}", at=at, end=end if end and end > at else None,
                  kind=_kind(" ".join(tags) + " " + label), label=label, detail=", ".join(tags), origin="grafana")


def _from_honeycomb(m: dict, fmt: str) -> Change:
    """Honeycomb markers: ``start_time``/``end_time`` in epoch seconds."""
    at = check_time(m.get("start_time"), "s", "start_time")
    raw_id = m.get("id")
    cid = record_id(raw_id) if raw_id not in (None, "") else f"honeycomb-{at.timestamp():.0f}"
    return Change(id=cid, at=at, end=_end(m.get("end_time"), at, "s", "end_time"),
                  kind=_kind(text(m.get("type"), "type"), "other"), label=text(m.get("message"), "message"),
                  detail=text(m.get("url"), "url"), origin="honeycomb")


def _audit_id(value, record: dict, name: str) -> str:
    if value not in (None, ""):
        return record_id(value, name)
    return "cf-audit-" + xxhash.xxh3_64_hexdigest(json.dumps(record, sort_keys=True, default=str).encode())[:10]


def _from_cf_v2(r: dict, fmt: str = "cloudflare-audit-v2") -> Change:
    action = r.get("action")
    if isinstance(action, dict):
        when = action.get("time")
        what, desc = text(action.get("type"), "action.type"), text(action.get("description"), "action.description")
    else:  # the older shape: "action": "zone.settings.change", "timestamp": ...
        when, what, desc = r.get("timestamp") or r.get("when"), text(action, "action"), ""
    resource = r.get("resource")
    if not isinstance(resource, dict):
        listed = r.get("resources")
        resource = listed[0] if isinstance(listed, list) and listed and isinstance(listed[0], dict) else {}
    product = " ".join(text(resource.get(k, ""), "resource") for k in ("product", "type", "resource_type"))
    zone = r.get("zone")
    zone_name = text(zone.get("name"), "zone.name") if isinstance(zone, dict) else ""
    at = check_time(when, "auto", "action.time")
    return Change(id=_audit_id(r.get("id"), r, "id"), at=at, kind=_kind(f"{product} {desc} {what}", "config"),
                  label=desc or what, detail=product.strip(), origin="cloudflare-audit",
                  scope={"zone": zone_name} if zone_name else {})


def _from_cf_v1(d: dict, fmt: str = "cloudflare-audit-v1") -> Change:
    action, resource = text(d.get("ActionType"), "ActionType"), text(d.get("ResourceType"), "ResourceType")
    at = check_time(d.get("When"), "auto", "When")
    return Change(id=_audit_id(d.get("ID"), d, "ID"), at=at, kind=_kind(f"{resource} {action}", "config"),
                  label=f"{action} {resource}".strip(), detail=text(d.get("Metadata") or {}, "Metadata"),
                  origin="cloudflare-audit")


_MAKERS = {"sessionlens-jsonl": _from_sessionlens, "sessionlens-csv": _from_sessionlens, "grafana": _from_grafana,
           "honeycomb": _from_honeycomb, "cloudflare-audit-v2": _from_cf_v2, "cloudflare-audit-v1": _from_cf_v1}
