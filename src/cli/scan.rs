//! `scan PATH...`: every file under the paths, in parallel, one verdict each.
//!
//! Files are found by [`walk`](crate::cli::walk) (sorted, links followed inside the
//! root only), read whole up to `--max-file`, and scanned by
//! [`pickleproof::scan::scan_file`] on a pool of threads (rayon); results are printed
//! in the walk's order, so two runs print the same report. A progress bar shows on a
//! terminal only. The exit code is that of the worst verdict among the outcomes
//! `--fail-on` names (by default all but clean):
//!
//! | outcome | exit |
//! |---|---|
//! | every file clean (or only outcomes not in `--fail-on`) | 0 |
//! | usage error, or a path given that does not exist | 1 |
//! | inconclusive: malformed, over a budget, unsupported, unreadable | 2 |
//! | suspicious: only globals the policy does not list | 4 |
//! | unsafe: a known gadget, a loader hazard, an evasion | 5 |

use std::collections::BTreeSet;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::ValueEnum;
use indicatif::{ProgressBar, ProgressStyle};
use pickleproof::scan::render;
use pickleproof::scan::{
    emit_policy, scan_file, scan_limits, FileReport, FileVerdict, ScanOptions,
};
use pickleproof::views::json::push_json_string;

use crate::cli::args::{LimitArgs, PolicyArgs};
use crate::cli::input::{emit, fail, read_bounded};
use crate::cli::walk;

/// An outcome `--fail-on` may name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Outcome {
    /// Only globals the policy does not list.
    Suspicious,
    /// Could not be read whole.
    Inconclusive,
    /// Known dangerous.
    Unsafe,
}

impl Outcome {
    fn verdict(self) -> FileVerdict {
        match self {
            Outcome::Suspicious => FileVerdict::Suspicious,
            Outcome::Inconclusive => FileVerdict::Inconclusive,
            Outcome::Unsafe => FileVerdict::Unsafe,
        }
    }
}

/// How the report is printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
    Sarif,
}

/// Options of `scan`.
pub struct ScanArgs {
    pub paths: Vec<PathBuf>,
    pub policy: PolicyArgs,
    pub limits: LimitArgs,
    pub format: Format,
    pub sarif_file: Option<PathBuf>,
    pub fail_on: Vec<Outcome>,
    pub emit_policy: bool,
    pub jobs: Option<usize>,
    pub progress: bool,
    pub quiet: bool,
    pub max_file: u64,
}

/// One file's result.
struct Scanned {
    path: String,
    bytes: u64,
    result: Result<FileReport, String>,
}

impl Scanned {
    fn verdict(&self) -> FileVerdict {
        match &self.result {
            Ok(report) => report.verdict(),
            // A file that cannot be read cannot be judged.
            Err(_) => FileVerdict::Inconclusive,
        }
    }
}

pub fn scan(args: ScanArgs) -> ExitCode {
    let (policy, policy_name) = match args.policy.resolve() {
        Ok(p) => p,
        Err(msg) => return fail(&msg, 1),
    };
    let options = ScanOptions {
        policy,
        limits: args.limits.apply(scan_limits()),
        ..ScanOptions::default()
    };
    let started = Instant::now();
    let (files, skipped) = if args.paths.len() == 1 && args.paths[0].as_os_str() == "-" {
        (vec![walk::Found { path: "-".into() }], Vec::new())
    } else {
        for path in &args.paths {
            if std::fs::symlink_metadata(path).is_err() {
                return fail(&format!("{}: no such file or directory", path.display()), 1);
            }
        }
        walk::collect(&args.paths)
    };
    // A skipped path (a link leaving the root, an unreadable directory) is counted as
    // inconclusive and said on stderr with the unreadable files below: a loader
    // following that link would read a file nobody scanned.

    let bar = if args.progress && !args.quiet && std::io::stderr().is_terminal() {
        let bar = ProgressBar::new(files.len() as u64);
        bar.set_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} files  {elapsed}  {wide_msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        Some(bar)
    } else {
        None
    };
    let scan_one = |found: &walk::Found| -> Scanned {
        let path = found.path.display().to_string();
        if let Some(bar) = &bar {
            bar.set_message(path.clone());
        }
        let result = read_bounded(&path, args.max_file).map(|data| {
            let report = scan_file(&data, &options);
            (data.len() as u64, report)
        });
        if let Some(bar) = &bar {
            bar.inc(1);
        }
        match result {
            Ok((bytes, report)) => Scanned {
                path,
                bytes,
                result: Ok(report),
            },
            Err(e) => Scanned {
                path,
                bytes: 0,
                result: Err(e),
            },
        }
    };
    let results: Vec<Scanned> = {
        use rayon::prelude::*;
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(args.jobs.unwrap_or(0))
            .build();
        match pool {
            Ok(pool) => pool.install(|| files.par_iter().map(scan_one).collect()),
            Err(_) => files.iter().map(scan_one).collect(),
        }
    };
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let mut results = results;
    results.extend(skipped.iter().map(|s| Scanned {
        path: s.path.display().to_string(),
        bytes: 0,
        result: Err(format!("skipped: {}", s.why)),
    }));
    let elapsed = started.elapsed();

    let mut printed = match args.format {
        Format::Text if args.emit_policy => policy_text(&results),
        Format::Text => text_report(&results, &policy_name, args.quiet, elapsed.as_secs_f64()),
        Format::Json => json_report(&results, &policy_name),
        Format::Sarif => sarif_report(&results),
    };
    if !printed.ends_with('\n') {
        printed.push('\n');
    }
    if let Some(path) = &args.sarif_file {
        if let Err(e) = std::fs::write(path, sarif_report(&results)) {
            return fail(&format!("cannot write {}: {e}", path.display()), 1);
        }
    }
    let code = emit(&printed);
    if code != ExitCode::SUCCESS {
        return code;
    }
    for r in &results {
        if let Err(e) = &r.result {
            eprintln!("pickleproof: {}: {e}", r.path);
        }
    }
    let worst = results
        .iter()
        .map(Scanned::verdict)
        .filter(|v| args.fail_on.iter().any(|o| o.verdict() == *v))
        .max();
    ExitCode::from(worst.map_or(0, FileVerdict::exit_code))
}

/// Text: one block per file that is not clean (every file without `--quiet`), then a
/// summary table.
fn text_report(results: &[Scanned], policy: &str, quiet: bool, seconds: f64) -> String {
    let mut out = String::new();
    let mut counts = [0u64; 4];
    let mut bytes = 0u64;
    for r in results {
        let verdict = r.verdict();
        if let Some(c) = counts.get_mut(verdict as usize) {
            *c += 1;
        }
        bytes += r.bytes;
        match &r.result {
            Ok(report) if verdict != FileVerdict::Clean || !quiet => {
                out.push_str(&render::text::text(report, &r.path));
            }
            Ok(_) => {}
            Err(e) => out.push_str(&format!("{}: verdict inconclusive (exit 2): {e}\n", r.path)),
        }
    }
    out.push_str(&format!(
        "\npolicy {policy}: {} file(s), {:.1} MB in {:.2} s\n",
        results.len(),
        bytes as f64 / 1e6,
        seconds
    ));
    for (verdict, count) in [
        FileVerdict::Clean,
        FileVerdict::Suspicious,
        FileVerdict::Inconclusive,
        FileVerdict::Unsafe,
    ]
    .iter()
    .zip(counts)
    {
        out.push_str(&format!("  {:<13}{count:>8}\n", verdict.name()));
    }
    out
}

/// JSON: one document with every file's report and the counts.
fn json_report(results: &[Scanned], policy: &str) -> String {
    let mut files = Vec::new();
    for r in results {
        files.push(match &r.result {
            Ok(report) => render::json::json(report, Some(&r.path), policy),
            Err(e) => {
                let mut doc = String::from("{\"file\":");
                push_json_string(&mut doc, &r.path);
                doc.push_str(",\"verdict\":\"inconclusive\",\"error\":");
                push_json_string(&mut doc, e);
                doc.push('}');
                doc
            }
        });
    }
    let count = |v: FileVerdict| results.iter().filter(|r| r.verdict() == v).count();
    let mut name = String::new();
    push_json_string(&mut name, policy);
    format!(
        "{{\"schema\":\"pickleproof-scan-files/1\",\"policy\":{},\"summary\":{{\"files\":{},\"clean\":{},\"suspicious\":{},\"inconclusive\":{},\"unsafe\":{}}},\"files\":[{}]}}",
        name,
        results.len(),
        count(FileVerdict::Clean),
        count(FileVerdict::Suspicious),
        count(FileVerdict::Inconclusive),
        count(FileVerdict::Unsafe),
        files.join(",")
    )
}

/// SARIF 2.1.0: one run over every file.
fn sarif_report(results: &[Scanned]) -> String {
    let reports: Vec<(&FileReport, &str)> = results
        .iter()
        .filter_map(|r| r.result.as_ref().ok().map(|rep| (rep, r.path.as_str())))
        .collect();
    render::sarif::sarif_files(&reports)
}

/// `--emit-policy`: the policy every file needs, one entry per line, sorted.
fn policy_text(results: &[Scanned]) -> String {
    let mut lines = BTreeSet::new();
    for r in results {
        if let Ok(report) = &r.result {
            for line in emit_policy(report).lines() {
                if !line.trim().is_empty() && !line.starts_with('#') {
                    lines.insert(line.to_owned());
                }
            }
        }
    }
    let mut out = String::from("# the policy these files need (pickleproof scan --emit-policy)\n");
    for line in lines {
        out.push_str(&line);
        out.push('\n');
    }
    out
}
