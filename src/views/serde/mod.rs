//! Typed values from pickles with [serde](https://serde.rs) (feature `serde`), and
//! pickles from typed values.
//!
//! ```
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Debug, PartialEq, Deserialize, Serialize)]
//! struct Layer<'a> {
//!     name: &'a str,        // borrowed from the input
//!     shape: (u32, u32),
//!     weights: Vec<f32>,
//! }
//!
//! // pickle.dumps({"name": "fc1", "shape": (1, 2), "weights": [0.5, -1.0]}, protocol=4)
//! let data = b"\x80\x04\x95@\x00\x00\x00\x00\x00\x00\x00}\x94(\x8c\x04name\x94\x8c\x03fc1\
//!     \x94\x8c\x05shape\x94K\x01K\x02\x86\x94\x8c\x07weights\x94]\x94(G?\xe0\x00\x00\x00\
//!     \x00\x00\x00G\xbf\xf0\x00\x00\x00\x00\x00\x00eu.";
//! let layer: Layer = pickleproof::serde::from_slice(data)?;
//! assert_eq!(layer, Layer { name: "fc1", shape: (1, 2), weights: vec![0.5, -1.0] });
//!
//! // And back: byte for byte what CPython's pickle.dumps writes for that dict.
//! assert_eq!(pickleproof::serde::to_vec(&layer, 4)?, data);
//! # Ok::<(), pickleproof::serde::Error>(())
//! ```
//!
//! Deserialization first decodes the whole pickle into the inert graph (nothing is
//! imported or called, under the decoder's [`Limits`](crate::Limits) and
//! [`Policy`](crate::Policy)), then walks the graph as serde asks. Strings and bytes
//! are borrowed where serde allows it: from the input with [`from_slice`] (`&'de str`
//! fields work), from the graph with [`from_graph`].
//!
//! # Mapping
//!
//! | Python | serde |
//! |---|---|
//! | `None` | unit, `Option::None`, unit struct |
//! | `bool` | bool |
//! | `int` | every integer type, range-checked ([`ErrorKind::IntOutOfRange`] names the value, or its size in bits past 128); `i128`/`u128` take ints of up to 128 bits; `deserialize_any` gives `i64`, `u64`, `i128` or `u128`, the first that fits |
//! | `float` | `f64` exactly; `f32` rounded to nearest, and a finite value that would round to infinity is [`ErrorKind::FloatOutOfRange`] (NaN and infinities pass) |
//! | `str` | `String`, `&str`, `char`; a str with lone surrogates is [`ErrorKind::Surrogates`] |
//! | `bytes`, `bytearray` | bytes (`serde_bytes`), or a sequence of `u8` (`Vec<u8>`); a `String` when it is UTF-8 |
//! | `tuple`, `list` | sequences, tuples, tuple structs, arrays, structs from their fields in order |
//! | `set`, `frozenset` | sequences, in the pickle's order |
//! | `dict` | maps (keys of any type: str, int, tuple...), structs (str keys) |
//! | `str` / one-entry `dict` | enums: `'Dog'` is a unit variant, `{'Cat': {...}}` any variant (the form [`to_vec`] writes); serde-pickle's tuple forms `('Dog',)` and `('Cat', {...})` are read too |
//! | object, global, persistent id, extension code, buffer | an error naming it ([`ErrorKind::Unsupported`]: `object of collections.OrderedDict`), unless [`Options::objects`] or [`Options::ordered_dict_as_map`] says otherwise |
//!
//! [`to_vec`] writes the same mapping back: structs and maps as dicts (struct keys as
//! str), sequences as lists, tuples and tuple structs as tuples, bytes as bytes,
//! unit and `None` as `None`, unit variants as their name, other variants as
//! `{name: value}` (a tuple variant's value is a list, a struct variant's a dict), as
//! serde-pickle does. A map key that is a sequence becomes a tuple (Python cannot
//! hash a list); one that holds a map is [`ErrorKind::UnhashableKey`]. Output is what
//! CPython's `pickle.dumps` writes for the same value, byte for byte (see
//! [`crate::encode`]).
//!
//! # Sharing, cycles and depth
//!
//! The graph shares nodes (a memo GET is the same node twice); a Rust value cannot,
//! so every reference is expanded into a copy. That is where a memo bomb (each level
//! a list holding the previous one twice) would cost 2^N, so the expansion is
//! budgeted as it goes, like [`tree::expand`](crate::views::tree::expand):
//! - every value serde is handed counts one against [`Options::max_values`], charged
//!   when its container opens (all of a container's items at once, so a huge shared
//!   list is refused before any copy is made); a value skipped with `IgnoredAny`
//!   (e.g. an unknown struct field) counts one and is not walked;
//! - every str and bytes payload counts its length against [`Options::max_bytes`]
//!   (one shared megabyte referenced a million times is a terabyte of copies);
//! - containers open at once are capped by [`Options::max_depth`] (default 128, as
//!   serde_json): serde's derived code recurses on the caller's stack once per
//!   level, so this limit, not the pickle's own depth limit, is what keeps a deep
//!   value from overflowing it;
//! - a container met again inside itself is [`ErrorKind::Cycle`] (`cycle at
//!   $.a[0]`).
//!
//! Each refusal is an error with the path where it happened, never a partial value.
//!
//! # Objects and globals
//!
//! Objects (calls the pickle describes) and globals have no plain-data form; by
//! default ([`ObjectMode::Error`]) they are an error naming them. The decoder's
//! default policy refuses them anyway; a caller that decodes with another policy can
//! choose [`ObjectMode::Describe`], which shows them as maps:
//! - a global: `{"__global__": "module.name"}`;
//! - an object: `{"__call__": <callable>, "args": [...]}`, plus `"kwargs"` (NEWOBJ_EX),
//!   `"state"` (one BUILD) or `"states"` (several, in order), `"listitems"`,
//!   `"dictitems"` and `"additems"` when the stream added any;
//! - a persistent id: `{"__persid__": <pid>}`; an extension code:
//!   `{"__extension__": code}`; a missing out-of-band buffer:
//!   `{"__buffer__": index, "readonly": bool}`.
//!
//! [`Options::ordered_dict_as_map`] reads a `collections.OrderedDict` object (called
//! with no arguments, items added with SETITEMS: what CPython writes) as a map of its
//! items, in order, whatever the mode: PyTorch state dicts are such objects. Its
//! BUILD state (a state dict's `_metadata`) is then left out.
//!
//! # Errors
//!
//! One type, [`Error`]: [`Error::kind`] is an [`ErrorKind`] (a failed decode keeps the
//! decoder's [`crate::Error`], with its byte offset), [`Error::path`] says where in
//! the value (`$.layers[3].weight`), and `Display` prints both.

mod de;
mod error;
mod ser;

use std::io::BufRead;

use ::serde::de::{Deserialize, DeserializeOwned};
use ::serde::ser::Serialize;

use crate::decode::Decoder;
use crate::graph::{Graph, NodeId};

pub use de::{Deserializer, Expansion};
pub use error::{Error, ErrorKind};
pub use ser::{to_graph, Serializer};

/// What [`ObjectMode::Describe`] and [`ObjectMode::Error`] do: see the module docs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ObjectMode {
    /// Objects, globals, persistent ids, extension codes and buffers are an error
    /// naming them ([`ErrorKind::Unsupported`]). The default: a typed value from an
    /// untrusted pickle should not silently contain descriptions of calls.
    #[default]
    Error,
    /// They deserialize as maps describing them (`{"__global__": "module.name"}`,
    /// `{"__call__": ..., "args": [...], ...}`): for inspection into
    /// `serde_json::Value`-like types.
    Describe,
}

/// Budgets and choices of one deserialization. See the module docs.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Options {
    /// Values handed to serde, every copy of a shared node counted, the root
    /// included (default 2^24, the decoder's default container length). This is what
    /// stops a memo bomb; a pickle without sharing expands to exactly as many values
    /// as the root reaches (nodes and inline ints), each counted once.
    pub max_values: u64,
    /// Bytes of str and bytes payload handed to serde, every copy counted (default
    /// 256 MiB, the decoder's default memory budget, which counts payloads too: a
    /// pickle without sharing that decodes under default limits fits).
    pub max_bytes: u64,
    /// Containers open at once (default 128, serde_json's recursion limit). Bounds the
    /// recursion of serde's derived code on the caller's stack: about a kilobyte or
    /// two of stack per level in optimised builds, more in debug builds.
    pub max_depth: u64,
    /// Objects, globals and the like: an error (default) or a description.
    pub objects: ObjectMode,
    /// Read `collections.OrderedDict` objects as maps of their items (default false).
    pub ordered_dict_as_map: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            max_values: 1 << 24,
            max_bytes: 256 << 20,
            max_depth: 128,
            objects: ObjectMode::Error,
            ordered_dict_as_map: false,
        }
    }
}

/// Decodes `data` with the default [`Decoder`] (default limits, strict policy) and
/// deserializes a `T` from it under default [`Options`]. Bytes after STOP are
/// ignored, as by CPython's `pickle.loads`.
pub fn from_slice<'de, T: Deserialize<'de>>(data: &'de [u8]) -> Result<T, Error> {
    from_slice_with(&Decoder::new(), &Options::default(), data)
}

/// [`from_slice`] with a decoder and options of the caller's.
pub fn from_slice_with<'de, T: Deserialize<'de>>(
    decoder: &Decoder,
    options: &Options,
    data: &'de [u8],
) -> Result<T, Error> {
    let decoded = decoder.decode(data).map_err(Error::decode)?;
    let mut de = Deserializer::over_input(&decoded.graph, decoded.root, options);
    de.value()
}

/// Decodes one pickle from a stream (consuming exactly the bytes up to STOP) with the
/// default [`Decoder`] and deserializes a `T` from it under default [`Options`].
pub fn from_reader<T: DeserializeOwned, R: BufRead>(reader: R) -> Result<T, Error> {
    from_reader_with(&Decoder::new(), &Options::default(), reader)
}

/// [`from_reader`] with a decoder and options of the caller's.
pub fn from_reader_with<T: DeserializeOwned, R: BufRead>(
    decoder: &Decoder,
    options: &Options,
    reader: R,
) -> Result<T, Error> {
    let decoded = decoder.decode_reader(reader).map_err(Error::decode)?;
    let mut de = Deserializer::new(&decoded.graph, decoded.root, options);
    de.value()
}

/// Deserializes a `T` from the node `root` of a decoded graph under default
/// [`Options`]; strings and bytes borrow from the graph.
pub fn from_graph<'g, T: Deserialize<'g>>(graph: &'g Graph<'_>, root: NodeId) -> Result<T, Error> {
    from_graph_with(graph, root, &Options::default())
}

/// [`from_graph`] with options of the caller's.
pub fn from_graph_with<'g, T: Deserialize<'g>>(
    graph: &'g Graph<'_>,
    root: NodeId,
    options: &Options,
) -> Result<T, Error> {
    let mut de = Deserializer::new(graph, root, options);
    de.value()
}

/// Serializes `value` as a pickle of `protocol` (0 to 5): the mapping in the module
/// docs, written as CPython's `pickle.dumps(value, protocol)` would write it.
pub fn to_vec<T: Serialize + ?Sized>(value: &T, protocol: u8) -> Result<Vec<u8>, Error> {
    let (graph, root) = to_graph(value)?;
    crate::encode::encode(&graph, root, protocol).map_err(|e| Error::new(ErrorKind::Encode(e)))
}
