-- How busy one host was, hour by hour and event type by event type: a quick profile of what
-- a host sends, and a way to spot a burst of process, network or file activity.
-- Change: the host name and the `dt` range. Drop the host filter for the whole fleet (then
-- the partition columns alone give the hour: GROUP BY dt, hour is cheaper).
WITH host AS (
  SELECT DISTINCT aid
  FROM falconry.aidmaster
  WHERE dt BETWEEN '2026-03-13' AND '2026-03-14'
    AND upper(computer_name) = 'WKS-ACCT-0042'
)
SELECT
  date_trunc('hour', e."timestamp") AS hour_start,
  e.event_simplename,
  count(*) AS events
FROM falconry.events AS e
WHERE e.dt = '2026-03-14'
  AND e.aid IN (SELECT aid FROM host)
GROUP BY date_trunc('hour', e."timestamp"), e.event_simplename
ORDER BY hour_start, events DESC, e.event_simplename
