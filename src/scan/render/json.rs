//! The JSON report (`pickleproof-scan/1`): one document per file, every field
//! documented in README.md under "JSON report". Strings are escaped as the JSON view
//! escapes them; integers that may pass 2^53 (an expansion's node count) are strings.

use std::fmt::Write as _;

use crate::error::Error;
use crate::scan::file::FileReport;
use crate::scan::hazards::{log2, Hazard};
use crate::scan::report::push_site_json;
use crate::views::json::push_json_string;

/// The JSON report of `report`, for the file called `file` (`None`: no `"file"`
/// field), scanned under the policy called `policy`.
pub fn json(report: &FileReport, file: Option<&str>, policy: &str) -> String {
    let mut out = String::from("{\"schema\":\"pickleproof-scan/1\"");
    if let Some(file) = file {
        out.push_str(",\"file\":");
        push_json_string(&mut out, file);
    }
    out.push_str(",\"policy\":");
    push_json_string(&mut out, policy);
    let verdict = report.verdict();
    let _ = write!(
        out,
        ",\"verdict\":\"{}\",\"exit_code\":{},\"steps\":{},\"formats\":[",
        verdict.name(),
        verdict.exit_code(),
        report.steps
    );
    for (i, format) in report.formats.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "\"{}\"", format.name());
    }
    out.push_str("],\"pickles\":[");
    for (i, pickle) in report.pickles.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"location\":");
        push_json_string(&mut out, &pickle.location);
        let _ = write!(
            out,
            ",\"index\":{},\"start\":{},\"file_offset\":{},\"depth\":{},\"nested_in\":",
            pickle.index,
            pickle.start,
            number_or_null(pickle.file_offset),
            pickle.depth
        );
        match &pickle.nested_in {
            None => out.push_str("null"),
            Some(n) => {
                let _ = write!(
                    out,
                    "{{\"pickle\":{},\"offset\":{},\"callee\":",
                    n.pickle, n.offset
                );
                push_json_string(&mut out, &n.callee);
                out.push('}');
            }
        }
        let _ = write!(
            out,
            ",\"complete\":{},\"consumed\":{},\"payload_before_malformed_tail\":{},\"sites\":[",
            pickle.error.is_none(),
            pickle.consumed,
            pickle.payload_before_malformed_tail()
        );
        for (j, site) in pickle.sites.iter().enumerate() {
            if j > 0 {
                out.push(',');
            }
            push_site_json(&mut out, site, pickle.file_offset_of(site.offset));
        }
        out.push_str("],\"hazards\":[");
        for (j, hazard) in pickle.hazards.iter().enumerate() {
            if j > 0 {
                out.push(',');
            }
            push_hazard(&mut out, hazard);
        }
        out.push_str("],\"error\":");
        push_error(&mut out, pickle.error.as_ref());
        out.push('}');
    }
    out.push_str("],\"anomalies\":[");
    for (i, a) in report.anomalies.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "{{\"kind\":\"{}\",\"location\":", a.kind.name());
        push_json_string(&mut out, &a.location);
        let _ = write!(out, ",\"offset\":{},\"detail\":", a.offset);
        push_json_string(&mut out, &a.detail);
        out.push('}');
    }
    out.push_str("],\"layer_errors\":[");
    for (i, layer) in report.layer_errors.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"location\":");
        push_json_string(&mut out, &layer.location);
        out.push_str(",\"error\":");
        push_error(&mut out, Some(&layer.error));
        out.push('}');
    }
    out.push_str("],\"not_scanned\":[");
    for (i, skipped) in report.not_scanned.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"location\":");
        push_json_string(&mut out, &skipped.location);
        let _ = write!(
            out,
            ",\"pickle\":{},\"offset\":{},\"callee\":",
            skipped.nested_in.pickle, skipped.nested_in.offset
        );
        push_json_string(&mut out, &skipped.nested_in.callee);
        out.push_str(",\"reason\":");
        push_json_string(&mut out, skipped.reason);
        out.push('}');
    }
    out.push_str("],\"issues\":[");
    for (i, issue) in report.issues().iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(
            out,
            "{{\"rule\":\"{}\",\"name\":\"{}\",\"level\":\"{}\",\"verdict\":\"{}\",\"location\":",
            issue.rule.id,
            issue.rule.name,
            issue.rule.level().name(),
            issue.rule.verdict.name()
        );
        push_json_string(&mut out, &issue.location);
        let _ = write!(
            out,
            ",\"pickle\":{},\"offset\":{},\"file_offset\":{},\"length\":{},\"message\":",
            number_or_null(issue.pickle.map(|p| p as u64)),
            number_or_null(issue.offset),
            number_or_null(issue.file_offset),
            number_or_null(issue.length)
        );
        push_json_string(&mut out, &issue.message);
        out.push('}');
    }
    out.push_str("]}");
    out
}

fn number_or_null(n: Option<u64>) -> String {
    n.map_or_else(|| "null".to_owned(), |n| n.to_string())
}

/// `{"kind", "resource", figures..., "message"}`.
fn push_hazard(out: &mut String, hazard: &Hazard) {
    match hazard {
        Hazard::MemoIndex {
            index,
            cpython_bytes,
        } => {
            let _ = write!(
                out,
                "{{\"kind\":\"memo-index\",\"resource\":\"memo\",\"index\":{index},\"cpython_bytes\":{cpython_bytes}"
            );
        }
        Hazard::Expansion { nodes } => {
            let _ = write!(
                out,
                "{{\"kind\":\"expansion\",\"resource\":\"expansion\",\"nodes\":\"{nodes}\",\"log2\":{:.3}",
                log2(*nodes)
            );
        }
        Hazard::Depth { depth, at_least } => {
            let _ = write!(
                out,
                "{{\"kind\":\"depth\",\"resource\":\"depth\",\"depth\":{depth},\"at_least\":{at_least}"
            );
        }
    }
    out.push_str(",\"message\":");
    push_json_string(out, &hazard.describe());
    out.push('}');
}

/// `null`, or `{"kind", "offset", "resource" (budget errors), "message"}`.
fn push_error(out: &mut String, error: Option<&Error>) {
    let Some(e) = error else {
        out.push_str("null");
        return;
    };
    let _ = write!(
        out,
        "{{\"kind\":\"{}\",\"offset\":{}",
        e.kind().name(),
        e.offset()
    );
    if let Some(resource) = e.resource() {
        let _ = write!(out, ",\"resource\":\"{resource}\"");
    }
    out.push_str(",\"message\":");
    push_json_string(out, &e.to_string());
    out.push('}');
}
