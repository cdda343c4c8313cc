//! With feature `cpython` only: the test and fuzz binaries get an rpath to the
//! libpython pyo3 links (see `build/libpython_rpath.rs`). Without the feature this
//! does nothing.

include!("build/libpython_rpath.rs");

fn main() {
    println!("cargo:rerun-if-env-changed=CARGO_FEATURE_CPYTHON");
    if std::env::var_os("CARGO_FEATURE_CPYTHON").is_some() {
        add_libpython_rpath();
    }
}
