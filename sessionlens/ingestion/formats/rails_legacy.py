"""Rails 1.x/2.x request lines, and what the Rails parser needs to read them.

Rails 2 (and 1.x) wrote a request as::

    Processing PeopleController#index (for 1.2.3.4 at 2008-06-26 15:10:51) [GET]
      Session ID: 8abbd5bce47cfc8bd438c647f5a9e016
      Parameters: {"action"=>"index", "controller"=>"people"}
    Completed in 100ms (View: 50, DB: 20) | 200 OK [http://example.com/people]

The ``Processing`` line opens the request (controller, ``to xml`` for a
non-HTML format, client, local time with no zone, method); the
``Completed`` line closes it with the status and the full URL. Rails
1.x/2.0 give the duration in seconds (``Completed in 0.22699 (4 reqs/sec)
| ...``), 2.2+ in ms. With the cookie session store
the ``Session ID`` value is the whole cookie, wrapped over base64 lines.
An exception is logged as ``NoMethodError (message):`` and then no
``Completed`` line; the rescue page's status may be named instead
(``Rendering .../rescues/layout (unprocessable_entity)``).
"""

from __future__ import annotations

import re

from ...sqltext import literal, literal_list

PROCESSING_RE = (
    r"^\s*Processing ((?:[A-Z]\w*::)*[A-Z]\w*#\w+)(?: to \w+)? \(for ([^ ,)]+)[^)]*? at "
    r"([0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2})\) \[([A-Z]+)\]"
)
PROCESSING_PARTS = ["ctl", "ip", "at", "m"]
COMPLETED_RE = r"^\s*Completed in ([0-9.]+)(ms)?\b.*?\| ([0-9]{3})\b[^\[]*(?:\[([^\]]*)\])?"
COMPLETED_PARTS = ["t", "unit", "st", "url"]
SESSION_RE = r"^\s*Session ID: (\S+)"
# A wrapped line of a cookie-store session: base64, the last one ending in --digest.
SESSION_WRAP_RE = r"^[A-Za-z0-9+/=]{8,}(?:--[0-9a-f]{20,})?$"
# "NoMethodError (undefined method ...):" - unqualified names too, unlike Rails 3+.
ERROR_LINE_RE = r"^\s*((?:[A-Z][A-Za-z0-9]*::)*[A-Z][A-Za-z0-9]*) \(.*\):\s*$"
RESCUE_RE = r"Rendering \S*rescues/layout(?:\.erb)? \((\w+)\)"
RESCUE_STATUS = {
    "bad_request": 400, "unauthorized": 401, "forbidden": 403, "not_found": 404, "method_not_allowed": 405,
    "not_acceptable": 406, "conflict": 409, "unprocessable_entity": 422, "internal_server_error": 500,
    "not_implemented": 501,
}

ZONE_WARNING = "Rails 2 timestamps carry no zone: read as UTC"

# For detection: lines only Rails 1/2 writes, and lines common in its logs.
STRONG = r"Processing \S+#\S+ (?:to \w+ )?\(for |Completed in [0-9.]+(?:ms)? \("
WEAK = (
    r"^\s*Session ID: |^\s*Rendering |^\s*Rendered |^Redirected to |^Filter chain halted as |"
    r"^Cached fragment (?:hit|miss)|^[A-Za-z0-9+/=]{40,}(?:--[0-9a-f]{20,})?$"
)
OPENER_PY_RE = re.compile(r"Started [A-Z]+ \"|Processing \S+#\S+ (?:to \w+ )?\(for ")
CLOSER_PY_RE = re.compile(r"Completed (?:[0-9]{3} |in [0-9.])")


def line_items_sql(msg: str) -> str:
    """Per-line SELECT items over a line's message (prefixes removed)."""
    return f"""regexp_matches({msg}, {literal(PROCESSING_RE)}) AS is_processing,
    regexp_matches({msg}, '^\\s*Completed (?:[0-9]{{3}}\\b|in [0-9.])') AS is_completed,
    regexp_matches({msg}, {literal(SESSION_RE)}) AS is_session,
    regexp_matches({msg}, {literal(SESSION_WRAP_RE)}) AS is_wrap"""


def session_wrap_sql(order: str = "line_no") -> str:
    """Window item: a base64 line right under a ``Session ID`` line (or its wraps)."""
    return f"""is_wrap AND coalesce(last_value(CASE WHEN NOT is_wrap THEN is_session END IGNORE NULLS)
      OVER (ORDER BY {order} ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), false) AS is_session_wrap"""


def record_items_sql() -> str:
    """Per-record aggregates (for a GROUP BY over lines with the items above)."""
    processing = f"regexp_extract(msg, {literal(PROCESSING_RE)}, {literal_list(PROCESSING_PARTS)})"
    return f"""max({processing}) FILTER (WHERE is_processing) AS p2,
    arg_min(regexp_extract(msg, {literal(COMPLETED_RE)}, {literal_list(COMPLETED_PARTS)}), line_no)
      FILTER (WHERE regexp_matches(msg, '^\\s*Completed in [0-9.]')) AS c2,
    arg_min(regexp_extract(msg, {literal(SESSION_RE)}, 1), line_no) FILTER (WHERE is_session) AS session_head,
    string_agg(trim(msg), '' ORDER BY line_no) FILTER (WHERE is_session_wrap) AS session_tail,
    arg_min(regexp_extract(msg, {literal(ERROR_LINE_RE)}, 1), line_no)
      FILTER (WHERE regexp_matches(msg, {literal(ERROR_LINE_RE)})) AS error_line,
    arg_min(regexp_extract(msg, {literal(RESCUE_RE)}, 1), line_no)
      FILTER (WHERE regexp_matches(msg, {literal(RESCUE_RE)})) AS rescue"""


def processing_ts_sql() -> str:
    """The Processing line's local time, read as UTC (Rails 2 wrote no zone)."""
    return "try_strptime(nullif(p2.at, ''), '%Y-%m-%d %H:%M:%S') AT TIME ZONE 'UTC'"


def latency_sql() -> str:
    """Completed's duration in ms: Rails 2.2+ says 'ms', older ones seconds."""
    return "try_cast(nullif(c2.t, '') AS DOUBLE) * CASE WHEN c2.unit = 'ms' THEN 1 ELSE 1000 END"


def uri_sql() -> str:
    """The path and query of Completed's URL ('/' for a bare host)."""
    path = "nullif(regexp_extract(c2.url, '^[a-z]+://[^/]*(/.*)$', 1), '')"
    return f"CASE WHEN coalesce(c2.url, '') <> '' THEN coalesce({path}, '/') END"


def vhost_sql() -> str:
    """The host of Completed's URL."""
    return "nullif(regexp_extract(c2.url, '^[a-z]+://([^/:]+)', 1), '')"


def rescue_status_sql() -> str:
    """The status the rescue page was rendered with, from its symbol."""
    arms = " ".join(f"WHEN {literal(name)} THEN {code}" for name, code in RESCUE_STATUS.items())
    return f"CASE rescue {arms} END"
