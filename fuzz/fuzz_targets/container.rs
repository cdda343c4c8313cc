#![no_main]
//! `container`: any file through `container::open`, then every piece it finds.
libfuzzer_sys::fuzz_target!(|data: &[u8]| pickleproof::harness::run_container(data));
