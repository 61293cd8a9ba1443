-- The version each host served, per 5-minute window, between two times (for rolling deploys).
-- Returns: window_start, window_end, host, app_version, requests.
-- Parameters: $start, $end.
WITH counted AS (
  SELECT time_bucket(INTERVAL 5 minute, ts) AS window_start, host, app_version, count(*) AS n
  FROM requests
  WHERE ts >= $start AND ts < $end AND host IS NOT NULL AND app_version IS NOT NULL
  GROUP BY ALL
)
SELECT window_start, window_start + INTERVAL 5 minute AS window_end, host, arg_max(app_version, n) AS app_version,
       CAST(sum(n) AS BIGINT) AS requests
FROM counted
GROUP BY window_start, window_end, host
ORDER BY window_start, host
