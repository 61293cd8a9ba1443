-- The mix of a dimension's values per 5-minute window (e.g. edge_worker verdicts).
-- Returns: window_start, value, requests, share (of the window's requests).
-- Parameters: $since, $until. Identifier: {{ dimension }}.
WITH counted AS (
  SELECT time_bucket(INTERVAL 5 minute, ts) AS window_start,
         coalesce(CAST({{ dimension }} AS VARCHAR), '(none)') AS value,
         count(*) AS requests
  FROM requests
  WHERE ts >= $since AND ts < $until
  GROUP BY ALL
)
SELECT window_start, value, requests, CAST(requests / sum(requests) OVER (PARTITION BY window_start) AS DOUBLE) AS share
FROM counted
ORDER BY window_start, value
