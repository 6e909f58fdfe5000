-- Rare parent → child pairs among the children of Office and document applications: every
-- ProcessRollup2 pair (parent image → child image) counted across the fleet, kept when it ran
-- at most twice, with how many children that parent has in all. Word starting its print
-- host again and again is normal; Word starting PowerShell once is not.
-- Change: the `dt` range (a longer baseline makes "rare" mean more), the threshold
-- (executions <= 2), and the parent list; drop the parent filter for a fleet-wide sweep
-- (expect many one-off pairs on a small baseline).
WITH pairs AS (
  SELECT
    lower(parent_base_file_name) AS parent,
    lower(regexp_extract(image_file_name, '[^\\/]+$')) AS child,
    count(*) AS executions,
    count(DISTINCT aid) AS hosts,
    min("timestamp") AS first_seen,
    min_by(aid, "timestamp") AS first_aid,
    min_by(command_line, "timestamp") AS first_command_line
  FROM falconry.events
  WHERE dt BETWEEN '2026-03-13' AND '2026-03-14'
    AND event_simplename = 'ProcessRollup2'
    AND parent_base_file_name IS NOT NULL
  GROUP BY lower(parent_base_file_name), lower(regexp_extract(image_file_name, '[^\\/]+$'))
),
ranked AS (
  SELECT *, sum(executions) OVER (PARTITION BY parent) AS parent_children
  FROM pairs
)
SELECT parent, child, executions, parent_children, hosts, first_seen, first_aid, first_command_line
FROM ranked
WHERE executions <= 2
  AND parent IN (
    'winword.exe', 'excel.exe', 'powerpnt.exe', 'outlook.exe', 'onenote.exe',
    'mspub.exe', 'visio.exe', 'acrord32.exe', 'acrobat.exe'
  )
ORDER BY executions, first_seen
