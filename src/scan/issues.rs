//! Every finding of a [`FileReport`] as an [`Issue`] with a stable [`Rule`]: what the
//! verdict is computed from, and what the text and SARIF renderers list.
//!
//! Rule ids are stable (`PP001`...): SARIF consumers key their baselines and
//! suppressions on them. Each rule carries the file verdict it implies: the file's
//! verdict is the highest over its issues, and an issue whose rule implies `clean`
//! is a note (an oddity that does not change what a loader would do).
//!
//! | ids | what | verdict |
//! |---|---|---|
//! | PP001–PP009 | a dangerous site, by [`Category`] | unsafe |
//! | PP010 | a site the policy does not allow and nothing knows | suspicious |
//! | PP020–PP022 | loader hazards: memo, expansion, depth | unsafe |
//! | PP030 | sites the policy does not allow before a malformed tail | unsafe |
//! | PP031, PP032 | malformed; over a budget (a decompression bomb too) | inconclusive |
//! | PP033 | a nested payload not scanned | inconclusive |
//! | PP034, PP035 | a container with no pickle; a file that is no pickle | clean (note) |
//! | PP040–PP042 | container evasions: name mismatch, duplicate names, overlapping entries | unsafe |
//! | PP043 | a format that runs code by design (TorchScript) | suspicious |
//! | PP044–PP046 | bytes not read or not readable: trailing bytes, extra bytes, an entry flagged as encrypted | inconclusive |
//! | PP047–PP050 | a bad CRC, unusual flags, other oddities, a `.npy` size mismatch | clean (note) |

use crate::container::{Anomaly, AnomalyKind, Format};
use crate::error::Error;
use crate::scan::file::{FileReport, PickleReport};
use crate::scan::gadgets::Category;
use crate::scan::hazards::Hazard;
use crate::scan::verdict::{FileVerdict, SiteVerdict};

/// A kind of finding, with a stable id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Rule {
    /// Stable id, `PP001`...
    pub id: &'static str,
    /// Stable name, `shell-command`...
    pub name: &'static str,
    /// One line for people.
    pub description: &'static str,
    /// The file verdict an issue of this rule implies.
    pub verdict: FileVerdict,
}

/// SARIF's result levels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Level {
    /// An unsafe finding.
    Error,
    /// A suspicious or inconclusive one.
    Warning,
    /// An oddity that does not change the verdict.
    Note,
}

impl Level {
    /// `error`, `warning` or `note`.
    pub fn name(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warning => "warning",
            Level::Note => "note",
        }
    }
}

impl Rule {
    /// The SARIF level of its issues.
    pub fn level(&self) -> Level {
        match self.verdict {
            FileVerdict::Unsafe => Level::Error,
            FileVerdict::Inconclusive | FileVerdict::Suspicious => Level::Warning,
            FileVerdict::Clean => Level::Note,
        }
    }
}

const fn rule(
    id: &'static str,
    name: &'static str,
    description: &'static str,
    verdict: FileVerdict,
) -> Rule {
    Rule {
        id,
        name,
        description,
        verdict,
    }
}

use FileVerdict::{Clean, Inconclusive, Suspicious, Unsafe};

/// Every rule, in id order.
pub const RULES: &[Rule] = &[
    rule("PP001", "code-execution", "A global that runs Python or native code it is given", Unsafe),
    rule("PP002", "shell-command", "A global that runs a program or a shell command", Unsafe),
    rule("PP003", "file-system", "A global that reads, writes or deletes files", Unsafe),
    rule("PP004", "network", "A global that opens network connections or fetches URLs", Unsafe),
    rule("PP005", "import-by-name", "A global that imports a module by name", Unsafe),
    rule("PP006", "indirection", "A call of something computed, or a global that calls, fetches or wraps what it is given", Unsafe),
    rule("PP007", "nested-deserialization", "A global that deserializes more data, as a pickle does", Unsafe),
    rule("PP008", "denial-of-service", "A global that stops, stalls or exhausts the process", Unsafe),
    rule("PP009", "broken-rule", "An allowed callable given arguments its policy rule forbids", Unsafe),
    rule("PP010", "not-allowlisted", "A global or stream feature the policy does not allow (and nothing known to be dangerous)", Suspicious),
    rule("PP020", "memo-index", "A memo index CPython's unpickler would allocate densely", Unsafe),
    rule("PP021", "expansion", "A value whose shared references expand to a huge tree when walked", Unsafe),
    rule("PP022", "depth", "A value nested deeper than CPython's recursion limit", Unsafe),
    rule("PP030", "payload-before-malformed-tail", "Imports or calls the policy does not allow, before the stream breaks: CPython runs them, then fails", Unsafe),
    rule("PP031", "malformed", "A stream or container that is malformed or not understood; the rest is not scanned", Inconclusive),
    rule("PP032", "over-budget", "A stream or container over a scan budget (a decompression bomb too); the rest is not scanned", Inconclusive),
    rule("PP033", "nested-not-scanned", "A pickle nested deeper than the scan follows", Inconclusive),
    rule("PP034", "no-pickle", "A container that holds no pickle (a plain .npy, a ZIP of other files): nothing to import or call", Clean),
    rule("PP035", "not-a-pickle", "A file whose first byte is no pickle opcode: every pickle loader refuses it before doing anything", Clean),
    rule("PP040", "name-mismatch", "A ZIP entry named differently in its local header and the central directory", Unsafe),
    rule("PP041", "duplicate-name", "Two ZIP entries with one name: loaders disagree on which they read", Unsafe),
    rule("PP042", "overlap", "Container entries whose data overlap", Unsafe),
    rule("PP043", "runs-code", "A format whose loader runs the code it holds by design (TorchScript): a program to review, not data", Suspicious),
    rule("PP044", "trailing-bytes", "Bytes after the last pickle that are no pickle", Inconclusive),
    rule("PP045", "extra-bytes", "Bytes before or after a container's records that were not read", Inconclusive),
    rule("PP046", "encrypted", "An entry flagged as encrypted (scanned as if in clear, but it may not be)", Inconclusive),
    rule("PP047", "bad-crc", "A ZIP entry whose CRC-32 does not match its data", Clean),
    rule("PP048", "unusual-flags", "A ZIP entry with unusual flag bits or method", Clean),
    rule("PP049", "other-anomaly", "Something a container reader had to work around", Clean),
    rule("PP050", "size-mismatch", "A length that disagrees with what its header says (.npy data)", Clean),
];

/// The rule with this id (`None` for an unknown id).
pub fn rule_by_id(id: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.id == id)
}

/// The rule with this name, falling back to `other-anomaly` (every name used below
/// is in [`RULES`]; a unit test checks it).
fn named(name: &str) -> &'static Rule {
    const OTHER: Rule = rule(
        "PP049",
        "other-anomaly",
        "Something a container reader had to work around",
        Clean,
    );
    RULES
        .iter()
        .find(|r| r.name == name)
        .or_else(|| RULES.iter().find(|r| r.name == OTHER.name))
        .unwrap_or(&OTHER)
}

/// The rule of a site's verdict (`None` for an allowed site).
pub fn site_rule(verdict: &SiteVerdict) -> Option<&'static Rule> {
    match verdict {
        SiteVerdict::Allowed => None,
        SiteVerdict::Unknown { .. } => Some(named("not-allowlisted")),
        SiteVerdict::Dangerous { category, .. } => Some(category_rule(*category)),
    }
}

/// The rule of a dangerous site's category.
pub fn category_rule(category: Category) -> &'static Rule {
    named(category.name())
}

/// The rule of a hazard.
pub fn hazard_rule(hazard: &Hazard) -> &'static Rule {
    match hazard {
        Hazard::MemoIndex { .. } => named("memo-index"),
        Hazard::Expansion { .. } => named("expansion"),
        Hazard::Depth { .. } => named("depth"),
    }
}

/// The rule of a container anomaly: by its kind's name, so a kind added later is an
/// `other-anomaly` note until it gets a rule of its own.
pub fn anomaly_rule(anomaly: &Anomaly) -> &'static Rule {
    match anomaly.kind {
        AnomalyKind::Other => named("other-anomaly"),
        kind => named(kind.name()),
    }
}

/// True for a file that is no pickle at all: its own first pickle (no container
/// layer around it) fails at byte 0 with no site, because that byte is no opcode or
/// the file is empty. CPython's `pickle.load` raises at once, imports nothing and
/// calls nothing; the same holds for `torch.load` and `joblib.load`, which unpickle
/// it. A scan of a directory meets such files (READMEs, configs, raw buffers) and
/// they are not findings. A file that starts like a pickle and breaks later is not
/// this case: it stays malformed (inconclusive).
fn is_not_a_pickle(report: &FileReport, pickle: &PickleReport, e: &Error) -> bool {
    matches!(
        report.formats.as_slice(),
        [Format::Pickle] | [Format::Joblib]
    ) && pickle.nested_in.is_none()
        && pickle.index == 0
        && pickle.location.is_empty()
        && pickle.sites.is_empty()
        && e.offset() == 0
        && !e.is_limit()
}

/// One finding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Issue {
    /// Its rule.
    pub rule: &'static Rule,
    /// Where, for people and SARIF's logical location: the container member (empty
    /// for the file itself), with the path of loads for a nested pickle.
    pub location: String,
    /// The pickle it is about (an index into [`FileReport::pickles`]).
    pub pickle: Option<usize>,
    /// Offset within that pickle, or within the layer for a container finding.
    pub offset: Option<u64>,
    /// Offset in the file, when known.
    pub file_offset: Option<u64>,
    /// Bytes it covers from there, when known.
    pub length: Option<u64>,
    /// What, for people.
    pub message: String,
}

/// Every issue of `report`, pickle by pickle, then the container's.
pub(crate) fn collect(report: &FileReport) -> Vec<Issue> {
    let mut out = Vec::new();
    for (at, pickle) in report.pickles.iter().enumerate() {
        for site in &pickle.sites {
            let Some(rule) = site_rule(&site.verdict) else {
                continue;
            };
            out.push(Issue {
                rule,
                location: pickle.location.clone(),
                pickle: Some(at),
                offset: Some(site.offset),
                file_offset: pickle.file_offset_of(site.offset),
                length: None,
                message: format!(
                    "{} at offset {} ({}): {}",
                    site.finding.describe(),
                    site.offset,
                    site.opcode.name(),
                    site.verdict.reason().unwrap_or_default()
                ),
            });
        }
        // The pickle's extent, for findings about all of it.
        let extent = match &pickle.error {
            None => Some(pickle.consumed),
            Some(e) => e.offset().checked_add(1),
        };
        for hazard in &pickle.hazards {
            out.push(Issue {
                rule: hazard_rule(hazard),
                location: pickle.location.clone(),
                pickle: Some(at),
                offset: Some(0),
                file_offset: pickle.file_offset,
                length: extent,
                message: hazard.describe(),
            });
        }
        if let Some(e) = &pickle.error {
            if is_not_a_pickle(report, pickle, e) {
                out.push(Issue {
                    rule: named("not-a-pickle"),
                    location: String::new(),
                    pickle: Some(at),
                    offset: Some(0),
                    file_offset: Some(0),
                    length: None,
                    message: format!("not a pickle: {e}"),
                });
                continue;
            }
            if pickle.payload_before_malformed_tail() {
                let payload = pickle.sites.iter().filter(|s| !s.allowed).count();
                out.push(Issue {
                    rule: named("payload-before-malformed-tail"),
                    location: pickle.location.clone(),
                    pickle: Some(at),
                    offset: Some(0),
                    file_offset: pickle.file_offset,
                    length: extent,
                    message: format!(
                        "{payload} site(s) the policy does not allow, then the stream breaks ({e}): CPython runs them before it fails"
                    ),
                });
            }
            out.push(Issue {
                rule: named(if e.is_limit() {
                    "over-budget"
                } else {
                    "malformed"
                }),
                location: pickle.location.clone(),
                pickle: Some(at),
                offset: Some(e.offset()),
                file_offset: pickle.file_offset_of(e.offset()),
                length: None,
                message: format!("the decode stopped: {e}; what follows is not scanned"),
            });
        }
    }
    for skipped in &report.not_scanned {
        let parent = report.pickles.get(skipped.nested_in.pickle);
        out.push(Issue {
            rule: named("nested-not-scanned"),
            location: skipped.location.clone(),
            pickle: Some(skipped.nested_in.pickle),
            offset: Some(skipped.nested_in.offset),
            file_offset: parent.and_then(|p| p.file_offset_of(skipped.nested_in.offset)),
            length: None,
            message: format!(
                "the pickle passed to {} is not scanned: {}",
                skipped.nested_in.callee, skipped.reason
            ),
        });
    }
    for anomaly in &report.anomalies {
        let trailing = anomaly.kind == crate::container::AnomalyKind::TrailingBytes;
        out.push(Issue {
            rule: anomaly_rule(anomaly),
            location: anomaly.location.clone(),
            pickle: None,
            offset: Some(anomaly.offset),
            // The scan's own trailing-bytes anomalies carry file offsets; the
            // readers' offsets are in the layer their location names.
            file_offset: (anomaly.location.is_empty() || trailing).then_some(anomaly.offset),
            length: None,
            message: format!("{}: {}", anomaly.kind.name(), anomaly.detail),
        });
    }
    for layer in &report.layer_errors {
        out.push(Issue {
            rule: named(if layer.error.is_limit() {
                "over-budget"
            } else {
                "malformed"
            }),
            location: layer.location.clone(),
            pickle: None,
            offset: Some(layer.error.offset()),
            file_offset: layer.location.is_empty().then_some(layer.error.offset()),
            length: None,
            message: format!("reading the container stopped: {}", layer.error),
        });
    }
    let found_any = report.pickles.iter().any(|p| p.nested_in.is_none());
    if !found_any && report.layer_errors.is_empty() {
        out.push(Issue {
            rule: named("no-pickle"),
            location: String::new(),
            pickle: None,
            offset: None,
            file_offset: None,
            length: None,
            message: format!(
                "no pickle found in the file (layers: {})",
                report
                    .formats
                    .iter()
                    .map(|f| f.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_are_unique_sorted_and_cover_every_name_used() {
        for pair in RULES.windows(2) {
            assert!(pair[0].id < pair[1].id, "{} {}", pair[0].id, pair[1].id);
        }
        let names: std::collections::HashSet<&str> = RULES.iter().map(|r| r.name).collect();
        assert_eq!(names.len(), RULES.len());
        for category in Category::ALL {
            assert_eq!(category_rule(category).name, category.name());
        }
        use crate::container::AnomalyKind::*;
        let ids: Vec<(&str, &str)> = [
            NameMismatch,
            DuplicateName,
            Overlap,
            RunsCode,
            TrailingBytes,
            ExtraBytes,
            Encrypted,
            BadCrc,
            UnusualFlags,
            Other,
            SizeMismatch,
        ]
        .into_iter()
        .map(|kind| {
            let anomaly = Anomaly {
                kind,
                location: String::new(),
                offset: 0,
                detail: String::new(),
            };
            (kind.name(), anomaly_rule(&anomaly).id)
        })
        .collect();
        assert_eq!(
            ids,
            [
                ("name-mismatch", "PP040"),
                ("duplicate-name", "PP041"),
                ("overlap", "PP042"),
                ("runs-code", "PP043"),
                ("trailing-bytes", "PP044"),
                ("extra-bytes", "PP045"),
                ("encrypted", "PP046"),
                ("bad-crc", "PP047"),
                ("unusual-flags", "PP048"),
                ("other", "PP049"),
                ("size-mismatch", "PP050"),
            ]
        );
        for name in [
            "not-allowlisted",
            "memo-index",
            "expansion",
            "depth",
            "payload-before-malformed-tail",
            "malformed",
            "over-budget",
            "nested-not-scanned",
            "no-pickle",
        ] {
            assert!(names.contains(name), "{name}");
        }
        assert_eq!(rule_by_id("PP002").map(|r| r.name), Some("shell-command"));
    }
}
