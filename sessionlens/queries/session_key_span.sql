-- The time span of requests that carry a session cookie.
-- Returns one row: data_start, data_end (the first and last such request between
-- $since and $until) and horizon (the last such request in the whole lake).
-- Parameters: $since, $until (timestamps).
WITH with_session AS (
  SELECT ts FROM requests WHERE session_key IS NOT NULL
)
SELECT min(ts) FILTER (WHERE ts >= $since AND ts < $until) AS data_start,
       max(ts) FILTER (WHERE ts >= $since AND ts < $until) AS data_end,
       max(ts) AS horizon
FROM with_session
