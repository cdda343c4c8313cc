//! The command line: one module per subcommand, thin over the library.

pub mod args;
pub mod dump;
pub mod input;
pub mod scan;
pub mod walk;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use args::{parse_size, EncodingArg, LimitArgs, PolicyArgs};
use input::DEFAULT_MAX_FILE;

#[derive(Parser)]
#[command(
    name = "pickleproof",
    version,
    about = "Decode and scan untrusted Python pickles and model files without executing them"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
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
        #[command(flatten)]
        policy: PolicyArgs,
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
        /// In a container (a PyTorch checkpoint, an .npz...), the pickle to read, by
        /// its location as `scan` prints it; needed only when there are several.
        #[arg(long)]
        entry: Option<String>,
        /// The most of the file that is read, e.g. 8GiB.
        #[arg(long, value_parser = parse_size, default_value_t = DEFAULT_MAX_FILE)]
        max_file: u64,
        /// The file (a pickle or any container holding one), or - for standard input.
        #[arg(default_value = "-")]
        file: String,
    },
    /// Judge files and directories: every pickle in every container, each import
    /// and call against the policy, loader hazards, container tricks. Prints a verdict
    /// per file (clean, suspicious, inconclusive, unsafe) and exits with the worst
    /// one among --fail-on: 0 clean, 2 inconclusive, 4 suspicious, 5 unsafe
    /// (1: usage or a missing path).
    Scan {
        #[command(flatten)]
        policy: PolicyArgs,
        #[command(flatten)]
        limits: LimitArgs,
        /// Print one JSON document.
        #[arg(long, conflicts_with = "sarif")]
        json: bool,
        /// Print SARIF 2.1.0 (for code-scanning dashboards).
        #[arg(long)]
        sarif: bool,
        /// Also write SARIF 2.1.0 to this file.
        #[arg(long)]
        sarif_file: Option<PathBuf>,
        /// Outcomes that make the exit code non-zero.
        #[arg(
            long,
            value_enum,
            value_delimiter = ',',
            default_value = "suspicious,inconclusive,unsafe"
        )]
        fail_on: Vec<scan::Outcome>,
        /// Print the exact policy the files need instead of the report.
        #[arg(long, conflicts_with_all = ["json", "sarif"])]
        emit_policy: bool,
        /// Files scanned at once (default: one per core).
        #[arg(long, short = 'j')]
        jobs: Option<usize>,
        /// No progress bar (it only shows on a terminal anyway).
        #[arg(long)]
        no_progress: bool,
        /// List only the files that are not clean, and the summary.
        #[arg(long, short = 'q')]
        quiet: bool,
        /// The most of one file that is read, e.g. 8GiB.
        #[arg(long, value_parser = parse_size, default_value_t = DEFAULT_MAX_FILE)]
        max_file: u64,
        /// Files and directories (recursive; links followed inside them only), or -
        /// for standard input.
        #[arg(default_value = "-")]
        paths: Vec<PathBuf>,
    },
    /// List the tensors of a PyTorch checkpoint (ZIP or legacy layout), validated,
    /// without loading it: name, dtype, shape, bytes. Exit 2 when a tensor is invalid
    /// (named in the message), 4 when the pickle imports what `pytorch` refuses.
    Tensors {
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// The checkpoint.
        file: PathBuf,
    },
    /// Convert a PyTorch checkpoint to safetensors without running it: every tensor of
    /// the state dict (or of the sub-dict --key names), contiguous, little-endian;
    /// tensors sharing bytes are refused with the names of all of them.
    Convert {
        /// Only the tensors under this key (e.g. state_dict), named relative to it.
        #[arg(long)]
        key: Option<String>,
        /// The checkpoint.
        input: PathBuf,
        /// The .safetensors file to write.
        output: PathBuf,
    },
    /// Print the opcodes, like `python -m pickletools`.
    Disasm {
        /// In a container, the pickle to read (needed when it holds more than one).
        #[arg(long)]
        entry: Option<String>,
        /// The most of the file that is read.
        #[arg(long, value_parser = parse_size, default_value_t = DEFAULT_MAX_FILE)]
        max_file: u64,
        /// The file, or - for standard input.
        #[arg(default_value = "-")]
        file: String,
    },
}

/// Parses the command line and runs the subcommand.
pub fn main() -> ExitCode {
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
            json,
            raw,
            policy,
            encoding,
            limits,
            buffers,
            usage,
            entry,
            max_file,
            file,
        } => dump::dump(dump::DumpArgs {
            json,
            raw,
            policy,
            encoding,
            limits,
            buffers,
            usage,
            entry,
            max_file,
            file,
        }),
        Command::Scan {
            policy,
            limits,
            json,
            sarif,
            sarif_file,
            fail_on,
            emit_policy,
            jobs,
            no_progress,
            quiet,
            max_file,
            paths,
        } => scan::scan(scan::ScanArgs {
            paths,
            policy,
            limits,
            format: if json {
                scan::Format::Json
            } else if sarif {
                scan::Format::Sarif
            } else {
                scan::Format::Text
            },
            sarif_file,
            fail_on,
            emit_policy,
            jobs,
            progress: !no_progress,
            quiet,
            max_file,
        }),
        Command::Tensors { json, file } => tensors(&file, json),
        Command::Convert { key, input, output } => {
            match pickleproof::torch::convert_file(&input, &output, key.as_deref()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => input::fail(&format!("{}: {e}", input.display()), torch_code(&e)),
            }
        }
        Command::Disasm {
            entry,
            max_file,
            file,
        } => dump::disasm(&file, entry.as_deref(), max_file),
    }
}

/// `tensors FILE [--json]`.
fn tensors(file: &std::path::Path, json: bool) -> ExitCode {
    use pickleproof::torch;
    // Read lazily: a checkpoint's storages are never read to list them.
    let listed = torch::list_tensors_file(file);
    match listed {
        Ok(rows) => {
            let mut text = if json {
                torch::to_json(&rows)
            } else {
                torch::to_text(&rows)
            };
            if !text.ends_with('\n') {
                text.push('\n');
            }
            input::emit(&text)
        }
        Err(e) => input::fail(&format!("{}: {e}", file.display()), torch_code(&e)),
    }
}

/// A checkpoint error's exit code: 1 for I/O (a file, or a tensor's bytes), 4 for a
/// refused global, 2 otherwise (malformed or invalid tensors).
fn torch_code(e: &pickleproof::torch::TorchError) -> u8 {
    match e.name() {
        "io" | "read" => 1,
        "forbidden" => 4,
        _ => 2,
    }
}
