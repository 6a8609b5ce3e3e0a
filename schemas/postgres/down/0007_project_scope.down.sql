-- Undoes 0007_project_scope: the rows of every project but `default` are deleted
-- (without the column they could not be told apart), then the policies, the
-- grants, the project-led keys and indexes and the column go. The role
-- `inquest_app` stays: it belongs to the cluster and other databases may use it.

DROP FUNCTION inquest_projects_with_work();

DO $$
DECLARE t TEXT;
BEGIN
  -- Children before parents, so the composite foreign keys hold at every statement.
  FOREACH t IN ARRAY ARRAY[
    'ingest_records_outbox', 'ingest_active_incidents', 'ingest_decisions', 'ingest_alert_fingerprints',
    'ingest_alerts', 'ingest_incident_states', 'investigation_jobs', 'feedback_events',
    'deployment_commit_ranges', 'commit_files', 'commits', 'incident_reports', 'evidence_artifacts',
    'incident_decisions'
  ] LOOP
    EXECUTE format('DELETE FROM %I WHERE project_id <> ''default''', t);
  END LOOP;
  UPDATE incidents SET resolved_hypothesis_id = NULL WHERE project_id <> 'default';
  DELETE FROM incident_hypotheses WHERE project_id <> 'default';
  DELETE FROM incidents WHERE project_id <> 'default';
  DELETE FROM config_change_events WHERE project_id <> 'default';
  DELETE FROM deployment_events WHERE project_id <> 'default';
  DELETE FROM services WHERE project_id <> 'default';
  FOREACH t IN ARRAY ARRAY[
    'services', 'deployment_events', 'config_change_events', 'incidents', 'incident_decisions',
    'evidence_artifacts', 'incident_hypotheses', 'incident_reports', 'commits', 'commit_files',
    'deployment_commit_ranges', 'feedback_events', 'ingest_alerts', 'ingest_alert_fingerprints',
    'ingest_incident_states', 'ingest_decisions', 'ingest_active_incidents', 'ingest_records_outbox',
    'investigation_jobs'
  ] LOOP
    EXECUTE format('DROP POLICY project_isolation ON %I', t);
    EXECUTE format('ALTER TABLE %I DISABLE ROW LEVEL SECURITY', t);
  END LOOP;
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'inquest_app') THEN
    EXECUTE format(
      'ALTER DEFAULT PRIVILEGES IN SCHEMA %I REVOKE SELECT, INSERT, UPDATE, DELETE ON TABLES FROM inquest_app',
      current_schema());
    EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I REVOKE USAGE, SELECT ON SEQUENCES FROM inquest_app',
      current_schema());
    EXECUTE format('REVOKE ALL ON ALL TABLES IN SCHEMA %I FROM inquest_app', current_schema());
    EXECUTE format('REVOKE ALL ON ALL SEQUENCES IN SCHEMA %I FROM inquest_app', current_schema());
    EXECUTE format('REVOKE USAGE ON SCHEMA %I FROM inquest_app', current_schema());
  END IF;
END $$;

-- The project-scoped foreign keys go with the column; the seed's come back below.
ALTER TABLE deployment_events DROP CONSTRAINT deployment_events_service_fk;
ALTER TABLE config_change_events DROP CONSTRAINT config_change_events_service_fk;
ALTER TABLE incidents DROP CONSTRAINT incidents_service_fk;
ALTER TABLE incidents DROP CONSTRAINT resolved_hypothesis_fk;
ALTER TABLE incident_decisions DROP CONSTRAINT incident_decisions_incident_fk;
ALTER TABLE evidence_artifacts DROP CONSTRAINT evidence_artifacts_incident_fk;
ALTER TABLE incident_hypotheses DROP CONSTRAINT incident_hypotheses_incident_fk;
ALTER TABLE incident_reports DROP CONSTRAINT incident_reports_incident_fk;
ALTER TABLE commit_files DROP CONSTRAINT commit_files_commit_fk;
ALTER TABLE deployment_commit_ranges DROP CONSTRAINT deployment_commit_ranges_deployment_fk;
ALTER TABLE feedback_events DROP CONSTRAINT feedback_events_incident_fk;
ALTER TABLE ingest_alert_fingerprints DROP CONSTRAINT ingest_alert_fingerprints_alert_fk;
ALTER TABLE ingest_decisions DROP CONSTRAINT ingest_decisions_incident_fk;
ALTER TABLE ingest_active_incidents DROP CONSTRAINT ingest_active_incidents_incident_fk;
ALTER TABLE ingest_records_outbox DROP CONSTRAINT ingest_records_outbox_incident_fk;

-- Dropping the column drops the keys and indexes that include it.
ALTER TABLE services DROP COLUMN project_id, ADD PRIMARY KEY (service_id),
  ADD UNIQUE (cluster_id, namespace, service_name);
ALTER TABLE deployment_events DROP COLUMN project_id, ADD PRIMARY KEY (deployment_event_id);
ALTER TABLE config_change_events DROP COLUMN project_id, ADD PRIMARY KEY (config_change_id);
ALTER TABLE incidents DROP COLUMN project_id, ADD PRIMARY KEY (incident_id);
ALTER TABLE incident_decisions DROP COLUMN project_id, ADD PRIMARY KEY (decision_id);
ALTER TABLE evidence_artifacts DROP COLUMN project_id, ADD PRIMARY KEY (evidence_id);
ALTER TABLE incident_hypotheses DROP COLUMN project_id, ADD PRIMARY KEY (hypothesis_id);
ALTER TABLE incident_reports DROP COLUMN project_id, ADD PRIMARY KEY (report_id);
ALTER TABLE commits DROP COLUMN project_id, ADD PRIMARY KEY (commit_sha);
ALTER TABLE commit_files DROP COLUMN project_id, ADD PRIMARY KEY (id);
ALTER TABLE deployment_commit_ranges DROP COLUMN project_id, ADD PRIMARY KEY (deployment_event_id);
ALTER TABLE feedback_events DROP COLUMN project_id, ADD PRIMARY KEY (feedback_event_id);
ALTER TABLE ingest_alerts DROP COLUMN project_id, ADD PRIMARY KEY (alert_id);
ALTER TABLE ingest_alert_fingerprints DROP COLUMN project_id, ADD PRIMARY KEY (fingerprint);
ALTER TABLE ingest_incident_states DROP COLUMN project_id, ADD PRIMARY KEY (incident_id);
ALTER TABLE ingest_decisions DROP COLUMN project_id, ADD UNIQUE (decision_id);
ALTER TABLE ingest_active_incidents DROP COLUMN project_id, ADD PRIMARY KEY (service);
ALTER TABLE ingest_records_outbox DROP COLUMN project_id, ADD PRIMARY KEY (incident_id);
ALTER TABLE investigation_jobs DROP COLUMN project_id, ADD PRIMARY KEY (job_id);

ALTER TABLE deployment_events ADD FOREIGN KEY (service_id) REFERENCES services (service_id);
ALTER TABLE config_change_events ADD FOREIGN KEY (service_id) REFERENCES services (service_id);
ALTER TABLE incidents ADD FOREIGN KEY (service_id) REFERENCES services (service_id);
ALTER TABLE incidents ADD CONSTRAINT resolved_hypothesis_fk
  FOREIGN KEY (resolved_hypothesis_id) REFERENCES incident_hypotheses (hypothesis_id);
ALTER TABLE incident_decisions ADD FOREIGN KEY (incident_id) REFERENCES incidents (incident_id);
ALTER TABLE evidence_artifacts ADD FOREIGN KEY (incident_id) REFERENCES incidents (incident_id);
ALTER TABLE incident_hypotheses ADD FOREIGN KEY (incident_id) REFERENCES incidents (incident_id);
ALTER TABLE incident_reports ADD FOREIGN KEY (incident_id) REFERENCES incidents (incident_id);
ALTER TABLE commit_files ADD FOREIGN KEY (commit_sha) REFERENCES commits (commit_sha);
ALTER TABLE deployment_commit_ranges ADD FOREIGN KEY (deployment_event_id)
  REFERENCES deployment_events (deployment_event_id);
ALTER TABLE feedback_events ADD FOREIGN KEY (incident_id) REFERENCES incidents (incident_id);
ALTER TABLE ingest_alert_fingerprints ADD FOREIGN KEY (alert_id) REFERENCES ingest_alerts (alert_id);
ALTER TABLE ingest_decisions ADD FOREIGN KEY (incident_id) REFERENCES ingest_incident_states (incident_id);
ALTER TABLE ingest_active_incidents ADD FOREIGN KEY (incident_id) REFERENCES ingest_incident_states (incident_id);
ALTER TABLE ingest_records_outbox ADD FOREIGN KEY (incident_id) REFERENCES ingest_incident_states (incident_id);

CREATE INDEX config_change_events_service_time ON config_change_events (service_id, detected_at);
CREATE INDEX commit_files_sha_type ON commit_files (commit_sha, change_type);
CREATE INDEX deployment_events_service_time ON deployment_events (service_id, started_at);
CREATE INDEX incidents_status_window ON incidents (status, window_start);
CREATE INDEX incident_decisions_incident ON incident_decisions (incident_id, decided_at);
CREATE INDEX evidence_artifacts_incident ON evidence_artifacts (incident_id);
CREATE INDEX incident_hypotheses_incident_rank ON incident_hypotheses (incident_id, rank);
CREATE INDEX incident_reports_incident_time ON incident_reports (incident_id, created_at);
CREATE INDEX feedback_events_incident_time ON feedback_events (incident_id, created_at);
CREATE INDEX ingest_alerts_incident_idx ON ingest_alerts (incident_id, first_received_at);
CREATE INDEX ingest_incident_states_status_idx ON ingest_incident_states (status);
CREATE INDEX ingest_incident_states_service_idx ON ingest_incident_states (service);
CREATE INDEX ingest_decisions_incident_idx ON ingest_decisions (incident_id, seq);
CREATE INDEX ingest_decisions_pending_idx ON ingest_decisions (incident_id) WHERE pending;
CREATE INDEX ingest_records_outbox_version_idx ON ingest_records_outbox (version);
CREATE INDEX investigation_jobs_state_idx ON investigation_jobs (state);
CREATE INDEX investigation_jobs_due_idx ON investigation_jobs (next_run_at) WHERE state IN ('queued', 'running');
CREATE INDEX investigation_jobs_lease_idx ON investigation_jobs (lease_until) WHERE state = 'running';
CREATE INDEX investigation_jobs_incident_idx ON investigation_jobs (incident_id);
