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
//! floats, where NaN != NaN).

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use ::serde::de::{self, DeserializeOwned};
use ::serde::{Deserialize, Serialize};

use crate::error::Resource;
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
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, arbitrary::Arbitrary)]
pub struct UnitStruct;

/// A newtype struct (its field).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, arbitrary::Arbitrary)]
pub struct Newtype(pub u16);

/// A tuple struct (a tuple).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, arbitrary::Arbitrary)]
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
            Err(e) if protocol == 0 && matches!(e.kind(), ErrorKind::Encode(_)) => continue,
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
        // The same bytes as the wrong types: typed errors with a path, which render.
        if let Err(e) = pps::from_slice_with::<Vec<String>>(&decoder, &roomy, &bytes) {
            assert!(!e.to_string().is_empty());
        }
        if let Err(e) = pps::from_slice_with::<(u8, char)>(&decoder, &roomy, &bytes) {
            assert!(!e.to_string().is_empty());
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
    let [mode, budget] = super::tail::<2>(data);
    let Ok(decoded) = super::inert_decoder(super::fuzz_limits()).decode(data) else {
        return;
    };
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
    let (graph, root) = (&decoded.graph, decoded.root);
    // Errors render (their Display walks the path).
    if let Err(e) = Deserializer::new(graph, root, &options).value::<Kitchen>() {
        assert!(!e.to_string().is_empty());
    }
    check_entry_points(data, &options);
    check::<Doc>(graph, root, &options, protocol, Same::Value);
    check::<Vec<Vec<i64>>>(graph, root, &options, protocol, Same::Value);
    check::<Tagged>(graph, root, &options, protocol, Same::Value);
    check::<Loose>(graph, root, &options, protocol, Same::Bytes);
    check::<BTreeMap<String, (i64, f64)>>(graph, root, &options, protocol, Same::Bytes);
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
            assert!(e.path().is_some(), "error without a path: {e:?}");
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
