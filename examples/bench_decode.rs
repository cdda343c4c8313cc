//! Times decodes of one pickle file, for `benches/ratio.py`.
//!
//! ```text
//! cargo run --release --example bench_decode -- [--runs N] [--mode M] [--policy P] FILE
//! cargo run --release --example bench_decode -- --serve
//! ```
//!
//! Prints one JSON object per request: per-run decode and drop times in nanoseconds,
//! the graph size and the decode's [`Usage`](pickleproof::Usage), or the error.
//!
//! Modes: `default` (default limits), `unbounded` (`Limits::unbounded()`), `serde`
//! (`serde_pickle::value_from_slice`, the peer), `read` (read the file, decode
//! nothing: the baseline for a max-RSS measurement). Policies: `strict` (default),
//! `pytorch`, `inert`.
//!
//! `--serve` reads one JSON request per stdin line (`{"file": .., "mode": .., "runs":
//! .., "policy": ..}`) and answers each on stdout. ratio.py uses it so that it can
//! alternate single runs of CPython and of this process, which then share the
//! machine's noise, without paying process start-up and a cold heap on every run.
//!
//! Times exclude reading the file and dropping the result (dropping is timed
//! separately), because ratio.py times CPython's `pickle.loads` the same way.

use std::io::BufRead;
use std::time::Instant;

use pickleproof::{Decoder, Limits, Policy};
use serde_json::{json, Value};

/// One measurement request.
struct Request {
    file: String,
    mode: String,
    policy: String,
    runs: usize,
}

fn decoder(mode: &str, policy: &str) -> Result<Decoder, String> {
    let limits = match mode {
        "default" => Limits::default(),
        "unbounded" => Limits::unbounded(),
        other => return Err(format!("not a pickleproof mode: {other}")),
    };
    let policy = match policy {
        "strict" => Policy::strict(),
        "pytorch" => Policy::pytorch(),
        "inert" => Policy::inert(),
        other => return Err(format!("unknown policy: {other}")),
    };
    Ok(Decoder::new().limits(limits).policy(policy))
}

/// The input of the last request, kept while requests name the same file: ratio.py
/// holds its copy of the input for a whole workload on the CPython side, and reading
/// it again for every turn here would allocate and free a buffer the size of the
/// input between decodes, changing what the allocator keeps for the next decode.
#[derive(Default)]
struct InputCache {
    file: String,
    data: Vec<u8>,
}

impl InputCache {
    fn get(&mut self, file: &str) -> std::io::Result<&[u8]> {
        if self.file != file || self.data.is_empty() {
            self.data = std::fs::read(file)?;
            self.file = file.to_owned();
        }
        Ok(&self.data)
    }
}

/// Decodes the request's file `runs` times in `mode`; the JSON answer for one request.
fn measure(req: &Request, inputs: &mut InputCache) -> Value {
    let data = match inputs.get(&req.file) {
        Ok(d) => d,
        Err(e) => return json!({"ok": false, "error": format!("{}: {e}", req.file)}),
    };
    let mut decode_ns = Vec::with_capacity(req.runs);
    let mut drop_ns = Vec::with_capacity(req.runs);
    let mut extra = json!({});
    for _ in 0..req.runs {
        let start = Instant::now();
        match req.mode.as_str() {
            "read" => {
                decode_ns.push(0);
                drop_ns.push(0);
                continue;
            }
            "serde" => {
                let out = serde_pickle::value_from_slice(data, serde_pickle::DeOptions::new());
                decode_ns.push(start.elapsed().as_nanos() as u64);
                match out {
                    Ok(v) => {
                        let start = Instant::now();
                        drop(v);
                        drop_ns.push(start.elapsed().as_nanos() as u64);
                    }
                    Err(e) => return json!({"ok": false, "error": e.to_string()}),
                }
            }
            mode => {
                let dec = match decoder(mode, &req.policy) {
                    Ok(d) => d,
                    Err(e) => return json!({"ok": false, "error": e}),
                };
                let start = Instant::now();
                let out = dec.decode(data);
                decode_ns.push(start.elapsed().as_nanos() as u64);
                match out {
                    Ok(d) => {
                        let u = d.usage;
                        extra = json!({
                            "nodes": d.graph.len(),
                            "memory_bytes": u.memory_bytes,
                            "steps": u.steps,
                            "depth": u.depth,
                            "memo_entries": u.memo_entries,
                            "container_len": u.container_len,
                        });
                        let start = Instant::now();
                        drop(d);
                        drop_ns.push(start.elapsed().as_nanos() as u64);
                    }
                    Err(e) => {
                        return json!({
                            "ok": false,
                            "error": e.to_string(),
                            "resource": e.resource().map(|r| format!("{r:?}")),
                        })
                    }
                }
            }
        }
    }
    json!({
        "ok": true,
        "file": req.file,
        "mode": req.mode,
        "bytes": data.len(),
        "decode_ns": decode_ns,
        "drop_ns": drop_ns,
        "usage": extra,
    })
}

fn parse_args(args: &[String]) -> Result<Request, String> {
    let mut req = Request {
        file: String::new(),
        mode: "default".into(),
        policy: "strict".into(),
        runs: 1,
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = || it.next().cloned().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--runs" => req.runs = value()?.parse().map_err(|e| format!("--runs: {e}"))?,
            "--mode" => req.mode = value()?,
            "--policy" => req.policy = value()?,
            file => req.file = file.to_owned(),
        }
    }
    if req.file.is_empty() {
        return Err("usage: bench_decode [--runs N] [--mode M] [--policy P] FILE | --serve".into());
    }
    Ok(req)
}

fn parse_request(line: &str) -> Result<Request, String> {
    let v: Value = serde_json::from_str(line).map_err(|e| e.to_string())?;
    let text = |key: &str, default: &str| {
        v.get(key)
            .and_then(Value::as_str)
            .unwrap_or(default)
            .to_owned()
    };
    Ok(Request {
        file: text("file", ""),
        mode: text("mode", "default"),
        policy: text("policy", "strict"),
        runs: v.get("runs").and_then(Value::as_u64).unwrap_or(1) as usize,
    })
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut inputs = InputCache::default();
    if args.first().map(String::as_str) == Some("--serve") {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            let answer = match parse_request(&line) {
                Ok(req) => measure(&req, &mut inputs),
                Err(e) => json!({"ok": false, "error": e}),
            };
            println!("{answer}");
        }
        return;
    }
    match parse_args(&args) {
        Ok(req) => println!("{}", measure(&req, &mut inputs)),
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    }
}
