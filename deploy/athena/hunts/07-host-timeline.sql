-- Everything one host did around a moment: its events from five minutes before to five
-- minutes after, oldest first, with one readable detail per event (command line, domain,
-- file, remote address or user) and the process behind it (its own image, or the image of
-- the ProcessRollup2 its ContextProcessId points at). The host is found by name in aidmaster.
-- Change: the host name, the moment (TIMESTAMP literal, UTC) and the window, and `dt` to the
-- moment's day (both days when the window crosses midnight).
WITH host AS (
  SELECT DISTINCT aid
  FROM falconry.aidmaster
  WHERE dt BETWEEN '2026-03-13' AND '2026-03-14'
    AND upper(computer_name) = 'WKS-ACCT-0042'
),
processes AS (
  SELECT aid, target_process_id, image_file_name
  FROM falconry.events
  WHERE dt BETWEEN '2026-03-13' AND '2026-03-14'
    AND event_simplename = 'ProcessRollup2'
    AND aid IN (SELECT aid FROM host)
)
SELECT
  e."timestamp",
  e.event_simplename,
  regexp_extract(
    coalesce(e.context_base_file_name, p.image_file_name, e.image_file_name),
    '[^\\]+$'
  ) AS process,
  coalesce(
    e.command_line,
    e.domain_name,
    e.target_file_name,
    e.remote_address_ip4 || ':' || CAST(e.remote_port AS varchar),
    e.user_name
  ) AS detail
FROM falconry.events AS e
LEFT JOIN processes AS p
  ON p.aid = e.aid AND p.target_process_id = e.context_process_id
WHERE e.dt = '2026-03-14'
  AND e.aid IN (SELECT aid FROM host)
  AND e."timestamp" BETWEEN TIMESTAMP '2026-03-14 09:50:40' - INTERVAL '5' MINUTE
                        AND TIMESTAMP '2026-03-14 09:50:40' + INTERVAL '5' MINUTE
ORDER BY e."timestamp", e.event_simplename
