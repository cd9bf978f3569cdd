//! The commented sample configuration file.

use crate::options::all_specs;

const HEADER: &str = "\
# Sample configuration of tricircle-api and tricircle-xjob.
#
# Every option is listed, commented out, with its default value. A value
# may refer to another option as $name, ${name} or ${section.name};
# write $$ for a literal dollar sign. Lists are comma-separated.
";

/// The sample for the options of `sections` (all when empty).
pub(crate) fn sample(sections: &[&str]) -> String {
    let mut out = String::from(HEADER);
    let mut section = "";
    for spec in all_specs().filter(|s| sections.is_empty() || sections.contains(&s.section)) {
        if spec.section != section {
            section = spec.section;
            out.push_str(&format!("\n[{section}]\n"));
        }
        out.push_str(&format!("\n# {} ({})\n", spec.help, spec.kind.label()));
        if !spec.aliases.is_empty() {
            let names: Vec<String> = spec
                .aliases
                .iter()
                .map(|(s, n)| format!("[{s}] {n}"))
                .collect();
            out.push_str(&format!("# Deprecated names: {}\n", names.join(", ")));
        }
        match spec.default {
            Some("") => out.push_str(&format!("#{} =\n", spec.name)),
            Some(default) => out.push_str(&format!("#{} = {default}\n", spec.name)),
            None => out.push_str(&format!("#{} = <None>\n", spec.name)),
        }
    }
    out
}

const REFERENCE_HEADER: &str = "\
# Configuration reference

Generated from the option definitions by `scripts/gen-samples` (a test
fails when this file is stale); `etc/api.conf.sample` and
`etc/xjob.conf.sample` carry the same options as commented samples.
Files are read as oslo.config reads them: `--config-file` (repeatable,
later files win), `--config-dir`, and without them the first
`tricircle.conf` and the first `<program>.conf` found in `~/.tricircle`,
`~`, `/etc/tricircle`, `/etc`. oslo.log's flags (`--debug`, `--log-file`,
`--log-dir`, `--use-syslog`, `--use-journal`, `--use-json`, ...) override
their options. Secrets are never logged.
";

/// Markdown-safe table cell.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// The configuration reference (Markdown): every option of every section,
/// with its type, default, deprecated names and help; `readers(section)`
/// names the programs that read a section.
pub(crate) fn reference(readers: &dyn Fn(&str) -> Vec<&'static str>) -> String {
    let mut out = String::from(REFERENCE_HEADER);
    let mut section = "";
    for spec in all_specs() {
        if spec.section != section {
            section = spec.section;
            out.push_str(&format!("\n## [{section}]\n\n"));
            let who = readers(section);
            if !who.is_empty() {
                out.push_str(&format!("Read by: {}.\n\n", who.join(", ")));
            }
            out.push_str("| Option | Type | Default | Description |\n|---|---|---|---|\n");
        }
        let default = match spec.default {
            Some("") => "(empty)".to_owned(),
            Some(d) => format!("`{}`", cell(d)),
            None => "(unset)".to_owned(),
        };
        let mut help = cell(spec.help);
        if !help.ends_with('.') {
            help.push('.');
        }
        if !spec.aliases.is_empty() {
            let names: Vec<String> = spec
                .aliases
                .iter()
                .map(|(s, n)| format!("`[{s}] {n}`"))
                .collect();
            help.push_str(&format!(" Deprecated names: {}.", names.join(", ")));
        }
        if spec.secret {
            help.push_str(" Secret: never logged.");
        }
        out.push_str(&format!(
            "| `{}` | {} | {default} | {help} |\n",
            spec.name,
            cell(&spec.kind.label())
        ));
    }
    out
}
