-- On-call: schedules (a rotation in shifts, escalation steps with their delays) and
-- their overrides, and each incident's assignment to the person on call with the
-- escalation steps that fired. Deleting a schedule is soft: `deleted_at` is set and the
-- row is hidden from every read. Project-scoped like every other record, with the same
-- policy.

CREATE TABLE oncall_schedules (
  project_id TEXT NOT NULL REFERENCES projects (project_id),
  schedule_id UUID NOT NULL,
  name TEXT NOT NULL,
  -- covers the services of this team (the namespace of a service key) no schedule names
  team TEXT,
  services TEXT[] NOT NULL DEFAULT '{}',
  rotation_members TEXT[] NOT NULL CHECK (cardinality(rotation_members) > 0),
  rotation_starts_at TIMESTAMPTZ NOT NULL,
  shift_hours INT NOT NULL CHECK (shift_hours > 0),
  -- [{"after_minutes", "targets": [{"kind": "person" | "schedule" | "next_in_rotation", ...}]}]
  escalation JSONB NOT NULL DEFAULT '[]',
  created_at TIMESTAMPTZ NOT NULL,
  updated_at TIMESTAMPTZ NOT NULL,
  deleted_at TIMESTAMPTZ,
  PRIMARY KEY (project_id, schedule_id)
);

CREATE TABLE oncall_overrides (
  project_id TEXT NOT NULL,
  override_id UUID NOT NULL,
  schedule_id UUID NOT NULL,
  person TEXT NOT NULL,
  starts_at TIMESTAMPTZ NOT NULL,
  ends_at TIMESTAMPTZ NOT NULL CHECK (ends_at > starts_at),
  created_at TIMESTAMPTZ NOT NULL,
  PRIMARY KEY (project_id, override_id),
  FOREIGN KEY (project_id, schedule_id) REFERENCES oncall_schedules (project_id, schedule_id)
);
CREATE INDEX oncall_overrides_of ON oncall_overrides (project_id, schedule_id);

CREATE TABLE oncall_assignments (
  project_id TEXT NOT NULL REFERENCES projects (project_id),
  incident_id UUID NOT NULL,
  schedule_id UUID NOT NULL,
  person TEXT NOT NULL,
  assigned_at TIMESTAMPTZ NOT NULL,
  -- [{"step", "at", "targets"}], oldest first
  escalations JSONB NOT NULL DEFAULT '[]',
  -- {"reason", "at"} once it escalates no further
  stopped JSONB,
  PRIMARY KEY (project_id, incident_id)
);

ALTER TABLE oncall_schedules ENABLE ROW LEVEL SECURITY;
CREATE POLICY project_isolation ON oncall_schedules
  USING (project_id = current_setting('inquest.project', true))
  WITH CHECK (project_id = current_setting('inquest.project', true));
ALTER TABLE oncall_overrides ENABLE ROW LEVEL SECURITY;
CREATE POLICY project_isolation ON oncall_overrides
  USING (project_id = current_setting('inquest.project', true))
  WITH CHECK (project_id = current_setting('inquest.project', true));
ALTER TABLE oncall_assignments ENABLE ROW LEVEL SECURITY;
CREATE POLICY project_isolation ON oncall_assignments
  USING (project_id = current_setting('inquest.project', true))
  WITH CHECK (project_id = current_setting('inquest.project', true));

GRANT SELECT, INSERT, UPDATE, DELETE ON oncall_schedules, oncall_overrides, oncall_assignments TO inquest_app;
