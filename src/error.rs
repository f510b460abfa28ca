//! Failures that stop a command: bad configuration, an unreadable form
//! definition, a database or I/O failure. Each variant carries the path or
//! value it concerns. Problems in a district's data are never an `Error`:
//! they are [`crate::findings::Finding`]s, collected per file.

use std::path::PathBuf;

/// Everything that can stop a baocao command. `main` prints the chain and
/// exits with code 2.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or folder could not be read or written.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// `baocao.toml` is missing, malformed, or names something that does not
    /// exist. Every problem found is listed.
    #[error("configuration {path}: {}", problems.join("; "))]
    Config { path: PathBuf, problems: Vec<String> },
    /// A form definition does not load; `baocao check-form` lists every
    /// problem at once.
    #[error("form definition {path}: {}", problems.join("; "))]
    Form { path: PathBuf, problems: Vec<String> },
    /// The unit register is malformed.
    #[error("unit register {path}: {message}")]
    Register { path: PathBuf, message: String },
    /// The plan file is malformed.
    #[error("plan {path}: {message}")]
    Plan { path: PathBuf, message: String },
    /// A period written in no notation baocao knows.
    #[error("period {text:?}: {reason}")]
    Period { text: String, reason: String },
    /// A unit code unknown to the register, or not valid at the date asked.
    #[error("unit {code}: {reason}")]
    Unit { code: String, reason: String },
    /// Writing a workbook failed.
    #[error("workbook {path}: {message}")]
    Workbook { path: PathBuf, message: String },
    /// The database failed.
    #[error("database {path}: {message}")]
    Database { path: PathBuf, message: String },
    /// The consolidation of stored values failed (a Polars error: a bug or
    /// an out-of-memory condition, never a district's data).
    #[error("consolidation: {0}")]
    Consolidation(String),
    /// A command was called with arguments that do not fit together.
    #[error("{0}")]
    Usage(String),
    /// Another baocao process holds the workspace (`baocao.lock`): one
    /// daemon, ingest or run per workspace. `holder` names its pid.
    #[error("workspace lock {path}: held by {holder}; only one daemon, ingest or run works in a workspace at a time (stop the daemon first, or let it do the work)")]
    Locked { path: PathBuf, holder: String },
}

impl Error {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
