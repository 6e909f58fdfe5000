-- New binaries that were dropped and then run: SHA256 hashes whose first sighting anywhere in
-- the lookback is a file write (PeFileWritten/NewExecutableWritten) inside the recent window,
-- and that a ProcessRollup2 later ran. A hash seen before the window is not new, however
-- rare; one that was written but never run is a lead for another hunt.
-- Change: the lookback `dt` range (as far back as you keep data, e.g. 30 days) and the start
-- of the recent window (the TIMESTAMP literal).
WITH sightings AS (
  SELECT
    sha256_hash_data AS sha256,
    "timestamp",
    event_simplename,
    aid,
    coalesce(target_file_name, image_file_name) AS path
  FROM falconry.events
  WHERE dt BETWEEN '2026-02-13' AND '2026-03-14'
    AND sha256_hash_data IS NOT NULL
),
hashes AS (
  SELECT
    sha256,
    min("timestamp") AS first_seen,
    min_by(event_simplename, "timestamp") AS first_event,
    min_by(path, "timestamp") AS first_path,
    count(DISTINCT aid) AS hosts,
    count_if(event_simplename = 'ProcessRollup2') AS executions,
    min(CASE WHEN event_simplename = 'ProcessRollup2' THEN "timestamp" END) AS first_run
  FROM sightings
  GROUP BY sha256
)
SELECT sha256, first_seen, first_event, first_path, first_run, executions, hosts
FROM hashes
WHERE first_seen >= TIMESTAMP '2026-03-14 00:00:00'
  AND first_event IN ('PeFileWritten', 'NewExecutableWritten')
  AND executions > 0
ORDER BY first_seen
