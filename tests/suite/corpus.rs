//! The committed corpus, replayed: seeds against the JSON CPython's own objects gave,
//! bombs and hostile streams against their intended errors, every proper prefix of
//! every seed against end-of-input, slice against stream, and a snapshot of every
//! file's outcome (`corpus/outcomes.txt`, refreshed only with `BLESS=1`).

use std::collections::BTreeMap;
use std::io::BufReader;
use std::path::Path;

use pickleproof::views::json;
use pickleproof::{Decoded, Decoder, Error, ErrorKind, Limits, Policy};
use serde_json::Value;

use crate::support::{corpus_dir, corpus_files, manifest};

fn decoder_for(entry: &Value, dir: &Path) -> Decoder {
    let policy = match entry["policy"].as_str() {
        Some("inert") => Policy::inert(),
        _ => Policy::strict(),
    };
    let mut decoder = Decoder::new().policy(policy);
    if let Some(buffers) = entry["buffers"].as_array() {
        if !buffers.is_empty() {
            let data = buffers
                .iter()
                .map(|b| {
                    std::fs::read(dir.join(b.as_str().unwrap_or_default())).unwrap_or_default()
                })
                .collect();
            decoder = decoder.buffers(data);
        }
    }
    decoder
}

/// Canonical form for comparison: ids renumbered in order of first appearance, set
/// items sorted (their order is not significant).
fn canonical(value: &Value) -> Value {
    let mut ids = BTreeMap::new();
    let renumbered = renumber(value, &mut ids);
    sort_sets(renumbered)
}

fn renumber(value: &Value, ids: &mut BTreeMap<u64, u64>) -> Value {
    match value {
        Value::Object(map) => {
            let mut out = serde_json::Map::new();
            // "id" first so a node's own id is numbered before its children's.
            if let Some(id) = map.get("id").and_then(Value::as_u64) {
                let next = ids.len() as u64;
                let n = *ids.entry(id).or_insert(next);
                out.insert("id".into(), Value::from(n));
            }
            for (k, v) in map {
                if k != "id" {
                    out.insert(k.clone(), renumber(v, ids));
                }
            }
            out.into()
        }
        Value::Array(items) => Value::Array(items.iter().map(|v| renumber(v, ids)).collect()),
        other => other.clone(),
    }
}

fn sort_sets(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let is_set = matches!(
                map.get("t").and_then(Value::as_str),
                Some("set" | "frozenset")
            );
            let mut out = serde_json::Map::new();
            for (k, v) in map {
                let mut v = sort_sets(v);
                if is_set && k == "items" {
                    if let Value::Array(items) = &mut v {
                        items.sort_by_key(|i| i.to_string());
                    }
                }
                out.insert(k, v);
            }
            out.into()
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sort_sets).collect()),
        other => other,
    }
}

#[test]
fn every_seed_decodes_to_the_json_cpython_gave() {
    let dir = corpus_dir().join("seed");
    let entries = manifest("seed");
    assert!(
        entries.len() > 500,
        "seed manifest is too small: {}",
        entries.len()
    );
    let mut failures = Vec::new();
    for entry in &entries {
        let file = entry["file"].as_str().unwrap_or_default();
        let data = std::fs::read(dir.join(file)).unwrap_or_default();
        let expected_text =
            std::fs::read_to_string(dir.join(entry["expected"].as_str().unwrap_or_default()))
                .unwrap_or_default();
        let expected: Value = serde_json::from_str(&expected_text).unwrap_or(Value::Null);
        match decoder_for(entry, &dir).decode(&data) {
            Ok(d) => {
                let ours: Value =
                    serde_json::from_str(&json::to_json(&d.graph, d.root)).unwrap_or(Value::Null);
                if canonical(&ours) != canonical(&expected) {
                    failures.push(format!("{file}: got {ours}\n   want {expected}"));
                }
            }
            Err(e) => failures.push(format!("{file}: {e}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} seeds differ:\n{}",
        failures.len(),
        entries.len(),
        failures.join("\n")
    );
}

fn expected_error(expect: &Value, err: &Error) -> Result<(), String> {
    let kind = expect["kind"].as_str().unwrap_or_default();
    if err.kind().name() != kind {
        return Err(format!("kind {} ({err}), want {kind}", err.kind().name()));
    }
    if let Some(resource) = expect["resource"].as_str() {
        let got = err.resource().map(|r| r.name()).unwrap_or_default();
        if got != resource {
            return Err(format!("resource {got} ({err}), want {resource}"));
        }
    }
    if let ErrorKind::Forbidden { module, name } = err.kind() {
        let want = (expect["module"].as_str(), expect["name"].as_str());
        if want != (Some(module.as_str()), Some(name.as_str())) {
            return Err(format!("forbidden {module}.{name}, want {want:?}"));
        }
    }
    Ok(())
}

#[test]
fn every_bomb_gives_its_intended_outcome_under_default_limits() {
    let dir = corpus_dir().join("bombs");
    let entries = manifest("bombs");
    let mut failures = Vec::new();
    for entry in &entries {
        let file = entry["file"].as_str().unwrap_or_default();
        let data = std::fs::read(dir.join(file)).unwrap_or_default();
        let expect = &entry["expect"];
        let result = Decoder::new().decode(&data);
        let verdict = match (&result, expect["ok"].as_bool()) {
            (Ok(_), Some(true)) => Ok(()),
            (Ok(d), _) => Err(format!("decoded ({} nodes), want {expect}", d.graph.len())),
            (Err(e), Some(true)) => Err(format!("failed: {e}")),
            (Err(e), _) => expected_error(expect, e),
        };
        if let Err(why) = verdict {
            failures.push(format!("{file}: {why}"));
        }
    }
    assert!(failures.is_empty(), "bombs:\n{}", failures.join("\n"));
}

#[test]
fn memo_bombs_stay_linear_and_tree_expansion_refuses_them() {
    use pickleproof::views::tree::{expand, TreeLimits};
    let dir = corpus_dir().join("bombs");
    for entry in manifest("bombs") {
        let Some(levels) = entry["memo_bomb_levels"].as_u64() else {
            continue;
        };
        let file = entry["file"].as_str().unwrap_or_default();
        let data = std::fs::read(dir.join(file)).unwrap_or_default();
        let d = Decoder::new()
            .limits(Limits::unbounded())
            .decode(&data)
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        // One list node per level (plus at most a few scalars): linear, not 2^levels.
        assert!(
            d.graph.len() as u64 <= levels + 2,
            "{file}: {} nodes",
            d.graph.len()
        );
        let text = json::to_json(&d.graph, d.root);
        assert!(
            (text.len() as u64) < 100 * (levels + 1),
            "{file}: JSON of {} bytes for {levels} levels",
            text.len()
        );
        if levels >= 30 {
            let limits = TreeLimits {
                max_nodes: 1_000_000,
                max_depth: 1000,
                ..TreeLimits::default()
            };
            let err = expand(&d.graph, d.root, &limits).err();
            assert_eq!(
                err.as_ref().and_then(Error::resource),
                Some(pickleproof::Resource::Expansion),
                "{file}: {err:?}"
            );
        }
    }
}

#[test]
fn hostile_streams_are_refused_by_strict_and_described_by_inert() {
    // corpus/compat/ holds harmless Python 2 names in the same form: their mapped name
    // is the first one strict refuses, which shows the mapping comes first.
    let mut failures = Vec::new();
    let mut checked = 0;
    for (dir, entry) in ["hostile", "compat"].iter().flat_map(|d| {
        manifest(d)
            .into_iter()
            .map(move |e| (corpus_dir().join(d), e))
    }) {
        checked += 1;
        let file = entry["file"].as_str().unwrap_or_default();
        let data = std::fs::read(dir.join(file)).unwrap_or_default();
        match Decoder::new().decode(&data) {
            Ok(_) => failures.push(format!("{file}: strict policy accepted it")),
            Err(e) => {
                if let Err(why) = expected_error(&entry["expect"], &e) {
                    failures.push(format!("{file}: {why}"));
                }
            }
        }
        if let Err(e) = Decoder::new().policy(Policy::inert()).decode(&data) {
            failures.push(format!("{file}: inert policy failed: {e}"));
        }
    }
    assert!(checked > 20, "{checked}");
    assert!(failures.is_empty(), "hostile:\n{}", failures.join("\n"));
}

#[test]
fn every_proper_prefix_of_every_seed_is_end_of_input() {
    let dir = corpus_dir().join("seed");
    let mut failures = Vec::new();
    let mut checked = 0u64;
    for entry in manifest("seed") {
        let file = entry["file"].as_str().unwrap_or_default();
        let data = std::fs::read(dir.join(file)).unwrap_or_default();
        let decoder = decoder_for(&entry, &dir);
        for len in 0..data.len() {
            checked += 1;
            match decoder.decode(data.get(..len).unwrap_or_default()) {
                Err(e) if e.is_eof() => {}
                other => {
                    failures.push(format!(
                        "{file}[..{len}]: {:?}",
                        other.map(|d| d.graph.len())
                    ));
                    break;
                }
            }
        }
    }
    assert!(checked > 100_000, "only {checked} prefixes checked");
    assert!(failures.is_empty(), "prefixes:\n{}", failures.join("\n"));
}

/// A reader that hands out at most `chunk` bytes per call.
struct Chunked<'a> {
    data: &'a [u8],
    chunk: usize,
}

impl std::io::Read for Chunked<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.chunk.min(buf.len()).min(self.data.len());
        let (head, tail) = self.data.split_at(n);
        buf[..n].copy_from_slice(head);
        self.data = tail;
        Ok(n)
    }
}

fn same(a: &Result<Decoded<'_>, Error>, b: &Result<Decoded<'_>, Error>) -> bool {
    match (a, b) {
        (Ok(x), Ok(y)) => {
            x.graph.clone().into_owned() == y.graph.clone().into_owned()
                && x.root == y.root
                && x.usage == y.usage
                && x.consumed == y.consumed
        }
        (Err(x), Err(y)) => {
            x.kind() == y.kind() && x.offset() == y.offset() && x.opcode() == y.opcode()
        }
        _ => false,
    }
}

#[test]
fn slice_and_stream_agree_on_every_corpus_file() {
    let mut failures = Vec::new();
    for path in corpus_files("pkl") {
        let data = std::fs::read(&path).unwrap_or_default();
        for decoder in [Decoder::new(), Decoder::new().policy(Policy::inert())] {
            let from_slice = decoder.decode(&data);
            for (chunk, capacity) in [(1, 1), (7, 3), (4096, 8192)] {
                let reader = BufReader::with_capacity(capacity, Chunked { data: &data, chunk });
                let from_stream = decoder.decode_reader(reader);
                if !same(&from_slice, &from_stream) {
                    failures.push(format!(
                        "{} (chunk {chunk}): slice {:?} stream {:?}",
                        path.display(),
                        from_slice.as_ref().map(|d| d.graph.len()),
                        from_stream.as_ref().map(|d| d.graph.len())
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "slice/stream:\n{}",
        failures.join("\n")
    );
}

fn outcome_line(result: &Result<Decoded<'_>, Error>) -> String {
    match result {
        Ok(d) => format!(
            "ok nodes={} consumed={} steps={} memory={} depth={}",
            d.graph.len(),
            d.consumed,
            d.usage.steps,
            d.usage.memory_bytes,
            d.usage.depth
        ),
        Err(e) => format!(
            "err {} offset={} opcode={} resource={}",
            e.kind().name(),
            e.offset(),
            e.opcode()
                .map(|o| format!("0x{o:02x}"))
                .unwrap_or_else(|| "-".into()),
            e.resource().map(|r| r.name()).unwrap_or("-")
        ),
    }
}

/// Every corpus file's outcome under the strict and the inert policy, compared with
/// `corpus/outcomes.txt`. Run with `BLESS=1` to rewrite the snapshot after a
/// deliberate change, and review the diff.
#[test]
fn outcomes_match_the_committed_snapshot() {
    let root = corpus_dir();
    let mut lines = Vec::new();
    for path in corpus_files("pkl") {
        let data = std::fs::read(&path).unwrap_or_default();
        let name = path
            .strip_prefix(&root)
            .unwrap_or(&path)
            .display()
            .to_string();
        let strict = outcome_line(&Decoder::new().decode(&data));
        let inert = outcome_line(&Decoder::new().policy(Policy::inert()).decode(&data));
        lines.push(format!("{name}\tstrict: {strict}\tinert: {inert}"));
    }
    let actual = lines.join("\n") + "\n";
    let snapshot = root.join("outcomes.txt");
    if std::env::var_os("BLESS").is_some() {
        std::fs::write(&snapshot, &actual).unwrap_or_else(|e| panic!("{e}"));
        return;
    }
    let expected = std::fs::read_to_string(&snapshot).unwrap_or_default();
    if expected != actual {
        let diff: Vec<String> = expected
            .lines()
            .zip(actual.lines())
            .filter(|(e, a)| e != a)
            .take(20)
            .map(|(e, a)| format!("- {e}\n+ {a}"))
            .collect();
        panic!(
            "corpus outcomes changed ({} vs {} lines); rerun with BLESS=1 if deliberate:\n{}",
            expected.lines().count(),
            actual.lines().count(),
            diff.join("\n")
        );
    }
}
