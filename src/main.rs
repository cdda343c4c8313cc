//! The `pickleproof` command-line tool. (placeholder)
fn main() {}
