//! The real heap stays within the memory budget (DESIGN invariant 3), measured with a
//! counting global allocator (`cap`) on every `*.pkl` of `corpus/`, under the default
//! limits and under the fuzz targets' tight limits.
//!
//! For each (file, limits) the test re-runs its own binary as a child process that does
//! exactly one decode: the allocator's high-water mark only ever rises, so a fresh
//! process is the only way to read the peak of one decode. The child reads the file,
//! notes the live heap `before`, decodes (inert policy, so hostile files decode fully),
//! and reports `peak − before`, where `peak` is the process's high-water mark after the
//! decode: the decode's own peak when it raised the mark, otherwise an upper bound.
//!
//! Asserted: `peak − before ≤ usage.memory_bytes + HEAP_SLACK` for a success and
//! `≤ max_memory_bytes + HEAP_SLACK` for a failure. The test prints the largest
//! overhead it measured (heap beyond the charged usage), which is what `HEAP_SLACK`
//! must cover; the `decode` fuzz target caps the heap with the same constant.
//! Large graphs come in under their charge, since payloads borrowed from the input slice
//! are charged but not allocated.

#[path = "suite/support.rs"]
mod support;

use std::alloc::System;
use std::process::Command;

use cap::Cap;
use pickleproof::{Decoder, Limits, Policy};

#[global_allocator]
static ALLOC: Cap<System> = Cap::new(System, usize::MAX);

/// Heap a decode may use beyond the memory it charged: fixed-size decoder state (the
/// empty memo and key-index maps, the key hasher, the boxed error) and allocator
/// rounding. Measured on the corpus (see the test's output); keep it small.
const HEAP_SLACK: u64 = 64 * 1024;

const CHILD_ENV: &str = "PICKLEPROOF_HEAP_CHILD";
const TEST_NAME: &str = "decode_heap_stays_within_the_memory_budget";

fn limits_named(name: &str) -> Limits {
    match name {
        "tight" => pickleproof::harness::fuzz_limits(),
        _ => Limits::default(),
    }
}

/// One decode, measured; prints `HEAP <ok|err> <charged or limit> <overhead>`.
fn child(spec: &str) {
    let Some((which, path)) = spec.split_once(':') else {
        panic!("bad {CHILD_ENV}: {spec}");
    };
    let limits = limits_named(which);
    let data = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let decoder = Decoder::new().limits(limits).policy(Policy::inert());
    let before = ALLOC.allocated() as u64;
    let result = decoder.decode(&data);
    let peak = ALLOC.max_allocated() as u64;
    let overhead = peak.saturating_sub(before);
    match &result {
        Ok(decoded) => println!("HEAP ok {} {overhead}", decoded.usage.memory_bytes),
        Err(_) => println!("HEAP err {} {overhead}", limits.max_memory_bytes),
    }
    drop(result);
}

#[test]
fn decode_heap_stays_within_the_memory_budget() {
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        child(&spec);
        return;
    }
    let exe = std::env::current_exe().unwrap_or_else(|e| panic!("current_exe: {e}"));
    let files = support::corpus_files("pkl");
    assert!(files.len() > 100, "corpus/ looks empty");
    let mut failures = Vec::new();
    // (overhead beyond the charge, file, limits) of the worst success and failure.
    let mut worst_ok: (i64, String) = (i64::MIN, String::new());
    let mut worst_err: (i64, String) = (i64::MIN, String::new());
    let mut runs = 0;
    for path in &files {
        for which in ["default", "tight"] {
            let out = Command::new(&exe)
                .args([
                    TEST_NAME,
                    "--exact",
                    "--nocapture",
                    "--test-threads=1",
                    "-q",
                ])
                .env(CHILD_ENV, format!("{which}:{}", path.display()))
                .output()
                .unwrap_or_else(|e| panic!("spawning {}: {e}", exe.display()));
            let stdout = String::from_utf8_lossy(&out.stdout);
            let Some(line) = stdout.lines().find(|l| l.starts_with("HEAP ")) else {
                failures.push(format!(
                    "{} ({which}): child failed: {}{}",
                    path.display(),
                    stdout,
                    String::from_utf8_lossy(&out.stderr)
                ));
                continue;
            };
            runs += 1;
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (Some(&kind), Some(charged), Some(overhead)) = (
                fields.get(1),
                fields.get(2).and_then(|s| s.parse::<u64>().ok()),
                fields.get(3).and_then(|s| s.parse::<u64>().ok()),
            ) else {
                failures.push(format!("{}: bad report {line:?}", path.display()));
                continue;
            };
            let beyond = overhead as i64 - charged.min(i64::MAX as u64) as i64;
            let label = format!("{} ({which})", path.display());
            let worst = if kind == "ok" {
                &mut worst_ok
            } else {
                &mut worst_err
            };
            if beyond > worst.0 {
                *worst = (beyond, label.clone());
            }
            if overhead > charged.saturating_add(HEAP_SLACK) {
                failures.push(format!(
                    "{label}: {kind}: peak heap {overhead} B over {} B allowed ({} + {HEAP_SLACK})",
                    charged.saturating_add(HEAP_SLACK),
                    if kind == "ok" {
                        "usage.memory_bytes"
                    } else {
                        "max_memory_bytes"
                    },
                ));
            }
        }
    }
    println!(
        "heap: {runs} decodes; max overhead beyond usage.memory_bytes (successes): {} B at {}",
        worst_ok.0, worst_ok.1
    );
    println!(
        "heap: max overhead beyond max_memory_bytes (failures): {} B at {}",
        worst_err.0, worst_err.1
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
