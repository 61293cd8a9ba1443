-- Session errors in app events per window: how many distinct users they hit, and how often.
-- Returns: window_start, hit (distinct users), errors; in time order.
-- Parameters: $since, $until, $window_minutes.
WITH errs AS (
  SELECT ts, coalesce(user_key, session_key, client_key) AS who
  FROM events
  WHERE error_kind IS NOT NULL AND ts >= $since AND ts < $until
)
SELECT time_bucket(to_minutes($window_minutes), ts) AS window_start, count(DISTINCT who) AS hit, count(*) AS errors
FROM errs
GROUP BY window_start
ORDER BY window_start
