//! PyTorch checkpoints from Python without torch: the tensors a `.pt` file holds
//! (validated against their storages), one tensor's bytes, and the conversion to
//! safetensors, all through `pickleproof::torch`. The file is read lazily (only the
//! pickle, then only what is asked for), and nothing in the checkpoint's pickle is
//! imported or called: tensors are descriptions checked by the `pytorch` policy.

use std::path::{Path, PathBuf};

use pickleproof::torch::{self, Checkpoint, Tensor, TorchError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};

use crate::errors;

/// The Python exception for a refused checkpoint: the decoder's own classes for a
/// pickle error or a refused global, `OSError` (with its errno class) for the file,
/// and `CheckpointError` with `kind`, `tensor` and `tensors` for everything
/// torch-specific.
fn checkpoint_error(py: Python<'_>, error: &TorchError) -> PyErr {
    match error {
        TorchError::Pickle(error) => errors::decode_error(py, error),
        TorchError::Io { kind, .. } => {
            let err = std::io::Error::new(*kind, error.to_string());
            PyErr::from(err)
        }
        TorchError::Forbidden {
            module,
            name,
            offset,
        } => errors::forbidden(py, (module, name), None, Some(*offset), &error.to_string()),
        _ => {
            let fields = PyDict::new(py);
            // The tensors it is about: the one it names, or every tensor that shares
            // bytes in an aliasing refusal.
            let tensors: Vec<&str> = match error {
                TorchError::Aliased { tensors, .. } => tensors.iter().map(String::as_str).collect(),
                _ => error.tensor().into_iter().collect(),
            };
            let set = fields
                .set_item("kind", error.name())
                .and_then(|()| fields.set_item("tensor", error.tensor()))
                .and_then(|()| fields.set_item("tensors", tensors));
            match set {
                Ok(()) => errors::raise(py, "CheckpointError", &error.to_string(), &fields),
                Err(err) => err,
            }
        }
    }
}

fn describe<'py>(py: Python<'py>, tensor: &Tensor) -> PyResult<Bound<'py, PyDict>> {
    let row = PyDict::new(py);
    row.set_item("name", &tensor.name)?;
    row.set_item("dtype", tensor.dtype.name())?;
    row.set_item("shape", tensor.shape.clone())?;
    row.set_item("stride", tensor.stride.clone())?;
    row.set_item("storage_offset", tensor.storage_offset)?;
    row.set_item("storage_key", &tensor.storage_key)?;
    row.set_item("nbytes", tensor.nbytes())?;
    row.set_item("requires_grad", tensor.requires_grad)?;
    row.set_item("parameter", tensor.parameter)?;
    Ok(row)
}

/// Opens the checkpoint at `path` and runs `then` on it and its file.
fn with_checkpoint<T>(
    py: Python<'_>,
    path: &Path,
    then: impl FnOnce(&Checkpoint<'_>, &std::fs::File) -> Result<T, TorchError> + Send,
) -> PyResult<T>
where
    T: Send,
{
    py.allow_threads(|| {
        let image = torch::load_file(path)?;
        let checkpoint = torch::open_image(&image)?;
        then(&checkpoint, image.source())
    })
    .map_err(|e| checkpoint_error(py, &e))
}

/// Every tensor of the checkpoint at `path`, as dicts (`name`, `dtype`, `shape`,
/// `stride`, `storage_offset`, `storage_key`, `nbytes`, `requires_grad`,
/// `parameter`), in the order their names are found.
#[pyfunction]
pub(crate) fn torch_tensors<'py>(py: Python<'py>, path: PathBuf) -> PyResult<Bound<'py, PyList>> {
    let found = with_checkpoint(py, &path, |checkpoint, _| Ok(checkpoint.tensors.clone()))?;
    let rows = found
        .iter()
        .map(|tensor| describe(py, tensor))
        .collect::<PyResult<Vec<_>>>()?;
    PyList::new(py, rows)
}

/// The elements of the tensor called `name`, row-major and little-endian (ready for
/// `numpy.frombuffer(..., dtype).reshape(shape)`): only the bytes of its storage
/// its view reaches are read.
#[pyfunction]
pub(crate) fn torch_read<'py>(
    py: Python<'py>,
    path: PathBuf,
    name: &str,
) -> PyResult<Bound<'py, PyBytes>> {
    let data = with_checkpoint(py, &path, |checkpoint, file| {
        let tensor = checkpoint
            .tensors
            .iter()
            .find(|t| t.name == name)
            .ok_or_else(|| TorchError::KeyNotFound {
                key: name.to_owned(),
            })?;
        tensor.read_at(file)
    })?;
    Ok(PyBytes::new(py, &data))
}

/// Converts the checkpoint at `src` to a safetensors file at `dst`: every tensor,
/// or with `key` those under that entry (`"state_dict"`, a dotted path), named
/// relative to it. Every check runs before `dst` is created.
#[pyfunction]
#[pyo3(signature = (src, dst, *, key=None))]
pub(crate) fn torch_convert(
    py: Python<'_>,
    src: PathBuf,
    dst: PathBuf,
    key: Option<String>,
) -> PyResult<()> {
    py.allow_threads(|| torch::convert_file(&src, &dst, key.as_deref()))
        .map_err(|e| checkpoint_error(py, &e))
}
