"""One parser for every time a user types, and one way to show times back.

Every command's time options (``analyze --since/--until``, ``report
--since/--until``, ``nightly --until``, ``changes add --at/--end``) go
through :func:`parse_time`. It returns an aware UTC ``datetime``; what it
reads (docs/analysis.md, "Time syntax"):

* ISO 8601 / RFC 3339: ``2023-09-19T16:00:00Z``, ``2023-09-19T18:00+02:00``,
  ``2023-09-19 16:00``, ``2023-09-19``, ``20230919T160000Z``, and the
  header sessionlens prints (``2023-09-19 18:00 +02:00``, ``... UTC``).
  A time without an offset is in the zone given (``--tz``), else UTC; one
  that does not exist there (skipped by a DST change) is refused, one that
  exists twice (the hour repeated in autumn) is its first occurrence.
* A time of day, ``16:00``: today at that time in the zone.
* Epoch seconds (9 to 11 digits, a fraction allowed) or milliseconds (12 or
  13 digits), optionally after ``@``. Shorter numbers are refused rather
  than read as 1970.
* ``now``; ``today`` and ``yesterday``: midnight in the zone (both may be
  followed by a time of day: ``yesterday 16:00``).
* Durations before now: ``2h ago``, ``30m ago``, ``30m``, ``1d``, ``1w``,
  ``1h30m``, ``now-2h``; units s, m, h, d (24 h) and w (7 d), also spelt
  out (``2 hours ago``). ``M`` (months) is refused: months have no fixed
  length.

``now`` can be injected (tests, a fixed "now" for a whole run).
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import InputError

UTC = timezone.utc

EXAMPLES = "e.g. 2023-09-19T16:00:00Z, 2023-09-19 18:00+02:00, 1695139200, now, yesterday, 2h ago, 30m"

_UNITS = {
    "s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1,
    "m": 60, "min": 60, "mins": 60, "minute": 60, "minutes": 60,
    "h": 3600, "hr": 3600, "hrs": 3600, "hour": 3600, "hours": 3600,
    "d": 86400, "day": 86400, "days": 86400,
    "w": 604800, "wk": 604800, "wks": 604800, "week": 604800, "weeks": 604800,
}
_NUMBER = r"\d+(?:\.\d+)?"
_UNIT = "|".join(sorted(_UNITS, key=len, reverse=True))
_PART = re.compile(rf"({_NUMBER})\s*({_UNIT})")
# "2h ago", "30m", "1h30m", "2 hours ago", "now-2h", "-2h": all before now
_RELATIVE = re.compile(rf"(?:now\s*-\s*|-\s*)?(?P<dur>(?:{_NUMBER}\s*(?:{_UNIT})\s*)+?)(?:\s*ago)?")

_EPOCH = re.compile(r"@?(?P<int>\d+)(?:\.(?P<frac>\d+))?")

# ISO 8601 / RFC 3339, extended or basic, with an optional offset
_ISO = re.compile(
    r"(?P<y>\d{4})(?P<dsep>-?)(?P<mo>\d{2})(?P=dsep)(?P<d>\d{2})"
    r"(?:[Tt ]\s*(?P<h>\d{2})(?:(?P<tsep>:?)(?P<mi>\d{2})(?:(?P=tsep)(?P<s>\d{2})(?:[.,](?P<f>\d{1,9}))?)?)?)?"
    r"\s*(?P<off>[Zz]|UTC|utc|GMT|gmt|[+-]\d{2}(?::?\d{2})?)?"
)
_CLOCK = r"(?P<h>\d{1,2}):(?P<mi>\d{2})(?::(?P<s>\d{2}))?"
_DAYWORD = re.compile(rf"(?P<word>today|yesterday)(?:\s+{_CLOCK})?")
_TIME_OF_DAY = re.compile(_CLOCK)


def zone(name: str | tzinfo | None) -> tzinfo:
    """An IANA zone (``Europe/Berlin``), ``UTC``, or a fixed offset (``+02:00``); None is UTC."""
    if name is None:
        return UTC
    if isinstance(name, tzinfo):
        return name
    text = name.strip()
    if text.upper() in ("UTC", "Z", "GMT", "ETC/UTC"):
        return UTC
    m = re.fullmatch(r"([+-])(\d{2}):?(\d{2})", text)
    if m:
        sign = 1 if m.group(1) == "+" else -1
        return timezone(sign * timedelta(hours=int(m.group(2)), minutes=int(m.group(3))))
    try:
        if not text or text.startswith(("/", ".")) or ".." in text:
            raise ValueError(text)
        return ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise InputError(f"--tz {name!r} is not a time zone (use an IANA name such as Europe/Berlin, "
                         "America/New_York or UTC)") from None


def zone_name(tz: tzinfo | str | None) -> str:
    """The name a zone is shown under: ``UTC``, ``Europe/Berlin``, ``+02:00``."""
    tz = zone(tz)
    if tz is UTC:
        return "UTC"
    key = getattr(tz, "key", None)
    return key or datetime.now(tz).strftime("%z")[:3] + ":" + datetime.now(tz).strftime("%z")[3:]


def _bad(raw: str, what: str, why: str = "") -> InputError:
    return InputError(f"{what}: unreadable time {raw!r}{': ' + why if why else ''} ({EXAMPLES})")


def _now(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    return now if now.tzinfo else now.replace(tzinfo=UTC)


def localize(naive: datetime, tz: tzinfo, what: str, strict: bool = True) -> datetime:
    """A wall-clock time in ``tz`` as an aware UTC time.

    A time skipped by a DST change is refused when ``strict`` (else the
    first instant after the gap: midnight that does not exist is the day's
    first minute); a repeated one is its first occurrence.
    """
    if tz is UTC:
        return naive.replace(tzinfo=UTC)
    aware = naive.replace(tzinfo=tz, fold=0)
    back = aware.astimezone(UTC).astimezone(tz).replace(tzinfo=None)
    if back != naive.replace(fold=0):
        if strict:
            raise InputError(f"{what}: {naive:%Y-%m-%d %H:%M} does not exist in {zone_name(tz)} "
                             "(the clocks skipped it); give an offset, e.g. 2023-03-26T03:30+02:00")
        # zoneinfo reads a skipped time with the offset before the change: that
        # instant is the first one after the gap
    return aware.astimezone(UTC)


def _midnight(day: date, tz: tzinfo) -> datetime:
    return localize(datetime.combine(day, time()), tz, "midnight", strict=False)


def _duration(text: str) -> timedelta:
    return timedelta(seconds=sum(float(n) * _UNITS[u] for n, u in _PART.findall(text)))


def parse_time(text: str | int | float | datetime | None, *, tz: str | tzinfo | None = None,
               now: datetime | None = None, what: str = "time") -> datetime | None:
    """``text`` as an aware UTC datetime (None stays None); InputError if unreadable.

    ``tz`` is the zone of times written without an offset and of ``today``,
    ``yesterday`` and times of day (default UTC); ``now`` the current time
    (default: the clock). ``what`` names the option in messages.
    """
    if text is None:
        return None
    if isinstance(text, datetime):
        return localize(text, zone(tz), what) if text.tzinfo is None else text.astimezone(UTC)
    if isinstance(text, bool):
        raise _bad(repr(text), what, "not a time")
    if isinstance(text, (int, float)):
        text = repr(text)
    raw = str(text)
    s = raw.strip()
    if not s or len(s) > 64:
        raise _bad(raw[:70], what, "empty" if not s else "too long")
    zone_ = zone(tz)
    current = _now(now).astimezone(UTC)
    low = s.lower()

    if low == "now":
        return current
    m = _DAYWORD.fullmatch(low)
    if m:
        today = current.astimezone(zone_).date()
        day = today if m.group("word") == "today" else today - timedelta(days=1)
        if m.group("h") is None:
            return _midnight(day, zone_)
        return localize(datetime.combine(day, _clock(m, raw, what)), zone_, what)
    m = _TIME_OF_DAY.fullmatch(low)
    if m:
        return localize(datetime.combine(current.astimezone(zone_).date(), _clock(m, raw, what)), zone_, what)
    if re.search(r"\d\s*M(?![a-zA-Z])", s):
        raise _bad(raw, what, "months (M) have no fixed length; use days (d) or weeks (w)")
    m = _RELATIVE.fullmatch(low)
    if m:
        try:
            return current - _duration(m.group("dur"))
        except OverflowError:
            raise _bad(raw, what, "reaches before year 1") from None
    m = _ISO.fullmatch(s)  # before epoch numbers: 20230919 is a basic ISO date
    if m:
        return _iso(m, raw, zone_, what)
    m = _EPOCH.fullmatch(s)
    if m:
        return _epoch(m, raw, what)
    raise _bad(raw, what)


def _clock(m: re.Match, raw: str, what: str) -> time:
    try:
        return time(int(m.group("h")), int(m.group("mi")), int(m.group("s") or 0))
    except ValueError:
        raise _bad(raw, what, "not a time of day") from None


def _epoch(m: re.Match, raw: str, what: str) -> datetime:
    digits = m.group("int")
    n = len(digits.lstrip("0")) or 1
    if n < 9 or n > 13:
        raise _bad(raw, what, "epoch seconds have 9 to 11 digits (1973 on), milliseconds 12 or 13; "
                              "write a date as 2023-09-19")
    value = float(f"{digits}.{m.group('frac') or 0}")
    seconds = value / 1000 if n >= 12 else value
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        raise _bad(raw, what, "out of range") from None


def _iso(m: re.Match, raw: str, tz: tzinfo, what: str) -> datetime:
    g = m.groupdict()
    frac = (g["f"] or "").ljust(6, "0")[:6]
    try:
        naive = datetime(int(g["y"]), int(g["mo"]), int(g["d"]), int(g["h"] or 0), int(g["mi"] or 0),
                         int(g["s"] or 0), int(frac or 0))
    except ValueError as exc:
        raise _bad(raw, what, str(exc)) from None
    off = g["off"]
    if off is None:
        return localize(naive, tz, what)
    if off.upper() in ("Z", "UTC", "GMT"):
        return naive.replace(tzinfo=UTC)
    sign = 1 if off[0] == "+" else -1
    digits = off[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:4] or 0)
    if hours > 23 or minutes > 59:
        raise _bad(raw, what, f"impossible offset {off}")
    return naive.replace(tzinfo=timezone(sign * timedelta(hours=hours, minutes=minutes))).astimezone(UTC)


# --- showing times -----------------------------------------------------------------


def fmt(t: datetime, tz: str | tzinfo | None = None, date_too: bool = True) -> str:
    """A time in the display zone: ``2023-09-19 16:00 UTC`` or ``2023-09-19 18:00 +02:00``."""
    z = zone(tz)
    local = t.astimezone(z)
    text = f"{local:%Y-%m-%d %H:%M}" if date_too else f"{local:%H:%M}"
    return f"{text} {offset(local)}"


def offset(local: datetime) -> str:
    """``UTC`` for UTC, else the offset as ``+02:00``."""
    if local.tzinfo is UTC:
        return "UTC"
    z = local.strftime("%z")
    return f"{z[:3]}:{z[3:5]}" if z else "UTC"


def fmt_span(start: datetime, end: datetime, tz: str | tzinfo | None = None) -> str:
    """A window in the display zone, each end with its own offset (a DST change can lie between)."""
    z = zone(tz)
    a, b = start.astimezone(z), end.astimezone(z)
    if z is UTC:
        left = f"{a:%Y-%m-%d %H:%M}"
        right = f"{b:%H:%M}" if a.date() == b.date() else f"{b:%Y-%m-%d %H:%M}"
        return f"{left} - {right} UTC"
    name = zone_name(z)
    same = a.date() == b.date() and offset(a) == offset(b)
    right = f"{b:%H:%M} {offset(b)}" if same else f"{b:%Y-%m-%d %H:%M} {offset(b)}"
    tail = f" ({name})" if name != offset(a) else ""
    return f"{a:%Y-%m-%d %H:%M} {offset(a)} - {right}{tail}"
