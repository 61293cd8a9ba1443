"""Formats declared as a regular expression plus a table of field conversions.

A ``family = "regex"`` spec file declares:

``regex``
    One pattern for a whole line, with named groups ``(?P<name>...)``. It
    must mean the same in Python's ``re`` (detection, on the first lines)
    and in RE2 (DuckDB's ``regexp_extract``, on every line): no lookarounds,
    no backreferences.
``noise`` (optional)
    A pattern for lines the server writes about itself (start-up banners,
    "Proxy started"). They count as understood in detection and are
    rejected as ``not a request: <format> message line``.
``marker`` (optional)
    A pattern that, seen on any first line, claims the file even before its
    first request line (uWSGI's banner can fill the detection window).
``[fields]``
    raw column (see ``normalise.RAW_COLUMNS``) -> a conversion table, or a
    list of them tried in order (the first non-NULL value wins).

Conversion keys, applied in this order:

* ``group``: the named group read; ``sum = [groups]`` adds numbers instead
  (NULL if one is NULL); ``join = [groups]`` joins texts with a space (NULL
  if one is NULL: a time and the zone a syslog header gave it);
  ``value``: a constant.
* ``null``: texts that mean NULL besides ``''`` and ``-`` (e.g. ``["-1"]``).
* ``unescape = "\\x" | "#"``: decode the writer's byte escapes, ``\\x22``
  (ALB, nginx) or ``#22`` (HAProxy), back to the characters (a ``%`` in the
  text stays as it is; invalid UTF-8 keeps the escaped text).
* ``urldecode = true``: percent-decode (invalid sequences are kept).
* ``request_line = "method" | "uri" | "protocol"``: that part of a request
  line such as ``GET /a HTTP/1.1`` (garbage gives NULL; a target of ``-``,
  as Envoy logs a CONNECT, is NULL).
* ``xff = true``: an X-Forwarded-For list: the entry ``--client-ip-from``
  names. In a list of alternatives an ``xff`` one is tried first, unless
  ``--client-ip-from`` is ``remote_addr``.
* ``split = ","`` with ``pick = "first" | "last"``: one item of a list.
* ``strip_port = true``: ``1.2.3.4:80``, ``[2001:db8::1]:443`` or
  ``2001:db8::1:443`` -> the address (the value must carry a port).
* ``strip_origin = true``: ``http://host:80/p?q`` -> ``/p?q`` (absolute-form
  request targets, as ALB and proxies log them; relative ones unchanged).
* ``origin_host = true``: ``http://host:80/p`` -> ``host``.
* ``hostname = true``: NULL unless the value looks like a DNS host name
  (dotted, a letter in the last label, an optional port): a captured header
  of unknown meaning is taken for the Host only then, never an address.
* ``cookie = true``: a Cookie header -> the session cookie's value.
* ``lower`` / ``upper = true``: change case.
* ``strptime``: a DuckDB format or a list of them; without ``%z`` the time
  is taken as UTC. ``iso8601 = true``: RFC 3339 text. ``epoch = "s" | "ms"
  | "us"``: a Unix time.
* ``scale``: a factor for a number (seconds to milliseconds: ``1000.0``).

Numbers are read with ``try_cast`` into the column's type, so a stray value
gives NULL, never an error. Every line yields one raw row: stored, or
rejected with ``line does not match format <name>``.
"""

from __future__ import annotations

import re
from typing import Any, Iterator

import duckdb

from ...errors import FormatError
from ...sqltext import ident, literal, literal_list
from ..lines import iter_lines
from ..normalise import RAW_COLUMNS, complete_raw
from ..options import FieldOptions
from .base import Batch, FileJob, Parser, Sample
from .fields import request_parts_sql, xff_client_sql

KEYS = {"group", "sum", "join", "value", "null", "unescape", "urldecode", "request_line", "xff", "split", "pick",
        "strip_port", "strip_origin", "origin_host", "hostname", "cookie", "lower", "upper", "strptime", "iso8601",
        "epoch", "scale"}
# Columns the parser itself fills.
RESERVED = {"kind", "line_no", "raw_line", "reject", "n_lines"}
EPOCH_DIVISORS = {"s": 1, "ms": 1e3, "us": 1e6}
_SCHEME = "^[A-Za-z][A-Za-z0-9+.-]*://"
# Escape prefixes ``unescape`` knows: the text before two hex digits.
UNESCAPES = {"\\x": "\\\\x", "#": "#"}
# A DNS name: dotted labels, the last one not all digits (so never an IPv4
# address, and with no colon but a port's, never an IPv6 one).
_HOSTNAME = r"(?:[A-Za-z0-9_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?\.)+[A-Za-z0-9-]*[A-Za-z][A-Za-z0-9-]*\.?(?::[0-9]{1,5})?"
# After the scheme: user:password@ skipped, then the host (a bracketed IPv6 or a name).
_ORIGIN_HOST = r"(?:[^/?#@]*@)?(\[[^\]]*\]|[^/?#:]*)"


class RegexParser(Parser):
    """Parses lines with one anchored regex and declared field conversions."""

    family = "regex"

    def __init__(self, name: str, description: str = "", samples: list[Sample] | None = None,
                 spec: dict | None = None):
        super().__init__(name, description, samples)
        spec = spec or {}
        if "regex" not in spec:
            raise FormatError(f"format {name}: a regex format needs `regex`")
        self.regex = spec["regex"]
        try:
            self._py = re.compile(self.regex)
            self._noise = re.compile(spec["noise"]) if spec.get("noise") else None
            self._marker = re.compile(spec["marker"]) if spec.get("marker") else None
        except re.error as exc:
            raise FormatError(f"format {name}: bad regex: {exc}") from None
        # regexp_extract names groups by position: unnamed ones get a placeholder.
        by_index = {i: n for n, i in self._py.groupindex.items()}
        self.group_names = [by_index.get(i, f"_g{i}") for i in range(1, self._py.groups + 1)]
        self.fields: dict[str, list[dict]] = {}
        for column, conf in spec.get("fields", {}).items():
            alternatives = conf if isinstance(conf, list) else [conf]
            self._check(column, alternatives)
            self.fields[column] = alternatives

    def _check(self, column: str, alternatives: list[dict]) -> None:
        where = f"format {self.name}: field {column}"
        if column not in RAW_COLUMNS or column in RESERVED:
            raise FormatError(f"{where}: not a raw column one can declare")
        for conf in alternatives:
            if not isinstance(conf, dict):
                raise FormatError(f"{where}: a conversion is a table, e.g. {{ group = \"x\" }}")
            unknown = set(conf) - KEYS
            if unknown:
                raise FormatError(
                    f"{where}: unknown key(s) {', '.join(sorted(unknown))} (known: {', '.join(sorted(KEYS))})")
            groups = [conf["group"]] if "group" in conf else list(conf.get("sum", conf.get("join", [])))
            if not groups and "value" not in conf:
                raise FormatError(f"{where}: needs `group`, `sum`, `join` or `value`")
            if conf.get("unescape", "#") not in UNESCAPES:
                raise FormatError(f"{where}: unescape is one of {', '.join(UNESCAPES)}")
            missing = [g for g in groups if g not in self._py.groupindex]
            if missing:
                raise FormatError(f"{where}: the regex has no group {', '.join(missing)}")
            if conf.get("request_line", "uri") not in ("method", "uri", "protocol"):
                raise FormatError(f"{where}: request_line is method, uri or protocol")
            if conf.get("epoch", "s") not in EPOCH_DIVISORS:
                raise FormatError(f"{where}: epoch is one of {', '.join(EPOCH_DIVISORS)}")
            formats = conf.get("strptime", [])
            zoned = {"%z" in f or "%Z" in f for f in (formats if isinstance(formats, list) else [formats])}
            if len(zoned) > 1:
                raise FormatError(f"{where}: strptime formats must all carry a zone (%z) or none")

    @property
    def anchored(self) -> str:
        """The regex anchored at both ends, as RE2 must see it to match a whole line."""
        return f"^(?:{self.regex})$"

    # --- detection ---------------------------------------------------------
    def detect_score(self, lines: list[str]) -> float:
        """Share of the lines the regex matches whole (server messages count too).

        Without one matching line (or a ``marker`` line) the score is 0: a
        file of nothing but noise is not claimed.
        """
        if not lines:
            return 0.0
        hits = noise = 0
        for line in lines:
            line = line.rstrip("\r")
            if self._py.fullmatch(line):
                hits += 1
            elif self._noise and self._noise.fullmatch(line):
                noise += 1
        claimed = hits or (self._marker and any(self._marker.search(line) for line in lines))
        return (hits + noise) / len(lines) if claimed else 0.0

    def may_explain_all(self, lines: list[str]) -> bool:
        first = lines[0].rstrip("\r") if lines else ""
        return bool(lines) and bool(self._py.fullmatch(first) or (self._noise and self._noise.fullmatch(first)))

    # --- parsing -----------------------------------------------------------
    def raw_exprs(self, options: FieldOptions) -> dict[str, str]:
        """Raw column -> SQL over the match struct ``m``."""
        out = {}
        for column, alternatives in self.fields.items():
            if options.client_ip_from != "remote_addr":
                alternatives = sorted(alternatives, key=lambda c: not c.get("xff"))
            else:
                alternatives = sorted(alternatives, key=lambda c: bool(c.get("xff")))
            parts = [self._conversion_sql(c, column, options) for c in alternatives]
            out[column] = parts[0] if len(parts) == 1 else f"coalesce({', '.join(parts)})"
        return out

    def _group_sql(self, group: str, nulls: list[str]) -> str:
        values = ", ".join(literal(v) for v in ["", "-", *nulls])
        return f"CASE WHEN m.{ident(group)} IN ({values}) THEN NULL ELSE m.{ident(group)} END"

    def _conversion_sql(self, c: dict[str, Any], column: str, options: FieldOptions) -> str:
        nulls = [str(v) for v in c.get("null", [])]
        if "sum" in c:
            x = " + ".join(f"try_cast({self._group_sql(g, nulls)} AS DOUBLE)" for g in c["sum"])
        elif "join" in c:
            x = " || ' ' || ".join(self._group_sql(g, nulls) for g in c["join"])
        elif "group" in c:
            x = self._group_sql(c["group"], nulls)
        else:
            x = literal(c["value"])
        if "unescape" in c:
            # '%' -> '%25' first, so that only the writer's escapes decode.
            prefix = UNESCAPES[c["unescape"]]
            hexed = f"regexp_replace(replace({x}, '%', '%25'), {literal(prefix + '([0-9A-Fa-f]{2})')}, '%\\1', 'g')"
            x = (f"CASE WHEN contains({x}, {literal(c['unescape'])}) "
                 f"THEN coalesce(try(url_decode({hexed})), {x}) ELSE {x} END")
        if c.get("urldecode"):
            x = f"coalesce(try(url_decode({x})), {x})"
        if "request_line" in c:
            x = dict(zip(("method", "uri", "protocol"), request_parts_sql(x), strict=True))[c["request_line"]]
            if c["request_line"] == "uri":
                x = f"nullif({x}, '-')"
        if c.get("xff"):
            x = xff_client_sql(x, "xff-last" if options.client_ip_from == "xff-last" else "xff")
        if "split" in c:
            items = f"string_split({x}, {literal(c['split'])})"
            x = f"nullif(trim({items}[{-1 if c.get('pick') == 'last' else 1}]), '')"
        if c.get("strip_port"):
            x = f"regexp_replace({x}, '^\\[([^\\]]*)\\](?::[0-9]+)?$|^(.+):[0-9]+$', '\\1\\2')"
        if c.get("strip_origin"):
            x = f"regexp_replace({x}, {literal(_SCHEME + '[^/?#]*/?')}, '/')"
        if c.get("origin_host"):
            # userinfo (user:password@) is skipped: it must never be stored.
            x = f"nullif(regexp_extract({x}, {literal(_SCHEME + _ORIGIN_HOST)}, 1), '')"
        if c.get("hostname"):
            x = f"CASE WHEN regexp_full_match({x}, {literal(_HOSTNAME)}) THEN {x} END"
        if c.get("cookie"):
            x = options.session_cookie_sql(x)
        if c.get("lower"):
            x = f"lower({x})"
        if c.get("upper"):
            x = f"upper({x})"
        return self._typed(x, c, column)

    @staticmethod
    def _typed(x: str, c: dict[str, Any], column: str) -> str:
        """Casts a text value to the raw column's type without ever raising."""
        sqltype = RAW_COLUMNS[column]
        if "strptime" in c:
            formats = c["strptime"] if isinstance(c["strptime"], list) else [c["strptime"]]
            listing = literal(formats[0]) if len(formats) == 1 else literal_list(formats)
            parsed = f"try_strptime({x}, {listing})"
            # No zone in the text: the server wrote UTC (or we cannot know better).
            return parsed if all("%z" in f or "%Z" in f for f in formats) else f"timezone('UTC', {parsed})"
        if c.get("iso8601"):
            return f"try_cast({x} AS TIMESTAMPTZ)"
        if "epoch" in c:
            return f"to_timestamp(try_cast({x} AS DOUBLE) / {EPOCH_DIVISORS[c['epoch']]})"
        if "scale" in c:
            x = f"try_cast({x} AS DOUBLE) * {float(c['scale'])!r}"
            return f"try_cast(round({x}) AS {sqltype})" if sqltype in ("INTEGER", "BIGINT") else x
        if sqltype != "VARCHAR":
            return f"try_cast({x} AS {sqltype})"
        return x

    def relation_sql(self, table: str, options: FieldOptions) -> str:
        """A relation of raw columns for the lines in ``table`` (line_no, line)."""
        pattern = literal(self.anchored)
        names = literal_list(self.group_names)
        cols = self.raw_exprs(options)
        no_match = literal(f"line does not match format {self.name}")
        if self._noise:
            noise = literal(f"^(?:{self._noise.pattern})$")
            no_match = (f"CASE WHEN regexp_full_match(line, {noise}) "
                        f"THEN {literal(f'not a request: {self.name} message line')} ELSE {no_match} END")
        cols.update({"kind": "'request'", "line_no": "line_no", "raw_line": "line",
                     "reject": f"CASE WHEN NOT matched THEN {no_match} END"})
        # The struct is only extracted from matching lines; on the others
        # every m.<group> is NULL and `reject` says why.
        return f"""(
          SELECT {complete_raw(cols)} FROM (
            SELECT line_no, line, matched,
                   CASE WHEN matched THEN regexp_extract(line, {pattern}, {names}) END AS m
            FROM (SELECT line_no, rtrim(line, chr(13)) AS line,
                         regexp_full_match(rtrim(line, chr(13)), {pattern}) AS matched
                  FROM {table} WHERE rtrim(line, chr(13)) <> '')
          )
        )"""

    def batches(self, con: duckdb.DuckDBPyConnection, job: FileJob) -> Iterator[Batch]:
        """One batch per chunk of lines; every line gives one raw row."""
        relation = None
        for _ in iter_lines(con, job.path, job.start_byte, job.first_line, job.chunk_bytes):
            relation = relation or self.relation_sql("lines", job.options)
            yield Batch(relation=relation)

    def slow_batches(self, con: duckdb.DuckDBPyConnection, job: FileJob) -> Iterator[Batch]:
        """There is no faster path to fall back from: the same batches."""
        return self.batches(con, job)
