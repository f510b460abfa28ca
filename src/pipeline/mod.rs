//! The stages of the one pipeline that `ingest`, `check`, `run` and the
//! daemon all call: read → extract → validate (→ store → consolidate → write).

pub mod check;
pub mod discover;
pub mod extract;
pub mod ingest;
pub mod read;
pub mod validate;
