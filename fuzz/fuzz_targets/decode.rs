#![no_main]
//! `decode` with the real heap capped during each decode: the decode may allocate at
//! most its memory budget plus `HEAP_SLACK` beyond what was live before it. Going past
//! aborts ("memory allocation failed") or makes a fallible reservation fail, which the
//! harness reports as a limit error that requested no more than its limit.
use cap::Cap;
use pickleproof::harness::{run_decode_guarded, HeapGuard};
use std::alloc::System;

#[global_allocator]
static ALLOC: Cap<System> = Cap::new(System, usize::MAX);

/// Heap beyond `max_memory_bytes` a decode may use: the decoder's fixed-size state
/// (empty maps, key hasher, error box) and allocator rounding. `tests/heap.rs` measures
/// the real figure on the corpus and asserts the same constant.
const HEAP_SLACK: usize = 64 * 1024;

struct Capped;

impl HeapGuard for Capped {
    fn enter(&self, budget: u64) {
        let budget = usize::try_from(budget).unwrap_or(usize::MAX);
        let cap = ALLOC
            .allocated()
            .saturating_add(budget)
            .saturating_add(HEAP_SLACK);
        let _ = ALLOC.set_limit(cap);
    }
    fn exit(&self) {
        let _ = ALLOC.set_limit(usize::MAX);
    }
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| run_decode_guarded(data, &Capped));
