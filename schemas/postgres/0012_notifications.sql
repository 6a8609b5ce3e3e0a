-- Notification channels and their durable delivery queue. A channel's webhook URL
-- and secret are stored sealed (the server's keyring) inside `target`, with only a
-- masked hint beside them; its health (failures in a row, the last error, the last
-- success) lives on its row, so a settled attempt changes delivery and channel in one
-- transaction. Deletes of channels are soft: deliveries keep naming them. Workers
-- take due deliveries with FOR UPDATE SKIP LOCKED. Project-scoped like every other
-- record, with the same policy.

CREATE TABLE notification_channels (
  project_id TEXT NOT NULL REFERENCES projects (project_id),
  channel_id UUID NOT NULL,
  name TEXT NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('slack', 'webhook', 'email')),
  -- {"kind": "slack", "webhook_url_sealed", "hint"} | {"kind": "webhook", "url_sealed", "hint",
  -- "secret_sealed"} | {"kind": "email", "to": [...]}
  target JSONB NOT NULL,
  -- ["assigned", "paged", ...]; empty: every event
  events JSONB NOT NULL DEFAULT '[]',
  enabled BOOLEAN NOT NULL DEFAULT true,
  created_at TIMESTAMPTZ NOT NULL,
  updated_at TIMESTAMPTZ NOT NULL,
  deleted_at TIMESTAMPTZ,
  consecutive_failures INT NOT NULL DEFAULT 0 CHECK (consecutive_failures >= 0),
  last_error TEXT,
  last_failure_at TIMESTAMPTZ,
  last_success_at TIMESTAMPTZ,
  PRIMARY KEY (project_id, channel_id),
  CHECK (target->>'kind' = kind)
);

CREATE TABLE notification_deliveries (
  project_id TEXT NOT NULL,
  delivery_id UUID NOT NULL,
  channel_id UUID NOT NULL,
  incident_id UUID NOT NULL,
  -- the Notice: incident, event, cause with confidence, link
  notice JSONB NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('queued', 'sending', 'sent', 'failed')),
  attempts INT NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  next_attempt_at TIMESTAMPTZ NOT NULL,
  lease_owner TEXT,
  lease_until TIMESTAMPTZ,
  last_error TEXT,
  created_at TIMESTAMPTZ NOT NULL,
  sent_at TIMESTAMPTZ,
  PRIMARY KEY (project_id, delivery_id),
  FOREIGN KEY (project_id, channel_id) REFERENCES notification_channels (project_id, channel_id)
);
-- The worker's poll: only what is not sent or given up.
CREATE INDEX notification_deliveries_due ON notification_deliveries (project_id, next_attempt_at)
  WHERE state IN ('queued', 'sending');
CREATE INDEX notification_deliveries_list ON notification_deliveries (project_id, created_at DESC, delivery_id);
CREATE INDEX notification_deliveries_incident ON notification_deliveries (project_id, incident_id);
CREATE INDEX notification_deliveries_channel ON notification_deliveries (project_id, channel_id, created_at DESC);

ALTER TABLE notification_channels ENABLE ROW LEVEL SECURITY;
CREATE POLICY project_isolation ON notification_channels
  USING (project_id = current_setting('inquest.project', true))
  WITH CHECK (project_id = current_setting('inquest.project', true));
ALTER TABLE notification_deliveries ENABLE ROW LEVEL SECURITY;
CREATE POLICY project_isolation ON notification_deliveries
  USING (project_id = current_setting('inquest.project', true))
  WITH CHECK (project_id = current_setting('inquest.project', true));

-- The store deletes nothing (channels are marked deleted, deliveries kept as their
-- record); the grants are those of every project-scoped table.
GRANT SELECT, INSERT, UPDATE, DELETE ON notification_channels, notification_deliveries TO inquest_app;
