-- Readings and their hourly rollup.
--
-- Plain PostgreSQL: readings is partitioned by day on ts. The storage
-- maintenance workflow creates partitions ahead of time and drops the ones
-- past READINGS_RETENTION; readings_default catches anything outside them so
-- an ingest batch never fails for lack of a partition. readings_hourly is kept
-- exact by the ingest batcher, in the same transaction as the COPY.
--
-- TimescaleDB (when the extension is available): readings is a hypertable with
-- daily chunks and native compression after 7 days; retention is a Timescale
-- policy. readings_hourly stays a plain table kept by the batcher, so queries
-- are the same on both paths.

{{ if .timescale }}
CREATE EXTENSION IF NOT EXISTS timescaledb;
CREATE TABLE readings (
  tenant_id  text NOT NULL,
  sensor_key bigint NOT NULL,
  ts         timestamptz NOT NULL,
  value      double precision NOT NULL
);
SELECT create_hypertable('readings', 'ts', chunk_time_interval => interval '1 day');
ALTER TABLE readings SET (timescaledb.compress, timescaledb.compress_segmentby = 'sensor_key', timescaledb.compress_orderby = 'ts');
SELECT add_compression_policy('readings', interval '7 days');
{{ else }}
CREATE TABLE readings (
  tenant_id  text NOT NULL,
  sensor_key bigint NOT NULL,
  ts         timestamptz NOT NULL,
  value      double precision NOT NULL
) PARTITION BY RANGE (ts);
CREATE TABLE readings_default PARTITION OF readings DEFAULT;
{{ end }}
CREATE INDEX readings_sensor_ts ON readings (sensor_key, ts);

CREATE TABLE readings_hourly (
  tenant_id  text NOT NULL,
  sensor_key bigint NOT NULL,
  bucket     timestamptz NOT NULL,
  n          bigint NOT NULL,
  sum        double precision NOT NULL,
  sum_sq     double precision NOT NULL,
  min        double precision NOT NULL,
  max        double precision NOT NULL,
  PRIMARY KEY (sensor_key, bucket)
);

ALTER TABLE readings        ENABLE ROW LEVEL SECURITY;
ALTER TABLE readings_hourly ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON readings        USING (tenant_id = current_tenant()) WITH CHECK (tenant_id = current_tenant());
CREATE POLICY tenant_isolation ON readings_hourly USING (tenant_id = current_tenant()) WITH CHECK (tenant_id = current_tenant());
GRANT SELECT ON readings, readings_hourly TO smartmaint_app;
