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

/// A fresh, empty directory for one test under Cargo's scratch space for tests.
fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("cli-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch directory");
    dir
}

/// A corpus file's bytes.
fn corpus(path: &str) -> Vec<u8> {
    std::fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).expect(path)
}

/// `collections.OrderedDict()`, protocol 0: suspicious under strict (GLOBAL at 0,
/// REDUCE at 26).
const ODICT: &[u8] = b"ccollections\nOrderedDict\n)R.";
/// `[1, ` cut short after data (the second BININT1 lost its argument at 8).
const CUT: &[u8] = b"\x80\x02]q\x00(K\x01";

/// A directory of one file per verdict, in an order a directory listing need not
/// give: `a_odict.pkl` (suspicious), `b_clean.pkl` (clean), `c_cut.pkl`
/// (inconclusive), `notes.txt` (no pickle: clean), `sub/evil.pkl` (unsafe).
fn mixed_directory(name: &str) -> std::path::PathBuf {
    let dir = scratch(name);
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    std::fs::write(
        dir.join("sub/evil.pkl"),
        corpus("corpus/hostile/p2_allowed_then_forbidden.pkl"),
    )
    .unwrap();
    std::fs::write(dir.join("notes.txt"), b"# notes\n").unwrap();
    std::fs::write(dir.join("c_cut.pkl"), CUT).unwrap();
    std::fs::write(
        dir.join("b_clean.pkl"),
        corpus("corpus/examples/config.pkl"),
    )
    .unwrap();
    std::fs::write(dir.join("a_odict.pkl"), ODICT).unwrap();
    dir
}

#[test]
fn scan_walks_a_directory_in_sorted_order_and_exits_by_the_worst_verdict() {
    let dir = mixed_directory("walk");
    let d = dir.display();
    let path = d.to_string();
    let out = run(&["scan", &path], b"");
    assert_eq!(out.status.code(), Some(5), "{}", text(&out.stderr));
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
    let files = format!(
        "{d}/a_odict.pkl: @0: warning PP010 not-allowlisted: import collections.OrderedDict at offset 0 (GLOBAL): not on the allowlist\n\
         {d}/a_odict.pkl: @26: warning PP010 not-allowlisted: call collections.OrderedDict (reduce) at offset 26 (REDUCE): not on the allowlist\n\
         {d}/a_odict.pkl: verdict suspicious (exit 4): 2 finding(s) in 1 pickle(s)\n\
         {d}/b_clean.pkl: verdict clean (exit 0): 0 finding(s) in 1 pickle(s)\n\
         {d}/c_cut.pkl: @8: warning PP031 malformed: the decode stopped: input ended before STOP at offset 8; what follows is not scanned\n\
         {d}/c_cut.pkl: verdict inconclusive (exit 2): 1 finding(s) in 1 pickle(s)\n\
         {d}/notes.txt: @0: note PP035 not-a-pickle: not a pickle: unknown opcode 0x23 at offset 0 (byte 0x23)\n\
         {d}/notes.txt: verdict clean (exit 0): 1 finding(s) in 1 pickle(s)\n\
         {d}/sub/evil.pkl: @22: error PP002 shell-command: import os.system at offset 22 (GLOBAL): runs a shell command\n\
         {d}/sub/evil.pkl: @49: error PP002 shell-command: call os.system (reduce) at offset 49 (REDUCE): runs a shell command\n\
         {d}/sub/evil.pkl: verdict unsafe (exit 5): 2 finding(s) in 1 pickle(s)\n"
    );
    assert_eq!(
        timeless(&out),
        files.clone() + &summary("strict", "0.0", [2, 1, 1, 1])
    );
    // One thread or several: the same report, in the same order.
    for jobs in ["1", "2"] {
        let again = run(&["scan", "-j", jobs, &path], b"");
        assert_eq!(again.status.code(), Some(5));
        assert_eq!(timeless(&again), timeless(&out), "-j {jobs}");
    }
    // --quiet lists only the files that are not clean, then the same summary.
    let out = run(&["scan", "-q", &path], b"");
    assert_eq!(out.status.code(), Some(5));
    let not_clean: String = files
        .lines()
        .filter(|l| !l.contains("b_clean.pkl") && !l.contains("notes.txt"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(
        timeless(&out),
        not_clean + &summary("strict", "0.0", [2, 1, 1, 1])
    );
}

#[test]
fn fail_on_chooses_the_outcomes_that_set_the_exit_code() {
    let dir = mixed_directory("fail-on");
    let odict = dir.join("a_odict.pkl").display().to_string();
    let cut = dir.join("c_cut.pkl").display().to_string();
    let all = dir.display().to_string();
    let code = |args: &[&str]| run(args, b"").status.code();
    // Suspicious and inconclusive files, but only unsafe ones fail: exit 0.
    assert_eq!(
        code(&["scan", "--fail-on", "unsafe", &odict, &cut]),
        Some(0)
    );
    assert_eq!(code(&["scan", "--fail-on", "unsafe", &all]), Some(5));
    // The worst verdict among those named (unsafe > inconclusive > suspicious), not
    // the worst of all.
    assert_eq!(code(&["scan", "--fail-on", "suspicious", &all]), Some(4));
    assert_eq!(
        code(&["scan", "--fail-on", "suspicious,inconclusive", &all]),
        Some(2)
    );
    assert_eq!(code(&["scan", "--fail-on", "inconclusive", &all]), Some(2));
    assert_eq!(
        code(&["scan", "--fail-on", "suspicious", &odict, &cut]),
        Some(4)
    );
    // The default names all three.
    assert_eq!(code(&["scan", &odict, &cut]), Some(2));
    // The report is the same whatever fails.
    let out = run(&["scan", "--fail-on", "unsafe", &odict], b"");
    assert!(
        text(&out.stdout).contains("verdict suspicious (exit 4)"),
        "{}",
        text(&out.stdout)
    );
    // An outcome that does not exist is a usage error.
    assert_eq!(code(&["scan", "--fail-on", "clean", &odict]), Some(1));
}

#[test]
fn json_is_one_document_with_a_summary_and_every_file() {
    let dir = mixed_directory("json");
    let d = dir.display();
    let out = run(&["scan", "--json", &d.to_string()], b"");
    assert_eq!(out.status.code(), Some(5), "{}", text(&out.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(doc["schema"], "pickleproof-scan-files/1");
    assert_eq!(doc["policy"], "strict");
    assert_eq!(
        doc["summary"],
        serde_json::json!({"files": 5, "clean": 2, "suspicious": 1, "inconclusive": 1, "unsafe": 1})
    );
    let files: Vec<(String, String, i64, String, usize)> = doc["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|f| {
            (
                f["file"].as_str().unwrap_or_default().to_owned(),
                f["verdict"].as_str().unwrap_or_default().to_owned(),
                f["exit_code"].as_i64().unwrap_or(-1),
                f["schema"].as_str().unwrap_or_default().to_owned(),
                f["issues"].as_array().map_or(0, Vec::len),
            )
        })
        .collect();
    let want = |name: &str, verdict: &str, exit: i64, issues: usize| {
        (
            format!("{d}/{name}"),
            verdict.to_owned(),
            exit,
            "pickleproof-scan/1".to_owned(),
            issues,
        )
    };
    assert_eq!(
        files,
        [
            want("a_odict.pkl", "suspicious", 4, 2),
            want("b_clean.pkl", "clean", 0, 0),
            want("c_cut.pkl", "inconclusive", 2, 1),
            want("notes.txt", "clean", 0, 1),
            want("sub/evil.pkl", "unsafe", 5, 2),
        ]
    );
    // Each file's report is the single-file document: its policy too.
    assert_eq!(doc["files"][4]["policy"], "strict");
    assert_eq!(doc["files"][4]["issues"][0]["rule"], "PP002");
    let sites = &doc["files"][4]["pickles"][0]["sites"];
    assert_eq!(
        (&sites[0]["module"], &sites[0]["verdict"]),
        (&"builtins".into(), &"allowed".into())
    );
    assert_eq!(
        (
            &sites[2]["module"],
            &sites[2]["offset"],
            &sites[2]["verdict"]
        ),
        (&"os".into(), &22.into(), &"dangerous".into())
    );
}

#[test]
fn sarif_is_one_run_with_an_artifact_per_file() {
    let dir = mixed_directory("sarif");
    let d = dir.display();
    let sarif_file = dir.with_extension("sarif");
    let sarif_path = sarif_file.display().to_string();
    let out = run(&["scan", "--sarif", &d.to_string()], b"");
    assert_eq!(out.status.code(), Some(5), "{}", text(&out.stderr));
    let log: serde_json::Value = serde_json::from_slice(&out.stdout).expect("SARIF");
    assert_eq!(log["version"], "2.1.0");
    let runs = log["runs"].as_array().expect("runs");
    assert_eq!(runs.len(), 1);
    let artifacts: Vec<&str> = runs[0]["artifacts"]
        .as_array()
        .expect("artifacts")
        .iter()
        .map(|a| a["location"]["uri"].as_str().unwrap_or_default())
        .collect();
    let names = [
        "a_odict.pkl",
        "b_clean.pkl",
        "c_cut.pkl",
        "notes.txt",
        "sub/evil.pkl",
    ];
    let uris: Vec<String> = names.iter().map(|n| format!("{d}/{n}")).collect();
    assert_eq!(artifacts, uris);
    // Every result points at its file's artifact, by index and by URI.
    let results: Vec<(&str, &str, i64)> = runs[0]["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| {
            let at = &r["locations"][0]["physicalLocation"]["artifactLocation"];
            (
                r["ruleId"].as_str().unwrap_or_default(),
                at["uri"].as_str().unwrap_or_default(),
                at["index"].as_i64().unwrap_or(-1),
            )
        })
        .collect();
    assert_eq!(
        results,
        [
            ("PP010", uris[0].as_str(), 0),
            ("PP010", uris[0].as_str(), 0),
            ("PP031", uris[2].as_str(), 2),
            ("PP035", uris[3].as_str(), 3),
            ("PP002", uris[4].as_str(), 4),
            ("PP002", uris[4].as_str(), 4),
        ]
    );
    // --sarif-file writes the same log beside the text report.
    let text_out = run(&["scan", "--sarif-file", &sarif_path, &d.to_string()], b"");
    assert_eq!(text_out.status.code(), Some(5));
    assert!(text(&text_out.stdout).starts_with(&format!("{d}/a_odict.pkl: @0: warning PP010")));
    let written: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&sarif_file).expect("SARIF file")).expect("SARIF");
    assert_eq!(written, log);
}

#[test]
fn emit_policy_prints_what_numpy_pickles_need() {
    let header = "# the policy these files need (pickleproof scan --emit-policy)\n";
    // A float64 array by protocol 5 (numpy 2): one frombuffer call and its dtype.
    let out = run(
        &["scan", "--emit-policy", "corpus/benign/np_float64.p5.pkl"],
        b"",
    );
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        format!("{header}numpy._core.numeric:_frombuffer\nnumpy:dtype\n")
    );
    // By protocol 2: the reconstructor, the array type, and the latin-1 bytes.
    let out = run(
        &["scan", "--emit-policy", "corpus/benign/np_float64.p2.pkl"],
        b"",
    );
    assert_eq!(
        text(&out.stdout),
        format!(
            "{header}_codecs:encode\nnumpy._core.multiarray:_reconstruct\nnumpy:dtype\nnumpy:ndarray\n"
        )
    );
    // Both at once: one sorted list without repeats; and the numpy preset accepts it.
    let both = [
        "corpus/benign/np_float64.p2.pkl",
        "corpus/benign/np_float64.p5.pkl",
    ];
    let out = run(&["scan", "--emit-policy", both[0], both[1]], b"");
    assert_eq!(
        text(&out.stdout),
        format!(
            "{header}_codecs:encode\nnumpy._core.multiarray:_reconstruct\nnumpy._core.numeric:_frombuffer\nnumpy:dtype\nnumpy:ndarray\n"
        )
    );
    let policy = scratch("emit-policy").join("needed.txt");
    std::fs::write(&policy, &out.stdout).unwrap();
    let p = policy.display().to_string();
    let out = run(&["scan", "--policy-file", &p, both[0], both[1]], b"");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
}

#[test]
fn policy_files_in_text_and_toml_add_to_the_policy() {
    let dir = scratch("policy-file");
    let pickle = dir.join("odict.pkl");
    std::fs::write(&pickle, ODICT).unwrap();
    let file = pickle.display().to_string();
    assert_eq!(run(&["scan", &file], b"").status.code(), Some(4));
    std::fs::write(dir.join("mine.txt"), "collections:OrderedDict  # ours\n").unwrap();
    std::fs::write(
        dir.join("mine.toml"),
        "allow = [\"collections.OrderedDict\"]\n",
    )
    .unwrap();
    for name in ["mine.txt", "mine.toml"] {
        let policy = dir.join(name).display().to_string();
        let out = run(&["scan", "--policy-file", &policy, &file], b"");
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        assert_eq!(
            timeless(&out),
            format!("{file}: verdict clean (exit 0): 0 finding(s) in 1 pickle(s)\n")
                + &summary(&format!("strict+{policy}"), "0.0", [1, 0, 0, 0])
        );
    }
    // A broken policy file is a usage error naming its line.
    std::fs::write(dir.join("bad.txt"), "\nbogus line here\n").unwrap();
    let bad = dir.join("bad.txt").display().to_string();
    let out = run(&["scan", "--policy-file", &bad, &file], b"");
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert_eq!(
        text(&out.stderr),
        format!("pickleproof: error: {bad}: line 2: unexpected `line here` after `bogus` (only `rule=...` may follow a global)\n")
    );
}

#[test]
fn policies_given_together_are_combined() {
    let dir = scratch("combined");
    std::fs::copy(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/benign/np_float64.p5.pkl"),
        dir.join("array.pkl"),
    )
    .unwrap();
    std::fs::copy(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("corpus/benign/sk_logistic_regression.p5.pkl"),
        dir.join("model.pkl"),
    )
    .unwrap();
    let path = dir.display().to_string();
    let counts = |policy: &str| {
        let out = run(&["scan", "--json", "--policy", policy, &path], b"");
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
        (
            out.status.code(),
            doc["policy"].as_str().unwrap_or_default().to_owned(),
            doc["summary"]["clean"].as_u64(),
            doc["summary"]["suspicious"].as_u64(),
        )
    };
    // numpy alone refuses the estimator; numpy,sklearn takes both.
    assert_eq!(counts("numpy"), (Some(4), "numpy".into(), Some(1), Some(1)));
    assert_eq!(
        counts("numpy,sklearn"),
        (Some(0), "numpy+sklearn".into(), Some(2), Some(0))
    );
    // Neither numpy nor pytorch alone takes an array and a checkpoint; both do.
    std::fs::remove_file(dir.join("model.pkl")).unwrap();
    std::fs::copy(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/benign/pt_state_dict.pt"),
        dir.join("model.pt"),
    )
    .unwrap();
    assert_eq!(counts("numpy"), (Some(4), "numpy".into(), Some(1), Some(1)));
    assert_eq!(
        counts("pytorch"),
        (Some(4), "pytorch".into(), Some(1), Some(1))
    );
    assert_eq!(
        counts("numpy,pytorch"),
        (Some(0), "numpy+pytorch".into(), Some(2), Some(0))
    );
    // An unknown name is a usage error listing the known ones once.
    let out = run(&["scan", "--policy", "numpy,nope", &path], b"");
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert_eq!(
        text(&out.stderr),
        "pickleproof: error: --policy nope: unknown policy (known: strict, inert, stdlib-data, numpy, pandas, sklearn, pytorch, ml)\n"
    );
}

#[test]
fn a_missing_path_exits_1_before_anything_is_scanned() {
    let out = run(&["scan", "corpus/examples/config.pkl", "no/such.pkl"], b"");
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty(), "{}", text(&out.stdout));
    assert_eq!(
        text(&out.stderr),
        "pickleproof: error: no/such.pkl: no such file or directory\n"
    );
}

#[cfg(unix)]
#[test]
fn a_symbolic_link_leaving_the_root_is_skipped_and_said() {
    let base = scratch("links");
    let root = base.join("model");
    std::fs::create_dir_all(root.join("blobs")).unwrap();
    std::fs::write(root.join("blobs/abc"), corpus("corpus/examples/config.pkl")).unwrap();
    std::fs::write(base.join("outside.pkl"), ODICT).unwrap();
    // Inside the root (as a Hugging Face snapshot links to its blobs): followed.
    std::os::unix::fs::symlink(root.join("blobs/abc"), root.join("inside.pkl")).unwrap();
    // Out of it: skipped, with a line on stderr.
    std::os::unix::fs::symlink(base.join("outside.pkl"), root.join("escape.pkl")).unwrap();
    let r = root.display();
    let canonical_root = root.canonicalize().unwrap();
    let canonical_target = base.join("outside.pkl").canonicalize().unwrap();
    let out = run(&["scan", &r.to_string()], b"");
    // Skipped is inconclusive: a loader following the link reads a file nobody scanned.
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stdout));
    let why = format!(
        "skipped: symbolic link leaves {} (to {})",
        canonical_root.display(),
        canonical_target.display()
    );
    assert_eq!(
        text(&out.stderr),
        format!("pickleproof: {r}/escape.pkl: {why}\n")
    );
    assert_eq!(
        timeless(&out),
        format!(
            "{r}/blobs/abc: verdict clean (exit 0): 0 finding(s) in 1 pickle(s)\n\
             {r}/inside.pkl: verdict clean (exit 0): 0 finding(s) in 1 pickle(s)\n\
             {r}/escape.pkl: verdict inconclusive (exit 2): {why}\n"
        ) + &summary("strict", "0.0", [2, 0, 1, 0])
    );
}

#[test]
fn dump_names_the_first_preset_that_accepts_a_refused_pickle() {
    let out = run(&["dump", "corpus/benign/np_float64.p5.pkl"], b"");
    assert_eq!(out.status.code(), Some(4));
    assert!(out.stdout.is_empty());
    assert_eq!(
        text(&out.stderr),
        "pickleproof: error: forbidden at offset 47 (opcode STACK_GLOBAL): global numpy._core.numeric._frombuffer refused by policy; bytes 0x27: 6d 62 75 66 66 65 72 94 [93 94 28 96 28 00 00 00]\n\
         pickleproof: hint: --policy numpy accepts this pickle\n"
    );
    // numpy comes before sklearn in Policy::preset_names(); an estimator needs sklearn.
    let out = run(&["dump", "corpus/benign/sk_linear_regression.p5.pkl"], b"");
    assert_eq!(out.status.code(), Some(4));
    assert_eq!(
        text(&out.stderr).lines().nth(1),
        Some("pickleproof: hint: --policy sklearn accepts this pickle")
    );
    // Nothing takes functools.partial: the hint says how to look inside.
    let out = run(&["dump", "corpus/benign/std_functools_partial.p4.pkl"], b"");
    assert_eq!(out.status.code(), Some(4));
    assert_eq!(
        text(&out.stderr).lines().nth(1),
        Some("pickleproof: hint: no preset accepts this pickle; `--policy inert` shows what it holds (nothing is executed), `pickleproof scan` says why")
    );
    // A pickle the policy takes gets no hint.
    let out = run(
        &[
            "dump",
            "--policy",
            "numpy",
            "corpus/benign/np_float64.p5.pkl",
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(out.stderr.is_empty());
}

#[test]
fn dump_and_disasm_pick_a_pickle_of_a_torch_archive_with_entry() {
    // A TorchScript archive holds two pickles: without --entry, a usage error that
    // lists them.
    let file = "corpus/benign/pt_torchscript.pt";
    let out = run(&["dump", file], b"");
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert_eq!(
        text(&out.stderr),
        "pickleproof: error: corpus/benign/pt_torchscript.pt holds 2 pickles; choose one with --entry (tiny_net/data.pkl, tiny_net/constants.pkl)\n"
    );
    // Its constants are an empty tuple, which strict takes.
    let out = run(&["dump", "--entry", "tiny_net/constants.pkl", file], b"");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "()\n");
    let out = run(&["disasm", "--entry", "tiny_net/constants.pkl", file], b"");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "    0: \\x80 PROTO      2\n    2: )    EMPTY_TUPLE\n    3: .    STOP\n"
    );
    // A checkpoint's one pickle, named explicitly, as without --entry.
    let ckpt = "corpus/benign/pt_state_dict.pt";
    let named = run(
        &[
            "dump",
            "--json",
            "--policy",
            "pytorch",
            "--entry",
            "archive/data.pkl",
            ckpt,
        ],
        b"",
    );
    let only = run(&["dump", "--json", "--policy", "pytorch", ckpt], b"");
    assert_eq!(named.status.code(), Some(0), "{}", text(&named.stderr));
    assert_eq!(named.stdout, only.stdout);
    let doc: serde_json::Value = serde_json::from_slice(&named.stdout).expect("JSON");
    assert_eq!(doc["value"]["callable"]["name"], "OrderedDict");
}
