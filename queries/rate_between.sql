-- Requests and session errors between two times.
-- Returns: requests, errors (one row).
-- Parameters: $start, $end.
WITH window_rows AS (
  SELECT error_kind FROM requests WHERE ts >= $start AND ts < $end
)
SELECT count(*) AS requests, count(error_kind) AS errors FROM window_rows
