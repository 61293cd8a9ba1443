-- Session-error rate per time bucket within each value of every segment dimension, in one scan.
-- Returns: dimension, value, bucket (start), requests, errors; one row per dimension, value
-- and bucket that had requests, for each dimension's $max_values values with the most
-- requests and the $max_values with the most session errors over the period. NULL values
-- are left out.
-- Parameters: $since, $until (timestamps), $bucket_seconds, $max_values (integers).
WITH window_rows AS (
  SELECT time_bucket(to_seconds($bucket_seconds), ts, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS bucket,
         host, app_version, cookie_format, edge_worker, cache_status, vhost, route, error_kind
  FROM requests
  WHERE ts >= $since AND ts < $until
),
combos AS (
  -- one hash pass over the rows; the seven groupings below then sum far fewer combinations
  SELECT bucket, host, app_version, cookie_format, edge_worker, cache_status, vhost, route,
         count(*) AS requests, count(error_kind) AS errors
  FROM window_rows
  GROUP BY ALL
),
grouped AS (
  SELECT bucket, host, app_version, cookie_format, edge_worker, cache_status, vhost, route,
         GROUPING(host, app_version, cookie_format, edge_worker, cache_status, vhost, route) AS grouping_id,
         CAST(sum(requests) AS BIGINT) AS requests, CAST(sum(errors) AS BIGINT) AS errors
  FROM combos
  GROUP BY GROUPING SETS ((bucket, host), (bucket, app_version), (bucket, cookie_format), (bucket, edge_worker),
                          (bucket, cache_status), (bucket, vhost), (bucket, route))
),
labelled AS (
  -- GROUPING() sets a bit for every column *not* grouped: the one clear bit names the dimension
  SELECT CASE grouping_id WHEN 63 THEN 'host' WHEN 95 THEN 'app_version' WHEN 111 THEN 'cookie_format'
                          WHEN 119 THEN 'edge_worker' WHEN 123 THEN 'cache_status' WHEN 125 THEN 'vhost'
                          WHEN 126 THEN 'route' END AS dimension,
         CAST(coalesce(host, app_version, cookie_format, edge_worker, cache_status, vhost, route) AS VARCHAR) AS value,
         bucket, requests, errors
  FROM grouped
),
per_value AS (
  SELECT dimension, value, sum(requests) AS requests, sum(errors) AS errors
  FROM labelled
  WHERE value IS NOT NULL
  GROUP BY ALL
),
chosen AS (
  SELECT dimension, value
  FROM (SELECT dimension, value, errors,
               row_number() OVER (PARTITION BY dimension ORDER BY requests DESC, value) AS by_requests,
               row_number() OVER (PARTITION BY dimension ORDER BY errors DESC, value) AS by_errors
        FROM per_value)
  WHERE by_requests <= $max_values OR (by_errors <= $max_values AND errors > 0)
)
SELECT dimension, value, bucket, requests, errors
FROM labelled
JOIN chosen USING (dimension, value)
ORDER BY dimension, value, bucket
