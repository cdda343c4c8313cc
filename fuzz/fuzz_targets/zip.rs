#![no_main]
//! `zip`: the archive reader on arbitrary bytes, and the pickles it finds.
libfuzzer_sys::fuzz_target!(|data: &[u8]| pickleproof::harness::run_zip(data));
