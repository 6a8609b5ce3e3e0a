-- Alert intake (issue 7): the state every `inquest` process on this database shares.
-- Written only by the ingest adapter (inquest-ingest-postgres); the seed-002
-- `incidents`/`incident_decisions` records tables are filled from the outbox.

-- One row per alert occurrence row (a repeat of a fingerprint updates its row;
-- a fingerprint whose incident closed starts a new row). `body` is a `StoredAlert`.
CREATE TABLE ingest_alerts (
  alert_id UUID PRIMARY KEY,
  fingerprint TEXT NOT NULL,
  incident_id UUID,
  first_received_at TIMESTAMPTZ NOT NULL,
  body JSONB NOT NULL
);
CREATE INDEX ingest_alerts_incident_idx ON ingest_alerts (incident_id, first_received_at);

-- The latest alert row of each fingerprint.
CREATE TABLE ingest_alert_fingerprints (
  fingerprint TEXT PRIMARY KEY,
  alert_id UUID NOT NULL REFERENCES ingest_alerts (alert_id)
);

-- Incident state: `state` is an `IncidentState` without its decisions (those are rows
-- of `ingest_decisions`); status and service are copied out for counting and lookups.
CREATE TABLE ingest_incident_states (
  incident_id UUID PRIMARY KEY,
  service TEXT NOT NULL,
  status TEXT NOT NULL,
  created_at TIMESTAMPTZ NOT NULL,
  state JSONB NOT NULL
);
CREATE INDEX ingest_incident_states_status_idx ON ingest_incident_states (status);
CREATE INDEX ingest_incident_states_service_idx ON ingest_incident_states (service);

-- Every decision on an incident (open, attach, suppress, approve), appended, never
-- rewritten with the incident's state. `version` comes from the outbox sequence, so
-- the outbox entry written with it is newer; `pending` until the records store has it.
CREATE TABLE ingest_decisions (
  seq BIGSERIAL PRIMARY KEY,
  incident_id UUID NOT NULL REFERENCES ingest_incident_states (incident_id),
  decision_id UUID NOT NULL UNIQUE,
  version BIGINT NOT NULL,
  pending BOOLEAN NOT NULL DEFAULT true,
  body JSONB NOT NULL
);
CREATE INDEX ingest_decisions_incident_idx ON ingest_decisions (incident_id, seq);
CREATE INDEX ingest_decisions_pending_idx ON ingest_decisions (incident_id) WHERE pending;

-- The latest active incident of each service.
CREATE TABLE ingest_active_incidents (
  service TEXT PRIMARY KEY,
  incident_id UUID NOT NULL REFERENCES ingest_incident_states (incident_id)
);

-- Incidents changed since they were last written to the records store; `version`
-- grows with every change, so a writer clears only what it wrote.
CREATE SEQUENCE ingest_records_outbox_version;
CREATE TABLE ingest_records_outbox (
  incident_id UUID PRIMARY KEY REFERENCES ingest_incident_states (incident_id),
  version BIGINT NOT NULL
);
CREATE INDEX ingest_records_outbox_version_idx ON ingest_records_outbox (version);

-- The durable investigation queue (leased with FOR UPDATE SKIP LOCKED).
CREATE TABLE investigation_jobs (
  job_id UUID PRIMARY KEY,
  incident_id UUID NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'succeeded', 'failed')),
  attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  created_at TIMESTAMPTZ NOT NULL,
  next_run_at TIMESTAMPTZ NOT NULL,
  lease_owner TEXT,
  lease_until TIMESTAMPTZ,
  last_error TEXT,
  runs JSONB NOT NULL DEFAULT '[]'::jsonb
);
CREATE INDEX investigation_jobs_state_idx ON investigation_jobs (state);
CREATE INDEX investigation_jobs_due_idx ON investigation_jobs (next_run_at) WHERE state IN ('queued', 'running');
CREATE INDEX investigation_jobs_lease_idx ON investigation_jobs (lease_until) WHERE state = 'running';
CREATE INDEX investigation_jobs_incident_idx ON investigation_jobs (incident_id);
