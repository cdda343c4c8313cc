//! `Limits` and `Policy` as Python classes, and how `loads`' `policy=` and `limits=`
//! arguments become the library's values.
//!
//! Both are immutable (`frozen`): a policy is shared by every call that uses it, and
//! `allow` or `union` return a new one, as the Rust builder methods do.

use pickleproof::{Limits, Policy, Resource};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// The keyword of each budget, as `Limits`' fields are named in Rust.
const FIELDS: [(&str, Resource); 8] = [
    ("max_input_bytes", Resource::InputBytes),
    ("max_steps", Resource::Steps),
    ("max_memory_bytes", Resource::Memory),
    ("max_depth", Resource::Depth),
    ("max_memo_entries", Resource::MemoEntries),
    ("max_container_len", Resource::ContainerLen),
    ("max_int_digits", Resource::IntDigits),
    ("max_int_bytes", Resource::IntBytes),
];

/// Hard caps on every resource a decode uses (the Rust `Limits`). `Limits()` is the
/// safe default for untrusted input; each keyword overrides one budget.
#[pyclass(module = "pickleproof", name = "Limits", frozen, eq)]
#[derive(Clone, PartialEq)]
pub struct PyLimits {
    pub(crate) inner: Limits,
}

#[pymethods]
impl PyLimits {
    #[new]
    #[pyo3(signature = (**budgets))]
    fn new(budgets: Option<&Bound<'_, PyDict>>) -> PyResult<PyLimits> {
        let mut inner = Limits::default();
        for (key, value) in budgets.into_iter().flatten() {
            let key: String = key.extract()?;
            let Some((_, resource)) = FIELDS.iter().find(|(name, _)| *name == key) else {
                return Err(PyTypeError::new_err(format!(
                    "Limits() got an unexpected keyword argument '{key}'"
                )));
            };
            let value: u64 = value.extract().map_err(|_| {
                PyValueError::new_err(format!("{key} must be an int from 0 to 2**64-1"))
            })?;
            inner.set(*resource, value);
        }
        Ok(PyLimits { inner })
    }

    /// No caps at all: only for input you trust, or to measure a stream.
    #[staticmethod]
    fn unbounded() -> PyLimits {
        PyLimits {
            inner: Limits::unbounded(),
        }
    }

    /// Bytes of input one pickle may consume.
    #[getter]
    fn max_input_bytes(&self) -> u64 {
        self.inner.max_input_bytes
    }
    /// Opcodes executed, plus the work proportional to payload sizes.
    #[getter]
    fn max_steps(&self) -> u64 {
        self.inner.max_steps
    }
    /// Bytes the decoder holds (not the Python objects built afterwards).
    #[getter]
    fn max_memory_bytes(&self) -> u64 {
        self.inner.max_memory_bytes
    }
    /// Container nesting and open MARKs.
    #[getter]
    fn max_depth(&self) -> u64 {
        self.inner.max_depth
    }
    /// Distinct memo entries.
    #[getter]
    fn max_memo_entries(&self) -> u64 {
        self.inner.max_memo_entries
    }
    /// Items in one container, arguments of one call.
    #[getter]
    fn max_container_len(&self) -> u64 {
        self.inner.max_container_len
    }
    /// Digits of a text integer.
    #[getter]
    fn max_int_digits(&self) -> u64 {
        self.inner.max_int_digits
    }
    /// Payload bytes of a binary integer.
    #[getter]
    fn max_int_bytes(&self) -> u64 {
        self.inner.max_int_bytes
    }

    fn __repr__(&self) -> String {
        let fields: Vec<String> = FIELDS
            .iter()
            .map(|(name, resource)| format!("{name}={}", self.inner.get(*resource)))
            .collect();
        format!("Limits({})", fields.join(", "))
    }
}

/// Which globals a stream may name, with their argument rules, and which other
/// escape hatches are open (the Rust `Policy`). `loads` imports and calls exactly
/// what its policy allows, so a policy is the list of code you agree to run.
#[pyclass(module = "pickleproof", name = "Policy", frozen)]
#[derive(Clone)]
pub struct PyPolicy {
    pub(crate) inner: Policy,
    /// How it was made, for `repr` and for scan reports.
    pub(crate) name: String,
}

#[pymethods]
impl PyPolicy {
    /// Built-in values only: nothing is imported (the default of `loads`).
    #[staticmethod]
    fn strict() -> PyPolicy {
        PyPolicy {
            inner: Policy::strict(),
            name: "strict".to_owned(),
        }
    }

    /// The strict set plus the preset `name` (`numpy`, `pandas`, `sklearn`,
    /// `pytorch`, `stdlib-data`, `ml`); `"strict"` alone is `Policy.strict()`.
    #[staticmethod]
    pub(crate) fn preset(name: &str) -> PyResult<PyPolicy> {
        let inner = match name {
            "strict" => Policy::strict(),
            // The Rust constructors add what the preset file leaves to code
            // (`torch.dtype`); the others are the strict set plus the file.
            "pytorch" => Policy::pytorch(),
            _ => Policy::strict().union(Policy::preset(name).map_err(|_| {
                PyValueError::new_err(format!(
                    "unknown policy {name:?}: expected 'strict' or one of {}",
                    Policy::preset_names().join(", ")
                ))
            })?),
        };
        Ok(PyPolicy {
            inner,
            name: name.to_owned(),
        })
    }

    /// The names `preset` accepts.
    #[staticmethod]
    fn preset_names() -> Vec<&'static str> {
        std::iter::once("strict")
            .chain(Policy::preset_names().iter().copied())
            .collect()
    }

    /// A policy in pickleproof's text format (one `module:qualname` per line,
    /// `include <preset>`, `feature ...`): exactly what the text allows.
    #[staticmethod]
    fn from_text(text: &str) -> PyResult<PyPolicy> {
        let inner = Policy::from_text(text).map_err(|e| PyValueError::new_err(e.to_string()))?;
        Ok(PyPolicy {
            inner,
            name: "custom".to_owned(),
        })
    }

    /// A policy written in TOML.
    #[staticmethod]
    fn from_toml(text: &str) -> PyResult<PyPolicy> {
        let inner = Policy::from_toml(text).map_err(|e| PyValueError::new_err(e.to_string()))?;
        Ok(PyPolicy {
            inner,
            name: "custom".to_owned(),
        })
    }

    /// This policy with `module.name` allowed too (a new policy).
    fn allow(&self, module: &str, name: &str) -> PyPolicy {
        PyPolicy {
            inner: self.inner.clone().allow(module, name),
            name: "custom".to_owned(),
        }
    }

    /// Everything either policy allows (a new policy).
    fn union(&self, other: &PyPolicy) -> PyPolicy {
        PyPolicy {
            inner: self.inner.clone().union(other.inner.clone()),
            name: "custom".to_owned(),
        }
    }

    /// May the global `module.name` appear? (Names after Python 2 mapping.)
    fn allows(&self, module: &str, name: &str) -> bool {
        self.inner.allows_global(module, name)
    }

    /// The policy in the text format, which `from_text` reads back.
    fn to_text(&self) -> String {
        self.inner.to_text()
    }

    fn __repr__(&self) -> String {
        format!("Policy({:?})", self.name)
    }

    fn __eq__(&self, other: &PyPolicy) -> bool {
        self.inner == other.inner
    }
}

/// `policy=`: `None` (strict), a preset name, or a `Policy`.
pub(crate) fn policy_arg(policy: Option<&Bound<'_, PyAny>>) -> PyResult<PyPolicy> {
    let Some(policy) = policy else {
        return Ok(PyPolicy::strict());
    };
    if let Ok(name) = policy.extract::<String>() {
        return PyPolicy::preset(&name);
    }
    match policy.downcast::<PyPolicy>() {
        Ok(policy) => Ok(policy.get().clone()),
        Err(_) => Err(PyTypeError::new_err(
            "policy must be a preset name (str) or a pickleproof.Policy",
        )),
    }
}

/// `limits=`: `None` (the safe defaults) or a `Limits`.
pub(crate) fn limits_arg(limits: Option<&Bound<'_, PyAny>>) -> PyResult<Limits> {
    let Some(limits) = limits else {
        return Ok(Limits::default());
    };
    match limits.downcast::<PyLimits>() {
        Ok(limits) => Ok(limits.get().inner),
        Err(_) => Err(PyTypeError::new_err("limits must be a pickleproof.Limits")),
    }
}
