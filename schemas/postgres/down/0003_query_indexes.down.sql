-- Undoes 0003_query_indexes: drops the lookup indexes; no data is lost.

DROP INDEX feedback_events_incident_time;
DROP INDEX incident_reports_incident_time;
DROP INDEX incident_hypotheses_incident_rank;
DROP INDEX evidence_artifacts_incident;
DROP INDEX incident_decisions_incident;
DROP INDEX incidents_status_window;
DROP INDEX deployment_events_service_time;
