//! Expands a graph into an owned [`Tree`] of plain values, for consumers that want
//! values rather than a graph.
//!
//! Expansion copies every shared node once per reference, which is where a memo bomb
//! finally costs what it claims: 60 levels of `x = [x, x]` decode to 61 nodes but
//! expand to 2^61 − 1. So [`expand`] first measures, without building anything, the
//! exact size and depth of the tree it would build (one linear pass over the graph,
//! sizes added with saturation), and refuses with a typed error before allocating:
//!
//! 1. a cycle reachable from the root (a tree cannot hold one):
//!    `ErrorKind::Malformed("cycle cannot be expanded into a tree")`;
//! 2. a tree deeper than [`TreeLimits::max_depth`]: `Resource::Depth` with the depth it
//!    would have;
//! 3. more nodes than [`TreeLimits::max_nodes`]: `Resource::Expansion` with the number
//!    of nodes it would have.
//!
//! Errors carry offset 0: a view has no stream position.
//!
//! An object expands whole ([`Tree::Object`]): callable, args, kwargs, every BUILD
//! state and every item appended onto it, so nothing the stream wrote is dropped (an
//! `OrderedDict` keeps its items). An object whose state refers back to it
//! (`self.me = self`, common in real pickles) is then a cycle; with
//! [`TreeLimits::object_contents`] off, an object is only its callable and args, which
//! expands such graphs at the price of leaving the rest out. Extension codes, buffers
//! and persistent ids become [`Tree::Other`] with the graph's type name.
//!
//! # Depth and `Drop`
//!
//! Building is iterative. The `Tree` itself is an ordinary recursive enum, so dropping,
//! cloning, comparing or printing it recurses once per level; that is safe because a
//! tree is never deeper than `max_depth` (default 1000 levels, a few tens of KiB of
//! stack). Raise `max_depth` only as far as the thread's stack allows.

use crate::{pyfmt, BigInt, CallOp, Error, ErrorKind, Graph, Node, NodeId, Object, Resource};

/// A plain value, with sharing expanded.
#[derive(Clone, Debug, PartialEq)]
pub enum Tree {
    /// `None`.
    None,
    /// `True` / `False`.
    Bool(bool),
    /// An int that fits in 64 bits.
    Int(i64),
    /// An int that does not.
    BigInt(BigInt),
    /// A float.
    Float(f64),
    /// A `str`; lone surrogates (which Rust strings cannot hold) become U+FFFD.
    Str(String),
    /// `bytes`.
    Bytes(Vec<u8>),
    /// `bytearray`.
    ByteArray(Vec<u8>),
    /// `tuple`.
    Tuple(Vec<Tree>),
    /// `list`.
    List(Vec<Tree>),
    /// `dict`, in insertion order.
    Dict(Vec<(Tree, Tree)>),
    /// `set`.
    Set(Vec<Tree>),
    /// `frozenset`.
    FrozenSet(Vec<Tree>),
    /// A global the stream named (never imported).
    Global {
        /// Module part.
        module: String,
        /// Name part.
        name: String,
    },
    /// A call that was described, not made: what would be called, with what, and
    /// what the stream did to the result (see [`Object`]). With
    /// [`TreeLimits::object_contents`] off, only `op`, `callable` and `args` are
    /// filled in.
    Object {
        /// Which opcode described the call.
        op: CallOp,
        /// Usually a [`Tree::Global`].
        callable: Box<Tree>,
        /// Usually a [`Tree::Tuple`].
        args: Box<Tree>,
        /// Keyword arguments (NEWOBJ_EX only).
        kwargs: Option<Box<Tree>>,
        /// One state per BUILD, in order.
        state: Vec<Tree>,
        /// Items APPENDed onto the object.
        listitems: Vec<Tree>,
        /// Items SETITEMed onto the object.
        dictitems: Vec<(Tree, Tree)>,
        /// Items ADDITEMSed onto the object.
        additems: Vec<Tree>,
    },
    /// A node with no plain-value form: `extension`, `buffer` or `persistent id`.
    Other(&'static str),
}

impl Tree {
    /// An object with only its call: what [`TreeLimits::object_contents`] `false`
    /// builds.
    pub fn call_only(op: CallOp, callable: Tree, args: Tree) -> Tree {
        Tree::Object {
            op,
            callable: Box::new(callable),
            args: Box::new(args),
            kwargs: None,
            state: Vec::new(),
            listitems: Vec::new(),
            dictitems: Vec::new(),
            additems: Vec::new(),
        }
    }

    /// The direct children, in order: items of a sequence or set, key then value of
    /// each dict entry, and an object's callable, args, kwargs, states, list items,
    /// dict items (key, value) and set items. Lets a consumer walk a tree without
    /// recursing.
    pub fn children(&self) -> Box<dyn Iterator<Item = &Tree> + '_> {
        match self {
            Tree::Tuple(v) | Tree::List(v) | Tree::Set(v) | Tree::FrozenSet(v) => {
                Box::new(v.iter())
            }
            Tree::Dict(pairs) => Box::new(pairs.iter().flat_map(|(k, v)| [k, v])),
            Tree::Object {
                callable,
                args,
                kwargs,
                state,
                listitems,
                dictitems,
                additems,
                ..
            } => Box::new(
                [&**callable, &**args]
                    .into_iter()
                    .chain(kwargs.as_deref())
                    .chain(state)
                    .chain(listitems)
                    .chain(dictitems.iter().flat_map(|(k, v)| [k, v]))
                    .chain(additems),
            ),
            _ => Box::new(std::iter::empty()),
        }
    }
}

/// Bounds on one expansion.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TreeLimits {
    /// Nodes in the expanded tree (default 1,000,000). This is what stops a memo bomb:
    /// it counts every copy of a shared node.
    pub max_nodes: u64,
    /// Levels in the expanded tree, a scalar root being 1 level (default 1000). Also
    /// bounds the recursion of `Tree`'s `Drop`, `Clone`, `PartialEq` and `Debug`.
    pub max_depth: u64,
    /// Expand an object's kwargs, states and items too (default true: nothing is
    /// dropped). False keeps only its callable and args, so that an object whose
    /// state refers back to it can still be expanded.
    pub object_contents: bool,
}

impl Default for TreeLimits {
    fn default() -> TreeLimits {
        TreeLimits {
            max_nodes: 1_000_000,
            max_depth: 1000,
            object_contents: true,
        }
    }
}

/// Expands `root` into a tree within `limits`; see the module docs for the errors.
pub fn expand(graph: &Graph<'_>, root: NodeId, limits: &TreeLimits) -> Result<Tree, Error> {
    let contents = limits.object_contents;
    let nodes = measure(graph, root, limits.max_depth, contents)?;
    if nodes > limits.max_nodes {
        return Err(Error::limit(
            Resource::Expansion,
            limits.max_nodes,
            nodes,
            0,
        ));
    }
    build(graph, root, contents)
}

/// The children a node has *in the tree*: an object's are its callable and args,
/// then (with `contents`) its kwargs, states, list items, dict items (key, value,
/// ...) and set items, in that order.
fn tree_children<'g>(node: Node<'g>, contents: bool) -> TreeChildren<'g> {
    match node {
        Node::Tuple(ids) | Node::List(ids) | Node::Set(ids) | Node::FrozenSet(ids) => {
            TreeChildren::Ids(ids)
        }
        Node::Dict(pairs) => TreeChildren::Pairs(pairs),
        Node::Object(obj) if contents => TreeChildren::Object(obj),
        Node::Object(obj) => TreeChildren::Call([obj.callable, obj.args]),
        _ => TreeChildren::Ids(&[]),
    }
}

#[derive(Clone, Copy)]
enum TreeChildren<'g> {
    Ids(&'g [NodeId]),
    Pairs(&'g [(NodeId, NodeId)]),
    Call([NodeId; 2]),
    Object(&'g Object),
}

/// The `pos`-th id of a list of pairs read as key, value, key, value...
fn pair_item(pairs: &[(NodeId, NodeId)], pos: usize) -> Option<NodeId> {
    let (key, value) = pairs.get(pos / 2)?;
    Some(if pos % 2 == 0 { *key } else { *value })
}

impl TreeChildren<'_> {
    /// The `pos`-th child (see [`tree_children`] for the order).
    fn get(&self, pos: usize) -> Option<NodeId> {
        match self {
            TreeChildren::Ids(ids) => ids.get(pos).copied(),
            TreeChildren::Pairs(pairs) => pair_item(pairs, pos),
            TreeChildren::Call(ids) => ids.get(pos).copied(),
            TreeChildren::Object(obj) => {
                let mut pos = match pos {
                    0 => return Some(obj.callable),
                    1 => return Some(obj.args),
                    later => later.saturating_sub(2),
                };
                if let Some(kwargs) = obj.kwargs {
                    if pos == 0 {
                        return Some(kwargs);
                    }
                    pos = pos.saturating_sub(1);
                }
                for part in [&obj.state, &obj.listitems] {
                    if let Some(id) = part.get(pos) {
                        return Some(*id);
                    }
                    pos = pos.saturating_sub(part.len());
                }
                let dict_len = obj.dictitems.len().saturating_mul(2);
                if pos < dict_len {
                    return pair_item(&obj.dictitems, pos);
                }
                obj.additems.get(pos.saturating_sub(dict_len)).copied()
            }
        }
    }
}

#[cold]
fn dangling() -> Error {
    Error::new(ErrorKind::Malformed("node id not in the graph"), 0, None)
}

#[cold]
fn cycle() -> Error {
    Error::new(
        ErrorKind::Malformed("cycle cannot be expanded into a tree"),
        0,
        None,
    )
}

/// Walk state of one node during [`measure`].
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mark {
    Unseen,
    /// On the current path: meeting it again is a cycle.
    Open,
    /// Measured: its size and depth are known.
    Done,
}

/// The number of nodes of the tree `root` expands to, in one post-order pass that
/// measures each graph node once (so a memo bomb costs its graph size, not its tree
/// size). Fails on a reachable cycle, a dangling id, or as soon as the walk finds a
/// path deeper than `max_depth` (so the walk's own stack stays within `max_depth`).
fn measure(graph: &Graph<'_>, root: NodeId, max_depth: u64, contents: bool) -> Result<u64, Error> {
    let len = graph.len();
    let mut mark = vec![Mark::Unseen; len];
    let mut size = vec![0u64; len];
    // Levels of each measured node's subtree (a leaf is 1).
    let mut height = vec![0u64; len];
    // One entry per level of the current path: (node, its tree children, next child,
    // nodes so far, tallest child so far).
    let mut stack: Vec<(NodeId, TreeChildren<'_>, usize, u64, u64)> = Vec::new();
    let too_deep = |depth: u64| Error::limit(Resource::Depth, max_depth, depth, 0);
    let mut next = Some(root);
    loop {
        if let Some(id) = next.take() {
            if id.as_int().is_some() {
                // An inline int as the root: a tree of one leaf (children that are
                // inline ints are measured below without a visit).
                return if max_depth < 1 {
                    Err(too_deep(1))
                } else {
                    Ok(1)
                };
            }
            let node = graph.get(id).ok_or_else(dangling)?;
            let slot = graph
                .slot(id)
                .and_then(|i| mark.get_mut(i))
                .ok_or_else(dangling)?;
            *slot = Mark::Open;
            stack.push((id, tree_children(node, contents), 0, 1, 0));
            let level = u64::try_from(stack.len()).unwrap_or(u64::MAX);
            if level > max_depth {
                return Err(too_deep(level));
            }
        }
        // The current node's level: the root is level 1.
        let level = u64::try_from(stack.len()).unwrap_or(u64::MAX);
        let Some((id, children, pos, subtotal, tallest)) = stack.last_mut() else {
            return Err(dangling());
        };
        match children.get(*pos) {
            Some(child) => {
                *pos = pos.saturating_add(1);
                if child.as_int().is_some() {
                    // An inline int: a leaf of one node and one level, with no entry
                    // in the per-node tables.
                    let reached = level.saturating_add(1);
                    if reached > max_depth {
                        return Err(too_deep(reached));
                    }
                    *subtotal = subtotal.saturating_add(1);
                    *tallest = (*tallest).max(1);
                    continue;
                }
                let child_slot = graph.slot(child);
                match child_slot.and_then(|i| mark.get(i)) {
                    Some(Mark::Unseen) => next = Some(child),
                    Some(Mark::Open) => return Err(cycle()),
                    Some(Mark::Done) => {
                        let i = child_slot.unwrap_or(usize::MAX);
                        let child_size = size.get(i).copied().unwrap_or(u64::MAX);
                        let child_height = height.get(i).copied().unwrap_or(u64::MAX);
                        let reached = level.saturating_add(child_height);
                        if reached > max_depth {
                            return Err(too_deep(reached));
                        }
                        *subtotal = subtotal.saturating_add(child_size);
                        *tallest = (*tallest).max(child_height);
                    }
                    None => return Err(dangling()),
                }
            }
            None => {
                let (id, total, tall) = (*id, *subtotal, (*tallest).saturating_add(1));
                stack.pop();
                let i = graph.slot(id).unwrap_or(usize::MAX);
                if let (Some(m), Some(s), Some(h)) =
                    (mark.get_mut(i), size.get_mut(i), height.get_mut(i))
                {
                    *m = Mark::Done;
                    *s = total;
                    *h = tall;
                }
                match stack.last_mut() {
                    Some((_, _, _, parent_total, parent_tallest)) => {
                        *parent_total = parent_total.saturating_add(total);
                        *parent_tallest = (*parent_tallest).max(tall);
                    }
                    None => return Ok(total),
                }
            }
        }
    }
}

/// A tree node whose children are being built.
struct Building<'g> {
    node: Node<'g>,
    children: TreeChildren<'g>,
    built: Vec<Tree>,
}

/// Builds the tree iteratively; [`measure`] has already checked that it is finite
/// and within the limits.
fn build<'g>(graph: &'g Graph<'g>, root: NodeId, contents: bool) -> Result<Tree, Error> {
    let mut stack: Vec<Building<'g>> = Vec::new();
    let mut next = Some(root);
    loop {
        let mut finished = None;
        if let Some(id) = next.take() {
            let node = graph.get(id).ok_or_else(dangling)?;
            match leaf(node) {
                Some(tree) => finished = Some(tree),
                None => stack.push(Building {
                    node,
                    children: tree_children(node, contents),
                    built: Vec::new(),
                }),
            }
        }
        if let Some(tree) = finished {
            match stack.last_mut() {
                Some(parent) => parent.built.push(tree),
                None => return Ok(tree),
            }
        }
        let Some(top) = stack.last_mut() else {
            return Err(dangling());
        };
        match top.children.get(top.built.len()) {
            Some(child) => next = Some(child),
            None => {
                let Some(done) = stack.pop() else {
                    return Err(dangling());
                };
                let tree = assemble(done.node, done.built, contents);
                match stack.last_mut() {
                    Some(parent) => parent.built.push(tree),
                    None => return Ok(tree),
                }
            }
        }
    }
}

/// The tree for a node without tree children, or `None` for a container.
fn leaf(node: Node<'_>) -> Option<Tree> {
    Some(match node {
        Node::None => Tree::None,
        Node::Bool(b) => Tree::Bool(b),
        Node::Int(i) => Tree::Int(i),
        Node::BigInt(b) => Tree::BigInt(b.clone()),
        Node::Float(f) => Tree::Float(f),
        Node::Str(bytes) => Tree::Str(lossy(bytes)),
        Node::Bytes(bytes) => Tree::Bytes(bytes.to_vec()),
        Node::ByteArray(bytes) => Tree::ByteArray(bytes.to_vec()),
        Node::Global(g) => Tree::Global {
            module: g.module.clone(),
            name: g.name.clone(),
        },
        Node::Ext(_) | Node::Buffer { .. } | Node::PersId(_) => Tree::Other(node.type_name()),
        Node::Tuple(_)
        | Node::List(_)
        | Node::Dict(_)
        | Node::Set(_)
        | Node::FrozenSet(_)
        | Node::Object(_) => return None,
    })
}

/// Pairs from trees read as key, value, key, value...
fn pairs_of(items: impl Iterator<Item = Tree>) -> Vec<(Tree, Tree)> {
    let mut items = items;
    let mut pairs = Vec::new();
    while let (Some(key), Some(value)) = (items.next(), items.next()) {
        pairs.push((key, value));
    }
    pairs
}

/// The tree for a container whose children are built, in order.
fn assemble(node: Node<'_>, built: Vec<Tree>, contents: bool) -> Tree {
    match node {
        Node::Tuple(_) => Tree::Tuple(built),
        Node::List(_) => Tree::List(built),
        Node::Set(_) => Tree::Set(built),
        Node::FrozenSet(_) => Tree::FrozenSet(built),
        Node::Dict(_) => Tree::Dict(pairs_of(built.into_iter())),
        Node::Object(obj) => {
            let mut items = built.into_iter();
            let callable = items.next().unwrap_or(Tree::None);
            let args = items.next().unwrap_or(Tree::None);
            if !contents {
                return Tree::call_only(obj.op, callable, args);
            }
            let (callable, args) = (Box::new(callable), Box::new(args));
            let kwargs = obj.kwargs.and_then(|_| items.next()).map(Box::new);
            let state = items.by_ref().take(obj.state.len()).collect();
            let listitems = items.by_ref().take(obj.listitems.len()).collect();
            let dict_len = obj.dictitems.len().saturating_mul(2);
            let dictitems = pairs_of(items.by_ref().take(dict_len));
            let additems = items.collect();
            Tree::Object {
                op: obj.op,
                callable,
                args,
                kwargs,
                state,
                listitems,
                dictitems,
                additems,
            }
        }
        other => leaf(other).unwrap_or(Tree::None),
    }
}

/// Generalized UTF-8 to a `String`: each surrogate code point (and any byte that is
/// not even generalized UTF-8) becomes one U+FFFD.
fn lossy(bytes: &[u8]) -> String {
    if let Ok(text) = std::str::from_utf8(bytes) {
        return text.to_owned();
    }
    let mut out = String::with_capacity(bytes.len());
    let mut rest = bytes;
    while !rest.is_empty() {
        let (c, used) = match pyfmt::next_code_point(rest) {
            Some((cp, n)) => (char::from_u32(cp).unwrap_or('\u{FFFD}'), n),
            None => ('\u{FFFD}', 1),
        };
        out.push(c);
        rest = rest.get(used..).unwrap_or(&[]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NodeData;
    use crate::{CallOp, Global, IntValue, Object};
    use std::borrow::Cow;

    /// A global node `module.name`.
    fn global(g: &mut Graph<'_>, module: &str, name: &str) -> NodeId {
        let name = Global {
            module: module.into(),
            name: name.into(),
        };
        add(g, NodeData::Global(Box::new(name)))
    }

    fn add<'a>(g: &mut Graph<'a>, node: NodeData<'a>) -> NodeId {
        g.add(node).unwrap()
    }

    fn limit_of(err: &Error) -> (Resource, u64, u64) {
        match err.kind() {
            ErrorKind::Limit {
                resource,
                limit,
                requested,
            } => (*resource, *limit, *requested),
            other => panic!("not a limit: {other:?}"),
        }
    }

    #[test]
    fn small_values_expand_whole() {
        let big = match BigInt::from_parts(false, vec![0, 0, 1]) {
            IntValue::Big(b) => b,
            IntValue::Small(_) => unreachable!(),
        };
        let mut g = Graph::new();
        let n1 = add(&mut g, NodeData::Int(1));
        let s = add(&mut g, NodeData::Str(Cow::Borrowed(b"a\xed\xa0\x80b")));
        let t = add(&mut g, NodeData::Tuple(vec![n1, s]));
        let d = add(&mut g, NodeData::Dict(vec![(s, t), (n1, n1)]));
        let bi = add(&mut g, NodeData::BigInt(Box::new(big.clone())));
        let by = add(&mut g, NodeData::Bytes(Cow::Borrowed(b"x")));
        let ba = add(&mut g, NodeData::ByteArray(Cow::Borrowed(b"y")));
        let set = add(&mut g, NodeData::Set(vec![n1]));
        let fs = add(&mut g, NodeData::FrozenSet(vec![]));
        let misc = [
            NodeData::None,
            NodeData::Bool(true),
            NodeData::Float(0.5),
            NodeData::Ext(3),
            NodeData::Buffer {
                index: 0,
                readonly: true,
            },
        ];
        let mut items = vec![t, d, bi, by, ba, set, fs];
        for node in misc {
            items.push(add(&mut g, node));
        }
        let pid = add(&mut g, NodeData::PersId(s));
        items.push(pid);
        let cls = global(&mut g, "m", "C");
        let args = add(&mut g, NodeData::Tuple(vec![n1]));
        let mut obj = Object::new(CallOp::Reduce, cls, args, None);
        obj.state.push(n1);
        let obj = add(&mut g, NodeData::Object(Box::new(obj)));
        items.push(obj);
        let root = add(&mut g, NodeData::List(items));

        let s_tree = Tree::Str("a\u{FFFD}b".into());
        let t_tree = Tree::Tuple(vec![Tree::Int(1), s_tree.clone()]);
        let want = Tree::List(vec![
            t_tree.clone(),
            Tree::Dict(vec![(s_tree, t_tree), (Tree::Int(1), Tree::Int(1))]),
            Tree::BigInt(big),
            Tree::Bytes(b"x".to_vec()),
            Tree::ByteArray(b"y".to_vec()),
            Tree::Set(vec![Tree::Int(1)]),
            Tree::FrozenSet(vec![]),
            Tree::None,
            Tree::Bool(true),
            Tree::Float(0.5),
            Tree::Other("extension"),
            Tree::Other("buffer"),
            Tree::Other("persistent id"),
            Tree::Object {
                op: CallOp::Reduce,
                callable: Box::new(Tree::Global {
                    module: "m".into(),
                    name: "C".into(),
                }),
                args: Box::new(Tree::Tuple(vec![Tree::Int(1)])),
                kwargs: None,
                state: vec![Tree::Int(1)],
                listitems: vec![],
                dictitems: vec![],
                additems: vec![],
            },
        ]);
        assert_eq!(expand(&g, root, &TreeLimits::default()), Ok(want));
    }

    #[test]
    fn shared_nodes_are_copied_and_counted() {
        let mut g = Graph::new();
        let e = add(&mut g, NodeData::List(vec![]));
        let root = add(&mut g, NodeData::List(vec![e, e, e]));
        let want = Tree::List(vec![
            Tree::List(vec![]),
            Tree::List(vec![]),
            Tree::List(vec![]),
        ]);
        let exact = TreeLimits {
            max_nodes: 4,
            max_depth: 2,
            ..TreeLimits::default()
        };
        assert_eq!(expand(&g, root, &exact), Ok(want));
        let err = expand(
            &g,
            root,
            &TreeLimits {
                max_nodes: 3,
                max_depth: 2,
                ..TreeLimits::default()
            },
        )
        .unwrap_err();
        assert_eq!(limit_of(&err), (Resource::Expansion, 3, 4));
        let err = expand(
            &g,
            root,
            &TreeLimits {
                max_nodes: 4,
                max_depth: 1,
                ..TreeLimits::default()
            },
        )
        .unwrap_err();
        assert_eq!(limit_of(&err), (Resource::Depth, 1, 2));
        assert_eq!(err.offset(), 0);
    }

    #[test]
    fn memo_bomb_is_refused_with_its_exact_size() {
        let mut g = Graph::new();
        let mut prev = add(&mut g, NodeData::List(vec![]));
        for _ in 0..60 {
            prev = add(&mut g, NodeData::List(vec![prev, prev]));
        }
        let err = expand(&g, prev, &TreeLimits::default()).unwrap_err();
        assert_eq!(
            limit_of(&err),
            (Resource::Expansion, 1_000_000, (1u64 << 61) - 1)
        );
        assert_eq!(err.offset(), 0);
    }

    #[test]
    fn deep_nesting_is_refused_with_its_depth() {
        let mut g = Graph::new();
        let mut prev = add(&mut g, NodeData::List(vec![]));
        for _ in 0..1_000_000 {
            prev = add(&mut g, NodeData::List(vec![prev]));
        }
        let handle = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || expand(&g, prev, &TreeLimits::default()))
            .unwrap();
        let err = handle.join().unwrap().unwrap_err();
        assert_eq!(limit_of(&err), (Resource::Depth, 1000, 1001));
    }

    #[test]
    fn depth_through_an_already_measured_shared_node() {
        // a = [[]]; root = [a, [a]]: a is measured under root first (levels 1..3), then
        // reached again one level lower, where its leaf would be at level 4.
        let mut g = Graph::new();
        let e = add(&mut g, NodeData::List(vec![]));
        let a = add(&mut g, NodeData::List(vec![e]));
        let wrap = add(&mut g, NodeData::List(vec![a]));
        let root = add(&mut g, NodeData::List(vec![a, wrap]));
        let limits = |max_depth| TreeLimits {
            max_nodes: 100,
            max_depth,
            ..TreeLimits::default()
        };
        let err = expand(&g, root, &limits(3)).unwrap_err();
        assert_eq!(limit_of(&err), (Resource::Depth, 3, 4));
        let a_tree = Tree::List(vec![Tree::List(vec![])]);
        let want = Tree::List(vec![a_tree.clone(), Tree::List(vec![a_tree])]);
        assert_eq!(expand(&g, root, &limits(4)), Ok(want));
    }

    #[test]
    fn deep_within_limits_builds_iteratively() {
        let mut g = Graph::new();
        let mut prev = add(&mut g, NodeData::Int(7));
        for _ in 0..999 {
            prev = add(&mut g, NodeData::Tuple(vec![prev]));
        }
        let got = expand(&g, prev, &TreeLimits::default()).unwrap();
        let mut want = Tree::Int(7);
        for _ in 0..999 {
            want = Tree::Tuple(vec![want]);
        }
        assert_eq!(got, want);
    }

    /// Every part of an object is in its tree, in order: kwargs, each state, list
    /// items, dict items, set items; without `object_contents`, only the call.
    #[test]
    fn objects_expand_with_everything_the_stream_did_to_them() {
        let mut g = Graph::new();
        let mut ints = (0..8).map(|i| NodeId::int(i).unwrap());
        let mut next = || ints.next().unwrap();
        let cls = global(&mut g, "collections", "OrderedDict");
        let args = add(&mut g, NodeData::Tuple(vec![]));
        let kwargs = add(&mut g, NodeData::Dict(vec![]));
        let mut obj = Object::new(CallOp::NewObjEx, cls, args, Some(kwargs));
        obj.state = vec![next(), next()];
        obj.listitems = vec![next()];
        obj.dictitems = vec![(next(), next()), (next(), next())];
        obj.additems = vec![next()];
        let obj = add(&mut g, NodeData::Object(Box::new(obj)));
        let call = || Tree::Global {
            module: "collections".into(),
            name: "OrderedDict".into(),
        };
        let whole = Tree::Object {
            op: CallOp::NewObjEx,
            callable: Box::new(call()),
            args: Box::new(Tree::Tuple(vec![])),
            kwargs: Some(Box::new(Tree::Dict(vec![]))),
            state: vec![Tree::Int(0), Tree::Int(1)],
            listitems: vec![Tree::Int(2)],
            dictitems: vec![(Tree::Int(3), Tree::Int(4)), (Tree::Int(5), Tree::Int(6))],
            additems: vec![Tree::Int(7)],
        };
        let got = expand(&g, obj, &TreeLimits::default());
        assert_eq!(got.as_ref(), Ok(&whole));
        // children() walks them in the order of the docs.
        let ints: Vec<i64> = whole
            .children()
            .filter_map(|c| match c {
                Tree::Int(i) => Some(*i),
                _ => None,
            })
            .collect();
        assert_eq!(ints, (0..8).collect::<Vec<i64>>());
        assert_eq!(whole.children().count(), 11);
        // 12 nodes: the object, callable, args, kwargs and eight ints.
        let exact = TreeLimits {
            max_nodes: 12,
            ..TreeLimits::default()
        };
        assert!(expand(&g, obj, &exact).is_ok());
        let err = expand(
            &g,
            obj,
            &TreeLimits {
                max_nodes: 11,
                ..TreeLimits::default()
            },
        )
        .unwrap_err();
        assert_eq!(limit_of(&err), (Resource::Expansion, 11, 12));
        let call_only = TreeLimits {
            object_contents: false,
            ..TreeLimits::default()
        };
        let want = Tree::call_only(CallOp::NewObjEx, call(), Tree::Tuple(vec![]));
        assert_eq!(expand(&g, obj, &call_only), Ok(want));
    }

    #[test]
    fn cycles_are_refused_and_through_state_only_with_object_contents() {
        let mut g = Graph::new();
        let l = add(&mut g, NodeData::List(vec![]));
        if let Some(NodeData::List(items)) = g.get_mut(l) {
            items.push(l);
        }
        let err = expand(&g, l, &TreeLimits::default()).unwrap_err();
        assert_eq!(
            err.kind(),
            &ErrorKind::Malformed("cycle cannot be expanded into a tree")
        );

        let cls = global(&mut g, "m", "C");
        let args = add(&mut g, NodeData::Tuple(vec![]));
        let obj = add(
            &mut g,
            NodeData::Object(Box::new(Object::new(CallOp::NewObj, cls, args, None))),
        );
        if let Some(NodeData::Object(o)) = g.get_mut(obj) {
            o.state.push(obj);
        }
        // `self.me = self`: a cycle in a whole tree, none in the call alone.
        let err = expand(&g, obj, &TreeLimits::default()).unwrap_err();
        assert_eq!(
            err.kind(),
            &ErrorKind::Malformed("cycle cannot be expanded into a tree")
        );
        let call_only = TreeLimits {
            object_contents: false,
            ..TreeLimits::default()
        };
        let class = Tree::Global {
            module: "m".into(),
            name: "C".into(),
        };
        let want = Tree::call_only(CallOp::NewObj, class, Tree::Tuple(vec![]));
        assert_eq!(expand(&g, obj, &call_only), Ok(want));
    }

    #[test]
    fn dangling_id_is_malformed() {
        let g = Graph::new();
        let err = expand(&g, NodeId(3), &TreeLimits::default()).unwrap_err();
        assert_eq!(
            err.kind(),
            &ErrorKind::Malformed("node id not in the graph")
        );
    }
}
