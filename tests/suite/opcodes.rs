//! One test per opcode: every one of the 68 opcodes of protocols 0–5 decodes to the
//! whole value CPython's C unpickler builds, and fails with the exact error (kind,
//! offset, opcode) where CPython fails.
//!
//! `every_opcode_has_a_test` compares [`COVERED`] with `Opcode::ALL`, and each case
//! checks that its input really contains the opcode it is filed under, so an opcode
//! cannot be "covered" by a test that never executes it.
//!
//! This module also holds the helpers the `semantics` module uses: [`canon`], which
//! turns a graph into a small comparable JSON form, and the assertion helpers.
//! Expected values were checked against CPython 3.11's `pickle.loads` on the same bytes
//! (for globals, with a resolvable module or a recording `find_class`).

#![allow(dead_code)]

use pickleproof::{ArgKind, Decoder, Error, ErrorKind, Graph, Node, NodeId, Opcode, Policy};
use serde_json::{json, Map, Value};

// ----- canonical form -----------------------------------------------------------------

/// A graph, from `root`, as a small JSON value that tests compare whole:
///
/// | node | JSON |
/// |---|---|
/// | `None`, `Bool`, `Int` | `null`, `true`/`false`, a number |
/// | `BigInt` | `{"int": "<decimal>"}` |
/// | `Float` | `{"float": "<Rust {:?}>"}` (`"-0.0"`, `"inf"`, `"NaN"`) |
/// | `Str` | a JSON string; with surrogates `{"str_wtf8": "<hex>"}` |
/// | `Bytes` / `ByteArray` | `{"bytes": "<escaped>"}` / `{"bytearray": "<escaped>"}` |
/// | `List` | an array |
/// | `Tuple`, `Set`, `FrozenSet` | `{"tuple": [...]}`, `{"set": [...]}`, `{"frozenset": [...]}` |
/// | `Dict` | `{"dict": [[k, v], ...]}` in insertion order |
/// | `Global` | `{"global": [module, name]}` |
/// | `Object` | `{"object": "reduce", "callable", "args", "kwargs"?, "state"?, "listitems"?, "dictitems"?, "additems"?}` |
/// | `Ext`, `Buffer`, `PersId` | `{"ext": n}`, `{"buffer": i, "readonly": b}`, `{"persid": pid}` |
///
/// A reference back to a node on the current path is `{"cycle": depth}` (0 = root).
/// Sharing is not visible here; tests check it on node ids.
pub fn canon(graph: &Graph<'_>, root: NodeId) -> Value {
    let mut path = Vec::new();
    walk(graph, root, &mut path)
}

fn walk(graph: &Graph<'_>, id: NodeId, path: &mut Vec<NodeId>) -> Value {
    if let Some(depth) = path.iter().position(|p| *p == id) {
        return json!({ "cycle": depth });
    }
    let Some(node) = graph.get(id) else {
        return json!({ "dangling": id.index() });
    };
    path.push(id);
    let all = |ids: &[NodeId], path: &mut Vec<NodeId>| -> Value {
        Value::Array(ids.iter().map(|i| walk(graph, *i, path)).collect())
    };
    let value = match node {
        Node::None => Value::Null,
        Node::Bool(b) => json!(b),
        Node::Int(i) => json!(i),
        Node::BigInt(b) => json!({ "int": b.to_string() }),
        Node::Float(f) => fl(f),
        Node::Str(s) => match std::str::from_utf8(s) {
            Ok(text) => json!(text),
            Err(_) => json!({ "str_wtf8": hex(s) }),
        },
        Node::Bytes(b) => by(b),
        Node::ByteArray(b) => ba(b),
        Node::Tuple(items) => json!({ "tuple": all(items, path) }),
        Node::List(items) => all(items, path),
        Node::Set(items) => json!({ "set": all(items, path) }),
        Node::FrozenSet(items) => json!({ "frozenset": all(items, path) }),
        Node::Dict(entries) => {
            let pairs: Vec<Value> = entries
                .iter()
                .map(|(k, v)| json!([walk(graph, *k, path), walk(graph, *v, path)]))
                .collect();
            json!({ "dict": pairs })
        }
        Node::Global(g) => gl(&g.module, &g.name),
        Node::Object(obj) => {
            let mut m = Map::new();
            m.insert("object".into(), json!(obj.op.name()));
            m.insert("callable".into(), walk(graph, obj.callable, path));
            m.insert("args".into(), walk(graph, obj.args, path));
            if let Some(kw) = obj.kwargs {
                m.insert("kwargs".into(), walk(graph, kw, path));
            }
            if !obj.state.is_empty() {
                m.insert("state".into(), all(&obj.state, path));
            }
            if !obj.listitems.is_empty() {
                m.insert("listitems".into(), all(&obj.listitems, path));
            }
            if !obj.dictitems.is_empty() {
                let pairs: Vec<Value> = obj
                    .dictitems
                    .iter()
                    .map(|(k, v)| json!([walk(graph, *k, path), walk(graph, *v, path)]))
                    .collect();
                m.insert("dictitems".into(), Value::Array(pairs));
            }
            if !obj.additems.is_empty() {
                m.insert("additems".into(), all(&obj.additems, path));
            }
            Value::Object(m)
        }
        Node::Ext(code) => json!({ "ext": code }),
        Node::Buffer { index, readonly } => json!({ "buffer": index, "readonly": readonly }),
        Node::PersId(pid) => json!({ "persid": walk(graph, pid, path) }),
    };
    path.pop();
    value
}

/// `{"float": ...}` for an expected float.
pub fn fl(f: f64) -> Value {
    json!({ "float": format!("{f:?}") })
}

/// `{"int": ...}` for an expected integer outside 64 bits.
pub fn big(decimal: &str) -> Value {
    json!({ "int": decimal })
}

/// `{"bytes": ...}` for expected bytes.
pub fn by(b: &[u8]) -> Value {
    json!({ "bytes": escape(b) })
}

/// `{"bytearray": ...}` for an expected bytearray.
pub fn ba(b: &[u8]) -> Value {
    json!({ "bytearray": escape(b) })
}

/// `{"global": [module, name]}`.
pub fn gl(module: &str, name: &str) -> Value {
    json!({ "global": [module, name] })
}

/// Printable ASCII as is, everything else (and `\`) as `\xNN`.
pub fn escape(b: &[u8]) -> String {
    let mut out = String::new();
    for &c in b {
        if (0x20..0x7f).contains(&c) && c != b'\\' {
            out.push(char::from(c));
        } else {
            out.push_str(&format!("\\x{c:02x}"));
        }
    }
    out
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|c| format!("{c:02x}")).collect()
}

// ----- decoding and asserting ---------------------------------------------------------

/// The default decoder: default limits, strict policy.
pub fn strict() -> Decoder {
    Decoder::new()
}

/// A decoder that describes every global, persistent id, extension and missing buffer.
pub fn inert() -> Decoder {
    Decoder::new().policy(Policy::inert())
}

/// The opcode byte an error is expected to name.
pub fn op(o: Opcode) -> Option<u8> {
    Some(o.byte())
}

/// Decodes and returns the canonical form, or panics with the error.
#[track_caller]
pub fn value_of(decoder: &Decoder, input: &[u8]) -> Value {
    match decoder.decode(input) {
        Ok(d) => canon(&d.graph, d.root),
        Err(e) => panic!("decoding {:?} failed: {e:?} ({e})", escape(input)),
    }
}

/// Decodes and returns the error, or panics with the value.
#[track_caller]
pub fn error_of(decoder: &Decoder, input: &[u8]) -> Error {
    match decoder.decode(input) {
        Ok(d) => panic!(
            "decoding {:?} succeeded with {}, expected an error",
            escape(input),
            canon(&d.graph, d.root)
        ),
        Err(e) => e,
    }
}

/// The whole decoded value equals `expected`.
#[track_caller]
pub fn assert_value(decoder: &Decoder, input: &[u8], expected: Value) {
    let got = value_of(decoder, input);
    assert_eq!(got, expected, "value of {:?}", escape(input));
}

/// The decode fails with exactly this kind, offset and opcode.
#[track_caller]
pub fn assert_error(
    decoder: &Decoder,
    input: &[u8],
    kind: ErrorKind,
    offset: u64,
    opcode: Option<u8>,
) {
    let e = error_of(decoder, input);
    assert_eq!(
        (e.kind().clone(), e.offset(), e.opcode()),
        (kind, offset, opcode),
        "error of {:?}",
        escape(input)
    );
}

/// `Malformed(why)`.
pub fn malformed(why: &'static str) -> ErrorKind {
    ErrorKind::Malformed(why)
}

/// `TypeMismatch { operation, found }`.
pub fn mismatch(operation: &'static str, found: &'static str) -> ErrorKind {
    ErrorKind::TypeMismatch { operation, found }
}

/// The opcodes of `input` in order, with their offsets, up to STOP or the first byte
/// that is not an opcode or whose argument does not fit (a test-side disassembler that
/// knows only the argument layouts).
pub fn opcodes_in(input: &[u8]) -> Vec<(usize, Opcode)> {
    let le = |at: usize, n: usize| -> Option<u64> {
        let bytes = input.get(at..at.checked_add(n)?)?;
        Some(
            bytes
                .iter()
                .rev()
                .fold(0u64, |acc, b| (acc << 8) | u64::from(*b)),
        )
    };
    let line_end = |from: usize| -> Option<usize> {
        let rest = input.get(from..)?;
        rest.iter().position(|b| *b == b'\n').map(|p| from + p + 1)
    };
    let mut out = Vec::new();
    let mut i = 0usize;
    while let Some(op) = input.get(i).and_then(|b| Opcode::from_byte(*b)) {
        out.push((i, op));
        if op == Opcode::Stop {
            break;
        }
        let a = i + 1;
        let len = |n: usize, signed: bool| -> Option<usize> {
            let v = le(a, n)?;
            if signed && v >= 1 << 31 {
                return None;
            }
            a.checked_add(n)?.checked_add(usize::try_from(v).ok()?)
        };
        let next = match op.arg_kind() {
            ArgKind::None => Some(a),
            ArgKind::U8 => Some(a + 1),
            ArgKind::U16 => Some(a + 2),
            ArgKind::I32 | ArgKind::U32 => Some(a + 4),
            ArgKind::U64 | ArgKind::F64 => Some(a + 8),
            ArgKind::BytesU8 => len(1, false),
            ArgKind::BytesU32 => len(4, false),
            ArgKind::BytesI32 => len(4, true),
            ArgKind::BytesU64 => len(8, false),
            ArgKind::Line => line_end(a),
            ArgKind::TwoLines => line_end(a).and_then(line_end),
        };
        match next {
            Some(n) => i = n,
            None => break,
        }
    }
    out
}

/// Cases filed under one opcode: each input must contain that opcode (at or before the
/// failing offset, for errors).
struct Cases {
    op: Opcode,
}

impl Cases {
    fn of(op: Opcode) -> Cases {
        Cases { op }
    }

    #[track_caller]
    fn contains(&self, input: &[u8], upto: Option<u64>) {
        let found = opcodes_in(input)
            .iter()
            .any(|(at, o)| *o == self.op && upto.iter().all(|u| *at as u64 <= *u));
        assert!(
            found,
            "case {:?} filed under {} does not contain it",
            escape(input),
            self.op.name()
        );
    }

    /// Decodes to `expected` with the strict default decoder.
    #[track_caller]
    fn ok(&self, input: &[u8], expected: Value) {
        self.ok_with(&strict(), input, expected);
    }

    #[track_caller]
    fn ok_with(&self, decoder: &Decoder, input: &[u8], expected: Value) {
        self.contains(input, None);
        assert_value(decoder, input, expected);
    }

    /// Fails at `offset`, naming the opcode byte found there.
    #[track_caller]
    fn err(&self, input: &[u8], offset: u64, kind: ErrorKind) {
        self.err_with(&strict(), input, offset, kind);
    }

    #[track_caller]
    fn err_with(&self, decoder: &Decoder, input: &[u8], offset: u64, kind: ErrorKind) {
        self.contains(input, Some(offset));
        let at = usize::try_from(offset)
            .ok()
            .and_then(|o| input.get(o))
            .copied();
        assert!(at.is_some(), "offset {offset} is outside the input");
        assert_error(decoder, input, kind, offset, at);
    }
}

// ----- coverage -----------------------------------------------------------------------

/// Every opcode and its test. A test missing here fails `every_opcode_has_a_test`; a
/// function missing from the module fails to compile.
const COVERED: &[(Opcode, fn())] = &[
    (Opcode::Mark, op_mark),
    (Opcode::Stop, op_stop),
    (Opcode::Pop, op_pop),
    (Opcode::PopMark, op_pop_mark),
    (Opcode::Dup, op_dup),
    (Opcode::Float, op_float),
    (Opcode::Int, op_int),
    (Opcode::BinInt, op_binint),
    (Opcode::BinInt1, op_binint1),
    (Opcode::Long, op_long),
    (Opcode::BinInt2, op_binint2),
    (Opcode::None, op_none),
    (Opcode::PersId, op_persid),
    (Opcode::BinPersId, op_binpersid),
    (Opcode::Reduce, op_reduce),
    (Opcode::String, op_string),
    (Opcode::BinString, op_binstring),
    (Opcode::ShortBinString, op_short_binstring),
    (Opcode::Unicode, op_unicode),
    (Opcode::BinUnicode, op_binunicode),
    (Opcode::Append, op_append),
    (Opcode::Build, op_build),
    (Opcode::Global, op_global),
    (Opcode::Dict, op_dict),
    (Opcode::EmptyDict, op_empty_dict),
    (Opcode::Appends, op_appends),
    (Opcode::Get, op_get),
    (Opcode::BinGet, op_binget),
    (Opcode::Inst, op_inst),
    (Opcode::LongBinGet, op_long_binget),
    (Opcode::List, op_list),
    (Opcode::EmptyList, op_empty_list),
    (Opcode::Obj, op_obj),
    (Opcode::Put, op_put),
    (Opcode::BinPut, op_binput),
    (Opcode::LongBinPut, op_long_binput),
    (Opcode::SetItem, op_setitem),
    (Opcode::Tuple, op_tuple),
    (Opcode::EmptyTuple, op_empty_tuple),
    (Opcode::SetItems, op_setitems),
    (Opcode::BinFloat, op_binfloat),
    (Opcode::Proto, op_proto),
    (Opcode::NewObj, op_newobj),
    (Opcode::Ext1, op_ext1),
    (Opcode::Ext2, op_ext2),
    (Opcode::Ext4, op_ext4),
    (Opcode::Tuple1, op_tuple1),
    (Opcode::Tuple2, op_tuple2),
    (Opcode::Tuple3, op_tuple3),
    (Opcode::NewTrue, op_newtrue),
    (Opcode::NewFalse, op_newfalse),
    (Opcode::Long1, op_long1),
    (Opcode::Long4, op_long4),
    (Opcode::BinBytes, op_binbytes),
    (Opcode::ShortBinBytes, op_short_binbytes),
    (Opcode::ShortBinUnicode, op_short_binunicode),
    (Opcode::BinUnicode8, op_binunicode8),
    (Opcode::BinBytes8, op_binbytes8),
    (Opcode::EmptySet, op_empty_set),
    (Opcode::AddItems, op_additems),
    (Opcode::FrozenSet, op_frozenset),
    (Opcode::NewObjEx, op_newobj_ex),
    (Opcode::StackGlobal, op_stack_global),
    (Opcode::Memoize, op_memoize),
    (Opcode::Frame, op_frame),
    (Opcode::ByteArray8, op_bytearray8),
    (Opcode::NextBuffer, op_next_buffer),
    (Opcode::ReadOnlyBuffer, op_readonly_buffer),
];

#[test]
fn every_opcode_has_a_test() {
    let missing: Vec<&str> = Opcode::ALL
        .iter()
        .filter(|op| !COVERED.iter().any(|(c, _)| c == *op))
        .map(|op| op.name())
        .collect();
    assert!(missing.is_empty(), "opcodes without a test: {missing:?}");
    let mut seen: Vec<u8> = COVERED.iter().map(|(op, _)| op.byte()).collect();
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen.len(), COVERED.len(), "an opcode is listed twice");
    assert_eq!(COVERED.len(), 68);
}

#[test]
fn test_disassembler_knows_argument_layouts() {
    let ops: Vec<(usize, &str)> =
        opcodes_in(b"\x80\x02cm\nn\nX\x01\x00\x00\x00a\x8a\x01\xff(t.junk")
            .iter()
            .map(|(at, op)| (*at, op.name()))
            .collect();
    assert_eq!(
        ops,
        vec![
            (0, "PROTO"),
            (2, "GLOBAL"),
            (7, "BINUNICODE"),
            (13, "LONG1"),
            (16, "MARK"),
            (17, "TUPLE"),
            (18, "STOP")
        ]
    );
}

// ----- stack and marks ----------------------------------------------------------------

#[test]
fn op_mark() {
    let c = Cases::of(Opcode::Mark);
    c.ok(b"(K\x01K\x02l.", json!([1, 2]));
    c.ok(b"((K\x01lK\x02l.", json!([[1], 2]));
    // An open MARK on top at STOP.
    c.err(b"(.", 1, ErrorKind::UnexpectedMark);
}

#[test]
fn op_stop() {
    let c = Cases::of(Opcode::Stop);
    c.ok(b"K\x01.", json!(1));
    c.ok(b"K\x01K\x02.", json!(2));
    c.err(b".", 0, ErrorKind::StackUnderflow);
}

#[test]
fn op_pop() {
    let c = Cases::of(Opcode::Pop);
    c.ok(b"K\x01K\x020.", json!(1));
    // POP with a MARK on top removes the MARK, not the value below it.
    c.ok(b"K\x01(0.", json!(1));
    c.err(b"K\x01(00.", 5, ErrorKind::StackUnderflow);
    c.err(b"0.", 0, ErrorKind::StackUnderflow);
}

#[test]
fn op_pop_mark() {
    let c = Cases::of(Opcode::PopMark);
    c.ok(b"K\x01(K\x02K\x031.", json!(1));
    c.ok(b"K\x01(1.", json!(1));
    c.err(b"K\x011.", 2, ErrorKind::MarkMissing);
}

#[test]
fn op_dup() {
    let c = Cases::of(Opcode::Dup);
    c.ok(b"K\x012\x86.", json!({ "tuple": [1, 1] }));
    c.err(b"2.", 0, ErrorKind::StackUnderflow);
    c.err(b"K\x01(2.", 3, ErrorKind::UnexpectedMark);
    // The copy is the same node, not a new one.
    let d = strict().decode(b"]2\x86.").unwrap();
    let Some(Node::Tuple(items)) = d.graph.get(d.root) else {
        panic!("not a tuple")
    };
    assert_eq!(items.first(), items.get(1));
}

// ----- numbers ------------------------------------------------------------------------

#[test]
fn op_float() {
    let c = Cases::of(Opcode::Float);
    c.ok(b"F1.5\n.", fl(1.5));
    c.ok(b"F-0.0\n.", fl(-0.0));
    c.ok(b"F1e300\n.", fl(1e300));
    c.ok(b"F.5\n.", fl(0.5));
    c.err(
        b"F1.5x\n.",
        0,
        malformed("could not convert string to float"),
    );
    c.err(b"F1.5", 0, ErrorKind::Eof);
}

#[test]
fn op_int() {
    let c = Cases::of(Opcode::Int);
    c.ok(b"I42\n.", json!(42));
    c.ok(b"I-7\n.", json!(-7));
    c.ok(b"I01\n.", json!(true));
    c.ok(b"I00\n.", json!(false));
    c.ok(b"I9223372036854775807\n.", json!(i64::MAX));
    c.ok(b"I9223372036854775808\n.", big("9223372036854775808"));
    c.err(b"Iabc\n.", 0, malformed("could not convert string to int"));
    c.err(b"I42", 0, ErrorKind::Eof);
}

#[test]
fn op_binint() {
    let c = Cases::of(Opcode::BinInt);
    c.ok(b"J\xff\xff\xff\xff.", json!(-1));
    c.ok(b"J\x00\x00\x00\x80.", json!(-2147483648i64));
    c.ok(b"J\x01\x02\x03\x04.", json!(0x04030201));
    c.err(b"J\x01\x02\x03", 0, ErrorKind::Eof);
}

#[test]
fn op_binint1() {
    let c = Cases::of(Opcode::BinInt1);
    c.ok(b"K\xff.", json!(255));
    c.ok(b"K\x00.", json!(0));
    c.err(b"K", 0, ErrorKind::Eof);
}

#[test]
fn op_binint2() {
    let c = Cases::of(Opcode::BinInt2);
    c.ok(b"M\xff\xff.", json!(65535));
    c.ok(b"M\x01\x02.", json!(0x0201));
    c.err(b"M\x01", 0, ErrorKind::Eof);
}

#[test]
fn op_long() {
    let c = Cases::of(Opcode::Long);
    c.ok(b"L123L\n.", json!(123));
    c.ok(b"L123\n.", json!(123));
    c.ok(b"L-18446744073709551616L\n.", big("-18446744073709551616"));
    c.err(b"L12a\n.", 0, malformed("invalid literal for LONG"));
}

#[test]
fn op_long1() {
    let c = Cases::of(Opcode::Long1);
    c.ok(b"\x8a\x01\xff.", json!(-1));
    c.ok(b"\x8a\x00.", json!(0));
    c.ok(b"\x8a\x02\xff\x00.", json!(255));
    c.ok(
        b"\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x00\x01.",
        big("18446744073709551616"),
    );
    c.ok(
        b"\x8a\x08\x00\x00\x00\x00\x00\x00\x00\x80.",
        json!(i64::MIN),
    );
    c.err(b"\x8a\x02\x01", 0, ErrorKind::Eof);
}

#[test]
fn op_long4() {
    let c = Cases::of(Opcode::Long4);
    c.ok(b"\x8b\x02\x00\x00\x00\x00\x80.", json!(-32768));
    c.ok(b"\x8b\x00\x00\x00\x00.", json!(0));
    c.err(
        b"\x8b\xff\xff\xff\xff.",
        0,
        malformed("LONG pickle has negative byte count"),
    );
}

#[test]
fn op_binfloat() {
    let c = Cases::of(Opcode::BinFloat);
    c.ok(b"G?\xf8\x00\x00\x00\x00\x00\x00.", fl(1.5));
    c.ok(b"G\x80\x00\x00\x00\x00\x00\x00\x00.", fl(-0.0));
    c.ok(b"G\x7f\xf0\x00\x00\x00\x00\x00\x00.", fl(f64::INFINITY));
    c.err(b"G?\xf8\x00", 0, ErrorKind::Eof);
    // The bits are kept exactly, NaN payload included.
    let d = strict()
        .decode(b"G\x7f\xf8\x00\x00\x00\x00\x00\x01.")
        .unwrap();
    let Some(Node::Float(f)) = d.graph.get(d.root) else {
        panic!("not a float")
    };
    assert_eq!(f.to_bits(), 0x7ff8_0000_0000_0001);
}

#[test]
fn op_none() {
    let c = Cases::of(Opcode::None);
    c.ok(b"N.", Value::Null);
    c.ok(b"NN\x86.", json!({ "tuple": [null, null] }));
}

#[test]
fn op_newtrue() {
    let c = Cases::of(Opcode::NewTrue);
    c.ok(b"\x88.", json!(true));
}

#[test]
fn op_newfalse() {
    let c = Cases::of(Opcode::NewFalse);
    c.ok(b"\x89.", json!(false));
}

// ----- strings and bytes --------------------------------------------------------------

#[test]
fn op_string() {
    let c = Cases::of(Opcode::String);
    c.ok(b"S'abc'\n.", json!("abc"));
    c.ok(b"S\"it's\"\n.", json!("it's"));
    c.ok(b"S'a\\nb\\x41\\101'\n.", json!("a\nbAA"));
    c.err(
        b"Sabc\n.",
        0,
        malformed("the STRING opcode argument must be quoted"),
    );
}

#[test]
fn op_binstring() {
    let c = Cases::of(Opcode::BinString);
    c.ok(b"T\x03\x00\x00\x00abc.", json!("abc"));
    c.ok(b"T\x00\x00\x00\x00.", json!(""));
    c.err(b"T\x05\x00\x00\x00ab", 0, ErrorKind::Eof);
}

#[test]
fn op_short_binstring() {
    let c = Cases::of(Opcode::ShortBinString);
    c.ok(b"U\x03abc.", json!("abc"));
    c.err(b"U\x05ab", 0, ErrorKind::Eof);
}

#[test]
fn op_unicode() {
    let c = Cases::of(Opcode::Unicode);
    c.ok(b"Vcaf\xe9\n.", json!("caf\u{e9}"));
    c.ok(b"V\\u20ac\\U0001f600\n.", json!("\u{20ac}\u{1f600}"));
    c.ok(b"V\n.", json!(""));
    c.err(b"V\\u20\n.", 0, malformed("truncated \\uXXXX escape"));
}

#[test]
fn op_binunicode() {
    let c = Cases::of(Opcode::BinUnicode);
    c.ok(b"X\x02\x00\x00\x00hi.", json!("hi"));
    c.ok(b"X\x03\x00\x00\x00\xe2\x82\xac.", json!("\u{20ac}"));
    c.err(
        b"X\x01\x00\x00\x00\xff.",
        0,
        malformed("invalid UTF-8 in string"),
    );
    c.err(b"X\x05\x00\x00\x00hi", 0, ErrorKind::Eof);
}

#[test]
fn op_short_binunicode() {
    let c = Cases::of(Opcode::ShortBinUnicode);
    c.ok(b"\x8c\x03\xe2\x82\xac.", json!("\u{20ac}"));
    c.ok(b"\x8c\x00.", json!(""));
    c.err(
        b"\x8c\x02\xc3\x28.",
        0,
        malformed("invalid UTF-8 in string"),
    );
}

#[test]
fn op_binunicode8() {
    let c = Cases::of(Opcode::BinUnicode8);
    c.ok(b"\x8d\x02\x00\x00\x00\x00\x00\x00\x00hi.", json!("hi"));
    c.err(b"\x8d\x03\x00\x00\x00\x00\x00\x00\x00hi", 0, ErrorKind::Eof);
}

#[test]
fn op_binbytes() {
    let c = Cases::of(Opcode::BinBytes);
    c.ok(b"B\x03\x00\x00\x00a\x00\xff.", by(b"a\x00\xff"));
    c.err(b"B\x03\x00\x00\x00a", 0, ErrorKind::Eof);
}

#[test]
fn op_short_binbytes() {
    let c = Cases::of(Opcode::ShortBinBytes);
    c.ok(b"C\x02hi.", by(b"hi"));
    c.ok(b"C\x00.", by(b""));
    c.err(b"C\x02h", 0, ErrorKind::Eof);
}

#[test]
fn op_binbytes8() {
    let c = Cases::of(Opcode::BinBytes8);
    c.ok(b"\x8e\x02\x00\x00\x00\x00\x00\x00\x00hi.", by(b"hi"));
    c.err(b"\x8e\x02\x00\x00\x00\x00\x00\x00\x00h", 0, ErrorKind::Eof);
}

#[test]
fn op_bytearray8() {
    let c = Cases::of(Opcode::ByteArray8);
    c.ok(b"\x96\x03\x00\x00\x00\x00\x00\x00\x00abc.", ba(b"abc"));
    c.ok(b"\x96\x00\x00\x00\x00\x00\x00\x00\x00.", ba(b""));
    c.err(b"\x96\x03\x00\x00\x00\x00\x00\x00\x00ab", 0, ErrorKind::Eof);
}

// ----- containers ---------------------------------------------------------------------

#[test]
fn op_empty_tuple() {
    let c = Cases::of(Opcode::EmptyTuple);
    c.ok(b").", json!({ "tuple": [] }));
}

#[test]
fn op_tuple() {
    let c = Cases::of(Opcode::Tuple);
    c.ok(b"(K\x01K\x02t.", json!({ "tuple": [1, 2] }));
    c.ok(b"(t.", json!({ "tuple": [] }));
    c.err(b"K\x01t.", 2, ErrorKind::MarkMissing);
}

#[test]
fn op_tuple1() {
    let c = Cases::of(Opcode::Tuple1);
    c.ok(b"K\x01\x85.", json!({ "tuple": [1] }));
    c.err(b"\x85.", 0, ErrorKind::StackUnderflow);
}

#[test]
fn op_tuple2() {
    let c = Cases::of(Opcode::Tuple2);
    c.ok(b"K\x01K\x02\x86.", json!({ "tuple": [1, 2] }));
    c.err(b"K\x01\x86.", 2, ErrorKind::StackUnderflow);
}

#[test]
fn op_tuple3() {
    let c = Cases::of(Opcode::Tuple3);
    c.ok(b"K\x01K\x02K\x03\x87.", json!({ "tuple": [1, 2, 3] }));
    c.err(b"K\x01K\x02\x87.", 4, ErrorKind::StackUnderflow);
}

#[test]
fn op_empty_list() {
    let c = Cases::of(Opcode::EmptyList);
    c.ok(b"].", json!([]));
}

#[test]
fn op_list() {
    let c = Cases::of(Opcode::List);
    c.ok(b"(K\x01K\x02l.", json!([1, 2]));
    c.ok(b"(l.", json!([]));
    c.err(b"l.", 0, ErrorKind::MarkMissing);
}

#[test]
fn op_append() {
    let c = Cases::of(Opcode::Append);
    c.ok(b"]K\x01aK\x02a.", json!([1, 2]));
    c.err(b")K\x01a.", 3, mismatch("APPEND", "tuple"));
    c.err(b"]a.", 1, ErrorKind::StackUnderflow);
}

#[test]
fn op_appends() {
    let c = Cases::of(Opcode::Appends);
    c.ok(b"](K\x01K\x02e.", json!([1, 2]));
    c.ok(b"](e.", json!([]));
    c.err(b"(K\x01e.", 3, ErrorKind::StackUnderflow);
    c.err(b"}(K\x01e.", 4, mismatch("APPEND", "dict"));
}

#[test]
fn op_empty_dict() {
    let c = Cases::of(Opcode::EmptyDict);
    c.ok(b"}.", json!({ "dict": [] }));
}

#[test]
fn op_dict() {
    let c = Cases::of(Opcode::Dict);
    c.ok(
        b"(K\x01K\x02K\x03K\x04d.",
        json!({ "dict": [[1, 2], [3, 4]] }),
    );
    c.ok(b"(d.", json!({ "dict": [] }));
    c.err(b"(K\x01d.", 3, malformed("odd number of items for DICT"));
}

#[test]
fn op_setitem() {
    let c = Cases::of(Opcode::SetItem);
    c.ok(b"}K\x01K\x02s.", json!({ "dict": [[1, 2]] }));
    c.err(b"NK\x01K\x02s.", 5, mismatch("SETITEM", "NoneType"));
    c.err(b"K\x01K\x02s.", 4, ErrorKind::StackUnderflow);
}

#[test]
fn op_setitems() {
    let c = Cases::of(Opcode::SetItems);
    c.ok(
        b"}(K\x01K\x02K\x03K\x04u.",
        json!({ "dict": [[1, 2], [3, 4]] }),
    );
    c.ok(b"}(u.", json!({ "dict": [] }));
    c.err(
        b"}(K\x01u.",
        4,
        malformed("odd number of items for SETITEMS"),
    );
}

#[test]
fn op_empty_set() {
    let c = Cases::of(Opcode::EmptySet);
    c.ok(b"\x8f.", json!({ "set": [] }));
}

#[test]
fn op_additems() {
    let c = Cases::of(Opcode::AddItems);
    c.ok(b"\x8f(K\x01K\x02K\x01\x90.", json!({ "set": [1, 2] }));
    c.ok(b"\x8f(\x90.", json!({ "set": [] }));
    c.err(b"(\x91(K\x01\x90.", 5, mismatch("ADDITEMS", "frozenset"));
}

#[test]
fn op_frozenset() {
    let c = Cases::of(Opcode::FrozenSet);
    c.ok(b"(K\x01K\x02K\x01\x91.", json!({ "frozenset": [1, 2] }));
    c.ok(b"(\x91.", json!({ "frozenset": [] }));
    c.err(b"(]\x91.", 2, ErrorKind::Unhashable("list"));
}

// ----- memo ---------------------------------------------------------------------------

#[test]
fn op_put() {
    let c = Cases::of(Opcode::Put);
    c.ok(b"K\x05p1\n0g1\n.", json!(5));
    c.err(b"K\x05p-1\n.", 2, malformed("negative PUT argument"));
}

#[test]
fn op_get() {
    let c = Cases::of(Opcode::Get);
    c.ok(b"K\x05p0\n0g0\n.", json!(5));
    c.err(b"K\x05p0\ng3\n.", 5, ErrorKind::MemoMissing(3));
}

#[test]
fn op_binput() {
    let c = Cases::of(Opcode::BinPut);
    c.ok(b"K\x05q\xff0h\xff.", json!(5));
    c.err(b"q\x00.", 0, ErrorKind::StackUnderflow);
}

#[test]
fn op_binget() {
    let c = Cases::of(Opcode::BinGet);
    c.ok(b"K\x05q\x070h\x07.", json!(5));
    c.err(b"h\x07.", 0, ErrorKind::MemoMissing(7));
}

#[test]
fn op_long_binput() {
    let c = Cases::of(Opcode::LongBinPut);
    c.ok(b"K\x05r\x00\x00\x01\x000j\x00\x00\x01\x00.", json!(5));
    c.err(b"r\x00\x00\x00\x00.", 0, ErrorKind::StackUnderflow);
}

#[test]
fn op_long_binget() {
    let c = Cases::of(Opcode::LongBinGet);
    c.ok(b"K\x05r\xff\xff\xff\xff0j\xff\xff\xff\xff.", json!(5));
    c.err(b"j\x01\x00\x00\x00.", 0, ErrorKind::MemoMissing(1));
}

#[test]
fn op_memoize() {
    let c = Cases::of(Opcode::Memoize);
    c.ok(b"K\x05\x940h\x00.", json!(5));
    c.err(b"\x94.", 0, ErrorKind::StackUnderflow);
}

// ----- globals and calls --------------------------------------------------------------

#[test]
fn op_global() {
    let c = Cases::of(Opcode::Global);
    c.ok(b"cbuiltins\nset\n.", gl("builtins", "set"));
    c.ok_with(&inert(), b"cos\nsystem\n.", gl("os", "system"));
    c.err(
        b"cos\nsystem\n.",
        0,
        ErrorKind::Forbidden {
            module: "os".into(),
            name: "system".into(),
        },
    );
    c.err(b"cos\nsys", 0, ErrorKind::Eof);
}

#[test]
fn op_stack_global() {
    let c = Cases::of(Opcode::StackGlobal);
    c.ok(b"\x8c\x08builtins\x8c\x03set\x93.", gl("builtins", "set"));
    c.ok_with(
        &inert(),
        b"\x8c\x02os\x8c\x06system\x93.",
        gl("os", "system"),
    );
    c.err(
        b"K\x01K\x02\x93.",
        4,
        malformed("STACK_GLOBAL requires str"),
    );
    c.err(b"\x93.", 0, ErrorKind::StackUnderflow);
}

#[test]
fn op_reduce() {
    let c = Cases::of(Opcode::Reduce);
    c.ok(
        b"cbuiltins\nset\n(K\x01K\x02l\x85R.",
        json!({ "set": [1, 2] }),
    );
    c.ok_with(
        &inert(),
        b"cos\nsystem\nX\x02\x00\x00\x00ls\x85R.",
        json!({
            "object": "reduce",
            "callable": gl("os", "system"),
            "args": { "tuple": ["ls"] },
        }),
    );
    c.err(b"N)R.", 2, mismatch("REDUCE", "NoneType"));
    c.err(b")R.", 1, ErrorKind::StackUnderflow);
}

#[test]
fn op_build() {
    let c = Cases::of(Opcode::Build);
    c.ok_with(
        &inert(),
        b"cm\nC\n)\x81}X\x01\x00\x00\x00aK\x01sb.",
        json!({
            "object": "newobj",
            "callable": gl("m", "C"),
            "args": { "tuple": [] },
            "state": [{ "dict": [["a", 1]] }],
        }),
    );
    c.ok(b"K\x01Nb.", json!(1));
    c.err(b"]}b.", 2, mismatch("BUILD", "list"));
}

#[test]
fn op_inst() {
    let c = Cases::of(Opcode::Inst);
    c.ok_with(
        &inert(),
        b"(K\x01imod\nCls\n.",
        json!({
            "object": "inst",
            "callable": gl("mod", "Cls"),
            "args": { "tuple": [1] },
        }),
    );
    c.err(
        b"(K\x01imod\nCls\n.",
        3,
        ErrorKind::Forbidden {
            module: "mod".into(),
            name: "Cls".into(),
        },
    );
    c.err_with(&inert(), b"imod\nCls\n.", 0, ErrorKind::MarkMissing);
}

#[test]
fn op_obj() {
    let c = Cases::of(Opcode::Obj);
    c.ok_with(
        &inert(),
        b"(cmod\nCls\nK\x01o.",
        json!({
            "object": "obj",
            "callable": gl("mod", "Cls"),
            "args": { "tuple": [1] },
        }),
    );
    c.err_with(&inert(), b"(o.", 1, ErrorKind::StackUnderflow);
    c.err_with(&inert(), b"(K\x01o.", 3, mismatch("OBJ", "int"));
}

#[test]
fn op_newobj() {
    let c = Cases::of(Opcode::NewObj);
    c.ok_with(
        &inert(),
        b"cmod\nCls\nK\x01\x85\x81.",
        json!({
            "object": "newobj",
            "callable": gl("mod", "Cls"),
            "args": { "tuple": [1] },
        }),
    );
    c.err_with(
        &inert(),
        b"cmod\nCls\nN\x81.",
        10,
        mismatch("NEWOBJ arguments", "NoneType"),
    );
    c.err_with(&inert(), b"K\x01)\x81.", 3, mismatch("NEWOBJ class", "int"));
}

#[test]
fn op_newobj_ex() {
    let c = Cases::of(Opcode::NewObjEx);
    c.ok_with(
        &inert(),
        b"cmod\nCls\n)}\x8c\x01kK\x01s\x92.",
        json!({
            "object": "newobj_ex",
            "callable": gl("mod", "Cls"),
            "args": { "tuple": [] },
            "kwargs": { "dict": [["k", 1]] },
        }),
    );
    c.err_with(
        &inert(),
        b"cmod\nCls\n))\x92.",
        11,
        mismatch("NEWOBJ_EX kwargs", "tuple"),
    );
    c.err_with(
        &inert(),
        b"cmod\nCls\n]}\x92.",
        11,
        mismatch("NEWOBJ arguments", "list"),
    );
}

#[test]
fn op_persid() {
    let c = Cases::of(Opcode::PersId);
    c.ok_with(&inert(), b"Pabc\n.", json!({ "persid": "abc" }));
    c.err(b"Pabc\n.", 0, ErrorKind::PersistentIdRefused);
}

#[test]
fn op_binpersid() {
    let c = Cases::of(Opcode::BinPersId);
    c.ok_with(&inert(), b"K\x01Q.", json!({ "persid": 1 }));
    c.err(b"K\x01Q.", 2, ErrorKind::PersistentIdRefused);
    c.err_with(&inert(), b"Q.", 0, ErrorKind::StackUnderflow);
}

#[test]
fn op_ext1() {
    let c = Cases::of(Opcode::Ext1);
    c.ok_with(&inert(), b"\x82\x05.", json!({ "ext": 5 }));
    c.err(b"\x82\x05.", 0, ErrorKind::ExtensionRefused(5));
    c.err_with(
        &inert(),
        b"\x82\x00.",
        0,
        malformed("EXT specifies code <= 0"),
    );
}

#[test]
fn op_ext2() {
    let c = Cases::of(Opcode::Ext2);
    c.ok_with(&inert(), b"\x83\x00\x01.", json!({ "ext": 256 }));
    c.err(b"\x83\x00\x01.", 0, ErrorKind::ExtensionRefused(256));
    c.err_with(
        &inert(),
        b"\x83\x00\x00.",
        0,
        malformed("EXT specifies code <= 0"),
    );
}

#[test]
fn op_ext4() {
    let c = Cases::of(Opcode::Ext4);
    c.ok_with(&inert(), b"\x84\x00\x00\x01\x00.", json!({ "ext": 65536 }));
    c.err(
        b"\x84\x00\x00\x01\x00.",
        0,
        ErrorKind::ExtensionRefused(65536),
    );
    c.err_with(
        &inert(),
        b"\x84\x00\x00\x00\x00.",
        0,
        malformed("EXT specifies code <= 0"),
    );
}

// ----- protocol, framing, buffers -----------------------------------------------------

#[test]
fn op_proto() {
    let c = Cases::of(Opcode::Proto);
    c.ok(b"\x80\x05N.", Value::Null);
    c.ok(b"\x80\x00N.", Value::Null);
    c.err(b"\x80\x06N.", 0, ErrorKind::UnsupportedProtocol(6));
    c.err(b"\x80", 0, ErrorKind::Eof);
    assert_eq!(strict().decode(b"\x80\x04N.").unwrap().protocol, 4);
}

#[test]
fn op_frame() {
    let c = Cases::of(Opcode::Frame);
    c.ok(b"\x95\x03\x00\x00\x00\x00\x00\x00\x00K\x01.", json!(1));
    c.ok(b"\x95\x00\x00\x00\x00\x00\x00\x00\x00K\x01.", json!(1));
    c.err(
        b"\x95\x10\x00\x00\x00\x00\x00\x00\x00K\x01.",
        0,
        ErrorKind::Eof,
    );
    c.err(b"\x95\x01\x00\x00", 0, ErrorKind::Eof);
}

#[test]
fn op_next_buffer() {
    let c = Cases::of(Opcode::NextBuffer);
    c.err(b"\x97.", 0, ErrorKind::BufferMissing);
    c.ok_with(
        &inert(),
        b"\x97.",
        json!({ "buffer": 0, "readonly": false }),
    );
    c.ok_with(
        &strict().buffers(vec![b"abc".to_vec()]),
        b"\x97.",
        ba(b"abc"),
    );
}

#[test]
fn op_readonly_buffer() {
    let c = Cases::of(Opcode::ReadOnlyBuffer);
    c.ok(b"C\x02hi\x98.", by(b"hi"));
    c.ok_with(
        &inert(),
        b"\x97\x98.",
        json!({ "buffer": 0, "readonly": true }),
    );
    c.err(b"K\x01\x98.", 2, mismatch("READONLY_BUFFER", "int"));
    c.err(b"\x98.", 0, ErrorKind::StackUnderflow);
}
