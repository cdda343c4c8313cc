//! Verdicts a user can act on: one per site ([`SiteVerdict`]) and one per file
//! ([`FileVerdict`]), with the exit code the CLI gives each.
//!
//! The decision is allowlist-first. A site is `allowed` exactly when the policy allows
//! it. Otherwise it is `dangerous` when the policy's own argument rule was broken, when
//! it calls something computed (the result of a call, a persistent id, an extension
//! code: no allowlist of globals says what that runs), or when the gadget knowledge
//! base ([`gadgets`]) knows the global; and `unknown` ("not on the
//! allowlist") in every other case. So a gadget nobody listed is still not clean.

use crate::decode::sink::Event;
use crate::graph::{Graph, Node};
use crate::policy::Verdict;
use crate::scan::gadgets::{self, Category};

/// The verdict on one site.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SiteVerdict {
    /// The policy allows it.
    Allowed,
    /// The policy does not allow it, and nothing says it is dangerous.
    Unknown {
        /// Why it is not allowed ("not on the allowlist").
        reason: &'static str,
    },
    /// The policy does not allow it, and it is known to be dangerous.
    Dangerous {
        /// What it can do.
        category: Category,
        /// Why, for people ("runs a shell command").
        reason: &'static str,
    },
}

/// The reason of an import or call the policy does not list and nothing knows.
pub const NOT_LISTED: &str = "not on the allowlist";

impl SiteVerdict {
    /// `allowed`, `unknown` or `dangerous`, as in the JSON report.
    pub fn name(&self) -> &'static str {
        match self {
            SiteVerdict::Allowed => "allowed",
            SiteVerdict::Unknown { .. } => "unknown",
            SiteVerdict::Dangerous { .. } => "dangerous",
        }
    }

    /// The reason, for a site that is not allowed.
    pub fn reason(&self) -> Option<&'static str> {
        match self {
            SiteVerdict::Allowed => None,
            SiteVerdict::Unknown { reason } | SiteVerdict::Dangerous { reason, .. } => Some(reason),
        }
    }

    /// The category, for a dangerous site.
    pub fn category(&self) -> Option<Category> {
        match self {
            SiteVerdict::Dangerous { category, .. } => Some(*category),
            _ => None,
        }
    }

    /// What this site alone makes of a file: allowed sites leave it clean, unknown
    /// ones make it suspicious, dangerous ones unsafe.
    pub fn file_verdict(&self) -> FileVerdict {
        match self {
            SiteVerdict::Allowed => FileVerdict::Clean,
            SiteVerdict::Unknown { .. } => FileVerdict::Suspicious,
            SiteVerdict::Dangerous { .. } => FileVerdict::Unsafe,
        }
    }
}

/// The verdict on a whole file. Ordered by precedence: the file's verdict is the
/// highest of its findings' (`Unsafe > Inconclusive > Suspicious > Clean`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FileVerdict {
    /// Every site allowed, every pickle complete, no hazard, nothing unread.
    Clean,
    /// Only sites the policy does not list and nothing knows to be dangerous: a
    /// loader under this policy refuses the file; it may be benign data of a library
    /// the policy does not cover (see `emit_policy`).
    Suspicious,
    /// The file could not be read whole (malformed, over a budget, an unsupported or
    /// unreadable layer, a decompression bomb, bytes that are no pickle): what was
    /// seen before that is still reported, but the rest is unknown.
    Inconclusive,
    /// A dangerous site, a loader hazard, a container anomaly that is an evasion, or a
    /// pickle whose calls come before a malformed tail.
    Unsafe,
}

impl FileVerdict {
    /// `clean`, `suspicious`, `inconclusive` or `unsafe`.
    pub fn name(self) -> &'static str {
        match self {
            FileVerdict::Clean => "clean",
            FileVerdict::Suspicious => "suspicious",
            FileVerdict::Inconclusive => "inconclusive",
            FileVerdict::Unsafe => "unsafe",
        }
    }

    /// The exit code of `pickleproof scan` for this verdict.
    ///
    /// | verdict | code | why this number |
    /// |---|---|---|
    /// | clean | 0 | success |
    /// | inconclusive | 2 | as the other commands' "malformed" (2) and "over budget" (3): the file could not be read whole |
    /// | suspicious | 4 | as the other commands' "policy refused" (4): a loader under the policy refuses it |
    /// | unsafe | 5 | new: worse than a refusal, a loader without the policy would be attacked |
    ///
    /// 1 stays "usage or I/O error" (the file could not be read at all).
    pub fn exit_code(self) -> u8 {
        match self {
            FileVerdict::Clean => 0,
            FileVerdict::Inconclusive => 2,
            FileVerdict::Suspicious => 4,
            FileVerdict::Unsafe => 5,
        }
    }
}

/// The verdict on one site the machine reported, with the policy's answer and the
/// graph as it stands.
pub(crate) fn judge(event: &Event<'_>, policy: Verdict, graph: &Graph<'_>) -> SiteVerdict {
    match policy {
        Verdict::Allowed => return SiteVerdict::Allowed,
        Verdict::RuleBroken(reason) => {
            return SiteVerdict::Dangerous {
                category: Category::BrokenRule,
                reason,
            }
        }
        Verdict::NotListed => {}
    }
    let known = |module: &str, name: &str| {
        gadgets::lookup(module, name).map(|g| SiteVerdict::Dangerous {
            category: g.category,
            reason: g.reason,
        })
    };
    let not_listed = SiteVerdict::Unknown { reason: NOT_LISTED };
    match event {
        Event::Import { module, name, .. } => known(module, name).unwrap_or(not_listed),
        Event::Call { callable, args, .. } => match graph.get(*callable) {
            Some(Node::Global(g)) => known(&g.module, &g.name)
                .or_else(|| {
                    gadgets::call_pattern(graph, &g.module, &g.name, *args)
                        .map(|(category, reason)| SiteVerdict::Dangerous { category, reason })
                })
                .unwrap_or(not_listed),
            other => SiteVerdict::Dangerous {
                category: Category::Indirection,
                reason: computed_call_reason(other),
            },
        },
        Event::PersistentId => SiteVerdict::Unknown {
            reason: "persistent ids are not allowed by the policy",
        },
        Event::Extension(_) => SiteVerdict::Unknown {
            reason: "extension codes are not allowed by the policy",
        },
        Event::Buffer => SiteVerdict::Unknown {
            reason: "out-of-band buffers are not allowed by the policy",
        },
    }
}

/// Why calling something that is not a global is dangerous, by what it is.
fn computed_call_reason(callable: Option<Node<'_>>) -> &'static str {
    match callable {
        Some(Node::Object(_)) => "calls the result of a call",
        Some(Node::PersId(_)) => "calls what a persistent id resolves to",
        Some(Node::Ext(_)) => "calls what an extension code resolves to",
        _ => "calls a computed value",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence_and_exit_codes() {
        use FileVerdict::*;
        let mut all = [Unsafe, Clean, Inconclusive, Suspicious];
        all.sort();
        assert_eq!(all, [Clean, Suspicious, Inconclusive, Unsafe]);
        let codes: Vec<(&str, u8)> = all.iter().map(|v| (v.name(), v.exit_code())).collect();
        assert_eq!(
            codes,
            [
                ("clean", 0),
                ("suspicious", 4),
                ("inconclusive", 2),
                ("unsafe", 5)
            ]
        );
    }
}
