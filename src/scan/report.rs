//! The report on one pickle ([`Report`], what [`Decoder::scan`](crate::Decoder::scan)
//! returns): every site in stream order with its offset, the policy's verdict and the
//! scan's ([`SiteVerdict`]), and how the decode ended; with its text and JSON forms.

use std::fmt::Write as _;

use crate::decode::opcode::Opcode;
use crate::error::Error;
use crate::graph::CallOp;
use crate::scan::verdict::SiteVerdict;
use crate::views::json::push_json_string;

/// One thing the stream asks the loader to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Site {
    /// Byte offset of the opcode, from the start of the pickle.
    pub offset: u64,
    /// The opcode that asked.
    pub opcode: Opcode,
    /// What it asked for.
    pub finding: Finding,
    /// The policy's verdict: true exactly when [`Site::verdict`] is
    /// [`SiteVerdict::Allowed`].
    pub allowed: bool,
    /// The scan's verdict: allowed, or why not (see [`SiteVerdict`]).
    pub verdict: SiteVerdict,
    /// For a call of `builtins.getattr` whose arguments are a global and a literal
    /// str: that pair, which `emit_policy` turns into an argument rule.
    pub getattr: Option<GetattrPair>,
}

/// `getattr(module.name, 'attr')` with a global and a literal attribute name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GetattrPair {
    /// The global's module.
    pub module: String,
    /// The global's name.
    pub name: String,
    /// The attribute.
    pub attr: String,
}

/// What a [`Site`] asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Finding {
    /// Import `module.name` (Python 3 names; `written` holds the stream's own names
    /// when the Python 2 mapping changed them).
    Import {
        /// Module, e.g. `os`.
        module: String,
        /// Attribute, possibly dotted.
        name: String,
        /// The names as the stream wrote them, when different.
        written: Option<(String, String)>,
    },
    /// Call something (the call is described, never made).
    Call {
        /// Which opcode shape.
        op: CallOp,
        /// What is called.
        callee: Callee,
    },
    /// A persistent id, resolved by the loading application.
    PersistentId,
    /// An extension-registry code, resolved through `copyreg`.
    Extension(u32),
    /// A protocol 5 out-of-band buffer the caller did not supply.
    Buffer,
}

/// The target of a call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Callee {
    /// A global, by name.
    Global {
        /// Module.
        module: String,
        /// Attribute.
        name: String,
    },
    /// Something computed: the result of another call, a persistent id, an extension
    /// (its kind, as in [`Node::type_name`](crate::Node::type_name)).
    Computed(&'static str),
}

impl Site {
    /// Heap bytes this site holds beyond its own size (charged to the memory budget).
    pub(crate) fn heap_bytes(&self) -> u64 {
        let strings = match &self.finding {
            Finding::Import {
                module,
                name,
                written,
            } => {
                let written = written
                    .as_ref()
                    .map_or(0, |(m, n)| m.len().saturating_add(n.len()));
                module
                    .len()
                    .saturating_add(name.len())
                    .saturating_add(written)
            }
            Finding::Call {
                callee: Callee::Global { module, name },
                ..
            } => module.len().saturating_add(name.len()),
            _ => 0,
        };
        let pair = self.getattr.as_ref().map_or(0, |p| {
            (std::mem::size_of::<GetattrPair>())
                .saturating_add(p.module.len())
                .saturating_add(p.name.len())
                .saturating_add(p.attr.len())
        });
        strings.saturating_add(pair) as u64
    }
}

impl Finding {
    /// A one-line description, e.g. `import os.system` or `call os.system (REDUCE)`.
    pub fn describe(&self) -> String {
        match self {
            Finding::Import {
                module,
                name,
                written,
            } => match written {
                Some((m, n)) => format!("import {module}.{name} (written {m}.{n})"),
                None => format!("import {module}.{name}"),
            },
            Finding::Call { op, callee } => match callee {
                Callee::Global { module, name } => format!("call {module}.{name} ({})", op.name()),
                Callee::Computed(kind) => format!("call a computed {kind} ({})", op.name()),
            },
            Finding::PersistentId => "persistent id (resolved by the loader)".to_owned(),
            Finding::Extension(code) => format!("extension code {code} (copyreg registry)"),
            Finding::Buffer => "out-of-band buffer (not supplied)".to_owned(),
        }
    }
}

/// The result of a scan: the sites in stream order, and how the (inert) decode ended.
#[derive(Clone, Debug)]
pub struct Report {
    /// Every site, in stream order.
    pub sites: Vec<Site>,
    /// `None` when the whole stream decoded; otherwise the error that ended it (the
    /// sites are then those before it, and the report is incomplete).
    pub error: Option<Error>,
    /// Bytes consumed up to and including STOP (0 when the decode failed).
    pub consumed: u64,
}

impl Report {
    /// The sites the policy refused.
    pub fn refused(&self) -> impl Iterator<Item = &Site> {
        self.sites.iter().filter(|s| !s.allowed)
    }

    /// True when the whole stream decoded and the policy allowed every site: loading
    /// it under that policy succeeds.
    pub fn is_clean(&self) -> bool {
        self.error.is_none() && self.sites.iter().all(|s| s.allowed)
    }

    /// A table for people: one line per site, then a summary line.
    pub fn to_text(&self, policy_name: &str) -> String {
        let mut out = String::new();
        out.push_str("  offset  opcode            verdict    what\n");
        for site in &self.sites {
            let _ = writeln!(
                out,
                "{:>8}  {:<16}  {:<9}  {}",
                site.offset,
                site.opcode.name(),
                if site.allowed { "allowed" } else { "REFUSED" },
                site.finding.describe()
            );
        }
        let refused = self.refused().count();
        let _ = write!(
            out,
            "{} site(s), {refused} refused by policy {policy_name}; ",
            self.sites.len()
        );
        match &self.error {
            None => out.push_str("the stream decoded completely\n"),
            Some(e) => {
                let _ = writeln!(out, "INCOMPLETE: the decode stopped: {e}");
            }
        }
        out
    }

    /// The report as one JSON object (strings escaped as the JSON view escapes them).
    pub fn to_json(&self, policy_name: &str) -> String {
        self.to_json_for(policy_name, None)
    }

    /// [`Report::to_json`] with the archive entry the pickle came from, as `"entry"`.
    pub fn to_json_for(&self, policy_name: &str, entry: Option<&str>) -> String {
        let mut out = String::from("{");
        if let Some(entry) = entry {
            out.push_str("\"entry\":");
            push_json_string(&mut out, entry);
            out.push(',');
        }
        out.push_str("\"policy\":");
        push_json_string(&mut out, policy_name);
        let _ = write!(
            out,
            ",\"complete\":{},\"clean\":{},\"consumed\":{},\"sites\":[",
            self.error.is_none(),
            self.is_clean(),
            self.consumed
        );
        for (i, site) in self.sites.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            push_site_json(&mut out, site, None);
        }
        out.push_str("],\"error\":");
        match &self.error {
            None => out.push_str("null"),
            Some(e) => {
                let _ = write!(
                    out,
                    "{{\"kind\":\"{}\",\"offset\":{},\"message\":",
                    e.kind().name(),
                    e.offset()
                );
                push_json_string(&mut out, &e.to_string());
                out.push('}');
            }
        }
        out.push('}');
        out
    }
}

/// One site as a JSON object: offset (and `file_offset` when known), opcode, the
/// policy's verdict (`allowed`), the finding's fields, and the scan's verdict
/// (`verdict`, plus `category` and `reason` when not allowed).
pub(crate) fn push_site_json(out: &mut String, site: &Site, file_offset: Option<u64>) {
    let _ = write!(out, "{{\"offset\":{},", site.offset);
    if let Some(at) = file_offset {
        let _ = write!(out, "\"file_offset\":{at},");
    }
    let _ = write!(
        out,
        "\"opcode\":\"{}\",\"allowed\":{},",
        site.opcode.name(),
        site.allowed
    );
    match &site.finding {
        Finding::Import {
            module,
            name,
            written,
        } => {
            out.push_str("\"kind\":\"import\",\"module\":");
            push_json_string(out, module);
            out.push_str(",\"name\":");
            push_json_string(out, name);
            if let Some((m, n)) = written {
                out.push_str(",\"written_module\":");
                push_json_string(out, m);
                out.push_str(",\"written_name\":");
                push_json_string(out, n);
            }
        }
        Finding::Call { op, callee } => {
            let _ = write!(out, "\"kind\":\"call\",\"op\":\"{}\",", op.name());
            match callee {
                Callee::Global { module, name } => {
                    out.push_str("\"module\":");
                    push_json_string(out, module);
                    out.push_str(",\"name\":");
                    push_json_string(out, name);
                }
                Callee::Computed(kind) => {
                    out.push_str("\"computed\":");
                    push_json_string(out, kind);
                }
            }
        }
        Finding::PersistentId => out.push_str("\"kind\":\"persid\""),
        Finding::Extension(code) => {
            let _ = write!(out, "\"kind\":\"ext\",\"code\":{code}");
        }
        Finding::Buffer => out.push_str("\"kind\":\"buffer\""),
    }
    let _ = write!(out, ",\"verdict\":\"{}\"", site.verdict.name());
    if let Some(category) = site.verdict.category() {
        let _ = write!(out, ",\"category\":\"{}\"", category.name());
    }
    if let Some(reason) = site.verdict.reason() {
        out.push_str(",\"reason\":");
        push_json_string(out, reason);
    }
    if let Some(pair) = &site.getattr {
        out.push_str(",\"getattr\":{\"module\":");
        push_json_string(out, &pair.module);
        out.push_str(",\"name\":");
        push_json_string(out, &pair.name);
        out.push_str(",\"attr\":");
        push_json_string(out, &pair.attr);
        out.push('}');
    }
    out.push('}');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describe_reads_like_a_sentence() {
        let f = Finding::Import {
            module: "builtins".into(),
            name: "set".into(),
            written: Some(("__builtin__".into(), "set".into())),
        };
        assert_eq!(
            f.describe(),
            "import builtins.set (written __builtin__.set)"
        );
        let c = Finding::Call {
            op: CallOp::Reduce,
            callee: Callee::Global {
                module: "os".into(),
                name: "system".into(),
            },
        };
        assert_eq!(c.describe(), "call os.system (reduce)");
    }
}
