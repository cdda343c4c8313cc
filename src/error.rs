//! Errors: one boxed struct with a kind, the byte offset and the opcode.
//!
//! Like `serde_json` and `wasmparser`, the payload is boxed so that a
//! `Result<T, Error>` stays one pointer wide on the hot path, and every
//! constructor is `#[cold]`. Callers match on [`ErrorKind`], never on messages.

use std::fmt;

/// A resource that a [`Limits`](crate::Limits) field caps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Resource {
    /// Bytes of input consumed by one pickle.
    InputBytes,
    /// Fuel: one per opcode plus a charge proportional to payload work.
    Steps,
    /// Bytes held by the decoder: nodes, payloads, container slots, stacks, memo.
    Memory,
    /// Container nesting in the graph, and open MARKs.
    Depth,
    /// Distinct memo entries.
    MemoEntries,
    /// Items in one container (list, tuple, dict, set, or the items of an object).
    ContainerLen,
    /// Digits of a text integer (INT, LONG, and the memo indices of PUT/GET).
    IntDigits,
    /// Bytes of a binary integer (LONG1, LONG4).
    IntBytes,
    /// Nodes produced by a view that expands shared references into a tree.
    Expansion,
    /// Bytes a container reader produced: decompressed output and the pickles it hands
    /// out (`container::ContainerLimits::max_output_bytes`). A decompression bomb
    /// stops here.
    OutputBytes,
    /// Layers of containers inside containers (`ContainerLimits::max_nesting`).
    ContainerLayers,
    /// Pickles found in one file (`ContainerLimits::max_pieces`).
    Pieces,
    /// Bytes of str and bytes payload handed out by a view that expands shared
    /// references (the serde view): a shared 1 MiB bytes object referenced a million
    /// times is one value per reference but a terabyte of copies.
    ExpansionBytes,
}

impl Resource {
    /// The snake_case name used in the CLI and in corpus manifests.
    pub fn name(self) -> &'static str {
        match self {
            Resource::InputBytes => "input_bytes",
            Resource::Steps => "steps",
            Resource::Memory => "memory",
            Resource::Depth => "depth",
            Resource::MemoEntries => "memo_entries",
            Resource::ContainerLen => "container_len",
            Resource::IntDigits => "int_digits",
            Resource::IntBytes => "int_bytes",
            Resource::Expansion => "expansion",
            Resource::OutputBytes => "output_bytes",
            Resource::ContainerLayers => "container_layers",
            Resource::Pieces => "pieces",
            Resource::ExpansionBytes => "expansion_bytes",
        }
    }
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What went wrong. Every variant is data a caller can act on.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The input ended before STOP, or inside an opcode's argument.
    Eof,
    /// A byte that is not a pickle opcode.
    UnknownOpcode(u8),
    /// PROTO with a version above 5.
    UnsupportedProtocol(u8),
    /// An opcode needed more values than the stack holds above the innermost MARK.
    StackUnderflow,
    /// An opcode found a MARK where it needed a value (CPython: "unexpected MARK found").
    UnexpectedMark,
    /// An opcode needed a MARK and none is open (CPython: "could not find MARK").
    MarkMissing,
    /// An argument is not well formed: bad digits, bad quoting, bad UTF-8, odd item count...
    Malformed(&'static str),
    /// A value of the wrong type for the operation (e.g. APPEND onto a tuple).
    TypeMismatch {
        /// The operation that refused the value.
        operation: &'static str,
        /// The kind of value it found.
        found: &'static str,
    },
    /// GET of a memo index that was never PUT.
    MemoMissing(u64),
    /// A list, dict, set or bytearray (or a tuple holding one) used as a dict key or set item.
    Unhashable(&'static str),
    /// A budget was exceeded.
    Limit {
        /// Which budget.
        resource: Resource,
        /// The configured limit.
        limit: u64,
        /// What the stream asked for (at least `limit + 1`, or the claimed size).
        requested: u64,
    },
    /// The policy refused a global (names after Python 2 → 3 mapping).
    Forbidden {
        /// Module part, e.g. `os`.
        module: String,
        /// Name part, e.g. `system`.
        name: String,
    },
    /// PERSID/BINPERSID and the policy does not accept persistent ids.
    PersistentIdRefused,
    /// EXT1/EXT2/EXT4 and the policy does not accept extension codes.
    ExtensionRefused(u32),
    /// REDUCE, NEWOBJ, NEWOBJ_EX or OBJ of a callable that is not a global (the result
    /// of another call, a persistent id, an extension code), and the policy does not
    /// accept computed calls (see `Policy::allow_computed_calls`).
    ComputedCallRefused {
        /// The kind of callable found (`object`, `persid`, `ext`).
        callee: &'static str,
    },
    /// A call of an allowed global whose arguments break the rule the policy sets for
    /// it (e.g. `builtins.getattr` with a name that is not a listed literal).
    CallRefused {
        /// Module of the callable (after the Python 2 mapping).
        module: String,
        /// Its name.
        name: String,
        /// Which rule was broken, and how.
        reason: &'static str,
    },
    /// NEXT_BUFFER with no out-of-band buffers supplied, or too few.
    BufferMissing,
    /// Reading the input failed.
    Io(std::io::ErrorKind),
    /// A container layer this build cannot read: a compression method without the
    /// feature that reads it, or a format variant nothing here reads. Says which.
    Unsupported(&'static str),
}

impl ErrorKind {
    /// A short stable name (`eof`, `limit`, `forbidden`, ...), used by the CLI and manifests.
    pub fn name(&self) -> &'static str {
        match self {
            ErrorKind::Eof => "eof",
            ErrorKind::UnknownOpcode(_) => "unknown_opcode",
            ErrorKind::UnsupportedProtocol(_) => "unsupported_protocol",
            ErrorKind::StackUnderflow => "stack_underflow",
            ErrorKind::UnexpectedMark => "unexpected_mark",
            ErrorKind::MarkMissing => "mark_missing",
            ErrorKind::Malformed(_) => "malformed",
            ErrorKind::TypeMismatch { .. } => "type_mismatch",
            ErrorKind::MemoMissing(_) => "memo_missing",
            ErrorKind::Unhashable(_) => "unhashable",
            ErrorKind::Limit { .. } => "limit",
            ErrorKind::Forbidden { .. } => "forbidden",
            ErrorKind::PersistentIdRefused => "persid_refused",
            ErrorKind::ExtensionRefused(_) => "extension_refused",
            ErrorKind::ComputedCallRefused { .. } => "computed_call_refused",
            ErrorKind::CallRefused { .. } => "call_refused",
            ErrorKind::BufferMissing => "buffer_missing",
            ErrorKind::Io(_) => "io",
            ErrorKind::Unsupported(_) => "unsupported",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::Eof => f.write_str("input ended before STOP"),
            ErrorKind::UnknownOpcode(b) => write!(f, "unknown opcode 0x{b:02x}"),
            ErrorKind::UnsupportedProtocol(p) => write!(f, "unsupported pickle protocol {p}"),
            ErrorKind::StackUnderflow => f.write_str("stack underflow"),
            ErrorKind::UnexpectedMark => f.write_str("unexpected MARK"),
            ErrorKind::MarkMissing => f.write_str("could not find MARK"),
            ErrorKind::Malformed(why) => write!(f, "malformed: {why}"),
            ErrorKind::TypeMismatch { operation, found } => {
                write!(f, "{operation} cannot apply to {found}")
            }
            ErrorKind::MemoMissing(i) => write!(f, "memo index {i} was never stored"),
            ErrorKind::Unhashable(what) => write!(f, "unhashable {what} used as key"),
            ErrorKind::Limit {
                resource,
                limit,
                requested,
            } => write!(
                f,
                "limit exceeded: {resource} (limit {limit}, requested {requested})"
            ),
            ErrorKind::Forbidden { module, name } => {
                write!(f, "global {module}.{name} refused by policy")
            }
            ErrorKind::PersistentIdRefused => f.write_str("persistent id refused by policy"),
            ErrorKind::ExtensionRefused(code) => {
                write!(f, "extension code {code} refused by policy")
            }
            ErrorKind::ComputedCallRefused { callee } => {
                write!(
                    f,
                    "call of a computed callable ({callee}) refused by policy"
                )
            }
            ErrorKind::CallRefused {
                module,
                name,
                reason,
            } => write!(f, "call of {module}.{name} refused by policy: {reason}"),
            ErrorKind::BufferMissing => f.write_str("out-of-band buffer not supplied"),
            ErrorKind::Io(kind) => write!(f, "I/O error: {kind}"),
            ErrorKind::Unsupported(what) => write!(f, "unsupported: {what}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Inner {
    kind: ErrorKind,
    offset: u64,
    opcode: Option<u8>,
}

/// A decoding error: what, where (byte offset of the failing opcode) and which opcode.
#[derive(Clone, PartialEq, Eq)]
pub struct Error(Box<Inner>);

impl Error {
    /// Builds an error. `offset` is the byte offset of the opcode that failed.
    #[cold]
    pub fn new(kind: ErrorKind, offset: u64, opcode: Option<u8>) -> Error {
        Error(Box::new(Inner {
            kind,
            offset,
            opcode,
        }))
    }

    /// A budget error for `resource`.
    #[cold]
    pub fn limit(resource: Resource, limit: u64, requested: u64, offset: u64) -> Error {
        Error::new(
            ErrorKind::Limit {
                resource,
                limit,
                requested,
            },
            offset,
            None,
        )
    }

    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.0.kind
    }

    /// Byte offset (from the start of this pickle) of the opcode that failed.
    pub fn offset(&self) -> u64 {
        self.0.offset
    }

    /// The opcode byte that failed, if one had been read.
    pub fn opcode(&self) -> Option<u8> {
        self.0.opcode
    }

    /// The exceeded resource, for budget errors.
    pub fn resource(&self) -> Option<Resource> {
        match self.0.kind {
            ErrorKind::Limit { resource, .. } => Some(resource),
            _ => None,
        }
    }

    /// True when the input ended early (a truncated stream).
    pub fn is_eof(&self) -> bool {
        matches!(self.0.kind, ErrorKind::Eof)
    }

    /// True when a budget was exceeded.
    pub fn is_limit(&self) -> bool {
        matches!(self.0.kind, ErrorKind::Limit { .. })
    }

    /// True when the policy refused something (a global, a persistent id, an extension code).
    pub fn is_policy(&self) -> bool {
        matches!(
            self.0.kind,
            ErrorKind::Forbidden { .. }
                | ErrorKind::PersistentIdRefused
                | ErrorKind::ExtensionRefused(_)
                | ErrorKind::ComputedCallRefused { .. }
                | ErrorKind::CallRefused { .. }
        )
    }

    /// True when reading the input failed.
    pub fn is_io(&self) -> bool {
        matches!(self.0.kind, ErrorKind::Io(_))
    }

    /// Sets the opcode if none is recorded yet (the machine adds it on the way out).
    pub(crate) fn with_opcode(mut self, opcode: u8) -> Error {
        if self.0.opcode.is_none() {
            self.0.opcode = Some(opcode);
        }
        self
    }

    /// Moves the offset (used when errors from a helper carry a placeholder offset).
    pub(crate) fn at(mut self, offset: u64) -> Error {
        self.0.offset = offset;
        self
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("kind", &self.0.kind)
            .field("offset", &self.0.offset)
            .field("opcode", &self.0.opcode)
            .finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at offset {}", self.0.kind, self.0.offset)?;
        if let Some(op) = self.0.opcode {
            match crate::decode::opcode::Opcode::from_byte(op) {
                Some(known) => write!(f, " (opcode {})", known.name())?,
                None => write!(f, " (byte 0x{op:02x})")?,
            }
        }
        Ok(())
    }
}

impl std::error::Error for Error {}
