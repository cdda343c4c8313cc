//! joblib pickles: array data written between opcodes.
//!
//! `joblib.dump` pickles each NumPy array as a `joblib.numpy_pickle.NumpyArrayWrapper`
//! object (NEWOBJ, or `copyreg._reconstructor` at protocols 0 and 1, then BUILD with a
//! state dict: `subclass`, `shape`, `order`, `dtype`, `allow_mmap` and, since joblib
//! 1.2, `numpy_array_alignment_bytes`) and writes the array right after that BUILD
//! (`NumpyArrayWrapper.write_array`, read back by `NumpyUnpickler.load_build` and
//! `read_array` in `joblib/numpy_pickle.py`):
//! - if the state has `numpy_array_alignment_bytes` (not None): one byte holding the
//!   padding length, then that many padding bytes;
//! - then shape × itemsize raw bytes; or, when the dtype holds Python objects, a
//!   complete nested pickle (protocol 5), which joblib loads with a plain unpickler.
//!
//! [`JoblibSink`] is a [`Sink`] that steps over exactly those bytes, so a joblib file
//! decodes to STOP like any pickle, and forwards every site (including the nested
//! pickle's, shifted to the outer stream's offsets) to the sink it wraps. It costs
//! one pointer comparison per BUILD when no wrapper appears, so it can wrap every
//! pickle a scanner reads.

use crate::decode::sink::{At, Event, Finish, OnRefusal, Sink};
use crate::decode::Decoder;
use crate::graph::{Graph, Node, NodeId};
use crate::policy::Verdict;

/// The modules that define `NumpyArrayWrapper` (joblib, and the copy scikit-learn
/// vendored before 0.23).
const WRAPPER_MODULES: &[&str] = &[
    "joblib.numpy_pickle",
    "sklearn.externals.joblib.numpy_pickle",
];

/// The deepest dtype nesting (structured dtypes of structured dtypes) followed when
/// looking for object fields.
const MAX_DTYPE_DEPTH: u32 = 32;

/// A [`Sink`] for joblib pickles: steps over the array data after each
/// `NumpyArrayWrapper` BUILD and forwards sites and the end to `inner`.
pub struct JoblibSink<'s> {
    inner: &'s mut dyn Sink,
    decoder: &'s Decoder,
    input_len: u64,
}

impl<'s> JoblibSink<'s> {
    /// Wraps `inner`. `decoder` decodes the nested pickles of object arrays;
    /// `input` is the slice being decoded (its length turns the `rest` the machine
    /// hands over into an offset, so nested sites carry outer offsets).
    pub fn new(inner: &'s mut dyn Sink, decoder: &'s Decoder, input: &[u8]) -> JoblibSink<'s> {
        JoblibSink {
            inner,
            decoder,
            input_len: input.len() as u64,
        }
    }
}

impl Sink for JoblibSink<'_> {
    fn site(&mut self, at: At, event: Event<'_>, verdict: Verdict, graph: &Graph<'_>) -> u64 {
        self.inner.site(at, event, verdict, graph)
    }

    fn inline_after_build(
        &mut self,
        graph: &Graph<'_>,
        target: NodeId,
        state: NodeId,
        rest: Option<&[u8]>,
    ) -> Result<u64, &'static str> {
        if !is_wrapper(graph, target) {
            return Ok(0);
        }
        let wrapper = Wrapper::read(graph, state)?;
        if wrapper.has_object {
            let rest = rest.ok_or("joblib object array: a nested pickle needs slice input")?;
            let base = self.input_len.saturating_sub(rest.len() as u64);
            let mut shifted = Shifted {
                inner: &mut *self.inner,
                base,
            };
            let decoded = self
                .decoder
                .decode_with_sink(rest, &mut shifted, OnRefusal::Continue)
                .map_err(|_| "joblib object array: the nested pickle does not decode")?;
            return Ok(decoded.consumed);
        }
        let padding = match wrapper.alignment {
            false => 0,
            true => {
                let rest = rest.ok_or("joblib aligned array: the padding needs slice input")?;
                let len = rest
                    .first()
                    .ok_or("joblib array: input ends before its padding")?;
                1 + u64::from(*len)
            }
        };
        wrapper
            .nbytes
            .checked_add(padding)
            .ok_or("joblib array larger than 2^64 bytes")
    }

    fn finish(&mut self, end: &Finish<'_, '_>) {
        self.inner.finish(end);
    }
}

/// Forwards the nested pickle's sites with outer offsets; its end is not the outer
/// decode's end, so `finish` is not forwarded.
struct Shifted<'i> {
    inner: &'i mut dyn Sink,
    base: u64,
}

impl Sink for Shifted<'_> {
    fn site(&mut self, at: At, event: Event<'_>, verdict: Verdict, graph: &Graph<'_>) -> u64 {
        let at = At {
            offset: at.offset.saturating_add(self.base),
            opcode: at.opcode,
        };
        self.inner.site(at, event, verdict, graph)
    }
}

/// `target` is an object made by calling `NumpyArrayWrapper` (NEWOBJ / REDUCE), or by
/// `copyreg._reconstructor(NumpyArrayWrapper, object, None)` (protocols 0 and 1).
fn is_wrapper(graph: &Graph<'_>, target: NodeId) -> bool {
    let Some(Node::Object(obj)) = graph.get(target) else {
        return false;
    };
    match graph.get(obj.callable) {
        Some(Node::Global(g)) if g.name == "NumpyArrayWrapper" => {
            WRAPPER_MODULES.contains(&g.module.as_str())
        }
        Some(Node::Global(g)) if g.module == "copyreg" && g.name == "_reconstructor" => {
            match graph.get(obj.args) {
                Some(Node::Tuple([cls, ..])) => matches!(
                    graph.get(*cls),
                    Some(Node::Global(g)) if g.name == "NumpyArrayWrapper"
                        && WRAPPER_MODULES.contains(&g.module.as_str())
                ),
                _ => false,
            }
        }
        _ => false,
    }
}

/// What a wrapper's state says about the bytes that follow.
struct Wrapper {
    /// shape × itemsize.
    nbytes: u64,
    /// A padding-length byte (and padding) comes first.
    alignment: bool,
    /// A nested pickle comes instead of raw bytes.
    has_object: bool,
}

impl Wrapper {
    fn read(graph: &Graph<'_>, state: NodeId) -> Result<Wrapper, &'static str> {
        let Some(Node::Dict(items)) = graph.get(state) else {
            return Err("joblib NumpyArrayWrapper state is not a dict");
        };
        let field = |name: &str| {
            items.iter().find_map(|(k, v)| match graph.get(*k) {
                Some(Node::Str(s)) if s == name.as_bytes() => Some(*v),
                _ => None,
            })
        };
        let shape = field("shape").ok_or("joblib NumpyArrayWrapper state without a shape")?;
        let dtype = field("dtype").ok_or("joblib NumpyArrayWrapper state without a dtype")?;
        // `read_array` reads the padding byte whenever the attribute is not None,
        // whatever its value.
        let alignment = !matches!(
            field("numpy_array_alignment_bytes").map(|v| graph.get(v)),
            None | Some(Some(Node::None))
        );
        let Some(Node::Tuple(dims)) = graph.get(shape) else {
            return Err("joblib array shape is not a tuple");
        };
        let mut count = 1u64;
        for dim in dims {
            let n = match graph.get(*dim) {
                Some(Node::Int(n)) => {
                    u64::try_from(n).map_err(|_| "joblib array shape is negative")?
                }
                _ => return Err("joblib array shape holds something other than an int"),
            };
            count = count
                .checked_mul(n)
                .ok_or("joblib array larger than 2^64 elements")?;
        }
        let (itemsize, has_object) = dtype_info(graph, dtype, 0)?;
        let nbytes = if has_object {
            0
        } else {
            count
                .checked_mul(itemsize)
                .ok_or("joblib array larger than 2^64 bytes")?
        };
        Ok(Wrapper {
            nbytes,
            alignment,
            has_object,
        })
    }
}

/// Itemsize and "holds objects" of a pickled `numpy.dtype`: the call
/// `numpy.dtype(descr, align, copy)` and its BUILD state
/// `(version, endian, subarray, names, fields, elsize, alignment, flags[, metadata])`.
fn dtype_info(graph: &Graph<'_>, dtype: NodeId, depth: u32) -> Result<(u64, bool), &'static str> {
    if depth > MAX_DTYPE_DEPTH {
        return Err("joblib dtype nested too deep");
    }
    let Some(Node::Object(obj)) = graph.get(dtype) else {
        return Err("joblib array dtype is not a numpy.dtype call");
    };
    match graph.get(obj.callable) {
        Some(Node::Global(g))
            if g.name == "dtype" && (g.module == "numpy" || g.module.starts_with("numpy.")) => {}
        _ => return Err("joblib array dtype is not a numpy.dtype call"),
    }
    let descr = match graph.get(obj.args) {
        Some(Node::Tuple([descr, ..])) => match graph.get(*descr) {
            Some(Node::Str(s)) => s,
            _ => return Err("joblib dtype descr is not a str"),
        },
        _ => return Err("joblib dtype call without arguments"),
    };
    let state = obj.state.last().and_then(|s| match graph.get(*s) {
        Some(Node::Tuple(items)) => Some(items),
        _ => None,
    });
    // A flexible type's size is in the state (elsize, index 5); others in the descr.
    let elsize = state
        .and_then(|items| items.get(5))
        .and_then(|e| match graph.get(*e) {
            Some(Node::Int(n)) if n > 0 => u64::try_from(n).ok(),
            _ => None,
        });
    let (kind, digits) = descr.split_first().ok_or("joblib dtype descr is empty")?;
    let digits: Option<u64> = std::str::from_utf8(digits)
        .ok()
        .and_then(|d| d.parse().ok());
    let mut has_object = *kind == b'O';
    let itemsize = match (*kind, elsize, digits) {
        (_, Some(n), _) => n,
        (b'O', None, _) => 8,
        (b'U', None, Some(n)) => n.checked_mul(4).ok_or("joblib dtype size overflows")?,
        (b'b' | b'i' | b'u' | b'f' | b'c' | b'M' | b'm' | b'S' | b'a' | b'V', None, Some(n)) => n,
        (b'S' | b'a' | b'V' | b'U', None, None) => 0,
        _ => return Err("joblib dtype descr of an unknown kind"),
    };
    // Structured and subarray dtypes: objects in any field count.
    if let Some(items) = state {
        if let Some(Node::Tuple([base, _shape])) = items.get(2).and_then(|s| graph.get(*s)) {
            has_object |= dtype_info(graph, *base, depth.saturating_add(1))?.1;
        }
        if let Some(Node::Dict(fields)) = items.get(4).and_then(|f| graph.get(*f)) {
            for (_, field) in fields {
                if let Some(Node::Tuple([sub, ..])) = graph.get(*field) {
                    has_object |= dtype_info(graph, *sub, depth.saturating_add(1))?.1;
                }
            }
        }
    }
    Ok((itemsize, has_object))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use crate::policy::Policy;

    /// A protocol 2 wrapper: `NumpyArrayWrapper()` with state `{shape, dtype[,
    /// numpy_array_alignment_bytes]}`, BUILD, then `after` (inline data and more
    /// opcodes).
    fn wrapper(shape: &[u8], dtype: &[u8], aligned: bool, after: &[u8]) -> Vec<u8> {
        let mut p = b"\x80\x02cjoblib.numpy_pickle\nNumpyArrayWrapper\n)\x81}(".to_vec();
        p.extend_from_slice(b"X\x05\x00\x00\x00shape");
        p.extend_from_slice(shape);
        p.extend_from_slice(b"X\x05\x00\x00\x00dtype");
        p.extend_from_slice(dtype);
        if aligned {
            p.extend_from_slice(b"X\x1b\x00\x00\x00numpy_array_alignment_bytesK\x10");
        }
        p.extend_from_slice(b"ub");
        p.extend_from_slice(after);
        p
    }

    /// `numpy.dtype('f8', False, True)` with its BUILD state.
    const F8: &[u8] =
        b"cnumpy\ndtype\nX\x02\x00\x00\x00f8\x89\x88\x87R(K\x03X\x01\x00\x00\x00<NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb";

    fn decode(data: &[u8]) -> Result<u64, crate::error::Error> {
        let decoder = Decoder::new().policy(Policy::inert());
        struct Nothing;
        impl Sink for Nothing {}
        let mut nothing = Nothing;
        let mut sink = JoblibSink::new(&mut nothing, &decoder, data);
        decoder
            .decode_with_sink(data, &mut sink, OnRefusal::Continue)
            .map(|d| d.consumed)
    }

    #[test]
    fn raw_bytes_and_padding_are_stepped_over() {
        // shape (3,), f8: 24 bytes, then STOP (the wrapper is the value).
        let data = wrapper(
            b"K\x03\x85",
            F8,
            false,
            &[[0xffu8; 24].as_slice(), b"."].concat(),
        );
        assert_eq!(decode(&data).unwrap(), data.len() as u64);
        // Aligned: a padding-length byte (5) and 5 bytes of padding first.
        let mut after = vec![5u8, 0xff, 0xff, 0xff, 0xff, 0xff];
        after.extend_from_slice(&[0x11; 24]);
        after.push(b'.');
        let data = wrapper(b"K\x03\x85", F8, true, &after);
        assert_eq!(decode(&data).unwrap(), data.len() as u64);
        // A 0-d array holds one element; a zero-size one none.
        let data = wrapper(b")", F8, false, &[[0u8; 8].as_slice(), b"."].concat());
        assert_eq!(decode(&data).unwrap(), data.len() as u64);
        let data = wrapper(b"K\x00\x85", F8, false, b".");
        assert_eq!(decode(&data).unwrap(), data.len() as u64);
    }

    #[test]
    fn malformed_wrapper_state_fails_the_decode() {
        let cases: &[(Vec<u8>, &str)] = &[
            (
                wrapper(b"K\x03\x85", b"K\x01", false, b"."),
                "joblib array dtype is not a numpy.dtype call",
            ),
            (
                wrapper(b"J\xff\xff\xff\xff\x85", F8, false, b"."),
                "joblib array shape is negative",
            ),
            (
                wrapper(b"X\x01\x00\x00\x00x", F8, false, b"."),
                "joblib array shape is not a tuple",
            ),
            (
                wrapper(b"\x8a\x08\x00\x00\x00\x00\x00\x00\x00\x40\x8a\x08\x00\x00\x00\x00\x00\x00\x00\x40\x86", F8, false, b"."),
                "joblib array larger than 2^64 elements",
            ),
        ];
        for (data, why) in cases {
            let err = decode(data).unwrap_err();
            assert_eq!(err.kind(), &ErrorKind::Malformed(why));
        }
        // The array's bytes are missing: the input ends inside them.
        let data = wrapper(b"K\x03\x85", F8, false, &[0u8; 10]);
        assert_eq!(decode(&data).unwrap_err().kind(), &ErrorKind::Eof);
    }

    #[test]
    fn other_builds_cost_nothing() {
        // An object BUILD that is not a wrapper: no inline data.
        let data = b"\x80\x02cmod\nCls\n)\x81}b.";
        assert_eq!(decode(data).unwrap(), data.len() as u64);
    }
}
