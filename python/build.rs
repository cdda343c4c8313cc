//! The tests embed an interpreter: they get an rpath to the libpython pyo3 links
//! (see `build/libpython_rpath.rs`). Harmless in the extension module maturin builds,
//! which links no libpython.

include!("../build/libpython_rpath.rs");

fn main() {
    add_libpython_rpath();
}
