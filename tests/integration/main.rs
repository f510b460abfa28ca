//! The one integration-test binary: each module covers a capability, each
//! test is named after the case it covers. Tests run the real `baocao`
//! binary on temporary workspaces and read what it wrote back with calamine.

mod common;
mod foundation;
