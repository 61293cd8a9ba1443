-- The version each host served, per 5-minute window, between two times (for rolling deploys).
-- Returns: window_start, window_end, host, app_version, requests.
-- Parameters: $start, $end.
WITH counted AS (
  SELECT time_bucket(INTERVAL 5 minute, ts) AS window_start, host, app_version, count(*) AS n
  FROM requests
  WHERE ts >= $start AND ts < $end AND host IS NOT NULL AND app_version IS NOT NULL
  GROUP BY ALL
),
ranked AS (
  -- the version with the most requests; a tie goes to the first by name (the same answer every run)
  SELECT window_start, host, app_version, sum(n) OVER (PARTITION BY window_start, host) AS requests,
         row_number() OVER (PARTITION BY window_start, host ORDER BY n DESC, app_version) AS place
  FROM counted
)
SELECT window_start, window_start + INTERVAL 5 minute AS window_end, host, app_version,
       CAST(requests AS BIGINT) AS requests
FROM ranked
WHERE place = 1
ORDER BY window_start, host
