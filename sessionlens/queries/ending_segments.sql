-- One dimension's values at the end of the data, slice by slice, and in a baseline period before it.
-- Returns: value, slice, errors, requests. Rows with a slice are the end of
-- the data, one per value and time slice; rows with a null slice are the
-- baseline period, one per value. Values not seen at the end are left out.
-- Parameters: $tail_start, $tail_end (the end of the data), $slice_seconds,
-- $base_start, $base_end (the baseline period; it ends at or before
-- $tail_start). Identifier: {{ dimension }}.
WITH scoped AS (
  SELECT coalesce(CAST({{ dimension }} AS VARCHAR), '(none)') AS value,
         CASE WHEN ts >= $tail_start
              THEN time_bucket(to_seconds($slice_seconds), ts, TIMESTAMPTZ '2000-01-01 00:00:00+00') END AS slice,
         error_kind
  FROM requests
  WHERE (ts >= $tail_start AND ts < $tail_end) OR (ts >= $base_start AND ts < $base_end)
),
counted AS (
  SELECT value, slice, count(error_kind) AS errors, count(*) AS requests
  FROM scoped
  GROUP BY value, slice
),
seen_at_end AS (
  SELECT DISTINCT value FROM counted WHERE slice IS NOT NULL
)
SELECT value, slice, errors, requests
FROM counted
WHERE value IN (SELECT value FROM seen_at_end)
ORDER BY value, slice NULLS FIRST
