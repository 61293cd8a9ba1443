-- The changes written to the lake (imported or added), oldest first; rows without a time are left out.
-- Returns: the changes table's columns (lake/schema.py CHANGE_COLUMNS, in that order):
--   id, at, end, kind, label, scope, detail, origin.
-- Parameters: none.
SELECT "id", "at", "end", "kind", "label", "scope", "detail", "origin"
FROM changes
WHERE "at" IS NOT NULL
ORDER BY "at"
