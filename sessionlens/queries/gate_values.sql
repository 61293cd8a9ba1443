-- What a canary's exposure is read from: when each app version, cookie format and host was
-- first seen, and which route families the site has, for `sessionlens gate` (a cookie format
-- first seen after a rollout began is one the new version hands out; a host list that covers
-- every host splits nothing; the route families share the gate's false-fail rate).
-- Returns: dimension ('app_version', 'cookie_format', 'host' or 'family'), value, first_seen,
-- last_seen, requests, first_on_hosts (first seen on one of $hosts; on any host when $hosts is
-- empty). Versions and hosts that are NULL and the cookie format 'none' are left out; the
-- family is the route's first path segment, '(none)' without a route (as in gate_minutes).
-- Parameters: $since, $until (timestamps), $hosts (list of text, may be empty).
WITH window_rows AS (
  SELECT app_version, cookie_format, host, ts,
         coalesce(nullif(regexp_extract(route, '^/[^/?]*', 0), ''), '(none)') AS family,
         (array_length(CAST($hosts AS VARCHAR[])) = 0
          OR coalesce(list_contains(CAST($hosts AS VARCHAR[]), host), false)) AS on_hosts
  FROM requests
  WHERE ts >= $since AND ts < $until
),
seen AS (
  -- GROUPING() sets a bit for each column not grouped: 7 by app_version, 11 by cookie_format,
  -- 13 by host, 14 by family
  SELECT app_version, cookie_format, host, family,
         GROUPING(app_version, cookie_format, host, family) AS grouping_id,
         min(ts) AS first_seen, max(ts) AS last_seen, count(*) AS requests,
         min(ts) FILTER (WHERE on_hosts) AS first_on_hosts
  FROM window_rows
  GROUP BY GROUPING SETS ((app_version), (cookie_format), (host), (family))
),
named AS (
  SELECT CASE grouping_id WHEN 7 THEN 'app_version' WHEN 11 THEN 'cookie_format' WHEN 13 THEN 'host'
              ELSE 'family' END AS dimension,
         CASE grouping_id WHEN 7 THEN app_version WHEN 11 THEN cookie_format WHEN 13 THEN host
              ELSE family END AS value,
         first_seen, last_seen, requests, first_on_hosts
  FROM seen
)
SELECT dimension, value, first_seen, last_seen, requests, first_on_hosts
FROM named
WHERE value IS NOT NULL AND NOT (dimension = 'cookie_format' AND value = 'none')
ORDER BY dimension, first_seen, value
