//! File formats around pickles, each recognised by its content, never by its name.
//!
//! [`open`] takes the bytes of a file and returns its [`Contents`]: the layers it was
//! wrapped in (a gzip around a pickle, an `.npy` inside an `.npz`...), every pickle
//! found in it as a [`Piece`] with its place in the file, the [`Anomaly`]s a reader
//! met on the way (a bad CRC, two ZIP entries with one name...) and, when a layer
//! could not be read, the error that stopped it. Nothing here decodes a pickle for
//! its value: the scanner and the CLI hand each piece to the decoder, wrapping their
//! sink in [`joblib::JoblibSink`] so joblib's inline arrays are stepped over.
//!
//! | layer | module | pickles |
//! |---|---|---|
//! | ZIP: PyTorch's `torch.save`, TorchScript, `.npz`, any | [`zip`] | every member that [`looks_like_pickle`], and members that are containers again |
//! | legacy `torch.save`, and its tar variant | `torch`, [`tar`] | every pickle `torch.load` unpickles; raw storages are stepped over |
//! | `.npy` | [`npy`] | the data of an object array |
//! | joblib | [`joblib`] | the pickle, marked [`PieceKind::Joblib`] |
//! | gzip, zlib, bzip2, xz, `.lzma`, LZ4 | `compress` | what the output holds |
//!
//! Every reader is bounded like the decoder: sizes and offsets are checked against
//! the layer before use; decompressed output and every piece handed out are charged
//! to [`ContainerLimits::max_output_bytes`] as they come out, so a decompression bomb
//! is an [`ErrorKind::Limit`] error like any other
//! ([`Resource::OutputBytes`]); layers within layers
//! and pieces are counted too. An error in one ZIP or tar member is recorded and the
//! next member read; only the shared budgets stop the whole file.
//!
//! Offsets: a piece whose bytes are the file's own carries its `file_offset`;
//! anomalies and errors are offsets in the layer their `location` names (the file
//! itself for the outermost one).

mod compress;
pub mod image;
pub mod joblib;
pub mod npy;
pub mod sniff;
pub mod tar;
pub(crate) mod torch;
pub mod zip;

use std::borrow::Cow;

use crate::budget::Limits;
use crate::decode::sink::{At, Event, Finish, OnRefusal, Sink};
use crate::decode::Decoder;
use crate::error::{Error, ErrorKind, Resource};
use crate::graph::Graph;
use crate::policy::{Policy, Verdict};
use compress::{Budget, Codec, Want};
use zip::{ZipArchive, ZipEntry, ZipLimits};

/// Bounds on reading containers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ContainerLimits {
    /// Bounds on each ZIP archive.
    pub zip: ZipLimits,
    /// Bytes produced over the whole file (default 1 GiB, the decoder's input limit):
    /// decompressed output as it comes out, and every piece handed out, borrowed or
    /// copied (so overlapping ZIP entries cannot multiply the work of decoding the
    /// pieces). A decompression bomb stops one byte past it, with
    /// [`Resource::OutputBytes`].
    pub max_output_bytes: u64,
    /// Pieces (pickles) in one file (default 100,000; [`Resource::Pieces`]).
    pub max_pieces: u64,
    /// Layers of containers inside containers, the file itself being the first (an
    /// `.npy` in an `.npz` is two, a pickle in a gzip two; default 8;
    /// [`Resource::ContainerLayers`]).
    pub max_nesting: u32,
}

impl Default for ContainerLimits {
    fn default() -> ContainerLimits {
        ContainerLimits {
            zip: ZipLimits::default(),
            max_output_bytes: 1 << 30,
            max_pieces: 100_000,
            max_nesting: 8,
        }
    }
}

/// A file format, as recognised from its content.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Format {
    /// One or more pickles back to back.
    Pickle,
    /// A ZIP archive that is none of the layouts below.
    Zip,
    /// `torch.save` since 1.6: a ZIP with `<root>/data.pkl` and raw storages.
    TorchZip,
    /// `torch.save` before 1.6: a magic number, several pickles and raw storages.
    TorchLegacy,
    /// The tar variant of the legacy layout.
    TorchLegacyTar,
    /// A TorchScript archive (`torch.jit.save`): loading it with `torch.jit.load` runs
    /// the code it holds.
    TorchScript,
    /// NumPy `.npy`.
    Npy,
    /// NumPy `.npz` (a ZIP of `.npy` files).
    Npz,
    /// A joblib pickle (array data written inline between opcodes).
    Joblib,
    /// gzip.
    Gzip,
    /// bzip2.
    Bzip2,
    /// xz.
    Xz,
    /// The raw `.lzma` ("alone") format (joblib's `.lzma`).
    Lzma,
    /// zlib (joblib's default compression).
    Zlib,
    /// LZ4 frame.
    Lz4,
    /// A tar archive.
    Tar,
}

impl Format {
    /// A short stable name (`torch-zip`, `npz`, ...), as in the JSON report.
    pub fn name(self) -> &'static str {
        match self {
            Format::Pickle => "pickle",
            Format::Zip => "zip",
            Format::TorchZip => "torch-zip",
            Format::TorchLegacy => "torch-legacy",
            Format::TorchLegacyTar => "torch-legacy-tar",
            Format::TorchScript => "torchscript",
            Format::Npy => "npy",
            Format::Npz => "npz",
            Format::Joblib => "joblib",
            Format::Gzip => "gzip",
            Format::Bzip2 => "bzip2",
            Format::Xz => "xz",
            Format::Lzma => "lzma",
            Format::Zlib => "zlib",
            Format::Lz4 => "lz4",
            Format::Tar => "tar",
        }
    }
}

/// How a piece's bytes are to be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PieceKind {
    /// One or more pickles back to back (CPython's `pickle.load` in a loop).
    Pickles,
    /// A joblib pickle: after the BUILD of each `NumpyArrayWrapper` the array's bytes
    /// (or, for object arrays, a nested pickle) follow inline and must be stepped over.
    Joblib,
}

/// One pickle (or run of pickles) found in a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Piece<'a> {
    /// Where it is, for people: `archive/data.pkl`, `arr_0.npy`, `gzip`, ... (empty
    /// for the file itself).
    pub location: String,
    /// Its offset in the file, when its bytes are the file's own (not decompressed).
    pub file_offset: Option<u64>,
    /// Its bytes.
    pub data: Cow<'a, [u8]>,
    /// How to decode them.
    pub kind: PieceKind,
}

/// Something a container reader found odd. Anomalies are data, not log lines: the
/// scanner decides what each one means for the verdict.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Anomaly {
    /// What kind.
    pub kind: AnomalyKind,
    /// Where (as in [`Piece::location`]).
    pub location: String,
    /// Byte offset in the file (or in the layer named by `location`).
    pub offset: u64,
    /// Details for people.
    pub detail: String,
}

/// The kinds of [`Anomaly`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AnomalyKind {
    /// A ZIP entry's CRC-32 does not match its data.
    BadCrc,
    /// A ZIP entry is flagged as encrypted (its bytes are scanned as if in clear:
    /// the flag costs an attacker nothing and not every loader honours it).
    Encrypted,
    /// A ZIP entry uses flag bits or a method a careful reader does not expect.
    UnusualFlags,
    /// The local header names an entry differently from the central directory.
    NameMismatch,
    /// Two entries share a name (readers disagree on which one they load).
    DuplicateName,
    /// Two entries' data overlap.
    Overlap,
    /// Bytes before the first or after the last record of a container.
    ExtraBytes,
    /// Bytes after the last pickle's STOP.
    TrailingBytes,
    /// A format whose loader runs code by design (TorchScript).
    RunsCode,
    /// A length that disagrees with what the header says (`.npy` data).
    SizeMismatch,
    /// Anything else a reader had to work around.
    Other,
}

impl AnomalyKind {
    /// A short stable name, as in the JSON report.
    pub fn name(self) -> &'static str {
        match self {
            AnomalyKind::BadCrc => "bad-crc",
            AnomalyKind::Encrypted => "encrypted",
            AnomalyKind::UnusualFlags => "unusual-flags",
            AnomalyKind::NameMismatch => "name-mismatch",
            AnomalyKind::DuplicateName => "duplicate-name",
            AnomalyKind::Overlap => "overlap",
            AnomalyKind::ExtraBytes => "extra-bytes",
            AnomalyKind::TrailingBytes => "trailing-bytes",
            AnomalyKind::RunsCode => "runs-code",
            AnomalyKind::SizeMismatch => "size-mismatch",
            AnomalyKind::Other => "other",
        }
    }
}

/// What [`open`] found in a file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Contents<'a> {
    /// The layers, outermost first (`[Gzip, Pickle]`, `[Npz, Npy]`, `[TorchZip]`...).
    pub formats: Vec<Format>,
    /// Every pickle found, in file order.
    pub pieces: Vec<Piece<'a>>,
    /// Everything odd met on the way.
    pub anomalies: Vec<Anomaly>,
    /// The error that stopped reading a layer (a broken archive, a decompression
    /// bomb over [`ContainerLimits::max_output_bytes`]...), if any; the pieces found
    /// before it are still listed.
    pub error: Option<Error>,
    /// The layer whose bytes [`Contents::error`]'s offset counts (as in
    /// [`Piece::location`]): empty for the file itself.
    pub error_location: String,
}

/// Recognises the format of `data` from its content and lists every pickle in it,
/// layer by layer (see the module docs). Never panics; every read is bounded by
/// `limits`.
pub fn open<'a>(data: &'a [u8], limits: &ContainerLimits) -> Contents<'a> {
    let mut contents = Contents::default();
    let mut opener = Opener {
        limits,
        budget: Budget::new(limits.max_output_bytes),
        pieces: 0,
        trial_steps: TRIAL_STEPS,
        crc_bytes: (data.len() as u64).saturating_add(limits.max_output_bytes),
        failed_in: None,
    };
    let src = Src::File { data, base: 0 };
    if let Err(e) = opener.layer(src, "", 1, &mut contents) {
        let at = opener.error_layer("");
        note(&mut contents, at, e);
    }
    contents
}

/// Bytes read from a compressed ZIP member to decide what it is.
const SNIFF_BYTES: u64 = 1 << 20;

/// The limits under which a member's bytes are tried as a pickle (rule 3 and 4 of
/// [`looks_like_pickle`]): a real pickle's first megabyte gets there, random data
/// fails within a few opcodes.
fn sniff_limits() -> Limits {
    Limits {
        max_input_bytes: SNIFF_BYTES,
        max_steps: 100_000,
        max_memory_bytes: 8 << 20,
        max_depth: 1000,
        max_memo_entries: 65_536,
        max_container_len: 1 << 20,
        max_int_digits: 4300,
        max_int_bytes: 8192,
    }
}

/// Is this member (or stretch of bytes) a pickle? By name (`.pkl`, `.pickle`), by a
/// protocol 2+ header (`\x80` and 2..5), or, since protocol 0 and 1 pickles have no
/// header, by decoding it under [`Policy::inert`] and tight limits: it reaches STOP,
/// or it asks for an import or a call before it runs out of bytes or budget (not
/// before a bad opcode: that is text starting with a letter that is an opcode).
pub fn looks_like_pickle(name: &str, data: &[u8]) -> bool {
    by_name_or_header(name, data) || trial_decode(data, sniff_limits().max_steps).0
}

fn by_name_or_header(name: &str, data: &[u8]) -> bool {
    name.ends_with(".pkl") || name.ends_with(".pickle") || matches!(data, [0x80, 2..=5, ..])
}

/// Rules 3 and 4 of [`looks_like_pickle`] within `max_steps`: whether the bytes are
/// a pickle, and the steps the trial took.
fn trial_decode(data: &[u8], max_steps: u64) -> (bool, u64) {
    /// Remembers whether the decode asked for an import or a call, and its steps.
    struct Trial {
        saw_site: bool,
        steps: u64,
    }
    impl Sink for Trial {
        fn site(&mut self, _: At, event: Event<'_>, _: Verdict, _: &Graph<'_>) -> u64 {
            if matches!(event, Event::Import { .. } | Event::Call { .. }) {
                self.saw_site = true;
            }
            0
        }
        fn finish(&mut self, end: &Finish<'_, '_>) {
            self.steps = end.usage.steps;
        }
    }
    if data.is_empty() || max_steps == 0 {
        return (false, 0);
    }
    let mut trial = Trial {
        saw_site: false,
        steps: 0,
    };
    let mut limits = sniff_limits();
    limits.max_steps = max_steps;
    let decoder = Decoder::new().policy(Policy::inert()).limits(limits);
    let head = data.get(..SNIFF_BYTES as usize).unwrap_or(data);
    let result = decoder.decode_with_sink(head, &mut trial, OnRefusal::Continue);
    // A site only counts when the decode then ran out of bytes or budget (a pickle
    // longer than the trial); one that breaks on a bad opcode after it is text that
    // happens to start like GLOBAL (`class X:` in TorchScript's code/, `import os`).
    let cut_short = match &result {
        Ok(_) => true,
        Err(e) => e.is_eof() || e.is_limit(),
    };
    (
        result.is_ok() || (trial.saw_site && cut_short),
        trial.steps.max(1),
    )
}

/// A joblib pickle names `joblib.numpy_pickle.NumpyArrayWrapper`.
fn is_joblib(data: &[u8]) -> bool {
    const NEEDLE: &[u8] = b"NumpyArrayWrapper";
    data.windows(NEEDLE.len()).any(|w| w == NEEDLE)
}

/// Records an error whose offset counts in the layer at `location`: the first one is
/// [`Contents::error`], later ones anomalies.
fn note(out: &mut Contents<'_>, location: String, e: Error) {
    if out.error.is_none() {
        out.error = Some(e);
        out.error_location = location;
    } else {
        out.anomalies.push(Anomaly {
            kind: AnomalyKind::Other,
            location,
            offset: e.offset(),
            detail: format!("also: {e}"),
        });
    }
}

/// Errors that end the whole file, not just one member: the budgets shared by all
/// layers.
fn is_global(e: &Error) -> bool {
    matches!(e.resource(), Some(Resource::OutputBytes | Resource::Pieces))
}

fn push_format(out: &mut Contents<'_>, format: Format) -> usize {
    match out.formats.iter().position(|f| *f == format) {
        Some(i) => i,
        None => {
            out.formats.push(format);
            out.formats.len().saturating_sub(1)
        }
    }
}

fn join(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_owned()
    } else {
        format!("{parent}/{name}")
    }
}

/// The bytes of a layer: the file's own (pieces borrow them and know their offset in
/// the file) or decompressed (pieces are copies).
#[derive(Clone, Copy)]
enum Src<'s, 'a: 's> {
    File { data: &'a [u8], base: u64 },
    Temp(&'s [u8]),
}

impl<'s, 'a: 's> Src<'s, 'a> {
    fn bytes(&self) -> &'s [u8] {
        match *self {
            Src::File { data, .. } => data,
            Src::Temp(data) => data,
        }
    }

    /// `len` bytes at `start` (clamped to the layer).
    fn sub(&self, start: u64, len: u64) -> Src<'s, 'a> {
        let data = self.bytes();
        let start = usize::try_from(start).unwrap_or(usize::MAX).min(data.len());
        let end = usize::try_from(len)
            .ok()
            .and_then(|l| start.checked_add(l))
            .unwrap_or(usize::MAX)
            .min(data.len());
        let part = data.get(start..end).unwrap_or(&[]);
        match *self {
            Src::File { data, base } => Src::File {
                data: data.get(start..end).unwrap_or(&[]),
                base: base.saturating_add(start as u64),
            },
            Src::Temp(_) => Src::Temp(part),
        }
    }
}

/// What a member turned out to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Class {
    Container(Format),
    Pickle,
    Data,
}

/// One `open`: the limits and the budgets every layer shares.
struct Opener<'l> {
    limits: &'l ContainerLimits,
    budget: Budget,
    pieces: u64,
    /// Decoder steps left for trying members as protocol 0/1 pickles: an archive of
    /// a million members must not cost a million trial decodes of 100,000 steps.
    trial_steps: u64,
    /// Bytes left to CRC-check: overlapping entries must not make the reader check
    /// the same bytes over and over.
    crc_bytes: u64,
    /// The innermost layer an error on its way out came from (its offset counts
    /// there), set where it leaves that layer and taken where it is noted.
    failed_in: Option<String>,
}

/// Steps for all trial decodes of one file (about a second).
const TRIAL_STEPS: u64 = 20_000_000;

impl<'l> Opener<'l> {
    /// An inner layer at `location` returned `result`: an error leaving it counts
    /// its offset there, unless it came from deeper still.
    fn left<T>(&mut self, location: &str, result: Result<T, Error>) -> Result<T, Error> {
        if result.is_err() && self.failed_in.is_none() {
            self.failed_in = Some(location.to_owned());
        }
        result
    }

    /// Where the error being noted by the layer at `location` came from.
    fn error_layer(&mut self, location: &str) -> String {
        self.failed_in.take().unwrap_or_else(|| location.to_owned())
    }

    /// Is this member a pickle ([`looks_like_pickle`]), within the trial budget
    /// (once it is spent, only names and protocol headers count, and an anomaly says
    /// so).
    fn is_pickle(&mut self, name: &str, data: &[u8], out: &mut Contents<'_>) -> bool {
        if by_name_or_header(name, data) {
            return true;
        }
        if self.trial_steps == 0 {
            return false;
        }
        let (pickle, steps) = trial_decode(data, self.trial_steps.min(sniff_limits().max_steps));
        self.trial_steps = self.trial_steps.saturating_sub(steps);
        if self.trial_steps == 0 {
            out.anomalies.push(Anomaly {
                kind: AnomalyKind::Other,
                location: name.to_owned(),
                offset: 0,
                detail: "from here on, members are not tried as protocol 0/1 pickles (the \
                         trial-decode budget for this file is spent): only names and \
                         protocol 2+ headers mark pickles"
                    .to_owned(),
            });
        }
        pickle
    }

    fn classify(&mut self, name: &str, head: &[u8], out: &mut Contents<'_>) -> Class {
        match sniff::sniff(head) {
            Format::Pickle => {
                if self.is_pickle(name, head, out) {
                    Class::Pickle
                } else {
                    Class::Data
                }
            }
            format => Class::Container(format),
        }
    }

    /// Whether `n` more bytes may be CRC-checked (the budget is the file's length
    /// plus the output budget; overlapping entries exhaust it).
    fn may_check_crc(&mut self, n: u64) -> bool {
        match self.crc_bytes.checked_sub(n) {
            Some(left) => {
                self.crc_bytes = left;
                true
            }
            None => false,
        }
    }

    /// Hands out a piece of `src`: borrowed (and charged) when the bytes are the
    /// file's, copied (and charged) otherwise.
    fn piece<'a>(
        &mut self,
        out: &mut Contents<'a>,
        location: String,
        src: Src<'_, 'a>,
    ) -> Result<(), Error> {
        let bytes = src.bytes();
        let at = match src {
            Src::File { base, .. } => base,
            Src::Temp(_) => 0,
        };
        self.count_piece(at)?;
        self.budget.charge(bytes.len() as u64, at)?;
        let (data, file_offset) = match src {
            Src::File { data, base } => (Cow::Borrowed(data), Some(base)),
            Src::Temp(data) => {
                let mut copy = Vec::new();
                copy.try_reserve_exact(data.len())
                    .map_err(|_| Error::limit(Resource::Memory, 0, data.len() as u64, at))?;
                copy.extend_from_slice(data);
                (Cow::Owned(copy), None)
            }
        };
        let kind = if is_joblib(&data) {
            PieceKind::Joblib
        } else {
            PieceKind::Pickles
        };
        out.pieces.push(Piece {
            location,
            file_offset,
            data,
            kind,
        });
        Ok(())
    }

    /// Hands out decompressed bytes as a piece without copying (they were charged as
    /// they came out).
    fn owned_piece(
        &mut self,
        out: &mut Contents<'_>,
        location: String,
        data: Vec<u8>,
    ) -> Result<(), Error> {
        self.count_piece(0)?;
        let kind = if is_joblib(&data) {
            PieceKind::Joblib
        } else {
            PieceKind::Pickles
        };
        out.pieces.push(Piece {
            location,
            file_offset: None,
            data: Cow::Owned(data),
            kind,
        });
        Ok(())
    }

    fn count_piece(&mut self, at: u64) -> Result<(), Error> {
        let next = self.pieces.saturating_add(1);
        if next > self.limits.max_pieces {
            return Err(Error::limit(
                Resource::Pieces,
                self.limits.max_pieces,
                next,
                at,
            ));
        }
        self.pieces = next;
        Ok(())
    }

    /// One layer: what `src` is, and what is in it. `depth` counts layers from 1 (the
    /// file).
    fn layer<'a>(
        &mut self,
        src: Src<'_, 'a>,
        location: &str,
        depth: u32,
        out: &mut Contents<'a>,
    ) -> Result<(), Error> {
        if depth > self.limits.max_nesting {
            return Err(Error::limit(
                Resource::ContainerLayers,
                u64::from(self.limits.max_nesting),
                u64::from(depth),
                0,
            ));
        }
        let data = src.bytes();
        let format = sniff::sniff(data);
        let codec = match format {
            Format::Gzip => Some(Codec::Gzip),
            Format::Bzip2 => Some(Codec::Bzip2),
            Format::Xz => Some(Codec::Xz),
            Format::Lzma => Some(Codec::Lzma),
            Format::Zlib => Some(Codec::Zlib),
            Format::Lz4 => Some(Codec::Lz4),
            _ => None,
        };
        if let Some(codec) = codec {
            push_format(out, format);
            let inner = compress::decompress(codec, data, Want::All, &mut self.budget, 0)?;
            return self.decompressed(inner, &join(location, codec.name()), depth, out);
        }
        match format {
            Format::Zip => self.zip(src, location, depth, out),
            Format::Npy => self.npy(src, location, out),
            Format::Tar => self.tar(src, location, depth, out),
            Format::TorchLegacy => self.torch_legacy(src, location, out),
            _ => {
                // A pickle; or a pickle with a ZIP glued after it (the end record is
                // at the end of the file).
                if let Ok(archive) = ZipArchive::open(data, self.limits.zip) {
                    if !archive.entries().is_empty() {
                        return self.zip(src, location, depth, out);
                    }
                }
                push_format(
                    out,
                    if is_joblib(data) {
                        Format::Joblib
                    } else {
                        Format::Pickle
                    },
                );
                self.piece(out, location.to_owned(), src)
            }
        }
    }

    /// The output of a decompression layer: a pickle becomes a piece as it is,
    /// anything else is one more layer.
    fn decompressed(
        &mut self,
        inner: Vec<u8>,
        location: &str,
        depth: u32,
        out: &mut Contents<'_>,
    ) -> Result<(), Error> {
        let next = depth.saturating_add(1);
        if next > self.limits.max_nesting {
            return Err(Error::limit(
                Resource::ContainerLayers,
                u64::from(self.limits.max_nesting),
                u64::from(next),
                0,
            ));
        }
        if sniff::sniff(&inner) == Format::Pickle
            && ZipArchive::open(&inner, self.limits.zip).map_or(true, |a| a.entries().is_empty())
        {
            push_format(
                out,
                if is_joblib(&inner) {
                    Format::Joblib
                } else {
                    Format::Pickle
                },
            );
            return self.owned_piece(out, location.to_owned(), inner);
        }
        // Pieces inside are copies: they outlive this buffer.
        let mut inner_out = Contents::default();
        let result = self.layer(Src::Temp(&inner), location, next, &mut inner_out);
        merge(out, inner_out);
        self.left(location, result)
    }

    fn npy<'a>(
        &mut self,
        src: Src<'_, 'a>,
        location: &str,
        out: &mut Contents<'a>,
    ) -> Result<(), Error> {
        push_format(out, Format::Npy);
        let data = src.bytes();
        let header = npy::parse_header(data)?;
        let body_len = (data.len() as u64).saturating_sub(header.data_offset);
        if header.has_object {
            return self.piece(
                out,
                location.to_owned(),
                src.sub(header.data_offset, body_len),
            );
        }
        self.npy_size(&header, body_len, location, out);
        Ok(())
    }

    fn npy_size(
        &self,
        header: &npy::NpyHeader,
        body_len: u64,
        location: &str,
        out: &mut Contents<'_>,
    ) {
        if header.data_len != Some(body_len) {
            out.anomalies.push(Anomaly {
                kind: AnomalyKind::SizeMismatch,
                location: location.to_owned(),
                offset: header.data_offset,
                detail: match header.data_len {
                    Some(want) => format!("the header's shape and dtype make {want} bytes of data, the file has {body_len}"),
                    None => format!("the header's shape and dtype make more than 2^64 bytes of data, the file has {body_len}"),
                },
            });
        }
    }

    fn zip<'a>(
        &mut self,
        src: Src<'_, 'a>,
        location: &str,
        depth: u32,
        out: &mut Contents<'a>,
    ) -> Result<(), Error> {
        let data = src.bytes();
        // Named before it is read: a broken archive is still a ZIP layer.
        let slot = out.formats.len();
        out.formats.push(Format::Zip);
        let archive = ZipArchive::open(data, self.limits.zip)?;
        out.anomalies.extend(archive.anomalies(location));
        let entries = archive.entries();
        // Bytes in front of the archive: a pickle glued before it is what torch.load
        // (which then sees no ZIP magic) unpickles. Handed out from the start of the
        // file, so the decoder reads it whole even if it holds the archive's bytes.
        let first = entries
            .iter()
            .map(|e| e.header_offset)
            .chain([archive.directory().0])
            .min()
            .unwrap_or(0);
        if first > 0 {
            let head = data
                .get(..usize::try_from(first).unwrap_or(usize::MAX))
                .unwrap_or(data);
            if self.is_pickle("", head, out) {
                self.piece(out, location.to_owned(), src)?;
            }
        }
        let choice = archive.pytorch_choice();
        let mut npy_members = 0usize;
        let mut members = 0usize;
        for (i, entry) in entries.iter().enumerate() {
            // An entry flagged as encrypted is read as if it were not: the flag is one
            // bit anyone can set over data in clear (CVE-2025-1945: a scanner that
            // skipped such entries missed what torch.load ran). Real ciphertext decodes
            // to nothing or fails, and the Encrypted anomaly keeps the file from being
            // clean either way.
            if entry.is_dir() {
                continue;
            }
            members = members.saturating_add(1);
            let mut name = join(location, &entry.name);
            if choice.get(i).copied().unwrap_or(i) != i {
                name = format!("{name} (copy at offset {})", entry.header_offset);
            }
            match self.member(&archive, entry, src, &name, depth, out) {
                Ok(Some(Format::Npy)) => npy_members = npy_members.saturating_add(1),
                Ok(_) => {}
                Err(e) if is_global(&e) => return Err(e),
                Err(e) => {
                    let at = self.error_layer(location);
                    note(out, at, e);
                }
            }
        }
        // Bytes after the archive: a pickle appended to it.
        let end = archive.end_offset();
        let len = data.len() as u64;
        if end < len {
            let tail = src.sub(end, len.saturating_sub(end));
            if self.is_pickle("", tail.bytes(), out) {
                self.piece(out, join(location, "(after the archive)"), tail)?;
            }
        }
        let format = refine(entries, npy_members, members);
        if let Some(f) = out.formats.get_mut(slot) {
            *f = format;
        }
        if format == Format::TorchScript {
            let at = entries
                .iter()
                .find(|e| e.name.contains("/code/") || e.name.ends_with("constants.pkl"))
                .map_or(0, |e| archive.entry_offset(e));
            out.anomalies.push(Anomaly {
                kind: AnomalyKind::RunsCode,
                location: location.to_owned(),
                offset: at,
                detail: "a TorchScript archive: torch.jit.load (and torch.load, which hands it \
                         over) would run the code in code/"
                    .to_owned(),
            });
        }
        Ok(())
    }

    /// One ZIP member: read (stored members are borrowed; deflated ones are
    /// decompressed, first only a prefix to decide what they are), CRC-checked when
    /// read whole, and handed out as a piece, a layer, or nothing (data).
    fn member<'a>(
        &mut self,
        archive: &ZipArchive<'_>,
        entry: &ZipEntry,
        src: Src<'_, 'a>,
        name: &str,
        depth: u32,
        out: &mut Contents<'a>,
    ) -> Result<Option<Format>, Error> {
        let (offset, raw) = archive.raw(entry)?;
        let bad_crc = |out: &mut Contents<'_>, actual: u32| {
            out.anomalies.push(Anomaly {
                kind: AnomalyKind::BadCrc,
                location: name.to_owned(),
                offset: entry.header_offset,
                detail: format!(
                    "CRC-32 {actual:#010x}, the directory says {:#010x}: PyTorch (miniz) and \
                     Python's zipfile refuse to read it; scanned anyway",
                    entry.crc32
                ),
            });
        };
        match entry.method {
            0 => {
                if entry.size != entry.compressed_size {
                    return Err(Error::new(
                        ErrorKind::Malformed("stored ZIP entry with two different sizes"),
                        entry.directory_offset,
                        None,
                    ));
                }
                if self.may_check_crc(raw.len() as u64) {
                    let actual = zip::crc32(raw);
                    if actual != entry.crc32 {
                        bad_crc(out, actual);
                    }
                }
                let member = src.sub(offset, raw.len() as u64);
                match self.classify(&entry.name, raw, out) {
                    Class::Container(format) => {
                        let next = depth.saturating_add(1);
                        let mut inner = Contents::default();
                        let result = self.layer(member, name, next, &mut inner);
                        merge_borrowed(out, inner);
                        self.left(name, result).map(|()| Some(format))
                    }
                    Class::Pickle => self.piece(out, name.to_owned(), member).map(|()| None),
                    Class::Data => Ok(None),
                }
            }
            8 => {
                let head = compress::decompress(
                    Codec::Deflate,
                    raw,
                    Want::Prefix(SNIFF_BYTES),
                    &mut self.budget,
                    offset,
                )?;
                let class = self.classify(&entry.name, &head, out);
                if class == Class::Data {
                    return Ok(None);
                }
                if class == Class::Container(Format::Npy) {
                    // An array's header says whether its data is a pickle; a plain
                    // array need not be decompressed (the size is checked against
                    // the directory's claim).
                    let header = npy::parse_header(&head)?;
                    if !header.has_object {
                        push_format(out, Format::Npy);
                        self.npy_size(
                            &header,
                            entry.size.saturating_sub(header.data_offset),
                            name,
                            out,
                        );
                        return Ok(Some(Format::Npy));
                    }
                }
                let whole = if (head.len() as u64) < SNIFF_BYTES {
                    head
                } else {
                    compress::decompress(Codec::Deflate, raw, Want::All, &mut self.budget, offset)?
                };
                if self.may_check_crc(whole.len() as u64) {
                    let actual = zip::crc32(&whole);
                    if actual != entry.crc32 {
                        bad_crc(out, actual);
                    }
                }
                match class {
                    Class::Pickle => self.owned_piece(out, name.to_owned(), whole).map(|()| None),
                    Class::Container(format) => {
                        let next = depth.saturating_add(1);
                        let mut inner = Contents::default();
                        let result = self.layer(Src::Temp(&whole), name, next, &mut inner);
                        merge(out, inner);
                        self.left(name, result).map(|()| Some(format))
                    }
                    Class::Data => Ok(None),
                }
            }
            _ => Err(Error::new(
                ErrorKind::Unsupported("ZIP compression method other than stored and deflate"),
                entry.directory_offset,
                None,
            )),
        }
    }

    fn tar<'a>(
        &mut self,
        src: Src<'_, 'a>,
        location: &str,
        depth: u32,
        out: &mut Contents<'a>,
    ) -> Result<(), Error> {
        let data = src.bytes();
        let tar_slot = out.formats.len();
        out.formats.push(Format::Tar);
        let (members, ended) = tar::members(data)?;
        if !ended {
            out.anomalies.push(Anomaly {
                kind: AnomalyKind::Other,
                location: location.to_owned(),
                offset: data.len() as u64,
                detail: "the tar archive ends without its end-of-archive block (cut short?)"
                    .to_owned(),
            });
        }
        let has = |n: &str| members.iter().any(|m| m.name == n);
        let legacy = ["sys_info", "pickle", "storages", "tensors"]
            .iter()
            .all(|n| has(n));
        if legacy {
            if let Some(f) = out.formats.get_mut(tar_slot) {
                *f = Format::TorchLegacyTar;
            }
        }
        let walker = Decoder::new().policy(Policy::inert());
        for m in &members {
            let member = src.sub(m.offset, m.size);
            let name = join(location, &m.name);
            let result = if legacy && matches!(m.name.as_str(), "storages" | "tensors") {
                let found = if m.name == "storages" {
                    torch::tar_storages(member.bytes(), &walker)
                } else {
                    torch::tar_tensors(member.bytes(), &walker)
                };
                // A walk cut short fails at the end of the member's bytes.
                let result = self.found(found, member, location, out);
                self.left(&name, result)
            } else if legacy && matches!(m.name.as_str(), "sys_info" | "pickle") {
                self.piece(out, name, member)
            } else {
                match self.classify(&m.name, member.bytes(), out) {
                    Class::Container(_) => {
                        let mut inner = Contents::default();
                        let result = self.layer(member, &name, depth.saturating_add(1), &mut inner);
                        merge_borrowed(out, inner);
                        self.left(&name, result)
                    }
                    Class::Pickle => self.piece(out, name, member),
                    Class::Data => Ok(()),
                }
            };
            match result {
                Err(e) if is_global(&e) => return Err(e),
                Err(e) => {
                    let at = self.error_layer(location);
                    note(out, at, e);
                }
                Ok(()) => {}
            }
        }
        Ok(())
    }

    fn torch_legacy<'a>(
        &mut self,
        src: Src<'_, 'a>,
        location: &str,
        out: &mut Contents<'a>,
    ) -> Result<(), Error> {
        push_format(out, Format::TorchLegacy);
        let walker = Decoder::new().policy(Policy::inert());
        let found = torch::legacy_pickles(src.bytes(), &walker);
        self.found(found, src, location, out)
    }

    /// The pickles a torch walk found, as pieces; a walk that did not get through
    /// the layout is an end-of-input error at the end of its bytes.
    fn found<'a>(
        &mut self,
        (found, complete): torch::Walked,
        src: Src<'_, 'a>,
        location: &str,
        out: &mut Contents<'a>,
    ) -> Result<(), Error> {
        for f in found {
            let len = f.end.saturating_sub(f.start);
            self.piece(
                out,
                join(location, &f.name),
                src.sub(f.start as u64, len as u64),
            )?;
        }
        if complete {
            Ok(())
        } else {
            Err(Error::new(ErrorKind::Eof, src.bytes().len() as u64, None))
        }
    }
}

/// What a ZIP's members say it is.
fn refine(entries: &[ZipEntry], npy_members: usize, members: usize) -> Format {
    // PyTorch's records live under the first entry's folder.
    let root = entries
        .first()
        .and_then(|e| e.name.split_once('/'))
        .map(|(root, _)| root)
        .unwrap_or("");
    let under = |e: &ZipEntry, rest: &str| {
        e.name
            .strip_prefix(root)
            .and_then(|n| n.strip_prefix('/'))
            .is_some_and(|n| n == rest || (rest.ends_with('/') && n.starts_with(rest)))
    };
    if !root.is_empty()
        && entries
            .iter()
            .any(|e| under(e, "constants.pkl") || under(e, "code/"))
    {
        Format::TorchScript
    } else if !root.is_empty() && entries.iter().any(|e| under(e, "data.pkl")) {
        Format::TorchZip
    } else if members > 0 && npy_members == members {
        Format::Npz
    } else {
        Format::Zip
    }
}

/// Adds what an inner layer over a temporary buffer found (its pieces are owned).
fn merge<'a>(out: &mut Contents<'a>, inner: Contents<'_>) {
    for f in inner.formats {
        push_format(out, f);
    }
    out.pieces.extend(inner.pieces.into_iter().map(|p| Piece {
        location: p.location,
        file_offset: p.file_offset,
        data: Cow::Owned(p.data.into_owned()),
        kind: p.kind,
    }));
    out.anomalies.extend(inner.anomalies);
    if let Some(e) = inner.error {
        note(out, inner.error_location, e);
    }
}

/// Adds what an inner layer over the file's own bytes found.
fn merge_borrowed<'a>(out: &mut Contents<'a>, inner: Contents<'a>) {
    for f in inner.formats {
        push_format(out, f);
    }
    out.pieces.extend(inner.pieces);
    out.anomalies.extend(inner.anomalies);
    if let Some(e) = inner.error {
        note(out, inner.error_location, e);
    }
}

#[cfg(test)]
mod tests;
