-- Projects: the unit of isolation. Every project-scoped table carries `project_id`
-- referencing this one; `default` is the project the CLI and `inquest demo` act in.
CREATE TABLE projects (
  project_id TEXT PRIMARY KEY CHECK (project_id ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
  name TEXT NOT NULL,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
INSERT INTO projects (project_id, name) VALUES ('default', 'Default');
