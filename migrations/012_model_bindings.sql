-- Model bindings: which registered model serves an asset type as which
-- kind (internal/modelkind: anomaly, failure_risk, rul, bearing_health),
-- and where each of the model's features comes from.
--
-- features maps a model feature name to its source: a sensor id of the
-- asset, or an "asset." metadata spec ("asset.rated_power" a number,
-- "asset.variant=L" one-hot). A feature without an entry is read from the
-- sensor or metadata spec of its own name. threshold overrides the model
-- file's: a failure probability for failure_risk, the lower bound of the
-- remaining life for rul, a health index for bearing_health, a score for
-- anomaly.
--
-- Without a row for (asset type, anomaly), the champion of the model
-- "iforest-<asset type>" serves with identity features, as before bindings
-- existed. The detector reloads this table within seconds of a change
-- (internal/binding.Cache).
CREATE TABLE model_bindings (
  tenant_id  text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  asset_type text NOT NULL CHECK (asset_type <> '' AND length(asset_type) <= 128),
  kind       text NOT NULL CHECK (kind IN ('anomaly', 'failure_risk', 'rul', 'bearing_health')),
  model      text NOT NULL,
  features   jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(features) = 'object'),
  threshold  double precision CHECK (threshold > 0 AND threshold < 'Infinity'),
  updated_by text NOT NULL CHECK (updated_by <> ''),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, asset_type, kind),
  -- A model is never deleted while bound.
  FOREIGN KEY (tenant_id, model) REFERENCES models (tenant_id, name)
);

ALTER TABLE model_bindings ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON model_bindings USING (tenant_id = current_tenant()) WITH CHECK (tenant_id = current_tenant());
GRANT SELECT, INSERT, UPDATE, DELETE ON model_bindings TO smartmaint_app;
