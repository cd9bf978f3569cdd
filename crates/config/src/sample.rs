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
