//! Renderers of a [`FileReport`](crate::scan::FileReport): separate functions over the
//! same report, one format each. None decides anything: the verdict and the issues
//! come from the report ([`FileReport::verdict`](crate::scan::FileReport::verdict),
//! [`FileReport::issues`](crate::scan::FileReport::issues)).

pub mod json;
pub mod sarif;
pub mod text;
