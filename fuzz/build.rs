//! With feature `cpython` only: the library directory of the libpython that pyo3 links
//! (asked from `PYO3_PYTHON`, else `python3`) becomes an rpath of the fuzz binaries, so
//! they load that interpreter and not another libpython the dynamic loader would find
//! first (the parent crate's build.rs does the same for its test binaries; a build
//! script's link arguments do not reach dependents).
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=CARGO_FEATURE_CPYTHON");
    println!("cargo:rerun-if-env-changed=PYO3_PYTHON");
    if std::env::var_os("CARGO_FEATURE_CPYTHON").is_none() {
        return;
    }
    let python = std::env::var("PYO3_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let out = Command::new(&python)
        .args([
            "-c",
            "import sysconfig; print(sysconfig.get_config_var('LIBDIR') or '')",
        ])
        .output();
    if let Ok(out) = out {
        let dir = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        if !dir.is_empty() {
            println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
        }
    }
}
