//! The command line (clap derive). The doc comments are the help text.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

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

    #[command(subcommand)]
    pub command: Command,
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
