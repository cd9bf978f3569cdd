//! One module per resource of the v1.0 API, as the reference's controllers.

pub mod health;
pub mod jobs;
pub mod pods;
pub mod root;
pub mod routings;

use actix_web::HttpResponse;
use serde_json::Value;
use tricircle_db::DbError;

use crate::error::ApiError;

/// Log a database failure with its cause and answer with the controller's
/// generic message (the cause stays in the log).
pub(crate) fn db_failure(err: DbError, message: &str) -> ApiError {
    logged_failure(err, ApiError::internal(message))
}

/// Log a database failure with its cause and answer `answer`, for the
/// controllers whose 500 is not the generic formatted one.
pub(crate) fn logged_failure(err: DbError, answer: ApiError) -> ApiError {
    tracing::error!(error = %err, "{answer}");
    answer
}

/// A timestamp as the reference's JSON carries it: `2016-09-25 03:16:32`.
/// Its MySQL `DATETIME` columns keep whole seconds, so it never shows a
/// fraction; SQLite and PostgreSQL keep microseconds, which are left out.
pub(crate) fn python_datetime(t: &chrono::NaiveDateTime) -> String {
    PyDateTime(*t).to_string()
}

/// [`python_datetime`] without the intermediate `String`: serialized in
/// place (a list page prints two per row). Years 0-9999 are written digit
/// by digit, as chrono's `%Y-%m-%d %H:%M:%S` prints them; chrono's own
/// formatter (which re-parses the format string each time, a tenth of a
/// routings page's cost) is left for the signed years outside.
#[derive(Clone, Copy)]
pub(crate) struct PyDateTime(pub chrono::NaiveDateTime);

impl PyDateTime {
    fn write_fast(&self, buf: &mut [u8; 19]) -> bool {
        use chrono::{Datelike, Timelike};
        let t = &self.0;
        let Ok(year) = u32::try_from(t.year()) else {
            return false;
        };
        if year > 9999 {
            return false;
        }
        let mut put = |at: usize, value: u32, width: usize| {
            let mut v = value;
            for i in (at..at + width).rev() {
                buf[i] = b'0' + (v % 10) as u8;
                v /= 10;
            }
        };
        put(0, year, 4);
        put(5, t.month(), 2);
        put(8, t.day(), 2);
        put(11, t.hour(), 2);
        put(14, t.minute(), 2);
        // chrono shows a leap second (nanosecond >= 1e9) as second 60.
        put(
            17,
            t.second() + u32::from(t.nanosecond() >= 1_000_000_000),
            2,
        );
        buf[4] = b'-';
        buf[7] = b'-';
        buf[10] = b' ';
        buf[13] = b':';
        buf[16] = b':';
        true
    }
}

impl std::fmt::Display for PyDateTime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut buf = [0u8; 19];
        if self.write_fast(&mut buf) {
            f.write_str(std::str::from_utf8(&buf).map_err(|_| std::fmt::Error)?)
        } else {
            write!(f, "{}", self.0.format("%Y-%m-%d %H:%M:%S"))
        }
    }
}

impl serde::Serialize for PyDateTime {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut buf = [0u8; 19];
        if self.write_fast(&mut buf) {
            match std::str::from_utf8(&buf) {
                Ok(text) => s.serialize_str(text),
                Err(_) => s.collect_str(self),
            }
        } else {
            s.collect_str(self)
        }
    }
}

/// A `200 OK` with a JSON body serialized straight from typed views.
///
/// The handlers used to build a `serde_json::Value` (whose maps sort their
/// keys) and print it; on a routings page that tree cost more than the
/// query. The views now declare their fields in that sorted order, so the
/// bytes are the same (checked by the API tests: every body equals its
/// own re-serialization through `Value`).
pub(crate) fn json_ok(body: Vec<u8>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(actix_web::http::header::ContentType::json())
        .body(body)
}

/// `{"href": ..., "rel": "next"}`: the one member of a `<resource>_links`
/// array, fields sorted as a `Value` map prints them.
#[derive(serde::Serialize)]
pub(crate) struct NextLink {
    pub href: String,
    pub rel: &'static str,
}

/// Parse a `limit` query value: the reference's `int()` then the configured
/// maximum when absent, non-positive or above it.
pub(crate) fn pagination_limit(raw: Option<&str>, max: i64) -> Result<i64, ApiError> {
    let limit = match raw {
        None => -1,
        Some(s) => python_int_clamped(s).ok_or_else(|| {
            ApiError::bad_request(format!(
                "Limit should be an integer or a valid literal for int() rather than '{s}'"
            ))
        })?,
    };
    Ok(if limit > 0 { limit.min(max) } else { max })
}

/// Python's `int(s)` for the literals it accepts (surrounding blanks, a
/// sign, `_` between digits), saturated to `i64`: the reference has no
/// integer bound, so a huge limit is just larger than the maximum.
fn python_int_clamped(s: &str) -> Option<i64> {
    let t = s.trim();
    let (negative, digits) = match t.as_bytes().first()? {
        b'-' => (true, &t[1..]),
        b'+' => (false, &t[1..]),
        _ => (false, t),
    };
    let well_formed = !digits.is_empty()
        && !digits.starts_with('_')
        && !digits.ends_with('_')
        && !digits.contains("__")
        && digits.bytes().all(|b| b.is_ascii_digit() || b == b'_');
    if !well_formed {
        return None;
    }
    let mut value: i64 = 0;
    for d in digits.bytes().filter(u8::is_ascii_digit) {
        value = value.saturating_mul(10).saturating_add(i64::from(d - b'0'));
    }
    Some(if negative { -value } else { value })
}

/// The query string of a list call: the page size (see
/// [`pagination_limit`]), the marker, and the remaining parameters (the
/// filters) in the order given. A repeated `limit` or `marker` counts once,
/// the last one, as in the reference's `dict(request.params)`.
pub(crate) struct ListQuery {
    pub limit: i64,
    pub marker: Option<String>,
    pub filters: Vec<(String, String)>,
}

impl ListQuery {
    pub fn parse(query: &str, max_limit: i64) -> Result<Self, ApiError> {
        let mut limit = None;
        let mut marker = None;
        let mut filters = Vec::new();
        for (k, v) in url::form_urlencoded::parse(query.as_bytes()).into_owned() {
            match k.as_str() {
                "limit" => limit = Some(v),
                "marker" => marker = Some(v),
                _ => filters.push((k, v)),
            }
        }
        Ok(Self {
            limit: pagination_limit(limit.as_deref(), max_limit)?,
            marker,
            filters,
        })
    }

    /// Refuse filters outside `supported`, naming every offending key.
    pub fn check_filters(&self, supported: &[&str]) -> Result<(), ApiError> {
        let unsupported: Vec<&str> = self
            .filters
            .iter()
            .map(|(k, _)| k.as_str())
            .filter(|k| !supported.contains(k))
            .collect();
        if unsupported.is_empty() {
            Ok(())
        } else {
            Err(ApiError::bad_request(format!(
                "Unsupported filter type: {}",
                unsupported.join(", ")
            )))
        }
    }

    /// Whether `found` items fill the page, so that a next page may follow.
    pub fn is_full(&self, found: usize) -> bool {
        found as i64 >= self.limit
    }

    /// The `<resource>_links` value pointing at the page after `marker`.
    /// Unlike the reference, the link keeps the caller's filters so the next
    /// page is the next page of the same listing; `project_id` is left out
    /// because the listing is always the caller's own project.
    pub fn next_link(&self, path: &str, marker: &str) -> Value {
        let link = self.next(path, marker);
        serde_json::json!([{"rel": link.rel, "href": link.href}])
    }

    /// [`Self::next_link`]'s one member, typed.
    pub fn next(&self, path: &str, marker: &str) -> NextLink {
        let mut href = format!("{path}?limit={}&marker={marker}", self.limit);
        for (k, v) in self.filters.iter().filter(|(k, _)| k != "project_id") {
            href.push('&');
            href.push_str(
                &url::form_urlencoded::Serializer::new(String::new())
                    .append_pair(k, v)
                    .finish(),
            );
        }
        NextLink { href, rel: "next" }
    }
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
        // Python's int() has no bound and accepts these: clamped, not refused.
        assert_eq!(
            pagination_limit(Some("99999999999999999999999"), 2000).unwrap(),
            2000
        );
        assert_eq!(
            pagination_limit(Some("-99999999999999999999999"), 2000).unwrap(),
            2000
        );
        assert_eq!(pagination_limit(Some("+1_0"), 2000).unwrap(), 10);
        for bad in ["", "-", "1__0", "_1", "1_", "0x10", "1e3"] {
            assert!(pagination_limit(Some(bad), 2000).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn datetimes_print_like_python() {
        let t = chrono::NaiveDate::from_ymd_opt(2016, 9, 25)
            .unwrap()
            .and_hms_opt(3, 16, 32)
            .unwrap();
        assert_eq!(python_datetime(&t), "2016-09-25 03:16:32");
        let t = t + chrono::Duration::microseconds(1500);
        assert_eq!(python_datetime(&t), "2016-09-25 03:16:32");
    }

    /// The digit-by-digit path prints what chrono's `%Y-%m-%d %H:%M:%S`
    /// prints, in JSON as in text, across the years chrono can hold.
    #[test]
    fn datetimes_match_chrono_everywhere() {
        use chrono::NaiveDate;
        let leap = NaiveDate::from_ymd_opt(2016, 12, 31)
            .unwrap()
            .and_hms_milli_opt(23, 59, 59, 1_500)
            .unwrap();
        let mut samples = vec![leap, chrono::NaiveDateTime::MIN, chrono::NaiveDateTime::MAX];
        for year in [-1, 0, 1, 5, 99, 999, 1970, 2026, 9999, 10000, 262_142] {
            for (mo, d, h, mi, s) in [(1, 1, 0, 0, 0), (12, 31, 23, 59, 59), (2, 29, 7, 8, 9)] {
                if let Some(t) = NaiveDate::from_ymd_opt(year, mo, d)
                    .and_then(|d| d.and_hms_micro_opt(h, mi, s, 999_999))
                {
                    samples.push(t);
                }
            }
        }
        for t in samples {
            let chrono = t.format("%Y-%m-%d %H:%M:%S").to_string();
            assert_eq!(PyDateTime(t).to_string(), chrono, "{t:?}");
            assert_eq!(python_datetime(&t), chrono, "{t:?}");
            assert_eq!(
                serde_json::to_string(&PyDateTime(t)).unwrap(),
                serde_json::to_string(&chrono).unwrap(),
                "{t:?}"
            );
        }
    }
}

/// Property tests of query-string parsing (issue 10, fuzzing suite).
#[cfg(test)]
mod fuzz {
    use proptest::prelude::*;

    use super::ListQuery;

    fn query() -> impl Strategy<Value = String> {
        let pair = (
            prop_oneof![
                Just("limit".to_owned()),
                Just("marker".to_owned()),
                "[a-z_]{0,10}",
                any::<String>(),
            ],
            prop_oneof![
                "[-+ _0-9]{0,30}",
                "(%[0-9a-fA-F]{2}|%|[a-z+])*",
                any::<String>(),
            ],
        )
            .prop_map(|(k, v)| format!("{k}={v}"));
        prop_oneof![
            proptest::collection::vec(pair, 0..8).prop_map(|p| p.join("&")),
            any::<String>(),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 1024, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn any_query_parses_within_the_limit_or_is_a_400(q in query(), max in 1i64..5000) {
            match ListQuery::parse(&q, max) {
                Ok(parsed) => {
                    prop_assert!((1..=max).contains(&parsed.limit));
                    let _ = parsed.next_link("/v1.0/routings", "m");
                    let _ = parsed.check_filters(&["top_id", "pod_id"]);
                }
                Err(e) => {
                    use actix_web::ResponseError;
                    prop_assert_eq!(e.status_code().as_u16(), 400);
                }
            }
        }
    }
}
