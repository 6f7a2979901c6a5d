-- Reports: KPI documents per tenant and window, and their rendered charts.
--
-- A report is made by ReportWorkflow (on demand through the API or on the
-- report schedule). Its row is created as 'running' by whoever starts it
-- (the API or the workflow; both insert with ON CONFLICT DO NOTHING), the
-- workflow's activities write the KPI document and the charts, keyed by the
-- report id so a retried activity overwrites what an earlier attempt wrote,
-- and the row ends as 'done' or 'failed'. The document's shape and every
-- KPI's definition are in docs/REPORTS.md.
CREATE TABLE reports (
  tenant_id    text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id           uuid NOT NULL,
  workflow_id  text NOT NULL,
  trigger      text NOT NULL CHECK (trigger IN ('api', 'schedule')),
  requested_by text NOT NULL CHECK (requested_by <> ''),
  status       text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'done', 'failed')),
  window_from  timestamptz NOT NULL,
  window_to    timestamptz NOT NULL,
  -- assets restricts the report; empty means every asset of the tenant.
  assets       text[] NOT NULL DEFAULT '{}',
  document     jsonb,
  -- charts lists the chart names, each stored as PNG and SVG.
  charts       text[] NOT NULL DEFAULT '{}',
  error        text NOT NULL DEFAULT '',
  created_at   timestamptz NOT NULL DEFAULT now(),
  computed_at  timestamptz,
  finished_at  timestamptz,
  PRIMARY KEY (tenant_id, id),
  CHECK (window_to > window_from)
);
CREATE INDEX reports_latest ON reports (tenant_id, created_at DESC, id DESC);

-- Chart images. PostgreSQL compresses large values (TOAST), which suits SVG.
CREATE TABLE report_charts (
  tenant_id  text NOT NULL,
  report_id  uuid NOT NULL,
  name       text NOT NULL CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9._:-]{0,200}$'),
  format     text NOT NULL CHECK (format IN ('png', 'svg')),
  content    bytea NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, report_id, name, format),
  FOREIGN KEY (tenant_id, report_id) REFERENCES reports (tenant_id, id) ON DELETE CASCADE
);

ALTER TABLE reports       ENABLE ROW LEVEL SECURITY;
ALTER TABLE report_charts ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON reports       USING (tenant_id = current_tenant()) WITH CHECK (tenant_id = current_tenant());
CREATE POLICY tenant_isolation ON report_charts USING (tenant_id = current_tenant()) WITH CHECK (tenant_id = current_tenant());
GRANT SELECT, INSERT ON reports TO smartmaint_app;
GRANT SELECT ON report_charts TO smartmaint_app;
