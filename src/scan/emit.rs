//! The policy a file needs: from a [`FileReport`], the exact minimal allowlist under
//! which a loader would accept the file's own pickles, in the preset format of
//! `policies/` (one line each, sorted, no comments):
//!
//! - `module:qualname` for each global imported;
//! - `feature persistent-ids`, `feature extensions`, `feature buffer-placeholders`,
//!   `feature computed-calls` for each escape hatch used;
//! - `builtins:getattr  rule=getattr(module:qualname,attr)` for each call of
//!   `builtins.getattr` with a global and a literal attribute name. Such a file's
//!   bare `builtins:getattr` line is left out (an unrestricted getattr allows
//!   `getattr(os, 'system')`), unless getattr is also called with other arguments,
//!   or imported and never called.
//!
//! Nested pickles are left out: another loader (`pickle.loads` inside the stream)
//! reads them, not the one this policy configures. The text says what the file
//! uses, not that it is safe: review it before trusting it (the scan's verdicts say
//! which entries are known to be dangerous).

use std::collections::BTreeSet;

use crate::graph::CallOp;
use crate::scan::file::FileReport;
use crate::scan::report::{Callee, Finding};

/// The policy text `report`'s own pickles need; see the module docs.
pub fn emit_policy(report: &FileReport) -> String {
    let mut lines = BTreeSet::new();
    let mut getattr_imported = false;
    let mut getattr_ruled = false;
    let mut getattr_unruled = false;
    for pickle in report.pickles.iter().filter(|p| p.nested_in.is_none()) {
        for site in &pickle.sites {
            match &site.finding {
                Finding::Import { module, name, .. } => {
                    if (module.as_str(), name.as_str()) == ("builtins", "getattr") {
                        getattr_imported = true;
                    } else {
                        lines.insert(format!("{module}:{name}"));
                    }
                }
                Finding::Call { callee, op } => match (callee, &site.getattr) {
                    (Callee::Global { .. }, Some(pair)) => {
                        getattr_ruled = true;
                        lines.insert(format!(
                            "builtins:getattr  rule=getattr({}:{},{})",
                            pair.module, pair.name, pair.attr
                        ));
                    }
                    (Callee::Computed(_), _) => {
                        lines.insert("feature computed-calls".to_owned());
                    }
                    (Callee::Global { module, name }, None) => {
                        if (module.as_str(), name.as_str()) == ("builtins", "getattr") {
                            getattr_unruled = true;
                        }
                        // INST names its global itself.
                        if *op == CallOp::Inst {
                            lines.insert(format!("{module}:{name}"));
                        }
                    }
                },
                Finding::PersistentId => {
                    lines.insert("feature persistent-ids".to_owned());
                }
                Finding::Extension(_) => {
                    lines.insert("feature extensions".to_owned());
                }
                Finding::Buffer => {
                    lines.insert("feature buffer-placeholders".to_owned());
                }
            }
        }
    }
    if getattr_unruled || (getattr_imported && !getattr_ruled) {
        lines.insert("builtins:getattr".to_owned());
    }
    let mut out = String::new();
    for line in lines {
        out.push_str(&line);
        out.push('\n');
    }
    out
}
