#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| pickleproof::harness::scan::run_scan(data));
