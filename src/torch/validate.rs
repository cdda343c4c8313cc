//! The checks every tensor passes before a byte of it is read.
//!
//! torch itself trusts a checkpoint's numbers: a view past its storage reads other
//! memory, a storage record shorter than its persistent id says is read short. Each
//! check here is one way a hostile file could make a reader go out of bounds or
//! reinterpret bytes, and each failure is a [`TorchError`] naming the tensor:
//!
//! - every storage class and dtype is one torch defines ([`TorchError::UnknownDtype`]);
//! - rank at most [`MAX_RANK`], shape and stride of one length, every size, stride and
//!   offset non-negative and within 63 bits, the element count at most [`MAX_NUMEL`]
//!   ([`TorchError::Negative`], [`TorchError::TooLarge`], [`TorchError::RankMismatch`]);
//! - a storage key named by several tensors is shared only when every persistent id
//!   naming it agrees on its storage type and size ([`TorchError::StorageConflict`]):
//!   otherwise one tensor's record would be read as another dtype;
//! - each storage's record exists once, stored ([`TorchError::MissingStorage`],
//!   [`TorchError::DuplicateStorage`], [`TorchError::CompressedStorage`]), and holds
//!   exactly `numel × element size` bytes ([`TorchError::StorageSizeMismatch`]);
//! - each view fits its storage: `(offset + Σ (size − 1) × stride + 1) × element size`
//!   bytes at most, for a non-empty view ([`TorchError::OutOfBounds`]).
//!
//! All arithmetic is checked; an overflow is reported as the bound it broke.

use std::collections::HashMap;
use std::ops::Range;

use crate::graph::NodeId;
use crate::torch::{DType, Storage, Tensor, TorchError};

/// Most dimensions a tensor may have (torch's own kernels stop at 64 too).
pub const MAX_RANK: usize = 64;
/// Most elements a tensor may have: 2^40, a terabyte of bytes, beyond any checkpoint
/// one file holds, and small enough that every product below stays within 64 bits.
pub const MAX_NUMEL: u64 = 1 << 40;

/// An int as the pickle held it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Num {
    Int(i64),
    /// More than 64 bits.
    Big,
}

/// A storage persistent id as found.
#[derive(Clone, Debug)]
pub(crate) struct RawStorage {
    /// The storage class (`FloatStorage`; `module.Name` outside `torch`).
    pub(crate) class: String,
    pub(crate) key: String,
    pub(crate) location: String,
    pub(crate) numel: Num,
}

/// A tensor as found in the graph, before any check.
#[derive(Clone, Debug)]
pub(crate) struct RawTensor {
    pub(crate) name: String,
    pub(crate) node: NodeId,
    pub(crate) parameter: bool,
    pub(crate) requires_grad: bool,
    pub(crate) storage: RawStorage,
    /// `_rebuild_tensor_v3`'s dtype (`uint16`...).
    pub(crate) dtype: Option<String>,
    pub(crate) storage_offset: Num,
    pub(crate) shape: Vec<Num>,
    pub(crate) stride: Vec<Num>,
}

fn unsigned(tensor: &str, field: &'static str, n: Num) -> Result<u64, TorchError> {
    match n {
        Num::Int(v) => u64::try_from(v).map_err(|_| TorchError::Negative {
            tensor: tensor.to_owned(),
            field,
            value: v,
        }),
        Num::Big => Err(TorchError::TooLarge {
            tensor: tensor.to_owned(),
            field,
            limit: i64::MAX as u64,
        }),
    }
}

fn too_large(tensor: &str, field: &'static str, limit: u64) -> TorchError {
    TorchError::TooLarge {
        tensor: tensor.to_owned(),
        field,
        limit,
    }
}

/// Validates every tensor; `record(key, tensor)` finds a storage's byte range in the
/// file (or says why it cannot). Returns the tensors and the storages they use.
pub(crate) fn validate(
    raw: &[RawTensor],
    big_endian: bool,
    mut record: impl FnMut(&str, &str) -> Result<Range<u64>, TorchError>,
) -> Result<(Vec<Tensor>, Vec<Storage>), TorchError> {
    // Storages first: one declaration per key, agreed on by every tensor naming it.
    let mut storages: Vec<Storage> = Vec::new();
    let mut by_key: HashMap<&str, (usize, &str)> = HashMap::new();
    for t in raw {
        let s = &t.storage;
        let dtype =
            DType::from_storage_class(&s.class).ok_or_else(|| TorchError::UnknownDtype {
                tensor: t.name.clone(),
                name: format!("torch.{}", s.class),
            })?;
        let numel = unsigned(&t.name, "numel", s.numel)?;
        if let Some(&(index, first)) = by_key.get(s.key.as_str()) {
            let agrees = storages
                .get(index)
                .is_some_and(|d| d.dtype == dtype && d.numel == numel);
            if !agrees {
                return Err(TorchError::StorageConflict {
                    tensor: t.name.clone(),
                    key: s.key.clone(),
                    first: first.to_owned(),
                });
            }
            continue;
        }
        let expected = numel
            .checked_mul(dtype.size())
            .ok_or_else(|| too_large(&t.name, "storage", u64::MAX))?;
        let range = record(&s.key, &t.name)?;
        let actual = range.end.saturating_sub(range.start);
        if actual != expected {
            return Err(TorchError::StorageSizeMismatch {
                tensor: t.name.clone(),
                key: s.key.clone(),
                expected,
                actual,
            });
        }
        by_key.insert(&s.key, (storages.len(), &t.name));
        storages.push(Storage {
            key: s.key.clone(),
            dtype,
            numel,
            location: s.location.clone(),
            range,
        });
    }
    let mut tensors = Vec::with_capacity(raw.len());
    for t in raw {
        let storage = by_key
            .get(t.storage.key.as_str())
            .and_then(|&(i, _)| storages.get(i))
            .ok_or_else(|| TorchError::MissingStorage {
                tensor: t.name.clone(),
                key: t.storage.key.clone(),
            })?;
        tensors.push(tensor(t, storage, big_endian)?);
    }
    Ok((tensors, storages))
}

/// Checks one tensor's numbers against its (already checked) storage.
fn tensor(t: &RawTensor, storage: &Storage, big_endian: bool) -> Result<Tensor, TorchError> {
    let name = t.name.as_str();
    let dtype = match &t.dtype {
        None => storage.dtype,
        Some(d) => DType::from_name(d).ok_or_else(|| TorchError::UnknownDtype {
            tensor: name.to_owned(),
            name: format!("torch.{d}"),
        })?,
    };
    if t.shape.len() > MAX_RANK {
        return Err(too_large(name, "rank", MAX_RANK as u64));
    }
    if t.shape.len() != t.stride.len() {
        return Err(TorchError::RankMismatch {
            tensor: name.to_owned(),
            shape: t.shape.len(),
            stride: t.stride.len(),
        });
    }
    let shape = t
        .shape
        .iter()
        .map(|&n| unsigned(name, "shape", n))
        .collect::<Result<Vec<u64>, _>>()?;
    let stride = t
        .stride
        .iter()
        .map(|&n| unsigned(name, "stride", n))
        .collect::<Result<Vec<u64>, _>>()?;
    let offset = unsigned(name, "storage_offset", t.storage_offset)?;
    let mut numel = 1u64;
    for &d in &shape {
        numel = numel
            .checked_mul(d)
            .filter(|&n| n <= MAX_NUMEL)
            .ok_or_else(|| too_large(name, "numel", MAX_NUMEL))?;
    }
    if numel == 0 && shape.iter().any(|&d| d > MAX_NUMEL) {
        return Err(too_large(name, "shape", MAX_NUMEL));
    }
    let available = storage.range.end.saturating_sub(storage.range.start);
    if numel > 0 {
        // The last element's index plus one, in elements of the tensor's dtype.
        let mut last = offset;
        for (&d, &s) in shape.iter().zip(&stride) {
            last = d
                .checked_sub(1)
                .and_then(|d| d.checked_mul(s))
                .and_then(|x| last.checked_add(x))
                .ok_or(TorchError::OutOfBounds {
                    tensor: name.to_owned(),
                    needed: u64::MAX,
                    available,
                })?;
        }
        let needed = last
            .checked_add(1)
            .and_then(|n| n.checked_mul(dtype.size()))
            .unwrap_or(u64::MAX);
        if needed > available {
            return Err(TorchError::OutOfBounds {
                tensor: name.to_owned(),
                needed,
                available,
            });
        }
    }
    Ok(Tensor {
        name: t.name.clone(),
        node: t.node,
        dtype,
        shape,
        stride,
        storage_offset: offset,
        storage_key: storage.key.clone(),
        requires_grad: t.requires_grad,
        parameter: t.parameter,
        storage_range: storage.range.clone(),
        big_endian,
    })
}
