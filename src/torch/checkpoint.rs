//! Opening a checkpoint: finding its pickle and storage records in either layout,
//! decoding the pickle, and finding the tensors in the graph.

use std::collections::{HashMap, HashSet};
use std::ops::Range;

use crate::container::image::{ReadAt, SparseImage};
use crate::container::sniff::{sniff, HEAD};
use crate::container::tar::TarMember;
use crate::container::zip::{self, ZipArchive, ZipBytes, ZipEntry, ZipLimits};
use crate::container::Format;
use crate::decode::{Decoded, Decoder};
use crate::error::{Error, ErrorKind};
use crate::graph::{Global, Graph, Node, NodeId, Object};
use crate::policy::Policy;
use crate::torch::tar;
use crate::torch::validate::{self, Num, RawStorage, RawTensor, RawView};
use crate::torch::{Checkpoint, Layout, TorchError};

/// Tensors one checkpoint may hold (a name each; a million is far past any model).
const MAX_TENSORS: usize = 1 << 20;
/// Bytes of tensor names in all: a graph that reaches one tensor by many long paths
/// would otherwise turn a small pickle into a large list.
const MAX_NAME_BYTES: u64 = 64 << 20;

/// Opens a checkpoint from its bytes: either layout, the pickle decoded under
/// [`Policy::pytorch`] with default limits, every tensor validated
/// ([`validate`](crate::torch::validate)). Storage bytes are not read, only located.
pub fn open(file: &[u8]) -> Result<Checkpoint<'_>, TorchError> {
    match sniff(file) {
        Format::Zip => open_zip(file),
        Format::TorchLegacy => open_legacy(file),
        Format::Tar => match tar::members(file) {
            Some(members) => open_tar(file, &members),
            None => Err(TorchError::NotACheckpoint(
                "neither a ZIP nor a legacy torch.save file",
            )),
        },
        _ => Err(TorchError::NotACheckpoint(
            "neither a ZIP nor a legacy torch.save file",
        )),
    }
}

/// Reads what [`open_image`] needs of a checkpoint from `source`, by position: for a
/// ZIP checkpoint its end records, central directory, the local headers of its
/// storage records and the data of `data.pkl` and `byteorder`, never the storages'
/// bytes; for a legacy checkpoint its five pickles (as far as the decoder reads them,
/// in blocks) and the 8-byte element count of each storage record, never the
/// elements; a tar checkpoint (torch 0.1–0.3) whole, and any other file whole
/// (opening it only says it is not a checkpoint).
///
/// Every range is one the ZIP reader itself asks for, within [`ZipLimits`]'s default
/// bounds (see [`SparseImage`]), so a hostile directory or entry size is refused
/// before it is read. A broken archive is not an error here: [`open_image`] reports it
/// exactly as [`open`] would.
pub fn load<S: ReadAt>(source: S) -> Result<SparseImage<S>, std::io::Error> {
    let mut image = SparseImage::new(source)?;
    let len = image.file_len();
    match image.fill(|i| i.at(0, len.min(HEAD as u64)).map(sniff))? {
        Some(Format::Zip) => {}
        Some(Format::TorchLegacy) => {
            load_legacy(&mut image)?;
            return Ok(image);
        }
        _ => {
            image.load(0, len)?;
            return Ok(image);
        }
    }
    let limits = ZipLimits::default();
    let opened = image.fill(|i| {
        ZipArchive::open_in(i, limits)
            .ok()
            .map(|a| (a.entries().to_vec(), a.pytorch_choice()))
    })?;
    let Some((entries, choice)) = opened else {
        return Ok(image);
    };
    let Ok(found) = locate(&entries, &choice) else {
        return Ok(image);
    };
    // The records whose data open_zip reads.
    for index in [Some(found.pkl), found.byteorder].into_iter().flatten() {
        let Some(entry) = entries.get(index) else {
            continue;
        };
        image.fill(|i| {
            if let Ok(range) = zip::entry_range(i, &limits, entry) {
                i.at(range.start, range.end.saturating_sub(range.start));
            }
        })?;
    }
    // The storage records: only their local headers (where the data starts), each
    // read with its name in one go when the local name is as long as the central one.
    let storages = format!("{}/data/", found.root);
    for entry in entries.iter().filter(|e| e.name.starts_with(&storages)) {
        let guess = 30u64.saturating_add(entry.raw_name.len() as u64);
        image.load(entry.header_offset, guess)?;
        image.fill(|i| zip::local_header(i, entry).is_ok())?;
    }
    Ok(image)
}

/// Opens a checkpoint from the image [`load`] made of it: the same checkpoint, or the
/// same error, as [`open`] over the whole file's bytes (the fuzz target checks it).
pub fn open_image<S>(image: &SparseImage<S>) -> Result<Checkpoint<'_>, TorchError> {
    image.take_miss();
    // The head sniffs as the whole file does (`sniff` reads no further).
    let head = image.at(0, image.file_len().min(HEAD as u64));
    let opened = match head.map(sniff) {
        Some(Format::Zip) => open_zip(image),
        Some(Format::TorchLegacy) => open_legacy(image),
        _ => match image.whole() {
            Some(file) => open(file),
            None => Err(not_loaded(0)),
        },
    };
    // A read the loader did not foresee would have been answered "past the end":
    // refuse rather than give an answer the whole file would not.
    match image.take_miss() {
        Some((offset, _)) => Err(not_loaded(offset)),
        None => opened,
    }
}

/// A tar checkpoint (torch 0.1–0.3, see [`tar`]): its `storages` and `tensors`
/// tables, then its main pickle, whose persistent ids name their entries. Storages
/// are little-endian whatever the saving machine (torch swaps them when reading).
fn open_tar<'f>(
    file: &'f [u8],
    [pickle, storages, tensors]: &[TarMember; 3],
) -> Result<Checkpoint<'f>, TorchError> {
    let decoder = decoder();
    let tables = tar::tables(file, storages, tensors, &decoder)?;
    let main = usize::try_from(pickle.offset)
        .ok()
        .zip(
            pickle
                .offset
                .checked_add(pickle.size)
                .and_then(|e| usize::try_from(e).ok()),
        )
        .and_then(|(a, b)| file.get(a..b))
        .ok_or(TorchError::NotACheckpoint(
            "tar checkpoint: pickle member cut short",
        ))?;
    let decoded = decoder.decode(main).map_err(TorchError::from_decode)?;
    let raw = find_tensors(&decoded.graph, decoded.root, Ids::Tar(&tables))?;
    let record = |key: &str, tensor: &str| -> Result<Range<u64>, TorchError> {
        tables
            .records
            .get(key)
            .cloned()
            .ok_or_else(|| TorchError::MissingStorage {
                tensor: tensor.to_owned(),
                key: key.to_owned(),
            })
    };
    let (tensors, storages) = validate::validate(&raw, false, record)?;
    Ok(Checkpoint {
        layout: Layout::LegacyTar,
        big_endian: false,
        graph: decoded.graph,
        root: decoded.root,
        tensors,
        storages,
    })
}

#[cold]
fn not_loaded(offset: u64) -> TorchError {
    TorchError::Pickle(Error::new(
        ErrorKind::Malformed("a record the lazy loader did not read (a pickleproof bug)"),
        offset,
        None,
    ))
}

fn decoder() -> Decoder {
    Decoder::new().policy(Policy::pytorch())
}

/// Where a ZIP checkpoint's records are, as torch finds them.
struct Located {
    /// The root directory.
    root: String,
    /// The index of the `data.pkl` torch loads.
    pkl: usize,
    /// The index of its `byteorder` record, if any.
    byteorder: Option<usize>,
}

/// The entries with exactly this name, in directory order.
fn find(entries: &[ZipEntry], name: &str) -> Vec<usize> {
    entries
        .iter()
        .enumerate()
        .filter(|(_, e)| e.name == name)
        .map(|(i, _)| i)
        .collect()
}

/// Finds the root directory, `data.pkl` and `byteorder` (shared by [`load`], which
/// reads their data, and `open_zip`, which uses it).
fn locate(entries: &[ZipEntry], choice: &[usize]) -> Result<Located, TorchError> {
    // torch's PyTorchStreamReader takes the archive's root directory from its first
    // record and reads every record under it.
    let root = entries
        .first()
        .and_then(|e| e.name.split_once('/'))
        .map(|(root, _)| root.to_owned())
        .ok_or(TorchError::NotACheckpoint("no root directory in the ZIP"))?;
    // The entry torch loads for a name (the one miniz locates, when names repeat).
    let chosen = |name: &str| -> Option<usize> {
        let first = *find(entries, name).first()?;
        Some(choice.get(first).copied().unwrap_or(first)).filter(|&i| i < entries.len())
    };
    let pkl = chosen(&format!("{root}/data.pkl")).ok_or(TorchError::NotACheckpoint(
        "no data.pkl under the root directory",
    ))?;
    let byteorder = chosen(&format!("{root}/byteorder"));
    Ok(Located {
        root,
        pkl,
        byteorder,
    })
}

fn open_zip<B: ZipBytes + ?Sized>(file: &B) -> Result<Checkpoint<'_>, TorchError> {
    let archive = ZipArchive::open_in(file, ZipLimits::default()).map_err(TorchError::Pickle)?;
    let entries = archive.entries();
    let choice = archive.pytorch_choice();
    let Located {
        root,
        pkl,
        byteorder,
    } = locate(entries, &choice)?;
    let pkl = entries.get(pkl).ok_or(TorchError::NotACheckpoint(
        "no data.pkl under the root directory",
    ))?;
    let big_endian = match byteorder.and_then(|i| entries.get(i)) {
        None => false,
        Some(e) => match archive.read(e).map_err(TorchError::Pickle)?.as_slice() {
            b"little" => false,
            b"big" => true,
            _ => {
                return Err(TorchError::NotACheckpoint(
                    "byteorder is neither little nor big",
                ))
            }
        },
    };
    let decoded = if pkl.method == 0 {
        let (_, bytes) = archive.raw(pkl).map_err(TorchError::Pickle)?;
        decoder().decode(bytes)
    } else {
        let bytes = archive.read(pkl).map_err(TorchError::Pickle)?;
        decoder().decode_reader(bytes.as_slice())
    }
    .map_err(TorchError::from_decode)?;
    let raw = find_tensors(&decoded.graph, decoded.root, Ids::Zip)?;
    let record = |key: &str, tensor: &str| -> Result<Range<u64>, TorchError> {
        let name = format!("{root}/data/{key}");
        let found = find(entries, &name);
        let index = match found.as_slice() {
            [] => {
                return Err(TorchError::MissingStorage {
                    tensor: tensor.to_owned(),
                    key: key.to_owned(),
                })
            }
            [one] => *one,
            _ => {
                return Err(TorchError::DuplicateStorage {
                    tensor: tensor.to_owned(),
                    key: key.to_owned(),
                })
            }
        };
        let entry = entries.get(index).ok_or(TorchError::MissingStorage {
            tensor: tensor.to_owned(),
            key: key.to_owned(),
        })?;
        if entry.method != 0 || entry.size != entry.compressed_size {
            return Err(TorchError::CompressedStorage {
                tensor: tensor.to_owned(),
                key: key.to_owned(),
            });
        }
        archive.data_range(entry).map_err(TorchError::Pickle)
    };
    let (tensors, storages) = validate::validate(&raw, big_endian, record)?;
    Ok(Checkpoint {
        layout: Layout::Zip { root },
        big_endian,
        graph: decoded.graph,
        root: decoded.root,
        tensors,
        storages,
    })
}

/// The five pickles of a legacy checkpoint (magic number, protocol version,
/// `sys_info`, the object, the storage keys), decoded one after the other from
/// offset 0 of a file of `file_len` bytes by `decode(offset)`, a stream decode (over
/// the file's bytes, a sparse image of them, or the loader's source): one walk for
/// the opener and the lazy loader. Returns them and where the storages start.
///
/// Reading through a stream makes each pickle's end the decoder's to find (STOP), and
/// bounds what is read by the decoder's limits, whatever the file's length.
fn legacy_pickles(
    file_len: u64,
    mut decode: impl FnMut(u64) -> Result<Decoded<'static>, Error>,
) -> Result<(Vec<Decoded<'static>>, u64), TorchError> {
    let mut pos = 0u64;
    let mut pickles = Vec::new();
    for _ in 0..5 {
        if pos >= file_len {
            return Err(TorchError::NotACheckpoint("legacy checkpoint cut short"));
        }
        let decoded = decode(pos).map_err(TorchError::from_decode)?;
        pos = pos.saturating_add(decoded.consumed);
        pickles.push(decoded);
    }
    Ok((pickles, pos))
}

/// What the pickles of a legacy checkpoint say: whether its storages are big-endian,
/// its tensors (unchecked) and its storage keys in record order.
fn legacy_front(
    pickles: &[Decoded<'static>],
) -> Result<(bool, Vec<RawTensor>, Vec<String>), TorchError> {
    let (Some(sys_info), Some(decoded), Some(key_list)) =
        (pickles.get(2), pickles.get(3), pickles.get(4))
    else {
        return Err(TorchError::NotACheckpoint("legacy checkpoint cut short"));
    };
    let big_endian = dict_get(&sys_info.graph, sys_info.root, b"little_endian")
        .is_some_and(|v| matches!(sys_info.graph.get(v), Some(Node::Bool(false))));
    let raw = find_tensors(&decoded.graph, decoded.root, Ids::Legacy)?;
    let keys: Vec<String> = match key_list.graph.get(key_list.root) {
        Some(Node::List(items)) => items
            .iter()
            .filter_map(|i| match key_list.graph.get(*i) {
                Some(Node::Str(s)) => Some(String::from_utf8_lossy(s).into_owned()),
                _ => None,
            })
            .collect(),
        _ => {
            return Err(TorchError::NotACheckpoint(
                "legacy storage keys are not a list",
            ))
        }
    };
    Ok((big_endian, raw, keys))
}

/// Where each storage record of a legacy checkpoint lies, walking them from `pos` in
/// the order of `keys`: an 8-byte element count (in the file's byte order) read by
/// `count_at`, then the elements, whose size the storage's persistent id gives. The
/// walk stops at a key no tensor uses (its element size is unknown, so the records
/// after it cannot be found) or a count not there; a key listed twice is marked with
/// its second place. Shared by the opener and the lazy loader, which reads each count
/// as the walk asks for it.
fn walk_records(
    raw: &[RawTensor],
    keys: &[String],
    big_endian: bool,
    mut pos: u64,
    file_len: u64,
    mut count_at: impl FnMut(u64) -> Option<[u8; 8]>,
) -> HashMap<String, Result<Range<u64>, usize>> {
    let mut elsize: HashMap<&str, u64> = HashMap::new();
    for t in raw {
        if let Some(d) = crate::torch::DType::from_storage_class(&t.storage.class) {
            elsize.entry(t.storage.key.as_str()).or_insert(d.size());
        }
    }
    let mut records: HashMap<String, Result<Range<u64>, usize>> = HashMap::new();
    for (i, key) in keys.iter().enumerate() {
        if records.contains_key(key) {
            records.insert(key.clone(), Err(i));
            continue;
        }
        let Some(&size) = elsize.get(key.as_str()) else {
            break;
        };
        let Some(count) = count_at(pos) else { break };
        let count = if big_endian {
            u64::from_be_bytes(count)
        } else {
            u64::from_le_bytes(count)
        };
        let start = pos.saturating_add(8);
        let end = start
            .saturating_add(count.saturating_mul(size))
            .min(file_len);
        records.insert(key.clone(), Ok(start..end));
        pos = end;
    }
    records
}

/// `Read::read` for the two streams below, whose `BufRead` side does the work.
fn read_buffered(reader: &mut impl std::io::BufRead, buf: &mut [u8]) -> std::io::Result<usize> {
    let n = {
        let rest = reader.fill_buf()?;
        let n = rest.len().min(buf.len());
        if let (Some(dst), Some(src)) = (buf.get_mut(..n), rest.get(..n)) {
            dst.copy_from_slice(src);
        }
        n
    };
    reader.consume(n);
    Ok(n)
}

/// A stream over `file` from `pos`, served from what the file holds at hand
/// ([`ZipBytes::tail`]): over a sparse image, a byte not loaded is an I/O error (and
/// a noted miss), never an early end.
struct Stream<'f, B: ?Sized> {
    file: &'f B,
    pos: u64,
}

impl<B: ZipBytes + ?Sized> std::io::Read for Stream<'_, B> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        read_buffered(self, buf)
    }
}

impl<B: ZipBytes + ?Sized> std::io::BufRead for Stream<'_, B> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        self.file
            .tail(self.pos)
            .ok_or_else(|| std::io::Error::other("a byte the lazy loader did not read"))
    }

    fn consume(&mut self, n: usize) {
        self.pos = self.pos.saturating_add(n as u64);
    }
}

fn open_legacy<B: ZipBytes + ?Sized>(file: &B) -> Result<Checkpoint<'static>, TorchError> {
    let decoder = decoder();
    let (mut pickles, pos) = legacy_pickles(file.file_len(), |pos| {
        decoder.decode_reader(Stream { file, pos })
    })?;
    let (big_endian, raw, keys) = legacy_front(&pickles)?;
    let records = walk_records(&raw, &keys, big_endian, pos, file.file_len(), |at| {
        file.at(at, 8).and_then(|b| <[u8; 8]>::try_from(b).ok())
    });
    let record = |key: &str, tensor: &str| -> Result<Range<u64>, TorchError> {
        match records.get(key) {
            Some(Ok(range)) => Ok(range.clone()),
            Some(Err(_)) => Err(TorchError::DuplicateStorage {
                tensor: tensor.to_owned(),
                key: key.to_owned(),
            }),
            None => Err(TorchError::MissingStorage {
                tensor: tensor.to_owned(),
                key: key.to_owned(),
            }),
        }
    };
    let (tensors, storages) = validate::validate(&raw, big_endian, record)?;
    let decoded = pickles.swap_remove(3);
    Ok(Checkpoint {
        layout: Layout::Legacy,
        big_endian,
        graph: decoded.graph,
        root: decoded.root,
        tensors,
        storages,
    })
}

/// First bytes the legacy loader reads of the pickles at a time; each further read
/// doubles, up to [`MAX_BLOCK`]: a few kilobytes of pickles cost one read, a large
/// one a logarithmic number, and past the pickles at most one block is read ahead.
const FIRST_BLOCK: u64 = 64 << 10;
/// The largest read of the legacy loader.
const MAX_BLOCK: u64 = 16 << 20;

/// A stream over the source of `image` from `pos` that loads into the image what the
/// decoder reads, a block at a time (see [`FIRST_BLOCK`]).
struct Loading<'i, S> {
    image: &'i mut SparseImage<S>,
    pos: u64,
    block: u64,
    /// The source's failure, if reading it failed (the decode then fails too).
    failed: Option<std::io::ErrorKind>,
}

impl<S: ReadAt> std::io::Read for Loading<'_, S> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        read_buffered(self, buf)
    }
}

impl<S: ReadAt> std::io::BufRead for Loading<'_, S> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        if self.pos >= self.image.file_len() {
            return Ok(&[]);
        }
        if self.image.piece_tail(self.pos).is_none() {
            if let Err(e) = self.image.load(self.pos, self.block) {
                self.failed = Some(e.kind());
                return Err(e);
            }
            self.block = self.block.saturating_mul(2).min(MAX_BLOCK);
        }
        self.image
            .piece_tail(self.pos)
            .ok_or_else(|| std::io::Error::other("loaded bytes not held"))
    }

    fn consume(&mut self, n: usize) {
        self.pos = self.pos.saturating_add(n as u64);
    }
}

/// Loads what [`open_legacy`] reads of a legacy checkpoint: its pickles (decoded
/// through [`Loading`], so exactly the blocks the decoder reached), then each storage
/// record's 8-byte element count, walked as `open_legacy` walks them, never the
/// elements. The record walk is done here explicitly, one count at a time, rather
/// than by [`SparseImage::fill`], whose rounds are meant for a handful of misses.
/// A file whose pickles do not decode, or do not say where the records are, is left
/// with what was read: `open_legacy` over the image meets the same failure first.
fn load_legacy<S: ReadAt>(image: &mut SparseImage<S>) -> std::io::Result<()> {
    let decoder = decoder();
    let len = image.file_len();
    let mut source_failed = None;
    let walked = legacy_pickles(len, |pos| {
        let mut stream = Loading {
            image: &mut *image,
            pos,
            block: FIRST_BLOCK,
            failed: None,
        };
        let decoded = decoder.decode_reader(&mut stream);
        source_failed = source_failed.or(stream.failed);
        decoded
    });
    if let Some(kind) = source_failed {
        return Err(kind.into());
    }
    let Ok((pickles, pos)) = walked else {
        return Ok(());
    };
    let Ok((big_endian, raw, keys)) = legacy_front(&pickles) else {
        return Ok(());
    };
    let mut failed = None;
    walk_records(&raw, &keys, big_endian, pos, len, |at| {
        if let Err(e) = image.load(at, 8) {
            failed = Some(e);
            return None;
        }
        image.at(at, 8).and_then(|b| <[u8; 8]>::try_from(b).ok())
    });
    failed.map_or(Ok(()), Err)
}

/// The value of a `str` key in a dict node.
fn dict_get(graph: &Graph<'_>, dict: NodeId, key: &[u8]) -> Option<NodeId> {
    let Some(Node::Dict(pairs)) = graph.get(dict) else {
        return None;
    };
    pairs
        .iter()
        .find(|(k, _)| matches!(graph.get(*k), Some(Node::Str(s)) if s == key))
        .map(|(_, v)| *v)
}

/// How a layout's persistent ids name tensors.
#[derive(Clone, Copy)]
pub(crate) enum Ids<'t> {
    /// `('storage', ...)` ids of rebuild calls, without storage views.
    Zip,
    /// `('storage', ...)` ids of rebuild calls, read as `_legacy_load` reads them,
    /// which follows a storage view (`view_metadata`).
    Legacy,
    /// A tar checkpoint's keys: the id itself is the tensor ([`tar::resolve`]).
    Tar(&'t tar::Tables),
}

/// How a tensor is rebuilt (`torch/_utils.py`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Rebuild {
    /// `_rebuild_tensor(storage, storage_offset, size, stride)`.
    V1,
    /// `_rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad,
    /// backward_hooks[, metadata])`.
    V2,
    /// `_rebuild_tensor_v3(storage, storage_offset, size, stride, requires_grad,
    /// backward_hooks, dtype[, metadata])`, for storages written untyped.
    V3,
    /// `_rebuild_qtensor(storage, storage_offset, size, stride, quantizer_params,
    /// requires_grad, backward_hooks)`.
    Quantized,
    /// `_rebuild_parameter(data, requires_grad, backward_hooks)` and
    /// `_rebuild_parameter_with_state(..., state)`.
    Parameter,
    /// Any other `torch._utils._rebuild_*`.
    Other,
}

fn rebuild_of(graph: &Graph<'_>, obj: &Object) -> Option<(Rebuild, String)> {
    let Some(Node::Global(g)) = graph.get(obj.callable) else {
        return None;
    };
    if g.module != "torch._utils" || !g.name.starts_with("_rebuild_") {
        return None;
    }
    let kind = match g.name.as_str() {
        "_rebuild_tensor" => Rebuild::V1,
        "_rebuild_tensor_v2" => Rebuild::V2,
        "_rebuild_tensor_v3" => Rebuild::V3,
        "_rebuild_qtensor" => Rebuild::Quantized,
        "_rebuild_parameter" | "_rebuild_parameter_with_state" => Rebuild::Parameter,
        _ => Rebuild::Other,
    };
    Some((kind, format!("{}.{}", g.module, g.name)))
}

/// Every tensor reachable from `root`, depth first, children in order. Each container
/// is entered once (a memo bomb costs its size, not its expansion); a tensor reached
/// through two containers is listed under both names.
///
/// A name joins the path's segments with `.`: a dict key (see [`segment`]), or the
/// index of an item in a list, tuple, set or frozenset. A set has no order in Python,
/// so its items are numbered in the order the stream adds them (the order the saving
/// process iterated the set in): `torch.load` of the same file gives that order too,
/// so a name is stable for a file, if not across two saves of one set.
///
/// `ids`: how the persistent ids are read (see [`Ids`]).
pub(crate) fn find_tensors(
    graph: &Graph<'_>,
    root: NodeId,
    ids: Ids<'_>,
) -> Result<Vec<RawTensor>, TorchError> {
    let legacy = matches!(ids, Ids::Legacy);
    let tables = match ids {
        Ids::Tar(tables) => Some(tables),
        _ => None,
    };
    let mut out = Vec::new();
    let mut seen: HashSet<NodeId> = HashSet::new();
    let mut stack: Vec<(NodeId, String)> = vec![(root, String::new())];
    let mut name_bytes: u64 = 0;
    while let Some((id, path)) = stack.pop() {
        let Some(node) = graph.get(id) else { continue };
        let mut budget = |out: &Vec<RawTensor>, path: &str| {
            if out.len() >= MAX_TENSORS {
                return Err(TorchError::Limit {
                    what: "tensors",
                    limit: MAX_TENSORS as u64,
                });
            }
            name_bytes = name_bytes.saturating_add(path.len() as u64);
            if name_bytes > MAX_NAME_BYTES {
                return Err(TorchError::Limit {
                    what: "name bytes",
                    limit: MAX_NAME_BYTES,
                });
            }
            Ok(())
        };
        if let (Some(tables), Node::PersId(pid)) = (tables, node) {
            if let Some(t) = tar::resolve(graph, id, pid, &path, tables)? {
                budget(&out, &path)?;
                out.push(t);
            }
            continue;
        }
        if let Node::Object(obj) = node {
            if let Some((kind, rebuild)) = rebuild_of(graph, obj) {
                budget(&out, &path)?;
                if tables.is_some() {
                    return Err(malformed(
                        &path,
                        "a rebuild call in a tar checkpoint, whose tensors are persistent ids",
                    ));
                }
                out.push(tensor(graph, id, obj, kind, rebuild, path, legacy)?);
                continue;
            }
        }
        let children: Vec<(String, NodeId)> = match node {
            Node::Dict(pairs) => pairs
                .iter()
                .map(|(k, v)| (segment(graph, *k), *v))
                .collect(),
            // A set's items by their place in the stream: the order the saving Python
            // iterated it in (for tensors, by address), fixed for a given file.
            Node::List(items) | Node::Tuple(items) | Node::Set(items) | Node::FrozenSet(items) => {
                items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| (i.to_string(), *v))
                    .collect()
            }
            Node::Object(obj) => object_items(graph, obj),
            _ => continue,
        };
        if !seen.insert(id) {
            continue;
        }
        for (seg, child) in children.into_iter().rev() {
            let name = if path.is_empty() {
                seg
            } else {
                format!("{path}.{seg}")
            };
            stack.push((child, name));
        }
    }
    Ok(out)
}

/// The items of an object that holds items: an `OrderedDict` (its constructor's
/// argument, a list of pairs or a dict, then its SETITEMs) or anything with
/// APPENDs/SETITEMs.
fn object_items(graph: &Graph<'_>, obj: &Object) -> Vec<(String, NodeId)> {
    let mut items = Vec::new();
    let is_ordered_dict = matches!(graph.get(obj.callable),
        Some(Node::Global(g)) if g.module == "collections" && g.name == "OrderedDict");
    if is_ordered_dict {
        if let Some(Node::Tuple([first, ..])) = graph.get(obj.args) {
            match graph.get(*first) {
                Some(Node::List(pairs) | Node::Tuple(pairs)) => {
                    for p in pairs {
                        if let Some(Node::List([k, v]) | Node::Tuple([k, v])) = graph.get(*p) {
                            items.push((segment(graph, *k), *v));
                        }
                    }
                }
                // `OrderedDict({k: v})`: torch never writes it, `torch.load` reads it.
                Some(Node::Dict(pairs)) => {
                    items.extend(pairs.iter().map(|(k, v)| (segment(graph, *k), *v)));
                }
                _ => {}
            }
        }
    }
    items.extend(
        obj.listitems
            .iter()
            .enumerate()
            .map(|(i, v)| (i.to_string(), *v)),
    );
    items.extend(obj.dictitems.iter().map(|(k, v)| (segment(graph, *k), *v)));
    items
}

/// A dict key as a name segment: a str as itself, an int in decimal, anything else as
/// its Python repr.
fn segment(graph: &Graph<'_>, key: NodeId) -> String {
    match graph.get(key) {
        Some(Node::Str(s)) => String::from_utf8_lossy(s).into_owned(),
        Some(Node::Int(i)) => i.to_string(),
        _ => crate::views::repr::repr(graph, key),
    }
}

fn malformed(name: &str, what: &'static str) -> TorchError {
    TorchError::Malformed {
        tensor: name.to_owned(),
        what,
    }
}

fn tensor(
    graph: &Graph<'_>,
    id: NodeId,
    obj: &Object,
    kind: Rebuild,
    rebuild: String,
    name: String,
    legacy: bool,
) -> Result<RawTensor, TorchError> {
    let Some(Node::Tuple(args)) = graph.get(obj.args) else {
        return Err(malformed(&name, "rebuild arguments are not a tuple"));
    };
    let arg = |i: usize| args.get(i).copied();
    match kind {
        Rebuild::Other => Err(TorchError::UnsupportedTensor {
            tensor: name,
            rebuild,
        }),
        Rebuild::Parameter => {
            let data = arg(0).ok_or_else(|| malformed(&name, "a Parameter without data"))?;
            let requires_grad = match arg(1).and_then(|r| graph.get(r)) {
                Some(Node::Bool(b)) => b,
                _ => return Err(malformed(&name, "requires_grad is not a bool")),
            };
            let inner = match graph.get(data) {
                Some(Node::Object(inner)) => match rebuild_of(graph, inner) {
                    Some((Rebuild::Parameter, _)) | None => None,
                    Some((k, r)) => Some((inner, k, r)),
                },
                _ => None,
            };
            let Some((inner, k, r)) = inner else {
                return Err(malformed(&name, "a Parameter's data is not a tensor"));
            };
            let mut t = tensor(graph, data, inner, k, r, name, legacy)?;
            t.node = id;
            t.parameter = true;
            t.requires_grad = requires_grad;
            Ok(t)
        }
        Rebuild::V1 | Rebuild::V2 | Rebuild::V3 | Rebuild::Quantized => {
            let storage = arg(0)
                .and_then(|s| storage(graph, s, legacy))
                .ok_or_else(|| {
                    malformed(&name, "storage is not a ('storage', ...) persistent id")
                })?;
            let storage_offset = arg(1)
                .and_then(|n| num(graph, n))
                .ok_or_else(|| malformed(&name, "storage_offset is not an int"))?;
            let shape = arg(2)
                .and_then(|n| nums(graph, n))
                .ok_or_else(|| malformed(&name, "size is not a tuple of ints"))?;
            let stride = arg(3)
                .and_then(|n| nums(graph, n))
                .ok_or_else(|| malformed(&name, "stride is not a tuple of ints"))?;
            let grad_at = match kind {
                Rebuild::V1 => None,
                Rebuild::Quantized => Some(5),
                _ => Some(4),
            };
            let requires_grad = match grad_at.and_then(arg).map(|r| graph.get(r)) {
                None => false,
                Some(Some(Node::Bool(b))) => b,
                Some(_) => return Err(malformed(&name, "requires_grad is not a bool")),
            };
            let dtype = if kind == Rebuild::V3 {
                match arg(6).and_then(|d| graph.get(d)) {
                    Some(Node::Global(g)) if g.module == "torch" => Some(g.name.clone()),
                    _ => return Err(malformed(&name, "dtype is not a torch dtype")),
                }
            } else {
                None
            };
            Ok(RawTensor {
                name,
                node: id,
                parameter: false,
                requires_grad,
                storage,
                dtype,
                storage_offset,
                shape,
                stride,
            })
        }
    }
}

/// `('storage', torch.<X>Storage, key, location, numel[, view_metadata])`.
///
/// `view_metadata` is `None`, or in the legacy layout (`legacy`) a storage view
/// `(view_key, offset, view_size)`: `_legacy_load` makes the storage the slice of
/// elements `[offset, offset + view_size)` of the storage `key` (whose numel and type
/// the id gives), and `validate` checks that slice. The ZIP layout's loader unpacks
/// five items and has no views: there a view is not a storage id.
fn storage(graph: &Graph<'_>, id: NodeId, legacy: bool) -> Option<RawStorage> {
    let Some(Node::PersId(pid)) = graph.get(id) else {
        return None;
    };
    let Some(Node::Tuple(items)) = graph.get(pid) else {
        return None;
    };
    let (tag, class, key, location, numel, view) = match items {
        [a, b, c, d, e] => (*a, *b, *c, *d, *e, None),
        [a, b, c, d, e, f] => (*a, *b, *c, *d, *e, Some(*f)),
        _ => return None,
    };
    if !matches!(graph.get(tag), Some(Node::Str(b"storage"))) {
        return None;
    }
    let view = match view.map(|v| graph.get(v)) {
        None | Some(Some(Node::None)) => None,
        Some(Some(Node::Tuple([key, offset, size]))) if legacy => Some(RawView {
            key: text(graph, *key)?,
            offset: num(graph, *offset)?,
            size: num(graph, *size)?,
        }),
        Some(_) => return None,
    };
    let Some(Node::Global(class)) = graph.get(class) else {
        return None;
    };
    Some(RawStorage {
        class: storage_class(class),
        key: text(graph, key)?,
        location: text(graph, location)?,
        numel: num(graph, numel)?,
        view,
    })
}

/// A storage type as [`DType::from_storage_class`](crate::torch::DType) names it:
/// `FloatStorage` for torch's own (CPU or CUDA), `module.Name` for anything else.
pub(crate) fn storage_class(class: &Global) -> String {
    if class.module == "torch" || class.module == "torch.cuda" {
        class.name.clone()
    } else {
        format!("{}.{}", class.module, class.name)
    }
}

/// A str node's text (lossy: keys and locations are ASCII in practice).
pub(crate) fn text(graph: &Graph<'_>, id: NodeId) -> Option<String> {
    match graph.get(id)? {
        Node::Str(s) => Some(String::from_utf8_lossy(s).into_owned()),
        _ => None,
    }
}

/// An int node as a [`Num`] (a big int kept as too large, for the checks to refuse).
pub(crate) fn num(graph: &Graph<'_>, id: NodeId) -> Option<Num> {
    match graph.get(id)? {
        Node::Int(i) => Some(Num::Int(i)),
        Node::BigInt(_) => Some(Num::Big),
        _ => None,
    }
}

fn nums(graph: &Graph<'_>, id: NodeId) -> Option<Vec<Num>> {
    match graph.get(id)? {
        Node::Tuple(items) | Node::List(items) => items.iter().map(|i| num(graph, *i)).collect(),
        _ => None,
    }
}
