//! The `python` fuzz target's body (feature `harness`): `pickleproof.loads` in an
//! embedded interpreter, held to four oracles on every input.
//!
//! 1. **It agrees with the decoder.** When the Rust decode (strict policy, default
//!    limits: `loads`' defaults) fails, `loads` raises the class its kind maps to
//!    (`TruncatedError`, `LimitError`, `ForbiddenError`, `UnpicklingError`) with the
//!    same `kind`, `offset` and `opcode`. When it succeeds, `loads` returns, or
//!    refuses an unfolded reconstructor call (`ForbiddenError`, `call_refused`, a
//!    name from [`RECONSTRUCTORS`]); nothing else.
//! 2. **Strict runs nothing.** An audit hook watches the call: no `import`,
//!    `exec`, `compile`, `open`, `os.system`, `subprocess.Popen`, and no
//!    `pickle.find_class` but of a reconstructor held as a value.
//! 3. **The objects are the graph.** What `loads` built, pickled again by CPython's
//!    own pickler (protocol 5) and decoded again, is the same graph
//!    ([`pickleproof::harness::cpython::compare`]: values, floats bit for bit,
//!    sharing and cycles of the mutable kinds). Objects too deep for `pickle.dumps`'
//!    recursion are not compared.
//! 4. **No panic, no crash** in the builder, whatever the graph.
//! 5. **The file functions say what the library says** ([`files`]): `scan`'s
//!    verdict is the Rust scan's (for a plain pickle or joblib stream: containers
//!    and compressed layers are the scan and container targets' job), and `pytorch.tensors` lists the tensors
//!    `torch::open` finds, or raises the exception its error maps to, with its kind.
//!
//! Inputs whose decode passes the cpython target's step budget
//! ([`MAX_STEPS`](pickleproof::harness::cpython::MAX_STEPS)) are skipped, as there.

#![allow(clippy::panic)]

use pickleproof::container::sniff::sniff;
use pickleproof::container::Format;
use pickleproof::harness::cpython::{compare, MAX_STEPS};
use pickleproof::scan::{scan_file, ScanOptions};
use pickleproof::torch::{self, TorchError};
use pickleproof::{Decoder, Error, ErrorKind, Limits, Resource, RECONSTRUCTORS};
use pyo3::prelude::*;
use pyo3::sync::GILOnceCell;
use pyo3::types::{PyBytes, PyList, PyModule};

/// The watch: an audit hook that records the listed events while `WATCH` is a list.
const WATCH_SOURCE: &str = r#"
import sys
WATCH = None
WATCHED = {"import", "pickle.find_class", "exec", "compile", "open", "os.system", "subprocess.Popen"}
def _hook(event, args):
    if WATCH is not None and event in WATCHED:
        WATCH.append((event, args))
sys.addaudithook(_hook)
"#;

/// The package, registered once per process: `python/` on `sys.path` for the Python
/// part, this crate's module as `pickleproof._pickleproof`, and the watch.
fn setup(py: Python<'_>) -> PyResult<&Py<PyModule>> {
    static WATCH: GILOnceCell<Py<PyModule>> = GILOnceCell::new();
    WATCH.get_or_try_init(py, || {
        let sys = py.import("sys")?;
        sys.getattr("path")?
            .downcast::<PyList>()?
            .insert(0, env!("CARGO_MANIFEST_DIR"))?;
        let module = pyo3::wrap_pymodule!(crate::_pickleproof)(py);
        sys.getattr("modules")?
            .set_item("pickleproof._pickleproof", module)?;
        py.import("pickleproof")?;
        let source = std::ffi::CString::new(WATCH_SOURCE)?;
        let watch =
            PyModule::from_code(py, &source, c"pickleproof_watch.py", c"pickleproof_watch")?;
        Ok(watch.unbind())
    })
}

/// The fuzz body: panics when an oracle does not hold.
pub fn run_loads(data: &[u8]) {
    Python::with_gil(|py| {
        if let Err(err) = check(py, data) {
            panic!("the harness itself failed: {err}");
        }
    });
}

fn check(py: Python<'_>, data: &[u8]) -> PyResult<()> {
    let watch = setup(py)?.bind(py);
    // Inputs past the cpython target's step budget are skipped, as there: the
    // decoder's own cost at the default budget (seconds under instrumentation, and
    // paid twice here) is the other targets' job. Under it, the default limits that
    // `loads` uses give the same result.
    let limits = Limits {
        max_steps: MAX_STEPS,
        ..Limits::default()
    };
    let decoded = Decoder::new().limits(limits).decode(data);
    if decoded
        .as_ref()
        .is_err_and(|e| e.resource() == Some(Resource::Steps))
    {
        return Ok(());
    }
    let loads = py.import("pickleproof")?.getattr("loads")?;

    let events = PyList::empty(py);
    watch.setattr("WATCH", &events)?;
    let result = loads.call1((PyBytes::new(py, data),));
    watch.setattr("WATCH", py.None())?;
    for event in events.iter() {
        let (name, args): (String, Bound<'_, PyAny>) = event.extract()?;
        let lookup: Option<(String, String)> = args.extract().ok();
        let allowed = name == "pickle.find_class"
            && lookup.is_some_and(|(m, n)| RECONSTRUCTORS.contains(&(m.as_str(), n.as_str())));
        assert!(
            allowed,
            "a strict loads raised the audit event {name} {args}"
        );
    }

    files(py, data)?;
    match (decoded, result) {
        (Err(error), Err(raised)) => same_error(py, &error, &raised),
        (Err(error), Ok(value)) => {
            panic!("the decoder refused ({error}) but loads returned {value}")
        }
        (Ok(_), Err(raised)) => {
            unfolded_call(py, &raised);
            Ok(())
        }
        (Ok(decoded), Ok(value)) => {
            let pickle = py.import("pickle")?;
            let again = match pickle.call_method1("dumps", (&value, 5)) {
                Ok(again) => again,
                Err(err) if err.is_instance_of::<pyo3::exceptions::PyRecursionError>(py) => {
                    return Ok(());
                }
                Err(err) => panic!("pickle.dumps refused what loads built: {err}"),
            };
            let again: Vec<u8> = again.extract()?;
            let redecoded = Decoder::new()
                .decode(&again)
                .unwrap_or_else(|e| panic!("the re-pickled value does not decode: {e}"));
            if let Err(difference) = compare(
                &decoded.graph,
                decoded.root,
                &redecoded.graph,
                redecoded.root,
                false,
            ) {
                panic!("what loads built is not what the stream described: {difference}");
            }
            Ok(())
        }
    }
}

/// Oracle 1 for a refused stream: the class, kind, offset and opcode.
fn same_error(py: Python<'_>, error: &Error, raised: &PyErr) -> PyResult<()> {
    let class = match error.kind() {
        ErrorKind::Eof => "TruncatedError",
        ErrorKind::Limit { .. } => "LimitError",
        ErrorKind::Forbidden { .. }
        | ErrorKind::CallRefused { .. }
        | ErrorKind::PersistentIdRefused
        | ErrorKind::ExtensionRefused(_)
        | ErrorKind::ComputedCallRefused { .. } => "ForbiddenError",
        _ => "UnpicklingError",
    };
    let expected = py.import("pickleproof.errors")?.getattr(class)?;
    let value = raised.value(py);
    assert!(
        value.is_instance(&expected)?,
        "the decoder's {error} became {value:?}, not a {class}"
    );
    let kind: String = value.getattr("kind")?.extract()?;
    let offset: u64 = value.getattr("offset")?.extract()?;
    let opcode: Option<u8> = value.getattr("opcode")?.extract()?;
    assert_eq!(
        (kind.as_str(), offset, opcode),
        (error.kind().name(), error.offset(), error.opcode()),
        "{error}"
    );
    Ok(())
}

/// Oracle 1 for an accepted stream that `loads` refused: only an unfolded
/// reconstructor call may be.
fn unfolded_call(py: Python<'_>, raised: &PyErr) {
    let value = raised.value(py);
    let fields: PyResult<(String, String, String)> = (|| {
        Ok((
            value.getattr("kind")?.extract()?,
            value.getattr("module")?.extract()?,
            value.getattr("name")?.extract()?,
        ))
    })();
    let refused_unfolded = fields.as_ref().is_ok_and(|(kind, module, name)| {
        kind == "call_refused" && RECONSTRUCTORS.contains(&(module.as_str(), name.as_str()))
    });
    assert!(
        refused_unfolded,
        "the decoder accepted the stream but loads raised {value:?}"
    );
}

/// Oracle 5: `scan` and `pytorch.tensors` on the input (as bytes, and as a file).
fn files(py: Python<'_>, data: &[u8]) -> PyResult<()> {
    let package = py.import("pickleproof")?;
    // Only where the scan is the decoder's: a compressed layer or an archive, whose
    // default budgets allow a second of decompression for a few hundred bytes, is the
    // scan and container targets' job (run twice here, it timed out).
    if matches!(sniff(data), Format::Pickle | Format::Joblib) {
        let report = package.call_method1("scan", (PyBytes::new(py, data),))?;
        let verdict: String = report.get_item("verdict")?.extract()?;
        let expected = scan_file(data, &ScanOptions::default()).verdict();
        assert_eq!(verdict, expected.name(), "scan's verdict");
    }

    let path = std::env::temp_dir().join(format!("pickleproof-fuzz-{}.pt", std::process::id()));
    std::fs::write(&path, data)?;
    let listed = package
        .getattr("pytorch")?
        .call_method1("tensors", (&path,));
    match (torch::open(data), listed) {
        (Ok(checkpoint), Ok(rows)) => {
            let names: Vec<String> = rows
                .try_iter()?
                .map(|row| row?.get_item("name")?.extract())
                .collect::<PyResult<_>>()?;
            let expected: Vec<&str> = checkpoint.tensors.iter().map(|t| t.name.as_str()).collect();
            assert_eq!(names, expected, "pytorch.tensors");
        }
        (Err(error), Err(raised)) => {
            let (class, kind) = match &error {
                TorchError::Pickle(e) => (None, e.kind().name()),
                TorchError::Forbidden { .. } => (Some("ForbiddenError"), "forbidden"),
                TorchError::Io { .. } => panic!("reading the input's own file failed: {error}"),
                other => (Some("CheckpointError"), other.name()),
            };
            let value = raised.value(py);
            if let Some(class) = class {
                let class = py.import("pickleproof.errors")?.getattr(class)?;
                assert!(value.is_instance(&class)?, "{error} became {value:?}");
            }
            let raised_kind: String = value.getattr("kind")?.extract()?;
            assert_eq!(raised_kind, kind, "{error}");
        }
        (Ok(_), Err(raised)) => panic!("torch::open accepted, pytorch.tensors raised {raised}"),
        (Err(error), Ok(_)) => panic!("torch::open refused ({error}), pytorch.tensors listed"),
    }
    Ok(())
}
