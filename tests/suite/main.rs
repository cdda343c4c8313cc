//! The one integration-test binary (links once: it matters on a 2-core machine).
//! Each module owns one concern; see its docs.

mod archives;
mod corpus;
#[cfg(feature = "cpython")]
mod cpython;
mod fuzz_replay;
mod opcodes;
mod properties;
mod scan;
mod semantics;
mod support;
