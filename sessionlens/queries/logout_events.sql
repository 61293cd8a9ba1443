-- Logout events anywhere in the lake: when there are any, logout loops are read from the app
-- events; else from requests to logout routes.
-- Returns: logouts (one row).
-- Parameters: none.
WITH logouts AS (
  SELECT ts
  FROM events
  WHERE event = 'logout'
)
SELECT count(*) AS logouts FROM logouts
