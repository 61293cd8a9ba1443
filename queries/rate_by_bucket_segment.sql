-- Session-error rate per time bucket within each value of one dimension.
-- Returns: value, bucket (start), requests, errors; one row per value and
-- bucket that had requests, for the $max_values values with the most
-- requests and the $max_values with the most session errors over the period.
-- Parameters: $since, $until (timestamps), $bucket_seconds, $max_values (integers).
-- Identifier: {{ dimension }}.
WITH segment_rows AS (
  SELECT CAST({{ dimension }} AS VARCHAR) AS value, ts, error_kind
  FROM requests
  WHERE ts >= $since AND ts < $until AND {{ dimension }} IS NOT NULL
),
per_value AS (
  SELECT value, count(*) AS requests, count(error_kind) AS errors
  FROM segment_rows
  GROUP BY value
),
ranked AS (
  SELECT value,
         row_number() OVER (ORDER BY requests DESC, value) AS by_requests,
         row_number() OVER (ORDER BY errors DESC, value) AS by_errors,
         errors
  FROM per_value
),
chosen AS (
  SELECT value FROM ranked
  WHERE by_requests <= $max_values OR (by_errors <= $max_values AND errors > 0)
)
SELECT value,
       time_bucket(to_seconds($bucket_seconds), ts, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS bucket,
       count(*) AS requests,
       count(error_kind) AS errors
FROM segment_rows
JOIN chosen USING (value)
GROUP BY ALL
ORDER BY value, bucket
