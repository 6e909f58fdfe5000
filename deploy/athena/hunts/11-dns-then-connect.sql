-- Hosts that resolved a domain and then connected to one of the addresses it answered
-- within two minutes: the resolution, the connection, and the process that made each.
-- A host that only resolved the name (a blocked or idle client) is not listed.
-- Change: the domain literal, the `dt` range, and the two-minute window.
WITH hosts AS (
  SELECT aid, max_by(computer_name, "time") AS hostname
  FROM falconry.aidmaster
  WHERE dt BETWEEN '2026-03-13' AND '2026-03-14'
  GROUP BY aid
),
lookups AS (
  SELECT aid, "timestamp", domain_name, ip4_records, context_base_file_name
  FROM falconry.events
  WHERE dt BETWEEN '2026-03-13' AND '2026-03-14'
    AND event_simplename = 'DnsRequest'
    AND lower(domain_name) = 'update-check.evil.example'
),
connections AS (
  SELECT aid, "timestamp", remote_address_ip4, remote_port, context_base_file_name
  FROM falconry.events
  WHERE dt BETWEEN '2026-03-13' AND '2026-03-14'
    AND event_simplename = 'NetworkConnectIP4'
)
SELECT
  h.hostname,
  l."timestamp" AS resolved_at,
  l.context_base_file_name AS resolved_by,
  c."timestamp" AS connected_at,
  c.context_base_file_name AS connected_by,
  c.remote_address_ip4,
  c.remote_port
FROM lookups AS l
JOIN connections AS c
  ON c.aid = l.aid
  AND contains(split(l.ip4_records, ';'), c.remote_address_ip4)
  AND c."timestamp" BETWEEN l."timestamp" AND l."timestamp" + INTERVAL '2' MINUTE
LEFT JOIN hosts AS h ON h.aid = l.aid
ORDER BY l."timestamp", c."timestamp"
