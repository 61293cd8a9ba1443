"""Map access-log variables to the raw canonical columns.

Parsers (the CSV fast path, the regex fallback, the JSON readers) produce
SQL expressions for whichever source variables a format has; this module
turns them into the raw canonical columns that the normalising query
(:mod:`sessionlens.normalise`) consumes.
"""

from __future__ import annotations

from ..options import FieldOptions, header_var

REQUEST_RE = r"^([A-Za-z]+) (.*?)(?: ([A-Za-z]+/[0-9.]+))?$"


def decode_sql(expr: str, escape: str) -> str:
    """Undo the log writer's escaping of a text value."""
    if escape == "json":
        return f"CASE WHEN json_valid('\"' || {expr} || '\"') THEN json_extract_string('\"' || {expr} || '\"', '$') ELSE {expr} END"
    if escape == "apache":
        return f"replace(replace({expr}, '\\\"', '\"'), '\\\\', '\\')"
    if escape == "default":
        return f"replace(replace({expr}, '\\x22', '\"'), '\\x5C', '\\')"
    return expr


def _first(v: dict[str, str], *names: str) -> str | None:
    present = [v[n] for n in names if n in v]
    if not present:
        return None
    return present[0] if len(present) == 1 else f"coalesce({', '.join(present)})"


def access_raw_sql(v: dict[str, str], escape: str, options: FieldOptions) -> dict[str, str]:
    """Raw canonical column -> SQL expression, from variable -> SQL expression.

    Values nginx writes as ``-`` when empty become NULL here.
    """
    v = {name: f"nullif({expr}, '-')" for name, expr in v.items()}
    text = {name: decode_sql(expr, escape) for name, expr in v.items()}
    out: dict[str, str] = {}

    if "time_local" in v:
        out["ts"] = f"try_strptime({v['time_local']}, '%d/%b/%Y:%H:%M:%S %z')"
    elif "time_iso8601" in v:
        out["ts"] = f"try_cast({v['time_iso8601']} AS TIMESTAMPTZ)"
    elif "msec" in v:
        out["ts"] = f"to_timestamp(try_cast({v['msec']} AS DOUBLE))"

    if "request" in v:
        req = f"regexp_extract({text['request']}, '{REQUEST_RE}', ['m', 'u', 'p'])"
        out["method"] = _first(v, "request_method") or f"nullif({req}.m, '')"
        out["uri"] = _first(text, "request_uri") or f"nullif({req}.u, '')"
        out["protocol"] = _first(v, "server_protocol") or f"nullif({req}.p, '')"
    else:
        if "request_method" in v:
            out["method"] = v["request_method"]
        uri = _first(text, "request_uri")
        if uri is None and "uri" in text:
            args = _first(text, "args", "query_string")
            if args:
                # Apache %q already carries its '?'; nginx $args does not.
                uri = f"{text['uri']} || coalesce(CASE WHEN starts_with({args}, '?') THEN {args} ELSE '?' || {args} END, '')"
            else:
                uri = text["uri"]
        if uri:
            out["uri"] = uri

    if "status" in v:
        out["status"] = f"try_cast({v['status']} AS INTEGER)"
    nbytes = _first(v, "body_bytes_sent", "body_bytes_sent_clf", "bytes_sent")
    if nbytes:
        out["bytes"] = f"try_cast({nbytes} AS BIGINT)"
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

    if options.client_ip_from == "xff" and "http_x_forwarded_for" in v:
        out["client_ip"] = f"trim(split_part({v['http_x_forwarded_for']}, ',', 1))"
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
        out["session_cookie"] = _first(v, *cookie_vars)
    elif "http_cookie" in v:
        out["session_cookie"] = f"nullif(regexp_extract({v['http_cookie']}, '{options.session_cookie_sql_re}', 1), '')"

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
