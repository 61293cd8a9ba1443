-- How many session errors each user had between two times.
-- Returns: users, errors, users_hit_once.
-- Parameters: $start, $end.
WITH per_user AS (
  SELECT coalesce(user_key, session_key, client_key) AS who, count(*) AS errors
  FROM events
  WHERE error_kind IS NOT NULL AND ts >= $start AND ts < $end
  GROUP BY who
)
SELECT count(*) AS users, coalesce(sum(errors), 0) AS errors, count(*) FILTER (WHERE errors = 1) AS users_hit_once
FROM per_user
