-- Exposure contrast: error rates of exposed and unexposed traffic over the same minutes.
-- Exposed means the dimension's value is one of $values (hosts in a change's
-- scope, the version it shipped, the cookie format it introduced ...).
-- Returns: exposed (boolean), requests, errors.
-- Parameters: $start, $end, $values (list of text). Identifier: {{ dimension }}.
WITH window_rows AS (
  SELECT coalesce(list_contains($values, CAST({{ dimension }} AS VARCHAR)), false) AS exposed, error_kind
  FROM requests
  WHERE ts >= $start AND ts < $end
)
SELECT exposed, count(*) AS requests, count(error_kind) AS errors
FROM window_rows
GROUP BY exposed
