-- Sessions used by several distinct users (app events, or the signed-in user a response names).
-- Returns: session_key, users, first_seen, last_seen, user_keys, clients (distinct client
-- addresses on the session's identified rows); one row per shared session.
-- Parameters: $since, $until, $min_users.
WITH identified AS (
  SELECT session_key, user_key, client_key, ts FROM events
  WHERE session_key IS NOT NULL AND user_key IS NOT NULL AND ts >= $since AND ts < $until
  UNION ALL
  SELECT session_key, user_key, client_key, ts FROM requests
  WHERE session_key IS NOT NULL AND user_key IS NOT NULL AND ts >= $since AND ts < $until
),
per_session AS (
  SELECT session_key, count(DISTINCT user_key) AS users, min(ts) AS first_seen, max(ts) AS last_seen,
         list(DISTINCT user_key ORDER BY user_key) AS user_keys, count(DISTINCT client_key) AS clients
  FROM identified
  GROUP BY session_key
)
SELECT * FROM per_session WHERE users >= $min_users ORDER BY first_seen
