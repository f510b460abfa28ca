//! The stages of the one pipeline that `ingest`, `check`, `run` and the
//! daemon all call. One file's journey, top to bottom:
//!
//! - `discover`: the stable files of the inbox;
//! - `check`: receive a file → `read` and `extract` its return → `validate`
//!   every rule (`check_one`, the same for every entry point);
//! - `ingest`: a pass over the inbox — the stages above for many files, then
//!   record each in the store, write its feedback and file it away
//!   (`filing`).

pub mod check;
pub mod discover;
pub mod extract;
pub mod filing;
pub mod ingest;
pub mod read;
pub mod validate;
