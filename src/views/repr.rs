//! A Python-like `repr` of a graph, for people reading a pickle: built-in values look
//! exactly as Python prints them (`[1, 'a', (2,)]`, `{'k': b'v'}`, `frozenset()`).
//!
//! What Python cannot show, because the call was never made, is written so that it
//! reads like the code the stream describes:
//!
//! | node | shown as |
//! |---|---|
//! | global | `module.name` |
//! | object (any call opcode) | `callable(arg, arg)`; NEWOBJ_EX adds `**kwargs`: `C(1, **{'a': 2})`; args that are not a tuple (hand-built graphs) show as `C(*args)` |
//! | … each BUILD state | ` + state(S)` appended, in order |
//! | … items appended | ` <- [a, b]` |
//! | … items set | ` <- {k: v}` |
//! | … items added | ` <- {a, b}` |
//! | extension code | `<ext 5>` |
//! | out-of-band buffer | `<buffer 0>`, `<readonly buffer 0>` |
//! | persistent id | `persistent_id('pid')` |
//!
//! so `collections.OrderedDict` pickled with one item reads
//! `collections.OrderedDict() <- {'a': 1}`.
//!
//! Sharing is invisible, as in Python: a node reached twice prints twice. A container
//! reached again while it is still being printed (a cycle) prints as Python's
//! recursive repr does: `[...]` for a list, `{...}` for a dict or set, `(...)` for a
//! tuple (only in hand-built graphs), `...` for an object or persistent id.
//!
//! # Bounds
//!
//! A container nested [`ReprOptions::max_depth`] levels deep prints as `...`. The
//! output stops at [`ReprOptions::max_len`] bytes and then ends with `...`, so it is
//! never longer than `max_len + 3`. Every step of the printer emits at least one byte,
//! so the work is bounded by `max_len` too, even for a memo bomb (whose full repr would
//! be exponential). Long strings are cut *before* they are escaped, so a huge payload
//! costs no more than `max_len`; the quote character is then chosen from the part
//! shown, which may differ from Python's choice for the whole string.
//!
//! The printer keeps an explicit stack (one or two frames per level of the current
//! path), never recursing, so any depth is safe.

use crate::{pyfmt, Graph, Node, NodeId, Object};

/// Bounds on one repr.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReprOptions {
    /// Output bytes before the repr is cut and ends with `...` (default 64 KiB). Also
    /// bounds the time spent, which is proportional to the output.
    pub max_len: usize,
    /// Containers nested this deep print as `...` (default 200; the root is at
    /// depth 0, so `0` shows a root container as `...`).
    pub max_depth: usize,
}

impl Default for ReprOptions {
    fn default() -> ReprOptions {
        ReprOptions {
            max_len: 64 * 1024,
            max_depth: 200,
        }
    }
}

/// The repr of `root` with [`ReprOptions::default`].
pub fn repr(graph: &Graph<'_>, root: NodeId) -> String {
    repr_with(graph, root, &ReprOptions::default())
}

/// The repr of `root` within `opts`.
pub fn repr_with(graph: &Graph<'_>, root: NodeId, opts: &ReprOptions) -> String {
    let mut printer = Printer {
        graph,
        opts,
        out: Out {
            text: String::new(),
            max: opts.max_len,
            full: false,
        },
        on_path: vec![false; graph.len()],
    };
    printer.run(root);
    printer.out.text
}

/// The output, cut at `max` bytes.
struct Out {
    text: String,
    max: usize,
    full: bool,
}

impl Out {
    /// Room left before the cut.
    fn room(&self) -> usize {
        self.max.saturating_sub(self.text.len())
    }

    /// Appends `s`, or as much of it as fits followed by `...` (then nothing more).
    fn push(&mut self, s: &str) {
        if self.full || s.is_empty() {
            return;
        }
        let room = self.room();
        if s.len() <= room {
            self.text.push_str(s);
            return;
        }
        let mut cut = room;
        while !s.is_char_boundary(cut) {
            cut = cut.saturating_sub(1);
        }
        self.text.push_str(s.get(..cut).unwrap_or(""));
        self.text.push_str("...");
        self.full = true;
    }
}

/// One pending piece of output.
enum Frame<'g> {
    /// Print this node; `depth` is the number of enclosing containers.
    Node { id: NodeId, depth: usize },
    /// Print `ids[pos..]` separated by `, `, then `close`.
    Items {
        ids: &'g [NodeId],
        pos: usize,
        depth: usize,
        close: &'static str,
    },
    /// Print `pairs` from half-step `pos` on as `k: v, k: v`, then `close`.
    Pairs {
        pairs: &'g [(NodeId, NodeId)],
        pos: usize,
        depth: usize,
        close: &'static str,
    },
    /// Print an object from `stage` on; `index` walks the states.
    Obj {
        obj: &'g Object,
        stage: u8,
        index: usize,
        depth: usize,
    },
    /// Print this text.
    Lit(&'static str),
    /// The container is finished: it is no longer on the current path.
    Leave(NodeId),
}

struct Printer<'g, 'a, 'o> {
    graph: &'g Graph<'a>,
    opts: &'o ReprOptions,
    out: Out,
    /// Containers being printed, to show cycles as Python does.
    on_path: Vec<bool>,
}

impl<'g> Printer<'g, '_, '_> {
    fn run(&mut self, root: NodeId) {
        let mut stack: Vec<Frame<'g>> = vec![Frame::Node { id: root, depth: 0 }];
        while let Some(frame) = stack.pop() {
            if self.out.full {
                return;
            }
            match frame {
                Frame::Node { id, depth } => self.node(id, depth, &mut stack),
                Frame::Items {
                    ids,
                    pos,
                    depth,
                    close,
                } => match ids.get(pos) {
                    Some(&id) => {
                        if pos > 0 {
                            self.out.push(", ");
                        }
                        stack.push(Frame::Items {
                            ids,
                            pos: pos.saturating_add(1),
                            depth,
                            close,
                        });
                        stack.push(Frame::Node { id, depth });
                    }
                    None => self.out.push(close),
                },
                Frame::Pairs {
                    pairs,
                    pos,
                    depth,
                    close,
                } => match pairs.get(pos / 2) {
                    Some(&(key, value)) => {
                        let even = pos % 2 == 0;
                        if !even {
                            self.out.push(": ");
                        } else if pos > 0 {
                            self.out.push(", ");
                        }
                        stack.push(Frame::Pairs {
                            pairs,
                            pos: pos.saturating_add(1),
                            depth,
                            close,
                        });
                        let id = if even { key } else { value };
                        stack.push(Frame::Node { id, depth });
                    }
                    None => self.out.push(close),
                },
                Frame::Obj {
                    obj,
                    stage,
                    index,
                    depth,
                } => self.object(obj, stage, index, depth, &mut stack),
                Frame::Lit(text) => self.out.push(text),
                Frame::Leave(id) => {
                    if let Some(flag) = self.graph.slot(id).and_then(|i| self.on_path.get_mut(i)) {
                        *flag = false;
                    }
                }
            }
        }
    }

    fn node(&mut self, id: NodeId, depth: usize, stack: &mut Vec<Frame<'g>>) {
        let graph = self.graph;
        let Some(node) = graph.get(id) else {
            self.out.push("<missing node>");
            return;
        };
        let children_depth = depth.saturating_add(1);
        let is_container = matches!(
            node,
            Node::Tuple(_)
                | Node::List(_)
                | Node::Dict(_)
                | Node::Set(_)
                | Node::FrozenSet(_)
                | Node::Object(_)
                | Node::PersId(_)
        );
        if is_container {
            if depth >= self.opts.max_depth {
                self.out.push("...");
                return;
            }
            let Some(flag) = self.graph.slot(id).and_then(|i| self.on_path.get_mut(i)) else {
                return;
            };
            if *flag {
                self.out.push(match node {
                    Node::List(_) => "[...]",
                    Node::Dict(_) | Node::Set(_) | Node::FrozenSet(_) => "{...}",
                    Node::Tuple(_) => "(...)",
                    _ => "...",
                });
                return;
            }
            *flag = true;
            stack.push(Frame::Leave(id));
        }
        let items = |ids: &'g [NodeId], close: &'static str| Frame::Items {
            ids,
            pos: 0,
            depth: children_depth,
            close,
        };
        match node {
            Node::None => self.out.push("None"),
            Node::Bool(b) => self.out.push(if b { "True" } else { "False" }),
            Node::Int(i) => self.out.push(&i.to_string()),
            Node::BigInt(b) => self.out.push(&b.to_decimal()),
            Node::Float(f) => self.out.push(&pyfmt::float_repr(f)),
            Node::Str(bytes) => {
                let shown = utf8_prefix(bytes, self.out.room().saturating_add(1));
                self.out.push(&pyfmt::str_repr(shown));
            }
            Node::Bytes(bytes) => {
                let shown = bytes
                    .get(..self.out.room().saturating_add(1))
                    .unwrap_or(bytes);
                self.out.push(&pyfmt::bytes_repr(shown));
            }
            Node::ByteArray(bytes) => {
                self.out.push("bytearray(");
                let shown = bytes
                    .get(..self.out.room().saturating_add(1))
                    .unwrap_or(bytes);
                self.out.push(&pyfmt::bytes_repr(shown));
                self.out.push(")");
            }
            Node::Tuple(ids) => {
                self.out.push("(");
                stack.push(items(ids, if ids.len() == 1 { ",)" } else { ")" }));
            }
            Node::List(ids) => {
                self.out.push("[");
                stack.push(items(ids, "]"));
            }
            Node::Dict(pairs) => {
                self.out.push("{");
                stack.push(Frame::Pairs {
                    pairs,
                    pos: 0,
                    depth: children_depth,
                    close: "}",
                });
            }
            Node::Set([]) => self.out.push("set()"),
            Node::Set(ids) => {
                self.out.push("{");
                stack.push(items(ids, "}"));
            }
            Node::FrozenSet([]) => self.out.push("frozenset()"),
            Node::FrozenSet(ids) => {
                self.out.push("frozenset({");
                stack.push(items(ids, "})"));
            }
            Node::Global(g) => {
                self.out.push(&g.module);
                self.out.push(".");
                self.out.push(&g.name);
            }
            Node::Object(obj) => stack.push(Frame::Obj {
                obj,
                stage: 0,
                index: 0,
                depth: children_depth,
            }),
            Node::Ext(code) => {
                self.out.push("<ext ");
                self.out.push(&code.to_string());
                self.out.push(">");
            }
            Node::Buffer { index, readonly } => {
                self.out.push(if readonly {
                    "<readonly buffer "
                } else {
                    "<buffer "
                });
                self.out.push(&index.to_string());
                self.out.push(">");
            }
            Node::PersId(pid) => {
                self.out.push("persistent_id(");
                stack.push(Frame::Lit(")"));
                stack.push(Frame::Node {
                    id: pid,
                    depth: children_depth,
                });
            }
        }
    }

    /// Prints an object from `stage` on: 0 callable, 1 `(` and the args, 2 kwargs,
    /// 3 `)`, 4 each state, 5 listitems, 6 dictitems, 7 additems. Re-pushes itself
    /// below each child it starts.
    fn object(
        &mut self,
        obj: &'g Object,
        mut stage: u8,
        mut index: usize,
        depth: usize,
        stack: &mut Vec<Frame<'g>>,
    ) {
        let graph = self.graph;
        let args_tuple = match graph.get(obj.args) {
            Some(Node::Tuple(ids)) => Some(ids),
            _ => None,
        };
        loop {
            let mut resume = |stage: u8, index: usize| {
                stack.push(Frame::Obj {
                    obj,
                    stage,
                    index,
                    depth,
                });
            };
            match stage {
                0 => {
                    resume(1, 0);
                    stack.push(Frame::Node {
                        id: obj.callable,
                        depth,
                    });
                    return;
                }
                1 => {
                    self.out.push("(");
                    resume(2, 0);
                    match args_tuple {
                        Some(ids) => stack.push(Frame::Items {
                            ids,
                            pos: 0,
                            depth,
                            close: "",
                        }),
                        None => {
                            self.out.push("*");
                            stack.push(Frame::Node {
                                id: obj.args,
                                depth,
                            });
                        }
                    }
                    return;
                }
                2 => {
                    if let Some(kwargs) = obj.kwargs {
                        if !matches!(args_tuple, Some(ids) if ids.is_empty()) {
                            self.out.push(", ");
                        }
                        self.out.push("**");
                        resume(3, 0);
                        stack.push(Frame::Node { id: kwargs, depth });
                        return;
                    }
                }
                3 => self.out.push(")"),
                4 => {
                    if let Some(&state) = obj.state.get(index) {
                        self.out.push(" + state(");
                        resume(4, index.saturating_add(1));
                        stack.push(Frame::Lit(")"));
                        stack.push(Frame::Node { id: state, depth });
                        return;
                    }
                }
                5 => {
                    if !obj.listitems.is_empty() {
                        self.out.push(" <- [");
                        resume(6, 0);
                        stack.push(Frame::Items {
                            ids: &obj.listitems,
                            pos: 0,
                            depth,
                            close: "]",
                        });
                        return;
                    }
                }
                6 => {
                    if !obj.dictitems.is_empty() {
                        self.out.push(" <- {");
                        resume(7, 0);
                        stack.push(Frame::Pairs {
                            pairs: &obj.dictitems,
                            pos: 0,
                            depth,
                            close: "}",
                        });
                        return;
                    }
                }
                7 => {
                    if !obj.additems.is_empty() {
                        self.out.push(" <- {");
                        resume(8, 0);
                        stack.push(Frame::Items {
                            ids: &obj.additems,
                            pos: 0,
                            depth,
                            close: "}",
                        });
                        return;
                    }
                }
                _ => return,
            }
            stage = stage.saturating_add(1);
            index = 0;
        }
    }
}

/// The first `at_least` bytes of generalized UTF-8 text, extended to the end of the
/// code point they stop in, so the cut never splits a character.
fn utf8_prefix(bytes: &[u8], at_least: usize) -> &[u8] {
    let mut end = at_least;
    while bytes.get(end).is_some_and(|b| b & 0xC0 == 0x80) {
        end = end.saturating_add(1);
    }
    bytes.get(..end).unwrap_or(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NodeData;
    use crate::{BigInt, CallOp, Global, IntValue};
    use std::borrow::Cow;

    fn add<'a>(g: &mut Graph<'a>, node: NodeData<'a>) -> NodeId {
        g.add(node).unwrap()
    }

    fn global<'a>(g: &mut Graph<'a>, module: &str, name: &str) -> NodeId {
        add(
            g,
            NodeData::Global(Box::new(Global {
                module: module.into(),
                name: name.into(),
            })),
        )
    }

    fn one(node: NodeData<'static>) -> String {
        let mut g = Graph::new();
        let id = add(&mut g, node);
        repr(&g, id)
    }

    #[test]
    fn scalars() {
        let big = match BigInt::from_parts(false, vec![0, 0, 1]) {
            IntValue::Big(b) => b,
            IntValue::Small(_) => unreachable!(),
        };
        let cases: Vec<(NodeData<'static>, &str)> = vec![
            (NodeData::None, "None"),
            (NodeData::Bool(true), "True"),
            (NodeData::Bool(false), "False"),
            (NodeData::Int(-7), "-7"),
            (NodeData::BigInt(Box::new(big)), "18446744073709551616"),
            (NodeData::Float(1.0), "1.0"),
            (NodeData::Float(1e-5), "1e-05"),
            (NodeData::Str(Cow::Borrowed(b"it's")), "\"it's\""),
            (NodeData::Str(Cow::Borrowed(b"\xed\xa0\x80")), "'\\ud800'"),
            (NodeData::Bytes(Cow::Borrowed(b"a\x00")), "b'a\\x00'"),
            (
                NodeData::ByteArray(Cow::Borrowed(b"xy")),
                "bytearray(b'xy')",
            ),
            (NodeData::Ext(5), "<ext 5>"),
            (
                NodeData::Buffer {
                    index: 0,
                    readonly: false,
                },
                "<buffer 0>",
            ),
            (
                NodeData::Buffer {
                    index: 2,
                    readonly: true,
                },
                "<readonly buffer 2>",
            ),
            (NodeData::Tuple(vec![]), "()"),
            (NodeData::List(vec![]), "[]"),
            (NodeData::Dict(vec![]), "{}"),
            (NodeData::Set(vec![]), "set()"),
            (NodeData::FrozenSet(vec![]), "frozenset()"),
        ];
        for (node, want) in cases {
            assert_eq!(one(node), want);
        }
    }

    #[test]
    fn containers_like_python() {
        let mut g = Graph::new();
        let n1 = add(&mut g, NodeData::Int(1));
        let n2 = add(&mut g, NodeData::Int(2));
        let a = add(&mut g, NodeData::Str(Cow::Borrowed(b"a")));
        let t1 = add(&mut g, NodeData::Tuple(vec![n1]));
        let t2 = add(&mut g, NodeData::Tuple(vec![n1, n2]));
        let d = add(&mut g, NodeData::Dict(vec![(a, n1), (t1, t2)]));
        let s = add(&mut g, NodeData::Set(vec![n1, n2]));
        let f = add(&mut g, NodeData::FrozenSet(vec![n1]));
        let root = add(&mut g, NodeData::List(vec![t1, t2, d, s, f, n1]));
        assert_eq!(
            repr(&g, root),
            "[(1,), (1, 2), {'a': 1, (1,): (1, 2)}, {1, 2}, frozenset({1}), 1]"
        );
    }

    #[test]
    fn cycles_print_like_recursive_repr() {
        let mut g = Graph::new();
        let l = add(&mut g, NodeData::List(vec![]));
        let k = add(&mut g, NodeData::Str(Cow::Borrowed(b"d")));
        let d = add(&mut g, NodeData::Dict(vec![]));
        if let Some(NodeData::List(items)) = g.get_mut(l) {
            items.push(l);
            items.push(d);
        }
        if let Some(NodeData::Dict(items)) = g.get_mut(d) {
            items.push((k, d));
        }
        assert_eq!(repr(&g, l), "[[...], {'d': {...}}]");
        // Shared but not cyclic: printed twice, as Python does.
        let e = add(&mut g, NodeData::List(vec![]));
        let pair = add(&mut g, NodeData::List(vec![e, e]));
        assert_eq!(repr(&g, pair), "[[], []]");
    }

    #[test]
    fn objects_show_the_call_and_what_followed() {
        let mut g = Graph::new();
        let od = global(&mut g, "collections", "OrderedDict");
        let empty = add(&mut g, NodeData::Tuple(vec![]));
        let a = add(&mut g, NodeData::Str(Cow::Borrowed(b"a")));
        let n1 = add(&mut g, NodeData::Int(1));
        let mut obj = Object::new(CallOp::Reduce, od, empty, None);
        obj.dictitems.push((a, n1));
        let root = add(&mut g, NodeData::Object(Box::new(obj)));
        assert_eq!(repr(&g, root), "collections.OrderedDict() <- {'a': 1}");

        let cls = global(&mut g, "m", "C");
        let args = add(&mut g, NodeData::Tuple(vec![n1, a]));
        let kwargs = add(&mut g, NodeData::Dict(vec![(a, n1)]));
        let state = add(&mut g, NodeData::Dict(vec![(a, a)]));
        let mut obj = Object::new(CallOp::NewObjEx, cls, args, Some(kwargs));
        obj.state.push(state);
        obj.state.push(n1);
        obj.listitems.push(n1);
        obj.listitems.push(n1);
        obj.additems.push(a);
        let root = add(&mut g, NodeData::Object(Box::new(obj)));
        assert_eq!(
            repr(&g, root),
            "m.C(1, 'a', **{'a': 1}) + state({'a': 'a'}) + state(1) <- [1, 1] <- {'a'}"
        );

        let only_kwargs = add(
            &mut g,
            NodeData::Object(Box::new(Object::new(
                CallOp::NewObjEx,
                cls,
                empty,
                Some(kwargs),
            ))),
        );
        assert_eq!(repr(&g, only_kwargs), "m.C(**{'a': 1})");

        let odd_args = add(
            &mut g,
            NodeData::Object(Box::new(Object::new(CallOp::Reduce, cls, n1, None))),
        );
        assert_eq!(repr(&g, odd_args), "m.C(*1)");

        let pid = add(&mut g, NodeData::PersId(a));
        assert_eq!(repr(&g, pid), "persistent_id('a')");
    }

    #[test]
    fn object_holding_itself_in_its_state() {
        let mut g = Graph::new();
        let cls = global(&mut g, "m", "Node");
        let empty = add(&mut g, NodeData::Tuple(vec![]));
        let obj = add(
            &mut g,
            NodeData::Object(Box::new(Object::new(CallOp::NewObj, cls, empty, None))),
        );
        let key = add(&mut g, NodeData::Str(Cow::Borrowed(b"me")));
        let state = add(&mut g, NodeData::Dict(vec![(key, obj)]));
        if let Some(NodeData::Object(o)) = g.get_mut(obj) {
            o.state.push(state);
        }
        assert_eq!(repr(&g, obj), "m.Node() + state({'me': ...})");
    }

    #[test]
    fn depth_limit() {
        let mut g = Graph::new();
        let n = add(&mut g, NodeData::Int(1));
        let inner = add(&mut g, NodeData::List(vec![n]));
        let mid = add(&mut g, NodeData::List(vec![inner, n]));
        let root = add(&mut g, NodeData::List(vec![mid]));
        let with = |max_depth| {
            repr_with(
                &g,
                root,
                &ReprOptions {
                    max_len: 100,
                    max_depth,
                },
            )
        };
        assert_eq!(with(0), "...");
        assert_eq!(with(1), "[...]");
        assert_eq!(with(2), "[[..., 1]]");
        assert_eq!(with(3), "[[[1], 1]]");
    }

    #[test]
    fn length_limit_cuts_and_marks() {
        let mut g = Graph::new();
        let s = add(
            &mut g,
            NodeData::Str(Cow::Owned("é".repeat(100).into_bytes())),
        );
        let b = add(&mut g, NodeData::Bytes(Cow::Owned(vec![0u8; 1_000_000])));
        let root = add(&mut g, NodeData::List(vec![s, b]));
        let opts = |max_len| ReprOptions {
            max_len,
            max_depth: 10,
        };
        // "é" is two bytes: the cut falls back to a character boundary.
        assert_eq!(repr_with(&g, root, &opts(5)), "['é...");
        assert_eq!(repr_with(&g, root, &opts(6)), "['éé...");
        assert_eq!(repr_with(&g, root, &opts(7)), "['éé...");
        assert_eq!(repr_with(&g, b, &opts(10)), "b'\\x00\\x00...");
        assert_eq!(repr_with(&g, b, &opts(0)), "...");
        // Exactly full: no marker.
        let short = add(&mut g, NodeData::List(vec![]));
        assert_eq!(repr_with(&g, short, &opts(2)), "[]");
        assert_eq!(repr_with(&g, short, &opts(1)), "[...");
    }

    #[test]
    fn memo_bomb_is_cut_not_expanded() {
        let mut g = Graph::new();
        let mut prev = add(&mut g, NodeData::Tuple(vec![]));
        for _ in 0..60 {
            prev = add(&mut g, NodeData::Tuple(vec![prev, prev]));
        }
        let opts = ReprOptions {
            max_len: 40,
            max_depth: 1000,
        };
        let got = repr_with(&g, prev, &opts);
        assert_eq!(got, format!("{}...", "(".repeat(40)));
        let opts = ReprOptions {
            max_len: 1000,
            max_depth: 3,
        };
        let got = repr_with(&g, prev, &opts);
        assert_eq!(got, "(((..., ...), (..., ...)), ((..., ...), (..., ...)))");
    }

    #[test]
    fn deep_list_on_a_small_stack() {
        let handle = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(|| {
                let mut g = Graph::new();
                let mut prev = add(&mut g, NodeData::List(vec![]));
                for _ in 0..1_000_000 {
                    prev = add(&mut g, NodeData::List(vec![prev]));
                }
                let opts = ReprOptions {
                    max_len: usize::MAX,
                    max_depth: usize::MAX,
                };
                let got = repr_with(&g, prev, &opts);
                assert!(got == format!("{}{}", "[".repeat(1_000_001), "]".repeat(1_000_001)));
                let deep = ReprOptions {
                    max_len: 64 * 1024,
                    max_depth: usize::MAX,
                };
                assert!(repr_with(&g, prev, &deep) == format!("{}...", "[".repeat(64 * 1024)));
                let defaults = format!("{}...{}", "[".repeat(200), "]".repeat(200));
                assert_eq!(repr(&g, prev), defaults);
            })
            .unwrap();
        handle.join().unwrap();
    }
}
