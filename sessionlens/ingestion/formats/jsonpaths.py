"""JSON field names and paths for the JSON-lines parsers (the SQL reading them is in ``jsonsql``).

A field is named by a dotted path (``request.headers.User-Agent``), tried
nested and as a literal key; a spec's or ``--json-map``'s names are checked
here so that no field holding a secret or an address is mapped to a column
stored as is.
"""

from __future__ import annotations

import re
from typing import Any

from ...errors import FormatError
from ..options import FieldOptions

# canonical key -> JSON names tried in order when autodetecting
ALIASES: dict[str, tuple[str, ...]] = {
    "ts": ("ts", "time", "timestamp", "@timestamp", "datetime", "date", "at"),
    "status": ("status", "status_code", "code", "response_status", "http_status"),
    "method": ("method", "verb", "request_method", "http_method"),
    "path": ("path", "uri", "url", "request_uri", "request_path", "request"),
    "session": ("session_id", "sid", "session", "session_key"),
    "cookie": ("cookie", "http_cookie"),
    "user": ("user_id", "user", "uid", "username", "account_id"),
    "ip": ("ip", "client_ip", "remote_addr", "remote_ip", "clientip", "client"),
    "xff": ("x_forwarded_for", "http_x_forwarded_for"),
    "host": ("host", "hostname", "server", "instance"),
    "vhost": ("vhost", "http_host", "server_name"),
    "version": ("app_version", "version", "release"),
    "event": ("event", "event_type", "action"),
    "device": ("device_id", "device", "factor_id", "mfa_device"),
    "ua": ("user_agent", "ua", "http_user_agent", "agent"),
    "referer": ("referer", "referrer", "http_referer"),
    "message": ("message", "msg", "error", "exception"),
    "request_id": ("request_id", "req_id", "trace_id"),
    "edge": ("edge_worker", "worker"),
    "cache": ("cache_status", "cache"),
    "latency_ms": ("duration_ms", "latency_ms", "elapsed_ms"),
    "latency_s": ("duration_s", "latency_s"),
    "location": ("location", "redirect_to"),
    "bytes": ("bytes", "bytes_sent", "body_bytes_sent"),
}
# canonical key -> raw column; keys sharing a column are tried in this order
RAW_OF = {
    "ts": "ts",
    "status": "status",
    "method": "method",
    "path": "uri",
    "protocol": "protocol",
    "session": "session_cookie",
    "cookie": "session_cookie",  # a Cookie header: the session cookie is taken out of it
    "user": "user_id",
    "ip": "client_ip",  # an IP, or ip:port
    "xff": "client_ip",  # X-Forwarded-For: read only with --client-ip-from xff or xff-last
    "host": "host",
    "vhost": "vhost",
    "version": "app_version",
    "event": "event",
    "device": "device_id",
    "ua": "user_agent",
    "referer": "referer",
    "message": "message",
    "request_id": "request_id",
    "edge": "edge_worker",
    "cache": "cache_status",
    "latency_ms": "latency_ms",
    "latency_s": "latency_ms",
    "latency_us": "latency_ms",
    "latency_ns": "latency_ms",
    "location": "location",
    "bytes": "bytes",
}
# keys whose column the normaliser hashes: the only ones a secret may feed
HASHED_KEYS = {"session", "cookie", "user", "ip", "xff", "device"}
TYPED = {"status": "INTEGER", "bytes": "BIGINT"}
# key -> SQL turning its DOUBLE value into milliseconds (dividing keeps 900000 ns exactly 0.9)
LATENCY_MS_PER = {"latency_ms": "", "latency_s": " * 1000", "latency_us": " / 1000", "latency_ns": " / 1000000"}

# Header names in specs, filled from the field options, written the way Go
# servers (Traefik, Caddy) log them: X-App-Version.
PLACEHOLDERS = ("version_header", "edge_header", "user_header")

# A field name's last part that marks a secret or a client address.
_SENSITIVE = re.compile(
    r"(?i)(cookie|authori[sz]ation|token|secret|passw|api[-_]?key|forwarded|real[-_]?ip|connecting[-_]?ip"
    r"|(^|[-_.])ip$|clientip$|remoteip$|addr$|address$|clienthost$|client[-_]host$)"
)
MISSING = object()


def parse_json_map(text: str | None) -> dict[str, str]:
    """``ts=time,status=resp.code,session=sid`` -> {'ts': 'time', ...}; names may be dotted paths.

    Raises:
        FormatError: an item that is not key=field, an unknown key, or a
            secret-bearing field mapped to a column stored as is.
    """
    if not text:
        return {}
    out = {}
    for item in text.split(","):
        if "=" not in item:
            raise FormatError(f"--json-map item {item!r} is not key=field")
        key, name = (p.strip() for p in item.split("=", 1))
        if key not in RAW_OF:
            raise FormatError(f"--json-map: unknown key {key!r} (known: {', '.join(RAW_OF)})")
        if not name:
            raise FormatError(f"--json-map: no field given for {key!r}")
        check_not_sensitive(key, name, "--json-map")
        out[key] = name
    return out


def declared_fields(spec: dict) -> dict[str, list[str]]:
    """A spec's ``[fields]`` table, checked: canonical key -> field names in order.

    Raises:
        FormatError: an unknown key, a value that is not a list of names, or a
            secret-bearing field mapped to a column stored as is.
    """
    out: dict[str, list[str]] = {}
    where = f"format spec {spec.get('name', '?')}"
    for key, names in (spec.get("fields") or {}).items():
        if key not in RAW_OF:
            raise FormatError(f"{where}: unknown field key {key!r} (known: {', '.join(RAW_OF)})")
        names = [names] if isinstance(names, str) else names
        if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
            raise FormatError(f"{where}: fields.{key} must be a list of field names")
        for name in names:
            check_not_sensitive(key, name, where)
        out[key] = list(names)
    return out


def check_not_sensitive(key: str, name: str, where: str) -> None:
    """Refuses a secret- or address-bearing field for a column stored as is."""
    last = re.sub(r"(?i)^(request|downstream|origin)_", "", name.split(".")[-1])  # Traefik's header prefixes
    if key not in HASHED_KEYS and _SENSITIVE.search(last):
        raise FormatError(
            f"{where}: field {name!r} holds a secret or an address and cannot fill {key!r} "
            "(stored as is); only client, session, user and device values are hashed"
        )


def canonical_header(name: str) -> str:
    """Go's canonical header form: x-app-version -> X-App-Version."""
    return "-".join(p[:1].upper() + p[1:].lower() for p in name.split("-"))


def expand(name: str, options: FieldOptions) -> str:
    """Fills ``{version_header}``-style placeholders of a spec path."""
    for key in PLACEHOLDERS:
        name = name.replace("{" + key + "}", canonical_header(getattr(options, key)))
    return name


def json_paths(name: str) -> list[str]:
    """JSON paths for a field name: nested by its dots, then the literal key.

    ``http.status`` is tried as ``$.http.status`` and as ``$."http.status"``
    since flat logs use dotted key names too.
    """
    parts = name.split(".")
    paths = ["$" + "".join('."' + p.replace('"', '\\"') + '"' for p in parts)]
    if len(parts) > 1:
        paths.append('$."' + name.replace('"', '\\"') + '"')
    return paths


def get_path(obj: Any, name: str, default: Any = None) -> Any:
    """The value at a dotted name in a parsed JSON object (Python, for head lines only)."""
    if isinstance(obj, dict) and name in obj:
        return obj[name]
    for part in name.split("."):
        if not isinstance(obj, dict) or part not in obj:
            return default
        obj = obj[part]
    return obj


def is_value(value: Any) -> bool:
    """Whether a parsed JSON value can fill a column: a scalar or an array of one scalar."""
    if isinstance(value, list):
        return len(value) == 1 and not isinstance(value[0], (list, dict))
    return not isinstance(value, dict)
