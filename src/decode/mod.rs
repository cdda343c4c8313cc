//! The pickle VM and what only it uses: the bounded reader, the opcode table, protocol 0
//! text arguments, Python's dict/set key semantics, the Python 2 name mapping, and the
//! machine itself. [`Decoder`] is the configuration of one decode.

pub(crate) mod compat;
pub(crate) mod keys;
pub(crate) mod machine;
pub(crate) mod opcode;
pub(crate) mod reader;
pub mod sink;
pub(crate) mod text;

use std::io::BufRead;

use crate::budget::{Limits, Usage};
use crate::decode::sink::{OnRefusal, Sink};
use crate::error::Error;
use crate::graph::{Graph, NodeId};
use crate::policy::Policy;

/// How Python 2 `str` payloads (STRING, BINSTRING, SHORT_BINSTRING) are decoded:
/// CPython's `encoding=` argument to `pickle.loads`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum StringEncoding {
    /// ASCII, strict: a byte above 0x7f is an error (`pickle.loads`' default).
    #[default]
    Ascii,
    /// Latin-1: every byte is a code point (`encoding='latin1'`, what NumPy needs).
    Latin1,
    /// Keep them as `bytes` (`encoding='bytes'`).
    Bytes,
}

/// Everything that shapes one decode.
#[derive(Clone, Debug)]
pub struct Decoder {
    limits: Limits,
    policy: Policy,
    raw: bool,
    string_encoding: StringEncoding,
    buffers: Option<Vec<Vec<u8>>>,
    /// Below this stack length an empty container becomes a node at once; above it,
    /// a marker that becomes a node when first used (see `machine.rs`). Only the
    /// fuzz harness changes it (to 0, so every container takes the deferred path).
    pub(crate) eager_containers: usize,
    /// Whether SETITEMS may reuse what an earlier batch proved about the same key
    /// sequence (see `KeyShapes` in `keys.rs`). Only the fuzz harness turns it off, to
    /// check that it changes nothing.
    pub(crate) key_shapes: bool,
}

/// See [`Decoder::eager_containers`]: a real stream rarely has this many values on
/// its stack (pickle batches APPENDS and SETITEMS by 1000), a nesting bomb has a
/// million.
const EAGER_CONTAINERS: usize = 1024;

impl Default for Decoder {
    fn default() -> Decoder {
        Decoder {
            limits: Limits::default(),
            policy: Policy::default(),
            raw: false,
            string_encoding: StringEncoding::default(),
            buffers: None,
            eager_containers: EAGER_CONTAINERS,
            key_shapes: true,
        }
    }
}

/// A decoded pickle: the graph, its root, and what the decode used.
#[derive(Clone, Debug)]
pub struct Decoded<'a> {
    /// Every value the stream built.
    pub graph: Graph<'a>,
    /// The value STOP returned.
    pub root: NodeId,
    /// The peak of each resource.
    pub usage: Usage,
    /// Bytes consumed, up to and including STOP.
    pub consumed: u64,
    /// The highest PROTO the stream declared (0 when it declared none).
    pub protocol: u8,
}

impl Decoder {
    /// Default limits, strict policy, value level, ASCII Python 2 strings.
    pub fn new() -> Decoder {
        Decoder::default()
    }

    /// Sets the budgets.
    pub fn limits(mut self, limits: Limits) -> Decoder {
        self.limits = limits;
        self
    }

    /// Sets which globals may appear.
    pub fn policy(mut self, policy: Policy) -> Decoder {
        self.policy = policy;
        self
    }

    /// Raw mode: keep every call as an object node and every name as written (no
    /// reconstructor folding, no Python 2 → 3 renaming). The policy still judges the
    /// mapped names.
    pub fn raw(mut self, raw: bool) -> Decoder {
        self.raw = raw;
        self
    }

    /// How Python 2 strings are decoded.
    pub fn string_encoding(mut self, encoding: StringEncoding) -> Decoder {
        self.string_encoding = encoding;
        self
    }

    /// Out-of-band buffers for protocol 5 NEXT_BUFFER, in order (CPython's `buffers=`).
    pub fn buffers(mut self, buffers: Vec<Vec<u8>>) -> Decoder {
        self.buffers = Some(buffers);
        self
    }

    /// The configured limits.
    pub fn get_limits(&self) -> &Limits {
        &self.limits
    }

    /// Decodes one pickle from a slice, borrowing large payloads from it. Bytes after
    /// STOP are not read (see [`Decoded::consumed`]).
    pub fn decode<'a>(&self, input: &'a [u8]) -> Result<Decoded<'a>, Error> {
        machine::run(reader::SliceSource::new(input), self)
    }

    /// Decodes one pickle from a slice and reports every site to `sink` (see
    /// [`sink`]): what the security report and the container readers build on.
    /// With [`OnRefusal::Continue`] a refused site does not stop the decode (it goes
    /// on as under [`Policy::inert`]); with [`OnRefusal::Fail`] it fails exactly as
    /// [`Decoder::decode`] does.
    pub fn decode_with_sink<'a>(
        &self,
        input: &'a [u8],
        sink: &mut dyn Sink,
        on_refusal: OnRefusal,
    ) -> Result<Decoded<'a>, Error> {
        machine::run_with_sink(reader::SliceSource::new(input), self, sink, on_refusal)
    }

    /// [`Decoder::decode_with_sink`] from a stream (consumes exactly the bytes up to
    /// STOP). A sink that needs to look ahead at inline data gets no `rest` here.
    pub fn decode_reader_with_sink<R: BufRead>(
        &self,
        reader: R,
        sink: &mut dyn Sink,
        on_refusal: OnRefusal,
    ) -> Result<Decoded<'static>, Error> {
        let mut source = reader::StreamSource::new(reader);
        machine::run_with_sink(&mut source, self, sink, on_refusal)
    }

    /// Decodes one pickle from a stream, consuming exactly the bytes up to STOP.
    ///
    /// Gives the same graph, or the same error at the same offset, as [`Decoder::decode`]
    /// on the same bytes. Wrap files and sockets in a `BufReader`.
    pub fn decode_reader<R: BufRead>(&self, reader: R) -> Result<Decoded<'static>, Error> {
        let mut source = reader::StreamSource::new(reader);
        machine::run(&mut source, self)
    }

    /// Every pickle in `input`, one after another (CPython allows several in one file).
    pub fn iter_slice<'d, 'a>(&'d self, input: &'a [u8]) -> SlicePickles<'d, 'a> {
        SlicePickles {
            decoder: self,
            rest: input,
            failed: false,
        }
    }

    /// Every pickle in a stream, one after another.
    pub fn iter_reader<R: BufRead>(&self, reader: R) -> ReaderPickles<'_, R> {
        ReaderPickles {
            decoder: self,
            source: reader::StreamSource::new(reader),
            failed: false,
        }
    }
}

/// Iterator over the pickles in a slice; stops after the first error.
pub struct SlicePickles<'d, 'a> {
    decoder: &'d Decoder,
    rest: &'a [u8],
    failed: bool,
}

impl<'a> Iterator for SlicePickles<'_, 'a> {
    type Item = Result<Decoded<'a>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.rest.is_empty() {
            return None;
        }
        match self.decoder.decode(self.rest) {
            Ok(decoded) => {
                let used = usize::try_from(decoded.consumed).unwrap_or(usize::MAX);
                self.rest = self.rest.get(used..).unwrap_or(&[]);
                Some(Ok(decoded))
            }
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

/// Iterator over the pickles in a stream; stops after the first error.
pub struct ReaderPickles<'d, R> {
    decoder: &'d Decoder,
    source: reader::StreamSource<R>,
    failed: bool,
}

impl<R: BufRead> Iterator for ReaderPickles<'_, R> {
    type Item = Result<Decoded<'static>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        // Offsets count from the start of each pickle, an I/O error while looking for
        // the next one included (it is at offset 0 of that pickle).
        self.source.restart();
        match self.source.at_end() {
            Ok(true) => return None,
            Ok(false) => {}
            Err(e) => {
                self.failed = true;
                return Some(Err(e));
            }
        }
        let result = machine::run(&mut self.source, self.decoder);
        self.failed = result.is_err();
        Some(result)
    }
}
