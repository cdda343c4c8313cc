//! `dump` (the value, whole or nothing) and `disasm` (the opcodes).

use std::path::PathBuf;
use std::process::ExitCode;

use pickleproof::container::joblib::JoblibSink;
use pickleproof::container::ContainerLimits;
use pickleproof::sink::{OnRefusal, Sink};
use pickleproof::views::{disasm, json, repr};
use pickleproof::{Decoded, Decoder, Error, Limits, Policy};

use crate::cli::args::{EncodingArg, LimitArgs, PolicyArgs};
use crate::cli::input::{emit, error_line, exit_code_for, fail, one_pickle, read_bounded};

/// Options of `dump`.
pub struct DumpArgs {
    pub json: bool,
    pub raw: bool,
    pub policy: PolicyArgs,
    pub encoding: EncodingArg,
    pub limits: LimitArgs,
    pub buffers: Vec<PathBuf>,
    pub usage: bool,
    pub entry: Option<String>,
    pub max_file: u64,
    pub file: String,
}

/// A sink that keeps nothing: `dump` only needs the joblib reader's look-ahead.
struct Nothing;

impl Sink for Nothing {}

/// Decodes one pickle, stepping over joblib's inline array data when there is any (a
/// plain pickle has none, and then this is exactly `Decoder::decode`).
pub fn decode_piece<'a>(decoder: &Decoder, data: &'a [u8]) -> Result<Decoded<'a>, Error> {
    let mut nothing = Nothing;
    let mut sink = JoblibSink::new(&mut nothing, decoder, data);
    decoder.decode_with_sink(data, &mut sink, OnRefusal::Fail)
}

pub fn dump(args: DumpArgs) -> ExitCode {
    let limits = args.limits.apply(Limits::default());
    let (policy, _) = match args.policy.resolve() {
        Ok(p) => p,
        Err(msg) => return fail(&msg, 1),
    };
    let file_data = match read_bounded(&args.file, args.max_file) {
        Ok(d) => d,
        Err(msg) => return fail(&msg, 1),
    };
    let piece = match one_pickle(
        &args.file,
        &file_data,
        args.entry.as_deref(),
        &ContainerLimits::default(),
    ) {
        Ok(p) => p,
        Err((msg, code)) => return fail(&msg, code),
    };
    let mut decoder = Decoder::new()
        .limits(limits)
        .policy(policy)
        .raw(args.raw)
        .string_encoding(args.encoding.encoding());
    if !args.buffers.is_empty() {
        let mut loaded = Vec::new();
        for path in &args.buffers {
            match std::fs::read(path) {
                Ok(b) => loaded.push(b),
                Err(e) => return fail(&format!("cannot read buffer {}: {e}", path.display()), 1),
            }
        }
        decoder = decoder.buffers(loaded);
    }
    let decoded = match decode_piece(&decoder, &piece.data) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("{}", error_line(&e, &piece.data));
            if e.is_policy() {
                eprintln!("pickleproof: hint: {}", policy_hint(&decoder, &piece.data));
            }
            return ExitCode::from(exit_code_for(&e));
        }
    };
    let mut text = if args.json {
        let mut doc = json::to_json(&decoded.graph, decoded.root);
        if args.usage {
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

/// Which policy would accept a refused pickle: the first preset (each alone, then
/// all of them) under which it decodes, or `inert` to look inside.
fn policy_hint(decoder: &Decoder, data: &[u8]) -> String {
    for name in Policy::preset_names() {
        let Ok(preset) = Policy::preset(name) else {
            continue;
        };
        let trial = decoder.clone().policy(Policy::strict().union(preset));
        if decode_piece(&trial, data).is_ok() {
            return format!("--policy {name} accepts this pickle");
        }
    }
    "no preset accepts this pickle; `--policy inert` shows what it holds (nothing is executed), `pickleproof scan` says why".to_owned()
}

pub fn disasm(file: &str, entry: Option<&str>, max_file: u64) -> ExitCode {
    let file_data = match read_bounded(file, max_file) {
        Ok(d) => d,
        Err(msg) => return fail(&msg, 1),
    };
    let piece = match one_pickle(file, &file_data, entry, &ContainerLimits::default()) {
        Ok(p) => p,
        Err((msg, code)) => return fail(&msg, code),
    };
    let listing = disasm::disassemble(&piece.data, &disasm::DisasmOptions::default());
    match listing.error {
        None => emit(&listing.text),
        Some((offset, message)) => {
            eprintln!("pickleproof: error: malformed at offset {offset}: {message}");
            ExitCode::from(2)
        }
    }
}
