//! baocao reads the monthly district returns on prostitution-prevention work
//! (form 01/PCMD-H), checks them against every rule of the form, keeps them in
//! a database and writes the consolidated provincial workbook (01/PCMD-T).
//!
//! The flow, one plain function per stage:
//!
//! ```text
//! inbox/ → discover → read → extract → validate → store → consolidate → write
//! ```
//!
//! Module map:
//! - [`pipeline`]: the stages; `pipeline::check` takes one file from
//!   received to checked (the same for `check`, `ingest` and the daemon),
//!   `pipeline::ingest` a whole inbox on to the store, feedback and filing.
//! - [`store`]: the SQLite system of record; [`feedback`]: the district's workbook;
//!   [`report`]: consolidation and the provincial workbook and exports.
//! - [`domain`]: the form, unit register, periods and plan, loaded from `templates/`.
//! - [`config`]: `baocao.toml` → resolved [`config::Settings`].
//! - [`template`]: the blank (or, for synthetic data, filled) return workbook.
//! - [`atomic`]: every file written whole or not at all; [`cell_text`]: Excel's limit on a cell's text.
//! - [`synth`]: synthetic registers and returns for tests, demos and benchmarks.
//! - [`daemon`]: the server mode — schedules, folder watch, workspace lock, shutdown.
//! - [`app`]: one function per command; [`cli`]: the command line.

pub mod app;
pub mod atomic;
pub mod cell_text;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod domain;
pub mod error;
pub mod feedback;
pub mod findings;
pub mod pipeline;
pub mod report;
pub mod store;
pub mod synth;
pub mod template;

pub use error::{Error, Result};
