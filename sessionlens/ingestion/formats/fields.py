"""Map access-log variables to the raw canonical columns.

Parsers (the CSV fast path, the regex fallback, the JSON readers) produce
SQL expressions for whichever source variables a format has; this module
turns them into the raw canonical columns that the normalising query
(:mod:`sessionlens.ingestion.normalise`) consumes.
"""

from __future__ import annotations

from ...sqltext import literal
from ..options import FieldOptions, header_var

HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "CONNECT", "TRACE")


def request_parts_sql(req: str) -> tuple[str, str, str]:
    """SQL for (method, uri, protocol) of a request line, with string functions.

    ``GET /a b HTTP/1.1`` -> GET, ``/a b``, HTTP/1.1; ``GET /`` -> GET, /, NULL.
    A line that does not start with a word and a space (bot garbage) gives
    NULLs. String functions cost a fraction of a regex on the hot path.
    """
    sp = f"strpos({req}, ' ')"
    method = (f"CASE WHEN {sp} > 1 AND regexp_full_match(left({req}, {sp} - 1), '[A-Za-z]+') "
              f"THEN left({req}, {sp} - 1) END")
    rest = f"substr({req}, {sp} + 1)"
    last = f"(length({rest}) - strpos(reverse({rest}), ' ') + 1)"  # position of the last space in rest
    has_proto = f"(strpos({rest}, ' ') > 0 AND regexp_full_match(substr({rest}, {last} + 1), '[A-Za-z]+/[0-9.]+'))"
    uri = (f"CASE WHEN ({method}) IS NOT NULL "
           f"THEN nullif(CASE WHEN {has_proto} THEN left({rest}, {last} - 1) ELSE {rest} END, '') END")
    protocol = f"CASE WHEN ({method}) IS NOT NULL AND {has_proto} THEN substr({rest}, {last} + 1) END"
    # The usual shape, "GET /path HTTP/1.1", by LIKE and fixed offsets: a
    # third of the cost of the general expressions, which take the rest.
    known = "(" + ", ".join(literal(m) for m in HTTP_METHODS) + ")"
    usual = f"({req} LIKE '% HTTP/_._' AND left({req}, {sp} - 1) IN {known})"
    usual2 = f"({req} LIKE '% HTTP/_' AND left({req}, {sp} - 1) IN {known})"
    method = f"CASE WHEN {usual} OR {usual2} THEN left({req}, {sp} - 1) ELSE {method} END"
    uri = (f"CASE WHEN {usual} THEN nullif(substr({req}, {sp} + 1, length({req}) - {sp} - 9), '') "
           f"WHEN {usual2} THEN nullif(substr({req}, {sp} + 1, length({req}) - {sp} - 7), '') ELSE {uri} END")
    protocol = f"CASE WHEN {usual} THEN right({req}, 8) WHEN {usual2} THEN right({req}, 6) ELSE {protocol} END"
    return method, uri, protocol


def decode_sql(expr: str, escape: str) -> str:
    """Undo the log writer's escaping of a text value."""
    if escape == "json":
        return (f"CASE WHEN json_valid('\"' || {expr} || '\"') "
                f"THEN json_extract_string('\"' || {expr} || '\"', '$') ELSE {expr} END")
    # Most values hold no backslash: test for one before rewriting anything.
    if escape == "apache":
        return (f"CASE WHEN contains({expr}, '\\') "
                f"THEN replace(replace({expr}, '\\\"', '\"'), '\\\\', '\\') ELSE {expr} END")
    if escape == "default":
        # nginx writes '"', '\\' and bytes outside 32..126 as \xHH: decode them all
        # as UTF-8 (through url_decode); a sequence that is not valid UTF-8
        # keeps its escapes but for the quote and the backslash.
        simple = f"replace(replace({expr}, '\\x22', '\"'), '\\x5C', '\\')"
        full = (f"try(url_decode(regexp_replace(replace(replace({expr}, '%', '%25'), '+', '%2B'), "
                f"'\\\\x([0-9A-Fa-f]{{2}})', '%\\1', 'g')))")
        return f"CASE WHEN contains({expr}, '\\x') THEN coalesce({full}, {simple}) ELSE {expr} END"
    return expr


# Addresses a proxy of one's own has: loopback, private and link-local ranges
# (RFC 1918, RFC 4193), as nginx's realip module is usually told to trust.
TRUSTED_PROXY_RE = (
    r"^(?:10\.|127\.|192\.168\.|172\.(?:1[6-9]|2[0-9]|3[01])\.|169\.254\.|::1$|[fF][cCdD][0-9a-fA-F]{2}:|"
    r"[fF][eE]80:|unknown$)"
)


def xff_client_sql(xff: str, mode: str) -> str:
    """The client from an X-Forwarded-For list.

    ``xff``: the first entry (what the first proxy saw; a client can forge
    it). ``xff-last``: the last entry that is not a trusted (private or
    loopback) address, as nginx's realip module with ``real_ip_recursive on``
    picks it; the first entry if all are trusted.
    """
    parts = f"list_transform(string_split({xff}, ','), lambda x: trim(x))"
    if mode == "xff":
        return f"nullif({parts}[1], '')"
    untrusted = f"list_filter({parts}, lambda x: NOT regexp_matches(x, {literal(TRUSTED_PROXY_RE)}))"
    return f"nullif(coalesce({untrusted}[-1], {parts}[1]), '')"


def _first(v: dict[str, str], *names: str) -> str | None:
    present = [v[n] for n in names if n in v]
    if not present:
        return None
    return present[0] if len(present) == 1 else f"coalesce({', '.join(present)})"


def access_raw_sql(v: dict[str, str], escape: str, options: FieldOptions) -> dict[str, str]:
    """Raw canonical column -> SQL expression, from variable -> SQL expression.

    Values nginx writes as ``-`` when empty become NULL here.
    """
    raw = v
    v = {name: f"nullif({expr}, '-')" for name, expr in v.items()}
    text = {name: decode_sql(expr, escape) for name, expr in v.items()}
    out: dict[str, str] = {}

    if "time_local" in v:
        # An offset beyond +/-14:00 exists nowhere: a broken clock or a misparse.
        out["ts"] = (f"CASE WHEN right({v['time_local']}, 4) <= '1400' "
                     f"THEN try_strptime({v['time_local']}, '%d/%b/%Y:%H:%M:%S %z') END")
    elif "time_iso8601" in v:
        out["ts"] = f"try_cast({v['time_iso8601']} AS TIMESTAMPTZ)"
    elif "msec" in v:
        out["ts"] = f"to_timestamp(try_cast({v['msec']} AS DOUBLE))"

    if "request" in v:
        method, uri, protocol = request_parts_sql(text["request"])
        out["method"] = _first(v, "request_method") or method
        out["uri"] = _first(text, "request_uri") or uri
        out["protocol"] = _first(v, "server_protocol") or protocol
    else:
        if "request_method" in v:
            out["method"] = v["request_method"]
        target = _first(text, "request_uri")
        if target is None and "uri" in text:
            args = _first(text, "args", "query_string")
            if args:
                # Apache %q already carries its '?'; nginx $args does not.
                target = (f"{text['uri']} || "
                          f"coalesce(CASE WHEN starts_with({args}, '?') THEN {args} ELSE '?' || {args} END, '')")
            else:
                target = text["uri"]
        if target:
            out["uri"] = target

    if "status" in v:
        out["status"] = f"try_cast({v['status']} AS INTEGER)"
    nbytes = _first(v, "body_bytes_sent", "body_bytes_sent_clf", "bytes_sent")
    if nbytes:
        out["bytes"] = f"try_cast({nbytes} AS BIGINT)"
        if "body_bytes_sent_clf" in raw and nbytes == v["body_bytes_sent_clf"]:
            # Apache's %b writes '-' for an empty body: that is 0 bytes, not unknown.
            out["bytes"] = f"CASE WHEN {raw['body_bytes_sent_clf']} = '-' THEN 0 ELSE try_cast({nbytes} AS BIGINT) END"
    if "request_time" in v:
        out["latency_ms"] = f"try_cast({v['request_time']} AS DOUBLE) * 1000"
    elif "request_time_us" in v:
        out["latency_ms"] = f"try_cast({v['request_time_us']} AS DOUBLE) / 1000"
    elif "request_time_s" in v:
        out["latency_ms"] = f"try_cast({v['request_time_s']} AS DOUBLE) * 1000"
    elif "upstream_response_time" in v:
        # "0.012, 0.340" when nginx tried several upstreams: the last answered.
        out["latency_ms"] = (
            f"try_cast(trim(list_last(string_split({v['upstream_response_time']}, ','))) AS DOUBLE) * 1000"
        )

    if "upstream_addr" in v:
        # "10.0.0.1:80, 10.0.0.2:80" (retries) or "a : b" (internal redirect): the last one answered
        v["upstream_addr"] = f"trim(list_last(string_split(replace({v['upstream_addr']}, ' : ', ', '), ',')))"
    host = _first(v, "hostname", "upstream_addr")
    if host:
        out["host"] = host
    vhost = _first(v, "host", "server_name", "http_host")
    if vhost:
        out["vhost"] = vhost
    hv = header_var(options.version_header)
    version = _first(v, f"sent_http_{hv}", f"upstream_http_{hv}", f"http_{hv}")
    if version:
        out["app_version"] = version

    xff = v.get("http_x_forwarded_for")
    if xff and (options.client_ip_from != "remote_addr" or "remote_addr" not in v):
        out["client_ip"] = xff_client_sql(xff, "xff-last" if options.client_ip_from == "xff-last" else "xff")
    elif "remote_addr" in v:
        out["client_ip"] = v["remote_addr"]
    if "remote_user" in v:
        out["remote_user"] = text["remote_user"]
    uh = header_var(options.user_header)
    user = _first(v, f"sent_http_{uh}", f"upstream_http_{uh}")
    if user:
        out["user_id"] = user

    cookie_vars = [n for n in v if n.startswith("cookie_") and options.is_session_cookie(n[len("cookie_") :])]
    if cookie_vars:
        out["session_cookie"] = _first(v, *cookie_vars) or "NULL"  # never NULL: the variables are in v
    elif "http_cookie" in v:
        out["session_cookie"] = options.session_cookie_sql(v["http_cookie"])

    if "http_user_agent" in v:
        out["user_agent"] = text["http_user_agent"]
    if "http_referer" in v:
        out["referer"] = text["http_referer"]
    eh = header_var(options.edge_header)
    edge = _first(v, f"http_{eh}", f"sent_http_{eh}")
    if edge:
        out["edge_worker"] = edge
    cache = _first(
        v,
        "upstream_cache_status",
        "sent_http_x_cache_status",
        "sent_http_cf_cache_status",
        "http_cf_cache_status",
        "sent_http_x_cache",
    )
    if cache:
        out["cache_status"] = f"lower({cache})"
    rid = _first(v, "request_id", "req_id", "http_x_request_id")
    if rid:
        out["request_id"] = rid
    location = _first(text, "sent_http_location", "upstream_http_location")
    if location:
        out["location"] = location
    return out
