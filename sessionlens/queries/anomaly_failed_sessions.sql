-- Valid sessions that failed: every session (its cookie's keyed hash) that had a successful
-- request and later a session error, from access logs, in one scan. A cookie that never worked
-- (a bot, a stale bookmark) is not a session that was wiped, and is left out.
-- Returns one row per such session: first_seen, first_error, last_ok (its last success),
-- client_key (the address it was opened from), user_agent, user_key (any signed-in user on it).
-- Parameters: $since, $until (timestamps).
WITH per_session AS (
  SELECT min(ts) AS first_seen,
         min(ts) FILTER (WHERE error_kind IS NOT NULL) AS first_error,
         min(ts) FILTER (WHERE error_kind IS NULL AND status < 400) AS first_ok,
         max(ts) FILTER (WHERE error_kind IS NULL AND status < 400) AS last_ok,
         arg_min(client_key, ts) AS client_key,
         arg_min(user_agent, ts) AS user_agent,
         max(user_key) AS user_key
  FROM requests
  WHERE session_key IS NOT NULL AND ts >= $since AND ts < $until
  GROUP BY session_key
)
SELECT first_seen, first_error, last_ok, client_key, user_agent, user_key
FROM per_session
WHERE first_ok < first_error
