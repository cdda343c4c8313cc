//! Pickles nested in a stream: `pickle.loads(b'...')`, `torch.load(io.BytesIO(b'...'))`,
//! `pickle.loads(base64.b64decode('...'))` and their kin. Loading the outer pickle
//! calls the loader on the literal, so the literal is a pickle (or a file) that runs
//! too, and a scanner that looks only at the outer stream misses it.
//!
//! At a call of one of [`PICKLE_LOADERS`] the recorder asks `payload` for the
//! bytes the loader would read, when they are a literal in the stream: a `bytes` or
//! `bytearray`, `io.BytesIO(bytes)`, `base64.b64decode(bytes or str)` (and its
//! aliases), `bytes.fromhex(str)` or `_codecs.encode(str, 'latin1')`. Decoding base64
//! and hex is linear in a payload the decoder already holds, and the copy is charged
//! to the outer decode's memory budget. The file scan then scans the bytes like a
//! file of their own (a `torch.load` payload is a ZIP), under what is left of the
//! file's budget, up to `ScanOptions::max_nested_depth` levels.
//!
//! Other deserializers (`marshal.loads`, `yaml.load`, ...) are dangerous sites of
//! their own (the knowledge base says so) but their data is not a pickle, so it is
//! not scanned as one.

use crate::graph::{Graph, Node, NodeId};
use crate::scan::gadgets::{tuple_items, unalias};

/// Callables that unpickle bytes they are given (directly, or through a file
/// object), with the position of the argument holding them. `*` is any name of the
/// module (`pickle.Unpickler(f)`, `pickle._loads(b)`...).
pub const PICKLE_LOADERS: &[(&str, &str, usize)] = &[
    ("cloudpickle", "load", 0),
    ("cloudpickle", "loads", 0),
    ("dill", "load", 0),
    ("dill", "loads", 0),
    ("dill._dill", "load", 0),
    ("dill._dill", "loads", 0),
    ("joblib", "load", 0),
    ("joblib.numpy_pickle", "load", 0),
    ("lib2to3.pgen2.grammar", "Grammar.loads", 1),
    ("numpy", "load", 0),
    ("numpy.lib.npyio", "load", 0),
    ("pandas", "read_pickle", 0),
    ("pandas.io.pickle", "read_pickle", 0),
    ("pickle", "*", 0),
    ("torch", "load", 0),
    ("torch.serialization", "load", 0),
    ("torch.storage", "_load_from_bytes", 0),
    ("torch.utils._config_module", "ConfigModule.load_config", 1),
    (
        "torch.utils.data.datapipes.utils.decoder",
        "basichandlers",
        1,
    ),
];

/// The argument a call of `module.name` with `args` would unpickle, when the
/// callable is one of [`PICKLE_LOADERS`]: the node to pass to `payload`. The
/// recorder copies each such node's bytes once per pickle, however often the
/// stream calls a loader on it.
pub(crate) fn loader_argument(
    graph: &Graph<'_>,
    module: &str,
    name: &str,
    args: NodeId,
) -> Option<NodeId> {
    let module = unalias(module);
    let (_, _, at) = PICKLE_LOADERS
        .iter()
        .find(|(m, n, _)| *m == module && (*n == name || *n == "*"))?;
    tuple_items(graph, args).get(*at).copied()
}

/// The bytes a loader's argument stands for, when they are a literal (see the
/// module docs).
pub(crate) fn payload(graph: &Graph<'_>, argument: NodeId) -> Option<Vec<u8>> {
    literal_bytes(graph, argument)
}

/// The bytes `id` stands for: a literal, or one of the wrappers in the module docs
/// around one.
fn literal_bytes(graph: &Graph<'_>, id: NodeId) -> Option<Vec<u8>> {
    let object = match graph.get(id)? {
        Node::Bytes(b) | Node::ByteArray(b) => return Some(b.to_vec()),
        Node::Object(o) => o,
        _ => return None,
    };
    let Some(Node::Global(callee)) = graph.get(object.callable) else {
        return None;
    };
    let items = tuple_items(graph, object.args);
    let first = graph.get(*items.first()?)?;
    match (unalias(&callee.module), callee.name.as_str(), first) {
        ("io", "BytesIO", Node::Bytes(b) | Node::ByteArray(b)) => Some(b.to_vec()),
        (
            "base64",
            "b64decode" | "standard_b64decode" | "decodebytes" | "decodestring",
            Node::Bytes(text) | Node::Str(text),
        )
        | ("binascii", "a2b_base64", Node::Bytes(text) | Node::Str(text)) => {
            base64(text, b'+', b'/')
        }
        ("base64", "urlsafe_b64decode", Node::Bytes(text) | Node::Str(text)) => {
            base64(text, b'-', b'_')
        }
        ("builtins", "bytes.fromhex" | "bytearray.fromhex", Node::Str(text)) => hex(text),
        ("_codecs" | "codecs", "encode", Node::Str(text)) => {
            let codec = match graph.get(*items.get(1)?)? {
                Node::Str(c) => c,
                _ => return None,
            };
            matches!(codec, b"latin1" | b"latin-1" | b"iso-8859-1" | b"iso8859-1")
                .then(|| latin1(text))
                .flatten()
        }
        _ => None,
    }
}

/// Base64 as Python's `b64decode` reads it by default: characters outside the
/// alphabet are skipped, decoding stops at the first `=`; a dangling single
/// character is an error (`None`).
fn base64(text: &[u8], plus: u8, slash: u8) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut bits: u32 = 0;
    let mut count: u32 = 0;
    for &c in text {
        let value = match c {
            b'A'..=b'Z' => c.wrapping_sub(b'A'),
            b'a'..=b'z' => c.wrapping_sub(b'a').wrapping_add(26),
            b'0'..=b'9' => c.wrapping_sub(b'0').wrapping_add(52),
            b'=' => break,
            _ if c == plus => 62,
            _ if c == slash => 63,
            _ => continue,
        };
        bits = (bits << 6 | u32::from(value)) & 0xff_ffff;
        count = count.wrapping_add(1);
        if count == 4 {
            out.extend_from_slice(&[(bits >> 16) as u8, (bits >> 8) as u8, bits as u8]);
            bits = 0;
            count = 0;
        }
    }
    match count {
        0 => {}
        2 => out.push((bits >> 4) as u8),
        3 => out.extend_from_slice(&[(bits >> 10) as u8, (bits >> 2) as u8]),
        _ => return None,
    }
    Some(out)
}

/// `bytes.fromhex`: pairs of hex digits, whitespace between pairs skipped.
fn hex(text: &[u8]) -> Option<Vec<u8>> {
    let digit = |c: u8| char::from(c).to_digit(16).map(|d| d as u8);
    let mut out = Vec::new();
    let mut rest = text.iter().copied();
    while let Some(c) = rest.next() {
        if c.is_ascii_whitespace() {
            continue;
        }
        let high = digit(c)?;
        let low = digit(rest.next()?)?;
        out.push(high << 4 | low);
    }
    Some(out)
}

/// A str's code points as Latin-1 bytes (`None` past U+00FF).
fn latin1(text: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(text).ok()?;
    text.chars()
        .map(|c| u8::try_from(u32::from(c)).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_and_hex_read_as_python_does() {
        assert_eq!(base64(b"gAJdcQAu", b'+', b'/').unwrap(), b"\x80\x02]q\x00.");
        // Python skips what is not in the alphabet and stops at padding.
        assert_eq!(base64(b"Y W\nJ j=ZZZ", b'+', b'/').unwrap(), b"abc");
        assert_eq!(base64(b"YQ==", b'+', b'/').unwrap(), b"a");
        assert_eq!(base64(b"YWI=", b'+', b'/').unwrap(), b"ab");
        assert_eq!(base64(b"Y", b'+', b'/'), None);
        assert_eq!(base64(b"-_-_", b'-', b'_').unwrap(), vec![0xfb, 0xff, 0xbf]);
        assert_eq!(hex(b"80 02 5d 2e").unwrap(), b"\x80\x02].");
        assert_eq!(hex(b"8"), None);
        assert_eq!(hex(b"zz"), None);
        assert_eq!(latin1("a\u{ff}".as_bytes()).unwrap(), b"a\xff");
        assert_eq!(latin1("\u{100}".as_bytes()), None);
    }
}
