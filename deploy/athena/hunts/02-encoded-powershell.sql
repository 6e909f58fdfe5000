-- Hidden PowerShell with an encoded command: command lines that both hide the window
-- (-w/-WindowStyle hidden) and pass base64 (-e/-ec/-enc/-EncodedCommand), with the decoded
-- script (UTF-16LE, so the NULs of from_utf8 are dropped; NULL when it is not base64) and
-- the host it ran on.
-- Change: the `dt` range; widen or narrow the two patterns (both are case-insensitive).
WITH hosts AS (
  SELECT aid, max_by(computer_name, "time") AS hostname
  FROM falconry.aidmaster
  WHERE dt BETWEEN '2026-03-13' AND '2026-03-14'
  GROUP BY aid
)
SELECT
  e."timestamp",
  h.hostname,
  e.aid,
  CAST(e.target_process_id AS varchar) AS target_process_id,
  e.parent_base_file_name,
  e.command_line,
  replace(
    try(from_utf8(from_base64(
      regexp_extract(e.command_line, '(?i)\s-e(?:c|nc|ncodedcommand)?\s+([A-Za-z0-9+/=]{16,})', 1)
    ))),
    chr(0),
    ''
  ) AS decoded
FROM falconry.events AS e
LEFT JOIN hosts AS h ON h.aid = e.aid
WHERE e.dt BETWEEN '2026-03-13' AND '2026-03-14'
  AND e.event_simplename IN ('ProcessRollup2', 'SyntheticProcessRollup2')
  AND regexp_like(e.command_line, '(?i)\s-w(?:in(?:dow(?:style)?)?)?\s+hidden\b')
  AND regexp_like(e.command_line, '(?i)\s-e(?:c|nc|ncodedcommand)?\s+[A-Za-z0-9+/=]{16,}')
ORDER BY e."timestamp"
