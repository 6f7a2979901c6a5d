-- A note on a model version: what a person said about it when uploading it
-- (POST /api/v1/models/{name}/versions?note=…). Versions are never changed,
-- so the note is written once, with the version.
ALTER TABLE model_versions ADD COLUMN note text NOT NULL DEFAULT '' CHECK (length(note) <= 2000);
