//! Shared code of the benches.

pub mod ext;
