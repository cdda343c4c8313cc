//! `pickleproof`: inspect untrusted pickle files without running them.
//!
//! A thin shell over the library: read the input (bounded), decode, then print the
//! whole result or nothing. On any error stdout stays empty, stderr gets one line, and
//! the exit code says what kind of failure it was:
//! 0 success; 1 usage or I/O error; 2 malformed or truncated stream; 3 a budget was
//! exceeded; 4 the policy refused a global (or a persistent id, extension code,
//! missing buffer or computed call).
//!
//! `scan` is the exception to "whole or nothing": its report of what the file would
//! import and call is useful even when a stream is cut or over budget, so it prints
//! everything found, and exits by the file's verdict: 0 clean, 4 suspicious,
//! 2 inconclusive, 5 unsafe (`FileVerdict::exit_code`).

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use pickleproof::container::zip::{looks_like_zip, ZipArchive, ZipEntry, ZipLimits};
use pickleproof::scan::{render, scan_file, scan_limits, FileVerdict, ScanOptions};
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

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum FormatArg {
    /// One line per finding and a verdict line.
    Text,
    /// The JSON report (pickleproof-scan/1).
    Json,
    /// SARIF 2.1.0.
    Sarif,
}

#[derive(Clone, Copy, ValueEnum)]
enum EncodingArg {
    Ascii,
    Latin1,
    Bytes,
}

/// The budgets a command may set; unset ones keep `Limits::default()`.
#[derive(clap::Args)]
struct LimitArgs {
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
}

impl LimitArgs {
    fn limits(&self) -> Limits {
        self.over(Limits::default())
    }

    /// `base` with the limits given on the command line.
    fn over(&self, base: Limits) -> Limits {
        let mut limits = base;
        if let Some(v) = self.max_memory {
            limits.max_memory_bytes = v;
        }
        if let Some(v) = self.max_input {
            limits.max_input_bytes = v;
        }
        if let Some(v) = self.max_steps {
            limits.max_steps = v;
        }
        if let Some(v) = self.max_depth {
            limits.max_depth = v;
        }
        limits
    }
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
        #[command(flatten)]
        limits: LimitArgs,
        /// Protocol 5 out-of-band buffer, in order (repeat for several).
        #[arg(long = "buffer")]
        buffers: Vec<PathBuf>,
        /// Add the resource usage to the JSON document.
        #[arg(long)]
        usage: bool,
        /// In a ZIP archive (a PyTorch checkpoint), the pickle to read; needed only
        /// when the archive holds more than one.
        #[arg(long)]
        entry: Option<String>,
        /// The pickle file (or ZIP archive holding pickles), or - for standard input.
        #[arg(default_value = "-")]
        file: String,
    },
    /// Scan a file for what loading it would do: every pickle in it (in every ZIP
    /// member, back to back, nested in pickle.loads-like calls), each import, call,
    /// persistent id, extension code and missing buffer with its offset and verdict,
    /// loader hazards and container anomalies; nothing is executed. Exit 0: clean;
    /// 4: suspicious (only globals the policy does not list); 2: inconclusive (not
    /// read whole: malformed, over budget, unreadable layer); 5: unsafe (something
    /// known to be dangerous, a loader hazard, an evasion).
    Scan {
        /// Print the JSON report (same as --format json).
        #[arg(long)]
        json: bool,
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        format: FormatArg,
        /// Print the minimal policy the file needs instead of the report.
        #[arg(long)]
        emit_policy: bool,
        /// The allowlist: a site is allowed exactly when this policy allows it.
        #[arg(long, value_enum, default_value = "strict")]
        policy: PolicyArg,
        #[command(flatten)]
        limits: LimitArgs,
        /// The file (a pickle, a ZIP archive...), or - for standard input.
        #[arg(default_value = "-")]
        file: String,
    },
    /// Print the opcodes, like `python -m pickletools`.
    Disasm {
        /// In a ZIP archive, the pickle to read (needed when it holds more than one).
        #[arg(long)]
        entry: Option<String>,
        /// The pickle file (or ZIP archive), or - for standard input.
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

/// What a command reads: the file's bytes, or the pickles inside a ZIP archive.
enum Input {
    Pickle(Vec<u8>),
    Archive(Vec<(String, Vec<u8>)>),
}

/// Reads `file`; a ZIP archive (by its magic bytes) is opened and the pickles named by
/// `entry` (or all of them) are read out, each within `limit` bytes.
/// A failure to read the input: the message and the exit code (1 for I/O and usage,
/// 2 for a broken archive, 3 for an archive over its limits).
type InputError = (String, u8);

fn archive_error(file: &str, what: &str, e: &Error) -> InputError {
    (format!("{file}: {what}{e}"), exit_code_for(e))
}

fn read_pickles(file: &str, limit: u64, entry: Option<&str>) -> Result<Input, InputError> {
    let zip_limits = ZipLimits {
        max_entry_bytes: limit,
        ..ZipLimits::default()
    };
    let is_zip_file = file != "-" && {
        let mut head = [0u8; 4];
        std::fs::File::open(file)
            .and_then(|mut f| f.read(&mut head))
            .map(|n| looks_like_zip(&head[..n]))
            .unwrap_or(false)
    };
    // An archive is read whole (its directory sits at the end); its entries are
    // bounded by `limit` one by one.
    let data = if is_zip_file {
        std::fs::read(file).map_err(|e| (format!("cannot read {file}: {e}"), 1))?
    } else {
        read_input(file, limit).map_err(|msg| (msg, 1))?
    };
    if looks_like_zip(&data) {
        let archive =
            ZipArchive::open(&data, zip_limits).map_err(|e| archive_error(file, "", &e))?;
        return read_archive(file, &archive, entry).map(Input::Archive);
    }
    Ok(Input::Pickle(data))
}

fn read_archive(
    file: &str,
    archive: &ZipArchive<'_>,
    entry: Option<&str>,
) -> Result<Vec<(String, Vec<u8>)>, InputError> {
    let chosen: Vec<ZipEntry> = match entry {
        Some(name) => archive
            .entries()
            .iter()
            .filter(|e| e.name == name)
            .cloned()
            .collect(),
        None => archive.pickles(),
    };
    if chosen.is_empty() {
        let names: Vec<&str> = archive.entries().iter().map(|e| e.name.as_str()).collect();
        let message = match entry {
            Some(name) => format!("{file}: no entry {name:?} (entries: {})", names.join(", ")),
            None => format!(
                "{file}: no .pkl entry in the archive (entries: {})",
                names.join(", ")
            ),
        };
        return Err((message, 1));
    }
    let mut out = Vec::new();
    for e in chosen {
        let bytes = archive
            .read(&e)
            .map_err(|err| archive_error(file, &format!("{}: ", e.name), &err))?;
        out.push((e.name, bytes));
    }
    Ok(out)
}

/// For commands that read one pickle: the file's, or the archive's only (or chosen) one.
fn read_one_pickle(file: &str, limit: u64, entry: Option<&str>) -> Result<Vec<u8>, InputError> {
    match read_pickles(file, limit, entry)? {
        Input::Pickle(data) => Ok(data),
        Input::Archive(mut pickles) => {
            if pickles.len() > 1 {
                let names: Vec<&str> = pickles.iter().map(|(n, _)| n.as_str()).collect();
                let message = format!(
                    "{file} holds {} pickles; choose one with --entry ({})",
                    pickles.len(),
                    names.join(", ")
                );
                return Err((message, 1));
            }
            Ok(pickles.pop().map(|(_, data)| data).unwrap_or_default())
        }
    }
}

fn exit_code_for(err: &Error) -> u8 {
    match err.kind() {
        ErrorKind::Limit { .. } => 3,
        ErrorKind::Forbidden { .. }
        | ErrorKind::PersistentIdRefused
        | ErrorKind::ExtensionRefused(_)
        | ErrorKind::ComputedCallRefused { .. }
        | ErrorKind::CallRefused { .. }
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
            limits,
            buffers,
            usage,
            entry,
            file,
        } => {
            let limits = limits.limits();
            let policy = policy.policy();
            let encoding = match encoding {
                EncodingArg::Ascii => StringEncoding::Ascii,
                EncodingArg::Latin1 => StringEncoding::Latin1,
                EncodingArg::Bytes => StringEncoding::Bytes,
            };
            let data = match read_one_pickle(&file, limits.max_input_bytes, entry.as_deref()) {
                Ok(d) => d,
                Err((msg, code)) => return fail(&msg, code),
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
            format,
            emit_policy,
            policy,
            limits,
            file,
        } => {
            let options = ScanOptions {
                policy: policy.policy(),
                limits: limits.over(scan_limits()),
                ..ScanOptions::default()
            };
            let limit = options.limits.max_input_bytes;
            let data = match read_input(&file, limit) {
                Ok(d) => d,
                Err(msg) => return fail(&msg, 1),
            };
            if data.len() as u64 > limit {
                return fail(
                    &format!("{file} is larger than --max-input ({limit} bytes): not scanned"),
                    FileVerdict::Inconclusive.exit_code(),
                );
            }
            let report = scan_file(&data, &options);
            let name = if file == "-" {
                "<stdin>"
            } else {
                file.as_str()
            };
            let mut text = if emit_policy {
                pickleproof::scan::emit_policy(&report)
            } else if as_json || format == FormatArg::Json {
                let mut doc = render::json::json(&report, Some(name), policy.name());
                doc.push('\n');
                doc
            } else if format == FormatArg::Sarif {
                let mut log = render::sarif::sarif(&report, name);
                log.push('\n');
                log
            } else {
                render::text::text(&report, name)
            };
            if text.is_empty() && emit_policy {
                text.push_str("# the file needs nothing beyond built-in data\n");
            }
            let printed = emit(&text);
            if printed != ExitCode::SUCCESS {
                return printed;
            }
            ExitCode::from(report.verdict().exit_code())
        }
        Command::Disasm { entry, file } => {
            let limit = Limits::default().max_input_bytes;
            let data = match read_one_pickle(&file, limit, entry.as_deref()) {
                Ok(d) => d,
                Err((msg, code)) => return fail(&msg, code),
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
