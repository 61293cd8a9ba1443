-- Rows per hour of a lake table: what the bulk of the data is found from (sessionlens.lake.span).
-- Returns one row per hour holding rows: hr (the hour's start), n (its rows), oldest first.
-- Identifiers: {{ table }} (requests or events).
SELECT time_bucket(INTERVAL 1 HOUR, ts) AS hr, count(*) AS n
FROM {{ table }}
WHERE ts IS NOT NULL
GROUP BY 1
ORDER BY 1
