DROP TABLE audit_log;
DROP FUNCTION audit_log_append_only();
DROP TABLE integrations;
DROP TABLE sessions;
DROP TABLE api_tokens;
DROP TABLE project_members;
DROP TABLE users;
