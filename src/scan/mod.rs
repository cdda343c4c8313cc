//! The security report: every import, call and other escape hatch a stream asks for,
//! with its byte offset, the verdict of a [`Policy`](crate::Policy) and a verdict a
//! user can act on; for one pickle ([`Decoder::scan`], [`Report`]) or for a whole file
//! (`scan_file`, [`FileReport`]: every pickle in every container member, nested
//! pickles, loader hazards, container anomalies).
//!
//! A policy decode stops at the first global it refuses; a scan does not. It runs the
//! stream as the inert policy would (everything described, nothing executed, every
//! budget enforced) and records each *site* on the way:
//! - an import (GLOBAL, STACK_GLOBAL, INST), with the names after the Python 2 mapping
//!   and the names as written when they differ;
//! - a call (REDUCE, NEWOBJ, NEWOBJ_EX, INST, OBJ) and what is being called (a call
//!   of anything but a global is judged by `Policy::allows_computed_calls`);
//! - a persistent id (PERSID, BINPERSID), an extension code (EXT1/2/4) and an
//!   out-of-band buffer that was not supplied (NEXT_BUFFER): each needs the loading
//!   application's cooperation, so a policy may refuse them.
//!
//! The first refused site of a scan is exactly where a decode under the same policy
//! fails, with the same names (tested over the corpus and fuzzed).
//!
//! Each site gets a [`SiteVerdict`] (allowed / unknown / dangerous, see
//! [`verdict`]), explained by the gadget knowledge base ([`gadgets`]); a file gets a
//! [`FileVerdict`] (clean / suspicious / inconclusive / unsafe) with an exit code.
//! Loader hazards are in [`hazards`], nested pickles in [`nested`], the renderers
//! (text, JSON, SARIF) in [`render`], and the policy a file needs in [`emit`].
//!
//! | file | responsibility |
//! |---|---|
//! | `report.rs` | one pickle's report: [`Site`], [`Finding`], [`Report`] |
//! | `record.rs` | the sink that records sites, nested payloads and hazards |
//! | `verdict.rs` | site and file verdicts, exit codes |
//! | `gadgets.rs` | the knowledge base of dangerous globals |
//! | `hazards.rs` | memo, expansion and depth hazards |
//! | `nested.rs` | pickles passed to `pickle.loads`-like calls |
//! | `file.rs` | the whole-file scan |
//! | `issues.rs` | every finding of a file report with its rule, for the renderers |
//! | `emit.rs` | the minimal policy a file needs |
//! | `render/` | text, JSON and SARIF |

#[cfg(feature = "zip")]
pub mod emit;
#[cfg(feature = "zip")]
pub mod file;
pub mod gadgets;
pub mod hazards;
#[cfg(feature = "zip")]
pub mod issues;
pub mod nested;
mod record;
#[cfg(feature = "zip")]
pub mod render;
mod report;
pub mod verdict;

use crate::decode::sink::OnRefusal;
use crate::decode::Decoder;
use record::Recorder;

#[cfg(feature = "zip")]
pub use emit::emit_policy;
#[cfg(feature = "zip")]
pub use file::{scan_file, scan_limits, FileReport, PickleReport, ScanOptions};
pub use gadgets::Category;
pub use hazards::{Hazard, Thresholds};
pub use report::{Callee, Finding, GetattrPair, Report, Site};
pub use verdict::{FileVerdict, SiteVerdict};

impl Decoder {
    /// Scans one pickle: every import, call, persistent id, extension code and missing
    /// buffer it asks for, with its offset and this decoder's policy's verdict.
    ///
    /// Unlike [`Decoder::decode`], a refusal does not stop the scan: the stream runs
    /// as under [`Policy::inert`](crate::Policy::inert) (described, never executed, within the limits), so
    /// the report lists *everything*. Its first refused site is exactly where `decode`
    /// would fail. See [`Report`].
    ///
    /// ```
    /// use pickleproof::Decoder;
    ///
    /// // os.system('echo pwned'), protocol 0.
    /// let data = b"cos\nsystem\n(S'echo pwned'\ntR.";
    /// let report = Decoder::new().scan(data);
    /// let what: Vec<String> = report.sites.iter().map(|s| s.finding.describe()).collect();
    /// assert_eq!(what, ["import os.system", "call os.system (reduce)"]);
    /// let refused: Vec<u64> = report.refused().map(|s| s.offset).collect();
    /// assert_eq!(refused, [0, 27]); // GLOBAL at 0, REDUCE at 27
    /// assert!(!report.is_clean());
    /// // A decode under the same (strict) policy fails at the first refused site.
    /// assert_eq!(Decoder::new().decode(data).unwrap_err().offset(), 0);
    /// ```
    pub fn scan(&self, input: &[u8]) -> Report {
        let mut recorder = Recorder::default();
        let result = self.decode_with_sink(input, &mut recorder, OnRefusal::Continue);
        let (error, consumed) = match result {
            Ok(decoded) => (None, decoded.consumed),
            Err(e) => (Some(e), 0),
        };
        Report {
            sites: recorder.sites,
            error,
            consumed,
        }
    }
}
