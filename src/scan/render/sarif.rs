//! SARIF 2.1.0: one run whose tool is `pickleproof`, with one rule per
//! [`Rule`](crate::scan::issues::Rule) (the knowledge base's categories, the hazards,
//! the container anomalies...) and one result per issue. A result's physical location
//! is the scanned file (its URI as given, percent-encoded) with a region carrying the
//! `byteOffset` in the file (and `byteLength` where known) when the bytes are the
//! file's own; its logical location is the container member (and the path of loads
//! for a nested pickle). Offsets within a member that has no place in the file (a
//! compressed or nested one) are in the result's `properties`.
//!
//! The output validates against OASIS's `sarif-schema-2.1.0.json` (a test checks it
//! with the schema vendored under `tests/data/`).

use std::fmt::Write as _;

use crate::scan::file::FileReport;
use crate::scan::issues::{Issue, RULES};
use crate::scan::verdict::FileVerdict;
use crate::views::json::push_json_string;

/// The `$schema` a SARIF log names.
pub const SCHEMA_URI: &str =
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json";

/// The SARIF log of `report`, for the file at `uri` (a path or URI as the user gave
/// it; characters outside a URI's unreserved set are percent-encoded).
pub fn sarif(report: &FileReport, uri: &str) -> String {
    sarif_files(&[(report, uri)])
}

/// The SARIF log of several files: one run, one artifact per file (in the order
/// given), each result pointing at its file's artifact. The run's properties carry
/// the worst verdict and its exit code.
pub fn sarif_files(files: &[(&FileReport, &str)]) -> String {
    let mut out = String::from("{\"$schema\":");
    push_json_string(&mut out, SCHEMA_URI);
    out.push_str(",\"version\":\"2.1.0\",\"runs\":[{\"tool\":{\"driver\":{\"name\":\"pickleproof\",\"version\":");
    push_json_string(&mut out, env!("CARGO_PKG_VERSION"));
    out.push_str(",\"rules\":[");
    for (i, rule) in RULES.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(
            out,
            "{{\"id\":\"{}\",\"name\":\"{}\",\"shortDescription\":{{\"text\":",
            rule.id, rule.name
        );
        push_json_string(&mut out, rule.description);
        let _ = write!(
            out,
            "}},\"defaultConfiguration\":{{\"level\":\"{}\"}},\"properties\":{{\"verdict\":\"{}\"}}}}",
            rule.level().name(),
            rule.verdict.name()
        );
    }
    out.push_str("]}},\"artifacts\":[");
    let encoded: Vec<String> = files.iter().map(|(_, uri)| percent_encode(uri)).collect();
    for (i, uri) in encoded.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"location\":{\"uri\":");
        push_json_string(&mut out, uri);
        out.push_str("},\"roles\":[\"analysisTarget\"]}");
    }
    out.push_str("],\"results\":[");
    let mut first = true;
    for (artifact, ((report, _), uri)) in files.iter().zip(&encoded).enumerate() {
        for issue in report.issues() {
            if !first {
                out.push(',');
            }
            first = false;
            push_result(&mut out, &issue, uri, artifact);
        }
    }
    let verdict = files
        .iter()
        .map(|(report, _)| report.verdict())
        .max()
        .unwrap_or(FileVerdict::Clean);
    let _ = write!(
        out,
        "],\"properties\":{{\"verdict\":\"{}\",\"exitCode\":{}}}}}]}}",
        verdict.name(),
        verdict.exit_code()
    );
    out
}

/// One result: the issue at `uri`, the run's artifact number `artifact`.
fn push_result(out: &mut String, issue: &Issue, uri: &str, artifact: usize) {
    let index = RULES
        .iter()
        .position(|r| r.id == issue.rule.id)
        .unwrap_or(0);
    let _ = write!(
        out,
        "{{\"ruleId\":\"{}\",\"ruleIndex\":{index},\"level\":\"{}\",\"message\":{{\"text\":",
        issue.rule.id,
        issue.rule.level().name()
    );
    push_json_string(out, &issue.message);
    out.push_str("},\"locations\":[{\"physicalLocation\":{\"artifactLocation\":{\"uri\":");
    push_json_string(out, uri);
    let _ = write!(out, ",\"index\":{artifact}}}");
    if let Some(at) = issue.file_offset {
        let _ = write!(out, ",\"region\":{{\"byteOffset\":{at}");
        if let Some(length) = issue.length {
            let _ = write!(out, ",\"byteLength\":{length}");
        }
        out.push('}');
    }
    out.push('}');
    if !issue.location.is_empty() {
        out.push_str(",\"logicalLocations\":[{\"name\":");
        push_json_string(out, &issue.location);
        out.push_str(",\"fullyQualifiedName\":");
        push_json_string(out, &issue.location);
        out.push_str(",\"kind\":\"resource\"}]");
    }
    out.push_str("}],\"properties\":{\"verdict\":");
    push_json_string(out, issue.rule.verdict.name());
    if let Some(pickle) = issue.pickle {
        let _ = write!(out, ",\"pickle\":{pickle}");
    }
    if let Some(offset) = issue.offset {
        let _ = write!(out, ",\"offset\":{offset}");
    }
    out.push_str("}}");
}

/// `text` with every byte outside a URI reference's unreserved characters and `/`
/// percent-encoded, so any path is a valid `uri-reference`.
fn percent_encode(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_become_uri_references() {
        assert_eq!(percent_encode("corpus/a b.pkl"), "corpus/a%20b.pkl");
        assert_eq!(percent_encode("é#?"), "%C3%A9%23%3F");
    }
}
