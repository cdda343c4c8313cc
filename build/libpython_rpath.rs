// Shared by the build scripts of the root crate and fuzz/ (feature `cpython`) and of python/
// (its tests embed an interpreter): the library directory of the libpython that pyo3
// links (asked from `PYO3_PYTHON`, else `python3`) becomes an rpath of the test
// binaries, so they load that interpreter and not another libpython the dynamic
// loader would find first.

/// Prints the rpath link argument, or nothing when Python cannot be asked.
fn add_libpython_rpath() {
    println!("cargo:rerun-if-env-changed=PYO3_PYTHON");
    let python = std::env::var("PYO3_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let out = std::process::Command::new(&python)
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
