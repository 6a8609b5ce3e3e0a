// Topology constraints (seed 002). One statement per `;`.
CREATE CONSTRAINT service_key IF NOT EXISTS
FOR (s:Service) REQUIRE s.service_key IS UNIQUE;

CREATE CONSTRAINT commit_sha IF NOT EXISTS
FOR (c:Commit) REQUIRE c.sha IS UNIQUE;
