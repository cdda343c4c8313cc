//! The value graph: an arena of [`NodeData`] addressed by [`NodeId`], read through
//! [`Node`] views.
//!
//! Containers hold ids, never nodes, so
//! - a memo GET shares a node in O(1) and a memo bomb stays linear;
//! - cycles (`l = []; l.append(l)`) are represented exactly;
//! - dropping a graph of any depth never recurses (the arena is a flat list of chunks).
//!
//! The arena grows in fixed chunks instead of one doubling `Vec`, so the heap never
//! holds two copies of it during a reallocation and the spare capacity is at most one
//! chunk: that keeps the real heap close to what the memory budget counts.
//!
//! An id can also *be* the value: ints within ±2^30 are written into the id
//! ([`NodeId::int`]) and take no node at all. That is why [`Graph::get`] returns a
//! [`Node`] by value (a `Copy` view with borrowed payloads and slices) rather than a
//! reference to stored data: a list of a million numbers then costs four bytes per
//! item instead of a 32-byte node, and most of the time of decoding it was spent
//! writing (and page-faulting) those nodes.
//!
//! Ints beyond that range and floats are not arena nodes either: they live in two
//! tables of 8-byte words, with ids of their own range ([`Graph::add`] and the decoder
//! put them there). A float is 8 bytes instead of a 32-byte node; a JSON-like
//! document is a quarter floats, and writing nodes is most of a decode's memory
//! traffic. Tables indexed by node ([`Graph::slot`]) cover all three kinds alike.
//!
//! The graph knows nothing of how it was decoded; views and the encoder read it.

use std::borrow::Cow;

use crate::bigint::BigInt;
use crate::budget::Meter;
use crate::error::Error;

/// A node of a [`Graph`]: the index of a node in its arena or in its table of ints or
/// of floats, or a small int carried in the id itself.
///
/// Ints in `-2^30..2^30` need no node: the decoder writes them into the id (see
/// [`NodeId::int`]), so a list of a million numbers costs a million ids, not a million
/// nodes. [`Graph::get`] gives both kinds the same way.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub(crate) u32);

/// The first id that carries an int instead of naming an arena node: the upper half
/// of the id space is inline ints.
const INLINE_BASE: u32 = 0x8000_0000;
/// The first id of a stored int ([`Graph`]'s int table); arena ids are below it.
const INT_BASE: u32 = 0x4000_0000;
/// The first id of a stored float ([`Graph`]'s float table), up to `INLINE_BASE`.
const FLOAT_BASE: u32 = 0x6000_0000;
/// Entries each word table may hold: its share of the id space.
const MAX_WORDS: u32 = FLOAT_BASE - INT_BASE;
/// Inline ints are `-INLINE_HALF..INLINE_HALF`: 2^31 values, one per id from
/// `INLINE_BASE` to `u32::MAX`.
const INLINE_HALF: i64 = 1 << 30;

impl NodeId {
    /// The raw id: for an arena node, its position in the arena (0-based, in creation
    /// order). Stored ints and floats have ids from 2^30 and inline ints
    /// ([`NodeId::as_int`]) from 2^31; to index a table by node, use
    /// [`Graph::slot`], which covers every node and no inline int.
    pub fn index(self) -> usize {
        self.0 as usize
    }

    /// The id of `value` written into the id itself, or `None` when the value is
    /// outside `-2^30..2^30` (it then needs a node: [`Graph::add`]).
    pub fn int(value: i64) -> Option<NodeId> {
        if (-INLINE_HALF..INLINE_HALF).contains(&value) {
            // In 0..2^31 after the shift, so the sum stays within u32.
            let offset = value.wrapping_add(INLINE_HALF) as u32;
            Some(NodeId(INLINE_BASE.wrapping_add(offset)))
        } else {
            None
        }
    }

    /// The int this id carries, if it is an inline int.
    #[inline]
    pub fn as_int(self) -> Option<i64> {
        let offset = self.0.checked_sub(INLINE_BASE)?;
        Some(i64::from(offset).wrapping_sub(INLINE_HALF))
    }
}

/// How an object node came to be: which opcode described the call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CallOp {
    /// REDUCE: `callable(*args)`.
    Reduce,
    /// NEWOBJ: `cls.__new__(cls, *args)`.
    NewObj,
    /// NEWOBJ_EX: `cls.__new__(cls, *args, **kwargs)`.
    NewObjEx,
    /// INST: `module.name(*args)` with the global written inline.
    Inst,
    /// OBJ: `cls(*args)` with the class on the stack.
    Obj,
}

impl CallOp {
    /// The name used in the JSON view (`reduce`, `newobj`, ...).
    pub fn name(self) -> &'static str {
        match self {
            CallOp::Reduce => "reduce",
            CallOp::NewObj => "newobj",
            CallOp::NewObjEx => "newobj_ex",
            CallOp::Inst => "inst",
            CallOp::Obj => "obj",
        }
    }
}

/// An inert description of a call that was **not** made, and of what the stream did to
/// its result afterwards.
#[derive(Clone, Debug, PartialEq)]
pub struct Object {
    /// Which opcode described the call.
    pub op: CallOp,
    /// What would have been called: usually a [`Node::Global`].
    pub callable: NodeId,
    /// The positional arguments: always a [`Node::Tuple`].
    pub args: NodeId,
    /// Keyword arguments (NEWOBJ_EX only): a [`Node::Dict`].
    pub kwargs: Option<NodeId>,
    /// One state per BUILD, in order.
    pub state: Vec<NodeId>,
    /// Items APPENDed onto the object.
    pub listitems: Vec<NodeId>,
    /// Items SETITEMed onto the object.
    pub dictitems: Vec<(NodeId, NodeId)>,
    /// Items ADDITEMSed onto the object.
    pub additems: Vec<NodeId>,
}

impl Object {
    /// A call with no state or items yet.
    pub fn new(op: CallOp, callable: NodeId, args: NodeId, kwargs: Option<NodeId>) -> Object {
        Object {
            op,
            callable,
            args,
            kwargs,
            state: Vec::new(),
            listitems: Vec::new(),
            dictitems: Vec::new(),
            additems: Vec::new(),
        }
    }
}

/// A `(module, name)` pair that the stream would import. Never resolved.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Global {
    /// Module, e.g. `collections`.
    pub module: String,
    /// Attribute, possibly dotted (`OrderedDict`, `Outer.Inner`).
    pub name: String,
}

/// One value as the arena stores it: what [`Graph::add`] takes and
/// [`Graph::get_mut`] gives. Reading goes through [`Node`], the borrowed view that
/// [`Graph::get`] returns (and that also covers inline ints).
///
/// Strings are stored as *generalized UTF-8*: UTF-8 that may also hold surrogate code
/// points (what Python's `surrogatepass` writes), so lone surrogates survive exactly.
/// Payloads borrow from the input when decoding from a slice.
///
/// Equality compares floats bit for bit (a NaN equals the same NaN), so two graphs
/// decoded from the same bytes are always equal.
#[derive(Clone, Debug)]
pub enum NodeData<'a> {
    /// `None`.
    None,
    /// `True` / `False`.
    Bool(bool),
    /// An int that fits in 64 bits.
    Int(i64),
    /// An int that does not fit in 64 bits.
    BigInt(Box<BigInt>),
    /// A float, bit for bit.
    Float(f64),
    /// A `str`, as generalized UTF-8 bytes (see the type docs).
    Str(Cow<'a, [u8]>),
    /// `bytes`.
    Bytes(Cow<'a, [u8]>),
    /// `bytearray`.
    ByteArray(Cow<'a, [u8]>),
    /// `tuple`.
    Tuple(Vec<NodeId>),
    /// `list`.
    List(Vec<NodeId>),
    /// `dict`, in insertion order, keys unique under Python's equality.
    Dict(Vec<(NodeId, NodeId)>),
    /// `set`, items unique under Python's equality.
    Set(Vec<NodeId>),
    /// `frozenset`, items unique under Python's equality.
    FrozenSet(Vec<NodeId>),
    /// A global the stream named.
    Global(Box<Global>),
    /// A described call.
    Object(Box<Object>),
    /// EXT1/EXT2/EXT4: an extension-registry code.
    Ext(u32),
    /// A protocol 5 out-of-band buffer that the caller did not supply.
    Buffer {
        /// Position among the stream's NEXT_BUFFER opcodes.
        index: u64,
        /// READONLY_BUFFER was applied.
        readonly: bool,
    },
    /// PERSID/BINPERSID: a reference resolved by the application, here described.
    PersId(NodeId),
}

/// Equal when the views are equal (floats bit for bit; see [`Node`]).
impl PartialEq for NodeData<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.view() == other.view()
    }
}

impl NodeData<'_> {
    /// The Python type name (see [`Node::type_name`]).
    pub fn type_name(&self) -> &'static str {
        self.view().type_name()
    }

    /// The borrowed view of this node.
    #[inline]
    pub fn view(&self) -> Node<'_> {
        match self {
            NodeData::None => Node::None,
            NodeData::Bool(b) => Node::Bool(*b),
            NodeData::Int(i) => Node::Int(*i),
            NodeData::BigInt(b) => Node::BigInt(b),
            NodeData::Float(f) => Node::Float(*f),
            NodeData::Str(s) => Node::Str(s),
            NodeData::Bytes(b) => Node::Bytes(b),
            NodeData::ByteArray(b) => Node::ByteArray(b),
            NodeData::Tuple(v) => Node::Tuple(v),
            NodeData::List(v) => Node::List(v),
            NodeData::Dict(v) => Node::Dict(v),
            NodeData::Set(v) => Node::Set(v),
            NodeData::FrozenSet(v) => Node::FrozenSet(v),
            NodeData::Global(g) => Node::Global(g),
            NodeData::Object(o) => Node::Object(o),
            NodeData::Ext(c) => Node::Ext(*c),
            NodeData::Buffer { index, readonly } => Node::Buffer {
                index: *index,
                readonly: *readonly,
            },
            NodeData::PersId(p) => Node::PersId(*p),
        }
    }

    fn into_owned(self) -> NodeData<'static> {
        match self {
            NodeData::None => NodeData::None,
            NodeData::Bool(b) => NodeData::Bool(b),
            NodeData::Int(i) => NodeData::Int(i),
            NodeData::BigInt(b) => NodeData::BigInt(b),
            NodeData::Float(f) => NodeData::Float(f),
            NodeData::Str(s) => NodeData::Str(Cow::Owned(s.into_owned())),
            NodeData::Bytes(b) => NodeData::Bytes(Cow::Owned(b.into_owned())),
            NodeData::ByteArray(b) => NodeData::ByteArray(Cow::Owned(b.into_owned())),
            NodeData::Tuple(v) => NodeData::Tuple(v),
            NodeData::List(v) => NodeData::List(v),
            NodeData::Dict(v) => NodeData::Dict(v),
            NodeData::Set(v) => NodeData::Set(v),
            NodeData::FrozenSet(v) => NodeData::FrozenSet(v),
            NodeData::Global(g) => NodeData::Global(g),
            NodeData::Object(o) => NodeData::Object(o),
            NodeData::Ext(c) => NodeData::Ext(c),
            NodeData::Buffer { index, readonly } => NodeData::Buffer { index, readonly },
            NodeData::PersId(p) => NodeData::PersId(p),
        }
    }
}

/// One value, borrowed from its graph: what [`Graph::get`] returns.
///
/// Strings are *generalized UTF-8*: UTF-8 that may also hold surrogate code points
/// (what Python's `surrogatepass` writes), so lone surrogates survive exactly.
///
/// Equality compares floats bit for bit (a NaN equals the same NaN).
#[derive(Clone, Copy, Debug)]
pub enum Node<'g> {
    /// `None`.
    None,
    /// `True` / `False`.
    Bool(bool),
    /// An int that fits in 64 bits.
    Int(i64),
    /// An int that does not fit in 64 bits.
    BigInt(&'g BigInt),
    /// A float, bit for bit.
    Float(f64),
    /// A `str`, as generalized UTF-8 bytes.
    Str(&'g [u8]),
    /// `bytes`.
    Bytes(&'g [u8]),
    /// `bytearray`.
    ByteArray(&'g [u8]),
    /// `tuple`.
    Tuple(&'g [NodeId]),
    /// `list`.
    List(&'g [NodeId]),
    /// `dict`, in insertion order, keys unique under Python's equality.
    Dict(&'g [(NodeId, NodeId)]),
    /// `set`, items unique under Python's equality.
    Set(&'g [NodeId]),
    /// `frozenset`, items unique under Python's equality.
    FrozenSet(&'g [NodeId]),
    /// A global the stream named.
    Global(&'g Global),
    /// A described call.
    Object(&'g Object),
    /// EXT1/EXT2/EXT4: an extension-registry code.
    Ext(u32),
    /// A protocol 5 out-of-band buffer that the caller did not supply.
    Buffer {
        /// Position among the stream's NEXT_BUFFER opcodes.
        index: u64,
        /// READONLY_BUFFER was applied.
        readonly: bool,
    },
    /// PERSID/BINPERSID: a reference resolved by the application, here described.
    PersId(NodeId),
}

impl PartialEq for Node<'_> {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Node::None, Node::None) => true,
            (Node::Bool(a), Node::Bool(b)) => a == b,
            (Node::Int(a), Node::Int(b)) => a == b,
            (Node::BigInt(a), Node::BigInt(b)) => a == b,
            (Node::Float(a), Node::Float(b)) => a.to_bits() == b.to_bits(),
            (Node::Str(a), Node::Str(b))
            | (Node::Bytes(a), Node::Bytes(b))
            | (Node::ByteArray(a), Node::ByteArray(b)) => a == b,
            (Node::Tuple(a), Node::Tuple(b))
            | (Node::List(a), Node::List(b))
            | (Node::Set(a), Node::Set(b))
            | (Node::FrozenSet(a), Node::FrozenSet(b)) => a == b,
            (Node::Dict(a), Node::Dict(b)) => a == b,
            (Node::Global(a), Node::Global(b)) => a == b,
            (Node::Object(a), Node::Object(b)) => a == b,
            (Node::Ext(a), Node::Ext(b)) => a == b,
            (
                Node::Buffer {
                    index: i,
                    readonly: r,
                },
                Node::Buffer {
                    index: j,
                    readonly: q,
                },
            ) => i == j && r == q,
            (Node::PersId(a), Node::PersId(b)) => a == b,
            _ => false,
        }
    }
}

impl<'g> Node<'g> {
    /// The Python type name, for messages and views (`list`, `obj`, ...).
    pub fn type_name(&self) -> &'static str {
        match self {
            Node::None => "NoneType",
            Node::Bool(_) => "bool",
            Node::Int(_) | Node::BigInt(_) => "int",
            Node::Float(_) => "float",
            Node::Str(_) => "str",
            Node::Bytes(_) => "bytes",
            Node::ByteArray(_) => "bytearray",
            Node::Tuple(_) => "tuple",
            Node::List(_) => "list",
            Node::Dict(_) => "dict",
            Node::Set(_) => "set",
            Node::FrozenSet(_) => "frozenset",
            Node::Global(_) => "global",
            Node::Object(_) => "object",
            Node::Ext(_) => "extension",
            Node::Buffer { .. } => "buffer",
            Node::PersId(_) => "persistent id",
        }
    }

    /// True for the kinds the decoder accepts in a callable's place (REDUCE, NEWOBJ,
    /// OBJ...): a global, or something only the loader could resolve (the result of
    /// another call, an extension code, a persistent id). A plain value never is.
    pub fn is_callable_kind(&self) -> bool {
        matches!(
            self,
            Node::Global(_) | Node::Object(_) | Node::Ext(_) | Node::PersId(_)
        )
    }

    /// True for the kinds that have identity in Python (and so can be shared or cyclic):
    /// list, dict, set, bytearray and objects.
    pub fn has_identity(&self) -> bool {
        matches!(
            self,
            Node::List(_) | Node::Dict(_) | Node::Set(_) | Node::ByteArray(_) | Node::Object(_)
        )
    }

    /// The ids this node refers to, in the order views print them (dict key before value;
    /// object: callable, args, kwargs, state, listitems, dictitems, additems).
    pub fn children(&self) -> Children<'g> {
        Children {
            node: ChildrenOf::from(*self),
            pos: 0,
        }
    }
}

enum ChildrenOf<'n> {
    None,
    Ids(&'n [NodeId]),
    Pairs(&'n [(NodeId, NodeId)]),
    One(NodeId),
    Object(&'n Object),
}

impl<'n> ChildrenOf<'n> {
    fn from(node: Node<'n>) -> ChildrenOf<'n> {
        match node {
            Node::Tuple(v) | Node::List(v) | Node::Set(v) | Node::FrozenSet(v) => {
                ChildrenOf::Ids(v)
            }
            Node::Dict(v) => ChildrenOf::Pairs(v),
            Node::PersId(p) => ChildrenOf::One(p),
            Node::Object(o) => ChildrenOf::Object(o),
            _ => ChildrenOf::None,
        }
    }
}

/// Iterator over a node's children; see [`Node::children`].
pub struct Children<'n> {
    node: ChildrenOf<'n>,
    pos: usize,
}

impl Iterator for Children<'_> {
    type Item = NodeId;

    fn next(&mut self) -> Option<NodeId> {
        let pos = self.pos;
        self.pos = pos.saturating_add(1);
        match &self.node {
            ChildrenOf::None => None,
            ChildrenOf::Ids(v) => v.get(pos).copied(),
            ChildrenOf::Pairs(v) => {
                let (k, val) = v.get(pos / 2)?;
                Some(if pos % 2 == 0 { *k } else { *val })
            }
            ChildrenOf::One(id) => (pos == 0).then_some(*id),
            ChildrenOf::Object(o) => {
                // Walk the parts in order; `i` is the position within the current part
                // (each subtraction happens only after `i` was found to be past it).
                let head: [Option<NodeId>; 3] = [Some(o.callable), Some(o.args), o.kwargs];
                let mut i = pos;
                for part in head.into_iter().flatten() {
                    match i.checked_sub(1) {
                        None => return Some(part),
                        Some(rest) => i = rest,
                    }
                }
                for part in [&o.state, &o.listitems] {
                    match part.get(i) {
                        Some(id) => return Some(*id),
                        None => i = i.checked_sub(part.len())?,
                    }
                }
                if let Some((k, v)) = o.dictitems.get(i / 2) {
                    return Some(if i % 2 == 0 { *k } else { *v });
                }
                i = i.checked_sub(o.dictitems.len().checked_mul(2)?)?;
                o.additems.get(i).copied()
            }
        }
    }
}

/// Nodes per arena chunk.
const CHUNK: usize = 1024;

/// The most arena nodes a graph holds. The ids from it up are never arena nodes: the
/// decoder's stack markers (up to 8 ids below `INT_BASE`; see `machine.rs`, pending
/// containers), then stored ints and floats, then inline ints ([`NodeId::int`]).
pub(crate) const MAX_NODES: u32 = INT_BASE - 8;

/// Words per chunk of a word table (32 KiB, like an arena chunk).
const WORDS_CHUNK: usize = 4096;

/// A table of 8-byte values (the bits of ints or of floats), grown in fixed chunks
/// like the arena, and charged the same way.
#[derive(Clone, Debug, Default, PartialEq)]
struct Words {
    chunks: Vec<Vec<u64>>,
    len: u32,
}

impl Words {
    #[inline]
    fn get(&self, i: u32) -> Option<u64> {
        let i = i as usize;
        self.chunks
            .get(i / WORDS_CHUNK)?
            .get(i % WORDS_CHUNK)
            .copied()
    }

    /// Appends `word`, returning its position.
    #[inline(always)]
    fn push(&mut self, word: u64, meter: &mut Meter) -> Result<u32, Error> {
        if let Some(chunk) = self.chunks.last_mut() {
            if chunk.len() < WORDS_CHUNK && self.len < MAX_WORDS {
                chunk.push(word);
                let at = self.len;
                self.len = at.wrapping_add(1); // < MAX_WORDS checked above
                return Ok(at);
            }
        }
        self.push_slow(word, meter)
    }

    #[cold]
    #[inline(never)]
    fn push_slow(&mut self, word: u64, meter: &mut Meter) -> Result<u32, Error> {
        push_chunked(
            &mut self.chunks,
            &mut self.len,
            MAX_WORDS,
            WORDS_CHUNK,
            word,
            meter,
        )
    }

    fn heap_bytes(&self) -> usize {
        let spine = self
            .chunks
            .capacity()
            .saturating_mul(std::mem::size_of::<Vec<u64>>());
        self.chunks.iter().fold(spine, |total, chunk| {
            total.saturating_add(chunk.capacity().saturating_mul(8))
        })
    }
}

/// Appends `item` to a list of fixed-size chunks holding `*len` items, starting a new
/// chunk (of exactly `chunk_len`, charged to `meter` before it is allocated) when the
/// last is full; returns the item's position. Fails with a memory error when `max`
/// items are already there. The arena and the word tables grow this way, so the heap
/// never holds two copies of either during a reallocation.
fn push_chunked<T>(
    chunks: &mut Vec<Vec<T>>,
    len: &mut u32,
    max: u32,
    chunk_len: usize,
    item: T,
    meter: &mut Meter,
) -> Result<u32, Error> {
    let at = *len;
    let next = at
        .checked_add(1)
        .filter(|next| *next <= max)
        .ok_or_else(|| {
            Error::limit(
                crate::Resource::Memory,
                u64::from(max),
                u64::MAX,
                meter.offset,
            )
        })?;
    if chunks.last().map_or(true, |chunk| chunk.len() >= chunk_len) {
        meter.reserve(chunks, 1)?;
        let bytes = (chunk_len as u64).saturating_mul(std::mem::size_of::<T>() as u64);
        meter.take_memory(bytes)?;
        let mut chunk = Vec::new();
        if chunk.try_reserve_exact(chunk_len).is_err() {
            return Err(Error::limit(
                crate::Resource::Memory,
                meter.limits.max_memory_bytes,
                bytes,
                meter.offset,
            ));
        }
        chunks.push(chunk);
    }
    match chunks.last_mut() {
        Some(chunk) => chunk.push(item),
        None => return Err(Error::limit(crate::Resource::Memory, 0, 0, meter.offset)),
    }
    *len = next;
    Ok(at)
}

/// An arena of nodes, and the tables of stored ints and floats. See the module docs.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Graph<'a> {
    chunks: Vec<Vec<NodeData<'a>>>,
    len: u32,
    /// Ints that do not fit an id, as `i64` bits.
    ints: Words,
    /// Floats, as their bits (so equality is bit for bit).
    floats: Words,
}

impl<'a> Graph<'a> {
    /// An empty graph.
    pub fn new() -> Graph<'a> {
        Graph::default()
    }

    /// Number of nodes: arena nodes and stored ints and floats (inline ints,
    /// [`NodeId::int`], are not nodes).
    pub fn len(&self) -> usize {
        (self.len as usize)
            .saturating_add(self.ints.len as usize)
            .saturating_add(self.floats.len as usize)
    }

    /// Number of arena nodes: their ids are `0..arena_len()`, and every node with
    /// children is one (stored ints and floats are leaves). Walks that keep a table
    /// per container size it by this.
    pub(crate) fn arena_len(&self) -> usize {
        self.len as usize
    }

    /// True when the graph has no nodes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The node with this id (an arena node, a stored int or float, or an inline
    /// int), or `None` for an id from another graph.
    #[inline(always)]
    pub fn get(&self, id: NodeId) -> Option<Node<'_>> {
        if id.0 < INT_BASE {
            return self.data(id).map(NodeData::view);
        }
        if id.0 < FLOAT_BASE {
            return self
                .ints
                .get(id.0.wrapping_sub(INT_BASE))
                .map(|w| Node::Int(w as i64));
        }
        if id.0 < INLINE_BASE {
            let word = self.floats.get(id.0.wrapping_sub(FLOAT_BASE));
            return word.map(|w| Node::Float(f64::from_bits(w)));
        }
        id.as_int().map(Node::Int)
    }

    /// The int of an inline int or of a stored int, `None` for every other id: the
    /// few instructions a typed walk needs for an item of a numeric list, where
    /// [`Graph::get`]'s full dispatch would be most of the cost.
    #[cfg(feature = "serde")]
    #[inline(always)]
    pub(crate) fn word_int(&self, id: NodeId) -> Option<i64> {
        if id.0 >= INLINE_BASE {
            return id.as_int();
        }
        if id.0 >= INT_BASE && id.0 < FLOAT_BASE {
            return self.ints.get(id.0.wrapping_sub(INT_BASE)).map(|w| w as i64);
        }
        None
    }

    /// The float of a stored float, `None` for every other id (see
    /// [`Graph::word_int`]).
    #[cfg(feature = "serde")]
    #[inline(always)]
    pub(crate) fn word_float(&self, id: NodeId) -> Option<f64> {
        if id.0 >= FLOAT_BASE && id.0 < INLINE_BASE {
            return self
                .floats
                .get(id.0.wrapping_sub(FLOAT_BASE))
                .map(f64::from_bits);
        }
        None
    }

    /// The position of a node in a table with one entry per node ([`Graph::len`]
    /// entries): arena nodes first, then stored ints, then stored floats. `None` for
    /// inline ints and for ids from another graph. Views and the encoder keep their
    /// per-node state (reference counts, marks) in such tables.
    #[inline]
    pub fn slot(&self, id: NodeId) -> Option<usize> {
        let arena = self.len as usize;
        if id.0 < INT_BASE {
            return (id.0 < self.len).then_some(id.0 as usize);
        }
        if id.0 < FLOAT_BASE {
            let at = id.0.wrapping_sub(INT_BASE);
            return (at < self.ints.len).then(|| arena.saturating_add(at as usize));
        }
        if id.0 < INLINE_BASE {
            let at = id.0.wrapping_sub(FLOAT_BASE);
            let before = arena.saturating_add(self.ints.len as usize);
            return (at < self.floats.len).then(|| before.saturating_add(at as usize));
        }
        None
    }

    /// The arena node with this id as stored (`None` for stored ints and floats, for
    /// inline ints and for ids from another graph).
    #[inline]
    pub fn data(&self, id: NodeId) -> Option<&NodeData<'a>> {
        let i = id.index();
        self.chunks.get(i / CHUNK)?.get(i % CHUNK)
    }

    /// Mutable access to an arena node, e.g. to close a cycle when building a graph by
    /// hand (`None` for ints and floats, which have nothing to mutate).
    #[inline]
    pub fn get_mut(&mut self, id: NodeId) -> Option<&mut NodeData<'a>> {
        let i = id.index();
        self.chunks.get_mut(i / CHUNK)?.get_mut(i % CHUNK)
    }

    /// The ids of all nodes: arena nodes in creation order, then stored ints, then
    /// stored floats (the order of [`Graph::slot`]).
    pub fn ids(&self) -> impl Iterator<Item = NodeId> {
        let ints = (0..self.ints.len).map(|i| NodeId(INT_BASE.wrapping_add(i)));
        let floats = (0..self.floats.len).map(|i| NodeId(FLOAT_BASE.wrapping_add(i)));
        (0..self.len).map(NodeId).chain(ints).chain(floats)
    }

    /// Adds a node without any budget (for graphs built by hand, e.g. to encode).
    /// An int added here takes a node; [`NodeId::int`] gives one that does not.
    ///
    /// Returns `None` only when the graph already holds its most nodes of that kind
    /// (2^30 − 8 arena nodes, 2^29 ints, 2^29 floats).
    pub fn add(&mut self, node: NodeData<'a>) -> Option<NodeId> {
        let mut meter = Meter::new(crate::Limits::unbounded());
        self.push(node, &mut meter).ok()
    }

    /// Adds a node, charging the growth of the arena (or of a word table) to `meter`.
    #[inline(always)]
    pub(crate) fn push(&mut self, node: NodeData<'a>, meter: &mut Meter) -> Result<NodeId, Error> {
        match node {
            NodeData::Int(v) => {
                let at = self.ints.push(v as u64, meter)?;
                return Ok(NodeId(INT_BASE.wrapping_add(at))); // at < MAX_WORDS
            }
            NodeData::Float(f) => {
                let at = self.floats.push(f.to_bits(), meter)?;
                return Ok(NodeId(FLOAT_BASE.wrapping_add(at))); // at < MAX_WORDS
            }
            _ => {}
        }
        // Fast path: room in the last chunk (its capacity is exactly CHUNK, so the
        // push never reallocates) and ids left.
        if let Some(chunk) = self.chunks.last_mut() {
            if chunk.len() < CHUNK && self.len < MAX_NODES {
                chunk.push(node);
                let id = self.len;
                self.len = id.wrapping_add(1); // < MAX_NODES checked above
                return Ok(NodeId(id));
            }
        }
        self.push_slow(node, meter)
    }

    /// Adds a node that needs a new chunk (or fails: no ids left).
    #[cold]
    #[inline(never)]
    fn push_slow(&mut self, node: NodeData<'a>, meter: &mut Meter) -> Result<NodeId, Error> {
        push_chunked(
            &mut self.chunks,
            &mut self.len,
            MAX_NODES,
            CHUNK,
            node,
            meter,
        )
        .map(NodeId)
    }

    /// Heap bytes the graph holds: its arena (at capacity) and what its nodes own
    /// (container slots at capacity, owned payloads, boxed globals, objects and big
    /// ints). Payloads borrowed from the input are not counted: they are the input's.
    ///
    /// This is the figure to compare a decode's peak heap with; the memory budget
    /// (`Usage::memory_bytes`) also counts the decoder's own stacks, memo and indexes,
    /// and payloads as if owned, so that a slice and a stream decode agree.
    pub fn heap_bytes(&self) -> usize {
        fn cap<T>(v: &Vec<T>) -> usize {
            v.capacity().saturating_mul(std::mem::size_of::<T>())
        }
        let mut total = cap(&self.chunks)
            .saturating_add(self.ints.heap_bytes())
            .saturating_add(self.floats.heap_bytes());
        for chunk in &self.chunks {
            total = total.saturating_add(cap(chunk));
            for node in chunk {
                let owned = match node {
                    NodeData::Str(Cow::Owned(v))
                    | NodeData::Bytes(Cow::Owned(v))
                    | NodeData::ByteArray(Cow::Owned(v)) => cap(v),
                    NodeData::Tuple(v)
                    | NodeData::List(v)
                    | NodeData::Set(v)
                    | NodeData::FrozenSet(v) => cap(v),
                    NodeData::Dict(v) => cap(v),
                    NodeData::BigInt(b) => {
                        std::mem::size_of::<BigInt>().saturating_add(b.heap_bytes())
                    }
                    NodeData::Global(g) => std::mem::size_of::<Global>()
                        .saturating_add(g.module.capacity())
                        .saturating_add(g.name.capacity()),
                    NodeData::Object(o) => std::mem::size_of::<Object>()
                        .saturating_add(cap(&o.state))
                        .saturating_add(cap(&o.listitems))
                        .saturating_add(cap(&o.dictitems))
                        .saturating_add(cap(&o.additems)),
                    _ => 0,
                };
                total = total.saturating_add(owned);
            }
        }
        total
    }

    /// Copies every borrowed payload so the graph no longer borrows the input.
    pub fn into_owned(self) -> Graph<'static> {
        Graph {
            chunks: self
                .chunks
                .into_iter()
                .map(|chunk| chunk.into_iter().map(NodeData::into_owned).collect())
                .collect(),
            len: self.len,
            ints: self.ints,
            floats: self.floats,
        }
    }
}

/// True when `bytes` is generalized UTF-8 holding at least one surrogate code point
/// (`ED A0..BF xx`), i.e. a string Python could only encode with `surrogatepass`.
pub fn has_surrogates(bytes: &[u8]) -> bool {
    bytes
        .windows(2)
        .any(|w| matches!(w, [0xED, second] if *second >= 0xA0))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ints and floats live in their own tables, and every way of reading a graph
    /// sees them as nodes: `get`, `slot` (one dense position each, arena first), `ids`,
    /// `len`; floats compare bit for bit; `get_mut` and `data` have no node for them.
    #[test]
    fn stored_ints_and_floats_are_nodes_of_their_own_tables() {
        let mut g = Graph::new();
        let list = g.add(NodeData::List(Vec::new())).unwrap();
        let big = g.add(NodeData::Int(i64::MIN)).unwrap();
        let nan = g
            .add(NodeData::Float(f64::from_bits(0x7ff8_0000_0000_0001)))
            .unwrap();
        let half = g.add(NodeData::Float(0.5)).unwrap();
        let small = g.add(NodeData::Int(3)).unwrap(); // added, so stored (not inline)
        assert_eq!(g.get(big), Some(Node::Int(i64::MIN)));
        assert_eq!(g.get(small), Some(Node::Int(3)));
        match g.get(nan) {
            Some(Node::Float(f)) => assert_eq!(f.to_bits(), 0x7ff8_0000_0000_0001),
            other => panic!("{other:?}"),
        }
        assert_eq!(g.get(half), Some(Node::Float(0.5)));
        assert_eq!(g.len(), 5);
        let ids: Vec<NodeId> = g.ids().collect();
        assert_eq!(ids, vec![list, big, small, nan, half]);
        let slots: Vec<Option<usize>> = ids.iter().map(|id| g.slot(*id)).collect();
        assert_eq!(slots, vec![Some(0), Some(1), Some(2), Some(3), Some(4)]);
        let inline = NodeId::int(3).unwrap();
        assert_eq!((g.slot(inline), g.get(inline)), (None, Some(Node::Int(3))));
        assert!(g.get_mut(half).is_none() && g.data(big).is_none());
        // Another graph's stored float is not in this one.
        assert_eq!(Graph::new().get(half), None);
        assert_eq!(Graph::new().slot(half), None);
        // Equality is bit for bit: the same NaN equals itself, -0.0 is not 0.0.
        let same = g.clone();
        assert_eq!(g, same);
        let mut zero = Graph::new();
        zero.add(NodeData::Float(0.0));
        let mut negative_zero = Graph::new();
        negative_zero.add(NodeData::Float(-0.0));
        assert_ne!(zero, negative_zero);
        // One 32 KiB chunk per table in use, plus the spines.
        assert!(g.heap_bytes() >= 3 * 32 * 1024);
    }

    #[test]
    fn node_stays_small() {
        assert!(std::mem::size_of::<NodeData<'_>>() <= 32);
    }

    #[test]
    fn cycle_and_deep_chain_drop_without_recursion() {
        let mut g = Graph::new();
        let mut prev = g.add(NodeData::List(Vec::new()));
        for _ in 0..1_000_000 {
            let items = prev.into_iter().collect();
            prev = g.add(NodeData::List(items));
        }
        let first = NodeId(0);
        if let Some(NodeData::List(items)) = g.get_mut(first) {
            items.extend(prev); // close a cycle
        }
        assert_eq!(g.len(), 1_000_001);
        drop(g);
    }

    #[test]
    fn inline_ints_round_trip_at_the_edges_and_stay_out_of_the_arena() {
        for v in [0, 1, -1, 255, 256, (1 << 30) - 1, -(1 << 30)] {
            let id = NodeId::int(v).unwrap();
            assert_eq!(id.as_int(), Some(v));
            assert!(id.0 >= INLINE_BASE);
            assert_eq!(Graph::new().get(id), Some(Node::Int(v)));
        }
        assert_eq!(NodeId::int(-(1 << 30)), Some(NodeId(INLINE_BASE)));
        assert_eq!(NodeId::int((1 << 30) - 1), Some(NodeId(u32::MAX)));
        for v in [1 << 30, -(1 << 30) - 1, i64::MAX, i64::MIN] {
            assert_eq!(NodeId::int(v), None);
        }
        for not_int in [0, MAX_NODES - 1, MAX_NODES, INLINE_BASE - 1] {
            assert_eq!(NodeId(not_int).as_int(), None);
        }
    }

    #[test]
    fn children_of_object_in_view_order() {
        let mut o = Object::new(CallOp::Reduce, NodeId(1), NodeId(2), Some(NodeId(3)));
        o.state.push(NodeId(4));
        o.listitems.push(NodeId(5));
        o.dictitems.push((NodeId(6), NodeId(7)));
        o.additems.push(NodeId(8));
        let node = NodeData::Object(Box::new(o));
        let ids: Vec<u32> = node.view().children().map(|i| i.0).collect();
        assert_eq!(ids, vec![1, 2, 3, 4, 5, 6, 7, 8]);
    }
}
