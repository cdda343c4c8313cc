//! Times typed deserialization of one benchmark input, for instruction counts that the
//! machine's load does not change (`perf stat -e instructions:u`).
//!
//! ```text
//! python3 benches/gen_inputs.py     # once: target/bench-inputs/
//! cargo build --release --features serde --example bench_typed
//! perf stat -e instructions:u target/release/examples/bench_typed ints pickleproof 1
//! ```
//!
//! Arguments: the workload (`ints`, `str_float`, `bytes_1k`, `json_doc`), the library
//! (`pickleproof`: `pickleproof::serde::from_slice`; `serde-pickle`:
//! `serde_pickle::from_slice`; `read`: only read the file, the baseline to subtract;
//! `decode`: only `Decoder::decode`, the graph dropped; `floor`: only the target's
//! own work, see below) and the number of runs. Prints each run's time in
//! milliseconds, drop excluded.
//!
//! `floor` (`str_float` and `json_doc`) measures what no deserializer can avoid:
//! building and dropping the typed value itself. For `str_float`, a
//! `HashMap<String, f64>` built from a ready `Vec<(&str, f64)>`; for `json_doc`, a
//! clone of the document (every `String` and `Vec` allocated and filled again) and
//! its drop. Only `floor_work` counts:
//!
//! ```text
//! valgrind --tool=callgrind --toggle-collect='bench_typed::floor_work*' \
//!     target/release/examples/bench_typed str_float floor 1
//! ```

use std::time::Instant;

use serde::de::DeserializeOwned;

#[path = "../benches/support/typed.rs"]
#[allow(dead_code)]
mod typed;

fn run<T: DeserializeOwned>(data: &[u8], library: &str, runs: usize) -> Result<(), String> {
    for _ in 0..runs {
        let start = Instant::now();
        let value: T = match library {
            "pickleproof" => pickleproof::serde::from_slice(data).map_err(|e| e.to_string())?,
            "serde-pickle" => serde_pickle::from_slice(data, serde_pickle::DeOptions::new())
                .map_err(|e| e.to_string())?,
            "read" => return Ok(()),
            "decode" => {
                let start = Instant::now();
                let decoded = pickleproof::Decoder::new()
                    .decode(data)
                    .map_err(|e| e.to_string())?;
                let took = start.elapsed();
                drop(std::hint::black_box(decoded));
                println!("{:.3}", took.as_secs_f64() * 1e3);
                continue;
            }
            other => return Err(format!("unknown library {other}")),
        };
        let took = start.elapsed();
        drop(std::hint::black_box(value));
        println!("{:.3}", took.as_secs_f64() * 1e3);
    }
    Ok(())
}

/// The target's own work (see the module docs), out of line so callgrind can count
/// it alone.
#[inline(never)]
fn floor_work<F: FnOnce() -> R, R>(f: F) {
    drop(std::hint::black_box(f()));
}

fn floor(workload: &str, data: &[u8]) -> Result<(), String> {
    match workload {
        "str_float" => {
            let map: typed::StrFloat =
                pickleproof::serde::from_slice(data).map_err(|e| e.to_string())?;
            let pairs: Vec<(&str, f64)> = map.iter().map(|(k, v)| (k.as_str(), *v)).collect();
            floor_work(|| {
                // What serde's map visitor reserves: the size hint, capped at 1 MiB.
                let cap = pairs
                    .len()
                    .min((1 << 20) / std::mem::size_of::<(String, f64)>());
                let mut built = typed::StrFloat::with_capacity(cap);
                for (k, v) in &pairs {
                    built.insert((*k).to_owned(), *v);
                }
                built
            });
        }
        "json_doc" => {
            let doc: typed::Doc =
                pickleproof::serde::from_slice(data).map_err(|e| e.to_string())?;
            floor_work(|| doc.clone());
        }
        other => return Err(format!("no floor for {other}")),
    }
    Ok(())
}

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [workload, library, runs] = args.as_slice() else {
        return Err("usage: bench_typed WORKLOAD LIBRARY RUNS".into());
    };
    let runs: usize = runs.parse().map_err(|e| format!("runs: {e}"))?;
    let path = format!(
        "{}/target/bench-inputs/{workload}.pkl",
        env!("CARGO_MANIFEST_DIR")
    );
    let data = std::fs::read(&path).map_err(|e| format!("{path}: {e}"))?;
    if library == "floor" {
        return floor(workload, &data);
    }
    match workload.as_str() {
        "ints" => run::<typed::Ints>(&data, library, runs),
        "str_float" => run::<typed::StrFloat>(&data, library, runs),
        "bytes_1k" => run::<typed::Bytes>(&data, library, runs),
        "json_doc" => run::<typed::Doc>(&data, library, runs),
        other => Err(format!("unknown workload {other}")),
    }
}
