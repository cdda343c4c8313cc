//! A Python-like `repr`. (placeholder; being written)
use crate::{Graph, NodeId};

/// Python-like repr (placeholder).
pub fn repr(_graph: &Graph<'_>, _root: NodeId) -> String {
    String::new()
}
