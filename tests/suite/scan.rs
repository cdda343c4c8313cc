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
