//! Export to safetensors: every tensor (or those under one key) as contiguous
//! little-endian bytes, with metadata `{"format": "pt"}` as Hugging Face's
//! `convert.py` writes.
//!
//! **Shared storage is refused, not deduplicated.** A safetensors file cannot say that
//! two names share bytes. Hugging Face's `convert.py` keeps one name of each shared
//! group and drops the others (`_remove_duplicate_names`), even when a dropped name is
//! a different view of the storage; a model loading the file then misses the dropped
//! names, or gets them silently untied. Refusing with every alias listed
//! ([`TorchError::Aliased`]) leaves that choice to the person converting (pick a
//! sub-dict with `key`, or untie before saving). Views of one storage whose bytes do
//! not overlap (slices of a flat buffer) share nothing and are written each on its own.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use safetensors::tensor::{Dtype, View};

use crate::torch::{checkpoint::open, read_file, DType, Tensor, TorchError};

/// A view may gather at most this many bytes more than its storage holds (a stride-0
/// broadcast repeats elements; a hostile one would repeat them 2^40 times).
const GATHER_SLACK: u64 = 1 << 20;

/// Converts a checkpoint's tensors to the bytes of a safetensors file: all of them, or
/// with `key` those under that entry (`state_dict`, or a dotted path), named relative
/// to it. Names are the checkpoint's keys joined with `.`.
pub fn convert_to_safetensors(file: &[u8], key: Option<&str>) -> Result<Vec<u8>, TorchError> {
    let views = prepare(file, key)?;
    safetensors::tensor::serialize(views, Some(metadata()))
        .map_err(|e| TorchError::Safetensors(e.to_string()))
}

/// [`convert_to_safetensors`] from one path to another, writing tensors straight to
/// the output file (contiguous ones are never copied in memory).
pub fn convert_file(input: &Path, output: &Path, key: Option<&str>) -> Result<(), TorchError> {
    let file = read_file(input)?;
    let views = prepare(&file, key)?;
    safetensors::tensor::serialize_to_file(views, Some(metadata()), output).map_err(|e| match e {
        safetensors::SafeTensorError::IoError(io) => TorchError::Io {
            kind: io.kind(),
            path: output.display().to_string(),
        },
        other => TorchError::Safetensors(other.to_string()),
    })
}

fn metadata() -> HashMap<String, String> {
    HashMap::from([("format".to_owned(), "pt".to_owned())])
}

/// One tensor ready to write.
struct Out<'f> {
    dtype: Dtype,
    shape: Vec<usize>,
    data: Cow<'f, [u8]>,
}

impl View for Out<'_> {
    fn dtype(&self) -> Dtype {
        self.dtype
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.data)
    }
    fn data_len(&self) -> usize {
        self.data.len()
    }
}

/// safetensors' name for a dtype, when it has one.
fn safetensors_dtype(d: DType) -> Option<Dtype> {
    Some(match d {
        DType::Float64 => Dtype::F64,
        DType::Float32 => Dtype::F32,
        DType::Float16 => Dtype::F16,
        DType::BFloat16 => Dtype::BF16,
        DType::Float8E4M3Fn => Dtype::F8_E4M3,
        DType::Float8E5M2 => Dtype::F8_E5M2,
        DType::Int64 => Dtype::I64,
        DType::Int32 => Dtype::I32,
        DType::Int16 => Dtype::I16,
        DType::Int8 => Dtype::I8,
        DType::UInt8 => Dtype::U8,
        DType::UInt16 => Dtype::U16,
        DType::UInt32 => Dtype::U32,
        DType::UInt64 => Dtype::U64,
        DType::Bool => Dtype::BOOL,
        _ => return None,
    })
}

/// The tensors to write, by name (sorted: safetensors orders them itself).
fn prepare<'f>(file: &'f [u8], key: Option<&str>) -> Result<BTreeMap<String, Out<'f>>, TorchError> {
    let checkpoint = open(file)?;
    let selected: Vec<(String, &Tensor)> = match key {
        None => checkpoint
            .tensors
            .iter()
            .map(|t| (t.name.clone(), t))
            .collect(),
        Some(k) => {
            let prefix = format!("{k}.");
            checkpoint
                .tensors
                .iter()
                .filter_map(|t| {
                    if t.name == k {
                        Some((t.name.clone(), t))
                    } else {
                        t.name.strip_prefix(&prefix).map(|n| (n.to_owned(), t))
                    }
                })
                .collect()
        }
    };
    if let Some(k) = key {
        if selected.is_empty() {
            return Err(TorchError::KeyNotFound { key: k.to_owned() });
        }
    }
    refuse_aliases(&selected)?;
    let mut out = BTreeMap::new();
    for (name, t) in selected {
        let dtype = safetensors_dtype(t.dtype).ok_or_else(|| TorchError::UnsupportedDtype {
            tensor: t.name.clone(),
            dtype: t.dtype,
        })?;
        let shape = t
            .shape
            .iter()
            .map(|&d| usize::try_from(d))
            .collect::<Result<Vec<usize>, _>>()
            .map_err(|_| TorchError::TooLarge {
                tensor: t.name.clone(),
                field: "shape",
                limit: usize::MAX as u64,
            })?;
        let data = t.bytes(file)?;
        out.insert(name, Out { dtype, shape, data });
    }
    Ok(out)
}

/// Refuses tensors whose bytes overlap in one storage (see the module docs).
fn refuse_aliases(selected: &[(String, &Tensor)]) -> Result<(), TorchError> {
    let mut by_storage: BTreeMap<&str, Vec<(u64, u64, &str)>> = BTreeMap::new();
    for (name, t) in selected {
        if let Some((start, end)) = extent(t) {
            by_storage
                .entry(t.storage_key.as_str())
                .or_default()
                .push((start, end, name.as_str()));
        }
    }
    for (key, mut spans) in by_storage {
        spans.sort_unstable();
        let mut group: Vec<&str> = Vec::new();
        let mut group_end = 0u64;
        for (start, end, name) in spans {
            if !group.is_empty() && start < group_end {
                group.push(name);
                group_end = group_end.max(end);
                continue;
            }
            if group.len() > 1 {
                break;
            }
            group = vec![name];
            group_end = end;
        }
        if group.len() > 1 {
            let mut tensors: Vec<String> = group.iter().map(|s| (*s).to_owned()).collect();
            tensors.sort();
            return Err(TorchError::Aliased {
                key: key.to_owned(),
                tensors,
            });
        }
    }
    Ok(())
}

/// The bytes of its storage a non-empty tensor touches: `[first, last + 1)` times the
/// element size (validated not to overflow).
fn extent(t: &Tensor) -> Option<(u64, u64)> {
    if t.numel() == 0 {
        return None;
    }
    let size = t.dtype.size();
    let mut last = t.storage_offset;
    for (&d, &s) in t.shape.iter().zip(&t.stride) {
        last = last.checked_add(d.checked_sub(1)?.checked_mul(s)?)?;
    }
    Some((
        t.storage_offset.checked_mul(size)?,
        last.checked_add(1)?.checked_mul(size)?,
    ))
}

/// A tensor's elements in row-major order, little-endian, from its storage's bytes.
pub(crate) fn contiguous<'f>(t: &Tensor, storage: &'f [u8]) -> Result<Cow<'f, [u8]>, TorchError> {
    let out_of_bounds = |needed: u64| TorchError::OutOfBounds {
        tensor: t.name.clone(),
        needed,
        available: storage.len() as u64,
    };
    let size = t.dtype.size();
    let nbytes = t
        .numel()
        .checked_mul(size)
        .ok_or_else(|| out_of_bounds(u64::MAX))?;
    if nbytes == 0 {
        return Ok(Cow::Borrowed(&[]));
    }
    let unit = t.dtype.swap_unit();
    let swap = t.big_endian && unit > 1;
    if t.is_contiguous() {
        let start = t
            .storage_offset
            .checked_mul(size)
            .ok_or_else(|| out_of_bounds(u64::MAX))?;
        let end = start
            .checked_add(nbytes)
            .ok_or_else(|| out_of_bounds(u64::MAX))?;
        let bytes =
            crate::torch::range_of(storage, &(start..end)).ok_or_else(|| out_of_bounds(end))?;
        if !swap {
            return Ok(Cow::Borrowed(bytes));
        }
        let mut owned = bytes.to_vec();
        swap_units(&mut owned, unit);
        return Ok(Cow::Owned(owned));
    }
    let limit = (storage.len() as u64).saturating_add(GATHER_SLACK);
    if nbytes > limit {
        return Err(TorchError::TooLarge {
            tensor: t.name.clone(),
            field: "gathered bytes",
            limit,
        });
    }
    let cap = usize::try_from(nbytes).map_err(|_| out_of_bounds(nbytes))?;
    let mut out = Vec::with_capacity(cap);
    // Rows along the last dimension; an odometer over the others.
    let rank = t.shape.len();
    let (row_len, row_stride) = match (t.shape.last(), t.stride.last()) {
        (Some(&l), Some(&s)) => (l, s),
        _ => (1, 1),
    };
    let outer = t.shape.get(..rank.saturating_sub(1)).unwrap_or(&[]);
    let outer_strides = t.stride.get(..rank.saturating_sub(1)).unwrap_or(&[]);
    let mut index = vec![0u64; outer.len()];
    loop {
        let mut base = t.storage_offset;
        for (&i, &s) in index.iter().zip(outer_strides) {
            base = i
                .checked_mul(s)
                .and_then(|x| base.checked_add(x))
                .ok_or_else(|| out_of_bounds(u64::MAX))?;
        }
        if row_stride == 1 {
            let start = base
                .checked_mul(size)
                .ok_or_else(|| out_of_bounds(u64::MAX))?;
            let end = row_len
                .checked_mul(size)
                .and_then(|n| start.checked_add(n))
                .ok_or_else(|| out_of_bounds(u64::MAX))?;
            let row =
                crate::torch::range_of(storage, &(start..end)).ok_or_else(|| out_of_bounds(end))?;
            out.extend_from_slice(row);
        } else {
            for j in 0..row_len {
                let start = j
                    .checked_mul(row_stride)
                    .and_then(|x| base.checked_add(x))
                    .and_then(|e| e.checked_mul(size))
                    .ok_or_else(|| out_of_bounds(u64::MAX))?;
                let end = start
                    .checked_add(size)
                    .ok_or_else(|| out_of_bounds(u64::MAX))?;
                let el = crate::torch::range_of(storage, &(start..end))
                    .ok_or_else(|| out_of_bounds(end))?;
                out.extend_from_slice(el);
            }
        }
        // Next outer index, last dimension fastest.
        let mut dim = outer.len();
        loop {
            let Some(d) = dim.checked_sub(1) else {
                if swap {
                    swap_units(&mut out, unit);
                }
                return Ok(Cow::Owned(out));
            };
            dim = d;
            let (Some(i), Some(&n)) = (index.get_mut(d), outer.get(d)) else {
                return Err(out_of_bounds(u64::MAX));
            };
            *i = i.saturating_add(1);
            if *i < n {
                break;
            }
            *i = 0;
        }
    }
}

/// Reverses the bytes of each `unit`-byte number (big-endian to little).
fn swap_units(bytes: &mut [u8], unit: u64) {
    if let Ok(unit) = usize::try_from(unit) {
        for chunk in bytes.chunks_exact_mut(unit) {
            chunk.reverse();
        }
    }
}
