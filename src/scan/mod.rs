//! The security report: every import, call and other escape hatch a stream asks for,
//! with its byte offset and the verdict of a [`Policy`](crate::Policy).
//!
//! A policy decode stops at the first global it refuses; a scan does not. It runs the
//! stream as the inert policy would (everything described, nothing executed, every
//! budget enforced) and records each *site* on the way:
//! - an import (GLOBAL, STACK_GLOBAL, INST), with the names after the Python 2 mapping
//!   and the names as written when they differ;
//! - a call (REDUCE, NEWOBJ, NEWOBJ_EX, INST, OBJ) and what is being called (a call
//!   of anything but a global is judged by `Policy::allows_computed_calls`);
//! - a persistent id (PERSID, BINPERSID), an extension code (EXT1/2/4) and an
//!   out-of-band buffer that was not supplied (NEXT_BUFFER): each needs the loading
//!   application's cooperation, so a policy may refuse them.
//!
//! The verdict is the policy's answer for that site. The first refused site of a scan
//! is exactly where a decode under the same policy fails, with the same names (tested
//! over the corpus and fuzzed). See `Decoder::scan` for the entry point.
//!
//! This module only holds data and renders it; the machine records the sites.

use std::fmt::Write as _;

use crate::decode::opcode::Opcode;
use crate::decode::sink::{At, Event, OnRefusal, Sink};
use crate::decode::Decoder;
use crate::error::Error;
use crate::graph::{CallOp, Graph, Node};
use crate::policy::Verdict;
use crate::views::json::push_json_string;

impl Decoder {
    /// Scans one pickle: every import, call, persistent id, extension code and missing
    /// buffer it asks for, with its offset and this decoder's policy's verdict.
    ///
    /// Unlike [`Decoder::decode`], a refusal does not stop the scan: the stream runs
    /// as under [`Policy::inert`](crate::Policy::inert) (described, never executed, within the limits), so
    /// the report lists *everything*. Its first refused site is exactly where `decode`
    /// would fail. See [`Report`].
    ///
    /// ```
    /// use pickleproof::Decoder;
    ///
    /// // os.system('echo pwned'), protocol 0.
    /// let data = b"cos\nsystem\n(S'echo pwned'\ntR.";
    /// let report = Decoder::new().scan(data);
    /// let what: Vec<String> = report.sites.iter().map(|s| s.finding.describe()).collect();
    /// assert_eq!(what, ["import os.system", "call os.system (reduce)"]);
    /// let refused: Vec<u64> = report.refused().map(|s| s.offset).collect();
    /// assert_eq!(refused, [0, 27]); // GLOBAL at 0, REDUCE at 27
    /// assert!(!report.is_clean());
    /// // A decode under the same (strict) policy fails at the first refused site.
    /// assert_eq!(Decoder::new().decode(data).unwrap_err().offset(), 0);
    /// ```
    pub fn scan(&self, input: &[u8]) -> Report {
        let mut recorder = SiteRecorder::default();
        let result = self.decode_with_sink(input, &mut recorder, OnRefusal::Continue);
        let (error, consumed) = match result {
            Ok(decoded) => (None, decoded.consumed),
            Err(e) => (Some(e), 0),
        };
        Report {
            sites: recorder.sites,
            error,
            consumed,
        }
    }
}

/// The sink behind [`Decoder::scan`]: one [`Site`] per event, in stream order.
#[derive(Default)]
struct SiteRecorder {
    sites: Vec<Site>,
}

impl Sink for SiteRecorder {
    fn site(&mut self, at: At, event: Event<'_>, verdict: Verdict, graph: &Graph<'_>) -> u64 {
        let finding = match event {
            Event::Import {
                module,
                name,
                written,
                ..
            } => Finding::Import {
                module: module.to_owned(),
                name: name.to_owned(),
                written: written.map(|(m, n)| (m.to_owned(), n.to_owned())),
            },
            Event::Call { op, callable, .. } => {
                let callee = match graph.get(callable) {
                    Some(Node::Global(g)) => Callee::Global {
                        module: g.module.clone(),
                        name: g.name.clone(),
                    },
                    Some(other) => Callee::Computed(other.type_name()),
                    None => Callee::Computed("int"),
                };
                Finding::Call { op, callee }
            }
            Event::PersistentId => Finding::PersistentId,
            Event::Extension(code) => Finding::Extension(code),
            Event::Buffer => Finding::Buffer,
        };
        let site = Site {
            offset: at.offset,
            opcode: at.opcode,
            finding,
            allowed: verdict.is_allowed(),
        };
        // Charged like the decoder's own vectors: the strings, plus whatever capacity
        // the push added.
        let strings = site.heap_bytes();
        let capacity = self.sites.capacity();
        self.sites.push(site);
        let grown = self.sites.capacity().saturating_sub(capacity);
        strings.saturating_add((grown as u64).saturating_mul(std::mem::size_of::<Site>() as u64))
    }
}

/// One thing the stream asks the loader to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Site {
    /// Byte offset of the opcode, from the start of the pickle.
    pub offset: u64,
    /// The opcode that asked.
    pub opcode: Opcode,
    /// What it asked for.
    pub finding: Finding,
    /// The policy's verdict.
    pub allowed: bool,
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
        strings as u64
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
            let _ = write!(
                out,
                "{{\"offset\":{},\"opcode\":\"{}\",\"allowed\":{},",
                site.offset,
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
                    push_json_string(&mut out, module);
                    out.push_str(",\"name\":");
                    push_json_string(&mut out, name);
                    if let Some((m, n)) = written {
                        out.push_str(",\"written_module\":");
                        push_json_string(&mut out, m);
                        out.push_str(",\"written_name\":");
                        push_json_string(&mut out, n);
                    }
                }
                Finding::Call { op, callee } => {
                    let _ = write!(out, "\"kind\":\"call\",\"op\":\"{}\",", op.name());
                    match callee {
                        Callee::Global { module, name } => {
                            out.push_str("\"module\":");
                            push_json_string(&mut out, module);
                            out.push_str(",\"name\":");
                            push_json_string(&mut out, name);
                        }
                        Callee::Computed(kind) => {
                            out.push_str("\"computed\":");
                            push_json_string(&mut out, kind);
                        }
                    }
                }
                Finding::PersistentId => out.push_str("\"kind\":\"persid\""),
                Finding::Extension(code) => {
                    let _ = write!(out, "\"kind\":\"ext\",\"code\":{code}");
                }
                Finding::Buffer => out.push_str("\"kind\":\"buffer\""),
            }
            out.push('}');
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
