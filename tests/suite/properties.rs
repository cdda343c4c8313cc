//! Properties (proptest) over the fuzz-target bodies of `pickleproof::harness`, fed
//! with mutations of the seed corpus instead of a coverage-guided fuzzer: they run in
//! every `cargo test`, a few seconds each.
//!
//! Cases per property: `PROPTEST_CASES` (default 32; the nightly job raises it).
//! Failures are minimised by proptest and persisted in
//! `proptest-regressions/properties.txt`, which is committed and replayed first.

use std::sync::OnceLock;

use arbitrary::{Arbitrary, Unstructured};
use pickleproof::harness::{self, Chunking, GraphInput};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

use crate::support::corpus_dir;

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(32);
    ProptestConfig {
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/proptest-regressions/properties.txt"
        )))),
        ..ProptestConfig::with_cases(cases)
    }
}

/// Every `corpus/seed/*.pkl`, read once.
fn seeds() -> &'static [Vec<u8>] {
    static SEEDS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    SEEDS.get_or_init(|| {
        let dir = corpus_dir().join("seed");
        let mut paths: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "pkl"))
            .collect();
        paths.sort();
        paths
            .iter()
            .map(|p| std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
            .collect()
    })
}

fn seed(i: usize) -> &'static [u8] {
    let all = seeds();
    all.get(i % all.len().max(1)).map_or(&[], Vec::as_slice)
}

/// One edit of a byte string; positions are taken modulo the length.
#[derive(Clone, Debug)]
enum Edit {
    Flip(usize, u8),
    Set(usize, u8),
    Insert(usize, u8),
    Delete(usize),
    Truncate(usize),
    /// Replace everything from a position on with the tail of another seed.
    Splice(usize, usize, usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), 0u8..8).prop_map(|(p, b)| Edit::Flip(p, b)),
        (any::<usize>(), any::<u8>()).prop_map(|(p, b)| Edit::Set(p, b)),
        (any::<usize>(), any::<u8>()).prop_map(|(p, b)| Edit::Insert(p, b)),
        any::<usize>().prop_map(Edit::Delete),
        any::<usize>().prop_map(Edit::Truncate),
        (any::<usize>(), any::<usize>(), any::<usize>())
            .prop_map(|(p, s, q)| Edit::Splice(p, s, q)),
    ]
}

fn apply(data: &mut Vec<u8>, edit: &Edit) {
    let at = |p: usize, len: usize| if len == 0 { 0 } else { p % len };
    let len = data.len();
    match *edit {
        Edit::Flip(p, bit) => {
            if let Some(b) = data.get_mut(at(p, len)) {
                *b ^= 1 << bit;
            }
        }
        Edit::Set(p, v) => {
            if let Some(b) = data.get_mut(at(p, len)) {
                *b = v;
            }
        }
        Edit::Insert(p, v) => data.insert(at(p, len + 1), v),
        Edit::Delete(p) => {
            if len > 0 {
                data.remove(at(p, len));
            }
        }
        Edit::Truncate(p) => data.truncate(at(p, len + 1)),
        Edit::Splice(p, s, q) => {
            let other = seed(s);
            data.truncate(at(p, len + 1));
            data.extend_from_slice(other.get(at(q, other.len() + 1)..).unwrap_or(&[]));
        }
    }
}

fn mutated() -> impl Strategy<Value = Vec<u8>> {
    (any::<usize>(), prop::collection::vec(edit(), 0..6)).prop_map(|(i, edits)| {
        let mut data = seed(i).to_vec();
        for e in &edits {
            apply(&mut data, e);
        }
        data
    })
}

proptest! {
    #![proptest_config(config())]

    /// Decoding never panics and every result satisfies the `decode` target's checks.
    #[test]
    fn mutated_seeds_decode_without_panic(data in mutated()) {
        harness::run_decode(&data);
    }

    /// Slice and stream decodes agree on mutated seeds, in any chunking.
    #[test]
    fn mutated_seeds_same_from_slice_and_stream(data in mutated(), chunking in any::<u8>()) {
        harness::stream_with(&data, Chunking::from_byte(chunking));
    }

    /// Hand-built graphs (sharing, cycles) survive encode/decode at every protocol.
    #[test]
    fn arbitrary_graphs_roundtrip(bytes in prop::collection::vec(any::<u8>(), 0..1024)) {
        let mut u = Unstructured::new(&bytes);
        if let Ok(input) = GraphInput::arbitrary(&mut u) {
            harness::run_roundtrip(&input);
        }
    }

    /// Decodable mutated seeds survive encode/decode, and encoding is stable.
    #[test]
    fn mutated_seeds_roundtrip(data in mutated()) {
        harness::run_roundtrip_bytes(&data);
    }

    /// Limits are exact and monotone: the `limits` target on a seed with random
    /// configuration bytes after it.
    #[test]
    fn limits_are_exact_and_monotone(data in mutated(), config in any::<[u8; 9]>()) {
        let mut with = data;
        with.extend_from_slice(&config);
        harness::run_limits(&with);
    }

    /// The views stay within their bounds on mutated seeds.
    #[test]
    fn views_stay_bounded(data in mutated(), config in any::<[u8; 3]>()) {
        let mut with = data;
        with.extend_from_slice(&config);
        harness::run_views(&with);
    }
}
