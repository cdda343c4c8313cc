//! The pickle VM (placeholder).
use crate::reader::Source;
use crate::{Decoded, Decoder, Error, ErrorKind};

pub(crate) fn run<'a, S: Source<'a>>(_source: S, _decoder: &Decoder) -> Result<Decoded<'a>, Error> {
    Err(Error::new(ErrorKind::Eof, 0, None))
}
