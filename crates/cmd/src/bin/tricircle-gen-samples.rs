//! `tricircle-gen-samples [--reference FILE] [DIR]`: write
//! `api.conf.sample`, `xjob.conf.sample` and `policy.yaml.sample` into DIR
//! (default `etc`), as the original's oslo-config-generator and
//! oslopolicy-sample-generator did, and the configuration reference.

use std::path::PathBuf;

use clap::Parser;
use tricircle_cmd::{fail, samples};

#[derive(Parser)]
#[command(version, about = "Generate the sample configuration and policy files")]
struct Args {
    /// Directory to write into.
    #[arg(default_value = "etc")]
    dir: PathBuf,
    /// Also write the configuration reference (Markdown) here.
    #[arg(long, value_name = "FILE")]
    reference: Option<PathBuf>,
}

fn main() {
    let args = Args::parse();
    for (name, content) in samples::all() {
        let path = args.dir.join(name);
        std::fs::write(&path, content)
            .unwrap_or_else(|e| fail(&format!("cannot write {}: {e}", path.display())));
        println!("{}", path.display());
    }
    if let Some(path) = args.reference {
        std::fs::write(&path, samples::reference())
            .unwrap_or_else(|e| fail(&format!("cannot write {}: {e}", path.display())));
        println!("{}", path.display());
    }
}
