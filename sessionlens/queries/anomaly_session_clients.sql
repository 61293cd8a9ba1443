-- Sessions used from many unrelated clients at once (for logs with no user identity).
-- Returns: session_key, clients (most addresses in one window), agents, browsers (most
-- address + user agent pairs in one window), first_seen, last_seen.
-- Parameters: $since, $until, $window_minutes, $min_clients, $min_agents, $max_candidates.
WITH seen AS (
  -- cheap first pass: sessions seen from enough addresses and agents at all
  SELECT session_key, approx_count_distinct(client_key) AS clients, approx_count_distinct(user_agent) AS agents
  FROM requests
  WHERE session_key IS NOT NULL AND ts >= $since AND ts < $until
  GROUP BY session_key
),
candidates AS (
  SELECT session_key
  FROM seen
  WHERE clients >= $min_clients AND agents >= $min_agents
  ORDER BY clients DESC, session_key
  LIMIT $max_candidates  -- bounded work even on odd data
),
per_window AS (
  SELECT r.session_key, time_bucket(to_minutes($window_minutes), r.ts) AS window_start,
         count(DISTINCT r.client_key) AS clients, count(DISTINCT r.user_agent) AS agents,
         count(DISTINCT r.client_key || ' ' || coalesce(r.user_agent, '')) AS browsers
  FROM requests AS r
  JOIN candidates AS c ON r.session_key = c.session_key
  WHERE r.ts >= $since AND r.ts < $until
  GROUP BY ALL
)
SELECT session_key, max(clients) AS clients, max(agents) AS agents, max(browsers) AS browsers, min(window_start) AS first_seen,
       max(window_start) + to_minutes($window_minutes) AS last_seen
FROM per_window
WHERE clients >= $min_clients AND agents >= $min_agents
GROUP BY session_key
ORDER BY first_seen
