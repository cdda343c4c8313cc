//! Budgets: [`Limits`] (what the caller allows), [`Usage`] (the peak of each resource
//! a decode used) and the meter that charges resources as they are taken.
//!
//! Every check is `requested > limit` with checked or saturating arithmetic, so a
//! decode that used exactly `Usage` succeeds under `Limits` equal to that usage:
//! the accounting is exact, not approximate (the `limits` fuzz target checks it).

use crate::error::{Error, Resource};

/// Hard caps on every resource that grows with the input.
///
/// [`Limits::default()`] is meant for untrusted input: large enough for real model
/// checkpoints and caches, small enough that a hostile stream fails in milliseconds
/// with a typed error. [`Limits::unbounded()`] turns every cap off (only for input you
/// trust, or to measure [`Usage`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Limits {
    /// Bytes of input one pickle may consume (up to and including STOP).
    ///
    /// Default 1 GiB. Protects against streams that never end; also the first check on
    /// every length claim (BINBYTES8, FRAME, ...), so a claim of 2^62 bytes fails before
    /// anything is read or reserved.
    pub max_input_bytes: u64,
    /// Fuel: 1 per opcode, plus 1 per 64 payload bytes copied or hashed, plus the
    /// quadratic work of text integer conversion and key comparisons.
    ///
    /// Default 100,000,000 (well under a second). Bounds CPU time independently of
    /// memory: without it, quadratic key comparisons or big-int parsing could spin.
    pub max_steps: u64,
    /// Bytes the decoder holds: graph nodes, payloads (even when borrowed from the
    /// input, so that slice and stream decodes agree), container slots including spare
    /// capacity, the value and mark stacks, the memo and the key indexes.
    ///
    /// Default 256 MiB. The real heap stays within this plus a small constant; it does
    /// not cover the caller's own input buffer.
    pub max_memory_bytes: u64,
    /// Container nesting (a list in a list in a list...) and open MARKs.
    ///
    /// Default 1000, CPython's default recursion limit: Python itself cannot pickle,
    /// print or compare deeper data, so deeper streams are hand-made. Our own views
    /// never recurse on input depth; this protects the *consumers* of the graph.
    /// Nesting is measured when an item is inserted; a container that is mutated
    /// through the memo after it was nested is counted at each insertion.
    pub max_depth: u64,
    /// Distinct memo entries (PUT, BINPUT, LONG_BINPUT, MEMOIZE).
    ///
    /// Default 4,194,304. The memo is sparse, so a huge index costs one entry, not
    /// gigabytes as in CPython's dense memo.
    pub max_memo_entries: u64,
    /// Items in any one container, and arguments of one call.
    ///
    /// Default 16,777,216.
    pub max_container_len: u64,
    /// Digits of a text integer (INT, LONG) and of a text memo index.
    ///
    /// Default 4300, CPython's `sys.get_int_max_str_digits()` default: text-to-int
    /// conversion is quadratic, which is why CPython caps it too.
    pub max_int_digits: u64,
    /// Payload bytes of a binary integer (LONG1, LONG4).
    ///
    /// Default 8192 (about 19,700 decimal digits). Printing such an integer in decimal
    /// is quadratic in its size, so the views stay fast within this bound.
    pub max_int_bytes: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_input_bytes: 1 << 30,
            max_steps: 100_000_000,
            max_memory_bytes: 256 << 20,
            max_depth: 1000,
            max_memo_entries: 1 << 22,
            max_container_len: 1 << 24,
            max_int_digits: 4300,
            max_int_bytes: 8192,
        }
    }
}

impl Limits {
    /// No caps at all. Only for trusted input or for measuring [`Usage`].
    pub fn unbounded() -> Limits {
        Limits {
            max_input_bytes: u64::MAX,
            max_steps: u64::MAX,
            max_memory_bytes: u64::MAX,
            max_depth: u64::MAX,
            max_memo_entries: u64::MAX,
            max_container_len: u64::MAX,
            max_int_digits: u64::MAX,
            max_int_bytes: u64::MAX,
        }
    }

    /// Limits exactly equal to a measured usage: the same stream decodes under them.
    pub fn from_usage(usage: &Usage) -> Limits {
        Limits {
            max_input_bytes: usage.input_bytes,
            max_steps: usage.steps,
            max_memory_bytes: usage.memory_bytes,
            max_depth: usage.depth,
            max_memo_entries: usage.memo_entries,
            max_container_len: usage.container_len,
            max_int_digits: usage.int_digits,
            max_int_bytes: usage.int_bytes,
        }
    }

    /// The limit configured for `resource` (`u64::MAX` for resources these limits do
    /// not cover, such as view expansion).
    pub fn get(&self, resource: Resource) -> u64 {
        match resource {
            Resource::InputBytes => self.max_input_bytes,
            Resource::Steps => self.max_steps,
            Resource::Memory => self.max_memory_bytes,
            Resource::Depth => self.max_depth,
            Resource::MemoEntries => self.max_memo_entries,
            Resource::ContainerLen => self.max_container_len,
            Resource::IntDigits => self.max_int_digits,
            Resource::IntBytes => self.max_int_bytes,
            Resource::Expansion
            | Resource::ExpansionBytes
            | Resource::OutputBytes
            | Resource::ContainerLayers
            | Resource::Pieces => u64::MAX,
        }
    }

    /// Sets the limit for `resource` (ignored for resources these limits do not cover).
    pub fn set(&mut self, resource: Resource, value: u64) {
        match resource {
            Resource::InputBytes => self.max_input_bytes = value,
            Resource::Steps => self.max_steps = value,
            Resource::Memory => self.max_memory_bytes = value,
            Resource::Depth => self.max_depth = value,
            Resource::MemoEntries => self.max_memo_entries = value,
            Resource::ContainerLen => self.max_container_len = value,
            Resource::IntDigits => self.max_int_digits = value,
            Resource::IntBytes => self.max_int_bytes = value,
            Resource::Expansion
            | Resource::ExpansionBytes
            | Resource::OutputBytes
            | Resource::ContainerLayers
            | Resource::Pieces => {}
        }
    }

    /// Every resource a decode is limited by.
    pub const RESOURCES: [Resource; 8] = [
        Resource::InputBytes,
        Resource::Steps,
        Resource::Memory,
        Resource::Depth,
        Resource::MemoEntries,
        Resource::ContainerLen,
        Resource::IntDigits,
        Resource::IntBytes,
    ];
}

/// The peak of each resource one decode used. `Limits::from_usage(&u)` decodes the
/// same stream again; anything less fails.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Usage {
    /// Input bytes consumed, up to and including STOP.
    pub input_bytes: u64,
    /// Fuel burned.
    pub steps: u64,
    /// Peak bytes held.
    pub memory_bytes: u64,
    /// Deepest nesting (containers or open MARKs).
    pub depth: u64,
    /// Memo entries at the end (entries are never removed).
    pub memo_entries: u64,
    /// Longest container.
    pub container_len: u64,
    /// Longest text integer, in digits.
    pub int_digits: u64,
    /// Longest binary integer, in bytes.
    pub int_bytes: u64,
}

impl Usage {
    /// The usage figure for `resource` (0 for resources not tracked here).
    pub fn get(&self, resource: Resource) -> u64 {
        match resource {
            Resource::InputBytes => self.input_bytes,
            Resource::Steps => self.steps,
            Resource::Memory => self.memory_bytes,
            Resource::Depth => self.depth,
            Resource::MemoEntries => self.memo_entries,
            Resource::ContainerLen => self.container_len,
            Resource::IntDigits => self.int_digits,
            Resource::IntBytes => self.int_bytes,
            Resource::Expansion
            | Resource::ExpansionBytes
            | Resource::OutputBytes
            | Resource::ContainerLayers
            | Resource::Pieces => 0,
        }
    }
}

/// Bytes of payload per unit of fuel.
pub(crate) const BYTES_PER_STEP: u64 = 64;

/// Charges resources against [`Limits`] and records the peaks in [`Usage`].
///
/// The meter knows the offset of the opcode being executed, so every error it returns
/// already points at the right byte.
#[derive(Debug)]
pub(crate) struct Meter {
    pub(crate) limits: Limits,
    pub(crate) usage: Usage,
    memory_now: u64,
    pub(crate) offset: u64,
}

impl Meter {
    pub(crate) fn new(limits: Limits) -> Meter {
        Meter {
            limits,
            usage: Usage::default(),
            memory_now: 0,
            offset: 0,
        }
    }

    #[cold]
    fn exceeded(&self, resource: Resource, requested: u64) -> Error {
        Error::limit(resource, self.limits.get(resource), requested, self.offset)
    }

    /// One unit of fuel for an opcode.
    #[inline]
    pub(crate) fn step(&mut self) -> Result<(), Error> {
        self.fuel(1)
    }

    /// `n` units of fuel.
    #[inline]
    pub(crate) fn fuel(&mut self, n: u64) -> Result<(), Error> {
        let next = self.usage.steps.saturating_add(n);
        if next > self.limits.max_steps {
            return Err(self.exceeded(Resource::Steps, next));
        }
        self.usage.steps = next;
        Ok(())
    }

    /// Fuel for touching `bytes` bytes of payload.
    #[inline]
    pub(crate) fn fuel_for_bytes(&mut self, bytes: u64) -> Result<(), Error> {
        self.fuel(bytes / BYTES_PER_STEP)
    }

    /// Would taking `bytes` more memory stay within the budget? (No charge.)
    pub(crate) fn check_memory(&self, bytes: u64) -> Result<(), Error> {
        let next = self.memory_now.saturating_add(bytes);
        if next > self.limits.max_memory_bytes {
            return Err(self.exceeded(Resource::Memory, next));
        }
        Ok(())
    }

    /// Takes `bytes` of memory.
    #[inline]
    pub(crate) fn take_memory(&mut self, bytes: u64) -> Result<(), Error> {
        let next = self.memory_now.saturating_add(bytes);
        if next > self.limits.max_memory_bytes {
            return Err(self.exceeded(Resource::Memory, next));
        }
        self.memory_now = next;
        if next > self.usage.memory_bytes {
            self.usage.memory_bytes = next;
        }
        Ok(())
    }

    /// Gives back memory taken earlier (e.g. a scratch buffer).
    pub(crate) fn release_memory(&mut self, bytes: u64) {
        self.memory_now = self.memory_now.saturating_sub(bytes);
    }

    /// Records a nesting depth.
    #[inline]
    pub(crate) fn depth(&mut self, depth: u64) -> Result<(), Error> {
        if depth > self.limits.max_depth {
            return Err(self.exceeded(Resource::Depth, depth));
        }
        if depth > self.usage.depth {
            self.usage.depth = depth;
        }
        Ok(())
    }

    /// Records the memo size.
    pub(crate) fn memo_entries(&mut self, entries: u64) -> Result<(), Error> {
        if entries > self.limits.max_memo_entries {
            return Err(self.exceeded(Resource::MemoEntries, entries));
        }
        if entries > self.usage.memo_entries {
            self.usage.memo_entries = entries;
        }
        Ok(())
    }

    /// Records a container length.
    #[inline]
    pub(crate) fn container_len(&mut self, len: u64) -> Result<(), Error> {
        if len > self.limits.max_container_len {
            return Err(self.exceeded(Resource::ContainerLen, len));
        }
        if len > self.usage.container_len {
            self.usage.container_len = len;
        }
        Ok(())
    }

    /// Records the digits of a text integer.
    pub(crate) fn int_digits(&mut self, digits: u64) -> Result<(), Error> {
        if digits > self.limits.max_int_digits {
            return Err(self.exceeded(Resource::IntDigits, digits));
        }
        if digits > self.usage.int_digits {
            self.usage.int_digits = digits;
        }
        Ok(())
    }

    /// Records the bytes of a binary integer.
    pub(crate) fn int_bytes(&mut self, bytes: u64) -> Result<(), Error> {
        if bytes > self.limits.max_int_bytes {
            return Err(self.exceeded(Resource::IntBytes, bytes));
        }
        if bytes > self.usage.int_bytes {
            self.usage.int_bytes = bytes;
        }
        Ok(())
    }

    /// Checks that input up to `end` (exclusive, from the start of the pickle) may be read.
    #[inline]
    pub(crate) fn input_until(&mut self, end: u64) -> Result<(), Error> {
        if end > self.limits.max_input_bytes {
            return Err(self.exceeded(Resource::InputBytes, end));
        }
        if end > self.usage.input_bytes {
            self.usage.input_bytes = end;
        }
        Ok(())
    }

    /// Records the input consumed at the end of a decode (a FRAME may have asked for
    /// more, which then stays the figure).
    pub(crate) fn set_input_used(&mut self, used: u64) {
        if used > self.usage.input_bytes {
            self.usage.input_bytes = used;
        }
    }

    /// Makes room for `additional` more items in `vec`, charging the new capacity.
    ///
    /// Growth doubles (amortised O(1) pushes) but is charged before it happens, and the
    /// allocation is fallible, so a refused or failed growth is a memory-limit error.
    #[inline]
    pub(crate) fn reserve<T>(&mut self, vec: &mut Vec<T>, additional: usize) -> Result<(), Error> {
        let spare = vec.capacity().saturating_sub(vec.len());
        if spare >= additional {
            return Ok(());
        }
        self.grow(vec, additional)
    }

    /// Makes room for one more entry in `map`, charging `slot_bytes` per new slot of
    /// capacity before the map grows.
    pub(crate) fn reserve_map_slot<K: std::hash::Hash + Eq, V, H: std::hash::BuildHasher>(
        &mut self,
        map: &mut std::collections::HashMap<K, V, H>,
        slot_bytes: u64,
    ) -> Result<(), Error> {
        if map.len() < map.capacity() {
            return Ok(());
        }
        let old = map.capacity();
        let want = old.saturating_mul(2).max(4);
        self.take_memory((want.saturating_sub(old) as u64).saturating_mul(slot_bytes))?;
        if map.try_reserve(want.saturating_sub(map.len())).is_err() {
            return Err(self.exceeded(Resource::Memory, self.memory_now));
        }
        let extra = map.capacity().saturating_sub(want) as u64;
        self.take_memory(extra.saturating_mul(slot_bytes))
    }

    #[cold]
    #[inline(never)]
    fn grow<T>(&mut self, vec: &mut Vec<T>, additional: usize) -> Result<(), Error> {
        let len = vec.len();
        let old_cap = vec.capacity();
        let needed = len.saturating_add(additional);
        // Growth never depends on the limit, so the same stream takes the same steps
        // under any budget and `Usage` is exact: a budget one byte below it fails.
        let target = needed.max(old_cap.saturating_mul(2)).max(4);
        let item = std::mem::size_of::<T>() as u64;
        let growth = (target.saturating_sub(old_cap) as u64).saturating_mul(item);
        self.take_memory(growth)?;
        if vec.try_reserve_exact(target.saturating_sub(len)).is_err() {
            return Err(self.exceeded(Resource::Memory, self.memory_now));
        }
        let extra = (vec.capacity().saturating_sub(target) as u64).saturating_mul(item);
        if extra > 0 {
            self.take_memory(extra)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn exact_limit_passes_and_one_more_fails() {
        let mut limits = Limits::unbounded();
        limits.max_steps = 3;
        let mut meter = Meter::new(limits);
        meter.offset = 7;
        meter.fuel(3).ok();
        assert_eq!(meter.usage.steps, 3);
        let err = meter.step().err();
        let err = err.as_ref().map(|e| (e.kind().clone(), e.offset()));
        assert_eq!(
            err,
            Some((
                ErrorKind::Limit {
                    resource: Resource::Steps,
                    limit: 3,
                    requested: 4
                },
                7
            ))
        );
    }

    #[test]
    fn reserve_doubles_whatever_the_limit() {
        let mut limits = Limits::unbounded();
        limits.max_memory_bytes = 40;
        let mut meter = Meter::new(limits);
        let mut v: Vec<u32> = Vec::new();
        assert!(meter.reserve(&mut v, 1).is_ok());
        assert_eq!(meter.usage.memory_bytes, 16); // 4 slots of 4 bytes
        v.extend([1, 2, 3, 4]);
        assert!(meter.reserve(&mut v, 1).is_ok()); // 8 slots: 32 bytes
        assert_eq!(meter.usage.memory_bytes, 32);
        v.extend([5, 6, 7, 8]);
        // Doubling to 16 slots needs 64 bytes in all: refused, even though 9 would fit.
        let err = meter.reserve(&mut v, 1).err();
        assert_eq!(
            err.as_ref().map(|e| e.kind().clone()),
            Some(ErrorKind::Limit {
                resource: Resource::Memory,
                limit: 40,
                requested: 64
            })
        );
    }
}
