//! Ways to look at a finished graph. Views never see the machine; each one bounds its
//! own output and never recurses on input depth.

// Views run on graphs decoded from untrusted input: no arithmetic that can overflow
// or panic, in any view module (the lint level is inherited).
#![deny(clippy::arithmetic_side_effects)]

pub mod disasm;
pub mod json;
pub mod repr;
#[cfg(feature = "serde")]
pub mod serde;
pub mod tree;
