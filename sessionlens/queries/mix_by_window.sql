-- The mix of two dimensions' values per 5-minute window (e.g. edge_worker verdicts and cache
-- statuses), in one scan.
-- Returns: which (1: {{ first }}, 2: {{ second }}), window_start, value, requests, share (of the
-- window's requests).
-- Parameters: $since, $until. Identifiers: {{ first }}, {{ second }}.
WITH window_rows AS (
  SELECT time_bucket(INTERVAL 5 minute, ts) AS window_start,
         coalesce(CAST({{ first }} AS VARCHAR), '(none)') AS first_value,
         coalesce(CAST({{ second }} AS VARCHAR), '(none)') AS second_value
  FROM requests
  WHERE ts >= $since AND ts < $until
),
counted AS (
  -- GROUPING() sets a bit for each column not grouped: 1 when by the first, 2 when by the second
  SELECT window_start, first_value, second_value, GROUPING(first_value, second_value) AS grouping_id,
         count(*) AS requests
  FROM window_rows
  GROUP BY GROUPING SETS ((window_start, first_value), (window_start, second_value))
)
SELECT grouping_id AS which, window_start,
       CASE grouping_id WHEN 1 THEN first_value ELSE second_value END AS value,
       requests,
       CAST(requests / sum(requests) OVER (PARTITION BY grouping_id, window_start) AS DOUBLE) AS share
FROM counted
ORDER BY which, window_start, value
