-- One reading per sensor and timestamp.
--
-- Gateways and MQTT QoS 1 re-send readings as a matter of course. Until now
-- every copy was stored, and counts, rollups and detectors drifted. From here
-- on readings are unique on (sensor_key, ts): sensor_key names one sensor of
-- one asset of one tenant, so this is "per tenant, asset, sensor and
-- timestamp". ts is the partition key (and the hypertable's time column), so
-- the unique index is allowed on both storage paths. The ingest batcher
-- inserts with ON CONFLICT DO NOTHING: an exact copy is acknowledged and not
-- stored again, a different value for a stored timestamp is refused (409
-- conflicting_reading, see docs/ARCHITECTURE.md, "Duplicate readings").
--
-- Copies stored before this migration are removed first, keeping the
-- earliest written one of each key (lowest ctid within its partition or
-- chunk), and the hourly rollups of the affected sensors and hours are
-- recomputed from what remains, so they no longer count the copies.

{{ if .timescale }}
-- An index cannot be built over compressed chunks on every TimescaleDB
-- version: decompress them; the compression policy compresses them again.
SELECT decompress_chunk(c, if_compressed => true) FROM show_chunks('readings') c;
{{ end }}

CREATE TEMP TABLE readings_dup_buckets ON COMMIT DROP AS
WITH dups AS (
  DELETE FROM readings r
  USING (
    SELECT tableoid, ctid, row_number() OVER (PARTITION BY sensor_key, ts ORDER BY tableoid, ctid) AS n
    FROM readings
  ) d
  WHERE d.n > 1 AND r.tableoid = d.tableoid AND r.ctid = d.ctid
  RETURNING r.sensor_key, r.ts
)
SELECT DISTINCT sensor_key, date_bin('1 hour', ts, timestamptz '2000-01-01 00:00:00+00') AS bucket FROM dups;

DELETE FROM readings_hourly h USING readings_dup_buckets b
WHERE h.sensor_key = b.sensor_key AND h.bucket = b.bucket;

INSERT INTO readings_hourly (tenant_id, sensor_key, bucket, n, sum, sum_sq, min, max)
SELECT min(r.tenant_id), r.sensor_key, b.bucket, count(*), sum(r.value), sum(r.value * r.value), min(r.value), max(r.value)
FROM readings_dup_buckets b
JOIN readings r ON r.sensor_key = b.sensor_key AND r.ts >= b.bucket AND r.ts < b.bucket + interval '1 hour'
GROUP BY r.sensor_key, b.bucket;

CREATE UNIQUE INDEX readings_sensor_ts_key ON readings (sensor_key, ts);
-- The unique index serves every query the plain one did.
DROP INDEX readings_sensor_ts;

-- readings_conflict aborts an ingest statement that found readings whose
-- sensor and timestamp are stored with a different value (or were written
-- by a concurrent transaction this statement cannot see yet). conflicts is
-- a JSON array of [position, stored value or null] pairs, positions counted
-- from 1 over the statement's input; the batcher reads them from the error's
-- DETAIL (SQLSTATE SMR01), answers the requests they belong to and commits
-- the others again without them.
CREATE FUNCTION readings_conflict(conflicts jsonb) RETURNS bigint LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'readings conflict with stored readings of the same sensor and timestamp'
    USING ERRCODE = 'SMR01', DETAIL = conflicts::text;
END
$$;
