//! The whole-file scan: [`scan_file`] opens the file's containers, scans every pickle
//! of every member back to back (as CPython's `pickle.load` in a loop would run
//! each), follows nested pickles, and returns a [`FileReport`] whose verdict a user can
//! act on.
//!
//! For each piece (a pickle file, a ZIP member, a decompressed layer...) the scan
//! decodes a pickle, then another from where it stopped, until the piece's bytes end.
//! Bytes after a STOP that do not start a pickle (the decode fails on their first
//! opcode without reporting anything) are a `trailing-bytes` anomaly; a pickle after
//! which decoding fails is reported with its error and the sites before it, and the
//! piece ends there, as CPython's loop would.
//!
//! # Budgets
//!
//! Each pickle decodes under [`ScanOptions::limits`], except fuel: `max_steps` is the
//! whole file's, shared by every pickle and every nested pickle in it, so a file of a
//! million tiny pickles or a chain of nested ones costs at most that much work. The
//! containers' decompression output ([`ContainerLimits::max_output_bytes`]) is shared
//! the same way between the file and the payloads nested in it.

use std::collections::VecDeque;

use crate::budget::{Limits, Usage};
use crate::container::joblib::JoblibSink;
use crate::container::{self, Anomaly, AnomalyKind, ContainerLimits, Format};
use crate::decode::sink::OnRefusal;
use crate::decode::Decoder;
use crate::error::{Error, ErrorKind, Resource};
use crate::policy::Policy;
use crate::scan::hazards::{Hazard, Thresholds};
use crate::scan::issues::{self, Issue};
use crate::scan::record::Recorder;
use crate::scan::report::Site;
use crate::scan::verdict::FileVerdict;

/// What a file scan allows and what it judges by.
#[derive(Clone, Debug)]
pub struct ScanOptions {
    /// The allowlist: a site is allowed exactly when this policy allows it.
    pub policy: Policy,
    /// Budgets of each pickle's decode; `max_steps` is shared by the whole file (see
    /// the module docs). Default [`scan_limits`].
    pub limits: Limits,
    /// Budgets of the container readers.
    pub container: ContainerLimits,
    /// When figures become loader hazards.
    pub thresholds: Thresholds,
    /// Levels of pickles nested in pickles that are scanned (default 4); a payload
    /// deeper than that is reported as not scanned (inconclusive).
    pub max_nested_depth: u32,
}

impl Default for ScanOptions {
    fn default() -> ScanOptions {
        ScanOptions {
            policy: Policy::strict(),
            limits: scan_limits(),
            container: ContainerLimits::default(),
            thresholds: Thresholds::default(),
            max_nested_depth: 4,
        }
    }
}

/// The default budgets of a scan: [`Limits::default`] with two changes.
///
/// - `max_depth` 100,000 (a decode's is 1000): nesting past CPython's recursion limit
///   is a loader *hazard* the scan must see and name, not a budget error that hides
///   what follows. 100,000 is a hundred times what any CPython consumer can walk and
///   costs at most a few MiB of the memory budget; deeper still is reported as both
///   a budget error and a depth hazard.
/// - `max_steps` 1,000,000,000 for the whole file (a decode's 100,000,000 is per
///   pickle): a 1 GiB checkpoint's pickles, nested pickles included, in a few seconds.
pub fn scan_limits() -> Limits {
    Limits {
        max_depth: 100_000,
        max_steps: 1_000_000_000,
        ..Limits::default()
    }
}

/// Where a nested pickle came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NestedIn {
    /// The pickle (an index into [`FileReport::pickles`]) that would load it.
    pub pickle: usize,
    /// Offset of the loading call's opcode in that pickle.
    pub offset: u64,
    /// The loader, `module.name` (`pickle.loads`).
    pub callee: String,
}

/// One pickle of a file.
#[derive(Clone, Debug)]
pub struct PickleReport {
    /// Where it is, for people: the container member (`archive/data.pkl`; empty for
    /// the file itself), and for a nested pickle the path of loads that reach it
    /// (`archive/data.pkl > pickle.loads@31`).
    pub location: String,
    /// Its position among the pickles of its piece (0 for the first).
    pub index: usize,
    /// Offset of its first byte in its piece (or nested payload).
    pub start: u64,
    /// Offset of its first byte in the file, when the piece is the file's own bytes.
    pub file_offset: Option<u64>,
    /// For a nested pickle, the call that would load it.
    pub nested_in: Option<NestedIn>,
    /// Levels of nesting (0 for the file's own pickles).
    pub depth: u32,
    /// Every site, in stream order (offsets from the pickle's first byte).
    pub sites: Vec<Site>,
    /// Loader hazards.
    pub hazards: Vec<Hazard>,
    /// The error that ended the decode (the sites are those before it).
    pub error: Option<Error>,
    /// Bytes consumed up to and including STOP (0 when the decode failed).
    pub consumed: u64,
    /// What the decode used.
    pub usage: Usage,
}

impl PickleReport {
    /// The file offset of a byte `offset` bytes into this pickle, when known.
    pub fn file_offset_of(&self, offset: u64) -> Option<u64> {
        self.file_offset.and_then(|start| start.checked_add(offset))
    }

    /// True when the decode ended in an error that is the stream's fault (not a
    /// budget) after sites the policy does not allow: CPython would already have
    /// imported and called them before failing, and a scanner that stops at the
    /// error would miss them.
    pub fn payload_before_malformed_tail(&self) -> bool {
        self.error.as_ref().is_some_and(|e| !e.is_limit()) && self.sites.iter().any(|s| !s.allowed)
    }
}

/// An error that stopped reading a container layer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayerError {
    /// Where (as in [`PickleReport::location`]; empty for the file itself).
    pub location: String,
    /// The error.
    pub error: Error,
}

/// A nested payload that was not scanned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotScanned {
    /// Where the loading call is (see [`NestedIn`]).
    pub nested_in: NestedIn,
    /// Its location, as a [`PickleReport::location`].
    pub location: String,
    /// Why it was not scanned.
    pub reason: &'static str,
}

/// The report on a whole file. Its verdict and its findings, each with a rule id,
/// come from [`FileReport::verdict`] and [`FileReport::issues`].
#[derive(Clone, Debug)]
pub struct FileReport {
    /// The file's layers, outermost first, as [`container::open`] found them.
    pub formats: Vec<Format>,
    /// Every pickle, the file's own first (in file order), then nested ones in the
    /// order they were found.
    pub pickles: Vec<PickleReport>,
    /// Everything odd the container readers (and the scan: trailing bytes) met.
    pub anomalies: Vec<Anomaly>,
    /// Errors that stopped reading a container layer.
    pub layer_errors: Vec<LayerError>,
    /// Nested payloads that were not scanned.
    pub not_scanned: Vec<NotScanned>,
    /// The fuel the whole scan burned.
    pub steps: u64,
}

impl FileReport {
    /// Every finding, each with its rule, level and the verdict it implies.
    pub fn issues(&self) -> Vec<Issue> {
        issues::collect(self)
    }

    /// The file's verdict: the highest of its findings' (`clean` when none).
    pub fn verdict(&self) -> FileVerdict {
        self.issues()
            .iter()
            .map(|i| i.rule.verdict)
            .max()
            .unwrap_or(FileVerdict::Clean)
    }
}

/// Scans a whole file; see the module docs.
///
/// ```
/// use pickleproof::scan::{scan_file, FileVerdict, ScanOptions};
///
/// // os.system('echo pwned'), protocol 0.
/// let report = scan_file(b"cos\nsystem\n(S'echo pwned'\ntR.", &ScanOptions::default());
/// assert_eq!(report.verdict(), FileVerdict::Unsafe);
/// assert_eq!(report.verdict().exit_code(), 5);
/// let reasons: Vec<_> = report.pickles[0].sites.iter().map(|s| s.verdict.reason()).collect();
/// assert_eq!(reasons, [Some("runs a shell command"), Some("runs a shell command")]);
/// ```
pub fn scan_file(data: &[u8], options: &ScanOptions) -> FileReport {
    let mut scan = Scan {
        options,
        steps_left: options.limits.max_steps,
        output_left: options.container.max_output_bytes,
        report: FileReport {
            formats: Vec::new(),
            pickles: Vec::new(),
            anomalies: Vec::new(),
            layer_errors: Vec::new(),
            not_scanned: Vec::new(),
            steps: 0,
        },
        queue: VecDeque::new(),
    };
    scan.bytes(data, None, 0, "");
    while let Some(job) = scan.queue.pop_front() {
        scan.bytes(&job.data, Some(job.nested_in), job.depth, &job.location);
    }
    scan.report.steps = options.limits.max_steps.saturating_sub(scan.steps_left);
    scan.report
}

/// A nested payload waiting to be scanned.
struct Job {
    data: Vec<u8>,
    nested_in: NestedIn,
    depth: u32,
    location: String,
}

/// One file scan in progress.
struct Scan<'o> {
    options: &'o ScanOptions,
    steps_left: u64,
    output_left: u64,
    report: FileReport,
    /// Nested payloads, scanned after the file's own pickles, in the order found.
    queue: VecDeque<Job>,
}

/// `outer > inner`, or whichever is not empty.
fn join(outer: &str, inner: &str) -> String {
    match (outer.is_empty(), inner.is_empty()) {
        (true, _) => inner.to_owned(),
        (false, true) => outer.to_owned(),
        (false, false) => format!("{outer} > {inner}"),
    }
}

impl Scan<'_> {
    /// Opens `data` (the file, or a nested payload at `depth`) and scans each piece.
    fn bytes(&mut self, data: &[u8], nested_in: Option<NestedIn>, depth: u32, location: &str) {
        let mut limits = self.options.container;
        limits.max_output_bytes = self.output_left;
        let contents = container::open(data, &limits);
        let produced = contents
            .pieces
            .iter()
            .filter(|p| matches!(p.data, std::borrow::Cow::Owned(_)))
            .fold(0u64, |sum, p| sum.saturating_add(p.data.len() as u64));
        self.output_left = self.output_left.saturating_sub(produced);
        if nested_in.is_none() {
            self.report.formats = contents.formats.clone();
        }
        for mut anomaly in contents.anomalies {
            anomaly.location = join(location, &anomaly.location);
            self.report.anomalies.push(anomaly);
        }
        if let Some(error) = contents.error {
            self.report.layer_errors.push(LayerError {
                location: join(location, &contents.error_location),
                error,
            });
        }
        for piece in &contents.pieces {
            // Offsets in the file are known only for the file's own bytes.
            let file_offset = if nested_in.is_none() {
                piece.file_offset
            } else {
                None
            };
            let piece_location = join(location, &piece.location);
            self.piece(
                &piece.data,
                file_offset,
                &piece_location,
                nested_in.as_ref(),
                depth,
            );
        }
    }

    /// Scans the pickles of one piece back to back.
    fn piece(
        &mut self,
        data: &[u8],
        file_offset: Option<u64>,
        location: &str,
        nested_in: Option<&NestedIn>,
        depth: u32,
    ) {
        let mut start: u64 = 0;
        let mut index: usize = 0;
        loop {
            let rest = usize::try_from(start)
                .ok()
                .and_then(|at| data.get(at..))
                .unwrap_or(&[]);
            if index > 0 && rest.is_empty() {
                return;
            }
            let thresholds = self.options.thresholds;
            let mut recorder = Recorder::for_file(&thresholds);
            let mut limits = self.options.limits;
            limits.max_steps = self.steps_left;
            let decoder = Decoder::new()
                .limits(limits)
                .policy(self.options.policy.clone());
            let result = {
                let mut sink = piece_sink(&mut recorder, &decoder, rest);
                decoder.decode_with_sink(rest, &mut sink, OnRefusal::Continue)
            };
            let usage = recorder.usage.unwrap_or_default();
            self.steps_left = self.steps_left.saturating_sub(usage.steps);
            let pickle_offset = file_offset.and_then(|f| f.checked_add(start));
            let (error, consumed) = match result {
                Ok(decoded) => (None, decoded.consumed),
                Err(e) => (Some(e), 0),
            };
            if let Some(e) = &error {
                if index > 0 && e.offset() == 0 && recorder.sites.is_empty() {
                    self.report.anomalies.push(trailing(
                        location,
                        pickle_offset.unwrap_or(start),
                        rest,
                        e,
                    ));
                    return;
                }
            }
            let mut hazards = recorder.hazards;
            if let Some(ErrorKind::Limit {
                resource: Resource::Depth,
                limit,
                ..
            }) = error.as_ref().map(Error::kind)
            {
                if *limit >= thresholds.depth {
                    hazards.push(Hazard::Depth {
                        depth: *limit,
                        at_least: true,
                    });
                }
            }
            let this = self.report.pickles.len();
            let pickle_location = if index == 0 {
                location.to_owned()
            } else {
                format!("{location}#{index}")
            };
            for payload in recorder.nested {
                let inner = NestedIn {
                    pickle: this,
                    offset: payload.offset,
                    callee: payload.callee,
                };
                let nested_location = join(
                    &pickle_location,
                    &format!("{}@{}", inner.callee, inner.offset),
                );
                let next = depth
                    .checked_add(1)
                    .filter(|d| *d <= self.options.max_nested_depth);
                let size = payload.data.len() as u64;
                let reason = match next {
                    None => Some("nested deeper than the scan's max_nested_depth"),
                    Some(_) if size > self.output_left => {
                        Some("over what is left of the file's output budget")
                    }
                    Some(_) => None,
                };
                // Queued payloads are charged to the output budget shared with the
                // containers: the copies stay bounded by it, however many pickles ask.
                self.output_left = self.output_left.saturating_sub(size);
                match (next, reason) {
                    (Some(next), None) => self.queue.push_back(Job {
                        data: payload.data,
                        nested_in: inner,
                        depth: next,
                        location: nested_location,
                    }),
                    (_, reason) => self.report.not_scanned.push(NotScanned {
                        nested_in: inner,
                        location: nested_location,
                        reason: reason.unwrap_or_default(),
                    }),
                }
            }
            let failed = error.is_some();
            self.report.pickles.push(PickleReport {
                location: pickle_location,
                index,
                start,
                file_offset: pickle_offset,
                nested_in: nested_in.cloned(),
                depth,
                sites: recorder.sites,
                hazards,
                error,
                consumed,
                usage,
            });
            if failed || consumed == 0 {
                return;
            }
            start = start.saturating_add(consumed);
            index = index.saturating_add(1);
        }
    }
}

/// The anomaly for bytes after the last pickle that do not start another.
fn trailing(location: &str, offset: u64, rest: &[u8], error: &Error) -> Anomaly {
    Anomaly {
        kind: AnomalyKind::TrailingBytes,
        location: location.to_owned(),
        offset,
        detail: format!(
            "{} byte(s) after the last pickle's STOP do not start a pickle (first byte 0x{:02x}: {})",
            rest.len(),
            rest.first().copied().unwrap_or(0),
            error.kind()
        ),
    }
}

/// **The one place where each piece's sink is built.** Every pickle of every piece
/// is decoded through a [`JoblibSink`] around the scan's recorder: it steps over the
/// array data joblib writes inline after each `NumpyArrayWrapper`'s BUILD (and
/// scans the nested pickle of an object array), and costs one name check per BUILD
/// when there is none. Plain joblib files are pickles by content, so every piece gets
/// it, not only the ones a compressed joblib layer marked [`PieceKind::Joblib`](crate::container::PieceKind::Joblib).
fn piece_sink<'s>(
    recorder: &'s mut Recorder<'_>,
    decoder: &'s Decoder,
    input: &[u8],
) -> JoblibSink<'s> {
    JoblibSink::new(recorder, decoder, input)
}
