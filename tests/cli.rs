//! The `pickleproof` binary: exit codes, never-partial stdout, the one-line error.

use std::process::{Command, Output, Stdio};

use std::io::Write;

fn run(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_pickleproof"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn pickleproof");
    if let Some(mut input) = child.stdin.take() {
        // The child may exit before reading (a usage error): a broken pipe is fine.
        let _ = input.write_all(stdin);
    }
    child.wait_with_output().expect("wait")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn dump_json_of_the_example_matches_its_expected_json() {
    let out = run(&["dump", "--json", "corpus/examples/config.pkl"], b"");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let ours: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let want: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/examples/config.json"),
        )
        .expect("expected JSON"),
    )
    .expect("expected JSON parses");
    // Sets are the only unordered part: compared with their items sorted.
    assert_eq!(normalise(&ours), normalise(&want));
    assert!(out.stderr.is_empty());
}

#[test]
fn dump_repr_from_stdin() {
    // pickle.dumps([1, 'a', None], 2)
    let out = run(
        &["dump", "-"],
        b"\x80\x02]q\x00(K\x01X\x01\x00\x00\x00aq\x01Ne.",
    );
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text(&out.stdout), "[1, 'a', None]\n");
}

#[test]
fn malformed_stream_exits_2_with_nothing_on_stdout() {
    let out = run(&["dump", "--json", "-"], b"\x80\x02]q\x00(K\x01K\x02");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        out.stdout.is_empty(),
        "partial output: {}",
        text(&out.stdout)
    );
    let err = text(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("pickleproof: error: eof at offset 10 (opcode -)"),
        "{err}"
    );
}

#[test]
fn budget_error_exits_3_and_names_resource_and_limit() {
    let out = run(
        &[
            "dump",
            "--max-memory",
            "1KiB",
            "corpus/bombs/claim_binbytes8_512mib.pkl",
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(3));
    assert!(out.stdout.is_empty());
    let err = text(&out.stderr);
    assert!(
        err.starts_with("pickleproof: error: limit at offset 2 (opcode BINBYTES8)"),
        "{err}"
    );
    assert!(err.contains("resource=memory limit=1024"), "{err}");
    assert!(err.contains("bytes 0x0: 80 04 [8e"), "{err}");
}

#[test]
fn nesting_bomb_exits_3_with_depth() {
    let out = run(&["dump", "corpus/bombs/nest_marks_1m.pkl"], b"");
    assert_eq!(out.status.code(), Some(3));
    assert!(out.stdout.is_empty());
    assert!(text(&out.stderr).contains("resource=depth limit=1000"));
}

#[test]
fn forbidden_global_exits_4_and_inert_describes_it() {
    let evil = b"cos\nsystem\n(S'echo pwned'\ntR.";
    let out = run(&["dump", "-"], evil);
    assert_eq!(out.status.code(), Some(4));
    assert!(out.stdout.is_empty());
    assert!(
        text(&out.stderr).starts_with("pickleproof: error: forbidden at offset 0 (opcode GLOBAL)")
    );
    let out = run(&["dump", "--policy", "inert", "-"], evil);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text(&out.stdout), "os.system('echo pwned')\n");
}

#[test]
fn computed_call_exits_4_under_pytorch_and_is_described_by_inert() {
    // REDUCE of a persistent id: PyTorch's policy takes persistent ids, not calls of them.
    let call_persid = b"\x80\x02X\x01\x00\x00\x00pQ)R.";
    let out = run(&["dump", "--policy", "pytorch", "-"], call_persid);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    assert!(out.stdout.is_empty());
    assert!(
        text(&out.stderr)
            .starts_with("pickleproof: error: computed_call_refused at offset 10 (opcode REDUCE)"),
        "{}",
        text(&out.stderr)
    );
    let out = run(&["dump", "--policy", "inert", "-"], call_persid);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

#[test]
fn usage_and_io_errors_exit_1() {
    let out = run(&["dump", "--max-memory", "12 parsecs", "-"], b"N.");
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let out = run(&["dump", "no/such/file.pkl"], b"");
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert!(text(&out.stderr).contains("cannot read no/such/file.pkl"));
}

#[test]
fn out_of_band_buffers_from_files() {
    let out = run(
        &[
            "dump",
            "--json",
            "--buffer",
            "corpus/seed/oob_bytes.p5.buf0",
            "corpus/seed/oob_bytes.p5.pkl",
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("\"t\":\"bytes\""));
    // Without the buffer the strict policy refuses NEXT_BUFFER: exit 4.
    let out = run(&["dump", "corpus/seed/oob_bytes.p5.pkl"], b"");
    assert_eq!(out.status.code(), Some(4));
}

/// `text` with the seconds of the summary line (`policy P: N file(s), X MB in S s`)
/// replaced by `_`: the one figure that changes from run to run.
fn timeless(out: &Output) -> String {
    text(&out.stdout)
        .lines()
        .map(
            |line| match (line.starts_with("policy "), line.rfind(" in ")) {
                (true, Some(at)) if line.ends_with(" s") => format!("{} in _ s\n", &line[..at]),
                _ => format!("{line}\n"),
            },
        )
        .collect()
}

/// The summary `scan` prints after the files: the policy, the files and megabytes,
/// then the count of each verdict (clean, suspicious, inconclusive, unsafe).
fn summary(policy: &str, megabytes: &str, counts: [u64; 4]) -> String {
    let [clean, suspicious, inconclusive, unsafe_] = counts;
    format!(
        "\npolicy {policy}: {} file(s), {megabytes} MB in _ s\n  clean        {clean:>8}\n  suspicious   {suspicious:>8}\n  inconclusive {inconclusive:>8}\n  unsafe       {unsafe_:>8}\n",
        clean + suspicious + inconclusive + unsafe_
    )
}

#[test]
fn scan_reports_every_finding_and_exits_by_verdict() {
    // A clean file: no finding, exit 0.
    let out = run(&["scan", "corpus/examples/config.pkl"], b"");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        timeless(&out),
        "corpus/examples/config.pkl: verdict clean (exit 0): 0 finding(s) in 1 pickle(s)\n"
            .to_owned()
            + &summary("strict", "0.0", [1, 0, 0, 0])
    );

    // set() then os.system: the allowed set() is not listed, os.system is, at its file
    // offsets, with the knowledge base's reason; exit 5 (unsafe).
    let file = "corpus/hostile/p2_allowed_then_forbidden.pkl";
    let out = run(&["scan", file], b"");
    assert_eq!(out.status.code(), Some(5), "{}", text(&out.stderr));
    assert_eq!(
        timeless(&out),
        format!(
            "{file}: @22: error PP002 shell-command: import os.system at offset 22 (GLOBAL): runs a shell command\n\
             {file}: @49: error PP002 shell-command: call os.system (reduce) at offset 49 (REDUCE): runs a shell command\n\
             {file}: verdict unsafe (exit 5): 2 finding(s) in 1 pickle(s)\n"
        ) + &summary("strict", "0.0", [0, 0, 0, 1])
    );
    // The strict decode fails where the scan's first refusal is.
    let dump = run(&["dump", file], b"");
    assert_eq!(dump.status.code(), Some(4));
    assert!(
        text(&dump.stderr).contains("at offset 22"),
        "{}",
        text(&dump.stderr)
    );

    // Under the inert policy the same stream is clean.
    let out = run(&["scan", "--policy", "inert", file], b"");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));

    // A global nobody listed and nothing knows: suspicious, exit 4. Standard input is
    // named `-`.
    let out = run(&["scan", "-"], b"ccollections\nOrderedDict\n)R.");
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stdout));
    assert_eq!(
        timeless(&out),
        "-: @0: warning PP010 not-allowlisted: import collections.OrderedDict at offset 0 (GLOBAL): not on the allowlist\n\
         -: @26: warning PP010 not-allowlisted: call collections.OrderedDict (reduce) at offset 26 (REDUCE): not on the allowlist\n\
         -: verdict suspicious (exit 4): 2 finding(s) in 1 pickle(s)\n"
            .to_owned()
            + &summary("strict", "0.0", [0, 1, 0, 0])
    );

    // JSON form: one document for every file scanned, each file's report in `files`.
    let out = run(&["scan", "--json", "-"], b"cos\nsystem\n(S'x'\ntR.");
    assert_eq!(out.status.code(), Some(5));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let file = &doc["files"][0];
    assert_eq!(file["verdict"], "unsafe");
    assert_eq!(file["pickles"][0]["complete"], true);
    assert_eq!(file["pickles"][0]["sites"][0]["module"], "os");
    assert_eq!(file["pickles"][0]["sites"][1]["kind"], "call");
    assert_eq!(file["pickles"][0]["sites"][1]["category"], "shell-command");

    // SARIF form.
    let out = run(&["scan", "--sarif", "-"], b"cos\nsystem\n(S'x'\ntR.");
    assert_eq!(out.status.code(), Some(5));
    let log: serde_json::Value = serde_json::from_slice(&out.stdout).expect("SARIF");
    assert_eq!(log["version"], "2.1.0");
    assert_eq!(log["runs"][0]["results"][0]["ruleId"], "PP002");

    // Cut short after data only: inconclusive, exit 2, the finding says where.
    let out = run(&["scan", "-"], b"\x80\x02]q\x00(K\x01");
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        timeless(&out),
        "-: @8: warning PP031 malformed: the decode stopped: input ended before STOP at offset 8; what follows is not scanned\n\
         -: verdict inconclusive (exit 2): 1 finding(s) in 1 pickle(s)\n"
            .to_owned()
            + &summary("strict", "0.0", [0, 0, 1, 0])
    );

    // The policy a file needs; the exit code is still the verdict's.
    let out = run(
        &["scan", "--emit-policy", "-"],
        b"ccollections\nOrderedDict\n)R.",
    );
    assert_eq!(out.status.code(), Some(4));
    assert_eq!(
        text(&out.stdout),
        "# the policy these files need (pickleproof scan --emit-policy)\n\
         collections:OrderedDict\n"
    );
}

#[test]
fn zip_archives_are_opened_like_pytorch_checkpoints() {
    // scan: every pickle in the archive, named by its member, at file offsets (`@`)
    // and offsets in the member's pickle.
    let out = run(
        &[
            "scan",
            "--policy",
            "pytorch",
            "corpus/archives/malicious.pt",
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(5), "{}", text(&out.stderr));
    assert_eq!(
        timeless(&out),
        "corpus/archives/malicious.pt:malicious/data.pkl: @81: error PP002 shell-command: import os.system at offset 33 (GLOBAL): runs a shell command\n\
         corpus/archives/malicious.pt:malicious/data.pkl: @111: error PP002 shell-command: call os.system (reduce) at offset 63 (REDUCE): runs a shell command\n\
         corpus/archives/malicious.pt: verdict unsafe (exit 5): 2 finding(s) in 1 pickle(s)\n"
            .to_owned()
            + &summary("pytorch", "0.0", [0, 0, 0, 1])
    );
    let out = run(
        &[
            "scan",
            "--policy",
            "pytorch",
            "corpus/archives/tiny_state_dict.pt",
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        timeless(&out),
        "corpus/archives/tiny_state_dict.pt: verdict clean (exit 0): 0 finding(s) in 1 pickle(s)\n"
            .to_owned()
            + &summary("pytorch", "0.0", [1, 0, 0, 0])
    );
    // The same archive through standard input.
    let bytes = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/archives/malicious.pt"),
    )
    .unwrap();
    let out = run(&["scan", "--json", "-"], &bytes);
    assert_eq!(out.status.code(), Some(5));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let file = &doc["files"][0];
    assert_eq!(file["pickles"][0]["location"], "malicious/data.pkl");
    assert_eq!(file["pickles"][0]["sites"][2]["module"], "os");

    // dump: the archive's one pickle.
    let out = run(
        &[
            "dump",
            "--json",
            "--policy",
            "pytorch",
            "corpus/archives/tiny_state_dict.pt",
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(doc["value"]["callable"]["name"], "OrderedDict");

    // A deflated entry is read (the CLI has the `compression` feature); an unknown
    // entry is a usage error naming the pickles there are.
    let out = run(
        &[
            "dump",
            "--json",
            "--policy",
            "pytorch",
            "corpus/archives/deflated.pt",
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(doc["value"]["callable"]["name"], "OrderedDict");
    let out = run(
        &[
            "dump",
            "--entry",
            "nope",
            "corpus/archives/tiny_state_dict.pt",
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert_eq!(
        text(&out.stderr),
        "pickleproof: error: corpus/archives/tiny_state_dict.pt: no pickle at \"nope\" (pickles: tiny_state_dict/data.pkl)\n"
    );
}

#[test]
fn disasm_prints_opcodes_and_fails_cleanly() {
    let out = run(&["disasm", "-"], b"\x80\x02K\x01.");
    assert_eq!(out.status.code(), Some(0));
    let listing = text(&out.stdout);
    assert!(listing.contains("PROTO"), "{listing}");
    assert!(listing.contains("BININT1"), "{listing}");
    assert!(listing.contains("STOP"), "{listing}");
    let out = run(&["disasm", "-"], b"\x80\x02K");
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
}

/// Acceptance: every seed gives its expected JSON through `pickleproof dump --json`
/// (policy and buffers from the manifest), and no corpus file makes the binary panic
/// (exit 101) under either policy.
#[test]
fn every_seed_through_the_cli_and_no_corpus_file_panics() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let manifest: Vec<serde_json::Value> = serde_json::from_str(
        &std::fs::read_to_string(root.join("seed/manifest.json")).expect("manifest"),
    )
    .expect("manifest parses");
    let mut failures = Vec::new();
    for entry in &manifest {
        let file = entry["file"].as_str().unwrap_or_default();
        let mut args: Vec<String> = vec!["dump".into(), "--json".into()];
        args.push("--policy".into());
        args.push(entry["policy"].as_str().unwrap_or("strict").into());
        for buffer in entry["buffers"].as_array().into_iter().flatten() {
            args.push("--buffer".into());
            args.push(format!(
                "corpus/seed/{}",
                buffer.as_str().unwrap_or_default()
            ));
        }
        args.push(format!("corpus/seed/{file}"));
        let arg_refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = run(&arg_refs, b"");
        if out.status.code() != Some(0) {
            failures.push(format!(
                "{file}: exit {:?}: {}",
                out.status.code(),
                text(&out.stderr)
            ));
            continue;
        }
        let expected = std::fs::read_to_string(
            root.join("seed")
                .join(entry["expected"].as_str().unwrap_or_default()),
        )
        .unwrap_or_default();
        let ours: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        let want: serde_json::Value = serde_json::from_str(&expected).unwrap_or_default();
        // Set order is not significant: compare with set items sorted on both sides.
        if normalise(&ours) != normalise(&want) {
            failures.push(format!("{file}: JSON differs"));
        }
    }
    let mut files = Vec::new();
    for dir in ["seed", "bombs", "hostile", "regressions", "examples"] {
        for entry in std::fs::read_dir(root.join(dir))
            .into_iter()
            .flatten()
            .flatten()
        {
            if entry.path().extension().is_some_and(|e| e == "pkl") {
                files.push(entry.path());
            }
        }
    }
    for path in files {
        for policy in ["strict", "inert"] {
            let p = path.display().to_string();
            let out = run(&["dump", "--json", "--policy", policy, &p], b"");
            match out.status.code() {
                Some(0) => {}
                Some(2..=4) if out.stdout.is_empty() => {}
                other => failures.push(format!(
                    "{p} ({policy}): exit {other:?}, {} bytes on stdout",
                    out.stdout.len()
                )),
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn normalise(v: &serde_json::Value) -> serde_json::Value {
    match v {
        serde_json::Value::Object(m) => {
            let is_set = matches!(
                m.get("t").and_then(|t| t.as_str()),
                Some("set" | "frozenset")
            );
            serde_json::Value::Object(
                m.iter()
                    .map(|(k, x)| {
                        let mut x = normalise(x);
                        if is_set && k == "items" {
                            if let serde_json::Value::Array(items) = &mut x {
                                items.sort_by_key(|i| i.to_string());
                            }
                        }
                        (k.clone(), x)
                    })
                    .collect(),
            )
        }
        serde_json::Value::Array(a) => serde_json::Value::Array(a.iter().map(normalise).collect()),
        other => other.clone(),
    }
}
