-- The analysis window's totals: its requests, session errors, and how many rows carry each
-- column that shows a session (the verdict's signals).
-- Returns: requests, session_errors, session_key, user_key, error_kind (one row; the last
-- three count the rows where that column is set).
-- Parameters: $start, $end.
WITH window_rows AS (
  SELECT session_key, user_key, error_kind
  FROM requests
  WHERE ts >= $start AND ts < $end
)
SELECT count(*) AS requests,
       count(error_kind) AS session_errors,
       count(session_key) AS session_key,
       count(user_key) AS user_key,
       count(error_kind) AS error_kind
FROM window_rows
