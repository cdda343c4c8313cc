//! PyTorch's own layouts (`torch/serialization.py`), beyond the ZIP one (`zip.rs`).
//!
//! **Legacy** (`torch.save(..., _use_new_zipfile_serialization=False)`, `_legacy_save`
//! / `_legacy_load`): five pickles back to back (the magic number
//! 0x1950a86a20f9469cfc6c, the protocol version 1001, `sys_info`, the object itself,
//! the list of storage keys), then the raw storages. `torch.load` unpickles all five,
//! so all five are pieces; the storages are data.
//!
//! **Legacy tar** (before PyTorch 0.4, read by `legacy_load` in `_legacy_load`):
//! members `sys_info` and `pickle` (one pickle each), `storages` (a pickle with the
//! count, then per storage a pickle `(key, location, storage_type)`, an 8-byte
//! little-endian element count and the raw elements; then a pickle of storage views)
//! and `tensors` (a pickle with the count, then per tensor a pickle `(key, storage_id,
//! type)`, a 4-byte ndim, 4 unused bytes, ndim sizes, ndim strides and an offset, each
//! 8 bytes). Every pickle there is unpickled by `torch.load`, so every one is a piece;
//! walking over the raw parts needs each storage's element size, read from its
//! storage type (`torch.FloatStorage` ...).
//!
//! A walk that cannot go on (a pickle that does not decode, an unknown storage type)
//! hands out the rest of the member as one last piece: nothing is skipped unread.

use crate::decode::Decoder;
use crate::graph::Node;

/// A pickle found by a walk: its name and byte range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Found {
    pub(crate) name: String,
    pub(crate) start: usize,
    pub(crate) end: usize,
}

/// The names of the five pickles of a legacy checkpoint.
const LEGACY: [&str; 5] = [
    "magic_number",
    "protocol_version",
    "sys_info",
    "pickle",
    "storage_keys",
];

/// What a walk found, and whether it got through the whole layout (false when the
/// data ended early or a part could not be read).
pub(crate) type Walked = (Vec<Found>, bool);

/// Walks the five pickles of a legacy checkpoint with `decoder` (which only measures
/// them: the caller decodes the pieces again).
pub(crate) fn legacy_pickles(data: &[u8], decoder: &Decoder) -> Walked {
    let mut walk = Walk::new(data, decoder);
    let mut keys = Vec::new();
    for name in LEGACY {
        match walk.pickle(name) {
            None => return (walk.found, walk.complete),
            Some(Value::Keys(k)) => keys = k,
            Some(_) => {}
        }
    }
    // The storages: for each key, an 8-byte little-endian element count and the
    // elements, whose size the storage's type in the main pickle's persistent id
    // gives. Only checked to be there (a cut-off file is reported): they are data.
    for key in keys {
        let Some(&size) = walk.elsizes.get(&key) else {
            walk.complete = false;
            break;
        };
        let numel = match walk.data.get(walk.pos..walk.pos.saturating_add(8)) {
            Some(b) => <[u8; 8]>::try_from(b).map_or(0, u64::from_le_bytes),
            None => {
                walk.complete = false;
                break;
            }
        };
        walk.pos = walk.pos.saturating_add(8);
        let end = numel
            .checked_mul(size)
            .and_then(|n| usize::try_from(n).ok())
            .and_then(|n| walk.pos.checked_add(n))
            .filter(|&e| e <= walk.data.len());
        match end {
            Some(end) => walk.pos = end,
            None => {
                walk.complete = false;
                break;
            }
        }
    }
    (walk.found, walk.complete)
}

/// Walks the `storages` member of a legacy tar checkpoint.
pub(crate) fn tar_storages(data: &[u8], decoder: &Decoder) -> Walked {
    let mut walk = Walk::new(data, decoder);
    let _ = walk.storages();
    (walk.found, walk.complete)
}

/// Walks the `tensors` member of a legacy tar checkpoint.
pub(crate) fn tar_tensors(data: &[u8], decoder: &Decoder) -> Walked {
    let mut walk = Walk::new(data, decoder);
    let _ = walk.tensors();
    (walk.found, walk.complete)
}

struct Walk<'d> {
    data: &'d [u8],
    pos: usize,
    found: Vec<Found>,
    decoder: &'d Decoder,
    complete: bool,
    /// Element size of each storage key named by a persistent id
    /// `('storage', <type>, key, location, numel, view)` seen so far.
    elsizes: std::collections::HashMap<String, u64>,
}

/// What a walked pickle's value says, as far as the walk needs it.
enum Value {
    Int(i64),
    /// A tuple whose third item is a global named `<name>`.
    StorageType(String),
    /// A list of str (the storage keys).
    Keys(Vec<String>),
    Other,
}

impl<'d> Walk<'d> {
    fn new(data: &'d [u8], decoder: &'d Decoder) -> Walk<'d> {
        Walk {
            data,
            pos: 0,
            found: Vec::new(),
            decoder,
            complete: true,
            elsizes: std::collections::HashMap::new(),
        }
    }

    /// The rest as one last piece (the walk stops).
    fn give_up(&mut self, name: &str) -> Option<Value> {
        self.complete = false;
        if self.pos < self.data.len() {
            self.found.push(Found {
                name: name.to_owned(),
                start: self.pos,
                end: self.data.len(),
            });
            self.pos = self.data.len();
        }
        None
    }

    /// Decodes the pickle at the cursor, records it and moves past it.
    fn pickle(&mut self, name: &str) -> Option<Value> {
        let rest = self.data.get(self.pos..).unwrap_or(&[]);
        if rest.is_empty() {
            self.complete = false;
            return None;
        }
        let Ok(decoded) = self.decoder.decode(rest) else {
            return self.give_up(name);
        };
        let end = usize::try_from(decoded.consumed)
            .ok()
            .and_then(|n| self.pos.checked_add(n))
            .filter(|&e| e <= self.data.len())?;
        self.found.push(Found {
            name: name.to_owned(),
            start: self.pos,
            end,
        });
        self.pos = end;
        let graph = &decoded.graph;
        for id in graph.ids() {
            let Some(Node::PersId(pid)) = graph.get(id) else {
                continue;
            };
            if let Some(Node::Tuple([tag, kind, key, ..])) = graph.get(pid) {
                let (Some(Node::Str(b"storage")), Some(Node::Global(g)), Some(Node::Str(key))) =
                    (graph.get(*tag), graph.get(*kind), graph.get(*key))
                else {
                    continue;
                };
                if let Some(size) = element_size(&g.name) {
                    self.elsizes
                        .insert(String::from_utf8_lossy(key).into_owned(), size);
                }
            }
        }
        Some(match graph.get(decoded.root) {
            Some(Node::List(items)) => Value::Keys(
                items
                    .iter()
                    .filter_map(|i| match graph.get(*i) {
                        Some(Node::Str(s)) => Some(String::from_utf8_lossy(s).into_owned()),
                        _ => None,
                    })
                    .collect(),
            ),
            Some(Node::Int(n)) => Value::Int(n),
            Some(Node::Tuple([_, _, kind, ..])) => match graph.get(*kind) {
                Some(Node::Global(g)) => Value::StorageType(g.name.clone()),
                _ => Value::Other,
            },
            _ => Value::Other,
        })
    }

    /// Skips `n` raw bytes, or gives up when they are not there.
    fn skip(&mut self, n: u64, name: &str) -> Option<()> {
        let end = usize::try_from(n)
            .ok()
            .and_then(|n| self.pos.checked_add(n))
            .filter(|&e| e <= self.data.len());
        match end {
            Some(end) => {
                self.pos = end;
                Some(())
            }
            None => self.give_up(name).map(|_| ()),
        }
    }

    fn le_u64(&mut self, name: &str) -> Option<u64> {
        let bytes = self
            .data
            .get(self.pos..self.pos.saturating_add(8))
            .and_then(|b| <[u8; 8]>::try_from(b).ok());
        match bytes {
            Some(b) => {
                self.pos = self.pos.saturating_add(8);
                Some(u64::from_le_bytes(b))
            }
            None => self.give_up(name).map(|_| 0),
        }
    }

    fn count(&mut self, name: &str) -> Option<u64> {
        match self.pickle(name)? {
            Value::Int(n) => u64::try_from(n)
                .ok()
                .or_else(|| self.give_up(name).map(|_| 0)),
            _ => self.give_up(name).map(|_| 0),
        }
    }

    fn storages(&mut self) -> Option<()> {
        let n = self.count("storages/count")?;
        for i in 0..n {
            let name = format!("storages/{i}");
            let Value::StorageType(kind) = self.pickle(&name)? else {
                return self.give_up(&name).map(|_| ());
            };
            let Some(size) = element_size(&kind) else {
                return self.give_up(&name).map(|_| ());
            };
            let numel = self.le_u64(&name)?;
            let Some(bytes) = numel.checked_mul(size) else {
                return self.give_up(&name).map(|_| ());
            };
            self.skip(bytes, &name)?;
        }
        self.pickle("storages/views").map(|_| ())
    }

    fn tensors(&mut self) -> Option<()> {
        let n = self.count("tensors/count")?;
        for i in 0..n {
            let name = format!("tensors/{i}");
            self.pickle(&name)?;
            let ndim = self
                .data
                .get(self.pos..self.pos.saturating_add(4))
                .and_then(|b| <[u8; 4]>::try_from(b).ok())
                .map(i32::from_le_bytes);
            let Some(ndim) = ndim.and_then(|d| u64::try_from(d).ok()) else {
                return self.give_up(&name).map(|_| ());
            };
            // ndim, 4 unused bytes, sizes, strides, storage offset.
            let Some(bytes) = ndim.checked_mul(16).and_then(|b| b.checked_add(16)) else {
                return self.give_up(&name).map(|_| ());
            };
            self.skip(bytes, &name)?;
        }
        Some(())
    }
}

/// Bytes per element of a legacy storage type (`torch.<Name>Storage`, as
/// `torch/storage.py`'s `_get_dtype_from_pickle_storage_type` maps them).
fn element_size(name: &str) -> Option<u64> {
    Some(match name {
        "DoubleStorage" | "LongStorage" | "ComplexFloatStorage" => 8,
        "FloatStorage" | "IntStorage" | "QInt32Storage" => 4,
        "HalfStorage" | "ShortStorage" | "BFloat16Storage" => 2,
        "CharStorage" | "ByteStorage" | "BoolStorage" | "QUInt8Storage" | "QInt8Storage"
        | "QUInt4x2Storage" | "QUInt2x4Storage" => 1,
        "ComplexDoubleStorage" => 16,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Policy;

    fn decoder() -> Decoder {
        Decoder::new().policy(Policy::inert())
    }

    #[test]
    fn five_pickles_then_storages() {
        // magic, 1001, {}, a persistent storage ('storage', torch.FloatStorage, '0',
        // 'cpu', 2, None), ['0'], then the storage: count 2 and 2 floats.
        let parts: [&[u8]; 5] = [
            b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19.",
            b"\x80\x02M\xe9\x03.",
            b"\x80\x02}q\x00.",
            b"\x80\x02(X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x000X\x03\x00\x00\x00cpuK\x02NtQ.",
            b"\x80\x02]q\x00X\x01\x00\x00\x000a.",
        ];
        let mut data = parts.concat();
        data.extend_from_slice(&2u64.to_le_bytes());
        data.extend_from_slice(&[0; 8]);
        let (found, complete) = legacy_pickles(&data, &decoder());
        assert!(complete);
        let mut at = 0;
        let want: Vec<(&str, usize, usize)> = LEGACY
            .iter()
            .zip(parts)
            .map(|(name, p)| {
                at += p.len();
                (*name, at - p.len(), at)
            })
            .collect();
        let ranges: Vec<(&str, usize, usize)> = found
            .iter()
            .map(|f| (f.name.as_str(), f.start, f.end))
            .collect();
        assert_eq!(ranges, want);
        // One float short: cut off.
        let (found, complete) = legacy_pickles(&data[..data.len() - 4], &decoder());
        assert_eq!((found.len(), complete), (5, false));
    }

    #[test]
    fn a_pickle_that_does_not_decode_ends_the_walk_with_the_rest() {
        let mut data = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19.".to_vec();
        data.extend_from_slice(b"\x80\x02\xff junk");
        let (found, complete) = legacy_pickles(&data, &decoder());
        assert!(!complete);
        assert_eq!(found.len(), 2);
        assert_eq!((found[1].start, found[1].end), (15, data.len()));
    }

    #[test]
    fn storages_are_walked_by_their_element_size() {
        // count 2; ('0', 'cpu', torch.FloatStorage) + 2 floats; ('1', 'cpu',
        // torch.ByteStorage) + 3 bytes; views [].
        let args = |key: &str, kind: &str| {
            let mut p = b"\x80\x02X\x01\x00\x00\x00".to_vec();
            p.extend_from_slice(key.as_bytes());
            p.extend_from_slice(b"X\x03\x00\x00\x00cpuctorch\n");
            p.extend_from_slice(kind.as_bytes());
            p.extend_from_slice(b"\n\x87.");
            p
        };
        let mut data = b"\x80\x02K\x02.".to_vec();
        data.extend(args("0", "FloatStorage"));
        data.extend_from_slice(&2u64.to_le_bytes());
        data.extend_from_slice(&[0; 8]);
        data.extend(args("1", "ByteStorage"));
        data.extend_from_slice(&3u64.to_le_bytes());
        data.extend_from_slice(&[0; 3]);
        let views_at = data.len();
        data.extend_from_slice(b"\x80\x02].");
        let (found, complete) = tar_storages(&data, &decoder());
        assert!(complete);
        let names: Vec<&str> = found.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "storages/count",
                "storages/0",
                "storages/1",
                "storages/views"
            ]
        );
        assert_eq!((found[3].start, found[3].end), (views_at, data.len()));
    }
}
