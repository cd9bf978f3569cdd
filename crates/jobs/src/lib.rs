//! Asynchronous jobs: the catalogue of job types shared by the API (which
//! validates and creates jobs) and xjob (which runs them).

pub mod catalog;
