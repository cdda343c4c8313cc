//! Graph → pickle bytes for every protocol. (placeholder; being written)
