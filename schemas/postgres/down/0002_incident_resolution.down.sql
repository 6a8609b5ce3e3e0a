-- Undoes 0002_incident_resolution: drops the resolution columns of incidents. They are
-- derived from feedback_events, which stays: the next `inquest serve` re-derives them.

ALTER TABLE incidents DROP CONSTRAINT resolved_hypothesis_fk;

ALTER TABLE incidents
  DROP COLUMN resolved_hypothesis_id,
  DROP COLUMN resolution_summary,
  DROP COLUMN resolution_kind,
  DROP COLUMN resolved_at;
