-- Baseline: the schema an original Tricircle database has after its
-- migration 011 on PostgreSQL (as sqlalchemy-migrate left it), plus its
-- version bookkeeping. Existing Tricircle databases at version 11 are
-- adopted without running this file (see crates/db/src/migrate.rs).

CREATE TABLE IF NOT EXISTS migrate_version (
	repository_id VARCHAR(250) NOT NULL,
	repository_path TEXT,
	version INTEGER,
	PRIMARY KEY (repository_id)
);

INSERT INTO migrate_version (repository_id, repository_path, version)
VALUES ('tricircle', 'tricircle/db/migrate_repo', 11);

CREATE TABLE pods (
	pod_id VARCHAR(36) NOT NULL,
	region_name VARCHAR(255) NOT NULL,
	pod_az_name VARCHAR(255),
	dc_name VARCHAR(255),
	az_name VARCHAR(255) NOT NULL,
	PRIMARY KEY (pod_id),
	UNIQUE (region_name)
);

CREATE TABLE cached_endpoints (
	service_id VARCHAR(64) NOT NULL,
	pod_id VARCHAR(36) NOT NULL,
	service_type VARCHAR(64) NOT NULL,
	service_url VARCHAR(512) NOT NULL,
	PRIMARY KEY (service_id),
	CONSTRAINT cached_endpoints_pod_id_fkey FOREIGN KEY (pod_id) REFERENCES pods (pod_id)
);

CREATE TABLE async_jobs (
	id VARCHAR(36) NOT NULL,
	type VARCHAR(36),
	"timestamp" TIMESTAMP WITHOUT TIME ZONE DEFAULT CURRENT_TIMESTAMP,
	status VARCHAR(36),
	resource_id VARCHAR(127),
	extra_id VARCHAR(36),
	project_id VARCHAR(36),
	PRIMARY KEY (id),
	CONSTRAINT async_jobs0type0status0resource_id0extra_id UNIQUE (type, status, resource_id, extra_id)
);
CREATE INDEX ix_async_jobs_timestamp ON async_jobs ("timestamp");

CREATE TABLE resource_routings (
	id BIGSERIAL NOT NULL,
	top_id VARCHAR(127) NOT NULL,
	bottom_id VARCHAR(36),
	pod_id VARCHAR(36) NOT NULL,
	project_id VARCHAR(36),
	resource_type VARCHAR(64) NOT NULL,
	created_at TIMESTAMP WITHOUT TIME ZONE,
	updated_at TIMESTAMP WITHOUT TIME ZONE,
	PRIMARY KEY (id),
	CONSTRAINT resource_routings0top_id0pod_id0resource_type UNIQUE (top_id, pod_id, resource_type),
	CONSTRAINT resource_routings_pod_id_fkey FOREIGN KEY (pod_id) REFERENCES pods (pod_id)
);
CREATE INDEX resource_routings0bottom_id ON resource_routings (bottom_id);

CREATE TABLE async_job_logs (
	id VARCHAR(36) NOT NULL,
	resource_id VARCHAR(127),
	type VARCHAR(36),
	"timestamp" TIMESTAMP WITHOUT TIME ZONE DEFAULT CURRENT_TIMESTAMP,
	project_id VARCHAR(36),
	PRIMARY KEY (id)
);
CREATE INDEX ix_async_job_logs_timestamp ON async_job_logs ("timestamp");

CREATE TABLE shadow_agents (
	id VARCHAR(36) NOT NULL,
	pod_id VARCHAR(36) NOT NULL,
	host VARCHAR(255) NOT NULL,
	type VARCHAR(36) NOT NULL,
	tunnel_ip VARCHAR(48) NOT NULL,
	PRIMARY KEY (id),
	CONSTRAINT host0type UNIQUE (host, type),
	CONSTRAINT shadow_agents_pod_id_fkey FOREIGN KEY (pod_id) REFERENCES pods (pod_id)
);

CREATE TABLE recycle_resources (
	resource_id VARCHAR(36) NOT NULL,
	resource_type VARCHAR(64) NOT NULL,
	project_id VARCHAR(36) NOT NULL,
	PRIMARY KEY (resource_id)
);
CREATE INDEX ix_recycle_resources_project_id ON recycle_resources (project_id);

-- Migration 011 created this table without a primary key or unique
-- constraint (the reference model declares both); the migration is what
-- deployments have, so it is followed here.
CREATE TABLE deleting_resources (
	resource_id VARCHAR(127) NOT NULL,
	resource_type VARCHAR(64) NOT NULL,
	deleted_at TIMESTAMP WITHOUT TIME ZONE
);
