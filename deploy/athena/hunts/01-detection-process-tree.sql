-- Process tree of a detection: the detected process, its ancestors and its descendants, by
-- walking TargetProcessId/ParentProcessId links between ProcessRollup2 events on the
-- detection's host (depth 0 is the detected process, negative depths its ancestors).
-- Change: the CompositeId literal (from the console or the detection record), and the `dt`
-- range to the days around the detection (processes can start days before they are detected).
-- Athena runs recursive WITH queries up to a depth of 10; the depth guards keep below that.
WITH RECURSIVE
  detection AS (
    SELECT
      agent_id AS aid,
      CAST(json_extract_scalar(fields_json, '$.ProcessId') AS decimal(20, 0)) AS process_id
    FROM falconry.events
    WHERE dt BETWEEN '2026-03-13' AND '2026-03-14'
      AND composite_id = '5eed0fa1c0ffee00d15ea5e0b0a7f00d:ind:67e393bba98ec2eaf28cc40f087d3dc2:41739284016-1650-7730412'
  ),
  processes AS (
    SELECT aid, target_process_id, parent_process_id, "timestamp", image_file_name, command_line
    FROM falconry.events
    WHERE dt BETWEEN '2026-03-13' AND '2026-03-14'
      AND event_simplename = 'ProcessRollup2'
      AND aid IN (SELECT aid FROM detection)
  ),
  ancestors (aid, process_id, depth) AS (
    SELECT aid, process_id, 0 FROM detection
    UNION ALL
    SELECT p.aid, p.parent_process_id, a.depth - 1
    FROM ancestors AS a
    JOIN processes AS p ON p.aid = a.aid AND p.target_process_id = a.process_id
    WHERE a.depth > -5
  ),
  descendants (aid, process_id, depth) AS (
    SELECT aid, process_id, 0 FROM detection
    UNION ALL
    SELECT p.aid, p.target_process_id, d.depth + 1
    FROM descendants AS d
    JOIN processes AS p ON p.aid = d.aid AND p.parent_process_id = d.process_id
    WHERE d.depth < 5
  ),
  tree AS (
    SELECT aid, process_id, depth FROM ancestors
    UNION
    SELECT aid, process_id, depth FROM descendants
  )
SELECT
  t.depth,
  p."timestamp",
  CAST(p.target_process_id AS varchar) AS target_process_id,
  CAST(p.parent_process_id AS varchar) AS parent_process_id,
  regexp_extract(p.image_file_name, '[^\\]+$') AS image,
  p.command_line
FROM tree AS t
JOIN processes AS p ON p.aid = t.aid AND p.target_process_id = t.process_id
ORDER BY t.depth, p."timestamp"
