#![no_main]
//! `torch`: any file (or a pickle wrapped as data.pkl) as a PyTorch checkpoint.
libfuzzer_sys::fuzz_target!(|data: &[u8]| pickleproof::harness::run_torch(data));
