//! Expansion of shared references into a tree, under an expansion budget. (placeholder)
