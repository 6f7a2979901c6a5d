-- Core catalogue: tenants, API keys, assets and sensors.
--
-- Every table carries tenant_id. Row-level security keeps tenants apart for
-- the role smartmaint_app, which request handlers switch to per transaction
-- (SET LOCAL ROLE smartmaint_app plus the setting smartmaint.tenant_id). The
-- owner role that runs migrations and the ingest batcher is not subject to
-- the policies: it writes rows whose tenant the API has already checked.

DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'smartmaint_app') THEN
    CREATE ROLE smartmaint_app NOLOGIN;
  END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
  NULL; -- another database of this cluster created it at the same moment
END
$$;

-- current_tenant is the tenant of the running transaction, or NULL.
CREATE FUNCTION current_tenant() RETURNS text
  LANGUAGE sql STABLE
  AS $$ SELECT nullif(current_setting('smartmaint.tenant_id', true), '') $$;

CREATE TABLE tenants (
  id         text PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
  name       text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_keys (
  id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id    text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  name         text NOT NULL,
  prefix       text NOT NULL UNIQUE,
  secret_hash  bytea NOT NULL,
  scopes       text[] NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  expires_at   timestamptz,
  revoked_at   timestamptz,
  last_used_at timestamptz
);
CREATE INDEX api_keys_tenant ON api_keys (tenant_id);

CREATE TABLE assets (
  tenant_id  text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id         text NOT NULL CHECK (id ~ '^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$'),
  type       text NOT NULL CHECK (type <> ''),
  name       text NOT NULL DEFAULT '',
  location   text NOT NULL DEFAULT '',
  metadata   jsonb NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id)
);

-- sensors.key is the compact id readings refer to. min_valid/max_valid bound
-- what the sensor can physically report (readings outside are rejected at
-- ingest); the warn/alarm limits are operating thresholds used by detection.
CREATE TABLE sensors (
  key        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  tenant_id  text NOT NULL,
  asset_id   text NOT NULL,
  id         text NOT NULL CHECK (id ~ '^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$'),
  kind       text NOT NULL DEFAULT '',
  unit       text NOT NULL,
  min_valid  double precision,
  max_valid  double precision,
  warn_low   double precision,
  warn_high  double precision,
  alarm_low  double precision,
  alarm_high double precision,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (tenant_id, asset_id, id),
  FOREIGN KEY (tenant_id, asset_id) REFERENCES assets (tenant_id, id) ON DELETE CASCADE,
  CHECK (min_valid IS NULL OR max_valid IS NULL OR min_valid < max_valid)
);

-- Changes to sensors are announced so every API replica drops its cached copy.
CREATE FUNCTION notify_sensor_change() RETURNS trigger
  LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('smartmaint_sensors', coalesce(NEW.tenant_id, OLD.tenant_id));
  RETURN NULL;
END
$$;
CREATE TRIGGER sensors_changed AFTER INSERT OR UPDATE OR DELETE ON sensors
  FOR EACH ROW EXECUTE FUNCTION notify_sensor_change();

ALTER TABLE tenants  ENABLE ROW LEVEL SECURITY;
ALTER TABLE api_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE assets   ENABLE ROW LEVEL SECURITY;
ALTER TABLE sensors  ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenants  USING (id = current_tenant());
CREATE POLICY tenant_isolation ON api_keys USING (tenant_id = current_tenant()) WITH CHECK (tenant_id = current_tenant());
CREATE POLICY tenant_isolation ON assets   USING (tenant_id = current_tenant()) WITH CHECK (tenant_id = current_tenant());
CREATE POLICY tenant_isolation ON sensors  USING (tenant_id = current_tenant()) WITH CHECK (tenant_id = current_tenant());

GRANT USAGE ON SCHEMA public TO smartmaint_app;
GRANT SELECT ON tenants TO smartmaint_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON api_keys, assets, sensors TO smartmaint_app;
