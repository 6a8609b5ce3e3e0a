-- Change feeds: each delivery a sender makes is recorded once, so a redelivery is
-- recognised and writes nothing; each feed keeps small state between deliveries
-- (the last object seen of a resource, the last synced commit of a repository).
-- Both tables are project-scoped like every other record, with the same policy.

CREATE TABLE feed_deliveries (
  project_id TEXT NOT NULL REFERENCES projects (project_id),
  feed TEXT NOT NULL,
  delivery_id TEXT NOT NULL,
  received_at TIMESTAMPTZ NOT NULL,
  -- Rows the delivery wrote, per table of the batch, and its state keys.
  summary JSONB NOT NULL DEFAULT '{}',
  PRIMARY KEY (project_id, feed, delivery_id)
);

CREATE TABLE feed_state (
  project_id TEXT NOT NULL REFERENCES projects (project_id),
  feed TEXT NOT NULL,
  key TEXT NOT NULL,
  value JSONB NOT NULL,
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  PRIMARY KEY (project_id, feed, key)
);

-- Recent commits of a project (`commits_between`), newest first.
CREATE INDEX commits_project_authored ON commits (project_id, authored_at DESC);

ALTER TABLE feed_deliveries ENABLE ROW LEVEL SECURITY;
CREATE POLICY project_isolation ON feed_deliveries
  USING (project_id = current_setting('inquest.project', true))
  WITH CHECK (project_id = current_setting('inquest.project', true));
ALTER TABLE feed_state ENABLE ROW LEVEL SECURITY;
CREATE POLICY project_isolation ON feed_state
  USING (project_id = current_setting('inquest.project', true))
  WITH CHECK (project_id = current_setting('inquest.project', true));

-- The default privileges of 0007 cover tables the owner creates later; granted
-- here as well, so the tables do not depend on who ran 0007.
GRANT SELECT, INSERT, UPDATE, DELETE ON feed_deliveries, feed_state TO inquest_app;
