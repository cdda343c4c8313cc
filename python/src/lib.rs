//! The Python package's glue: `pickleproof.loads` and `load` (drop-in for
//! `pickle.loads` and `pickle.load` on data nobody should trust), `scan` and
//! `scan_file` (the security report), and the `Limits` and `Policy` classes.
//!
//! Everything here is argument conversion and object building; the decoding, the
//! budgets, the policy and the scan are the `pickleproof` crate's. The decode runs
//! without the GIL (when the input is `bytes`, which cannot change under it); the
//! objects are built afterwards ([`objects`]).

// Building objects from a hostile graph must not panic either: as in the library's
// decoding code, no unwrap/expect/panic and no indexing that can go out of bounds
// (the fuzz body, whose job is to panic on a broken oracle, opts out in its file).
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

mod errors;
#[cfg(feature = "harness")]
pub mod harness;
mod objects;
mod options;
mod pytorch;
mod reader;

use std::borrow::Cow;

use pickleproof::scan::render::json::json as scan_json;
use pickleproof::scan::{scan_file as scan_bytes, ScanOptions};
use pickleproof::{Decoded, Decoder, Error, StringEncoding};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use objects::Supplied;
use options::{limits_arg, policy_arg, PyLimits, PyPolicy};

/// `encoding=` and `errors=` for Python 2 strings (`STRING`, `SHORT_BINSTRING`...).
fn string_encoding(encoding: &str, errors: &str) -> PyResult<StringEncoding> {
    let chosen = match encoding.to_ascii_lowercase().replace('_', "-").as_str() {
        "ascii" => StringEncoding::Ascii,
        "latin1" | "latin-1" | "iso-8859-1" | "iso8859-1" => StringEncoding::Latin1,
        "bytes" => StringEncoding::Bytes,
        _ => {
            return Err(PyValueError::new_err(format!(
                "encoding {encoding:?} is not supported: use 'ASCII', 'latin1' or 'bytes'"
            )))
        }
    };
    if errors != "strict" && chosen == StringEncoding::Ascii {
        return Err(PyValueError::new_err(format!(
            "errors={errors:?} is not supported with encoding='ASCII': use 'strict', \
             or encoding='latin1' or 'bytes', which cannot fail"
        )));
    }
    Ok(chosen)
}

/// The decoder and what the builder needs, from `loads`' keyword arguments.
fn configure<'py>(
    fix_imports: bool,
    encoding: &str,
    errors: &str,
    buffers: Option<&Bound<'py, PyAny>>,
    policy: Option<&Bound<'py, PyAny>>,
    limits: Option<&Bound<'py, PyAny>>,
    persistent_load: Option<Bound<'py, PyAny>>,
) -> PyResult<(Decoder, Supplied<'py>)> {
    if !fix_imports {
        return Err(PyValueError::new_err(
            "fix_imports=False is not supported: Python 2 names are always mapped, and \
             the policy judges the mapped names",
        ));
    }
    let mut policy = policy_arg(policy)?.inner;
    if policy.allows_any_global() {
        return Err(PyValueError::new_err(
            "this policy allows every global, and loads imports and calls what the \
             policy allows: use scan() to inspect such a stream",
        ));
    }
    let buffers = match buffers {
        Some(buffers) if !buffers.is_none() => {
            let items: PyResult<Vec<_>> = buffers.try_iter()?.collect();
            // The builder puts each caller's buffer in its placeholder's place.
            policy = policy.allow_buffer_placeholders(true);
            Some(items?)
        }
        _ => None,
    };
    let persistent_load = persistent_load.filter(|f| !f.is_none());
    if persistent_load.is_some() {
        policy = policy.allow_persistent_ids(true);
    }
    let decoder = Decoder::new()
        .limits(limits_arg(limits)?)
        .policy(policy.clone())
        .string_encoding(string_encoding(encoding, errors)?);
    let supplied = Supplied {
        policy,
        protocol: 0,
        persistent_load,
        buffers,
    };
    Ok((decoder, supplied))
}

/// The objects of a decode, or its error as a Python exception.
fn finish<'py>(
    py: Python<'py>,
    decoded: Result<Decoded<'_>, Error>,
    mut supplied: Supplied<'py>,
) -> PyResult<Bound<'py, PyAny>> {
    let decoded = decoded.map_err(|e| errors::decode_error(py, &e))?;
    supplied.protocol = decoded.protocol;
    objects::build(py, &decoded.graph, decoded.root, &supplied)
}

/// Reads one pickle from `data` (bytes-like) and returns the object it describes,
/// as `pickle.loads` does — after the whole stream has passed the limits and the
/// policy. With the default `policy="strict"`, nothing is imported or called.
#[pyfunction]
#[pyo3(signature = (data, /, *, fix_imports=true, encoding="ASCII", errors="strict", buffers=None, policy=None, limits=None, persistent_load=None))]
#[allow(clippy::too_many_arguments)]
fn loads<'py>(
    py: Python<'py>,
    data: &Bound<'py, PyAny>,
    fix_imports: bool,
    encoding: &str,
    errors: &str,
    buffers: Option<&Bound<'py, PyAny>>,
    policy: Option<&Bound<'py, PyAny>>,
    limits: Option<&Bound<'py, PyAny>>,
    persistent_load: Option<Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let (decoder, supplied) = configure(
        fix_imports,
        encoding,
        errors,
        buffers,
        policy,
        limits,
        persistent_load,
    )?;
    let input = bytes_like(data)?;
    let decoded = py.allow_threads(|| decoder.decode(&input));
    finish(py, decoded, supplied)
}

/// Reads one pickle from a binary file object and returns the object it describes,
/// as `pickle.load` does; the file is left just past the pickle.
#[pyfunction]
#[pyo3(signature = (file, /, *, fix_imports=true, encoding="ASCII", errors="strict", buffers=None, policy=None, limits=None, persistent_load=None))]
#[allow(clippy::too_many_arguments)]
fn load<'py>(
    py: Python<'py>,
    file: &Bound<'py, PyAny>,
    fix_imports: bool,
    encoding: &str,
    errors: &str,
    buffers: Option<&Bound<'py, PyAny>>,
    policy: Option<&Bound<'py, PyAny>>,
    limits: Option<&Bound<'py, PyAny>>,
    persistent_load: Option<Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let (decoder, supplied) = configure(
        fix_imports,
        encoding,
        errors,
        buffers,
        policy,
        limits,
        persistent_load,
    )?;
    let mut reader = reader::FileReader::new(file.clone())?;
    let decoded = decoder.decode_reader(&mut reader);
    if let Some(err) = reader.error.take() {
        return Err(err);
    }
    reader.give_back()?;
    finish(py, decoded, supplied)
}

/// The scan report of a whole file's bytes (a pickle, or any container pickleproof
/// reads: PyTorch ZIP and legacy checkpoints, NumPy `.npy`/`.npz`, joblib, tar,
/// compressed layers), as the `pickleproof-scan/1` JSON document, parsed: a dict
/// with `verdict` (`clean`, `suspicious`, `inconclusive`, `unsafe`), every pickle's
/// imports and calls with their offsets and verdicts, and the hazards found.
/// Nothing is imported or called.
#[pyfunction]
#[pyo3(signature = (data, /, *, policy=None))]
fn scan<'py>(
    py: Python<'py>,
    data: &Bound<'py, PyAny>,
    policy: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let input = bytes_like(data)?;
    report(py, &input, None, policy)
}

/// `scan` of the file at `path`.
#[pyfunction]
#[pyo3(signature = (path, /, *, policy=None))]
fn scan_file<'py>(
    py: Python<'py>,
    path: std::path::PathBuf,
    policy: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let input = py.allow_threads(|| std::fs::read(&path))?;
    report(py, &input, Some(&path.to_string_lossy()), policy)
}

fn report<'py>(
    py: Python<'py>,
    input: &[u8],
    file: Option<&str>,
    policy: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let policy: PyPolicy = policy_arg(policy)?;
    let options = ScanOptions {
        policy: policy.inner,
        ..ScanOptions::default()
    };
    let text = py.allow_threads(|| scan_json(&scan_bytes(input, &options), file, &policy.name));
    py.import("json")?.call_method1("loads", (text,))
}

/// The bytes of any bytes-like object (`str` is refused, as by `pickle.loads`).
/// `bytes` is borrowed: it cannot change, so it is read in place without the GIL.
/// Any other bytes-like object is copied, as it could change under a decode.
fn bytes_like<'a>(data: &'a Bound<'_, PyAny>) -> PyResult<Cow<'a, [u8]>> {
    if let Ok(bytes) = data.downcast::<PyBytes>() {
        return Ok(Cow::Borrowed(bytes.as_bytes()));
    }
    let py = data.py();
    let view = py
        .import("builtins")?
        .getattr("memoryview")?
        .call1((data,))
        .map_err(|_| {
            let type_name = data
                .get_type()
                .name()
                .map(|n| n.to_string())
                .unwrap_or_default();
            PyTypeError::new_err(format!(
                "a bytes-like object is required, not '{type_name}'"
            ))
        })?;
    Ok(Cow::Owned(view.call_method0("tobytes")?.extract()?))
}

/// The extension module `pickleproof._pickleproof`; `pickleproof/__init__.py`
/// re-exports it with the exception classes.
#[pymodule]
pub fn _pickleproof(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add("__version__", env!("CARGO_PKG_VERSION"))?;
    module.add_class::<PyLimits>()?;
    module.add_class::<PyPolicy>()?;
    module.add_function(wrap_pyfunction!(loads, module)?)?;
    module.add_function(wrap_pyfunction!(load, module)?)?;
    module.add_function(wrap_pyfunction!(scan, module)?)?;
    module.add_function(wrap_pyfunction!(scan_file, module)?)?;
    module.add_function(wrap_pyfunction!(pytorch::torch_tensors, module)?)?;
    module.add_function(wrap_pyfunction!(pytorch::torch_read, module)?)?;
    module.add_function(wrap_pyfunction!(pytorch::torch_convert, module)?)?;
    Ok(())
}
