//! pickleproof's errors as the Python exceptions of `pickleproof/errors.py`, with
//! their fields (offset, opcode, the budget or the refused global), so Python code
//! can act on them as Rust code acts on `ErrorKind`.
//!
//! The classes are written in Python because `TruncatedError` has two bases
//! (`UnpicklingError` and `EOFError`, as `pickle.loads(b"")` raises), which a class
//! made from Rust cannot have.

use pickleproof::{Error, ErrorKind};
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// The class `name` of `pickleproof.errors`.
fn class<'py>(py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyAny>> {
    py.import("pickleproof.errors")?.getattr(name)
}

/// Raises `pickleproof.errors.<class>(message, **fields)`.
pub(crate) fn raise(
    py: Python<'_>,
    class_name: &str,
    message: &str,
    fields: &Bound<'_, PyDict>,
) -> PyErr {
    match class(py, class_name).and_then(|cls| cls.call((message,), Some(fields))) {
        Ok(exc) => PyErr::from_value(exc),
        Err(err) => err,
    }
}

/// An `UnpicklingError` not tied to an opcode (raised while building objects).
pub(crate) fn unpickling(py: Python<'_>, kind: &str, message: &str) -> PyErr {
    let fields = PyDict::new(py);
    if let Err(err) = fields.set_item("kind", kind) {
        return err;
    }
    raise(py, "UnpicklingError", message, &fields)
}

/// A `ForbiddenError` the glue raises itself (not from a decode error): for
/// `module.name`, with the broken rule's `reason` (kind `call_refused`) or none
/// (kind `forbidden`), at `offset` when one is known.
pub(crate) fn forbidden(
    py: Python<'_>,
    (module, name): (&str, &str),
    reason: Option<&str>,
    offset: Option<u64>,
    message: &str,
) -> PyErr {
    let fields = PyDict::new(py);
    let kind = if reason.is_some() {
        "call_refused"
    } else {
        "forbidden"
    };
    let set = fields
        .set_item("module", module)
        .and_then(|()| fields.set_item("name", name))
        .and_then(|()| fields.set_item("reason", reason))
        .and_then(|()| fields.set_item("offset", offset))
        .and_then(|()| fields.set_item("kind", kind));
    match set {
        Ok(()) => raise(py, "ForbiddenError", message, &fields),
        Err(err) => err,
    }
}

/// The Python exception for a decode error.
pub(crate) fn decode_error(py: Python<'_>, error: &Error) -> PyErr {
    match fields(py, error) {
        Ok((class_name, fields)) => raise(py, class_name, &error.to_string(), &fields),
        Err(err) => err,
    }
}

/// Which class, and its keyword arguments.
fn fields<'py>(py: Python<'py>, error: &Error) -> PyResult<(&'static str, Bound<'py, PyDict>)> {
    let fields = PyDict::new(py);
    fields.set_item("offset", error.offset())?;
    fields.set_item("opcode", error.opcode())?;
    let class_name = match error.kind() {
        ErrorKind::Eof => {
            fields.set_item("kind", "eof")?;
            "TruncatedError"
        }
        ErrorKind::Limit {
            resource,
            limit,
            requested,
        } => {
            fields.set_item("resource", resource.name())?;
            fields.set_item("limit", limit)?;
            fields.set_item("requested", requested)?;
            "LimitError"
        }
        ErrorKind::Forbidden { module, name } => {
            fields.set_item("module", module)?;
            fields.set_item("name", name)?;
            "ForbiddenError"
        }
        ErrorKind::CallRefused {
            module,
            name,
            reason,
        } => {
            fields.set_item("kind", "call_refused")?;
            fields.set_item("module", module)?;
            fields.set_item("name", name)?;
            fields.set_item("reason", reason)?;
            "ForbiddenError"
        }
        kind @ (ErrorKind::PersistentIdRefused
        | ErrorKind::ExtensionRefused(_)
        | ErrorKind::ComputedCallRefused { .. }) => {
            fields.set_item("kind", kind.name())?;
            "ForbiddenError"
        }
        kind => {
            fields.set_item("kind", kind.name())?;
            "UnpicklingError"
        }
    };
    Ok((class_name, fields))
}
