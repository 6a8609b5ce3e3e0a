-- Undoes 0011_oncall: schedules, overrides and assignments go.

DROP TABLE oncall_assignments;
DROP TABLE oncall_overrides;
DROP TABLE oncall_schedules;
