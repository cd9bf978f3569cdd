//! `tricircle-db-manage --config-file X.conf db_sync|db_version`.

use clap::Subcommand;
use tricircle_cmd::{fail, parse_args, start, ToolArgs};
use tricircle_db::{migrate, Db};

#[derive(Subcommand)]
enum Command {
    /// Create or upgrade the schema (adopts an existing Tricircle database).
    #[command(name = "db_sync")]
    DbSync {
        /// Accepted for compatibility; the schema is always brought to the latest version.
        version: Option<String>,
    },
    /// Print the schema version.
    #[command(name = "db_version")]
    DbVersion,
}

fn main() {
    let args: ToolArgs<Command> = parse_args("Manage the Tricircle database schema");
    let (config, _guard) = start(&args.config, "tricircle-db-manage");
    let db = Db::from_config(&config).unwrap_or_else(|e| fail(&e.to_string()));
    match args.command {
        Command::DbSync { version } => {
            if let Some(v) = version {
                tracing::warn!(requested = %v, "db_sync always upgrades to the latest version");
            }
            match migrate::db_sync(&db) {
                Ok(report) => tracing::info!(
                    adopted = report.adopted,
                    applied = ?report.applied,
                    version = report.version,
                    "database schema is up to date"
                ),
                Err(e) => fail(&e.to_string()),
            }
        }
        Command::DbVersion => print_version(&db),
    }
}

fn print_version(db: &Db) {
    match migrate::db_version(db) {
        Ok(Some(v)) => println!("{v}"),
        Ok(None) => println!("None"),
        Err(e) => fail(&e.to_string()),
    }
}
