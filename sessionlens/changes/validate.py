# Longer than 300 lines: the rules (the docstring, a third of the module) and the checks carrying them
# out stay side by side, so that one can be read against the other.
"""Change markers, checked one record at a time.

A marker file is read record by record (a line of JSON lines or CSV, an item
of a JSON array). Each record is checked on its own: a bad one is rejected
with where it is (its first line in the file) and why, and the rest of the
file is kept. Nothing a record holds can raise anything but a rejection.

The rules, for sessionlens JSON lines and CSV (Grafana, Honeycomb and
Cloudflare records are mapped onto the same fields and checked alike):

``id``
    Required: a non-empty string, or a finite number turned to text (``42``
    and ``42.0`` -> ``"42"``). Surrounding space is dropped; at most 200
    characters, no control characters, and not starting with ``inferred:``
    (sessionlens's own ids). Unique within the file: a later record with an
    id seen before is rejected (``duplicate id``), the first one is kept.
``at``
    Required: a time within 1990-01-01 .. now + 1 day. RFC 3339 text
    (``2023-09-19T16:09:00Z``, ``+02:00`` offsets; a space for the ``T`` and
    no zone are read as UTC), or an epoch number (also as digits in a
    string) in the unit the format defines: Grafana milliseconds, Honeycomb
    seconds, and for sessionlens markers and Cloudflare v1 seconds,
    milliseconds or nanoseconds told apart by size. NaN, infinities,
    booleans, 1e308 and negative epochs are rejected, never an overflow.
``end``
    Optional (absent, null or "" means none), read like ``at``, and not
    before ``at``.
``kind``
    Optional (default ``other``); one of :data:`KINDS`, case, surrounding
    space and ``-`` for ``_`` ignored (``Feature-Flag`` is ``feature_flag``).
    Another kind is *rejected*, not turned into ``other``: the contract
    lists the kinds, linking and ranking treat deploys and rollbacks apart,
    and an unknown kind is a typo or another tool's file that should be
    fixed, not guessed. (Grafana, Honeycomb and Cloudflare kinds are derived
    from tags, types and actions, and never rejected.)
``label``, ``detail``
    Text. Numbers and booleans become their JSON text, lists and objects
    compact JSON text, null empty text; never a reason to reject.
``scope``
    Optional (absent, null or "" means ``{}``): a JSON object (in CSV, and
    also accepted in JSON lines, a string holding one). Each value must be
    a string, a finite number, or a list of those; a null value is the key
    left out. Anything else (a list or string for the whole scope, nested
    objects, booleans, NaN) *rejects the record* rather than dropping the
    key: the scope says which hosts or versions a change touched and
    attribution tests exposure against it, so a scope read in part would
    make a canary look like a fleet-wide change. ``host``/``hosts`` merge
    into ``hosts`` and ``path``/``paths`` into ``paths``, always lists of
    strings (a string is split at commas, numbers become text).

All text is made valid UTF-8 (undecodable bytes and lone surrogates become
U+FFFD or ``?``). Reasons quote values shortened and redacted
(:func:`sessionlens.privacy.redact`), as are the excerpts kept of rejected
records.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Iterator

from ..privacy import redact

KINDS = ("deploy", "rollback", "config", "feature_flag", "cookie", "edge_worker", "cache", "session_store",
         "maintenance", "other")

EARLIEST = datetime(1990, 1, 1, tzinfo=timezone.utc)
LATEST_AHEAD = timedelta(days=1)
MAX_ID_CHARS = 200
RESERVED_ID_PREFIX = "inferred:"
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_DIGITS = re.compile(r"[+-]?\d{1,40}(\.\d{1,20})?")
_LIST_KEYS = {"host": "hosts", "hosts": "hosts", "path": "paths", "paths": "paths"}


class RecordError(ValueError):
    """One record is unusable; the message says which field and why."""

    def __init__(self, field: str, why: str):
        super().__init__(why if field == "record" else f"{field}: {why}")
        self.field = field


@dataclass
class MarkerReject:
    """A rejected record: its first line (None if unknown), where in words, why, and a redacted excerpt."""

    line_no: int | None
    where: str  # "line 3" or "item 2 (line 14)"
    reason: str
    excerpt: str
    field: str = "record"  # the field at fault: id, at, end, kind, scope, record ...

    def message(self, file_name: str) -> str:
        return f"{file_name} {self.where}: {self.reason}"


def clean(text: str) -> str:
    """Valid UTF-8 text: lone surrogates become '?'."""
    return text.encode("utf-8", "replace").decode("utf-8")


def show(value) -> str:
    """A value as a short, redacted quote for a reason."""
    try:
        s = json.dumps(value, ensure_ascii=False, default=str)
    except (ValueError, TypeError, RecursionError):
        s = type(value).__name__
    s = clean(s)
    s = s if len(s) <= 40 else s[:37] + "..."
    return redact(s)


def json_type(value) -> str:
    """The value's JSON type with its article: "a list", "an object"."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return f"a {type(value).__name__}"


def _fail(field: str, why: str) -> RecordError:
    return RecordError(field, why)


# --- times ---------------------------------------------------------------------------


def window() -> tuple[datetime, datetime]:
    """The plausible times of a change: 1990-01-01 .. now + 1 day."""
    return EARLIEST, datetime.now(timezone.utc) + LATEST_AHEAD


def _divisor(number, unit: str) -> int:
    if unit == "s":
        return 1
    if unit == "ms":
        return 1000
    size = abs(number)
    return 1_000_000_000 if size >= 1e16 else 1000 if size >= 1e11 else 1


def parse_time(value, unit: str = "auto", field: str = "at") -> datetime:
    """A plausible aware UTC time, or RecordError.

    ``unit`` says what an epoch number counts: ``s``, ``ms``, or ``auto``
    (seconds, milliseconds or nanoseconds told apart by size).
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        raise _fail(field, "missing")
    lo, hi = window()
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise _fail(field, f"{json_type(value)} is not a time")
    number = None
    if isinstance(value, str):
        s = value.strip()
        if _DIGITS.fullmatch(s):
            number = float(s) if "." in s else int(s)
        else:
            if len(s) > 64:
                raise _fail(field, f"{show(value)} is not an RFC 3339 time")
            if s[-1:] in ("z", "Z"):
                s = s[:-1] + "+00:00"
            try:
                t = datetime.fromisoformat(s.replace(" ", "T", 1))
                t = t if t.tzinfo else t.replace(tzinfo=timezone.utc)
                if not lo <= t <= hi:
                    raise _fail(field, f"{show(value)} is outside 1990-01-01 .. now + 1 day")
                return t.astimezone(timezone.utc)
            except RecordError:
                raise
            except (ValueError, OverflowError, OSError):
                raise _fail(field, f"{show(value)} is not an RFC 3339 time") from None
    else:
        number = value
    if isinstance(number, float) and not math.isfinite(number):
        raise _fail(field, f"{show(value)} is not a finite number")
    div = _divisor(number, unit)
    # compared in the number's own unit: no division or conversion can overflow
    if not lo.timestamp() * div <= number <= hi.timestamp() * div:
        what = {1: "epoch seconds", 1000: "epoch milliseconds"}.get(div, "epoch nanoseconds")
        raise _fail(field, f"{show(value)} as {what} is outside 1990-01-01 .. now + 1 day")
    return datetime.fromtimestamp(number / div, timezone.utc)


# --- fields --------------------------------------------------------------------------


def record_id(value, field: str = "id") -> str:
    """A record's id as text; see the module docstring."""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise _fail(field, "missing")
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise _fail(field, f"must be a string or a number, not {json_type(value)}")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _fail(field, f"{show(value)} is not a finite number")
        text = str(int(value)) if value.is_integer() and abs(value) < 1e16 else repr(value)
    elif isinstance(value, int):
        if abs(value) >= 10 ** MAX_ID_CHARS:
            raise _fail(field, f"longer than {MAX_ID_CHARS} characters")
        text = str(value)
    else:
        text = clean(value).strip()
    if len(text) > MAX_ID_CHARS:
        raise _fail(field, f"longer than {MAX_ID_CHARS} characters")
    if _CONTROL.search(text):
        raise _fail(field, f"{show(text)} holds control characters")
    if text.startswith(RESERVED_ID_PREFIX):
        raise _fail(field, f"{show(text)}: ids starting with {RESERVED_ID_PREFIX} are sessionlens's inferred changes")
    return text


def text(value, field: str = "label") -> str:
    """Any JSON value as text; see the module docstring."""
    if value is None:
        return ""
    if isinstance(value, str):
        return clean(value)
    try:
        if isinstance(value, float) and not math.isfinite(value):
            return repr(value)
        return clean(json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str))
    except (ValueError, TypeError, RecursionError):
        raise _fail(field, f"{json_type(value)} that cannot be written as text") from None


def text_list(value, field: str = "tags") -> list[str]:
    """Tags and the like: a list of texts (a single value is a list of one)."""
    if value is None:
        return []
    if isinstance(value, list):
        return [text(v, field) for v in value if v is not None]
    return [text(value, field)]


def sessionlens_kind(value) -> str:
    """A sessionlens marker's kind; see the module docstring."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return "other"
    if not isinstance(value, str):
        raise _fail("kind", f"must be a string, not {json_type(value)}")
    k = value.strip().lower().replace("-", "_").replace(" ", "_")
    if k not in KINDS:
        raise _fail("kind", f"{show(value)} is not one of {', '.join(KINDS)}")
    return k


def _scalar(value, where: str):
    if isinstance(value, str):
        return clean(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _fail("scope", f"{where}: {json_type(value)} is not a string or number")
    if isinstance(value, float) and not math.isfinite(value):
        raise _fail("scope", f"{where}: {show(value)} is not a finite number")
    return value


def _as_text(value) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    return repr(value) if isinstance(value, float) else str(value)


def scope(value) -> dict:
    """A record's scope, checked and normalised; see the module docstring."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except (ValueError, RecursionError):
            raise _fail("scope", f"{show(value)} is not a JSON object") from None
        if value is None:
            return {}
    if not isinstance(value, dict):
        raise _fail("scope", f"must be an object ({{\"hosts\": [...]}}), not {json_type(value)}")
    out: dict = {}
    for raw_key, v in value.items():
        key = clean(str(raw_key)).strip()
        if not key:
            raise _fail("scope", "an empty key")
        if v is None:
            continue
        where = f"scope.{show(key)}" if len(key) > 40 or not key.isidentifier() else key
        items = [_scalar(x, where) for x in v] if isinstance(v, list) else [_scalar(v, where)]
        if key in _LIST_KEYS:
            target = out.setdefault(_LIST_KEYS[key], [])
            for x in items:
                for part in (x.split(",") if isinstance(x, str) else [_as_text(x)]):
                    part = part.strip()
                    if part and part not in target:
                        target.append(part)
        else:
            out[key] = items if isinstance(v, list) else items[0]
    return out


def scope_of_stored(text_value) -> dict:
    """A stored scope (JSON text) for reading: anything but an object is ``{}``.

    Lakes written before records were checked may hold a list, a number or
    unparseable text there; none of it may crash a reader.
    """
    if isinstance(text_value, dict):
        value = text_value
    else:
        try:
            value = json.loads(text_value) if isinstance(text_value, (str, bytes)) and text_value else {}
        except (ValueError, RecursionError):
            return {}
    return value if isinstance(value, dict) else {}


# --- where records are -----------------------------------------------------------------

_WS = re.compile(r"[ \t\n\r]*")


def _skip_space(t: str, i: int) -> int:
    """The index of the first character at or after ``i`` that is not JSON white space."""
    found = _WS.match(t, i)
    assert found is not None  # the pattern matches the empty string
    return found.end()


def array_items(text_value: str, key: str | None = None) -> Iterator[tuple[int, object, str]]:
    """(first line, item, raw text) of each item of the top-level JSON array,
    or of the array under ``key`` of the top-level object.

    The text must be valid JSON (the caller parsed it whole once); raises
    ValueError otherwise.
    """
    dec = json.JSONDecoder()
    t = text_value
    i = _skip_space(t, 0)
    line, counted = 1, 0

    def line_at(pos: int) -> int:
        nonlocal line, counted
        line += t.count("\n", counted, pos)
        counted = pos
        return line

    if key is not None:
        if t[i:i + 1] != "{":
            raise ValueError("not a JSON object")
        i = _skip_space(t, i + 1)
        while True:
            if t[i:i + 1] == "}":
                raise ValueError(f"no {key!r} array")
            name, i = dec.raw_decode(t, i)
            i = _skip_space(t, i)
            if t[i:i + 1] != ":":
                raise ValueError("expected ':'")
            i = _skip_space(t, i + 1)
            if name == key and t[i:i + 1] == "[":
                break
            _, i = dec.raw_decode(t, i)
            i = _skip_space(t, i)
            if t[i:i + 1] == ",":
                i = _skip_space(t, i + 1)
    if t[i:i + 1] != "[":
        raise ValueError("not a JSON array")
    i = _skip_space(t, i + 1)
    if t[i:i + 1] == "]":
        return
    while True:
        start = i
        item, i = dec.raw_decode(t, i)
        yield line_at(start), item, t[start:i]
        i = _skip_space(t, i)
        if t[i:i + 1] == ",":
            i = _skip_space(t, i + 1)
        elif t[i:i + 1] == "]":
            return
        else:
            raise ValueError("expected ',' or ']'")
