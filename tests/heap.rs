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

// ===== peak heap against the graph's own size ==========================================

const SHAPE_ENV: &str = "PICKLEPROOF_HEAP_SHAPE";
const SHAPE_TEST: &str = "peak_heap_is_at_most_one_and_a_half_graphs";

/// The shapes of `benches/` ((a)–(d)), built here so the test needs no Python: a
/// graph made by hand, pickled by pickleproof's encoder (what CPython writes for plain
/// data), at protocol 4.
fn shape(name: &str) -> Vec<u8> {
    use pickleproof::{Graph, NodeData};
    use std::borrow::Cow;
    let mut g = Graph::new();
    let add = |g: &mut Graph<'static>, n: NodeData<'static>| g.add(n).expect("node");
    let root = match name {
        "ints" => {
            let items = (0..300_000u64)
                .map(|i| {
                    let v = match i % 10 {
                        0..=2 => (i % 250) as i64,
                        3..=4 => (i % 60_000) as i64,
                        9 => (i as i64) << 33,
                        _ => (i * 7919) as i64 - 1_000_000,
                    };
                    add(&mut g, NodeData::Int(v))
                })
                .collect();
            add(&mut g, NodeData::List(items))
        }
        "str_float" => {
            let entries = (0..100_000u32)
                .map(|i| {
                    let k = add(
                        &mut g,
                        NodeData::Str(Cow::Owned(format!("feature_{i}_max").into())),
                    );
                    let v = add(&mut g, NodeData::Float(f64::from(i) * 0.37));
                    (k, v)
                })
                .collect();
            add(&mut g, NodeData::Dict(entries))
        }
        "bytes_1k" => {
            let items = (0..5_000u32)
                .map(|i| {
                    add(
                        &mut g,
                        NodeData::Bytes(Cow::Owned(vec![(i % 251) as u8; 1024])),
                    )
                })
                .collect();
            add(&mut g, NodeData::List(items))
        }
        "json_doc" => {
            let names = [
                "id", "uuid", "name", "email", "active", "age", "score", "balance", "created",
                "parent", "tags", "address", "friends", "about", "metrics", "flags",
            ];
            let keys: Vec<_> = names
                .iter()
                .map(|k| add(&mut g, NodeData::Str(Cow::Owned(k.as_bytes().to_vec()))))
                .collect();
            let records = (0..20_000u32)
                .map(|i| {
                    let mut values = Vec::new();
                    for (j, _) in names.iter().enumerate() {
                        let v = match j % 6 {
                            0 => NodeData::Int(1_000_000 + i64::from(i)),
                            1 => {
                                NodeData::Str(Cow::Owned(format!("user{i}-{j}@example.com").into()))
                            }
                            2 => NodeData::Float(f64::from(i) / 7.0),
                            3 => NodeData::Bool(i % 3 == 0),
                            4 => NodeData::None,
                            _ => {
                                let inner =
                                    add(&mut g, NodeData::Str(Cow::Owned(b"Lisbon".to_vec())));
                                NodeData::List(vec![inner])
                            }
                        };
                        values.push(add(&mut g, v));
                    }
                    let entries = keys.iter().copied().zip(values).collect();
                    add(&mut g, NodeData::Dict(entries))
                })
                .collect();
            add(&mut g, NodeData::List(records))
        }
        other => panic!("unknown shape {other}"),
    };
    pickleproof::encode::encode(&g, root, 4).expect("encodes")
}

/// One decode of a shape file, measured; prints `SHAPE <peak − before> <graph heap
/// bytes> <input bytes>`. The file is written by the parent: building it here would
/// raise the allocator's high-water mark before the decode.
fn shape_child(path: &str) {
    let data = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let decoder = Decoder::new().limits(Limits::default());
    let before = ALLOC.allocated() as u64;
    let decoded = decoder.decode(&data).expect("decodes");
    let peak = ALLOC.max_allocated() as u64;
    println!(
        "SHAPE {} {} {}",
        peak.saturating_sub(before),
        decoded.graph.heap_bytes(),
        data.len()
    );
}

/// Acceptance: the decoder's peak heap is at most 1.5 × the heap of the graph it
/// returns (the input is the caller's and excluded on both sides), on the benchmark
/// shapes. What the decoder holds beyond the graph: its stack, memo, the key index of
/// big dicts and container heights, all freed when it returns.
#[test]
fn peak_heap_is_at_most_one_and_a_half_graphs() {
    if let Ok(name) = std::env::var(SHAPE_ENV) {
        shape_child(&name);
        return;
    }
    let exe = std::env::current_exe().unwrap_or_else(|e| panic!("current_exe: {e}"));
    let dir = std::env::temp_dir().join(format!("pickleproof-heap-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let mut failures = Vec::new();
    for name in ["ints", "str_float", "bytes_1k", "json_doc"] {
        let path = dir.join(format!("{name}.pkl"));
        std::fs::write(&path, shape(name)).expect("write shape");
        let out = Command::new(&exe)
            .args([
                SHAPE_TEST,
                "--exact",
                "--nocapture",
                "--test-threads=1",
                "-q",
            ])
            .env(SHAPE_ENV, &path)
            .output()
            .unwrap_or_else(|e| panic!("spawning {}: {e}", exe.display()));
        let stdout = String::from_utf8_lossy(&out.stdout);
        let Some(line) = stdout.lines().find(|l| l.starts_with("SHAPE ")) else {
            panic!(
                "{name}: child failed: {stdout}{}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let n: Vec<u64> = line
            .split_whitespace()
            .skip(1)
            .map(|f| f.parse().expect("number"))
            .collect();
        let (peak, graph, input) = (n[0], n[1], n[2]);
        let ratio = peak as f64 / graph as f64;
        println!(
            "{name}: input {input} B, graph {graph} B, decoder peak {peak} B = {ratio:.3} x graph"
        );
        if peak.saturating_mul(2) > graph.saturating_mul(3) {
            failures.push(format!(
                "{name}: peak {peak} B > 1.5 x graph {graph} B ({ratio:.3})"
            ));
        }
    }
    std::fs::remove_dir_all(&dir).ok();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
