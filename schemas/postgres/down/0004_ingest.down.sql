-- Undoes 0004_ingest: drops the alert intake's tables, and with them the alerts, the
-- intake's incident states and decisions, the records outbox and the investigation
-- jobs. Incidents already written to the records tables stay.

DROP TABLE investigation_jobs;
DROP TABLE ingest_records_outbox;
DROP SEQUENCE ingest_records_outbox_version;
DROP TABLE ingest_active_incidents;
DROP TABLE ingest_decisions;
DROP TABLE ingest_incident_states;
DROP TABLE ingest_alert_fingerprints;
DROP TABLE ingest_alerts;
