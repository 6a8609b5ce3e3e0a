-- Undoes 0009_ops: the SLO and invariant definitions and their last evaluations go.

DROP TABLE invariants;
DROP TABLE slos;
