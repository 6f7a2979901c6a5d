-- Users of a tenant (internal/account): people who will sign in to the
-- operator UI, with their roles (internal/role), an argon2id password hash
-- in PHC form (NULL for a user who signs in through OIDC only) and the
-- lock-out state that Authenticate counts atomically: failed_attempts within
-- the window that began at first_failed_at, and locked_until once they reach
-- the configured limit.
--
-- A technician record can link to the user who is that technician.

CREATE TABLE users (
  tenant_id       text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id              uuid NOT NULL DEFAULT gen_random_uuid(),
  email           text NOT NULL CHECK (email <> '' AND length(email) <= 254),
  display_name    text NOT NULL DEFAULT '',
  roles           text[] NOT NULL DEFAULT '{}'
                  CHECK (roles <@ ARRAY['viewer', 'operator', 'technician', 'planner', 'admin']::text[]),
  password_hash   text,
  disabled        boolean NOT NULL DEFAULT false,
  failed_attempts integer NOT NULL DEFAULT 0 CHECK (failed_attempts >= 0),
  first_failed_at timestamptz,
  locked_until    timestamptz,
  last_sign_in_at timestamptz,
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id)
);
-- Email is unique per tenant regardless of case.
CREATE UNIQUE INDEX users_email ON users (tenant_id, lower(email));

ALTER TABLE users ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON users USING (tenant_id = current_tenant()) WITH CHECK (tenant_id = current_tenant());
GRANT SELECT, INSERT, UPDATE, DELETE ON users TO smartmaint_app;

-- A technician is at most one user and a user at most one technician;
-- deleting the user unlinks the technician.
ALTER TABLE technicians ADD COLUMN user_id uuid;
ALTER TABLE technicians
  ADD CONSTRAINT technicians_user FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE SET NULL (user_id);
CREATE UNIQUE INDEX technicians_user_id ON technicians (tenant_id, user_id) WHERE user_id IS NOT NULL;
