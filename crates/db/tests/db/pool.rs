//! The pool's checkout: statements prepared once per connection, and a
//! connection the server closed replaced rather than handed out.

use diesel::prelude::*;
use diesel::sql_types::Text;
use tricircle_db::testing::each_backend;
use tricircle_db::{jobs, AnyConnection, Backend, Db, Session};

use super::common::each_synced;

#[derive(QueryableByName)]
struct Value {
    #[diesel(sql_type = Text)]
    #[diesel(column_name = "Value")]
    value: String,
}

/// A counter of this MySQL session (`SHOW SESSION STATUS`).
fn session_status(c: &mut AnyConnection, name: &str) -> i64 {
    let v: Value = diesel::sql_query(format!("SHOW SESSION STATUS LIKE '{name}'"))
        .get_result(c)
        .unwrap();
    v.value.parse().unwrap()
}

fn prepared(c: &mut AnyConnection) -> i64 {
    session_status(c, "Com_stmt_prepare")
}

/// A job POST's statements (the routing check and the NEW row's INSERT)
/// are prepared once per connection, then only executed: each prepare and
/// close is a round trip of its own on MySQL.
#[test]
fn a_job_posts_statements_are_prepared_once_per_connection() {
    each_synced(|t| {
        if t.backend != Backend::Mysql {
            return;
        }
        let mut c = t.db.get().unwrap();
        // A POST alone: the intake's batch of one.
        let post = |c: &mut AnyConnection| {
            let job = jobs::NewJob {
                project_id: "proj".into(),
                job_type: "configure_route".into(),
                resource_id: "router-1".into(),
                routed: Some(jobs::Routed {
                    top_id: "router-1".into(),
                    resource_type: "router".into(),
                }),
            };
            jobs::record_batch(c, &[job]).remove(0).unwrap();
        };
        post(&mut c);
        // The reading itself may count: what it adds alone is the baseline.
        let (a, b) = (prepared(&mut c), prepared(&mut c));
        for _ in 0..5 {
            post(&mut c);
        }
        let after = prepared(&mut c);
        assert_eq!(after - b, b - a, "statements prepared again by 5 POSTs");
    });
}

/// One text column named `text`.
#[derive(QueryableByName)]
struct TextRow {
    #[diesel(sql_type = Text)]
    text: String,
}

fn session_id(c: &mut AnyConnection) -> String {
    let sql = match c.backend() {
        Backend::Mysql => "SELECT CAST(CONNECTION_ID() AS CHAR) AS text",
        _ => "SELECT CAST(pg_backend_pid() AS TEXT) AS text",
    };
    diesel::sql_query(sql)
        .get_result::<TextRow>(c)
        .unwrap()
        .text
}

/// Checkouts within a second of a ping skip the next one; a connection the
/// server closed meanwhile (a restart, `wait_timeout`) is pinged once it
/// has been idle that long and replaced, not handed out broken.
#[test]
fn a_connection_the_server_closed_is_replaced_at_checkout() {
    each_backend(|t| async move {
        if t.backend == Backend::Sqlite {
            return;
        }
        let run_id = || t.db.run(|c| Ok(session_id(c)));
        let first = run_id().await.unwrap();
        // The pool hands the connection just returned out first.
        assert_eq!(run_id().await.unwrap(), first, "{}", t.backend);
        t.exec_raw(&match t.backend {
            Backend::Mysql => format!("KILL {first}"),
            _ => format!("SELECT pg_terminate_backend({first})"),
        });
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        let second = run_id()
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", t.backend));
        assert_ne!(second, first, "{}", t.backend);
    });
}

/// The setting the job batches need, as the session has it: MySQL's
/// isolation level, PostgreSQL's `enable_seqscan`.
fn batch_setting(c: &mut AnyConnection) -> String {
    let sql = match c.backend() {
        Backend::Mysql => "SELECT CAST(@@tx_isolation AS CHAR) AS text",
        _ => "SELECT current_setting('enable_seqscan') AS text",
    };
    diesel::sql_query(sql)
        .get_result::<TextRow>(c)
        .unwrap()
        .text
}

fn set_statements(c: &mut AnyConnection) -> i64 {
    session_status(c, "Com_set_option")
}

/// The job batches' own pool opens its connections with the batches'
/// settings (a replaced connection too), so a batch's transaction sets
/// nothing; the shared pool keeps the server's defaults and sets them per
/// transaction. SQLite has nothing to set and keeps one pool.
#[test]
fn the_job_batches_pool_is_set_up_once_per_connection() {
    each_backend(|t| async move {
        let b = t.backend;
        let batches = t.db.for_job_batches(1).unwrap();
        if b == Backend::Sqlite {
            assert_eq!(batches.session(), Session::Plain);
            return;
        }
        assert_eq!(batches.session(), Session::JobBatches, "{b}");
        let (plain, set) = match b {
            Backend::Mysql => ("REPEATABLE-READ", "READ-COMMITTED"),
            _ => ("on", "off"),
        };
        assert_eq!(batch_setting(&mut t.db.get().unwrap()), plain, "{b}");
        let claim = || {
            let claims = [jobs::Claim {
                job_type: "configure_route".into(),
                resource_id: "router-1".into(),
            }];
            jobs::run_batch(&batches, |c| {
                let now = tricircle_db::time::now(c);
                let claimed =
                    jobs::claim_runs(c, &claims, now, std::time::Duration::from_secs(60))?;
                Ok((claimed, batch_setting(c)))
            })
            .unwrap()
        };
        let (_, inside) = claim();
        assert_eq!(inside, set, "{b}: inside a batch");
        if b == Backend::Mysql {
            // `Com_set_option` counts SET statements and the client's
            // set-option calls (diesel makes some around BEGIN and COMMIT):
            // a bare transaction's count is the baseline.
            let counted = |db: &Db, work: &dyn Fn(&mut AnyConnection)| {
                let mut c = db.get().unwrap();
                let before = set_statements(&mut c);
                work(&mut c);
                set_statements(&mut c) - before
            };
            let bare = counted(&batches, &|c| {
                c.transaction(|_| Ok::<_, diesel::result::Error>(()))
                    .unwrap()
            });
            // The pool's one connection, read before and after the batch.
            let before = set_statements(&mut batches.get().unwrap());
            claim();
            let in_session = set_statements(&mut batches.get().unwrap()) - before;
            assert_eq!(
                in_session, bare,
                "{b}: a batch on its own pool sets nothing"
            );
            let shared = counted(&t.db, &|c| {
                jobs::batch_transaction(c, |c| Ok(batch_setting(c))).unwrap();
            });
            assert!(
                shared > bare,
                "{b}: the shared pool sets it per transaction"
            );
        }
        // A connection the server closed is replaced with the settings.
        let first = session_id(&mut batches.get().unwrap());
        t.exec_raw(&match b {
            Backend::Mysql => format!("KILL {first}"),
            _ => format!("SELECT pg_terminate_backend({first})"),
        });
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        let mut c = batches.get().unwrap();
        assert_ne!(session_id(&mut c), first, "{b}");
        assert_eq!(batch_setting(&mut c), set, "{b}: the replacement");
    });
}

/// The libpq linked in (built from source by default) speaks TLS: a
/// connection asking for it reaches the server, which either negotiates it
/// or says it has none, instead of being refused as not compiled in.
#[test]
fn postgres_connections_can_ask_for_tls() {
    let Some(t) = tricircle_db::testing::TestDb::new(Backend::Postgres) else {
        return;
    };
    let sep = if t.url.contains('?') { '&' } else { '?' };
    let url = format!("{}{sep}sslmode=require", t.url);
    let target = tricircle_db::DbUrl::parse(&url).unwrap();
    assert!(
        target.target().contains("sslmode=require"),
        "dropped: {target:?}"
    );
    if let Err(e) = diesel::PgConnection::establish(target.target()) {
        let e = e.to_string();
        assert!(e.contains("SSL"), "{e}");
        assert!(!e.contains("not compiled in"), "{e}");
    }
}
