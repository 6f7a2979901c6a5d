-- Model registry: versions per model name, aliases (champion, challenger)
-- and the append-only history of every alias move.
--
-- models.latest_version hands out version numbers (1, 2, 3 … per name) and
-- its row lock serialises version creation and alias moves of one model.
-- Artifacts live outside the database (a folder or S3); a version records
-- where, with its size and SHA-256, which is verified on every load.
-- model_alias_events answers "which version was live at time T": the app
-- role may insert and read it but never change or delete a row.

CREATE TABLE models (
  tenant_id      text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  name           text NOT NULL CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$'),
  latest_version integer NOT NULL DEFAULT 0 CHECK (latest_version >= 0),
  created_at     timestamptz NOT NULL DEFAULT now(),
  updated_at     timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, name)
);

CREATE TABLE model_versions (
  tenant_id            text NOT NULL,
  name                 text NOT NULL,
  version              integer NOT NULL CHECK (version > 0),
  kind                 text NOT NULL CHECK (kind <> ''),
  params               jsonb NOT NULL DEFAULT '{}',
  metrics              jsonb NOT NULL DEFAULT '{}',
  features             text[] NOT NULL DEFAULT '{}',
  training_data        text NOT NULL DEFAULT '',
  training_data_sha256 text NOT NULL DEFAULT '',
  parent_version       integer,
  artifact_key         text NOT NULL CHECK (artifact_key <> ''),
  artifact_uri         text NOT NULL,
  artifact_size        bigint NOT NULL CHECK (artifact_size > 0),
  artifact_sha256      text NOT NULL CHECK (artifact_sha256 ~ '^[0-9a-f]{64}$'),
  created_by           text NOT NULL CHECK (created_by <> ''),
  created_at           timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, name, version),
  FOREIGN KEY (tenant_id, name) REFERENCES models (tenant_id, name) ON DELETE CASCADE,
  FOREIGN KEY (tenant_id, name, parent_version) REFERENCES model_versions (tenant_id, name, version),
  CHECK (parent_version IS NULL OR parent_version < version)
);

CREATE TABLE model_aliases (
  tenant_id  text NOT NULL,
  name       text NOT NULL,
  alias      text NOT NULL CHECK (alias IN ('champion', 'challenger')),
  version    integer NOT NULL,
  updated_by text NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, name, alias),
  FOREIGN KEY (tenant_id, name, version) REFERENCES model_versions (tenant_id, name, version)
);
CREATE INDEX model_aliases_alias ON model_aliases (alias);

-- to_version NULL records the alias being removed; from_version NULL its
-- first assignment. Moves of one model are serialised by the models row
-- lock and stamped with clock_timestamp() after taking it, so id order and
-- time order agree (now() would be the transaction's start, before the wait).
CREATE TABLE model_alias_events (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  tenant_id    text NOT NULL,
  name         text NOT NULL,
  alias        text NOT NULL CHECK (alias IN ('champion', 'challenger')),
  from_version integer,
  to_version   integer,
  actor        text NOT NULL CHECK (actor <> ''),
  reason       text NOT NULL CHECK (reason <> ''),
  at           timestamptz NOT NULL DEFAULT clock_timestamp(),
  FOREIGN KEY (tenant_id, name) REFERENCES models (tenant_id, name) ON DELETE CASCADE,
  CHECK (from_version IS DISTINCT FROM to_version)
);
CREATE INDEX model_alias_events_lookup ON model_alias_events (tenant_id, name, alias, id);

ALTER TABLE models             ENABLE ROW LEVEL SECURITY;
ALTER TABLE model_versions     ENABLE ROW LEVEL SECURITY;
ALTER TABLE model_aliases      ENABLE ROW LEVEL SECURITY;
ALTER TABLE model_alias_events ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON models             USING (tenant_id = current_tenant()) WITH CHECK (tenant_id = current_tenant());
CREATE POLICY tenant_isolation ON model_versions     USING (tenant_id = current_tenant()) WITH CHECK (tenant_id = current_tenant());
CREATE POLICY tenant_isolation ON model_aliases      USING (tenant_id = current_tenant()) WITH CHECK (tenant_id = current_tenant());
CREATE POLICY tenant_isolation ON model_alias_events USING (tenant_id = current_tenant()) WITH CHECK (tenant_id = current_tenant());

GRANT SELECT, INSERT, UPDATE ON models, model_aliases TO smartmaint_app;
GRANT DELETE ON model_aliases TO smartmaint_app;
GRANT SELECT, INSERT ON model_versions, model_alias_events TO smartmaint_app;
