//! The [`Deserializer`]: serde's data model over a decoded graph, with the expansion
//! budgets, cycle detection and error paths described in the module docs.
//!
//! All walking state lives in one [`State`] that every nested deserializer borrows
//! mutably: the counters, and a stack of the containers open right now. That stack
//! gives the depth and the cycle check (a container already on it is being expanded
//! inside itself). The error path costs nothing until there is an error: as an
//! error travels out of the walk, each container it leaves puts the position it was
//! reading in front of it ([`State::within`]), and the root adds `$`
//! ([`State::locate`]). Nothing is recorded per item, so a long list of numbers is
//! read at the speed of its storage.

use std::borrow::Cow;
use std::fmt;

use ::serde::de::{self, DeserializeSeed, Unexpected, Visitor};

use super::error::{Error, ErrorKind};
use super::{ObjectMode, Options};
use crate::bigint::BigInt;
use crate::error::Resource;
use crate::graph::{Global, Graph, Node, NodeData, NodeId, Object};
use crate::views::repr;

/// What one [`Deserializer`] has handed out so far: the figures its budgets cap.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Expansion {
    /// Values produced (see [`Options::max_values`]).
    pub values: u64,
    /// Str and bytes payload bytes produced (see [`Options::max_bytes`]).
    pub bytes: u64,
    /// The most containers that were open at once (see [`Options::max_depth`]).
    pub depth: u64,
}

/// Where, inside a container, an error happened.
#[derive(Clone, Copy, Debug)]
enum Seg {
    /// The item at this position of a sequence.
    Index(usize),
    /// The entry of a dict with this key.
    Key(NodeId),
    /// A named part of a described object.
    Name(&'static str),
}

/// The walk: graph, budgets, counters and the open containers.
struct State<'l, 'de> {
    graph: &'l Graph<'de>,
    /// The same graph when it lives for `'de` (from_graph, from_reader): then every
    /// payload can be borrowed for `'de`, not only those the graph borrows.
    whole: Option<&'de Graph<'de>>,
    options: Options,
    used: Expansion,
    /// The containers open right now: their nodes (`None` for the parts of a
    /// described object that are not nodes: its list items, dict items...).
    frames: Vec<Option<NodeId>>,
    /// Strs of this walk already checked and turned into `&'de str`, by node:
    /// direct-mapped, [`STR_SLOTS`] entries, allocated when the first str is met.
    /// A str the pickle shares (a dict key memoized once and met in every record) is
    /// then checked once, not on every visit. Budgets are charged on every visit
    /// all the same.
    strs: Vec<(NodeId, &'de str)>,
}

/// Entries of [`State::strs`]; a power of two.
const STR_SLOTS: usize = 128;

/// An id no str has (an inline int): the empty entries of [`State::strs`].
const NO_STR: NodeId = NodeId(u32::MAX);

/// A str or bytes payload: borrowed for `'de` when possible, else only for the walk.
enum Payload<'de, 'l> {
    Borrowed(&'de [u8]),
    Transient(&'l [u8]),
}

impl<'l, 'de> State<'l, 'de> {
    /// Counts `n` values against [`Options::max_values`]: the root when the walk
    /// starts, and the items of each container when it opens (so a container's
    /// items are refused before any of them is produced, and an item is never
    /// counted twice however many wrappers, `Option` or newtype, look at it).
    #[inline]
    fn count(&mut self, n: usize) -> Result<(), Error> {
        let total = self.used.values.saturating_add(n as u64);
        if total > self.options.max_values {
            return Err(Error::new(ErrorKind::Limit {
                resource: Resource::Expansion,
                limit: self.options.max_values,
                requested: total,
            }));
        }
        self.used.values = total;
        Ok(())
    }

    /// Counts `len` payload bytes against [`Options::max_bytes`].
    #[inline]
    fn charge_bytes(&mut self, len: usize) -> Result<(), Error> {
        let total = self.used.bytes.saturating_add(len as u64);
        if total > self.options.max_bytes {
            return Err(Error::limit(
                Resource::ExpansionBytes,
                self.options.max_bytes,
            ));
        }
        self.used.bytes = total;
        Ok(())
    }

    /// Opens a container: fails past [`Options::max_depth`], or when `id` is already
    /// open (a cycle).
    fn open(&mut self, id: Option<NodeId>) -> Result<(), Error> {
        let depth = self.frames.len() as u64;
        if depth >= self.options.max_depth {
            return Err(Error::limit(Resource::Depth, self.options.max_depth));
        }
        if id.is_some() && self.frames.contains(&id) {
            return Err(Error::new(ErrorKind::Cycle));
        }
        self.frames.push(id);
        self.used.depth = self.used.depth.max(depth.saturating_add(1));
        Ok(())
    }

    fn close(&mut self) {
        self.frames.pop();
    }

    /// Puts `seg`, where the error happened inside the container it is leaving, in
    /// front of its path, unless the error has a whole path already or is a decode
    /// error (which has none).
    #[cold]
    #[inline(never)]
    fn within(&self, mut e: Error, seg: Seg) -> Error {
        if !e.has_path() && !matches!(e.kind(), ErrorKind::Decode(_)) {
            let text = match seg {
                Seg::Index(i) => format!("[{i}]"),
                Seg::Name(name) => format!(".{name}"),
                Seg::Key(key) => self.key_text(key),
            };
            e.prepend_segment(&text);
        }
        e
    }

    /// Gives `e` its path at the root: `$` and what [`State::within`] gathered,
    /// unless it has one (an error of another walk) or is a decode error.
    #[cold]
    #[inline(never)]
    fn locate(&self, mut e: Error) -> Error {
        if !e.has_path() && !matches!(e.kind(), ErrorKind::Decode(_)) {
            e.finish_path();
        }
        e
    }

    /// A dict key in a path: `.name` for an identifier-like str, else its short repr
    /// in brackets (`['a b']`, `[7]`, `[(1, 2)]`).
    fn key_text(&self, key: NodeId) -> String {
        if let Some(Node::Str(bytes)) = self.graph.get(key) {
            if let Ok(text) = std::str::from_utf8(bytes) {
                let mut chars = text.chars();
                let identifier = text.len() <= 64
                    && chars
                        .next()
                        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                    && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
                if identifier {
                    return format!(".{text}");
                }
            }
        }
        let opts = repr::ReprOptions {
            max_len: 40,
            max_depth: 3,
        };
        format!("[{}]", repr::repr_with(self.graph, key, &opts))
    }

    /// The `&'de str` of the str node `id`, whose payload `bytes` lives for `'de`:
    /// from [`State::strs`] when this node was met before, else checked now. A
    /// payload with lone surrogates (valid generalized UTF-8, not UTF-8) is
    /// [`ErrorKind::Surrogates`].
    #[inline]
    fn borrowed_str(&mut self, id: NodeId, bytes: &'de [u8]) -> Result<&'de str, Error> {
        let slot = id.index() & (STR_SLOTS - 1);
        if let Some(&(cached, text)) = self.strs.get(slot) {
            if cached == id {
                return Ok(text);
            }
        }
        let text = std::str::from_utf8(bytes).map_err(|_| Error::new(ErrorKind::Surrogates))?;
        if self.strs.is_empty() {
            self.strs.resize(STR_SLOTS, (NO_STR, ""));
        }
        if let Some(entry) = self.strs.get_mut(slot) {
            *entry = (id, text);
        }
        Ok(text)
    }

    /// The payload of a str, bytes or bytearray node, borrowed for `'de` when the
    /// graph allows it. `view` is the node's payload as [`Graph::get`] gave it.
    fn payload(&self, id: NodeId, view: &'l [u8]) -> Payload<'de, 'l> {
        if let Some(whole) = self.whole {
            if let Some(NodeData::Str(c) | NodeData::Bytes(c) | NodeData::ByteArray(c)) =
                whole.data(id)
            {
                return Payload::Borrowed(c);
            }
        }
        match self.graph.data(id) {
            Some(
                NodeData::Str(Cow::Borrowed(b))
                | NodeData::Bytes(Cow::Borrowed(b))
                | NodeData::ByteArray(Cow::Borrowed(b)),
            ) => Payload::Borrowed(b),
            _ => Payload::Transient(view),
        }
    }
}

/// A deserializer over one node of a decoded graph: the `serde::Deserializer` that
/// [`from_slice`](super::from_slice) and friends drive. Reusable for several
/// values of the same graph only through [`Deserializer::set_root`]; the budgets
/// count across all of them.
pub struct Deserializer<'l, 'de> {
    state: State<'l, 'de>,
    root: NodeId,
}

impl<'de> Deserializer<'de, 'de> {
    /// A deserializer over `root` that borrows every str and bytes payload from the
    /// graph for `'de`.
    pub fn new(graph: &'de Graph<'de>, root: NodeId, options: &Options) -> Deserializer<'de, 'de> {
        Deserializer::with_state(graph, Some(graph), root, options)
    }
}

impl<'l, 'de> Deserializer<'l, 'de> {
    /// A deserializer over a graph that lives shorter than the input it borrows from
    /// (the graph [`from_slice`](super::from_slice) decodes): payloads the graph
    /// borrows from the input are borrowed for `'de`, the others are handed out
    /// transiently (a `&'de str` field then fails with serde's "expected a borrowed
    /// string").
    pub fn over_input(
        graph: &'l Graph<'de>,
        root: NodeId,
        options: &Options,
    ) -> Deserializer<'l, 'de> {
        Deserializer::with_state(graph, None, root, options)
    }

    fn with_state(
        graph: &'l Graph<'de>,
        whole: Option<&'de Graph<'de>>,
        root: NodeId,
        options: &Options,
    ) -> Deserializer<'l, 'de> {
        Deserializer {
            state: State {
                graph,
                whole,
                options: options.clone(),
                used: Expansion::default(),
                frames: Vec::new(),
                strs: Vec::new(),
            },
            root,
        }
    }

    /// Deserializes a `T` from the root. Unlike `T::deserialize(&mut deserializer)`,
    /// an error made by `T` itself after the walk (an untagged enum that matched no
    /// variant, a `try_from` conversion) gets the root path `$` too.
    pub fn value<T: ::serde::de::Deserialize<'de>>(&mut self) -> Result<T, Error> {
        let result = T::deserialize(&mut *self);
        result.map_err(|e| self.state.locate(e))
    }

    /// Points the next deserialization at another node of the same graph.
    pub fn set_root(&mut self, root: NodeId) {
        self.root = root;
    }

    /// What has been handed out so far, for every value deserialized from this
    /// deserializer (successful or not).
    pub fn expansion(&self) -> Expansion {
        self.state.used
    }

    /// Runs one deserialization of the root, giving its error a path (`$` when
    /// it happened at the root itself) and leaving no container open.
    fn run<R>(
        &mut self,
        f: impl FnOnce(ValueDe<'_, 'l, 'de>) -> Result<R, Error>,
    ) -> Result<R, Error> {
        let st = &mut self.state;
        st.frames.clear();
        let result = st.count(1).and_then(|()| {
            f(ValueDe {
                st: &mut *st,
                id: self.root,
            })
        });
        let result = result.map_err(|e| st.locate(e));
        st.frames.clear();
        result
    }
}

/// Every `deserialize_*` method of serde's `Deserializer` with its extra arguments:
/// `$m!` is called with the whole list, to forward them all.
macro_rules! for_each_method {
    ($m:ident) => {
        $m! {
            deserialize_any();
            deserialize_bool();
            deserialize_i8();
            deserialize_i16();
            deserialize_i32();
            deserialize_i64();
            deserialize_i128();
            deserialize_u8();
            deserialize_u16();
            deserialize_u32();
            deserialize_u64();
            deserialize_u128();
            deserialize_f32();
            deserialize_f64();
            deserialize_char();
            deserialize_str();
            deserialize_string();
            deserialize_bytes();
            deserialize_byte_buf();
            deserialize_option();
            deserialize_unit();
            deserialize_unit_struct(name: &'static str);
            deserialize_newtype_struct(name: &'static str);
            deserialize_seq();
            deserialize_tuple(len: usize);
            deserialize_tuple_struct(name: &'static str, len: usize);
            deserialize_map();
            deserialize_struct(name: &'static str, fields: &'static [&'static str]);
            deserialize_enum(name: &'static str, variants: &'static [&'static str]);
            deserialize_identifier();
            deserialize_ignored_any();
        }
    };
}

macro_rules! forward_to_root {
    ($($method:ident($($arg:ident: $ty:ty),*);)*) => {$(
        fn $method<V: Visitor<'de>>(self, $($arg: $ty,)* visitor: V) -> Result<V::Value, Error> {
            self.run(|de| de.$method($($arg,)* visitor))
        }
    )*};
}

impl<'de> de::Deserializer<'de> for &mut Deserializer<'_, 'de> {
    type Error = Error;

    for_each_method!(forward_to_root);
}

/// The deserializer of one node, already counted (see [`State::count`]).
struct ValueDe<'s, 'l, 'de> {
    st: &'s mut State<'l, 'de>,
    id: NodeId,
}

#[cold]
fn dangling() -> Error {
    Error::new(ErrorKind::Dangling)
}

#[cold]
fn int_out_of_range(value: String, target: &'static str) -> Error {
    Error::new(ErrorKind::IntOutOfRange { value, target })
}

/// A big int's sign and magnitude when the magnitude fits in 128 bits.
fn big_parts(b: &BigInt) -> Option<(bool, u128)> {
    let limbs = b.magnitude();
    if limbs.len() > 4 {
        return None;
    }
    let mut mag: u128 = 0;
    for limb in limbs.iter().rev() {
        mag = mag.checked_shl(32).unwrap_or(0) | u128::from(*limb);
    }
    Some((b.is_negative(), mag))
}

/// `-mag` when it fits an `i128`.
fn negated(mag: u128) -> Option<i128> {
    if mag == 1u128 << 127 {
        return Some(i128::MIN);
    }
    i128::try_from(mag).ok().map(|m| 0i128.wrapping_sub(m))
}

/// How a big int is named in an error: in decimal up to 128 bits, else by its size.
fn big_text(b: &BigInt) -> String {
    match big_parts(b) {
        Some((true, mag)) => format!("-{mag}"),
        Some((false, mag)) => mag.to_string(),
        None => {
            let limbs = b.magnitude();
            let top = limbs.last().copied().unwrap_or(0);
            let bits = (limbs.len() as u64)
                .saturating_sub(1)
                .saturating_mul(32)
                .saturating_add(u64::from(32u32.saturating_sub(top.leading_zeros())));
            format!("of {bits} bits")
        }
    }
}

/// `v` as a `T` when it fits (a function, so that the always-fitting `i64` and `i128`
/// need no special case in [`int_method`]).
#[inline(always)]
fn fits<T: TryFrom<i64>>(v: i64) -> Option<T> {
    T::try_from(v).ok()
}

/// Deserializes one integer type: range-checked, with a typed error naming the value.
/// The common case (an inline or stored int that fits) is inlined into the caller's
/// loop; the rest (big ints, other nodes, errors) is one out-of-line call.
macro_rules! int_method {
    ($method:ident, $slow:ident, $ty:ident, $visit:ident) => {
        #[inline(always)]
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            if let Some(v) = self.st.graph.word_int(self.id) {
                if let Some(x) = fits::<$ty>(v) {
                    return visitor.$visit(x);
                }
            }
            self.$slow(visitor)
        }
    };
}

/// The out-of-line part of [`int_method`]: every node, and the errors.
macro_rules! int_slow {
    ($slow:ident, $ty:ident, $visit:ident) => {
        #[inline(never)]
        fn $slow<V: Visitor<'de>>(mut self, visitor: V) -> Result<V::Value, Error> {
            let node = self.node()?;
            match node {
                Node::Int(v) => match $ty::try_from(v) {
                    Ok(x) => visitor.$visit(x),
                    Err(_) => Err(int_out_of_range(v.to_string(), stringify!($ty))),
                },
                Node::BigInt(b) => {
                    let fits = match big_parts(b) {
                        Some((false, mag)) => $ty::try_from(mag).ok(),
                        Some((true, mag)) => negated(mag).and_then(|v| $ty::try_from(v).ok()),
                        None => None,
                    };
                    match fits {
                        Some(x) => visitor.$visit(x),
                        None => Err(int_out_of_range(big_text(b), stringify!($ty))),
                    }
                }
                _ => self.any(node, visitor),
            }
        }
    };
}

/// The `Unexpected` serde names in an invalid-type error for a node.
fn unexpected(node: Node<'_>) -> Unexpected<'static> {
    match node {
        Node::None => Unexpected::Unit,
        Node::Bool(b) => Unexpected::Bool(b),
        Node::Int(i) => Unexpected::Signed(i),
        Node::Float(f) => Unexpected::Float(f),
        Node::Str(_) => Unexpected::Other("str"),
        Node::Bytes(_) | Node::ByteArray(_) => Unexpected::Other("bytes"),
        Node::Tuple(_) | Node::List(_) | Node::Set(_) | Node::FrozenSet(_) => Unexpected::Seq,
        Node::Dict(_) => Unexpected::Map,
        other => Unexpected::Other(other.type_name()),
    }
}

/// Which objects [`Options::ordered_dict_as_map`] reads as maps: what CPython writes
/// for an `OrderedDict` (REDUCE of `collections.OrderedDict` with no arguments, items
/// added by SETITEMS, nothing appended or added).
fn is_ordered_dict(graph: &Graph<'_>, obj: &Object) -> bool {
    let named = matches!(
        graph.get(obj.callable),
        Some(Node::Global(Global { module, name })) if module == "collections" && name == "OrderedDict"
    );
    named
        && matches!(graph.get(obj.args), Some(Node::Tuple([])))
        && obj.kwargs.is_none()
        && obj.listitems.is_empty()
        && obj.additems.is_empty()
}

/// The name of a node that has no plain-data form, for [`ErrorKind::Unsupported`].
fn unsupported(graph: &Graph<'_>, node: Node<'_>) -> Error {
    let what = match node {
        Node::Global(g) => format!("global {}.{}", g.module, g.name),
        Node::Object(obj) => match graph.get(obj.callable) {
            Some(Node::Global(g)) => format!("object of {}.{}", g.module, g.name),
            Some(other) => format!("object of a computed callable ({})", other.type_name()),
            None => "object".to_owned(),
        },
        Node::PersId(_) => "persistent id".to_owned(),
        Node::Ext(code) => format!("extension code {code}"),
        Node::Buffer { index, .. } => format!("out-of-band buffer {index}"),
        other => other.type_name().to_owned(),
    };
    Error::new(ErrorKind::Unsupported(what))
}

impl<'s, 'l, 'de> ValueDe<'s, 'l, 'de> {
    /// The node (inline ints first: they are most items of a numeric list).
    #[inline(always)]
    fn node(&mut self) -> Result<Node<'l>, Error> {
        if let Some(v) = self.id.as_int() {
            return Ok(Node::Int(v));
        }
        self.st.graph.get(self.id).ok_or_else(dangling)
    }

    /// The self-describing form of the node.
    fn any_node<V: Visitor<'de>>(mut self, visitor: V) -> Result<V::Value, Error> {
        let node = self.node()?;
        self.any(node, visitor)
    }

    /// [`ValueDe::any_node`] out of line: the rare case behind an inlined fast path.
    #[inline(never)]
    fn any_slow<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.any_node(visitor)
    }

    /// The self-describing form of a node (what `deserialize_any` gives).
    fn any<V: Visitor<'de>>(self, node: Node<'l>, visitor: V) -> Result<V::Value, Error> {
        match node {
            Node::None => visitor.visit_unit(),
            Node::Bool(b) => visitor.visit_bool(b),
            Node::Int(i) => visitor.visit_i64(i),
            Node::BigInt(b) => match big_parts(b) {
                Some((false, mag)) => match u64::try_from(mag) {
                    Ok(v) => visitor.visit_u64(v),
                    Err(_) => visitor.visit_u128(mag),
                },
                Some((true, mag)) => match negated(mag) {
                    Some(v) => visitor.visit_i128(v),
                    None => Err(int_out_of_range(big_text(b), "i128")),
                },
                None => Err(int_out_of_range(big_text(b), "i128 or u128")),
            },
            Node::Float(f) => visitor.visit_f64(f),
            Node::Str(bytes) => self.str_node(bytes, visitor),
            Node::Bytes(bytes) | Node::ByteArray(bytes) => self.bytes_node(bytes, visitor),
            Node::Tuple(ids) | Node::List(ids) | Node::Set(ids) | Node::FrozenSet(ids) => {
                visit_ids(self.st, Some(self.id), ids, visitor)
            }
            Node::Dict(pairs) => visit_pairs(self.st, Some(self.id), pairs, visitor),
            other => self.special(other, visitor),
        }
    }

    fn str_node<V: Visitor<'de>>(self, bytes: &'l [u8], visitor: V) -> Result<V::Value, Error> {
        let payload = self.st.payload(self.id, bytes);
        self.str_payload(payload, visitor)
    }

    /// Hands a str's payload to the visitor: charged, checked (see
    /// [`State::borrowed_str`]), borrowed for `'de` when it can be.
    #[inline]
    fn str_payload<V: Visitor<'de>>(
        self,
        payload: Payload<'de, 'l>,
        visitor: V,
    ) -> Result<V::Value, Error> {
        match payload {
            Payload::Borrowed(b) => {
                self.st.charge_bytes(b.len())?;
                visitor.visit_borrowed_str(self.st.borrowed_str(self.id, b)?)
            }
            Payload::Transient(b) => {
                self.st.charge_bytes(b.len())?;
                let text = std::str::from_utf8(b).map_err(|_| Error::new(ErrorKind::Surrogates))?;
                visitor.visit_str(text)
            }
        }
    }

    /// `deserialize_str`, `_string` and `_identifier` (struct fields): a str node is
    /// looked up once and handed out directly; anything else goes the
    /// self-describing way.
    #[inline]
    fn str_fast<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let payload = match self.st.whole {
            Some(whole) => match whole.data(self.id) {
                Some(NodeData::Str(c)) => Payload::Borrowed(c.as_ref()),
                _ => return self.any_slow(visitor),
            },
            None => match self.st.graph.data(self.id) {
                Some(NodeData::Str(Cow::Borrowed(b))) => Payload::Borrowed(b),
                Some(NodeData::Str(Cow::Owned(v))) => Payload::Transient(v),
                _ => return self.any_slow(visitor),
            },
        };
        self.str_payload(payload, visitor)
    }

    fn bytes_node<V: Visitor<'de>>(self, bytes: &'l [u8], visitor: V) -> Result<V::Value, Error> {
        self.st.charge_bytes(bytes.len())?;
        match self.st.payload(self.id, bytes) {
            Payload::Borrowed(b) => visitor.visit_borrowed_bytes(b),
            Payload::Transient(b) => visitor.visit_bytes(b),
        }
    }

    /// Objects, globals, persistent ids, extension codes, buffers: see the module docs.
    fn special<V: Visitor<'de>>(self, node: Node<'l>, visitor: V) -> Result<V::Value, Error> {
        let st = self.st;
        let graph = st.graph;
        if let Node::Object(obj) = node {
            if st.options.ordered_dict_as_map && is_ordered_dict(graph, obj) {
                return visit_pairs(st, Some(self.id), &obj.dictitems, visitor);
            }
        }
        if st.options.objects == ObjectMode::Error {
            return Err(unsupported(graph, node));
        }
        let parts: Vec<(&'static str, Part<'l>)> = match node {
            Node::Global(g) => {
                vec![("__global__", Part::Text(format!("{}.{}", g.module, g.name)))]
            }
            Node::Object(obj) => {
                let mut parts = vec![
                    ("__call__", Part::Node(obj.callable)),
                    ("args", Part::Node(obj.args)),
                ];
                if let Some(kwargs) = obj.kwargs {
                    parts.push(("kwargs", Part::Node(kwargs)));
                }
                match obj.state.as_slice() {
                    [] => {}
                    [one] => parts.push(("state", Part::Node(*one))),
                    all => parts.push(("states", Part::Ids(all))),
                }
                if !obj.listitems.is_empty() {
                    parts.push(("listitems", Part::Ids(&obj.listitems)));
                }
                if !obj.dictitems.is_empty() {
                    parts.push(("dictitems", Part::Pairs(&obj.dictitems)));
                }
                if !obj.additems.is_empty() {
                    parts.push(("additems", Part::Ids(&obj.additems)));
                }
                parts
            }
            Node::PersId(pid) => vec![("__persid__", Part::Node(pid))],
            Node::Ext(code) => vec![("__extension__", Part::UInt(u64::from(code)))],
            Node::Buffer { index, readonly } => {
                vec![
                    ("__buffer__", Part::UInt(index)),
                    ("readonly", Part::Bool(readonly)),
                ]
            }
            other => return Err(unsupported(graph, other)),
        };
        st.count(parts.len().saturating_mul(2))?;
        st.open(Some(self.id))?;
        let mut access = Described {
            st: &mut *st,
            parts: &parts,
            pos: 0,
        };
        let result = visitor.visit_map(&mut access);
        st.close();
        result
    }
}

/// Visits a sequence of nodes (a container node `id`, or a part of an object).
fn visit_ids<'de, V: Visitor<'de>>(
    st: &mut State<'_, 'de>,
    id: Option<NodeId>,
    ids: &[NodeId],
    visitor: V,
) -> Result<V::Value, Error> {
    st.count(ids.len())?;
    st.open(id)?;
    let mut access = SeqAccess {
        st: &mut *st,
        rest: ids,
        len: ids.len(),
    };
    let result = visitor.visit_seq(&mut access);
    let read = ids.len().saturating_sub(access.rest.len());
    st.close();
    let value = result?;
    if read < ids.len() {
        return Err(de::Error::invalid_length(ids.len(), &ReadItems(read)));
    }
    Ok(value)
}

/// Visits the entries of a dict (a node `id`, or the dict items of an object).
fn visit_pairs<'de, V: Visitor<'de>>(
    st: &mut State<'_, 'de>,
    id: Option<NodeId>,
    pairs: &[(NodeId, NodeId)],
    visitor: V,
) -> Result<V::Value, Error> {
    st.count(pairs.len().saturating_mul(2))?;
    st.open(id)?;
    let mut access = MapAccess {
        st: &mut *st,
        pairs,
        pos: 0,
    };
    let result = visitor.visit_map(&mut access);
    let read = access.pos;
    st.close();
    let value = result?;
    if read < pairs.len() {
        return Err(de::Error::invalid_length(pairs.len(), &ReadItems(read)));
    }
    Ok(value)
}

/// "N items", for the error of a visitor that stopped before the end of a container.
struct ReadItems(usize);

impl de::Expected for ReadItems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} items (the visitor stopped there)", self.0)
    }
}

/// Applies `$m` to each integer type: `(method, its slow part, type, visit method)`.
macro_rules! for_each_int {
    ($m:ident) => {
        $m!(deserialize_i8, i8_slow, i8, visit_i8);
        $m!(deserialize_i16, i16_slow, i16, visit_i16);
        $m!(deserialize_i32, i32_slow, i32, visit_i32);
        $m!(deserialize_i64, i64_slow, i64, visit_i64);
        $m!(deserialize_i128, i128_slow, i128, visit_i128);
        $m!(deserialize_u8, u8_slow, u8, visit_u8);
        $m!(deserialize_u16, u16_slow, u16, visit_u16);
        $m!(deserialize_u32, u32_slow, u32, visit_u32);
        $m!(deserialize_u64, u64_slow, u64, visit_u64);
        $m!(deserialize_u128, u128_slow, u128, visit_u128);
    };
}

macro_rules! slow_of {
    ($method:ident, $slow:ident, $ty:ident, $visit:ident) => {
        int_slow!($slow, $ty, $visit);
    };
}

impl<'de> ValueDe<'_, '_, 'de> {
    for_each_int!(slow_of);
}

/// The methods that only need the self-describing form.
macro_rules! via_any {
    ($($method:ident),*) => {$(
        fn $method<V: Visitor<'de>>(mut self, visitor: V) -> Result<V::Value, Error> {
            let node = self.node()?;
            self.any(node, visitor)
        }
    )*};
}

impl<'de> de::Deserializer<'de> for ValueDe<'_, '_, 'de> {
    type Error = Error;

    for_each_int!(int_method);
    via_any!(
        deserialize_any,
        deserialize_bool,
        deserialize_char,
        deserialize_bytes,
        deserialize_byte_buf,
        deserialize_unit,
        deserialize_map
    );

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.str_fast(visitor)
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.str_fast(visitor)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.str_fast(visitor)
    }

    /// A stored float (every float the decoder makes) is read inline in the caller's
    /// loop; anything else goes the self-describing way.
    #[inline(always)]
    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        if let Some(f) = self.st.graph.word_float(self.id) {
            return visitor.visit_f64(f);
        }
        self.any_slow(visitor)
    }

    fn deserialize_f32<V: Visitor<'de>>(mut self, visitor: V) -> Result<V::Value, Error> {
        match self.node()? {
            Node::Float(f) => {
                let narrow = f as f32;
                if narrow.is_infinite() && f.is_finite() {
                    return Err(Error::new(ErrorKind::FloatOutOfRange(f)));
                }
                visitor.visit_f32(narrow)
            }
            node => self.any(node, visitor),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(mut self, visitor: V) -> Result<V::Value, Error> {
        match self.node()? {
            Node::None => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(mut self, visitor: V) -> Result<V::Value, Error> {
        match self.node()? {
            Node::Bytes(bytes) | Node::ByteArray(bytes) => {
                self.st.charge_bytes(bytes.len())?;
                self.st.open(Some(self.id))?;
                let mut access = ByteSeq {
                    st: &mut *self.st,
                    bytes,
                    pos: 0,
                };
                let result = visitor.visit_seq(&mut access);
                let read = access.pos;
                self.st.close();
                let value = result?;
                if read < bytes.len() {
                    return Err(de::Error::invalid_length(bytes.len(), &ReadItems(read)));
                }
                Ok(value)
            }
            node => self.any(node, visitor),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_map(visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        mut self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        let node = self.node()?;
        let (key, value, seg_key, seg_value) = match node {
            Node::Str(_) | Node::Bytes(_) => return visitor.visit_enum(UnitOnly { de: self }),
            Node::Dict([(key, value)]) => (*key, Some(*value), Seg::Key(*key), Seg::Key(*key)),
            Node::Tuple([key]) => (*key, None, Seg::Index(0), Seg::Index(0)),
            Node::Tuple([key, value]) => (*key, Some(*value), Seg::Index(0), Seg::Index(1)),
            other => {
                return Err(de::Error::invalid_type(
                    unexpected(other),
                    &"a str or a one-entry dict (an enum)",
                ))
            }
        };
        let st = self.st;
        st.count(if value.is_some() { 2 } else { 1 })?;
        st.open(Some(self.id))?;
        let access = Tagged {
            st: &mut *st,
            key,
            value,
            seg_key,
            seg_value,
        };
        let result = visitor.visit_enum(access);
        st.close();
        result
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(mut self, visitor: V) -> Result<V::Value, Error> {
        // Counted, not walked: an ignored value costs one, whatever its size.
        self.node()?;
        visitor.visit_unit()
    }
}

struct SeqAccess<'a, 'i, 'l, 'de> {
    st: &'a mut State<'l, 'de>,
    /// The items not read yet.
    rest: &'i [NodeId],
    /// How many items the sequence has (for the position in an error path).
    len: usize,
}

impl<'de> de::SeqAccess<'de> for SeqAccess<'_, '_, '_, 'de> {
    type Error = Error;

    #[inline]
    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        let [id, rest @ ..] = self.rest else {
            return Ok(None);
        };
        self.rest = rest;
        let de = ValueDe {
            st: &mut *self.st,
            id: *id,
        };
        match seed.deserialize(de) {
            Ok(v) => Ok(Some(v)),
            Err(e) => {
                let at = self.len.saturating_sub(rest.len()).saturating_sub(1);
                Err(self.st.within(e, Seg::Index(at)))
            }
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.rest.len())
    }
}

/// The items of a bytes object read as a sequence of `u8` (their bytes are charged
/// once, when the sequence opens).
struct ByteSeq<'a, 'l, 'de> {
    st: &'a mut State<'l, 'de>,
    bytes: &'l [u8],
    pos: usize,
}

impl<'de> de::SeqAccess<'de> for ByteSeq<'_, '_, 'de> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        let Some(&byte) = self.bytes.get(self.pos) else {
            return Ok(None);
        };
        let at = self.pos;
        self.pos = at.saturating_add(1);
        let de = de::value::U8Deserializer::<Error>::new(byte);
        match seed.deserialize(de) {
            Ok(v) => Ok(Some(v)),
            Err(e) => Err(self.st.within(e, Seg::Index(at))),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.bytes.len().saturating_sub(self.pos))
    }
}

struct MapAccess<'a, 'i, 'l, 'de> {
    st: &'a mut State<'l, 'de>,
    pairs: &'i [(NodeId, NodeId)],
    pos: usize,
}

impl<'de> de::MapAccess<'de> for MapAccess<'_, '_, '_, 'de> {
    type Error = Error;

    #[inline]
    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        let Some(&(key, _)) = self.pairs.get(self.pos) else {
            return Ok(None);
        };
        let de = ValueDe {
            st: &mut *self.st,
            id: key,
        };
        match seed.deserialize(de) {
            Ok(v) => Ok(Some(v)),
            Err(e) => Err(self.st.within(e, Seg::Key(key))),
        }
    }

    #[inline]
    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let Some(&(key, value)) = self.pairs.get(self.pos) else {
            return Err(de::Error::custom(
                "value asked for past the last dict entry",
            ));
        };
        self.pos = self.pos.saturating_add(1);
        let de = ValueDe {
            st: &mut *self.st,
            id: value,
        };
        seed.deserialize(de)
            .map_err(|e| self.st.within(e, Seg::Key(key)))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.pairs.len().saturating_sub(self.pos))
    }
}

/// A part of a described object: a node, or something the description makes up.
enum Part<'l> {
    Node(NodeId),
    Text(String),
    UInt(u64),
    Bool(bool),
    Ids(&'l [NodeId]),
    Pairs(&'l [(NodeId, NodeId)]),
}

/// A described object, global... as a map of named parts (see the module docs).
struct Described<'a, 'p, 'l, 'de> {
    st: &'a mut State<'l, 'de>,
    parts: &'p [(&'static str, Part<'l>)],
    pos: usize,
}

impl<'de> de::MapAccess<'de> for Described<'_, '_, '_, 'de> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        let Some((name, _)) = self.parts.get(self.pos) else {
            return Ok(None);
        };
        let de = de::value::BorrowedStrDeserializer::<Error>::new(name);
        seed.deserialize(de)
            .map(Some)
            .map_err(|e| self.st.within(e, Seg::Name(name)))
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let Some((name, part)) = self.parts.get(self.pos) else {
            return Err(de::Error::custom("value asked for past the last part"));
        };
        self.pos = self.pos.saturating_add(1);
        let de = PartDe {
            st: &mut *self.st,
            part,
        };
        seed.deserialize(de)
            .map_err(|e| self.st.within(e, Seg::Name(name)))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.parts.len().saturating_sub(self.pos))
    }
}

/// The deserializer of one part of a description: a node is deserialized as any
/// node, the rest through their self-describing form.
struct PartDe<'a, 'p, 'l, 'de> {
    st: &'a mut State<'l, 'de>,
    part: &'p Part<'l>,
}

impl<'de> PartDe<'_, '_, '_, 'de> {
    fn made_up<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let st = self.st;
        match self.part {
            Part::Node(id) => ValueDe { st, id: *id }.any_node(visitor),
            Part::Text(text) => {
                st.charge_bytes(text.len())?;
                visitor.visit_str(text)
            }
            Part::UInt(v) => visitor.visit_u64(*v),
            Part::Bool(b) => visitor.visit_bool(*b),
            Part::Ids(ids) => visit_ids(st, None, ids, visitor),
            Part::Pairs(pairs) => visit_pairs(st, None, pairs, visitor),
        }
    }
}

macro_rules! forward_part {
    ($($method:ident($($arg:ident: $ty:ty),*);)*) => {$(
        fn $method<V: Visitor<'de>>(self, $($arg: $ty,)* visitor: V) -> Result<V::Value, Error> {
            match self.part {
                Part::Node(id) => ValueDe { st: self.st, id: *id }
                    .$method($($arg,)* visitor),
                _ => {
                    $(let _ = $arg;)*
                    self.made_up(visitor)
                }
            }
        }
    )*};
}

impl<'de> de::Deserializer<'de> for PartDe<'_, '_, '_, 'de> {
    type Error = Error;

    for_each_method!(forward_part);
}

/// A str (or bytes) read as an enum: a unit variant.
struct UnitOnly<'s, 'l, 'de> {
    de: ValueDe<'s, 'l, 'de>,
}

impl<'s, 'l, 'de> de::EnumAccess<'de> for UnitOnly<'s, 'l, 'de> {
    type Error = Error;
    type Variant = Self;

    fn variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<(T::Value, Self), Error> {
        let de = ValueDe {
            st: &mut *self.de.st,
            id: self.de.id,
        };
        let variant = seed.deserialize(de)?;
        Ok((variant, self))
    }
}

impl<'de> de::VariantAccess<'de> for UnitOnly<'_, '_, 'de> {
    type Error = Error;

    fn unit_variant(self) -> Result<(), Error> {
        Ok(())
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, _seed: T) -> Result<T::Value, Error> {
        Err(de::Error::invalid_type(
            Unexpected::UnitVariant,
            &"newtype variant",
        ))
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, _visitor: V) -> Result<V::Value, Error> {
        Err(de::Error::invalid_type(
            Unexpected::UnitVariant,
            &"tuple variant",
        ))
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Error> {
        Err(de::Error::invalid_type(
            Unexpected::UnitVariant,
            &"struct variant",
        ))
    }
}

/// `{variant: value}`, `(variant,)` or `(variant, value)` read as an enum.
struct Tagged<'a, 'l, 'de> {
    st: &'a mut State<'l, 'de>,
    key: NodeId,
    value: Option<NodeId>,
    /// Where the variant and the value are, for error paths.
    seg_key: Seg,
    seg_value: Seg,
}

impl<'a, 'l, 'de> Tagged<'a, 'l, 'de> {
    /// The value's deserializer; none for `(variant,)`.
    fn value(&mut self, expected: &'static str) -> Result<ValueDe<'_, 'l, 'de>, Error> {
        let Some(id) = self.value else {
            return Err(de::Error::invalid_type(Unexpected::UnitVariant, &expected));
        };
        Ok(ValueDe {
            st: &mut *self.st,
            id,
        })
    }
}

impl<'a, 'l, 'de> de::EnumAccess<'de> for Tagged<'a, 'l, 'de> {
    type Error = Error;
    type Variant = Self;

    fn variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<(T::Value, Self), Error> {
        let de = ValueDe {
            st: &mut *self.st,
            id: self.key,
        };
        match seed.deserialize(de) {
            Ok(variant) => Ok((variant, self)),
            Err(e) => Err(self.st.within(e, self.seg_key)),
        }
    }
}

impl<'de> de::VariantAccess<'de> for Tagged<'_, '_, 'de> {
    type Error = Error;

    fn unit_variant(mut self) -> Result<(), Error> {
        if self.value.is_none() {
            return Ok(());
        }
        let result = <() as de::Deserialize>::deserialize(self.value("unit variant")?);
        result.map_err(|e| self.st.within(e, self.seg_value))
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(mut self, seed: T) -> Result<T::Value, Error> {
        let result = seed.deserialize(self.value("newtype variant")?);
        result.map_err(|e| self.st.within(e, self.seg_value))
    }

    fn tuple_variant<V: Visitor<'de>>(
        mut self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        let result = de::Deserializer::deserialize_seq(self.value("tuple variant")?, visitor);
        result.map_err(|e| self.st.within(e, self.seg_value))
    }

    fn struct_variant<V: Visitor<'de>>(
        mut self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        let result = de::Deserializer::deserialize_map(self.value("struct variant")?, visitor);
        result.map_err(|e| self.st.within(e, self.seg_value))
    }
}
