DROP TABLE async_job_failures;
