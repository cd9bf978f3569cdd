//! Upgrade checks for `tricircle-status upgrade check`.

use tricircle_config::Config;
use tricircle_db::migrate;

/// oslo.upgradecheck's result codes, which are also the exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Code {
    Success = 0,
    Warning = 1,
    Failure = 2,
}

impl Code {
    fn word(self) -> &'static str {
        match self {
            Code::Success => "Success",
            Code::Warning => "Warning",
            Code::Failure => "Failure",
        }
    }
}

#[derive(Debug, Clone)]
pub struct CheckResult {
    pub name: &'static str,
    pub code: Code,
    pub details: Option<String>,
}

fn check(name: &'static str, code: Code, details: Option<String>) -> CheckResult {
    CheckResult {
        name,
        code,
        details,
    }
}

/// The database is reachable and its schema is the one this release expects.
fn database(config: &Config) -> CheckResult {
    const NAME: &str = "Database schema";
    // The original checks nothing, so a host without the database option
    // (a node that runs neither the API nor xjob) passes there; it does here.
    if config.database_url().is_err() {
        return check(
            NAME,
            Code::Success,
            Some(
                "no database configured ([DEFAULT] tricircle_db_connection or [database] \
                 connection): not checked"
                    .into(),
            ),
        );
    }
    let db = match tricircle_db::Db::from_config(config) {
        Ok(db) => db,
        Err(e) => return check(NAME, Code::Failure, Some(e.to_string())),
    };
    let latest = migrate::latest_version();
    match migrate::db_version(&db) {
        Ok(Some(v)) if v >= latest => check(NAME, Code::Success, None),
        Ok(Some(v)) => check(
            NAME,
            Code::Failure,
            Some(format!(
                "schema version {v} is older than {latest}: run tricircle-db-manage db_sync"
            )),
        ),
        Ok(None) => check(
            NAME,
            Code::Failure,
            Some("the database has no Tricircle schema: run tricircle-db-manage db_sync".into()),
        ),
        Err(e) => check(NAME, Code::Failure, Some(e.to_string())),
    }
}

/// The policy file, if any, parses.
fn policy(config: &Config) -> CheckResult {
    const NAME: &str = "Policy file";
    match tricircle_api::server::load_policy(config) {
        Ok(_) => match config.find_file(&config.oslo_policy.policy_file) {
            Some(_) => check(NAME, Code::Success, None),
            None => check(
                NAME,
                Code::Success,
                Some(format!(
                    "{} not found; the default rules apply",
                    config.oslo_policy.policy_file
                )),
            ),
        },
        Err(e) => check(NAME, Code::Failure, Some(e.to_string())),
    }
}

/// `noauth` is for development only.
fn auth_strategy(config: &Config) -> CheckResult {
    const NAME: &str = "Authentication";
    if config.default.auth_strategy == "noauth" {
        check(
            NAME,
            Code::Warning,
            Some("auth_strategy = noauth trusts identity headers from any client".into()),
        )
    } else {
        check(NAME, Code::Success, None)
    }
}

pub fn run_checks(config: &Config) -> Vec<CheckResult> {
    vec![database(config), policy(config), auth_strategy(config)]
}

/// The table oslo.upgradecheck prints, or its JSON form.
pub fn render(results: &[CheckResult], json: bool) -> String {
    if json {
        let items: Vec<String> = results
            .iter()
            .map(|r| {
                format!(
                    "{{\"check\": {:?}, \"result\": {}, \"details\": {}}}",
                    r.name,
                    r.code as i32,
                    r.details
                        .as_ref()
                        .map(|d| format!("{d:?}"))
                        .unwrap_or_else(|| "null".into())
                )
            })
            .collect();
        return format!("[{}]\n", items.join(", "));
    }
    let mut lines = vec!["Upgrade Check Results".to_owned()];
    let mut blocks = Vec::new();
    for r in results {
        blocks.push(vec![
            format!("Check: {}", r.name),
            format!("Result: {}", r.code.word()),
            format!("Details: {}", r.details.as_deref().unwrap_or("None")),
        ]);
    }
    let width = blocks
        .iter()
        .flatten()
        .chain(lines.iter())
        .map(|l| l.chars().count())
        .max()
        .unwrap_or(0);
    let rule = format!("+{}+", "-".repeat(width + 2));
    let row = |l: &str| format!("| {l:<width$} |");
    let mut out = vec![rule.clone(), row(&lines.remove(0)), rule.clone()];
    for b in blocks {
        out.extend(b.iter().map(|l| row(l)));
        out.push(rule.clone());
    }
    out.join("\n") + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_the_oslo_table() {
        let out = render(&[check("Database schema", Code::Success, None)], false);
        assert_eq!(
            out,
            "+-----------------------+\n\
             | Upgrade Check Results |\n\
             +-----------------------+\n\
             | Check: Database schema |\n"
                .replace("+-----------------------+", "+------------------------+")
                .replace("| Upgrade Check Results |", "| Upgrade Check Results  |")
                + "| Result: Success        |\n| Details: None          |\n+------------------------+\n"
        );
    }
}
