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
//! Tensors on two storage views of one root (the legacy layout's `view_metadata`)
//! share that root's bytes where the views overlap, and are refused alike, under the
//! root's key.
//!
//! **Two writers, one output.** [`convert_to_safetensors`] works on bytes in memory
//! and lets the `safetensors` crate lay out the file. [`convert_file`] reads the input
//! lazily ([`load`](crate::torch::load)), builds the same header with the crate's own
//! types ([`Metadata`], [`TensorInfo`], serialized as the crate serializes them) and
//! copies each contiguous little-endian tensor's byte range from the input file to
//! the output file with [`std::io::copy`], which on Linux is `copy_file_range`: the
//! bytes never enter this process, as with `cp`. A tensor that must be gathered (a
//! strided view) or byte-swapped (a big-endian checkpoint) has its storage read and
//! converted in memory, one at a time. The two outputs are byte-identical (tested on
//! every checkpoint of the corpus).

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::ops::Range;
use std::path::Path;

use safetensors::tensor::{Dtype, Metadata, TensorInfo, View};

use crate::container::image::ReadAt;
use crate::torch::checkpoint::{open, open_image};
use crate::torch::{
    io_error, load_file, read_file, Checkpoint, DType, Storage, Tensor, TorchError,
};

/// A view may gather at most this many bytes more than its storage holds (a stride-0
/// broadcast repeats elements; a hostile one would repeat them 2^40 times).
const GATHER_SLACK: u64 = 1 << 20;

/// Converts a checkpoint's tensors to the bytes of a safetensors file: all of them, or
/// with `key` those under that entry (`state_dict`, or a dotted path), named relative
/// to it. Names are the checkpoint's keys joined with `.`.
pub fn convert_to_safetensors(file: &[u8], key: Option<&str>) -> Result<Vec<u8>, TorchError> {
    let checkpoint = open(file)?;
    let views = plan(&checkpoint, key, |t| t.bytes(file))?;
    let mut out = BTreeMap::new();
    for (name, Planned { dtype, shape, data }) in views {
        out.insert(name, Out { dtype, shape, data });
    }
    safetensors::tensor::serialize(out, Some(metadata()))
        .map_err(|e| TorchError::Safetensors(e.to_string()))
}

/// [`convert_to_safetensors`] from one path to another, byte for byte the same output,
/// reading the input lazily and copying contiguous tensors file to file (see the
/// module docs). Memory holds the checkpoint's pickle and, at most, one storage that
/// needs gathering or byte-swapping.
///
/// Every check that can refuse the checkpoint runs before the output is created; a
/// failure while copying (a disk full, the input changed underneath) leaves the
/// output partly written. An output that is the input itself is converted in memory.
pub fn convert_file(input: &Path, output: &Path, key: Option<&str>) -> Result<(), TorchError> {
    if same_file(input, output) {
        let file = read_file(input)?;
        let out = convert_to_safetensors(&file, key)?;
        return std::fs::write(output, out).map_err(|e| io_error(&e, output));
    }
    let image = load_file(input)?;
    let checkpoint = open_image(&image)?;
    let file_len = image.source().size().map_err(|e| io_error(&e, input))?;
    let planned = plan(&checkpoint, key, |t| {
        if t.storage_range.start > t.storage_range.end || t.storage_range.end > file_len {
            return Err(TorchError::OutOfBounds {
                tensor: t.name.clone(),
                needed: t.storage_range.end,
                available: file_len,
            });
        }
        Layout::of(t, t.storage_range.end.saturating_sub(t.storage_range.start))
    })?;
    // safetensors' order: by dtype, widest alignment first, then by name.
    let mut order: Vec<(&String, &Planned<Layout>)> = planned.iter().collect();
    order.sort_by(|(lname, l), (rname, r)| r.dtype.cmp(&l.dtype).then(lname.cmp(rname)));
    let mut infos = Vec::new();
    let mut offset = 0usize;
    for (
        name,
        Planned {
            dtype,
            shape,
            data: layout,
        },
    ) in &order
    {
        let n = usize::try_from(layout.len()).map_err(|_| TorchError::TooLarge {
            tensor: (*name).clone(),
            field: "bytes",
            limit: usize::MAX as u64,
        })?;
        let end = offset
            .checked_add(n)
            .ok_or_else(|| TorchError::Safetensors("tensor data over usize::MAX".into()))?;
        infos.push((
            (*name).clone(),
            TensorInfo {
                dtype: *dtype,
                shape: shape.clone(),
                data_offsets: (offset, end),
            },
        ));
        offset = end;
    }
    let header = header(infos)?;
    let input_file = image.source();
    let mut out = File::create(output).map_err(|e| io_error(&e, output))?;
    out.write_all(&header).map_err(|e| io_error(&e, output))?;
    for (_, Planned { data: layout, .. }) in order {
        let t = layout.tensor();
        match layout {
            Layout::Slice {
                range, swap: false, ..
            } => {
                let start = t.storage_range.start.saturating_add(range.start);
                let len = range.end.saturating_sub(range.start);
                copy_range(input_file, start, len, &mut out).map_err(|e| match e {
                    Side::Read(e) => io_error(&e, input),
                    Side::Write(e) => io_error(&e, output),
                })?;
            }
            _ => {
                let storage = read_range(input_file, t.storage_range.clone())
                    .map_err(|e| io_error(&e, input))?;
                let bytes = layout.bytes(t, &storage)?;
                out.write_all(&bytes).map_err(|e| io_error(&e, output))?;
            }
        }
    }
    out.flush().map_err(|e| io_error(&e, output))
}

/// The 8-byte length and the JSON header, padded with spaces to a multiple of 8, as
/// `safetensors::tensor::serialize` writes them (its `prepare`), from the crate's own
/// [`Metadata`] (which also checks the offsets are contiguous and match the shapes).
fn header(infos: Vec<(String, TensorInfo)>) -> Result<Vec<u8>, TorchError> {
    let metadata = Metadata::new(Some(metadata()), infos)
        .map_err(|e| TorchError::Safetensors(e.to_string()))?;
    let mut json = serde_json::to_string(&metadata)
        .map_err(|e| TorchError::Safetensors(e.to_string()))?
        .into_bytes();
    let padded = json
        .len()
        .checked_next_multiple_of(8)
        .ok_or_else(|| TorchError::Safetensors("header over usize::MAX".into()))?;
    json.resize(padded, b' ');
    let mut out = (padded as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&json);
    Ok(out)
}

/// Whether `output` names the file `input` names (the same inode on unix, through a
/// link or another path): writing it would truncate what is still to be read.
fn same_file(input: &Path, output: &Path) -> bool {
    let (Ok(a), Ok(b)) = (std::fs::metadata(input), std::fs::metadata(output)) else {
        return false;
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        a.dev() == b.dev() && a.ino() == b.ino()
    }
    #[cfg(not(unix))]
    {
        let _ = (a, b);
        match (std::fs::canonicalize(input), std::fs::canonicalize(output)) {
            (Ok(a), Ok(b)) => a == b,
            _ => false,
        }
    }
}

/// Which side of a copy failed.
enum Side {
    Read(std::io::Error),
    Write(std::io::Error),
}

/// Copies `len` bytes at `start` of `input` to the end of `out`: `std::io::copy` from
/// a [`std::io::Read::take`] of the file to the file, which std turns into
/// `copy_file_range` on Linux (falling back to a buffered copy elsewhere).
fn copy_range(input: &File, start: u64, len: u64, out: &mut File) -> Result<(), Side> {
    use std::io::Read;
    let mut reader = input;
    reader.seek(SeekFrom::Start(start)).map_err(Side::Read)?;
    let mut limited = reader.take(len);
    let copied = std::io::copy(&mut limited, out).map_err(|e| {
        // io::copy does not say which side failed: a short read is the input's.
        if limited.limit() > 0 && e.kind() != std::io::ErrorKind::WriteZero {
            Side::Read(e)
        } else {
            Side::Write(e)
        }
    })?;
    if copied != len {
        return Err(Side::Read(std::io::ErrorKind::UnexpectedEof.into()));
    }
    Ok(())
}

/// The file's bytes in `range` (a storage, validated to lie within the file),
/// reserved fallibly.
fn read_range(input: &File, range: Range<u64>) -> std::io::Result<Vec<u8>> {
    let n = usize::try_from(range.end.saturating_sub(range.start))
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::OutOfMemory))?;
    let mut buf = Vec::new();
    buf.try_reserve_exact(n)
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::OutOfMemory))?;
    buf.resize(n, 0);
    input.fill_at(range.start, &mut buf)?;
    Ok(buf)
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

/// A tensor to write: its safetensors dtype and shape, and its data (bytes, or where
/// to find them).
struct Planned<D> {
    dtype: Dtype,
    shape: Vec<usize>,
    data: D,
}

/// The tensors to write, by name (a later tensor of the same name replaces an earlier
/// one, as inserting into the map does), each with its safetensors dtype, its shape
/// and what `data` makes of it. Every check runs in the checkpoint's order, `data`
/// last for each tensor, so both writers refuse a checkpoint with the same error.
fn plan<'c, D>(
    checkpoint: &'c Checkpoint<'_>,
    key: Option<&str>,
    mut data: impl FnMut(&'c Tensor) -> Result<D, TorchError>,
) -> Result<BTreeMap<String, Planned<D>>, TorchError> {
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
    refuse_aliases(&selected, &checkpoint.storages)?;
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
        let d = data(t)?;
        out.insert(
            name,
            Planned {
                dtype,
                shape,
                data: d,
            },
        );
    }
    Ok(out)
}

/// Refuses tensors whose bytes overlap in one storage (see the module docs). Views
/// of one legacy root storage are one storage here: their tensors' extents are
/// compared by their place in the file, which within one root is their place in it.
fn refuse_aliases(selected: &[(String, &Tensor)], storages: &[Storage]) -> Result<(), TorchError> {
    let root_of: HashMap<&str, &str> = storages
        .iter()
        .filter_map(|s| Some((s.key.as_str(), s.root.as_deref()?)))
        .collect();
    let mut by_storage: BTreeMap<&str, Vec<(u64, u64, &str)>> = BTreeMap::new();
    for (name, t) in selected {
        let at = |x: u64| x.checked_add(t.storage_range.start);
        if let Some((start, end)) = extent(t).and_then(|(s, e)| Some((at(s)?, at(e)?))) {
            let key = t.storage_key.as_str();
            by_storage
                .entry(root_of.get(key).copied().unwrap_or(key))
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

/// How a tensor's elements come out of its storage: worked out, and checked, from the
/// storage's length alone, so a file writer can check every tensor before it reads
/// (or writes) a byte.
enum Layout<'t> {
    /// Its elements are `range` of the storage, as they are (`swap`: big-endian,
    /// reversed per number).
    Slice {
        tensor: &'t Tensor,
        range: Range<u64>,
        swap: bool,
    },
    /// Its elements are gathered by stride: `cap` bytes.
    Gather { tensor: &'t Tensor, cap: usize },
}

impl<'t> Layout<'t> {
    /// Checks `t` against a storage of `storage_len` bytes.
    fn of(t: &'t Tensor, storage_len: u64) -> Result<Layout<'t>, TorchError> {
        let out_of_bounds = |needed: u64| TorchError::OutOfBounds {
            tensor: t.name.clone(),
            needed,
            available: storage_len,
        };
        let size = t.dtype.size();
        let nbytes = t
            .numel()
            .checked_mul(size)
            .ok_or_else(|| out_of_bounds(u64::MAX))?;
        if nbytes == 0 {
            return Ok(Layout::Slice {
                tensor: t,
                range: 0..0,
                swap: false,
            });
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
            if end > storage_len {
                return Err(out_of_bounds(end));
            }
            return Ok(Layout::Slice {
                tensor: t,
                range: start..end,
                swap,
            });
        }
        let limit = storage_len.saturating_add(GATHER_SLACK);
        if nbytes > limit {
            return Err(TorchError::TooLarge {
                tensor: t.name.clone(),
                field: "gathered bytes",
                limit,
            });
        }
        let cap = usize::try_from(nbytes).map_err(|_| out_of_bounds(nbytes))?;
        Ok(Layout::Gather { tensor: t, cap })
    }

    fn tensor(&self) -> &'t Tensor {
        match self {
            Layout::Slice { tensor, .. } | Layout::Gather { tensor, .. } => tensor,
        }
    }

    /// Bytes of the elements.
    fn len(&self) -> u64 {
        match self {
            Layout::Slice { range, .. } => range.end.saturating_sub(range.start),
            Layout::Gather { cap, .. } => *cap as u64,
        }
    }

    /// The elements, from the storage's bytes (of the length checked).
    fn bytes<'f>(&self, t: &Tensor, storage: &'f [u8]) -> Result<Cow<'f, [u8]>, TorchError> {
        match self {
            Layout::Slice { range, swap, .. } => {
                let bytes = crate::torch::range_of(storage, range).ok_or_else(|| {
                    TorchError::OutOfBounds {
                        tensor: t.name.clone(),
                        needed: range.end,
                        available: storage.len() as u64,
                    }
                })?;
                if !swap {
                    return Ok(Cow::Borrowed(bytes));
                }
                let mut owned = bytes.to_vec();
                swap_units(&mut owned, t.dtype.swap_unit());
                Ok(Cow::Owned(owned))
            }
            Layout::Gather { cap, .. } => gather(t, storage, *cap).map(Cow::Owned),
        }
    }
}

/// A tensor's elements in row-major order, little-endian, from its storage's bytes.
pub(crate) fn contiguous<'f>(t: &Tensor, storage: &'f [u8]) -> Result<Cow<'f, [u8]>, TorchError> {
    Layout::of(t, storage.len() as u64)?.bytes(t, storage)
}

/// [`Tensor::read_at`]: the checks of [`contiguous`] over the whole storage, before
/// anything is read; then only the storage bytes the view reaches (its [`extent`]),
/// gathered as if they were the storage (the same tensor with offset 0 over them).
pub(crate) fn read_at<S: ReadAt>(t: &Tensor, source: S) -> Result<Vec<u8>, TorchError> {
    let storage_len = t.storage_range.end.saturating_sub(t.storage_range.start);
    let layout = Layout::of(t, storage_len)?;
    let Some((start, end)) = extent(t) else {
        // No element: nothing to read.
        return layout.bytes(t, &[]).map(Cow::into_owned);
    };
    let out_of_bounds = |needed: u64| TorchError::OutOfBounds {
        tensor: t.name.clone(),
        needed,
        available: storage_len,
    };
    // Opening checked this; a descriptor made by hand may not have been.
    if end > storage_len {
        return Err(out_of_bounds(end));
    }
    let at = t
        .storage_range
        .start
        .checked_add(start)
        .ok_or_else(|| out_of_bounds(u64::MAX))?;
    let len = usize::try_from(end.saturating_sub(start)).map_err(|_| out_of_bounds(end))?;
    let mut reach = Vec::new();
    if reach.try_reserve_exact(len).is_err() {
        return Err(TorchError::TooLarge {
            tensor: t.name.clone(),
            field: "bytes",
            limit: isize::MAX as u64,
        });
    }
    reach.resize(len, 0);
    source
        .fill_at(at, &mut reach)
        .map_err(|e| TorchError::Read {
            tensor: t.name.clone(),
            kind: e.kind(),
        })?;
    match layout {
        // A contiguous view's reach is exactly its elements.
        Layout::Slice { swap, .. } => {
            if swap {
                swap_units(&mut reach, t.dtype.swap_unit());
            }
            Ok(reach)
        }
        Layout::Gather { cap, .. } => {
            let mut shifted = t.clone();
            shifted.storage_offset = 0;
            gather(&shifted, &reach, cap)
        }
    }
}

/// The elements of a strided view, `cap` bytes (checked by [`Layout::of`]).
fn gather(t: &Tensor, storage: &[u8], cap: usize) -> Result<Vec<u8>, TorchError> {
    let out_of_bounds = |needed: u64| TorchError::OutOfBounds {
        tensor: t.name.clone(),
        needed,
        available: storage.len() as u64,
    };
    let size = t.dtype.size();
    let unit = t.dtype.swap_unit();
    let swap = t.big_endian && unit > 1;
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
                return Ok(out);
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
