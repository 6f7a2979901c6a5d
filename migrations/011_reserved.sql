-- Placeholder. Number 011 belongs to the models branch
-- (011_model_version_notes.sql); tern refuses gaps, so this branch keeps
-- the number free with a no-op until that file is merged. Delete this file
-- when merging after the models branch.
SELECT 1;
