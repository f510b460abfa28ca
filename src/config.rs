//! `baocao.toml`: the workspace configuration as written (serde, unknown keys
//! rejected), and the resolved [`Settings`] the commands take — absolute
//! paths, the loaded form, register and plan. The pipeline never sees
//! unresolved input.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use chrono_tz::Tz;
use serde::Deserialize;

use crate::domain::{Form, Plan, Register, ReportingCalendar, TerritoryMapping};
use crate::error::Error;

/// The commented configuration `baocao init` writes.
pub const DEFAULT_CONFIG: &str = include_str!("../templates/workspace/baocao.toml");

/// File name of the configuration inside a workspace.
pub const CONFIG_FILE: &str = "baocao.toml";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub province: ProvinceConfig,
    #[serde(default)]
    pub reporting: ReportingConfig,
    #[serde(default)]
    pub paths: PathsConfig,
    #[serde(default)]
    pub domain: DomainConfig,
    #[serde(default)]
    pub ingest: IngestConfig,
    #[serde(default)]
    pub daemon: DaemonConfig,
}

/// Names printed on the returns and reports.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProvinceConfig {
    pub name: String,
    /// The workspace's province in the register; the register's successor
    /// of this province is followed after it ends (Bắc Kạn 06 → Thái
    /// Nguyên 19 on 1/7/2025).
    #[serde(default = "default_province_code")]
    pub code: String,
    pub people_committee: String,
    pub agency: String,
    pub recipient: String,
    pub place: String,
    pub district_agency: String,
    pub return_recipient: String,
    /// Second header line of a commune's return (communes report straight
    /// to the province from 1/7/2025); empty: `district_agency`.
    #[serde(default)]
    pub commune_agency: String,
    /// The provincial agency that receives a commune's return; empty:
    /// `return_recipient`.
    #[serde(default)]
    pub commune_return_recipient: String,
}

fn default_province_code() -> String {
    "06".into()
}

impl ProvinceConfig {
    /// The header's second line of a return from a unit at `level`.
    pub fn agency_for(&self, level: crate::domain::Level) -> &str {
        match level {
            crate::domain::Level::Commune if !self.commune_agency.is_empty() => &self.commune_agency,
            _ => &self.district_agency,
        }
    }

    /// Who receives a return from a unit at `level` ("Kính gửi").
    pub fn recipient_for(&self, level: crate::domain::Level) -> &str {
        match level {
            crate::domain::Level::Commune if !self.commune_return_recipient.is_empty() => {
                &self.commune_return_recipient
            }
            _ => &self.return_recipient,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportingConfig {
    #[serde(default = "default_cutoff")]
    pub cutoff_day: u8,
    #[serde(default = "default_due_days")]
    pub due_days: u32,
    /// IANA time zone of the office: arrival dates are judged against
    /// deadlines, and times shown, in it. Unset: `[daemon] timezone` (its
    /// former home), else Asia/Ho_Chi_Minh.
    #[serde(default)]
    pub timezone: Option<String>,
}

fn default_cutoff() -> u8 {
    1
}
fn default_due_days() -> u32 {
    5
}

impl Default for ReportingConfig {
    fn default() -> Self {
        ReportingConfig {
            cutoff_day: default_cutoff(),
            due_days: default_due_days(),
            timezone: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PathsConfig {
    pub inbox: PathBuf,
    pub archive: PathBuf,
    pub rejected: PathBuf,
    pub feedback: PathBuf,
    pub reports: PathBuf,
    pub database: PathBuf,
}

impl Default for PathsConfig {
    fn default() -> Self {
        PathsConfig {
            inbox: "inbox".into(),
            archive: "archive".into(),
            rejected: "rejected".into(),
            feedback: "feedback".into(),
            reports: "reports".into(),
            database: "baocao.db".into(),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DomainConfig {
    pub forms: Vec<PathBuf>,
    pub register: PathBuf,
    /// Old commune → new unit table of a reorganisation; empty: the built-in
    /// Bắc Kạn 2025 mapping.
    pub mapping: PathBuf,
    pub plan: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IngestConfig {
    pub stable_seconds: u64,
    /// Leave received files where they are and file a copy (a read-only
    /// shared folder, or the committed samples); files already stored are
    /// recognised by their sha256 on every pass and skipped.
    pub keep_originals: bool,
    pub max_sheet_cells: u64,
    pub max_inflated_mib: u64,
    pub threads: usize,
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            stable_seconds: 5,
            keep_originals: false,
            max_sheet_cells: 2_000_000,
            max_inflated_mib: 256,
            threads: 0,
        }
    }
}

/// Settings of `baocao daemon` (the server mode).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DaemonConfig {
    /// Former home of `[reporting] timezone`, still read so that older
    /// configurations keep working; the two must agree when both are set.
    pub timezone: Option<String>,
    /// Inbox scan interval, with or without file events (network shares
    /// deliver none).
    pub poll_seconds: u64,
    /// Run a schedule once at start-up when a fire time passed while the
    /// daemon was down.
    pub run_missed: bool,
    /// Watch the inbox for file events (inotify, …); false: polling only
    /// (SMB/NFS mounts, tests).
    pub watch_events: bool,
    /// Folder of the daemon's log files, rotated daily (relative to the
    /// workspace); empty: standard error only.
    pub log_dir: PathBuf,
    /// Daily log files kept in `log_dir`; 0 keeps them all.
    pub log_keep_days: usize,
    pub schedule: Vec<ScheduleConfig>,
}

impl Default for DaemonConfig {
    fn default() -> Self {
        DaemonConfig {
            timezone: None,
            poll_seconds: 60,
            run_missed: true,
            watch_events: true,
            log_dir: PathBuf::new(),
            log_keep_days: 90,
            schedule: Vec::new(),
        }
    }
}

/// One scheduled job of the daemon.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleConfig {
    pub name: String,
    pub cron: String,
    pub action: String,
    #[serde(default)]
    pub period: Option<String>,
}

/// Absolute paths of a workspace's folders and files.
#[derive(Debug, Clone)]
pub struct Paths {
    pub root: PathBuf,
    pub inbox: PathBuf,
    pub archive: PathBuf,
    pub rejected: PathBuf,
    pub feedback: PathBuf,
    pub reports: PathBuf,
    pub database: PathBuf,
}

/// Everything a command needs, resolved and loaded.
#[derive(Debug, Clone)]
pub struct Settings {
    pub config: Config,
    pub paths: Paths,
    pub calendar: ReportingCalendar,
    /// The office's time zone: deadlines, arrival dates and schedules.
    pub timezone: Tz,
    /// Form versions, the newest last.
    pub forms: Vec<Form>,
    pub register: Register,
    /// Which old communes make up which new units (the former territory of
    /// a merged province).
    pub mapping: TerritoryMapping,
    pub plan: Plan,
}

impl Config {
    /// The configuration `baocao init` writes, parsed.
    ///
    /// # Errors
    /// Only if the built-in file were broken (a test guards it).
    pub fn default_config() -> Result<Config, Error> {
        Config::parse(DEFAULT_CONFIG, Path::new("<built-in baocao.toml>"))
    }

    /// Parses configuration text; `origin` names it in errors.
    ///
    /// # Errors
    /// [`Error::Config`] with the parser's message (which names the key).
    pub fn parse(text: &str, origin: &Path) -> Result<Config, Error> {
        toml::from_str(text).map_err(|e| Error::Config {
            path: origin.to_path_buf(),
            problems: vec![e.to_string().trim().replace('\n', " ")],
        })
    }
}

impl Settings {
    /// Loads `baocao.toml` from `workspace` and everything it names,
    /// reporting every problem at once.
    ///
    /// When the workspace has no `baocao.toml` and `require_config` is false,
    /// the built-in configuration is used (so `baocao template` works
    /// anywhere).
    ///
    /// # Errors
    /// [`Error::Config`] listing the problems; errors of the form, register
    /// or plan files.
    pub fn load(workspace: &Path, require_config: bool) -> Result<Settings, Error> {
        let root = absolute(workspace);
        let path = root.join(CONFIG_FILE);
        let config = if path.exists() {
            let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
            Config::parse(&text, &path)?
        } else if require_config {
            return Err(Error::Config {
                path,
                problems: vec!["not found; create a workspace with `baocao init DIR` or pass --workspace DIR".into()],
            });
        } else {
            Config::default_config()?
        };
        Settings::resolve(config, &root, &path)
    }

    /// Resolves a parsed configuration against its workspace folder.
    ///
    /// # Errors
    /// As [`Settings::load`].
    pub fn resolve(config: Config, root: &Path, origin: &Path) -> Result<Settings, Error> {
        let mut problems = Vec::new();
        let calendar = ReportingCalendar {
            cutoff_day: config.reporting.cutoff_day,
            due_days: config.reporting.due_days,
        };
        if let Err(p) = calendar.validate() {
            problems.push(format!("[reporting] {p}"));
        }
        let timezone = resolve_timezone(&config, &mut problems);
        let at = |p: &Path| if p.is_absolute() { p.to_path_buf() } else { root.join(p) };
        let paths = Paths {
            root: root.to_path_buf(),
            inbox: at(&config.paths.inbox),
            archive: at(&config.paths.archive),
            rejected: at(&config.paths.rejected),
            feedback: at(&config.paths.feedback),
            reports: at(&config.paths.reports),
            database: at(&config.paths.database),
        };
        let mut forms = Vec::new();
        if config.domain.forms.is_empty() {
            forms.push(Form::embedded()?);
        }
        for form_path in &config.domain.forms {
            match Form::load(&at(form_path)) {
                Ok(form) => forms.push(form),
                Err(e) => problems.push(format!("[domain] forms: {e}")),
            }
        }
        forms.sort_by(|a, b| (a.code.as_str(), a.version).cmp(&(b.code.as_str(), b.version)));
        let register = if config.domain.register.as_os_str().is_empty() {
            Register::embedded()
        } else {
            Register::load(&at(&config.domain.register))
        };
        let plan = if config.domain.plan.as_os_str().is_empty() {
            Plan::embedded()
        } else {
            Plan::load(&at(&config.domain.plan))
        };
        let register = register
            .map_err(|e| problems.push(format!("[domain] register: {e}")))
            .ok();
        let plan = plan.map_err(|e| problems.push(format!("[domain] plan: {e}"))).ok();
        let mapping = if config.domain.mapping.as_os_str().is_empty() {
            TerritoryMapping::embedded()
        } else {
            TerritoryMapping::load(&at(&config.domain.mapping))
        };
        let mapping = mapping
            .map_err(|e| problems.push(format!("[domain] mapping: {e}")))
            .ok();
        if let (Some(register), Some(mapping)) = (&register, &mapping) {
            for p in mapping.problems_against(register) {
                problems.push(format!("[domain] mapping: {p}"));
            }
        }
        match (register, plan, mapping, problems.is_empty()) {
            (Some(register), Some(plan), Some(mapping), true) => Ok(Settings {
                config,
                paths,
                calendar,
                timezone,
                forms,
                register,
                mapping,
                plan,
            }),
            _ => Err(Error::Config {
                path: origin.to_path_buf(),
                problems,
            }),
        }
    }

    /// The newest form version (the one blank returns are made from).
    pub fn current_form(&self) -> &Form {
        // `resolve` guarantees at least one form.
        &self.forms[self.forms.len() - 1]
    }

    /// The form with this code and version.
    pub fn form(&self, code: &str, version: u32) -> Option<&Form> {
        self.forms.iter().find(|f| f.code == code && f.version == version)
    }
}

/// The time zone used when the configuration names none.
pub const DEFAULT_TIMEZONE: &str = "Asia/Ho_Chi_Minh";

/// `[reporting] timezone`, or `[daemon] timezone` from older
/// configurations, or [`DEFAULT_TIMEZONE`]; a problem when unknown or when
/// the two disagree.
fn resolve_timezone(config: &Config, problems: &mut Vec<String>) -> Tz {
    let reporting = config.reporting.timezone.as_deref().map(str::trim);
    let daemon = config.daemon.timezone.as_deref().map(str::trim);
    let (key, name) = match (reporting, daemon) {
        (Some(r), Some(d)) if r != d => {
            problems.push(format!(
                "[reporting] timezone {r:?} and [daemon] timezone {d:?} disagree; keep only [reporting] timezone"
            ));
            ("[reporting] timezone", r)
        }
        (Some(r), _) => ("[reporting] timezone", r),
        (None, Some(d)) => ("[daemon] timezone", d),
        (None, None) => ("", DEFAULT_TIMEZONE),
    };
    Tz::from_str(name).unwrap_or_else(|_| {
        problems.push(format!(
            "{key} {name:?}: not a time zone of the IANA database (e.g. \"{DEFAULT_TIMEZONE}\")"
        ));
        chrono_tz::Asia::Ho_Chi_Minh
    })
}

/// `path` made absolute against the current directory (without resolving links).
pub fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}
