//! Runs the Python test suite (`python/tests/test_*.py`, stdlib `unittest`) against
//! this crate in an embedded interpreter, so `cargo test` at the root covers the
//! Python package without building a wheel: the extension module is registered as
//! `pickleproof._pickleproof` and `python/` goes first on `sys.path`.
//!
//! Arguments after `--` are unittest's (`cargo test -p pickleproof-python -- -k
//! loads_refuses`).

use std::process::ExitCode;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--") || a == "--failfast")
        .collect();
    match Python::with_gil(|py| run(py, &args)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(err) => {
            Python::with_gil(|py| err.print(py));
            ExitCode::FAILURE
        }
    }
}

fn run(py: Python<'_>, args: &[String]) -> PyResult<bool> {
    let root = env!("CARGO_MANIFEST_DIR");
    let sys = py.import("sys")?;
    sys.getattr("path")?.downcast::<PyList>()?.insert(0, root)?;
    let module = pyo3::wrap_pymodule!(_pickleproof::_pickleproof)(py);
    sys.getattr("modules")?
        .set_item("pickleproof._pickleproof", module)?;
    let unittest = py.import("unittest")?;
    let loader = unittest.getattr("TestLoader")?.call0()?;
    for pattern in args.iter().filter(|a| !a.starts_with('-')) {
        loader.setattr("testNamePatterns", vec![format!("*{pattern}*")])?;
    }
    let tests = format!("{root}/tests");
    let suite = loader.call_method1("discover", (&tests, "test_*.py", &tests))?;
    let kwargs = PyDict::new(py);
    kwargs.set_item("verbosity", 2)?;
    kwargs.set_item("failfast", args.iter().any(|a| a == "--failfast"))?;
    let runner = unittest
        .getattr("TextTestRunner")?
        .call((), Some(&kwargs))?;
    let result = runner.call_method1("run", (suite,))?;
    let ok: bool = result.call_method0("wasSuccessful")?.extract()?;
    let ran: usize = result.getattr("testsRun")?.extract()?;
    if ran == 0 {
        eprintln!("no Python test ran");
        return Ok(false);
    }
    Ok(ok)
}
