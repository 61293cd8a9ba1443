-- A canary's traffic minute by minute: exposed and unexposed requests and session errors per
-- route family, for `sessionlens gate` (sessionlens/live/gate.py).
-- Exposed: the request's app_version is one of $versions, OR its cookie_format one of
-- $formats, OR its host one of $hosts (an empty list names nothing). A session error is a
-- request with error_kind set (as in window_totals). The route family is the route's first
-- path segment ('/works/:id' -> '/works', '/' -> '/'); a request without a route is '(none)'.
-- with_session splits requests carrying a session cookie from the others: only the first can
-- fail a session, and a new cookie format exposes only them, so the gate compares like with like.
-- Returns: minute (bucket start), family, with_session, exposed_requests, exposed_errors,
-- unexposed_requests, unexposed_errors; one row per minute, family and with_session with
-- requests, in time order.
-- Parameters: $start, $end (timestamps), $versions, $formats, $hosts (lists of text, may be empty).
WITH window_rows AS (
  SELECT time_bucket(to_seconds(60), ts, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS minute,
         coalesce(nullif(regexp_extract(route, '^/[^/?]*', 0), ''), '(none)') AS family,
         (coalesce(list_contains(CAST($versions AS VARCHAR[]), app_version), false)
          OR coalesce(list_contains(CAST($formats AS VARCHAR[]), cookie_format), false)
          OR coalesce(list_contains(CAST($hosts AS VARCHAR[]), host), false)) AS exposed,
         session_key IS NOT NULL AS with_session,
         error_kind IS NOT NULL AS failed
  FROM requests
  WHERE ts >= $start AND ts < $end
)
SELECT minute, family, with_session,
       count(*) FILTER (WHERE exposed) AS exposed_requests,
       count(*) FILTER (WHERE exposed AND failed) AS exposed_errors,
       count(*) FILTER (WHERE NOT exposed) AS unexposed_requests,
       count(*) FILTER (WHERE NOT exposed AND failed) AS unexposed_errors
FROM window_rows
GROUP BY minute, family, with_session
ORDER BY minute, family, with_session
