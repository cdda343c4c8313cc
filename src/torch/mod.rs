//! PyTorch checkpoints as validated tensor descriptors, and their export to
//! safetensors (feature `torch`).
//!
//! `torch.load` hands a checkpoint's pickle to an unpickler that imports and calls
//! what the stream names, then trusts every size, stride and offset it finds. Here the
//! pickle (`data.pkl` of a ZIP checkpoint, or the main pickle of a legacy one) is
//! decoded into the inert graph under [`Policy::pytorch`](crate::Policy::pytorch) and
//! default [`Limits`](crate::Limits); the tensors in it are recognised by their rebuild
//! calls (`torch._utils._rebuild_tensor_v2/v3`, `_rebuild_parameter`...) and their
//! storages by their persistent ids; and every number is checked with checked
//! arithmetic against the storage records actually in the file before any byte is
//! read ([`validate`] lists the checks). A tensor is a [`Tensor`] descriptor: its name
//! path, dtype, shape, strides, offset and the byte range of its storage in the file.
//!
//! # Reading lazily
//!
//! A checkpoint on disk is opened without reading its tensors: [`load_file`] reads,
//! by position, only the records opening needs (the ZIP's end records and directory,
//! the storages' local headers, `data.pkl`), so listing a 10 GB checkpoint reads a
//! few kilobytes ([`SparseImage::bytes_read`] says how many); [`open_image`] then
//! gives the same [`Checkpoint`], or the same error, as [`open`] over the whole file.
//! [`Tensor::read_at`] reads one tensor's elements the same way, only the bytes its
//! view reaches. [`convert_file`] copies each tensor's byte range from the input file
//! to the output file (in the kernel, on Linux). A legacy checkpoint (`torch.save`
//! before 1.6, or with `_use_new_zipfile_serialization=False`) keeps its storages
//! behind its pickles with no index: its pickles are read as far as the decoder reads
//! them, then each storage's 8-byte element count, stepping over the elements.
//! A tar checkpoint (torch 0.1–0.3) is read whole: its tables of storages and
//! tensors sit in members of their own, found by walking the archive.
//!
//! ```no_run
//! # fn main() -> Result<(), pickleproof::torch::TorchError> {
//! let image = pickleproof::torch::load_file("model.pt".as_ref())?;
//! let checkpoint = pickleproof::torch::open_image(&image)?;
//! for t in &checkpoint.tensors {
//!     println!("{} {} {:?}", t.name, t.dtype, t.shape);
//! }
//! // One tensor's elements, read by position: its own bytes, not the file's.
//! if let Some(first) = checkpoint.tensors.first() {
//!     let elements: Vec<u8> = first.read_at(image.source())?;
//! }
//! pickleproof::torch::convert_file(
//!     "model.pt".as_ref(),
//!     "model.safetensors".as_ref(),
//!     Some("state_dict"),
//! )?;
//! // Bytes already in memory: open them, and read tensors by range from them.
//! let bytes = std::fs::read("model.pt").map_err(|e| pickleproof::torch::TorchError::Io {
//!     kind: e.kind(),
//!     path: "model.pt".into(),
//! })?;
//! let checkpoint = pickleproof::torch::open(&bytes)?;
//! let first = checkpoint.tensors.first().map(|t| t.bytes(&bytes)).transpose()?;
//! let safetensors = pickleproof::torch::convert_to_safetensors(&bytes, Some("state_dict"))?;
//! # Ok(()) }
//! ```

mod checkpoint;
mod convert;
pub mod dtype;
mod tar;
pub mod validate;

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;
use std::path::Path;

use crate::error::{Error, ErrorKind};
use crate::graph::{Graph, NodeId};

pub use crate::container::image::{ReadAt, SparseImage};
pub use checkpoint::{load, open, open_image};
pub use convert::{convert_file, convert_to_safetensors};
pub use dtype::DType;

/// Where the pickle and storages of a checkpoint sit.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Layout {
    /// `torch.save` since 1.6: a ZIP whose entries sit under one root directory (named
    /// after the file, or `archive`), `data.pkl` and `data/<key>` per storage.
    Zip {
        /// The root directory's name.
        root: String,
    },
    /// `torch.save(..., _use_new_zipfile_serialization=False)`: five pickles, then each
    /// storage as an 8-byte element count and its bytes.
    Legacy,
    /// `torch.save` of torch 0.1–0.3: a tar archive of `sys_info`, `pickle` (the
    /// object, whose persistent ids are keys), `tensors` (each tensor's sizes, strides
    /// and offset) and `storages` (each storage's elements).
    LegacyTar,
}

impl Layout {
    /// `torch-zip`, `torch-legacy` or `torch-legacy-tar`, as `container::Format::name` says them.
    pub fn name(&self) -> &'static str {
        match self {
            Layout::Zip { .. } => "torch-zip",
            Layout::Legacy => "torch-legacy",
            Layout::LegacyTar => "torch-legacy-tar",
        }
    }
}

/// One storage of a checkpoint: a record of raw bytes that tensors view.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Storage {
    /// Its key (`0`, `1`...; the record name under `data/`, or a legacy key).
    pub key: String,
    /// The element type its persistent id names (uint8 for `UntypedStorage`).
    pub dtype: DType,
    /// Elements, as its persistent id says (bytes for `UntypedStorage`).
    pub numel: u64,
    /// Its device when saved (`cpu`, `cuda:0`...).
    pub location: String,
    /// Its bytes' range in the file (length `numel × dtype.size()`, checked).
    pub range: Range<u64>,
    /// For a legacy storage view (a persistent id's `view_metadata`), the key of the
    /// storage it is a slice of: its `range` lies within that storage's, and tensors
    /// on two views of one root share bytes where the slices overlap. `None` for a
    /// storage with a record of its own.
    pub root: Option<String>,
}

/// A tensor of a checkpoint, validated against its storage (see [`validate`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tensor {
    /// Its path from the root, keys and list indexes joined with `.`
    /// (`state_dict.layer1.weight`, `optimizer.state.0.exp_avg`); an item of a set or
    /// frozenset is numbered like a list's, in the order the stream adds it.
    pub name: String,
    /// The rebuild call's node in [`Checkpoint::graph`] (the Parameter's, for one).
    pub node: NodeId,
    /// Its element type.
    pub dtype: DType,
    /// Sizes per dimension.
    pub shape: Vec<u64>,
    /// Strides per dimension, in elements.
    pub stride: Vec<u64>,
    /// Where it starts in its storage, in elements of its dtype.
    pub storage_offset: u64,
    /// The key of its storage (see [`Checkpoint::storages`]).
    pub storage_key: String,
    /// Whether it was saved with `requires_grad`.
    pub requires_grad: bool,
    /// Whether it is a `torch.nn.Parameter`.
    pub parameter: bool,
    /// Its storage's byte range in the file.
    pub storage_range: Range<u64>,
    /// Whether the storage's bytes are big-endian (a `byteorder` record saying `big`,
    /// or a legacy `sys_info` with `little_endian=False`).
    pub big_endian: bool,
}

impl Tensor {
    /// Elements (the product of the shape; validated to be at most 2^40).
    pub fn numel(&self) -> u64 {
        self.shape
            .iter()
            .try_fold(1u64, |acc, &d| acc.checked_mul(d))
            .unwrap_or(u64::MAX)
    }

    /// Bytes of its elements when contiguous.
    pub fn nbytes(&self) -> u64 {
        self.numel().saturating_mul(self.dtype.size())
    }

    /// Whether its elements are laid out row-major without gaps from its offset, so
    /// its bytes are one range of the storage.
    pub fn is_contiguous(&self) -> bool {
        if self.numel() == 0 {
            return true;
        }
        let mut expected = 1u64;
        for (&size, &stride) in self.shape.iter().zip(&self.stride).rev() {
            if size != 1 && stride != expected {
                return false;
            }
            expected = expected.saturating_mul(size);
        }
        true
    }

    /// Its storage's bytes, read by range from `file` (the bytes it was opened from).
    pub fn storage_bytes<'f>(&self, file: &'f [u8]) -> Result<&'f [u8], TorchError> {
        range_of(file, &self.storage_range).ok_or_else(|| TorchError::OutOfBounds {
            tensor: self.name.clone(),
            needed: self.storage_range.end,
            available: file.len() as u64,
        })
    }

    /// Its elements in row-major order, little-endian: borrowed from `file` when the
    /// tensor is contiguous and little-endian, else gathered by stride (and swapped).
    pub fn bytes<'f>(&self, file: &'f [u8]) -> Result<Cow<'f, [u8]>, TorchError> {
        convert::contiguous(self, self.storage_bytes(file)?)
    }

    /// Its elements as [`bytes`](Self::bytes) gives them, read from `source` (the file
    /// it was opened from, e.g. `image.source()` after [`load_file`]) by position:
    /// only the bytes of its storage its view reaches, so one tensor of a 10 GB
    /// checkpoint costs its own size, never the file's (a strided view's reach is
    /// checked against its storage when the checkpoint is opened, and a broadcast's
    /// gathered bytes by [`bytes`](Self::bytes)' own bound).
    ///
    /// A read that fails, or a source shorter than the checkpoint said (a file cut
    /// after it was opened), is [`TorchError::Read`] naming the tensor.
    pub fn read_at<S: ReadAt>(&self, source: S) -> Result<Vec<u8>, TorchError> {
        convert::read_at(self, source)
    }
}

/// `data[range]`, when it lies within `data`.
fn range_of<'f>(data: &'f [u8], range: &Range<u64>) -> Option<&'f [u8]> {
    let start = usize::try_from(range.start).ok()?;
    let end = usize::try_from(range.end).ok()?;
    data.get(start..end)
}

/// An opened checkpoint: its decoded pickle and its validated tensors.
#[derive(Debug)]
pub struct Checkpoint<'a> {
    /// Its layout.
    pub layout: Layout,
    /// Whether its storages are big-endian.
    pub big_endian: bool,
    /// The decoded pickle: tensors are rebuild calls in it, every other value (epoch
    /// ints, RNG state bytes, hyperparameters) stays a graph value.
    pub graph: Graph<'a>,
    /// The pickle's root.
    pub root: NodeId,
    /// Every tensor reached from the root, in depth-first order of their names. A
    /// tensor reached by two paths is listed under both names.
    pub tensors: Vec<Tensor>,
    /// Every storage the tensors use, by key.
    pub storages: Vec<Storage>,
}

/// One row of `pickleproof tensors`: what a person wants to see of a tensor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorRow {
    /// Its name path.
    pub name: String,
    /// Its dtype's name (`float32`...).
    pub dtype: &'static str,
    /// Its shape.
    pub shape: Vec<u64>,
    /// Bytes of its elements (`numel × element size`).
    pub bytes: u64,
}

/// Opens and validates a checkpoint and lists its tensors, in name-path order of
/// discovery.
pub fn list_tensors(file: &[u8]) -> Result<Vec<TensorRow>, TorchError> {
    Ok(rows(&open(file)?))
}

/// [`list_tensors`] of a file, read lazily (see [`load_file`]): what `pickleproof
/// tensors FILE` prints.
pub fn list_tensors_file(path: &Path) -> Result<Vec<TensorRow>, TorchError> {
    let image = load_file(path)?;
    Ok(rows(&open_image(&image)?))
}

fn rows(checkpoint: &Checkpoint<'_>) -> Vec<TensorRow> {
    checkpoint
        .tensors
        .iter()
        .map(|t| TensorRow {
            name: t.name.clone(),
            dtype: t.dtype.name(),
            shape: t.shape.clone(),
            bytes: t.nbytes(),
        })
        .collect()
}

/// The rows as a JSON array of `{"name", "dtype", "shape", "bytes"}` objects
/// (`pickleproof tensors FILE --json`), one line, keys in that order.
pub fn to_json(rows: &[TensorRow]) -> String {
    let mut out = String::from("[");
    for (i, row) in rows.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"name\":");
        json_string(&mut out, &row.name);
        out.push_str(",\"dtype\":");
        json_string(&mut out, row.dtype);
        out.push_str(",\"shape\":[");
        let dims: Vec<String> = row.shape.iter().map(u64::to_string).collect();
        out.push_str(&dims.join(","));
        out.push_str("],\"bytes\":");
        out.push_str(&row.bytes.to_string());
        out.push('}');
    }
    out.push(']');
    out
}

/// The rows as aligned text, one tensor a line: name, dtype, shape, bytes.
pub fn to_text(rows: &[TensorRow]) -> String {
    let width = rows
        .iter()
        .map(|r| r.name.chars().count())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for row in rows {
        let dims: Vec<String> = row.shape.iter().map(u64::to_string).collect();
        out.push_str(&format!(
            "{:<width$}  {:<15}  [{}]  {}\n",
            row.name,
            row.dtype,
            dims.join(", "),
            row.bytes
        ));
    }
    out
}

fn json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Reads a whole file (for [`open`], [`list_tensors`] and [`convert_to_safetensors`],
/// which work on bytes in memory; [`load_file`] reads only what opening needs).
pub fn read_file(path: &Path) -> Result<Vec<u8>, TorchError> {
    std::fs::read(path).map_err(|e| io_error(&e, path))
}

/// Opens the file at `path` and reads what opening the checkpoint needs, by range
/// ([`load`]): pass the image to [`open_image`].
pub fn load_file(path: &Path) -> Result<SparseImage<std::fs::File>, TorchError> {
    let file = std::fs::File::open(path).map_err(|e| io_error(&e, path))?;
    load(file).map_err(|e| io_error(&e, path))
}

#[cold]
fn io_error(e: &std::io::Error, path: &Path) -> TorchError {
    TorchError::Io {
        kind: e.kind(),
        path: path.display().to_string(),
    }
}

/// Why a checkpoint was refused. Every variant about a tensor names it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TorchError {
    /// Neither a ZIP checkpoint (no `<root>/data.pkl`) nor a legacy one.
    NotACheckpoint(&'static str),
    /// The container or the pickle could not be read (a broken ZIP, a malformed
    /// pickle, a budget): the decoder's error.
    Pickle(Error),
    /// The pickle names a global the PyTorch policy refuses (`os.system`...).
    Forbidden {
        /// Its module.
        module: String,
        /// Its name.
        name: String,
        /// Byte offset of the opcode in the pickle.
        offset: u64,
    },
    /// A rebuild call's arguments are not what torch writes.
    Malformed {
        /// The tensor.
        tensor: String,
        /// What is wrong.
        what: &'static str,
    },
    /// A rebuild function this crate does not read (sparse, meta, wrapper subclass...).
    UnsupportedTensor {
        /// The tensor.
        tensor: String,
        /// The rebuild function (`torch._utils._rebuild_sparse_tensor`).
        rebuild: String,
    },
    /// A storage class or dtype global that names no known dtype.
    UnknownDtype {
        /// The tensor.
        tensor: String,
        /// The name found (`torch.Float9Storage`).
        name: String,
    },
    /// A negative size, stride or offset.
    Negative {
        /// The tensor.
        tensor: String,
        /// `shape`, `stride`, `storage_offset`, `numel`, or a legacy storage view's
        /// `view_offset` or `view_size`.
        field: &'static str,
        /// The value.
        value: i64,
    },
    /// A size, stride, offset, rank or element count over its bound (rank ≤ 64,
    /// numel ≤ 2^40, each number fitting 63 bits).
    TooLarge {
        /// The tensor.
        tensor: String,
        /// `rank`, `numel`, `shape`, `stride`, `storage_offset`, `storage`,
        /// `view_offset`, `view_size`.
        field: &'static str,
        /// The bound.
        limit: u64,
    },
    /// Shape and stride of different lengths.
    RankMismatch {
        /// The tensor.
        tensor: String,
        /// Dimensions of the shape.
        shape: usize,
        /// Dimensions of the stride.
        stride: usize,
    },
    /// The storage's record is not in the file.
    MissingStorage {
        /// The tensor.
        tensor: String,
        /// The storage key.
        key: String,
    },
    /// Two records in the archive for one storage key.
    DuplicateStorage {
        /// The first tensor using it.
        tensor: String,
        /// The storage key.
        key: String,
    },
    /// The storage's record is compressed (torch writes them stored; a compressed
    /// one has no byte range in the file to read lazily).
    CompressedStorage {
        /// The tensor.
        tensor: String,
        /// The storage key.
        key: String,
    },
    /// The record's length is not `numel × element size` of its storage.
    StorageSizeMismatch {
        /// The tensor.
        tensor: String,
        /// The storage key.
        key: String,
        /// Bytes the persistent id implies.
        expected: u64,
        /// Bytes in the record.
        actual: u64,
    },
    /// Two persistent ids name one storage key with different storage types or sizes:
    /// not sharing but a second tensor's record reinterpreted.
    StorageConflict {
        /// The tensor whose persistent id disagrees.
        tensor: String,
        /// The storage key.
        key: String,
        /// The tensor that named the key first.
        first: String,
    },
    /// The view reaches past its storage: `(offset + Σ (size−1)×stride + 1) × element
    /// size` bytes needed, fewer available; or a legacy storage view reaches past its
    /// root storage: `(view offset + view size) × element size` bytes needed.
    OutOfBounds {
        /// The tensor.
        tensor: String,
        /// Bytes the view needs.
        needed: u64,
        /// Bytes the storage has.
        available: u64,
    },
    /// Too many tensors or name bytes for the walk's budget.
    Limit {
        /// `tensors` or `name bytes`.
        what: &'static str,
        /// The bound.
        limit: u64,
    },
    /// `--key` names no entry of the checkpoint holding tensors.
    KeyNotFound {
        /// The key asked for.
        key: String,
    },
    /// A dtype safetensors cannot hold (complex, quantized, fnuz float8).
    UnsupportedDtype {
        /// The tensor.
        tensor: String,
        /// Its dtype.
        dtype: DType,
    },
    /// Tensors to export share storage bytes: a safetensors file cannot say so, and
    /// writing one name of them would silently drop the others (see `convert`).
    Aliased {
        /// The storage key.
        key: String,
        /// Every tensor sharing its bytes, sorted.
        tensors: Vec<String>,
    },
    /// The safetensors writer refused.
    Safetensors(String),
    /// Reading a tensor's bytes from its source failed ([`Tensor::read_at`]), or the
    /// source ended before them.
    Read {
        /// The tensor.
        tensor: String,
        /// The kind of failure (`UnexpectedEof` for a source cut short).
        kind: std::io::ErrorKind,
    },
    /// Reading or writing a file failed.
    Io {
        /// The kind of failure.
        kind: std::io::ErrorKind,
        /// The path.
        path: String,
    },
}

impl TorchError {
    /// A short stable name (`out_of_bounds`, `storage_conflict`...), as in manifests
    /// and the CLI's JSON.
    pub fn name(&self) -> &'static str {
        match self {
            TorchError::NotACheckpoint(_) => "not_a_checkpoint",
            TorchError::Pickle(_) => "pickle",
            TorchError::Forbidden { .. } => "forbidden",
            TorchError::Malformed { .. } => "malformed",
            TorchError::UnsupportedTensor { .. } => "unsupported_tensor",
            TorchError::UnknownDtype { .. } => "unknown_dtype",
            TorchError::Negative { .. } => "negative",
            TorchError::TooLarge { .. } => "too_large",
            TorchError::RankMismatch { .. } => "rank_mismatch",
            TorchError::MissingStorage { .. } => "missing_storage",
            TorchError::DuplicateStorage { .. } => "duplicate_storage",
            TorchError::CompressedStorage { .. } => "compressed_storage",
            TorchError::StorageSizeMismatch { .. } => "storage_size_mismatch",
            TorchError::StorageConflict { .. } => "storage_conflict",
            TorchError::OutOfBounds { .. } => "out_of_bounds",
            TorchError::Limit { .. } => "limit",
            TorchError::KeyNotFound { .. } => "key_not_found",
            TorchError::UnsupportedDtype { .. } => "unsupported_dtype",
            TorchError::Aliased { .. } => "aliased",
            TorchError::Safetensors(_) => "safetensors",
            TorchError::Read { .. } => "read",
            TorchError::Io { .. } => "io",
        }
    }

    /// The tensor the error is about, when it is about one.
    pub fn tensor(&self) -> Option<&str> {
        match self {
            TorchError::Malformed { tensor, .. }
            | TorchError::UnsupportedTensor { tensor, .. }
            | TorchError::UnknownDtype { tensor, .. }
            | TorchError::Negative { tensor, .. }
            | TorchError::TooLarge { tensor, .. }
            | TorchError::RankMismatch { tensor, .. }
            | TorchError::MissingStorage { tensor, .. }
            | TorchError::DuplicateStorage { tensor, .. }
            | TorchError::CompressedStorage { tensor, .. }
            | TorchError::StorageSizeMismatch { tensor, .. }
            | TorchError::StorageConflict { tensor, .. }
            | TorchError::OutOfBounds { tensor, .. }
            | TorchError::UnsupportedDtype { tensor, .. }
            | TorchError::Read { tensor, .. } => Some(tensor),
            _ => None,
        }
    }

    /// Wraps a decoder error, lifting a policy refusal to [`TorchError::Forbidden`].
    #[cold]
    pub(crate) fn from_decode(e: Error) -> TorchError {
        match e.kind() {
            ErrorKind::Forbidden { module, name } => TorchError::Forbidden {
                module: module.clone(),
                name: name.clone(),
                offset: e.offset(),
            },
            _ => TorchError::Pickle(e),
        }
    }
}

impl fmt::Display for TorchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TorchError::NotACheckpoint(why) => write!(f, "not a PyTorch checkpoint: {why}"),
            TorchError::Pickle(e) => write!(f, "{e}"),
            TorchError::Forbidden {
                module,
                name,
                offset,
            } => write!(
                f,
                "the pickle imports {module}.{name}, which the pytorch policy refuses (at offset {offset})"
            ),
            TorchError::Malformed { tensor, what } => write!(f, "tensor {tensor}: {what}"),
            TorchError::UnsupportedTensor { tensor, rebuild } => {
                write!(f, "tensor {tensor}: rebuilt by {rebuild}, which is not supported")
            }
            TorchError::UnknownDtype { tensor, name } => {
                write!(f, "tensor {tensor}: unknown dtype {name}")
            }
            TorchError::Negative {
                tensor,
                field,
                value,
            } => write!(f, "tensor {tensor}: negative {field} {value}"),
            TorchError::TooLarge {
                tensor,
                field,
                limit,
            } => write!(f, "tensor {tensor}: {field} over the limit {limit}"),
            TorchError::RankMismatch {
                tensor,
                shape,
                stride,
            } => write!(
                f,
                "tensor {tensor}: {shape} sizes but {stride} strides"
            ),
            TorchError::MissingStorage { tensor, key } => {
                write!(f, "tensor {tensor}: storage {key} is not in the file")
            }
            TorchError::DuplicateStorage { tensor, key } => {
                write!(f, "tensor {tensor}: storage {key} has two records")
            }
            TorchError::CompressedStorage { tensor, key } => {
                write!(f, "tensor {tensor}: storage {key} is compressed")
            }
            TorchError::StorageSizeMismatch {
                tensor,
                key,
                expected,
                actual,
            } => write!(
                f,
                "tensor {tensor}: storage {key} should be {expected} bytes but its record is {actual}"
            ),
            TorchError::StorageConflict { tensor, key, first } => write!(
                f,
                "tensor {tensor}: storage {key} is named with another type or size by tensor {first}"
            ),
            TorchError::OutOfBounds {
                tensor,
                needed,
                available,
            } => write!(
                f,
                "tensor {tensor}: view needs {needed} bytes of a storage of {available}"
            ),
            TorchError::Limit { what, limit } => write!(f, "more than {limit} {what}"),
            TorchError::KeyNotFound { key } => write!(f, "no tensors under key {key:?}"),
            TorchError::UnsupportedDtype { tensor, dtype } => {
                write!(f, "tensor {tensor}: safetensors has no dtype {dtype}")
            }
            TorchError::Aliased { key, tensors } => write!(
                f,
                "tensors share storage {key}: {} (a safetensors file cannot hold shared tensors; choose one with --key or deduplicate before saving)",
                tensors.join(", ")
            ),
            TorchError::Safetensors(e) => write!(f, "safetensors: {e}"),
            TorchError::Read { tensor, kind } => {
                write!(f, "tensor {tensor}: reading its bytes failed: {kind}")
            }
            TorchError::Io { kind, path } => write!(f, "{path}: {kind}"),
        }
    }
}

impl std::error::Error for TorchError {}
