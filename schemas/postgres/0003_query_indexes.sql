-- Indexes for the investigation's and the dashboard's lookups.

CREATE INDEX deployment_events_service_time ON deployment_events(service_id, started_at);
CREATE INDEX incidents_status_window ON incidents(status, window_start);
CREATE INDEX incident_decisions_incident ON incident_decisions(incident_id, decided_at);
CREATE INDEX evidence_artifacts_incident ON evidence_artifacts(incident_id);
CREATE INDEX incident_hypotheses_incident_rank ON incident_hypotheses(incident_id, rank);
CREATE INDEX incident_reports_incident_time ON incident_reports(incident_id, created_at);
CREATE INDEX feedback_events_incident_time ON feedback_events(incident_id, created_at);
