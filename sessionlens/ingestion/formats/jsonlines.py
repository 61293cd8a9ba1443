"""JSON-lines formats: Traefik, Caddy, generic access logs, app events (Cloudflare's in ``cloudflare``).

Fields are pulled out inside DuckDB (one JSON parse per line for all
fields, see ``jsonsql``); Python only looks at the first lines to choose
field names and score detection. A ``jsonl`` spec may declare its fields
as data::

    detect = ["RequestMethod", "DownstreamStatus"]   # paths every line of it has
    [fields]
    ts = ["StartUTC", "time"]                        # dotted paths, first found wins
    latency_ns = ["Duration"]                        # the key names the unit

Without ``[fields]`` the generic ``ALIASES`` are used; ``--json-map``
overrides either, key by key.
"""

from __future__ import annotations

import json
from typing import Callable, Iterator, Sequence

import duckdb

from ..lines import iter_lines
from ..normalise import complete_raw
from ..options import FieldOptions
from ..reader import head_lines
from .base import Batch, FileJob, Parser, Sample
from .fields import xff_client_sql
from .jsonpaths import (
    ALIASES,
    LATENCY_MS_PER,
    MISSING,
    RAW_OF,
    TYPED,
    check_not_sensitive,
    declared_fields,
    expand,
    get_path,
    is_value,
    json_paths,
    parse_json_map,
)
from .jsonsql import JsonFields, scrub_secrets_sql, strip_port_sql, ts_sql

GENERIC_SHARE = 0.9  # the generic parser's score per JSON object line

__all__ = ["ALIASES", "RAW_OF", "AppEventsParser", "JsonLinesParser", "json_objects", "parse_json_map", "ts_sql"]


def json_objects(lines: list[str]) -> list[dict]:
    """The lines that hold a JSON object, parsed (Python, for head lines only)."""
    out = []
    for line in lines:
        if not line.lstrip().startswith("{"):
            continue  # not an object: no need to parse it
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            out.append(value)
    return out


def _first(exprs: Sequence[str | None]) -> str | None:
    given = [e for e in exprs if e]
    if not given:
        return None
    return given[0] if len(given) == 1 else f"coalesce({', '.join(given)})"


class JsonLinesParser(Parser):
    """JSON lines whose fields come from a spec's ``[fields]``, ``--json-map`` or the usual names.

    Spec keys read here (all optional): ``fields`` (canonical key -> list of
    dotted paths; ``{version_header}``-style placeholders are filled from
    the field options), ``detect`` (paths all present in a record of the
    format: when most records have them the spec outscores the generic
    parser, up to 1.0 against 0.9) and ``aliases`` (also try ``ALIASES``
    for undeclared keys; default: only when ``fields`` is absent).
    """

    family = "jsonl"
    required: tuple[str, ...] = ("ts",)

    def __init__(self, name: str, description: str = "", samples: list[Sample] | None = None, json_map=None,
                 spec: dict | None = None):
        super().__init__(name, description, samples)
        self.json_map = dict(json_map or {})
        self.spec = spec or {}
        self.fields = declared_fields(self.spec)
        self.detect_paths = list(self.spec.get("detect") or [])
        self.aliases = bool(self.spec.get("aliases", not self.fields))

    def candidates(self, key: str, preferred: str | None = None) -> list[str]:
        """Field names tried for a key, in order (``preferred`` first among aliases)."""
        if key in self.json_map:
            return [self.json_map[key]]
        if key in self.fields:
            return self.fields[key]
        if not self.aliases:
            return []
        names = list(ALIASES.get(key, ()))
        if preferred in names:
            names.remove(preferred)
            names.insert(0, preferred)
        return names

    def field_names(self, lines: list[str]) -> dict[str, str]:
        """Canonical key -> the first candidate holding a value (not an object) in the lines.

        Mapped keys are kept even when the lines lack them.
        """
        objects = json_objects(lines)
        names = dict(self.json_map)
        for key in RAW_OF:
            for name in [] if key in names else self.candidates(key):
                seen = [v for v in (get_path(o, name, MISSING) for o in objects) if v is not MISSING]
                if any(is_value(v) for v in seen):
                    names[key] = name
                    break
        return names

    def may_explain_all(self, lines: list[str]) -> bool:
        return bool(lines) and lines[0].lstrip().startswith("{")

    def detect_score(self, lines: list[str]) -> float:
        objects = json_objects(lines)
        if not lines or not objects:
            return 0.0
        if self.detect_paths:
            hits = sum(all(get_path(o, p, MISSING) is not MISSING for p in self.detect_paths) for o in objects)
            if hits * 2 <= len(objects):  # a few such records in another format's file
                return hits / len(lines)
            # Mostly this format: the generic score plus a bonus for every
            # identified line, so a stray record does not hand it to json-access.
            return (GENERIC_SHARE * len(objects) + (1 - GENERIC_SHARE) * hits) / len(lines)
        names = self.field_names(lines)
        if not all(k in names for k in self.required):
            return 0.0
        # below 1: leave room for the more specific JSON formats to win ties
        return GENERIC_SHARE * len(objects) / len(lines)

    def key_value(self, key: str, names: dict[str, str], options: FieldOptions, fields: JsonFields,
                  mode: str | None = None) -> str | None:
        """SQL column for a key's value: the first of its candidate fields present, as a scalar."""
        paths = []
        for name in self.candidates(key, names.get(key)):
            name = expand(name, options)
            check_not_sensitive(key, name, f"format {self.name}")  # placeholders are filled by now
            paths += json_paths(name)
        mode = mode or {"cookie": "joined", "xff": "commas"}.get(key, "scalar")  # repeated headers are joined
        return fields.value(paths, mode) if paths else None

    def raw_exprs(self, names: dict[str, str], options: FieldOptions, fields: JsonFields) -> dict[str, str]:
        """SQL per raw column, from every candidate field of its keys.

        Fields that first appear deep in a file (``device_id`` on enrolment
        events) are found too: extracting an absent path costs nothing extra
        in the single JSON parse per line.
        """
        from_xff = options.client_ip_from != "remote_addr"
        keys = [k for k in RAW_OF if k != "xff" or from_xff]  # unread paths cost time
        value = {k: v for k in keys if (v := self.key_value(k, names, options, fields))}
        exprs: dict[str, str] = {"ts": ts_sql(value["ts"]) if "ts" in value else "NULL"}
        special = {"ts", "session", "cookie", "ip", "xff", *TYPED, *LATENCY_MS_PER}
        exprs.update({RAW_OF[k]: v for k, v in value.items() if k not in special})
        exprs.update({RAW_OF[k]: f"try_cast({value[k]} AS {t})" for k, t in TYPED.items() if k in value})
        if "cache" in value:
            exprs["cache_status"] = f"lower({value['cache']})"  # as every other parser stores it
        latency = [f"try_cast({value[k]} AS DOUBLE){f}" for k, f in LATENCY_MS_PER.items() if k in value]
        ip = strip_port_sql(value["ip"]) if "ip" in value else None
        xff = strip_port_sql(xff_client_sql(value["xff"], options.client_ip_from)) if "xff" in value else None
        cookie = options.session_cookie_sql(value["cookie"]) if "cookie" in value else None
        exprs.update({
            "latency_ms": _first(latency) or "NULL",
            "client_ip": _first([xff, ip] if from_xff else [ip]) or "NULL",
            "session_cookie": _first([value.get("session"), cookie]) or "NULL",
            "kind": "CASE WHEN event IS NOT NULL THEN 'event' ELSE 'request' END" if "event" in value else "'request'",
        })
        return exprs

    def unusable_fields(self, lines: list[str], names: dict[str, str], options: FieldOptions) -> list[tuple[str, str]]:
        """(key, field) pairs whose field holds an object or a list in the given lines."""
        objects = json_objects(lines)
        out = []
        for key in RAW_OF:
            if key in ("cookie", "xff"):  # repeated headers are joined, not refused
                continue
            for name in self.candidates(key, names.get(key)):
                name = expand(name, options)
                if any(not is_value(v) for v in (get_path(o, name, MISSING) for o in objects) if v is not MISSING):
                    out.append((key, name))
        return out

    def batches(self, con: duckdb.DuckDBPyConnection, job: FileJob) -> Iterator[Batch]:
        head = head_lines(job.path, 50)
        names = self.field_names(head)
        fields = JsonFields()
        exprs = self.raw_exprs(names, job.options, fields)
        watched = self.unusable_fields(head, names, job.options)
        after = (lambda: self._warn_unusable(con, job, names, watched)) if watched else None
        yield from self._run(con, job, exprs, fields, after)

    def _warn_unusable(self, con: duckdb.DuckDBPyConnection, job: FileJob, names: dict[str, str],
                       watched: list[tuple[str, str]]) -> None:
        """Warns of records whose key stayed empty because its field held an object or a list.

        A second JSON parse of the chunk, made only when the first lines
        showed such a field, so well-mapped files never pay for it.
        """
        f = JsonFields()
        conds = []
        for key, name in watched:
            bad = " OR ".join(f.value([p], "unusable") for p in json_paths(name))
            conds.append(f"count(*) FILTER (WHERE {self.key_value(key, names, job.options, f)} IS NULL AND ({bad}))")
        source = ("(SELECT raw AS line FROM (SELECT rtrim(line, chr(13)) AS raw FROM lines)"
                  " WHERE starts_with(ltrim(raw, ' ' || chr(9)), '{') AND json_valid(raw))")
        counts = con.execute(f"SELECT {', '.join(conds)} FROM ({f.select_sql(source, '1 AS _one')})").fetchall()[0]
        for (key, name), n in zip(watched, counts, strict=True):
            if n:
                job.warn(f"field {name!r} holds an object or a list, not a value: {key} left empty", int(n),
                         f"--json-map {key}=<path of a value inside {name}>")

    def _run(self, con: duckdb.DuckDBPyConnection, job: FileJob, exprs: dict[str, str], fields: JsonFields,
             after: Callable[[], None] | None = None) -> Iterator[Batch]:
        exprs = dict(exprs)
        kind = exprs.pop("kind")
        inner_cols = ",\n ".join(f"{v} AS {k}" for k, v in exprs.items())
        outer = {k: k for k in exprs}
        outer.update(
            {
                "kind": kind,
                "line_no": "line_no",
                # excerpted only if the record is rejected (for any of the
                # normaliser's reasons); credential values are blanked first,
                # as the excerpt redaction misses ["Bearer x"]. ~5% of the CPU.
                "raw_line": scrub_secrets_sql("raw"),
                "reject": "CASE WHEN NOT is_object THEN 'not a JSON object' END",
            }
        )
        # `line` is NULL unless it holds a JSON object, so no JSON function
        # ever sees malformed text; `raw` keeps the original.
        source = """(SELECT line_no, raw, is_object, CASE WHEN is_object THEN raw END AS line
                     FROM (SELECT line_no, raw,
                                  starts_with(ltrim(raw, ' ' || chr(9)), '{') AND json_valid(raw) AS is_object
                           FROM (SELECT line_no, rtrim(line, chr(13)) AS raw FROM lines)
                           WHERE raw <> ''))"""
        for _ in iter_lines(con, job.path, job.start_byte, job.first_line, job.chunk_bytes):
            relation = f"""(
              SELECT {complete_raw(outer)} FROM (
                SELECT line_no, raw, is_object, {inner_cols}
                FROM ({fields.select_sql(source, "line_no, raw, is_object")})
              ) AS j
            )"""
            yield Batch(relation=relation)
            if after:  # the batch is written by now; `lines` still holds its chunk
                after()


class AppEventsParser(JsonLinesParser):
    """Structured application events: login, logout, session_expired, mfa_enroll..."""

    family = "app-events"
    required = ("ts", "event")

    def detect_score(self, lines: list[str]) -> float:
        score = super().detect_score(lines)
        return score / GENERIC_SHARE * 0.95 if score else 0.0
