//! The command line (clap derive). The doc comments are the help text.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

pub use crate::report::export::ExportFormat;

/// baocao: district returns on prostitution-prevention work (form 01/PCMD-H),
/// checked, stored and consolidated into the provincial report (01/PCMD-T).
///
/// Exit codes: 0 all accepted; 1 finished, but at least one file was
/// rejected; 2 fatal (configuration, template, database, I/O).
#[derive(Debug, Parser)]
#[command(name = "baocao", version, about, long_about = None)]
pub struct Cli {
    /// The workspace folder (holds baocao.toml, inbox/, archive/, …).
    #[arg(long, global = true, default_value = ".", value_name = "DIR")]
    pub workspace: PathBuf,

    /// Log format on standard error: human or json (for log collectors).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Human)]
    pub log_format: LogFormat,

    /// More log lines (-v: every file, -vv: every finding).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    #[command(subcommand)]
    pub command: Command,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// One readable line per event.
    Human,
    /// One JSON object per line, for log collectors.
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a workspace with a commented baocao.toml and its folders.
    Init {
        /// Folder to create (default: the --workspace folder).
        dir: Option<PathBuf>,
    },
    /// Write the blank return that a district fills in.
    Template {
        /// Unit code (e.g. 061).
        #[arg(long, required_unless_present = "all", conflicts_with = "all")]
        unit: Option<String>,
        /// Every district valid at the period.
        #[arg(long)]
        all: bool,
        /// Reporting month: 2026-11, 11/2026, "Tháng 11 năm 2026", …
        #[arg(long)]
        period: String,
        /// Output file (one unit) or folder (--all). Default: the
        /// workspace's templates/<period>/ folder.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Process every stable file in the inbox: check, store, file away, feedback.
    Ingest {
        /// Check and report, but store and move nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Check files against every rule without storing anything.
    Check {
        /// The returns to check (a folder: every spreadsheet in it and its subfolders).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Print findings as JSON (for other tools).
        #[arg(long)]
        json: bool,
    },
    /// Write the consolidated provincial workbook (01/PCMD-T) for a period.
    Report {
        /// A month (2015-06), quarter (2015Q2), half-year (2015S1) or year (2015).
        #[arg(long)]
        period: String,
        /// Output file (default reports/<period>/BaoCao_01PCMD-T_<period>.xlsx).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Who has reported for a period, on time or late, in the terminal.
    Status {
        /// A month, quarter, half-year or year (default: the latest month with returns).
        #[arg(long)]
        period: Option<String>,
    },
    /// Ingest, then report the latest month that has returns.
    Run,
    /// Export the stored values of a period for other systems.
    Export {
        /// A month, quarter, half-year or year.
        #[arg(long)]
        period: String,
        /// csv, json or parquet (a Hive-partitioned folder).
        #[arg(long, value_enum, ignore_case = true, default_value_t = ExportFormat::Csv)]
        format: ExportFormat,
        /// Output file (folder for parquet).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// The submissions of one return and what changed between them.
    History {
        /// Unit code (e.g. 061).
        #[arg(long)]
        unit: String,
        /// Reporting month.
        #[arg(long)]
        period: String,
    },
    /// Server mode: run the schedules of baocao.toml and take files from the
    /// inbox as they arrive, until SIGTERM/SIGINT. Holds the workspace lock:
    /// a second daemon, ingest or run on the workspace exits 2.
    Daemon,
    /// Copy the database safely (SQLite online backup), also while the daemon runs.
    Backup {
        /// The backup file to write (replaced if it exists).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// The run log: ingest passes, reports and reminders, newest first.
    Runs {
        /// How many runs to show.
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// Load a form definition and list every problem in it.
    CheckForm {
        /// The form definition (TOML).
        file: PathBuf,
    },
    /// Make a synthetic workspace: register, configuration and returns.
    Synth {
        /// Number of district units (ignored with --register).
        #[arg(long, default_value_t = 8)]
        units: usize,
        /// Number of months of returns.
        #[arg(long, default_value_t = 12)]
        months: usize,
        /// Folder of the new workspace.
        #[arg(long)]
        out: PathBuf,
        /// First month (default 2015-01).
        #[arg(long, default_value = "2015-01")]
        start: String,
        /// Plant this many known faults and write faults.json.
        #[arg(long, default_value_t = 0)]
        faults: usize,
        /// Random seed (same seed, same files).
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Use this unit register instead of a synthetic one.
        #[arg(long)]
        register: Option<PathBuf>,
    },
}
