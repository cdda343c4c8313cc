//! torch 0.1–0.3's tar checkpoint (`torch-legacy-tar`): a tar archive whose member
//! `storages` holds every storage's elements, `tensors` every tensor's sizes, strides
//! and offset, and `pickle` the saved object, whose persistent ids are the keys of
//! those tables (`torch/serialization.py`, `legacy_load`'s tar branch).
//!
//! `storages`: a pickle (the count), then per storage a pickle `(key, location,
//! storage_type)`, its element count (8 bytes, little-endian) and its elements
//! (little-endian, whatever the saving machine), then a pickle listing storage views
//! `(target, root, offset, numel)`. `tensors`: a pickle (the count), then per tensor
//! a pickle `(key, storage_id, tensor_type)`, `ndim` (4 bytes, little-endian), 4
//! bytes torch skips, `ndim` sizes, `ndim` strides and the storage offset (8 bytes
//! each, little-endian). Keys share one table, as in torch: a later record replaces
//! an earlier one of the same key.
//!
//! Each tensor becomes a [`RawTensor`] over its storage's [`RawStorage`] (a storage
//! view as the legacy layout's views are, a [`RawView`] of its root), so
//! [`validate`](crate::torch::validate) checks it exactly as the other layouts'.
//! Every count is bounded by the bytes left in its member before it is used, every
//! rank by [`MAX_RANK`], all arithmetic checked.

use std::collections::HashMap;
use std::ops::Range;

use crate::container::tar::{self, TarMember};
use crate::decode::{Decoded, Decoder};
use crate::graph::{Graph, Node, NodeId};
use crate::torch::checkpoint::{num, storage_class, text};
use crate::torch::validate::{Num, RawStorage, RawTensor, RawView, MAX_RANK};
use crate::torch::{DType, TorchError};

/// One entry of the table persistent ids name.
#[derive(Clone, Debug)]
pub(crate) enum Entry {
    /// A storage (a root, or a view of one).
    Storage(RawStorage),
    /// A tensor: its storage, storage offset, sizes and strides.
    Tensor {
        storage: RawStorage,
        offset: Num,
        shape: Vec<Num>,
        stride: Vec<Num>,
    },
}

/// What the `storages` and `tensors` members of a tar checkpoint say.
pub(crate) struct Tables {
    /// The table persistent ids name, by key.
    pub(crate) entries: HashMap<String, Entry>,
    /// Each root storage's elements in the file, by key.
    pub(crate) records: HashMap<String, Range<u64>>,
}

const STORAGE_RECORD: &str =
    "tar checkpoint: a storage record is not (key, location, storage_type)";
const TENSOR_RECORD: &str = "tar checkpoint: a tensor record is not (key, storage_id, tensor_type)";

#[cold]
fn bad(what: &'static str) -> TorchError {
    TorchError::NotACheckpoint(what)
}

/// The members of a tar checkpoint torch reads, or `None` when `file` is not one: a
/// tar archive with members `sys_info`, `pickle`, `storages` and `tensors`, as the
/// container scan recognises it (`sys_info` is written but not read). Python's
/// `tarfile` finds a name's last member.
pub(crate) fn members(file: &[u8]) -> Option<[TarMember; 3]> {
    let (members, _) = tar::members(file).ok()?;
    let last = |n: &str| members.iter().rev().find(|m| m.name == n).cloned();
    last("sys_info")?;
    Some([last("pickle")?, last("storages")?, last("tensors")?])
}

/// A key as `legacy_load` compares them: an int (a bool is one), or a str holding an
/// int (the main pickle's persistent ids are `str(key)`, read back with `int()`), in
/// decimal; any other str as itself.
fn key(graph: &Graph<'_>, id: NodeId) -> Option<String> {
    match graph.get(id)? {
        Node::Int(i) => Some(i.to_string()),
        Node::Bool(b) => Some(u8::from(b).to_string()),
        Node::Str(s) => Some(str_key(&String::from_utf8_lossy(s))),
        _ => None,
    }
}

fn str_key(s: &str) -> String {
    s.trim()
        .parse::<i64>()
        .map_or_else(|_| s.to_owned(), |i| i.to_string())
}

/// A member's bytes, read front to back.
struct Cursor<'f> {
    data: &'f [u8],
    /// The member's data offset in the file.
    base: u64,
    pos: usize,
    /// What "cut short" says for this member.
    short: &'static str,
}

impl<'f> Cursor<'f> {
    fn new(file: &'f [u8], m: &TarMember, short: &'static str) -> Result<Cursor<'f>, TorchError> {
        let start = usize::try_from(m.offset).map_err(|_| bad(short))?;
        let end = m
            .offset
            .checked_add(m.size)
            .and_then(|e| usize::try_from(e).ok())
            .ok_or_else(|| bad(short))?;
        let data = file.get(start..end).ok_or_else(|| bad(short))?;
        Ok(Cursor {
            data,
            base: m.offset,
            pos: 0,
            short,
        })
    }

    fn left(&self) -> u64 {
        self.data.len().saturating_sub(self.pos) as u64
    }

    fn pickle(&mut self, decoder: &Decoder) -> Result<Decoded<'f>, TorchError> {
        let rest = self.data.get(self.pos..).unwrap_or(&[]);
        if rest.is_empty() {
            return Err(bad(self.short));
        }
        let decoded = decoder.decode(rest).map_err(TorchError::from_decode)?;
        let used = usize::try_from(decoded.consumed).map_err(|_| bad(self.short))?;
        self.pos = self.pos.saturating_add(used);
        Ok(decoded)
    }

    fn take(&mut self, n: u64) -> Result<&'f [u8], TorchError> {
        let n = usize::try_from(n).map_err(|_| bad(self.short))?;
        let end = self.pos.checked_add(n).ok_or_else(|| bad(self.short))?;
        let bytes = self
            .data
            .get(self.pos..end)
            .ok_or_else(|| bad(self.short))?;
        self.pos = end;
        Ok(bytes)
    }

    fn i64(&mut self) -> Result<i64, TorchError> {
        let b = self.take(8)?;
        Ok(i64::from_le_bytes(
            <[u8; 8]>::try_from(b).map_err(|_| bad(self.short))?,
        ))
    }

    fn i32(&mut self) -> Result<i32, TorchError> {
        let b = self.take(4)?;
        Ok(i32::from_le_bytes(
            <[u8; 4]>::try_from(b).map_err(|_| bad(self.short))?,
        ))
    }

    /// The record count a pickle at the cursor gives, each record holding at least
    /// `min` bytes besides its pickle: at most what the member has left.
    fn count(
        &mut self,
        decoder: &Decoder,
        min: u64,
        over: &'static str,
    ) -> Result<u64, TorchError> {
        let decoded = self.pickle(decoder)?;
        let count = match decoded.graph.get(decoded.root) {
            Some(Node::Int(n)) => u64::try_from(n).map_err(|_| bad(over))?,
            Some(Node::BigInt(_)) => return Err(bad(over)),
            _ => return Err(bad("tar checkpoint: a record count is not an int")),
        };
        if count > self.left().checked_div(min).unwrap_or(0) {
            return Err(bad(over));
        }
        Ok(count)
    }

    /// The absolute file offset of the cursor.
    fn at(&self) -> Result<u64, TorchError> {
        self.base
            .checked_add(self.pos as u64)
            .ok_or_else(|| bad(self.short))
    }
}

/// Reads the `storages` and `tensors` members, as `legacy_load` does, in that order.
pub(crate) fn tables(
    file: &[u8],
    storages: &TarMember,
    tensors: &TarMember,
    decoder: &Decoder,
) -> Result<Tables, TorchError> {
    let mut entries: HashMap<String, Entry> = HashMap::new();
    let mut records: HashMap<String, Range<u64>> = HashMap::new();

    let mut c = Cursor::new(file, storages, "tar checkpoint: storages member cut short")?;
    let count = c.count(
        decoder,
        8,
        "tar checkpoint: more storages than its storages member holds",
    )?;
    for _ in 0..count {
        let d = c.pickle(decoder)?;
        let g = &d.graph;
        let Some(Node::Tuple([k, location, class])) = g.get(d.root) else {
            return Err(bad(STORAGE_RECORD));
        };
        let (Some(k), Some(location), Some(Node::Global(class))) =
            (key(g, *k), text(g, *location), g.get(*class))
        else {
            return Err(bad(STORAGE_RECORD));
        };
        let class = storage_class(class);
        let dtype = DType::from_storage_class(&class)
            .ok_or_else(|| bad("tar checkpoint: a storage type that names no dtype"))?;
        let numel = c.i64()?;
        let n = u64::try_from(numel).map_err(|_| bad("tar checkpoint: a negative storage size"))?;
        let len = n.checked_mul(dtype.size()).ok_or_else(|| bad(c.short))?;
        let start = c.at()?;
        c.take(len)?;
        let end = start.checked_add(len).ok_or_else(|| bad(c.short))?;
        records.insert(k.clone(), start..end);
        entries.insert(
            k.clone(),
            Entry::Storage(RawStorage {
                class,
                key: k,
                location,
                numel: Num::Int(numel),
                view: None,
            }),
        );
    }
    let views = c.pickle(decoder)?;
    let g = &views.graph;
    const VIEWS: &str =
        "tar checkpoint: storage views are not a list of (target, root, offset, numel)";
    let Some(Node::List(items)) = g.get(views.root) else {
        return Err(bad(VIEWS));
    };
    for item in items {
        let Some(Node::Tuple([target, root, offset, numel])) = g.get(*item) else {
            return Err(bad(VIEWS));
        };
        let (Some(target), Some(root), Some(offset), Some(size)) = (
            key(g, *target),
            key(g, *root),
            num(g, *offset),
            num(g, *numel),
        ) else {
            return Err(bad(VIEWS));
        };
        let storage = match entries.get(&root) {
            Some(Entry::Storage(s)) if s.view.is_none() => RawStorage {
                view: Some(RawView {
                    key: target.clone(),
                    offset,
                    size,
                }),
                ..s.clone()
            },
            _ => {
                return Err(bad(
                    "tar checkpoint: a storage view's root is not a storage",
                ))
            }
        };
        entries.insert(target, Entry::Storage(storage));
    }

    let mut c = Cursor::new(file, tensors, "tar checkpoint: tensors member cut short")?;
    let count = c.count(
        decoder,
        16,
        "tar checkpoint: more tensors than its tensors member holds",
    )?;
    for _ in 0..count {
        let d = c.pickle(decoder)?;
        let g = &d.graph;
        let Some(Node::Tuple([k, storage, _type])) = g.get(d.root) else {
            return Err(bad(TENSOR_RECORD));
        };
        let (Some(k), Some(storage)) = (key(g, *k), key(g, *storage)) else {
            return Err(bad(TENSOR_RECORD));
        };
        let Some(Entry::Storage(storage)) = entries.get(&storage) else {
            return Err(bad("tar checkpoint: a tensor record names no storage"));
        };
        let storage = storage.clone();
        let ndim = usize::try_from(c.i32()?)
            .ok()
            .filter(|&n| n <= MAX_RANK)
            .ok_or_else(|| bad("tar checkpoint: a tensor's ndim is negative or over 64"))?;
        c.take(4)?;
        let mut shape = Vec::new();
        for _ in 0..ndim {
            shape.push(Num::Int(c.i64()?));
        }
        let mut stride = Vec::new();
        for _ in 0..ndim {
            stride.push(Num::Int(c.i64()?));
        }
        let offset = Num::Int(c.i64()?);
        entries.insert(
            k,
            Entry::Tensor {
                storage,
                offset,
                shape,
                stride,
            },
        );
    }
    Ok(Tables { entries, records })
}

/// The tensor a persistent id of the main pickle names, if it names one (`Ok(None)`
/// for a storage, or a module's source: a tuple, whose first item torch returns).
/// `int(saved_id)` of anything but an int or a str fails in torch, and so does a key
/// not in the table.
pub(crate) fn resolve(
    graph: &Graph<'_>,
    id: NodeId,
    pid: NodeId,
    name: &str,
    tables: &Tables,
) -> Result<Option<RawTensor>, TorchError> {
    if let Some(Node::Tuple(_)) = graph.get(pid) {
        return Ok(None);
    }
    let Some(k) = key(graph, pid) else {
        return Err(TorchError::Malformed {
            tensor: name.to_owned(),
            what: "a persistent id that is neither a key nor a module's source",
        });
    };
    match tables.entries.get(&k) {
        None => Err(TorchError::MissingStorage {
            tensor: name.to_owned(),
            key: k,
        }),
        Some(Entry::Storage(_)) => Ok(None),
        Some(Entry::Tensor {
            storage,
            offset,
            shape,
            stride,
        }) => Ok(Some(RawTensor {
            name: name.to_owned(),
            node: id,
            parameter: false,
            requires_grad: false,
            storage: storage.clone(),
            dtype: None,
            storage_offset: *offset,
            shape: shape.clone(),
            stride: stride.clone(),
        })),
    }
}

#[cfg(test)]
mod tests {
    use crate::container::tar::tests::tar;
    use crate::torch::{open, Layout, TorchError};

    /// `storages`: one FloatStorage of 2 elements, key 7, no views.
    fn storages() -> Vec<u8> {
        let mut s = b"\x80\x02K\x01.".to_vec();
        s.extend_from_slice(b"\x80\x02(K\x07X\x03\x00\x00\x00cpuctorch\nFloatStorage\nt.");
        s.extend_from_slice(&2i64.to_le_bytes());
        s.extend_from_slice(&[0, 0, 0x80, 0x3f, 0, 0, 0, 0x40]);
        s.extend_from_slice(b"\x80\x02].");
        s
    }

    /// `tensors`: tensor 9 on storage 7, `ndim` dimensions of size 2 (stride 1).
    fn tensors(ndim: i32) -> Vec<u8> {
        let mut t = b"\x80\x02K\x01.".to_vec();
        t.extend_from_slice(b"\x80\x02(K\tK\x07ctorch\nFloatTensor\nt.");
        t.extend_from_slice(&ndim.to_le_bytes());
        t.extend_from_slice(&[0; 4]);
        for _ in 0..ndim.clamp(0, 100) {
            t.extend_from_slice(&2i64.to_le_bytes());
        }
        for _ in 0..ndim.clamp(0, 100) {
            t.extend_from_slice(&1i64.to_le_bytes());
        }
        t.extend_from_slice(&0i64.to_le_bytes());
        t
    }

    /// `{'w': <persistent id '9'>}`.
    const PICKLE: &[u8] = b"\x80\x02}X\x01\x00\x00\x00wX\x01\x00\x00\x009Qs.";

    fn file(storages: &[u8], tensors: &[u8]) -> Vec<u8> {
        tar(&[
            ("sys_info", b"N."),
            ("pickle", PICKLE),
            ("storages", storages),
            ("tensors", tensors),
        ])
    }

    #[test]
    fn a_tar_checkpoint_opens() {
        let f = file(&storages(), &tensors(1));
        let c = open(&f).unwrap();
        assert_eq!(c.layout, Layout::LegacyTar);
        let [t] = c.tensors.as_slice() else {
            panic!("{:?}", c.tensors)
        };
        assert_eq!((t.name.as_str(), t.shape.as_slice()), ("w", &[2u64][..]));
        assert_eq!(t.storage_key, "7");
        assert_eq!(
            t.bytes(&f).unwrap().as_ref(),
            [0, 0, 0x80, 0x3f, 0, 0, 0, 0x40]
        );
    }

    #[test]
    fn every_cut_of_a_member_is_refused() {
        let (s, t) = (storages(), tensors(1));
        for cut in 0..s.len() {
            assert!(open(&file(&s[..cut], &t)).is_err(), "storages cut at {cut}");
        }
        for cut in 0..t.len() {
            assert!(open(&file(&s, &t[..cut])).is_err(), "tensors cut at {cut}");
        }
        // Cut inside the elements; inside a tensor's sizes.
        assert_eq!(
            open(&file(&s[..s.len() - 6], &t)).unwrap_err(),
            TorchError::NotACheckpoint("tar checkpoint: storages member cut short")
        );
        assert_eq!(
            open(&file(&s, &t[..t.len() - 9])).unwrap_err(),
            TorchError::NotACheckpoint("tar checkpoint: tensors member cut short")
        );
    }

    #[test]
    fn ndim_is_bounded_before_it_is_read() {
        let s = storages();
        for ndim in [65, -1, i32::MAX] {
            assert_eq!(
                open(&file(&s, &tensors(ndim))).unwrap_err(),
                TorchError::NotACheckpoint(
                    "tar checkpoint: a tensor's ndim is negative or over 64"
                ),
                "{ndim}"
            );
        }
        // 64 dimensions of 2 elements are read, then refused by validation.
        assert!(matches!(
            open(&file(&s, &tensors(64))).unwrap_err(),
            TorchError::TooLarge { field: "numel", .. }
        ));
    }
}
