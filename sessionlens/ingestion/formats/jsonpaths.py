"""JSON field names and paths for the JSON-lines parsers, and the SQL that reads them.

A field is named by a dotted path (``request.headers.User-Agent``). All the
paths a file needs are read by one ``json_extract`` call per line; a key's
value is then made a scalar here: an array of one value is unwrapped
(Caddy's headers are arrays), and an object or a longer array becomes NULL,
never its JSON text, so a nested object holding an IP or a cookie cannot
land in a column that is stored as is.
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
# Values of JSON keys naming a credential, blanked in a line kept for a
# reject excerpt: the excerpt redaction does not see inside ["Bearer x"].
_SECRET_VALUE_RE = (
    r'(?i)("[^"]*(?:cookie|authori[sz]ation|token|secret|passw|api[-_]?key)[^"]*"\s*:\s*)'
    r'(\[(?:[^\]"]|"(?:[^"\\]|\\.)*")*\]|"(?:[^"\\]|\\.)*"|[^,}\]\s]+)'
)
MISSING = object()


def ts_sql(x: str) -> str:
    """SQL reading a timestamp given as RFC 3339 text or epoch s / ms / ns."""
    head = f"length(split_part(ltrim({x}, '-'), '.', 1))"
    return f"""CASE
      WHEN {x} IS NULL THEN NULL
      WHEN regexp_full_match({x}, '-?[0-9]+(\\.[0-9]+)?') THEN
        CASE WHEN {head} >= 16 THEN to_timestamp(CAST({x} AS DOUBLE) / 1e9)
             WHEN {head} >= 12 THEN to_timestamp(CAST({x} AS DOUBLE) / 1e3)
             ELSE to_timestamp(CAST({x} AS DOUBLE)) END
      ELSE try_cast({x} AS TIMESTAMPTZ) END"""


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


def scalar_sql(v: str) -> str:
    """SQL: a JSON value (text from ``json_extract``) as a scalar, or NULL.

    The first character tells the JSON type (``json_extract`` writes compact
    JSON): a string without escapes is cut out of its quotes and a number
    is its own text, so the common values cost no second parse. (The casts
    keep the result VARCHAR: a JSON-typed result would be parsed again by
    a later cast.)
    """
    return f"""nullif(CASE left({v}, 1)
      WHEN '"' THEN CASE WHEN contains({v}, '\\') THEN json_extract_string({v}, '$') ELSE CAST({v} AS VARCHAR)[2:-2] END
      WHEN '{{' THEN NULL
      WHEN '[' THEN CASE WHEN json_array_length({v}) = 1 AND json_type({v}, '$[0]') NOT IN ('OBJECT', 'ARRAY')
                         THEN json_extract_string({v}, '$[0]') END
      WHEN 'n' THEN NULL
      ELSE CAST({v} AS VARCHAR) END, '')"""


def joined_sql(v: str, sep: str = "; ") -> str:
    """SQL: a header value whose repeats may be an array (Cookie, X-Forwarded-For), joined."""
    return f"""CASE left({v}, 1)
      WHEN '{{' THEN NULL
      WHEN '[' THEN nullif(array_to_string(list_filter(json_extract_string({v}, '$[*]'), lambda x: x IS NOT NULL), '{sep}'), '')
      ELSE nullif(json_extract_string({v}, '$'), '') END"""


def unusable_sql(v: str) -> str:
    """SQL: whether a JSON value is an object or an array that is not one scalar."""
    return (f"(left({v}, 1) = '{{' OR (left({v}, 1) = '[' AND NOT coalesce(json_array_length({v}) = 1 "
            f"AND json_type({v}, '$[0]') NOT IN ('OBJECT', 'ARRAY'), false)))")


def strip_port_sql(x: str) -> str:
    """SQL: an address without its port: 192.0.2.1:443 and [2001:db8::1]:443 -> the IP."""
    return f"""CASE
      WHEN starts_with({x}, '[') THEN nullif(regexp_extract({x}, '^\\[([^\\]]*)\\]', 1), '')
      WHEN regexp_full_match({x}, '[^:]+:[0-9]+') THEN split_part({x}, ':', 1)
      ELSE {x} END"""


def scrub_secrets_sql(raw: str) -> str:
    """SQL: a JSON line with the values of credential-named keys blanked."""
    return f"regexp_replace({raw}, '{_SECRET_VALUE_RE.replace(chr(39), chr(39) * 2)}', '\\1\"\"', 'g')"


class JsonFields:
    """Collects JSON paths so one ``json_extract`` call per line reads them all.

    ``value(paths, mode)`` names a column holding the first of the paths
    present (JSON null skipped), converted once: 'scalar', 'joined' or
    'commas' (array items joined with '; ' or ', '), 'json' (the JSON value itself) or 'unusable'
    (whether it is an object or a list). A query selects, layer upon layer,
    ``extract_sql``, ``pick_sql`` and ``columns_sql``.
    """

    CONVERT = {"scalar": scalar_sql, "joined": joined_sql, "commas": lambda v: joined_sql(v, ", "), "json": lambda v: v,
               "unusable": unusable_sql}

    def __init__(self) -> None:
        self.paths: list[str] = []
        self.values: dict[tuple[tuple[str, ...], str], str] = {}

    def value(self, paths: list[str], mode: str = "scalar") -> str:
        for p in paths:
            if p not in self.paths:
                self.paths.append(p)
        return self.values.setdefault((tuple(paths), mode), f"_f{len(self.values) + 1}")

    def __call__(self, path: str, mode: str = "scalar") -> str:
        return self.value([path], mode)

    def raw(self, path: str) -> str:
        """A column with the path's JSON value as JSON (objects included)."""
        return self.value([path], "json")

    def extract_sql(self, line: str = "line") -> str:
        listing = ", ".join("'" + p.replace("'", "''") + "'" for p in self.paths) or "'$'"
        return f"json_extract({line}, [{listing}]) AS _v"

    def pick_sql(self) -> str:
        """Each value's first present path, as JSON (a key's aliases meet here, before converting).

        Only JSON null is skipped: an alias holding an object hides later
        ones (the key is then NULL, never text, and the file is warned
        about); testing every alias for objects too costs ~12% more CPU.
        """
        cols = []
        for (paths, _), name in self.values.items():
            refs = [f"_v[{self.paths.index(p) + 1}]" for p in paths]
            pick = refs[0] if len(refs) == 1 else f"coalesce({', '.join(f'nullif({r}, {chr(39)}null{chr(39)})' for r in refs)})"
            cols.append(f"{pick} AS _c{name[2:]}")
        return ", ".join(cols) or "NULL AS _c0"

    def columns_sql(self) -> str:
        cols = [f"{self.CONVERT[mode](f'_c{name[2:]}')} AS {name}" for (_, mode), name in self.values.items()]
        return ", ".join(cols) or "NULL AS _f0"

    def select_sql(self, source: str, keep: str) -> str:
        """The three layers over ``source`` (which has ``line``), keeping the ``keep`` columns."""
        return (f"SELECT {keep}, {self.columns_sql()} FROM (SELECT {keep}, {self.pick_sql()} FROM ("
                f"SELECT {keep}, {self.extract_sql()} FROM {source}))")
