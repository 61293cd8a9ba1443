-- The first and last timestamp of a lake table, optionally within [$lo, $hi).
-- Returns one row: start, end (NULL when no row is in range).
-- Parameters: $lo, $hi (timestamps; NULL for no bound). Identifiers: {{ table }}.
SELECT min(ts) AS "start", max(ts) AS "end"
FROM {{ table }}
WHERE ($lo IS NULL OR ts >= $lo)
  AND ($hi IS NULL OR ts < $hi)
