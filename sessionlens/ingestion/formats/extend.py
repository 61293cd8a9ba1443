"""Name the fields that production configs append to a standard layout.

nginx and Apache configs very often log combined plus a few fields: request
time, upstream time, cache status, a forwarded-for list. Detection finds the
standard layout that explains the start of every line; this module looks at
what follows it on the first lines and, when every trailing column has the
shape of one known variable, builds the extended layout. When a column has
no known shape it gives up, and the engine stores the lines with a warning
(the extras are lost, and ``--nginx-format``/``--apache-format`` fix it).
"""

from __future__ import annotations

import re
import statistics

from .access import AccessLogParser, ApacheParser, NginxParser
from .template import IP, IP_LIST

# a quoted field, or a bare one that may be a list ("0.012, 0.340", "a:1 : b:2")
_TOKEN = re.compile(r'(?:[A-Za-z_]+=)?"(?:[^"\\]|\\.)*"|(?:[^\s,]+(?:, | : ))*\S+')
_MS = re.compile(r"[0-9]+\.[0-9]{3}")
_MS_LIST = re.compile(r"(?:[0-9]+\.[0-9]{3}|-)(?:(?:, | : )(?:[0-9]+\.[0-9]{3}|-))+")
_INT = re.compile(r"[0-9]+")
_MSEC = re.compile(r"[0-9]{10}\.[0-9]{3}")
_CACHE = re.compile(r"(?i)HIT|MISS|BYPASS|EXPIRED|STALE|UPDATING|REVALIDATED|DYNAMIC")
_UPSTREAM = re.compile(rf"(?:{IP}|[A-Za-z0-9_.-]+|unix:\S+):[0-9]+(?:, ?(?:{IP}|[A-Za-z0-9_.-]+):[0-9]+)*")
_IP_LIST = re.compile(IP_LIST)
_HEX_ID = re.compile(r"[0-9a-f]{32}")
_LABEL = re.compile(r"[A-Za-z_]+=")
_LABELLED_VALUE = re.compile(r"[^\s\"]*(?:, [^\s\"]*)*")
# labels nginx's documentation and common configs give the timing variables
LABELLED = {"rt": "$request_time", "request_time": "$request_time", "uct": "$upstream_connect_time",
            "uht": "$upstream_header_time", "urt": "$upstream_response_time",
            "upstream_response_time": "$upstream_response_time", "cs": "$upstream_cache_status",
            "cache": "$upstream_cache_status", "ua": "$upstream_addr"}

# Apache's combined and common have nginx twins with the same text layout.
NGINX_TWIN = {
    "apache-combined": '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent '
    '"$http_referer" "$http_user_agent"',
}


def _column_kind(values: list[str], quoted: bool, family: str, seconds_seen: int) -> tuple[str, str] | None:
    """(nginx piece, Apache piece) for one trailing column, or None if unknown."""
    present = [v for v in values if v not in ("-", "")]
    if not present:
        return None  # always empty: nothing tells what it is
    if quoted:
        if all(_IP_LIST.fullmatch(v) for v in present):
            return '"$http_x_forwarded_for"', '"%{X-Forwarded-For}i"'
        return None
    if all(_MSEC.fullmatch(v) for v in present):
        return "$msec", ""
    if all(_MS.fullmatch(v) for v in present):
        name = "$request_time" if seconds_seen == 0 else "$upstream_response_time"
        return name, ""
    if all(_MS.fullmatch(v) or _MS_LIST.fullmatch(v) for v in present):
        return "$upstream_response_time", ""
    if all(_CACHE.fullmatch(v) for v in present):
        return "$upstream_cache_status", ""
    if all(_UPSTREAM.fullmatch(v) for v in present):
        return "$upstream_addr", ""
    if all(_HEX_ID.fullmatch(v) for v in present):
        return "$request_id", "%{UNIQUE_ID}e"
    if family == "apache" and all(_INT.fullmatch(v) for v in present):
        # %D (microseconds) and %T (seconds) look alike; a microsecond count
        # of a real request is rarely under a thousand.
        return ("", "%D") if statistics.median(int(v) for v in present) >= 1000 else ("", "%T")
    return None


def extend(parser: AccessLogParser, trailing: list[str]) -> AccessLogParser | None:
    """The parser's layout plus the trailing columns, or None if one is unknown.

    Args:
        parser: a detected standard layout.
        trailing: what follows its last field on each of the first lines.
    """
    rows = [_TOKEN.findall(t) for t in trailing if t]
    if not rows or len({len(r) for r in rows}) != 1:
        return None  # the lines disagree on how many fields follow
    family = parser.family
    pieces: list[tuple[str, str]] = []
    seconds = 0
    for col in range(len(rows[0])):
        raw = [r[col] for r in rows]
        # "rt=0.123", 'urt="0.1, 0.2"': a name nginx configs put before a value
        label = _LABEL.match(raw[0])
        prefix = label.group(0) if label and all(v.startswith(label.group(0)) for v in raw) else ""
        raw = [v[len(prefix):] for v in raw]
        quoted = all(v.startswith('"') and v.endswith('"') and len(v) >= 2 for v in raw)
        values = [v[1:-1] if quoted else v for v in raw]
        kind = _column_kind(values, quoted, family, seconds)
        if prefix[:-1] in LABELLED and family == "nginx" and all(_LABELLED_VALUE.fullmatch(v) for v in values):
            var = LABELLED[prefix[:-1]]
            kind = (f'"{var}"' if quoted else var, "")
        if kind is None and prefix and quoted:
            kind = _column_kind(values, False, family, seconds)  # a quoted number list: urt="0.1, 0.2"
            kind = kind and (f'"{kind[0]}"' if kind[0] else "", f'"{kind[1]}"' if kind[1] else "")
        if kind is None:
            return None
        seconds += kind[0].strip('"') in ("$request_time",)
        pieces.append((prefix + kind[0] if kind[0] else "", prefix + kind[1] if kind[1] else ""))
    names = [re.sub(r'^[A-Za-z_]+=', "", p[0]).strip('"$') if p[0] else p[1].strip('"%{}') for p in pieces]
    name = parser.name + "+" + "+".join(names)
    if family == "apache" and all(p[1] for p in pieces):
        template = parser.template.source + " " + " ".join(p[1] for p in pieces)
        return ApacheParser(name, template, f"{parser.description}, plus {', '.join(names)}")
    if family == "nginx" or parser.name in NGINX_TWIN:
        if not all(p[0] for p in pieces):
            return None
        base = parser.template.source if family == "nginx" else NGINX_TWIN[parser.name]
        name = name.replace("apache-", "nginx-", 1)
        return NginxParser(name, base + " " + " ".join(p[0] for p in pieces),
                           description=f"{parser.description}, plus {', '.join(names)}")
    return None
