//! The one error type of [`crate::serde`]: what went wrong ([`ErrorKind`]) and where
//! in the value it happened ([`Error::path`]).
//!
//! Like the decoder's [`crate::Error`], the payload is boxed so a `Result` stays one
//! pointer wide, and constructors are `#[cold]`. A failed decode is kept whole
//! ([`ErrorKind::Decode`]): its offset, opcode and kind are the decoder's.

use std::fmt;

use crate::encode::EncodeError;
use crate::error::{Error as DecodeError, Resource};

/// What went wrong while deserializing from (or serializing to) a pickle.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Decoding the pickle failed; the decoder's error (kind, byte offset, opcode).
    Decode(DecodeError),
    /// A budget of the expansion was exceeded: [`Resource::Expansion`] (values
    /// produced), [`Resource::ExpansionBytes`] (str and bytes payload handed out) or
    /// [`Resource::Depth`] (containers open at once). For values, `requested` is the
    /// count with the items of the container that was being opened (they are charged
    /// before any is produced); for bytes and depth it is `limit + 1`.
    Limit {
        /// Which budget.
        resource: Resource,
        /// The configured limit.
        limit: u64,
        /// What was asked for when it was exceeded.
        requested: u64,
    },
    /// The value contains itself (`l = []; l.append(l)`): no Rust value can.
    Cycle,
    /// A node that has no plain-data form under the [`Options`](super::Options):
    /// `object of collections.OrderedDict`, `global os.system`, `persistent id`,
    /// `extension code 3`, `out-of-band buffer 0`.
    Unsupported(String),
    /// An int that does not fit the integer type asked for. `value` is the int in
    /// decimal when it fits in 128 bits, else its size (`a 200-bit int`).
    IntOutOfRange {
        /// The int, or its size in bits when it is larger than 128 bits.
        value: String,
        /// The Rust type asked for (`u8`, `i128`, ...).
        target: &'static str,
    },
    /// A float outside the range of `f32` (a finite value above `f32::MAX`).
    FloatOutOfRange(f64),
    /// A str holding lone surrogates (valid in Python, not in a Rust `str`).
    Surrogates,
    /// A node id that is not in the graph (only a hand-built graph has one).
    Dangling,
    /// `to_vec`: a dict key Python cannot hash (a dict, or a map inside a key).
    UnhashableKey(&'static str),
    /// `to_vec`: the graph could not be written at that protocol.
    Encode(EncodeError),
    /// `to_vec`: the value needs more nodes than a graph holds (2^30).
    TooLarge,
    /// A message from serde or a `Deserialize`/`Serialize` impl: invalid type, invalid
    /// length, missing field, unknown variant...
    Message(String),
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::Decode(e) => write!(f, "decode failed: {e}"),
            ErrorKind::Limit {
                resource,
                limit,
                requested,
            } => write!(
                f,
                "limit exceeded: {resource} (limit {limit}, requested {requested})"
            ),
            ErrorKind::Cycle => f.write_str("cycle"),
            ErrorKind::Unsupported(what) => write!(f, "{what} has no plain-data form"),
            ErrorKind::IntOutOfRange { value, target } => {
                write!(f, "int {value} does not fit {target}")
            }
            ErrorKind::FloatOutOfRange(v) => write!(f, "float {v} does not fit f32"),
            ErrorKind::Surrogates => f.write_str("str with lone surrogates is not a Rust str"),
            ErrorKind::Dangling => f.write_str("node id not in the graph"),
            ErrorKind::UnhashableKey(what) => write!(f, "unhashable {what} used as dict key"),
            ErrorKind::Encode(e) => write!(f, "cannot encode: {e}"),
            ErrorKind::TooLarge => f.write_str("value needs more nodes than a graph holds"),
            ErrorKind::Message(m) => f.write_str(m),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
struct Inner {
    kind: ErrorKind,
    path: Option<String>,
    /// The path below the container the error is leaving, gathered while it travels
    /// out of the walk (each container prepends the position it was reading), until
    /// the root turns it into `path`. Empty once `path` is set.
    trail: String,
}

/// An error of [`crate::serde`]: a kind, and the path inside the value where it
/// happened (`$.layers[3].weight`), when it happened inside one.
#[derive(Clone, PartialEq)]
pub struct Error(Box<Inner>);

impl Error {
    #[cold]
    pub(crate) fn new(kind: ErrorKind) -> Error {
        Error(Box::new(Inner {
            kind,
            path: None,
            trail: String::new(),
        }))
    }

    #[cold]
    pub(crate) fn decode(e: DecodeError) -> Error {
        Error::new(ErrorKind::Decode(e))
    }

    #[cold]
    pub(crate) fn limit(resource: Resource, limit: u64) -> Error {
        Error::new(ErrorKind::Limit {
            resource,
            limit,
            requested: limit.saturating_add(1),
        })
    }

    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.0.kind
    }

    /// Where in the value: `$` is the root, `[3]` an item of a sequence, `.name` a
    /// dict entry whose key is an identifier-like str, `['a b']`, `[7]` or
    /// `[(1, 2)]` an entry with another key (its short Python repr), `.__call__`,
    /// `.args`... the parts of a described object. `None` for errors that are not
    /// about one value: a failed decode, or an error of `to_vec`.
    pub fn path(&self) -> Option<&str> {
        self.0.path.as_deref()
    }

    /// The decoder's error, when decoding the pickle failed.
    pub fn decode_error(&self) -> Option<&DecodeError> {
        match &self.0.kind {
            ErrorKind::Decode(e) => Some(e),
            _ => None,
        }
    }

    /// The exceeded resource, for budget errors of the decode or of the expansion.
    pub fn resource(&self) -> Option<Resource> {
        match &self.0.kind {
            ErrorKind::Decode(e) => e.resource(),
            ErrorKind::Limit { resource, .. } => Some(*resource),
            _ => None,
        }
    }

    /// True when a budget was exceeded (the decode's or the expansion's).
    pub fn is_limit(&self) -> bool {
        self.resource().is_some()
    }

    pub(crate) fn has_path(&self) -> bool {
        self.0.path.is_some()
    }

    /// Puts `segment` (`[3]`, `.name`) in front of the path gathered so far.
    pub(crate) fn prepend_segment(&mut self, segment: &str) {
        self.0.trail.insert_str(0, segment);
    }

    /// Sets the path to the root (`$`) followed by the segments gathered so far.
    pub(crate) fn finish_path(&mut self) {
        let trail = std::mem::take(&mut self.0.trail);
        self.0.path = Some(format!("${trail}"));
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("kind", &self.0.kind)
            .field("path", &self.0.path)
            .finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0.path {
            Some(path) => write!(f, "{} at {path}", self.0.kind),
            None => write!(f, "{}", self.0.kind),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.0.kind {
            ErrorKind::Decode(e) => Some(e),
            ErrorKind::Encode(e) => Some(e),
            _ => None,
        }
    }
}

impl ::serde::de::Error for Error {
    #[cold]
    fn custom<T: fmt::Display>(msg: T) -> Error {
        Error::new(ErrorKind::Message(msg.to_string()))
    }
}

impl ::serde::ser::Error for Error {
    #[cold]
    fn custom<T: fmt::Display>(msg: T) -> Error {
        Error::new(ErrorKind::Message(msg.to_string()))
    }
}
