-- Derived anomaly features written by investigations (seed 002).
-- feature_name is `<metric_name>.robust_z` or `<metric_name>.onset_offset_s`.
CREATE TABLE IF NOT EXISTS anomaly_features (
  incident_id String,
  ts DateTime64(3, 'UTC'),
  service_key String,
  feature_name LowCardinality(String),
  feature_value Float64
)
ENGINE = MergeTree
PARTITION BY toDate(ts)
ORDER BY (incident_id, feature_name, ts);
