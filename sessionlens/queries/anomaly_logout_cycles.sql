-- Clients cycling rejected -> logout -> login: logouts per client in any $window_minutes.
-- App events name the client (or user); without them, requests to logout routes count.
-- Each logout is counted with those of the same client in the $window_minutes before it
-- (a sliding window: a loop is not split by a clock boundary).
-- Returns one row per looping client: client, cycles (the most logouts in any
-- $window_minutes), logouts (all of its logouts while looping), first_ts (the start
-- of its first looping stretch), last_ts, users, sessions (keys seen on its logouts),
-- requests (all of its requests from first_ts to last_ts; NULL from app events): a
-- loop is mostly logouts and logins, an office behind one address mostly other pages.
-- Parameters: $since, $until, $window_minutes, $min_cycles, $from_events (boolean).
WITH logouts AS (
  -- a loop is one user (or one browser) cycling: behind a NAT many users share an address
  SELECT coalesce(user_key, session_key, client_key) AS client, ts, user_key, session_key FROM events
  WHERE $from_events AND event = 'logout' AND ts >= $since AND ts < $until
  UNION ALL
  SELECT client_key || ' ' || coalesce(user_agent, '') AS client, ts, user_key, session_key FROM requests
  WHERE NOT $from_events AND ts >= $since AND ts < $until
    AND contains(lower(route), 'out')  -- cheap filter before the regex
    AND regexp_matches(route, '(?i)(log_?out|sign_?out)')
),
counted AS (
  SELECT client, ts, user_key, session_key,
         count(*) OVER recent AS n,
         min(ts) OVER recent AS stretch_start
  FROM logouts
  WHERE client IS NOT NULL
  WINDOW recent AS (PARTITION BY client ORDER BY ts
                    RANGE BETWEEN to_minutes($window_minutes) PRECEDING AND CURRENT ROW)
),
looping AS (
  SELECT client FROM counted GROUP BY client HAVING max(n) >= $min_cycles
),
per_client AS (
  SELECT c.client, max(c.n) AS cycles,
         min(c.stretch_start) FILTER (WHERE c.n >= $min_cycles) AS first_ts,
         max(c.ts) FILTER (WHERE c.n >= $min_cycles) AS last_ts
  FROM counted AS c
  JOIN looping AS l ON c.client = l.client
  GROUP BY c.client
),
stretch AS (
  -- what the client did while looping: from its first looping stretch to its last looping logout
  SELECT p.client, count(*) AS logouts, count(DISTINCT c.user_key) AS users, count(DISTINCT c.session_key) AS sessions
  FROM per_client AS p
  JOIN counted AS c ON c.client = p.client AND c.ts >= p.first_ts AND c.ts <= p.last_ts
  GROUP BY p.client
),
traffic AS (
  SELECT p.client, count(*) AS requests
  FROM per_client AS p
  JOIN requests AS r ON r.client_key || ' ' || coalesce(r.user_agent, '') = p.client
                    AND r.ts >= p.first_ts AND r.ts <= p.last_ts
  WHERE NOT $from_events AND r.ts >= $since AND r.ts < $until
  GROUP BY p.client
)
SELECT p.client, p.cycles, s.logouts, p.first_ts, p.last_ts, s.users, s.sessions, t.requests
FROM per_client AS p
JOIN stretch AS s ON p.client = s.client
LEFT JOIN traffic AS t ON p.client = t.client
ORDER BY p.first_ts
