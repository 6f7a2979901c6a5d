-- MLOps: the training reference of each model version, drift check results,
-- retraining outcomes and the per-model retraining policy.
--
-- model_references keeps, per version and feature, a sorted sample of the
-- values the version was trained on: the drift check compares the recent
-- readings with it (KS and PSI). drift_checks and model_retrains are
-- append-only logs the API reads; model_policies holds a tenant's overrides
-- of the configured drift and promotion defaults (NULL means "use the
-- default").

CREATE TABLE model_references (
  tenant_id  text NOT NULL,
  name       text NOT NULL,
  version    integer NOT NULL,
  feature    text NOT NULL,
  sample     double precision[] NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, name, version, feature),
  FOREIGN KEY (tenant_id, name, version) REFERENCES model_versions (tenant_id, name, version) ON DELETE CASCADE
);

CREATE TABLE drift_checks (
  id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  tenant_id        text NOT NULL,
  name             text NOT NULL,
  version          integer NOT NULL,
  -- ok, drift, insufficient_data or no_reference
  status           text NOT NULL CHECK (status IN ('ok', 'drift', 'insufficient_data', 'no_reference')),
  drifted          boolean NOT NULL,
  drifted_features integer NOT NULL DEFAULT 0,
  window_from      timestamptz NOT NULL,
  window_to        timestamptz NOT NULL,
  -- [{name, n_reference, n_current, ks_d, ks_p, psi, drifted}]
  features         jsonb NOT NULL DEFAULT '[]',
  policy           jsonb NOT NULL DEFAULT '{}',
  retrain_workflow text NOT NULL DEFAULT '',
  -- workflow run that made the check: retries record it once
  run_id           text NOT NULL,
  checked_at       timestamptz NOT NULL DEFAULT now(),
  FOREIGN KEY (tenant_id, name) REFERENCES models (tenant_id, name) ON DELETE CASCADE,
  UNIQUE (tenant_id, name, run_id)
);
CREATE INDEX drift_checks_latest ON drift_checks (tenant_id, name, id DESC);

CREATE TABLE model_retrains (
  tenant_id          text NOT NULL,
  name               text NOT NULL,
  workflow_id        text NOT NULL,
  run_id             text NOT NULL,
  -- drift, api or schedule
  trigger            text NOT NULL,
  requested_by       text NOT NULL,
  -- promoted, kept, rejected, failed
  outcome            text NOT NULL CHECK (outcome IN ('promoted', 'kept', 'rejected', 'failed')),
  reason             text NOT NULL,
  champion_version   integer,
  challenger_version integer,
  metrics            jsonb NOT NULL DEFAULT '{}',
  started_at         timestamptz NOT NULL,
  finished_at        timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, workflow_id, run_id),
  FOREIGN KEY (tenant_id, name) REFERENCES models (tenant_id, name) ON DELETE CASCADE
);
CREATE INDEX model_retrains_latest ON model_retrains (tenant_id, name, finished_at DESC);

CREATE TABLE model_policies (
  tenant_id        text NOT NULL,
  name             text NOT NULL,
  require_approval boolean NOT NULL DEFAULT false,
  approval_timeout interval NOT NULL DEFAULT '24 hours' CHECK (approval_timeout > interval '0'),
  min_improvement  double precision CHECK (min_improvement >= 0),
  psi_threshold    double precision CHECK (psi_threshold > 0),
  ks_pvalue        double precision CHECK (ks_pvalue > 0 AND ks_pvalue < 1),
  min_features     integer CHECK (min_features >= 1),
  updated_by       text NOT NULL,
  updated_at       timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, name),
  FOREIGN KEY (tenant_id, name) REFERENCES models (tenant_id, name) ON DELETE CASCADE
);

ALTER TABLE model_references ENABLE ROW LEVEL SECURITY;
ALTER TABLE drift_checks     ENABLE ROW LEVEL SECURITY;
ALTER TABLE model_retrains   ENABLE ROW LEVEL SECURITY;
ALTER TABLE model_policies   ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON model_references USING (tenant_id = current_tenant()) WITH CHECK (tenant_id = current_tenant());
CREATE POLICY tenant_isolation ON drift_checks     USING (tenant_id = current_tenant()) WITH CHECK (tenant_id = current_tenant());
CREATE POLICY tenant_isolation ON model_retrains   USING (tenant_id = current_tenant()) WITH CHECK (tenant_id = current_tenant());
CREATE POLICY tenant_isolation ON model_policies   USING (tenant_id = current_tenant()) WITH CHECK (tenant_id = current_tenant());

GRANT SELECT ON model_references, drift_checks, model_retrains TO smartmaint_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON model_policies TO smartmaint_app;
