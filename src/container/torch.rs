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

/// A pickle found by a walk: its name and byte range; `whole` is false for a last
/// piece that runs to the end because the walk could not go on.
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

/// Walks the five pickles of a legacy checkpoint with `decoder` (which only measures
/// them: the caller decodes the pieces again).
pub(crate) fn legacy_pickles(data: &[u8], decoder: &Decoder) -> Vec<Found> {
    let mut walk = Walk {
        data,
        pos: 0,
        found: Vec::new(),
        decoder,
    };
    for name in LEGACY {
        if walk.pickle(name).is_none() {
            break;
        }
    }
    walk.found
}

/// Walks the `storages` member of a legacy tar checkpoint.
pub(crate) fn tar_storages(data: &[u8], decoder: &Decoder) -> Vec<Found> {
    let mut walk = Walk {
        data,
        pos: 0,
        found: Vec::new(),
        decoder,
    };
    let _ = walk.storages();
    walk.found
}

/// Walks the `tensors` member of a legacy tar checkpoint.
pub(crate) fn tar_tensors(data: &[u8], decoder: &Decoder) -> Vec<Found> {
    let mut walk = Walk {
        data,
        pos: 0,
        found: Vec::new(),
        decoder,
    };
    let _ = walk.tensors();
    walk.found
}

struct Walk<'d> {
    data: &'d [u8],
    pos: usize,
    found: Vec<Found>,
    decoder: &'d Decoder,
}

/// What a walked pickle's value says, as far as the walk needs it.
enum Value {
    Int(i64),
    /// A tuple whose third item is a global named `<name>`.
    StorageType(String),
    Other,
}

impl Walk<'_> {
    /// The rest as one last piece (the walk stops).
    fn give_up(&mut self, name: &str) -> Option<Value> {
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
        Some(match graph.get(decoded.root) {
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
        // magic, 1001, {}, (persid-free) [1], ['0'], then 8 raw bytes.
        let mut data = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19.".to_vec();
        data.extend_from_slice(b"\x80\x02M\xe9\x03.");
        data.extend_from_slice(b"\x80\x02}q\x00.");
        data.extend_from_slice(b"\x80\x02]q\x00K\x01a.");
        data.extend_from_slice(b"\x80\x02]q\x00X\x01\x00\x00\x000a.");
        data.extend_from_slice(&[0xff; 8]);
        let found = legacy_pickles(&data, &decoder());
        let ranges: Vec<(&str, usize, usize)> = found
            .iter()
            .map(|f| (f.name.as_str(), f.start, f.end))
            .collect();
        assert_eq!(
            ranges,
            [
                ("magic_number", 0, 15),
                ("protocol_version", 15, 21),
                ("sys_info", 21, 27),
                ("pickle", 27, 36),
                ("storage_keys", 36, 49),
            ]
        );
    }

    #[test]
    fn a_pickle_that_does_not_decode_ends_the_walk_with_the_rest() {
        let mut data = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19.".to_vec();
        data.extend_from_slice(b"\x80\x02\xff junk");
        let found = legacy_pickles(&data, &decoder());
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
        let found = tar_storages(&data, &decoder());
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
