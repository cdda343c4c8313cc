//! Fuzz-target bodies and their invariant checks (feature `harness`).
//!
//! Every fuzz target in `fuzz/fuzz_targets/` is a 3-line shim over one `run_*` function
//! here, and `tests/suite/fuzz_replay.rs` replays every file of `corpus/` through the
//! same functions, so a crash file found by the fuzzer is a `cargo test` failure the
//! moment it is saved under `corpus/regressions/`.
//!
//! | target | input | invariant |
//! |---|---|---|
//! | `decode` | pickle bytes | under tight [`fuzz_limits`] and the inert policy: `Ok` ⇒ every usage figure within its limit, the graph well formed (its heap within the charge, big ints consistent), JSON / repr / disassembly render within their bounds; `Err` ⇒ offset within the input, the opcode named is the byte there, limit errors name a limit that was really passed; narrower policies only refuse; the scan's text and JSON render; the same again with the options of the last byte ([`Options`]: raw, string encoding, supplied buffers), `iter_reader` = `iter_slice`, and a sink stepping over inline data after BUILD gets the same from a slice and a stream |
//! | `stream` | pickle bytes | slice and `io::Read` decodes agree (same graph, root and usage, or same error kind and offset) under a chunking chosen by the input's last byte; the byte before may inject a read error ([`Chunking::from_bytes`]), which may only turn the result into that I/O error |
//! | `ops` | [`OpsInput`] | opcodes with well-formed arguments, serialised here, then the `decode` and `stream` oracles |
//! | `roundtrip` | [`GraphInput`] | a hand-built graph (sharing, cycles) encodes at every protocol and decodes back to an isomorphic graph; re-encoding is byte-identical |
//! | `roundtrip_bytes` | pickle bytes | any decodable input: decode ⇒ encode ⇒ decode is isomorphic, and encoding is stable, with the encoder options of the last byte ([`EncodeOptions`]: raw, no framing, call fallbacks); protocol 6 is refused |
//! | `limits` | pickle bytes | metamorphic: raised limits change nothing, `Limits::from_usage` is exact, one less of any used resource fails with exactly that resource; a limit error survives raising every other limit |
//! | `views` | pickle bytes | JSON output linear in the graph, repr within `max_len + 3`, `tree::expand` within its node and depth limits or a typed refusal |
//! | `scan` | file bytes | the whole-file scan ([`scan`]): never panics, findings point into the file, the first refused site is where `decode` fails, a benign graph's verdict survives re-encoding |
//! | `container` | any file's bytes | `container::open` under tight limits: no panic, pieces within the output budget and (when borrowed) within the input, offsets within their layer; each piece decoded with `JoblibSink` ([`container`]) |
//! | `serde` | pickle bytes | (feature `serde`, [`serde`]) typed deserialization within its budgets, typed errors with a path, and `to_vec` round trips of whatever deserializes |
//! | `zip` | archive bytes | the ZIP reader ([`crate::container::zip`]) never reads past the file or over its limits: every entry it returns lies within the input, every error points into it; pickles found are decoded and scanned like `decode` inputs |
//! | `cpython` | pickle bytes | feature `cpython`: CPython's own unpickler, run with inert stand-ins, builds an equivalent value or also rejects ([`cpython`]) |
//!
//! # Configuration bytes come from the end
//!
//! Targets that need a few configuration bytes (`stream`, `limits`, `views`) read them
//! from the **end** of the input ([`tail`]) and still decode the whole input. The
//! decoder never reads past STOP, so a seed pickle from `corpus/` is a valid input for
//! every target as it is, and the fuzzer can change the configuration by appending
//! bytes after STOP without touching the pickle.
//!
//! # Small stacks
//!
//! Each `run_*` function runs its body on a fresh thread with a [`STACK_SIZE`] stack
//! and re-raises its panic, so anything that recursed on input depth (decoder, views,
//! encoder, or these checks) would overflow and crash the target. Nothing here
//! recurses: graph walks keep explicit stacks. The bodies are deterministic and do no
//! I/O.

// A fuzz body's job is to panic when an invariant breaks, and its bookkeeping is not
// input-facing decoding code: the crate-wide no-panic lints do not apply here.
#![allow(
    clippy::panic,
    clippy::arithmetic_side_effects,
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used
)]

pub mod policy;
pub mod scan;
#[cfg(feature = "serde")]
pub mod serde;

use std::collections::{HashMap, HashSet};
use std::io::{self, BufReader, Read};

use arbitrary::Arbitrary;

pub mod container;
pub use container::run_container;
#[cfg(feature = "cpython")]
pub mod cpython;
#[cfg(feature = "torch")]
pub mod torch;
#[cfg(feature = "torch")]
pub use torch::run_torch;

use crate::views::{json, repr, tree};
use crate::{
    BigInt, CallOp, Decoded, Decoder, Error, ErrorKind, Global, Graph, IntValue, Limits, Node,
    NodeData, NodeId, Object, Policy, Resource,
};

/// Stack of the thread each body runs on: small, so that recursion on input depth
/// crashes instead of passing unnoticed on an 8 MiB main stack.
pub const STACK_SIZE: usize = 256 * 1024;

/// Runs `body` on a thread with a [`STACK_SIZE`] stack and re-raises its panic.
pub(crate) fn on_small_stack<F: FnOnce() + Send>(body: F) {
    std::thread::scope(|scope| {
        let handle = std::thread::Builder::new()
            .name("pickleproof-harness".to_owned())
            .stack_size(STACK_SIZE)
            .spawn_scoped(scope, body);
        match handle {
            Ok(handle) => {
                if let Err(panic) = handle.join() {
                    std::panic::resume_unwind(panic);
                }
            }
            Err(e) => panic!("cannot spawn the harness thread: {e}"),
        }
    });
}

/// Tight limits for the fuzz targets: every cap is reachable by a small input, so the
/// fuzzer exercises each limit error, and one run stays in the milliseconds.
pub fn fuzz_limits() -> Limits {
    Limits {
        max_input_bytes: 1 << 20,
        max_steps: 100_000,
        max_memory_bytes: 1 << 20,
        max_depth: 64,
        max_memo_entries: 1024,
        max_container_len: 16_384,
        max_int_digits: 1000,
        max_int_bytes: 512,
    }
}

/// The decoder every target uses: the given limits and [`Policy::inert`], so every
/// opcode is reachable (nothing is refused by policy).
pub(crate) fn inert_decoder(limits: Limits) -> Decoder {
    Decoder::new().limits(limits).policy(Policy::inert())
}

/// The last `N` bytes of `data`, zero-padded in front when `data` is shorter.
pub fn tail<const N: usize>(data: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    let start = data.len().saturating_sub(N);
    let bytes = data.get(start..).unwrap_or(&[]);
    let skip = N.saturating_sub(bytes.len());
    for (dst, src) in out.iter_mut().skip(skip).zip(bytes) {
        *dst = *src;
    }
    out
}

// =====================================================================================
// decode
// =====================================================================================

/// Watches the heap around the `decode` call of [`decode_guarded`]. The `decode` fuzz
/// target implements it with a counting allocator; tests use [`NoGuard`].
pub trait HeapGuard: Sync {
    /// Called right before `Decoder::decode`, with the memory budget of that decode.
    fn enter(&self, budget: u64);
    /// Called right after it returns (before anything else allocates).
    fn exit(&self);
}

/// A [`HeapGuard`] that watches nothing.
pub struct NoGuard;

impl HeapGuard for NoGuard {
    fn enter(&self, _budget: u64) {}
    fn exit(&self) {}
}

/// The `decode` target on a small stack.
pub fn run_decode(data: &[u8]) {
    on_small_stack(|| decode(data));
}

/// The `decode` target on a small stack, with `guard` around the decode call.
pub fn run_decode_guarded(data: &[u8], guard: &dyn HeapGuard) {
    on_small_stack(|| decode_guarded(data, guard));
}

/// Body of the `decode` target; see the module docs.
pub fn decode(data: &[u8]) {
    decode_guarded(data, &NoGuard);
}

/// [`decode`] with a heap guard around the decode call.
pub fn decode_guarded(data: &[u8], guard: &dyn HeapGuard) {
    let limits = fuzz_limits();
    let decoder = inert_decoder(limits);
    guard.enter(limits.max_memory_bytes);
    let result = decoder.decode(data);
    guard.exit();
    check_result(data, &limits, &result);
    if let Ok(decoded) = &result {
        check_renders(decoded);
    }
    check_disasm(data, result.is_ok());
    if let Err(e) = &result {
        check_error_reporting(data, e);
    }
    check_policies_agree(data, &limits, &result);
    check_iter_slice(data, &decoder);
    check_deferred_containers(data, &limits);
    check_key_shapes_change_nothing(data, &decoder, &result);
    check_scan(data, &limits);
    check_options(data, &limits);
}

/// The decoder options the inert decode of the `decode` target leaves at their
/// defaults, chosen by the last input byte XOR `b'.'` (so a pickle that ends with its
/// STOP gets the defaults): bit 0 raw, bits 1-2 the Python 2 string encoding (1
/// latin-1, 2 bytes, else ASCII), bit 3 out-of-band buffers supplied (`(b >> 4) & 3`
/// of [`OPTION_BUFFERS`]), bits 4-5 also how many bytes a sink steps over after each
/// BUILD of an object ([`check_options`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    /// `Decoder::raw`.
    pub raw: bool,
    /// `Decoder::string_encoding`.
    pub encoding: crate::StringEncoding,
    /// How many of [`OPTION_BUFFERS`] are supplied (`None`: not supplied at all).
    pub buffers: Option<usize>,
    /// Bytes of inline data a sink asks the machine to step over after BUILD.
    pub inline_skip: u64,
}

/// The out-of-band buffers [`Options`] may supply, in order.
pub const OPTION_BUFFERS: [&[u8]; 3] = [b"\x00\x01\x02", b"", b"buffer"];

impl Options {
    /// See the type docs.
    pub fn from_byte(b: u8) -> Options {
        let b = b ^ b'.';
        Options {
            raw: b & 1 != 0,
            encoding: match (b >> 1) & 3 {
                1 => crate::StringEncoding::Latin1,
                2 => crate::StringEncoding::Bytes,
                _ => crate::StringEncoding::Ascii,
            },
            buffers: (b & 8 != 0).then_some(usize::from((b >> 4) & 3)),
            inline_skip: u64::from((b >> 4) & 3),
        }
    }

    /// `decoder` with these options.
    pub fn apply(self, decoder: Decoder) -> Decoder {
        let decoder = decoder.raw(self.raw).string_encoding(self.encoding);
        match self.buffers {
            Some(n) => decoder.buffers(OPTION_BUFFERS.iter().take(n).map(|b| b.to_vec()).collect()),
            None => decoder,
        }
    }
}

/// A sink that counts sites, asks the machine to step over a fixed number of bytes
/// after each BUILD of an object (what a joblib reader does), and keeps what
/// `finish` saw.
struct CountingSink {
    skip: u64,
    sites: u64,
    finished: Option<(Option<NodeId>, crate::Usage)>,
}

impl crate::decode::sink::Sink for CountingSink {
    fn site(
        &mut self,
        _at: crate::decode::sink::At,
        _event: crate::decode::sink::Event<'_>,
        _verdict: crate::policy::Verdict,
        _graph: &Graph<'_>,
    ) -> u64 {
        self.sites += 1;
        0
    }

    fn inline_after_build(
        &mut self,
        _graph: &Graph<'_>,
        _target: NodeId,
        _state: NodeId,
        _rest: Option<&[u8]>,
    ) -> Result<u64, &'static str> {
        Ok(self.skip)
    }

    fn finish(&mut self, end: &crate::decode::sink::Finish<'_, '_>) {
        self.finished = Some((end.root, *end.usage));
    }
}

/// The options of the last byte ([`Options`]): the decode satisfies every check of a
/// plain decode; `iter_reader` walks the same pickles as `iter_slice`; and a sink that
/// steps over inline data after each BUILD gets the same result from a slice and from
/// a stream, and hears `finish` with the decode's own root and usage.
fn check_options(data: &[u8], limits: &Limits) {
    use crate::decode::sink::OnRefusal;
    let options = Options::from_byte(tail::<1>(data)[0]);
    let decoder = options.apply(inert_decoder(*limits));
    assert_eq!(decoder.get_limits(), limits, "get_limits");
    let result = decoder.decode(data);
    check_result(data, limits, &result);
    match &result {
        Ok(decoded) => check_renders(decoded),
        Err(e) => check_error_reporting(data, e),
    }
    // Several pickles in a row, from a slice and from a stream.
    let slices: Vec<_> = decoder.iter_slice(data).take(4).collect();
    let streamed: Vec<_> = decoder.iter_reader(io::Cursor::new(data)).take(4).collect();
    assert_eq!(
        slices.len(),
        streamed.len(),
        "iter_slice and iter_reader lengths"
    );
    for (n, (a, b)) in slices.iter().zip(&streamed).enumerate() {
        match (a, b) {
            (Ok(a), Ok(b)) => assert!(
                a.graph == b.graph && a.root == b.root && a.consumed == b.consumed,
                "pickle {n}: iter_slice and iter_reader differ"
            ),
            (Err(a), Err(b)) => assert_eq!(
                (a.kind(), a.offset()),
                (b.kind(), b.offset()),
                "pickle {n}: iter_slice and iter_reader fail differently"
            ),
            _ => panic!(
                "pickle {n}: iter_slice {:?}, iter_reader {:?}",
                a.is_ok(),
                b.is_ok()
            ),
        }
    }
    // Inline data stepped over after BUILD, slice against stream.
    let run = |stream: bool| {
        let mut sink = CountingSink {
            skip: options.inline_skip,
            sites: 0,
            finished: None,
        };
        let result = if stream {
            decoder.decode_reader_with_sink(io::Cursor::new(data), &mut sink, OnRefusal::Fail)
        } else {
            decoder.decode_with_sink(data, &mut sink, OnRefusal::Fail)
        };
        let (root, usage) = sink.finished.expect("the sink heard no finish");
        if let Ok(d) = &result {
            assert_eq!(
                (root, usage),
                (Some(d.root), d.usage),
                "finish against the result"
            );
        }
        (
            result.map(|d| (d.graph.into_owned(), d.root, d.consumed)),
            sink.sites,
        )
    };
    match (run(false), run(true)) {
        ((Ok(a), sa), (Ok(b), sb)) => {
            assert!(a == b && sa == sb, "sink: slice and stream differ");
        }
        ((Err(a), _), (Err(b), _)) => assert_eq!(
            (a.kind(), a.offset()),
            (b.kind(), b.offset()),
            "sink: slice and stream fail differently"
        ),
        ((a, _), (b, _)) => panic!("sink: slice {:?}, stream {:?}", a.is_ok(), b.is_ok()),
    }
}

/// Metamorphic: reusing what an earlier SETITEMS batch proved about a key sequence
/// (`KeyShapes` in `keys.rs`) is invisible: the same graph, usage and bytes
/// consumed, or the same error (kind, offset, requested amount), with it turned off.
fn check_key_shapes_change_nothing(
    data: &[u8],
    decoder: &Decoder,
    result: &Result<Decoded<'_>, Error>,
) {
    let mut plain = decoder.clone();
    plain.key_shapes = false;
    match (result, plain.decode(data)) {
        (Ok(a), Ok(b)) => {
            assert_eq!(a.root, b.root, "key shapes: root");
            assert!(a.graph == b.graph, "key shapes: a different graph");
            assert_eq!(a.usage, b.usage, "key shapes: usage");
            assert_eq!(a.consumed, b.consumed, "key shapes: consumed");
        }
        (Err(a), Err(b)) => assert_eq!(a, &b, "key shapes: a different error"),
        (a, b) => panic!(
            "key shapes: with {:?} but without {:?}",
            a.as_ref().map(|d| d.root),
            b.map(|d| d.root)
        ),
    }
}

/// A scan ends as the inert decode does, and a decode under the scan's policy fails
/// with a refusal exactly at the scan's first refused site (or succeeds when it
/// refuses nothing). Memory is unbounded: the report itself is charged to it.
fn check_scan(data: &[u8], limits: &Limits) {
    let mut limits = *limits;
    limits.max_memory_bytes = u64::MAX;
    let inert = inert_decoder(limits).decode(data);
    for policy in [Policy::strict(), Policy::pytorch()] {
        let decoder = Decoder::new().limits(limits).policy(policy);
        let report = decoder.scan(data);
        check_report_renders(&report);
        match (&inert, &report.error) {
            (Ok(d), None) => assert_eq!(d.consumed, report.consumed, "scan: consumed"),
            (Err(a), Some(b)) => assert_eq!(
                (a.kind(), a.offset()),
                (b.kind(), b.offset()),
                "scan: a different error than the inert decode"
            ),
            (a, b) => panic!(
                "scan: inert decode {:?}, scan error {b:?}",
                a.as_ref().map(|d| d.consumed)
            ),
        }
        let first = report.refused().next().map(|s| s.offset);
        match decoder.decode(data) {
            Ok(_) => assert_eq!(first, None, "scan refused what the decode allowed"),
            Err(e) if e.is_policy() || e.kind() == &ErrorKind::BufferMissing => {
                assert_eq!(first, Some(e.offset()), "scan: first refusal elsewhere")
            }
            Err(e) => assert!(
                first.map_or(true, |at| at >= e.offset()),
                "scan refused before the decode's own error {e:?}"
            ),
        }
    }
}

/// The security report's text and JSON forms: a line per site between the header and
/// the summary, a balanced JSON object naming each site; `is_clean` as defined.
fn check_report_renders(report: &crate::scan::Report) {
    let text = report.to_text("strict");
    let summary = format!(
        "{} site(s), {} refused by policy strict; ",
        report.sites.len(),
        report.refused().count()
    );
    assert!(text.contains(&summary), "report text without {summary:?}");
    for site in &report.sites {
        assert!(!site.finding.describe().is_empty());
    }
    let doc = report.to_json_for("strict", Some("entry/data.pkl"));
    check_json_balanced(&doc);
    assert!(doc.starts_with("{\"entry\":\"entry/data.pkl\",\"policy\":\"strict\""));
    assert_eq!(
        report.is_clean(),
        report.error.is_none() && report.refused().next().is_none()
    );
}

/// Metamorphic: deferring every empty container (the path a deep stack takes, see
/// `PENDING_TUPLE` in `machine.rs`) changes when nodes are made, never what is built.
/// Memory is unbounded for both decodes, because deferring moves the memory charge of
/// a container to its first use; every other limit stays tight.
fn check_deferred_containers(data: &[u8], limits: &Limits) {
    let mut limits = *limits;
    limits.max_memory_bytes = u64::MAX;
    let eager = inert_decoder(limits);
    let mut deferred = inert_decoder(limits);
    deferred.eager_containers = 0;
    match (eager.decode(data), deferred.decode(data)) {
        (Ok(a), Ok(b)) => {
            if let Err(why) = isomorphic(&a.graph, a.root, &b.graph, b.root) {
                panic!("deferred containers built a different graph: {why}");
            }
            assert_eq!(a.consumed, b.consumed, "deferred containers: consumed");
            let mut ua = a.usage;
            let mut ub = b.usage;
            ua.memory_bytes = 0;
            ub.memory_bytes = 0;
            assert_eq!(ua, ub, "deferred containers: usage other than memory");
            assert!(b.graph.len() <= a.graph.len(), "deferring made more nodes");
        }
        (Err(a), Err(b)) => assert_eq!(
            (a.kind(), a.offset()),
            (b.kind(), b.offset()),
            "deferred containers: a different error"
        ),
        (a, b) => panic!(
            "deferred containers: eager {:?} but deferred {:?}",
            a.map(|d| d.root),
            b.map(|d| d.root)
        ),
    }
}

/// Every error renders and classifies consistently (what the CLI prints), and the
/// opcode it names is the byte at its offset.
fn check_error_reporting(data: &[u8], e: &Error) {
    if let Some(op) = e.opcode() {
        let at = usize::try_from(e.offset()).unwrap_or(usize::MAX);
        assert_eq!(
            data.get(at),
            Some(&op),
            "{e:?}: not the opcode at its offset"
        );
    }
    let text = e.to_string();
    assert!(
        text.contains(&format!("at offset {}", e.offset())),
        "Display lacks the offset: {text}"
    );
    assert!(!format!("{e:?}").is_empty());
    assert_eq!(
        e.is_limit(),
        e.resource().is_some(),
        "is_limit vs resource: {e:?}"
    );
    assert_eq!(e.is_eof(), e.kind().name() == "eof");
    let classes = [e.is_eof(), e.is_limit(), e.is_policy(), e.is_io()];
    assert!(
        classes.iter().filter(|c| **c).count() <= 1,
        "{e:?} in two classes"
    );
    if let Some(resource) = e.resource() {
        assert!(!resource.name().is_empty() && resource.to_string() == resource.name());
    }
}

/// Metamorphic: a narrower policy only ever refuses. Under `strict`, `pytorch`,
/// `numpy` and an allowlist, a success equals the inert decode, and an error that is
/// not a refusal is the inert decode's error at the same offset (the streams were
/// identical up to there, and narrower policies only refuse).
fn check_policies_agree(data: &[u8], limits: &Limits, inert: &Result<Decoded<'_>, Error>) {
    let policies = [
        Policy::strict(),
        Policy::pytorch(),
        Policy::numpy(),
        Policy::deny_all()
            .allow("collections", "OrderedDict")
            .allow_module_prefix("torch")
            .allow_persistent_ids(true)
            .allow_extensions(true),
        Policy::inert()
            .allow_buffer_placeholders(false)
            .allow_computed_calls(false),
    ];
    for (at, policy) in policies.into_iter().enumerate() {
        let narrow = Decoder::new()
            .limits(*limits)
            .policy(policy.clone())
            .decode(data);
        match (&narrow, inert) {
            (Ok(n), Ok(i)) => {
                assert!(
                    n.graph == i.graph && n.root == i.root,
                    "{policy:?}: graph differs from inert"
                );
                if at == 0 {
                    check_free_functions(data, n);
                }
            }
            (Ok(_), Err(e)) => panic!("{policy:?} accepted what inert refused: {e:?}"),
            (Err(n), _) if n.is_policy() || matches!(n.kind(), crate::ErrorKind::BufferMissing) => {
                check_error_reporting(data, n);
                if let crate::ErrorKind::Forbidden { module, name } = n.kind() {
                    assert!(
                        !policy.allows_global(module, name),
                        "refused an allowed global"
                    );
                }
            }
            (Err(n), Err(i)) => assert!(
                n.kind() == i.kind() && n.offset() == i.offset(),
                "{policy:?}: {n:?} but inert gave {i:?}"
            ),
            (Err(n), Ok(_)) => panic!("{policy:?} failed with a non-policy error: {n:?}"),
        }
    }
}

/// `pickleproof::decode` and `decode_reader` (strict, default limits) build what the
/// strict decode under the fuzz limits built: the defaults are wider, so a stream
/// that fits the fuzz limits costs them no more.
fn check_free_functions(data: &[u8], strict: &Decoded<'_>) {
    for (how, result) in [
        ("decode", crate::decode(data)),
        ("decode_reader", crate::decode_reader(data)),
    ] {
        match result {
            Ok(d) => assert!(
                d.graph == strict.graph && d.root == strict.root && d.consumed == strict.consumed,
                "pickleproof::{how}: a different graph from the strict decode"
            ),
            Err(e) => panic!("pickleproof::{how} refused what the strict decode accepted: {e:?}"),
        }
    }
}

/// `iter_slice` yields the same first pickle as `decode`, and every later one starts
/// where the previous one stopped.
fn check_iter_slice(data: &[u8], decoder: &Decoder) {
    let mut rest = data;
    for (n, item) in decoder.iter_slice(data).take(4).enumerate() {
        let direct = decoder.decode(rest);
        match (item, direct) {
            (Ok(a), Ok(b)) => {
                assert!(
                    a.graph == b.graph && a.consumed == b.consumed,
                    "pickle {n} differs"
                );
                let used = usize::try_from(a.consumed).unwrap_or(usize::MAX);
                rest = rest.get(used..).unwrap_or(&[]);
            }
            (Err(a), Err(b)) => {
                assert!(
                    a.kind() == b.kind() && a.offset() == b.offset(),
                    "pickle {n} error differs"
                );
                break;
            }
            (a, b) => panic!(
                "iter_slice {:?} vs decode {:?}",
                a.map(|d| d.consumed),
                b.map(|d| d.consumed)
            ),
        }
    }
}

/// What every decode result must satisfy, whatever the input.
pub fn check_result(data: &[u8], limits: &Limits, result: &Result<Decoded<'_>, Error>) {
    let len = data.len() as u64;
    match result {
        Ok(decoded) => {
            for resource in Limits::RESOURCES {
                let used = decoded.usage.get(resource);
                let limit = limits.get(resource);
                assert!(
                    used <= limit,
                    "usage of {resource} is {used}, above its limit {limit}"
                );
            }
            assert!(
                decoded.consumed <= len,
                "consumed {} of {len} bytes",
                decoded.consumed
            );
            // A FRAME may have asked for more input than the pickle then consumed.
            assert!(
                decoded.usage.input_bytes >= decoded.consumed,
                "usage.input_bytes {} below consumed {}",
                decoded.usage.input_bytes,
                decoded.consumed
            );
            assert!(decoded.consumed > 0, "a decode consumed nothing");
            assert!(decoded.protocol <= crate::HIGHEST_PROTOCOL);
            check_graph(&decoded.graph, decoded.root);
            check_graph_accessors(decoded);
        }
        Err(e) => {
            assert!(
                e.offset() <= len,
                "error offset {} > input {len}",
                e.offset()
            );
            if !e.is_eof() && !e.is_limit() {
                assert!(
                    e.offset() < len,
                    "{e:?}: an opcode error must point at a byte of the input"
                );
            }
            if let ErrorKind::Limit {
                resource,
                limit,
                requested,
            } = e.kind()
            {
                assert_eq!(
                    *limit,
                    limits.get(*resource),
                    "{e:?}: the error names a limit that was not configured"
                );
                // `requested <= limit` would mean the allocator refused memory the
                // budget allowed: the real heap went past the budget.
                assert!(
                    requested > limit,
                    "{e:?}: limit error that requested no more than the limit"
                );
            }
        }
    }
}

/// Every id reachable from the root is in the graph, and so is every child of every node.
pub fn check_graph(graph: &Graph<'_>, root: NodeId) {
    let len = graph.len();
    let in_graph = |id: NodeId| graph.slot(id).is_some() || id.as_int().is_some();
    assert!(in_graph(root), "root {root:?} outside a graph of {len}");
    for id in graph.ids() {
        let Some(node) = graph.get(id) else {
            panic!("{id:?} listed by ids() but not in the graph");
        };
        for child in node.children() {
            assert!(
                in_graph(child),
                "{id:?} ({}) refers to {child:?}, outside a graph of {len}",
                node.type_name()
            );
        }
    }
    let mut seen = vec![false; len];
    let mut todo = vec![root];
    while let Some(id) = todo.pop() {
        if id.as_int().is_some() {
            continue; // an inline int: a leaf with no node
        }
        let Some(slot) = graph.slot(id).and_then(|i| seen.get_mut(i)) else {
            panic!("reachable {id:?} outside the graph");
        };
        if std::mem::replace(slot, true) {
            continue;
        }
        let Some(node) = graph.get(id) else {
            panic!("reachable {id:?} not in the graph");
        };
        todo.extend(node.children());
    }
}

/// What the graph says about itself: its heap is within what the decode charged (plus
/// the heap promise's slack), an
/// owned copy is equal, stored and viewed nodes agree on their type, and big ints
/// print, order and round-trip through their bytes consistently.
fn check_graph_accessors(decoded: &Decoded<'_>) {
    let graph = &decoded.graph;
    assert_eq!(graph.is_empty(), graph.ids().next().is_none());
    // The heap promise (tests/heap.rs): the budget plus a small constant, here the
    // graph alone (the charge rounds some nodes down, e.g. a global's name capacity).
    let heap = graph.heap_bytes() as u64;
    assert!(
        heap <= decoded.usage.memory_bytes + 64 * 1024,
        "the graph holds {heap} heap bytes, the decode charged {}",
        decoded.usage.memory_bytes
    );
    assert!(
        graph.clone().into_owned() == *graph,
        "into_owned changed the graph"
    );
    let mut previous: Option<&BigInt> = None;
    for id in graph.ids() {
        let Some(node) = graph.get(id) else { continue };
        if let Some(data) = graph.data(id) {
            assert_eq!(data.type_name(), node.type_name());
        }
        let Node::BigInt(b) = node else { continue };
        assert_eq!(b.to_string(), b.to_decimal());
        assert!(format!("{b:?}").starts_with("BigInt("));
        assert!(b.heap_bytes() >= b.magnitude().len() * 4);
        assert!(BigInt::from_signed_le(&b.to_signed_le()) == IntValue::Big(b.clone()));
        assert_eq!(b.cmp(b), std::cmp::Ordering::Equal);
        if let Some(p) = previous {
            assert_eq!(p.cmp(b), b.cmp(p).reverse(), "{p} and {b}");
            assert_eq!(p.partial_cmp(b), Some(p.cmp(b)));
            if p.is_negative() != b.is_negative() {
                assert_eq!(p.cmp(b).is_lt(), p.is_negative(), "{p} and {b}");
            }
        }
        previous = Some(b);
    }
}

/// Repr options of the `decode` target.
const DECODE_REPR: repr::ReprOptions = repr::ReprOptions {
    max_len: 4096,
    max_depth: 64,
};

/// JSON is a well-formed document of the canonical schema; the repr stays within its
/// bound.
fn check_renders(decoded: &Decoded<'_>) {
    let doc = json::to_json(&decoded.graph, decoded.root);
    check_json_shape(&doc);
    let text = repr::repr_with(&decoded.graph, decoded.root, &DECODE_REPR);
    assert!(
        text.len() <= DECODE_REPR.max_len + 3,
        "repr of {} bytes with max_len {}",
        text.len(),
        DECODE_REPR.max_len
    );
}

/// The JSON starts with the schema field, its strings are closed and hold no raw
/// control characters, and its brackets balance, closing exactly at the last byte.
pub fn check_json_shape(doc: &str) {
    let head = "{\"schema\":\"pickle-canon/1\"";
    assert!(
        doc.starts_with(head),
        "JSON does not start with {head}: {:?}",
        doc.get(..64).unwrap_or(doc)
    );
    check_json_balanced(doc);
}

/// A JSON document's strings are closed and hold no raw control characters, and its
/// brackets balance, closing exactly at the last byte.
pub fn check_json_balanced(doc: &str) {
    let mut open: Vec<u8> = Vec::new();
    let mut in_string = false;
    let mut escaped = false;
    let bytes = doc.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        if in_string {
            if escaped {
                assert!(
                    matches!(
                        b,
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' | b'u'
                    ),
                    "bad JSON escape \\{} at {i}",
                    b as char
                );
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            } else {
                assert!(
                    b >= 0x20,
                    "raw control byte {b:#04x} in a JSON string at {i}"
                );
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => open.push(b),
            b'}' | b']' => {
                let want = if b == b'}' { b'{' } else { b'[' };
                assert_eq!(open.pop(), Some(want), "unbalanced {} at {i}", b as char);
                if open.is_empty() {
                    assert_eq!(i + 1, bytes.len(), "JSON document closes early, at {i}");
                }
            }
            _ => {}
        }
    }
    assert!(!in_string, "JSON ends inside a string");
    assert!(
        open.is_empty(),
        "JSON ends with {} open brackets",
        open.len()
    );
}

/// The disassembly renders for any input, and finds no opcode-layer error in a stream
/// that decodes.
fn check_disasm(data: &[u8], decoded_ok: bool) {
    let opts = crate::views::disasm::DisasmOptions::default();
    let out = crate::views::disasm::disassemble(data, &opts);
    if decoded_ok {
        assert!(
            out.error.is_none(),
            "the stream decodes but the disassembler reports {:?}",
            out.error
        );
        assert!(
            !out.text.is_empty(),
            "empty disassembly of a decodable stream"
        );
    }
    let lines = out.text.lines().count();
    assert!(
        lines <= opts.max_lines + 1,
        "{lines} disassembly lines with max_lines {}",
        opts.max_lines
    );
}

// =====================================================================================
// stream
// =====================================================================================

/// How the `stream` target feeds the bytes to `decode_reader`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Chunking {
    /// Capacity of the `BufReader` around the reader.
    pub capacity: usize,
    /// Sizes of successive reads, in turn (each read returns at most this many bytes).
    pub reads: [usize; 4],
    /// Every this-many calls, `read` fails with `Interrupted` first (0: never).
    pub interrupt_every: usize,
    /// From this input position on, `read` fails with an I/O error (`None`: never).
    pub fail_at: Option<usize>,
}

impl Chunking {
    /// The chunking selected by one configuration byte: buffer capacity (bits 0–2),
    /// read pattern (bits 3–6) and interruptions (bit 7).
    pub fn from_byte(b: u8) -> Chunking {
        const CAPACITY: [usize; 8] = [1, 2, 3, 7, 8, 13, 64, 8192];
        const READS: [[usize; 4]; 16] = [
            [1, 1, 1, 1],
            [1, 2, 3, 5],
            [7, 1, 13, 2],
            [2, 2, 2, 2],
            [3, 1, 4, 1],
            [5, 9, 2, 6],
            [8, 8, 8, 8],
            [9, 1, 1, 1],
            [16, 3, 1, 64],
            [31, 1, 7, 2],
            [64, 64, 64, 64],
            [100, 1, 1, 1],
            [255, 13, 1, 2],
            [1000, 1, 1000, 3],
            [4096, 4096, 4096, 4096],
            [usize::MAX, usize::MAX, usize::MAX, usize::MAX],
        ];
        let capacity = CAPACITY.get(usize::from(b & 7)).copied().unwrap_or(8);
        let reads = READS
            .get(usize::from((b >> 3) & 15))
            .copied()
            .unwrap_or([1; 4]);
        Chunking {
            capacity,
            reads,
            interrupt_every: if b & 0x80 != 0 { 3 } else { 0 },
            fail_at: None,
        }
    }

    /// [`Chunking::from_byte`], and a read error from position `4 * (f & 0x3f)` on
    /// when the two top bits of `f` are set.
    pub fn from_bytes(f: u8, b: u8) -> Chunking {
        Chunking {
            fail_at: (f >= 0xc0).then_some(usize::from(f & 0x3f) * 4),
            ..Chunking::from_byte(b)
        }
    }
}

/// A reader that returns short reads in a fixed pattern and can be interrupted.
struct Chunked<'d> {
    data: &'d [u8],
    pos: usize,
    calls: usize,
    plan: Chunking,
}

impl Read for Chunked<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.calls = self.calls.wrapping_add(1);
        if self.plan.interrupt_every > 0 && self.calls % self.plan.interrupt_every == 0 {
            return Err(io::ErrorKind::Interrupted.into());
        }
        if self.plan.fail_at.is_some_and(|at| self.pos >= at) {
            return Err(io::Error::other("read error injected by the stream target"));
        }
        let end = self.plan.fail_at.unwrap_or(usize::MAX).min(self.data.len());
        let rest = self.data.get(self.pos..end).unwrap_or(&[]);
        let want = self
            .plan
            .reads
            .get(self.calls % 4)
            .copied()
            .unwrap_or(1)
            .max(1);
        let n = want.min(buf.len()).min(rest.len());
        if let (Some(dst), Some(src)) = (buf.get_mut(..n), rest.get(..n)) {
            dst.copy_from_slice(src);
        }
        self.pos = self.pos.saturating_add(n);
        Ok(n)
    }
}

/// The `stream` target on a small stack.
pub fn run_stream(data: &[u8]) {
    on_small_stack(|| stream(data));
}

/// Body of the `stream` target: the chunking comes from the last byte.
pub fn stream(data: &[u8]) {
    let [f, b] = tail::<2>(data);
    stream_with(data, Chunking::from_bytes(f, b));
}

/// Slice and stream decodes of `data` agree under `plan`.
/// With a read error injected ([`Chunking::fail_at`]), the stream may also fail with
/// that I/O error, pointing at or before the failing position, and so may the pickles
/// after the first one (`iter_reader`, which asks the reader whether more follow).
pub fn stream_with(data: &[u8], plan: Chunking) {
    let decoder = inert_decoder(fuzz_limits());
    let slice = decoder.decode(data);
    let reader = || {
        BufReader::with_capacity(
            plan.capacity,
            Chunked {
                data,
                pos: 0,
                calls: 0,
                plan,
            },
        )
    };
    let streamed = decoder.decode_reader(reader());
    if let Some(at) = plan.fail_at {
        // Offsets count from the start of each pickle.
        let injected = |start: usize, e: &Error| {
            if e.is_io() {
                check_error_reporting(data.get(start..).unwrap_or(&[]), e);
                let end = (start as u64).saturating_add(e.offset());
                assert!(end <= at as u64, "{e:?} after the failing position {at}");
            }
        };
        let mut start = 0usize;
        for item in decoder.iter_reader(reader()).take(4) {
            match &item {
                Ok(d) => start = start.saturating_add(d.consumed as usize),
                Err(e) => injected(start, e),
            }
        }
        if let Err(e) = &streamed {
            injected(0, e);
            if e.is_io() {
                return;
            }
        }
    }
    match (slice, streamed) {
        (Ok(a), Ok(b)) => {
            assert_eq!(a.root, b.root, "slice and stream roots differ");
            assert_eq!(a.usage, b.usage, "slice and stream usage differ");
            assert_eq!(a.consumed, b.consumed, "slice and stream consumed differ");
            assert_eq!(a.protocol, b.protocol, "slice and stream protocols differ");
            if let Err(why) = graphs_identical(&a.graph, &b.graph) {
                panic!("slice and stream graphs differ ({plan:?}): {why}");
            }
        }
        (Err(a), Err(b)) => {
            assert_eq!(
                (a.kind(), a.offset()),
                (b.kind(), b.offset()),
                "slice and stream fail differently ({plan:?})"
            );
        }
        (a, b) => panic!(
            "slice gives {:?}, stream gives {:?} ({plan:?})",
            a.map(|d| d.root),
            b.map(|d| d.root)
        ),
    }
}

/// Node-by-node identity (floats compared bit for bit, so NaNs match themselves).
pub fn graphs_identical(a: &Graph<'_>, b: &Graph<'_>) -> Result<(), String> {
    if a.len() != b.len() {
        return Err(format!("{} nodes against {}", a.len(), b.len()));
    }
    for id in a.ids() {
        let same = match (a.get(id), b.get(id)) {
            (Some(Node::Float(x)), Some(Node::Float(y))) => x.to_bits() == y.to_bits(),
            (Some(x), Some(y)) => x == y,
            _ => false,
        };
        if !same {
            return Err(format!("{id:?}: {:?} against {:?}", a.get(id), b.get(id)));
        }
    }
    Ok(())
}

// =====================================================================================
// ops
// =====================================================================================

/// Structured input of the `ops` target: a protocol header and a flat list of opcodes
/// with well-formed arguments. Serialised by [`OpsInput::to_bytes`], which always ends
/// the stream with STOP.
#[derive(Arbitrary, Clone, Debug)]
pub struct OpsInput {
    /// `PROTO n` header for `n % 7` in 0..=5; no header for 6.
    pub protocol: u8,
    /// The opcodes, in order.
    pub ops: Vec<Op>,
}

/// An opcode without argument.
#[derive(Arbitrary, Clone, Copy, Debug)]
#[allow(missing_docs)]
pub enum PlainOp {
    Mark,
    Stop,
    Pop,
    PopMark,
    Dup,
    None,
    NewTrue,
    NewFalse,
    EmptyTuple,
    EmptyList,
    EmptyDict,
    EmptySet,
    Tuple,
    Tuple1,
    Tuple2,
    Tuple3,
    List,
    Dict,
    FrozenSet,
    Append,
    Appends,
    SetItem,
    SetItems,
    AddItems,
    Reduce,
    Build,
    NewObj,
    NewObjEx,
    Obj,
    BinPersId,
    Memoize,
    StackGlobal,
    NextBuffer,
    ReadOnlyBuffer,
}

impl PlainOp {
    fn byte(self) -> u8 {
        use crate::Opcode as O;
        let op = match self {
            PlainOp::Mark => O::Mark,
            PlainOp::Stop => O::Stop,
            PlainOp::Pop => O::Pop,
            PlainOp::PopMark => O::PopMark,
            PlainOp::Dup => O::Dup,
            PlainOp::None => O::None,
            PlainOp::NewTrue => O::NewTrue,
            PlainOp::NewFalse => O::NewFalse,
            PlainOp::EmptyTuple => O::EmptyTuple,
            PlainOp::EmptyList => O::EmptyList,
            PlainOp::EmptyDict => O::EmptyDict,
            PlainOp::EmptySet => O::EmptySet,
            PlainOp::Tuple => O::Tuple,
            PlainOp::Tuple1 => O::Tuple1,
            PlainOp::Tuple2 => O::Tuple2,
            PlainOp::Tuple3 => O::Tuple3,
            PlainOp::List => O::List,
            PlainOp::Dict => O::Dict,
            PlainOp::FrozenSet => O::FrozenSet,
            PlainOp::Append => O::Append,
            PlainOp::Appends => O::Appends,
            PlainOp::SetItem => O::SetItem,
            PlainOp::SetItems => O::SetItems,
            PlainOp::AddItems => O::AddItems,
            PlainOp::Reduce => O::Reduce,
            PlainOp::Build => O::Build,
            PlainOp::NewObj => O::NewObj,
            PlainOp::NewObjEx => O::NewObjEx,
            PlainOp::Obj => O::Obj,
            PlainOp::BinPersId => O::BinPersId,
            PlainOp::Memoize => O::Memoize,
            PlainOp::StackGlobal => O::StackGlobal,
            PlainOp::NextBuffer => O::NextBuffer,
            PlainOp::ReadOnlyBuffer => O::ReadOnlyBuffer,
        };
        op.byte()
    }
}

/// One opcode with its argument. Flat: no variant holds another `Op`.
#[derive(Arbitrary, Clone, Debug)]
pub enum Op {
    /// An opcode without argument.
    Plain(PlainOp),
    /// An int: `form % 9` picks BININT1, BININT2, BININT, INT, INT as bool, LONG,
    /// LONG1, LONG4 or INT with a sign, a space and leading zeros.
    Int {
        /// The value (cut to the opcode's range).
        value: i64,
        /// Which encoding.
        form: u8,
    },
    /// A float: BINFLOAT, or FLOAT with Python's repr.
    Float {
        /// The value.
        value: f64,
        /// FLOAT (text) instead of BINFLOAT.
        text: bool,
    },
    /// A str (first 64 chars): `form % 7` picks SHORT_BINUNICODE, BINUNICODE,
    /// BINUNICODE8, UNICODE, STRING, BINSTRING or SHORT_BINSTRING.
    Str {
        /// The text.
        text: String,
        /// Which encoding.
        form: u8,
    },
    /// Bytes (first 64): `form % 4` picks SHORT_BINBYTES, BINBYTES, BINBYTES8,
    /// BYTEARRAY8.
    Bytes {
        /// The payload.
        data: Vec<u8>,
        /// Which encoding.
        form: u8,
    },
    /// A memo store at `index % 16`: PUT, BINPUT or LONG_BINPUT.
    Put {
        /// Memo index.
        index: u8,
        /// Which encoding.
        form: u8,
    },
    /// A memo fetch at `index % 16`: GET, BINGET or LONG_BINGET.
    Get {
        /// Memo index.
        index: u8,
        /// Which encoding.
        form: u8,
    },
    /// A global from [`GLOBALS`]: GLOBAL, STACK_GLOBAL (two SHORT_BINUNICODE first) or
    /// INST.
    Global {
        /// Index into [`GLOBALS`].
        name: u8,
        /// Which opcode.
        form: u8,
    },
    /// FRAME whose length is exactly that of the next `ops % 8 + 1` ops.
    Frame {
        /// How many following ops the frame covers.
        ops: u8,
    },
    /// FRAME with an arbitrary length.
    FrameRaw {
        /// The claimed length.
        len: u16,
    },
    /// EXT1, EXT2 or EXT4.
    Ext {
        /// The code (cut to the opcode's range).
        code: u32,
        /// Which opcode.
        form: u8,
    },
    /// PERSID with an ASCII line (non-ASCII characters and newlines dropped).
    PersId {
        /// The id.
        text: String,
    },
    /// PROTO `v % 7` (6 is unsupported).
    Proto(u8),
    /// Any byte.
    Raw(u8),
}

/// Globals the `ops` target names: reconstructors the decoder folds, Python 2 names
/// it maps, and ordinary names it only describes.
pub const GLOBALS: &[(&str, &str)] = &[
    ("builtins", "set"),
    ("builtins", "frozenset"),
    ("builtins", "bytearray"),
    ("builtins", "bytes"),
    ("_codecs", "encode"),
    ("__builtin__", "set"),
    ("__builtin__", "object"),
    ("copy_reg", "_reconstructor"),
    ("copyreg", "_reconstructor"),
    ("copyreg", "__newobj__"),
    ("collections", "OrderedDict"),
    ("UserDict", "UserDict"),
    ("exceptions", "ValueError"),
    ("torch._utils", "_rebuild_tensor_v2"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("os", "system"),
    ("__main__", "Point"),
    ("m", "Outer.Inner"),
];

const MAX_TEXT: usize = 64;

fn short_text(text: &str) -> &str {
    match text.char_indices().nth(MAX_TEXT) {
        Some((cut, _)) => text.get(..cut).unwrap_or(text),
        None => text,
    }
}

/// Python's `raw-unicode-escape` as protocol 0 UNICODE writes it (also escaping the
/// backslash and line breaks, as CPython's pickler does).
fn raw_unicode_escape(text: &str, out: &mut Vec<u8>) {
    for c in text.chars() {
        let cp = u32::from(c);
        let plain = cp < 0x80 && !matches!(c, '\\' | '\n' | '\r' | '\0');
        if plain || (0x80..=0xff).contains(&cp) {
            out.push(cp as u8);
        } else if cp <= 0xffff {
            out.extend_from_slice(format!("\\u{cp:04x}").as_bytes());
        } else {
            out.extend_from_slice(format!("\\U{cp:08x}").as_bytes());
        }
    }
}

/// A Python 2 `str` literal for STRING: ASCII only, quoted and escaped.
fn quoted_ascii(text: &str, out: &mut Vec<u8>) {
    out.push(b'\'');
    for b in text.bytes().filter(u8::is_ascii) {
        match b {
            b'\'' => out.extend_from_slice(b"\\'"),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            0x20..=0x7e => out.push(b),
            _ => out.extend_from_slice(format!("\\x{b:02x}").as_bytes()),
        }
    }
    out.push(b'\'');
}

fn len_u32(n: usize) -> [u8; 4] {
    u32::try_from(n).unwrap_or(u32::MAX).to_le_bytes()
}

fn len_u64(n: usize) -> [u8; 8] {
    (n as u64).to_le_bytes()
}

/// Minimal two's complement little-endian bytes of `value` (LONG1's payload).
fn signed_le(value: i64) -> Vec<u8> {
    if value == 0 {
        return Vec::new();
    }
    let mut bytes = value.to_le_bytes().to_vec();
    while bytes.len() > 1 {
        let (Some(&last), Some(&prev)) = (bytes.last(), bytes.get(bytes.len() - 2)) else {
            break;
        };
        let redundant = (last == 0 && prev & 0x80 == 0) || (last == 0xff && prev & 0x80 != 0);
        if !redundant {
            break;
        }
        bytes.pop();
    }
    bytes
}

impl Op {
    /// The bytes of this op (FRAME of `Op::Frame` is added by [`OpsInput::to_bytes`]).
    fn write(&self, out: &mut Vec<u8>) {
        match self {
            Op::Plain(op) => out.push(op.byte()),
            Op::Int { value, form } => match form % 9 {
                0 => out.extend_from_slice(&[b'K', *value as u8]),
                1 => {
                    out.push(b'M');
                    out.extend_from_slice(&(*value as u16).to_le_bytes());
                }
                2 => {
                    out.push(b'J');
                    out.extend_from_slice(&(*value as i32).to_le_bytes());
                }
                3 => out.extend_from_slice(format!("I{value}\n").as_bytes()),
                4 => out.extend_from_slice(if value & 1 == 0 { b"I00\n" } else { b"I01\n" }),
                5 => out.extend_from_slice(format!("L{value}L\n").as_bytes()),
                6 => {
                    let bytes = signed_le(*value);
                    out.extend_from_slice(&[0x8a, bytes.len() as u8]);
                    out.extend_from_slice(&bytes);
                }
                7 => {
                    let bytes = signed_le(*value);
                    out.push(0x8b);
                    out.extend_from_slice(&len_u32(bytes.len()));
                    out.extend_from_slice(&bytes);
                }
                _ => {
                    let sign = if *value < 0 { "-" } else { "+" };
                    out.extend_from_slice(
                        format!("I {sign}000{}\n", value.unsigned_abs()).as_bytes(),
                    );
                }
            },
            Op::Float { value, text } => {
                if *text {
                    out.push(b'F');
                    out.extend_from_slice(crate::pyfmt::float_repr(*value).as_bytes());
                    out.push(b'\n');
                } else {
                    out.push(b'G');
                    out.extend_from_slice(&value.to_be_bytes());
                }
            }
            Op::Str { text, form } => {
                let text = short_text(text);
                let n = text.len();
                match form % 7 {
                    0 => {
                        out.extend_from_slice(&[0x8c, n as u8]);
                        out.extend_from_slice(text.as_bytes());
                    }
                    1 => {
                        out.push(b'X');
                        out.extend_from_slice(&len_u32(n));
                        out.extend_from_slice(text.as_bytes());
                    }
                    2 => {
                        out.push(0x8d);
                        out.extend_from_slice(&len_u64(n));
                        out.extend_from_slice(text.as_bytes());
                    }
                    3 => {
                        out.push(b'V');
                        raw_unicode_escape(text, out);
                        out.push(b'\n');
                    }
                    4 => {
                        out.push(b'S');
                        quoted_ascii(text, out);
                        out.push(b'\n');
                    }
                    5 => {
                        out.push(b'T');
                        out.extend_from_slice(&len_u32(n));
                        out.extend_from_slice(text.as_bytes());
                    }
                    _ => {
                        out.extend_from_slice(&[b'U', n as u8]);
                        out.extend_from_slice(text.as_bytes());
                    }
                }
            }
            Op::Bytes { data, form } => {
                let data = data.get(..MAX_TEXT).unwrap_or(data);
                let n = data.len();
                match form % 4 {
                    0 => out.extend_from_slice(&[b'C', n as u8]),
                    1 => {
                        out.push(b'B');
                        out.extend_from_slice(&len_u32(n));
                    }
                    2 => {
                        out.push(0x8e);
                        out.extend_from_slice(&len_u64(n));
                    }
                    _ => {
                        out.push(0x96);
                        out.extend_from_slice(&len_u64(n));
                    }
                }
                out.extend_from_slice(data);
            }
            Op::Put { index, form } => {
                let i = index % 16;
                match form % 3 {
                    0 => out.extend_from_slice(format!("p{i}\n").as_bytes()),
                    1 => out.extend_from_slice(&[b'q', i]),
                    _ => {
                        out.push(b'r');
                        out.extend_from_slice(&u32::from(i).to_le_bytes());
                    }
                }
            }
            Op::Get { index, form } => {
                let i = index % 16;
                match form % 3 {
                    0 => out.extend_from_slice(format!("g{i}\n").as_bytes()),
                    1 => out.extend_from_slice(&[b'h', i]),
                    _ => {
                        out.push(b'j');
                        out.extend_from_slice(&u32::from(i).to_le_bytes());
                    }
                }
            }
            Op::Global { name, form } => {
                let (module, name) = GLOBALS
                    .get(usize::from(*name) % GLOBALS.len())
                    .copied()
                    .unwrap_or(("os", "system"));
                match form % 3 {
                    0 => out.extend_from_slice(format!("c{module}\n{name}\n").as_bytes()),
                    1 => {
                        for part in [module, name] {
                            out.extend_from_slice(&[0x8c, part.len() as u8]);
                            out.extend_from_slice(part.as_bytes());
                        }
                        out.push(0x93);
                    }
                    _ => out.extend_from_slice(format!("i{module}\n{name}\n").as_bytes()),
                }
            }
            Op::Frame { .. } => {}
            Op::FrameRaw { len } => {
                out.push(0x95);
                out.extend_from_slice(&u64::from(*len).to_le_bytes());
            }
            Op::Ext { code, form } => match form % 3 {
                0 => out.extend_from_slice(&[0x82, *code as u8]),
                1 => {
                    out.push(0x83);
                    out.extend_from_slice(&(*code as u16).to_le_bytes());
                }
                _ => {
                    out.push(0x84);
                    out.extend_from_slice(&code.to_le_bytes());
                }
            },
            Op::PersId { text } => {
                out.push(b'P');
                out.extend(
                    short_text(text)
                        .bytes()
                        .filter(|b| b.is_ascii() && *b != b'\n'),
                );
                out.push(b'\n');
            }
            Op::Proto(v) => out.extend_from_slice(&[0x80, v % 7]),
            Op::Raw(b) => out.push(*b),
        }
    }
}

impl OpsInput {
    /// The pickle these ops spell, ending with STOP.
    pub fn to_bytes(&self) -> Vec<u8> {
        let pieces: Vec<Vec<u8>> = self
            .ops
            .iter()
            .map(|op| {
                let mut piece = Vec::new();
                op.write(&mut piece);
                piece
            })
            .collect();
        let mut out = Vec::new();
        let proto = self.protocol % 7;
        if proto <= 5 {
            out.extend_from_slice(&[0x80, proto]);
        }
        for (i, (op, piece)) in self.ops.iter().zip(&pieces).enumerate() {
            if let Op::Frame { ops } = op {
                let covered = usize::from(ops % 8) + 1;
                let len: usize = pieces.iter().skip(i + 1).take(covered).map(Vec::len).sum();
                out.push(0x95);
                out.extend_from_slice(&len_u64(len));
            }
            out.extend_from_slice(piece);
        }
        out.push(b'.');
        out
    }
}

/// The `ops` target on a small stack.
pub fn run_ops(input: &OpsInput) {
    on_small_stack(|| ops(input));
}

/// Body of the `ops` target: serialise, then the `decode` and `stream` oracles.
pub fn ops(input: &OpsInput) {
    let bytes = input.to_bytes();
    decode(&bytes);
    stream_with(&bytes, Chunking::from_byte(input.protocol));
}

// =====================================================================================
// roundtrip
// =====================================================================================

/// Structured input of the `roundtrip` target: instructions that build a graph on a
/// stack machine of their own (not the pickle VM).
#[derive(Arbitrary, Clone, Debug)]
pub struct GraphInput {
    /// The instructions, in order. The root is the top of the stack at the end.
    pub ops: Vec<BuildOp>,
}

/// One graph-building instruction. Flat: no variant holds another.
#[derive(Arbitrary, Clone, Debug)]
pub enum BuildOp {
    /// Push `None`.
    None,
    /// Push a bool.
    Bool(bool),
    /// Push an int.
    Int(i64),
    /// Push an int from signed little-endian bytes (first 40), big or small.
    BigInt(Vec<u8>),
    /// Push a float.
    Float(f64),
    /// Push a str (first 64 chars).
    Str(String),
    /// Push bytes (first 64).
    Bytes(Vec<u8>),
    /// Push a bytearray (first 64 bytes).
    ByteArray(Vec<u8>),
    /// Pop up to `n % 8` items into a tuple.
    Tuple(u8),
    /// Pop up to `n % 8` items into a list.
    List(u8),
    /// Pop up to `n % 8` (key, value) pairs into a dict; keys that are not simple
    /// hashables (None, int, str, bytes) or repeat an earlier key are dropped.
    Dict(u8),
    /// Pop up to `n % 8` items into a set (same filter as dict keys).
    Set(u8),
    /// Pop up to `n % 8` items into a frozenset (same filter).
    FrozenSet(u8),
    /// Push a global from [`ROUNDTRIP_GLOBALS`].
    Global(u8),
    /// Pop args (a tuple, else `()`) and callable (a global, object, extension or
    /// persistent id, else a fresh global) and push an object; `op % 5` picks the call
    /// opcode; `state` pops one more item as BUILD state.
    Object {
        /// Which call opcode.
        op: u8,
        /// Attach a state.
        state: bool,
    },
    /// Push an extension code (1..=0x7fff_ffff).
    Ext(u32),
    /// Push an out-of-band buffer placeholder.
    Buffer(bool),
    /// Pop a value and push a persistent id of it.
    PersId,
    /// Push an earlier node again (a shared reference).
    Share(u8),
    /// Add the top of the stack into an earlier node with identity (list item, dict
    /// value under a fresh key, object list item or state): closes cycles.
    AddTo(u8),
    /// Drop the top of the stack.
    Pop,
}

/// Globals the `roundtrip` target names: none is a reconstructor the decoder would fold
/// and none changes under the Python 2 → 3 name mapping.
pub const ROUNDTRIP_GLOBALS: &[(&str, &str)] = &[
    ("collections", "OrderedDict"),
    ("__main__", "Point"),
    ("torch._utils", "_rebuild_tensor_v2"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("m", "Outer.Inner"),
    ("os", "system"),
];

/// A simple hashable key, for duplicate detection.
#[derive(Clone, PartialEq, Eq, Hash)]
enum KeyId {
    None,
    Int(Vec<u8>),
    Str(Vec<u8>),
    Bytes(Vec<u8>),
}

fn key_id(node: Node<'_>) -> Option<KeyId> {
    match node {
        Node::None => Some(KeyId::None),
        Node::Int(i) => Some(KeyId::Int(i.to_le_bytes().to_vec())),
        Node::BigInt(b) => {
            let mut bytes = b.to_signed_le();
            bytes.push(0xAA);
            Some(KeyId::Int(bytes))
        }
        Node::Str(s) => Some(KeyId::Str(s.to_vec())),
        Node::Bytes(b) => Some(KeyId::Bytes(b.to_vec())),
        _ => None,
    }
}

struct Builder<'g> {
    graph: Graph<'g>,
    stack: Vec<NodeId>,
    all: Vec<NodeId>,
    fresh_keys: u64,
    buffers: u64,
}

impl<'g> Builder<'g> {
    fn add(&mut self, node: NodeData<'g>) -> NodeId {
        let Some(id) = self.graph.add(node) else {
            panic!("graph full");
        };
        self.all.push(id);
        id
    }

    fn push(&mut self, node: NodeData<'g>) {
        let id = self.add(node);
        self.stack.push(id);
    }

    fn take(&mut self, n: usize) -> Vec<NodeId> {
        let start = self.stack.len().saturating_sub(n);
        self.stack.split_off(start)
    }

    /// Keeps the items that are simple hashables, each value once.
    fn unique_keys(&self, items: &[NodeId]) -> Vec<NodeId> {
        let mut seen = HashSet::new();
        items
            .iter()
            .copied()
            .filter(|id| {
                self.graph
                    .get(*id)
                    .and_then(key_id)
                    .is_some_and(|k| seen.insert(k))
            })
            .collect()
    }

    fn is_callable(&self, id: NodeId) -> bool {
        matches!(
            self.graph.get(id),
            Some(Node::Global(_) | Node::Object(_) | Node::Ext(_) | Node::PersId(_))
        )
    }

    fn global(&mut self, index: u8) -> NodeId {
        let (module, name) = ROUNDTRIP_GLOBALS
            .get(usize::from(index) % ROUNDTRIP_GLOBALS.len())
            .copied()
            .unwrap_or(("m", "f"));
        self.add(NodeData::Global(Box::new(Global {
            module: module.to_owned(),
            name: name.to_owned(),
        })))
    }

    fn step(&mut self, op: &BuildOp) {
        match op {
            BuildOp::None => self.push(NodeData::None),
            BuildOp::Bool(b) => self.push(NodeData::Bool(*b)),
            BuildOp::Int(i) => self.push(NodeData::Int(*i)),
            BuildOp::BigInt(bytes) => {
                let bytes = bytes.get(..40).unwrap_or(bytes);
                match BigInt::from_signed_le(bytes) {
                    IntValue::Small(i) => self.push(NodeData::Int(i)),
                    IntValue::Big(b) => self.push(NodeData::BigInt(Box::new(b))),
                }
            }
            BuildOp::Float(f) => self.push(NodeData::Float(*f)),
            BuildOp::Str(s) => self.push(NodeData::Str(short_text(s).as_bytes().to_vec().into())),
            BuildOp::Bytes(b) => {
                self.push(NodeData::Bytes(
                    b.get(..MAX_TEXT).unwrap_or(b).to_vec().into(),
                ));
            }
            BuildOp::ByteArray(b) => {
                self.push(NodeData::ByteArray(
                    b.get(..MAX_TEXT).unwrap_or(b).to_vec().into(),
                ));
            }
            BuildOp::Tuple(n) => {
                let items = self.take(usize::from(n % 8));
                self.push(NodeData::Tuple(items));
            }
            BuildOp::List(n) => {
                let items = self.take(usize::from(n % 8));
                self.push(NodeData::List(items));
            }
            BuildOp::Dict(n) => {
                let flat = self.take(usize::from(n % 8) * 2);
                let mut seen = HashSet::new();
                let pairs: Vec<(NodeId, NodeId)> = flat
                    .chunks_exact(2)
                    .filter_map(|pair| match pair {
                        [k, v] => Some((*k, *v)),
                        _ => None,
                    })
                    .filter(|(k, _)| {
                        self.graph
                            .get(*k)
                            .and_then(key_id)
                            .is_some_and(|key| seen.insert(key))
                    })
                    .collect();
                self.push(NodeData::Dict(pairs));
            }
            BuildOp::Set(n) => {
                let items = self.take(usize::from(n % 8));
                let items = self.unique_keys(&items);
                self.push(NodeData::Set(items));
            }
            BuildOp::FrozenSet(n) => {
                let items = self.take(usize::from(n % 8));
                let items = self.unique_keys(&items);
                self.push(NodeData::FrozenSet(items));
            }
            BuildOp::Global(i) => {
                let id = self.global(*i);
                self.stack.push(id);
            }
            BuildOp::Object { op, state } => self.object(*op, *state),
            BuildOp::Ext(code) => self.push(NodeData::Ext(code % 0x7fff_ffff + 1)),
            BuildOp::Buffer(readonly) => {
                let index = self.buffers;
                self.buffers = self.buffers.saturating_add(1);
                self.push(NodeData::Buffer {
                    index,
                    readonly: *readonly,
                });
            }
            BuildOp::PersId => {
                let pid = match self.stack.pop() {
                    Some(id) => id,
                    None => self.add(NodeData::Str(b"pid".to_vec().into())),
                };
                self.push(NodeData::PersId(pid));
            }
            BuildOp::Share(k) => {
                if let Some(&id) = self.all.get(usize::from(*k) % self.all.len().max(1)) {
                    self.stack.push(id);
                }
            }
            BuildOp::AddTo(k) => self.add_to(*k),
            BuildOp::Pop => {
                self.stack.pop();
            }
        }
    }

    fn object(&mut self, op: u8, state: bool) {
        let args = match self.stack.last() {
            Some(&id) if matches!(self.graph.get(id), Some(Node::Tuple(_))) => {
                self.stack.pop();
                id
            }
            _ => self.add(NodeData::Tuple(Vec::new())),
        };
        let call = match op % 5 {
            0 => CallOp::Reduce,
            1 => CallOp::NewObj,
            2 => CallOp::NewObjEx,
            3 => CallOp::Inst,
            _ => CallOp::Obj,
        };
        let callable = match self.stack.last() {
            Some(&id) if self.is_callable(id) => {
                // INST names its class inline: only a global can be written so.
                let is_global = matches!(self.graph.get(id), Some(Node::Global(_)));
                if call != CallOp::Inst || is_global {
                    self.stack.pop();
                    Some(id)
                } else {
                    None
                }
            }
            _ => None,
        };
        let callable = match callable {
            Some(id) => id,
            None => self.global(op / 5),
        };
        let kwargs = (call == CallOp::NewObjEx).then(|| self.add(NodeData::Dict(Vec::new())));
        let mut obj = Object::new(call, callable, args, kwargs);
        if state {
            obj.state.extend(self.stack.pop());
        }
        self.push(NodeData::Object(Box::new(obj)));
    }

    fn add_to(&mut self, k: u8) {
        let (Some(&value), Some(&target)) = (
            self.stack.last(),
            self.all.get(usize::from(k) % self.all.len().max(1)),
        ) else {
            return;
        };
        let key = match self.graph.get(target) {
            Some(Node::Dict(_)) => {
                let n = self.fresh_keys;
                self.fresh_keys = n.saturating_add(1);
                Some(self.add(NodeData::Str(format!("\u{1}key{n}").into_bytes().into())))
            }
            _ => None,
        };
        match (self.graph.get_mut(target), key) {
            (Some(NodeData::List(items)), _) => items.push(value),
            (Some(NodeData::Dict(pairs)), Some(key)) => pairs.push((key, value)),
            (Some(NodeData::Object(obj)), _) => {
                if k & 1 == 0 {
                    obj.listitems.push(value);
                } else {
                    obj.state.push(value);
                }
            }
            _ => {}
        }
        self.stack.pop();
    }
}

impl GraphInput {
    /// The graph these instructions build, and its root.
    pub fn build(&self) -> (Graph<'static>, NodeId) {
        let mut b = Builder {
            graph: Graph::new(),
            stack: Vec::new(),
            all: Vec::new(),
            fresh_keys: 0,
            buffers: 0,
        };
        for op in &self.ops {
            b.step(op);
        }
        let root = match b.stack.last() {
            Some(&id) => id,
            None => b.add(NodeData::None),
        };
        (b.graph, root)
    }
}

/// The `roundtrip` target on a small stack.
pub fn run_roundtrip(input: &GraphInput) {
    on_small_stack(|| roundtrip(input));
}

/// Body of the `roundtrip` target: build, then [`check_roundtrip`] at every protocol.
pub fn roundtrip(input: &GraphInput) {
    let (graph, root) = input.build();
    check_graph(&graph, root);
    for protocol in 0..=crate::HIGHEST_PROTOCOL {
        check_roundtrip(&graph, root, protocol);
    }
}

/// Encodes at `protocol` (skipping graphs the protocol cannot represent), decodes with
/// unbounded limits and the inert policy, checks the result is isomorphic to the
/// original, and that encoding it again gives the same bytes.
pub fn check_roundtrip(graph: &Graph<'_>, root: NodeId, protocol: u8) {
    check_roundtrip_with(graph, root, protocol, EncodeOptions::default());
}

/// The encoder's options, chosen by the `roundtrip_bytes` target's last byte XOR `b'.'`
/// (a pickle ending with its STOP gets the defaults): bit 0 raw (the graph is decoded
/// and re-decoded at the stream level, and encoded with `Encoder::raw`), bit 1 no
/// framing, bit 2 call fallbacks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EncodeOptions {
    /// Stream level on both sides.
    pub raw: bool,
    /// `Encoder::framing(false)`.
    pub no_framing: bool,
    /// `Encoder::call_fallbacks(true)`: NEWOBJ below 2 and NEWOBJ_EX below 4 become
    /// copyreg calls, so the decoded graph is only checked to decode.
    pub call_fallbacks: bool,
}

impl EncodeOptions {
    /// See the type docs.
    pub fn from_byte(b: u8) -> EncodeOptions {
        let b = b ^ b'.';
        EncodeOptions {
            raw: b & 1 != 0,
            no_framing: b & 2 != 0,
            call_fallbacks: b & 4 != 0,
        }
    }

    fn encoder(self, protocol: u8) -> crate::encode::Encoder {
        crate::encode::Encoder::new(protocol)
            .raw(self.raw)
            .framing(!self.no_framing)
            .call_fallbacks(self.call_fallbacks)
    }
}

/// [`check_roundtrip`] with encoder options.
pub fn check_roundtrip_with(graph: &Graph<'_>, root: NodeId, protocol: u8, options: EncodeOptions) {
    let Some(bytes) = encode_with(graph, root, options.encoder(protocol)) else {
        return;
    };
    let decoder = Decoder::new()
        .limits(Limits::unbounded())
        .policy(Policy::inert())
        .raw(options.raw);
    let decoded = match decoder.decode(&bytes) {
        Ok(d) => d,
        Err(e) => panic!("protocol {protocol}: the encoder's output does not decode: {e}"),
    };
    assert_eq!(
        decoded.consumed,
        bytes.len() as u64,
        "protocol {protocol}: the encoding has bytes after STOP"
    );
    if options.call_fallbacks {
        return;
    }
    if let Err(why) = isomorphic(graph, root, &decoded.graph, decoded.root) {
        panic!(
            "protocol {protocol} ({options:?}): decode(encode(g)) is not isomorphic to g: {why}"
        );
    }
    let again = encode_with(&decoded.graph, decoded.root, options.encoder(protocol));
    assert!(
        again.as_deref() == Some(bytes.as_slice()),
        "protocol {protocol} ({options:?}): encoding is not stable across a round trip"
    );
}

/// The encoding of `root` at `protocol`, or `None` when the protocol cannot represent
/// the graph (switch point for `encode::encode`).
fn encode_with(
    graph: &Graph<'_>,
    root: NodeId,
    encoder: crate::encode::Encoder,
) -> Option<Vec<u8>> {
    match encoder.encode(graph, root) {
        Ok(bytes) => Some(bytes),
        Err(e @ crate::encode::EncodeError::NotRepresentable { .. }) => {
            assert!(
                e.to_string().starts_with("cannot encode "),
                "{e:?} displays as {e}"
            );
            None
        }
        Err(e) => panic!("{encoder:?}: encode failed: {e}"),
    }
}

/// The `roundtrip_bytes` body on a small stack.
pub fn run_roundtrip_bytes(data: &[u8]) {
    on_small_stack(|| roundtrip_bytes(data));
}

/// Any decodable input: decode ⇒ encode ⇒ decode is isomorphic, and stable, at every
/// protocol that can represent it.
/// The encoder's options come from the last byte ([`EncodeOptions`]).
pub fn roundtrip_bytes(data: &[u8]) {
    let options = EncodeOptions::from_byte(tail::<1>(data)[0]);
    let decoder = inert_decoder(fuzz_limits()).raw(options.raw);
    let Ok(decoded) = decoder.decode(data) else {
        return;
    };
    for protocol in 0..=crate::HIGHEST_PROTOCOL {
        check_roundtrip_with(&decoded.graph, decoded.root, protocol, options);
    }
    let beyond = crate::HIGHEST_PROTOCOL + 1;
    match crate::encode::encode(&decoded.graph, decoded.root, beyond) {
        Err(e @ crate::encode::EncodeError::UnsupportedProtocol(_)) => {
            assert!(e.to_string().contains("not supported"), "{e}");
        }
        other => panic!("protocol {beyond}: {other:?}"),
    }
}

/// Shallow equality of two nodes: same kind and same scalar content; children are
/// compared by the caller. Buffer indices count too: the encoder refuses placeholders
/// not numbered in stream order, so the ones it writes come back with their index.
fn shallow_equal(a: Node<'_>, b: Node<'_>) -> Result<(), String> {
    let same = match (a, b) {
        (Node::None, Node::None) => true,
        (Node::Bool(x), Node::Bool(y)) => x == y,
        (Node::Int(x), Node::Int(y)) => x == y,
        (Node::BigInt(x), Node::BigInt(y)) => x == y,
        (Node::Float(x), Node::Float(y)) => x.to_bits() == y.to_bits(),
        (Node::Str(x), Node::Str(y))
        | (Node::Bytes(x), Node::Bytes(y))
        | (Node::ByteArray(x), Node::ByteArray(y)) => x == y,
        (Node::Tuple(x), Node::Tuple(y))
        | (Node::List(x), Node::List(y))
        | (Node::Set(x), Node::Set(y))
        | (Node::FrozenSet(x), Node::FrozenSet(y)) => x.len() == y.len(),
        (Node::Dict(x), Node::Dict(y)) => x.len() == y.len(),
        (Node::Global(x), Node::Global(y)) => x == y,
        (Node::Object(x), Node::Object(y)) => {
            x.op == y.op
                && x.kwargs.is_some() == y.kwargs.is_some()
                && x.state.len() == y.state.len()
                && x.listitems.len() == y.listitems.len()
                && x.dictitems.len() == y.dictitems.len()
                && x.additems.len() == y.additems.len()
        }
        (Node::Ext(x), Node::Ext(y)) => x == y,
        (
            Node::Buffer {
                index: i,
                readonly: x,
            },
            Node::Buffer {
                index: j,
                readonly: y,
            },
        ) => i == j && x == y,
        (Node::PersId(_), Node::PersId(_)) => true,
        _ => false,
    };
    if same {
        Ok(())
    } else {
        Err(format!("{a:?} against {b:?}"))
    }
}

/// Are the values at `ra` in `a` and `rb` in `b` the same Python value with the same
/// sharing? Nodes with identity (list, dict, set, bytearray, object) must correspond
/// one to one; immutable nodes may be shared on one side and duplicated on the other.
/// Iterative, and each pair of nodes is compared once, so cycles and memo bombs are fine.
pub fn isomorphic(a: &Graph<'_>, ra: NodeId, b: &Graph<'_>, rb: NodeId) -> Result<(), String> {
    let mut a_to_b: HashMap<NodeId, NodeId> = HashMap::new();
    let mut b_to_a: HashMap<NodeId, NodeId> = HashMap::new();
    let mut pairs_done: HashSet<(NodeId, NodeId)> = HashSet::new();
    let mut todo = vec![(ra, rb, String::from("root"))];
    while let Some((x, y, path)) = todo.pop() {
        let (Some(nx), Some(ny)) = (a.get(x), b.get(y)) else {
            return Err(format!("{path}: dangling id {x:?} / {y:?}"));
        };
        if nx.has_identity() || ny.has_identity() {
            match (a_to_b.get(&x), b_to_a.get(&y)) {
                (Some(&y2), _) if y2 == y => continue,
                (Some(&y2), _) => {
                    return Err(format!(
                        "{path}: {x:?} corresponds to {y2:?} elsewhere and to {y:?} here"
                    ))
                }
                (None, Some(&x2)) => {
                    return Err(format!(
                        "{path}: {y:?} corresponds to {x2:?} elsewhere and to {x:?} here"
                    ))
                }
                (None, None) => {
                    a_to_b.insert(x, y);
                    b_to_a.insert(y, x);
                }
            }
        } else if !pairs_done.insert((x, y)) {
            continue;
        }
        shallow_equal(nx, ny).map_err(|why| format!("{path}: {why}"))?;
        if nx.children().count() != ny.children().count() {
            return Err(format!("{path}: child counts differ"));
        }
        // Paths name the child positions from the root, cut short on deep graphs.
        let named = path.len() < 200;
        for (i, (cx, cy)) in nx.children().zip(ny.children()).enumerate() {
            let child_path = if named {
                format!("{path}/{i}")
            } else {
                path.clone()
            };
            todo.push((cx, cy, child_path));
        }
    }
    Ok(())
}

// =====================================================================================
// limits
// =====================================================================================

/// The `limits` target on a small stack.
pub fn run_limits(data: &[u8]) {
    on_small_stack(|| limits(data));
}

/// Limits chosen by 8 configuration bytes: byte `i` below 128 keeps the cap of
/// [`fuzz_limits`] for resource `i`, otherwise scales it by `(b - 128) / 127`.
pub fn limits_from(config: [u8; 8]) -> Limits {
    let caps = fuzz_limits();
    let mut out = caps;
    for (resource, b) in Limits::RESOURCES.into_iter().zip(config) {
        if b >= 128 {
            let cap = caps.get(resource);
            out.set(resource, cap / 127 * u64::from(b - 128));
        }
    }
    out
}

/// `limits` with every field raised by a step chosen from `seed`.
fn raised(limits: &Limits, seed: u8) -> Limits {
    let mut out = *limits;
    for (i, resource) in Limits::RESOURCES.into_iter().enumerate() {
        let factor = u64::from(seed.rotate_left(i as u32) & 7);
        let value = limits.get(resource);
        out.set(
            resource,
            value.saturating_add(factor.saturating_mul(value / 4 + 1)),
        );
    }
    out
}

fn decode_under(data: &[u8], limits: Limits) -> Result<Decoded<'_>, Error> {
    inert_decoder(limits).decode(data)
}

fn same_success(what: &str, a: &Decoded<'_>, b: &Result<Decoded<'_>, Error>) {
    let b = match b {
        Ok(b) => b,
        Err(e) => panic!(
            "{what}: the decode that succeeded now fails: {e:?} (usage {:?})",
            a.usage
        ),
    };
    assert_eq!(a.root, b.root, "{what}: roots differ");
    assert_eq!(a.consumed, b.consumed, "{what}: consumed differs");
    assert_eq!(a.usage, b.usage, "{what}: usage differs");
    if let Err(why) = graphs_identical(&a.graph, &b.graph) {
        panic!("{what}: graphs differ: {why}");
    }
}

/// Body of the `limits` target; the last 9 bytes choose the limits (see
/// [`limits_from`]) and how far to raise them.
pub fn limits(data: &[u8]) {
    let [l0, l1, l2, l3, l4, l5, l6, l7, seed] = tail::<9>(data);
    let small = limits_from([l0, l1, l2, l3, l4, l5, l6, l7]);
    let first = decode_under(data, small);
    check_result(data, &small, &first);
    match &first {
        Ok(decoded) => limits_after_success(data, &small, seed, decoded),
        Err(e) => limits_after_failure(data, &small, seed, e),
    }
}

fn limits_after_success(data: &[u8], small: &Limits, seed: u8, decoded: &Decoded<'_>) {
    let up = raised(small, seed);
    same_success("raised limits", decoded, &decode_under(data, up));
    let exact = Limits::from_usage(&decoded.usage);
    same_success("limits = usage", decoded, &decode_under(data, exact));
    // Every resource is tried before failing, so one report names them all.
    let mut wrong = Vec::new();
    for resource in Limits::RESOURCES {
        let used = decoded.usage.get(resource);
        if used == 0 {
            continue;
        }
        let mut tight = exact;
        tight.set(resource, used - 1);
        match decode_under(data, tight) {
            Err(e) if e.resource() == Some(resource) => {}
            Err(e) => wrong.push(format!(
                "{resource} lowered to {}: expected a {resource} error, got {e:?}",
                used - 1
            )),
            Ok(d) => wrong.push(format!(
                "{resource} lowered to {} still decodes (then {:?})",
                used - 1,
                d.usage
            )),
        }
    }
    assert!(
        wrong.is_empty(),
        "one less than the usage {:?} must fail with that resource:\n{}",
        decoded.usage,
        wrong.join("\n")
    );
}

fn limits_after_failure(data: &[u8], small: &Limits, seed: u8, e: &Error) {
    let up = raised(&fuzz_limits(), seed);
    match e.resource() {
        Some(resource) => {
            // Raise every limit but the one exceeded: it must still fail, and never
            // with another resource at an earlier offset.
            let mut others = up;
            for r in Limits::RESOURCES {
                others.set(r, others.get(r).max(small.get(r)));
            }
            others.set(resource, small.get(resource));
            match decode_under(data, others) {
                Ok(d) => panic!(
                    "{e:?} under {small:?}; raising every other limit succeeds (usage {:?})",
                    d.usage
                ),
                Err(e2) => {
                    if e2.resource() != Some(resource) {
                        assert!(
                            e2.offset() >= e.offset(),
                            "{e:?} under {small:?}; raising every other limit gives {e2:?}, earlier"
                        );
                    }
                }
            }
        }
        None => {
            // An error that is not a limit error does not depend on the limits.
            let mut all_up = up;
            for r in Limits::RESOURCES {
                all_up.set(r, all_up.get(r).max(small.get(r)));
            }
            match decode_under(data, all_up) {
                Err(e2) => assert_eq!(
                    (e2.kind(), e2.offset()),
                    (e.kind(), e.offset()),
                    "an error that is not a limit error changed with the limits"
                ),
                Ok(_) => panic!("{e:?} under {small:?}, but success under higher limits"),
            }
        }
    }
}

// =====================================================================================
// views
// =====================================================================================

/// JSON bytes allowed per unit of graph weight (see [`json_bound`]).
///
/// A unit prints as at most one node header with its id and fixed fields (the longest,
/// an object with every optional field, is about 130 bytes) or one escaped payload
/// byte (at most 6: `\u001f`), or one ref (`{"t":"ref","id":4294967295}`, 27 bytes).
pub const JSON_BYTES_PER_UNIT: u64 = 160;

/// Fixed JSON allowance: the document wrapper plus the by-value slack of the JSON view
/// (1024 units at [`JSON_BYTES_PER_UNIT`]).
pub const JSON_SLACK: u64 = 64 + 1024 * JSON_BYTES_PER_UNIT;

/// Nodes, edges (child references) and payload bytes (str, bytes, bytearray, big-int
/// digits, global names) of a graph.
pub fn graph_weight(graph: &Graph<'_>) -> (u64, u64, u64) {
    let (mut nodes, mut edges, mut payload) = (0u64, 0u64, 0u64);
    for node in graph.ids().filter_map(|id| graph.get(id)) {
        nodes += 1;
        edges += node.children().count() as u64;
        payload += match node {
            Node::Str(b) | Node::Bytes(b) | Node::ByteArray(b) => b.len() as u64,
            Node::BigInt(b) => b.magnitude().len() as u64 * 4,
            Node::Global(g) => (g.module.len() + g.name.len()) as u64,
            _ => 0,
        };
    }
    (nodes, edges, payload)
}

/// The longest JSON the `views` target accepts for a graph: linear in its weight.
/// The JSON view prints values in full while that stays within 4 × (nodes + payload)
/// + 1024 units, and otherwise prints each node once and each edge as one ref or
///   scalar; both are within `4 × (nodes + payload) + edges + 1024` units.
pub fn json_bound(graph: &Graph<'_>) -> u64 {
    let (nodes, edges, payload) = graph_weight(graph);
    let units = 4 * (nodes + payload) + edges;
    units * JSON_BYTES_PER_UNIT + JSON_SLACK
}

/// The `zip` target on a small stack.
pub fn run_zip(data: &[u8]) {
    on_small_stack(|| zip(data));
}

/// Body of the `zip` target; see the module docs. [`crate::container::open`] reads the
/// same bytes: every piece it lists lies within the file, and every error points into
/// it.
pub fn zip(data: &[u8]) {
    use crate::container::zip::{ZipArchive, ZipLimits};
    let limits = ZipLimits {
        max_directory_bytes: 1 << 16,
        max_entries: 64,
        max_entry_bytes: 1 << 16,
    };
    let len = data.len() as u64;
    let archive = match ZipArchive::open(data, limits) {
        Ok(a) => a,
        Err(e) => {
            assert!(
                e.offset() <= len,
                "error offset {} past {len}: {e}",
                e.offset()
            );
            return;
        }
    };
    let entries = archive.entries().to_vec();
    assert!(entries.len() as u64 <= limits.max_entries);
    let pickles = archive.pickles();
    assert_eq!(
        pickles.len(),
        entries.iter().filter(|e| e.is_pickle()).count()
    );
    for entry in entries.iter().take(8) {
        match archive.read(entry) {
            Ok(bytes) => {
                assert!(bytes.len() as u64 <= limits.max_entry_bytes);
                assert!(
                    entry.header_offset < len,
                    "entry read from outside the file"
                );
                // A deflated entry may be longer than the file (within its limit).
                if entry.method == 0 {
                    assert!(bytes.len() as u64 <= len, "entry longer than the file");
                }
                if entry.is_pickle() {
                    decode(&bytes);
                }
            }
            Err(e) => assert!(
                e.offset() <= len,
                "error offset {} past {len}: {e}",
                e.offset()
            ),
        }
    }
}

/// The `views` target on a small stack.
pub fn run_views(data: &[u8]) {
    on_small_stack(|| views(data));
}

/// Body of the `views` target; the last 3 bytes choose the repr length and depth, the
/// tree's node budget and (a depth byte of 100 or more) a tree depth below 64.
pub fn views(data: &[u8]) {
    let [len_byte, depth_byte, nodes_byte] = tail::<3>(data);
    let Ok(decoded) = inert_decoder(fuzz_limits()).decode(data) else {
        return;
    };
    let (graph, root) = (&decoded.graph, decoded.root);

    let doc = json::to_json(graph, root);
    let bound = json_bound(graph);
    assert!(
        doc.len() as u64 <= bound,
        "JSON of {} bytes for weight {:?} (bound {bound})",
        doc.len(),
        graph_weight(graph)
    );
    check_json_shape(&doc);
    let value = json::value_to_json(graph, root);
    assert_eq!(
        doc,
        format!("{{\"schema\":\"{}\",\"value\":{value}}}", json::SCHEMA),
        "to_json is the schema around value_to_json"
    );
    let default = repr::ReprOptions::default();
    let text = repr::repr(graph, root);
    assert!(
        text.len() <= default.max_len + 3,
        "default repr of {} bytes",
        text.len()
    );

    let opts = repr::ReprOptions {
        max_len: usize::from(len_byte) * 16,
        max_depth: usize::from(depth_byte % 100),
    };
    let text = repr::repr_with(graph, root, &opts);
    assert!(
        text.len() <= opts.max_len + 3,
        "repr of {} bytes with {opts:?}",
        text.len()
    );

    let limits = tree::TreeLimits {
        max_nodes: u64::from(nodes_byte) * 4,
        max_depth: if depth_byte >= 100 {
            u64::from(depth_byte % 64)
        } else {
            64
        },
        object_contents: nodes_byte % 2 == 0,
    };
    assert!(tree::TreeLimits::default().max_nodes > 0);
    match tree::expand(graph, root, &limits) {
        Ok(t) => {
            let (count, depth) = tree_size(&t);
            assert!(
                count <= limits.max_nodes,
                "tree of {count} nodes with {limits:?}"
            );
            assert!(
                depth <= limits.max_depth,
                "tree {depth} deep with {limits:?}"
            );
        }
        Err(e) => {
            let typed = matches!(e.resource(), Some(Resource::Expansion | Resource::Depth))
                || matches!(e.kind(), ErrorKind::Malformed(_));
            assert!(typed, "tree::expand failed with {e:?}");
        }
    }
}

/// Nodes and levels of a tree, counted without recursion.
fn tree_size(t: &tree::Tree) -> (u64, u64) {
    use tree::Tree as T;
    let mut count = 0u64;
    let mut deepest = 0u64;
    let mut todo: Vec<(&T, u64)> = vec![(t, 1)];
    while let Some((node, level)) = todo.pop() {
        count += 1;
        deepest = deepest.max(level);
        todo.extend(node.children().map(|c| (c, level + 1)));
    }
    (count, deepest)
}
