#![no_main]
use pickleproof::harness::{run_roundtrip, GraphInput};
libfuzzer_sys::fuzz_target!(|input: GraphInput| run_roundtrip(&input));
