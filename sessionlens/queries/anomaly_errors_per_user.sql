-- How many session errors each user had between two times (app events).
-- Returns: users, errors, users_hit_once, sessions (distinct session keys named), clients (distinct client keys).
-- Parameters: $start, $end.
WITH errs AS (
  SELECT coalesce(user_key, session_key, client_key) AS who, session_key, client_key
  FROM events
  WHERE error_kind IS NOT NULL AND ts >= $start AND ts < $end
),
per_user AS (
  SELECT who, count(*) AS errors FROM errs GROUP BY who
)
SELECT (SELECT count(*) FROM per_user) AS users,
       (SELECT coalesce(sum(errors), 0) FROM per_user) AS errors,
       (SELECT count(*) FILTER (WHERE errors = 1) FROM per_user) AS users_hit_once,
       count(DISTINCT session_key) AS sessions,
       count(DISTINCT client_key) AS clients
FROM errs
