//! The `cpython` fuzz target: differential decoding against CPython's own C unpickler
//! (feature `cpython`: pyo3 with an embedded interpreter, linked against libpython).
//!
//! For each input, pickleproof decodes it under [`Policy::inert`] and default limits,
//! and CPython's `_pickle.Unpickler` loads it *symbolically*: a subclass, defined in the
//! embedded module `cpython.py` next to this file, whose `find_class` and
//! `persistent_load` return inert stand-ins (see that module's docs), so no real global
//! is ever resolved and nothing runs. CPython's result is read back into a
//! [`Graph`] and compared with pickleproof's ([`compare`]): both accept with equivalent
//! values (types, sharing and cycles of the mutable kinds, floats bit for bit, strings
//! with their lone surrogates), or both reject. Anything else panics, except the
//! differences listed in [`ACCEPTED`].
//!
//! # Configuration
//!
//! The last input byte, XORed with `b'.'` (so a pickle that ends with its STOP gets
//! the defaults), chooses the decode options on both sides ([`Config::from_byte`]):
//! raw mode (pickleproof's `Decoder::raw`, no name mapping and no folding in the
//! stand-ins), the Python 2 string encoding (`encoding=` of the unpickler) and whether
//! out-of-band buffers are supplied (`buffers=`) or described as placeholders.
//!
//! # What is skipped
//!
//! Inputs that would make CPython itself allocate without bound or hit its own limits
//! are recognised first and not run through CPython ([`Outcome::Skipped`]): every
//! pickleproof limit error under default limits (huge length claims, text ints past
//! 4300 digits, nesting past depth 1000, ...) and steps past [`MAX_STEPS`], values
//! nested deeper than [`MAX_DEPTH`] (CPython's recursion limit also counts
//! comparisons of nested values), memo indices past 2^20 (CPython's memo is a dense
//! array), and CPython's own `MemoryError` or `RecursionError`.

use std::collections::{HashMap, HashSet};
use std::ffi::CString;

use pyo3::prelude::*;
use pyo3::sync::GILOnceCell;
use pyo3::types::{PyBytes, PyModule};

use crate::views::json;
use crate::{
    BigInt, CallOp, Decoder, Global, Graph, IntValue, Limits, Node, NodeData, NodeId, Object,
    Policy, StringEncoding, RECONSTRUCTORS,
};

/// The embedded Python module: stand-ins, the symbolic unpickler, the flat format.
const SOURCE: &str = include_str!("cpython.py");

/// Values nested deeper than this are not run through CPython: its recursion limit
/// (1000) also counts C-level comparisons of nested values (equal tuples as dict keys).
pub const MAX_DEPTH: u64 = 900;

/// The default limits' step budget (10^8) lets one input cost pickleproof about a
/// second, and six under the fuzzer's instrumentation: a frozenset of tuples nested
/// by DUP costs that much in hashing (and CPython, which hashes them again at every
/// level, as much or more), past libFuzzer's timeout on a loaded machine (found by a
/// 30-minute run). Inputs past this budget are skipped, like every limit error.
pub const MAX_STEPS: u64 = 5_000_000;

/// One accepted difference between pickleproof and CPython's unpickler with inert
/// stand-ins: what differs, why it is right, and how the target handles it.
#[derive(Clone, Copy, Debug)]
pub struct Difference {
    /// Short stable name, used in [`Outcome::Accepted`].
    pub id: &'static str,
    /// What differs.
    pub what: &'static str,
    /// Why pickleproof does what it does.
    pub why: &'static str,
    /// How the target deals with it.
    pub handled: &'static str,
}

/// Every accepted difference (the README's table is this one).
pub const ACCEPTED: &[Difference] = &[
    Difference {
        id: "call-kind-unknown",
        what: "NEWOBJ, NEWOBJ_EX, INST or OBJ whose class is the result of a call, a \
               persistent id or an extension code: CPython checks `PyType_Check` (and \
               `__getinitargs__`) on the real object",
        why: "an inert decoder cannot know what a call returns or what an id resolves to",
        handled: "stand-ins are classes, so CPython takes the same path as pickleproof",
    },
    Difference {
        id: "call-opcode",
        what: "which opcode made a call: REDUCE and INST/OBJ with arguments both call \
               `cls(*args)`; NEWOBJ, NEWOBJ_EX with `{}` and INST/OBJ without arguments \
               all call `cls.__new__(cls, ...)`",
        why: "the graph keeps the opcode; a stand-in sees only the call",
        handled: "objects are compared by call kind (call or `__new__`)",
    },
    Difference {
        id: "kwargs-copied",
        what: "NEWOBJ_EX's kwargs dict reaches a Python `__new__` as a copy",
        why: "the graph keeps the dict node the stream built",
        handled: "kwargs are compared by value, outside the identity check",
    },
    Difference {
        id: "inst-reconstructor",
        what: "INST or OBJ of a built-in reconstructor (`builtins.set`, ...) with \
               arguments: CPython builds the value as for REDUCE",
        why: "pickleproof folds the REDUCE calls picklers write and describes the rest",
        handled: "an object node where CPython built the folded value is accepted",
    },
    Difference {
        id: "unfolded-reconstructor",
        what: "a reconstructor call whose arguments pickleproof does not fold \
               (`set(obj)`, `bytearray(5)`, unknown codecs): CPython computes it",
        why: "pickleproof describes calls it cannot evaluate without running code",
        handled: "the stand-in records those calls, as pickleproof describes them",
    },
    Difference {
        id: "readonly-buffer-stand-in",
        what: "READONLY_BUFFER on a global, call result, persistent id or extension \
               code: CPython asks the real object for the buffer protocol",
        why: "an inert decoder cannot know whether the object exports a buffer; \
              pickleproof leaves it as it is",
        handled: "CPython's TypeError naming a stand-in's metaclass while pickleproof \
                  accepts",
    },
    Difference {
        id: "buffer-exporter-unknown",
        what: "a READONLY_BUFFER view of an out-of-band buffer that was not supplied, \
               used as a dict key or set item: CPython hashes the real buffer's \
               exporter (a view of a bytearray is unhashable, of bytes hashes by content)",
        why: "the buffer is not there, so neither is its exporter; pickleproof hashes a \
              buffer placeholder by identity",
        handled: "the placeholders wrap a writable exporter that hashes by identity",
    },
    Difference {
        id: "globals-resolve",
        what: "a global that cannot be imported, or a dotted name with no such \
               attribute: CPython's `find_class` fails",
        why: "the graph describes names and never imports them",
        handled: "every name resolves to a stand-in, except names with a lone \
                  surrogate, which no import can encode (refused by both)",
    },
];

fn accepted(id: &'static str) -> Outcome {
    debug_assert!(
        ACCEPTED.iter().any(|d| d.id == id),
        "unlisted difference {id}"
    );
    Outcome::Accepted(id)
}

/// How one input ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Both accepted, with equivalent values.
    BothAccept,
    /// Both rejected (CPython's exception class and message).
    BothReject(String),
    /// A listed difference ([`ACCEPTED`], by id).
    Accepted(&'static str),
    /// Not run through CPython, and why.
    Skipped(String),
}

/// The decode options both sides use, chosen by one byte (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// pickleproof's raw mode; CPython's stand-ins neither map names nor fold.
    pub raw: bool,
    /// How Python 2 strings decode.
    pub encoding: StringEncoding,
    /// Out-of-band buffers supplied ([`SUPPLIED_BUFFERS`]) or described.
    pub buffers: bool,
}

/// The buffers the target supplies when [`Config::buffers`] is set (the embedded
/// module's `SUPPLIED_BUFFERS`, as bytearrays).
pub const SUPPLIED_BUFFERS: [&[u8]; 3] = [b"", b"\x00\x01", b"pickleproof"];

impl Config {
    /// Bit 0 raw, bits 1-2 the encoding (0 and 3 ASCII, 1 latin-1, 2 bytes), bit 3
    /// buffers supplied.
    pub fn from_byte(b: u8) -> Config {
        Config {
            raw: b & 1 != 0,
            encoding: match (b >> 1) & 3 {
                1 => StringEncoding::Latin1,
                2 => StringEncoding::Bytes,
                _ => StringEncoding::Ascii,
            },
            buffers: b & 8 != 0,
        }
    }

    /// The configuration an input selects: its last byte XOR `b'.'`.
    pub fn of(data: &[u8]) -> Config {
        let [b] = super::tail::<1>(data);
        Config::from_byte(b ^ b'.')
    }

    fn python_encoding(self) -> &'static str {
        match self.encoding {
            StringEncoding::Ascii => "ASCII",
            StringEncoding::Latin1 => "latin1",
            StringEncoding::Bytes => "bytes",
        }
    }

    fn decoder(self) -> Decoder {
        let decoder = Decoder::new()
            .limits(Limits {
                max_steps: MAX_STEPS,
                ..Limits::default()
            })
            .policy(Policy::inert())
            .raw(self.raw)
            .string_encoding(self.encoding);
        if self.buffers {
            decoder.buffers(SUPPLIED_BUFFERS.iter().map(|b| b.to_vec()).collect())
        } else {
            decoder
        }
    }
}

/// The `cpython` target: [`cpython`], panicking on a difference not in [`ACCEPTED`].
/// It runs on the calling thread (the interpreter needs more stack than the small
/// thread of the other bodies; pickleproof's own stack use is their job).
pub fn run_cpython(data: &[u8]) {
    let _ = cpython(data);
}

/// Decodes `data` with pickleproof and with CPython's unpickler, and compares; panics
/// on a difference that is not listed in [`ACCEPTED`].
pub fn cpython(data: &[u8]) -> Outcome {
    let config = Config::of(data);
    let ours = config.decoder().decode(data);
    match &ours {
        Err(e) if e.is_limit() => return Outcome::Skipped(format!("pickleproof: {e}")),
        Ok(d) if d.usage.depth > MAX_DEPTH => {
            return Outcome::Skipped(format!("nested {} deep", d.usage.depth))
        }
        _ => {}
    }
    let theirs = python_load(data, config);
    let Some((&tag, rest)) = theirs.split_first() else {
        panic!("the embedded module returned nothing");
    };
    match (tag, &ours) {
        (b'S', _) => Outcome::Skipped(String::from_utf8_lossy(rest).into_owned()),
        (b'R', Err(_)) => Outcome::BothReject(String::from_utf8_lossy(rest).into_owned()),
        (b'R', Ok(d)) => {
            let why = String::from_utf8_lossy(rest).into_owned();
            if why.starts_with("TypeError: memoryview: a bytes-like object is required, not ")
                && (why.ends_with("'GlobalMeta'") || why.ends_with("'ObjMeta'"))
            {
                return accepted("readonly-buffer-stand-in");
            }
            panic!(
                "pickleproof accepts ({config:?}) what CPython rejects with {why}\n\
                 pickleproof: {}",
                short(&json::to_json(&d.graph, d.root))
            );
        }
        (b'A', Err(e)) => {
            let (graph, root) = read_flat(rest);
            panic!(
                "pickleproof rejects ({config:?}) with {e} what CPython accepts\n\
                 CPython: {}",
                short(&json::to_json(&graph, root))
            );
        }
        (b'A', Ok(d)) => {
            let (graph, root) = read_flat(rest);
            match compare(&d.graph, d.root, &graph, root, config.raw) {
                Ok(None) => Outcome::BothAccept,
                Ok(Some(id)) => accepted(id),
                Err(why) => panic!(
                    "pickleproof and CPython build different values ({config:?}): {why}\n\
                     pickleproof: {}\nCPython:     {}",
                    short(&json::to_json(&d.graph, d.root)),
                    short(&json::to_json(&graph, root))
                ),
            }
        }
        (other, _) => panic!("the embedded module returned tag {other:#04x}"),
    }
}

/// The first 4000 characters of a value's JSON for a panic message; all of it when
/// `PICKLEPROOF_FULL_VALUES` is set (to compare the two sides of a finding whole).
fn short(text: &str) -> &str {
    if std::env::var_os("PICKLEPROOF_FULL_VALUES").is_some() {
        return text;
    }
    match text.char_indices().nth(4000) {
        Some((cut, _)) => &text[..cut],
        None => text,
    }
}

/// Whether this build can run the target: the interpreter starts and the embedded
/// module loads. (It always can when the feature built; tests use it to say why they
/// would be skipped.)
pub fn available() -> bool {
    Python::with_gil(|py| module(py).is_ok())
}

static MODULE: GILOnceCell<Py<PyModule>> = GILOnceCell::new();

fn module(py: Python<'_>) -> PyResult<&Py<PyModule>> {
    MODULE.get_or_try_init(py, || {
        let code = CString::new(SOURCE)?;
        let module = PyModule::from_code(
            py,
            &code,
            c"pickleproof/src/harness/cpython.py",
            c"pickleproof_cpython",
        )?;
        Ok(module.unbind())
    })
}

/// The embedded module's `run(data, raw, encoding, buffers)`: the tagged bytes.
fn python_load(data: &[u8], config: Config) -> Vec<u8> {
    Python::with_gil(|py| {
        let result = module(py).and_then(|m| {
            let run = m.bind(py).getattr("run")?;
            let args = (
                PyBytes::new(py, data),
                config.raw,
                config.python_encoding(),
                config.buffers,
            );
            let out = run.call1(args)?;
            Ok(out.downcast::<PyBytes>()?.as_bytes().to_vec())
        });
        match result {
            Ok(bytes) => bytes,
            Err(e) => panic!("the embedded CPython module failed: {e}"),
        }
    })
}

// =====================================================================================
// The flat format (see `_flatten` in cpython.py) into a Graph
// =====================================================================================

struct Flat<'d> {
    data: &'d [u8],
}

impl<'d> Flat<'d> {
    fn take(&mut self, n: usize) -> &'d [u8] {
        assert!(n <= self.data.len(), "flat format cut short");
        let (head, rest) = self.data.split_at(n);
        self.data = rest;
        head
    }
    fn u8(&mut self) -> u8 {
        self.take(1)[0]
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.take(4).try_into().unwrap())
    }
    fn u64(&mut self) -> u64 {
        u64::from_le_bytes(self.take(8).try_into().unwrap())
    }
    fn blob(&mut self) -> &'d [u8] {
        let n = self.u32() as usize;
        self.take(n)
    }
    fn refs(&mut self) -> Vec<u32> {
        let n = self.u32();
        (0..n).map(|_| self.u32()).collect()
    }
    fn pairs(&mut self) -> Vec<(u32, u32)> {
        let n = self.u32();
        (0..n).map(|_| (self.u32(), self.u32())).collect()
    }
}

/// One node as read, children still as flat indices.
enum Parsed<'d> {
    Leaf(NodeData<'static>),
    Str(&'d [u8]),
    Bytes(&'d [u8]),
    ByteArray(&'d [u8]),
    Tuple(Vec<u32>),
    List(Vec<u32>),
    Dict(Vec<(u32, u32)>),
    Set(Vec<u32>),
    FrozenSet(Vec<u32>),
    Global(&'d [u8], &'d [u8]),
    PersId(u32),
    Object {
        new: bool,
        callable: u32,
        args: u32,
        kwargs: u32,
        state: Vec<u32>,
        listitems: Vec<u32>,
        additems: Vec<u32>,
        dictitems: Vec<(u32, u32)>,
    },
}

fn utf8(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// CPython's result as a graph: calls become objects with op `Reduce` (a call) or
/// `NewObjEx` (`__new__`, kwargs always a dict).
fn read_flat(bytes: &[u8]) -> (Graph<'static>, NodeId) {
    let mut f = Flat { data: bytes };
    let root = f.u32();
    let mut parsed = Vec::new();
    while !f.data.is_empty() {
        let node = match f.u8() {
            0 => Parsed::Leaf(NodeData::None),
            1 => Parsed::Leaf(NodeData::Bool(false)),
            2 => Parsed::Leaf(NodeData::Bool(true)),
            3 => Parsed::Leaf(match BigInt::from_signed_le(f.blob()) {
                IntValue::Small(i) => NodeData::Int(i),
                IntValue::Big(b) => NodeData::BigInt(Box::new(b)),
            }),
            4 => Parsed::Leaf(NodeData::Float(f64::from_le_bytes(
                f.take(8).try_into().unwrap(),
            ))),
            5 => Parsed::Str(f.blob()),
            6 => Parsed::Bytes(f.blob()),
            7 => Parsed::ByteArray(f.blob()),
            8 => Parsed::Tuple(f.refs()),
            9 => Parsed::List(f.refs()),
            10 => Parsed::Dict(f.pairs()),
            11 => Parsed::Set(f.refs()),
            12 => Parsed::FrozenSet(f.refs()),
            13 => Parsed::Global(f.blob(), f.blob()),
            14 => Parsed::Object {
                new: f.u8() == 1,
                callable: f.u32(),
                args: f.u32(),
                kwargs: f.u32(),
                state: f.refs(),
                listitems: f.refs(),
                additems: f.refs(),
                dictitems: f.pairs(),
            },
            15 => Parsed::Leaf(NodeData::Ext(f.u32())),
            16 => Parsed::Leaf(NodeData::Buffer {
                index: f.u64(),
                readonly: f.u8() == 1,
            }),
            17 => Parsed::PersId(f.u32()),
            tag => panic!("flat format: unknown tag {tag}"),
        };
        parsed.push(node);
    }
    // Ids first (ints and floats go to their tables, everything else takes an arena
    // slot that is filled once every id is known: children may point forward).
    let mut graph = Graph::new();
    let mut ids = Vec::with_capacity(parsed.len());
    for node in &parsed {
        let id = match node {
            Parsed::Leaf(NodeData::Int(i)) => graph.add(NodeData::Int(*i)),
            Parsed::Leaf(NodeData::Float(x)) => graph.add(NodeData::Float(*x)),
            _ => graph.add(NodeData::None),
        };
        ids.push(id.expect("graph full"));
    }
    let id = |i: &u32| ids[*i as usize];
    let list = |v: &[u32]| v.iter().map(id).collect::<Vec<_>>();
    for (at, node) in parsed.into_iter().enumerate() {
        let data = match node {
            Parsed::Leaf(NodeData::Int(_) | NodeData::Float(_)) => continue,
            Parsed::Leaf(leaf) => leaf,
            Parsed::Str(s) => NodeData::Str(s.to_vec().into()),
            Parsed::Bytes(b) => NodeData::Bytes(b.to_vec().into()),
            Parsed::ByteArray(b) => NodeData::ByteArray(b.to_vec().into()),
            Parsed::Tuple(v) => NodeData::Tuple(list(&v)),
            Parsed::List(v) => NodeData::List(list(&v)),
            Parsed::Set(v) => NodeData::Set(list(&v)),
            Parsed::FrozenSet(v) => NodeData::FrozenSet(list(&v)),
            Parsed::Dict(pairs) => {
                NodeData::Dict(pairs.iter().map(|(k, v)| (id(k), id(v))).collect())
            }
            Parsed::Global(module, name) => NodeData::Global(Box::new(Global {
                module: utf8(module),
                name: utf8(name),
            })),
            Parsed::PersId(pid) => NodeData::PersId(id(&pid)),
            Parsed::Object {
                new,
                callable,
                args,
                kwargs,
                state,
                listitems,
                additems,
                dictitems,
            } => {
                let op = if new {
                    CallOp::NewObjEx
                } else {
                    CallOp::Reduce
                };
                let mut obj = Object::new(op, id(&callable), id(&args), Some(id(&kwargs)));
                obj.state = list(&state);
                obj.listitems = list(&listitems);
                obj.additems = list(&additems);
                obj.dictitems = dictitems.iter().map(|(k, v)| (id(k), id(v))).collect();
                NodeData::Object(Box::new(obj))
            }
        };
        *graph.get_mut(ids[at]).expect("arena slot") = data;
    }
    (graph, ids[root as usize])
}

// =====================================================================================
// Comparison
// =====================================================================================

/// What a stand-in can observe of a call: `cls(*args)` or `cls.__new__(cls, ...)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CallKind {
    Call,
    New,
}

/// The call kind of a pickleproof object (see `instantiate` in `_pickle.c`: INST and
/// OBJ without arguments call `cls.__new__(cls)` when `cls` is a class, which every
/// stand-in is).
fn call_kind(graph: &Graph<'_>, obj: &Object) -> CallKind {
    match obj.op {
        CallOp::Reduce => CallKind::Call,
        CallOp::NewObj | CallOp::NewObjEx => CallKind::New,
        CallOp::Inst | CallOp::Obj => match graph.get(obj.args) {
            Some(Node::Tuple([])) => CallKind::New,
            _ => CallKind::Call,
        },
    }
}

/// An int's value as minimal signed little-endian bytes, whichever node holds it.
fn int_bytes(node: Node<'_>) -> Option<Vec<u8>> {
    match node {
        Node::Int(i) => match BigInt::from_signed_le(&i.to_le_bytes()) {
            IntValue::Small(_) => Some(minimal_le(i)),
            IntValue::Big(b) => Some(b.to_signed_le()),
        },
        Node::BigInt(b) => Some(b.to_signed_le()),
        _ => None,
    }
}

fn minimal_le(value: i64) -> Vec<u8> {
    let mut bytes = value.to_le_bytes().to_vec();
    while bytes.len() > 1 {
        let last = bytes[bytes.len() - 1];
        let prev = bytes[bytes.len() - 2];
        if (last == 0 && prev & 0x80 == 0) || (last == 0xff && prev & 0x80 != 0) {
            bytes.pop();
        } else {
            break;
        }
    }
    bytes
}

/// Is `id` in `graph` a global naming one of the reconstructors pickleproof folds?
fn is_reconstructor(graph: &Graph<'_>, id: NodeId) -> bool {
    match graph.get(id) {
        Some(Node::Global(g)) => RECONSTRUCTORS
            .iter()
            .any(|(m, n)| g.module == *m && g.name == *n),
        _ => false,
    }
}

/// Identity-free digests of values, to pair up set items (a set's order differs
/// between the two sides): immutable values (tuples, frozensets, scalars, strings) are
/// digested in full, once per node; a node with identity (list, dict, set, bytearray,
/// object) only by its kind, length and, for an object, its call kind and callable,
/// so no cycle is ever followed. Items whose digests tie are told apart by
/// [`Matcher`] with the correspondence found elsewhere in the graph.
struct Digests<'g, 'a> {
    graph: &'g Graph<'a>,
    memo: HashMap<NodeId, u64>,
    fine_memo: HashMap<NodeId, u64>,
    /// How many references each node reached from the root has (see [`Digests::sharing`]).
    references: HashMap<NodeId, u32>,
    sharing_memo: HashMap<NodeId, u64>,
}

impl<'g, 'a> Digests<'g, 'a> {
    fn new(graph: &'g Graph<'a>) -> Self {
        Digests {
            graph,
            memo: HashMap::new(),
            fine_memo: HashMap::new(),
            references: HashMap::new(),
            sharing_memo: HashMap::new(),
        }
    }

    /// Counts the references to every node reached from `root`.
    fn count_references(&mut self, root: NodeId) {
        let mut todo = vec![root];
        let mut seen = HashSet::new();
        while let Some(id) = todo.pop() {
            if !seen.insert(id) {
                continue;
            }
            if let Some(node) = self.graph.get(id) {
                for child in node.children() {
                    *self.references.entry(child).or_insert(0) += 1;
                    todo.push(child);
                }
            }
        }
    }

    /// How a value's parts are shared: the reference counts of the nodes it reaches
    /// through its immutable parts (tuples, persistent ids, frozensets, up to and
    /// including the first nodes with identity), sorted: a tuple held twice (DUP) and
    /// an equal one held once differ here. Splits ties
    /// ([`split_finer`]) and orders a tie's candidates ([`Matcher::passing`]) so the
    /// one whose objects are shared as the item's are is tried first; the counts can
    /// differ between two equal values (CPython copies NEWOBJ_EX's kwargs), so they
    /// never decide a pairing alone.
    fn sharing(&mut self, id: NodeId) -> u64 {
        use std::hash::{DefaultHasher, Hash, Hasher};
        if let Some(&d) = self.sharing_memo.get(&id) {
            return d;
        }
        let mut counts = Vec::new();
        let mut todo = vec![id];
        let mut seen = HashSet::new();
        while let Some(at) = todo.pop() {
            if !seen.insert(at) {
                continue;
            }
            let Some(node) = self.graph.get(at) else {
                continue;
            };
            // Scalars and empty values are left out: CPython shares one empty tuple
            // and small ints, pickleproof need not.
            if node.children().next().is_none() && !node.has_identity() {
                continue;
            }
            counts.push(self.references.get(&at).copied().unwrap_or(0));
            if !node.has_identity() {
                todo.extend(node.children());
            }
        }
        counts.sort_unstable();
        let mut h = DefaultHasher::new();
        counts.hash(&mut h);
        let d = h.finish();
        self.sharing_memo.insert(id, d);
        d
    }

    /// [`Digests::of`] refined with what it leaves out of an object: its callable's
    /// digest and its arguments' (a tuple made before the object, so still no cycle).
    /// Splits groups of set items tied on the coarse digest ([`split_finer`]).
    fn fine(&mut self, id: NodeId) -> u64 {
        use std::hash::{DefaultHasher, Hash, Hasher};
        if let Some(&d) = self.fine_memo.get(&id) {
            return d;
        }
        let mut h = DefaultHasher::new();
        self.of(id).hash(&mut h);
        match self.graph.get(id) {
            Some(Node::Object(obj)) => {
                self.fine(obj.callable).hash(&mut h);
                self.fine(obj.args).hash(&mut h);
            }
            Some(Node::Tuple(items)) => {
                for item in items {
                    self.fine(*item).hash(&mut h);
                }
            }
            Some(Node::FrozenSet(items)) => {
                let mut digests: Vec<u64> = items.iter().map(|i| self.fine(*i)).collect();
                digests.sort_unstable();
                digests.hash(&mut h);
            }
            Some(Node::PersId(pid)) => self.fine(pid).hash(&mut h),
            _ => {}
        }
        let d = h.finish();
        self.fine_memo.insert(id, d);
        d
    }

    /// Recursion is bounded by the nesting of immutable values (at most
    /// [`MAX_DEPTH`] here: deeper inputs are skipped).
    fn of(&mut self, id: NodeId) -> u64 {
        use std::hash::{DefaultHasher, Hash, Hasher};
        if let Some(&d) = self.memo.get(&id) {
            return d;
        }
        let mut h = DefaultHasher::new();
        let Some(node) = self.graph.get(id) else {
            return 0;
        };
        node.type_name().hash(&mut h);
        match node {
            Node::None => {}
            Node::Bool(b) => b.hash(&mut h),
            Node::Int(_) | Node::BigInt(_) => int_bytes(node).hash(&mut h),
            Node::Float(f) => f.to_bits().hash(&mut h),
            Node::Str(b) | Node::Bytes(b) => b.hash(&mut h),
            Node::Global(g) => (&g.module, &g.name).hash(&mut h),
            Node::Ext(code) => code.hash(&mut h),
            Node::Buffer { index, readonly } => (index, readonly).hash(&mut h),
            Node::PersId(pid) => self.of(pid).hash(&mut h),
            Node::Tuple(items) => {
                for item in items {
                    self.of(*item).hash(&mut h);
                }
            }
            Node::FrozenSet(items) => {
                let mut digests: Vec<u64> = items.iter().map(|i| self.of(*i)).collect();
                digests.sort_unstable();
                digests.hash(&mut h);
            }
            Node::Object(obj) => {
                (call_kind(self.graph, obj) as u8).hash(&mut h);
                if !self
                    .graph
                    .get(obj.callable)
                    .is_some_and(|n| n.has_identity())
                {
                    self.of(obj.callable).hash(&mut h);
                }
            }
            Node::ByteArray(b) => b.len().hash(&mut h),
            Node::List(v) | Node::Set(v) => v.len().hash(&mut h),
            Node::Dict(v) => v.len().hash(&mut h),
        }
        let d = h.finish();
        self.memo.insert(id, d);
        d
    }
}

/// An object's kwargs as dict items (none are no items); `None` when not a dict.
fn kwargs<'g>(graph: &'g Graph<'_>, id: Option<NodeId>) -> Option<&'g [(NodeId, NodeId)]> {
    match id.map(|i| graph.get(i)) {
        None => Some(&[]),
        Some(Some(Node::Dict(items))) => Some(items),
        Some(_) => None,
    }
}

/// Ties among set items larger than this are paired in digest order without trials
/// (each item is tried against the free candidates, each trial a copy of the state).
const MAX_TRIALS_GROUP: usize = 64;

/// Splits a group of set items tied on [`Digests::of`] by [`Digests::fine`], which
/// also sees objects' callables and arguments, and by [`Digests::sharing`]: the
/// smaller groups need fewer trials, and items that differ only there are paired
/// right (a frozenset of nine objects that differ only in their arguments, and one of
/// equal tuples of equal objects of which four are also held elsewhere, found by
/// 30-minute runs). When the finer groups do not match up on the two sides (a
/// difference these digests see that the comparison accepts: CPython copies kwargs,
/// which adds references), the split by `fine` alone is tried, then the whole group
/// is kept, in `fine` order.
fn split_finer(
    ours: &[NodeId],
    theirs: &[NodeId],
    pd: &mut Digests<'_, '_>,
    cd: &mut Digests<'_, '_>,
) -> Vec<(Vec<NodeId>, Vec<NodeId>)> {
    if ours.len() == 1 {
        return vec![(ours.to_vec(), theirs.to_vec())];
    }
    let both = |d: &mut Digests<'_, '_>, id: NodeId| (d.fine(id), d.sharing(id));
    let fine = |d: &mut Digests<'_, '_>, id: NodeId| (d.fine(id), 0);
    for key in [both, fine] {
        if let Some(split) = split_by(ours, theirs, pd, cd, key) {
            return split;
        }
    }
    let mut ours = ours.to_vec();
    let mut theirs = theirs.to_vec();
    ours.sort_by_cached_key(|u| pd.fine(*u));
    theirs.sort_by_cached_key(|v| cd.fine(*v));
    vec![(ours, theirs)]
}

/// The items grouped by `key`, when every group has as many items on each side.
fn split_by(
    ours: &[NodeId],
    theirs: &[NodeId],
    pd: &mut Digests<'_, '_>,
    cd: &mut Digests<'_, '_>,
    key: fn(&mut Digests<'_, '_>, NodeId) -> (u64, u64),
) -> Option<Vec<(Vec<NodeId>, Vec<NodeId>)>> {
    let mut ours: Vec<((u64, u64), NodeId)> = ours.iter().map(|u| (key(pd, *u), *u)).collect();
    let mut theirs: Vec<((u64, u64), NodeId)> = theirs.iter().map(|v| (key(cd, *v), *v)).collect();
    ours.sort_unstable();
    theirs.sort_unstable();
    let mut split: Vec<(Vec<NodeId>, Vec<NodeId>)> = Vec::new();
    let mut last = None;
    for ((ku, u), (kv, v)) in ours.iter().zip(&theirs) {
        if ku != kv {
            return None;
        }
        match split.last_mut() {
            Some((a, b)) if last == Some(*ku) => {
                a.push(*u);
                b.push(*v);
            }
            _ => split.push((vec![*u], vec![*v])),
        }
        last = Some(*ku);
    }
    Some(split)
}

/// Ties of set items still to pair: the items of one digest group on each side.
#[derive(Clone)]
struct Tie {
    /// The set's path and the group's label, for the items' paths.
    path: String,
    ours: Vec<NodeId>,
    theirs: Vec<NodeId>,
}

/// How many times, over one comparison, a tie that several candidates pass may be
/// tried with each of them in turn (the rest of the comparison run for each); beyond
/// it the first candidate that passes is kept.
const BRANCH_BUDGET: u32 = 256;

/// Ties decided by trying each candidate nest at most this deep (each level runs the
/// rest of the comparison inside the one above); deeper, the first candidate that
/// passes is kept.
const MAX_BRANCH_DEPTH: u32 = 64;

/// The comparison's state: the correspondence of nodes with identity, the pairs still
/// to compare, the set pairs left for after them, and the ties of set items left for
/// after every set (when the rest of the graph has fixed what it can of them).
#[derive(Clone)]
struct Matcher<'g, 'a, 'b> {
    p: &'g Graph<'a>,
    c: &'g Graph<'b>,
    raw: bool,
    p_to_c: HashMap<NodeId, NodeId>,
    c_to_p: HashMap<NodeId, NodeId>,
    done: HashSet<(NodeId, NodeId)>,
    todo: Vec<(NodeId, NodeId, String)>,
    sets: Vec<(NodeId, NodeId, String)>,
    ties: Vec<Tie>,
    /// Branches left ([`BRANCH_BUDGET`]), shared by every copy of the state.
    branches: std::rc::Rc<std::cell::Cell<u32>>,
    /// How many branches this state runs inside.
    depth: u32,
    met: Option<&'static str>,
}

/// Compares pickleproof's graph (`p`) with CPython's (`c`, from [`read_flat`]): the
/// same values, with the mutable kinds (list, dict, set, bytearray, object)
/// corresponding one to one (sharing and cycles), immutable ones by value. Objects
/// compare by call kind ([`ACCEPTED`] `call-opcode`), kwargs by value
/// (`kwargs-copied`). `Ok(Some(id))` when an accepted difference was met on the way
/// (the first one); `Err` describes the first real difference.
pub fn compare(
    p: &Graph<'_>,
    pr: NodeId,
    c: &Graph<'_>,
    cr: NodeId,
    raw: bool,
) -> Result<Option<&'static str>, String> {
    let mut m = Matcher {
        p,
        c,
        raw,
        p_to_c: HashMap::new(),
        c_to_p: HashMap::new(),
        done: HashSet::new(),
        todo: vec![(pr, cr, String::from("root"))],
        sets: Vec::new(),
        ties: Vec::new(),
        branches: std::rc::Rc::new(std::cell::Cell::new(BRANCH_BUDGET)),
        depth: 0,
        met: None,
    };
    let mut pd = Digests::new(p);
    let mut cd = Digests::new(c);
    pd.count_references(pr);
    cd.count_references(cr);
    m.run(&mut pd, &mut cd)?;
    Ok(m.met)
}

impl Matcher<'_, '_, '_> {
    /// Compares until nothing is left: pairs, then sets, then ties of set items.
    fn run(&mut self, pd: &mut Digests<'_, '_>, cd: &mut Digests<'_, '_>) -> Result<(), String> {
        loop {
            while let Some((x, y, path)) = self.todo.pop() {
                self.step(x, y, path)?;
            }
            if let Some((x, y, path)) = self.sets.pop() {
                self.pair_set(x, y, &path, pd, cd)?;
                continue;
            }
            let Some(mut tie) = self.ties.pop() else {
                return Ok(());
            };
            // One item of the tie against the candidates still free, in order.
            let Some(u) = tie.ours.pop() else {
                continue;
            };
            let item_path = format!("{}.{}", tie.path, tie.ours.len());
            // Candidates whose objects are shared as u's are first.
            let want = pd.sharing(u);
            let mut order: Vec<usize> = (0..tie.theirs.len()).collect();
            order.sort_by_cached_key(|at| {
                tie.theirs.get(*at).map_or(true, |v| cd.sharing(*v) != want)
            });
            let Some((at, first)) = self.passing(&tie, &order, u, 0, &item_path, pd, cd) else {
                return Err(format!("{item_path}: no item of CPython's set matches"));
            };
            let may_branch = self.branches.get() > 0 && self.depth < MAX_BRANCH_DEPTH;
            let mut later = if may_branch {
                self.passing(&tie, &order, u, at + 1, &item_path, pd, cd)
            } else {
                None
            };
            if later.is_none() {
                *self = first;
                continue;
            }
            // Several candidates pass: each is tried with the rest of the comparison,
            // the first that gets through is kept, else the first one's difference.
            let mut error = None;
            let mut branch = first;
            loop {
                self.branches.set(self.branches.get().saturating_sub(1));
                branch.depth = self.depth.saturating_add(1);
                match branch.run(pd, cd) {
                    Ok(()) => {
                        *self = branch;
                        return Ok(());
                    }
                    Err(e) => {
                        error.get_or_insert(e);
                    }
                }
                let Some((at, next)) = later.take() else {
                    break;
                };
                if self.branches.get() == 0 {
                    break;
                }
                branch = next;
                later = self.passing(&tie, &order, u, at + 1, &item_path, pd, cd);
            }
            return Err(error.unwrap_or_default());
        }
    }

    /// The first candidate of `tie`, from position `from` of `order` (indices into
    /// the tie's candidates) on, that item `u` passes against: its position and the
    /// state with the pair made (the candidate taken out of the tie, the tie put back
    /// when items are left).
    #[allow(clippy::too_many_arguments)]
    fn passing(
        &self,
        tie: &Tie,
        order: &[usize],
        u: NodeId,
        from: usize,
        item_path: &str,
        pd: &mut Digests<'_, '_>,
        cd: &mut Digests<'_, '_>,
    ) -> Option<(usize, Self)> {
        (from..order.len()).find_map(|pos| {
            let at = *order.get(pos)?;
            let v = tie.theirs.get(at).copied()?;
            // A trial that passed has compared everything it was given.
            let mut next = self.trial(u, v, item_path, pd, cd)?;
            next.ties.clone_from(&self.ties);
            let mut rest = tie.clone();
            rest.theirs.remove(at);
            if !rest.ours.is_empty() {
                next.ties.push(rest);
            }
            Some((pos, next))
        })
    }

    /// Pairs the items of two sets of equal length by digest. Items alone in their
    /// digest group (and the large groups, in [`Digests::fine`] order) are paired
    /// now; the other groups are ties, left for after every set, so the
    /// correspondence the rest of the graph fixes is known before any tie is tried
    /// (a tie tried first took a pairing a later item contradicted: a frozenset
    /// holding a tuple of an object next to two tied persistent ids, one of which
    /// holds the same tuple, found by a 25-minute run). A tie that several candidates
    /// pass is tried with each ([`BRANCH_BUDGET`]).
    fn pair_set(
        &mut self,
        x: NodeId,
        y: NodeId,
        path: &str,
        pd: &mut Digests<'_, '_>,
        cd: &mut Digests<'_, '_>,
    ) -> Result<(), String> {
        let (Some(Node::Set(a) | Node::FrozenSet(a)), Some(Node::Set(b) | Node::FrozenSet(b))) =
            (self.p.get(x), self.c.get(y))
        else {
            return Err(format!("{path}: not a set"));
        };
        let mut groups: HashMap<u64, (Vec<NodeId>, Vec<NodeId>)> = HashMap::new();
        for item in a {
            groups.entry(pd.of(*item)).or_default().0.push(*item);
        }
        for item in b {
            groups.entry(cd.of(*item)).or_default().1.push(*item);
        }
        let mut keys: Vec<u64> = groups.keys().copied().collect();
        keys.sort_unstable();
        for (g, key) in keys.iter().enumerate() {
            let (ours, theirs) = &groups[key];
            if ours.len() != theirs.len() {
                return Err(format!(
                    "{path}: set items differ ({} against {} items of one kind)",
                    ours.len(),
                    theirs.len()
                ));
            }
            for (s, (ours, theirs)) in split_finer(ours, theirs, pd, cd).into_iter().enumerate() {
                let label = format!("{g}.{s}");
                if ours.len() == 1 || ours.len() > MAX_TRIALS_GROUP {
                    for (i, (u, v)) in ours.iter().zip(&theirs).enumerate() {
                        self.todo.push((*u, *v, format!("{path}/item{label}.{i}")));
                    }
                } else {
                    self.ties.push(Tie {
                        path: format!("{path}/item{label}"),
                        ours,
                        theirs,
                    });
                }
            }
        }
        Ok(())
    }

    /// The state after comparing `u` with `v` (and everything under them, their sets
    /// included) on top of the correspondence found so far; `None` when they differ.
    fn trial(
        &self,
        u: NodeId,
        v: NodeId,
        item_path: &str,
        pd: &mut Digests<'_, '_>,
        cd: &mut Digests<'_, '_>,
    ) -> Option<Self> {
        let mut trial = self.clone();
        trial.todo = vec![(u, v, item_path.to_owned())];
        trial.sets = Vec::new();
        trial.ties = Vec::new();
        trial.run(pd, cd).is_ok().then_some(trial)
    }

    /// Compares one pair of nodes shallowly and queues their children.
    fn step(&mut self, x: NodeId, y: NodeId, path: String) -> Result<(), String> {
        let (p, c) = (self.p, self.c);
        let (Some(nx), Some(ny)) = (p.get(x), c.get(y)) else {
            return Err(format!("{path}: dangling id {x:?} / {y:?}"));
        };
        // INST/OBJ of a reconstructor: CPython built the value.
        if let (false, Node::Object(obj)) = (self.raw, nx) {
            let built = matches!(
                ny,
                Node::Set(_) | Node::FrozenSet(_) | Node::Bytes(_) | Node::ByteArray(_)
            );
            if built
                && matches!(obj.op, CallOp::Inst | CallOp::Obj)
                && is_reconstructor(p, obj.callable)
            {
                self.met.get_or_insert("inst-reconstructor");
                return Ok(());
            }
        }
        if nx.has_identity() || ny.has_identity() {
            match (self.p_to_c.get(&x), self.c_to_p.get(&y)) {
                (Some(&y2), _) if y2 == y => return Ok(()),
                (Some(&y2), _) => {
                    return Err(format!(
                        "{path}: pickleproof's {x:?} is CPython's {y2:?} elsewhere and {y:?} here"
                    ))
                }
                (None, Some(&x2)) => {
                    return Err(format!(
                        "{path}: CPython's {y:?} is pickleproof's {x2:?} elsewhere and {x:?} here"
                    ))
                }
                (None, None) => {
                    self.p_to_c.insert(x, y);
                    self.c_to_p.insert(y, x);
                }
            }
        } else if !self.done.insert((x, y)) {
            return Ok(());
        }
        let mut pairs: Vec<(NodeId, NodeId, String)> = Vec::new();
        // Paths name the child positions from the root, cut short on deep values.
        let named = path.len() < 200;
        let sub = |what: &str| {
            if named {
                format!("{path}/{what}")
            } else {
                path.clone()
            }
        };
        match (nx, ny) {
            (Node::None, Node::None) => {}
            (Node::Bool(a), Node::Bool(b)) if a == b => {}
            (Node::Int(_) | Node::BigInt(_), Node::Int(_) | Node::BigInt(_))
                if int_bytes(nx) == int_bytes(ny) => {}
            (Node::Float(a), Node::Float(b)) if a.to_bits() == b.to_bits() => {}
            (Node::Str(a), Node::Str(b))
            | (Node::Bytes(a), Node::Bytes(b))
            | (Node::ByteArray(a), Node::ByteArray(b))
                if a == b => {}
            (Node::Global(a), Node::Global(b)) if a == b => {}
            (Node::Ext(a), Node::Ext(b)) if a == b => {}
            (
                Node::Buffer {
                    index: i,
                    readonly: r,
                },
                Node::Buffer {
                    index: j,
                    readonly: s,
                },
            ) if i == j && r == s => {}
            (Node::PersId(a), Node::PersId(b)) => pairs.push((a, b, sub("pid"))),
            (Node::Tuple(a), Node::Tuple(b)) | (Node::List(a), Node::List(b))
                if a.len() == b.len() =>
            {
                for (i, (u, v)) in a.iter().zip(b).enumerate() {
                    pairs.push((*u, *v, sub(&i.to_string())));
                }
            }
            (Node::Dict(a), Node::Dict(b)) if a.len() == b.len() => {
                for (i, ((ku, vu), (kv, vv))) in a.iter().zip(b).enumerate() {
                    pairs.push((*ku, *kv, sub(&format!("key{i}"))));
                    pairs.push((*vu, *vv, sub(&format!("value{i}"))));
                }
            }
            (Node::Set(a), Node::Set(b)) | (Node::FrozenSet(a), Node::FrozenSet(b))
                if a.len() == b.len() =>
            {
                self.sets.push((x, y, path.clone()));
            }
            (Node::Object(a), Node::Object(b)) => {
                let (ka, kb) = (call_kind(p, a), call_kind(c, b));
                if ka != kb {
                    return Err(format!("{path}: a {ka:?} against a {kb:?}"));
                }
                let lens = |o: &Object| {
                    (
                        o.state.len(),
                        o.listitems.len(),
                        o.dictitems.len(),
                        o.additems.len(),
                    )
                };
                if lens(a) != lens(b) {
                    return Err(format!(
                        "{path}: state/listitems/dictitems/additems {:?} against {:?}",
                        lens(a),
                        lens(b)
                    ));
                }
                pairs.push((a.callable, b.callable, sub("callable")));
                pairs.push((a.args, b.args, sub("args")));
                for (i, (u, v)) in a.state.iter().zip(&b.state).enumerate() {
                    pairs.push((*u, *v, sub(&format!("state{i}"))));
                }
                for (i, (u, v)) in a.listitems.iter().zip(&b.listitems).enumerate() {
                    pairs.push((*u, *v, sub(&format!("listitem{i}"))));
                }
                for (i, ((ku, vu), (kv, vv))) in a.dictitems.iter().zip(&b.dictitems).enumerate() {
                    pairs.push((*ku, *kv, sub(&format!("dictkey{i}"))));
                    pairs.push((*vu, *vv, sub(&format!("dictvalue{i}"))));
                }
                for (i, (u, v)) in a.additems.iter().zip(&b.additems).enumerate() {
                    pairs.push((*u, *v, sub(&format!("additem{i}"))));
                }
                // kwargs: a copy on CPython's side, so by value, outside the identity
                // check; no kwargs is the same as empty ones.
                let (Some(kwa), Some(kwb)) = (kwargs(p, a.kwargs), kwargs(c, b.kwargs)) else {
                    return Err(format!("{path}: kwargs that are not a dict"));
                };
                if kwa.len() != kwb.len() {
                    return Err(format!(
                        "{path}: {} kwargs against {}",
                        kwa.len(),
                        kwb.len()
                    ));
                }
                for (i, ((ku, vu), (kv, vv))) in kwa.iter().zip(kwb).enumerate() {
                    pairs.push((*ku, *kv, sub(&format!("kwkey{i}"))));
                    pairs.push((*vu, *vv, sub(&format!("kwvalue{i}"))));
                }
            }
            _ => return Err(format!("{path}: {nx:?} against {ny:?}")),
        }
        // Depth-first in order: the first difference found is the first in the value.
        self.todo.extend(pairs.into_iter().rev());
        Ok(())
    }
}
