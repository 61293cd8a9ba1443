-- The valid sessions whose first session error fell between $start and $end (access logs):
-- how many, how many of them were new (first seen after $start), how many never
-- worked again, and whom they belonged to.
-- Returns one row: sessions, young, dead, clients (addresses), browsers (address +
-- user agent), users (signed-in user keys seen on them), onset (the first failure).
-- Parameters: $since (start of the history read), $until, $start, $end.
WITH per_session AS (
  SELECT session_key,
         min(ts) AS first_seen,
         min(ts) FILTER (WHERE error_kind IS NOT NULL) AS first_error,
         min(ts) FILTER (WHERE error_kind IS NULL AND status < 400) AS first_ok,
         max(ts) FILTER (WHERE error_kind IS NULL AND status < 400) AS last_ok
  FROM requests
  WHERE session_key IS NOT NULL AND ts >= $since AND ts < $until
  GROUP BY session_key
),
wiped AS (
  SELECT * FROM per_session
  WHERE first_ok < first_error AND first_error >= $start AND first_error < $end
),
owners AS (
  -- who held them: every request on a wiped session, not just the failing one
  SELECT r.session_key, r.client_key, r.user_agent, r.user_key
  FROM requests AS r
  JOIN wiped AS w ON r.session_key = w.session_key
  WHERE r.ts >= $since AND r.ts < $until
)
SELECT (SELECT count(*) FROM wiped) AS sessions,
       (SELECT count(*) FROM wiped WHERE first_seen >= $start) AS young,
       (SELECT count(*) FROM wiped WHERE last_ok < first_error) AS dead,
       (SELECT min(first_error) FROM wiped) AS onset,
       count(DISTINCT client_key) AS clients,
       count(DISTINCT client_key || ' ' || coalesce(user_agent, '')) AS browsers,
       count(DISTINCT user_key) AS users
FROM owners
