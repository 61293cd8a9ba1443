"""Cloudflare Logpush ``http_requests`` records, read with Cloudflare's field names.

Headers and cookies come from the ``RequestHeaders``/``ResponseHeaders`` and
``Cookies`` objects Logpush can add; the origin's address is only ever kept
as a short keyed hash.
"""

from __future__ import annotations

from typing import Iterator

import duckdb

from ...privacy import hash_sql
from ...sqltext import literal
from .base import Batch, FileJob
from .jsonlines import JsonLinesParser, json_objects
from .jsonsql import JsonFields, ts_sql


class CloudflareParser(JsonLinesParser):
    """Cloudflare Logpush ``http_requests`` records, with Cloudflare's field names."""

    family = "cloudflare"
    MARKERS = ("EdgeStartTimestamp", "RayID", "ClientRequestURI", "EdgeResponseStatus", "ClientIP")

    def detect_score(self, lines: list[str]) -> float:
        objects = json_objects(lines)
        if not lines:
            return 0.0
        hits = sum(1 for o in objects if "EdgeStartTimestamp" in o or sum(m in o for m in self.MARKERS) >= 2)
        return hits / len(lines)

    def batches(self, con: duckdb.DuckDBPyConnection, job: FileJob) -> Iterator[Batch]:
        o = job.options
        j = JsonFields()  # every value: a scalar, '' -> NULL (Logpush writes "" for absent fields)

        def hdr(obj: str, name: str) -> str:
            return j(f'$.{obj}."{name.lower()}"')

        name_re = literal(o.session_cookie_name_re)
        cookies = j.raw("$.Cookies")  # a small JSON object: parsed again only here
        cookie_from_object = (
            f"CASE WHEN starts_with({cookies}, '{{') THEN nullif(json_extract_string({cookies}, '$.\"' || "
            f"list_filter(json_keys({cookies}), lambda k: regexp_matches(k, {name_re}) AND "
            f"coalesce(json_extract_string({cookies}, '$.\"' || k || '\"'), '') <> '')[1] || '\"'), '') END"
        )
        cookie_from_header = o.session_cookie_sql(hdr("RequestHeaders", "cookie"))
        exprs = {
            "ts": ts_sql(j("$.EdgeStartTimestamp")),
            "client_ip": j("$.ClientIP"),
            "vhost": j("$.ClientRequestHost"),
            "method": j("$.ClientRequestMethod"),
            "uri": j("$.ClientRequestURI"),
            "protocol": j("$.ClientRequestProtocol"),
            "user_agent": j("$.ClientRequestUserAgent"),
            "referer": j("$.ClientRequestReferer"),
            "status": f"try_cast(coalesce({j('$.EdgeResponseStatus')}, {j('$.OriginResponseStatus')}) AS INTEGER)",
            "bytes": f"try_cast({j('$.EdgeResponseBytes')} AS BIGINT)",
            "latency_ms": f"try_cast(coalesce({j('$.OriginResponseDurationMs')}, {j('$.EdgeTimeToFirstByteMs')}) "
                          "AS DOUBLE)",
            # The origin's address names the serving host, but an address is
            # never stored raw: a short keyed hash keeps origins apart.
            "host": f"coalesce({hdr('ResponseHeaders', 'x-served-by')}, "
                    f"'origin-' || left({hash_sql(j('$.OriginIP'), 'origin')}, 8))",
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
