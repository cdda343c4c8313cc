#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| pickleproof::harness::run_roundtrip_bytes(data));
