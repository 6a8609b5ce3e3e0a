-- Inquest system of record (seed 002). Applied in file-name order by `inquest migrate`.

CREATE TABLE services (
  service_id UUID PRIMARY KEY,
  cluster_id TEXT NOT NULL,
  namespace TEXT NOT NULL,
  service_name TEXT NOT NULL,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  UNIQUE(cluster_id, namespace, service_name)
);

CREATE TABLE deployment_events (
  deployment_event_id UUID PRIMARY KEY,
  service_id UUID NOT NULL REFERENCES services(service_id),
  started_at TIMESTAMPTZ NOT NULL,
  finished_at TIMESTAMPTZ,
  deploy_type TEXT NOT NULL, -- helm|k8s|argo|flux|manual|other
  image_ref TEXT,
  revision TEXT,
  metadata JSONB NOT NULL DEFAULT '{}'::jsonb
);

CREATE TABLE config_change_events (
  config_change_id UUID PRIMARY KEY,
  service_id UUID REFERENCES services(service_id), -- null if cluster-wide
  detected_at TIMESTAMPTZ NOT NULL,
  source TEXT NOT NULL,        -- k8s_deployment|k8s_configmap|k8s_secret|k8s_replicaset|db_schema
  change_kind TEXT NOT NULL,   -- image_swap|env_var|resource_limit|replica_count|configmap_key|secret_key|db_schema_alter
  resource_name TEXT NOT NULL,
  diff_payload JSONB NOT NULL, -- { field, old_value, new_value }; never secret values
  actor TEXT,
  audit_log_ref TEXT
);

CREATE INDEX config_change_events_service_time ON config_change_events(service_id, detected_at);

CREATE TABLE incidents (
  incident_id UUID PRIMARY KEY,
  service_id UUID NOT NULL REFERENCES services(service_id),
  status TEXT NOT NULL, -- open|triaged|resolved|suppressed
  trigger_type TEXT NOT NULL, -- error_rate_spike|p99_regression|crashloop|custom
  severity INT NOT NULL,
  window_start TIMESTAMPTZ NOT NULL,
  window_end TIMESTAMPTZ NOT NULL,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE incident_decisions (
  decision_id UUID PRIMARY KEY,
  incident_id UUID NOT NULL REFERENCES incidents(incident_id),
  decided_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  decision TEXT NOT NULL, -- approved|suppressed
  rationale TEXT NOT NULL,
  policy_version TEXT NOT NULL,
  details JSONB NOT NULL DEFAULT '{}'::jsonb
);

CREATE TABLE evidence_artifacts (
  evidence_id UUID PRIMARY KEY,
  incident_id UUID NOT NULL REFERENCES incidents(incident_id),
  kind TEXT NOT NULL,
  source TEXT NOT NULL,
  ref TEXT NOT NULL,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  metadata JSONB NOT NULL DEFAULT '{}'::jsonb
);

CREATE TABLE incident_hypotheses (
  hypothesis_id UUID PRIMARY KEY,
  incident_id UUID NOT NULL REFERENCES incidents(incident_id),
  rank INT NOT NULL,
  hypothesis_type TEXT NOT NULL, -- release|config|traffic|dependency|db|infra|unknown
  title TEXT NOT NULL,
  confidence NUMERIC(3,2) NOT NULL,
  evidence_ids UUID[] NOT NULL,
  details JSONB NOT NULL DEFAULT '{}'::jsonb
);

CREATE TABLE incident_reports (
  report_id UUID PRIMARY KEY,
  incident_id UUID NOT NULL REFERENCES incidents(incident_id),
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  model_info JSONB NOT NULL DEFAULT '{}'::jsonb,
  report_markdown TEXT NOT NULL,
  evidence_ids UUID[] NOT NULL
);

CREATE TABLE commits (
  commit_sha TEXT PRIMARY KEY,
  repo TEXT NOT NULL,
  author TEXT,
  message TEXT NOT NULL,
  summary TEXT,
  authored_at TIMESTAMPTZ NOT NULL,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE commit_files (
  id UUID PRIMARY KEY,
  commit_sha TEXT NOT NULL REFERENCES commits(commit_sha),
  file_path TEXT NOT NULL,
  change_type TEXT NOT NULL, -- db_migration|dependency|config|timeout_retry|http_client|shared_util|auth|test|docs|other
  diff_text TEXT,
  lines_added INT NOT NULL DEFAULT 0,
  lines_removed INT NOT NULL DEFAULT 0
);

CREATE INDEX commit_files_sha_type ON commit_files(commit_sha, change_type);

CREATE TABLE deployment_commit_ranges (
  deployment_event_id UUID PRIMARY KEY REFERENCES deployment_events(deployment_event_id),
  previous_revision TEXT,
  current_revision TEXT NOT NULL,
  is_rollback BOOLEAN NOT NULL DEFAULT false,
  commit_shas TEXT[] NOT NULL DEFAULT '{}'
);

CREATE TABLE feedback_events (
  feedback_event_id UUID PRIMARY KEY,
  incident_id UUID NOT NULL REFERENCES incidents(incident_id),
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  actor_type TEXT NOT NULL, -- user|system|integration
  actor_id TEXT,
  event_type TEXT NOT NULL, -- hypothesis_confirmed|hypothesis_rejected|root_cause_set|human_note_added|...
  payload JSONB NOT NULL DEFAULT '{}'::jsonb
);
