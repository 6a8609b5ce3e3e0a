-- Access control: users, their roles in projects, API tokens, dashboard sessions,
-- integrations (webhook senders and sources, secrets sealed) and the append-only audit
-- log. Every project-scoped table references `projects` and has row-level security:
-- a row is visible when its project is the transaction's `inquest.project`, or, for the
-- credential lookups that run before a project is known, when it is the row the
-- transaction's own setting names (token hash, session hash, secret hash, id). Every
-- query also filters `project_id` itself (superusers and table owners bypass RLS).

CREATE TABLE users (
  user_id UUID PRIMARY KEY,
  login TEXT NOT NULL UNIQUE,
  display_name TEXT NOT NULL,
  -- argon2id PHC string; NULL for users who only sign in through OIDC
  password_hash TEXT,
  disabled BOOLEAN NOT NULL DEFAULT false,
  created_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE project_members (
  project_id TEXT NOT NULL REFERENCES projects ON DELETE CASCADE,
  user_id UUID NOT NULL REFERENCES users ON DELETE CASCADE,
  role TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'engineer', 'viewer')),
  added_at TIMESTAMPTZ NOT NULL,
  PRIMARY KEY (project_id, user_id)
);
CREATE INDEX project_members_by_user ON project_members (user_id);

CREATE TABLE api_tokens (
  token_id UUID PRIMARY KEY,
  project_id TEXT NOT NULL REFERENCES projects ON DELETE CASCADE,
  name TEXT NOT NULL,
  role TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'engineer', 'viewer')),
  -- SHA-256 of the token text (hex); the text itself is shown once and never stored
  token_hash TEXT NOT NULL UNIQUE,
  created_by UUID REFERENCES users ON DELETE SET NULL,
  created_at TIMESTAMPTZ NOT NULL,
  expires_at TIMESTAMPTZ,
  revoked_at TIMESTAMPTZ,
  last_used_at TIMESTAMPTZ
);
CREATE INDEX api_tokens_by_project ON api_tokens (project_id, created_at);

CREATE TABLE sessions (
  -- SHA-256 of the cookie's random id
  session_hash TEXT PRIMARY KEY,
  user_id UUID NOT NULL REFERENCES users ON DELETE CASCADE,
  project_id TEXT NOT NULL REFERENCES projects ON DELETE CASCADE,
  csrf_token TEXT NOT NULL,
  created_at TIMESTAMPTZ NOT NULL,
  expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX sessions_by_user ON sessions (user_id);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);

CREATE TABLE integrations (
  integration_id UUID PRIMARY KEY,
  project_id TEXT NOT NULL REFERENCES projects ON DELETE CASCADE,
  kind TEXT NOT NULL,
  name TEXT NOT NULL,
  webhook_auth TEXT NOT NULL CHECK (webhook_auth IN ('bearer', 'hmac')),
  settings JSONB NOT NULL DEFAULT '{}',
  -- AES-256-GCM, `v1:<key id>:<base64>`; never the plain secret
  secret_sealed TEXT NOT NULL,
  -- SHA-256 of the secret, to find the integration from a bearer credential
  secret_hash TEXT NOT NULL UNIQUE,
  created_at TIMESTAMPTZ NOT NULL,
  updated_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX integrations_by_project ON integrations (project_id, created_at);

CREATE TABLE audit_log (
  audit_id UUID PRIMARY KEY,
  at TIMESTAMPTZ NOT NULL,
  -- user:<login>, token:<id>, integration:<id>, oidc:<subject>, cli or anonymous
  actor TEXT NOT NULL,
  -- NULL when the request named no project it could act in (a failed sign-in)
  project_id TEXT REFERENCES projects,
  action TEXT NOT NULL,
  resource_type TEXT NOT NULL,
  resource_id TEXT,
  details JSONB NOT NULL DEFAULT '{}',
  client_addr TEXT,
  user_agent TEXT,
  outcome TEXT NOT NULL CHECK (outcome IN ('allowed', 'denied', 'failed')),
  status INTEGER NOT NULL
);
-- newest first, one page at a time: WHERE project_id = $1 AND (at, audit_id) < cursor
CREATE INDEX audit_log_page ON audit_log (project_id, at DESC, audit_id DESC);

-- The audit log is appended to, never changed.
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_log is append only (% refused)', TG_OP;
END;
$$;
CREATE TRIGGER audit_log_no_update_or_delete BEFORE UPDATE OR DELETE ON audit_log
  FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
  FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();

ALTER TABLE project_members ENABLE ROW LEVEL SECURITY;
CREATE POLICY project_members_scope ON project_members
  USING (project_id = current_setting('inquest.project', true)
         OR user_id::text = current_setting('inquest.user', true));

ALTER TABLE api_tokens ENABLE ROW LEVEL SECURITY;
CREATE POLICY api_tokens_scope ON api_tokens
  USING (project_id = current_setting('inquest.project', true)
         OR token_hash = current_setting('inquest.token_hash', true)
         OR token_id::text = current_setting('inquest.token', true));

ALTER TABLE sessions ENABLE ROW LEVEL SECURITY;
CREATE POLICY sessions_scope ON sessions
  USING (project_id = current_setting('inquest.project', true)
         OR session_hash = current_setting('inquest.session_hash', true));

ALTER TABLE integrations ENABLE ROW LEVEL SECURITY;
CREATE POLICY integrations_scope ON integrations
  USING (project_id = current_setting('inquest.project', true)
         OR secret_hash = current_setting('inquest.secret_hash', true)
         OR integration_id::text = current_setting('inquest.integration', true));

ALTER TABLE audit_log ENABLE ROW LEVEL SECURITY;
CREATE POLICY audit_log_read ON audit_log FOR SELECT
  USING (project_id = current_setting('inquest.project', true));
-- An entry with no project (a failed sign-in) may be appended from any transaction.
CREATE POLICY audit_log_append ON audit_log FOR INSERT
  WITH CHECK (project_id IS NULL OR project_id = current_setting('inquest.project', true));
