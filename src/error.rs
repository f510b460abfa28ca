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
    /// A command was called with arguments that do not fit together.
    #[error("{0}")]
    Usage(String),
    /// Data could not be encoded for the outside world (CSV, JSON, Parquet):
    /// `what` names the output, `source` says why.
    #[error("{what}: {source}")]
    Encode {
        what: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The consolidation of stored values failed (a Polars error: a bug or
    /// an out-of-memory condition, never a district's data).
    #[error("consolidation: {0}")]
    Consolidation(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The worker threads of an ingest pass could not be started.
    #[error("worker threads: {0}")]
    Threads(#[source] rayon::ThreadPoolBuildError),
    /// The handlers of SIGTERM and SIGINT could not be installed.
    #[error("cannot install the signal handlers: {0}")]
    Signals(#[source] std::io::Error),
    /// A bug in baocao (a panic) caught during `during`, so that one bad run
    /// does not end a daemon.
    #[error("internal error during {during} (a bug in baocao; please report it): {message}")]
    Internal { during: String, message: String },
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

    /// Wraps an encoding failure with the output it concerns.
    pub fn encode(what: impl Into<String>, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        Error::Encode {
            what: what.into(),
            source: Box::new(source),
        }
    }
}

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
