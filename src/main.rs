//! `pickleproof`: inspect and judge untrusted pickle files without running them.
//!
//! A thin shell over the library (see `cli/`): read the input (bounded), decode or
//! scan, then print the whole result or nothing. On any error stdout stays empty,
//! stderr gets one line, and the exit code says what kind of failure it was. `dump`
//! and `disasm`: 0 success; 1 usage or I/O error; 2 malformed or truncated stream;
//! 3 a budget was exceeded; 4 the policy refused something. `scan`: the worst verdict
//! among `--fail-on`: 0 clean, 2 inconclusive, 4 suspicious, 5 unsafe (1 usage).

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
