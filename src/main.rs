//! `pickleproof`: inspect untrusted pickle files without running them.
//!
//! A thin shell over the library: read the input (bounded), decode, then print the
//! whole result or nothing. On any error stdout stays empty, stderr gets one line, and
//! the exit code says what kind of failure it was:
//! 0 success; 1 usage or I/O error; 2 malformed or truncated stream; 3 a budget was
//! exceeded; 4 the policy refused a global (or a persistent id / extension / buffer).
//!
//! `scan` is the exception to "whole or nothing": its report of what the stream would
//! import and call is useful even when the stream is cut or over budget, so it prints
//! the sites found and then says, on stdout and stderr, that the report is incomplete
//! (and exits 2 or 3).

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use pickleproof::views::{disasm, json, repr};
use pickleproof::{Decoder, Error, ErrorKind, Limits, Opcode, Policy, StringEncoding};

#[derive(Parser)]
#[command(
    name = "pickleproof",
    version,
    about = "Decode untrusted Python pickles without executing them"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum PolicyArg {
    /// Only built-in data (and the reconstructors CPython writes for sets, bytes...).
    Strict,
    /// Any global, described and never resolved: for inspection.
    Inert,
    /// Strict plus what PyTorch checkpoints need.
    Pytorch,
    /// Strict plus what NumPy arrays need.
    Numpy,
}

impl PolicyArg {
    fn policy(self) -> Policy {
        match self {
            PolicyArg::Strict => Policy::strict(),
            PolicyArg::Inert => Policy::inert(),
            PolicyArg::Pytorch => Policy::pytorch(),
            PolicyArg::Numpy => Policy::numpy(),
        }
    }

    fn name(self) -> &'static str {
        match self {
            PolicyArg::Strict => "strict",
            PolicyArg::Inert => "inert",
            PolicyArg::Pytorch => "pytorch",
            PolicyArg::Numpy => "numpy",
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum EncodingArg {
    Ascii,
    Latin1,
    Bytes,
}

#[derive(Subcommand)]
enum Command {
    /// Decode and print the value (Python-like repr, or JSON with --json).
    Dump {
        /// Print the lossless JSON form (pickle-canon/1).
        #[arg(long)]
        json: bool,
        /// Keep every call and name exactly as written (no reconstructor folding).
        #[arg(long)]
        raw: bool,
        /// Which globals may appear.
        #[arg(long, value_enum, default_value = "strict")]
        policy: PolicyArg,
        /// How Python 2 strings are decoded.
        #[arg(long, value_enum, default_value = "ascii")]
        encoding: EncodingArg,
        /// Memory budget, e.g. 64MiB.
        #[arg(long, value_parser = parse_size)]
        max_memory: Option<u64>,
        /// Input budget, e.g. 1GiB.
        #[arg(long, value_parser = parse_size)]
        max_input: Option<u64>,
        /// Fuel budget (about one per opcode).
        #[arg(long)]
        max_steps: Option<u64>,
        /// Nesting budget.
        #[arg(long)]
        max_depth: Option<u64>,
        /// Protocol 5 out-of-band buffer, in order (repeat for several).
        #[arg(long = "buffer")]
        buffers: Vec<PathBuf>,
        /// Add the resource usage to the JSON document.
        #[arg(long)]
        usage: bool,
        /// The pickle file, or - for standard input.
        #[arg(default_value = "-")]
        file: String,
    },
    /// List every import, call, persistent id, extension code and missing buffer the
    /// stream asks for, with offsets and the policy's verdict (nothing is executed).
    /// Exit 0: the policy allows everything; 4: it refuses something; 2/3: the stream
    /// is malformed or over budget (the report then covers the sites before that).
    Scan {
        /// Print the report as one JSON object.
        #[arg(long)]
        json: bool,
        /// The policy whose verdicts are reported.
        #[arg(long, value_enum, default_value = "strict")]
        policy: PolicyArg,
        /// Memory budget, e.g. 64MiB.
        #[arg(long, value_parser = parse_size)]
        max_memory: Option<u64>,
        /// Input budget, e.g. 1GiB.
        #[arg(long, value_parser = parse_size)]
        max_input: Option<u64>,
        /// Fuel budget (about one per opcode).
        #[arg(long)]
        max_steps: Option<u64>,
        /// The pickle file, or - for standard input.
        #[arg(default_value = "-")]
        file: String,
    },
    /// Print the opcodes, like `python -m pickletools`.
    Disasm {
        /// The pickle file, or - for standard input.
        #[arg(default_value = "-")]
        file: String,
    },
}

/// Parses `64MiB`, `1GiB`, `512KiB`, `100MB`, `4096`.
fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '_')
        .unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let n: u64 = digits
        .replace('_', "")
        .parse()
        .map_err(|_| format!("not a size: {text:?} (try 64MiB)"))?;
    let scale: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "t" | "tib" => 1 << 40,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        other => return Err(format!("unknown size unit {other:?} (use KiB, MiB, GiB)")),
    };
    n.checked_mul(scale)
        .ok_or_else(|| format!("size too large: {text:?}"))
}

/// Reads at most `limit` bytes (plus one, so the decoder sees that more followed).
fn read_input(file: &str, limit: u64) -> Result<Vec<u8>, String> {
    let cap = limit.saturating_add(1);
    let mut data = Vec::new();
    let result = if file == "-" {
        std::io::stdin().lock().take(cap).read_to_end(&mut data)
    } else {
        std::fs::File::open(file).and_then(|f| f.take(cap).read_to_end(&mut data))
    };
    result.map_err(|e| format!("cannot read {file}: {e}"))?;
    Ok(data)
}

fn exit_code_for(err: &Error) -> u8 {
    match err.kind() {
        ErrorKind::Limit { .. } => 3,
        ErrorKind::Forbidden { .. }
        | ErrorKind::PersistentIdRefused
        | ErrorKind::ExtensionRefused(_)
        | ErrorKind::BufferMissing => 4,
        ErrorKind::Io(_) => 1,
        _ => 2,
    }
}

/// One line: kind, offset, opcode, the message, budget details and a hex window.
fn error_line(err: &Error, data: &[u8]) -> String {
    let opcode = match err.opcode() {
        Some(b) => Opcode::from_byte(b)
            .map(|o| o.name().to_owned())
            .unwrap_or_else(|| format!("0x{b:02x}")),
        None => "-".to_owned(),
    };
    let mut line = format!(
        "pickleproof: error: {} at offset {} (opcode {}): {}",
        err.kind().name(),
        err.offset(),
        opcode,
        err.kind()
    );
    if let ErrorKind::Limit {
        resource, limit, ..
    } = err.kind()
    {
        line.push_str(&format!("; resource={resource} limit={limit}"));
    }
    let at = usize::try_from(err.offset())
        .unwrap_or(usize::MAX)
        .min(data.len());
    let start = at.saturating_sub(8);
    let end = at.saturating_add(8).min(data.len());
    let hex = |bytes: &[u8]| {
        bytes
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    line.push_str(&format!(
        "; bytes {start:#x}: {} [{}]",
        hex(data.get(start..at).unwrap_or_default()),
        hex(data.get(at..end).unwrap_or_default())
    ));
    line
}

fn fail(message: &str, code: u8) -> ExitCode {
    eprintln!("pickleproof: error: {message}");
    ExitCode::from(code)
}

fn emit(text: &str) -> ExitCode {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => fail(&format!("cannot write output: {e}"), 1),
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 1 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match cli.command {
        Command::Dump {
            json: as_json,
            raw,
            policy,
            encoding,
            max_memory,
            max_input,
            max_steps,
            max_depth,
            buffers,
            usage,
            file,
        } => {
            let mut limits = Limits::default();
            if let Some(v) = max_memory {
                limits.max_memory_bytes = v;
            }
            if let Some(v) = max_input {
                limits.max_input_bytes = v;
            }
            if let Some(v) = max_steps {
                limits.max_steps = v;
            }
            if let Some(v) = max_depth {
                limits.max_depth = v;
            }
            let policy = policy.policy();
            let encoding = match encoding {
                EncodingArg::Ascii => StringEncoding::Ascii,
                EncodingArg::Latin1 => StringEncoding::Latin1,
                EncodingArg::Bytes => StringEncoding::Bytes,
            };
            let data = match read_input(&file, limits.max_input_bytes) {
                Ok(d) => d,
                Err(msg) => return fail(&msg, 1),
            };
            let mut decoder = Decoder::new()
                .limits(limits)
                .policy(policy)
                .raw(raw)
                .string_encoding(encoding);
            if !buffers.is_empty() {
                let mut loaded = Vec::new();
                for path in &buffers {
                    match std::fs::read(path) {
                        Ok(b) => loaded.push(b),
                        Err(e) => {
                            return fail(&format!("cannot read buffer {}: {e}", path.display()), 1)
                        }
                    }
                }
                decoder = decoder.buffers(loaded);
            }
            let decoded = match decoder.decode(&data) {
                Ok(d) => d,
                Err(e) => {
                    eprintln!("{}", error_line(&e, &data));
                    return ExitCode::from(exit_code_for(&e));
                }
            };
            let mut text = if as_json {
                let mut doc = json::to_json(&decoded.graph, decoded.root);
                if usage {
                    let u = decoded.usage;
                    doc.pop(); // the closing brace
                    doc.push_str(&format!(
                        ",\"usage\":{{\"input_bytes\":{},\"steps\":{},\"memory_bytes\":{},\"depth\":{},\"memo_entries\":{},\"container_len\":{},\"int_digits\":{},\"int_bytes\":{}}}}}",
                        u.input_bytes, u.steps, u.memory_bytes, u.depth, u.memo_entries, u.container_len, u.int_digits, u.int_bytes
                    ));
                }
                doc
            } else {
                repr::repr(&decoded.graph, decoded.root)
            };
            text.push('\n');
            emit(&text)
        }
        Command::Scan {
            json: as_json,
            policy,
            max_memory,
            max_input,
            max_steps,
            file,
        } => {
            let mut limits = Limits::default();
            if let Some(v) = max_memory {
                limits.max_memory_bytes = v;
            }
            if let Some(v) = max_input {
                limits.max_input_bytes = v;
            }
            if let Some(v) = max_steps {
                limits.max_steps = v;
            }
            let data = match read_input(&file, limits.max_input_bytes) {
                Ok(d) => d,
                Err(msg) => return fail(&msg, 1),
            };
            let decoder = Decoder::new().limits(limits).policy(policy.policy());
            let report = decoder.scan(&data);
            let mut text = if as_json {
                report.to_json(policy.name())
            } else {
                report.to_text(policy.name())
            };
            if !text.ends_with('\n') {
                text.push('\n');
            }
            if let Some(e) = &report.error {
                eprintln!("{}", error_line(e, &data));
                eprintln!("pickleproof: the scan report is INCOMPLETE: it covers the sites before offset {}", e.offset());
            }
            let printed = emit(&text);
            if printed != ExitCode::SUCCESS {
                return printed;
            }
            match &report.error {
                Some(e) => ExitCode::from(exit_code_for(e)),
                None if report.refused().next().is_some() => ExitCode::from(4),
                None => ExitCode::SUCCESS,
            }
        }
        Command::Disasm { file } => {
            let data = match read_input(&file, Limits::default().max_input_bytes) {
                Ok(d) => d,
                Err(msg) => return fail(&msg, 1),
            };
            let listing = disasm::disassemble(&data, &disasm::DisasmOptions::default());
            match listing.error {
                None => emit(&listing.text),
                Some((offset, message)) => {
                    eprintln!("pickleproof: error: malformed at offset {offset}: {message}");
                    ExitCode::from(2)
                }
            }
        }
    }
}
