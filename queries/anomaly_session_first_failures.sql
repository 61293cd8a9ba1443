-- Valid sessions failing for the first time, per window, from access logs.
-- A session (its cookie's keyed hash) counts once, in the window of its first
-- session error, and only if it had a successful request before: a cookie that
-- never worked (a bot, a stale bookmark) is not a session that was wiped.
-- Returns: window_start, hit (sessions failing for the first time); in time order.
-- Parameters: $since (start of the history read), $until, $window_minutes.
WITH per_session AS (
  SELECT session_key,
         min(ts) FILTER (WHERE error_kind IS NOT NULL) AS first_error,
         min(ts) FILTER (WHERE error_kind IS NULL AND status < 400) AS first_ok
  FROM requests
  WHERE session_key IS NOT NULL AND ts >= $since AND ts < $until
  GROUP BY session_key
)
SELECT time_bucket(to_minutes($window_minutes), first_error) AS window_start, count(*) AS hit
FROM per_session
WHERE first_error IS NOT NULL AND first_ok < first_error
GROUP BY window_start
ORDER BY window_start
