//! Reading inputs and reporting failures: bounded reads, the pickle a command reads
//! out of a container, one-line errors with a hex window, exit codes.

use std::io::{Read, Write};
use std::process::ExitCode;

use pickleproof::container::{self, ContainerLimits, Contents};
use pickleproof::{Error, ErrorKind, Opcode};

/// A failure: the message for stderr and the exit code.
pub type Failure = (String, u8);

/// The most a command reads of one file (default 4 GiB): containers are read whole,
/// since a ZIP's directory sits at its end.
pub const DEFAULT_MAX_FILE: u64 = 4 << 30;

/// Reads at most `limit` bytes (plus one, so the caller sees that more followed).
pub fn read_bounded(file: &str, limit: u64) -> Result<Vec<u8>, String> {
    let cap = limit.saturating_add(1);
    let mut data = Vec::new();
    let result = if file == "-" {
        std::io::stdin().lock().take(cap).read_to_end(&mut data)
    } else {
        std::fs::File::open(file).and_then(|f| f.take(cap).read_to_end(&mut data))
    };
    result.map_err(|e| format!("cannot read {file}: {e}"))?;
    if data.len() as u64 > limit {
        return Err(format!(
            "{file} is larger than {limit} bytes (raise --max-file)"
        ));
    }
    Ok(data)
}

/// A pickle out of a file, for the commands that read one (`dump`, `disasm`).
pub struct OnePickle {
    /// Its bytes (joblib arrays may follow its BUILDs inline: decode it with a
    /// `JoblibSink`, as `dump::decode_piece` does).
    pub data: Vec<u8>,
}

/// Opens `data` as a container and picks the pickle named `entry`, or the only one.
pub fn one_pickle(
    file: &str,
    data: &[u8],
    entry: Option<&str>,
    limits: &ContainerLimits,
) -> Result<OnePickle, Failure> {
    let Contents { pieces, error, .. } = container::open(data, limits);
    let locations: Vec<String> = pieces
        .iter()
        .map(|p| display_location(&p.location))
        .collect();
    let chosen = match entry {
        Some(name) => pieces.into_iter().find(|p| p.location == name),
        None if pieces.len() == 1 => pieces.into_iter().next(),
        None if pieces.is_empty() => None,
        None => {
            return Err((
                format!(
                    "{file} holds {} pickles; choose one with --entry ({})",
                    locations.len(),
                    locations.join(", ")
                ),
                1,
            ))
        }
    };
    match (chosen, error) {
        (Some(piece), _) => Ok(OnePickle {
            data: piece.data.into_owned(),
        }),
        (None, Some(e)) => Err((format!("{file}: {e}"), exit_code_for(&e))),
        (None, None) => {
            let message = match entry {
                Some(name) => format!(
                    "{file}: no pickle at {name:?} (pickles: {})",
                    locations.join(", ")
                ),
                None => format!("{file}: no pickle found"),
            };
            Err((message, 1))
        }
    }
}

/// A piece's location for people: `(file)` for the file itself.
pub fn display_location(location: &str) -> String {
    if location.is_empty() {
        "(file)".to_owned()
    } else {
        location.to_owned()
    }
}

/// The exit code of a decode error: 1 I/O, 2 malformed, 3 over a budget, 4 refused.
pub fn exit_code_for(err: &Error) -> u8 {
    match err.kind() {
        ErrorKind::Limit { .. } => 3,
        ErrorKind::Io(_) => 1,
        _ if err.is_policy() || matches!(err.kind(), ErrorKind::BufferMissing) => 4,
        _ => 2,
    }
}

/// One line: kind, offset, opcode, the message, budget details and a hex window.
pub fn error_line(err: &Error, data: &[u8]) -> String {
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

/// Prints `pickleproof: error: MESSAGE` and returns `code`.
pub fn fail(message: &str, code: u8) -> ExitCode {
    eprintln!("pickleproof: error: {message}");
    ExitCode::from(code)
}

/// Writes the whole output at once (a closed pipe is not an error).
pub fn emit(text: &str) -> ExitCode {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => fail(&format!("cannot write output: {e}"), 1),
    }
}
