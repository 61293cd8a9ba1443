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
  -- the version with the most requests; a tie goes to the first by name (the same answer every run)
  SELECT host, minute, version, requests
  FROM (SELECT host, minute, app_version AS version, sum(n) OVER (PARTITION BY host, minute) AS requests,
               row_number() OVER (PARTITION BY host, minute ORDER BY n DESC, app_version) AS place
        FROM per_minute)
  WHERE place = 1
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
