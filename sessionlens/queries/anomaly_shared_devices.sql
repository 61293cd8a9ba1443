-- MFA devices or factors enrolled on several accounts.
-- Returns: device_key, users, first_seen, last_seen; most accounts first.
-- Parameters: $since, $until, $min_users.
WITH enrolments AS (
  SELECT device_key, user_key, ts FROM events
  WHERE event = 'mfa_enroll' AND device_key IS NOT NULL AND user_key IS NOT NULL AND ts >= $since AND ts < $until
)
SELECT device_key, count(DISTINCT user_key) AS users, min(ts) AS first_seen, max(ts) AS last_seen
FROM enrolments
GROUP BY device_key
HAVING count(DISTINCT user_key) >= $min_users
ORDER BY users DESC
