#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| pickleproof::harness::policy::run_policy(data));
