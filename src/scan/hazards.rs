//! Loader hazards: streams that run no code and still hurt whoever loads or uses
//! them, because CPython (or the code that walks the value) pays a cost pickleproof's
//! decoder does not. Each one names the resource and is reported as `unsafe`.
//!
//! - **Memo index** ([`Thresholds::memo_index`], default 2^24). CPython's unpickler
//!   keeps its memo as a dense array: a PUT at index `i` past the end grows it to
//!   `2·i` slots of 8 bytes, zero-filled, before anything else happens
//!   (`_Unpickler_MemoPut` → `_Unpickler_ResizeMemoList(self, idx * 2)`). Index 2^24
//!   costs 256 MiB, `LONG_BINPUT 0xffffffff` 64 GiB, from five bytes of input.
//!   CPython's pickler numbers memo entries densely from 0, and a scan allows at most
//!   `max_memo_entries` (2^22 by default) entries, so a stream that reaches 2^24 and
//!   decodes within that budget is sparse by construction: hand-made.
//! - **Expansion** ([`Thresholds::expansion`], default 2^30 nodes). Shared references
//!   cost nothing to decode (a memo bomb of 100 levels is 100 nodes), but `repr`,
//!   `==`, `json.dumps`, `pprint` and most hand-written walkers visit a shared value
//!   once per reference: 2^100 visits. The tree size is counted without expanding
//!   anything (below); 2^30 nodes is at least gigabytes of output and minutes of CPU
//!   for any such consumer, and more distinct values than a scan's memory budget can
//!   hold, so real data without heavy sharing never reaches it.
//! - **Depth** ([`Thresholds::depth`], default 1000). CPython's recursion limit is
//!   1000 frames: `repr`, `==`, `copy.deepcopy`, `json.dumps` and `pickle.dumps` of a
//!   value nested deeper raise `RecursionError` (or crash the interpreter when the
//!   limit was raised). Unpickling itself is iterative in CPython, so the hazard is
//!   the value's depth, not the stream's: the height of the graph from its root,
//!   which (unlike `Usage::depth`) does not count open MARKs. That is why a scan
//!   decodes with a much higher depth limit than a decode (`ScanOptions` default
//!   100,000): a deeper stream is then reported as this hazard rather than as a
//!   budget error, and one past even that limit is reported as both.
//!
//! # Counting the tree without building it
//!
//! [`tree_size`] is one iterative depth-first pass over the nodes reachable from the
//! root (Tarjan's strongly connected components, with explicit stacks), linear in
//! the graph, with saturating `u128` sums (2^100 is exact; past 2^128 it saturates).
//! On a graph without cycles it is exact: a node's tree size is 1 plus its children's
//! (an inline int or a childless node is 1), each node computed once. CPython's
//! consumers handle cycles (`repr` prints `[...]`, `deepcopy` memoizes), so a cycle is
//! not infinite: a reference back to a node on the current path counts 1, as `[...]`
//! does. The exact count with cycles depends on which nodes are on the walker's path
//! and is exponential to compute, so each cycle (strongly connected component) also
//! gets a lower bound that no walk order can undercut: a walk that enters a component
//! reaches every member and every edge leaving it, so it visits at least each member
//! once plus the full tree of every edge out. A member's size is the larger of its
//! depth-first size and its component's bound; both are lower bounds of what a
//! cycle-aware walker visits, and a memo bomb with back edges threaded through it is
//! still counted exponentially.
//!
//! The pass keeps 29 bytes per arena node (graph nodes take 32), allocated fallibly:
//! when that fails, no expansion or depth figure is reported (and nothing aborts).

use crate::decode::sink::Finish;
use crate::graph::{Graph, NodeId};

/// When a figure becomes a hazard. See the module docs for each default.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Thresholds {
    /// Highest memo index at or above which CPython's dense memo is a hazard.
    pub memo_index: u64,
    /// Tree size (nodes) above which expanding the value is a hazard.
    pub expansion: u128,
    /// Nesting depth above which walking the value is a hazard.
    pub depth: u64,
}

impl Default for Thresholds {
    fn default() -> Thresholds {
        Thresholds {
            memo_index: 1 << 24,
            expansion: 1 << 30,
            depth: 1000,
        }
    }
}

/// A loader hazard, naming the resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Hazard {
    /// A memo index CPython would allocate densely.
    MemoIndex {
        /// The highest index stored.
        index: u64,
        /// Bytes CPython's memo array takes for it (`16·index`, saturating).
        cpython_bytes: u64,
    },
    /// A value whose tree (shared references expanded) is this large.
    Expansion {
        /// Nodes of the tree (saturating at `u128::MAX`).
        nodes: u128,
    },
    /// A value nested this deep.
    Depth {
        /// Levels of nesting (containers and objects; leaves do not count).
        depth: u64,
        /// True when the decode stopped at its own depth limit: the value is at
        /// least this deep.
        at_least: bool,
    },
}

impl Hazard {
    /// The resource it names: `memo`, `expansion` or `depth`.
    pub fn resource(&self) -> &'static str {
        match self {
            Hazard::MemoIndex { .. } => "memo",
            Hazard::Expansion { .. } => "expansion",
            Hazard::Depth { .. } => "depth",
        }
    }

    /// One line for people.
    pub fn describe(&self) -> String {
        match self {
            Hazard::MemoIndex {
                index,
                cpython_bytes,
            } => format!(
                "memo index {index}: CPython's unpickler allocates a dense memo of {} slots ({cpython_bytes} bytes) for it",
                index.saturating_mul(2)
            ),
            Hazard::Expansion { nodes } => format!(
                "expansion: the value is {nodes} nodes (about 2^{:.1}) once shared references are walked as a tree (repr, ==, json.dumps)",
                log2(*nodes)
            ),
            Hazard::Depth { depth, at_least } => format!(
                "depth: the value is nested {}{depth} levels deep, past CPython's recursion limit (1000): repr, ==, copy.deepcopy and json.dumps fail on it",
                if *at_least { "more than " } else { "" }
            ),
        }
    }
}

/// `log2(n)` for people (0 for 0).
pub fn log2(n: u128) -> f64 {
    // Exact enough for display: the top 53 bits carry the value.
    #[allow(clippy::cast_precision_loss)]
    let float = n as f64;
    if n == 0 {
        0.0
    } else {
        float.log2()
    }
}

/// The hazards of a finished decode (the caller adds a depth hazard for a decode
/// that stopped at its depth limit: the graph is then unfinished).
pub(crate) fn measure(end: &Finish<'_, '_>, thresholds: &Thresholds) -> Vec<Hazard> {
    let mut found = Vec::new();
    if let Some(index) = end.max_memo_index.filter(|i| *i >= thresholds.memo_index) {
        found.push(Hazard::MemoIndex {
            index,
            cpython_bytes: index.saturating_mul(16),
        });
    }
    if let Some(size) = end.root.and_then(|root| tree_size(end.graph, root)) {
        if size.nodes > thresholds.expansion {
            found.push(Hazard::Expansion { nodes: size.nodes });
        }
        if size.depth > thresholds.depth {
            found.push(Hazard::Depth {
                depth: size.depth,
                at_least: false,
            });
        }
    }
    found
}

/// What walking a value as a tree costs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TreeSize {
    /// Nodes visited (see the module docs for cycles), saturating.
    pub nodes: u128,
    /// Levels of nesting: 0 for a leaf (an empty container too: nothing to walk
    /// into), 1 for a container of leaves.
    pub depth: u64,
}

/// Walk states of an arena node.
const UNSEEN: u8 = 0;
/// On the current depth-first path: a reference to it is a back edge.
const ON_PATH: u8 = 1;
/// Finished, but its component is still open (it is on Tarjan's stack).
const OPEN: u8 = 2;
/// Finished, with its component.
const DONE: u8 = 3;
/// A member of the component being closed.
const CLOSING: u8 = 4;

/// A fresh table of `len` entries, or `None` when the memory is not there.
fn table<T: Clone>(len: usize, fill: T) -> Option<Vec<T>> {
    let mut v = Vec::new();
    v.try_reserve_exact(len).ok()?;
    v.resize(len, fill);
    Some(v)
}

/// One level of the depth-first path.
struct Frame<'g> {
    id: NodeId,
    children: crate::graph::Children<'g>,
    nodes: u128,
    depth: u64,
}

/// The per-node tables of one walk.
struct Walk<'g, 'a> {
    graph: &'g Graph<'a>,
    state: Vec<u8>,
    order: Vec<u32>,
    low: Vec<u32>,
    nodes: Vec<u128>,
    depth: Vec<u32>,
    /// Tarjan's stack: nodes visited whose component is not closed yet.
    open: Vec<NodeId>,
    counter: u32,
}

impl<'g, 'a> Walk<'g, 'a> {
    /// The arena slot of a node with children; `None` for a leaf (an inline int, a
    /// stored int or float, a childless node).
    fn inner(&self, id: NodeId) -> Option<usize> {
        let data = self.graph.data(id)?;
        data.view().children().next()?;
        Some(id.index())
    }

    fn frame(&mut self, id: NodeId, slot: usize) -> Option<Frame<'g>> {
        let node = self.graph.get(id)?;
        self.counter = self.counter.checked_add(1)?;
        *self.state.get_mut(slot)? = ON_PATH;
        *self.order.get_mut(slot)? = self.counter;
        *self.low.get_mut(slot)? = self.counter;
        self.open.push(id);
        Some(Frame {
            id,
            children: node.children(),
            nodes: 0,
            depth: 0,
        })
    }

    /// Closes the component whose root is `root` (on top of Tarjan's stack): every
    /// member's size becomes at least the component's bound (see the module docs).
    fn close(&mut self, root: NodeId) -> Option<()> {
        let start = self.open.iter().rposition(|id| *id == root)?;
        let members = self.open.split_off(start);
        if let [only] = members.as_slice() {
            *self.state.get_mut(only.index())? = DONE;
            return Some(());
        }
        for m in &members {
            *self.state.get_mut(m.index())? = CLOSING;
        }
        let mut bound: u128 = 0;
        for m in &members {
            bound = bound.saturating_add(1);
            let Some(node) = self.graph.get(*m) else {
                continue;
            };
            for child in node.children() {
                let add = match self.inner(child) {
                    None => 1,
                    Some(slot) if *self.state.get(slot)? == CLOSING => 0,
                    Some(slot) => *self.nodes.get(slot)?,
                };
                bound = bound.saturating_add(add);
            }
        }
        for m in &members {
            let slot = m.index();
            *self.state.get_mut(slot)? = DONE;
            let size = self.nodes.get_mut(slot)?;
            *size = (*size).max(bound);
        }
        Some(())
    }
}

/// The size and depth of the tree `root` expands to; see the module docs. `None`
/// when the tables cannot be allocated or an id is not in the graph.
pub fn tree_size(graph: &Graph<'_>, root: NodeId) -> Option<TreeSize> {
    let len = graph.arena_len();
    let mut walk = Walk {
        graph,
        state: table(len, UNSEEN)?,
        order: table(len, 0u32)?,
        low: table(len, 0u32)?,
        nodes: table(len, 0u128)?,
        depth: table(len, 0u32)?,
        open: Vec::new(),
        counter: 0,
    };
    graph.get(root)?;
    let Some(root_slot) = walk.inner(root) else {
        return Some(TreeSize { nodes: 1, depth: 0 });
    };
    let first = walk.frame(root, root_slot)?;
    let mut path = vec![first];
    while let Some(top) = path.last_mut() {
        let top_slot = top.id.index();
        if let Some(child) = top.children.next() {
            let Some(slot) = walk.inner(child) else {
                top.nodes = top.nodes.saturating_add(1);
                continue;
            };
            match *walk.state.get(slot)? {
                UNSEEN => {
                    let frame = walk.frame(child, slot)?;
                    path.push(frame);
                }
                ON_PATH => {
                    // A back edge: `[...]`.
                    top.nodes = top.nodes.saturating_add(1);
                    let order = *walk.order.get(slot)?;
                    let low = walk.low.get_mut(top_slot)?;
                    *low = (*low).min(order);
                }
                state => {
                    top.nodes = top.nodes.saturating_add(*walk.nodes.get(slot)?);
                    top.depth = top.depth.max(u64::from(*walk.depth.get(slot)?));
                    if state == OPEN {
                        let order = *walk.order.get(slot)?;
                        let low = walk.low.get_mut(top_slot)?;
                        *low = (*low).min(order);
                    }
                }
            }
            continue;
        }
        // Every child seen: finish this node.
        let done = path.pop()?;
        let slot = done.id.index();
        *walk.nodes.get_mut(slot)? = done.nodes.saturating_add(1);
        *walk.depth.get_mut(slot)? =
            u32::try_from(done.depth.saturating_add(1)).unwrap_or(u32::MAX);
        *walk.state.get_mut(slot)? = OPEN;
        let low = *walk.low.get(slot)?;
        if low == *walk.order.get(slot)? {
            walk.close(done.id)?;
        }
        if let Some(parent) = path.last_mut() {
            parent.nodes = parent.nodes.saturating_add(*walk.nodes.get(slot)?);
            parent.depth = parent.depth.max(u64::from(*walk.depth.get(slot)?));
            let parent_low = walk.low.get_mut(parent.id.index())?;
            *parent_low = (*parent_low).min(low);
        }
    }
    Some(TreeSize {
        nodes: *walk.nodes.get(root_slot)?,
        depth: u64::from(*walk.depth.get(root_slot)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::NodeData;

    fn list(g: &mut Graph<'_>, items: Vec<NodeId>) -> NodeId {
        g.add(NodeData::List(items)).unwrap()
    }

    #[test]
    fn a_memo_bomb_counts_exactly_without_expanding() {
        // x0 = []; x(k+1) = [xk, xk]: 2^(k+2) - 1 nodes at level k+1, depth k+1 (an
        // empty list is a leaf: nothing to walk into).
        let mut g = Graph::new();
        let mut x = list(&mut g, vec![]);
        for _ in 0..100 {
            x = list(&mut g, vec![x, x]);
        }
        let size = tree_size(&g, x).unwrap();
        assert_eq!(
            size,
            TreeSize {
                nodes: (1u128 << 101) - 1,
                depth: 100
            }
        );
        // Past 2^128 the count saturates.
        for _ in 0..100 {
            x = list(&mut g, vec![x, x]);
        }
        assert_eq!(tree_size(&g, x).unwrap().nodes, u128::MAX);
    }

    #[test]
    fn leaves_and_inline_ints_count_one_and_no_depth() {
        let mut g = Graph::new();
        let one = NodeId::int(1).unwrap();
        let s = g.add(NodeData::Str(b"s".to_vec().into())).unwrap();
        let f = g.add(NodeData::Float(0.5)).unwrap();
        let l = list(&mut g, vec![one, s, f, one]);
        assert_eq!(tree_size(&g, l), Some(TreeSize { nodes: 5, depth: 1 }));
        assert_eq!(tree_size(&g, one), Some(TreeSize { nodes: 1, depth: 0 }));
        assert_eq!(tree_size(&g, s), Some(TreeSize { nodes: 1, depth: 0 }));
    }

    #[test]
    fn cycles_count_a_back_reference_once() {
        // l = [l, 1]: the walk prints [[...], 1]: 3 nodes.
        let mut g = Graph::new();
        let l = list(&mut g, vec![]);
        if let Some(NodeData::List(items)) = g.get_mut(l) {
            items.extend([l, NodeId::int(1).unwrap()]);
        }
        assert_eq!(tree_size(&g, l), Some(TreeSize { nodes: 3, depth: 1 }));
    }

    #[test]
    fn a_bomb_threaded_through_a_cycle_is_still_exponential() {
        // top = [x60]; x(k+1) = [xk, xk, top]: every level points back at the top,
        // so everything is one component; the depth-first sizes still double.
        let mut g = Graph::new();
        let top = list(&mut g, vec![]);
        let mut x = list(&mut g, vec![top]);
        for _ in 0..60 {
            x = list(&mut g, vec![x, x, top]);
        }
        if let Some(NodeData::List(items)) = g.get_mut(top) {
            items.push(x);
        }
        let size = tree_size(&g, top).unwrap();
        assert!(size.nodes > 1u128 << 60, "{}", size.nodes);
    }

    #[test]
    fn a_component_reached_many_times_counts_its_bound_each_time() {
        // a = [big, b]; b = [a]; c = [b, b, b, b]; root = [a, c]. A walk of c goes
        // through b into a (not on its path) and so into big, four times.
        let mut g = Graph::new();
        let items: Vec<NodeId> = (0..1000).map(|i| NodeId::int(i).unwrap()).collect();
        let big = list(&mut g, items);
        let a = list(&mut g, vec![big]);
        let b = list(&mut g, vec![a]);
        if let Some(NodeData::List(items)) = g.get_mut(a) {
            items.push(b);
        }
        let c = list(&mut g, vec![b, b, b, b]);
        let root = list(&mut g, vec![a, c]);
        let size = tree_size(&g, root).unwrap();
        // root + a's walk (a, big 1001, b, back-ref 1) + c + 4 × b's bound (a, b,
        // big 1001 = 1003).
        assert_eq!(size.nodes, 1 + (1 + 1001 + 1 + 1) + 1 + 4 * 1003);
    }

    #[test]
    fn deep_nesting_is_measured_without_recursion() {
        let mut g = Graph::new();
        let mut x = list(&mut g, vec![]);
        for _ in 0..200_000 {
            x = list(&mut g, vec![x]);
        }
        assert_eq!(
            tree_size(&g, x),
            Some(TreeSize {
                nodes: 200_001,
                depth: 200_000
            })
        );
    }
}
