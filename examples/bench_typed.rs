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
//! `serde_pickle::from_slice`; `read`: only read the file, the baseline to subtract)
//! and the number of runs. Prints each run's time in milliseconds, drop excluded.

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
            other => return Err(format!("unknown library {other}")),
        };
        let took = start.elapsed();
        drop(std::hint::black_box(value));
        println!("{:.3}", took.as_secs_f64() * 1e3);
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
    match workload.as_str() {
        "ints" => run::<typed::Ints>(&data, library, runs),
        "str_float" => run::<typed::StrFloat>(&data, library, runs),
        "bytes_1k" => run::<typed::Bytes>(&data, library, runs),
        "json_doc" => run::<typed::Doc>(&data, library, runs),
        other => Err(format!("unknown workload {other}")),
    }
}
