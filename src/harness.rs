//! Fuzz-target bodies and their invariant checks (feature `harness`). (placeholder)
