//! Python's dict-key and set-item semantics for built-in values.
//!
//! CPython builds real dicts and sets, so `{1: 'a', 1.0: 'b', True: 'c'}` is one key
//! and a list key is a `TypeError`. The graph must hold what Python would build, so
//! the machine asks this module whether a key is hashable and whether two keys are
//! equal:
//! - numbers compare by value across bool, int and float (`-0.0 == 0`, a float equals
//!   an int only when exactly equal, a NaN equals only itself: the same node);
//! - str, bytes and globals (a global names one object) compare by content;
//! - extension codes compare by code: CPython resolves a code once per load and
//!   caches the object (`copyreg._extension_cache`), so every EXT of a code pushes the
//!   same object;
//! - tuples compare item by item; frozensets as sets;
//! - objects, buffers and persistent ids compare by identity;
//! - list, dict, set and bytearray (and tuples or frozensets holding them) are
//!   unhashable, and so is the read-only view READONLY_BUFFER makes of a bytearray
//!   (a `bytes` node in the graph; CPython's `memoryview` hashes its exporter).
//!
//! Hashes are keyed with a random secret per decode ([`KeyedState`]), so a stream
//! cannot choose keys that collide and make insertion quadratic. Frozenset equality
//! compares the sorted element hashes after the lengths: a wrong answer needs a 64-bit
//! collision under a secret key. All traversals are iterative and charge fuel.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

use crate::bigint::{BigInt, IntValue};
use crate::budget::Meter;
use crate::error::{Error, ErrorKind};
use crate::graph::{Graph, Node, NodeId};

/// A number in canonical form for comparison and hashing.
enum Num<'g> {
    Int(i64),
    Big(&'g BigInt),
    Float(f64),
}

fn as_num<'g>(node: Node<'g>) -> Option<Num<'g>> {
    match node {
        Node::Bool(b) => Some(Num::Int(i64::from(b))),
        Node::Int(i) => Some(Num::Int(i)),
        Node::BigInt(b) => Some(Num::Big(b)),
        Node::Float(f) => Some(Num::Float(f)),
        _ => None,
    }
}

fn num_eq(a: &Num<'_>, b: &Num<'_>) -> bool {
    match (a, b) {
        (Num::Int(x), Num::Int(y)) => x == y,
        (Num::Big(x), Num::Big(y)) => x == y,
        (Num::Float(x), Num::Float(y)) => x == y,
        (Num::Int(_), Num::Big(_)) | (Num::Big(_), Num::Int(_)) => false,
        (Num::Float(f), Num::Int(i)) | (Num::Int(i), Num::Float(f)) => {
            BigInt::from_integral_f64(*f) == Some(IntValue::Small(*i))
        }
        (Num::Float(f), Num::Big(b)) | (Num::Big(b), Num::Float(f)) => {
            match BigInt::from_integral_f64(*f) {
                Some(IntValue::Big(x)) => &x == *b,
                _ => false,
            }
        }
    }
}

/// A keyed hash for dict keys: the folded 64×64→128-bit multiply of wyhash and
/// foldhash, with both multiplicands mixed with secret per-decode keys.
///
/// Why not std's SipHash: it was a quarter of the instructions of decoding a
/// str-keyed dict. Why this is still safe against chosen collisions: the keys come
/// from std's `RandomState` (OS randomness) and never leave the decoder, so a stream
/// cannot predict which of its keys collide; and every probe that finds an equal
/// hash is compared in full and charged fuel, so even a lucky collision costs
/// bounded time.
#[derive(Clone, Copy, Debug)]
pub(crate) struct KeyedState {
    k0: u64,
    k1: u64,
}

impl KeyedState {
    /// Fresh secret keys.
    pub(crate) fn new() -> KeyedState {
        let random = RandomState::new();
        KeyedState {
            k0: random.hash_one(0x6b65_7930_u64) | 1,
            k1: random.hash_one(0x6b65_7931_u64) | 1,
        }
    }
}

impl KeyedState {
    /// The hash of a str (tag 4) or bytes (tag 5) key: the tag, then the bytes (whose
    /// length [`KeyedHasher::write`] mixes in with the tail, so no separate length
    /// prefix is needed). Every str and bytes key is hashed here and only here, so
    /// equal keys always get equal hashes; str and bytes keys are most keys.
    #[inline]
    fn hash_tagged_bytes(&self, tag: u8, bytes: &[u8]) -> u64 {
        let mut hasher = self.build_hasher();
        hasher.write_u8(tag);
        hasher.write(bytes);
        hasher.finish()
    }
}

impl BuildHasher for KeyedState {
    type Hasher = KeyedHasher;

    #[inline]
    fn build_hasher(&self) -> KeyedHasher {
        KeyedHasher {
            acc: self.k0,
            k1: self.k1,
        }
    }
}

/// The multiply's high half folded onto its low half: every input bit reaches
/// every output bit.
#[inline]
fn folded_multiply(a: u64, b: u64) -> u64 {
    let product = u128::from(a).wrapping_mul(u128::from(b));
    (product as u64) ^ (product.wrapping_shr(64) as u64)
}

/// The hasher of [`KeyedState`].
pub(crate) struct KeyedHasher {
    acc: u64,
    k1: u64,
}

impl KeyedHasher {
    #[inline]
    fn absorb(&mut self, a: u64, b: u64) {
        self.acc = folded_multiply(a ^ self.acc, b ^ self.k1);
    }
}

/// The first 8 bytes of `bytes` as a little-endian word (0 if there are fewer).
#[inline]
fn le64(bytes: &[u8]) -> u64 {
    bytes
        .get(..8)
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map_or(0, u64::from_le_bytes)
}

/// The first 4 bytes of `bytes` as a little-endian word (0 if there are fewer).
#[inline]
fn le32(bytes: &[u8]) -> u64 {
    bytes
        .get(..4)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map_or(0, |b| u64::from(u32::from_le_bytes(b)))
}

/// A tail of fewer than 16 bytes as two words, with whole-word loads that may
/// overlap (the first and the last 8 or 4 bytes): every byte lands in a word, and
/// the length is hashed alongside, so equal tails give equal words and different
/// ones almost never do.
#[inline]
fn tail_words(tail: &[u8]) -> (u64, u64) {
    let n = tail.len();
    let from_end = |width: usize| tail.get(n.saturating_sub(width)..).unwrap_or(&[]);
    if n >= 8 {
        (le64(tail), le64(from_end(8)))
    } else if n >= 4 {
        (le32(tail), le32(from_end(4)))
    } else {
        let byte = |i: usize| u64::from(tail.get(i).copied().unwrap_or(0));
        match n {
            0 => (0, 0),
            _ => (
                byte(0) | byte(n / 2).rotate_left(8) | byte(n.saturating_sub(1)).rotate_left(16),
                0,
            ),
        }
    }
}

impl Hasher for KeyedHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut blocks = bytes.chunks_exact(16);
        for block in &mut blocks {
            let (lo, hi) = block.split_at(8);
            self.absorb(le64(lo), le64(hi));
        }
        let (lo, hi) = tail_words(blocks.remainder());
        // The length goes in with the tail, so "ab" + "" and "a" + "b" differ.
        self.absorb(lo ^ (bytes.len() as u64).rotate_left(32), hi);
    }

    #[inline]
    fn write_u8(&mut self, n: u8) {
        self.absorb(u64::from(n), 0x9e37_79b9_7f4a_7c15);
    }

    #[inline]
    fn write_u32(&mut self, n: u32) {
        self.absorb(u64::from(n), 0x9e37_79b9_7f4a_7c15);
    }

    #[inline]
    fn write_u64(&mut self, n: u64) {
        self.absorb(n, 0x9e37_79b9_7f4a_7c15);
    }

    #[inline]
    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        folded_multiply(self.acc, self.k1).rotate_left(23)
    }
}

/// Hashes and compares keys of one graph.
pub(crate) struct KeyHasher {
    state: KeyedState,
    /// Bytes nodes that are READONLY_BUFFER views of a bytearray, in id order (ids
    /// only grow): unhashable, as CPython's `memoryview` of an unhashable exporter.
    views: Vec<NodeId>,
}

enum HashFrame {
    Enter(NodeId),
    Tuple(usize),
    FrozenSet(usize),
}

impl KeyHasher {
    pub(crate) fn new() -> KeyHasher {
        KeyHasher {
            state: KeyedState::new(),
            views: Vec::new(),
        }
    }

    /// Records that `id`, a bytes node just made, is a read-only view of a bytearray
    /// (see [`KeyHasher::views`]); its slot is charged to `meter`.
    pub(crate) fn add_view(&mut self, id: NodeId, meter: &mut Meter) -> Result<(), Error> {
        meter.reserve(&mut self.views, 1)?;
        self.views.push(id);
        Ok(())
    }

    fn is_view(&self, id: NodeId) -> bool {
        !self.views.is_empty() && self.views.binary_search(&id).is_ok()
    }

    fn leaf_hash(&self, id: NodeId, node: Node<'_>) -> Result<Option<u64>, Error> {
        let h = match node {
            Node::None => self.state.hash_one(0u8),
            Node::Bool(_) | Node::Int(_) | Node::BigInt(_) | Node::Float(_) => match as_num(node) {
                Some(Num::Int(i)) => self.state.hash_one((1u8, i)),
                Some(Num::Big(b)) => self.state.hash_one((1u8, b)),
                Some(Num::Float(f)) => match BigInt::from_integral_f64(f) {
                    Some(IntValue::Small(i)) => self.state.hash_one((1u8, i)),
                    Some(IntValue::Big(b)) => self.state.hash_one((1u8, &b)),
                    None if f.is_nan() => self.state.hash_one((3u8, id)),
                    None => self.state.hash_one((2u8, f.to_bits())),
                },
                None => self.state.hash_one(0u8),
            },
            Node::Str(s) => self.state.hash_tagged_bytes(4, s),
            Node::Bytes(_) if self.is_view(id) => {
                return Err(Error::new(ErrorKind::Unhashable("bytearray"), 0, None));
            }
            Node::Bytes(b) => self.state.hash_tagged_bytes(5, b),
            Node::Global(g) => self.state.hash_one((6u8, &g.module, &g.name)),
            Node::Ext(code) => self.state.hash_one((10u8, code)),
            Node::Object(_) | Node::Buffer { .. } | Node::PersId(_) => {
                self.state.hash_one((7u8, id))
            }
            Node::List(_) | Node::Dict(_) | Node::Set(_) | Node::ByteArray(_) => {
                return Err(Error::new(ErrorKind::Unhashable(node.type_name()), 0, None));
            }
            Node::Tuple(_) | Node::FrozenSet(_) => return Ok(None),
        };
        Ok(Some(h))
    }

    /// The hash of a key, or an `Unhashable` error (offset filled in by the caller).
    #[inline(always)]
    pub(crate) fn hash(
        &self,
        graph: &Graph<'_>,
        root: NodeId,
        meter: &mut Meter,
    ) -> Result<u64, Error> {
        // Fast path, inlined into the dict loops: most keys are strings.
        let node = graph.get(root).ok_or_else(dangling)?;
        if let Node::Str(s) = node {
            meter.step()?;
            meter.fuel_for_bytes(s.len() as u64)?;
            return Ok(self.state.hash_tagged_bytes(4, s));
        }
        self.hash_other(graph, root, node, meter)
    }

    /// Where `key` (whose hash is `hash`) is in `table`, the entry at each position
    /// being `key_at(position)`. An entry's full hash is recomputed, uncharged, when
    /// the 32 bits the table keeps match, and keys are compared (charged) only when
    /// the full hashes are equal (see [`KeyTable`]).
    #[inline(always)]
    pub(crate) fn find_in(
        &self,
        table: &KeyTable,
        graph: &Graph<'_>,
        hash: u64,
        key: NodeId,
        key_at: impl Fn(usize) -> Option<NodeId>,
        meter: &mut Meter,
    ) -> Result<Option<usize>, Error> {
        table.find(
            hash,
            |pos| match key_at(pos) {
                Some(existing) => self.full_hash(graph, existing),
                None => Err(dangling()),
            },
            |pos| match key_at(pos) {
                Some(existing) => self.equal(graph, existing, key, meter),
                None => Ok(false),
            },
        )
    }

    /// The hash of a key already in a table, again, without charging fuel: asked only
    /// when the low 32 bits of a new key's hash match it, so for equal keys (whose
    /// comparison is charged) or one time in 2^32.
    fn full_hash(&self, graph: &Graph<'_>, id: NodeId) -> Result<u64, Error> {
        let mut uncharged = Meter::new(crate::Limits::unbounded());
        self.hash(graph, id, &mut uncharged)
    }

    /// [`KeyHasher::hash`] of a key that is not a str.
    #[inline(never)]
    fn hash_other(
        &self,
        graph: &Graph<'_>,
        root: NodeId,
        node: Node<'_>,
        meter: &mut Meter,
    ) -> Result<u64, Error> {
        if !matches!(node, Node::Tuple(_) | Node::FrozenSet(_)) {
            meter.step()?;
            if let Node::Str(s) | Node::Bytes(s) = node {
                meter.fuel_for_bytes(s.len() as u64)?;
            }
            return self.leaf_hash(root, node)?.ok_or_else(dangling);
        }
        let mut work = vec![HashFrame::Enter(root)];
        let mut values: Vec<u64> = Vec::new();
        while let Some(frame) = work.pop() {
            match frame {
                HashFrame::Enter(id) => {
                    meter.step()?;
                    let node = graph.get(id).ok_or_else(dangling)?;
                    if let Node::Str(s) | Node::Bytes(s) = node {
                        meter.fuel_for_bytes(s.len() as u64)?;
                    }
                    match self.leaf_hash(id, node)? {
                        Some(h) => values.push(h),
                        None => match node {
                            Node::Tuple(items) => {
                                work.push(HashFrame::Tuple(items.len()));
                                work.extend(items.iter().rev().map(|i| HashFrame::Enter(*i)));
                            }
                            Node::FrozenSet(items) => {
                                work.push(HashFrame::FrozenSet(items.len()));
                                work.extend(items.iter().map(|i| HashFrame::Enter(*i)));
                            }
                            _ => return Err(dangling()),
                        },
                    }
                }
                HashFrame::Tuple(n) => {
                    let start = values.len().checked_sub(n).ok_or_else(dangling)?;
                    let h = self
                        .state
                        .hash_one((8u8, values.get(start..).unwrap_or(&[])));
                    values.truncate(start);
                    values.push(h);
                }
                HashFrame::FrozenSet(n) => {
                    let start = values.len().checked_sub(n).ok_or_else(dangling)?;
                    let items = values.get(start..).unwrap_or(&[]);
                    let sum = items.iter().fold(0u64, |a, h| a.wrapping_add(*h));
                    let xor = items.iter().fold(0u64, |a, h| a ^ h);
                    let h = self.state.hash_one((9u8, n, sum, xor));
                    values.truncate(start);
                    values.push(h);
                }
            }
        }
        values.pop().ok_or_else(dangling)
    }

    /// Is `key` hashable? Cheap for leaves; tuples and frozensets are hashed in full,
    /// since a list anywhere inside makes them unhashable.
    pub(crate) fn check_hashable(
        &self,
        graph: &Graph<'_>,
        key: NodeId,
        meter: &mut Meter,
    ) -> Result<(), Error> {
        match graph.get(key).ok_or_else(dangling)? {
            Node::Tuple(_) | Node::FrozenSet(_) => self.hash(graph, key, meter).map(|_| ()),
            node @ (Node::List(_) | Node::Dict(_) | Node::Set(_) | Node::ByteArray(_)) => {
                Err(Error::new(ErrorKind::Unhashable(node.type_name()), 0, None))
            }
            Node::Bytes(_) if self.is_view(key) => {
                Err(Error::new(ErrorKind::Unhashable("bytearray"), 0, None))
            }
            _ => Ok(()),
        }
    }

    /// Python's `a == b` for two hashable keys.
    pub(crate) fn equal(
        &self,
        graph: &Graph<'_>,
        a: NodeId,
        b: NodeId,
        meter: &mut Meter,
    ) -> Result<bool, Error> {
        if a == b {
            meter.step()?;
            return Ok(true);
        }
        // Fast path for leaves (strings, numbers, globals): no work stack needed.
        let (na, nb) = (
            graph.get(a).ok_or_else(dangling)?,
            graph.get(b).ok_or_else(dangling)?,
        );
        let composite = |n: Node<'_>| matches!(n, Node::Tuple(_) | Node::FrozenSet(_));
        if !composite(na) && !composite(nb) {
            meter.step()?;
            return Ok(match (na, nb) {
                (Node::None, Node::None) => true,
                (Node::Str(p), Node::Str(q)) | (Node::Bytes(p), Node::Bytes(q)) => {
                    if p.len() != q.len() {
                        false
                    } else {
                        meter.fuel_for_bytes(p.len() as u64)?;
                        p == q
                    }
                }
                (Node::Global(p), Node::Global(q)) => p == q,
                (Node::Ext(p), Node::Ext(q)) => p == q,
                _ => match (as_num(na), as_num(nb)) {
                    (Some(p), Some(q)) => num_eq(&p, &q),
                    _ => false,
                },
            });
        }
        let mut pairs = vec![(a, b)];
        while let Some((x, y)) = pairs.pop() {
            meter.step()?;
            if x == y {
                continue;
            }
            let nx = graph.get(x).ok_or_else(dangling)?;
            let ny = graph.get(y).ok_or_else(dangling)?;
            let same = match (nx, ny) {
                (Node::None, Node::None) => true,
                (Node::Str(p), Node::Str(q)) | (Node::Bytes(p), Node::Bytes(q)) => {
                    meter.fuel_for_bytes(p.len().min(q.len()) as u64)?;
                    p == q
                }
                (Node::Global(p), Node::Global(q)) => p == q,
                (Node::Ext(p), Node::Ext(q)) => p == q,
                (Node::Tuple(p), Node::Tuple(q)) => {
                    if p.len() != q.len() {
                        false
                    } else {
                        pairs.extend(p.iter().copied().zip(q.iter().copied()));
                        true
                    }
                }
                (Node::FrozenSet(p), Node::FrozenSet(q)) => {
                    if p.len() != q.len() {
                        false
                    } else {
                        let mut hp = p
                            .iter()
                            .map(|i| self.hash(graph, *i, meter))
                            .collect::<Result<Vec<u64>, Error>>()?;
                        let mut hq = q
                            .iter()
                            .map(|i| self.hash(graph, *i, meter))
                            .collect::<Result<Vec<u64>, Error>>()?;
                        hp.sort_unstable();
                        hq.sort_unstable();
                        hp == hq
                    }
                }
                _ => match (as_num(nx), as_num(ny)) {
                    (Some(p), Some(q)) => num_eq(&p, &q),
                    _ => false,
                },
            };
            if !same {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

/// The keys of a dict small enough for a linear scan (see `LINEAR_SCAN_MAX` in
/// `machine.rs`), as `(id, length, first 8 bytes)`, for the length of one SETITEMS
/// batch.
///
/// Why: a JSON-like record has a dozen str keys and every new key must be compared
/// with every earlier one. Read from the nodes, each comparison loads a node from the
/// arena; read from here, it compares two words, and only keys of the same length and
/// prefix are compared byte for byte. Keys that are not str have length `u64::MAX`,
/// which no str has (a str never equals a non-str key).
pub(crate) struct SmallKeys {
    keys: [(NodeId, u64, u64); SMALL_KEYS],
    len: usize,
    /// False until filled from the dict's entries (on the first str key).
    ready: bool,
    /// One bit per key's (length, prefix) fingerprint ([`fingerprint_bit`]): a str
    /// whose bit is clear equals none of the keys, so the scan can be skipped.
    filter: u64,
    /// How many keys have each length below [`COUNTED_LEN`]: what a skipped scan
    /// would have compared, so the fuel charged is the same either way.
    same_len: [u8; COUNTED_LEN],
}

/// Key lengths counted in [`SmallKeys::same_len`]; a longer str always scans.
const COUNTED_LEN: usize = 64;

/// The filter bit of a key with this length and prefix word.
#[inline]
fn fingerprint_bit(len: u64, head: u64) -> u64 {
    let mixed = (head ^ len.rotate_left(32)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    1u64.wrapping_shl((mixed >> 58) as u32)
}

/// How many keys [`SmallKeys`] holds: the machine's linear-scan limit.
pub(crate) const SMALL_KEYS: usize = 16;

/// A word made of the key's bytes (the first 8, or for a shorter key overlapping
/// loads of its ends): with the length, a cheap filter for equality. Equal keys
/// always give equal words.
#[inline]
fn prefix(bytes: &[u8]) -> u64 {
    if bytes.len() >= 8 {
        return le64(bytes);
    }
    let (lo, hi) = tail_words(bytes);
    lo ^ hi.rotate_left(32)
}

/// Where a str key was found among [`SmallKeys`], and the work done looking.
pub(crate) struct StrScan {
    /// Position of the equal key, if any.
    pub(crate) found: Option<usize>,
    /// Bytes of same-length keys compared (what a byte-by-byte scan would compare).
    pub(crate) bytes: u64,
    /// The wanted key's own entry, to record it without reading its node again.
    pub(crate) entry: (NodeId, u64, u64),
}

impl SmallKeys {
    pub(crate) fn new() -> SmallKeys {
        SmallKeys {
            keys: [(NodeId(0), 0, 0); SMALL_KEYS],
            len: 0,
            ready: false,
            filter: 0,
            same_len: [0; COUNTED_LEN],
        }
    }

    fn entry(graph: &Graph<'_>, id: NodeId) -> (NodeId, u64, u64) {
        match graph.get(id) {
            Some(Node::Str(s)) => (id, s.len() as u64, prefix(s)),
            _ => (id, u64::MAX, 0),
        }
    }

    /// Starts a SETITEMS batch: the keys are loaded again from the dict at the first
    /// str key ([`SmallKeys::fill`]), whatever an earlier batch left.
    #[inline]
    pub(crate) fn start_batch(&mut self) {
        self.ready = false;
    }

    /// Loads the keys of `entries` (once per batch), or returns false when there are
    /// more than fit (the dict has a hash index then, and this is not used).
    #[inline]
    pub(crate) fn fill(&mut self, graph: &Graph<'_>, entries: &[(NodeId, NodeId)]) -> bool {
        if !self.ready {
            if entries.len() > SMALL_KEYS {
                return false;
            }
            self.len = 0;
            self.filter = 0;
            self.same_len = [0; COUNTED_LEN];
            for (key, _) in entries {
                self.push(graph, *key);
            }
            self.ready = true;
        }
        self.len == entries.len()
    }

    /// Records a key appended to the dict.
    #[inline]
    pub(crate) fn push(&mut self, graph: &Graph<'_>, key: NodeId) {
        self.push_entry(Self::entry(graph, key));
    }

    /// Records a key appended to the dict, from its entry (see [`StrScan::entry`]).
    #[inline]
    pub(crate) fn push_entry(&mut self, entry: (NodeId, u64, u64)) {
        if let Some(slot) = self.keys.get_mut(self.len) {
            *slot = entry;
            self.len = self.len.saturating_add(1);
            let (_, len, head) = entry;
            if len != u64::MAX {
                self.filter |= fingerprint_bit(len, head);
                if let Some(count) = usize::try_from(len)
                    .ok()
                    .and_then(|l| self.same_len.get_mut(l))
                {
                    *count = count.saturating_add(1);
                }
            }
        } else {
            self.ready = false; // outgrown: the dict gets a hash index
        }
    }

    /// Finds the str `wanted` (node `key`) among the keys, in order.
    #[inline]
    pub(crate) fn find_str(&self, graph: &Graph<'_>, key: NodeId, wanted: &[u8]) -> StrScan {
        let (len, head) = (wanted.len() as u64, prefix(wanted));
        let mut scan = StrScan {
            found: None,
            bytes: 0,
            entry: (key, len, head),
        };
        // Most new keys of a dict equal none of its keys: when the fingerprint's bit
        // is clear none can, and the scan would have found nothing after comparing
        // every same-length key (the charge, kept identical).
        if self.filter & fingerprint_bit(len, head) == 0 {
            if let Some(count) = self.same_len.get(wanted.len()) {
                scan.bytes = len.saturating_mul(u64::from(*count));
                return scan;
            }
        }
        for (pos, (id, have_len, have_head)) in self.keys.iter().take(self.len).enumerate() {
            if *id == key {
                scan.found = Some(pos);
                break;
            }
            if *have_len == len {
                scan.bytes = scan.bytes.saturating_add(len);
                if *have_head == head
                    && matches!(graph.get(*id), Some(Node::Str(have)) if have == wanted)
                {
                    scan.found = Some(pos);
                    break;
                }
            }
        }
        scan
    }
}

/// How many key sequences [`KeyShapes`] remembers (a power of two).
const SHAPE_SLOTS: usize = 16;

/// The key sequences of recent SETITEMS batches into empty dicts that needed no
/// collapsing, with the fuel each batch was charged.
///
/// Why: a document of records is a thousand dicts with the same keys, and a pickler
/// memoizes those keys, so every record's SETITEMS names the *same key nodes in the
/// same order*. The first record proves them distinct (by the byte comparisons of
/// [`SmallKeys`]); every later batch with exactly that id sequence into an empty
/// dict would find the same thing, compare the same bytes and charge the same fuel,
/// because a str node never changes. Such a batch appends its entries directly and
/// is charged the remembered fuel in one go, so [`Usage`](crate::Usage) and every
/// error are the same as without the cache (the decode fuzz body checks that).
///
/// A fixed, direct-mapped table: a sequence that was not remembered, or was
/// evicted, just takes the ordinary path, so a hostile stream gains nothing from it.
pub(crate) struct KeyShapes {
    slots: [Shape; SHAPE_SLOTS],
    /// Counts lookups; a slot's `used` is the count when it last hit.
    clock: u32,
}

/// One remembered key sequence; `len == 0` is an empty slot.
#[derive(Clone, Copy)]
struct Shape {
    keys: [NodeId; SMALL_KEYS],
    len: usize,
    steps: u64,
    used: u32,
}

impl KeyShapes {
    pub(crate) fn new() -> KeyShapes {
        KeyShapes {
            slots: [Shape {
                keys: [NodeId(0); SMALL_KEYS],
                len: 0,
                steps: 0,
                used: 0,
            }; SHAPE_SLOTS],
            clock: 0,
        }
    }

    /// The keys of a SETITEMS batch (`pairs` is key, value, key, value, ...), or
    /// `None` when there are too many or the count is odd.
    fn keys_of(pairs: &[NodeId]) -> Option<impl Iterator<Item = NodeId> + '_> {
        let n = pairs.len() / 2;
        if pairs.len() % 2 != 0 || n == 0 || n > SMALL_KEYS {
            return None;
        }
        Some(pairs.iter().step_by(2).copied())
    }

    /// The two slots a key sequence may live in (two choices, so that two shapes
    /// a document alternates between rarely evict each other).
    fn slot_pair(keys: impl Iterator<Item = NodeId>) -> (usize, usize) {
        let mixed = keys.fold(0u64, |h, k| {
            (h ^ u64::from(k.0)).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        });
        let first = (mixed >> 59) as usize % SHAPE_SLOTS;
        let second = (mixed >> 54) as usize % SHAPE_SLOTS;
        (first, second)
    }

    /// Does `shape` hold exactly the keys of `pairs`?
    fn holds(shape: &Shape, pairs: &[NodeId]) -> bool {
        match shape.keys.get(..shape.len) {
            Some(keys) => {
                keys.len() == pairs.len() / 2
                    && keys
                        .iter()
                        .zip(pairs.iter().step_by(2))
                        .all(|(a, b)| a == b)
            }
            None => false,
        }
    }

    /// The fuel of a batch with exactly these keys, if one was remembered.
    #[inline]
    pub(crate) fn lookup(&mut self, pairs: &[NodeId]) -> Option<u64> {
        let (first, second) = Self::slot_pair(Self::keys_of(pairs)?);
        self.clock = self.clock.wrapping_add(1);
        for at in [first, second] {
            if let Some(shape) = self.slots.get_mut(at) {
                if Self::holds(shape, pairs) {
                    shape.used = self.clock;
                    return Some(shape.steps);
                }
            }
        }
        None
    }

    /// Remembers that a batch with these keys into an empty dict kept every key and
    /// was charged `steps` (the caller checked that every key is a str), in the less
    /// recently used of its two slots.
    pub(crate) fn remember(&mut self, pairs: &[NodeId], steps: u64) {
        let Some(keys) = Self::keys_of(pairs) else {
            return;
        };
        let (first, second) = Self::slot_pair(keys);
        let used = |at: usize| self.slots.get(at).map_or(u32::MAX, |s| s.used);
        // Age by the clock's distance, so the comparison survives its wrapping.
        let age = |at: usize| self.clock.wrapping_sub(used(at));
        let victim = if age(second) > age(first) {
            second
        } else {
            first
        };
        let clock = self.clock;
        let Some(shape) = self.slots.get_mut(victim) else {
            return;
        };
        shape.len = 0;
        for (slot, key) in shape.keys.iter_mut().zip(pairs.iter().step_by(2)) {
            *slot = *key;
            shape.len = shape.len.saturating_add(1);
        }
        shape.steps = steps;
        shape.used = clock;
    }
}

/// A hasher for node ids in the machine's own maps. Ids are assigned by the decoder in
/// sequence, so a fixed bijective mixer (the SplitMix64 finalizer) spreads them well
/// and keyed SipHash would only cost time.
#[derive(Default)]
pub(crate) struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }

    fn write_u32(&mut self, n: u32) {
        self.0 = u64::from(n);
    }
}

/// Build-hasher for maps keyed by node id.
pub(crate) type IdBuildHasher = std::hash::BuildHasherDefault<IdHasher>;

#[cold]
fn dangling() -> Error {
    Error::new(ErrorKind::Malformed("dangling node id"), 0, None)
}

/// An open-addressing index from key hash to entry position, for one dict or set that
/// has outgrown a linear scan.
///
/// While positions fit in 24 bits (tables of up to 2^24 slots), each slot also
/// carries 8 bits of its entry's hash, so a probe passes an occupied slot without
/// reading that entry's hash: in a big dict the hashes are far from the slots, and
/// that read was a cache miss per probe, most of the time of inserting a new key.
///
/// Only the low 32 bits of each hash are kept (the index and the tag come from them,
/// so the table can be rebuilt from them). When those match, the caller recomputes
/// the entry's full hash, so keys are compared exactly when the full 64-bit hashes
/// are equal, as if all 64 bits were stored: the fuel a lookup is charged does not
/// depend on which 32 bits happen to collide. Half the memory of full hashes.
#[derive(Debug, Default)]
pub(crate) struct KeyTable {
    /// Entry position + 1 (0 for an empty slot), with the tag above it when
    /// `tagged`. Length is a power of two.
    slots: Vec<u32>,
    /// The low 32 bits of each entry's hash, by position.
    hashes: Vec<u32>,
    /// Slots hold a tag (set when the slots are rebuilt, for the table's size).
    tagged: bool,
}

/// The low bits of a tagged slot: position + 1.
const TAGGED_POSITION: u32 = 0x00FF_FFFF;

/// Most slots a tagged table may have: at a load of at most 1/2, its positions + 1
/// stay below 2^24, and the tag (hash bits 24..32) is apart from the index bits.
const MAX_TAGGED_SLOTS: usize = 1 << 24;

impl KeyTable {
    /// Positions of entries whose hash equals `hash`, in probe order, calling `found`
    /// for each until it returns true. Returns the matching position, if any.
    /// `full_hash` gives the full hash of the entry at a position, asked only when the
    /// stored 32 bits match (see the type docs); it must not charge fuel.
    #[inline(always)]
    pub(crate) fn find(
        &self,
        hash: u64,
        mut full_hash: impl FnMut(usize) -> Result<u64, Error>,
        mut found: impl FnMut(usize) -> Result<bool, Error>,
    ) -> Result<Option<usize>, Error> {
        let mask = self.slots.len().wrapping_sub(1);
        if self.slots.is_empty() {
            return Ok(None);
        }
        let (position, tag) = self.slot_parts(hash);
        let mut i = (hash as usize) & mask;
        loop {
            let slot = self.slots.get(i).copied().unwrap_or(0);
            if slot == 0 {
                return Ok(None);
            }
            if slot & !position == tag {
                // slot != 0 and its tag matched, so its position part is at least 1.
                let pos = (slot & position).saturating_sub(1) as usize;
                if self.hashes.get(pos) == Some(&(hash as u32))
                    && full_hash(pos)? == hash
                    && found(pos)?
                {
                    return Ok(Some(pos));
                }
            }
            i = i.wrapping_add(1) & mask; // wraps around the table by design
        }
    }

    /// Records that the entry at `pos` (the next position) has `hash`.
    #[inline(always)]
    pub(crate) fn insert(&mut self, hash: u64, meter: &mut Meter) -> Result<(), Error> {
        let pos = self.hashes.len();
        meter.reserve(&mut self.hashes, 1)?;
        self.hashes.push(hash as u32);
        // Keep the load factor at most 1/2.
        let wanted = pos.saturating_add(1).saturating_mul(2);
        if self.slots.len() < wanted {
            return self.grow(wanted, meter);
        }
        self.place(hash, pos);
        Ok(())
    }

    /// The position mask of this table's slots, and the tag a slot for `hash` has.
    #[inline(always)]
    fn slot_parts(&self, hash: u64) -> (u32, u32) {
        if self.tagged {
            (TAGGED_POSITION, (hash as u32) & !TAGGED_POSITION)
        } else {
            (u32::MAX, 0)
        }
    }

    /// Rebuilds the slots for at least `wanted` of them, placing every entry again.
    #[inline(never)]
    fn grow(&mut self, wanted: usize, meter: &mut Meter) -> Result<(), Error> {
        let new_len = wanted.next_power_of_two().max(16);
        self.rebuild(new_len, new_len <= MAX_TAGGED_SLOTS, meter)
    }

    /// New slots, `new_len` of them (a power of two), tagged or not, with every entry
    /// placed again.
    fn rebuild(&mut self, new_len: usize, tagged: bool, meter: &mut Meter) -> Result<(), Error> {
        self.tagged = tagged;
        // Entries are placed again from their hashes, not from the old slots, so the
        // old slots go first: the heap never holds both (on failure the decode ends).
        meter.release_memory(
            (self.slots.capacity() as u64).saturating_mul(std::mem::size_of::<u32>() as u64),
        );
        self.slots = Vec::new();
        let mut slots: Vec<u32> = Vec::new();
        meter.reserve(&mut slots, new_len)?;
        slots.resize(new_len, 0);
        self.slots = slots;
        let hashes = std::mem::take(&mut self.hashes);
        for (p, h) in hashes.iter().enumerate() {
            self.place(u64::from(*h), p);
        }
        self.hashes = hashes;
        Ok(())
    }

    #[inline(always)]
    fn place(&mut self, hash: u64, pos: usize) {
        let (position, tag) = self.slot_parts(hash);
        // Fits: below 2^24 in a tagged table (its size), below the node cap otherwise.
        let entry = tag | (u32::try_from(pos.saturating_add(1)).unwrap_or(u32::MAX) & position);
        let mask = self.slots.len().wrapping_sub(1);
        let mut i = (hash as usize) & mask;
        loop {
            match self.slots.get_mut(i) {
                Some(slot) if *slot == 0 => {
                    *slot = entry;
                    return;
                }
                Some(_) => i = i.wrapping_add(1) & mask, // wraps around by design
                None => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A table finds every position whose full hash matches, in probe order, whether
    /// its slots carry tags or not, and asks for an entry's full hash only when the
    /// stored low 32 bits match: over hashes that differ only above bit 32 (caught by
    /// the full hash), only in the tag bits, only in the index bits, in the middle,
    /// and a full duplicate.
    #[test]
    fn key_table_finds_the_same_positions_tagged_or_not() {
        let mut meter = Meter::new(crate::Limits::unbounded());
        let base = 0x5A00_0000_7B00_0003u64;
        let hashes = [
            base,
            base ^ (1 << 40),         // the same low 32 bits
            base ^ (1 << 60),         // the same low 32 bits
            base ^ (1 << 28),         // another tag, the same index
            base ^ 0x10,              // the same tag, another index
            base ^ (1 << 33) ^ 0x200, // differs in the middle
            base,                     // a full duplicate of the first
        ];
        let mut table = KeyTable::default();
        for h in hashes {
            table.insert(h, &mut meter).unwrap();
        }
        // (positions offered to `found`, positions whose full hash was asked)
        let probe = |table: &KeyTable, h: u64| {
            let asked = std::cell::RefCell::new(Vec::new());
            let mut offered = Vec::new();
            let none = table.find(
                h,
                |pos| {
                    asked.borrow_mut().push(pos);
                    Ok(hashes[pos])
                },
                |pos| {
                    offered.push(pos);
                    Ok(false)
                },
            );
            assert_eq!(none, Ok(None));
            (offered, asked.into_inner())
        };
        let tagged: Vec<_> = hashes.iter().map(|h| probe(&table, *h)).collect();
        assert!(table.tagged);
        assert_eq!(tagged[0], (vec![0, 6], vec![0, 1, 2, 6]));
        assert_eq!(tagged[1], (vec![1], vec![0, 1, 2, 6]));
        assert_eq!(tagged[3], (vec![3], vec![3]));
        assert_eq!(tagged[5], (vec![5], vec![5]));
        assert_eq!(probe(&table, base ^ 1), (vec![], vec![]));
        let len = table.slots.len();
        table.rebuild(len, false, &mut meter).unwrap();
        assert!(!table.tagged);
        let untagged: Vec<_> = hashes.iter().map(|h| probe(&table, *h).0).collect();
        let offered: Vec<_> = tagged.into_iter().map(|(offered, _)| offered).collect();
        assert_eq!(offered, untagged);
        assert_eq!(
            table.find(hashes[4], |pos| Ok(hashes[pos]), |pos| Ok(pos == 4)),
            Ok(Some(4)),
            "a match ends the probe"
        );
    }

    /// A protocol 2 list of record dicts: `keys[r]` are the key names of record `r`,
    /// each name written once (BINUNICODE + BINPUT) and fetched with BINGET after
    /// that, as a pickler writes the shared keys of a JSON document.
    fn records(keys: &[&[&str]]) -> Vec<u8> {
        let mut out = vec![0x80, 2, b']', b'(']; // PROTO 2, EMPTY_LIST, MARK
        let mut memo: Vec<&str> = Vec::new();
        for (r, names) in keys.iter().enumerate() {
            out.extend([b'}', b'(']); // EMPTY_DICT, MARK
            for (i, name) in names.iter().enumerate() {
                match memo.iter().position(|m| m == name) {
                    Some(at) => out.extend([b'h', at as u8]),
                    None => {
                        out.push(b'X');
                        out.extend((name.len() as u32).to_le_bytes());
                        out.extend(name.as_bytes());
                        out.extend([b'q', memo.len() as u8]);
                        memo.push(name);
                    }
                }
                out.extend([b'K', (r * 7 + i) as u8]); // BININT1 value
            }
            out.push(b'u'); // SETITEMS
        }
        out.extend([b'e', b'.']); // APPENDS, STOP
        out
    }

    /// Decodes `data` with and without [`KeyShapes`] under every step budget up to
    /// what the decode needs and every container-length budget up to its longest
    /// dict, and asserts the two agree exactly: the same graph and usage, or the same
    /// error with the same offset and requested amount.
    fn assert_key_shapes_invisible(data: &[u8]) {
        let decode = |limits: crate::Limits, shapes: bool| {
            let mut decoder = crate::Decoder::new().limits(limits);
            decoder.key_shapes = shapes;
            decoder.decode(data).map(|d| (d.root, d.graph, d.usage))
        };
        let base = crate::Limits::default();
        let (_, _, usage) = match decode(base, true) {
            Ok(done) => done,
            Err(e) => panic!("records do not decode: {e:?}"),
        };
        assert_eq!(decode(base, true), decode(base, false));
        for steps in 0..=usage.steps {
            let limits = crate::Limits {
                max_steps: steps,
                ..base
            };
            assert_eq!(
                decode(limits, true),
                decode(limits, false),
                "max_steps {steps}"
            );
        }
        for len in 0..=usage.container_len {
            let limits = crate::Limits {
                max_container_len: len,
                ..base
            };
            assert_eq!(
                decode(limits, true),
                decode(limits, false),
                "max_container_len {len}"
            );
        }
    }

    /// Records sharing their key nodes take the remembered path from the second one
    /// on; whatever budget runs out where, nothing differs from comparing every key.
    #[test]
    fn remembered_key_sequences_change_no_result_usage_or_error() {
        let record: &[&str] = &["id", "name", "email", "ab", "ba", "a_long_key_name"];
        assert_key_shapes_invisible(&records(&[record, record, record, record]));
        // Several shapes, interleaved, and one that is a prefix of another.
        let other: &[&str] = &["lat", "lng"];
        let prefix: &[&str] = &["id", "name"];
        assert_key_shapes_invisible(&records(&[
            record, other, prefix, record, other, prefix, other, record,
        ]));
    }

    /// A batch that collapsed equal keys is not remembered (the next batch with the
    /// same ids must collapse them again), nor is one with equal keys by content.
    #[test]
    fn batches_with_equal_keys_are_never_remembered() {
        let dup: &[&str] = &["k", "v", "k"];
        let data = records(&[dup, dup, dup]);
        assert_key_shapes_invisible(&data);
        let decoded = match crate::Decoder::new().decode(&data) {
            Ok(d) => d,
            Err(e) => panic!("{e:?}"),
        };
        let items = match decoded.graph.get(decoded.root) {
            Some(Node::List(items)) => items.to_vec(),
            other => panic!("not a list: {other:?}"),
        };
        for (r, dict) in items.iter().enumerate() {
            let entries = match decoded.graph.get(*dict) {
                Some(Node::Dict(entries)) => entries.len(),
                other => panic!("record {r} is {other:?}"),
            };
            assert_eq!(entries, 2, "record {r}: the repeated key collapsed");
        }
    }

    /// The filtered lookup of `SmallKeys` finds what a plain scan over the same keys
    /// finds, and reports the bytes that scan compares (the fuel charge): over keys
    /// that collide in length, prefix and bytes, duplicates, and a non-str key.
    #[test]
    fn small_keys_filter_agrees_with_a_plain_scan() {
        use crate::graph::NodeData;
        let texts: Vec<Vec<u8>> = [
            "",
            "a",
            "b",
            "ab",
            "ba",
            "abc",
            "abcd",
            "abce",
            "abcdefgh",
            "abcdefgi",
            "abcdefgh_long_key",
            "abcdefgh_long_kez",
            "x".repeat(63).as_str(),
            "x".repeat(64).as_str(),
            "y".repeat(64).as_str(),
            "naïve",
            "北京",
        ]
        .iter()
        .map(|t| t.as_bytes().to_vec())
        .collect();
        let mut graph = Graph::new();
        // Two nodes per text (equal content, different ids) and one non-str key.
        let ids: Vec<NodeId> = texts
            .iter()
            .chain(texts.iter())
            .map(|t| graph.add(NodeData::Str(t.clone().into())).unwrap())
            .collect();
        let number = graph.add(NodeData::Float(1.5)).unwrap();
        let text_of = |id: NodeId| match graph.get(id) {
            Some(Node::Str(s)) => Some(s.to_vec()),
            _ => None,
        };
        // Dicts of up to 16 keys drawn deterministically, then every possible lookup.
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..300 {
            let n = (next() % 17) as usize;
            let mut keys: Vec<NodeId> = (0..n)
                .map(|_| ids[(next() % ids.len() as u64) as usize])
                .collect();
            if next() % 4 == 0 {
                keys.push(number);
            }
            let mut small = SmallKeys::new();
            let entries: Vec<(NodeId, NodeId)> = keys.iter().map(|k| (*k, *k)).collect();
            if !small.fill(&graph, &entries) {
                continue; // more than SMALL_KEYS: not this path
            }
            for wanted_id in &ids {
                let wanted = text_of(*wanted_id).unwrap();
                let scan = small.find_str(&graph, *wanted_id, &wanted);
                // Reference: the order-preserving scan the filter stands in for.
                let mut found = None;
                let mut bytes = 0u64;
                for (pos, k) in keys.iter().enumerate() {
                    if *k == *wanted_id {
                        found = Some(pos);
                        break;
                    }
                    if let Some(have) = text_of(*k) {
                        if have.len() == wanted.len() {
                            bytes += wanted.len() as u64;
                            if have == wanted {
                                found = Some(pos);
                                break;
                            }
                        }
                    }
                }
                assert_eq!(
                    (scan.found, scan.bytes),
                    (found, bytes),
                    "{keys:?} {wanted:?}"
                );
            }
        }
    }

    /// Every byte of a key must reach the hash: strings that differ in one byte at
    /// any position, at every length across the word and block boundaries, never
    /// collide (a collision among a few thousand 64-bit hashes would mean a byte
    /// was dropped, not bad luck).
    #[test]
    fn keyed_hash_sees_every_byte_and_the_length() {
        let state = KeyedState::new();
        let mut seen = std::collections::HashMap::new();
        for len in 0..40usize {
            let base: Vec<u8> = (0..len).map(|i| b'a'.wrapping_add(i as u8)).collect();
            let mut variants = vec![base.clone()];
            for pos in 0..len {
                let mut v = base.clone();
                v[pos] ^= 0x20;
                variants.push(v);
            }
            for v in variants {
                let h = state.hash_tagged_bytes(4, &v);
                if let Some(other) = seen.insert(h, v.clone()) {
                    assert_eq!(other, v, "collision between {other:?} and {v:?}");
                }
                assert_eq!(h, state.hash_tagged_bytes(4, &v), "not deterministic");
            }
        }
        // Zero bytes are not the same as a shorter string.
        assert_ne!(
            state.hash_tagged_bytes(4, b"ab"),
            state.hash_tagged_bytes(4, b"ab\0")
        );
        // The tag separates str from bytes.
        assert_ne!(
            state.hash_tagged_bytes(4, b"ab"),
            state.hash_tagged_bytes(5, b"ab")
        );
    }

    /// Two decoders use different secret keys, so a stream cannot precompute
    /// colliding keys.
    #[test]
    fn keys_differ_between_decodes() {
        let a = KeyedState::new().hash_tagged_bytes(4, b"key");
        let b = KeyedState::new().hash_tagged_bytes(4, b"key");
        assert_ne!(a, b);
    }
}
