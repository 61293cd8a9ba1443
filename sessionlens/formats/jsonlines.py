"""JSON-lines formats: Cloudflare Logpush, generic access logs, app events.

Fields are pulled out inside DuckDB (one JSON parse per line for all
fields); Python only looks at the first lines to choose field names.
"""

from __future__ import annotations

import json
from typing import Iterator

import duckdb

from ..errors import FormatError
from ..normalise import complete_raw
from ..options import FieldOptions
from ..reader import iter_line_chunks
from .base import Batch, FileJob, Parser, Sample, lines_relation

# canonical key -> JSON names tried in order when autodetecting
ALIASES: dict[str, tuple[str, ...]] = {
    "ts": ("ts", "time", "timestamp", "@timestamp", "datetime", "date", "at"),
    "status": ("status", "status_code", "code", "response_status", "http_status"),
    "method": ("method", "verb", "request_method", "http_method"),
    "path": ("path", "uri", "url", "request_uri", "request_path", "request"),
    "session": ("session_id", "sid", "session", "session_key"),
    "user": ("user_id", "user", "uid", "username", "account_id"),
    "ip": ("ip", "client_ip", "remote_addr", "remote_ip", "clientip", "client"),
    "host": ("host", "hostname", "server", "instance"),
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
    "location": ("location", "redirect_to"),
}
# canonical key -> raw column
RAW_OF = {
    "ts": "ts",
    "status": "status",
    "method": "method",
    "path": "uri",
    "session": "session_cookie",
    "user": "user_id",
    "ip": "client_ip",
    "host": "host",
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
    "location": "location",
}
TYPED = {"status": "INTEGER", "latency_ms": "DOUBLE"}


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
    """``ts=time,status=code,session=sid`` -> {'ts': 'time', ...}."""
    if not text:
        return {}
    out = {}
    for item in text.split(","):
        if "=" not in item:
            raise FormatError(f"--json-map item {item!r} is not key=field")
        key, name = (p.strip() for p in item.split("=", 1))
        if key not in RAW_OF:
            raise FormatError(f"--json-map: unknown key {key!r} (known: {', '.join(RAW_OF)})")
        out[key] = name
    return out


def _objects(lines: list[str]) -> list[dict]:
    out = []
    for line in lines:
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            out.append(value)
    return out


class JsonFields:
    """Collects JSON paths so one ``json_extract_string`` call reads them all.

    Calling the collector with a path returns SQL for that path's value;
    ``select_sql`` is the single extraction that feeds them.
    """

    def __init__(self) -> None:
        self.paths: list[str] = []

    def __call__(self, path: str) -> str:
        if path not in self.paths:
            self.paths.append(path)
        return f"_v[{self.paths.index(path) + 1}]"

    def select_sql(self) -> str:
        listing = ", ".join("'" + p.replace("'", "''") + "'" for p in self.paths)
        return f"json_extract_string(line, [{listing}]) AS _v"


def _path(name: str) -> str:
    """A JSON path for a (possibly dotted) field name."""
    parts = name.split(".")
    return "$" + "".join('."' + p.replace('"', '\\"') + '"' for p in parts)


class JsonLinesParser(Parser):
    """Generic JSON lines: field names detected from the first lines or mapped."""

    family = "jsonl"
    required = ("ts",)

    def __init__(self, name: str, description: str = "", samples: list[Sample] | None = None, json_map=None):
        super().__init__(name, description, samples)
        self.json_map = dict(json_map or {})

    def field_names(self, lines: list[str]) -> dict[str, str]:
        """Canonical key -> JSON field name, from the map and the first lines."""
        objects = _objects(lines)
        keys: set[str] = set()
        for obj in objects:
            keys.update(obj)
        names = {}
        for key, aliases in ALIASES.items():
            if key in self.json_map:
                names[key] = self.json_map[key]
                continue
            found = next((a for a in aliases if a in keys), None)
            if found:
                names[key] = found
        return names

    def detect_score(self, lines: list[str]) -> float:
        objects = _objects(lines)
        if not lines or not objects:
            return 0.0
        names = self.field_names(lines)
        if not all(k in names for k in self.required):
            return 0.0
        # 0.9: leave room for the more specific JSON formats to win ties
        return 0.9 * len(objects) / len(lines)

    def raw_exprs(self, names: dict[str, str], options: FieldOptions, fields: JsonFields) -> dict[str, str]:
        """SQL per raw column: the mapped field, else every alias of it in order.

        Fields that first appear deep in a file (``device_id`` on enrolment
        events) are found too: extracting an absent path costs nothing extra
        in the single JSON parse per line.
        """
        exprs: dict[str, str] = {}
        for key in RAW_OF:
            if key in self.json_map:
                value = fields(_path(self.json_map[key]))
            else:
                candidates = [names[key]] if key in names else []
                candidates += [a for a in ALIASES[key] if a not in candidates]
                paths = [fields(_path(a)) for a in candidates]
                value = paths[0] if len(paths) == 1 else f"coalesce({', '.join(paths)})"
            if key == "ts":
                exprs["ts"] = ts_sql(value)
            elif key in TYPED:
                exprs[RAW_OF[key]] = f"try_cast({value} AS {TYPED[key]})"
            else:
                exprs[RAW_OF[key]] = value
        exprs["kind"] = "CASE WHEN event IS NOT NULL THEN 'event' ELSE 'request' END"
        return exprs

    def batches(self, con: duckdb.DuckDBPyConnection, job: FileJob) -> Iterator[Batch]:
        from ..reader import head_lines

        names = self.field_names(head_lines(job.path, 50))
        # Nothing recognisable in the first lines: use the usual names, so
        # lines without them are rejected one by one rather than the file.
        for key in self.required:
            names.setdefault(key, ALIASES[key][0])
        fields = JsonFields()
        exprs = self.raw_exprs(names, job.options, fields)
        yield from self._run(con, job, exprs, fields)

    def _run(self, con: duckdb.DuckDBPyConnection, job: FileJob, exprs: dict[str, str], fields: JsonFields) -> Iterator[Batch]:
        kind = exprs.pop("kind")
        inner = {k: v for k, v in exprs.items()}
        inner_cols = ",\n ".join(f"{v} AS {k}" for k, v in inner.items())
        outer = {k: k for k in inner}
        outer.update(
            {
                "kind": kind,
                "line_no": "line_no",
                "raw_line": "raw",
                "reject": "CASE WHEN NOT is_object THEN 'not a JSON object' END",
            }
        )
        for first, text in iter_line_chunks(job.path, job.start_byte, job.first_line, job.chunk_bytes):
            lines_relation(con, first, text)
            # `line` is NULL unless it holds a JSON object, so no JSON
            # function ever sees malformed text; `raw` keeps the original.
            relation = f"""(
              SELECT {complete_raw(outer)} FROM (
                SELECT line_no, raw, is_object, {inner_cols}
                FROM (SELECT *, {fields.select_sql()} FROM (
                      SELECT line_no, raw, is_object, CASE WHEN is_object THEN raw END AS line
                      FROM (SELECT line_no, rtrim(line, chr(13)) AS raw,
                                   CASE WHEN json_valid(rtrim(line, chr(13)))
                                        THEN json_type(rtrim(line, chr(13))) = 'OBJECT' ELSE false END AS is_object
                            FROM lines WHERE rtrim(line, chr(13)) <> '')))
              ) AS j
            )"""
            yield Batch(relation=relation)


class AppEventsParser(JsonLinesParser):
    """Structured application events: login, logout, session_expired, mfa_enroll..."""

    family = "app-events"
    required = ("ts", "event")

    def detect_score(self, lines: list[str]) -> float:
        score = super().detect_score(lines)
        return score / 0.9 * 0.95 if score else 0.0


class CloudflareParser(JsonLinesParser):
    """Cloudflare Logpush ``http_requests`` records, with Cloudflare's field names."""

    family = "cloudflare"
    MARKERS = ("EdgeStartTimestamp", "RayID", "ClientRequestURI", "EdgeResponseStatus", "ClientIP")

    def detect_score(self, lines: list[str]) -> float:
        objects = _objects(lines)
        if not lines:
            return 0.0
        hits = sum(1 for o in objects if "EdgeStartTimestamp" in o or sum(m in o for m in self.MARKERS) >= 2)
        return hits / len(lines)

    def batches(self, con: duckdb.DuckDBPyConnection, job: FileJob) -> Iterator[Batch]:
        o = job.options
        j = JsonFields()

        def hdr(obj: str, name: str) -> str:
            return j(f'$.{obj}."{name.lower()}"')

        cookie_re = o.session_cookie_sql_re.replace("'", "''")
        name_re = (f"(?i)^{o.session_cookie}$" if o.session_cookie else "(?i)^(.*(session|sess|sid)|phpsessid)$")
        name_re = name_re.replace("'", "''")
        cookies = j("$.Cookies")  # a small JSON object: parsed again only here
        cookie_from_object = (
            f"json_extract_string({cookies}, '$.\"' || "
            f"list_filter(json_keys({cookies}), lambda k: regexp_matches(k, '{name_re}'))[1] || '\"')"
        )
        cookie_from_header = f"nullif(regexp_extract({hdr('RequestHeaders', 'cookie')}, '{cookie_re}', 1), '')"
        exprs = {
            "ts": ts_sql(j("$.EdgeStartTimestamp")),
            "client_ip": j("$.ClientIP"),
            "vhost": j("$.ClientRequestHost"),
            "method": j("$.ClientRequestMethod"),
            "uri": j("$.ClientRequestURI"),
            "user_agent": j("$.ClientRequestUserAgent"),
            "referer": j("$.ClientRequestReferer"),
            "status": f"try_cast(coalesce({j('$.EdgeResponseStatus')}, {j('$.OriginResponseStatus')}) AS INTEGER)",
            "bytes": f"try_cast({j('$.EdgeResponseBytes')} AS BIGINT)",
            "latency_ms": f"try_cast(coalesce({j('$.OriginResponseDurationMs')}, {j('$.EdgeTimeToFirstByteMs')}) AS DOUBLE)",
            "host": f"coalesce({hdr('ResponseHeaders', 'x-served-by')}, {j('$.OriginIP')})",
            "app_version": hdr("ResponseHeaders", o.version_header),
            "edge_worker": f"coalesce({hdr('RequestHeaders', o.edge_header)}, {j('$.WorkerStatus')})",
            "cache_status": f"lower({j('$.CacheCacheStatus')})",
            "request_id": j("$.RayID"),
            "user_id": hdr("ResponseHeaders", o.user_header),
            "location": hdr("ResponseHeaders", "location"),
            "session_cookie": f"coalesce({cookie_from_object}, {cookie_from_header})",
            "kind": "'request'",
        }
        yield from self._run(con, job, exprs, j)
