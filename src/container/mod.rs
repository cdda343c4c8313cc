//! File formats around pickles, each recognised by its content, never by its name.
//!
//! [`open`] takes the bytes of a file and returns its [`Contents`]: the layers it was
//! wrapped in (a gzip around a pickle, an `.npy` inside an `.npz`...), every pickle
//! found in it as a [`Piece`] with its place in the file, the [`Anomaly`]s a reader
//! met on the way (a bad CRC, two ZIP entries with one name...) and, when a layer
//! could not be read, the error that stopped it. Nothing here decodes a pickle: the
//! scanner (`crate::scan`) and the CLI hand each piece to the decoder.
//!
//! Every reader is bounded like the decoder: sizes and offsets are checked against
//! the file before use, and decompressed output is charged to
//! [`ContainerLimits::max_output_bytes`] as it comes out, so a decompression bomb is
//! an [`ErrorKind::Limit`](crate::ErrorKind::Limit) error like any other.

pub mod zip;

use std::borrow::Cow;
use std::io::Cursor;

use crate::error::Error;
use zip::{looks_like_zip, ZipArchive, ZipLimits};

/// Bounds on reading containers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ContainerLimits {
    /// Bounds on each ZIP archive.
    pub zip: ZipLimits,
    /// Bytes produced by decompression and extraction, over the whole file (default
    /// 1 GiB, the decoder's input limit): a bomb stops here.
    pub max_output_bytes: u64,
    /// Pieces (pickles) in one file (default 100,000).
    pub max_pieces: u64,
    /// Layers of containers inside containers (an `.npy` in an `.npz`, a pickle in a
    /// gzip; default 8).
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
    /// xz / lzma.
    Xz,
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
    /// A ZIP entry is encrypted (not read).
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
}

/// Recognises the format of `data` from its content and lists every pickle in it.
pub fn open<'a>(data: &'a [u8], limits: &ContainerLimits) -> Contents<'a> {
    let mut contents = Contents::default();
    if looks_like_zip(data) {
        contents.formats.push(Format::Zip);
        if let Err(e) = read_zip(data, limits, &mut contents) {
            contents.error = Some(e);
        }
        return contents;
    }
    contents.formats.push(Format::Pickle);
    contents.pieces.push(Piece {
        location: String::new(),
        file_offset: Some(0),
        data: Cow::Borrowed(data),
        kind: PieceKind::Pickles,
    });
    contents
}

fn read_zip(data: &[u8], limits: &ContainerLimits, out: &mut Contents<'_>) -> Result<(), Error> {
    let mut archive = ZipArchive::open(Cursor::new(data), limits.zip)?;
    for entry in archive.pickles() {
        let bytes = archive.read(&entry)?;
        out.pieces.push(Piece {
            location: entry.name.clone(),
            file_offset: None,
            data: Cow::Owned(bytes),
            kind: PieceKind::Pickles,
        });
    }
    Ok(())
}
