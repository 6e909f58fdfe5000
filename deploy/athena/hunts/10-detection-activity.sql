-- What a detected process and the processes it started did: the DNS requests, connections
-- and file writes whose ContextProcessId is the detected process, a child or a grandchild
-- (fixed-depth self-joins on TargetProcessId/ParentProcessId, no recursion needed).
-- Change: the CompositeId literal and the `dt` range; add a level (great-grandchildren) by
-- repeating the last join.
WITH detection AS (
  SELECT
    agent_id AS aid,
    detection_name,
    CAST(json_extract_scalar(fields_json, '$.ProcessId') AS decimal(20, 0)) AS process_id
  FROM falconry.events
  WHERE dt BETWEEN '2026-03-13' AND '2026-03-14'
    AND composite_id = '5eed0fa1c0ffee00d15ea5e0b0a7f00d:ind:67e393bba98ec2eaf28cc40f087d3dc2:41739284016-1650-7730412'
),
processes AS (
  SELECT aid, target_process_id, parent_process_id, image_file_name
  FROM falconry.events
  WHERE dt BETWEEN '2026-03-13' AND '2026-03-14'
    AND event_simplename = 'ProcessRollup2'
    AND aid IN (SELECT aid FROM detection)
),
family AS (
  SELECT d.aid, d.process_id, 0 AS generation FROM detection AS d
  UNION ALL
  SELECT c.aid, c.target_process_id, 1
  FROM detection AS d
  JOIN processes AS c ON c.aid = d.aid AND c.parent_process_id = d.process_id
  UNION ALL
  SELECT g.aid, g.target_process_id, 2
  FROM detection AS d
  JOIN processes AS c ON c.aid = d.aid AND c.parent_process_id = d.process_id
  JOIN processes AS g ON g.aid = c.aid AND g.parent_process_id = c.target_process_id
)
SELECT
  e."timestamp",
  f.generation,
  regexp_extract(p.image_file_name, '[^\\]+$') AS process,
  e.event_simplename,
  coalesce(
    e.domain_name,
    e.remote_address_ip4 || ':' || CAST(e.remote_port AS varchar),
    e.target_file_name
  ) AS detail,
  e.sha256_hash_data
FROM family AS f
JOIN falconry.events AS e ON e.aid = f.aid AND e.context_process_id = f.process_id
LEFT JOIN processes AS p ON p.aid = f.aid AND p.target_process_id = f.process_id
WHERE e.dt BETWEEN '2026-03-13' AND '2026-03-14'
  AND e.event_simplename IN (
    'DnsRequest', 'NetworkConnectIP4', 'NetworkConnectIP6', 'PeFileWritten',
    'NewExecutableWritten', 'ZipFileWritten'
  )
ORDER BY e."timestamp", e.event_simplename
