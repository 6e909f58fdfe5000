-- Which hosts resolved a domain (or any name under it), how often, when first and last, which
-- processes asked, and what the answers were; host names from aidmaster.
-- Change: the domain literal (twice: the name itself and its subdomains) and the `dt` range.
WITH hosts AS (
  SELECT aid, max_by(computer_name, "time") AS hostname
  FROM falconry.aidmaster
  WHERE dt BETWEEN '2026-03-13' AND '2026-03-14'
  GROUP BY aid
)
SELECT
  h.hostname,
  d.aid,
  count(*) AS requests,
  min(d."timestamp") AS first_seen,
  max(d."timestamp") AS last_seen,
  array_join(array_sort(array_agg(DISTINCT d.context_base_file_name)), ', ') AS processes,
  array_join(array_sort(array_agg(DISTINCT d.ip4_records)), ' ') AS answers
FROM falconry.events AS d
LEFT JOIN hosts AS h ON h.aid = d.aid
WHERE d.dt BETWEEN '2026-03-13' AND '2026-03-14'
  AND d.event_simplename = 'DnsRequest'
  AND (
    lower(d.domain_name) = 'update-check.evil.example'
    OR lower(d.domain_name) LIKE '%.update-check.evil.example'
  )
GROUP BY h.hostname, d.aid
ORDER BY first_seen
