//! Acceptance: what `pickleproof scan --policy ml` says of real files and of attacks.
//!
//! - Every file of `corpus/benign/` (what numpy, pandas, scikit-learn, joblib, PyTorch
//!   and the standard library write, in every container and compression, plus the
//!   corpus's own scripts and notes, which are no pickles) is clean under the `ml`
//!   preset, except the short [`BORDERLINE`] list, each with its verdict and why.
//! - Every file of `corpus/hostile/` is unsafe or inconclusive under the same preset
//!   (and under strict), never suspicious or clean. Each gets `techniques.json`'s
//!   `expect` unless `scan::KNOWN_DIFFERENCES` says why not (the same files as under
//!   strict: the scan is stricter than the corpus's expectation). `--nocapture`
//!   prints a table per technique class.
//! - `corpus/compat/` (harmless Python 2 names) gets [`COMPAT_UNDER_ML`]'s verdicts.
//!
//! The permissive preset is the point: it is the policy a user picks to stop false
//! alarms, so it must not let an attack through.

use std::collections::BTreeMap;
use std::path::PathBuf;

use pickleproof::scan::{scan_file, Callee, FileReport, FileVerdict, Finding, ScanOptions};
use pickleproof::Policy;

use crate::support::corpus_dir;

fn ml() -> ScanOptions {
    ScanOptions {
        policy: Policy::ml(),
        ..ScanOptions::default()
    }
}

/// Benign files that are not clean under `ml`: (file, verdict, why).
const BORDERLINE: &[(&str, &str, &str)] = &[
    (
        "pt_torchscript.pt",
        "suspicious",
        "TorchScript: torch.jit.load (and torch.load, which hands the archive over) runs the \
         code in code/ (PP043), and its pickle names the model's own __torch__ classes",
    ),
    (
        "std_functools_partial.p4.pkl",
        "suspicious",
        "functools.partial is on no allowlist: it calls whatever it wraps (the manifest \
         expects suspicious too)",
    ),
];

/// Every file under `dir`, sorted, subdirectories included.
fn files_under(dir: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![corpus_dir().join(dir)];
    while let Some(d) = dirs.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// The rules a report raised, deduplicated, for failure messages.
fn rules(report: &FileReport) -> String {
    let mut seen: Vec<String> = report
        .issues()
        .iter()
        .map(|i| format!("{} {}", i.rule.id, i.rule.name))
        .collect();
    seen.dedup();
    seen.join(", ")
}

#[test]
fn benign_files_are_clean_under_ml_except_the_borderline_ones() {
    let root = corpus_dir().join("benign");
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("manifest.json")).unwrap())
            .unwrap();
    let files = files_under("benign");
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    let mut wrong = Vec::new();
    let mut borderline_seen = Vec::new();
    for path in &files {
        let name = path
            .strip_prefix(&root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let report = scan_file(&std::fs::read(path).unwrap(), &ml());
        let got = report.verdict().name();
        *counts.entry(got).or_default() += 1;
        let want = match BORDERLINE.iter().find(|(f, _, _)| *f == name) {
            Some((f, verdict, _)) => {
                borderline_seen.push(*f);
                *verdict
            }
            None => "clean",
        };
        if got != want {
            wrong.push(format!(
                "{name}: {got}, expected {want} ({})",
                rules(&report)
            ));
        }
        // The manifest's own expectation agrees with the list.
        if let Some(expect) = manifest[&name]["expect"].as_str() {
            if expect != "clean" && want == "clean" {
                wrong.push(format!(
                    "{name}: the manifest expects {expect}, BORDERLINE does not list it"
                ));
            }
        }
    }
    for (f, _, _) in BORDERLINE {
        if !borderline_seen.contains(f) {
            wrong.push(format!("{f}: listed in BORDERLINE, not in corpus/benign"));
        }
    }
    println!("corpus/benign under ml: {} files, {counts:?}", files.len());
    assert!(files.len() > 440, "{}", files.len());
    assert!(
        wrong.is_empty(),
        "{} file(s):\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

/// The files of `corpus/compat/`: Python 2 names that CPython's `fix_imports`
/// (protocol < 3) maps to harmless Python 3 ones. No attack; what they test is that the
/// mapping comes before the allowlist. (file, verdict under `ml`, the one global its
/// sites may name when clean: module, name, and the names as written).
///
/// `UserDict.UserDict` is what Python 2 called `collections.UserDict`, and `OBJ` makes
/// an empty one: `ml` (whose `stdlib-data` lists `collections:UserDict`) allows it, so
/// the file is clean. `exceptions.StandardError` maps to `builtins.Exception`, which
/// no preset lists and no gadget list knows: suspicious.
const COMPAT_UNDER_ML: &[(&str, FileVerdict, [&str; 4])] = &[
    (
        "p0_py2_name_mapping_userdict.pkl",
        FileVerdict::Clean,
        ["collections", "UserDict", "UserDict", "UserDict"],
    ),
    (
        "p0_py2_name_mapping_exceptions.pkl",
        FileVerdict::Suspicious,
        ["builtins", "Exception", "exceptions", "StandardError"],
    ),
];

#[test]
fn compat_names_are_mapped_before_the_allowlist() {
    let root = corpus_dir().join("compat");
    let listed: Vec<String> = crate::support::manifest("compat")
        .iter()
        .map(|e| e["file"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(listed.len(), COMPAT_UNDER_ML.len(), "{listed:?}");
    for (file, verdict, want) in COMPAT_UNDER_ML {
        assert!(
            listed.iter().any(|f| f == file),
            "{file} not in the manifest"
        );
        let data = std::fs::read(root.join(file)).unwrap();
        let report = scan_file(&data, &ml());
        if *verdict == FileVerdict::Clean {
            check_harmless(file, &report, *want).unwrap();
        } else {
            assert_eq!(report.verdict(), *verdict, "{file}: {}", rules(&report));
            let [module, name, written_module, written_name] = *want;
            let imports: Vec<_> = report
                .pickles
                .iter()
                .flat_map(|p| &p.sites)
                .filter_map(|s| match &s.finding {
                    Finding::Import {
                        module: m,
                        name: n,
                        written: Some((wm, wn)),
                    } => Some([m.as_str(), n, wm, wn]),
                    _ => None,
                })
                .collect();
            assert_eq!(
                imports,
                [[module, name, written_module, written_name]],
                "{file}"
            );
        }
        // Strict lists none of them.
        let strict = scan_file(&data, &ScanOptions::default());
        assert_ne!(strict.verdict(), FileVerdict::Clean, "{file}");
    }
}

/// A harmless file's report: clean, and every site allowed, naming exactly the mapped
/// global (an import with its written name, then calls of it).
fn check_harmless(file: &str, report: &FileReport, want: [&str; 4]) -> Result<(), String> {
    if report.verdict() != FileVerdict::Clean {
        return Err(format!("{file}: {}", rules(report)));
    }
    let [module, name, written_module, written_name] = want;
    let sites: Vec<_> = report.pickles.iter().flat_map(|p| &p.sites).collect();
    if sites.is_empty() || !sites.iter().all(|s| s.allowed) {
        return Err(format!("{file}: {} site(s), not all allowed", sites.len()));
    }
    for site in sites {
        let ok = match &site.finding {
            Finding::Import {
                module: m,
                name: n,
                written: Some((wm, wn)),
            } => [m, n, wm, wn] == [module, name, written_module, written_name],
            Finding::Call {
                callee: Callee::Global { module: m, name: n },
                ..
            } => [m, n] == [module, name],
            _ => false,
        };
        if !ok {
            return Err(format!("{file}: unexpected site {site:?}"));
        }
    }
    Ok(())
}

#[test]
fn hostile_files_are_unsafe_or_inconclusive_under_ml() {
    let root = corpus_dir().join("hostile");
    let techniques: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(root.join("techniques.json")).unwrap())
            .unwrap();
    // Every file there is a technique, but the corpus's own scripts and notes.
    let listed: Vec<&str> = techniques
        .iter()
        .map(|t| t["file"].as_str().unwrap())
        .collect();
    for path in files_under("hostile") {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let meta = [
            "TECHNIQUES.md",
            "generate_techniques.py",
            "manifest.json",
            "techniques.json",
        ];
        assert!(
            meta.contains(&name.as_str()) || listed.contains(&name.as_str()),
            "{name} is in corpus/hostile but not in techniques.json"
        );
    }
    // class -> (files, unsafe, inconclusive, suspicious, clean)
    let mut table: BTreeMap<String, [usize; 5]> = BTreeMap::new();
    let mut wrong = Vec::new();
    for t in &techniques {
        let file = t["file"].as_str().unwrap();
        let class = t["class"].as_str().unwrap().to_owned();
        let expect = t["expect"].as_str().unwrap();
        let report = scan_file(&std::fs::read(root.join(file)).unwrap(), &ml());
        let verdict = report.verdict();
        let row = table.entry(class.clone()).or_default();
        row[0] += 1;
        match verdict {
            FileVerdict::Unsafe => row[1] += 1,
            FileVerdict::Inconclusive => row[2] += 1,
            FileVerdict::Suspicious => row[3] += 1,
            FileVerdict::Clean => row[4] += 1,
        }
        // Never clean under strict, whatever the lists below say.
        let strict = scan_file(
            &std::fs::read(root.join(file)).unwrap(),
            &ScanOptions::default(),
        );
        assert_ne!(strict.verdict(), FileVerdict::Clean, "{file} ({class})");
        // Never clean under ml either.
        assert_ne!(
            verdict,
            FileVerdict::Clean,
            "{file} ({class}) is clean under ml: {}",
            rules(&report)
        );
        let got = verdict.name();
        let want = match crate::scan::KNOWN_DIFFERENCES
            .iter()
            .find(|(f, _, _)| *f == file)
        {
            Some((_, verdict, _)) => verdict,
            None => expect,
        };
        if got != want {
            wrong.push(format!(
                "{file} ({class}): {got}, expected {want} ({})",
                rules(&report)
            ));
        }
    }
    println!("corpus/hostile under --policy ml");
    let line = |name: &str, row: &[usize; 5]| {
        println!(
            "{name:<24}{:>6}{:>8}{:>14}{:>12}{:>7}",
            row[0], row[1], row[2], row[3], row[4]
        )
    };
    println!(
        "{:<24}{:>6}{:>8}{:>14}{:>12}{:>7}",
        "class", "files", "unsafe", "inconclusive", "suspicious", "clean"
    );
    let mut total = [0usize; 5];
    for (class, row) in &table {
        line(class, row);
        for (t, r) in total.iter_mut().zip(row) {
            *t += r;
        }
    }
    line("total", &total);
    assert_eq!(total[0], techniques.len());
    // Unsafe or inconclusive, every one.
    assert_eq!(total[3] + total[4], 0, "suspicious or clean hostile files");
    assert!(
        wrong.is_empty(),
        "{} file(s):\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}
