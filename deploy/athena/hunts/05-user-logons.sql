-- Where and how one account logged on: every UserLogon of a user name, with the host (from
-- aidmaster), logon type (2 interactive, 3 network, 5 service, 10 remote interactive), the
-- client computer it came from and the account's SID. A service account logging on
-- interactively or to workstations stands out.
-- Change: the user name literal (compared case-insensitively) and the `dt` range.
WITH hosts AS (
  SELECT aid, max_by(computer_name, "time") AS hostname
  FROM falconry.aidmaster
  WHERE dt BETWEEN '2026-03-13' AND '2026-03-14'
  GROUP BY aid
)
SELECT
  l."timestamp",
  h.hostname,
  l.aid,
  l.user_name,
  l.logon_domain,
  l.logon_type,
  element_at(l.fields, 'ClientComputerName') AS client_computer,
  element_at(l.fields, 'UserSid_readable') AS user_sid
FROM falconry.events AS l
LEFT JOIN hosts AS h ON h.aid = l.aid
WHERE l.dt BETWEEN '2026-03-13' AND '2026-03-14'
  AND l.event_simplename = 'UserLogon'
  AND lower(l.user_name) = 'svc-backup'
ORDER BY l."timestamp"
