//! The one integration-test binary: each module covers a capability, each
//! test is named after the case it covers. Tests run the real `baocao`
//! binary on temporary workspaces and read what it wrote back with calamine.

// Test helpers unwrap freely: a failure is a failed test (clippy's
// allow-unwrap-in-tests covers #[test] functions only, not their helpers).
#![allow(clippy::unwrap_used)]

mod common;
mod daemon;
mod figures;
mod foundation;
mod ingest;
mod oracle;
mod reorg;
mod report;
mod territory;
