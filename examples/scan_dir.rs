//! Decodes every `.pkl` under a folder and prints one line per file (ok or the error).
//!
//! `cargo run --release --example scan_dir -- corpus/seed`
use pickleproof::{Decoder, Policy};

fn main() {
    let dir = std::env::args().nth(1).unwrap_or_else(|| "corpus".into());
    let inert = std::env::args().any(|a| a == "--inert");
    let decoder = if inert {
        Decoder::new().policy(Policy::inert())
    } else {
        Decoder::new()
    };
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    paths.sort();
    for path in paths
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "pkl"))
    {
        let data = std::fs::read(path).unwrap_or_default();
        let t = std::time::Instant::now();
        match decoder.decode(&data) {
            Ok(d) => println!(
                "ok   {} nodes={} {:?}",
                path.display(),
                d.graph.len(),
                t.elapsed()
            ),
            Err(e) => println!("err  {} {} {:?}", path.display(), e, t.elapsed()),
        }
    }
}
