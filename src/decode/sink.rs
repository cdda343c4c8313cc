//! What the machine tells an observer while it runs.
//!
//! The machine knows the pickle VM and nothing of reports, file formats or output: it
//! reports each *site* (an import, a call, a persistent id, an extension code, a
//! missing out-of-band buffer) to a [`Sink`] with the policy's verdict and the graph
//! as it stands, and asks the sink one question (how many bytes of inline data follow
//! a BUILD, for formats such as joblib that write array data between opcodes). The
//! security report (`crate::scan`) and the container readers (`crate::container`)
//! implement this trait; the machine imports neither.

use crate::budget::Usage;
use crate::decode::opcode::Opcode;
use crate::graph::{CallOp, Graph, NodeId};
use crate::policy::Verdict;

/// Where a site is: the offset of its opcode from the start of the pickle, and the
/// opcode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct At {
    /// Byte offset of the opcode.
    pub offset: u64,
    /// The opcode.
    pub opcode: Opcode,
}

/// One thing the stream asks the loader to do.
#[derive(Clone, Copy, Debug)]
pub enum Event<'e> {
    /// Import `module.name` (after the Python 2 mapping); `written` holds the names as
    /// the stream wrote them when the mapping changed them. `node` is the global's node.
    Import {
        /// Module, e.g. `os`.
        module: &'e str,
        /// Attribute, possibly dotted.
        name: &'e str,
        /// The stream's own names, when different.
        written: Option<(&'e str, &'e str)>,
        /// The global's node (pushed right after this event).
        node: NodeId,
    },
    /// A call (described, never made): `callable(*args, **kwargs)`. The callable is a
    /// global node unless the call is a computed one.
    Call {
        /// Which opcode shape.
        op: CallOp,
        /// What is called.
        callable: NodeId,
        /// The argument tuple.
        args: NodeId,
        /// Keyword arguments (NEWOBJ_EX only).
        kwargs: Option<NodeId>,
    },
    /// A persistent id, resolved by the loading application.
    PersistentId,
    /// An extension-registry code, resolved through `copyreg`.
    Extension(u32),
    /// A protocol 5 out-of-band buffer the caller did not supply.
    Buffer,
}

/// An observer of one decode. Every method has a default that does nothing, so a
/// sink implements only what it needs.
pub trait Sink {
    /// A site, with the policy's verdict and the graph as it stands (every node id in
    /// `event` is in it). Returns the heap bytes the sink kept for it, which the
    /// machine charges to the memory budget (so a scan is bounded like a decode).
    fn site(&mut self, at: At, event: Event<'_>, verdict: Verdict, graph: &Graph<'_>) -> u64 {
        let _ = (at, event, verdict, graph);
        0
    }

    /// After BUILD gave `target` its `state`: how many bytes of inline data follow
    /// the opcode and must be stepped over before the next opcode (joblib writes array
    /// data there). `rest` is the input after the opcode when the source is a slice
    /// (`None` for a stream). An `Err` fails the decode as malformed, with that reason.
    fn inline_after_build(
        &mut self,
        graph: &Graph<'_>,
        target: NodeId,
        state: NodeId,
        rest: Option<&[u8]>,
    ) -> Result<u64, &'static str> {
        let _ = (graph, target, state, rest);
        Ok(0)
    }

    /// The decode ended (after STOP, or at an error): the graph as it stands and what
    /// the run used. Called once.
    fn finish(&mut self, end: &Finish<'_, '_>) {
        let _ = end;
    }
}

/// What a sink hears when the decode ends.
#[derive(Clone, Copy, Debug)]
pub struct Finish<'f, 'a> {
    /// Every value built so far (the whole graph after STOP).
    pub graph: &'f Graph<'a>,
    /// The value STOP returned, or `None` when the decode failed.
    pub root: Option<NodeId>,
    /// The peak of each resource so far.
    pub usage: &'f Usage,
    /// The highest memo index stored, if any (CPython's memo is a dense array that
    /// long, so a huge index is a loader hazard even though pickleproof's is sparse).
    pub max_memo_index: Option<u64>,
}

/// How a decode with a sink treats the policy's refusals.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnRefusal {
    /// Fail at the first refused site, as `decode` does.
    Fail,
    /// Report it to the sink and go on as the inert policy would: a scan.
    Continue,
}
