#![no_main]
use pickleproof::harness::{run_ops, OpsInput};
libfuzzer_sys::fuzz_target!(|input: OpsInput| run_ops(&input));
