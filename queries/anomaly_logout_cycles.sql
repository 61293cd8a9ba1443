-- Logouts per client per window: clients cycling rejected -> logout -> login.
-- App events name the client (or user); without them, requests to logout routes count.
-- Returns: client, window_start, cycles, first_ts, last_ts.
-- Parameters: $since, $until, $window_minutes, $from_events (boolean).
WITH logouts AS (
  -- a loop is one user (or one browser) cycling: behind a NAT many users share an address
  SELECT coalesce(user_key, session_key, client_key) AS client, ts FROM events
  WHERE $from_events AND event = 'logout' AND ts >= $since AND ts < $until
  UNION ALL
  SELECT client_key || ' ' || coalesce(user_agent, '') AS client, ts FROM requests
  WHERE NOT $from_events AND ts >= $since AND ts < $until
    AND contains(lower(route), 'out')  -- cheap filter before the regex
    AND regexp_matches(route, '(?i)(log_?out|sign_?out)')
)
SELECT client, time_bucket(to_minutes($window_minutes), ts) AS window_start, count(*) AS cycles,
       min(ts) AS first_ts, max(ts) AS last_ts
FROM logouts
WHERE client IS NOT NULL
GROUP BY ALL
