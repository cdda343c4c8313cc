//! With feature `cpython` only: the fuzz binaries get an rpath to the libpython pyo3
//! links (see `build/libpython_rpath.rs`; the parent crate's build.rs does the same
//! for its test binaries, and a build script's link arguments do not reach
//! dependents).

include!("../build/libpython_rpath.rs");

fn main() {
    println!("cargo:rerun-if-env-changed=CARGO_FEATURE_CPYTHON");
    if std::env::var_os("CARGO_FEATURE_CPYTHON").is_some() {
        add_libpython_rpath();
    }
}
