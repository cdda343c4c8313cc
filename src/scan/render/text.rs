//! The text report: one line per finding (every site the policy does not allow,
//! every hazard, error and anomaly), then one verdict line for the file.
//!
//! ```text
//! evil.pkl: @0: error PP002 shell-command: import os.system at offset 0 (GLOBAL): runs a shell command
//! evil.pkl: @27: error PP002 shell-command: call os.system (reduce) at offset 27 (REDUCE): runs a shell command
//! evil.pkl: verdict unsafe (exit 5): 2 finding(s) in 1 pickle(s)
//! ```
//!
//! A finding's place is `file[:member]: @N` with `N` its offset in the file when the
//! bytes are the file's own, or `+N` its offset within the member (or pickle) when
//! they are not (a compressed or nested one).

use std::fmt::Write as _;

use crate::scan::file::FileReport;

/// The text report of `report`, for the file called `file`.
pub fn text(report: &FileReport, file: &str) -> String {
    let mut out = String::new();
    let issues = report.issues();
    for issue in &issues {
        out.push_str(file);
        if !issue.location.is_empty() {
            let _ = write!(out, ":{}", issue.location);
        }
        match (issue.file_offset, issue.offset) {
            (Some(at), _) => {
                let _ = write!(out, ": @{at}");
            }
            (None, Some(at)) => {
                let _ = write!(out, ": +{at}");
            }
            (None, None) => {}
        }
        let _ = writeln!(
            out,
            ": {} {} {}: {}",
            issue.rule.level().name(),
            issue.rule.id,
            issue.rule.name,
            issue.message
        );
    }
    let verdict = report.verdict();
    let _ = writeln!(
        out,
        "{file}: verdict {} (exit {}): {} finding(s) in {} pickle(s)",
        verdict.name(),
        verdict.exit_code(),
        issues.len(),
        report.pickles.len()
    );
    out
}
