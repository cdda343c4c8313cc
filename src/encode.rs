//! Graph → pickle bytes, for every protocol (0–5).
//!
//! The encoder is the decoder's mirror, used by the roundtrip properties and the fuzz
//! harness: for a graph the decoder could have produced, decoding
//! `encode(graph, root, p)` gives back an isomorphic graph — same shape, same sharing
//! (a node reached twice decodes to one node reached twice), same cycles — and CPython's
//! `pickle.loads` accepts the bytes when the graph is plain data.
//!
//! ```
//! use pickleproof::encode::encode;
//! use pickleproof::{Graph, NodeData};
//!
//! let mut g = Graph::new();
//! let one = g.add(NodeData::Int(1)).unwrap();
//! let two = g.add(NodeData::Int(2)).unwrap();
//! let list = g.add(NodeData::List(vec![one, two])).unwrap();
//! // Byte for byte what CPython's `pickle.dumps([1, 2], protocol=2)` writes.
//! assert_eq!(encode(&g, list, 2)?, b"\x80\x02]q\x00(K\x01K\x02e.");
//! # Ok::<(), pickleproof::encode::EncodeError>(())
//! ```
//!
//! # What it writes
//!
//! The opcodes CPython's C pickler (`Modules/_pickle.c`, what `pickle.dumps` runs)
//! chooses for each kind of value at each protocol, in the same order, with the same
//! memo indices, batches of 1000 and 64 KiB frames — so for plain data the output is
//! byte-identical to `pickle.dumps(value, protocol)` as long as the graph shares
//! exactly what Python shares (see the tests for the literals):
//! - `None`; bools as `I01\n`/`I00\n` below 2, NEWTRUE/NEWFALSE from 2;
//! - ints: `I…\n` (protocol 0) or BININT1/BININT2/BININT when they fit in 32 bits,
//!   else `L…L\n` below 2 and LONG1/LONG4 (minimal two's complement) from 2;
//! - floats: `F` + Python's `repr` at 0, BINFLOAT from 1 (a NaN with the sign bit set
//!   is `F-nan` at 0, which reads back bit for bit; CPython writes `Fnan`);
//! - str: UNICODE with raw-unicode-escape at 0, else BINUNICODE (SHORT_BINUNICODE and
//!   BINUNICODE8 from 4), the generalized UTF-8 bytes as they are (`surrogatepass`);
//! - bytes: `_codecs.encode(latin-1 text, 'latin1')` (`__builtin__.bytes()` when
//!   empty) below 3, SHORT_BINBYTES/BINBYTES(8) from 3; bytearray: `bytearray(bytes)`
//!   below 5, BYTEARRAY8 at 5; set/frozenset: `set([…])`/`frozenset([…])` below 4,
//!   EMPTY_SET + ADDITEMS / MARK … FROZENSET from 4 (the decoder folds these calls
//!   back into values);
//! - tuples, lists, dicts as CPython (TUPLE1–3 from 2, APPENDS/SETITEMS from 1, the
//!   single-item APPEND/SETITEM, and the empty `MARK SETITEMS`/`MARK ADDITEMS` batch
//!   CPython writes after a dict or set whose size is a multiple of 1000);
//! - globals: GLOBAL `module\nname\n` below 4 (through Python 2 names below 3, as
//!   CPython's `fix_imports`), STACK_GLOBAL with two memoized strings from 4. Names
//!   are UTF-8 at every protocol: CPython's pickler refuses non-ASCII names below 3,
//!   but its unpickler reads them, and so does the decoder;
//! - calls as their op says (REDUCE, NEWOBJ, NEWOBJ_EX, INST, OBJ — INST and OBJ at
//!   any protocol, so the op survives), then APPEND(S) of the list items, SETITEM(S)
//!   of the dict items, ADDITEMS of the added items and one BUILD per state;
//! - EXT1/2/4, NEXT_BUFFER (+ READONLY_BUFFER), BINPERSID after the pid, or PERSID
//!   at protocol 0.
//!
//! # Sharing, memo and cycles
//!
//! Every node CPython would memoize (str, bytes, non-empty tuple, list, dict, set,
//! frozenset, bytearray, global, object) gets a memo PUT (MEMOIZE from 4) when first
//! written, and every later occurrence is a GET. Nodes CPython never memoizes (ints,
//! floats, the empty tuple, extension codes, persistent ids) are memoized only when the
//! graph reaches them more than once, so sharing survives; `None`, `True` and `False`
//! are never memoized (singletons), nor are ints within ±2^30, which the decoder
//! writes into their ids ([`NodeId::int`](crate::NodeId::int): no node to share).
//! Buffer
//! placeholders are always memoized, so that each is written once and the decoder
//! numbers them as the graph does. Output is therefore linear in the size of the
//! graph, memo bombs included.
//!
//! Lists, dicts, sets (from protocol 4) and objects are memoized before their items, so
//! a cycle through them closes with a GET. Tuples, frozensets, calls (until their
//! opcode) and persistent ids can only be memoized after their children; when one is
//! reached again while its children are being written (`t = ([t],)`), it is written
//! once more, completely, and the outer copy is thrown away (POP / POP_MARK) and
//! replaced by a GET — CPython's `save_tuple` trick. Inside such a nested copy,
//! containers met for the first time are written empty and memoized, and filled right
//! after the copy is done (GET, items, POP): CPython would recurse into them, which
//! makes its output quadratic on graphs like `t = ([t], [t], …)`; this keeps it linear.
//! Nothing recurses: all of it runs on an explicit stack.
//!
//! # Framing
//!
//! From protocol 4, frames are cut like CPython's C pickler: a frame is opened by the
//! first write, closed at the start of the next value once it holds 64 KiB or more,
//! dropped when it ends up shorter than 4 bytes, and a str/bytes payload of 64 KiB or
//! more is written outside any frame. [`Encoder::framing`] turns framing off.
//!
//! # What cannot be encoded
//!
//! [`EncodeError::NotRepresentable`] names the shape and the protocol. By protocol:
//! - any: a str that is not generalized UTF-8; a cycle that passes only through
//!   tuples, frozensets, call arguments and persistent ids (no stream can build it);
//!   INST with a callable that is not a global or with a name that is not ASCII, empty
//!   or holds a newline; an INST or OBJ whose arguments tuple (or INST global) is also
//!   referenced elsewhere (those are written inline, so the sharing could not survive);
//!   call arguments that are not a tuple, NEWOBJ_EX keyword arguments that are not a
//!   dict, a callable that is a plain value; a REDUCE that the decoder would fold
//!   into a built-in value (`builtins.set([...])` and the other reconstructors);
//!   extension code 0 or above 2^31 − 1 (CPython rejects them); buffer placeholders
//!   that are not numbered in the order the stream meets them;
//! - below 5: buffer placeholders; below 4: ADDITEMS on an object, NEWOBJ_EX (unless
//!   [`Encoder::call_fallbacks`]), an empty global name or one holding a newline;
//!   1 to 3: a str of 4 GiB or more; 3: bytes of 4 GiB or more; 1 and 2: bytes of
//!   2 GiB or more (their latin-1 text is a BINUNICODE); below 3: a global name that
//!   the Python 2 → 3 mapping of the decoder would change whichever way it is written
//!   (e.g. `__builtin__.x`); below 2: NEWOBJ (unless [`Encoder::call_fallbacks`]),
//!   extension codes;
//! - 0: a persistent id that is not an ASCII str without newline, or whose str is also
//!   referenced elsewhere (PERSID writes it as a line); a NaN other than the two that
//!   `float('nan')` and `float('-nan')` give (FLOAT writes text).
//!
//! In [`Encoder::raw`] mode, sets and frozensets below 4, bytes below 3 and bytearrays
//! below 5 are not representable either (the raw decoder does not fold the calls that
//! would describe them).

// The encoder runs on graphs decoded from untrusted input (roundtrip properties, the
// fuzz harness), so it holds itself to the decoder's rules: no panic path at all.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

use std::collections::HashMap;
use std::fmt;

use crate::decode::compat;
use crate::decode::opcode::{Opcode, HIGHEST_PROTOCOL};
use crate::graph::{CallOp, Graph, Node, NodeId, Object};
use crate::pyfmt;

/// Why a graph could not be encoded.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EncodeError {
    /// The protocol is above 5.
    UnsupportedProtocol(u8),
    /// No stream of this protocol describes `node` so that the decoder gives it back
    /// unchanged (see the module docs for the list).
    NotRepresentable {
        /// The shape that cannot be written.
        what: &'static str,
        /// The protocol asked for.
        protocol: u8,
        /// The node where it was found.
        node: NodeId,
    },
    /// An id with no node in the graph (the root, or a child of a reachable node).
    DanglingId(NodeId),
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::UnsupportedProtocol(p) => {
                write!(f, "pickle protocol {p} is not supported (0 to 5 are)")
            }
            EncodeError::NotRepresentable {
                what,
                protocol,
                node,
            } => write!(
                f,
                "cannot encode {what} at protocol {protocol} (node {})",
                node.index()
            ),
            EncodeError::DanglingId(id) => {
                write!(f, "node id {} is not in the graph", id.index())
            }
        }
    }
}

impl std::error::Error for EncodeError {}

/// Graph → pickle bytes with CPython's choices at `protocol` (0–5); see the module
/// docs. The same as `Encoder::new(protocol).encode(graph, root)`.
pub fn encode(graph: &Graph<'_>, root: NodeId, protocol: u8) -> Result<Vec<u8>, EncodeError> {
    Encoder::new(protocol).encode(graph, root)
}

/// Encoding options. The defaults give what CPython writes and the decoder reads back
/// unchanged at the value level.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Encoder {
    protocol: u8,
    framing: bool,
    raw: bool,
    call_fallbacks: bool,
}

impl Encoder {
    /// Protocol `protocol`, CPython framing, value-level graph, no lossy fallbacks.
    pub fn new(protocol: u8) -> Encoder {
        Encoder {
            protocol,
            framing: true,
            raw: false,
            call_fallbacks: false,
        }
    }

    /// FRAME opcodes at protocols 4 and 5 as CPython cuts them (default `true`).
    /// Frames are optional for readers; turning them off only changes the bytes.
    pub fn framing(mut self, on: bool) -> Encoder {
        self.framing = on;
        self
    }

    /// The graph is at the stream level (`Decoder::raw(true)`): global names are
    /// written as they are (no Python 2 names below protocol 3), and no value needs a
    /// reconstructor call, because the raw decoder would not fold it back (default
    /// `false`).
    pub fn raw(mut self, on: bool) -> Encoder {
        self.raw = on;
        self
    }

    /// Write NEWOBJ below protocol 2 as `copyreg.__newobj__(cls, *args)` and NEWOBJ_EX
    /// below 4 as `copyreg.__newobj_ex__(cls, args, kwargs)`, both with REDUCE — what
    /// CPython's pickler writes for such objects, same meaning, and CPython loads it —
    /// instead of refusing them (default `false`). The decoded graph then holds a
    /// REDUCE call of that copyreg function, not the original op.
    pub fn call_fallbacks(mut self, on: bool) -> Encoder {
        self.call_fallbacks = on;
        self
    }

    /// Graph → pickle bytes; see the module docs.
    pub fn encode(&self, graph: &Graph<'_>, root: NodeId) -> Result<Vec<u8>, EncodeError> {
        if self.protocol > HIGHEST_PROTOCOL {
            return Err(EncodeError::UnsupportedProtocol(self.protocol));
        }
        let refs = count_refs(graph, root)?;
        let mut state = State {
            graph,
            proto: self.protocol,
            raw: self.raw,
            call_fallbacks: self.call_fallbacks,
            out: Out::default(),
            memo: vec![NO_MEMO; refs.len()],
            active: vec![IDLE; refs.len()],
            refs,
            memo_len: 0,
            synth_globals: HashMap::new(),
            synth_strs: HashMap::new(),
            region: None,
            next_buffer: 0,
            stack: Vec::new(),
        };
        if state.proto >= 2 {
            state.out.bytes(&[Opcode::Proto.byte(), state.proto]);
        }
        state.out.framing = self.framing && state.proto >= 4;
        state.visit(root)?;
        while let Some(frame) = state.stack.pop() {
            state.step(frame)?;
        }
        state.out.op(Opcode::Stop);
        state.out.commit();
        Ok(state.out.buf)
    }
}

/// Items per MARK … APPENDS/SETITEMS/ADDITEMS batch (CPython's `BATCHSIZE`).
const BATCH: usize = 1000;
/// CPython closes a frame at the next value once it holds this many bytes, and writes
/// payloads of this size or more outside frames.
const FRAME_TARGET: usize = 64 * 1024;
/// Frames shorter than this lose their header (CPython's `FRAME_SIZE_MIN`).
const FRAME_MIN: usize = 4;
/// FRAME opcode + 8-byte length.
const FRAME_HEADER: usize = 9;
/// The memo slot of a node that has no memo entry yet.
const NO_MEMO: u32 = u32::MAX;
/// The largest length BINUNICODE/BINBYTES can declare.
const U32_LEN: usize = u32::MAX as usize;

/// A node not being written.
const IDLE: u8 = 0;
/// A node whose children are being written, outside any nested copy.
const NORMAL: u8 = 1;
/// A node whose children are being written inside a nested copy (see [`State::region`]).
const NESTED: u8 = 2;

/// The output buffer and CPython's framer (`_Pickler_Write`, `_Pickler_CommitFrame`,
/// `_Pickler_OpcodeBoundary`, `_Pickler_write_bytes`).
#[derive(Default)]
struct Out {
    buf: Vec<u8>,
    framing: bool,
    /// Where the open frame's header sits.
    frame_start: Option<usize>,
}

impl Out {
    /// Every write opens a frame when framing is on and none is open.
    fn open_frame(&mut self) {
        if self.framing && self.frame_start.is_none() {
            self.frame_start = Some(self.buf.len());
            self.buf.extend_from_slice(&[0; FRAME_HEADER]);
        }
    }

    fn bytes(&mut self, bytes: &[u8]) {
        self.open_frame();
        self.buf.extend_from_slice(bytes);
    }

    fn op(&mut self, op: Opcode) {
        self.bytes(&[op.byte()]);
    }

    fn op_arg(&mut self, op: Opcode, arg: &[u8]) {
        self.op(op);
        self.buf.extend_from_slice(arg);
    }

    /// A text opcode: the opcode, its argument, a newline.
    fn line(&mut self, op: Opcode, text: &[u8]) {
        self.op_arg(op, text);
        self.buf.push(b'\n');
    }

    /// A str/bytes payload: outside any frame when it is 64 KiB or more.
    fn payload(&mut self, header: &[u8], data: &[u8]) {
        if self.framing && data.len() >= FRAME_TARGET {
            self.commit();
            self.buf.extend_from_slice(header);
            self.buf.extend_from_slice(data);
        } else {
            self.bytes(header);
            self.buf.extend_from_slice(data);
        }
    }

    /// Called where CPython's `save()` starts: closes a frame that is big enough.
    fn boundary(&mut self) {
        if let Some(start) = self.frame_start {
            if self.frame_len(start) >= FRAME_TARGET {
                self.commit();
            }
        }
    }

    fn frame_len(&self, start: usize) -> usize {
        self.buf
            .len()
            .saturating_sub(start)
            .saturating_sub(FRAME_HEADER)
    }

    /// Closes the open frame: writes its header, or removes it if the frame is tiny.
    fn commit(&mut self) {
        let Some(start) = self.frame_start.take() else {
            return;
        };
        let len = self.frame_len(start);
        if len >= FRAME_MIN {
            let mut header = [0u8; FRAME_HEADER];
            let fields = std::iter::once(Opcode::Frame.byte()).chain((len as u64).to_le_bytes());
            for (dst, src) in header.iter_mut().zip(fields) {
                *dst = src;
            }
            for (dst, src) in self.buf.iter_mut().skip(start).zip(header) {
                *dst = src;
            }
        } else {
            let tail = self
                .buf
                .get(start.saturating_add(FRAME_HEADER)..)
                .map(<[u8]>::to_vec)
                .unwrap_or_default();
            self.buf.truncate(start);
            self.buf.extend_from_slice(&tail);
        }
    }
}

/// How a call node is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Plan {
    /// callable, args, REDUCE.
    Reduce,
    /// cls, args, NEWOBJ.
    NewObj,
    /// cls, args, kwargs, NEWOBJ_EX.
    NewObjEx,
    /// MARK, the args, INST `module\nname\n`.
    Inst,
    /// MARK, callable, the args, OBJ.
    Obj,
    /// `copyreg.__newobj__`, MARK, cls, the args, TUPLE, REDUCE.
    NewObjViaCopyreg,
    /// `copyreg.__newobj_ex__`, cls, args, kwargs as a 3-tuple, REDUCE.
    NewObjExViaCopyreg,
}

/// What an object writes after it is memoized, in CPython's `save_reduce` order
/// (list items, dict items, then state; ADDITEMS has no CPython counterpart).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    ListItems,
    DictItems,
    AddItems,
    States,
}

/// One step of work on the explicit stack. Each variant is a node part-way through
/// being written; `pos` counts the children already started.
#[derive(Clone, Copy, Debug)]
enum Frame {
    /// A non-empty tuple (`marked`: MARK … TUPLE rather than TUPLE1–3).
    Tuple {
        id: NodeId,
        pos: usize,
        marked: bool,
        prev: u8,
    },
    /// MARK … FROZENSET (protocol 4+).
    FrozenSet { id: NodeId, pos: usize, prev: u8 },
    /// `set([…])` / `frozenset([…])` (below protocol 4): the items of the list.
    Rebuild { id: NodeId, pos: usize, prev: u8 },
    /// The items of a list, dict or set that is already memoized; `refill`: it was
    /// fetched with a GET and must be popped after.
    Fill {
        id: NodeId,
        pos: usize,
        refill: bool,
    },
    /// The callable and arguments of a call, up to its opcode.
    Call {
        id: NodeId,
        plan: Plan,
        pos: usize,
        prev: u8,
    },
    /// What follows a memoized object: items and states.
    ObjectFill {
        id: NodeId,
        stage: Stage,
        pos: usize,
        refill: bool,
    },
    /// BINPERSID once the pid is written.
    PersId { id: NodeId, prev: u8 },
    /// A container or object written empty inside a nested copy: GET it, fill it, POP.
    Refill(NodeId),
    /// A nested copy is complete: fill what it left empty.
    RegionEnd,
}

/// How the items of a container are batched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Batch {
    /// `list` (C `batch_list_exact`): one item → APPEND; else MARK … APPENDS per 1000.
    ListExact,
    /// `dict` (C `batch_dict_exact`): one pair → SETITEM; else MARK … SETITEMS per
    /// 1000, and an empty batch after a full last one.
    DictExact,
    /// `set` (C `save_set`): MARK … ADDITEMS per 1000, and an empty batch after a full
    /// last one.
    SetExact,
    /// Object list items (C `batch_list`): a last batch of one item is APPEND.
    ObjList,
    /// Object dict items (C `batch_dict`): a last batch of one pair is SETITEM.
    ObjDict,
    /// Object added items: MARK … ADDITEMS per 1000.
    ObjAdd,
    /// Protocol 0: APPEND after each item.
    TextList,
    /// Protocol 0: SETITEM after each pair.
    TextDict,
}

struct BatchShape {
    /// Elements per unit (2 for key/value pairs).
    per: usize,
    multi: Opcode,
    single: Option<Opcode>,
    /// A container of exactly one unit uses `single` (the exact kinds).
    whole_one: bool,
    /// A last batch of one unit uses `single` (the object kinds).
    last_one: bool,
    /// A full last batch is followed by an empty MARK + `multi`.
    empty_after_full: bool,
    /// Protocol 0: `single` after every unit, no marks.
    text: bool,
}

impl Batch {
    fn shape(self) -> BatchShape {
        let base = BatchShape {
            per: 1,
            multi: Opcode::Appends,
            single: Some(Opcode::Append),
            whole_one: false,
            last_one: false,
            empty_after_full: false,
            text: false,
        };
        match self {
            Batch::ListExact => BatchShape {
                whole_one: true,
                ..base
            },
            Batch::DictExact => BatchShape {
                per: 2,
                multi: Opcode::SetItems,
                single: Some(Opcode::SetItem),
                whole_one: true,
                empty_after_full: true,
                ..base
            },
            Batch::SetExact => BatchShape {
                multi: Opcode::AddItems,
                single: None,
                empty_after_full: true,
                ..base
            },
            Batch::ObjList => BatchShape {
                last_one: true,
                ..base
            },
            Batch::ObjDict => BatchShape {
                per: 2,
                multi: Opcode::SetItems,
                single: Some(Opcode::SetItem),
                last_one: true,
                ..base
            },
            Batch::ObjAdd => BatchShape {
                multi: Opcode::AddItems,
                single: None,
                ..base
            },
            Batch::TextList => BatchShape { text: true, ..base },
            Batch::TextDict => BatchShape {
                per: 2,
                multi: Opcode::SetItems,
                single: Some(Opcode::SetItem),
                text: true,
                ..base
            },
        }
    }
}

/// One encoding run.
struct State<'g, 'a> {
    graph: &'g Graph<'a>,
    proto: u8,
    raw: bool,
    call_fallbacks: bool,
    out: Out,
    /// Per node: how many edges of the reachable graph lead to it (saturating at 2).
    refs: Vec<u8>,
    /// Per node: its memo index, or [`NO_MEMO`].
    memo: Vec<u32>,
    /// Per node: [`IDLE`], [`NORMAL`] or [`NESTED`].
    active: Vec<u8>,
    /// Memo entries written so far (the next index).
    memo_len: u32,
    /// Memo indices of the globals the encoder writes itself (`builtins.set`, …).
    synth_globals: HashMap<(&'static str, &'static str), u32>,
    /// Memo indices of the strs the encoder writes itself (global names, `'latin1'`).
    synth_strs: HashMap<Vec<u8>, u32>,
    /// While a nested copy is being written (a node reached again before it could be
    /// memoized): the containers and objects it wrote empty, to fill when it is done.
    region: Option<Vec<NodeId>>,
    /// The index the decoder gives the next NEXT_BUFFER.
    next_buffer: u64,
    stack: Vec<Frame>,
}

/// Counts the edges into every node reachable from `root` (saturating at 2), and
/// checks that every id on the way is in the graph. Iterative: any depth, any cycle.
fn count_refs(graph: &Graph<'_>, root: NodeId) -> Result<Vec<u8>, EncodeError> {
    if graph.get(root).is_none() {
        return Err(EncodeError::DanglingId(root));
    }
    let mut refs = vec![0u8; graph.len()];
    if let Some(slot) = graph.slot(root).and_then(|i| refs.get_mut(i)) {
        *slot = 1;
    }
    let mut todo = vec![root];
    while let Some(id) = todo.pop() {
        let node = graph.get(id).ok_or(EncodeError::DanglingId(id))?;
        for child in node.children() {
            if child.as_int().is_some() {
                continue; // an inline int: no node, nothing to share or memoize
            }
            let slot = graph
                .slot(child)
                .and_then(|i| refs.get_mut(i))
                .ok_or(EncodeError::DanglingId(child))?;
            if *slot == 0 {
                *slot = 1;
                todo.push(child);
            } else {
                *slot = 2;
            }
        }
    }
    Ok(refs)
}

/// Minimal little-endian two's complement, as CPython's `encode_long` writes it.
fn signed_le(value: i64) -> Vec<u8> {
    let mut bytes = value.to_le_bytes().to_vec();
    while let [.., prev, last] = bytes.as_slice() {
        let redundant = (*last == 0 && prev & 0x80 == 0) || (*last == 0xff && prev & 0x80 != 0);
        if !redundant {
            break;
        }
        bytes.pop();
    }
    bytes
}

/// Appends `value` as `digits` lowercase hex digits.
fn push_hex(out: &mut Vec<u8>, value: u32, digits: u32) {
    for i in (0..digits).rev() {
        let nibble = value.checked_shr(i.saturating_mul(4)).unwrap_or(0) & 0xf;
        let digit = b"0123456789abcdef"
            .get(nibble as usize)
            .copied()
            .unwrap_or(b'0');
        out.push(digit);
    }
}

/// CPython's `raw_unicode_escape` for UNICODE lines: code points above 0xffff as
/// `\UXXXXXXXX`, above 0xff (surrogates included) and `\\`, `\0`, `\n`, `\r`, `\x1a`
/// as `\uXXXX`, everything else as one latin-1 byte. `None` if `text` is not
/// generalized UTF-8.
fn raw_unicode_escape(text: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len());
    let mut rest = text;
    while !rest.is_empty() {
        let (cp, n) = pyfmt::next_code_point(rest)?;
        rest = rest.get(n..).unwrap_or_default();
        if cp >= 0x1_0000 {
            out.extend_from_slice(b"\\U");
            push_hex(&mut out, cp, 8);
        } else if cp >= 0x100 || matches!(cp, 0x5c | 0x00 | 0x0a | 0x0d | 0x1a) {
            out.extend_from_slice(b"\\u");
            push_hex(&mut out, cp, 4);
        } else {
            out.push(u8::try_from(cp).unwrap_or(b'?'));
        }
    }
    Some(out)
}

/// True when `text` is generalized UTF-8 (UTF-8 that may hold surrogates).
fn is_generalized_utf8(text: &[u8]) -> bool {
    let mut rest = text;
    while !rest.is_empty() {
        match pyfmt::next_code_point(rest) {
            Some((_, n)) => rest = rest.get(n..).unwrap_or_default(),
            None => return false,
        }
    }
    true
}

/// Latin-1 bytes as UTF-8 text (each byte one code point).
fn latin1_to_utf8(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len().saturating_mul(2));
    for &b in bytes {
        let mut buf = [0u8; 2];
        out.extend_from_slice(char::from(b).encode_utf8(&mut buf).as_bytes());
    }
    out
}

/// CPython's `raw_unicode_escape` of latin-1 bytes (what protocol 0 writes for the
/// text of `_codecs.encode(text, 'latin1')`).
fn latin1_escape(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    for &b in bytes {
        if matches!(b, 0x5c | 0x00 | 0x0a | 0x0d | 0x1a) {
            out.extend_from_slice(b"\\u");
            push_hex(&mut out, u32::from(b), 4);
        } else {
            out.push(b);
        }
    }
    out
}

/// The element `pos` of a container: its items in order, or for a dict the keys and
/// values alternating.
fn element(node: Node<'_>, pos: usize) -> Option<NodeId> {
    match node {
        Node::Tuple(v) | Node::List(v) | Node::Set(v) | Node::FrozenSet(v) => v.get(pos).copied(),
        Node::Dict(v) => pair_element(v, pos),
        _ => None,
    }
}

fn pair_element(pairs: &[(NodeId, NodeId)], pos: usize) -> Option<NodeId> {
    let (k, v) = pairs.get(pos / 2)?;
    Some(if pos % 2 == 0 { *k } else { *v })
}

/// Units (items or pairs) in a container.
fn units(node: Node<'_>) -> usize {
    match node {
        Node::Tuple(v) | Node::List(v) | Node::Set(v) | Node::FrozenSet(v) => v.len(),
        Node::Dict(v) => v.len(),
        _ => 0,
    }
}

impl<'g, 'a> State<'g, 'a> {
    fn node(&self, id: NodeId) -> Result<Node<'g>, EncodeError> {
        self.graph.get(id).ok_or(EncodeError::DanglingId(id))
    }

    #[cold]
    fn unrep(&self, node: NodeId, what: &'static str) -> EncodeError {
        EncodeError::NotRepresentable {
            what,
            protocol: self.proto,
            node,
        }
    }

    fn refs_of(&self, id: NodeId) -> u8 {
        self.graph
            .slot(id)
            .and_then(|i| self.refs.get(i))
            .copied()
            .unwrap_or(0)
    }

    fn memo_of(&self, id: NodeId) -> Option<u32> {
        self.graph
            .slot(id)
            .and_then(|i| self.memo.get(i))
            .copied()
            .filter(|&m| m != NO_MEMO)
    }

    fn active_of(&self, id: NodeId) -> u8 {
        self.graph
            .slot(id)
            .and_then(|i| self.active.get(i))
            .copied()
            .unwrap_or(IDLE)
    }

    fn set_active(&mut self, id: NodeId, value: u8) {
        if let Some(slot) = self.graph.slot(id).and_then(|i| self.active.get_mut(i)) {
            *slot = value;
        }
    }

    /// Marks `id` as having its children written; returns the mark to restore after.
    fn begin(&mut self, id: NodeId) -> u8 {
        let prev = self.active_of(id);
        let now = if self.region.is_some() {
            NESTED
        } else {
            NORMAL
        };
        self.set_active(id, now);
        prev
    }

    // ----- memo ------------------------------------------------------------------

    /// Writes a memo PUT for the top of the stack and returns its index.
    fn put(&mut self, at: NodeId) -> Result<u32, EncodeError> {
        let index = self.memo_len;
        if index == NO_MEMO {
            return Err(self.unrep(at, "more memo entries than LONG_BINPUT can index"));
        }
        if self.proto >= 4 {
            self.out.op(Opcode::Memoize);
        } else if self.proto >= 1 {
            match u8::try_from(index) {
                Ok(small) => self.out.op_arg(Opcode::BinPut, &[small]),
                Err(_) => self.out.op_arg(Opcode::LongBinPut, &index.to_le_bytes()),
            }
        } else {
            self.out.line(Opcode::Put, index.to_string().as_bytes());
        }
        self.memo_len = index.saturating_add(1);
        Ok(index)
    }

    fn get(&mut self, index: u32) {
        if self.proto >= 1 {
            match u8::try_from(index) {
                Ok(small) => self.out.op_arg(Opcode::BinGet, &[small]),
                Err(_) => self.out.op_arg(Opcode::LongBinGet, &index.to_le_bytes()),
            }
        } else {
            self.out.line(Opcode::Get, index.to_string().as_bytes());
        }
    }

    fn memoize(&mut self, id: NodeId) -> Result<(), EncodeError> {
        let index = self.put(id)?;
        if let Some(slot) = self.graph.slot(id).and_then(|i| self.memo.get_mut(i)) {
            *slot = index;
        }
        Ok(())
    }

    /// Memoizes a node CPython would not, when the graph shares it.
    fn memoize_if_shared(&mut self, id: NodeId) -> Result<(), EncodeError> {
        if self.refs_of(id) >= 2 {
            self.memoize(id)?;
        }
        Ok(())
    }

    /// A node reached again while its children are being written was memoized by the
    /// nested copy: throw away what this copy pushed (`pushed` values, above a MARK
    /// if `marked`, and `below` more under it) and GET the nested copy instead.
    fn discard(&mut self, id: NodeId, marked: bool, pushed: usize, below: usize) -> bool {
        let Some(index) = self.memo_of(id) else {
            return false;
        };
        let pops = if marked {
            if self.proto >= 1 {
                self.out.op(Opcode::PopMark);
                0
            } else {
                pushed.saturating_add(1)
            }
        } else {
            pushed
        };
        for _ in 0..pops.saturating_add(below) {
            self.out.op(Opcode::Pop);
        }
        self.get(index);
        true
    }

    // ----- scalars and payloads --------------------------------------------------

    fn write_int(&mut self, at: NodeId, value: i64) -> Result<(), EncodeError> {
        if let Ok(small) = i32::try_from(value) {
            if self.proto == 0 {
                self.out.line(Opcode::Int, small.to_string().as_bytes());
            } else if let Ok(byte) = u8::try_from(small) {
                self.out.op_arg(Opcode::BinInt1, &[byte]);
            } else if let Ok(word) = u16::try_from(small) {
                self.out.op_arg(Opcode::BinInt2, &word.to_le_bytes());
            } else {
                self.out.op_arg(Opcode::BinInt, &small.to_le_bytes());
            }
            return Ok(());
        }
        if self.proto >= 2 {
            self.write_long(at, &signed_le(value))
        } else {
            let mut text = value.to_string().into_bytes();
            text.push(b'L');
            self.out.line(Opcode::Long, &text);
            Ok(())
        }
    }

    /// LONG1/LONG4 with two's-complement bytes.
    fn write_long(&mut self, at: NodeId, bytes: &[u8]) -> Result<(), EncodeError> {
        if let Ok(n) = u8::try_from(bytes.len()) {
            self.out.op_arg(Opcode::Long1, &[n]);
        } else {
            let n =
                i32::try_from(bytes.len()).map_err(|_| self.unrep(at, "int of 2 GiB or more"))?;
            self.out.op_arg(Opcode::Long4, &n.to_le_bytes());
        }
        self.out.buf.extend_from_slice(bytes);
        Ok(())
    }

    fn write_float(&mut self, at: NodeId, value: f64) -> Result<(), EncodeError> {
        if self.proto >= 1 {
            self.out
                .op_arg(Opcode::BinFloat, &value.to_bits().to_be_bytes());
            return Ok(());
        }
        let text = if value.is_nan() {
            // FLOAT reads `nan` and `-nan` as the two NaNs `float()` gives; CPython's
            // own pickler writes `nan` for both (its repr), losing the sign.
            if value.to_bits() == f64::NAN.to_bits() {
                "nan".to_owned()
            } else if value.to_bits() == (-f64::NAN).to_bits() {
                "-nan".to_owned()
            } else {
                return Err(self.unrep(at, "NaN with a payload (FLOAT is text)"));
            }
        } else {
            pyfmt::float_repr(value)
        };
        self.out.line(Opcode::Float, text.as_bytes());
        Ok(())
    }

    /// A str: UNICODE at protocol 0, else the binary opcodes with the bytes as they are.
    fn write_str(&mut self, at: NodeId, text: &[u8]) -> Result<(), EncodeError> {
        const NOT_UTF8: &str = "str that is not UTF-8 (surrogates allowed)";
        if self.proto == 0 {
            let escaped = raw_unicode_escape(text).ok_or_else(|| self.unrep(at, NOT_UTF8))?;
            self.out.line(Opcode::Unicode, &escaped);
            return Ok(());
        }
        if !is_generalized_utf8(text) {
            return Err(self.unrep(at, NOT_UTF8));
        }
        self.write_utf8(at, text)
    }

    /// SHORT_BINUNICODE / BINUNICODE / BINUNICODE8 of text already known to be valid.
    fn write_utf8(&mut self, at: NodeId, text: &[u8]) -> Result<(), EncodeError> {
        let ops = [
            Opcode::ShortBinUnicode,
            Opcode::BinUnicode,
            Opcode::BinUnicode8,
        ];
        self.sized_payload(at, ops, self.proto >= 4, text, "str of 4 GiB or more")
    }

    /// SHORT_BINBYTES / BINBYTES / BINBYTES8 (protocol 3+).
    fn write_bytes(&mut self, at: NodeId, data: &[u8]) -> Result<(), EncodeError> {
        let ops = [Opcode::ShortBinBytes, Opcode::BinBytes, Opcode::BinBytes8];
        self.sized_payload(at, ops, true, data, "bytes of 4 GiB or more")
    }

    /// A length-prefixed payload: `ops` are the 1-byte, 4-byte and 8-byte length forms;
    /// the 1-byte form only when `short_ok`, the 8-byte one only from protocol 4.
    fn sized_payload(
        &mut self,
        at: NodeId,
        ops: [Opcode; 3],
        short_ok: bool,
        data: &[u8],
        too_big: &'static str,
    ) -> Result<(), EncodeError> {
        let [short, long, long8] = ops;
        let len = data.len();
        let mut header = Vec::with_capacity(FRAME_HEADER);
        match (u8::try_from(len), u32::try_from(len)) {
            (Ok(n), _) if short_ok => {
                header.push(short.byte());
                header.push(n);
            }
            (_, Ok(n)) => {
                header.push(long.byte());
                header.extend_from_slice(&n.to_le_bytes());
            }
            _ if self.proto >= 4 => {
                header.push(long8.byte());
                header.extend_from_slice(&(len as u64).to_le_bytes());
            }
            _ => return Err(self.unrep(at, too_big)),
        }
        self.out.payload(&header, data);
        Ok(())
    }

    /// Bytes below protocol 3, as CPython: `_codecs.encode(text, 'latin1')`, or
    /// `__builtin__.bytes()` when empty. The caller memoizes the result.
    fn write_bytes_call(&mut self, at: NodeId, data: &[u8]) -> Result<(), EncodeError> {
        if data.is_empty() {
            self.synth_global(at, "builtins", "bytes")?;
            self.empty_tuple();
            self.out.op(Opcode::Reduce);
            return Ok(());
        }
        self.synth_global(at, "_codecs", "encode")?;
        if self.proto < 2 {
            self.out.op(Opcode::Mark);
        }
        self.out.boundary();
        if self.proto == 0 {
            self.out.line(Opcode::Unicode, &latin1_escape(data));
        } else {
            let text = latin1_to_utf8(data);
            if text.len() > U32_LEN {
                return Err(self.unrep(at, "bytes of 2 GiB or more (below protocol 3)"));
            }
            self.write_utf8(at, &text)?;
        }
        self.put(at)?;
        self.synth_str(at, b"latin1")?;
        self.out.op(if self.proto >= 2 {
            Opcode::Tuple2
        } else {
            Opcode::Tuple
        });
        self.put(at)?;
        self.out.op(Opcode::Reduce);
        Ok(())
    }

    /// Bytearray below protocol 5, as CPython: `bytearray(bytes)`, or `bytearray()`.
    /// The caller memoizes the result.
    fn write_bytearray_call(&mut self, at: NodeId, data: &[u8]) -> Result<(), EncodeError> {
        self.synth_global(at, "builtins", "bytearray")?;
        if data.is_empty() {
            self.empty_tuple();
        } else {
            if self.proto < 2 {
                self.out.op(Opcode::Mark);
            }
            self.out.boundary();
            self.out.boundary();
            if self.proto >= 3 {
                self.write_bytes(at, data)?;
            } else {
                self.write_bytes_call(at, data)?;
            }
            self.put(at)?;
            self.out.op(if self.proto >= 2 {
                Opcode::Tuple1
            } else {
                Opcode::Tuple
            });
            self.put(at)?;
        }
        self.out.op(Opcode::Reduce);
        Ok(())
    }

    fn empty_tuple(&mut self) {
        if self.proto >= 1 {
            self.out.op(Opcode::EmptyTuple);
        } else {
            self.out.op(Opcode::Mark);
            self.out.op(Opcode::Tuple);
        }
    }

    // ----- globals ---------------------------------------------------------------

    /// The names to write below protocol 3 so that the decoder's Python 2 → 3 mapping
    /// gives back `(module, name)`: CPython's Python 2 name when it maps back, else the
    /// name itself when the mapping leaves it alone.
    fn python2_names<'n>(
        &self,
        at: NodeId,
        module: &'n str,
        name: &'n str,
    ) -> Result<(&'n str, &'n str), EncodeError> {
        if self.raw || self.proto >= 3 {
            return Ok((module, name));
        }
        let old = compat::to_python2(module, name);
        if compat::to_python3(old.0, old.1) == (module, name) {
            return Ok(old);
        }
        if compat::to_python3(module, name) == (module, name) {
            return Ok((module, name));
        }
        Err(self.unrep(
            at,
            "global name that the Python 2 name mapping below protocol 3 would change",
        ))
    }

    /// `module\nname\n` for GLOBAL or INST.
    fn name_lines(&self, at: NodeId, module: &str, name: &str) -> Result<Vec<u8>, EncodeError> {
        if module.is_empty() || name.is_empty() {
            return Err(self.unrep(at, "empty global name (GLOBAL and INST lines)"));
        }
        if module.contains('\n') || name.contains('\n') {
            return Err(self.unrep(at, "global name holding a newline (GLOBAL and INST lines)"));
        }
        let (m, n) = self.python2_names(at, module, name)?;
        let mut text = Vec::with_capacity(m.len().saturating_add(n.len()).saturating_add(2));
        text.extend_from_slice(m.as_bytes());
        text.push(b'\n');
        text.extend_from_slice(n.as_bytes());
        text.push(b'\n');
        Ok(text)
    }

    /// GLOBAL below protocol 4, STACK_GLOBAL with memoized strs from 4. The caller
    /// memoizes the global.
    fn write_global(&mut self, at: NodeId, module: &str, name: &str) -> Result<(), EncodeError> {
        if self.proto >= 4 {
            self.synth_str(at, module.as_bytes())?;
            self.synth_str(at, name.as_bytes())?;
            self.out.op(Opcode::StackGlobal);
        } else {
            let text = self.name_lines(at, module, name)?;
            self.out.op_arg(Opcode::Global, &text);
        }
        Ok(())
    }

    /// A global the encoder needs itself (a reconstructor, a copyreg helper): written
    /// once, then fetched from the memo, as CPython does for the same class object.
    fn synth_global(
        &mut self,
        at: NodeId,
        module: &'static str,
        name: &'static str,
    ) -> Result<(), EncodeError> {
        self.out.boundary();
        if let Some(&index) = self.synth_globals.get(&(module, name)) {
            self.get(index);
            return Ok(());
        }
        self.write_global(at, module, name)?;
        let index = self.put(at)?;
        self.synth_globals.insert((module, name), index);
        Ok(())
    }

    /// A str the encoder needs itself: written once, then fetched from the memo.
    fn synth_str(&mut self, at: NodeId, text: &[u8]) -> Result<(), EncodeError> {
        self.out.boundary();
        if let Some(&index) = self.synth_strs.get(text) {
            self.get(index);
            return Ok(());
        }
        self.write_str(at, text)?;
        let index = self.put(at)?;
        self.synth_strs.insert(text.to_vec(), index);
        Ok(())
    }

    // ----- calls -----------------------------------------------------------------

    /// True when the decoder (value level) would turn this REDUCE into a value, so the
    /// object would not come back (mirrors `Machine::fold_reconstructor`).
    fn decoder_folds(&self, callable: NodeId, args: &[NodeId]) -> bool {
        let Some(Node::Global(g)) = self.graph.get(callable) else {
            return false;
        };
        let kind = |id: &NodeId| self.graph.get(*id);
        match (g.module.as_str(), g.name.as_str()) {
            ("builtins", "set" | "frozenset") => match args {
                [] => true,
                [a] => matches!(
                    kind(a),
                    Some(
                        Node::List(_)
                            | Node::Tuple(_)
                            | Node::Set(_)
                            | Node::FrozenSet(_)
                            | Node::Dict(_)
                    )
                ),
                _ => false,
            },
            ("builtins", "bytes" | "bytearray") => match args {
                [] => true,
                [a] => matches!(kind(a), Some(Node::Bytes(_) | Node::ByteArray(_))),
                _ => false,
            },
            ("_codecs" | "codecs", "encode") => match args {
                [t] => matches!(kind(t), Some(Node::Str(_))),
                [t, e] => {
                    matches!(kind(t), Some(Node::Str(_))) && matches!(kind(e), Some(Node::Str(_)))
                }
                _ => false,
            },
            _ => false,
        }
    }

    /// Checks a call node and chooses how to write it.
    fn call_plan(&self, id: NodeId, obj: &Object) -> Result<Plan, EncodeError> {
        let Node::Tuple(args) = self.node(obj.args)? else {
            return Err(self.unrep(id, "call arguments that are not a tuple"));
        };
        let callable = self.node(obj.callable)?;
        let kwargs_ok = match (obj.op, obj.kwargs) {
            (CallOp::NewObjEx, Some(kw)) => matches!(self.node(kw)?, Node::Dict(_)),
            (CallOp::NewObjEx, None) => false,
            (_, kwargs) => kwargs.is_none(),
        };
        if !kwargs_ok {
            return Err(self.unrep(
                id,
                "keyword arguments that are not a dict, or on a call other than NEWOBJ_EX",
            ));
        }
        if obj.op != CallOp::Inst && !callable.is_callable_kind() {
            return Err(self.unrep(id, "call whose callable is a plain value"));
        }
        if !obj.additems.is_empty() && self.proto < 4 {
            return Err(self.unrep(id, "ADDITEMS on an object (protocol 4 and up)"));
        }
        if matches!(obj.op, CallOp::Inst | CallOp::Obj) && self.refs_of(obj.args) >= 2 {
            return Err(self.unrep(
                id,
                "INST/OBJ arguments tuple also referenced elsewhere (written inline)",
            ));
        }
        let plan = match obj.op {
            CallOp::Reduce => {
                if !self.raw && self.decoder_folds(obj.callable, args) {
                    return Err(self.unrep(id, "call that the decoder folds into a built-in value"));
                }
                Plan::Reduce
            }
            CallOp::NewObj if self.proto >= 2 => Plan::NewObj,
            CallOp::NewObj if self.call_fallbacks => Plan::NewObjViaCopyreg,
            CallOp::NewObj => return Err(self.unrep(id, "NEWOBJ (protocol 2 and up)")),
            CallOp::NewObjEx if self.proto >= 4 => Plan::NewObjEx,
            CallOp::NewObjEx if self.call_fallbacks => Plan::NewObjExViaCopyreg,
            CallOp::NewObjEx => return Err(self.unrep(id, "NEWOBJ_EX (protocol 4 and up)")),
            CallOp::Inst => {
                let Node::Global(g) = callable else {
                    return Err(self.unrep(id, "INST whose callable is not a global"));
                };
                if self.refs_of(obj.callable) >= 2 {
                    return Err(
                        self.unrep(id, "INST global also referenced elsewhere (written inline)")
                    );
                }
                if !g.module.is_ascii() || !g.name.is_ascii() {
                    return Err(self.unrep(id, "INST name that is not ASCII"));
                }
                self.name_lines(id, &g.module, &g.name)?;
                Plan::Inst
            }
            CallOp::Obj => Plan::Obj,
        };
        Ok(plan)
    }

    /// The child a call writes at `pos`, in stream order.
    fn call_child(obj: &Object, args: &[NodeId], plan: Plan, pos: usize) -> Option<NodeId> {
        match plan {
            Plan::Reduce | Plan::NewObj => [obj.callable, obj.args].get(pos).copied(),
            Plan::NewObjEx | Plan::NewObjExViaCopyreg => {
                let kwargs = obj.kwargs?;
                [obj.callable, obj.args, kwargs].get(pos).copied()
            }
            Plan::Inst => args.get(pos).copied(),
            Plan::Obj | Plan::NewObjViaCopyreg => match pos.checked_sub(1) {
                None => Some(obj.callable),
                Some(i) => args.get(i).copied(),
            },
        }
    }

    /// What a call pushed before its opcode: (above a MARK?, values under it).
    fn call_stack_shape(&self, plan: Plan) -> (bool, usize) {
        match plan {
            Plan::Reduce | Plan::NewObj | Plan::NewObjEx => (false, 0),
            Plan::Inst | Plan::Obj => (true, 0),
            Plan::NewObjViaCopyreg => (true, 1),
            Plan::NewObjExViaCopyreg => (self.proto < 2, 1),
        }
    }

    fn call_prefix(&mut self, id: NodeId, plan: Plan) -> Result<(), EncodeError> {
        match plan {
            Plan::Reduce | Plan::NewObj | Plan::NewObjEx => {}
            Plan::Inst | Plan::Obj => self.out.op(Opcode::Mark),
            Plan::NewObjViaCopyreg => {
                self.synth_global(id, "copyreg", "__newobj__")?;
                self.out.op(Opcode::Mark);
            }
            Plan::NewObjExViaCopyreg => {
                self.synth_global(id, "copyreg", "__newobj_ex__")?;
                if self.proto < 2 {
                    self.out.op(Opcode::Mark);
                }
            }
        }
        Ok(())
    }

    fn call_close(&mut self, id: NodeId, obj: &Object, plan: Plan) -> Result<(), EncodeError> {
        match plan {
            Plan::Reduce => self.out.op(Opcode::Reduce),
            Plan::NewObj => self.out.op(Opcode::NewObj),
            Plan::NewObjEx => self.out.op(Opcode::NewObjEx),
            Plan::Obj => self.out.op(Opcode::Obj),
            Plan::Inst => {
                let Node::Global(g) = self.node(obj.callable)? else {
                    return Err(self.unrep(id, "INST whose callable is not a global"));
                };
                let text = self.name_lines(id, &g.module, &g.name)?;
                self.out.op_arg(Opcode::Inst, &text);
            }
            Plan::NewObjViaCopyreg | Plan::NewObjExViaCopyreg => {
                let tuple = if plan == Plan::NewObjExViaCopyreg && self.proto >= 2 {
                    Opcode::Tuple3
                } else {
                    Opcode::Tuple
                };
                self.out.op(tuple);
                self.put(id)?;
                self.out.op(Opcode::Reduce);
            }
        }
        Ok(())
    }

    /// After an object is memoized: its items and states now, or — inside a nested
    /// copy — once the copy is done.
    fn object_fill(&mut self, id: NodeId, obj: &Object) {
        let empty = obj.listitems.is_empty()
            && obj.dictitems.is_empty()
            && obj.additems.is_empty()
            && obj.state.is_empty();
        if empty {
            return;
        }
        match &mut self.region {
            Some(deferred) => deferred.push(id),
            None => self.stack.push(Frame::ObjectFill {
                id,
                stage: Stage::ListItems,
                pos: 0,
                refill: false,
            }),
        }
    }

    /// After a list, dict or set is memoized: its items now, or — inside a nested copy —
    /// once the copy is done.
    /// An empty list or dict: `empty` (EMPTY_LIST, EMPTY_DICT) from protocol 1, else
    /// MARK and `marked` (LIST, DICT) with nothing between, as CPython writes it.
    fn empty_container(&mut self, empty: Opcode, marked: Opcode) {
        if self.proto >= 1 {
            self.out.op(empty);
        } else {
            self.out.op(Opcode::Mark);
            self.out.op(marked);
        }
    }

    fn container_fill(&mut self, id: NodeId, count: usize) {
        if count == 0 {
            return;
        }
        match &mut self.region {
            Some(deferred) => deferred.push(id),
            None => self.stack.push(Frame::Fill {
                id,
                pos: 0,
                refill: false,
            }),
        }
    }

    // ----- the walk --------------------------------------------------------------

    /// Writes one value (CPython's `save()`): a GET if it is memoized, else the value,
    /// leaves at once and containers by pushing a frame.
    fn visit(&mut self, id: NodeId) -> Result<(), EncodeError> {
        self.out.boundary();
        let node = self.node(id)?;
        if let Some(index) = self.memo_of(id) {
            self.get(index);
            return Ok(());
        }
        if self.active_of(id) != IDLE {
            // Reached again while its children are being written: write a nested copy.
            if self.region.is_some() {
                if self.active_of(id) == NESTED {
                    return Err(self.unrep(
                        id,
                        "cycle through tuples, frozensets, call arguments or persistent ids only",
                    ));
                }
            } else {
                self.region = Some(Vec::new());
                self.stack.push(Frame::RegionEnd);
            }
        }
        match node {
            Node::None => self.out.op(Opcode::None),
            Node::Bool(b) => match (self.proto >= 2, b) {
                (true, true) => self.out.op(Opcode::NewTrue),
                (true, false) => self.out.op(Opcode::NewFalse),
                (false, true) => self.out.line(Opcode::Int, b"01"),
                (false, false) => self.out.line(Opcode::Int, b"00"),
            },
            Node::Int(i) => {
                self.write_int(id, i)?;
                // An int the decoder would write into its id (every int within
                // ±2^30, the singletons 0..=255 of CPython included) has no node to
                // share after a round trip, so sharing it here would make
                // encode(decode(encode(g))) differ from encode(g): never memoized.
                if NodeId::int(i).is_none() {
                    self.memoize_if_shared(id)?;
                }
            }
            Node::BigInt(b) => {
                if self.proto >= 2 {
                    self.write_long(id, &b.to_signed_le())?;
                } else {
                    let mut text = b.to_decimal().into_bytes();
                    text.push(b'L');
                    self.out.line(Opcode::Long, &text);
                }
                self.memoize_if_shared(id)?;
            }
            Node::Float(f) => {
                self.write_float(id, f)?;
                self.memoize_if_shared(id)?;
            }
            Node::Str(s) => {
                self.write_str(id, s)?;
                self.memoize(id)?;
            }
            Node::Bytes(b) => {
                if self.proto >= 3 {
                    self.write_bytes(id, b)?;
                } else if self.raw {
                    return Err(self.unrep(id, "bytes in raw mode (protocol 3 and up)"));
                } else {
                    self.write_bytes_call(id, b)?;
                }
                self.memoize(id)?;
            }
            Node::ByteArray(b) => {
                if self.proto >= 5 {
                    let mut header = vec![Opcode::ByteArray8.byte()];
                    header.extend_from_slice(&(b.len() as u64).to_le_bytes());
                    self.out.payload(&header, b);
                } else if self.raw {
                    return Err(self.unrep(id, "bytearray in raw mode (protocol 5)"));
                } else {
                    self.write_bytearray_call(id, b)?;
                }
                self.memoize(id)?;
            }
            Node::Tuple(items) => {
                if items.is_empty() {
                    self.empty_tuple();
                    self.memoize_if_shared(id)?;
                } else {
                    let marked = self.proto < 2 || items.len() > 3;
                    if marked {
                        self.out.op(Opcode::Mark);
                    }
                    let prev = self.begin(id);
                    self.stack.push(Frame::Tuple {
                        id,
                        pos: 0,
                        marked,
                        prev,
                    });
                }
            }
            Node::List(items) => {
                self.empty_container(Opcode::EmptyList, Opcode::List);
                self.memoize(id)?;
                self.container_fill(id, items.len());
            }
            Node::Dict(items) => {
                self.empty_container(Opcode::EmptyDict, Opcode::Dict);
                self.memoize(id)?;
                self.container_fill(id, items.len());
            }
            Node::Set(items) if self.proto >= 4 => {
                self.out.op(Opcode::EmptySet);
                self.memoize(id)?;
                self.container_fill(id, items.len());
            }
            Node::FrozenSet(_) if self.proto >= 4 => {
                self.out.op(Opcode::Mark);
                let prev = self.begin(id);
                self.stack.push(Frame::FrozenSet { id, pos: 0, prev });
            }
            Node::Set(_) | Node::FrozenSet(_) => {
                if self.raw {
                    return Err(self.unrep(id, "set or frozenset in raw mode (protocol 4 and up)"));
                }
                let name = if matches!(node, Node::Set(_)) {
                    "set"
                } else {
                    "frozenset"
                };
                self.synth_global(id, "builtins", name)?;
                if self.proto < 2 {
                    self.out.op(Opcode::Mark);
                }
                self.out.boundary();
                self.empty_container(Opcode::EmptyList, Opcode::List);
                self.put(id)?;
                let prev = self.begin(id);
                self.stack.push(Frame::Rebuild { id, pos: 0, prev });
            }
            Node::Global(g) => {
                self.write_global(id, &g.module, &g.name)?;
                self.memoize(id)?;
            }
            Node::Object(obj) => {
                let plan = self.call_plan(id, obj)?;
                self.call_prefix(id, plan)?;
                let prev = self.begin(id);
                self.stack.push(Frame::Call {
                    id,
                    plan,
                    pos: 0,
                    prev,
                });
            }
            Node::Ext(code) => {
                if self.proto < 2 {
                    return Err(self.unrep(id, "extension code (protocol 2 and up)"));
                }
                if code == 0 || i32::try_from(code).is_err() {
                    return Err(self.unrep(id, "extension code 0 or above 2^31 - 1"));
                }
                if let Ok(c) = u8::try_from(code) {
                    self.out.op_arg(Opcode::Ext1, &[c]);
                } else if let Ok(c) = u16::try_from(code) {
                    self.out.op_arg(Opcode::Ext2, &c.to_le_bytes());
                } else {
                    self.out.op_arg(Opcode::Ext4, &code.to_le_bytes());
                }
                self.memoize_if_shared(id)?;
            }
            Node::Buffer { index, readonly } => {
                if self.proto < 5 {
                    return Err(self.unrep(id, "out-of-band buffer placeholder (protocol 5)"));
                }
                if index != self.next_buffer {
                    return Err(self.unrep(id, "buffer placeholders not numbered in stream order"));
                }
                self.next_buffer = self.next_buffer.saturating_add(1);
                self.out.op(Opcode::NextBuffer);
                if readonly {
                    self.out.op(Opcode::ReadOnlyBuffer);
                }
                self.memoize(id)?;
            }
            Node::PersId(pid) => {
                if self.proto == 0 {
                    let line = match self.node(pid)? {
                        Node::Str(s) if s.is_ascii() && !s.contains(&b'\n') => s,
                        _ => {
                            return Err(self.unrep(
                                id,
                                "persistent id that is not an ASCII str without newline",
                            ))
                        }
                    };
                    if self.refs_of(pid) >= 2 {
                        return Err(self.unrep(
                            id,
                            "persistent id str also referenced elsewhere (written inline)",
                        ));
                    }
                    self.out.line(Opcode::PersId, line);
                    self.memoize_if_shared(id)?;
                } else {
                    let prev = self.begin(id);
                    self.stack.push(Frame::PersId { id, prev });
                    self.visit(pid)?;
                }
            }
        }
        Ok(())
    }

    /// Writes the batch opcodes due before element `pos` of a container of `units`
    /// units, and returns `Some(pos)` if that element is to be written next, `None`
    /// once the container is done.
    fn batch_step(&mut self, style: Batch, pos: usize, units: usize) -> Option<usize> {
        let shape = style.shape();
        if units == 0 {
            return None;
        }
        if pos.checked_rem(shape.per).unwrap_or(0) != 0 {
            return Some(pos);
        }
        let unit = pos.checked_div(shape.per).unwrap_or(pos);
        if shape.text {
            if unit > 0 {
                if let Some(single) = shape.single {
                    self.out.op(single);
                }
            }
            return (unit < units).then_some(pos);
        }
        if shape.whole_one && units == 1 {
            if unit == 0 {
                return Some(pos);
            }
            if let Some(single) = shape.single {
                self.out.op(single);
            }
            return None;
        }
        let in_batch = unit % BATCH;
        if unit > 0 && in_batch == 0 {
            self.out.op(shape.multi);
        }
        if unit >= units {
            if in_batch == 0 {
                if shape.empty_after_full {
                    self.out.op(Opcode::Mark);
                    self.out.op(shape.multi);
                }
            } else if shape.last_one && in_batch == 1 && shape.single.is_some() {
                if let Some(single) = shape.single {
                    self.out.op(single);
                }
            } else {
                self.out.op(shape.multi);
            }
            return None;
        }
        if in_batch == 0 {
            let left = units.saturating_sub(unit);
            if !(shape.last_one && left == 1 && shape.single.is_some()) {
                self.out.op(Opcode::Mark);
            }
        }
        Some(pos)
    }

    fn list_style(&self) -> Batch {
        if self.proto >= 1 {
            Batch::ListExact
        } else {
            Batch::TextList
        }
    }

    /// Runs one frame: starts its next child (pushing the frame back first), or
    /// finishes it.
    fn step(&mut self, frame: Frame) -> Result<(), EncodeError> {
        match frame {
            Frame::Tuple {
                id,
                pos,
                marked,
                prev,
            } => {
                let node = self.node(id)?;
                if let Some(child) = element(node, pos) {
                    self.stack.push(Frame::Tuple {
                        id,
                        pos: pos.saturating_add(1),
                        marked,
                        prev,
                    });
                    return self.visit(child);
                }
                if !self.discard(id, marked, pos, 0) {
                    let op = match (marked, pos) {
                        (false, 1) => Opcode::Tuple1,
                        (false, 2) => Opcode::Tuple2,
                        (false, 3) => Opcode::Tuple3,
                        _ => Opcode::Tuple,
                    };
                    self.out.op(op);
                    self.memoize(id)?;
                }
                self.set_active(id, prev);
            }
            Frame::FrozenSet { id, pos, prev } => {
                let node = self.node(id)?;
                if let Some(child) = element(node, pos) {
                    self.stack.push(Frame::FrozenSet {
                        id,
                        pos: pos.saturating_add(1),
                        prev,
                    });
                    return self.visit(child);
                }
                if !self.discard(id, true, pos, 0) {
                    self.out.op(Opcode::FrozenSet);
                    self.memoize(id)?;
                }
                self.set_active(id, prev);
            }
            Frame::Rebuild { id, pos, prev } => {
                let node = self.node(id)?;
                let style = self.list_style();
                if let Some(i) = self.batch_step(style, pos, units(node)) {
                    let child = element(node, i).ok_or(EncodeError::DanglingId(id))?;
                    self.stack.push(Frame::Rebuild {
                        id,
                        pos: i.saturating_add(1),
                        prev,
                    });
                    return self.visit(child);
                }
                if !self.discard(id, self.proto < 2, 1, 1) {
                    self.out.op(if self.proto >= 2 {
                        Opcode::Tuple1
                    } else {
                        Opcode::Tuple
                    });
                    self.put(id)?;
                    self.out.op(Opcode::Reduce);
                    self.memoize(id)?;
                }
                self.set_active(id, prev);
            }
            Frame::Fill { id, pos, refill } => {
                let node = self.node(id)?;
                let style = match (node, self.proto >= 1) {
                    (Node::Dict(_), true) => Batch::DictExact,
                    (Node::Dict(_), false) => Batch::TextDict,
                    (Node::Set(_), _) => Batch::SetExact,
                    _ => self.list_style(),
                };
                if let Some(i) = self.batch_step(style, pos, units(node)) {
                    let child = element(node, i).ok_or(EncodeError::DanglingId(id))?;
                    self.stack.push(Frame::Fill {
                        id,
                        pos: i.saturating_add(1),
                        refill,
                    });
                    return self.visit(child);
                }
                if refill {
                    self.out.op(Opcode::Pop);
                }
            }
            Frame::Call {
                id,
                plan,
                pos,
                prev,
            } => {
                let Node::Object(obj) = self.node(id)? else {
                    return Err(EncodeError::DanglingId(id));
                };
                let args: &[NodeId] = match self.node(obj.args)? {
                    Node::Tuple(items) => items,
                    _ => &[],
                };
                if let Some(child) = State::call_child(obj, args, plan, pos) {
                    self.stack.push(Frame::Call {
                        id,
                        plan,
                        pos: pos.saturating_add(1),
                        prev,
                    });
                    return self.visit(child);
                }
                let (marked, below) = self.call_stack_shape(plan);
                if !self.discard(id, marked, pos, below) {
                    self.call_close(id, obj, plan)?;
                    self.memoize(id)?;
                    self.object_fill(id, obj);
                }
                self.set_active(id, prev);
            }
            Frame::ObjectFill {
                id,
                stage,
                pos,
                refill,
            } => self.step_object_fill(id, stage, pos, refill)?,
            Frame::PersId { id, prev } => {
                if !self.discard(id, false, 1, 0) {
                    self.out.op(Opcode::BinPersId);
                    self.memoize_if_shared(id)?;
                }
                self.set_active(id, prev);
            }
            Frame::Refill(id) => {
                let index = self.memo_of(id).ok_or(EncodeError::DanglingId(id))?;
                self.out.boundary();
                self.get(index);
                let frame = match self.node(id)? {
                    Node::Object(_) => Frame::ObjectFill {
                        id,
                        stage: Stage::ListItems,
                        pos: 0,
                        refill: true,
                    },
                    _ => Frame::Fill {
                        id,
                        pos: 0,
                        refill: true,
                    },
                };
                self.stack.push(frame);
            }
            Frame::RegionEnd => {
                let deferred = self.region.take().unwrap_or_default();
                self.stack
                    .extend(deferred.into_iter().rev().map(Frame::Refill));
            }
        }
        Ok(())
    }

    /// An object's list items, dict items, added items and states, in that order.
    fn step_object_fill(
        &mut self,
        id: NodeId,
        mut stage: Stage,
        mut pos: usize,
        refill: bool,
    ) -> Result<(), EncodeError> {
        let Node::Object(obj) = self.node(id)? else {
            return Err(EncodeError::DanglingId(id));
        };
        let text = self.proto == 0;
        loop {
            let next = match stage {
                Stage::ListItems => {
                    let style = if text {
                        Batch::TextList
                    } else {
                        Batch::ObjList
                    };
                    self.batch_step(style, pos, obj.listitems.len())
                        .and_then(|i| obj.listitems.get(i).copied().map(|c| (i, c)))
                }
                Stage::DictItems => {
                    let style = if text {
                        Batch::TextDict
                    } else {
                        Batch::ObjDict
                    };
                    self.batch_step(style, pos, obj.dictitems.len())
                        .and_then(|i| pair_element(&obj.dictitems, i).map(|c| (i, c)))
                }
                Stage::AddItems => self
                    .batch_step(Batch::ObjAdd, pos, obj.additems.len())
                    .and_then(|i| obj.additems.get(i).copied().map(|c| (i, c))),
                Stage::States => {
                    if pos > 0 {
                        self.out.op(Opcode::Build);
                    }
                    obj.state.get(pos).copied().map(|c| (pos, c))
                }
            };
            if let Some((i, child)) = next {
                self.stack.push(Frame::ObjectFill {
                    id,
                    stage,
                    pos: i.saturating_add(1),
                    refill,
                });
                return self.visit(child);
            }
            pos = 0;
            stage = match stage {
                Stage::ListItems => Stage::DictItems,
                Stage::DictItems => Stage::AddItems,
                Stage::AddItems => Stage::States,
                Stage::States => {
                    if refill {
                        self.out.op(Opcode::Pop);
                    }
                    return Ok(());
                }
            };
        }
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]
mod tests {
    use std::borrow::Cow;

    use super::*;
    use crate::bigint::{BigInt, IntValue};
    use crate::graph::{Global, NodeData};

    /// Builds graphs by hand.
    struct B {
        g: Graph<'static>,
    }

    type Build = fn(&mut B) -> NodeId;

    impl B {
        fn new() -> B {
            B { g: Graph::new() }
        }
        fn add(&mut self, node: NodeData<'static>) -> NodeId {
            self.g.add(node).unwrap()
        }
        fn int(&mut self, i: i64) -> NodeId {
            self.add(NodeData::Int(i))
        }
        fn ints(&mut self, v: &[i64]) -> Vec<NodeId> {
            v.iter().map(|i| self.int(*i)).collect()
        }
        /// ±2^bits.
        fn big(&mut self, negative: bool, bits: u32) -> NodeId {
            let mut limbs = vec![0u32; (bits / 32) as usize];
            limbs.push(1 << (bits % 32));
            match BigInt::from_parts(negative, limbs) {
                IntValue::Big(b) => self.add(NodeData::BigInt(Box::new(b))),
                IntValue::Small(i) => self.int(i),
            }
        }
        fn str(&mut self, s: &[u8]) -> NodeId {
            self.add(NodeData::Str(Cow::Owned(s.to_vec())))
        }
        fn bytes(&mut self, s: &[u8]) -> NodeId {
            self.add(NodeData::Bytes(Cow::Owned(s.to_vec())))
        }
        fn bytearray(&mut self, s: &[u8]) -> NodeId {
            self.add(NodeData::ByteArray(Cow::Owned(s.to_vec())))
        }
        fn global(&mut self, module: &str, name: &str) -> NodeId {
            self.add(NodeData::Global(Box::new(Global {
                module: module.to_owned(),
                name: name.to_owned(),
            })))
        }
        fn tuple(&mut self, items: Vec<NodeId>) -> NodeId {
            self.add(NodeData::Tuple(items))
        }
        fn list(&mut self, items: Vec<NodeId>) -> NodeId {
            self.add(NodeData::List(items))
        }
        fn object(&mut self, obj: Object) -> NodeId {
            self.add(NodeData::Object(Box::new(obj)))
        }
        /// Replaces the items of a list, set or tuple (to close cycles).
        fn set_items(&mut self, id: NodeId, new: Vec<NodeId>) {
            match self.g.get_mut(id) {
                Some(
                    NodeData::List(v)
                    | NodeData::Tuple(v)
                    | NodeData::Set(v)
                    | NodeData::FrozenSet(v),
                ) => *v = new,
                _ => panic!("not a sequence"),
            }
        }
        fn enc(&self, root: NodeId, protocol: u8) -> Vec<u8> {
            encode(&self.g, root, protocol).unwrap()
        }
        fn err(&self, root: NodeId, protocol: u8) -> EncodeError {
            encode(&self.g, root, protocol).unwrap_err()
        }
    }

    fn not_representable(e: &EncodeError) -> &'static str {
        match e {
            EncodeError::NotRepresentable { what, .. } => what,
            other => panic!("expected NotRepresentable, got {other:?}"),
        }
    }

    fn fnv1a(bytes: &[u8]) -> u64 {
        let mut h: u64 = 0xcbf29ce484222325;
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x100000001b3);
        }
        h
    }

    /// `pickle.dumps(value, protocol=p)` for p = 0..=5, from CPython 3.11.7.
    const SMALL: &[(&str, Build, [&[u8]; 6])] = &[
    ("none", |b| b.add(NodeData::None), [
        b"N.",
        b"N.",
        b"\x80\x02N.",
        b"\x80\x03N.",
        b"\x80\x04N.",
        b"\x80\x05N.",
    ]),
    ("true", |b| b.add(NodeData::Bool(true)), [
        b"I01\n.",
        b"I01\n.",
        b"\x80\x02\x88.",
        b"\x80\x03\x88.",
        b"\x80\x04\x88.",
        b"\x80\x05\x88.",
    ]),
    ("false", |b| b.add(NodeData::Bool(false)), [
        b"I00\n.",
        b"I00\n.",
        b"\x80\x02\x89.",
        b"\x80\x03\x89.",
        b"\x80\x04\x89.",
        b"\x80\x05\x89.",
    ]),
    ("one", |b| b.int(1), [
        b"I1\n.",
        b"K\x01.",
        b"\x80\x02K\x01.",
        b"\x80\x03K\x01.",
        b"\x80\x04K\x01.",
        b"\x80\x05K\x01.",
    ]),
    ("minus_one", |b| b.int(-1), [
        b"I-1\n.",
        b"J\xff\xff\xff\xff.",
        b"\x80\x02J\xff\xff\xff\xff.",
        b"\x80\x03J\xff\xff\xff\xff.",
        b"\x80\x04\x95\x06\x00\x00\x00\x00\x00\x00\x00J\xff\xff\xff\xff.",
        b"\x80\x05\x95\x06\x00\x00\x00\x00\x00\x00\x00J\xff\xff\xff\xff.",
    ]),
    ("i300", |b| b.int(300), [
        b"I300\n.",
        b"M,\x01.",
        b"\x80\x02M,\x01.",
        b"\x80\x03M,\x01.",
        b"\x80\x04\x95\x04\x00\x00\x00\x00\x00\x00\x00M,\x01.",
        b"\x80\x05\x95\x04\x00\x00\x00\x00\x00\x00\x00M,\x01.",
    ]),
    ("i255", |b| b.int(255), [
        b"I255\n.",
        b"K\xff.",
        b"\x80\x02K\xff.",
        b"\x80\x03K\xff.",
        b"\x80\x04K\xff.",
        b"\x80\x05K\xff.",
    ]),
    ("i65536", |b| b.int(65536), [
        b"I65536\n.",
        b"J\x00\x00\x01\x00.",
        b"\x80\x02J\x00\x00\x01\x00.",
        b"\x80\x03J\x00\x00\x01\x00.",
        b"\x80\x04\x95\x06\x00\x00\x00\x00\x00\x00\x00J\x00\x00\x01\x00.",
        b"\x80\x05\x95\x06\x00\x00\x00\x00\x00\x00\x00J\x00\x00\x01\x00.",
    ]),
    ("i32min", |b| b.int(-2147483648), [
        b"I-2147483648\n.",
        b"J\x00\x00\x00\x80.",
        b"\x80\x02J\x00\x00\x00\x80.",
        b"\x80\x03J\x00\x00\x00\x80.",
        b"\x80\x04\x95\x06\x00\x00\x00\x00\x00\x00\x00J\x00\x00\x00\x80.",
        b"\x80\x05\x95\x06\x00\x00\x00\x00\x00\x00\x00J\x00\x00\x00\x80.",
    ]),
    ("i2p31", |b| b.int(2147483648), [
        b"L2147483648L\n.",
        b"L2147483648L\n.",
        b"\x80\x02\x8a\x05\x00\x00\x00\x80\x00.",
        b"\x80\x03\x8a\x05\x00\x00\x00\x80\x00.",
        b"\x80\x04\x95\x08\x00\x00\x00\x00\x00\x00\x00\x8a\x05\x00\x00\x00\x80\x00.",
        b"\x80\x05\x95\x08\x00\x00\x00\x00\x00\x00\x00\x8a\x05\x00\x00\x00\x80\x00.",
    ]),
    ("i2p40", |b| b.int(1 << 40), [
        b"L1099511627776L\n.",
        b"L1099511627776L\n.",
        b"\x80\x02\x8a\x06\x00\x00\x00\x00\x00\x01.",
        b"\x80\x03\x8a\x06\x00\x00\x00\x00\x00\x01.",
        b"\x80\x04\x95\x09\x00\x00\x00\x00\x00\x00\x00\x8a\x06\x00\x00\x00\x00\x00\x01.",
        b"\x80\x05\x95\x09\x00\x00\x00\x00\x00\x00\x00\x8a\x06\x00\x00\x00\x00\x00\x01.",
    ]),
    ("big2p70", |b| b.big(false, 70), [
        b"L1180591620717411303424L\n.",
        b"L1180591620717411303424L\n.",
        b"\x80\x02\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x00@.",
        b"\x80\x03\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x00@.",
        b"\x80\x04\x95\x0c\x00\x00\x00\x00\x00\x00\x00\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x00@.",
        b"\x80\x05\x95\x0c\x00\x00\x00\x00\x00\x00\x00\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x00@.",
    ]),
    ("bigm2p70", |b| b.big(true, 70), [
        b"L-1180591620717411303424L\n.",
        b"L-1180591620717411303424L\n.",
        b"\x80\x02\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x00\xc0.",
        b"\x80\x03\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x00\xc0.",
        b"\x80\x04\x95\x0c\x00\x00\x00\x00\x00\x00\x00\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x00\xc0.",
        b"\x80\x05\x95\x0c\x00\x00\x00\x00\x00\x00\x00\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x00\xc0.",
    ]),
    ("f1_5", |b| b.add(NodeData::Float(1.5)), [
        b"F1.5\n.",
        b"G?\xf8\x00\x00\x00\x00\x00\x00.",
        b"\x80\x02G?\xf8\x00\x00\x00\x00\x00\x00.",
        b"\x80\x03G?\xf8\x00\x00\x00\x00\x00\x00.",
        b"\x80\x04\x95\n\x00\x00\x00\x00\x00\x00\x00G?\xf8\x00\x00\x00\x00\x00\x00.",
        b"\x80\x05\x95\n\x00\x00\x00\x00\x00\x00\x00G?\xf8\x00\x00\x00\x00\x00\x00.",
    ]),
    ("abc", |b| b.str(b"abc"), [
        b"Vabc\np0\n.",
        b"X\x03\x00\x00\x00abcq\x00.",
        b"\x80\x02X\x03\x00\x00\x00abcq\x00.",
        b"\x80\x03X\x03\x00\x00\x00abcq\x00.",
        b"\x80\x04\x95\x07\x00\x00\x00\x00\x00\x00\x00\x8c\x03abc\x94.",
        b"\x80\x05\x95\x07\x00\x00\x00\x00\x00\x00\x00\x8c\x03abc\x94.",
    ]),
    ("surrogate", |b| b.str(&[0xED, 0xA0, 0x80]), [
        b"V\\ud800\np0\n.",
        b"X\x03\x00\x00\x00\xed\xa0\x80q\x00.",
        b"\x80\x02X\x03\x00\x00\x00\xed\xa0\x80q\x00.",
        b"\x80\x03X\x03\x00\x00\x00\xed\xa0\x80q\x00.",
        b"\x80\x04\x95\x07\x00\x00\x00\x00\x00\x00\x00\x8c\x03\xed\xa0\x80\x94.",
        b"\x80\x05\x95\x07\x00\x00\x00\x00\x00\x00\x00\x8c\x03\xed\xa0\x80\x94.",
    ]),
    ("bytes_xy", |b| b.bytes(b"xy"), [
        b"c_codecs\nencode\np0\n(Vxy\np1\nVlatin1\np2\ntp3\nRp4\n.",
        b"c_codecs\nencode\nq\x00(X\x02\x00\x00\x00xyq\x01X\x06\x00\x00\x00latin1q\x02tq\x03Rq\x04.",
        b"\x80\x02c_codecs\nencode\nq\x00X\x02\x00\x00\x00xyq\x01X\x06\x00\x00\x00latin1q\x02\x86q\x03Rq\x04.",
        b"\x80\x03C\x02xyq\x00.",
        b"\x80\x04\x95\x06\x00\x00\x00\x00\x00\x00\x00C\x02xy\x94.",
        b"\x80\x05\x95\x06\x00\x00\x00\x00\x00\x00\x00C\x02xy\x94.",
    ]),
    ("bytes_empty", |b| b.bytes(b""), [
        b"c__builtin__\nbytes\np0\n(tRp1\n.",
        b"c__builtin__\nbytes\nq\x00)Rq\x01.",
        b"\x80\x02c__builtin__\nbytes\nq\x00)Rq\x01.",
        b"\x80\x03C\x00q\x00.",
        b"\x80\x04\x95\x04\x00\x00\x00\x00\x00\x00\x00C\x00\x94.",
        b"\x80\x05\x95\x04\x00\x00\x00\x00\x00\x00\x00C\x00\x94.",
    ]),
    ("bytearray_xy", |b| b.bytearray(b"xy"), [
        b"c__builtin__\nbytearray\np0\n(c_codecs\nencode\np1\n(Vxy\np2\nVlatin1\np3\ntp4\nRp5\ntp6\nRp7\n.",
        b"c__builtin__\nbytearray\nq\x00(c_codecs\nencode\nq\x01(X\x02\x00\x00\x00xyq\x02X\x06\x00\x00\x00latin1q\x03tq\x04Rq\x05tq\x06Rq\x07.",
        b"\x80\x02c__builtin__\nbytearray\nq\x00c_codecs\nencode\nq\x01X\x02\x00\x00\x00xyq\x02X\x06\x00\x00\x00latin1q\x03\x86q\x04Rq\x05\x85q\x06Rq\x07.",
        b"\x80\x03cbuiltins\nbytearray\nq\x00C\x02xyq\x01\x85q\x02Rq\x03.",
        b"\x80\x04\x95#\x00\x00\x00\x00\x00\x00\x00\x8c\x08builtins\x94\x8c\x09bytearray\x94\x93\x94C\x02xy\x94\x85\x94R\x94.",
        b"\x80\x05\x95\x0d\x00\x00\x00\x00\x00\x00\x00\x96\x02\x00\x00\x00\x00\x00\x00\x00xy\x94.",
    ]),
    ("bytearray_empty", |b| b.bytearray(b""), [
        b"c__builtin__\nbytearray\np0\n(tRp1\n.",
        b"c__builtin__\nbytearray\nq\x00)Rq\x01.",
        b"\x80\x02c__builtin__\nbytearray\nq\x00)Rq\x01.",
        b"\x80\x03cbuiltins\nbytearray\nq\x00)Rq\x01.",
        b"\x80\x04\x95\x1d\x00\x00\x00\x00\x00\x00\x00\x8c\x08builtins\x94\x8c\x09bytearray\x94\x93\x94)R\x94.",
        b"\x80\x05\x95\x0b\x00\x00\x00\x00\x00\x00\x00\x96\x00\x00\x00\x00\x00\x00\x00\x00\x94.",
    ]),
    ("tuple0", |b| b.add(NodeData::Tuple(vec![])), [
        b"(t.",
        b").",
        b"\x80\x02).",
        b"\x80\x03).",
        b"\x80\x04).",
        b"\x80\x05).",
    ]),
    ("tuple1", |b| { let x = b.int(1); b.add(NodeData::Tuple(vec![x])) }, [
        b"(I1\ntp0\n.",
        b"(K\x01tq\x00.",
        b"\x80\x02K\x01\x85q\x00.",
        b"\x80\x03K\x01\x85q\x00.",
        b"\x80\x04\x95\x05\x00\x00\x00\x00\x00\x00\x00K\x01\x85\x94.",
        b"\x80\x05\x95\x05\x00\x00\x00\x00\x00\x00\x00K\x01\x85\x94.",
    ]),
    ("tuple4", |b| { let v = b.ints(&[1, 2, 3, 4]); b.add(NodeData::Tuple(v)) }, [
        b"(I1\nI2\nI3\nI4\ntp0\n.",
        b"(K\x01K\x02K\x03K\x04tq\x00.",
        b"\x80\x02(K\x01K\x02K\x03K\x04tq\x00.",
        b"\x80\x03(K\x01K\x02K\x03K\x04tq\x00.",
        b"\x80\x04\x95\x0c\x00\x00\x00\x00\x00\x00\x00(K\x01K\x02K\x03K\x04t\x94.",
        b"\x80\x05\x95\x0c\x00\x00\x00\x00\x00\x00\x00(K\x01K\x02K\x03K\x04t\x94.",
    ]),
    ("list12", |b| { let v = b.ints(&[1, 2]); b.add(NodeData::List(v)) }, [
        b"(lp0\nI1\naI2\na.",
        b"]q\x00(K\x01K\x02e.",
        b"\x80\x02]q\x00(K\x01K\x02e.",
        b"\x80\x03]q\x00(K\x01K\x02e.",
        b"\x80\x04\x95\x09\x00\x00\x00\x00\x00\x00\x00]\x94(K\x01K\x02e.",
        b"\x80\x05\x95\x09\x00\x00\x00\x00\x00\x00\x00]\x94(K\x01K\x02e.",
    ]),
    ("dict_a1", |b| { let k = b.str(b"a"); let v = b.int(1); b.add(NodeData::Dict(vec![(k, v)])) }, [
        b"(dp0\nVa\np1\nI1\ns.",
        b"}q\x00X\x01\x00\x00\x00aq\x01K\x01s.",
        b"\x80\x02}q\x00X\x01\x00\x00\x00aq\x01K\x01s.",
        b"\x80\x03}q\x00X\x01\x00\x00\x00aq\x01K\x01s.",
        b"\x80\x04\x95\n\x00\x00\x00\x00\x00\x00\x00}\x94\x8c\x01a\x94K\x01s.",
        b"\x80\x05\x95\n\x00\x00\x00\x00\x00\x00\x00}\x94\x8c\x01a\x94K\x01s.",
    ]),
    ("set12", |b| { let v = b.ints(&[1, 2]); b.add(NodeData::Set(v)) }, [
        b"c__builtin__\nset\np0\n((lp1\nI1\naI2\natp2\nRp3\n.",
        b"c__builtin__\nset\nq\x00(]q\x01(K\x01K\x02etq\x02Rq\x03.",
        b"\x80\x02c__builtin__\nset\nq\x00]q\x01(K\x01K\x02e\x85q\x02Rq\x03.",
        b"\x80\x03cbuiltins\nset\nq\x00]q\x01(K\x01K\x02e\x85q\x02Rq\x03.",
        b"\x80\x04\x95\x09\x00\x00\x00\x00\x00\x00\x00\x8f\x94(K\x01K\x02\x90.",
        b"\x80\x05\x95\x09\x00\x00\x00\x00\x00\x00\x00\x8f\x94(K\x01K\x02\x90.",
    ]),
    ("frozenset1", |b| { let v = b.ints(&[1]); b.add(NodeData::FrozenSet(v)) }, [
        b"c__builtin__\nfrozenset\np0\n((lp1\nI1\natp2\nRp3\n.",
        b"c__builtin__\nfrozenset\nq\x00(]q\x01K\x01atq\x02Rq\x03.",
        b"\x80\x02c__builtin__\nfrozenset\nq\x00]q\x01K\x01a\x85q\x02Rq\x03.",
        b"\x80\x03cbuiltins\nfrozenset\nq\x00]q\x01K\x01a\x85q\x02Rq\x03.",
        b"\x80\x04\x95\x06\x00\x00\x00\x00\x00\x00\x00(K\x01\x91\x94.",
        b"\x80\x05\x95\x06\x00\x00\x00\x00\x00\x00\x00(K\x01\x91\x94.",
    ]),
    ("set_empty", |b| b.add(NodeData::Set(vec![])), [
        b"c__builtin__\nset\np0\n((lp1\ntp2\nRp3\n.",
        b"c__builtin__\nset\nq\x00(]q\x01tq\x02Rq\x03.",
        b"\x80\x02c__builtin__\nset\nq\x00]q\x01\x85q\x02Rq\x03.",
        b"\x80\x03cbuiltins\nset\nq\x00]q\x01\x85q\x02Rq\x03.",
        b"\x80\x04\x8f\x94.",
        b"\x80\x05\x8f\x94.",
    ]),
    ("frozenset_empty", |b| b.add(NodeData::FrozenSet(vec![])), [
        b"c__builtin__\nfrozenset\np0\n((lp1\ntp2\nRp3\n.",
        b"c__builtin__\nfrozenset\nq\x00(]q\x01tq\x02Rq\x03.",
        b"\x80\x02c__builtin__\nfrozenset\nq\x00]q\x01\x85q\x02Rq\x03.",
        b"\x80\x03cbuiltins\nfrozenset\nq\x00]q\x01\x85q\x02Rq\x03.",
        b"\x80\x04\x95\x04\x00\x00\x00\x00\x00\x00\x00(\x91\x94.",
        b"\x80\x05\x95\x04\x00\x00\x00\x00\x00\x00\x00(\x91\x94.",
    ]),
    ("two_bytes", |b| { let x = b.bytes(b"a"); let y = b.bytes(b"b"); b.add(NodeData::List(vec![x, y])) }, [
        b"(lp0\nc_codecs\nencode\np1\n(Va\np2\nVlatin1\np3\ntp4\nRp5\nag1\n(Vb\np6\ng3\ntp7\nRp8\na.",
        b"]q\x00(c_codecs\nencode\nq\x01(X\x01\x00\x00\x00aq\x02X\x06\x00\x00\x00latin1q\x03tq\x04Rq\x05h\x01(X\x01\x00\x00\x00bq\x06h\x03tq\x07Rq\x08e.",
        b"\x80\x02]q\x00(c_codecs\nencode\nq\x01X\x01\x00\x00\x00aq\x02X\x06\x00\x00\x00latin1q\x03\x86q\x04Rq\x05h\x01X\x01\x00\x00\x00bq\x06h\x03\x86q\x07Rq\x08e.",
        b"\x80\x03]q\x00(C\x01aq\x01C\x01bq\x02e.",
        b"\x80\x04\x95\x0d\x00\x00\x00\x00\x00\x00\x00]\x94(C\x01a\x94C\x01b\x94e.",
        b"\x80\x05\x95\x0d\x00\x00\x00\x00\x00\x00\x00]\x94(C\x01a\x94C\x01b\x94e.",
    ]),
    ("two_sets", |b| { let x = b.ints(&[1]); let s1 = b.add(NodeData::Set(x)); let y = b.ints(&[2]); let s2 = b.add(NodeData::Set(y)); b.add(NodeData::List(vec![s1, s2])) }, [
        b"(lp0\nc__builtin__\nset\np1\n((lp2\nI1\natp3\nRp4\nag1\n((lp5\nI2\natp6\nRp7\na.",
        b"]q\x00(c__builtin__\nset\nq\x01(]q\x02K\x01atq\x03Rq\x04h\x01(]q\x05K\x02atq\x06Rq\x07e.",
        b"\x80\x02]q\x00(c__builtin__\nset\nq\x01]q\x02K\x01a\x85q\x03Rq\x04h\x01]q\x05K\x02a\x85q\x06Rq\x07e.",
        b"\x80\x03]q\x00(cbuiltins\nset\nq\x01]q\x02K\x01a\x85q\x03Rq\x04h\x01]q\x05K\x02a\x85q\x06Rq\x07e.",
        b"\x80\x04\x95\x11\x00\x00\x00\x00\x00\x00\x00]\x94(\x8f\x94(K\x01\x90\x8f\x94(K\x02\x90e.",
        b"\x80\x05\x95\x11\x00\x00\x00\x00\x00\x00\x00]\x94(\x8f\x94(K\x01\x90\x8f\x94(K\x02\x90e.",
    ]),
    ("self_list", |b| { let l = b.add(NodeData::List(vec![])); b.set_items(l, vec![l]); l }, [
        b"(lp0\ng0\na.",
        b"]q\x00h\x00a.",
        b"\x80\x02]q\x00h\x00a.",
        b"\x80\x03]q\x00h\x00a.",
        b"\x80\x04\x95\x06\x00\x00\x00\x00\x00\x00\x00]\x94h\x00a.",
        b"\x80\x05\x95\x06\x00\x00\x00\x00\x00\x00\x00]\x94h\x00a.",
    ]),
    ("self_dict", |b| { let d = b.add(NodeData::Dict(vec![])); let k = b.str(b"self"); if let Some(NodeData::Dict(items)) = b.g.get_mut(d) { items.push((k, d)); } d }, [
        b"(dp0\nVself\np1\ng0\ns.",
        b"}q\x00X\x04\x00\x00\x00selfq\x01h\x00s.",
        b"\x80\x02}q\x00X\x04\x00\x00\x00selfq\x01h\x00s.",
        b"\x80\x03}q\x00X\x04\x00\x00\x00selfq\x01h\x00s.",
        b"\x80\x04\x95\x0d\x00\x00\x00\x00\x00\x00\x00}\x94\x8c\x04self\x94h\x00s.",
        b"\x80\x05\x95\x0d\x00\x00\x00\x00\x00\x00\x00}\x94\x8c\x04self\x94h\x00s.",
    ]),
    ("tuple_via_list", |b| { let l = b.add(NodeData::List(vec![])); let t = b.add(NodeData::Tuple(vec![l])); b.set_items(l, vec![t]); t }, [
        b"((lp0\n(g0\ntp1\na00g1\n.",
        b"(]q\x00(h\x00tq\x01a1h\x01.",
        b"\x80\x02]q\x00h\x00\x85q\x01a0h\x01.",
        b"\x80\x03]q\x00h\x00\x85q\x01a0h\x01.",
        b"\x80\x04\x95\x0b\x00\x00\x00\x00\x00\x00\x00]\x94h\x00\x85\x94a0h\x01.",
        b"\x80\x05\x95\x0b\x00\x00\x00\x00\x00\x00\x00]\x94h\x00\x85\x94a0h\x01.",
    ]),
    ("tuple4_via_list", |b| { let l = b.add(NodeData::List(vec![])); let v = b.ints(&[1, 2, 3]); let mut items = vec![l]; items.extend(v); let t = b.add(NodeData::Tuple(items)); b.set_items(l, vec![t]); t }, [
        b"((lp0\n(g0\nI1\nI2\nI3\ntp1\naI1\nI2\nI3\n00000g1\n.",
        b"(]q\x00(h\x00K\x01K\x02K\x03tq\x01aK\x01K\x02K\x031h\x01.",
        b"\x80\x02(]q\x00(h\x00K\x01K\x02K\x03tq\x01aK\x01K\x02K\x031h\x01.",
        b"\x80\x03(]q\x00(h\x00K\x01K\x02K\x03tq\x01aK\x01K\x02K\x031h\x01.",
        b"\x80\x04\x95\x19\x00\x00\x00\x00\x00\x00\x00(]\x94(h\x00K\x01K\x02K\x03t\x94aK\x01K\x02K\x031h\x01.",
        b"\x80\x05\x95\x19\x00\x00\x00\x00\x00\x00\x00(]\x94(h\x00K\x01K\x02K\x03t\x94aK\x01K\x02K\x031h\x01.",
    ]),
    ("str_escapes", |b| b.str("a\\b\nc\u{0}\r\u{1a}\u{7f}\u{80}\u{ff}\u{100}\u{1f600} ".as_bytes()), [
        b"Va\\u005cb\\u000ac\\u0000\\u000d\\u001a\x7f\x80\xff\\u0100\\U0001f600 \np0\n.",
        b"X\x14\x00\x00\x00a\\b\nc\x00\x0d\x1a\x7f\xc2\x80\xc3\xbf\xc4\x80\xf0\x9f\x98\x80 q\x00.",
        b"\x80\x02X\x14\x00\x00\x00a\\b\nc\x00\x0d\x1a\x7f\xc2\x80\xc3\xbf\xc4\x80\xf0\x9f\x98\x80 q\x00.",
        b"\x80\x03X\x14\x00\x00\x00a\\b\nc\x00\x0d\x1a\x7f\xc2\x80\xc3\xbf\xc4\x80\xf0\x9f\x98\x80 q\x00.",
        b"\x80\x04\x95\x18\x00\x00\x00\x00\x00\x00\x00\x8c\x14a\\b\nc\x00\x0d\x1a\x7f\xc2\x80\xc3\xbf\xc4\x80\xf0\x9f\x98\x80 \x94.",
        b"\x80\x05\x95\x18\x00\x00\x00\x00\x00\x00\x00\x8c\x14a\\b\nc\x00\x0d\x1a\x7f\xc2\x80\xc3\xbf\xc4\x80\xf0\x9f\x98\x80 \x94.",
    ]),
    ("surrogate_pair_apart", |b| b.str(&[0xED, 0xA0, 0x80, 0xED, 0xB0, 0x80]), [
        b"V\\ud800\\udc00\np0\n.",
        b"X\x06\x00\x00\x00\xed\xa0\x80\xed\xb0\x80q\x00.",
        b"\x80\x02X\x06\x00\x00\x00\xed\xa0\x80\xed\xb0\x80q\x00.",
        b"\x80\x03X\x06\x00\x00\x00\xed\xa0\x80\xed\xb0\x80q\x00.",
        b"\x80\x04\x95\n\x00\x00\x00\x00\x00\x00\x00\x8c\x06\xed\xa0\x80\xed\xb0\x80\x94.",
        b"\x80\x05\x95\n\x00\x00\x00\x00\x00\x00\x00\x8c\x06\xed\xa0\x80\xed\xb0\x80\x94.",
    ]),
    ("floats", |b| { let v: Vec<NodeId> = [f64::INFINITY, f64::NEG_INFINITY, -0.0, 1e300, 1e-300, 0.1].iter().map(|f| b.add(NodeData::Float(*f))).collect(); b.add(NodeData::List(v)) }, [
        b"(lp0\nFinf\naF-inf\naF-0.0\naF1e+300\naF1e-300\naF0.1\na.",
        b"]q\x00(G\x7f\xf0\x00\x00\x00\x00\x00\x00G\xff\xf0\x00\x00\x00\x00\x00\x00G\x80\x00\x00\x00\x00\x00\x00\x00G~7\xe4<\x88\x00u\x9cG\x01\xa5n\x1f\xc2\xf8\xf3YG?\xb9\x99\x99\x99\x99\x99\x9ae.",
        b"\x80\x02]q\x00(G\x7f\xf0\x00\x00\x00\x00\x00\x00G\xff\xf0\x00\x00\x00\x00\x00\x00G\x80\x00\x00\x00\x00\x00\x00\x00G~7\xe4<\x88\x00u\x9cG\x01\xa5n\x1f\xc2\xf8\xf3YG?\xb9\x99\x99\x99\x99\x99\x9ae.",
        b"\x80\x03]q\x00(G\x7f\xf0\x00\x00\x00\x00\x00\x00G\xff\xf0\x00\x00\x00\x00\x00\x00G\x80\x00\x00\x00\x00\x00\x00\x00G~7\xe4<\x88\x00u\x9cG\x01\xa5n\x1f\xc2\xf8\xf3YG?\xb9\x99\x99\x99\x99\x99\x9ae.",
        b"\x80\x04\x95;\x00\x00\x00\x00\x00\x00\x00]\x94(G\x7f\xf0\x00\x00\x00\x00\x00\x00G\xff\xf0\x00\x00\x00\x00\x00\x00G\x80\x00\x00\x00\x00\x00\x00\x00G~7\xe4<\x88\x00u\x9cG\x01\xa5n\x1f\xc2\xf8\xf3YG?\xb9\x99\x99\x99\x99\x99\x9ae.",
        b"\x80\x05\x95;\x00\x00\x00\x00\x00\x00\x00]\x94(G\x7f\xf0\x00\x00\x00\x00\x00\x00G\xff\xf0\x00\x00\x00\x00\x00\x00G\x80\x00\x00\x00\x00\x00\x00\x00G~7\xe4<\x88\x00u\x9cG\x01\xa5n\x1f\xc2\xf8\xf3YG?\xb9\x99\x99\x99\x99\x99\x9ae.",
    ]),
    ("nan", |b| b.add(NodeData::Float(f64::NAN)), [
        b"Fnan\n.",
        b"G\x7f\xf8\x00\x00\x00\x00\x00\x00.",
        b"\x80\x02G\x7f\xf8\x00\x00\x00\x00\x00\x00.",
        b"\x80\x03G\x7f\xf8\x00\x00\x00\x00\x00\x00.",
        b"\x80\x04\x95\n\x00\x00\x00\x00\x00\x00\x00G\x7f\xf8\x00\x00\x00\x00\x00\x00.",
        b"\x80\x05\x95\n\x00\x00\x00\x00\x00\x00\x00G\x7f\xf8\x00\x00\x00\x00\x00\x00.",
    ]),
    ];

    #[test]
    fn small_values_match_cpython_byte_for_byte() {
        for (name, build, expected) in SMALL {
            let mut b = B::new();
            let root = build(&mut b);
            for (p, want) in expected.iter().enumerate() {
                let got = b.enc(root, p as u8);
                assert_eq!(got, *want, "{name} at protocol {p}");
            }
        }
    }

    const LARGE: &[(&str, Build)] = &[
        ("many_strs", |b| {
            let v: Vec<NodeId> = (0..30000)
                .map(|i| b.str(format!("abc{i}").as_bytes()))
                .collect();
            b.add(NodeData::List(v))
        }),
        ("big_str_then_ints", |b| {
            let s = b.str(&[b'x'; 65530]);
            let v = b.ints(&[1, 2]);
            b.add(NodeData::List(vec![s, v[0], v[1]]))
        }),
        ("big_bytes_then_int", |b| {
            let s = b.bytes(&[b'x'; 65536]);
            let one = b.int(1);
            b.add(NodeData::List(vec![s, one]))
        }),
        ("int_big_bytes_int", |b| {
            let a = b.int(1);
            let s = b.bytes(&[b'y'; 70000]);
            let c = b.int(1);
            b.add(NodeData::List(vec![a, s, c]))
        }),
        ("tuple_of_big", |b| {
            let s = b.str(&[b'x'; 65540]);
            b.add(NodeData::Tuple(vec![s]))
        }),
        ("range2500", |b| {
            let v: Vec<NodeId> = (0..2500).map(|i| b.int(i)).collect();
            b.add(NodeData::List(v))
        }),
        ("range1001", |b| {
            let v: Vec<NodeId> = (0..1001).map(|i| b.int(i)).collect();
            b.add(NodeData::List(v))
        }),
        ("dict2000", |b| {
            let none = b.add(NodeData::None);
            let v: Vec<(NodeId, NodeId)> = (0..2000).map(|i| (b.int(i), none)).collect();
            b.add(NodeData::Dict(v))
        }),
        ("dict1001", |b| {
            let none = b.add(NodeData::None);
            let v: Vec<(NodeId, NodeId)> = (0..1001).map(|i| (b.int(i), none)).collect();
            b.add(NodeData::Dict(v))
        }),
        ("set3000", |b| {
            let v: Vec<NodeId> = (0..3000).map(|i| b.int(i)).collect();
            b.add(NodeData::Set(v))
        }),
        ("set1000", |b| {
            let v: Vec<NodeId> = (0..1000).map(|i| b.int(i)).collect();
            b.add(NodeData::Set(v))
        }),
        ("nested_big", |b| {
            let v: Vec<NodeId> = (0..100)
                .map(|i| b.str(format!("{}{i}", "x".repeat(1000)).as_bytes()))
                .collect();
            let inner = b.add(NodeData::List(v));
            let tail = b.str(b"tail");
            b.add(NodeData::List(vec![inner, tail]))
        }),
        ("bytearray_big", |b| b.bytearray(&[7u8; 100000])),
        ("strs300", |b| {
            let v: Vec<NodeId> = (0..300)
                .map(|i| b.str(format!("s{i}").as_bytes()))
                .collect();
            let again = v.clone();
            let l1 = b.add(NodeData::List(v));
            let l2 = b.add(NodeData::List(again));
            b.add(NodeData::List(vec![l1, l2]))
        }),
    ];

    /// `(case, protocol, len, FNV-1a)` of `pickle.dumps` from CPython 3.11.7: batches of
    /// 1000, the empty dict/set batch, 64 KiB frames, payloads outside frames.
    const LARGE_DIGESTS: &[(&str, u8, usize, u64)] = &[
        ("many_strs", 0, 517790, 0xf8f07f3642ebde54),
        ("many_strs", 1, 528189, 0xf0b5cdfb308dfe3d),
        ("many_strs", 2, 528191, 0xe0164c289880f90b),
        ("many_strs", 3, 528191, 0xfb8be0958f001636),
        ("many_strs", 4, 319000, 0x1b22b8686b28e263),
        ("many_strs", 5, 319000, 0x4bd58fa7d8565c70),
        ("big_str_then_ints", 0, 65550, 0xd510a3250b60ad8c),
        ("big_str_then_ints", 1, 65547, 0x4aebd02066db79a6),
        ("big_str_then_ints", 2, 65549, 0x241e4ab60106024c),
        ("big_str_then_ints", 3, 65549, 0x29938dab085e3461),
        ("big_str_then_ints", 4, 65565, 0xa0b6351a84219a07),
        ("big_str_then_ints", 5, 65565, 0xe2765aa95a5d89f2),
        ("big_bytes_then_int", 0, 65591, 0xaa64dc468ef24c8e),
        ("big_bytes_then_int", 1, 65589, 0x572ce7964357fa5f),
        ("big_bytes_then_int", 2, 65590, 0x1af8d5018d56534b),
        ("big_bytes_then_int", 3, 65553, 0x6081cae1d2ad5b30),
        ("big_bytes_then_int", 4, 65560, 0xbb026e0df08dc746),
        ("big_bytes_then_int", 5, 65560, 0xd81281cd7e04e1d1),
        ("int_big_bytes_int", 0, 70059, 0x4a7907641ad116bd),
        ("int_big_bytes_int", 1, 70055, 0xe568d94224a91536),
        ("int_big_bytes_int", 2, 70056, 0x76f1d365a2e3c21e),
        ("int_big_bytes_int", 3, 70019, 0x630faffa7b9a277b),
        ("int_big_bytes_int", 4, 70035, 0x8674bac71887643d),
        ("int_big_bytes_int", 5, 70035, 0x1f1b9373787494f4),
        ("tuple_of_big", 0, 65551, 0xf08ba35576518942),
        ("tuple_of_big", 1, 65552, 0x424a773604e3f525),
        ("tuple_of_big", 2, 65553, 0xd09b3901cbb8e92c),
        ("tuple_of_big", 3, 65553, 0x3d04f453069db745),
        ("tuple_of_big", 4, 65560, 0xfa229cf18909246c),
        ("tuple_of_big", 5, 65560, 0xa8b55901e2bba4df),
        ("range2500", 0, 16396, 0x1942e242925c47d5),
        ("range2500", 1, 7254, 0x8e829b3393d8d9a0),
        ("range2500", 2, 7256, 0x0a29f51e4e6ffc36),
        ("range2500", 3, 7256, 0xcc37dc248305553d),
        ("range2500", 4, 7264, 0x69f7ecf5aab12c1f),
        ("range2500", 5, 7264, 0xd7e109f4386a9e98),
        ("range1001", 0, 5903, 0x3d940f3bf4ed27bc),
        ("range1001", 1, 2755, 0xe5770446b1c87203),
        ("range1001", 2, 2757, 0x8a7ec131f0161e09),
        ("range1001", 3, 2757, 0x59cb2435df60ddd8),
        ("range1001", 4, 2765, 0x1e984cce983312ab),
        ("range1001", 5, 2765, 0x9856c4018edb3a46),
        ("dict2000", 0, 14896, 0xb7314303095cc423),
        ("dict2000", 1, 7754, 0xdfc0c6530a0a80a4),
        ("dict2000", 2, 7756, 0x4ea263b496b1ef6a),
        ("dict2000", 3, 7756, 0x03d44461cb70905d),
        ("dict2000", 4, 7764, 0x43099d5cc24d36a5),
        ("dict2000", 5, 7764, 0x48e1720a8325d2a6),
        ("dict1001", 0, 6904, 0x971e339a7181f35a),
        ("dict1001", 1, 3756, 0x17edece7862e85f9),
        ("dict1001", 2, 3758, 0xe0fde41540652c47),
        ("dict1001", 3, 3758, 0x1ef4deef45f35adc),
        ("dict1001", 4, 3766, 0xe99bce3325aeab32),
        ("dict1001", 5, 3766, 0x88b5e83a76a26aa1),
        ("set3000", 0, 19925, 0x3ba2de56bb4b9de5),
        ("set3000", 1, 8780, 0xad50ec251fa7436b),
        ("set3000", 2, 8781, 0xb3606511296ca86a),
        ("set3000", 3, 8778, 0x13edb947d7993d60),
        ("set3000", 4, 8766, 0x547b26c87ad0c108),
        ("set3000", 5, 8766, 0x6a5bfc2b929f415b),
        ("set1000", 0, 5925, 0x6845f801e142140d),
        ("set1000", 1, 2776, 0xed548ebc141fcb73),
        ("set1000", 2, 2777, 0xf9e73fbd9ec0f812),
        ("set1000", 3, 2774, 0x437b4c6c12860d68),
        ("set1000", 4, 2762, 0x5b481156df14c904),
        ("set1000", 5, 2762, 0x81f01ae4985ae43f),
        ("nested_big", 0, 100908, 0xe34de3c7d8c783b7),
        ("nested_big", 1, 100912, 0x1fd152a2f8a6fb75),
        ("nested_big", 2, 100914, 0xa68024216b8a3537),
        ("nested_big", 3, 100914, 0x798a23b7ca228b7c),
        ("nested_big", 4, 100826, 0x4c9b52434a5d37b6),
        ("nested_big", 5, 100826, 0x9497946f8a76ecb1),
        ("bytearray_big", 0, 100080, 0xd9a8a7acfdda1fd0),
        ("bytearray_big", 1, 100078, 0x6868ccb15b7ba94f),
        ("bytearray_big", 2, 100078, 0x6af4ccd895034072),
        ("bytearray_big", 3, 100038, 0x50d8665b3d256116),
        ("bytearray_big", 4, 100056, 0x9d064a85a7d2a6af),
        ("bytearray_big", 5, 100013, 0xa1f41827caa0bb01),
        ("strs300", 0, 5098, 0xf6a4773b4ea3d833),
        ("strs300", 1, 4085, 0x5a5cfc0f231bfb13),
        ("strs300", 2, 4087, 0x34bbdfccddf0933d),
        ("strs300", 3, 4087, 0xa849b991c11efe1c),
        ("strs300", 4, 2752, 0xf5f990c27b7c3c77),
        ("strs300", 5, 2752, 0x815fa3e76c0329d4),
    ];

    #[test]
    fn large_values_match_cpython_byte_for_byte() {
        for (name, build) in LARGE {
            let mut b = B::new();
            let root = build(&mut b);
            let mut seen = 0;
            for (case, p, len, digest) in LARGE_DIGESTS {
                if case != name {
                    continue;
                }
                seen += 1;
                let got = b.enc(root, *p);
                assert_eq!(
                    (got.len(), fnv1a(&got)),
                    (*len, *digest),
                    "{name} at protocol {p}"
                );
            }
            assert_eq!(seen, 6, "{name}");
        }
    }

    /// `m.C` reduced to NEWOBJ with list items, dict items and a state, as the class
    /// `C` of the generator reduces itself (`copyreg.__newobj__`, `(C, 1, 2)`, ...).
    fn object_c(b: &mut B) -> NodeId {
        let cls = b.global("m", "C");
        let v = b.ints(&[1, 2]);
        let args = b.tuple(v);
        let mut o = Object::new(CallOp::NewObj, cls, args, None);
        o.listitems = b.ints(&[7, 8]);
        let (k, v) = (b.str(b"k"), b.str(b"v"));
        o.dictitems = vec![(k, v)];
        let (sk, one) = (b.str(b"s"), b.int(1));
        o.state = vec![b.add(NodeData::Dict(vec![(sk, one)]))];
        b.object(o)
    }

    #[test]
    fn calls_match_cpython() {
        let mut b = B::new();
        let c = object_c(&mut b);
        let want: [&[u8]; 6] = [
            b"ccopy_reg\n__newobj__\np0\n(cm\nC\np1\nI1\nI2\ntp2\nRp3\nI7\naI8\naVk\np4\nVv\np5\ns(dp6\nVs\np7\nI1\nsb.",
            b"ccopy_reg\n__newobj__\nq\x00(cm\nC\nq\x01K\x01K\x02tq\x02Rq\x03(K\x07K\x08eX\x01\x00\x00\x00kq\x04X\x01\x00\x00\x00vq\x05s}q\x06X\x01\x00\x00\x00sq\x07K\x01sb.",
            b"\x80\x02cm\nC\nq\x00K\x01K\x02\x86q\x01\x81q\x02(K\x07K\x08eX\x01\x00\x00\x00kq\x03X\x01\x00\x00\x00vq\x04s}q\x05X\x01\x00\x00\x00sq\x06K\x01sb.",
            b"\x80\x03cm\nC\nq\x00K\x01K\x02\x86q\x01\x81q\x02(K\x07K\x08eX\x01\x00\x00\x00kq\x03X\x01\x00\x00\x00vq\x04s}q\x05X\x01\x00\x00\x00sq\x06K\x01sb.",
            b"\x80\x04\x95,\x00\x00\x00\x00\x00\x00\x00\x8c\x01m\x94\x8c\x01C\x94\x93\x94K\x01K\x02\x86\x94\x81\x94(K\x07K\x08e\x8c\x01k\x94\x8c\x01v\x94s}\x94\x8c\x01s\x94K\x01sb.",
            b"\x80\x05\x95,\x00\x00\x00\x00\x00\x00\x00\x8c\x01m\x94\x8c\x01C\x94\x93\x94K\x01K\x02\x86\x94\x81\x94(K\x07K\x08e\x8c\x01k\x94\x8c\x01v\x94s}\x94\x8c\x01s\x94K\x01sb.",
        ];
        for (p, want) in want.iter().enumerate() {
            let p = p as u8;
            let got = Encoder::new(p)
                .call_fallbacks(true)
                .encode(&b.g, c)
                .unwrap();
            assert_eq!(got, *want, "protocol {p}");
        }
        // Without fallbacks, NEWOBJ below 2 is refused rather than changed.
        assert_eq!(
            not_representable(&b.err(c, 1)),
            "NEWOBJ (protocol 2 and up)"
        );

        // NEWOBJ_EX: `copyreg.__newobj_ex__(C, (1,), {'a': 2})`.
        let mut b = B::new();
        let cls = b.global("m", "C");
        let one = b.int(1);
        let args = b.tuple(vec![one]);
        let (a, two) = (b.str(b"a"), b.int(2));
        let kwargs = b.add(NodeData::Dict(vec![(a, two)]));
        let d = b.object(Object::new(CallOp::NewObjEx, cls, args, Some(kwargs)));
        let want: [(u8, &[u8]); 4] = [
            (0, b"ccopy_reg\n__newobj_ex__\np0\n(cm\nC\np1\n(I1\ntp2\n(dp3\nVa\np4\nI2\nstp5\nRp6\n."),
            (1, b"ccopy_reg\n__newobj_ex__\nq\x00(cm\nC\nq\x01(K\x01tq\x02}q\x03X\x01\x00\x00\x00aq\x04K\x02stq\x05Rq\x06."),
            (4, b"\x80\x04\x95\x1a\x00\x00\x00\x00\x00\x00\x00\x8c\x01m\x94\x8c\x01C\x94\x93\x94K\x01\x85\x94}\x94\x8c\x01a\x94K\x02s\x92\x94."),
            (5, b"\x80\x05\x95\x1a\x00\x00\x00\x00\x00\x00\x00\x8c\x01m\x94\x8c\x01C\x94\x93\x94K\x01\x85\x94}\x94\x8c\x01a\x94K\x02s\x92\x94."),
        ];
        for (p, want) in want {
            let got = Encoder::new(p)
                .call_fallbacks(true)
                .encode(&b.g, d)
                .unwrap();
            assert_eq!(got, want, "protocol {p}");
        }
        // CPython writes functools.partial at 2 and 3; the fallback uses copyreg.
        let got = Encoder::new(2)
            .call_fallbacks(true)
            .encode(&b.g, d)
            .unwrap();
        assert!(got.starts_with(b"\x80\x02ccopy_reg\n__newobj_ex__\nq\x00"));
        assert!(got.ends_with(b"\x87q\x05Rq\x06."), "{got:?}");
        assert_eq!(
            not_representable(&b.err(d, 3)),
            "NEWOBJ_EX (protocol 4 and up)"
        );

        // REDUCE with one list item: `m.E()` then APPEND.
        let mut b = B::new();
        let cls = b.global("m", "E");
        let args = b.tuple(vec![]);
        let mut o = Object::new(CallOp::Reduce, cls, args, None);
        o.listitems = b.ints(&[1]);
        let e = b.object(o);
        let want: [&[u8]; 6] = [
            b"cm\nE\np0\n(tRp1\nI1\na.",
            b"cm\nE\nq\x00)Rq\x01K\x01a.",
            b"\x80\x02cm\nE\nq\x00)Rq\x01K\x01a.",
            b"\x80\x03cm\nE\nq\x00)Rq\x01K\x01a.",
            b"\x80\x04\x95\x11\x00\x00\x00\x00\x00\x00\x00\x8c\x01m\x94\x8c\x01E\x94\x93\x94)R\x94K\x01a.",
            b"\x80\x05\x95\x11\x00\x00\x00\x00\x00\x00\x00\x8c\x01m\x94\x8c\x01E\x94\x93\x94)R\x94K\x01a.",
        ];
        for (p, want) in want.iter().enumerate() {
            assert_eq!(b.enc(e, p as u8), *want, "protocol {p}");
        }
    }

    #[test]
    fn inst_obj_and_leftovers_keep_their_op() {
        let mut b = B::new();
        let cls = b.global("m", "C");
        let one = b.int(1);
        let args = b.tuple(vec![one]);
        let inst = b.object(Object::new(CallOp::Inst, cls, args, None));
        assert_eq!(b.enc(inst, 0), b"(I1\nim\nC\np0\n.");
        assert_eq!(b.enc(inst, 2), b"\x80\x02(K\x01im\nC\nq\x00.");
        let cls = b.global("m", "C");
        let one = b.int(1);
        let args = b.tuple(vec![one]);
        let obj = b.object(Object::new(CallOp::Obj, cls, args, None));
        assert_eq!(b.enc(obj, 0), b"(cm\nC\np0\nI1\nop1\n.");
        assert_eq!(b.enc(obj, 1), b"(cm\nC\nq\x00K\x01oq\x01.");

        // Extension codes, persistent ids, buffers.
        let exts: Vec<NodeId> = [1, 300, 70000]
            .iter()
            .map(|c| b.add(NodeData::Ext(*c)))
            .collect();
        let l = b.list(exts);
        assert_eq!(
            b.enc(l, 2),
            b"\x80\x02]q\x00(\x82\x01\x83,\x01\x84p\x11\x01\x00e."
        );
        assert_eq!(
            not_representable(&b.err(l, 1)),
            "extension code (protocol 2 and up)"
        );
        for bad in [0, 0x8000_0000] {
            let x = b.add(NodeData::Ext(bad));
            assert_eq!(
                not_representable(&b.err(x, 2)),
                "extension code 0 or above 2^31 - 1"
            );
        }
        let pid = b.str(b"abc");
        let pers = b.add(NodeData::PersId(pid));
        assert_eq!(b.enc(pers, 0), b"Pabc\n.");
        assert_eq!(b.enc(pers, 1), b"X\x03\x00\x00\x00abcq\x00Q.");
        assert_eq!(
            b.enc(pers, 4),
            b"\x80\x04\x95\x08\x00\x00\x00\x00\x00\x00\x00\x8c\x03abc\x94Q."
        );
        for text in [&b"caf\xc3\xa9"[..], b"a\nb"] {
            let pid = b.str(text);
            let pers = b.add(NodeData::PersId(pid));
            assert!(not_representable(&b.err(pers, 0)).starts_with("persistent id that is not"));
            assert!(b.enc(pers, 1).ends_with(b"Q."));
        }
        let buf0 = b.add(NodeData::Buffer {
            index: 0,
            readonly: false,
        });
        let buf1 = b.add(NodeData::Buffer {
            index: 1,
            readonly: true,
        });
        let l = b.list(vec![buf0, buf1, buf0]);
        assert_eq!(
            b.enc(l, 5),
            b"\x80\x05\x95\x0c\x00\x00\x00\x00\x00\x00\x00]\x94(\x97\x94\x97\x98\x94h\x01e."
        );
        assert!(not_representable(&b.err(l, 4)).starts_with("out-of-band buffer"));
        let swapped = b.list(vec![buf1, buf0]);
        assert_eq!(
            not_representable(&b.err(swapped, 5)),
            "buffer placeholders not numbered in stream order"
        );
    }

    #[test]
    fn globals_match_cpython_and_survive_the_python2_mapping() {
        let mut b = B::new();
        let set = b.global("builtins", "set");
        let frozenset = b.global("builtins", "frozenset");
        let l = b.list(vec![set, frozenset, set]);
        let want: [&[u8]; 6] = [
            b"(lp0\nc__builtin__\nset\np1\nac__builtin__\nfrozenset\np2\nag1\na.",
            b"]q\x00(c__builtin__\nset\nq\x01c__builtin__\nfrozenset\nq\x02h\x01e.",
            b"\x80\x02]q\x00(c__builtin__\nset\nq\x01c__builtin__\nfrozenset\nq\x02h\x01e.",
            b"\x80\x03]q\x00(cbuiltins\nset\nq\x01cbuiltins\nfrozenset\nq\x02h\x01e.",
            b"\x80\x04\x95*\x00\x00\x00\x00\x00\x00\x00]\x94(\x8c\x08builtins\x94\x8c\x03set\x94\x93\x94h\x01\x8c\x09frozenset\x94\x93\x94h\x03e.",
            b"\x80\x05\x95*\x00\x00\x00\x00\x00\x00\x00]\x94(\x8c\x08builtins\x94\x8c\x03set\x94\x93\x94h\x01\x8c\x09frozenset\x94\x93\x94h\x03e.",
        ];
        for (p, want) in want.iter().enumerate() {
            assert_eq!(b.enc(l, p as u8), *want, "protocol {p}");
        }
        let names = [
            ("collections", "OrderedDict"),
            ("collections", "UserDict"),
            ("builtins", "int"),
            ("builtins", "str"),
        ];
        let globals: Vec<NodeId> = names.iter().map(|(m, n)| b.global(m, n)).collect();
        let l = b.list(globals);
        assert_eq!(
            b.enc(l, 2),
            b"\x80\x02]q\x00(ccollections\nOrderedDict\nq\x01cUserDict\nIterableUserDict\nq\x02c__builtin__\nlong\nq\x03c__builtin__\nunicode\nq\x04e."
        );
        // CPython writes exceptions.OSError, which the mapping reads back as OSError:
        // the name is kept as it is instead, which the mapping leaves alone.
        let g = b.global("builtins", "ConnectionError");
        assert_eq!(b.enc(g, 2), b"\x80\x02cbuiltins\nConnectionError\nq\x00.");
        // A Python 2 module name would be read back as its Python 3 name.
        let g = b.global("__builtin__", "set");
        assert!(not_representable(&b.err(g, 2)).starts_with("global name that the Python 2"));
        assert_eq!(b.enc(g, 3), b"\x80\x03c__builtin__\nset\nq\x00.");
        assert_eq!(
            Encoder::new(2).raw(true).encode(&b.g, g).unwrap(),
            b"\x80\x02c__builtin__\nset\nq\x00."
        );
        let g = b.global("a\nb", "c");
        assert!(not_representable(&b.err(g, 3)).contains("newline"));
        assert!(b.enc(g, 4).ends_with(b"\x93\x94."));
        let g = b.global("", "c");
        assert!(not_representable(&b.err(g, 0)).starts_with("empty global name"));
    }

    #[test]
    fn raw_mode_and_folded_calls() {
        let mut b = B::new();
        let set = b.global("builtins", "set");
        let items = b.ints(&[1]);
        let list = b.list(items);
        let args = b.tuple(vec![list]);
        let call = b.object(Object::new(CallOp::Reduce, set, args, None));
        // The decoder would turn it into a set: refused at the value level ...
        assert_eq!(
            not_representable(&b.err(call, 2)),
            "call that the decoder folds into a built-in value"
        );
        // ... and written as it is for a raw graph.
        assert_eq!(
            Encoder::new(2).raw(true).encode(&b.g, call).unwrap(),
            b"\x80\x02cbuiltins\nset\nq\x00]q\x01K\x01a\x85q\x02Rq\x03."
        );
        let s = b.add(NodeData::Set(vec![]));
        let raw3 = Encoder::new(3).raw(true);
        assert!(not_representable(&raw3.encode(&b.g, s).unwrap_err())
            .starts_with("set or frozenset in raw mode"));
        assert_eq!(
            Encoder::new(4).raw(true).encode(&b.g, s).unwrap(),
            b"\x80\x04\x8f\x94."
        );
        let x = b.bytes(b"x");
        assert!(Encoder::new(2).raw(true).encode(&b.g, x).is_err());
        let x = b.bytearray(b"x");
        assert!(Encoder::new(4).raw(true).encode(&b.g, x).is_err());
    }

    #[test]
    fn refuses_what_no_stream_can_say() {
        let mut b = B::new();
        let none = b.add(NodeData::None);
        assert_eq!(b.err(none, 6), EncodeError::UnsupportedProtocol(6));
        assert_eq!(b.err(NodeId(99), 2), EncodeError::DanglingId(NodeId(99)));
        let l = b.list(vec![NodeId(98)]);
        assert_eq!(b.err(l, 2), EncodeError::DanglingId(NodeId(98)));

        // Bad str.
        let s = b.str(&[0xff]);
        assert!(not_representable(&b.err(s, 0)).starts_with("str that is not UTF-8"));
        assert!(not_representable(&b.err(s, 3)).starts_with("str that is not UTF-8"));

        // NaN payloads at protocol 0; -nan is fine.
        let weird = b.add(NodeData::Float(f64::from_bits(0x7ff8_0000_0000_0001)));
        assert!(not_representable(&b.err(weird, 0)).starts_with("NaN with a payload"));
        assert_eq!(b.enc(weird, 1), b"G\x7f\xf8\x00\x00\x00\x00\x00\x01.");
        let neg = b.add(NodeData::Float(-f64::NAN));
        assert_eq!(b.enc(neg, 0), b"F-nan\n.");
        assert_eq!(b.enc(neg, 1), b"G\xff\xf8\x00\x00\x00\x00\x00\x00.");

        // Tuples that contain each other: no stream builds that.
        let a = b.tuple(vec![]);
        let c = b.tuple(vec![a]);
        b.set_items(a, vec![c]);
        for p in 0..=5 {
            assert!(not_representable(&b.err(a, p)).starts_with("cycle through tuples"));
        }
        // An object among its own arguments, likewise.
        let cls = b.global("m", "C");
        let args = b.tuple(vec![]);
        let o = b.object(Object::new(CallOp::Reduce, cls, args, None));
        b.set_items(args, vec![o]);
        assert!(not_representable(&b.err(o, 2)).starts_with("cycle through tuples"));

        // A set holding an object built from the set: fine from 4 (EMPTY_SET first),
        // impossible below (the set is built from its items).
        let cls = b.global("m", "C");
        let s = b.add(NodeData::Set(vec![]));
        let args = b.tuple(vec![s]);
        let o = b.object(Object::new(CallOp::Reduce, cls, args, None));
        b.set_items(s, vec![o]);
        assert!(not_representable(&b.err(s, 3)).starts_with("cycle through tuples"));
        assert_eq!(
            b.enc(s, 4),
            b"\x80\x04\x95\x15\x00\x00\x00\x00\x00\x00\x00\x8f\x94(\x8c\x01m\x94\x8c\x01C\x94\x93\x94h\x00\x85\x94R\x94\x90."
        );

        // Calls the decoder would not accept, or would not give back.
        let cls = b.global("m", "C");
        let args = b.tuple(vec![]);
        let mut o = Object::new(CallOp::Reduce, cls, args, None);
        o.additems = b.ints(&[1]);
        let o = b.object(o);
        assert_eq!(
            not_representable(&b.err(o, 3)),
            "ADDITEMS on an object (protocol 4 and up)"
        );
        assert!(b.enc(o, 4).ends_with(b"R\x94(K\x01\x90."));
        let not_tuple = b.list(vec![]);
        let o = b.object(Object::new(CallOp::Reduce, cls, not_tuple, None));
        assert_eq!(
            not_representable(&b.err(o, 2)),
            "call arguments that are not a tuple"
        );
        let seven = b.int(7);
        let o = b.object(Object::new(CallOp::Reduce, seven, args, None));
        assert_eq!(
            not_representable(&b.err(o, 2)),
            "call whose callable is a plain value"
        );
        let o = b.object(Object::new(CallOp::Inst, seven, args, None));
        assert_eq!(
            not_representable(&b.err(o, 2)),
            "INST whose callable is not a global"
        );
        let e = b.global("m", "é");
        let o = b.object(Object::new(CallOp::Inst, e, args, None));
        assert_eq!(
            not_representable(&b.err(o, 2)),
            "INST name that is not ASCII"
        );
        let shared_args = b.tuple(vec![]);
        let i1 = b.object(Object::new(CallOp::Obj, cls, shared_args, None));
        let l = b.list(vec![i1, shared_args]);
        assert!(not_representable(&b.err(l, 2)).starts_with("INST/OBJ arguments tuple"));
        let o = b.object(Object::new(CallOp::NewObjEx, cls, args, None));
        assert!(not_representable(&b.err(o, 4)).starts_with("keyword arguments"));

        let e = b.err(o, 4);
        assert!(
            e.to_string().starts_with("cannot encode keyword arguments"),
            "{e}"
        );
    }

    #[test]
    fn sharing_is_kept_for_values_cpython_does_not_memoize() {
        let mut b = B::new();
        let x = b.int(1 << 40);
        let l = b.list(vec![x, x]);
        assert_eq!(
            b.enc(l, 2),
            b"\x80\x02]q\x00(\x8a\x06\x00\x00\x00\x00\x00\x01q\x01h\x01e."
        );
        // An int the decoder writes into its id (within ±2^30) has no node to share
        // once decoded: written by value each time, as CPython writes every int.
        let y = b.int(1000);
        let l = b.list(vec![y, y]);
        assert_eq!(b.enc(l, 2), b"\x80\x02]q\x00(M\xe8\x03M\xe8\x03e.");
        let t = b.tuple(vec![]);
        let l = b.list(vec![t, t]);
        assert_eq!(b.enc(l, 2), b"\x80\x02]q\x00()q\x01h\x01e.");
        // None, True and False are singletons: never memoized.
        let n = b.add(NodeData::None);
        let l = b.list(vec![n, n]);
        assert_eq!(b.enc(l, 2), b"\x80\x02]q\x00(NNe.");
    }

    #[test]
    fn framing_can_be_turned_off() {
        let mut b = B::new();
        let s = b.str(b"abc");
        assert_eq!(
            b.enc(s, 4),
            b"\x80\x04\x95\x07\x00\x00\x00\x00\x00\x00\x00\x8c\x03abc\x94."
        );
        let plain = Encoder::new(4).framing(false).encode(&b.g, s).unwrap();
        assert_eq!(plain, b"\x80\x04\x8c\x03abc\x94.");
    }

    #[test]
    fn object_in_its_own_state() {
        let mut b = B::new();
        let cls = b.global("m", "E");
        let args = b.tuple(vec![]);
        let o = b.object(Object::new(CallOp::Reduce, cls, args, None));
        if let Some(NodeData::Object(obj)) = b.g.get_mut(o) {
            obj.state.push(o);
        }
        assert_eq!(b.enc(o, 2), b"\x80\x02cm\nE\nq\x00)Rq\x01h\x01b.");
    }

    /// `x = ([x], [x])`: CPython's trick writes `x` again inside the first list; the
    /// second list, met inside that copy, is written empty and filled after it.
    #[test]
    fn tuple_reached_again_through_two_lists() {
        let mut b = B::new();
        let x = b.tuple(vec![]);
        let l1 = b.list(vec![x]);
        let l2 = b.list(vec![x]);
        b.set_items(x, vec![l1, l2]);
        assert_eq!(
            b.enc(x, 2),
            b"\x80\x02]q\x00h\x00]q\x01\x86q\x02h\x01h\x02a0ah\x0100h\x02."
        );
        assert_eq!(
            b.enc(x, 0),
            b"((lp0\n(g0\n(lp1\ntp2\ng1\ng2\na0ag1\n000g2\n."
        );
    }

    /// `x = ([x], [x], …)` is quadratic in CPython's pickler; here it stays linear.
    #[test]
    fn nested_copies_stay_linear() {
        let k = 5000;
        let mut b = B::new();
        let x = b.tuple(vec![]);
        let lists: Vec<NodeId> = (0..k).map(|_| b.list(vec![x])).collect();
        b.set_items(x, lists);
        for p in 0..=5 {
            let n = b.enc(x, p).len();
            assert!(n < 40 * k, "protocol {p}: {n} bytes");
        }
    }

    fn on_small_stack<F: FnOnce() + Send + 'static>(f: F) {
        std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(f)
            .unwrap()
            .join()
            .unwrap();
    }

    #[test]
    fn million_deep_nesting_on_a_small_stack() {
        on_small_stack(|| {
            let depth = 1_000_000;
            let mut b = B::new();
            let mut list = b.list(vec![]);
            for _ in 0..depth {
                list = b.list(vec![list]);
            }
            let mut tuple = b.tuple(vec![]);
            for _ in 0..depth {
                tuple = b.tuple(vec![tuple]);
            }
            let root = b.list(vec![list, tuple]);
            for p in [0, 2, 5] {
                let out = b.enc(root, p);
                assert!(out.ends_with(b"."));
                assert!(out.len() > 2 * depth);
            }
            // A million-long cycle.
            let first = b.list(vec![]);
            let mut last = first;
            for _ in 0..depth {
                last = b.list(vec![last]);
            }
            b.set_items(first, vec![last]);
            assert!(b.enc(first, 4).ends_with(b"a."));
        });
    }

    #[test]
    fn memo_bombs_encode_in_linear_size() {
        let mut b = B::new();
        let mut list = b.list(vec![]);
        let mut tuple = b.str(b"leaf");
        let mut dict = b.add(NodeData::Dict(vec![]));
        for i in 0..60 {
            list = b.list(vec![list, list]);
            tuple = b.tuple(vec![tuple, tuple]);
            let k = b.int(i);
            dict = b.add(NodeData::Dict(vec![(k, dict)]));
            let k = b.int(i + 1000);
            if let Some(NodeData::Dict(items)) = b.g.get_mut(dict) {
                items.push((k, items[0].1));
            }
        }
        for root in [list, tuple, dict] {
            for p in 0..=5 {
                let n = b.enc(root, p).len();
                assert!(n < 2048, "protocol {p}: {n} bytes");
            }
        }
    }

    fn iso(a: &Graph<'_>, ra: NodeId, b: &Graph<'_>, rb: NodeId) -> Result<(), String> {
        use std::collections::HashMap;
        let mut fwd: HashMap<NodeId, NodeId> = HashMap::new();
        let mut back: HashMap<NodeId, NodeId> = HashMap::new();
        let mut todo = vec![(ra, rb)];
        while let Some((x, y)) = todo.pop() {
            let nx = a.get(x).unwrap();
            let ny = b.get(y).unwrap();
            // None and bools are shared singletons in the decoder, and small ints are
            // written into their ids (equal values, equal ids): their sharing carries
            // no meaning.
            let singleton = matches!(nx, Node::None | Node::Bool(_))
                || matches!(nx, Node::Int(i) if NodeId::int(i).is_some());
            if !singleton {
                match (fwd.get(&x), back.get(&y)) {
                    (Some(m), _) if *m != y => {
                        return Err(format!("sharing: {x:?} -> {m:?} and {y:?}"))
                    }
                    (_, Some(m)) if *m != x => {
                        return Err(format!("sharing back: {y:?} <- {m:?} and {x:?}"))
                    }
                    (Some(_), _) => continue,
                    _ => {}
                }
                fwd.insert(x, y);
                back.insert(y, x);
            }
            let same = match (nx, ny) {
                (Node::Float(f), Node::Float(g)) => f.to_bits() == g.to_bits(),
                (Node::Object(o), Node::Object(p)) => {
                    o.op == p.op
                        && o.state.len() == p.state.len()
                        && o.listitems.len() == p.listitems.len()
                        && o.dictitems.len() == p.dictitems.len()
                        && o.additems.len() == p.additems.len()
                        && o.kwargs.is_some() == p.kwargs.is_some()
                }
                (Node::Tuple(v), Node::Tuple(w))
                | (Node::List(v), Node::List(w))
                | (Node::Set(v), Node::Set(w))
                | (Node::FrozenSet(v), Node::FrozenSet(w)) => v.len() == w.len(),
                (Node::Dict(v), Node::Dict(w)) => v.len() == w.len(),
                (Node::PersId(_), Node::PersId(_)) => true,
                _ => nx == ny,
            };
            if !same {
                return Err(format!("differ: {nx:?} vs {ny:?}"));
            }
            let cx: Vec<NodeId> = nx.children().collect();
            let cy: Vec<NodeId> = ny.children().collect();
            if cx.len() != cy.len() {
                return Err(format!("children: {nx:?} vs {ny:?}"));
            }
            todo.extend(cx.into_iter().zip(cy));
        }
        Ok(())
    }

    fn roundtrip(g: &Graph<'_>, root: NodeId, label: &str) {
        for p in 0..=5u8 {
            let bytes = match encode(g, root, p) {
                Ok(b) => b,
                Err(e) => {
                    eprintln!("{label} p{p}: skip {e}");
                    continue;
                }
            };
            let dec = crate::Decoder::new()
                .limits(crate::Limits::unbounded())
                .policy(crate::Policy::inert())
                .decode(&bytes);
            match dec {
                Ok(d) => {
                    if let Err(e) = iso(g, root, &d.graph, d.root) {
                        panic!("{label} p{p}: {e}\n{bytes:?}")
                    }
                }
                Err(e) => panic!("{label} p{p}: decode error {e:?}\n{bytes:?}"),
            }
        }
    }

    #[test]
    fn roundtrips_through_the_decoder() {
        for (name, build, _) in SMALL {
            let mut b = B::new();
            let root = build(&mut b);
            roundtrip(&b.g, root, name);
        }
        for (name, build) in LARGE {
            let mut b = B::new();
            let root = build(&mut b);
            roundtrip(&b.g, root, name);
        }
        let mut b = B::new();
        let c = object_c(&mut b);
        roundtrip(&b.g, c, "object_c");
        let x = b.tuple(vec![]);
        let lists: Vec<NodeId> = (0..50).map(|_| b.list(vec![x])).collect();
        b.set_items(x, lists);
        roundtrip(&b.g, x, "x50");
        let cls = b.global("m", "K");
        let fsl = b.list(vec![]);
        let fsa = b.tuple(vec![fsl]);
        let fso = b.object(Object::new(CallOp::Reduce, cls, fsa, None));
        let fs = b.add(NodeData::FrozenSet(vec![fso]));
        b.set_items(fsl, vec![fs]);
        roundtrip(&b.g, fs, "fs");
        let sl = b.list(vec![]);
        let sa = b.tuple(vec![sl]);
        let so = b.object(Object::new(CallOp::Reduce, cls, sa, None));
        let s = b.add(NodeData::Set(vec![so]));
        b.set_items(sl, vec![s]);
        roundtrip(&b.g, s, "s");
        let g = b.global("builtins", "ConnectionError");
        let g2 = b.global("collections", "UserDict");
        let g3 = b.global("builtins", "int");
        let l = b.list(vec![g, g2, g3, g]);
        roundtrip(&b.g, l, "globals");
        let pid = b.str(b"abc");
        let pers = b.add(NodeData::PersId(pid));
        let e1 = b.add(NodeData::Ext(300));
        let buf0 = b.add(NodeData::Buffer {
            index: 0,
            readonly: false,
        });
        let buf1 = b.add(NodeData::Buffer {
            index: 1,
            readonly: true,
        });
        let l = b.list(vec![pers, e1, buf0, buf1, buf0, pers]);
        roundtrip(&b.g, l, "misc");
        let cls = b.global("m", "C");
        let one = b.int(1);
        let args = b.tuple(vec![one]);
        let inst = b.object(Object::new(CallOp::Inst, cls, args, None));
        let cls = b.global("m", "C");
        let one = b.int(1);
        let args = b.tuple(vec![one]);
        let obj = b.object(Object::new(CallOp::Obj, cls, args, None));
        let l = b.list(vec![inst, obj, obj]);
        roundtrip(&b.g, l, "inst_obj");
        let mut list = b.list(vec![]);
        let mut tuple = b.str(b"leaf");
        for _ in 0..60 {
            list = b.list(vec![list, list]);
            tuple = b.tuple(vec![tuple, tuple]);
        }
        let l = b.list(vec![list, tuple]);
        roundtrip(&b.g, l, "bombs");
    }
}
