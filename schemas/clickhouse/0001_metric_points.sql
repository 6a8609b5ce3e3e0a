-- Time-series points (seed 002).
CREATE TABLE IF NOT EXISTS metric_points (
  ts DateTime64(3, 'UTC'),
  service_key String,
  metric_name LowCardinality(String),
  value Float64,
  labels Map(String, String)
)
ENGINE = MergeTree
PARTITION BY toDate(ts)
ORDER BY (service_key, metric_name, ts);
