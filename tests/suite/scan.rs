//! The scan report (`Decoder::scan`) against decoding, over the whole corpus.
//!
//! A scan runs the stream as the inert policy does and records every site with the
//! verdict of its own policy. So, for every corpus file and every preset policy:
//! - the scan ends exactly as the inert decode does (same error kind and offset, or
//!   success with the same bytes consumed; the report is charged to the memory
//!   budget, so a memory limit may report a larger request);
//! - a decode under the policy fails with a refusal exactly at the scan's first
//!   refused site, naming the same global; it succeeds exactly when the scan refuses
//!   nothing (before any non-policy error, which both then report at the same offset).

use pickleproof::scan::{Callee, Finding};
use pickleproof::{CallOp, Decoder, ErrorKind, Opcode, Policy};

use crate::support::corpus_files;

fn policies() -> Vec<(&'static str, Policy)> {
    vec![
        ("strict", Policy::strict()),
        ("pytorch", Policy::pytorch()),
        ("numpy", Policy::numpy()),
        ("deny_all", Policy::deny_all()),
    ]
}

#[test]
fn scans_agree_with_decodes_on_every_corpus_file() {
    let files = corpus_files("pkl");
    assert!(files.len() > 100, "corpus/ looks empty");
    let mut refused_files = 0;
    let mut failures = Vec::new();
    for path in &files {
        let data = std::fs::read(path).unwrap();
        let name = path.display();
        let inert = Decoder::new().policy(Policy::inert()).decode(&data);
        for (policy_name, policy) in policies() {
            let decoder = Decoder::new().policy(policy);
            let report = decoder.scan(&data);
            // The scan ends as the inert decode does.
            match (&inert, &report.error) {
                (Ok(d), None) if d.consumed == report.consumed => {}
                // The same error; a memory limit may report a larger request, since
                // the report itself is charged to the budget.
                (Err(a), Some(b))
                    if (a.kind().name(), a.resource(), a.offset())
                        == (b.kind().name(), b.resource(), b.offset())
                        && (a.is_limit() || a.kind() == b.kind()) => {}
                (a, b) => failures.push(format!(
                    "{name} ({policy_name}): inert {:?} but scan {:?}",
                    a.as_ref().map(|d| d.consumed).map_err(|e| e.to_string()),
                    b.as_ref().map(|e| e.to_string())
                )),
            }
            // The policy decode fails exactly at the first refused site.
            let first_refused = report.refused().next();
            match (decoder.decode(&data), first_refused) {
                (Ok(_), None) => {}
                (Err(e), Some(site)) if e.is_policy() || e.kind() == &ErrorKind::BufferMissing => {
                    refused_files += 1;
                    if e.offset() != site.offset {
                        failures.push(format!(
                            "{name} ({policy_name}): decode refused at {} but the scan's \
                             first refusal is at {}",
                            e.offset(),
                            site.offset
                        ));
                    }
                    if let (
                        ErrorKind::Forbidden { module, name: attr },
                        Finding::Import {
                            module: m, name: n, ..
                        },
                    ) = (e.kind(), &site.finding)
                    {
                        if (module, attr) != (m, n) {
                            failures.push(format!(
                                "{name} ({policy_name}): decode refused {module}.{attr}, scan {m}.{n}"
                            ));
                        }
                    }
                }
                (Err(e), first) => {
                    // Not a refusal: everything before it was allowed.
                    if let Some(site) = first.filter(|s| s.offset < e.offset()) {
                        failures.push(format!(
                            "{name} ({policy_name}): decode failed at {} ({e}) but the scan \
                             refused {} first",
                            e.offset(),
                            site.offset
                        ));
                    }
                }
                (Ok(_), Some(site)) => failures.push(format!(
                    "{name} ({policy_name}): decode succeeded but the scan refused {:?}",
                    site
                )),
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // The corpus has refusals to compare (hostile/ alone has 21 under strict).
    assert!(refused_files > 50, "only {refused_files} refusals compared");
}

#[test]
fn a_report_lists_every_import_and_call_in_order() {
    // Protocol 2: builtins.eval via __builtin__, a computed call, a persistent id.
    // Offsets as `pickletools.dis` prints them: GLOBAL 2, REDUCE 29 and 31, BINPERSID 40.
    let data =
        b"\x80\x02c__builtin__\neval\nq\x00X\x01\x00\x00\x001\x85R)Rq\x01X\x01\x00\x00\x00pQ00N.";
    let report = Decoder::new().scan(data);
    assert_eq!(report.error, None);
    let got: Vec<(u64, Opcode, String, bool)> = report
        .sites
        .iter()
        .map(|s| (s.offset, s.opcode, s.finding.describe(), s.allowed))
        .collect();
    assert_eq!(
        got,
        vec![
            (
                2,
                Opcode::Global,
                "import builtins.eval (written __builtin__.eval)".to_owned(),
                false
            ),
            (
                29,
                Opcode::Reduce,
                "call builtins.eval (reduce)".to_owned(),
                false
            ),
            (
                31,
                Opcode::Reduce,
                "call a computed object (reduce)".to_owned(),
                false // the strict policy refuses computed calls
            ),
            (
                40,
                Opcode::BinPersId,
                "persistent id (resolved by the loader)".to_owned(),
                false
            ),
        ]
    );
    assert!(matches!(
        &report.sites[1].finding,
        Finding::Call {
            op: CallOp::Reduce,
            callee: Callee::Global { module, name }
        } if module == "builtins" && name == "eval"
    ));
    // Under the inert policy everything is allowed, and the stream is clean.
    let inert = Decoder::new().policy(Policy::inert()).scan(data);
    assert!(inert.is_clean());
    assert_eq!(inert.sites.len(), 4);
    // The JSON form carries the same facts.
    let json: serde_json::Value = serde_json::from_str(&report.to_json("strict")).unwrap();
    assert_eq!(json["complete"], true);
    assert_eq!(json["clean"], false);
    assert_eq!(json["sites"][0]["module"], "builtins");
    assert_eq!(json["sites"][0]["written_module"], "__builtin__");
    assert_eq!(json["sites"][3]["kind"], "persid");
}

#[test]
fn an_incomplete_scan_says_so() {
    // A forbidden import, then the stream is cut.
    let data = b"cos\nsystem\n(S'x'\n";
    let report = Decoder::new().scan(data);
    assert_eq!(report.sites.len(), 1);
    let e = report.error.as_ref().unwrap();
    assert_eq!((e.kind(), e.offset()), (&ErrorKind::Eof, 17));
    assert!(report.to_text("strict").contains("INCOMPLETE"));
    let json: serde_json::Value = serde_json::from_str(&report.to_json("strict")).unwrap();
    assert_eq!(json["complete"], false);
    assert_eq!(json["error"]["kind"], "eof");
}

// ---------------------------------------------------------------------------------
// Whole-file scans: verdicts, hazards, several pickles, nested pickles, renderers.
// ---------------------------------------------------------------------------------

use pickleproof::container::AnomalyKind;
use pickleproof::scan::file::NestedIn;
use pickleproof::scan::render::{json, sarif, text};
use pickleproof::scan::{
    emit_policy, scan_file, Category, FileReport, FileVerdict, Hazard, ScanOptions, SiteVerdict,
};

fn scan(data: &[u8]) -> FileReport {
    scan_file(data, &ScanOptions::default())
}

/// (offset, verdict, category, reason) of every site of pickle `i`.
fn verdicts(
    report: &FileReport,
    i: usize,
) -> Vec<(
    u64,
    &'static str,
    Option<&'static str>,
    Option<&'static str>,
)> {
    report.pickles[i]
        .sites
        .iter()
        .map(|s| {
            (
                s.offset,
                s.verdict.name(),
                s.verdict.category().map(Category::name),
                s.verdict.reason(),
            )
        })
        .collect()
}

/// (rule id, offset in the file) of every issue.
fn issues(report: &FileReport) -> Vec<(&'static str, Option<u64>)> {
    report
        .issues()
        .iter()
        .map(|i| (i.rule.id, i.file_offset))
        .collect()
}

/// os.system('echo pwned'), protocol 0: GLOBAL at 0, MARK 11, STRING 12, TUPLE 26,
/// REDUCE 27, STOP 28.
const OS_SYSTEM: &[u8] = b"cos\nsystem\n(S'echo pwned'\ntR.";
/// [1, 2], protocol 2: PROTO, EMPTY_LIST, BINPUT 0, MARK, BININT1 1, BININT1 2,
/// APPENDS, STOP (12 bytes).
const LIST: &[u8] = b"\x80\x02]q\x00(K\x01K\x02e.";

#[test]
fn clean_suspicious_unsafe_and_inconclusive_files() {
    // Clean: built-in data only.
    let report = scan(LIST);
    assert_eq!(
        (report.verdict(), report.verdict().exit_code()),
        (FileVerdict::Clean, 0)
    );
    assert_eq!(issues(&report), []);
    assert_eq!(report.pickles.len(), 1);
    assert_eq!(report.pickles[0].consumed, 12);

    // Suspicious: collections.OrderedDict() is not on the strict allowlist, and
    // nothing knows it to be dangerous. GLOBAL 0, EMPTY_TUPLE 25, REDUCE 26, STOP 27.
    let report = scan(b"ccollections\nOrderedDict\n)R.");
    assert_eq!(
        (report.verdict(), report.verdict().exit_code()),
        (FileVerdict::Suspicious, 4)
    );
    assert_eq!(
        verdicts(&report, 0),
        [
            (0, "unknown", None, Some("not on the allowlist")),
            (26, "unknown", None, Some("not on the allowlist")),
        ]
    );
    assert_eq!(issues(&report), [("PP010", Some(0)), ("PP010", Some(26))]);

    // Unsafe: os.system, named by the knowledge base.
    let report = scan(OS_SYSTEM);
    assert_eq!(
        (report.verdict(), report.verdict().exit_code()),
        (FileVerdict::Unsafe, 5)
    );
    assert_eq!(
        verdicts(&report, 0),
        [
            (
                0,
                "dangerous",
                Some("shell-command"),
                Some("runs a shell command")
            ),
            (
                27,
                "dangerous",
                Some("shell-command"),
                Some("runs a shell command")
            ),
        ]
    );
    assert_eq!(issues(&report), [("PP002", Some(0)), ("PP002", Some(27))]);

    // Inconclusive: cut short after data only (the second BININT1, at 8, lost its
    // argument).
    let report = scan(&LIST[..9]);
    assert_eq!(
        (report.verdict(), report.verdict().exit_code()),
        (FileVerdict::Inconclusive, 2)
    );
    let e = report.pickles[0].error.as_ref().unwrap();
    assert_eq!((e.kind(), e.offset()), (&ErrorKind::Eof, 8));
    assert_eq!(issues(&report), [("PP031", Some(8))]);

    // Inconclusive: over budget (10 units of fuel for the whole file).
    let mut options = ScanOptions::default();
    options.limits.max_steps = 5;
    let report = scan_file(LIST, &options);
    assert_eq!(report.verdict(), FileVerdict::Inconclusive);
    let e = report.pickles[0].error.as_ref().unwrap();
    assert_eq!(e.resource(), Some(pickleproof::Resource::Steps));
    assert_eq!(issues(&report), [("PP032", Some(e.offset()))]);

    // Nothing at all, or a first byte that is no opcode: no pickle, which every
    // loader refuses before doing anything: a note, clean.
    for data in [&b""[..], b"hello, world\n"] {
        let report = scan(data);
        assert_eq!(report.verdict(), FileVerdict::Clean, "{data:?}");
        assert_eq!(issues(&report), [("PP035", Some(0))], "{data:?}");
    }
}

#[test]
fn reasons_name_the_gadget_the_indirection_and_the_computed_call() {
    // Protocol 2: __builtin__.eval (GLOBAL 2) called (REDUCE 29), its result called
    // (REDUCE 31), a persistent id (BINPERSID 40).
    let data =
        b"\x80\x02c__builtin__\neval\nq\x00X\x01\x00\x00\x001\x85R)Rq\x01X\x01\x00\x00\x00pQ00N.";
    let report = scan(data);
    assert_eq!(
        verdicts(&report, 0),
        [
            (
                2,
                "dangerous",
                Some("code-execution"),
                Some("evaluates a Python expression")
            ),
            (
                29,
                "dangerous",
                Some("code-execution"),
                Some("evaluates a Python expression")
            ),
            (
                31,
                "dangerous",
                Some("indirection"),
                Some("calls the result of a call")
            ),
            (
                40,
                "unknown",
                None,
                Some("persistent ids are not allowed by the policy")
            ),
        ]
    );
    // os.system reached as pathlib.os.system (a protocol 4 dotted name: STACK_GLOBAL
    // at 24), and a dunder walk from builtins.set (STACK_GLOBAL at 44).
    let data = b"\x80\x04\x8c\x07pathlib\x94\x8c\tos.system\x94\x93\x94.";
    let report = scan(data);
    assert_eq!(
        verdicts(&report, 0),
        [(
            24,
            "dangerous",
            Some("shell-command"),
            Some("runs a shell command")
        )]
    );
    let data = b"\x80\x04\x8c\x08builtins\x94\x8c\x1cset.__class__.__subclasses__\x94\x93\x94.";
    let report = scan(data);
    assert_eq!(
        verdicts(&report, 0),
        [(
            44,
            "dangerous",
            Some("indirection"),
            Some("walks special attributes (__class__, __globals__...) to reach other objects")
        )]
    );
    // An allowlisted global stays allowed whatever the knowledge base says of it.
    let options = ScanOptions {
        policy: Policy::strict().allow("os", "system"),
        ..ScanOptions::default()
    };
    let report = scan_file(OS_SYSTEM, &options);
    assert_eq!(report.verdict(), FileVerdict::Clean);
    assert!(report.pickles[0]
        .sites
        .iter()
        .all(|s| s.verdict == SiteVerdict::Allowed));
}

#[test]
fn loader_hazards_name_their_resource() {
    // LONG_BINPUT 0xffffffff: CPython grows its memo to 2^33 slots.
    let report = scan(b"\x80\x02]r\xff\xff\xff\xff.");
    assert_eq!(
        report.pickles[0].hazards,
        [Hazard::MemoIndex {
            index: 0xffff_ffff,
            cpython_bytes: 0xffff_ffff * 16
        }]
    );
    assert_eq!(report.pickles[0].hazards[0].resource(), "memo");
    assert_eq!(report.verdict(), FileVerdict::Unsafe);
    assert_eq!(issues(&report), [("PP020", Some(0))]);

    // A memo bomb of 100 levels: x = []; x = (x, x) a hundred times, each level
    // memoized over the last (BINGET 0, BINGET 0, TUPLE2, BINPUT 0).
    let mut bomb = b"\x80\x02]q\x00".to_vec();
    for _ in 0..100 {
        bomb.extend_from_slice(b"h\x00h\x00\x86q\x00");
    }
    bomb.push(b'.');
    let report = scan(&bomb);
    assert_eq!(
        report.pickles[0].hazards,
        [Hazard::Expansion {
            nodes: (1u128 << 101) - 1
        }]
    );
    assert_eq!(report.pickles[0].hazards[0].resource(), "expansion");
    assert_eq!(report.verdict(), FileVerdict::Unsafe);
    assert_eq!(report.issues()[0].rule.name, "expansion");
    assert!(
        report.issues()[0].message.contains("about 2^101.0"),
        "{}",
        report.issues()[0].message
    );

    // 5000 nested lists: 5000 EMPTY_LISTs, then 4999 APPENDs from the innermost.
    let mut deep = b"\x80\x02".to_vec();
    deep.extend(std::iter::repeat(b']').take(5000));
    deep.extend(std::iter::repeat(b'a').take(4999));
    deep.push(b'.');
    let report = scan(&deep);
    // The innermost list is empty (nothing to walk into): 4999 levels.
    assert_eq!(
        report.pickles[0].hazards,
        [Hazard::Depth {
            depth: 4999,
            at_least: false
        }]
    );
    assert_eq!(report.pickles[0].hazards[0].resource(), "depth");
    assert_eq!(report.verdict(), FileVerdict::Unsafe);
    // The default decode refuses it as a budget error; the scan sees through it.
    assert!(Decoder::new().decode(&deep).unwrap_err().is_limit());

    // Past the scan's own depth limit: a budget error and a depth hazard.
    let mut options = ScanOptions::default();
    options.limits.max_depth = 2000;
    let report = scan_file(&deep, &options);
    assert_eq!(
        report.pickles[0].hazards,
        [Hazard::Depth {
            depth: 2000,
            at_least: true
        }]
    );
    assert_eq!(report.verdict(), FileVerdict::Unsafe);
    let rules: Vec<&str> = report.issues().iter().map(|i| i.rule.name).collect();
    assert_eq!(rules, ["depth", "over-budget"]);
}

#[test]
fn every_pickle_of_a_file_is_scanned_and_trailing_bytes_are_reported() {
    // A benign pickle, then a malicious one: CPython's load loop runs both.
    let mut two = LIST.to_vec();
    two.extend_from_slice(OS_SYSTEM);
    let report = scan(&two);
    assert_eq!(report.pickles.len(), 2);
    let starts: Vec<(usize, u64, Option<u64>)> = report
        .pickles
        .iter()
        .map(|p| (p.index, p.start, p.file_offset))
        .collect();
    assert_eq!(starts, [(0, 0, Some(0)), (1, 12, Some(12))]);
    assert_eq!(report.pickles[1].location, "#1");
    assert_eq!(report.verdict(), FileVerdict::Unsafe);
    assert_eq!(issues(&report), [("PP002", Some(12)), ("PP002", Some(39))]);

    // Bytes after STOP that start no pickle.
    let mut tail = LIST.to_vec();
    tail.extend_from_slice(b"\x00\x00\x00");
    let report = scan(&tail);
    assert_eq!(report.pickles.len(), 1);
    let anomalies: Vec<(AnomalyKind, u64)> = report
        .anomalies
        .iter()
        .map(|a| (a.kind, a.offset))
        .collect();
    assert_eq!(anomalies, [(AnomalyKind::TrailingBytes, 12)]);
    assert_eq!(issues(&report), [("PP044", Some(12))]);
    assert_eq!(report.verdict(), FileVerdict::Inconclusive);

    // A second pickle cut short is a malformed pickle, not trailing bytes.
    let mut cut = LIST.to_vec();
    cut.extend_from_slice(&LIST[..9]);
    let report = scan(&cut);
    assert_eq!(report.pickles.len(), 2);
    assert_eq!(issues(&report), [("PP031", Some(20))]);
}

#[test]
fn a_payload_before_a_malformed_tail_is_unsafe() {
    // collections.OrderedDict() (unknown, not dangerous), then byte 0xff: CPython
    // imports and calls, then fails; a scanner that stops at the error sees nothing.
    let report = scan(b"ccollections\nOrderedDict\n)R\xff");
    assert!(report.pickles[0].payload_before_malformed_tail());
    assert_eq!(
        issues(&report),
        [
            ("PP010", Some(0)),
            ("PP010", Some(26)),
            ("PP030", Some(0)),
            ("PP031", Some(27))
        ]
    );
    assert_eq!(report.verdict(), FileVerdict::Unsafe);
    // The same tail after allowed data only is merely inconclusive.
    let report = scan(b"\x80\x02]q\x00\xff");
    assert!(!report.pickles[0].payload_before_malformed_tail());
    assert_eq!(report.verdict(), FileVerdict::Inconclusive);
}

/// pickle.loads(<inner>), protocol 3: PROTO, GLOBAL pickle loads (2), SHORT_BINBYTES
/// (16), TUPLE1, REDUCE, STOP.
fn loads_of(inner: &[u8]) -> Vec<u8> {
    let mut outer = b"\x80\x03cpickle\nloads\nC".to_vec();
    outer.push(u8::try_from(inner.len()).unwrap());
    outer.extend_from_slice(inner);
    outer.extend_from_slice(b"\x85R.");
    outer
}

#[test]
fn a_pickle_nested_in_pickle_loads_is_scanned_too() {
    let outer = loads_of(OS_SYSTEM);
    let reduce = 16 + 2 + OS_SYSTEM.len() as u64 + 1;
    let report = scan(&outer);
    assert_eq!(report.pickles.len(), 2);
    assert_eq!(
        verdicts(&report, 0),
        [
            (
                2,
                "dangerous",
                Some("nested-deserialization"),
                Some("unpickles more data (a pickle inside the pickle)")
            ),
            (
                reduce,
                "dangerous",
                Some("nested-deserialization"),
                Some("unpickles more data (a pickle inside the pickle)")
            ),
        ]
    );
    let inner = &report.pickles[1];
    assert_eq!(
        inner.nested_in,
        Some(NestedIn {
            pickle: 0,
            offset: reduce,
            callee: "pickle.loads".to_owned()
        })
    );
    assert_eq!(
        (inner.depth, inner.location.as_str(), inner.file_offset),
        (1, "pickle.loads@48", None)
    );
    assert_eq!(
        verdicts(&report, 1),
        [
            (
                0,
                "dangerous",
                Some("shell-command"),
                Some("runs a shell command")
            ),
            (
                27,
                "dangerous",
                Some("shell-command"),
                Some("runs a shell command")
            ),
        ]
    );
    assert_eq!(report.verdict(), FileVerdict::Unsafe);

    // Nested benign data under an allowed loader still gets scanned, and its own
    // findings decide: here an unknown global inside.
    let options = ScanOptions {
        policy: Policy::strict().allow("pickle", "loads"),
        ..ScanOptions::default()
    };
    let report = scan_file(&loads_of(b"ccollections\nOrderedDict\n)R."), &options);
    assert_eq!(report.pickles.len(), 2);
    assert_eq!(report.verdict(), FileVerdict::Suspicious);

    // The same literal loaded twice (memoized, BINGET) is copied and scanned once.
    let mut twice = b"\x80\x03cpickle\nloads\nq\x00C".to_vec();
    twice.push(u8::try_from(OS_SYSTEM.len()).unwrap());
    twice.extend_from_slice(OS_SYSTEM);
    twice.extend_from_slice(b"q\x01\x85Rh\x00h\x01\x85R\x86.");
    let report = scan(&twice);
    let calls = report.pickles[0]
        .sites
        .iter()
        .filter(|s| matches!(s.finding, Finding::Call { .. }))
        .count();
    assert_eq!((calls, report.pickles.len()), (2, 2));

    // Five levels: the fifth is past max_nested_depth (4), reported, not scanned.
    let mut payload = LIST.to_vec();
    for _ in 0..5 {
        payload = loads_of(&payload);
    }
    let report = scan(&payload);
    assert_eq!(report.pickles.len(), 5);
    assert_eq!(report.not_scanned.len(), 1);
    assert_eq!(report.not_scanned[0].nested_in.pickle, 4);
    let rules: Vec<&str> = report.issues().iter().map(|i| i.rule.name).collect();
    assert_eq!(
        rules.iter().filter(|r| **r == "nested-not-scanned").count(),
        1
    );
}

#[test]
fn base64_and_bytesio_payloads_are_unwrapped() {
    // pickle.loads(base64.b64decode('<os.system pickle>')), protocol 4.
    let encoded = "Y29zCnN5c3RlbQooUydlY2hvIHB3bmVkJwp0Ui4=";
    let mut data =
        b"\x80\x04\x8c\x06pickle\x8c\x05loads\x93\x8c\x06base64\x8c\tb64decode\x93\x8c".to_vec();
    data.push(u8::try_from(encoded.len()).unwrap());
    data.extend_from_slice(encoded.as_bytes());
    data.extend_from_slice(b"\x85R\x85R.");
    let report = scan(&data);
    assert_eq!(report.pickles.len(), 2);
    assert_eq!(
        report.pickles[1].nested_in.as_ref().unwrap().callee,
        "pickle.loads"
    );
    assert_eq!(verdicts(&report, 1)[0].2, Some("shell-command"));
}

#[test]
fn the_json_report_has_every_documented_field() {
    let report = scan(&loads_of(OS_SYSTEM));
    let doc: serde_json::Value =
        serde_json::from_str(&json::json(&report, Some("x.pkl"), "strict")).unwrap();
    let keys = |v: &serde_json::Value| -> Vec<String> {
        v.as_object().unwrap().keys().cloned().collect::<Vec<_>>()
    };
    let mut top = keys(&doc);
    top.sort();
    assert_eq!(
        top,
        [
            "anomalies",
            "exit_code",
            "file",
            "formats",
            "issues",
            "layer_errors",
            "not_scanned",
            "pickles",
            "policy",
            "schema",
            "steps",
            "verdict"
        ]
    );
    assert_eq!(doc["schema"], "pickleproof-scan/1");
    assert_eq!(doc["verdict"], "unsafe");
    assert_eq!(doc["exit_code"], 5);
    assert_eq!(doc["formats"], serde_json::json!(["pickle"]));
    let mut pickle = keys(&doc["pickles"][1]);
    pickle.sort();
    assert_eq!(
        pickle,
        [
            "complete",
            "consumed",
            "depth",
            "error",
            "file_offset",
            "hazards",
            "index",
            "location",
            "nested_in",
            "payload_before_malformed_tail",
            "sites",
            "start"
        ]
    );
    assert_eq!(doc["pickles"][1]["nested_in"]["callee"], "pickle.loads");
    let site = &doc["pickles"][0]["sites"][0];
    assert_eq!(site["file_offset"], 2);
    assert_eq!(site["verdict"], "dangerous");
    assert_eq!(site["category"], "nested-deserialization");
    assert_eq!(
        site["reason"],
        "unpickles more data (a pickle inside the pickle)"
    );
    let issue = &doc["issues"][0];
    let mut issue_keys = keys(issue);
    issue_keys.sort();
    assert_eq!(
        issue_keys,
        [
            "file_offset",
            "length",
            "level",
            "location",
            "message",
            "name",
            "offset",
            "pickle",
            "rule",
            "verdict"
        ]
    );
    assert_eq!(
        (issue["rule"].as_str(), issue["level"].as_str()),
        (Some("PP007"), Some("error"))
    );
    // Hazards carry their figures; the node count is a string (it passes 2^53).
    let mut bomb = b"\x80\x02]q\x00".to_vec();
    for _ in 0..64 {
        bomb.extend_from_slice(b"h\x00h\x00\x86q\x00");
    }
    bomb.push(b'.');
    let doc: serde_json::Value =
        serde_json::from_str(&json::json(&scan(&bomb), None, "strict")).unwrap();
    let hazard = &doc["pickles"][0]["hazards"][0];
    assert_eq!(hazard["kind"], "expansion");
    assert_eq!(hazard["resource"], "expansion");
    assert_eq!(hazard["nodes"], ((1u128 << 65) - 1).to_string());
    assert_eq!(hazard["log2"], 65.0);
}

#[test]
fn the_text_report_has_a_line_per_finding_and_a_verdict_line() {
    let mut two = LIST.to_vec();
    two.extend_from_slice(OS_SYSTEM);
    assert_eq!(
        text::text(&scan(&two), "two.pkl"),
        "two.pkl:#1: @12: error PP002 shell-command: import os.system at offset 0 (GLOBAL): runs a shell command\n\
         two.pkl:#1: @39: error PP002 shell-command: call os.system (reduce) at offset 27 (REDUCE): runs a shell command\n\
         two.pkl: verdict unsafe (exit 5): 2 finding(s) in 2 pickle(s)\n"
    );
    assert_eq!(
        text::text(&scan(LIST), "a.pkl"),
        "a.pkl: verdict clean (exit 0): 0 finding(s) in 1 pickle(s)\n"
    );
}

#[test]
fn sarif_output_validates_against_the_official_schema() {
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/data/sarif-schema-2.1.0.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let mut tail = loads_of(OS_SYSTEM);
    tail.extend_from_slice(b"\x00");
    let mut bomb = b"\x80\x02]r\xff\xff\xff\xff".to_vec();
    bomb.push(b'.');
    for (name, data) in [
        ("clean file.pkl", LIST.to_vec()),
        ("dir/evil#1.pkl", tail),
        ("bomb.pkl", bomb),
        ("cut.pkl", LIST[..9].to_vec()),
    ] {
        let log: serde_json::Value =
            serde_json::from_str(&sarif::sarif(&scan(&data), name)).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&log)
            .map(|e| format!("{e} at {}", e.instance_path))
            .collect();
        assert!(errors.is_empty(), "{name}: {errors:?}");
        assert_eq!(log["runs"].as_array().unwrap().len(), 1);
        assert_eq!(log["runs"][0]["tool"]["driver"]["name"], "pickleproof");
    }
    // Rules are the knowledge base's categories, the hazards and the anomalies.
    let log: serde_json::Value =
        serde_json::from_str(&sarif::sarif(&scan(&loads_of(OS_SYSTEM)), "evil.pkl")).unwrap();
    let rules = log["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .unwrap();
    let ids: Vec<&str> = rules.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(&ids[..3], ["PP001", "PP002", "PP003"]);
    assert_eq!(rules[1]["name"], "shell-command");
    let result = &log["runs"][0]["results"][0];
    assert_eq!(result["ruleId"], "PP007");
    assert_eq!(result["level"], "error");
    assert_eq!(
        result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
        "evil.pkl"
    );
    assert_eq!(
        result["locations"][0]["physicalLocation"]["region"]["byteOffset"],
        2
    );
    // The nested pickle's findings name their place logically.
    let nested = log["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["ruleId"] == "PP002")
        .unwrap();
    assert_eq!(
        nested["locations"][0]["logicalLocations"][0]["name"],
        "pickle.loads@48"
    );
}

#[test]
fn emit_policy_writes_the_minimal_allowlist() {
    // Protocol 2: OrderedDict() (GLOBAL, EMPTY_TUPLE, REDUCE), then
    // getattr(zoneinfo.ZoneInfo, '_unpickle') (GLOBAL, GLOBAL, SHORT_BINUNICODE,
    // TUPLE2, REDUCE), a persistent id, all in a list.
    let data = b"\x80\x02]q\x00(ccollections\nOrderedDict\n)Rc__builtin__\ngetattr\nczoneinfo\nZoneInfo\n\x8c\t_unpickle\x86RX\x01\x00\x00\x00pQe.";
    let report = scan(data);
    assert_eq!(report.pickles[0].error, None);
    assert_eq!(
        emit_policy(&report),
        "builtins:getattr  rule=getattr(zoneinfo:ZoneInfo,_unpickle)\n\
         collections:OrderedDict\n\
         feature persistent-ids\n\
         zoneinfo:ZoneInfo\n"
    );
    // Under exactly that policy, read back with the policy-file parser (added to
    // strict, as `scan --policy-file` does), the file is clean.
    let emitted = Policy::from_text(&emit_policy(&report)).unwrap();
    let options = ScanOptions {
        policy: Policy::strict().union(emitted),
        ..ScanOptions::default()
    };
    let clean = scan_file(data, &options);
    assert_eq!(clean.verdict(), FileVerdict::Clean, "{:?}", clean.issues());
    // A bare `builtins:getattr` still carries the getattr rule, which no pair is
    // listed for: the call breaks it (unsafe), the other sites are allowed.
    let options = ScanOptions {
        policy: Policy::strict()
            .allow("builtins", "getattr")
            .allow("collections", "OrderedDict")
            .allow("zoneinfo", "ZoneInfo")
            .allow_persistent_ids(true),
        ..ScanOptions::default()
    };
    let broken = scan_file(data, &options);
    assert_eq!(broken.verdict(), FileVerdict::Unsafe);
    assert_eq!(
        broken
            .issues()
            .iter()
            .map(|i| i.rule.name)
            .collect::<Vec<_>>(),
        ["broken-rule"]
    );
    // getattr with a computed name needs the bare entry.
    let data = b"\x80\x02c__builtin__\ngetattr\ncos\nsystem\n)R\x86R.";
    assert_eq!(emit_policy(&scan(data)), "builtins:getattr\nos:system\n");
}

/// Every hostile file (`corpus/hostile/techniques.json` says what a scanner must
/// say of each) gets its expected verdict under the strict policy, and never a
/// clean or merely suspicious one.
#[test]
fn hostile_files_are_never_clean_and_get_their_expected_verdict() {
    let techniques: Vec<serde_json::Value> = serde_json::from_str(
        &std::fs::read_to_string(crate::support::corpus_dir().join("hostile/techniques.json"))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(techniques.len(), 243);
    let mut wrong = Vec::new();
    for t in &techniques {
        let file = t["file"].as_str().unwrap();
        let data = std::fs::read(crate::support::corpus_dir().join("hostile").join(file)).unwrap();
        let report = scan(&data);
        let got = report.verdict().name();
        let want = t["expect"].as_str().unwrap();
        assert_ne!(report.verdict(), FileVerdict::Clean, "{file}");
        match KNOWN_DIFFERENCES.iter().find(|(f, _, _)| *f == file) {
            Some((_, verdict, why)) if got != *verdict => wrong.push(format!(
                "{file}: {got}, known difference says {verdict} ({why})"
            )),
            Some(_) => {}
            None if got != want => {
                wrong.push(format!("{file} ({}): {got}, expected {want}", t["class"]))
            }
            None => {}
        }
    }
    assert!(
        wrong.is_empty(),
        "{} file(s):\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

/// Files whose verdict differs from `techniques.json`, and why (under strict and under
/// `ml` alike: `acceptance` uses this list too).
pub(crate) const KNOWN_DIFFERENCES: &[(&str, &str, &str)] = &[
    // A spelling of a gadget ('os\r', 'OS', 'os ') is dangerous (gadgets::lookup
    // normalises case and whitespace): unsafe where the corpus says inconclusive.
    (
        "t_gs_carriage_return_in_names.pkl",
        "unsafe",
        "a spelling of os.system",
    ),
    (
        "t_gs_uppercase_module.pkl",
        "unsafe",
        "a spelling of os.system",
    ),
    (
        "t_gs_whitespace_in_names.pkl",
        "unsafe",
        "a spelling of os.system",
    ),
    // A computed call is dangerous by the scan's rule (no allowlist says what it runs).
    (
        "t_ind_ext1_call.pkl",
        "unsafe",
        "calls what an extension code resolves to",
    ),
    (
        "t_ind_ext2_ext4_calls.pkl",
        "unsafe",
        "calls what an extension code resolves to",
    ),
    (
        "t_ind_persid_called.pkl",
        "unsafe",
        "calls what a persistent id resolves to",
    ),
    // A dense-memo index of 2^32 is a loader hazard by the scan's rule.
    (
        "t_res_long_binput_near_2p32.pkl",
        "unsafe",
        "memo index hazard",
    ),
    // The decoder refuses a FRAME longer than the input before reading on; the
    // pure-Python unpickler reads what exists and runs the payload after it.
    (
        "t_res_frame_claim_then_payload.pkl",
        "inconclusive",
        "over-long FRAME",
    ),
];

/// No false alarms on real data: every file CPython or a library wrote (`seed/`,
/// `benign/`, `examples/`), scanned under the inert policy (every site allowed), has
/// no hazard and no unsafe finding; except the seeds that are memo bombs by design
/// (`memo_bomb_30`: 30 levels, 2^31 - 1 nodes), which have exactly that hazard.
#[test]
fn real_files_raise_no_hazard() {
    let options = ScanOptions {
        policy: Policy::inert(),
        ..ScanOptions::default()
    };
    let mut checked = 0;
    let mut wrong = Vec::new();
    for dir in ["seed", "benign", "examples"] {
        let mut dirs = vec![crate::support::corpus_dir().join(dir)];
        while let Some(d) = dirs.pop() {
            for entry in std::fs::read_dir(&d).unwrap().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    dirs.push(path);
                    continue;
                }
                if path
                    .extension()
                    .is_some_and(|e| e == "json" || e == "py" || e == "md" || e == "txt")
                {
                    continue;
                }
                let report = scan_file(&std::fs::read(&path).unwrap(), &options);
                checked += 1;
                let unsafe_issues: Vec<String> = report
                    .issues()
                    .iter()
                    .filter(|i| i.rule.verdict == FileVerdict::Unsafe)
                    .map(|i| i.message.clone())
                    .collect();
                let bomb = path.to_string_lossy().contains("memo_bomb_30");
                if bomb {
                    let hazards: Vec<Hazard> = report
                        .pickles
                        .iter()
                        .flat_map(|p| p.hazards.clone())
                        .collect();
                    assert_eq!(
                        hazards,
                        [Hazard::Expansion {
                            nodes: (1 << 31) - 1
                        }],
                        "{}",
                        path.display()
                    );
                } else if !unsafe_issues.is_empty() {
                    wrong.push(format!("{}: {unsafe_issues:?}", path.display()));
                }
            }
        }
    }
    assert!(checked > 500, "{checked}");
    assert!(
        wrong.is_empty(),
        "{} file(s):\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}
