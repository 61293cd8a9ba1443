-- Requests and session errors in slices of a window (for the trend before a response).
-- Returns: slice_start, requests, errors; one row per slice that had requests,
-- in time order. Slices are $slice_seconds long, counted from $start.
-- Parameters: $start, $end, $slice_seconds (integer), $values (list of text,
-- or NULL for all traffic). Identifier: {{ dimension }} (matched against $values).
WITH window_rows AS (
  SELECT CAST(floor((epoch(ts) - epoch(CAST($start AS TIMESTAMPTZ))) / $slice_seconds) AS BIGINT) AS slice, error_kind
  FROM requests
  WHERE ts >= $start AND ts < $end
    AND (CAST($values AS VARCHAR[]) IS NULL
         OR coalesce(list_contains(CAST($values AS VARCHAR[]), CAST({{ dimension }} AS VARCHAR)), false))
)
SELECT CAST($start AS TIMESTAMPTZ) + to_seconds(slice * $slice_seconds) AS slice_start,
       count(*) AS requests, count(error_kind) AS errors
FROM window_rows
GROUP BY slice
ORDER BY slice
