-- For each burst [$starts[i], $ends[i]): the valid sessions whose first session error fell in it
-- (access logs): how many, how many of them were new (first seen after its start), how many
-- never worked again, and whom they belonged to. One scan for every burst.
-- Returns one row per burst with sessions: burst (its 1-based index), sessions, young, dead,
-- clients (the addresses they were opened from), browsers (address + user agent), users
-- (signed-in user keys seen on them), onset (the first failure).
-- Parameters: $since (start of the history read), $until, $starts, $ends (lists of timestamps).
WITH bursts AS (
  SELECT unnest(range(1, len($starts) + 1)) AS burst, unnest($starts) AS burst_start, unnest($ends) AS burst_end
),
per_session AS (
  -- one scan: each session's times, and who held it (its first address and browser, any signed-in user)
  SELECT session_key,
         min(ts) AS first_seen,
         min(ts) FILTER (WHERE error_kind IS NOT NULL) AS first_error,
         min(ts) FILTER (WHERE error_kind IS NULL AND status < 400) AS first_ok,
         max(ts) FILTER (WHERE error_kind IS NULL AND status < 400) AS last_ok,
         arg_min(client_key, ts) AS client_key,
         arg_min(user_agent, ts) AS user_agent,
         max(user_key) AS user_key
  FROM requests
  WHERE session_key IS NOT NULL AND ts >= $since AND ts < $until
  GROUP BY session_key
),
wiped AS (
  SELECT b.burst, b.burst_start, s.*
  FROM per_session AS s
  JOIN bursts AS b ON s.first_error >= b.burst_start AND s.first_error < b.burst_end
  WHERE s.first_ok < s.first_error
)
SELECT burst, count(*) AS sessions, count(*) FILTER (WHERE first_seen >= burst_start) AS young,
       count(*) FILTER (WHERE last_ok < first_error) AS dead, min(first_error) AS onset,
       count(DISTINCT client_key) AS clients,
       count(DISTINCT client_key || ' ' || coalesce(user_agent, '')) AS browsers,
       count(DISTINCT user_key) AS users
FROM wiped
GROUP BY burst
ORDER BY burst
