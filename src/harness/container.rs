//! The `container` target: any bytes through [`crate::container::open`] under tight
//! [`ContainerLimits`], then every piece decoded as the scanner will (inert policy,
//! [`JoblibSink`], tight [`fuzz_limits`]).
//!
//! Invariants: no panic; the pieces' bytes add up to at most `max_output_bytes` and
//! their number to at most `max_pieces`; a piece that borrows from the input lies
//! within it and is the input's bytes at its offset; every anomaly and error offset
//! lies within the input or the largest layer a decompression could produce; a
//! decoded piece consumed no more than its bytes; a file that starts with a ZIP local
//! header is a ZIP layer first; a ZIP's prefix and end record lie within the file; an
//! anomaly or error that names no layer lies within the file.

// A fuzz body's job is to panic when an invariant breaks.
#![allow(
    clippy::panic,
    clippy::arithmetic_side_effects,
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used
)]

use crate::container::joblib::JoblibSink;
use crate::container::zip::{looks_like_zip, ZipArchive, ZipLimits};
use crate::container::{open, ContainerLimits, Format};
use crate::decode::sink::{OnRefusal, Sink};
use crate::{Decoder, Policy};

use super::{fuzz_limits, on_small_stack};

/// The limits of the target: every one reachable by a small input.
pub fn container_limits() -> ContainerLimits {
    ContainerLimits {
        zip: ZipLimits {
            max_directory_bytes: 1 << 16,
            max_entries: 64,
            max_entry_bytes: 1 << 20,
        },
        max_output_bytes: 1 << 20,
        max_pieces: 64,
        max_nesting: 4,
    }
}

/// A sink that keeps nothing.
struct Nothing;

impl Sink for Nothing {}

/// The `container` target on a small stack.
pub fn run_container(data: &[u8]) {
    on_small_stack(|| container(data));
}

/// Body of the `container` target; see the module docs.
pub fn container(data: &[u8]) {
    let limits = container_limits();
    let contents = open(data, &limits);
    let len = data.len() as u64;
    let layer_bound = len.max(limits.max_output_bytes);
    let total: u64 = contents.pieces.iter().map(|p| p.data.len() as u64).sum();
    assert!(
        total <= limits.max_output_bytes,
        "pieces hold {total} bytes, over {}",
        limits.max_output_bytes
    );
    assert!(contents.pieces.len() as u64 <= limits.max_pieces);
    assert!(!contents.formats.is_empty(), "no layer named");
    // A file that starts with a local header is read as a ZIP first, whatever its
    // members make of it.
    if looks_like_zip(data) {
        let first = contents.formats.first();
        let zip = matches!(
            first,
            Some(Format::Zip | Format::TorchZip | Format::TorchScript | Format::Npz)
        );
        assert!(
            zip,
            "a local header first, but the first layer is {first:?}"
        );
    }
    // The archive's records lie within the file, and a copy reads the same entries.
    if let Ok(archive) = ZipArchive::open(data, limits.zip) {
        let (prefix, end) = (archive.prefix_len(), archive.end_offset());
        assert!(
            prefix <= end && end <= len,
            "prefix {prefix} and end {end} in a file of {len}"
        );
        assert_eq!(archive.clone().entries(), archive.entries());
    }
    for piece in &contents.pieces {
        if let Some(at) = piece.file_offset {
            let end = at + piece.data.len() as u64;
            assert!(
                end <= len,
                "piece {:?} at {at}..{end} past {len}",
                piece.location
            );
            assert!(
                data[at as usize..end as usize] == piece.data[..],
                "piece {:?} is not the input's bytes at {at}",
                piece.location
            );
        }
    }
    for anomaly in &contents.anomalies {
        assert!(
            anomaly.offset <= layer_bound,
            "anomaly {:?} at {} past every layer",
            anomaly.kind,
            anomaly.offset
        );
        assert!(!anomaly.detail.is_empty());
    }
    if let Some(e) = &contents.error {
        assert!(e.offset() <= layer_bound, "error {e} past every layer");
        // An error counted in the file itself (no layer named) lies within it.
        assert!(
            !contents.error_location.is_empty() || e.offset() <= len,
            "error {e} past the file, which it says it is in"
        );
    }
    for anomaly in contents.anomalies.iter().filter(|a| a.location.is_empty()) {
        assert!(
            anomaly.offset <= len,
            "anomaly {:?} at {} past the file, which it says it is in",
            anomaly.kind,
            anomaly.offset
        );
    }
    let decoder = Decoder::new().policy(Policy::inert()).limits(fuzz_limits());
    for piece in &contents.pieces {
        let mut nothing = Nothing;
        let mut sink = JoblibSink::new(&mut nothing, &decoder, &piece.data);
        if let Ok(decoded) = decoder.decode_with_sink(&piece.data, &mut sink, OnRefusal::Continue) {
            assert!(decoded.consumed <= piece.data.len() as u64);
        }
    }
}
