//! `tricircle-status upgrade check`: pre-upgrade checks in the format and
//! with the exit codes of oslo.upgradecheck (0 success, 1 warning, 2 failure).

use clap::Subcommand;
use tricircle_cmd::status::{render, run_checks, Code};
use tricircle_cmd::{load_config, parse_args, ToolArgs};

#[derive(Subcommand)]
enum Command {
    /// Upgrade readiness.
    Upgrade {
        #[command(subcommand)]
        what: UpgradeCommand,
    },
}

#[derive(Subcommand)]
enum UpgradeCommand {
    /// Run the upgrade checks.
    Check {
        /// Print the results as JSON.
        #[arg(long)]
        json: bool,
    },
}

fn main() {
    let args: ToolArgs<Command> = parse_args("Tricircle status checks");
    let Command::Upgrade {
        what: UpgradeCommand::Check { json },
    } = args.command;
    let (config, _) = load_config(&args.config, "tricircle-status");
    let results = run_checks(&config);
    print!("{}", render(&results, json));
    let worst = results
        .iter()
        .map(|r| r.code)
        .max()
        .unwrap_or(Code::Success);
    std::process::exit(worst as i32);
}
