-- Convenience resolution columns on incidents, derived from feedback_events (seed 002).

ALTER TABLE incidents
  ADD COLUMN resolved_at TIMESTAMPTZ,
  ADD COLUMN resolution_kind TEXT,      -- hypothesis|other|unknown
  ADD COLUMN resolution_summary TEXT,
  ADD COLUMN resolved_hypothesis_id UUID;

ALTER TABLE incidents
  ADD CONSTRAINT resolved_hypothesis_fk
  FOREIGN KEY (resolved_hypothesis_id) REFERENCES incident_hypotheses(hypothesis_id);
