-- Every point and feature belongs to a project; rows written before land in `default`.
-- A column added in place rather than new tables led by it: every read also filters
-- on the ordering key's first column (service_key, incident_id), which already narrows
-- the granules read, and the ALTER keeps the data where it is (re-running it is a no-op).
ALTER TABLE metric_points ADD COLUMN IF NOT EXISTS project LowCardinality(String) DEFAULT 'default';
ALTER TABLE anomaly_features ADD COLUMN IF NOT EXISTS project LowCardinality(String) DEFAULT 'default';
