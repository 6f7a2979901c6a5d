-- Incidents: the anomaly outbox, the incident projection the API lists, the
-- maintenance log and each tenant's incident policy.
--
-- anomalies is an outbox written in the same transaction as the readings
-- that triggered them. The dispatcher forwards them to the asset's incident
-- workflow (SignalWithStart) and stamps dispatched_at; a sweeper re-sends
-- what a crashed process left undispatched. The workflow ignores anomaly ids
-- it has seen, so a double send is harmless.
CREATE TABLE anomalies (
  id            uuid PRIMARY KEY,
  tenant_id     text NOT NULL,
  asset_id      text NOT NULL,
  sensor_id     text NOT NULL,
  ts            timestamptz NOT NULL,
  value         double precision NOT NULL,
  score         double precision NOT NULL,
  severity      text NOT NULL,
  detector      text NOT NULL,
  reason        text NOT NULL,
  direction     smallint NOT NULL DEFAULT 0,
  created_at    timestamptz NOT NULL DEFAULT now(),
  dispatched_at timestamptz
);
CREATE INDEX anomalies_undispatched ON anomalies (created_at) WHERE dispatched_at IS NULL;
CREATE INDEX anomalies_asset ON anomalies (tenant_id, asset_id, ts);

-- incidents is a projection of the incident workflows, kept by an activity
-- at every state change; seq only grows so a late, retried write cannot
-- overwrite a newer state. id is the workflow's first run id.
CREATE TABLE incidents (
  tenant_id     text NOT NULL,
  id            text NOT NULL,
  asset_id      text NOT NULL,
  workflow_id   text NOT NULL,
  status        text NOT NULL,
  resolution    text NOT NULL DEFAULT '',
  severity      text NOT NULL,
  active        boolean NOT NULL DEFAULT true,
  acknowledged  boolean NOT NULL DEFAULT false,
  assignee      text NOT NULL DEFAULT '',
  confidence    double precision NOT NULL DEFAULT 0,
  anomalies     integer NOT NULL DEFAULT 0,
  work_order_id uuid,
  summary       jsonb NOT NULL DEFAULT '{}',
  seq           bigint NOT NULL,
  opened_at     timestamptz NOT NULL,
  updated_at    timestamptz NOT NULL,
  closed_at     timestamptz,
  PRIMARY KEY (tenant_id, id)
);
CREATE INDEX incidents_asset ON incidents (tenant_id, asset_id, opened_at DESC);
CREATE INDEX incidents_status ON incidents (tenant_id, status, opened_at DESC);
-- At most one open incident per asset; the workflow id already guarantees
-- it, this makes the projection say so too.
CREATE UNIQUE INDEX incidents_one_open_per_asset ON incidents (tenant_id, asset_id) WHERE closed_at IS NULL;

-- The maintenance log: every incident step and decision, who and when.
-- (incident_id, seq) is unique so a retried activity writes an entry once.
CREATE TABLE maintenance_log (
  tenant_id   text NOT NULL,
  id          bigint GENERATED ALWAYS AS IDENTITY,
  asset_id    text NOT NULL,
  incident_id text NOT NULL,
  seq         integer NOT NULL,
  at          timestamptz NOT NULL,
  actor       text NOT NULL,
  event       text NOT NULL,
  message     text NOT NULL DEFAULT '',
  details     jsonb NOT NULL DEFAULT '{}',
  PRIMARY KEY (tenant_id, id),
  UNIQUE (tenant_id, incident_id, seq)
);
CREATE INDEX maintenance_log_asset ON maintenance_log (tenant_id, asset_id, at DESC);

-- Per-tenant incident policy; a tenant without a row uses the defaults.
CREATE TABLE incident_policies (
  tenant_id                 text PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
  collect_window_seconds    integer NOT NULL DEFAULT 30 CHECK (collect_window_seconds BETWEEN 0 AND 3600),
  reject_below              double precision NOT NULL DEFAULT 0.3 CHECK (reject_below BETWEEN 0 AND 1),
  auto_approve_at           double precision NOT NULL DEFAULT 0.9 CHECK (auto_approve_at BETWEEN 0 AND 1),
  approval_timeout_seconds  integer NOT NULL DEFAULT 1800 CHECK (approval_timeout_seconds > 0),
  escalation_stages         integer NOT NULL DEFAULT 2 CHECK (escalation_stages BETWEEN 0 AND 10),
  timeout_decision          text NOT NULL DEFAULT 'approve' CHECK (timeout_decision IN ('approve', 'reject')),
  clear_after_seconds       integer NOT NULL DEFAULT 900 CHECK (clear_after_seconds > 0),
  persistence_readings      integer NOT NULL DEFAULT 3 CHECK (persistence_readings > 0),
  min_severity              text NOT NULL DEFAULT 'minor' CHECK (min_severity IN ('warning', 'minor', 'major', 'critical')),
  updated_at                timestamptz NOT NULL DEFAULT now(),
  CHECK (reject_below <= auto_approve_at)
);

ALTER TABLE anomalies         ENABLE ROW LEVEL SECURITY;
ALTER TABLE incidents         ENABLE ROW LEVEL SECURITY;
ALTER TABLE maintenance_log   ENABLE ROW LEVEL SECURITY;
ALTER TABLE incident_policies ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON anomalies         USING (tenant_id = current_tenant()) WITH CHECK (tenant_id = current_tenant());
CREATE POLICY tenant_isolation ON incidents         USING (tenant_id = current_tenant()) WITH CHECK (tenant_id = current_tenant());
CREATE POLICY tenant_isolation ON maintenance_log   USING (tenant_id = current_tenant()) WITH CHECK (tenant_id = current_tenant());
CREATE POLICY tenant_isolation ON incident_policies USING (tenant_id = current_tenant()) WITH CHECK (tenant_id = current_tenant());
GRANT SELECT ON anomalies, incidents, maintenance_log TO smartmaint_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON incident_policies TO smartmaint_app;
