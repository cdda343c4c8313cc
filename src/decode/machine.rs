//! The pickle VM: value stack, mark stack, memo, and one dispatch loop.
//!
//! The loop has one shape (charge, read one opcode, one `match`) and asks instead of
//! acting: the [`Policy`](crate::Policy) answers whether a global may appear, the
//! [`Meter`] whether a resource may be taken. Nothing is imported or called; calls
//! become [`Object`] nodes. Semantics follow CPython's C unpickler
//! (`Modules/_pickle.c`): the *fence* (innermost MARK) that no pop may cross, the
//! error cases, the memo, the Python 2 name mapping below protocol 3.
//!
//! Every error raised while an opcode runs is reported at that opcode's offset.

use std::borrow::Cow;
use std::collections::HashMap;

use crate::bigint::{BigInt, IntValue};
use crate::budget::Meter;
use crate::decode::compat;
use crate::decode::keys::{
    IdBuildHasher, KeyHasher, KeyShapes, KeyTable, SmallKeys, StrScan, SMALL_KEYS,
};
use crate::decode::opcode::{Opcode, HIGHEST_PROTOCOL};
use crate::decode::reader::Source;
use crate::decode::sink::{At, Event, Finish, OnRefusal, Sink};
use crate::decode::text::{self, IntLine, IntLiteral};
use crate::decode::{Decoded, Decoder, StringEncoding};
use crate::error::{Error, ErrorKind, Resource};
use crate::graph::{CallOp, Global, Graph, Node, NodeData, NodeId, Object, MAX_NODES};
use crate::policy::Verdict;

/// Containers up to this many entries find duplicate keys by a linear scan; bigger
/// ones get a hash index.
const LINEAR_SCAN_MAX: usize = SMALL_KEYS;

/// Bytes charged for each hash index beyond its own vectors (its map entry).
const TABLE_OVERHEAD: u64 = 128;

/// Bytes charged per slot of the sparse memo map (key, value and control bytes).
const SPARSE_SLOT_BYTES: u64 = 24;

/// Marks an empty slot of the dense memo.
const EMPTY: u32 = u32::MAX;

/// Stack markers for empty containers that have not been made yet.
///
/// EMPTY_LIST, EMPTY_DICT, EMPTY_SET and EMPTY_TUPLE push a marker instead of a
/// node; the node is made when the value is first used: taken off the stack into
/// another value, made a target (APPEND, SETITEM, BUILD...), memoized or duplicated.
/// A marker is never copied, so its stack slot is its identity. Why: a stream of a
/// million EMPTY_LISTs that are never used (the nesting bomb) then costs a stack slot
/// each, 4 bytes, instead of a 32-byte node, and the page faults of 40 MB of fresh
/// memory were most of its time. These ids are above every graph node
/// (`graph::MAX_NODES`) and below the inline ints (`NodeId::int`).
const PENDING_TUPLE: u32 = MAX_NODES;
const PENDING_LIST: u32 = MAX_NODES.wrapping_add(1);
const PENDING_DICT: u32 = MAX_NODES.wrapping_add(2);
const PENDING_SET: u32 = MAX_NODES.wrapping_add(3);

/// The empty container a marker stands for.
#[inline(always)]
fn empty_container<'a>(marker: u32) -> NodeData<'a> {
    match marker {
        PENDING_LIST => NodeData::List(Vec::new()),
        PENDING_DICT => NodeData::Dict(Vec::new()),
        PENDING_SET => NodeData::Set(Vec::new()),
        _ => NodeData::Tuple(Vec::new()),
    }
}

/// True for a stack marker of a container not made yet.
#[inline(always)]
fn is_pending(id: NodeId) -> bool {
    (PENDING_TUPLE..=PENDING_SET).contains(&id.0)
}

/// Decodes one pickle from `source`.
pub(crate) fn run<'a, S: Source<'a>>(source: S, decoder: &Decoder) -> Result<Decoded<'a>, Error> {
    let mut machine = Machine::new(source, decoder);
    let root = machine.execute()?;
    let consumed = machine.src.position();
    machine.meter.set_input_used(consumed);
    Ok(Decoded {
        graph: machine.graph,
        root,
        usage: machine.meter.usage,
        consumed,
        protocol: machine.max_proto,
    })
}

/// Decodes one pickle from `source`, reporting every site to `sink`. With
/// [`OnRefusal::Continue`] a refused site is reported and the decode goes on as the
/// inert policy would (a scan); with [`OnRefusal::Fail`] it fails as [`run`] does.
/// The sink hears [`Sink::finish`] either way.
pub(crate) fn run_with_sink<'a, S: Source<'a>>(
    source: S,
    decoder: &Decoder,
    sink: &mut dyn Sink,
    on_refusal: OnRefusal,
) -> Result<Decoded<'a>, Error> {
    let mut machine = Machine::new(source, decoder);
    machine.scanning = on_refusal == OnRefusal::Continue;
    machine.sink = Some(sink);
    let result = machine.execute();
    let consumed = machine.src.position();
    machine.meter.set_input_used(consumed);
    let Machine {
        sink,
        graph,
        meter,
        memo,
        max_proto,
        ..
    } = machine;
    if let Some(sink) = sink {
        sink.finish(&Finish {
            graph: &graph,
            root: result.as_ref().ok().copied(),
            usage: &meter.usage,
            max_memo_index: memo.max_index,
        });
    }
    let root = result?;
    Ok(Decoded {
        graph,
        root,
        usage: meter.usage,
        consumed,
        protocol: max_proto,
    })
}

/// The memo: dense while indices are dense, sparse beyond, so a huge index costs one
/// entry (CPython's dense array would allocate gigabytes for it).
#[derive(Default)]
struct Memo {
    dense: Vec<u32>,
    sparse: HashMap<u64, NodeId>,
    count: u64,
    /// The highest index stored, when any: a loader hazard when it is large, because
    /// CPython's memo is a dense array as long as the highest index.
    max_index: Option<u64>,
}

impl Memo {
    #[inline]
    fn get(&self, index: u64) -> Option<NodeId> {
        if let Some(&slot) = usize::try_from(index).ok().and_then(|i| self.dense.get(i)) {
            return (slot != EMPTY).then_some(NodeId(slot));
        }
        self.sparse.get(&index).copied()
    }

    /// Stores `id` at `index`. The next index of a dense memo (every MEMOIZE, and the
    /// PUTs a pickler writes) is inlined; everything else is [`Memo::put_other`].
    #[inline(always)]
    fn put(&mut self, index: u64, id: NodeId, meter: &mut Meter) -> Result<(), Error> {
        if index == self.dense.len() as u64 && self.sparse.is_empty() {
            meter.memo_entries(self.count.saturating_add(1))?;
            meter.reserve(&mut self.dense, 1)?;
            self.dense.push(id.0);
            self.count = self.count.saturating_add(1);
            self.max_index = Some(index);
            return Ok(());
        }
        self.put_other(index, id, meter)
    }

    #[inline(never)]
    fn put_other(&mut self, index: u64, id: NodeId, meter: &mut Meter) -> Result<(), Error> {
        self.max_index = Some(self.max_index.map_or(index, |m| m.max(index)));
        let dense_len = self.dense.len() as u64;
        if index < dense_len {
            if let Some(slot) = usize::try_from(index)
                .ok()
                .and_then(|i| self.dense.get_mut(i))
            {
                if *slot == EMPTY {
                    meter.memo_entries(self.count.saturating_add(1))?;
                    self.count = self.count.saturating_add(1);
                }
                *slot = id.0;
            }
            return Ok(());
        }
        if let Some(slot) = self.sparse.get_mut(&index) {
            *slot = id;
            return Ok(());
        }
        meter.memo_entries(self.count.saturating_add(1))?;
        // Grow the dense part only while it stays at least half full.
        let dense_ok =
            index < dense_len.saturating_add(1024) || index <= self.count.saturating_mul(2);
        if dense_ok && self.sparse.is_empty() {
            let new_len = usize::try_from(index.saturating_add(1)).map_err(|_| {
                Error::limit(Resource::Memory, meter.limits.max_memory_bytes, u64::MAX, 0)
            })?;
            let grow = new_len.saturating_sub(self.dense.len());
            meter.reserve(&mut self.dense, grow)?;
            self.dense.resize(new_len, EMPTY);
            if let Some(slot) = self.dense.last_mut() {
                *slot = id.0;
            }
        } else {
            meter.reserve_map_slot(&mut self.sparse, SPARSE_SLOT_BYTES)?;
            self.sparse.insert(index, id);
        }
        self.count = self.count.saturating_add(1);
        Ok(())
    }
}

/// What one opcode did to the run.
enum Flow {
    Continue,
    Stop(NodeId),
}

struct Machine<'a, 'd, S> {
    src: S,
    decoder: &'d Decoder,
    /// The observer of sites, when there is one (a scan, a container reader).
    sink: Option<&'d mut dyn Sink>,
    /// Whether a refused site is reported and passed over (a scan) instead of failing.
    scanning: bool,
    meter: Meter,
    graph: Graph<'a>,
    /// Nesting height of each container by node id (1 for an empty container). Ids
    /// past the end are scalars (height 0): the vector only grows when a container is
    /// made, so a run of scalars costs nothing here.
    heights: Vec<u32>,
    stack: Vec<NodeId>,
    /// Stack lengths at each open MARK; the last one is the fence.
    marks: Vec<usize>,
    memo: Memo,
    keys: KeyHasher,
    tables: HashMap<NodeId, KeyTable, IdBuildHasher>,
    /// How many pending-container markers are on the stack (see `PENDING_TUPLE`), so
    /// that taking items off the stack skips the search for them when there are none.
    pending: usize,
    /// Reused buffer for items popped off the stack.
    scratch: Vec<NodeId>,
    /// The keys of the dict a SETITEMS batch is filling (see [`SmallKeys`]); one per
    /// decoder, restarted per batch, so a batch does not initialize a fresh one.
    small_keys: SmallKeys,
    /// Key sequences of earlier record-like dicts (see [`KeyShapes`]).
    key_shapes: KeyShapes,
    proto: u8,
    max_proto: u8,
    buffers_used: usize,
    buffer_placeholders: u64,
    singletons: [Option<NodeId>; 3],
    /// False when the whole input (a slice) plus the widest fixed argument fits the
    /// input budget: then the per-opcode input checks cannot fail and are skipped.
    check_input: bool,
}

#[cold]
fn malformed(why: &'static str) -> Error {
    Error::new(ErrorKind::Malformed(why), 0, None)
}

#[cold]
fn mismatch(operation: &'static str, found: &'static str) -> Error {
    Error::new(ErrorKind::TypeMismatch { operation, found }, 0, None)
}

impl<'a, 'd, S: Source<'a>> Machine<'a, 'd, S> {
    fn new(src: S, decoder: &'d Decoder) -> Machine<'a, 'd, S> {
        let src_needs_input_checks = match src.known_len() {
            Some(len) => len.saturating_add(8) > decoder.limits.max_input_bytes,
            None => true,
        };
        Machine {
            src,
            decoder,
            sink: None,
            scanning: false,
            meter: Meter::new(decoder.limits),
            graph: Graph::new(),
            heights: Vec::new(),
            stack: Vec::new(),
            marks: Vec::new(),
            memo: Memo::default(),
            keys: KeyHasher::new(),
            tables: HashMap::default(),
            pending: 0,
            scratch: Vec::new(),
            small_keys: SmallKeys::new(),
            key_shapes: KeyShapes::new(),
            proto: 0,
            max_proto: 0,
            buffers_used: 0,
            buffer_placeholders: 0,
            singletons: [None; 3],
            check_input: src_needs_input_checks,
        }
    }

    fn execute(&mut self) -> Result<NodeId, Error> {
        loop {
            let offset = self.src.position();
            self.meter.offset = offset;
            if self.check_input {
                self.meter.input_until(offset.saturating_add(1))?;
            }
            let byte = match self.src.next_byte()? {
                Some(b) => b,
                None => return Err(Error::new(ErrorKind::Eof, offset, None)),
            };
            let step = match self.meter.step() {
                Ok(()) => self.op(byte),
                Err(e) => Err(e),
            };
            match step {
                Ok(Flow::Continue) => {}
                Ok(Flow::Stop(root)) => return Ok(root),
                // `meter.offset`, not `offset`: a fast path that runs several opcodes
                // of one kind (see `push_empty_run`) moves it to the failing one.
                Err(e) => return Err(e.at(self.meter.offset).with_opcode(byte)),
            }
        }
    }

    // ----- reading arguments -------------------------------------------------------

    #[inline(always)]
    fn fixed<const N: usize>(&mut self) -> Result<[u8; N], Error> {
        if self.check_input {
            let end = self.src.position().saturating_add(N as u64);
            self.meter.input_until(end)?;
        }
        self.src.take_array::<N>()
    }

    #[inline(always)]
    fn u8_arg(&mut self) -> Result<u8, Error> {
        let [b] = self.fixed::<1>()?;
        Ok(b)
    }

    #[inline(always)]
    fn u16_arg(&mut self) -> Result<u16, Error> {
        Ok(u16::from_le_bytes(self.fixed::<2>()?))
    }

    #[inline(always)]
    fn u32_arg(&mut self) -> Result<u32, Error> {
        Ok(u32::from_le_bytes(self.fixed::<4>()?))
    }

    #[inline(always)]
    fn i32_arg(&mut self) -> Result<i32, Error> {
        Ok(i32::from_le_bytes(self.fixed::<4>()?))
    }

    #[inline(always)]
    fn u64_arg(&mut self) -> Result<u64, Error> {
        Ok(u64::from_le_bytes(self.fixed::<8>()?))
    }

    /// A length-prefixed payload of `len` bytes that will be held as a node: checked
    /// against the input budget, then the memory budget, before anything is read.
    fn payload(&mut self, len: u64) -> Result<Cow<'a, [u8]>, Error> {
        self.read_payload(len, true)
    }

    /// A length-prefixed payload that is converted, not kept (LONG1/LONG4): only the
    /// input budget applies; its size is capped by the caller's own resource check.
    fn transient_payload(&mut self, len: u64) -> Result<Cow<'a, [u8]>, Error> {
        self.read_payload(len, false)
    }

    /// Checks a length claim against the input budget, then (for payloads that will be
    /// held) the memory budget, and only then reads.
    fn read_payload(&mut self, len: u64, kept: bool) -> Result<Cow<'a, [u8]>, Error> {
        let end = self.src.position().saturating_add(len);
        self.meter.input_until(end)?;
        if kept {
            self.meter.check_memory(len)?;
        }
        let n = usize::try_from(len).map_err(|_| Error::limit(Resource::Memory, 0, len, 0))?;
        let bytes = self.src.take(n)?;
        self.meter.fuel_for_bytes(len)?;
        Ok(bytes)
    }

    /// A line that must not be empty (CPython's `bad_readline` for INT, LONG, FLOAT,
    /// GLOBAL, INST, PUT and GET).
    fn arg_line(&mut self) -> Result<Cow<'a, [u8]>, Error> {
        let line = self.line()?;
        if line.is_empty() {
            return Err(malformed("empty argument line"));
        }
        Ok(line)
    }

    fn line(&mut self) -> Result<Cow<'a, [u8]>, Error> {
        let max_end = self.meter.limits.max_input_bytes;
        let line = self.src.take_line(max_end)?;
        self.meter.fuel_for_bytes(line.len() as u64)?;
        Ok(line)
    }

    // ----- the stack ---------------------------------------------------------------

    fn fence(&self) -> usize {
        self.marks.last().copied().unwrap_or(0)
    }

    #[cold]
    fn underflow(&self) -> Error {
        if self.marks.is_empty() {
            Error::new(ErrorKind::StackUnderflow, 0, None)
        } else {
            Error::new(ErrorKind::UnexpectedMark, 0, None)
        }
    }

    /// Pops the top value (made real if it was a pending container).
    #[inline]
    fn pop(&mut self) -> Result<NodeId, Error> {
        if self.stack.len() <= self.fence() {
            return Err(self.underflow());
        }
        let id = self.stack.pop().ok_or_else(|| self.underflow())?;
        if is_pending(id) {
            self.pending = self.pending.saturating_sub(1);
            return self.make_pending(id);
        }
        Ok(id)
    }

    /// Pops the top value without using it (POP): a pending container is dropped
    /// without ever becoming a node.
    #[inline]
    fn discard(&mut self) -> Result<NodeId, Error> {
        if self.stack.len() <= self.fence() {
            return Err(self.underflow());
        }
        let id = self.stack.pop().ok_or_else(|| self.underflow())?;
        if is_pending(id) {
            self.pending = self.pending.saturating_sub(1);
        }
        Ok(id)
    }

    /// The top value, made real in place.
    #[inline]
    fn top(&mut self) -> Result<NodeId, Error> {
        let len = self.stack.len();
        if len <= self.fence() {
            return Err(self.underflow());
        }
        self.real_at(len.saturating_sub(1))
    }

    /// The value at stack position `at`, made real in place.
    #[inline]
    fn real_at(&mut self, at: usize) -> Result<NodeId, Error> {
        let id = *self.stack.get(at).ok_or_else(|| self.underflow())?;
        if !is_pending(id) {
            return Ok(id);
        }
        let made = self.make_pending(id)?;
        if let Some(slot) = self.stack.get_mut(at) {
            *slot = made;
        }
        self.pending = self.pending.saturating_sub(1);
        Ok(made)
    }

    /// Makes every pending container from stack position `from` up real, in stack
    /// order.
    #[inline]
    fn real_from(&mut self, from: usize) -> Result<(), Error> {
        if self.pending == 0 {
            return Ok(());
        }
        let first = self
            .stack
            .get(from..)
            .and_then(|items| items.iter().position(|id| is_pending(*id)));
        if let Some(first) = first {
            for at in from.saturating_add(first)..self.stack.len() {
                self.real_at(at)?;
            }
        }
        Ok(())
    }

    /// The node for a pending container marker.
    #[inline(never)]
    fn make_pending(&mut self, marker: NodeId) -> Result<NodeId, Error> {
        self.new_node(empty_container(marker.0), 1)
    }

    /// EMPTY_LIST and friends: a node at once while the stack is short (the usual
    /// case: the container is about to be memoized and filled), else a marker (see
    /// `PENDING_TUPLE`). Either way the depth of an empty container (1) is checked now.
    #[inline(always)]
    fn push_empty(&mut self, marker: u32) -> Result<(), Error> {
        if self.stack.len() < self.decoder.eager_containers {
            let id = self.new_node(empty_container(marker), 1)?;
            return self.push(id);
        }
        if self.meter.usage.depth < 1 {
            self.meter.depth(1)?; // once: a depth already recorded is >= 1 and allowed
        }
        self.push_marker(marker)
    }

    /// A pending container's marker on the stack (see `PENDING_TUPLE`).
    #[inline(always)]
    fn push_marker(&mut self, marker: u32) -> Result<(), Error> {
        self.push(NodeId(marker))?;
        self.pending = self.pending.saturating_add(1);
        Ok(())
    }

    /// An EMPTY_* opcode and, once containers are deferred, every copy of it that
    /// follows at once, in one loop instead of one dispatch each: the nesting bomb is
    /// a million EMPTY_LISTs in a row. Each copy is located, metered and pushed exactly
    /// as the dispatch loop would do it (offset, one step, then the stack slot), so the
    /// outcome, the error offsets and the `Usage` are the same either way (the decode
    /// fuzz target checks this with every container deferred). Slices only: a stream
    /// checks its input budget per byte, and peeks only what it has buffered.
    #[inline(always)]
    fn push_empty_run(&mut self, byte: u8, marker: u32) -> Result<(), Error> {
        self.push_empty(marker)?;
        if self.check_input || self.stack.len() <= self.decoder.eager_containers {
            return Ok(());
        }
        // Past the threshold and with depth 1 recorded (by the push above), each copy
        // is what `push_empty` does in that state: `push_marker`.
        while self.src.peek_byte() == Some(byte) {
            let offset = self.src.position();
            self.meter.offset = offset;
            self.src.next_byte()?;
            self.meter.step()?;
            self.push_marker(marker)?;
        }
        Ok(())
    }

    fn pop_mark(&mut self) -> Result<usize, Error> {
        self.marks
            .pop()
            .ok_or_else(|| Error::new(ErrorKind::MarkMissing, 0, None))
    }

    #[inline]
    fn push(&mut self, id: NodeId) -> Result<(), Error> {
        self.meter.reserve(&mut self.stack, 1)?;
        self.stack.push(id);
        Ok(())
    }

    /// Moves the stack items from `from` to the top into `scratch`.
    fn take_items_from(&mut self, from: usize) -> Result<(), Error> {
        self.real_from(from)?;
        let items = self.stack.get(from..).unwrap_or(&[]);
        self.scratch.clear();
        self.meter.reserve(&mut self.scratch, items.len())?;
        self.scratch.extend_from_slice(items);
        self.stack.truncate(from);
        Ok(())
    }

    /// APPENDS/SETITEMS/ADDITEMS: pops the MARK and returns the container below it and
    /// the stack position of the first item above it, or `None` when there are no items
    /// (CPython's `do_append`/`do_setitems` then touch nothing, not even the target's
    /// type). `odd_pairs` is the error for an odd item count, when pairs are expected.
    fn marked_items(
        &mut self,
        odd_pairs: Option<&'static str>,
    ) -> Result<Option<(NodeId, usize)>, Error> {
        let mark = self.pop_mark()?;
        if mark > self.stack.len() || mark <= self.fence() {
            return Err(self.underflow());
        }
        let count = self.stack.len().saturating_sub(mark);
        if count == 0 {
            return Ok(None);
        }
        if let Some(why) = odd_pairs {
            if count % 2 != 0 {
                return Err(malformed(why));
            }
        }
        let at = mark.checked_sub(1).ok_or_else(|| self.underflow())?;
        let target = self.real_at(at)?;
        Ok(Some((target, mark)))
    }

    // ----- nodes -------------------------------------------------------------------

    fn height(&self, id: NodeId) -> u32 {
        self.heights.get(id.index()).copied().unwrap_or(0)
    }

    /// A node of `height` (0 for scalars, which need no height entry).
    #[inline(always)]
    fn new_node(&mut self, node: NodeData<'a>, height: u32) -> Result<NodeId, Error> {
        if height == 0 {
            return self.graph.push(node, &mut self.meter);
        }
        self.meter.depth(u64::from(height))?;
        let id = self.graph.push(node, &mut self.meter)?;
        self.set_height(id, height)?;
        Ok(id)
    }

    /// Records the height of a container, growing `heights` up to its id.
    #[inline(always)]
    fn set_height(&mut self, id: NodeId, height: u32) -> Result<(), Error> {
        let index = id.index();
        if let Some(slot) = self.heights.get_mut(index) {
            *slot = height;
            return Ok(());
        }
        if index == self.heights.len() {
            // The common case: containers made one after another.
            self.meter.reserve(&mut self.heights, 1)?;
            self.heights.push(height);
            return Ok(());
        }
        self.grow_heights(index, height)
    }

    /// `set_height` for an id past the end with scalars before it (height 0).
    #[inline(never)]
    fn grow_heights(&mut self, index: usize, height: u32) -> Result<(), Error> {
        let grow = index.saturating_add(1).saturating_sub(self.heights.len());
        self.meter.reserve(&mut self.heights, grow)?;
        self.heights.resize(index, 0);
        self.heights.push(height);
        Ok(())
    }

    /// A scalar node, pushed.
    #[inline(always)]
    fn push_new(&mut self, node: NodeData<'a>) -> Result<(), Error> {
        let id = self.graph.push(node, &mut self.meter)?;
        self.push(id)
    }

    fn push_singleton(&mut self, which: usize, node: NodeData<'a>) -> Result<(), Error> {
        let id = match self.singletons.get(which).copied().flatten() {
            Some(id) => id,
            None => {
                let id = self.new_node(node, 0)?;
                if let Some(slot) = self.singletons.get_mut(which) {
                    *slot = Some(id);
                }
                id
            }
        };
        self.push(id)
    }

    /// An int that fits in 64 bits. Most are written into their id ([`NodeId::int`]),
    /// so a list of numbers costs a stack slot per item, not a node; only the rest
    /// (beyond ±2^30) take a node.
    #[inline(always)]
    fn push_small_int(&mut self, value: i64) -> Result<(), Error> {
        match NodeId::int(value) {
            Some(id) => self.push(id),
            None => self.push_new(NodeData::Int(value)),
        }
    }

    fn push_int(&mut self, value: IntValue) -> Result<(), Error> {
        match value {
            IntValue::Small(i) => self.push_small_int(i),
            IntValue::Big(b) => {
                let bytes = b
                    .magnitude()
                    .len()
                    .saturating_mul(4)
                    .saturating_add(std::mem::size_of::<BigInt>());
                self.meter.take_memory(bytes as u64)?;
                self.push_new(NodeData::BigInt(Box::new(b)))
            }
        }
    }

    /// A text integer longer than the digit budget is counted (without allocating)
    /// and refused before it is parsed: a million-digit line costs one scan.
    fn check_digits_before_parsing(
        &mut self,
        line: &[u8],
        count: fn(&[u8]) -> Option<usize>,
    ) -> Result<(), Error> {
        if line.len() as u64 > self.meter.limits.max_int_digits {
            if let Some(digits) = count(line) {
                self.meter.int_digits(digits as u64)?;
            }
        }
        Ok(())
    }

    fn int_from_literal(&mut self, lit: &IntLiteral) -> Result<IntValue, Error> {
        let digits = lit.digits.len() as u64;
        self.meter.int_digits(digits)?;
        // Text-to-int conversion is quadratic: charge it before doing it.
        self.meter.fuel(digits.saturating_mul(digits) / 1024)?;
        Ok(BigInt::from_digits(lit.negative, lit.radix, &lit.digits))
    }

    /// A payload node (str, bytes, bytearray): charges its bytes.
    fn push_payload(&mut self, node: NodeData<'a>, len: usize) -> Result<(), Error> {
        self.meter.take_memory(len as u64)?;
        self.push_new(node)
    }

    fn push_str(&mut self, bytes: Cow<'a, [u8]>) -> Result<(), Error> {
        if !text::is_generalized_utf8(&bytes) {
            return Err(malformed("invalid UTF-8 in string"));
        }
        let len = bytes.len();
        self.push_payload(NodeData::Str(bytes), len)
    }

    /// Python 2 `str` payloads, decoded as the caller asked (CPython's `encoding=`).
    fn push_py2_str(&mut self, bytes: Cow<'a, [u8]>) -> Result<(), Error> {
        match self.decoder.string_encoding {
            StringEncoding::Bytes => {
                let len = bytes.len();
                self.push_payload(NodeData::Bytes(bytes), len)
            }
            StringEncoding::Ascii => {
                if !bytes.is_ascii() {
                    return Err(malformed(
                        "non-ASCII byte in a Python 2 str (encoding is ascii)",
                    ));
                }
                let len = bytes.len();
                self.push_payload(NodeData::Str(bytes), len)
            }
            StringEncoding::Latin1 => {
                if bytes.is_ascii() {
                    let len = bytes.len();
                    return self.push_payload(NodeData::Str(bytes), len);
                }
                self.meter
                    .check_memory(text::latin1_utf8_len(&bytes) as u64)?;
                let utf8 = text::latin1_to_utf8(&bytes);
                let len = utf8.len();
                self.push_payload(NodeData::Str(Cow::Owned(utf8)), len)
            }
        }
    }

    /// A container node made of the stack items from `from` to the top (which it
    /// pops), with its height and length checked.
    fn container_from_stack(
        &mut self,
        make: fn(Vec<NodeId>) -> NodeData<'a>,
        from: usize,
    ) -> Result<NodeId, Error> {
        self.real_from(from)?;
        let taken = self.stack.get(from..).unwrap_or(&[]);
        let n = taken.len();
        self.meter.container_len(n as u64)?;
        let mut items = Vec::new();
        self.meter.reserve(&mut items, n)?;
        items.extend_from_slice(taken);
        self.stack.truncate(from);
        let height = self.children_height(&items)?;
        self.new_node(make(items), height)
    }

    /// 1 + the height of the tallest child, checked against the depth budget.
    fn children_height(&mut self, children: &[NodeId]) -> Result<u32, Error> {
        let tallest = children.iter().map(|c| self.height(*c)).max().unwrap_or(0);
        let height = tallest.saturating_add(1);
        self.meter.depth(u64::from(height))?;
        Ok(height)
    }

    /// Records that all of `children` now sit inside `parent`.
    fn nest_all(&mut self, parent: NodeId, children: &[NodeId]) -> Result<(), Error> {
        let tallest = children.iter().map(|c| self.height(*c)).max();
        self.raise_height(parent, tallest)
    }

    /// `parent` now holds a child of height `tallest` (`None`: no child was added):
    /// its own height becomes at least one more, checked against the depth budget.
    fn raise_height(&mut self, parent: NodeId, tallest: Option<u32>) -> Result<(), Error> {
        if let Some(tallest) = tallest {
            let h = tallest.saturating_add(1);
            if h > self.height(parent) {
                self.meter.depth(u64::from(h))?;
                self.set_height(parent, h)?;
            }
        }
        Ok(())
    }

    /// Records that `child` now sits inside `parent`.
    fn nest(&mut self, parent: NodeId, child: NodeId) -> Result<(), Error> {
        let h = self.height(child).saturating_add(1);
        if h > self.height(parent) {
            self.meter.depth(u64::from(h))?;
            self.set_height(parent, h)?;
        }
        Ok(())
    }

    fn node(&self, id: NodeId) -> Result<Node<'_>, Error> {
        self.graph
            .get(id)
            .ok_or_else(|| malformed("dangling node id"))
    }

    // ----- dict keys and set items -------------------------------------------------

    /// The key at `pos` of a dict or set node.
    fn key_at(graph: &Graph<'a>, container: NodeId, pos: usize) -> Option<NodeId> {
        match graph.get(container)? {
            Node::Dict(entries) => entries.get(pos).map(|(k, _)| *k),
            Node::Set(items) | Node::FrozenSet(items) => items.get(pos).copied(),
            _ => None,
        }
    }

    fn entry_count(graph: &Graph<'a>, container: NodeId) -> usize {
        match graph.get(container) {
            Some(Node::Dict(entries)) => entries.len(),
            Some(Node::Set(items) | Node::FrozenSet(items)) => items.len(),
            _ => 0,
        }
    }

    /// Finds `key` among the keys of `container`; returns its position and hash.
    fn find_key(
        &mut self,
        container: NodeId,
        key: NodeId,
        table: Option<&KeyTable>,
    ) -> Result<(Option<usize>, Option<u64>), Error> {
        let Machine {
            graph, keys, meter, ..
        } = self;
        match table {
            Some(table) => {
                let hash = keys.hash(graph, key, meter)?;
                let key_at = |pos| Self::key_at(graph, container, pos);
                let found = keys.find_in(table, graph, hash, key, key_at, meter)?;
                Ok((found, Some(hash)))
            }
            None => {
                // Small container: a linear scan, no hash needed (but the key must
                // still be hashable, as Python requires).
                keys.check_hashable(graph, key, meter)?;
                // Fast path for str keys (most dicts): a str equals only a str, so
                // compare bytes directly, with one fuel charge for the whole scan.
                if let Some(Node::Str(wanted)) = graph.get(key) {
                    let existing_keys: &[NodeId] = match graph.get(container) {
                        Some(Node::Set(items) | Node::FrozenSet(items)) => items,
                        _ => &[],
                    };
                    let dict_entries: &[(NodeId, NodeId)] = match graph.get(container) {
                        Some(Node::Dict(entries)) => entries,
                        _ => &[],
                    };
                    let count = existing_keys.len().saturating_add(dict_entries.len());
                    meter.fuel((count as u64).saturating_add(1))?;
                    let mut compared_bytes = 0u64;
                    let mut same = |existing: NodeId| {
                        if existing == key {
                            return true;
                        }
                        match graph.get(existing) {
                            Some(Node::Str(have)) if have.len() == wanted.len() => {
                                compared_bytes = compared_bytes.saturating_add(have.len() as u64);
                                have == wanted
                            }
                            _ => false,
                        }
                    };
                    let found = match dict_entries.is_empty() {
                        false => dict_entries.iter().position(|(k, _)| same(*k)),
                        true => existing_keys.iter().position(|k| same(*k)),
                    };
                    meter.fuel_for_bytes(compared_bytes)?;
                    return Ok((found, None));
                }
                for pos in 0..Self::entry_count(graph, container) {
                    if let Some(existing) = Self::key_at(graph, container, pos) {
                        if keys.equal(graph, existing, key, meter)? {
                            return Ok((Some(pos), None));
                        }
                    }
                }
                Ok((None, None))
            }
        }
    }

    /// Keeps the hash index of `container` in step after a new key was appended
    /// (`hash` is the new key's hash when the container already has an index).
    fn index_new_key(
        &mut self,
        container: NodeId,
        count: usize,
        hash: Option<u64>,
        index: &mut Option<KeyTable>,
    ) -> Result<(), Error> {
        if let (Some(table), Some(hash)) = (index.as_mut(), hash) {
            return table.insert(hash, &mut self.meter);
        }
        if count <= LINEAR_SCAN_MAX {
            return Ok(());
        }
        // Outgrew the linear scan: index every key so far.
        let mut table = KeyTable::default();
        for pos in 0..count {
            let key = Self::key_at(&self.graph, container, pos)
                .ok_or_else(|| malformed("dangling key"))?;
            let h = self.keys.hash(&self.graph, key, &mut self.meter)?;
            table.insert(h, &mut self.meter)?;
        }
        *index = Some(table);
        Ok(())
    }

    /// Runs `f` with the hash index of `container` taken out of the map (so a batch
    /// of SETITEMS or ADDITEMS looks it up once, not once per key), and puts it back.
    fn with_key_index<R>(
        &mut self,
        container: NodeId,
        f: impl FnOnce(&mut Self, &mut Option<KeyTable>) -> Result<R, Error>,
    ) -> Result<R, Error> {
        // Most documents are many small dicts and no big one: no lookup (and no hash
        // of the id) while no container has an index.
        let mut index = if self.tables.is_empty() {
            None
        } else {
            self.tables.remove(&container)
        };
        let result = f(self, &mut index);
        if let Some(table) = index {
            // Free when the index was there before (removing left a slot); a new
            // index pays for its map slot.
            self.meter
                .reserve_map_slot(&mut self.tables, TABLE_OVERHEAD)?;
            self.tables.insert(container, table);
        }
        result
    }

    /// `dict[key] = value` with Python's key semantics. The caller records the
    /// nesting (once per batch).
    fn dict_set(
        &mut self,
        dict: NodeId,
        key: NodeId,
        value: NodeId,
        index: &mut Option<KeyTable>,
    ) -> Result<(), Error> {
        if let Some(table) = index {
            return self.dict_set_indexed(dict, key, value, table);
        }
        // No index yet, so no hash either: the linear paths below need none.
        let (found, entry) = match self.find_small_str_key(dict, key)? {
            Some(scan) => (scan.found, Some(scan.entry)),
            None => (self.find_key(dict, key, None)?.0, None),
        };
        let Some(NodeData::Dict(entries)) = self.graph.get_mut(dict) else {
            return Err(malformed("dict expected"));
        };
        match found {
            Some(pos) => {
                if let Some(entry) = entries.get_mut(pos) {
                    entry.1 = value; // first key stays, last value wins
                }
            }
            None => {
                self.meter
                    .container_len(entries.len().saturating_add(1) as u64)?;
                self.meter.reserve(entries, 1)?;
                entries.push((key, value));
                let count = entries.len();
                match entry {
                    Some(entry) => self.small_keys.push_entry(entry),
                    None => self.small_keys.push(&self.graph, key),
                }
                if count > LINEAR_SCAN_MAX {
                    self.index_new_key(dict, count, None, index)?;
                }
            }
        }
        Ok(())
    }

    /// A str key of a small dict, looked up in `small_keys` (see [`SmallKeys`]): the
    /// scan (where the key was found, if anywhere, and its entry there), or `None`
    /// when that path does not apply (not a str key, or too many keys). Charges what the byte-by-byte scan of `find_key`
    /// charges, so the path taken never shows in `Usage`.
    #[inline]
    fn find_small_str_key(&mut self, dict: NodeId, key: NodeId) -> Result<Option<StrScan>, Error> {
        let Some(Node::Str(wanted)) = self.graph.get(key) else {
            return Ok(None);
        };
        let Some(Node::Dict(entries)) = self.graph.get(dict) else {
            return Ok(None);
        };
        if !self.small_keys.fill(&self.graph, entries) {
            return Ok(None);
        }
        let scan = self.small_keys.find_str(&self.graph, key, wanted);
        self.meter.fuel((entries.len() as u64).saturating_add(1))?;
        self.meter.fuel_for_bytes(scan.bytes)?;
        Ok(Some(scan))
    }

    /// `dict_set` for a dict with a hash index: the path of every big dict, written
    /// out in one piece so the dict node is looked up once per key.
    fn dict_set_indexed(
        &mut self,
        dict: NodeId,
        key: NodeId,
        value: NodeId,
        table: &mut KeyTable,
    ) -> Result<(), Error> {
        let Machine {
            graph, keys, meter, ..
        } = self;
        let hash = keys.hash(graph, key, meter)?;
        let graph_ref: &Graph<'a> = graph;
        let entries: &[(NodeId, NodeId)] = match graph_ref.get(dict) {
            Some(Node::Dict(entries)) => entries,
            _ => return Err(malformed("dict expected")),
        };
        let key_at = |pos: usize| entries.get(pos).map(|(existing, _)| *existing);
        let found = keys.find_in(table, graph_ref, hash, key, key_at, meter)?;
        let Some(NodeData::Dict(entries)) = graph.get_mut(dict) else {
            return Err(malformed("dict expected"));
        };
        match found.and_then(|pos| entries.get_mut(pos)) {
            Some(entry) => entry.1 = value, // first key stays, last value wins
            None => {
                meter.container_len(entries.len().saturating_add(1) as u64)?;
                meter.reserve(entries, 1)?;
                entries.push((key, value));
                table.insert(hash, meter)?;
            }
        }
        Ok(())
    }

    /// `set.add(item)` with Python's key semantics (also used to build frozensets).
    fn set_add(
        &mut self,
        set: NodeId,
        item: NodeId,
        index: &mut Option<KeyTable>,
    ) -> Result<(), Error> {
        let (found, hash) = self.find_key(set, item, index.as_ref())?;
        if found.is_some() {
            return Ok(());
        }
        let (Some(NodeData::Set(items)) | Some(NodeData::FrozenSet(items))) =
            self.graph.get_mut(set)
        else {
            return Err(malformed("set expected"));
        };
        self.meter
            .container_len(items.len().saturating_add(1) as u64)?;
        self.meter.reserve(items, 1)?;
        items.push(item);
        let count = items.len();
        self.index_new_key(set, count, hash, index)?;
        self.nest(set, item)
    }

    // ----- container operations ----------------------------------------------------

    /// APPEND/APPENDS: moves the stack items from `from` to the top onto `target`,
    /// straight from the stack (no intermediate copy).
    fn append_from(&mut self, target: NodeId, from: usize) -> Result<(), Error> {
        self.real_from(from)?;
        if let Node::ByteArray(_) = self.node(target)? {
            self.take_items_from(from)?;
            let bytes = self.scratch_as_bytes("APPEND to a bytearray")?;
            return self.extend_bytearray(target, &bytes);
        }
        let Machine {
            graph,
            stack,
            heights,
            meter,
            ..
        } = self;
        let taken = stack.get(from..).unwrap_or(&[]);
        let n = taken.len();
        let found = match graph.get(target) {
            Some(Node::List(_) | Node::Object(_)) => None,
            Some(other) => Some(other.type_name()),
            None => return Err(malformed("dangling node id")),
        };
        if let Some(found) = found {
            return Err(mismatch("APPEND", found));
        }
        let items = match graph.get_mut(target) {
            Some(NodeData::List(items)) => items,
            Some(NodeData::Object(obj)) => &mut obj.listitems,
            _ => return Err(malformed("list expected")),
        };
        meter.container_len(items.len().saturating_add(n) as u64)?;
        meter.reserve(items, n)?;
        items.extend_from_slice(taken);
        let tallest = taken
            .iter()
            .map(|c| heights.get(c.index()).copied().unwrap_or(0))
            .max();
        stack.truncate(from);
        self.raise_height(target, tallest)
    }

    /// The items of `scratch` as bytes: CPython's `bytearray.extend` takes ints 0..=255.
    fn scratch_as_bytes(&self, operation: &'static str) -> Result<Vec<u8>, Error> {
        self.scratch
            .iter()
            .map(|id| match self.node(*id)? {
                Node::Int(i) => {
                    u8::try_from(i).map_err(|_| malformed("byte must be in range(0, 256)"))
                }
                Node::Bool(b) => Ok(u8::from(b)),
                other => Err(mismatch(operation, other.type_name())),
            })
            .collect()
    }

    fn extend_bytearray(&mut self, target: NodeId, bytes: &[u8]) -> Result<(), Error> {
        self.meter.take_memory(bytes.len() as u64)?;
        match self.graph.get_mut(target) {
            Some(NodeData::ByteArray(data)) => {
                data.to_mut().extend_from_slice(bytes);
                Ok(())
            }
            _ => Err(malformed("bytearray expected")),
        }
    }

    /// A SETITEMS batch into the empty dict `target` whose key sequence an earlier
    /// batch proved distinct ([`KeyShapes`]): appends the pairs as they are and charges
    /// the remembered fuel. False (nothing done) when the keys are not remembered or
    /// a budget would run out on the way: the ordinary path then fails at exactly the
    /// key where it runs out.
    fn set_known_keys(&mut self, target: NodeId, pairs: &[NodeId]) -> Result<bool, Error> {
        let Some(steps) = self.key_shapes.lookup(pairs) else {
            return Ok(false);
        };
        let n = (pairs.len() / 2) as u64;
        let limits = &self.meter.limits;
        if n > limits.max_container_len
            || self.meter.usage.steps.saturating_add(steps) > limits.max_steps
        {
            return Ok(false);
        }
        self.meter.fuel(steps)?;
        self.meter.container_len(n)?;
        let Some(NodeData::Dict(entries)) = self.graph.get_mut(target) else {
            return Err(malformed("dict expected"));
        };
        for pair in pairs.chunks(2) {
            if let [k, v] = pair {
                entries.push((*k, *v)); // within the capacity reserved for the batch
            }
        }
        Ok(true)
    }

    /// After a batch into an empty dict: did every key of `pairs` stay (no two were
    /// equal), and is every key a str? Then the same key sequence can skip the
    /// comparisons next time ([`KeyShapes`]).
    fn kept_distinct_str_keys(&self, target: NodeId, pairs: &[NodeId]) -> bool {
        let kept = match self.graph.get(target) {
            Some(Node::Dict(entries)) => entries.len(),
            _ => return false,
        };
        kept.saturating_mul(2) == pairs.len()
            && pairs
                .iter()
                .step_by(2)
                .all(|k| matches!(self.graph.get(*k), Some(Node::Str(_))))
    }

    /// SETITEM/SETITEMS of the pairs in `scratch` onto `target`.
    fn setitems_scratch(&mut self, target: NodeId) -> Result<(), Error> {
        let pairs = std::mem::take(&mut self.scratch);
        let result = self.setitems(target, &pairs);
        self.scratch = pairs;
        result
    }

    fn setitems(&mut self, target: NodeId, pairs: &[NodeId]) -> Result<(), Error> {
        match self.node(target)? {
            Node::Dict(entries) => {
                let fresh = entries.is_empty() && self.decoder.key_shapes;
                // Room for the whole batch at once (duplicates only leave spare slots).
                if let Some(NodeData::Dict(entries)) = self.graph.get_mut(target) {
                    self.meter.reserve(entries, pairs.len() / 2)?;
                }
                if fresh && self.set_known_keys(target, pairs)? {
                    return self.nest_all(target, pairs);
                }
                let steps_before = self.meter.usage.steps;
                self.with_key_index(target, |m, index| {
                    m.small_keys.start_batch();
                    for pair in pairs.chunks(2) {
                        if let [k, v] = pair {
                            m.dict_set(target, *k, *v, index)?;
                        }
                    }
                    Ok(())
                })?;
                if fresh && self.kept_distinct_str_keys(target, pairs) {
                    let steps = self.meter.usage.steps.saturating_sub(steps_before);
                    self.key_shapes.remember(pairs, steps);
                }
                self.nest_all(target, pairs)
            }
            Node::Object(_) => {
                let n = pairs.len() / 2;
                let Some(NodeData::Object(obj)) = self.graph.get_mut(target) else {
                    return Err(malformed("object expected"));
                };
                self.meter
                    .container_len(obj.dictitems.len().saturating_add(n) as u64)?;
                self.meter.reserve(&mut obj.dictitems, n)?;
                for pair in pairs.chunks(2) {
                    if let [k, v] = pair {
                        obj.dictitems.push((*k, *v));
                    }
                }
                self.nest_all(target, pairs)
            }
            Node::List(_) => {
                // CPython calls list[k] = v: an int index in range replaces an item.
                for pair in pairs.chunks(2) {
                    if let [k, v] = pair {
                        let index = match self.node(*k)? {
                            Node::Int(i) => i,
                            Node::Bool(b) => i64::from(b),
                            other => return Err(mismatch("SETITEM on a list", other.type_name())),
                        };
                        let Some(NodeData::List(items)) = self.graph.get_mut(target) else {
                            return Err(malformed("list expected"));
                        };
                        let len = i64::try_from(items.len()).unwrap_or(i64::MAX);
                        let pos = if index < 0 {
                            index.saturating_add(len)
                        } else {
                            index
                        };
                        let slot = usize::try_from(pos).ok().and_then(|p| items.get_mut(p));
                        match slot {
                            Some(slot) => *slot = *v,
                            None => return Err(malformed("list assignment index out of range")),
                        }
                        self.nest(target, *v)?;
                    }
                }
                Ok(())
            }
            Node::ByteArray(_) => {
                // bytearray[i] = byte, as CPython's PyObject_SetItem does.
                for pair in pairs.chunks(2) {
                    if let [k, v] = pair {
                        let index = match self.node(*k)? {
                            Node::Int(i) => i,
                            Node::Bool(b) => i64::from(b),
                            other => {
                                return Err(mismatch("SETITEM on a bytearray", other.type_name()))
                            }
                        };
                        let byte = match self.node(*v)? {
                            Node::Int(i) => u8::try_from(i)
                                .map_err(|_| malformed("byte must be in range(0, 256)"))?,
                            Node::Bool(b) => u8::from(b),
                            other => {
                                return Err(mismatch("SETITEM on a bytearray", other.type_name()))
                            }
                        };
                        let Some(NodeData::ByteArray(data)) = self.graph.get_mut(target) else {
                            return Err(malformed("bytearray expected"));
                        };
                        let len = i64::try_from(data.len()).unwrap_or(i64::MAX);
                        let pos = if index < 0 {
                            index.saturating_add(len)
                        } else {
                            index
                        };
                        let slot = usize::try_from(pos)
                            .ok()
                            .and_then(|p| data.to_mut().get_mut(p));
                        match slot {
                            Some(slot) => *slot = byte,
                            None => return Err(malformed("bytearray index out of range")),
                        }
                    }
                }
                Ok(())
            }
            other => Err(mismatch("SETITEM", other.type_name())),
        }
    }

    /// ADDITEMS of `scratch` onto `target`.
    fn additems_scratch(&mut self, target: NodeId) -> Result<(), Error> {
        let items = std::mem::take(&mut self.scratch);
        let result = match self.node(target) {
            Ok(Node::Set(_)) => self.with_key_index(target, |m, index| {
                items
                    .iter()
                    .try_for_each(|item| m.set_add(target, *item, index))
            }),
            Ok(Node::Object(_)) => {
                let n = items.len();
                match self.graph.get_mut(target) {
                    Some(NodeData::Object(obj)) => {
                        let r = self
                            .meter
                            .container_len(obj.additems.len().saturating_add(n) as u64)
                            .and_then(|()| self.meter.reserve(&mut obj.additems, n));
                        if r.is_ok() {
                            obj.additems.extend_from_slice(&items);
                        }
                        r.and_then(|()| self.nest_all(target, &items))
                    }
                    _ => Err(malformed("object expected")),
                }
            }
            Ok(other) => Err(mismatch("ADDITEMS", other.type_name())),
            Err(e) => Err(e),
        };
        self.scratch = items;
        result
    }

    // ----- globals and calls -------------------------------------------------------

    /// Judges a global and pushes its node: policy on the mapped names; the node holds
    /// mapped names at the value level and the names as written in raw mode.
    fn global_node(&mut self, opcode: Opcode, module: &str, name: &str) -> Result<NodeId, Error> {
        let (m3, n3) = if self.proto < 3 {
            compat::to_python3(module, name)
        } else {
            (module, name)
        };
        let verdict = self.decoder.policy.judge_global(m3, n3);
        if !verdict.is_allowed() && !self.scanning {
            return Err(Error::new(
                ErrorKind::Forbidden {
                    module: m3.to_owned(),
                    name: n3.to_owned(),
                },
                0,
                None,
            ));
        }
        let (m, n) = if self.decoder.raw {
            (module, name)
        } else {
            (m3, n3)
        };
        self.meter.take_memory(
            (std::mem::size_of::<Global>() as u64)
                .saturating_add(m.len() as u64)
                .saturating_add(n.len() as u64),
        )?;
        let node = self.new_node(
            NodeData::Global(Box::new(Global {
                module: m.to_owned(),
                name: n.to_owned(),
            })),
            0,
        )?;
        if self.sink.is_some() {
            let written = (m3 != module || n3 != name).then_some((module, name));
            let event = Event::Import {
                module: m3,
                name: n3,
                written,
                node,
            };
            self.report(opcode, event, verdict)?;
        }
        Ok(node)
    }

    /// Tells the sink (if any) about a site at the current opcode, and charges what it
    /// kept to the memory budget like everything the decoder holds.
    fn report(&mut self, opcode: Opcode, event: Event<'_>, verdict: Verdict) -> Result<(), Error> {
        let Machine {
            sink, meter, graph, ..
        } = self;
        if let Some(sink) = sink {
            let at = At {
                offset: meter.offset,
                opcode,
            };
            let kept = sink.site(at, event, verdict, graph);
            meter.take_memory(kept)?;
        }
        Ok(())
    }

    /// A call of `callable` with `args` (and `kwargs`): a global's call is judged
    /// with its arguments ([`Policy::judge_call`](crate::Policy::judge_call): an entry
    /// may allow only certain arguments); anything else is a computed call, judged by
    /// [`Policy::judge_computed_call`](crate::Policy::judge_computed_call).
    fn judge_call(
        &mut self,
        opcode: Opcode,
        op: CallOp,
        callable: NodeId,
        args: NodeId,
        kwargs: Option<NodeId>,
    ) -> Result<(), Error> {
        let policy = &self.decoder.policy;
        let refusal = match self.node(callable)? {
            Node::Global(g) => {
                let (m3, n3) = if self.proto < 3 {
                    compat::to_python3(&g.module, &g.name)
                } else {
                    (g.module.as_str(), g.name.as_str())
                };
                let verdict = policy.judge_call(&self.graph, m3, n3, args, kwargs);
                let refusal = match verdict {
                    Verdict::Allowed => None,
                    Verdict::NotListed => Some(ErrorKind::Forbidden {
                        module: m3.to_owned(),
                        name: n3.to_owned(),
                    }),
                    Verdict::RuleBroken(reason) => Some(ErrorKind::CallRefused {
                        module: m3.to_owned(),
                        name: n3.to_owned(),
                        reason,
                    }),
                };
                (verdict, refusal)
            }
            other => {
                let verdict = policy.judge_computed_call(&self.graph, callable, args, kwargs);
                let refusal = ErrorKind::ComputedCallRefused {
                    callee: other.type_name(),
                };
                (verdict, (!verdict.is_allowed()).then_some(refusal))
            }
        };
        let (verdict, refusal) = refusal;
        if let (Some(refusal), false) = (refusal, self.scanning) {
            return Err(Error::new(refusal, 0, None));
        }
        let event = Event::Call {
            op,
            callable,
            args,
            kwargs,
        };
        self.report(opcode, event, verdict)
    }

    /// A policy question about a stream feature (persistent ids, extensions, buffer
    /// placeholders): a scan reports the answer and goes on; a decode fails with
    /// `refusal` when the answer is no.
    fn judge_feature(
        &mut self,
        opcode: Opcode,
        event: Event<'_>,
        allowed: bool,
        refusal: ErrorKind,
    ) -> Result<(), Error> {
        if !allowed && !self.scanning {
            return Err(Error::new(refusal, 0, None));
        }
        self.report(opcode, event, Verdict::from_bool(allowed))
    }

    /// Asks the sink (if any) how many bytes of inline data follow this BUILD, and
    /// steps over them: checked against the input budget and charged fuel like a
    /// payload, never kept.
    fn inline_after_build(&mut self, target: NodeId, state: NodeId) -> Result<(), Error> {
        let Machine {
            sink, graph, src, ..
        } = self;
        let Some(sink) = sink else {
            return Ok(());
        };
        let skip = sink
            .inline_after_build(graph, target, state, src.rest())
            .map_err(malformed)?;
        if skip > 0 {
            self.transient_payload(skip)?;
        }
        Ok(())
    }

    /// GLOBAL's lines are UTF-8, INST's are ASCII (as CPython 3.11 decodes them).
    fn read_global_lines(&mut self, ascii_only: bool) -> Result<(String, String), Error> {
        let module = self.arg_line()?;
        let name = self.arg_line()?;
        if ascii_only && !(module.is_ascii() && name.is_ascii()) {
            return Err(malformed("INST module and name must be ASCII"));
        }
        let module = std::str::from_utf8(&module)
            .map_err(|_| malformed("global module name is not UTF-8"))?;
        let name = std::str::from_utf8(&name).map_err(|_| malformed("global name is not UTF-8"))?;
        Ok((module.to_owned(), name.to_owned()))
    }

    fn object_node(&mut self, obj: Object) -> Result<NodeId, Error> {
        let mut children = vec![obj.callable, obj.args];
        children.extend(obj.kwargs);
        let height = self.children_height(&children)?;
        self.meter
            .take_memory(std::mem::size_of::<Object>() as u64)?;
        self.new_node(NodeData::Object(Box::new(obj)), height)
    }

    /// The value a built-in reconstructor call builds, when the call has a shape we
    /// know; `None` leaves it an inert object node.
    fn fold_reconstructor(
        &mut self,
        callable: NodeId,
        args: NodeId,
    ) -> Result<Option<NodeId>, Error> {
        if self.decoder.raw {
            return Ok(None);
        }
        let (module, name) = match self.node(callable)? {
            Node::Global(g) => (g.module.clone(), g.name.clone()),
            _ => return Ok(None),
        };
        let argv: Vec<NodeId> = match self.node(args)? {
            Node::Tuple(items) => items.to_vec(),
            _ => return Ok(None),
        };
        match (module.as_str(), name.as_str()) {
            ("builtins", kind @ ("set" | "frozenset")) => {
                let items: Vec<NodeId> = match argv.as_slice() {
                    [] => Vec::new(),
                    [iterable] => match self.node(*iterable)? {
                        Node::List(v) | Node::Tuple(v) | Node::Set(v) | Node::FrozenSet(v) => {
                            v.to_vec()
                        }
                        Node::Dict(entries) => entries.iter().map(|(k, _)| *k).collect(),
                        _ => return Ok(None),
                    },
                    _ => return Ok(None),
                };
                let node = if kind == "set" {
                    NodeData::Set(Vec::new())
                } else {
                    NodeData::FrozenSet(Vec::new())
                };
                let id = self.new_node(node, 1)?;
                self.with_key_index(id, |m, index| {
                    items
                        .into_iter()
                        .try_for_each(|item| m.set_add(id, item, index))
                })?;
                Ok(Some(id))
            }
            ("builtins", kind @ ("bytearray" | "bytes")) => {
                let data: Vec<u8> = match argv.as_slice() {
                    [] => Vec::new(),
                    [source] => match self.node(*source)? {
                        Node::Bytes(b) | Node::ByteArray(b) => b.to_vec(),
                        _ => return Ok(None),
                    },
                    _ => return Ok(None),
                };
                self.meter.fuel_for_bytes(data.len() as u64)?;
                self.meter.take_memory(data.len() as u64)?;
                let node = if kind == "bytes" {
                    NodeData::Bytes(Cow::Owned(data))
                } else {
                    NodeData::ByteArray(Cow::Owned(data))
                };
                self.new_node(node, 0).map(Some)
            }
            ("_codecs" | "codecs", "encode") => {
                let (text, encoding) = match argv.as_slice() {
                    [t] => (*t, None),
                    [t, e] => (*t, Some(*e)),
                    _ => return Ok(None),
                };
                let encoding = match encoding {
                    None => "utf-8".to_owned(),
                    Some(e) => match self.node(e)? {
                        Node::Str(s) => String::from_utf8_lossy(s)
                            .to_ascii_lowercase()
                            .replace('_', "-"),
                        _ => return Ok(None),
                    },
                };
                let Node::Str(s) = self.node(text)? else {
                    return Ok(None);
                };
                let bytes = match encoding.as_str() {
                    "latin1" | "latin-1" | "iso-8859-1" | "iso8859-1" | "l1" => {
                        // One byte per code point: size the buffer exactly and check the
                        // budget before allocating it.
                        let mut count = 0u64;
                        let mut rest: &[u8] = s;
                        while let Some((_, n)) = crate::pyfmt::next_code_point(rest) {
                            count = count.saturating_add(1);
                            rest = rest.get(n..).unwrap_or(&[]);
                        }
                        self.meter.check_memory(count)?;
                        let mut out = Vec::new();
                        out.try_reserve_exact(usize::try_from(count).unwrap_or(usize::MAX))
                            .map_err(|_| Error::limit(Resource::Memory, 0, count, 0))?;
                        let mut rest: &[u8] = s;
                        while let Some((cp, n)) = crate::pyfmt::next_code_point(rest) {
                            let byte = u8::try_from(cp).map_err(|_| {
                                malformed("character out of latin-1 range in codecs.encode")
                            })?;
                            out.push(byte);
                            rest = rest.get(n..).unwrap_or(&[]);
                        }
                        out
                    }
                    "utf-8" | "utf8" => {
                        if crate::graph::has_surrogates(s) {
                            return Err(malformed("surrogate in codecs.encode(..., 'utf-8')"));
                        }
                        s.to_vec()
                    }
                    _ => return Ok(None),
                };
                self.meter.fuel_for_bytes(bytes.len() as u64)?;
                self.meter.take_memory(bytes.len() as u64)?;
                self.new_node(NodeData::Bytes(Cow::Owned(bytes)), 0)
                    .map(Some)
            }
            _ => Ok(None),
        }
    }

    fn check_callable(&self, id: NodeId, operation: &'static str) -> Result<(), Error> {
        let node = self.node(id)?;
        if node.is_callable_kind() {
            Ok(())
        } else {
            Err(mismatch(operation, node.type_name()))
        }
    }

    fn check_tuple(&self, id: NodeId, operation: &'static str) -> Result<(), Error> {
        match self.node(id)? {
            Node::Tuple(_) => Ok(()),
            other => Err(mismatch(operation, other.type_name())),
        }
    }

    // ----- memo --------------------------------------------------------------------

    #[inline(always)]
    fn memo_put(&mut self, index: u64) -> Result<(), Error> {
        let top = self.top()?;
        self.memo.put(index, top, &mut self.meter)
    }

    #[inline(always)]
    fn memo_get(&mut self, index: u64) -> Result<(), Error> {
        let id = self
            .memo
            .get(index)
            .ok_or_else(|| Error::new(ErrorKind::MemoMissing(index), 0, None))?;
        self.push(id)
    }

    /// A text memo index (PUT/GET): `int(s, 10)`, non-negative.
    fn text_index(&mut self, what: &'static str, needs_stack: bool) -> Result<u64, Error> {
        let full = self.arg_line()?;
        // `PyLong_FromString` reads a C string: an embedded NUL ends the index.
        let line = text::until_nul(&full);
        self.check_digits_before_parsing(line, |l| text::python_int_digit_count(l, 10))?;
        if needs_stack {
            self.top()?; // CPython checks the stack before parsing the index
        }
        let lit = text::python_int(line, 10).ok_or_else(|| malformed("invalid memo index"))?;
        let value = self.int_from_literal(&lit)?;
        match value {
            IntValue::Small(i) if i >= 0 => Ok(i as u64),
            IntValue::Small(_) => Err(malformed(what)),
            IntValue::Big(b) if b.is_negative() => Err(malformed(what)),
            IntValue::Big(_) => Err(malformed("memo index too large")),
        }
    }

    // ----- dispatch ----------------------------------------------------------------

    /// Inlined into the loop of [`Machine::execute`], its only caller, so the hot
    /// opcodes do not pay a call's register saves on every byte.
    #[inline(always)]
    fn op(&mut self, byte: u8) -> Result<Flow, Error> {
        let Some(op) = Opcode::from_byte(byte) else {
            return Err(Error::new(ErrorKind::UnknownOpcode(byte), 0, None));
        };
        match op {
            Opcode::Stop => {
                let root = self.pop()?;
                return Ok(Flow::Stop(root));
            }
            Opcode::Proto => {
                let v = self.u8_arg()?;
                if v > HIGHEST_PROTOCOL {
                    return Err(Error::new(ErrorKind::UnsupportedProtocol(v), 0, None));
                }
                self.proto = v;
                self.max_proto = self.max_proto.max(v);
            }
            Opcode::Frame => {
                let len = self.u64_arg()?;
                let end = self.src.position().saturating_add(len);
                self.meter.input_until(end)?;
                if !self.src.has_at_least(len)? {
                    return Err(Error::new(ErrorKind::Eof, 0, None));
                }
            }
            Opcode::Mark => {
                let depth = self.marks.len().saturating_add(1);
                self.meter.depth(depth as u64)?;
                self.meter.reserve(&mut self.marks, 1)?;
                self.marks.push(self.stack.len());
            }
            Opcode::Pop => {
                if self.marks.last() == Some(&self.stack.len()) {
                    self.marks.pop();
                } else {
                    self.discard()?;
                }
            }
            Opcode::PopMark => {
                let mark = self.pop_mark()?;
                if self.pending > 0 {
                    let dropped = self.stack.get(mark..).unwrap_or(&[]);
                    let markers = dropped.iter().filter(|id| is_pending(**id)).count();
                    self.pending = self.pending.saturating_sub(markers);
                }
                self.stack.truncate(mark);
            }
            Opcode::Dup => {
                let top = self.top()?;
                self.push(top)?;
            }
            Opcode::None => self.push_singleton(0, NodeData::None)?,
            Opcode::NewTrue => self.push_singleton(1, NodeData::Bool(true))?,
            Opcode::NewFalse => self.push_singleton(2, NodeData::Bool(false))?,
            Opcode::Int => {
                let line = self.arg_line()?;
                self.check_digits_before_parsing(&line, text::int_line_big_digits)?;
                match text::int_line(&line)
                    .ok_or_else(|| malformed("could not convert string to int"))?
                {
                    IntLine::Bool(b) => {
                        let slot = if b { 1 } else { 2 };
                        self.push_singleton(slot, NodeData::Bool(b))?
                    }
                    IntLine::Small(i) => self.push_small_int(i)?,
                    IntLine::Big(lit) => {
                        let v = self.int_from_literal(&lit)?;
                        self.push_int(v)?;
                    }
                }
            }
            Opcode::Long => {
                let line = self.arg_line()?;
                self.check_digits_before_parsing(&line, text::long_line_digits)?;
                let lit =
                    text::long_line(&line).ok_or_else(|| malformed("invalid literal for LONG"))?;
                let v = self.int_from_literal(&lit)?;
                self.push_int(v)?;
            }
            Opcode::BinInt => {
                let v = self.i32_arg()?;
                self.push_small_int(i64::from(v))?;
            }
            Opcode::BinInt1 => {
                let v = self.u8_arg()?;
                self.push_small_int(i64::from(v))?;
            }
            Opcode::BinInt2 => {
                let v = self.u16_arg()?;
                self.push_small_int(i64::from(v))?;
            }
            Opcode::Long1 => {
                let len = self.u8_arg()?;
                self.meter.int_bytes(u64::from(len))?;
                // Not kept as bytes: the int's limbs are what is charged (push_int).
                let bytes = self.transient_payload(u64::from(len))?;
                match crate::bigint::i64_from_signed_le(&bytes) {
                    // Most LONG1 ints fit in 64 bits (the pickler writes LONG1 for
                    // anything beyond 32): no detour through the big-int code.
                    Some(v) => self.push_small_int(v)?,
                    None => self.push_int(BigInt::from_signed_le(&bytes))?,
                }
            }
            Opcode::Long4 => {
                let len = {
                    let n = self.i32_arg()?;
                    u64::try_from(n)
                        .map_err(|_| malformed("LONG pickle has negative byte count"))?
                };
                self.meter.int_bytes(len)?;
                // Not kept as bytes: the int's limbs are what is charged (push_int).
                let bytes = self.transient_payload(len)?;
                let v = BigInt::from_signed_le(&bytes);
                self.push_int(v)?;
            }
            Opcode::Float => {
                let line = self.arg_line()?;
                let f = text::float_line(&line)
                    .ok_or_else(|| malformed("could not convert string to float"))?;
                self.push_new(NodeData::Float(f))?;
            }
            Opcode::BinFloat => {
                let bits = u64::from_be_bytes(self.fixed::<8>()?);
                self.push_new(NodeData::Float(f64::from_bits(bits)))?;
            }
            Opcode::String => {
                let line = self.line()?;
                let bytes = text::string_literal(&line).map_err(malformed)?;
                self.meter.check_memory(bytes.len() as u64)?;
                self.push_py2_str(Cow::Owned(bytes))?;
            }
            Opcode::BinString => {
                // The C unpickler reads this length unsigned (calc_binsize), unlike pickle.py.
                let len = u64::from(self.u32_arg()?);
                let bytes = self.payload(len)?;
                self.push_py2_str(bytes)?;
            }
            Opcode::ShortBinString => {
                let len = u64::from(self.u8_arg()?);
                let bytes = self.payload(len)?;
                self.push_py2_str(bytes)?;
            }
            Opcode::Unicode => {
                let line = self.line()?;
                let len = text::raw_unicode_escape_len(&line).map_err(malformed)?;
                self.meter.check_memory(len as u64)?;
                let utf8 = text::raw_unicode_escape(&line).map_err(malformed)?;
                let len = utf8.len();
                self.push_payload(NodeData::Str(Cow::Owned(utf8)), len)?;
            }
            Opcode::ShortBinUnicode | Opcode::BinUnicode | Opcode::BinUnicode8 => {
                let len = match op {
                    Opcode::ShortBinUnicode => u64::from(self.u8_arg()?),
                    Opcode::BinUnicode => u64::from(self.u32_arg()?),
                    _ => self.u64_arg()?,
                };
                let bytes = self.payload(len)?;
                self.push_str(bytes)?;
            }
            Opcode::ShortBinBytes | Opcode::BinBytes | Opcode::BinBytes8 | Opcode::ByteArray8 => {
                let len = match op {
                    Opcode::ShortBinBytes => u64::from(self.u8_arg()?),
                    Opcode::BinBytes => u64::from(self.u32_arg()?),
                    _ => self.u64_arg()?,
                };
                let bytes = self.payload(len)?;
                let n = bytes.len();
                if op == Opcode::ByteArray8 {
                    self.push_payload(NodeData::ByteArray(bytes), n)?;
                } else {
                    self.push_payload(NodeData::Bytes(bytes), n)?;
                }
            }
            Opcode::EmptyTuple => self.push_empty_run(byte, PENDING_TUPLE)?,
            Opcode::Tuple1 | Opcode::Tuple2 | Opcode::Tuple3 => {
                let n = match op {
                    Opcode::Tuple1 => 1,
                    Opcode::Tuple2 => 2,
                    _ => 3,
                };
                let start = self
                    .stack
                    .len()
                    .checked_sub(n)
                    .filter(|s| *s >= self.fence())
                    .ok_or_else(|| self.underflow())?;
                let id = self.container_from_stack(NodeData::Tuple, start)?;
                self.push(id)?;
            }
            Opcode::Tuple | Opcode::List | Opcode::FrozenSet => {
                let mark = self.pop_mark()?;
                let id = match op {
                    Opcode::Tuple => self.container_from_stack(NodeData::Tuple, mark)?,
                    Opcode::List => self.container_from_stack(NodeData::List, mark)?,
                    _ => {
                        self.take_items_from(mark)?;
                        let id = self.new_node(NodeData::FrozenSet(Vec::new()), 1)?;
                        let items = std::mem::take(&mut self.scratch);
                        let r = self.with_key_index(id, |m, index| {
                            items
                                .iter()
                                .try_for_each(|item| m.set_add(id, *item, index))
                        });
                        self.scratch = items;
                        r?;
                        id
                    }
                };
                self.push(id)?;
            }
            Opcode::EmptyList => self.push_empty_run(byte, PENDING_LIST)?,
            Opcode::EmptyDict => self.push_empty_run(byte, PENDING_DICT)?,
            Opcode::EmptySet => self.push_empty_run(byte, PENDING_SET)?,
            Opcode::Dict => {
                let mark = self.pop_mark()?;
                if (self.stack.len().saturating_sub(mark)) % 2 != 0 {
                    return Err(malformed("odd number of items for DICT"));
                }
                self.take_items_from(mark)?;
                let id = self.new_node(NodeData::Dict(Vec::new()), 1)?;
                self.setitems_scratch(id)?;
                self.push(id)?;
            }
            Opcode::Append => {
                // CPython's do_append(len - 1): the value and the list below it must
                // both lie above the fence.
                let from = self
                    .stack
                    .len()
                    .checked_sub(1)
                    .filter(|from| *from > self.fence())
                    .ok_or_else(|| self.underflow())?;
                let at = from.checked_sub(1).ok_or_else(|| self.underflow())?;
                let target = self.real_at(at)?;
                self.append_from(target, from)?;
            }
            Opcode::Appends => {
                if let Some((target, from)) = self.marked_items(None)? {
                    self.append_from(target, from)?;
                }
            }
            Opcode::SetItem => {
                let len = self.stack.len();
                let (Some(items), Some(at)) = (len.checked_sub(2), len.checked_sub(3)) else {
                    return Err(self.underflow());
                };
                if items <= self.fence() {
                    return Err(self.underflow());
                }
                let target = self.real_at(at)?;
                self.take_items_from(items)?;
                self.setitems_scratch(target)?;
            }
            Opcode::SetItems => {
                if let Some((target, from)) =
                    self.marked_items(Some("odd number of items for SETITEMS"))?
                {
                    self.take_items_from(from)?;
                    self.setitems_scratch(target)?;
                }
            }
            Opcode::AddItems => {
                if let Some((target, from)) = self.marked_items(None)? {
                    self.take_items_from(from)?;
                    self.additems_scratch(target)?;
                }
            }
            Opcode::Get => {
                let index = self.text_index("negative GET index", false)?;
                self.memo_get(index)?;
            }
            Opcode::BinGet => {
                let index = u64::from(self.u8_arg()?);
                self.memo_get(index)?;
            }
            Opcode::LongBinGet => {
                let index = u64::from(self.u32_arg()?);
                self.memo_get(index)?;
            }
            Opcode::Put => {
                let index = self.text_index("negative PUT argument", true)?;
                self.memo_put(index)?;
            }
            Opcode::BinPut => {
                let index = u64::from(self.u8_arg()?);
                self.memo_put(index)?;
            }
            Opcode::LongBinPut => {
                let index = u64::from(self.u32_arg()?);
                self.memo_put(index)?;
            }
            Opcode::Memoize => {
                let index = self.memo.count;
                self.memo_put(index)?;
            }
            Opcode::Global => {
                let (module, name) = self.read_global_lines(false)?;
                let id = self.global_node(op, &module, &name)?;
                self.push(id)?;
            }
            Opcode::StackGlobal => {
                let name = self.pop()?;
                let module = self.pop()?;
                let as_string = |node: Node<'_>| match node {
                    Node::Str(s) => std::str::from_utf8(s).map(str::to_owned).ok(),
                    _ => None,
                };
                let module = as_string(self.node(module)?);
                let name = as_string(self.node(name)?);
                let (Some(module), Some(name)) = (module, name) else {
                    return Err(malformed("STACK_GLOBAL requires str"));
                };
                let id = self.global_node(op, &module, &name)?;
                self.push(id)?;
            }
            Opcode::Inst => {
                let mark = self.pop_mark()?;
                let (module, name) = self.read_global_lines(true)?;
                let callable = self.global_node(op, &module, &name)?;
                let args = self.container_from_stack(NodeData::Tuple, mark)?;
                self.judge_call(op, CallOp::Inst, callable, args, None)?;
                let id = self.object_node(Object::new(CallOp::Inst, callable, args, None))?;
                self.push(id)?;
            }
            Opcode::Obj => {
                let mark = self.pop_mark()?;
                if self.stack.len().saturating_sub(mark) < 1 {
                    return Err(self.underflow());
                }
                let callable = self.real_at(mark)?;
                let args = self.container_from_stack(NodeData::Tuple, mark.saturating_add(1))?;
                self.stack.truncate(mark);
                self.check_callable(callable, "OBJ")?;
                self.judge_call(op, CallOp::Obj, callable, args, None)?;
                let id = self.object_node(Object::new(CallOp::Obj, callable, args, None))?;
                self.push(id)?;
            }
            Opcode::Reduce => {
                let args = self.pop()?;
                let callable = self.pop()?;
                self.check_tuple(args, "REDUCE arguments")?;
                self.check_callable(callable, "REDUCE")?;
                self.judge_call(op, CallOp::Reduce, callable, args, None)?;
                let id = match self.fold_reconstructor(callable, args)? {
                    Some(id) => id,
                    None => self.object_node(Object::new(CallOp::Reduce, callable, args, None))?,
                };
                self.push(id)?;
            }
            Opcode::NewObj | Opcode::NewObjEx => {
                let kwargs = if op == Opcode::NewObjEx {
                    Some(self.pop()?)
                } else {
                    None
                };
                let args = self.pop()?;
                let cls = self.pop()?;
                self.check_callable(cls, "NEWOBJ class")?;
                self.check_tuple(args, "NEWOBJ arguments")?;
                let call = if let Some(kw) = kwargs {
                    match self.node(kw)? {
                        // CPython calls `cls.__new__(cls, *args, **kwargs)` now, and a
                        // keyword that is not a str is its TypeError ("keywords must
                        // be strings"), whatever `cls` is.
                        Node::Dict(pairs) => {
                            for &(key, _) in pairs {
                                match self.node(key)? {
                                    Node::Str(_) => {}
                                    other => {
                                        return Err(mismatch(
                                            "NEWOBJ_EX keyword name",
                                            other.type_name(),
                                        ))
                                    }
                                }
                            }
                        }
                        other => return Err(mismatch("NEWOBJ_EX kwargs", other.type_name())),
                    }
                    CallOp::NewObjEx
                } else {
                    CallOp::NewObj
                };
                self.judge_call(op, call, cls, args, kwargs)?;
                let id = self.object_node(Object::new(call, cls, args, kwargs))?;
                self.push(id)?;
            }
            Opcode::Build => {
                let state = self.pop()?;
                let target = self.top()?;
                let found = match self.graph.get_mut(target) {
                    Some(NodeData::Object(obj)) => {
                        self.meter.reserve(&mut obj.state, 1)?;
                        obj.state.push(state);
                        None
                    }
                    // An int or float (inline or stored) has no arena node.
                    _ => match self.graph.get(target) {
                        Some(node) => Some(node.type_name()),
                        None => return Err(malformed("dangling node id")),
                    },
                };
                match found {
                    None => {
                        self.nest(target, state)?;
                        self.inline_after_build(target, state)?;
                    }
                    Some(found) => {
                        // CPython's default BUILD: a state of None, or (None, {}) with an
                        // empty slot-state dict, touches nothing; anything else needs a
                        // __dict__ or setattr, which built-in values do not have.
                        let is_noop = match self.node(state)? {
                            Node::None => true,
                            Node::Tuple([a, b]) => {
                                matches!(self.node(*a)?, Node::None)
                                    && matches!(self.node(*b)?, Node::Dict([]))
                            }
                            _ => false,
                        };
                        if !is_noop {
                            return Err(mismatch("BUILD", found));
                        }
                    }
                }
            }
            Opcode::PersId => {
                let allowed = self.decoder.policy.allows_persistent_ids();
                let refusal = ErrorKind::PersistentIdRefused;
                self.judge_feature(op, Event::PersistentId, allowed, refusal)?;
                let line = self.line()?;
                if !line.is_ascii() {
                    return Err(malformed(
                        "persistent IDs in protocol 0 must be ASCII strings",
                    ));
                }
                let len = line.len();
                self.meter.take_memory(len as u64)?;
                let pid = self.new_node(NodeData::Str(line), 0)?;
                let id = self.new_node(NodeData::PersId(pid), 1)?;
                self.push(id)?;
            }
            Opcode::BinPersId => {
                let allowed = self.decoder.policy.allows_persistent_ids();
                let refusal = ErrorKind::PersistentIdRefused;
                self.judge_feature(op, Event::PersistentId, allowed, refusal)?;
                let pid = self.pop()?;
                let height = self.children_height(&[pid])?;
                let id = self.new_node(NodeData::PersId(pid), height)?;
                self.push(id)?;
            }
            Opcode::Ext1 | Opcode::Ext2 | Opcode::Ext4 => {
                let code = match op {
                    Opcode::Ext1 => u32::from(self.u8_arg()?),
                    Opcode::Ext2 => u32::from(self.u16_arg()?),
                    // Signed in the C unpickler: a code with the top bit set is <= 0.
                    _ => u32::try_from(self.i32_arg()?).unwrap_or(0),
                };
                if code == 0 {
                    return Err(malformed("EXT specifies code <= 0"));
                }
                let allowed = self.decoder.policy.allows_extensions();
                let refusal = ErrorKind::ExtensionRefused(code);
                self.judge_feature(op, Event::Extension(code), allowed, refusal)?;
                self.push_new(NodeData::Ext(code))?;
            }
            Opcode::NextBuffer => match &self.decoder.buffers {
                Some(buffers) => {
                    let data = buffers
                        .get(self.buffers_used)
                        .ok_or_else(|| Error::new(ErrorKind::BufferMissing, 0, None))?;
                    self.buffers_used = self.buffers_used.saturating_add(1);
                    self.meter.check_memory(data.len() as u64)?;
                    let copy = data.clone();
                    let n = copy.len();
                    self.push_payload(NodeData::ByteArray(Cow::Owned(copy)), n)?;
                }
                None => {
                    let allowed = self.decoder.policy.allows_buffer_placeholders();
                    let refusal = ErrorKind::BufferMissing;
                    self.judge_feature(op, Event::Buffer, allowed, refusal)?;
                    let index = self.buffer_placeholders;
                    self.buffer_placeholders = index.saturating_add(1);
                    self.push_new(NodeData::Buffer {
                        index,
                        readonly: false,
                    })?;
                }
            },
            Opcode::ReadOnlyBuffer => {
                let top = self.top()?;
                let replacement = match self.node(top)? {
                    Node::Bytes(_)
                    | Node::Object(_)
                    | Node::Global(_)
                    | Node::PersId(_)
                    | Node::Ext(_) => None,
                    Node::ByteArray(data) => Some(NodeData::Bytes(Cow::Owned(data.to_vec()))),
                    Node::Buffer { index, .. } => Some(NodeData::Buffer {
                        index,
                        readonly: true,
                    }),
                    other => return Err(mismatch("READONLY_BUFFER", other.type_name())),
                };
                if let Some(node) = replacement {
                    // A new node: other references to a shared bytearray stay writable.
                    let view = matches!(node, NodeData::Bytes(_));
                    if let NodeData::Bytes(b) = &node {
                        self.meter.take_memory(b.len() as u64)?;
                    }
                    let id = self.new_node(node, 0)?;
                    if view {
                        // CPython's read-only memoryview of a bytearray: unhashable.
                        self.keys.add_view(id, &mut self.meter)?;
                    }
                    self.pop()?;
                    self.push(id)?;
                }
            }
        }
        Ok(Flow::Continue)
    }
}
