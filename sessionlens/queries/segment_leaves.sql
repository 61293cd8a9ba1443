-- The leaves of multi-attribute localisation: one row per combination of the
-- dimensions below, with its session errors and requests in the spike window
-- [$start, $end) and in the history window [$hist_start, $start).
-- Returns: host, app_version, cookie_format, edge_worker, cache_status, route_family, vhost, method,
--          errors, requests, hist_errors, hist_requests.
-- Parameters: $hist_start, $start, $end, $cap.
-- A missing value reads '(none)'. Each dimension keeps its $cap values with the
-- most errors in the spike window (then the most requests); the rest are lumped
-- as '(other)', so the number of leaves stays bounded whatever the logs hold.
-- route_family is the route's leading fixed part, at most two segments that
-- hold no id (no ':' and no digit): /users/login, /works, /api/sync.
WITH window_rows AS (
  SELECT coalesce(CAST(host AS VARCHAR), '(none)') AS host,
         coalesce(CAST(app_version AS VARCHAR), '(none)') AS app_version,
         coalesce(CAST(cookie_format AS VARCHAR), '(none)') AS cookie_format,
         coalesce(CAST(edge_worker AS VARCHAR), '(none)') AS edge_worker,
         coalesce(CAST(cache_status AS VARCHAR), '(none)') AS cache_status,
         coalesce(nullif(regexp_extract(CAST(route AS VARCHAR), '^((/[^/0-9:]+){0,2})(/|$)', 1), ''),
                  CASE WHEN route IS NULL THEN '(none)' ELSE '/' END) AS route_family,
         coalesce(CAST(vhost AS VARCHAR), '(none)') AS vhost,
         coalesce(CAST(method AS VARCHAR), '(none)') AS method,
         ts >= $start AS now,
         error_kind IS NOT NULL AS failed
  FROM requests
  WHERE ts >= $hist_start AND ts < $end
),
raw_leaves AS (
  SELECT host, app_version, cookie_format, edge_worker, cache_status, route_family, vhost, method,
         count(*) FILTER (WHERE now AND failed) AS errors,
         count(*) FILTER (WHERE now) AS requests,
         count(*) FILTER (WHERE NOT now AND failed) AS hist_errors,
         count(*) FILTER (WHERE NOT now) AS hist_requests
  FROM window_rows
  GROUP BY ALL
),
per_value AS (
  SELECT dimension, value, sum(errors) AS errors, sum(requests + hist_requests) AS requests
  FROM (UNPIVOT raw_leaves ON host, app_version, cookie_format, edge_worker, cache_status, route_family, vhost, method
        INTO NAME dimension VALUE value)
  GROUP BY dimension, value
),
kept AS (
  SELECT dimension, value
  FROM per_value
  QUALIFY row_number() OVER (PARTITION BY dimension ORDER BY errors DESC, requests DESC, value) <= $cap
),
capped AS (
  SELECT CASE WHEN host IN (SELECT value FROM kept WHERE dimension = 'host') THEN host ELSE '(other)' END AS host,
         CASE WHEN app_version IN (SELECT value FROM kept WHERE dimension = 'app_version')
              THEN app_version ELSE '(other)' END AS app_version,
         CASE WHEN cookie_format IN (SELECT value FROM kept WHERE dimension = 'cookie_format')
              THEN cookie_format ELSE '(other)' END AS cookie_format,
         CASE WHEN edge_worker IN (SELECT value FROM kept WHERE dimension = 'edge_worker')
              THEN edge_worker ELSE '(other)' END AS edge_worker,
         CASE WHEN cache_status IN (SELECT value FROM kept WHERE dimension = 'cache_status')
              THEN cache_status ELSE '(other)' END AS cache_status,
         CASE WHEN route_family IN (SELECT value FROM kept WHERE dimension = 'route_family')
              THEN route_family ELSE '(other)' END AS route_family,
         CASE WHEN vhost IN (SELECT value FROM kept WHERE dimension = 'vhost') THEN vhost ELSE '(other)' END AS vhost,
         CASE WHEN method IN (SELECT value FROM kept WHERE dimension = 'method')
              THEN method ELSE '(other)' END AS method,
         errors, requests, hist_errors, hist_requests
  FROM raw_leaves
)
SELECT host, app_version, cookie_format, edge_worker, cache_status, route_family, vhost, method,
       CAST(sum(errors) AS BIGINT) AS errors, CAST(sum(requests) AS BIGINT) AS requests,
       CAST(sum(hist_errors) AS BIGINT) AS hist_errors, CAST(sum(hist_requests) AS BIGINT) AS hist_requests
FROM capped
GROUP BY ALL
ORDER BY errors DESC, requests DESC
