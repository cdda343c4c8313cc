//! The lossless JSON form of a graph: `pickle-canon/1`, specified in
//! `spec/json-output.md`.
//!
//! Output is compact (no spaces), one object per node with the tag `t` first, then
//! `id` when the node carries one, then the node's fields in the order of the spec's
//! table. Strings are escaped as Python's `json.dumps(ensure_ascii=False)` does, so the
//! text is byte for byte the corpus generator's. A `str` that is not valid UTF-8 (a
//! decoded one only fails that when it holds a lone surrogate) is written as `wtf8`
//! hex so nothing is lost.
//!
//! # Identity and the expansion budget
//!
//! The spec gives identity only to the mutable kinds (list, dict, set, bytearray, obj):
//! such a node reached more than once carries `"id": N` on its first occurrence in
//! depth-first pre-order (dict key before value) and is `{"t":"ref","id":N}` afterwards.
//! Immutable nodes (tuple, str, frozenset, ...) are repeated by value.
//!
//! Repeating by value is exponential on a tuple memo bomb (`t1 = (t0, t0)`,
//! `t2 = (t1, t1)`, ...) and multiplies a large string by the number of references to
//! it, while the spec promises output linear in the graph. So the printer first walks
//! the value as it would print it, adding up a weight (one per node occurrence plus the
//! payload bytes of strings, bytes, big ints and global names). If that weight stays
//! within `4 × (weight of the whole graph) + 1024`, the document is exactly the spec's.
//! Otherwise the whole document falls back to *linear mode*: every node reached more
//! than once, immutable ones included (tuples, frozensets, strings, bytes, big ints,
//! globals, persistent ids), carries an `id` on its first occurrence and is a `ref`
//! afterwards; only the fixed-size scalars (none, bool, small int, float, ext, buffer)
//! are still repeated. A consumer that wants plain values expands refs, exactly as it
//! does for shared lists. The decision is made once per document, so a reader sees
//! either the spec's usual form or linear mode, never a mix.
//!
//! Cycles always pass through a node with identity in graphs the decoder builds. A
//! hand-built graph with a cycle of immutable nodes would never end by value; it
//! exceeds the budget and is printed in linear mode, where it is finite.
//!
//! # Input safety
//!
//! Nothing here recurses: both passes keep an explicit stack whose height is the depth
//! of the current path, so a million-level list prints on a small thread stack. Memory
//! besides the output is a few bytes per graph node. An id that is not in the graph
//! (possible only in hand-built graphs) prints as JSON `null`.

use crate::graph::Children;
use crate::{pyfmt, Graph, Node, NodeId, Object};

/// The value of the document's `schema` field.
pub const SCHEMA: &str = "pickle-canon/1";

/// The whole document: `{"schema":"pickle-canon/1","value":NODE}`.
pub fn to_json(graph: &Graph<'_>, root: NodeId) -> String {
    let mut out = String::new();
    out.push_str("{\"schema\":\"");
    out.push_str(SCHEMA);
    out.push_str("\",\"value\":");
    write_value(graph, root, &mut out);
    out.push('}');
    out
}

/// Just the NODE for `root`, without the document wrapper.
pub fn value_to_json(graph: &Graph<'_>, root: NodeId) -> String {
    let mut out = String::new();
    write_value(graph, root, &mut out);
    out
}

/// Appends the NODE for `root` to `out` (for callers that add top-level fields).
pub fn write_value(graph: &Graph<'_>, root: NodeId, out: &mut String) {
    let slots = plan(graph, root);
    Printer {
        graph,
        slots,
        next_id: 0,
        out,
    }
    .run(root);
}

/// How one node prints, decided before printing.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Slot {
    /// Reached once (or a scalar): printed by value every time.
    Plain,
    /// Reached more than once and not printed yet: the first occurrence takes an id.
    Shared,
    /// Already printed with this id: later occurrences are refs.
    Printed(u32),
}

/// Growth allowed to a by-value expansion, relative to the graph (see the module docs).
const BUDGET_FACTOR: u64 = 4;
/// Slack so that small documents never fall back to linear mode.
const BUDGET_SLACK: u64 = 1024;

/// What one occurrence of `node` costs in the by-value walk: one, plus its payload.
fn weight(node: Node<'_>) -> u64 {
    let payload = match node {
        Node::Str(b) | Node::Bytes(b) | Node::ByteArray(b) => b.len(),
        Node::BigInt(b) => b.magnitude().len().saturating_mul(4),
        Node::Global(g) => g.module.len().saturating_add(g.name.len()),
        _ => 0,
    };
    u64::try_from(payload).unwrap_or(u64::MAX).saturating_add(1)
}

/// Fixed-size values that linear mode still repeats by value.
fn is_scalar(node: Node<'_>) -> bool {
    matches!(
        node,
        Node::None
            | Node::Bool(_)
            | Node::Int(_)
            | Node::Float(_)
            | Node::Ext(_)
            | Node::Buffer { .. }
    )
}

/// Decides which nodes take an id: the spec's rule if the by-value output fits the
/// budget, linear mode otherwise.
fn plan(graph: &Graph<'_>, root: NodeId) -> Vec<Slot> {
    let graph_weight = graph
        .ids()
        .filter_map(|id| graph.get(id))
        .fold(0u64, |acc, node| acc.saturating_add(weight(node)));
    let budget = graph_weight
        .saturating_mul(BUDGET_FACTOR)
        .saturating_add(BUDGET_SLACK);
    let (counts, by_value) = match count_by_value(graph, root, budget) {
        Some(counts) => (counts, true),
        None => (count_edges(graph, root), false),
    };
    graph
        .ids()
        .zip(counts)
        .map(|(id, count)| {
            let shared = count >= 2
                && graph.get(id).is_some_and(|node| {
                    if by_value {
                        node.has_identity()
                    } else {
                        !is_scalar(node)
                    }
                });
            if shared {
                Slot::Shared
            } else {
                Slot::Plain
            }
        })
        .collect()
}

/// Walks the value exactly as the spec's printing would (immutable nodes every time,
/// identity nodes only on their first occurrence), counting occurrences per node
/// (saturating at 2, all that matters). Gives up with `None` once the walk's weight
/// passes `budget`, which also bounds this walk's own time.
fn count_by_value(graph: &Graph<'_>, root: NodeId, budget: u64) -> Option<Vec<u8>> {
    let mut counts = vec![0u8; graph.len()];
    let mut spent: u64 = 0;
    let mut stack: Vec<Children<'_>> = Vec::new();
    let mut next = Some(root);
    loop {
        if let Some(id) = next.take() {
            if let Some(node) = graph.get(id) {
                // Inline ints have no entry: leaves, printed by value every time.
                let count = match graph.slot(id).and_then(|i| counts.get_mut(i)) {
                    Some(count) => {
                        *count = count.saturating_add(1);
                        *count
                    }
                    None => 1,
                };
                let is_ref = node.has_identity() && count > 1;
                spent = spent.saturating_add(if is_ref { 1 } else { weight(node) });
                if spent > budget {
                    return None;
                }
                if !is_ref {
                    stack.push(node.children());
                }
            }
        }
        let top = stack.last_mut()?;
        match top.next() {
            Some(child) => next = Some(child),
            None => {
                stack.pop();
                if stack.is_empty() {
                    return Some(counts);
                }
            }
        }
    }
}

/// Linear mode's count: how many edges (plus one for the root) reach each node, each
/// node's children walked once. With every multiply-reached node printed once, this
/// is also the number of times each node is reached while printing.
fn count_edges(graph: &Graph<'_>, root: NodeId) -> Vec<u8> {
    let mut counts = vec![0u8; graph.len()];
    let mut stack: Vec<Children<'_>> = Vec::new();
    let mut next = Some(root);
    loop {
        if let Some(id) = next.take() {
            if let (Some(node), Some(count)) = (
                graph.get(id),
                graph.slot(id).and_then(|i| counts.get_mut(i)),
            ) {
                *count = count.saturating_add(1);
                if *count == 1 {
                    stack.push(node.children());
                }
            }
        }
        let Some(top) = stack.last_mut() else {
            return counts;
        };
        match top.next() {
            Some(child) => next = Some(child),
            None => {
                stack.pop();
            }
        }
    }
}

/// One pending piece of output. The stack holds at most a couple of frames per level
/// of the current path.
enum Frame<'g> {
    /// Print this node.
    Node(NodeId),
    /// Print `ids[pos..]` separated by commas, then `close`.
    Items {
        ids: &'g [NodeId],
        pos: usize,
        close: &'static str,
    },
    /// Print `pairs` from half-step `pos` on as `[k,v],[k,v]`, then `close`.
    Pairs {
        pairs: &'g [(NodeId, NodeId)],
        pos: usize,
        close: &'static str,
    },
    /// Print an object's fields from `stage` on, then its closing brace.
    Obj { obj: &'g Object, stage: u8 },
    /// Print this text.
    Lit(&'static str),
}

struct Printer<'g, 'a, 'o> {
    graph: &'g Graph<'a>,
    slots: Vec<Slot>,
    next_id: u32,
    out: &'o mut String,
}

impl<'g> Printer<'g, '_, '_> {
    fn run(mut self, root: NodeId) {
        let mut stack: Vec<Frame<'g>> = vec![Frame::Node(root)];
        while let Some(frame) = stack.pop() {
            match frame {
                Frame::Node(id) => self.node(id, &mut stack),
                Frame::Items { ids, pos, close } => match ids.get(pos) {
                    Some(&child) => {
                        if pos > 0 {
                            self.out.push(',');
                        }
                        stack.push(Frame::Items {
                            ids,
                            pos: pos.saturating_add(1),
                            close,
                        });
                        stack.push(Frame::Node(child));
                    }
                    None => self.out.push_str(close),
                },
                Frame::Pairs { pairs, pos, close } => match pairs.get(pos / 2) {
                    Some(&(key, value)) => {
                        let even = pos % 2 == 0;
                        self.out.push_str(match (even, pos) {
                            (true, 0) => "[",
                            (true, _) => "],[",
                            (false, _) => ",",
                        });
                        stack.push(Frame::Pairs {
                            pairs,
                            pos: pos.saturating_add(1),
                            close,
                        });
                        stack.push(Frame::Node(if even { key } else { value }));
                    }
                    None => {
                        if !pairs.is_empty() {
                            self.out.push(']');
                        }
                        self.out.push_str(close);
                    }
                },
                Frame::Obj { obj, stage } => self.object_fields(obj, stage, &mut stack),
                Frame::Lit(text) => self.out.push_str(text),
            }
        }
    }

    /// Prints an object's fields from `stage` on (0 callable, 1 args, 2 kwargs,
    /// 3 state, 4 listitems, 5 dictitems, 6 additems, then the closing brace), skipping
    /// absent ones. Re-pushes itself below each child it starts.
    fn object_fields(&mut self, obj: &'g Object, mut stage: u8, stack: &mut Vec<Frame<'g>>) {
        loop {
            let items = |ids: &'g [NodeId]| Frame::Items {
                ids,
                pos: 0,
                close: "]",
            };
            let (field, child) = match (stage, obj.kwargs) {
                (0, _) => (",\"callable\":", Frame::Node(obj.callable)),
                (1, _) => (",\"args\":", Frame::Node(obj.args)),
                (2, Some(kwargs)) => (",\"kwargs\":", Frame::Node(kwargs)),
                (3, _) if !obj.state.is_empty() => (",\"state\":[", items(&obj.state)),
                (4, _) if !obj.listitems.is_empty() => (",\"listitems\":[", items(&obj.listitems)),
                (5, _) if !obj.dictitems.is_empty() => (
                    ",\"dictitems\":[",
                    Frame::Pairs {
                        pairs: &obj.dictitems,
                        pos: 0,
                        close: "]",
                    },
                ),
                (6, _) if !obj.additems.is_empty() => (",\"additems\":[", items(&obj.additems)),
                (2..=6, _) => {
                    stage = stage.saturating_add(1);
                    continue;
                }
                _ => {
                    self.out.push('}');
                    return;
                }
            };
            self.out.push_str(field);
            stack.push(Frame::Obj {
                obj,
                stage: stage.saturating_add(1),
            });
            stack.push(child);
            return;
        }
    }

    /// Opens `{"t":"<tag>"` and the id if this is a shared node's first occurrence;
    /// prints a ref and returns `false` if it was printed before.
    fn header(&mut self, id: NodeId, tag: &str) -> bool {
        let slot = self.graph.slot(id).and_then(|i| self.slots.get_mut(i));
        let assigned = match slot {
            Some(Slot::Printed(n)) => {
                let n = *n;
                self.out.push_str("{\"t\":\"ref\",\"id\":");
                self.out.push_str(&n.to_string());
                self.out.push('}');
                return false;
            }
            Some(slot @ Slot::Shared) => {
                let n = self.next_id;
                *slot = Slot::Printed(n);
                self.next_id = n.saturating_add(1);
                Some(n)
            }
            _ => None,
        };
        self.out.push_str("{\"t\":\"");
        self.out.push_str(tag);
        self.out.push('"');
        if let Some(n) = assigned {
            self.out.push_str(",\"id\":");
            self.out.push_str(&n.to_string());
        }
        true
    }

    fn node(&mut self, id: NodeId, stack: &mut Vec<Frame<'g>>) {
        let graph = self.graph;
        let Some(node) = graph.get(id) else {
            self.out.push_str("null");
            return;
        };
        if !self.header(id, tag(node)) {
            return;
        }
        let out = &mut *self.out;
        match node {
            Node::None => out.push('}'),
            Node::Bool(b) => {
                out.push_str(if b { ",\"v\":true}" } else { ",\"v\":false}" });
            }
            Node::Int(i) => {
                out.push_str(",\"v\":\"");
                out.push_str(&i.to_string());
                out.push_str("\"}");
            }
            Node::BigInt(b) => {
                out.push_str(",\"v\":\"");
                out.push_str(&b.to_decimal());
                out.push_str("\"}");
            }
            Node::Float(f) => {
                out.push_str(",\"v\":\"");
                out.push_str(&pyfmt::float_repr(f));
                out.push_str("\"}");
            }
            Node::Str(bytes) => match std::str::from_utf8(bytes) {
                Ok(text) => {
                    out.push_str(",\"v\":");
                    push_json_string(out, text);
                    out.push('}');
                }
                Err(_) => {
                    out.push_str(",\"wtf8\":\"");
                    push_hex(out, bytes);
                    out.push_str("\"}");
                }
            },
            Node::Bytes(bytes) | Node::ByteArray(bytes) => {
                out.push_str(",\"hex\":\"");
                push_hex(out, bytes);
                out.push_str("\"}");
            }
            Node::Tuple(ids) | Node::List(ids) | Node::Set(ids) | Node::FrozenSet(ids) => {
                out.push_str(",\"items\":[");
                stack.push(Frame::Items {
                    ids,
                    pos: 0,
                    close: "]}",
                });
            }
            Node::Dict(pairs) => {
                out.push_str(",\"items\":[");
                stack.push(Frame::Pairs {
                    pairs,
                    pos: 0,
                    close: "]}",
                });
            }
            Node::Global(g) => {
                out.push_str(",\"module\":");
                push_json_string(out, &g.module);
                out.push_str(",\"name\":");
                push_json_string(out, &g.name);
                out.push('}');
            }
            Node::Object(obj) => {
                out.push_str(",\"op\":\"");
                out.push_str(obj.op.name());
                out.push('"');
                stack.push(Frame::Obj { obj, stage: 0 });
            }
            Node::Ext(code) => {
                out.push_str(",\"code\":");
                out.push_str(&code.to_string());
                out.push('}');
            }
            Node::Buffer { index, readonly } => {
                out.push_str(",\"index\":");
                out.push_str(&index.to_string());
                out.push_str(if readonly {
                    ",\"readonly\":true}"
                } else {
                    ",\"readonly\":false}"
                });
            }
            Node::PersId(pid) => {
                out.push_str(",\"pid\":");
                stack.push(Frame::Lit("}"));
                stack.push(Frame::Node(pid));
            }
        }
    }
}

/// The spec's `t` for a node.
fn tag(node: Node<'_>) -> &'static str {
    match node {
        Node::None => "none",
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
        Node::Object(_) => "obj",
        Node::Ext(_) => "ext",
        Node::Buffer { .. } => "buffer",
        Node::PersId(_) => "persid",
    }
}

/// The lowercase hex digit for the low four bits of `n`.
fn hex_digit(n: u32) -> char {
    char::from_digit(n & 0x0f, 16).unwrap_or('0')
}

fn push_hex(out: &mut String, bytes: &[u8]) {
    out.reserve(bytes.len().saturating_mul(2));
    for &b in bytes {
        out.push(hex_digit(u32::from(b >> 4)));
        out.push(hex_digit(u32::from(b)));
    }
}

/// A JSON string literal as Python's `json.dumps(..., ensure_ascii=False)` writes it
/// (so the corpus expectations match byte for byte): `"` and `\` escaped, `\b \f \n
/// \r \t` in their short forms, every other control character below U+0020 as
/// `\u00XX`, everything else (non-ASCII included) as it is.
pub fn push_json_string(out: &mut String, text: &str) {
    out.push('"');
    let mut start = 0;
    for (i, c) in text.char_indices() {
        let escape = match c {
            '"' => "\\\"",
            '\\' => "\\\\",
            '\n' => "\\n",
            '\r' => "\\r",
            '\t' => "\\t",
            '\u{8}' => "\\b",
            '\u{c}' => "\\f",
            c if c < ' ' => "",
            _ => continue,
        };
        out.push_str(text.get(start..i).unwrap_or(""));
        if escape.is_empty() {
            out.push_str("\\u00");
            out.push(hex_digit(u32::from(c) >> 4));
            out.push(hex_digit(u32::from(c)));
        } else {
            out.push_str(escape);
        }
        start = i.saturating_add(c.len_utf8());
    }
    out.push_str(text.get(start..).unwrap_or(""));
    out.push('"');
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects)]
mod tests {
    use super::*;
    use crate::NodeData;
    use crate::{BigInt, CallOp, Global, IntValue};
    use std::borrow::Cow;

    fn add<'a>(g: &mut Graph<'a>, node: NodeData<'a>) -> NodeId {
        g.add(node).unwrap()
    }

    fn one(node: NodeData<'static>) -> String {
        let mut g = Graph::new();
        let id = add(&mut g, node);
        value_to_json(&g, id)
    }

    #[test]
    fn scalars_of_every_kind() {
        let big = match BigInt::from_parts(true, vec![0, 0, 1]) {
            IntValue::Big(b) => b,
            IntValue::Small(_) => unreachable!(),
        };
        let cases: Vec<(NodeData<'static>, &str)> = vec![
            (NodeData::None, r#"{"t":"none"}"#),
            (NodeData::Bool(true), r#"{"t":"bool","v":true}"#),
            (NodeData::Bool(false), r#"{"t":"bool","v":false}"#),
            (NodeData::Int(-42), r#"{"t":"int","v":"-42"}"#),
            (
                NodeData::Int(i64::MIN),
                r#"{"t":"int","v":"-9223372036854775808"}"#,
            ),
            (
                NodeData::BigInt(Box::new(big)),
                r#"{"t":"int","v":"-18446744073709551616"}"#,
            ),
            (NodeData::Float(1.5), r#"{"t":"float","v":"1.5"}"#),
            (NodeData::Float(1e300), r#"{"t":"float","v":"1e+300"}"#),
            (NodeData::Float(-0.0), r#"{"t":"float","v":"-0.0"}"#),
            (NodeData::Float(f64::NAN), r#"{"t":"float","v":"nan"}"#),
            (
                NodeData::Float(f64::NEG_INFINITY),
                r#"{"t":"float","v":"-inf"}"#,
            ),
            (
                NodeData::Str(Cow::Borrowed(
                    "a\"b\\c\n\r\t\u{8}\u{c}\u{0}\u{1}\u{1f} é€😀\u{7f}".as_bytes(),
                )),
                concat!(
                    r#"{"t":"str","v":"a\"b\\c\n\r\t\b\f\u0000\u0001\u001f é€😀"#,
                    "\u{7f}\"}"
                ),
            ),
            (NodeData::Str(Cow::Borrowed(b"")), r#"{"t":"str","v":""}"#),
            (
                NodeData::Bytes(Cow::Borrowed(b"\x00\xffA")),
                r#"{"t":"bytes","hex":"00ff41"}"#,
            ),
            (
                NodeData::ByteArray(Cow::Borrowed(b"\x01")),
                r#"{"t":"bytearray","hex":"01"}"#,
            ),
            (NodeData::Ext(258), r#"{"t":"ext","code":258}"#),
            (
                NodeData::Buffer {
                    index: 3,
                    readonly: true,
                },
                r#"{"t":"buffer","index":3,"readonly":true}"#,
            ),
            (
                NodeData::Buffer {
                    index: 0,
                    readonly: false,
                },
                r#"{"t":"buffer","index":0,"readonly":false}"#,
            ),
            (
                NodeData::Global(Box::new(Global {
                    module: "collections".into(),
                    name: "Ordered\"Dict".into(),
                })),
                r#"{"t":"global","module":"collections","name":"Ordered\"Dict"}"#,
            ),
        ];
        for (node, want) in cases {
            assert_eq!(one(node), want);
        }
    }

    #[test]
    fn lone_surrogate_is_wtf8_hex() {
        // "a\ud800" encoded with surrogatepass.
        let got = one(NodeData::Str(Cow::Borrowed(b"a\xed\xa0\x80")));
        assert_eq!(got, r#"{"t":"str","wtf8":"61eda080"}"#);
    }

    #[test]
    fn document_wrapper_and_containers() {
        let mut g = Graph::new();
        let one = add(&mut g, NodeData::Int(1));
        let s = add(&mut g, NodeData::Str(Cow::Borrowed(b"a")));
        let empty_tuple = add(&mut g, NodeData::Tuple(vec![]));
        let tuple = add(&mut g, NodeData::Tuple(vec![one, s]));
        let set = add(&mut g, NodeData::Set(vec![one]));
        let fset = add(&mut g, NodeData::FrozenSet(vec![]));
        let dict = add(&mut g, NodeData::Dict(vec![(s, tuple), (one, set)]));
        let empty_dict = add(&mut g, NodeData::Dict(vec![]));
        let pid = add(&mut g, NodeData::PersId(s));
        let root = add(
            &mut g,
            NodeData::List(vec![empty_tuple, dict, fset, empty_dict, pid]),
        );
        assert_eq!(
            to_json(&g, root),
            concat!(
                r#"{"schema":"pickle-canon/1","value":{"t":"list","items":["#,
                r#"{"t":"tuple","items":[]},"#,
                r#"{"t":"dict","items":[[{"t":"str","v":"a"},{"t":"tuple","items":[{"t":"int","v":"1"},{"t":"str","v":"a"}]}],"#,
                r#"[{"t":"int","v":"1"},{"t":"set","items":[{"t":"int","v":"1"}]}]]},"#,
                r#"{"t":"frozenset","items":[]},"#,
                r#"{"t":"dict","items":[]},"#,
                r#"{"t":"persid","pid":{"t":"str","v":"a"}}"#,
                r#"]}}"#
            )
        );
    }

    #[test]
    fn object_with_every_field() {
        let mut g = Graph::new();
        let callable = add(
            &mut g,
            NodeData::Global(Box::new(Global {
                module: "m".into(),
                name: "C".into(),
            })),
        );
        let args = add(&mut g, NodeData::Tuple(vec![]));
        let kwargs = add(&mut g, NodeData::Dict(vec![]));
        let one = add(&mut g, NodeData::Int(1));
        let two = add(&mut g, NodeData::Int(2));
        let mut obj = Object::new(CallOp::NewObjEx, callable, args, Some(kwargs));
        obj.state.push(one);
        obj.state.push(two);
        obj.listitems.push(one);
        obj.dictitems.push((one, two));
        obj.dictitems.push((two, one));
        obj.additems.push(two);
        let root = add(&mut g, NodeData::Object(Box::new(obj)));
        assert_eq!(
            value_to_json(&g, root),
            concat!(
                r#"{"t":"obj","op":"newobj_ex","callable":{"t":"global","module":"m","name":"C"},"#,
                r#""args":{"t":"tuple","items":[]},"kwargs":{"t":"dict","items":[]},"#,
                r#""state":[{"t":"int","v":"1"},{"t":"int","v":"2"}],"#,
                r#""listitems":[{"t":"int","v":"1"}],"#,
                r#""dictitems":[[{"t":"int","v":"1"},{"t":"int","v":"2"}],[{"t":"int","v":"2"},{"t":"int","v":"1"}]],"#,
                r#""additems":[{"t":"int","v":"2"}]}"#
            )
        );

        // Optional lists are omitted when empty; kwargs only when present.
        let plain = add(
            &mut g,
            NodeData::Object(Box::new(Object::new(CallOp::Reduce, callable, args, None))),
        );
        assert_eq!(
            value_to_json(&g, plain),
            concat!(
                r#"{"t":"obj","op":"reduce","callable":{"t":"global","module":"m","name":"C"},"#,
                r#""args":{"t":"tuple","items":[]}}"#
            )
        );
    }

    #[test]
    fn object_referring_to_itself_through_state() {
        let mut g = Graph::new();
        let callable = add(
            &mut g,
            NodeData::Global(Box::new(Global {
                module: "m".into(),
                name: "C".into(),
            })),
        );
        let args = add(&mut g, NodeData::Tuple(vec![]));
        let obj = add(
            &mut g,
            NodeData::Object(Box::new(Object::new(CallOp::NewObj, callable, args, None))),
        );
        let key = add(&mut g, NodeData::Str(Cow::Borrowed(b"me")));
        let state = add(&mut g, NodeData::Dict(vec![(key, obj)]));
        if let Some(NodeData::Object(o)) = g.get_mut(obj) {
            o.state.push(state);
        }
        assert_eq!(
            value_to_json(&g, obj),
            concat!(
                r#"{"t":"obj","id":0,"op":"newobj","callable":{"t":"global","module":"m","name":"C"},"#,
                r#""args":{"t":"tuple","items":[]},"#,
                r#""state":[{"t":"dict","items":[[{"t":"str","v":"me"},{"t":"ref","id":0}]]}]}"#
            )
        );
    }

    #[test]
    fn shared_list_gets_id_then_ref_and_immutables_repeat() {
        let mut g = Graph::new();
        let s = add(&mut g, NodeData::Str(Cow::Borrowed(b"x")));
        let inner = add(&mut g, NodeData::List(vec![s]));
        let other = add(&mut g, NodeData::List(vec![]));
        let tuple = add(&mut g, NodeData::Tuple(vec![s]));
        let root = add(
            &mut g,
            NodeData::List(vec![inner, tuple, other, inner, tuple]),
        );
        assert_eq!(
            value_to_json(&g, root),
            concat!(
                r#"{"t":"list","items":["#,
                r#"{"t":"list","id":0,"items":[{"t":"str","v":"x"}]},"#,
                r#"{"t":"tuple","items":[{"t":"str","v":"x"}]},"#,
                r#"{"t":"list","items":[]},"#,
                r#"{"t":"ref","id":0},"#,
                r#"{"t":"tuple","items":[{"t":"str","v":"x"}]}"#,
                r#"]}"#
            )
        );
    }

    #[test]
    fn list_inside_a_repeated_tuple_is_shared() {
        // t = ([],); (t, t): the list is reached twice through the tuple printed twice.
        let mut g = Graph::new();
        let l = add(&mut g, NodeData::List(vec![]));
        let t = add(&mut g, NodeData::Tuple(vec![l]));
        let root = add(&mut g, NodeData::Tuple(vec![t, t]));
        assert_eq!(
            value_to_json(&g, root),
            concat!(
                r#"{"t":"tuple","items":["#,
                r#"{"t":"tuple","items":[{"t":"list","id":0,"items":[]}]},"#,
                r#"{"t":"tuple","items":[{"t":"ref","id":0}]}]}"#
            )
        );
    }

    #[test]
    fn ids_follow_preorder_with_dict_key_before_value() {
        let mut g = Graph::new();
        let a = add(&mut g, NodeData::List(vec![]));
        let b = add(&mut g, NodeData::ByteArray(Cow::Borrowed(b"")));
        // A tuple key holding a list cannot come from a decoder (unhashable), but the
        // view must still number in key-then-value order.
        let key = add(&mut g, NodeData::Tuple(vec![b]));
        let dict = add(&mut g, NodeData::Dict(vec![(key, a)]));
        let root = add(&mut g, NodeData::List(vec![dict, a, b]));
        assert_eq!(
            value_to_json(&g, root),
            concat!(
                r#"{"t":"list","items":["#,
                r#"{"t":"dict","items":[[{"t":"tuple","items":[{"t":"bytearray","id":0,"hex":""}]},"#,
                r#"{"t":"list","id":1,"items":[]}]]},"#,
                r#"{"t":"ref","id":1},{"t":"ref","id":0}]}"#
            )
        );
    }

    #[test]
    fn self_containing_list() {
        let mut g = Graph::new();
        let l = add(&mut g, NodeData::List(vec![]));
        if let Some(NodeData::List(items)) = g.get_mut(l) {
            items.push(l);
        }
        assert_eq!(
            value_to_json(&g, l),
            r#"{"t":"list","id":0,"items":[{"t":"ref","id":0}]}"#
        );
    }

    #[test]
    fn dangling_id_prints_null() {
        let g = Graph::new();
        assert_eq!(value_to_json(&g, NodeId(7)), "null");
    }

    /// `x0 = []` (or `()`), `x(i+1) = [xi, xi]`, 60 levels.
    fn memo_bomb(levels: usize, tuple: bool) -> (Graph<'static>, NodeId) {
        let mut g = Graph::new();
        let make = |items: Vec<NodeId>| {
            if tuple {
                NodeData::Tuple(items)
            } else {
                NodeData::List(items)
            }
        };
        let mut prev = add(&mut g, make(vec![]));
        for _ in 0..levels {
            prev = add(&mut g, make(vec![prev, prev]));
        }
        (g, prev)
    }

    /// The expected output of a memo bomb printed with ids: level `levels` on top,
    /// every lower level with an id on first use and a ref on second.
    fn memo_bomb_expected(levels: usize, tag: &str) -> String {
        let mut want = String::new();
        // Top: no id (reached once). Levels below: ids 0, 1, ... in pre-order.
        want.push_str(&format!(r#"{{"t":"{tag}","items":["#));
        for id in 0..levels {
            if id + 1 == levels {
                want.push_str(&format!(r#"{{"t":"{tag}","id":{id},"items":[]}}"#));
            } else {
                want.push_str(&format!(r#"{{"t":"{tag}","id":{id},"items":["#));
            }
        }
        for id in (0..levels).rev() {
            want.push_str(&format!(r#",{{"t":"ref","id":{id}}}]}}"#));
        }
        want
    }

    #[test]
    fn list_memo_bomb_prints_small() {
        let (g, root) = memo_bomb(60, false);
        let got = value_to_json(&g, root);
        assert_eq!(got, memo_bomb_expected(60, "list"));
        assert!(got.len() < 4000, "{}", got.len());
    }

    #[test]
    fn tuple_memo_bomb_falls_back_to_linear_mode() {
        let (g, root) = memo_bomb(60, true);
        let got = value_to_json(&g, root);
        assert_eq!(got, memo_bomb_expected(60, "tuple"));
        assert!(got.len() < 4000, "{}", got.len());
    }

    #[test]
    fn small_tuple_bomb_stays_by_value() {
        // 2^4 leaves is far under the budget: printed exactly as the spec says.
        let (g, root) = memo_bomb(2, true);
        assert_eq!(
            value_to_json(&g, root),
            concat!(
                r#"{"t":"tuple","items":["#,
                r#"{"t":"tuple","items":[{"t":"tuple","items":[]},{"t":"tuple","items":[]}]},"#,
                r#"{"t":"tuple","items":[{"t":"tuple","items":[]},{"t":"tuple","items":[]}]}]}"#
            )
        );
    }

    #[test]
    fn shared_big_string_falls_back_to_refs() {
        // One 10 KB string referenced 10,000 times: 100 MB by value, so linear mode.
        let mut g = Graph::new();
        let big = vec![b'a'; 10_000];
        let s = add(&mut g, NodeData::Str(Cow::Owned(big)));
        let one = add(&mut g, NodeData::Int(1));
        let mut items = vec![s; 10_000];
        items.push(one);
        items.push(one);
        let root = add(&mut g, NodeData::List(items));
        let got = value_to_json(&g, root);
        let mut want = String::from(r#"{"t":"list","items":[{"t":"str","id":0,"v":""#);
        want.push_str(&"a".repeat(10_000));
        want.push_str("\"}");
        for _ in 1..10_000 {
            want.push_str(r#",{"t":"ref","id":0}"#);
        }
        want.push_str(r#",{"t":"int","v":"1"},{"t":"int","v":"1"}]}"#);
        assert_eq!(got, want);
    }

    #[test]
    fn immutable_cycle_in_hand_built_graph_terminates() {
        let mut g = Graph::new();
        let t = add(&mut g, NodeData::Tuple(vec![]));
        if let Some(NodeData::Tuple(items)) = g.get_mut(t) {
            items.push(t);
        }
        assert_eq!(
            value_to_json(&g, t),
            r#"{"t":"tuple","id":0,"items":[{"t":"ref","id":0}]}"#
        );
    }

    #[test]
    fn million_deep_list_on_a_small_stack() {
        let handle = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(|| {
                const DEPTH: usize = 1_000_000;
                let mut g = Graph::new();
                let mut prev = add(&mut g, NodeData::List(vec![]));
                for _ in 0..DEPTH {
                    prev = add(&mut g, NodeData::List(vec![prev]));
                }
                let got = value_to_json(&g, prev);
                let open = r#"{"t":"list","items":["#;
                let mut want = String::with_capacity(got.len());
                for _ in 0..=DEPTH {
                    want.push_str(open);
                }
                for _ in 0..=DEPTH {
                    want.push_str("]}");
                }
                assert!(got == want, "deep output differs");
            })
            .unwrap();
        handle.join().unwrap();
    }
}
