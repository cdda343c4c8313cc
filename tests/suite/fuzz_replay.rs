//! The fuzz-target bodies of `pickleproof::harness`, outside the fuzzer: a smoke test
//! per target with hand-written inputs, and one test that replays every `*.pkl` under
//! `corpus/` (seeds, bombs, hostile streams and every crash ever found, in
//! `corpus/regressions/`) through every byte-input target, so a crash file saved by
//! the fuzzer fails `cargo test` until it is fixed.
//!
//! The replay runs all files through all targets and then fails once, listing every
//! `file: target` that panicked, so one run shows the whole damage. Crash files of
//! the structured targets (`corpus/regressions/ops-*.bin`, `roundtrip-*.bin`) are
//! replayed through `arbitrary`, as libFuzzer built them. Nothing is skipped:
//! the bodies run under the harness's tight limits, so even the megabyte bombs fail
//! within their first MiB (the whole replay takes a few seconds in debug builds).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

use arbitrary::{Arbitrary, Unstructured};
use pickleproof::harness::{self, BuildOp, Chunking, GraphInput, Op, OpsInput, PlainOp};

use crate::support::{corpus_dir, corpus_files};

/// A byte-input target body.
type Body = fn(&[u8]);

/// Byte-input targets, by the name of their fuzz target.
fn byte_targets() -> Vec<(&'static str, Body)> {
    let targets: Vec<(&'static str, Body)> = vec![
        ("decode", harness::run_decode),
        ("stream", harness::run_stream),
        ("limits", harness::run_limits),
        ("views", harness::run_views),
        ("roundtrip_bytes", harness::run_roundtrip_bytes),
        ("scan", harness::scan::run_scan),
        ("container", harness::run_container),
    ];
    #[cfg(feature = "serde")]
    let targets = {
        let mut targets = targets;
        targets.push(("serde", harness::serde::run_serde as Body));
        targets
    };
    targets
}

/// Extra chunkings every file goes through besides the one its last byte selects.
const EXTRA_CHUNKINGS: &[u8] = &[0x00, 0x0a, 0x91, 0xff];

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else {
        "(non-string panic)".to_owned()
    }
}

fn relative(path: &Path) -> String {
    path.strip_prefix(corpus_dir())
        .unwrap_or(path)
        .display()
        .to_string()
}

#[test]
fn replay_corpus_through_every_target() {
    let files = corpus_files("pkl");
    assert!(
        files.len() > 100,
        "corpus/ looks empty: {} files",
        files.len()
    );
    let mut failures = Vec::new();
    for path in &files {
        let data = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let name = relative(path);
        let mut runs: Vec<(String, Box<dyn Fn()>)> = byte_targets()
            .into_iter()
            .map(|(target, body)| {
                let data = data.clone();
                (
                    target.to_owned(),
                    Box::new(move || body(&data)) as Box<dyn Fn()>,
                )
            })
            .collect();
        for &b in EXTRA_CHUNKINGS {
            let data = data.clone();
            runs.push((
                format!("stream/{b:#04x}"),
                Box::new(move || harness::stream_with(&data, Chunking::from_byte(b))),
            ));
        }
        for (target, run) in runs {
            if let Err(payload) = catch_unwind(AssertUnwindSafe(run)) {
                let message = panic_message(payload.as_ref());
                eprintln!("FAILED {name}: {target}: {message}");
                failures.push(format!("{name}: {target}: {message}"));
            }
        }
    }
    // Archives (and any `zip` crash saved as `corpus/regressions/zip-*.zip`) through
    // the `zip` target.
    let mut archives = corpus_files("pt");
    archives.extend(corpus_files("zip"));
    assert!(archives.len() >= 3, "corpus/archives/ looks empty");
    for path in archives {
        let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let name = relative(&path);
        for cut in [data.len(), data.len() / 2, data.len().saturating_sub(22)] {
            let bytes = data[..cut].to_vec();
            if let Err(payload) = catch_unwind(AssertUnwindSafe(|| harness::run_zip(&bytes))) {
                let message = panic_message(payload.as_ref());
                failures.push(format!("{name} (first {cut} bytes): zip: {message}"));
            }
            if let Err(payload) = catch_unwind(AssertUnwindSafe(|| harness::scan::run_scan(&bytes)))
            {
                let message = panic_message(payload.as_ref());
                failures.push(format!("{name} (first {cut} bytes): scan: {message}"));
            }
        }
    }
    // Container files (and any `container` crash saved as
    // `corpus/regressions/container-*.bin`) through the `container` target, whole
    // and cut.
    let mut containers: Vec<_> = std::fs::read_dir(corpus_dir().join("containers"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !matches!(p.extension().and_then(|e| e.to_str()), Some("py" | "json")))
        .collect();
    containers.sort();
    assert!(containers.len() >= 40, "corpus/containers/ looks empty");
    // Files the `container` and `scan` targets found (any bytes), through both.
    let mut found: Vec<_> = std::fs::read_dir(corpus_dir().join("fuzz-files"))
        .map(|dir| dir.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    found.sort();
    for path in &found {
        let data = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        if let Err(payload) = catch_unwind(AssertUnwindSafe(|| harness::scan::run_scan(&data))) {
            let message = panic_message(payload.as_ref());
            failures.push(format!("{}: scan: {message}", relative(path)));
        }
    }
    containers.extend(found);
    for path in corpus_files("bin")
        .into_iter()
        .filter(|p| {
            p.file_name()
                .is_some_and(|f| f.to_string_lossy().starts_with("container-"))
        })
        .chain(containers)
    {
        let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let name = relative(&path);
        for cut in [data.len(), data.len() / 2, data.len().saturating_sub(1)] {
            let bytes = data[..cut].to_vec();
            if let Err(payload) = catch_unwind(AssertUnwindSafe(|| harness::run_container(&bytes)))
            {
                let message = panic_message(payload.as_ref());
                eprintln!("FAILED {name} (first {cut} bytes): container: {message}");
                failures.push(format!("{name} (first {cut} bytes): container: {message}"));
            }
        }
    }
    // Crashes of the structured targets are saved as the fuzzer's raw bytes,
    // `corpus/regressions/<target>-<hash>.bin`; libFuzzer builds the input with
    // `arbitrary_take_rest`, and so does this replay.
    for path in corpus_files("bin") {
        let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let name = relative(&path);
        let file = path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        let run: Box<dyn Fn()> = if file.starts_with("ops-") {
            Box::new(move || {
                if let Ok(input) = OpsInput::arbitrary_take_rest(Unstructured::new(&data)) {
                    harness::run_ops(&input);
                }
            })
        } else if file.starts_with("roundtrip-") {
            Box::new(move || {
                if let Ok(input) = GraphInput::arbitrary_take_rest(Unstructured::new(&data)) {
                    harness::run_roundtrip(&input);
                }
            })
        } else {
            continue;
        };
        if let Err(payload) = catch_unwind(AssertUnwindSafe(run)) {
            let message = panic_message(payload.as_ref());
            eprintln!("FAILED {name}: {message}");
            failures.push(format!("{name}: {message}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} (file, target) runs failed:\n{}",
        failures.len(),
        files.len() * (byte_targets().len() + EXTRA_CHUNKINGS.len()),
        failures.join("\n")
    );
}

// ----- smoke tests: a few hand-written inputs per target ------------------------------

/// `pickle.dumps([1, "two", 3.0], protocol=2)` and friends.
const SMOKE: &[&[u8]] = &[
    b"\x80\x02]q\x00(K\x01X\x03\x00\x00\x00twoq\x01G@\x08\x00\x00\x00\x00\x00\x00e.",
    b"(lp0\nI1\naS'two'\np1\naF3.0\na.",
    b"\x80\x04\x95\x0b\x00\x00\x00\x00\x00\x00\x00]\x94(K\x01K\x02e.",
    b"\x80\x05\x8f\x94(K\x01K\x02\x90.",
    b"cos\nsystem\n(S'echo pwned'\ntR.",
    b"]q\x00h\x00a.",
    b"\x80\x02]q\x00(h\x00h\x00e\x85q\x01.",
    b"",
    b"\x80",
    b"\x80\x06.",
    b"\x8e\xff\xff\xff\xff\xff\xff\xff\x3f",
    b"(((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((.",
    b"N.trailing bytes after STOP",
];

#[test]
fn smoke_decode() {
    for data in SMOKE {
        harness::run_decode(data);
    }
}

#[test]
fn smoke_stream() {
    for data in SMOKE {
        harness::run_stream(data);
        for b in 0..=255u8 {
            harness::stream_with(data, Chunking::from_byte(b));
        }
    }
}

#[cfg(feature = "serde")]
#[test]
fn smoke_serde() {
    for data in SMOKE {
        harness::serde::run_serde(data);
    }
    // Every mode and protocol over a dict, a nested list, a tagged enum and a bomb.
    let doc = b"\x80\x02}q\x00(X\x01\x00\x00\x00aq\x01]q\x02(K\x01K\x02eX\x01\x00\x00\x00bq\x03G?\xf8\x00\x00\x00\x00\x00\x00u.";
    let nested = b"\x80\x02]q\x00(]q\x01K\x01a]q\x02e.";
    let tagged = b"\x80\x02}q\x00X\x01\x00\x00\x00Lq\x01]q\x02X\x01\x00\x00\x00Uq\x03as.";
    let mut bomb = b"\x80\x02]q\x00".to_vec();
    for i in 1..=40u8 {
        bomb.extend([b']', b'(', b'h', i - 1, b'h', i - 1, b'e', b'q', i, b'0']);
    }
    bomb.extend([b'h', 40, b'.']);
    for data in [&doc[..], &nested[..], &tagged[..], &bomb[..]] {
        for mode in 0..=255u8 {
            let mut input = data.to_vec();
            input.extend([mode, 0xff]);
            harness::serde::run_serde(&input);
        }
    }
}

#[test]
fn smoke_limits() {
    for data in SMOKE {
        harness::run_limits(data);
    }
}

#[test]
fn smoke_views() {
    for data in SMOKE {
        harness::run_views(data);
        // The same pickle with other configuration bytes after STOP.
        for config in [&[0u8, 0, 0][..], &[255, 255, 255], &[1, 2, 3]] {
            let mut with = data.to_vec();
            with.extend_from_slice(config);
            harness::run_views(&with);
        }
    }
}

#[test]
fn smoke_scan() {
    for data in SMOKE {
        harness::scan::run_scan(data);
    }
    // Several pickles, a nested one, a memo index and a deep value past the
    // harness's small thresholds.
    let mut two = SMOKE[0].to_vec();
    two.extend_from_slice(SMOKE[4]);
    harness::scan::run_scan(&two);
    let mut nested = b"\x80\x03cpickle\nloads\nC".to_vec();
    nested.push(SMOKE[4].len() as u8);
    nested.extend_from_slice(SMOKE[4]);
    nested.extend_from_slice(b"\x85R.");
    harness::scan::run_scan(&nested);
    harness::scan::run_scan(b"\x80\x02]r\xff\xff\xff\xff.");
    let mut deep = b"\x80\x02".to_vec();
    deep.extend(std::iter::repeat(b']').take(100));
    deep.extend(std::iter::repeat(b'a').take(99));
    deep.push(b'.');
    harness::scan::run_scan(&deep);
}

#[test]
fn smoke_container() {
    for data in SMOKE {
        harness::run_container(data);
    }
    // A stored ZIP with a pickle, and the same behind a pickle.
    let zip = b"PK\x03\x04\x14\x00\x00\x00\x00\x00\x00\x00\x00\x00\x5f\x4c\x2a\x0b\x02\x00\x00\x00\x02\x00\x00\x00\x05\x00\x00\x00a.pklN.PK\x01\x02\x14\x00\x14\x00\x00\x00\x00\x00\x00\x00\x00\x00\x5f\x4c\x2a\x0b\x02\x00\x00\x00\x02\x00\x00\x00\x05\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00a.pklPK\x05\x06\x00\x00\x00\x00\x01\x00\x01\x00\x33\x00\x00\x00\x25\x00\x00\x00\x00\x00";
    harness::run_container(zip);
    let mut glued = b"cos\nsystem\n(S'x'\ntR.".to_vec();
    glued.extend_from_slice(zip);
    harness::run_container(&glued);
}

#[test]
fn smoke_roundtrip_bytes() {
    for data in SMOKE {
        harness::run_roundtrip_bytes(data);
    }
}

#[test]
fn smoke_ops() {
    let list = OpsInput {
        protocol: 2,
        ops: vec![
            Op::Plain(PlainOp::EmptyList),
            Op::Put { index: 0, form: 1 },
            Op::Plain(PlainOp::Mark),
            Op::Int { value: -5, form: 2 },
            Op::Str {
                text: "héllo\n\\".to_owned(),
                form: 3,
            },
            Op::Get { index: 0, form: 1 },
            Op::Plain(PlainOp::Appends),
        ],
    };
    harness::run_ops(&list);
    let framed = OpsInput {
        protocol: 4,
        ops: vec![
            Op::Frame { ops: 3 },
            Op::Global { name: 10, form: 1 },
            Op::Plain(PlainOp::EmptyTuple),
            Op::Plain(PlainOp::Reduce),
            Op::Bytes {
                data: vec![0, 1, 2],
                form: 3,
            },
            Op::Plain(PlainOp::Build),
        ],
    };
    harness::run_ops(&framed);
    for form in 0..9 {
        for value in [0, 1, -1, 255, 256, i64::MIN, i64::MAX] {
            harness::run_ops(&OpsInput {
                protocol: 0,
                ops: vec![Op::Int { value, form }],
            });
        }
    }
    // Whatever `arbitrary` makes of fixed byte strings.
    for seed in [
        &[0u8; 64][..],
        &[0xff; 64],
        b"pickleproof ops smoke input, any bytes at all",
    ] {
        let mut u = Unstructured::new(seed);
        if let Ok(input) = OpsInput::arbitrary(&mut u) {
            harness::run_ops(&input);
        }
    }
}

#[test]
fn smoke_roundtrip() {
    // l = [1, 'a', (2.5, b'x')]; l.append(l); d = {'k': l}; root = (d, d, l)
    let cyclic = GraphInput {
        ops: vec![
            BuildOp::Int(1),
            BuildOp::Str("a".to_owned()),
            BuildOp::Float(2.5),
            BuildOp::Bytes(b"x".to_vec()),
            BuildOp::Tuple(2),
            BuildOp::List(3),
            BuildOp::Share(5),
            BuildOp::AddTo(5),
            BuildOp::Str("k".to_owned()),
            BuildOp::Share(5),
            BuildOp::Dict(1),
            BuildOp::Share(7),
            BuildOp::Share(5),
            BuildOp::Tuple(3),
        ],
    };
    harness::run_roundtrip(&cyclic);
    let objects = GraphInput {
        ops: vec![
            BuildOp::Global(0),
            BuildOp::Int(3),
            BuildOp::Tuple(1),
            BuildOp::Object {
                op: 1,
                state: false,
            },
            BuildOp::Share(3),
            BuildOp::AddTo(3),
            BuildOp::Int(7),
            BuildOp::BigInt(vec![0xff; 20]),
            BuildOp::FrozenSet(2),
            BuildOp::Object { op: 2, state: true },
            BuildOp::Buffer(true),
            BuildOp::Ext(513),
            BuildOp::PersId,
            BuildOp::Set(3),
            BuildOp::ByteArray(vec![1, 2, 3]),
            BuildOp::List(3),
        ],
    };
    harness::run_roundtrip(&objects);
    for seed in [
        &[0u8; 64][..],
        &[0x5a; 128],
        b"roundtrip smoke input: arbitrary bytes",
    ] {
        let mut u = Unstructured::new(seed);
        if let Ok(input) = GraphInput::arbitrary(&mut u) {
            harness::run_roundtrip(&input);
        }
    }
}

#[test]
fn recursion_on_input_depth_would_crash_the_small_stack() {
    // The runners really run on a small stack: a deliberately recursive function that
    // is fine on the test thread's stack overflows there. (Checked indirectly: the
    // runners propagate panics, and a deep nesting bomb passes through every target.)
    let result = catch_unwind(|| harness::run_decode_guarded(b"N.", &PanicGuard));
    assert!(result.is_err(), "a panic in the body must reach the caller");
    // A 100,000-level nesting bomb goes through every target without overflowing.
    let mut deep = vec![b']'; 100_000];
    deep.extend(std::iter::repeat_n(b'a', 99_999));
    deep.push(b'.');
    for (_, body) in byte_targets() {
        body(&deep);
    }
}

struct PanicGuard;

impl harness::HeapGuard for PanicGuard {
    fn enter(&self, _budget: u64) {}
    fn exit(&self) {
        panic!("guard panics on purpose");
    }
}

/// The policy files the `policy` target starts from (`corpus/fuzz-policy/`, the presets
/// in `policies/`) and every `policy` crash saved as `corpus/regressions/*.policy`,
/// through its body. The hand-written ones hold every kind of error the readers report.
#[test]
fn replay_policy_files() {
    let root = corpus_dir();
    let repo = root.parent().unwrap().to_path_buf();
    let mut files = Vec::new();
    for dir in [root.join("fuzz-policy"), repo.join("policies")] {
        for entry in std::fs::read_dir(&dir).unwrap() {
            files.push(entry.unwrap().path());
        }
    }
    files.extend(corpus_files("policy"));
    files.sort();
    assert!(files.len() >= 20, "{} policy files", files.len());
    let mut failures = Vec::new();
    for path in &files {
        let data = std::fs::read(path).unwrap();
        if let Err(payload) = catch_unwind(AssertUnwindSafe(|| harness::policy::run_policy(&data)))
        {
            failures.push(format!(
                "{}: {}",
                path.display(),
                panic_message(payload.as_ref())
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// What the policy readers say of the hand-written broken files: each error where it is.
#[test]
fn broken_policy_files_fail_on_their_line() {
    let dir = corpus_dir().join("fuzz-policy");
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap();
    let cases: &[(&str, usize, &str)] = &[
        ("errors-unknown.txt", 1, "unknown preset `no-such-preset`"),
        ("errors-feature.txt", 1, "unknown feature `teleportation`"),
        (
            "errors-rule-on-prefix.txt",
            1,
            "a rule needs an exact global",
        ),
        ("errors-trailing.txt", 1, "unexpected `extra words`"),
        ("errors-not-a-global.txt", 1, "`justaname` is not a global"),
        (
            "errors-bad-getattr.txt",
            1,
            "getattr's rule is getattr(module:qualname,attr)",
        ),
        (
            "errors-include-arity.txt",
            1,
            "include needs one preset name",
        ),
        ("errors-unknown-rule.txt", 1, "trust-me"),
    ];
    for (file, line, message) in cases {
        let err = pickleproof::Policy::from_text(&read(file)).unwrap_err();
        assert_eq!(err.line, *line, "{file}: {err}");
        assert!(err.message.contains(message), "{file}: {err}");
    }
    let err = pickleproof::Policy::from_text_with(&read("include-self-cycle.txt"), &|name| {
        (name == "self").then(|| read("include-self-cycle.txt"))
    })
    .unwrap_err();
    assert_eq!(err.line, 2, "{err}");
    assert!(err.message.contains("include cycle"), "{err}");
    #[cfg(feature = "policy-toml")]
    {
        let err = pickleproof::Policy::from_toml(&read("errors-toml-key.toml")).unwrap_err();
        assert_eq!(err.line, 1, "{err}");
        let toml_cases: &[(&str, usize, &str)] = &[
            (
                "errors-toml-rule-not-array.toml",
                1,
                "`rule` must be an array of tables ([[rule]])",
            ),
            (
                "errors-toml-rule-not-table.toml",
                1,
                "`rule` must be an array of tables ([[rule]])",
            ),
            (
                "errors-toml-rule-unknown-key.toml",
                4,
                "unknown key `why` in [[rule]] (known: global, rule, reason)",
            ),
            (
                "errors-toml-rule-not-string.toml",
                2,
                "`global` must be a string",
            ),
            (
                "errors-toml-rule-missing.toml",
                1,
                "[[rule]] needs both `global` and `rule`",
            ),
            (
                "errors-toml-allow-not-strings.toml",
                1,
                "`allow` must be an array of strings",
            ),
        ];
        for (file, line, message) in toml_cases {
            let err = pickleproof::Policy::from_toml(&read(file)).unwrap_err();
            assert_eq!(
                (err.line, err.message.as_str()),
                (*line, *message),
                "{file}"
            );
        }
        let ok = pickleproof::Policy::from_toml(&read("policy.toml")).unwrap();
        assert!(ok.allows_global("collections", "OrderedDict"));
        assert!(ok.allows_global("mypkg.sub", "Thing"));
        assert!(!ok.allows_global("mypkg2", "Thing"));
    }
}
