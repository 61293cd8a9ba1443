-- The time of the last request in a window: where "the end of the data" is.
-- Returns: last_ts (one row; null when the window holds no request).
-- Parameters: $start, $end.
WITH window_rows AS (
  SELECT ts FROM requests WHERE ts >= $start AND ts < $end
)
SELECT max(ts) AS last_ts FROM window_rows
