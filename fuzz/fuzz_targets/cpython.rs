#![no_main]
//! Differential decoding against CPython's C unpickler; see `pickleproof::harness::cpython`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| pickleproof::harness::cpython::run_cpython(data));
