-- Why a job failed, keyed by the id of its FAIL row in async_jobs. Ours
-- alone: the original's code neither reads nor knows this table (no foreign
-- key, so its deletes of async_jobs rows keep working); xjob prunes reasons
-- whose job row is gone. utf8mb4: error texts may hold any character.
CREATE TABLE async_job_failures (
	job_id VARCHAR(36) NOT NULL,
	reason TEXT NOT NULL,
	timestamp TIMESTAMP NULL DEFAULT CURRENT_TIMESTAMP,
	PRIMARY KEY (job_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
