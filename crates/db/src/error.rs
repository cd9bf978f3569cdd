use diesel::result::{DatabaseErrorKind, Error as DieselError};

/// The one error type of this crate.
#[derive(thiserror::Error, Debug, Clone)]
pub enum DbError {
    /// The requested row does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// A unique constraint (or primary key) was violated.
    #[error("duplicate entry: {0}")]
    Duplicate(String),
    /// A foreign key prevents the change (e.g. deleting a pod still in use).
    #[error("conflict: {0}")]
    Conflict(String),
    /// Deadlock, serialization failure or a locked SQLite database; the
    /// operation may succeed when retried.
    #[error("deadlock: {0}")]
    Deadlock(String),
    /// The connection URL cannot be used (the password is never included).
    #[error("invalid database URL: {0}")]
    InvalidUrl(String),
    /// Schema versioning failed or the database is at an unsupported version.
    #[error("migration error: {0}")]
    Migration(String),
    /// No connection could be obtained.
    #[error("connection pool error: {0}")]
    Pool(String),
    /// The caller passed a value the query cannot use.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// Anything else the database reported.
    #[error("database error: {0}")]
    Other(String),
}

impl DbError {
    /// Whether retrying the whole transaction may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, DbError::Deadlock(_))
    }
}

/// Messages that identify transient lock conflicts which diesel does not
/// classify: MariaDB lock wait timeouts, PostgreSQL deadlocks (40P01) and
/// SQLite's busy/locked results.
fn is_lock_message(msg: &str) -> bool {
    let m = msg.to_ascii_lowercase();
    m.contains("deadlock")
        || m.contains("lock wait timeout exceeded")
        || m.contains("database is locked")
        || m.contains("database table is locked")
        || m.contains("could not serialize access")
}

impl From<DieselError> for DbError {
    fn from(e: DieselError) -> Self {
        match e {
            DieselError::NotFound => DbError::NotFound("record not found".into()),
            DieselError::DatabaseError(kind, info) => {
                let msg = info.message().to_string();
                match kind {
                    DatabaseErrorKind::UniqueViolation => DbError::Duplicate(msg),
                    DatabaseErrorKind::ForeignKeyViolation => DbError::Conflict(msg),
                    DatabaseErrorKind::SerializationFailure => DbError::Deadlock(msg),
                    DatabaseErrorKind::ClosedConnection => DbError::Pool(msg),
                    _ if is_lock_message(&msg) => DbError::Deadlock(msg),
                    // SQLite reports FK failures without a dedicated kind.
                    _ if msg.contains("FOREIGN KEY constraint failed") => DbError::Conflict(msg),
                    _ => DbError::Other(msg),
                }
            }
            DieselError::RollbackErrorOnCommit {
                rollback_error,
                commit_error,
            } => {
                // The commit failure is the interesting one (it may be a
                // serialization failure worth retrying).
                let _ = rollback_error;
                DbError::from(*commit_error)
            }
            other => DbError::Other(other.to_string()),
        }
    }
}

impl From<diesel::r2d2::PoolError> for DbError {
    fn from(e: diesel::r2d2::PoolError) -> Self {
        DbError::Pool(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Info(&'static str);
    impl diesel::result::DatabaseErrorInformation for Info {
        fn message(&self) -> &str {
            self.0
        }
        fn details(&self) -> Option<&str> {
            None
        }
        fn hint(&self) -> Option<&str> {
            None
        }
        fn table_name(&self) -> Option<&str> {
            None
        }
        fn column_name(&self) -> Option<&str> {
            None
        }
        fn constraint_name(&self) -> Option<&str> {
            None
        }
        fn statement_position(&self) -> Option<i32> {
            None
        }
    }

    fn db_err(kind: DatabaseErrorKind, msg: &'static str) -> DbError {
        DieselError::DatabaseError(kind, Box::new(Info(msg))).into()
    }

    #[test]
    fn classifies_database_errors() {
        assert!(matches!(
            db_err(DatabaseErrorKind::UniqueViolation, "dup"),
            DbError::Duplicate(m) if m == "dup"
        ));
        assert!(matches!(
            db_err(DatabaseErrorKind::ForeignKeyViolation, "fk"),
            DbError::Conflict(_)
        ));
        assert!(matches!(
            db_err(DatabaseErrorKind::SerializationFailure, "ser"),
            DbError::Deadlock(_)
        ));
        assert!(matches!(
            db_err(DatabaseErrorKind::Unknown, "database is locked"),
            DbError::Deadlock(_)
        ));
        assert!(matches!(
            db_err(DatabaseErrorKind::Unknown, "deadlock detected"),
            DbError::Deadlock(_)
        ));
        assert!(matches!(
            db_err(
                DatabaseErrorKind::Unknown,
                "Lock wait timeout exceeded; try restarting transaction"
            ),
            DbError::Deadlock(_)
        ));
        assert!(matches!(
            db_err(DatabaseErrorKind::Unknown, "FOREIGN KEY constraint failed"),
            DbError::Conflict(_)
        ));
        assert!(matches!(
            db_err(DatabaseErrorKind::Unknown, "syntax error"),
            DbError::Other(_)
        ));
        assert!(matches!(
            DbError::from(DieselError::NotFound),
            DbError::NotFound(_)
        ));
    }
}
