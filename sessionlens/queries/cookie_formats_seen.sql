-- When each session-cookie format was first and last seen.
-- Returns: cookie_format, first_seen, last_seen, requests.
-- Parameters: $since, $until.
WITH seen AS (
  SELECT cookie_format, ts
  FROM requests
  WHERE ts >= $since AND ts < $until AND cookie_format <> 'none'
)
SELECT cookie_format, min(ts) AS first_seen, max(ts) AS last_seen, count(*) AS requests
FROM seen
GROUP BY cookie_format
ORDER BY first_seen
