//! The one integration-test binary (links once: it matters on a 2-core machine).
//! Each module owns one concern; see its docs.

mod archives;
mod corpus;
mod fuzz_replay;
mod opcodes;
mod properties;
mod scan;
mod semantics;
#[cfg(feature = "serde")]
mod serde;
mod support;
