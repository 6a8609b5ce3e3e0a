-- SLOs and invariants: definitions over the metrics store, each with its last
-- evaluation (written by the evaluator, kept apart from edits). Deletes are soft:
-- `deleted_at` is set and the row is hidden from every read. Project-scoped like every
-- other record, with the same policy.

CREATE TABLE slos (
  project_id TEXT NOT NULL REFERENCES projects (project_id),
  slo_id UUID NOT NULL,
  name TEXT NOT NULL,
  description TEXT NOT NULL DEFAULT '',
  target DOUBLE PRECISION NOT NULL CHECK (target > 0 AND target < 1),
  window_days INT NOT NULL CHECK (window_days > 0),
  -- {"kind": "ratio", "service", "good", "total"} or {"kind": "latency", "service", "metric", "threshold"}
  metric_query JSONB NOT NULL,
  -- [{"long_window_minutes", "short_window_minutes", "factor", "severity"}]
  burn_rate_thresholds JSONB NOT NULL,
  enabled BOOLEAN NOT NULL DEFAULT true,
  created_at TIMESTAMPTZ NOT NULL,
  updated_at TIMESTAMPTZ NOT NULL,
  deleted_at TIMESTAMPTZ,
  last_evaluated_at TIMESTAMPTZ,
  -- the evaluation: state, error ratio, budget remaining, each condition's burn rates
  last_result JSONB,
  PRIMARY KEY (project_id, slo_id)
);

CREATE TABLE invariants (
  project_id TEXT NOT NULL REFERENCES projects (project_id),
  invariant_id UUID NOT NULL,
  name TEXT NOT NULL,
  description TEXT NOT NULL DEFAULT '',
  -- {"service", "metric", "aggregation", "window_minutes"}
  query JSONB NOT NULL,
  -- {"op", "value"}: what must hold of the aggregated value
  condition JSONB NOT NULL,
  severity TEXT NOT NULL,
  enabled BOOLEAN NOT NULL DEFAULT true,
  created_at TIMESTAMPTZ NOT NULL,
  updated_at TIMESTAMPTZ NOT NULL,
  deleted_at TIMESTAMPTZ,
  last_checked_at TIMESTAMPTZ,
  last_result JSONB,
  PRIMARY KEY (project_id, invariant_id)
);

ALTER TABLE slos ENABLE ROW LEVEL SECURITY;
CREATE POLICY project_isolation ON slos
  USING (project_id = current_setting('inquest.project', true))
  WITH CHECK (project_id = current_setting('inquest.project', true));
ALTER TABLE invariants ENABLE ROW LEVEL SECURITY;
CREATE POLICY project_isolation ON invariants
  USING (project_id = current_setting('inquest.project', true))
  WITH CHECK (project_id = current_setting('inquest.project', true));

GRANT SELECT, INSERT, UPDATE, DELETE ON slos, invariants TO inquest_app;
