//! Job statuses.

use std::fmt;

/// The status of a row of `async_jobs` (and of `async_job_logs`, where every
/// row is a success). The stored values sort so that `MIN(status)` picks the
/// most significant state of a group: FAIL < SUCCESS < RUNNING < NEW.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum JobStatus {
    Fail,
    Success,
    Running,
    New,
}

impl JobStatus {
    /// Every status, in stored order.
    pub const ALL: [JobStatus; 4] = [
        JobStatus::Fail,
        JobStatus::Success,
        JobStatus::Running,
        JobStatus::New,
    ];

    /// The value stored in `async_jobs.status`.
    pub const fn as_stored(self) -> &'static str {
        match self {
            JobStatus::New => "3_New",
            JobStatus::Running => "2_Running",
            JobStatus::Success => "1_Success",
            JobStatus::Fail => "0_Fail",
        }
    }

    /// The status as the API shows it.
    pub const fn display(self) -> &'static str {
        match self {
            JobStatus::New => "NEW",
            JobStatus::Running => "RUNNING",
            JobStatus::Success => "SUCCESS",
            JobStatus::Fail => "FAIL",
        }
    }

    /// The status of a stored value.
    pub fn from_stored(stored: &str) -> Option<JobStatus> {
        JobStatus::ALL.into_iter().find(|s| s.as_stored() == stored)
    }

    /// The status a user's filter value names (`fail`, `NEW`...), case
    /// insensitively, as the API's `status` filter reads it.
    pub fn from_filter(input: &str) -> Option<JobStatus> {
        JobStatus::ALL
            .into_iter()
            .find(|s| s.display().eq_ignore_ascii_case(input))
    }

    /// How the API shows a stored value: a known status by its name, any
    /// other value as it is (the reference does not validate the column).
    pub fn display_stored(stored: &str) -> &str {
        // Written out: `map_or` cannot tie the two lifetimes.
        match JobStatus::from_stored(stored) {
            Some(s) => s.display(),
            None => stored,
        }
    }
}

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_values_are_the_references_and_sort_by_significance() {
        let stored: Vec<_> = JobStatus::ALL.iter().map(|s| s.as_stored()).collect();
        assert_eq!(stored, ["0_Fail", "1_Success", "2_Running", "3_New"]);
        let mut sorted = stored.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, stored, "string order is the enum order");
        for s in JobStatus::ALL {
            assert_eq!(JobStatus::from_stored(s.as_stored()), Some(s));
        }
        assert_eq!(JobStatus::from_stored("NEW"), None);
    }

    #[test]
    fn filters_and_display() {
        assert_eq!(JobStatus::from_filter("Fail"), Some(JobStatus::Fail));
        assert_eq!(JobStatus::from_filter("running"), Some(JobStatus::Running));
        assert_eq!(JobStatus::from_filter("bogus"), None);
        assert_eq!(JobStatus::display_stored("2_Running"), "RUNNING");
        assert_eq!(JobStatus::display_stored("odd"), "odd");
        assert_eq!(JobStatus::Success.to_string(), "SUCCESS");
    }
}
