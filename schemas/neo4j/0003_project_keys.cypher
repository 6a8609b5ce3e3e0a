// Every node and relationship belongs to a project: keys are unique per project.
// Replaces the single-key constraints of the former 0001_constraints and
// 0002_node_keys (dropped here where a graph still has them); nodes and
// relationships written before projects existed join `default`. One statement per `;`.
DROP CONSTRAINT service_key IF EXISTS;
DROP CONSTRAINT commit_sha IF EXISTS;
DROP CONSTRAINT database_key IF EXISTS;
DROP CONSTRAINT dependency_key IF EXISTS;
DROP CONSTRAINT deployment_id IF EXISTS;

MATCH (n) WHERE n.project IS NULL SET n.project = 'default';
MATCH ()-[r]->() WHERE r.project IS NULL SET r.project = 'default';

CREATE CONSTRAINT service_project_key IF NOT EXISTS
FOR (s:Service) REQUIRE (s.project, s.service_key) IS UNIQUE;

CREATE CONSTRAINT database_project_key IF NOT EXISTS
FOR (d:Database) REQUIRE (d.project, d.service_key) IS UNIQUE;

CREATE CONSTRAINT dependency_project_key IF NOT EXISTS
FOR (d:Dependency) REQUIRE (d.project, d.service_key) IS UNIQUE;

CREATE CONSTRAINT commit_project_sha IF NOT EXISTS
FOR (c:Commit) REQUIRE (c.project, c.sha) IS UNIQUE;

CREATE CONSTRAINT deployment_project_id IF NOT EXISTS
FOR (d:Deployment) REQUIRE (d.project, d.deployment_event_id) IS UNIQUE;
