#![no_main]
//! The Python package's `loads` in an embedded interpreter; see `_pickleproof::harness`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| _pickleproof::harness::run_loads(data));
