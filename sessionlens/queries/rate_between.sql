-- Requests and session errors between two times, in all traffic or in the traffic where a
-- dimension takes one of $values (the hosts a response touched, the segment a spike is
-- confined to).
-- Returns: requests, errors (one row).
-- Parameters: $start, $end, $values (list of text, or NULL for all traffic).
-- Identifier: {{ dimension }} (matched against $values).
WITH window_rows AS (
  SELECT error_kind
  FROM requests
  WHERE ts >= $start AND ts < $end
    AND (CAST($values AS VARCHAR[]) IS NULL
         OR coalesce(list_contains(CAST($values AS VARCHAR[]), CAST({{ dimension }} AS VARCHAR)), false))
)
SELECT count(*) AS requests, count(error_kind) AS errors FROM window_rows
