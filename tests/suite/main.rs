//! The one integration-test binary (links once: it matters on a 2-core machine).
//! Each module owns one concern; see its docs.

// Compressed benign files are part of the acceptance run.
#[cfg(feature = "compression")]
mod acceptance;
mod archives;
// The container files include every compressed format.
#[cfg(feature = "compression")]
mod containers;
mod corpus;
#[cfg(feature = "cpython")]
mod cpython;
mod fuzz_replay;
mod opcodes;
mod policy;
mod properties;
mod scan;
mod semantics;
#[cfg(feature = "serde")]
mod serde;
mod support;
#[cfg(feature = "torch")]
mod torch;
