//! The sink behind every scan: it turns the machine's events into [`Site`]s with their
//! verdicts and, for a file scan, keeps what the file-level report needs: the bytes
//! of nested pickles (at the calls that would load them) and the loader hazards of
//! the finished graph.

use crate::budget::Usage;
use crate::decode::sink::{At, Event, Finish, Sink};
use crate::graph::{Graph, Node, NodeId};
use crate::policy::Verdict;
use crate::scan::gadgets::tuple_items;
use crate::scan::hazards::{self, Hazard, Thresholds};
use crate::scan::nested;
use crate::scan::report::{Callee, Finding, GetattrPair, Site};
use crate::scan::verdict;

/// A literal a call would unpickle (see [`nested`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct NestedPayload {
    /// Offset of the calling opcode in its pickle.
    pub(crate) offset: u64,
    /// The loader, `module.name`.
    pub(crate) callee: String,
    /// The bytes it would read.
    pub(crate) data: Vec<u8>,
}

/// One [`Site`] per event, in stream order; for a file scan also nested payloads
/// and hazards.
#[derive(Default)]
pub(crate) struct Recorder<'t> {
    pub(crate) sites: Vec<Site>,
    /// Set for a file scan: keep nested payloads, measure hazards at the end.
    pub(crate) file: Option<&'t Thresholds>,
    pub(crate) nested: Vec<NestedPayload>,
    /// The loader arguments whose bytes are in `nested` (each is copied once).
    nested_arguments: Vec<NodeId>,
    pub(crate) hazards: Vec<Hazard>,
    /// What the decode used, from its end (also when it failed).
    pub(crate) usage: Option<Usage>,
}

impl Recorder<'_> {
    /// A recorder for a file scan.
    #[cfg(feature = "zip")]
    pub(crate) fn for_file(thresholds: &Thresholds) -> Recorder<'_> {
        Recorder {
            file: Some(thresholds),
            ..Recorder::default()
        }
    }
}

impl Sink for Recorder<'_> {
    fn site(&mut self, at: At, event: Event<'_>, policy: Verdict, graph: &Graph<'_>) -> u64 {
        let mut pair = None;
        let mut payload = None;
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
            Event::Call {
                op, callable, args, ..
            } => {
                let callee = match graph.get(callable) {
                    Some(Node::Global(g)) => {
                        if (g.module.as_str(), g.name.as_str()) == ("builtins", "getattr") {
                            pair = getattr_pair(graph, args);
                        }
                        let argument = self
                            .file
                            .and_then(|_| nested::loader_argument(graph, &g.module, &g.name, args))
                            .filter(|id| !self.nested_arguments.contains(id));
                        if let Some(argument) = argument {
                            payload = nested::payload(graph, argument).map(|data| NestedPayload {
                                offset: at.offset,
                                callee: format!("{}.{}", g.module, g.name),
                                data,
                            });
                            if payload.is_some() {
                                self.nested_arguments.push(argument);
                            }
                        }
                        Callee::Global {
                            module: g.module.clone(),
                            name: g.name.clone(),
                        }
                    }
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
            allowed: policy.is_allowed(),
            verdict: verdict::judge(&event, policy, graph),
            getattr: pair,
        };
        // Charged like the decoder's own vectors: the strings, plus whatever capacity
        // the push added; and a nested payload's copy.
        let mut kept = site.heap_bytes();
        let capacity = self.sites.capacity();
        self.sites.push(site);
        let grown = self.sites.capacity().saturating_sub(capacity);
        kept =
            kept.saturating_add((grown as u64).saturating_mul(std::mem::size_of::<Site>() as u64));
        if let Some(payload) = payload {
            kept = kept
                .saturating_add(payload.data.len() as u64)
                .saturating_add(std::mem::size_of::<NodeId>() as u64)
                .saturating_add(payload.callee.len() as u64)
                .saturating_add(std::mem::size_of::<NestedPayload>() as u64);
            self.nested.push(payload);
        }
        kept
    }

    fn finish(&mut self, end: &Finish<'_, '_>) {
        self.usage = Some(*end.usage);
        if let Some(thresholds) = self.file {
            self.hazards = hazards::measure(end, thresholds);
        }
    }
}

/// `(global, 'attr')` when a getattr call's arguments are exactly those.
fn getattr_pair(graph: &Graph<'_>, args: NodeId) -> Option<GetattrPair> {
    let [target, attr] = tuple_items(graph, args) else {
        return None;
    };
    match (graph.get(*target)?, graph.get(*attr)?) {
        (Node::Global(g), Node::Str(attr)) => Some(GetattrPair {
            module: g.module.clone(),
            name: g.name.clone(),
            attr: String::from_utf8_lossy(attr).into_owned(),
        }),
        _ => None,
    }
}
