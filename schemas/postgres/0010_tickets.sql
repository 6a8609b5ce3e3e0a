-- Follow-up tickets: the ticket, its append-only history and its dependencies.
-- Project-scoped like every other record, with the same policy; the dependency
-- table's keys lead with the project on both sides, so no ticket can wait on another
-- project's.

CREATE TABLE tickets (
  project_id TEXT NOT NULL REFERENCES projects (project_id),
  ticket_id UUID NOT NULL,
  objective TEXT NOT NULL,
  -- ["how to tell it is done", ...]
  success_criteria JSONB NOT NULL DEFAULT '[]',
  context JSONB NOT NULL DEFAULT '{}',
  status TEXT NOT NULL CHECK (status IN ('pending', 'in_progress', 'completed', 'failed', 'blocked')),
  -- 0 low, 1 medium, 2 high, 3 critical
  priority SMALLINT NOT NULL CHECK (priority BETWEEN 0 AND 3),
  source_type TEXT NOT NULL CHECK (source_type IN ('incident', 'slo', 'invariant', 'human')),
  source_id TEXT,
  created_at TIMESTAMPTZ NOT NULL,
  updated_at TIMESTAMPTZ NOT NULL,
  resolved_at TIMESTAMPTZ,
  PRIMARY KEY (project_id, ticket_id)
);
CREATE INDEX tickets_list ON tickets (project_id, priority DESC, created_at, ticket_id);
CREATE INDEX tickets_by_source ON tickets (project_id, source_type, source_id);

CREATE TABLE ticket_events (
  -- the append order: a ticket's history reads back as it was written
  seq BIGINT GENERATED ALWAYS AS IDENTITY,
  project_id TEXT NOT NULL,
  event_id UUID NOT NULL,
  ticket_id UUID NOT NULL,
  event_type TEXT NOT NULL,
  data JSONB NOT NULL DEFAULT '{}',
  created_at TIMESTAMPTZ NOT NULL,
  PRIMARY KEY (project_id, event_id),
  FOREIGN KEY (project_id, ticket_id) REFERENCES tickets (project_id, ticket_id)
);
CREATE INDEX ticket_events_history ON ticket_events (project_id, ticket_id, seq);

-- The history is appended to, never changed.
CREATE FUNCTION ticket_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'ticket_events is append only (% refused)', TG_OP;
END $$;
CREATE TRIGGER ticket_events_no_update_or_delete BEFORE UPDATE OR DELETE ON ticket_events
  FOR EACH ROW EXECUTE FUNCTION ticket_events_append_only();
CREATE TRIGGER ticket_events_no_truncate BEFORE TRUNCATE ON ticket_events
  FOR EACH STATEMENT EXECUTE FUNCTION ticket_events_append_only();

CREATE TABLE ticket_dependencies (
  project_id TEXT NOT NULL,
  ticket_id UUID NOT NULL,
  depends_on_id UUID NOT NULL,
  created_at TIMESTAMPTZ NOT NULL,
  PRIMARY KEY (project_id, ticket_id, depends_on_id),
  CHECK (ticket_id <> depends_on_id),
  FOREIGN KEY (project_id, ticket_id) REFERENCES tickets (project_id, ticket_id),
  FOREIGN KEY (project_id, depends_on_id) REFERENCES tickets (project_id, ticket_id)
);
-- Readiness asks, per ticket, for the status of what it waits on.
CREATE INDEX ticket_dependencies_on ON ticket_dependencies (project_id, depends_on_id);

ALTER TABLE tickets ENABLE ROW LEVEL SECURITY;
CREATE POLICY project_isolation ON tickets
  USING (project_id = current_setting('inquest.project', true))
  WITH CHECK (project_id = current_setting('inquest.project', true));
ALTER TABLE ticket_events ENABLE ROW LEVEL SECURITY;
CREATE POLICY project_isolation ON ticket_events
  USING (project_id = current_setting('inquest.project', true))
  WITH CHECK (project_id = current_setting('inquest.project', true));
ALTER TABLE ticket_dependencies ENABLE ROW LEVEL SECURITY;
CREATE POLICY project_isolation ON ticket_dependencies
  USING (project_id = current_setting('inquest.project', true))
  WITH CHECK (project_id = current_setting('inquest.project', true));

GRANT SELECT, INSERT, UPDATE, DELETE ON tickets, ticket_dependencies TO inquest_app;
-- The default privileges of 0007 granted more; the history is appended to only.
REVOKE UPDATE, DELETE, TRUNCATE ON ticket_events FROM inquest_app;
GRANT SELECT, INSERT ON ticket_events TO inquest_app;
