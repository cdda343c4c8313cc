//! The `python` fuzz target's body over every pickle and checkpoint of the corpus
//! (the seeds, the hostile files, the bombs, the fuzz findings, every regression,
//! the PyTorch files), so a crash the fuzzer finds, once minimised into
//! `corpus/regressions/`, is replayed here forever.

use std::path::{Path, PathBuf};

fn pickles(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            pickles(&path, out);
        } else if path.extension().is_some_and(|e| e == "pkl" || e == "pt")
            || path.file_name().is_some_and(|n| {
                n.to_string_lossy().starts_with("python-")
                    && path.extension().is_some_and(|e| e != "txt")
            })
        {
            out.push(path);
        }
    }
}

#[test]
fn every_corpus_pickle_and_checkpoint_holds_the_python_oracles() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../corpus");
    let mut files = Vec::new();
    pickles(&corpus, &mut files);
    files.sort();
    assert!(files.len() > 1000, "only {} pickles found", files.len());
    let failed: Vec<String> = files
        .iter()
        .filter_map(|path| {
            let data = std::fs::read(path).ok()?;
            let run = std::panic::catch_unwind(|| _pickleproof::harness::run_loads(&data));
            run.is_err().then(|| path.display().to_string())
        })
        .collect();
    assert!(
        failed.is_empty(),
        "{} files broke an oracle: {failed:#?}",
        failed.len()
    );
}
