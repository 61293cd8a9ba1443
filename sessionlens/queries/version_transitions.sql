-- Application versions taking over on hosts.
-- Returns one row per (host, minute) where the version serving most of the
-- host's requests differs from the minute before and still leads the minute
-- after: host, at, from_version, to_version, requests.
-- Parameters: $since, $until (timestamps).
WITH per_minute AS (
  SELECT host, time_bucket(INTERVAL 1 minute, ts) AS minute, app_version, count(*) AS n
  FROM requests
  WHERE ts >= $since AND ts < $until AND host IS NOT NULL AND app_version IS NOT NULL
  GROUP BY ALL
),
dominant AS (
  SELECT host, minute, arg_max(app_version, n) AS version, sum(n) AS requests
  FROM per_minute
  GROUP BY ALL
),
ordered AS (
  SELECT host, minute, version, requests,
         lag(version) OVER w AS previous,
         lead(version) OVER w AS following
  FROM dominant
  WINDOW w AS (PARTITION BY host ORDER BY minute)
)
SELECT host, minute AS "at", previous AS from_version, version AS to_version, requests
FROM ordered
WHERE previous IS NOT NULL AND version <> previous AND (following IS NULL OR following = version)
ORDER BY "at", host
