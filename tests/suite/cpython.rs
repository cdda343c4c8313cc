//! The `cpython` fuzz body (feature `cpython`): CPython's own unpickler, run
//! symbolically, against pickleproof. The committed corpus is replayed through it, and
//! a few hand-written streams pin each kind of outcome.

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};

use pickleproof::harness::cpython::{self, Config, Outcome, ACCEPTED};

use crate::support::{corpus_dir, corpus_files};

#[test]
fn replay_corpus_through_cpython() {
    assert!(
        cpython::available(),
        "the embedded interpreter does not start"
    );
    let files = corpus_files("pkl");
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    let mut failures = Vec::new();
    for path in &files {
        let data = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let name = path
            .strip_prefix(corpus_dir())
            .unwrap_or(path)
            .display()
            .to_string();
        match catch_unwind(AssertUnwindSafe(|| cpython::cpython(&data))) {
            Ok(outcome) => {
                let key = match outcome {
                    Outcome::BothAccept => "both accept".to_owned(),
                    Outcome::BothReject(_) => "both reject".to_owned(),
                    Outcome::Accepted(id) => format!("accepted: {id}"),
                    Outcome::Skipped(_) => "skipped".to_owned(),
                };
                *counts.entry(key).or_default() += 1;
            }
            Err(payload) => {
                let message = payload
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                    .unwrap_or_default();
                eprintln!("FAILED {name}: {message}");
                failures.push(format!("{name}: {message}"));
            }
        }
    }
    eprintln!("cpython replay of {} files: {counts:?}", files.len());
    assert!(
        failures.is_empty(),
        "{} differences:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn outcome(data: &[u8]) -> Outcome {
    cpython::cpython(data)
}

fn rejected(data: &[u8]) -> String {
    match outcome(data) {
        Outcome::BothReject(why) => why,
        other => panic!(
            "{:?}: expected both to reject, got {other:?}",
            data.escape_ascii()
        ),
    }
}

#[test]
fn the_last_byte_chooses_the_options() {
    // A pickle ending with its STOP gets the defaults.
    let plain = Config::of(b"N.");
    assert!(!plain.raw && !plain.buffers);
    assert_eq!(plain.encoding, pickleproof::StringEncoding::Ascii);
    assert_eq!(Config::of(b"N./"), Config::from_byte(1)); // '/' ^ '.' = 1: raw
    let latin1 = Config::of(b"N.,"); // ',' ^ '.' = 2
    assert_eq!(latin1.encoding, pickleproof::StringEncoding::Latin1);
    assert_eq!(
        Config::from_byte(4).encoding,
        pickleproof::StringEncoding::Bytes
    );
    assert!(Config::of(b"N.&").buffers); // '&' ^ '.' = 8
}

#[test]
fn streams_both_sides_accept() {
    for data in [
        &b"cos\nsystem\n(S'echo'\ntR."[..],
        // protocol 2 set, frozenset and bytearray: the reconstructors run for real
        b"\x80\x02c__builtin__\nset\nq\x00]q\x01(K\x01K\x02G?\xf0\x00\x00\x00\x00\x00\x00e\x85q\x02Rq\x03.",
        b"\x80\x02c__builtin__\nbytearray\nX\x02\x00\x00\x00\xc3\xa9X\x06\x00\x00\x00latin1\x86R.",
        // raw mode ('/' after STOP): the call stays a call on both sides
        b"c__builtin__\nset\n(]tR./",
        // a Python 2 str under latin-1 (','), buffers supplied ('&') and described
        b"S'\xe9'\n.,",
        b"\x80\x05\x97\x97\x86.&",
        b"\x80\x05\x97\x98\x97\x86.",
        // calls, state, items and sharing on call records
        b"\x80\x04\x8c\x01m\x8c\x01C\x93)\x81q\x00}q\x01\x8c\x01ah\x00sbh\x00K\x01a.",
        b"\x80\x02cm\nC\nq\x00)}\x92q\x01(K\x01\x90h\x00\x85R.",
        b"P1\n\x82\x05\x86.",
    ] {
        assert_eq!(outcome(data), Outcome::BothAccept, "{:?}", data.escape_ascii());
    }
}

#[test]
fn streams_both_sides_reject() {
    assert!(rejected(b"N\x00.").starts_with("UnpicklingError: invalid load key"));
    // A non-ASCII Python 2 str under the default ASCII encoding.
    assert!(rejected(b"S'\xe9'\n.").starts_with("UnicodeDecodeError"));
    // BUILD with a state on a global: no __dict__ (CPython's own default path).
    assert_eq!(rejected(b"cm\nf\n}b."), "AttributeError: __dict__");
    assert!(rejected(b"\x80\x05\x97\x97\x97\x97\x87.&").contains("not enough out-of-band buffers"));
}

#[test]
fn accepted_differences_are_recognised() {
    // READONLY_BUFFER on a global: CPython asks the real object for a buffer.
    assert_eq!(
        outcome(b"cm\nf\n\x98."),
        Outcome::Accepted("readonly-buffer-stand-in")
    );
    // INST of builtins.set with an argument: CPython calls set([1]).
    assert_eq!(
        outcome(b"(]K\x01ai__builtin__\nset\n."),
        Outcome::Accepted("inst-reconstructor")
    );
    for id in ["readonly-buffer-stand-in", "inst-reconstructor"] {
        assert!(ACCEPTED.iter().any(|d| d.id == id));
    }
}

#[test]
fn inputs_cpython_cannot_bound_are_skipped() {
    let mut digits = b"I".to_vec();
    digits.extend(std::iter::repeat_n(b'7', 5000));
    digits.extend_from_slice(b"\n.");
    for data in [
        &digits[..],            // past 4300 digits: a limit error first
        b"Nr\x00\x00\x00\x10.", // memo index 2^28: a dense array in CPython
        b"Np268435456\n.",
    ] {
        assert!(
            matches!(outcome(data), Outcome::Skipped(_)),
            "{:?}",
            data.escape_ascii()
        );
    }
}

#[test]
fn every_accepted_difference_is_in_the_readme() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let mut ids: Vec<&str> = ACCEPTED.iter().map(|d| d.id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), ACCEPTED.len(), "duplicate ids");
    for d in ACCEPTED {
        assert!(
            readme.contains(&format!("`{}`", d.id)),
            "README lacks `{}`",
            d.id
        );
    }
}
