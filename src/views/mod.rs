//! Ways to look at a finished graph. Views never see the machine; each one bounds its
//! own output and never recurses on input depth.

pub mod disasm;
pub mod json;
pub mod repr;
pub mod tree;
