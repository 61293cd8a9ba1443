-- App events in the analysis window (what a window without requests still holds).
-- Returns: events (one row).
-- Parameters: $start, $end.
WITH window_events AS (
  SELECT ts
  FROM events
  WHERE ts >= $start AND ts < $end
)
SELECT count(*) AS events FROM window_events
