-- Undoes 0001_init: drops every table of the data model, and with them all records
-- (services, deployments, incidents, hypotheses, reports, feedback).

DROP TABLE feedback_events;
DROP TABLE deployment_commit_ranges;
DROP TABLE commit_files;
DROP TABLE commits;
DROP TABLE incident_reports;
DROP TABLE incident_hypotheses;
DROP TABLE evidence_artifacts;
DROP TABLE incident_decisions;
DROP TABLE incidents;
DROP TABLE config_change_events;
DROP TABLE deployment_events;
DROP TABLE services;
