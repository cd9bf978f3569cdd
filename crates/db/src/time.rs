use chrono::{NaiveDateTime, SubsecRound, Utc};

use crate::{AnyConnection, Backend};

/// The current UTC time at the precision the backend stores.
///
/// The reference's columns are `TIMESTAMP`/`DATETIME` without fractional
/// seconds on MySQL (whole seconds; MariaDB truncates, MySQL would round, so
/// truncate here to get the same value everywhere) and microseconds on
/// PostgreSQL and SQLite.
pub fn now(conn: &AnyConnection) -> NaiveDateTime {
    now_for(conn.backend())
}

pub fn now_for(backend: Backend) -> NaiveDateTime {
    truncate_for(backend, Utc::now().naive_utc())
}

/// Reduce `t` to the precision `backend` stores.
pub fn truncate_for(backend: Backend, t: NaiveDateTime) -> NaiveDateTime {
    match backend {
        Backend::Mysql => t.trunc_subsecs(0),
        Backend::Sqlite | Backend::Postgres => t.trunc_subsecs(6),
    }
}

/// A `Timestamp` column read back, as [`NaiveDateTime`] reads it, faster on
/// SQLite.
///
/// SQLite keeps timestamps as text, which diesel parses by trying up to
/// eighteen chrono formats, each re-parsing its format string: two columns
/// of a routings page cost more than the rest of the row. What this crate
/// and the reference write (`2016-09-25 03:16:32` with an optional fraction
/// of up to nine digits) is read here digit by digit, to exactly the value
/// diesel's first format (`%F %T%.f`) gives; anything else (other layouts,
/// leap seconds, numbers) goes to diesel's own reading. MySQL and
/// PostgreSQL send binary values: read by diesel as before.
#[derive(Debug, Clone, Copy, PartialEq, Eq, diesel::deserialize::FromSqlRow)]
pub struct Stored(pub Option<NaiveDateTime>);

impl From<Stored> for Option<NaiveDateTime> {
    fn from(s: Stored) -> Self {
        s.0
    }
}

type Raw<'a> = <crate::MultiBackend as diesel::backend::Backend>::RawValue<'a>;

impl
    diesel::deserialize::FromSql<
        diesel::sql_types::Nullable<diesel::sql_types::Timestamp>,
        crate::MultiBackend,
    > for Stored
{
    fn from_sql(raw: Raw<'_>) -> diesel::deserialize::Result<Self> {
        use diesel::deserialize::FromSql;
        use diesel::sql_types::Timestamp;
        match raw {
            Raw::Sqlite(mut value) => {
                let fast = match value.value_type() {
                    Some(diesel::sqlite::SqliteType::Text) => parse_plain(value.read_text()),
                    _ => None,
                };
                match fast {
                    Some(t) => Ok(Stored(Some(t))),
                    None => {
                        <NaiveDateTime as FromSql<Timestamp, diesel::sqlite::Sqlite>>::from_sql(
                            value,
                        )
                        .map(|t| Stored(Some(t)))
                    }
                }
            }
            other => other
                .from_sql::<NaiveDateTime, Timestamp>()
                .map(|t| Stored(Some(t))),
        }
    }

    fn from_nullable_sql(raw: Option<Raw<'_>>) -> diesel::deserialize::Result<Self> {
        match raw {
            Some(raw) => Self::from_sql(raw),
            None => Ok(Stored(None)),
        }
    }
}

/// `YYYY-MM-DD HH:MM:SS` with an optional `.` and 1-9 fraction digits, as
/// chrono's `%F %T%.f` reads it; `None` for anything else, including
/// values chrono would read differently (second 60, other widths).
fn parse_plain(text: &str) -> Option<NaiveDateTime> {
    let b = text.as_bytes();
    if b.len() < 19
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b' '
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let num = |from: usize, to: usize| -> Option<u32> {
        b[from..to].iter().try_fold(0u32, |acc, d| {
            d.is_ascii_digit().then(|| acc * 10 + u32::from(d - b'0'))
        })
    };
    let (year, month, day) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (hour, minute, second) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
    if second > 59 {
        return None;
    }
    let nano = match &b[19..] {
        [] => 0,
        [b'.', digits @ ..] if (1..=9).contains(&digits.len()) => {
            let value = num(20, b.len())?;
            value * 10u32.pow(9 - digits.len() as u32)
        }
        _ => return None,
    };
    chrono::NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, month, day)?
        .and_hms_nano_opt(hour, minute, second, nano)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the fast reading accepts, it reads as diesel's first format
    /// does; what it refuses is left to diesel.
    #[test]
    fn plain_text_reads_as_chrono_reads_it() {
        for text in [
            "2016-09-25 03:16:32",
            "2016-09-25 03:16:32.5",
            "2016-09-25 03:16:32.000000",
            "2016-09-25 03:16:32.123456",
            "2016-09-25 03:16:32.123456789",
            "0000-01-01 00:00:00",
            "9999-12-31 23:59:59.999999",
            "2024-02-29 12:00:00.01",
        ] {
            let chrono = NaiveDateTime::parse_from_str(text, "%F %T%.f").unwrap();
            assert_eq!(parse_plain(text), Some(chrono), "{text}");
        }
        for text in [
            "2016-09-25T03:16:32",
            "2016-09-25 03:16",
            "2016-09-25 03:16:60",
            "2016-09-25 03:16:32.",
            "2016-09-25 03:16:32.1234567890",
            "2016-09-25 03:16:32+01:00",
            "2023-02-29 00:00:00",
            "2016-13-25 03:16:32",
            "+2016-09-25 03:16:32",
            "2457000.5",
            "",
        ] {
            assert_eq!(parse_plain(text), None, "{text}");
        }
    }
}
