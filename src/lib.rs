//! Decode Python pickle streams that nobody should trust.
//!
//! `pickle.load` runs whatever the stream tells it to import and call. pickleproof
//! decodes every opcode of protocols 0–5 into an inert value graph instead: globals
//! and calls are *described*, never executed; a [`Policy`] decides which globals may
//! appear at all; and hard [`Limits`] turn memo bombs, nesting bombs, huge length
//! claims and million-digit integers into typed errors with a byte offset.
//!
//! ```
//! use pickleproof::{decode, Node};
//!
//! // pickle.dumps([1, "two", 3.0], protocol=2)
//! let data = b"\x80\x02]q\x00(K\x01X\x03\x00\x00\x00twoq\x01G@\x08\x00\x00\x00\x00\x00\x00e.";
//! let decoded = decode(data)?;
//! let Some(Node::List(items)) = decoded.graph.get(decoded.root) else { panic!("not a list") };
//! assert_eq!(items.len(), 3);
//! assert_eq!(pickleproof::views::repr::repr(&decoded.graph, decoded.root), "[1, 'two', 3.0]");
//!
//! // A stream that would run a command is refused, at the offset of its GLOBAL.
//! let evil = b"cos\nsystem\n(S'echo pwned'\ntR.";
//! let err = decode(evil).unwrap_err();
//! assert!(err.is_policy());
//! assert_eq!(err.offset(), 0);
//! # Ok::<(), pickleproof::Error>(())
//! ```
//!
//! # Input safety
//!
//! Decoding never panics, never recurses on input-shaped data (the graph is an arena of
//! nodes with integer ids, dropped without recursion) and never takes more than the
//! [`Limits`] allow: a length claim is checked against the input and memory budgets
//! before anything is reserved, and every resource that grows with the input is
//! counted as it is taken. The crate is `#![forbid(unsafe_code)]`.
//!
//! # Errors
//!
//! [`Error`] carries an [`ErrorKind`], the byte offset of the failing opcode and the
//! opcode. Budget errors name the [`Resource`], the limit and what was requested.
//!
//! # Limits
//!
//! [`Limits::default()`] is safe for untrusted input; [`Limits::unbounded()`] is the
//! explicit opt-out. A successful decode reports its [`Usage`] so callers can size
//! limits to their data.
//!
//! # Scanning
//!
//! [`Decoder::scan`] is the security report: every import, call, persistent id,
//! extension code and missing out-of-band buffer a stream asks for, with its offset
//! and the policy's verdict ([`scan::Report`]). It does not stop at the first refusal,
//! and its first refused site is exactly where [`Decoder::decode`] fails.
//! `scan::scan_file` (feature `zip`) scans a whole file: every pickle of every container
//! member, nested pickles, loader hazards, with a verdict (clean, suspicious,
//! inconclusive, unsafe) and text, JSON and SARIF renderers.
//!
//! # Features
//!
//! - `cli`: the `pickleproof` command-line tool (`dump`, `scan`, `disasm`); implies `zip`,
//!   `compression` and `policy-toml`.
//! - `zip`: [`container`], the pickles inside model files (ZIP archives such as PyTorch
//!   checkpoints, legacy PyTorch files, NumPy `.npy`/`.npz`, joblib, tar), recognised by
//!   content; no dependencies.
//! - `compression`: decompression for [`container`] (gzip, zlib, deflate, bzip2, xz,
//!   lzma, LZ4), through pure-Rust crates.
//! - `policy-toml`: [`Policy::from_toml`], policies written in TOML (the `toml` crate).
//! - `torch`: `torch`, PyTorch checkpoints as validated tensor descriptors (a file is
//!   read lazily: the storages only when converted) and their export to safetensors
//!   (the `safetensors` crate, and `serde_json`, its dependency, for its header);
//!   implies `zip`.
//! - `serde`: [`serde`](crate::serde), typed values from the graph (`from_slice`,
//!   `from_reader`, `from_graph`) and pickles from typed values (`to_vec`), with the
//!   expansion of shared references budgeted. Adds the `serde` dependency; the core
//!   decoder has none.
//! - `harness`: fuzz-target bodies and their invariant checks (`pickleproof::harness`).
//! - `cpython`: also the differential fuzz body against CPython's own unpickler
//!   (`pickleproof::harness::cpython`; pyo3, links a shared libpython).

#![forbid(unsafe_code)]
#![warn(missing_docs)]
// Decoding code must not panic on any input: no unwrap/expect/panic, no indexing that
// can go out of bounds, no arithmetic that can overflow. (Unit tests may; the fuzz
// harness, whose job is to panic on a broken invariant, opts out in its own file.)
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects
    )
)]

mod bigint;
mod budget;
#[cfg(feature = "zip")]
pub mod container;
mod decode;
mod error;
mod graph;
pub mod policy;
pub mod pyfmt;
pub mod scan;
#[cfg(feature = "torch")]
pub mod torch;

pub mod encode;
pub mod views;

#[cfg(feature = "serde")]
pub use views::serde;

#[cfg(feature = "harness")]
pub mod harness;

use std::io::BufRead;

pub use bigint::{BigInt, IntValue};
pub use budget::{Limits, Usage};
pub use decode::opcode::{ArgKind, Opcode, HIGHEST_PROTOCOL};
pub use decode::sink;
pub use decode::sink::{At, Event, Finish, OnRefusal, Sink};
pub use decode::{Decoded, Decoder, ReaderPickles, SlicePickles, StringEncoding};
pub use error::{Error, ErrorKind, Resource};
pub use graph::{has_surrogates, CallOp, Global, Graph, Node, NodeData, NodeId, Object};
pub use policy::{Policy, PolicyError, Verdict, RECONSTRUCTORS};

/// Decodes one pickle from a slice with default limits and the strict policy.
pub fn decode(input: &[u8]) -> Result<Decoded<'_>, Error> {
    Decoder::new().decode(input)
}

/// Decodes one pickle from a stream with default limits and the strict policy.
pub fn decode_reader<R: BufRead>(reader: R) -> Result<Decoded<'static>, Error> {
    Decoder::new().decode_reader(reader)
}

/// The README's Rust examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
