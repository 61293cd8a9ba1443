-- The versions each host served at the end of the data and in the hours before it.
-- Returns: host, app_version, tail_requests, before_requests; one row per
-- host and version seen in either period.
-- Parameters: $before_start, $tail_start, $tail_end (before: $before_start
-- to $tail_start; the end of the data: $tail_start to $tail_end).
WITH served AS (
  SELECT host, app_version, ts
  FROM requests
  WHERE ts >= $before_start AND ts < $tail_end AND host IS NOT NULL AND app_version IS NOT NULL
)
SELECT host, app_version,
       count(*) FILTER (WHERE ts >= $tail_start) AS tail_requests,
       count(*) FILTER (WHERE ts < $tail_start) AS before_requests
FROM served
GROUP BY host, app_version
ORDER BY host, tail_requests DESC
