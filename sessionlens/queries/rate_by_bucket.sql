-- Session-error rate per time bucket.
-- Returns: bucket (start), requests, errors, one row per bucket that had
-- requests, in time order.
-- Parameters: $since, $until (timestamps), $bucket_seconds (integer).
WITH bucketed AS (
  SELECT time_bucket(to_seconds($bucket_seconds), ts, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS bucket,
         error_kind
  FROM requests
  WHERE ts >= $since AND ts < $until
)
SELECT bucket, count(*) AS requests, count(error_kind) AS errors
FROM bucketed
GROUP BY bucket
ORDER BY bucket
