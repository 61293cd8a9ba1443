-- How a window's session errors and requests split over one dimension's values.
-- Returns: value, errors, requests, error_share, request_share, rate; most errors first.
-- Parameters: $start, $end. Identifier: {{ dimension }}.
WITH window_rows AS (
  SELECT coalesce(CAST({{ dimension }} AS VARCHAR), '(none)') AS value, error_kind
  FROM requests
  WHERE ts >= $start AND ts < $end
),
per_value AS (
  SELECT value, count(error_kind) AS errors, count(*) AS requests
  FROM window_rows
  GROUP BY value
)
SELECT value, errors, requests,
       CAST(errors / nullif(sum(errors) OVER (), 0) AS DOUBLE) AS error_share,
       CAST(requests / sum(requests) OVER () AS DOUBLE) AS request_share,
       CAST(errors / requests AS DOUBLE) AS rate
FROM per_value
ORDER BY errors DESC
