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
//! - a legacy storage view (`(view_key, offset, view_size)` in a storage's persistent
//!   id) has a non-negative offset and size and lies within its root storage:
//!   `(offset + view_size) × element size` bytes at most ([`TorchError::Negative`],
//!   [`TorchError::TooLarge`], [`TorchError::OutOfBounds`]); a view key names one
//!   slice of one root, never a root itself ([`TorchError::StorageConflict`]), since
//!   `_legacy_load` keeps roots and views under one set of keys and would hand a
//!   later tensor whichever came first;
//! - each tensor fits its storage (its view's slice, for a view): `(offset + Σ (size
//!   − 1) × stride + 1) × element size` bytes at most, for a non-empty tensor
//!   ([`TorchError::OutOfBounds`]).
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
    /// A legacy storage view of it: the storage the tensor uses is this slice.
    pub(crate) view: Option<RawView>,
}

/// A legacy storage view, `(view_key, offset, view_size)` in elements of the storage.
#[derive(Clone, Debug)]
pub(crate) struct RawView {
    pub(crate) key: String,
    pub(crate) offset: Num,
    pub(crate) size: Num,
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
                .is_some_and(|d| d.dtype == dtype && d.numel == numel && d.root.is_none());
            if !agrees {
                return Err(TorchError::StorageConflict {
                    tensor: t.name.clone(),
                    key: s.key.clone(),
                    first: first.to_owned(),
                });
            }
            if let Some(v) = &s.view {
                declare_view(t, v, index, &mut storages, &mut by_key)?;
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
        let index = storages.len();
        by_key.insert(&s.key, (index, &t.name));
        storages.push(Storage {
            key: s.key.clone(),
            dtype,
            numel,
            location: s.location.clone(),
            range,
            root: None,
        });
        if let Some(v) = &s.view {
            declare_view(t, v, index, &mut storages, &mut by_key)?;
        }
    }
    let mut tensors = Vec::with_capacity(raw.len());
    for t in raw {
        let key = t.storage.view.as_ref().map_or(&t.storage.key, |v| &v.key);
        let storage = by_key
            .get(key.as_str())
            .and_then(|&(i, _)| storages.get(i))
            .ok_or_else(|| TorchError::MissingStorage {
                tensor: t.name.clone(),
                key: t.storage.key.clone(),
            })?;
        tensors.push(tensor(t, storage, big_endian)?);
    }
    Ok((tensors, storages))
}

/// Declares the storage view `v` of tensor `t` on the root storage `storages[root]`
/// (already checked against its record), or checks it against the view of that key
/// declared before.
fn declare_view<'r>(
    t: &'r RawTensor,
    v: &'r RawView,
    root: usize,
    storages: &mut Vec<Storage>,
    by_key: &mut HashMap<&'r str, (usize, &'r str)>,
) -> Result<(), TorchError> {
    let name = t.name.as_str();
    let Some(root) = storages.get(root) else {
        return Err(TorchError::MissingStorage {
            tensor: name.to_owned(),
            key: t.storage.key.clone(),
        });
    };
    let offset = unsigned(name, "view_offset", v.offset)?;
    let size = unsigned(name, "view_size", v.size)?;
    let elsize = root.dtype.size();
    let available = root.range.end.saturating_sub(root.range.start);
    let end = offset.checked_add(size).filter(|&e| e <= root.numel);
    // Within the root's elements, so within its checked byte length: no overflow.
    let range = end
        .and_then(|_| {
            let start = root.range.start.checked_add(offset.checked_mul(elsize)?)?;
            Some(start..start.checked_add(size.checked_mul(elsize)?)?)
        })
        .ok_or_else(|| TorchError::OutOfBounds {
            tensor: name.to_owned(),
            needed: offset
                .checked_add(size)
                .and_then(|e| e.checked_mul(elsize))
                .unwrap_or(u64::MAX),
            available,
        })?;
    let view = Storage {
        key: v.key.clone(),
        dtype: root.dtype,
        numel: size,
        location: root.location.clone(),
        range,
        root: Some(root.key.clone()),
    };
    if let Some(&(index, first)) = by_key.get(v.key.as_str()) {
        if storages.get(index) != Some(&view) {
            return Err(TorchError::StorageConflict {
                tensor: name.to_owned(),
                key: v.key.clone(),
                first: first.to_owned(),
            });
        }
        return Ok(());
    }
    by_key.insert(&v.key, (storages.len(), name));
    storages.push(view);
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A float32 tensor of 2 elements on the view `(v, offset, size)` of a root `r`
    /// of 4 elements, whose record is bytes 100..116.
    fn on_view(offset: i64, size: i64) -> Result<(Vec<Tensor>, Vec<Storage>), TorchError> {
        let raw = RawTensor {
            name: "w".to_owned(),
            node: NodeId(0),
            parameter: false,
            requires_grad: false,
            storage: RawStorage {
                class: "FloatStorage".to_owned(),
                key: "r".to_owned(),
                location: "cpu".to_owned(),
                numel: Num::Int(4),
                view: Some(RawView {
                    key: "v".to_owned(),
                    offset: Num::Int(offset),
                    size: Num::Int(size),
                }),
            },
            dtype: None,
            storage_offset: Num::Int(0),
            shape: vec![Num::Int(2)],
            stride: vec![Num::Int(1)],
        };
        validate(&[raw], false, |_, _| Ok(100..116))
    }

    #[test]
    fn a_storage_view_is_its_slice_of_the_root() {
        let (tensors, storages) = on_view(1, 3).unwrap();
        assert_eq!(tensors[0].storage_range, 104..116);
        assert_eq!(tensors[0].storage_key, "v");
        assert_eq!(storages[1].root.as_deref(), Some("r"));
        assert_eq!(storages[1].numel, 3);
    }

    #[test]
    fn a_storage_view_past_its_root_or_negative_is_refused() {
        let oob = |needed| TorchError::OutOfBounds {
            tensor: "w".to_owned(),
            needed,
            available: 16,
        };
        assert_eq!(on_view(2, 3).unwrap_err(), oob(20));
        assert_eq!(on_view(i64::MAX, i64::MAX).unwrap_err(), oob(u64::MAX));
        assert_eq!(on_view(1 << 62, 1).unwrap_err(), oob(u64::MAX));
        assert_eq!(
            on_view(-1, 2).unwrap_err(),
            TorchError::Negative {
                tensor: "w".to_owned(),
                field: "view_offset",
                value: -1
            }
        );
        assert_eq!(
            on_view(0, -2).unwrap_err(),
            TorchError::Negative {
                tensor: "w".to_owned(),
                field: "view_size",
                value: -2
            }
        );
        // A view too small for its tensor: the tensor is out of its view's bounds.
        assert_eq!(
            on_view(0, 1).unwrap_err(),
            TorchError::OutOfBounds {
                tensor: "w".to_owned(),
                needed: 8,
                available: 4
            }
        );
    }
}
