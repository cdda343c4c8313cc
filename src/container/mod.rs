//! File formats around pickles, each recognised by its content.

pub mod zip;
