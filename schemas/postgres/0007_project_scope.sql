-- Every record belongs to a project. Each table of 0001-0004 gets `project_id`
-- (rows already there land in `default`); every key, foreign key and lookup index
-- leads with it, so two projects may hold the same ids. Row-level security keeps a
-- session to the project it names in `inquest.project` (set per transaction by the
-- stores); the role `inquest_app`, which the application's login role is a member
-- of, is subject to it. The owner running `inquest migrate` is not.

-- Foreign keys first: the keys they reference are rebuilt below.
ALTER TABLE incidents DROP CONSTRAINT resolved_hypothesis_fk;
ALTER TABLE deployment_events DROP CONSTRAINT deployment_events_service_id_fkey;
ALTER TABLE config_change_events DROP CONSTRAINT config_change_events_service_id_fkey;
ALTER TABLE incidents DROP CONSTRAINT incidents_service_id_fkey;
ALTER TABLE incident_decisions DROP CONSTRAINT incident_decisions_incident_id_fkey;
ALTER TABLE evidence_artifacts DROP CONSTRAINT evidence_artifacts_incident_id_fkey;
ALTER TABLE incident_hypotheses DROP CONSTRAINT incident_hypotheses_incident_id_fkey;
ALTER TABLE incident_reports DROP CONSTRAINT incident_reports_incident_id_fkey;
ALTER TABLE commit_files DROP CONSTRAINT commit_files_commit_sha_fkey;
ALTER TABLE deployment_commit_ranges DROP CONSTRAINT deployment_commit_ranges_deployment_event_id_fkey;
ALTER TABLE feedback_events DROP CONSTRAINT feedback_events_incident_id_fkey;
ALTER TABLE ingest_alert_fingerprints DROP CONSTRAINT ingest_alert_fingerprints_alert_id_fkey;
ALTER TABLE ingest_decisions DROP CONSTRAINT ingest_decisions_incident_id_fkey;
ALTER TABLE ingest_active_incidents DROP CONSTRAINT ingest_active_incidents_incident_id_fkey;
ALTER TABLE ingest_records_outbox DROP CONSTRAINT ingest_records_outbox_incident_id_fkey;

-- The column, the primary key and the unique keys of each table.
ALTER TABLE services ADD COLUMN project_id TEXT NOT NULL DEFAULT 'default' REFERENCES projects (project_id),
  DROP CONSTRAINT services_pkey, ADD PRIMARY KEY (project_id, service_id),
  DROP CONSTRAINT services_cluster_id_namespace_service_name_key,
  ADD UNIQUE (project_id, cluster_id, namespace, service_name);
ALTER TABLE deployment_events ADD COLUMN project_id TEXT NOT NULL DEFAULT 'default' REFERENCES projects (project_id),
  DROP CONSTRAINT deployment_events_pkey, ADD PRIMARY KEY (project_id, deployment_event_id);
ALTER TABLE config_change_events ADD COLUMN project_id TEXT NOT NULL DEFAULT 'default' REFERENCES projects (project_id),
  DROP CONSTRAINT config_change_events_pkey, ADD PRIMARY KEY (project_id, config_change_id);
ALTER TABLE incidents ADD COLUMN project_id TEXT NOT NULL DEFAULT 'default' REFERENCES projects (project_id),
  DROP CONSTRAINT incidents_pkey, ADD PRIMARY KEY (project_id, incident_id);
ALTER TABLE incident_decisions ADD COLUMN project_id TEXT NOT NULL DEFAULT 'default' REFERENCES projects (project_id),
  DROP CONSTRAINT incident_decisions_pkey, ADD PRIMARY KEY (project_id, decision_id);
ALTER TABLE evidence_artifacts ADD COLUMN project_id TEXT NOT NULL DEFAULT 'default' REFERENCES projects (project_id),
  DROP CONSTRAINT evidence_artifacts_pkey, ADD PRIMARY KEY (project_id, evidence_id);
ALTER TABLE incident_hypotheses ADD COLUMN project_id TEXT NOT NULL DEFAULT 'default' REFERENCES projects (project_id),
  DROP CONSTRAINT incident_hypotheses_pkey, ADD PRIMARY KEY (project_id, hypothesis_id);
ALTER TABLE incident_reports ADD COLUMN project_id TEXT NOT NULL DEFAULT 'default' REFERENCES projects (project_id),
  DROP CONSTRAINT incident_reports_pkey, ADD PRIMARY KEY (project_id, report_id);
ALTER TABLE commits ADD COLUMN project_id TEXT NOT NULL DEFAULT 'default' REFERENCES projects (project_id),
  DROP CONSTRAINT commits_pkey, ADD PRIMARY KEY (project_id, commit_sha);
ALTER TABLE commit_files ADD COLUMN project_id TEXT NOT NULL DEFAULT 'default' REFERENCES projects (project_id),
  DROP CONSTRAINT commit_files_pkey, ADD PRIMARY KEY (project_id, id);
ALTER TABLE deployment_commit_ranges ADD COLUMN project_id TEXT NOT NULL DEFAULT 'default' REFERENCES projects (project_id),
  DROP CONSTRAINT deployment_commit_ranges_pkey, ADD PRIMARY KEY (project_id, deployment_event_id);
ALTER TABLE feedback_events ADD COLUMN project_id TEXT NOT NULL DEFAULT 'default' REFERENCES projects (project_id),
  DROP CONSTRAINT feedback_events_pkey, ADD PRIMARY KEY (project_id, feedback_event_id);
ALTER TABLE ingest_alerts ADD COLUMN project_id TEXT NOT NULL DEFAULT 'default' REFERENCES projects (project_id),
  DROP CONSTRAINT ingest_alerts_pkey, ADD PRIMARY KEY (project_id, alert_id);
ALTER TABLE ingest_alert_fingerprints ADD COLUMN project_id TEXT NOT NULL DEFAULT 'default' REFERENCES projects (project_id),
  DROP CONSTRAINT ingest_alert_fingerprints_pkey, ADD PRIMARY KEY (project_id, fingerprint);
ALTER TABLE ingest_incident_states ADD COLUMN project_id TEXT NOT NULL DEFAULT 'default' REFERENCES projects (project_id),
  DROP CONSTRAINT ingest_incident_states_pkey, ADD PRIMARY KEY (project_id, incident_id);
-- `seq` stays the global append order; the decision id is unique within a project.
ALTER TABLE ingest_decisions ADD COLUMN project_id TEXT NOT NULL DEFAULT 'default' REFERENCES projects (project_id),
  DROP CONSTRAINT ingest_decisions_decision_id_key, ADD UNIQUE (project_id, decision_id);
ALTER TABLE ingest_active_incidents ADD COLUMN project_id TEXT NOT NULL DEFAULT 'default' REFERENCES projects (project_id),
  DROP CONSTRAINT ingest_active_incidents_pkey, ADD PRIMARY KEY (project_id, service);
ALTER TABLE ingest_records_outbox ADD COLUMN project_id TEXT NOT NULL DEFAULT 'default' REFERENCES projects (project_id),
  DROP CONSTRAINT ingest_records_outbox_pkey, ADD PRIMARY KEY (project_id, incident_id);
ALTER TABLE investigation_jobs ADD COLUMN project_id TEXT NOT NULL DEFAULT 'default' REFERENCES projects (project_id),
  DROP CONSTRAINT investigation_jobs_pkey, ADD PRIMARY KEY (project_id, job_id);

-- Foreign keys within a project: a row never references another project's row.
ALTER TABLE deployment_events ADD CONSTRAINT deployment_events_service_fk
  FOREIGN KEY (project_id, service_id) REFERENCES services (project_id, service_id);
ALTER TABLE config_change_events ADD CONSTRAINT config_change_events_service_fk
  FOREIGN KEY (project_id, service_id) REFERENCES services (project_id, service_id);
ALTER TABLE incidents ADD CONSTRAINT incidents_service_fk
  FOREIGN KEY (project_id, service_id) REFERENCES services (project_id, service_id);
ALTER TABLE incidents ADD CONSTRAINT resolved_hypothesis_fk
  FOREIGN KEY (project_id, resolved_hypothesis_id) REFERENCES incident_hypotheses (project_id, hypothesis_id);
ALTER TABLE incident_decisions ADD CONSTRAINT incident_decisions_incident_fk
  FOREIGN KEY (project_id, incident_id) REFERENCES incidents (project_id, incident_id);
ALTER TABLE evidence_artifacts ADD CONSTRAINT evidence_artifacts_incident_fk
  FOREIGN KEY (project_id, incident_id) REFERENCES incidents (project_id, incident_id);
ALTER TABLE incident_hypotheses ADD CONSTRAINT incident_hypotheses_incident_fk
  FOREIGN KEY (project_id, incident_id) REFERENCES incidents (project_id, incident_id);
ALTER TABLE incident_reports ADD CONSTRAINT incident_reports_incident_fk
  FOREIGN KEY (project_id, incident_id) REFERENCES incidents (project_id, incident_id);
ALTER TABLE commit_files ADD CONSTRAINT commit_files_commit_fk
  FOREIGN KEY (project_id, commit_sha) REFERENCES commits (project_id, commit_sha);
ALTER TABLE deployment_commit_ranges ADD CONSTRAINT deployment_commit_ranges_deployment_fk
  FOREIGN KEY (project_id, deployment_event_id) REFERENCES deployment_events (project_id, deployment_event_id);
ALTER TABLE feedback_events ADD CONSTRAINT feedback_events_incident_fk
  FOREIGN KEY (project_id, incident_id) REFERENCES incidents (project_id, incident_id);
ALTER TABLE ingest_alert_fingerprints ADD CONSTRAINT ingest_alert_fingerprints_alert_fk
  FOREIGN KEY (project_id, alert_id) REFERENCES ingest_alerts (project_id, alert_id);
ALTER TABLE ingest_decisions ADD CONSTRAINT ingest_decisions_incident_fk
  FOREIGN KEY (project_id, incident_id) REFERENCES ingest_incident_states (project_id, incident_id);
ALTER TABLE ingest_active_incidents ADD CONSTRAINT ingest_active_incidents_incident_fk
  FOREIGN KEY (project_id, incident_id) REFERENCES ingest_incident_states (project_id, incident_id);
ALTER TABLE ingest_records_outbox ADD CONSTRAINT ingest_records_outbox_incident_fk
  FOREIGN KEY (project_id, incident_id) REFERENCES ingest_incident_states (project_id, incident_id);

-- Lookup indexes, led by the project.
DROP INDEX config_change_events_service_time;
CREATE INDEX config_change_events_service_time ON config_change_events (project_id, service_id, detected_at);
DROP INDEX commit_files_sha_type;
CREATE INDEX commit_files_sha_type ON commit_files (project_id, commit_sha, change_type);
DROP INDEX deployment_events_service_time;
CREATE INDEX deployment_events_service_time ON deployment_events (project_id, service_id, started_at);
DROP INDEX incidents_status_window;
CREATE INDEX incidents_status_window ON incidents (project_id, status, window_start);
DROP INDEX incident_decisions_incident;
CREATE INDEX incident_decisions_incident ON incident_decisions (project_id, incident_id, decided_at);
DROP INDEX evidence_artifacts_incident;
CREATE INDEX evidence_artifacts_incident ON evidence_artifacts (project_id, incident_id);
DROP INDEX incident_hypotheses_incident_rank;
CREATE INDEX incident_hypotheses_incident_rank ON incident_hypotheses (project_id, incident_id, rank);
DROP INDEX incident_reports_incident_time;
CREATE INDEX incident_reports_incident_time ON incident_reports (project_id, incident_id, created_at);
DROP INDEX feedback_events_incident_time;
CREATE INDEX feedback_events_incident_time ON feedback_events (project_id, incident_id, created_at);
DROP INDEX ingest_alerts_incident_idx;
CREATE INDEX ingest_alerts_incident_idx ON ingest_alerts (project_id, incident_id, first_received_at);
DROP INDEX ingest_incident_states_status_idx;
CREATE INDEX ingest_incident_states_status_idx ON ingest_incident_states (project_id, status);
DROP INDEX ingest_incident_states_service_idx;
CREATE INDEX ingest_incident_states_service_idx ON ingest_incident_states (project_id, service);
DROP INDEX ingest_decisions_incident_idx;
CREATE INDEX ingest_decisions_incident_idx ON ingest_decisions (project_id, incident_id, seq);
DROP INDEX ingest_decisions_pending_idx;
CREATE INDEX ingest_decisions_pending_idx ON ingest_decisions (project_id, incident_id) WHERE pending;
DROP INDEX ingest_records_outbox_version_idx;
CREATE INDEX ingest_records_outbox_version_idx ON ingest_records_outbox (project_id, version);
DROP INDEX investigation_jobs_state_idx;
CREATE INDEX investigation_jobs_state_idx ON investigation_jobs (project_id, state);
DROP INDEX investigation_jobs_due_idx;
CREATE INDEX investigation_jobs_due_idx ON investigation_jobs (project_id, next_run_at) WHERE state IN ('queued', 'running');
DROP INDEX investigation_jobs_lease_idx;
CREATE INDEX investigation_jobs_lease_idx ON investigation_jobs (project_id, lease_until) WHERE state = 'running';
DROP INDEX investigation_jobs_incident_idx;
CREATE INDEX investigation_jobs_incident_idx ON investigation_jobs (project_id, incident_id);

-- Row-level security: a session sees and writes only the project it set.
DO $$
DECLARE t TEXT;
BEGIN
  FOREACH t IN ARRAY ARRAY[
    'services', 'deployment_events', 'config_change_events', 'incidents', 'incident_decisions',
    'evidence_artifacts', 'incident_hypotheses', 'incident_reports', 'commits', 'commit_files',
    'deployment_commit_ranges', 'feedback_events', 'ingest_alerts', 'ingest_alert_fingerprints',
    'ingest_incident_states', 'ingest_decisions', 'ingest_active_incidents', 'ingest_records_outbox',
    'investigation_jobs'
  ] LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format(
      'CREATE POLICY project_isolation ON %I USING (project_id = current_setting(''inquest.project'', true)) '
      'WITH CHECK (project_id = current_setting(''inquest.project'', true))', t);
  END LOOP;
END $$;

-- The projects with outbox entries or unfinished jobs, for the background loops:
-- only the ids, which the application role cannot otherwise see across projects.
CREATE FUNCTION inquest_projects_with_work() RETURNS SETOF TEXT
LANGUAGE sql STABLE SECURITY DEFINER SET search_path FROM CURRENT AS $$
  SELECT project_id FROM ingest_records_outbox
  UNION
  SELECT project_id FROM investigation_jobs WHERE state IN ('queued', 'running')
  ORDER BY 1
$$;
REVOKE ALL ON FUNCTION inquest_projects_with_work() FROM PUBLIC;

-- The application's role: subject to row-level security, no DDL. Roles belong to
-- the cluster, so it may exist already (another database of the same server).
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'inquest_app') THEN
    CREATE ROLE inquest_app NOLOGIN NOBYPASSRLS;
  END IF;
  EXECUTE format('GRANT USAGE ON SCHEMA %I TO inquest_app', current_schema());
  EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA %I TO inquest_app', current_schema());
  EXECUTE format('GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA %I TO inquest_app', current_schema());
  EXECUTE format(
    'ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO inquest_app',
    current_schema());
  EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT USAGE, SELECT ON SEQUENCES TO inquest_app',
    current_schema());
  -- The audit log is append-only for the application.
  IF to_regclass('audit_log') IS NOT NULL THEN
    REVOKE UPDATE, DELETE ON audit_log FROM inquest_app;
  END IF;
END $$;
-- Applied migrations are the owner's to record.
REVOKE INSERT, UPDATE, DELETE ON inquest_schema_migrations FROM inquest_app;
GRANT EXECUTE ON FUNCTION inquest_projects_with_work() TO inquest_app;
