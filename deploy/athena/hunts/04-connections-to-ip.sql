-- Network connections to (or accepted from) one IPv4 address, with the host, the process
-- that made them (joined from its ProcessRollup2) and its command line.
-- Change: the address literal, the `dt` range; add remote_port to the WHERE to narrow.
WITH hosts AS (
  SELECT aid, max_by(computer_name, "time") AS hostname
  FROM falconry.aidmaster
  WHERE dt BETWEEN '2026-03-13' AND '2026-03-14'
  GROUP BY aid
),
processes AS (
  SELECT aid, target_process_id, image_file_name, command_line
  FROM falconry.events
  WHERE dt BETWEEN '2026-03-13' AND '2026-03-14'
    AND event_simplename = 'ProcessRollup2'
)
SELECT
  n."timestamp",
  h.hostname,
  n.event_simplename,
  n.local_address_ip4,
  n.local_port,
  n.remote_address_ip4,
  n.remote_port,
  n.protocol,
  n.context_base_file_name,
  CAST(n.context_process_id AS varchar) AS context_process_id,
  p.command_line
FROM falconry.events AS n
LEFT JOIN hosts AS h ON h.aid = n.aid
LEFT JOIN processes AS p ON p.aid = n.aid AND p.target_process_id = n.context_process_id
WHERE n.dt BETWEEN '2026-03-13' AND '2026-03-14'
  AND n.event_simplename IN ('NetworkConnectIP4', 'NetworkReceiveAcceptIP4')
  AND n.remote_address_ip4 = '203.0.113.66'
ORDER BY n."timestamp"
