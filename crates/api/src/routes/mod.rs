//! One module per resource of the v1.0 API, as the reference's controllers.

pub mod jobs;
pub mod pods;
pub mod root;
pub mod routings;

use crate::error::ApiError;
use tricircle_db::DbError;

/// Log a database failure with its cause and answer with the controller's
/// generic message (the cause stays in the log).
pub(crate) fn db_failure(err: DbError, message: &str) -> ApiError {
    tracing::error!(error = %err, "{message}");
    ApiError::internal(message)
}

/// `str(datetime)` as Python prints it, which is what the reference's JSON
/// carries: `2016-09-25 03:16:32`, with `.ffffff` only when non-zero.
pub(crate) fn python_datetime(t: &chrono::NaiveDateTime) -> String {
    use chrono::Timelike;
    if t.nanosecond() / 1000 == 0 {
        t.format("%Y-%m-%d %H:%M:%S").to_string()
    } else {
        t.format("%Y-%m-%d %H:%M:%S%.6f").to_string()
    }
}

/// Parse a `limit` query value: the reference's `int()` then the configured
/// maximum when absent, non-positive or above it.
pub(crate) fn pagination_limit(raw: Option<&str>, max: i64) -> Result<i64, ApiError> {
    let limit = match raw {
        None => -1,
        Some(s) => s.trim().parse::<i64>().map_err(|_| {
            ApiError::bad_request(format!(
                "Limit should be an integer or a valid literal for int() rather than '{s}'"
            ))
        })?,
    };
    Ok(if limit > 0 { limit.min(max) } else { max })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_follow_the_reference() {
        assert_eq!(pagination_limit(None, 2000).unwrap(), 2000);
        assert_eq!(pagination_limit(Some("5"), 2000).unwrap(), 5);
        assert_eq!(pagination_limit(Some(" 7 "), 2000).unwrap(), 7);
        assert_eq!(pagination_limit(Some("0"), 2000).unwrap(), 2000);
        assert_eq!(pagination_limit(Some("-3"), 2000).unwrap(), 2000);
        assert_eq!(pagination_limit(Some("9999"), 2000).unwrap(), 2000);
        assert!(pagination_limit(Some("abc"), 2000).is_err());
        assert!(pagination_limit(Some("1.5"), 2000).is_err());
    }

    #[test]
    fn datetimes_print_like_python() {
        let t = chrono::NaiveDate::from_ymd_opt(2016, 9, 25)
            .unwrap()
            .and_hms_opt(3, 16, 32)
            .unwrap();
        assert_eq!(python_datetime(&t), "2016-09-25 03:16:32");
        let t = t + chrono::Duration::microseconds(1500);
        assert_eq!(python_datetime(&t), "2016-09-25 03:16:32.001500");
    }
}
