// Every topology node is keyed by its service_key (see README.md); deployments by id.
CREATE CONSTRAINT database_key IF NOT EXISTS
FOR (d:Database) REQUIRE d.service_key IS UNIQUE;

CREATE CONSTRAINT dependency_key IF NOT EXISTS
FOR (d:Dependency) REQUIRE d.service_key IS UNIQUE;

CREATE CONSTRAINT deployment_id IF NOT EXISTS
FOR (d:Deployment) REQUIRE d.deployment_event_id IS UNIQUE;
