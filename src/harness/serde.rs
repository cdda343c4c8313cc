//! Body of the `serde` fuzz target (features `harness` and `serde`): arbitrary bytes,
//! decoded under [`fuzz_limits`](super::fuzz_limits) and the inert policy, then
//! deserialized with [`crate::serde`] into a few representative types under tight
//! budgets chosen by the last two bytes.
//!
//! Invariants: no panic and no stack overflow (the body runs on the harness's
//! 256 KiB stack); what was handed out stays within every budget
//! ([`Expansion`](crate::serde::Expansion) against [`Options`]); every error of the
//! walk is typed (a budget names one of the view's resources and hit exactly its
//! limit) and carries a path; and whatever deserializes writes back with `to_vec` and
//! reads back to the same value (the same bytes when written again, for types with
//! floats, where NaN != NaN). An error's path names a place that exists in the graph
//! (`$[2].pick[0]`), and its `Display` is its kind followed by ` at <path>`.
//!
//! The entry points agree: `from_slice_with`, `from_reader_with` and
//! `from_graph_with` give the same value or error, a stream the decoder refuses is
//! exactly that decode error (with no path), and the default-configured `from_slice`,
//! `from_reader` and `from_graph` agree with the default [`crate::Decoder`]; a root
//! id past the graph is [`ErrorKind::Dangling`] at `$`, and
//! [`Deserializer::set_root`] counts one value per root read. Rust values made by
//! `arbitrary` ([`Kitchen`], [`Keys`]) write with `to_vec` and read back the same;
//! a map key holding a map is [`ErrorKind::UnhashableKey`].

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use ::serde::de::{self, DeserializeOwned};
use ::serde::{Deserialize, Serialize};

use crate::error::Resource;
use crate::graph::{Graph, Node, NodeId};
use crate::serde::{self as pps, Deserializer, ErrorKind, ObjectMode, Options};

/// Bytes read through `deserialize_bytes` (the `serde_bytes` way), without depending
/// on `serde_bytes`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Blob(pub Vec<u8>);

impl Serialize for Blob {
    fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for Blob {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Blob, D::Error> {
        struct BlobVisitor;
        impl de::Visitor<'_> for BlobVisitor {
            type Value = Blob;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("bytes")
            }
            fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Blob, E> {
                Ok(Blob(v.to_vec()))
            }
        }
        d.deserialize_bytes(BlobVisitor)
    }
}

/// A struct with nested Vec, HashMap, Option, String and bytes fields.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Doc {
    /// A str.
    pub name: String,
    /// A sequence of ints.
    pub items: Vec<i64>,
    /// A dict of str to int.
    pub table: HashMap<String, i64>,
    /// None or a str.
    pub note: Option<String>,
    /// Bytes as bytes.
    pub blob: Blob,
    /// Bytes (or a list) as a sequence of `u8`.
    pub raw: Vec<u8>,
    /// Nested sequences and options.
    pub nested: Vec<Vec<Option<bool>>>,
    /// A recursive value, or None.
    pub child: Option<Box<Tagged>>,
}

/// A recursive externally tagged enum (`'U'`, `{'L': [...]}`, `{'I': 5}`, ...).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Tagged {
    /// A unit variant.
    U,
    /// A list of values.
    L(Vec<Tagged>),
    /// An int.
    I(i64),
    /// A struct variant.
    S {
        /// A str.
        s: String,
        /// A pair.
        t: (u8, i32),
    },
}

/// A recursive self-describing value (serde's `Content`, as `serde_json::Value`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Loose {
    /// None.
    Null(()),
    /// A bool.
    Bool(bool),
    /// An int.
    Int(i64),
    /// A float.
    Float(f64),
    /// A str.
    Str(String),
    /// A sequence.
    List(Vec<Loose>),
    /// A dict with str keys.
    Map(BTreeMap<String, Loose>),
}

/// Every shape serde's data model has, for the Rust → pickle → Rust round trip: the
/// fields are made by `arbitrary` from the input. No `Option<()>` or nested
/// `Option<Option<_>>`: `Some(())` and `Some(None)` write as `None`, like serde_json's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, arbitrary::Arbitrary)]
pub struct Kitchen {
    /// A bool.
    pub flag: bool,
    /// Every int width.
    pub ints: (i8, i16, i32, i64, i128),
    /// Every unsigned width.
    pub uints: (u8, u16, u32, u64, u128),
    /// Both float widths (an f32 NaN is made quiet first: a signalling one does not
    /// survive widening).
    pub floats: (f32, f64),
    /// A char (a one-character str).
    pub letter: char,
    /// A str.
    pub text: String,
    /// Bytes.
    pub blob: Blob,
    /// An optional int.
    pub maybe: Option<i32>,
    /// Unit, a unit struct, a newtype struct and a tuple struct.
    pub shapes: ((), UnitStruct, Newtype, TupleStruct),
    /// Enum variants of every kind.
    pub variants: Vec<Variant>,
    /// A dict with str keys.
    pub by_name: BTreeMap<String, Variant>,
    /// A dict with int keys.
    pub by_number: BTreeMap<i64, char>,
    /// A dict with tuple keys.
    pub by_pair: BTreeMap<(u8, bool), Option<String>>,
}

/// A unit struct (`None`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, arbitrary::Arbitrary)]
pub struct UnitStruct;

/// A newtype struct (its field).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, arbitrary::Arbitrary)]
pub struct Newtype(pub u16);

/// A tuple struct (a tuple).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, arbitrary::Arbitrary)]
pub struct TupleStruct(pub i8, pub String);

/// An externally tagged enum with every variant kind.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, arbitrary::Arbitrary)]
pub enum Variant {
    /// `'Unit'`.
    Unit,
    /// `{'Newtype': 5}`.
    Newtype(i64),
    /// `{'Tuple': (1, True)}`.
    Tuple(u8, bool),
    /// `{'Struct': {'name': ..., 'bytes': ...}}`.
    Struct {
        /// A str.
        name: String,
        /// Optional bytes.
        bytes: Option<Blob>,
    },
}

/// Every `deserialize_*` entry point a pickle can answer, as optional fields of one
/// struct (a missing key is the field's default, an unknown one is skipped with
/// `IgnoredAny`), so a small dict reaches any of them: narrow and 128-bit ints
/// (range errors), `f32` (out of range), chars, unit / unit struct / newtype / tuple
/// struct, enums in every form, a fixed-size array (from bytes: a visitor that reads
/// fewer items than there are), bytes, int keys, and a map visitor that stops early
/// ([`Head`]).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Typed {
    /// Narrow ints: 300 is out of range.
    pub narrow: Vec<i8>,
    /// Small unsigned ints.
    pub small: Vec<u16>,
    /// Ints of up to 128 bits.
    pub wide: Vec<i128>,
    /// Unsigned ints of up to 128 bits.
    pub uwide: Vec<u128>,
    /// `f32`: a finite value past `f32::MAX` is out of range.
    pub single: Vec<f32>,
    /// One-character strs.
    pub letters: Vec<char>,
    /// `None`.
    pub unit: (),
    /// `None`.
    pub unit_struct: UnitStruct,
    /// An int.
    pub newtype: Newtype,
    /// A pair.
    pub pair: TupleStruct,
    /// Enums: `'Unit'`, `{'Tuple': [1, True]}`, `('Newtype', 5)`, `('Unit',)`...
    pub pick: Vec<Variant>,
    /// Exactly two items: three bytes are too many.
    pub two: [u8; 2],
    /// Bytes, or None.
    pub blob: Option<Blob>,
    /// A dict with int keys.
    pub by_int: BTreeMap<i64, String>,
    /// The first entry of a dict.
    pub head: Head,
}

/// The first entry of a dict, read by a visitor that stops after it: the entries
/// left unread must be an error, never silently dropped.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Head(pub Option<(String, i64)>);

impl Serialize for Head {
    fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use ::serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(usize::from(self.0.is_some())))?;
        if let Some((k, v)) = &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Head {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Head, D::Error> {
        struct HeadVisitor;
        impl<'de> de::Visitor<'de> for HeadVisitor {
            type Value = Head;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a dict")
            }
            fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Head, A::Error> {
                Ok(Head(map.next_entry()?))
            }
        }
        d.deserialize_map(HeadVisitor)
    }
}

/// Map keys `to_vec` must make hashable: a sequence key is written as a tuple (and
/// reads back as the same `Vec`), a map key is [`ErrorKind::UnhashableKey`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, arbitrary::Arbitrary)]
pub struct Keys {
    /// Sequence keys.
    pub by_list: BTreeMap<Vec<i8>, u8>,
    /// Map keys: unhashable in Python.
    pub by_map: BTreeMap<BTreeMap<u8, u8>, u8>,
}

impl<'a> arbitrary::Arbitrary<'a> for Blob {
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Blob> {
        Ok(Blob(Vec::arbitrary(u)?))
    }
}

/// A Rust value made from the input round-trips through `to_vec` and `from_slice` (and
/// `from_reader`) at every protocol: the same value written again gives the same
/// bytes. Errors of the readers are displayed, to check they render.
fn check_kitchen(data: &[u8]) {
    use arbitrary::Arbitrary;
    let Ok(mut value) = Kitchen::arbitrary(&mut arbitrary::Unstructured::new(data)) else {
        return;
    };
    if value.floats.0.is_nan() {
        value.floats.0 = f32::NAN;
    }
    for protocol in 0..=crate::HIGHEST_PROTOCOL {
        let bytes = match pps::to_vec(&value, protocol) {
            Ok(bytes) => bytes,
            Err(e) if protocol == 0 && matches!(e.kind(), ErrorKind::Encode(_)) => {
                // Not about a place in the value: no path, the encoder's error as source.
                assert_eq!(e.path(), None);
                assert_eq!(e.to_string(), e.kind().to_string());
                assert!(e.to_string().starts_with("cannot encode: "), "{e}");
                assert!(std::error::Error::source(&e).is_some());
                continue;
            }
            Err(e) => panic!("{value:?} does not write at protocol {protocol}: {e}"),
        };
        let decoder = crate::Decoder::new().limits(crate::Limits::unbounded());
        let roomy = Options {
            max_values: u64::MAX,
            max_bytes: u64::MAX,
            ..Options::default()
        };
        let back: Kitchen = pps::from_slice_with(&decoder, &roomy, &bytes)
            .unwrap_or_else(|e| panic!("{value:?} at protocol {protocol} reads back as {e}"));
        let again = pps::to_vec(&back, protocol).unwrap_or_default();
        assert_eq!(again, bytes, "{value:?} vs {back:?} at protocol {protocol}");
        let streamed: Kitchen = pps::from_reader_with(&decoder, &roomy, bytes.as_slice())
            .unwrap_or_else(|e| panic!("from_reader at protocol {protocol}: {e}"));
        assert_eq!(pps::to_vec(&streamed, protocol).unwrap_or_default(), bytes);
        // The same bytes as the wrong types: a dict is no sequence, at the root.
        for e in [
            pps::from_slice_with::<Vec<String>>(&decoder, &roomy, &bytes).err(),
            pps::from_slice_with::<(u8, char)>(&decoder, &roomy, &bytes).err(),
        ] {
            let e = e.unwrap_or_else(|| panic!("{value:?} read as a sequence"));
            assert_eq!(e.path(), Some("$"), "{e}");
            assert_eq!(e.to_string(), format!("{} at $", e.kind()));
        }
    }
}

/// A [`Keys`] made from the input writes at every protocol exactly when no key is a
/// map, and reads back the same; otherwise the error is `UnhashableKey("dict")`,
/// which has no path.
fn check_keys(data: &[u8]) {
    use arbitrary::Arbitrary;
    let Ok(value) = Keys::arbitrary(&mut arbitrary::Unstructured::new(data)) else {
        return;
    };
    let decoder = crate::Decoder::new().limits(crate::Limits::unbounded());
    for protocol in 0..=crate::HIGHEST_PROTOCOL {
        match pps::to_vec(&value, protocol) {
            Ok(bytes) => {
                assert!(value.by_map.is_empty(), "a dict key written: {value:?}");
                let back: Keys = pps::from_slice_with(&decoder, &Options::default(), &bytes)
                    .unwrap_or_else(|e| panic!("{value:?} at protocol {protocol}: {e}"));
                assert_eq!(back, value, "protocol {protocol}");
            }
            Err(e) => {
                assert!(!value.by_map.is_empty(), "{value:?}: {e}");
                assert_eq!(e.kind(), &ErrorKind::UnhashableKey("dict"));
                assert_eq!(e.path(), None);
                assert_eq!(e.to_string(), "unhashable dict used as dict key");
                assert!(std::error::Error::source(&e).is_none());
            }
        }
    }
}

/// The `serde` target on a small stack.
pub fn run_serde(data: &[u8]) {
    super::on_small_stack(|| serde(data));
}

/// Body of the `serde` target; see the module docs. The last byte chooses the value
/// budget, the one before it the object mode, the OrderedDict option and the
/// protocol of the round trip.
pub fn serde(data: &[u8]) {
    check_kitchen(data);
    check_keys(data);
    let [mode, budget] = super::tail::<2>(data);
    let options = Options {
        max_values: u64::from(budget) * 16,
        max_bytes: 1 << 16,
        max_depth: 32,
        objects: if mode & 1 == 0 {
            ObjectMode::Error
        } else {
            ObjectMode::Describe
        },
        ordered_dict_as_map: mode & 2 != 0,
    };
    let protocol = (mode >> 2) % 6;
    // Before the decode below: a stream the decoder refuses is checked there too.
    check_entry_points(data, &options);
    let Ok(decoded) = super::inert_decoder(super::fuzz_limits()).decode(data) else {
        return;
    };
    let (graph, root) = (&decoded.graph, decoded.root);
    if let Err(e) = Deserializer::new(graph, root, &options).value::<Kitchen>() {
        check_error(graph, root, &options, &e);
    }
    check_set_root(graph, root, &options);
    check::<Doc>(graph, root, &options, protocol, Same::Value);
    check::<Vec<Vec<i64>>>(graph, root, &options, protocol, Same::Value);
    check::<Tagged>(graph, root, &options, protocol, Same::Value);
    check::<Loose>(graph, root, &options, protocol, Same::Bytes);
    check::<BTreeMap<String, (i64, f64)>>(graph, root, &options, protocol, Same::Bytes);
    check::<Typed>(graph, root, &options, protocol, Same::Bytes);
    check::<Vec<Variant>>(graph, root, &options, protocol, Same::Value);
}

/// An error of a walk over `graph` from `root`: its path exists (see [`resolve`]),
/// and `Display` is the kind followed by ` at <path>`.
fn check_error(graph: &Graph<'_>, root: NodeId, options: &Options, e: &pps::Error) {
    let Some(path) = e.path() else {
        panic!("error without a path: {e:?}");
    };
    assert_eq!(e.to_string(), format!("{} at {path}", e.kind()));
    assert!(format!("{e:?}").starts_with("Error { kind: "), "{e:?}");
    assert!(e.decode_error().is_none(), "{e}");
    if let Err(at) = resolve(graph, root, options, path) {
        panic!("{e}: the path leaves the graph at {at:?}");
    }
}

/// Follows `path` (`$`, then `[3]` and `.name` segments) from `root` through the
/// graph, as far as its segments can be checked: `[i]` is item `i` of a sequence
/// (or byte `i` of a bytes object: the end), `.name` the value of the str key `name`
/// of a dict (or of an OrderedDict read as a map). A bracketed key repr (`['a b']`,
/// `[7]` of a dict), a part of a described object, or a key with the same text as
/// another, ends the check there. `Err` with the rest of the path when a segment
/// names nothing.
fn resolve<'p>(
    graph: &Graph<'_>,
    root: NodeId,
    options: &Options,
    path: &'p str,
) -> Result<(), &'p str> {
    let Some(mut rest) = path.strip_prefix('$') else {
        return Err(path);
    };
    let mut at = root;
    while !rest.is_empty() {
        let node = graph.get(at).ok_or(rest)?;
        if let Some(after) = rest.strip_prefix('[') {
            let digits = after.bytes().take_while(u8::is_ascii_digit).count();
            let (number, tail) = after.split_at(digits);
            let (Ok(i), Some(tail)) = (number.parse::<usize>(), tail.strip_prefix(']')) else {
                return Ok(()); // a key's repr
            };
            at = match node {
                Node::Tuple(ids) | Node::List(ids) | Node::Set(ids) | Node::FrozenSet(ids) => {
                    *ids.get(i).ok_or(rest)?
                }
                Node::Bytes(b) | Node::ByteArray(b) if i < b.len() && tail.is_empty() => {
                    return Ok(());
                }
                Node::Dict(_) => return Ok(()), // an int key's repr
                _ => return Err(rest),
            };
            rest = tail;
        } else if let Some(after) = rest.strip_prefix('.') {
            let len = after
                .bytes()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == b'_')
                .count();
            let (name, tail) = after.split_at(len);
            let pairs = match node {
                Node::Dict(pairs) => pairs,
                Node::Object(obj) if options.ordered_dict_as_map => &obj.dictitems[..],
                _ if options.objects == ObjectMode::Describe => return Ok(()),
                _ => return Err(rest),
            };
            let found = pairs
                .iter()
                .find(|(k, _)| matches!(graph.get(*k), Some(Node::Str(s)) if s == name.as_bytes()));
            at = match found {
                Some((_, value)) => *value,
                // An ordered dict not read as a map is described in Describe mode.
                None if matches!(node, Node::Object(_)) => return Ok(()),
                None => return Err(rest),
            };
            rest = tail;
        } else {
            return Err(rest);
        }
    }
    Ok(())
}

/// [`Deserializer::set_root`]: reading each item of a sequence root in turn as
/// `IgnoredAny` costs one value per root, counted across the reads, until the value
/// budget is spent (exactly `Limit { Expansion }` at `$`).
fn check_set_root(graph: &Graph<'_>, root: NodeId, options: &Options) {
    let Some(Node::List(items) | Node::Tuple(items)) = graph.get(root) else {
        return;
    };
    let mut de = Deserializer::new(graph, root, options);
    for (item, counted) in items.iter().zip(1u64..) {
        de.set_root(*item);
        let result = de.value::<de::IgnoredAny>();
        if counted <= options.max_values {
            assert!(result.is_ok(), "{result:?}");
            assert_eq!(de.expansion().values, counted);
        } else {
            let Err(e) = result else {
                panic!("root {counted} read past max_values {}", options.max_values);
            };
            let expected = ErrorKind::Limit {
                resource: Resource::Expansion,
                limit: options.max_values,
                requested: counted,
            };
            assert_eq!((e.kind(), e.path()), (&expected, Some("$")));
            break;
        }
    }
}

/// `from_slice_with`, `from_reader_with` and `from_graph_with` agree: the same value,
/// or the same error; a stream the decoder refuses is that decode error (same kind and
/// offset, its source), and a walk's error is not.
fn check_entry_points(data: &[u8], options: &Options) {
    let decoder = super::inert_decoder(super::fuzz_limits());
    let decoded = decoder.decode(data);
    let sliced = pps::from_slice_with::<Loose>(&decoder, options, data);
    let streamed = pps::from_reader_with::<Loose, _>(&decoder, options, data);
    match (&decoded, &sliced) {
        (Err(d), Err(e)) => {
            assert_eq!(e.decode_error(), Some(d), "{e}");
            assert_eq!(e.resource(), d.resource());
            assert_eq!(e.is_limit(), d.is_limit());
            assert!(std::error::Error::source(e).is_some());
            // The decoder's error says where (its offset); the value has no path yet.
            assert_eq!(e.path(), None);
            assert_eq!(e.to_string(), format!("decode failed: {d}"));
            assert!(
                format!("{e:?}").starts_with("Error { kind: Decode("),
                "{e:?}"
            );
        }
        (Err(d), Ok(v)) => panic!("decode refused ({d}) but from_slice gave {v:?}"),
        (Ok(ok), result) => {
            if let Err(e) = result {
                assert!(e.decode_error().is_none(), "{e}");
                assert_eq!(
                    e.is_limit(),
                    matches!(e.kind(), ErrorKind::Limit { .. }),
                    "{e:?}"
                );
            }
            let walked = pps::from_graph_with::<Loose>(&ok.graph, ok.root, options);
            assert_eq!(
                walked
                    .as_ref()
                    .map(|v| pps::to_vec(v, 5).ok())
                    .map_err(|e| e.to_string()),
                result
                    .as_ref()
                    .map(|v| pps::to_vec(v, 5).ok())
                    .map_err(|e| e.to_string()),
            );
            // A typed target: struct fields are identifiers read from the input
            // (borrowed) or from the graph.
            let typed = pps::from_slice_with::<Typed>(&decoder, options, data);
            let walked = pps::from_graph_with::<Typed>(&ok.graph, ok.root, options);
            assert_eq!(
                walked.map(|v| pps::to_vec(&v, 5).ok()),
                typed.map(|v| pps::to_vec(&v, 5).ok()),
            );
            check_defaults(data, &ok.graph, ok.root);
        }
    }
    // The stream reads the same pickle, whatever follows its STOP.
    assert_eq!(
        streamed
            .as_ref()
            .map(|v| pps::to_vec(v, 5).ok())
            .map_err(|e| e.kind().to_string()),
        sliced
            .as_ref()
            .map(|v| pps::to_vec(v, 5).ok())
            .map_err(|e| e.kind().to_string()),
    );
}

/// The default-configured entry points, on a stream the harness's decoder accepts
/// (so the default limits, all wider, decode it in about the same time):
/// `from_slice` and `from_reader` are exactly the default [`crate::Decoder`]'s
/// verdict (its strict policy refuses globals), `from_graph` reads any root, and a
/// root id past the graph is `Dangling` at `$`.
fn check_defaults(data: &[u8], graph: &Graph<'_>, root: NodeId) {
    use de::IgnoredAny;
    let sliced = pps::from_slice::<IgnoredAny>(data).map(|_| ());
    let verdict = crate::Decoder::new().decode(data).map(|_| ());
    assert_eq!(
        sliced.as_ref().map_err(|e| e.decode_error()),
        verdict.as_ref().map_err(Some)
    );
    let streamed = pps::from_reader::<IgnoredAny, _>(data).map(|_| ());
    assert_eq!(
        streamed.map_err(|e| e.kind().to_string()),
        sliced.map_err(|e| e.kind().to_string())
    );
    assert!(pps::from_graph::<IgnoredAny>(graph, root).is_ok());
    // The first arena id past the graph's arena (far below the stored ints' ids).
    let past = u32::try_from(graph.arena_len()).map(NodeId);
    if let Some(past) = past.ok().filter(|id| graph.get(*id).is_none()) {
        let e = match pps::from_graph::<IgnoredAny>(graph, past) {
            Ok(_) => panic!("a dangling root read"),
            Err(e) => e,
        };
        assert_eq!((e.kind(), e.path()), (&ErrorKind::Dangling, Some("$")));
        assert_eq!(e.to_string(), "node id not in the graph at $");
    }
    // Strs borrowed from the graph (`deserialize_str`) are the owned ones, or fail
    // at the same place (the messages differ: "a borrowed string").
    let borrowed = pps::from_graph::<Vec<&str>>(graph, root);
    let owned = pps::from_graph::<Vec<String>>(graph, root);
    assert_eq!(
        borrowed.map_err(|e| e.path().map(str::to_owned)),
        owned
            .as_ref()
            .map(|v| v.iter().map(String::as_str).collect::<Vec<_>>())
            .map_err(|e| e.path().map(str::to_owned))
    );
}

/// How a round trip is compared: by value, or (for types with floats) by the bytes of
/// writing the value again.
#[derive(Clone, Copy)]
enum Same {
    Value,
    Bytes,
}

fn check<T>(
    graph: &crate::Graph<'_>,
    root: crate::NodeId,
    options: &Options,
    protocol: u8,
    same: Same,
) where
    T: DeserializeOwned + Serialize + PartialEq + fmt::Debug,
{
    let mut de = Deserializer::new(graph, root, options);
    let result = de.value::<T>();
    let used = de.expansion();
    assert!(
        used.values <= options.max_values,
        "{used:?} with {options:?}"
    );
    assert!(used.bytes <= options.max_bytes, "{used:?} with {options:?}");
    assert!(used.depth <= options.max_depth, "{used:?} with {options:?}");
    let value = match result {
        Ok(value) => value,
        Err(e) => {
            check_error(graph, root, options, &e);
            match e.kind() {
                ErrorKind::Limit {
                    resource: Resource::Expansion,
                    limit,
                    requested,
                } => assert!(used.values <= *limit && requested > limit, "{e:?} {used:?}"),
                ErrorKind::Limit {
                    resource: Resource::Depth,
                    limit,
                    ..
                } => assert_eq!(used.depth, *limit, "{e:?}"),
                ErrorKind::Limit {
                    resource: Resource::ExpansionBytes,
                    ..
                }
                | ErrorKind::Cycle
                | ErrorKind::Unsupported(_)
                | ErrorKind::IntOutOfRange { .. }
                | ErrorKind::FloatOutOfRange(_)
                | ErrorKind::Surrogates
                | ErrorKind::Message(_) => {}
                other => panic!("unexpected error kind from the walk: {other:?}"),
            }
            return;
        }
    };
    let bytes = match pps::to_vec(&value, protocol) {
        Ok(bytes) => bytes,
        // Protocol 0 writes floats as text: only the two NaNs `float('nan')` and
        // `float('-nan')` give are representable there.
        Err(e) if protocol == 0 && matches!(e.kind(), ErrorKind::Encode(_)) => return,
        Err(e) => panic!("{value:?} does not write at protocol {protocol}: {e}"),
    };
    let roomy = Options {
        max_values: u64::MAX,
        max_bytes: u64::MAX,
        ..options.clone()
    };
    let decoder = crate::Decoder::new().limits(crate::Limits::unbounded());
    let back: T = pps::from_slice_with(&decoder, &roomy, &bytes)
        .unwrap_or_else(|e| panic!("{value:?} written at protocol {protocol} reads back as {e}"));
    match same {
        Same::Value => assert_eq!(back, value, "protocol {protocol}"),
        Same::Bytes => {
            let again = pps::to_vec(&back, protocol).unwrap_or_default();
            assert_eq!(again, bytes, "{value:?} vs {back:?} at protocol {protocol}");
        }
    }
}
