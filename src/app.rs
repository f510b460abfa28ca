//! One function per command. `main` calls [`run`]; each command returns an
//! [`Outcome`] that becomes the exit code.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::cli::{Cli, Command, LogFormat};
use crate::config::{self, Settings, CONFIG_FILE, DEFAULT_CONFIG};
use crate::domain::{Form, Period, Unit};
use crate::error::Error;
use crate::pipeline::check::check_path;
use crate::pipeline::discover::discover;
use crate::pipeline::ingest::{ingest, IngestOptions, IngestSummary};
use crate::store::{Status, Store};
use crate::template::{self, blank_spec, return_file_name};

/// How a command that ran to its end went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Everything accepted (exit 0).
    Clean,
    /// Finished, but at least one file was rejected or a checked file has
    /// problems (exit 1).
    Rejected,
}

impl Outcome {
    pub fn exit_code(self) -> u8 {
        match self {
            Outcome::Clean => 0,
            Outcome::Rejected => 1,
        }
    }
}

/// Runs one command.
///
/// # Errors
/// Any [`Error`] that stops the command (exit 2).
pub fn run(cli: Cli) -> Result<Outcome, Error> {
    let workspace = cli.workspace;
    match cli.command {
        Command::Init { dir } => init(dir.as_deref().unwrap_or(&workspace)),
        Command::Template { unit, all, period, out } => {
            let settings = Settings::load(&workspace, false)?;
            template_command(&settings, unit.as_deref(), all, &period, out.as_deref())
        }
        Command::CheckForm { file } => check_form(&file),
        Command::Ingest { dry_run } => {
            let settings = Settings::load(&workspace, true)?;
            // A dry run stores and moves nothing: it may run beside the daemon.
            let _lock = if dry_run {
                None
            } else {
                Some(crate::daemon::WorkspaceLock::acquire(&settings.paths.root, "ingest")?)
            };
            let options = IngestOptions {
                dry_run,
                progress: std::io::stderr().is_terminal(),
                ..IngestOptions::default()
            };
            let summary = ingest(&settings, &options)?;
            print_ingest(&summary, dry_run);
            Ok(if summary.any_rejected() {
                Outcome::Rejected
            } else {
                Outcome::Clean
            })
        }
        Command::Check { files, json } => {
            let settings = Settings::load(&workspace, false)?;
            check_command(&settings, &files, json)
        }
        Command::Report { period, out } => {
            let settings = Settings::load(&workspace, true)?;
            let period = Period::parse(&period)?;
            let summary = crate::report::write_report(&settings, period, out.as_deref())?;
            println!("{summary}");
            Ok(Outcome::Clean)
        }
        Command::Status { period } => {
            let settings = Settings::load(&workspace, true)?;
            status_command(&settings, period.as_deref())
        }
        Command::Run => {
            let settings = Settings::load(&workspace, true)?;
            let _lock = crate::daemon::WorkspaceLock::acquire(&settings.paths.root, "run")?;
            run_command(&settings)
        }
        Command::Daemon => {
            let settings = Settings::load(&workspace, true)?;
            let options = crate::daemon::DaemonOptions {
                verbose: cli.verbose,
                json_logs: cli.log_format == LogFormat::Json,
            };
            crate::daemon::run(&settings, &options)?;
            Ok(Outcome::Clean)
        }
        Command::Backup { out } => {
            let settings = Settings::load(&workspace, true)?;
            let copy = crate::store::backup::backup_database(&settings.paths.database, &out)?;
            println!(
                "{}: {} bytes, {} submissions, schema version {}",
                copy.path.display(),
                copy.bytes,
                copy.submissions,
                copy.schema_version
            );
            Ok(Outcome::Clean)
        }
        Command::Runs { limit } => {
            let settings = Settings::load(&workspace, true)?;
            crate::daemon::print_recent_runs(&settings, limit)?;
            Ok(Outcome::Clean)
        }
        Command::Export { period, format, out } => {
            let settings = Settings::load(&workspace, true)?;
            let period = Period::parse(&period)?;
            let (path, rows) = crate::report::export::export(&settings, period, format, out.as_deref())?;
            println!("{}: {rows} rows", path.display());
            Ok(Outcome::Clean)
        }
        Command::History { unit, period } => {
            let settings = Settings::load(&workspace, true)?;
            history_command(&settings, &unit, &period)
        }
        Command::Synth {
            units,
            months,
            out,
            start,
            faults,
            seed,
            register,
        } => {
            let options = crate::synth::SynthOptions {
                units,
                months,
                start: Period::parse(&start)?,
                faults,
                seed,
                register,
            };
            let summary = crate::synth::synth(&out, &options)?;
            println!(
                "{}: {} units, {} returns, {} faults planted{}",
                out.display(),
                summary.units,
                summary.returns,
                summary.faults,
                if summary.faults > 0 { " (see faults.json)" } else { "" }
            );
            Ok(Outcome::Clean)
        }
    }
}

/// The folders every workspace has.
pub const WORKSPACE_FOLDERS: [&str; 5] = ["inbox", "archive", "rejected", "feedback", "reports"];

/// `baocao init DIR`: a workspace with a commented `baocao.toml` and its
/// folders. An existing `baocao.toml` is left as it is.
///
/// # Errors
/// [`Error::Io`] when the folder cannot be created.
pub fn init(dir: &Path) -> Result<Outcome, Error> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let path = dir.join(CONFIG_FILE);
    if path.exists() {
        println!("{} exists; left as it is", path.display());
    } else {
        std::fs::write(&path, DEFAULT_CONFIG).map_err(|e| Error::io(&path, e))?;
        println!("wrote {}", path.display());
    }
    let settings = Settings::load(dir, true)?;
    for folder in [
        &settings.paths.inbox,
        &settings.paths.archive,
        &settings.paths.rejected,
        &settings.paths.feedback,
        &settings.paths.reports,
    ] {
        std::fs::create_dir_all(folder).map_err(|e| Error::io(folder, e))?;
    }
    println!(
        "workspace ready in {}: drop returns into {}",
        config::absolute(dir).display(),
        settings.paths.inbox.display()
    );
    Ok(Outcome::Clean)
}

/// The reporting unit `code` of the month `period` (a district of the
/// workspace's province, or from 1/7/2025 a commune of its successor), or an
/// error that says whether the code is unknown, or only not a reporting unit
/// then (and when it was one).
///
/// # Errors
/// [`Error::Unit`].
pub fn reporting_unit_at_period<'a>(settings: &'a Settings, code: &str, period: &Period) -> Result<&'a Unit, Error> {
    use crate::domain::{Level, Register};
    let register = &settings.register;
    let province = settings.config.province.code.as_str();
    let end = period.end(&settings.calendar);
    let level = register.reporting_level(province, end);
    // A code written with its leading zeros keeps its width ("061" is a
    // district in any month); digits alone are padded to the month's level.
    let padded = Register::normalize_code_for(code, level);
    let by_digits = Register::normalize_code_for(code, Level::District);
    for candidate in [&padded, &by_digits].into_iter().flatten() {
        if let Some(unit) = register.reporting_unit(province, candidate, end) {
            return Ok(unit);
        }
    }
    let known = |c: &String| register.units().iter().any(|u| &u.code == c);
    let normal = padded
        .clone()
        .filter(known)
        .or(by_digits)
        .or(padded)
        .ok_or_else(|| Error::Unit {
            code: code.to_string(),
            reason: format!(
                "a unit code is digits: {} for a {} (e.g. {})",
                level.code_width(),
                level.as_str(),
                register
                    .reporting_units(province, end)
                    .first()
                    .map_or("061", |u| u.code.as_str())
            ),
        })?;
    let width_level = [Level::District, Level::Commune]
        .into_iter()
        .find(|l| l.code_width() == normal.len())
        .unwrap_or(level);
    let rows = register.rows_of(width_level, &normal);
    let reason = if rows.is_empty() {
        format!("no {} has this code in the unit register", width_level.as_str())
    } else {
        let spans: Vec<String> = rows.iter().map(|u| format!("{} ({})", u.name, u.validity())).collect();
        format!(
            "not a valid {} on {end}: the units that report for {period} are {} {}s; the register has this code as {}",
            width_level.as_str(),
            register.reporting_units(province, end).len(),
            level.as_str(),
            spans.join(", ")
        )
    };
    Err(Error::Unit { code: normal, reason })
}

fn month_period(text: &str) -> Result<Period, Error> {
    let period = Period::parse(text)?;
    if !period.is_month() {
        return Err(Error::Period {
            text: text.to_string(),
            reason: "a return is monthly: give a month such as 2015-06".into(),
        });
    }
    Ok(period)
}

fn template_command(
    settings: &Settings,
    unit: Option<&str>,
    all: bool,
    period: &str,
    out: Option<&Path>,
) -> Result<Outcome, Error> {
    let period = month_period(period)?;
    let end = period.end(&settings.calendar);
    let units: Vec<Unit> = if all {
        let list = crate::report::completeness::expected_units(settings, period);
        if list.is_empty() {
            return Err(Error::Unit {
                code: "--all".into(),
                reason: format!(
                    "the register has no reporting unit of province {} valid on {end}",
                    settings.config.province.code
                ),
            });
        }
        list
    } else {
        let code = unit.ok_or_else(|| Error::Usage("give --unit CODE or --all".into()))?;
        vec![reporting_unit_at_period(settings, code, &period)?.clone()]
    };
    let default_dir = settings.paths.root.join("blank").join(period.to_string());
    for unit in &units {
        let spec = blank_spec(settings, unit, period)?;
        let name = return_file_name(spec.form, &unit.code, &period);
        let path: PathBuf = match (out, all) {
            (Some(out), false) => out.to_path_buf(),
            (Some(out), true) => out.join(&name),
            (None, _) => default_dir.join(&name),
        };
        template::write_return(&path, &spec)?;
        println!("{}  {} ({} communes)", path.display(), unit.name, spec.communes.len());
    }
    Ok(Outcome::Clean)
}

fn check_form(file: &Path) -> Result<Outcome, Error> {
    let text = std::fs::read_to_string(file).map_err(|e| Error::io(file, e))?;
    let problems = Form::problems(&text);
    if problems.is_empty() {
        let form = Form::from_toml(&text, file)?;
        println!(
            "{}: {} — {} lines, {} rules, no problems",
            file.display(),
            form.label(),
            form.lines.len(),
            form.rules.len()
        );
        return Ok(Outcome::Clean);
    }
    println!("{}: {} problem(s)", file.display(), problems.len());
    for problem in &problems {
        println!("  - {problem}");
    }
    Ok(Outcome::Rejected)
}

/// Sets up `tracing`: human lines or JSON on standard error; the level from
/// `-v` (warnings by default, info for the daemon), or `RUST_LOG`.
pub fn init_logging(cli: &Cli) {
    use tracing_subscriber::EnvFilter;
    if matches!(cli.command, Command::Daemon) {
        // The daemon sets up its own (info level, optional log file) once
        // its configuration is loaded: `daemon::run`.
        return;
    }
    let default = match cli.verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(format!("baocao={default}")));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if cli.log_format == LogFormat::Json {
        builder.json().try_init()
    } else {
        builder.with_target(false).try_init()
    };
}

fn print_ingest(summary: &IngestSummary, dry_run: bool) {
    print_lines(|out| {
        for file in &summary.files {
            let status = match (file.duplicate, file.status) {
                (true, _) => "trùng (đã nhận trước đó)".to_string(),
                (false, Some(s)) => s.vietnamese().to_string(),
                (false, None) => String::new(),
            };
            let who = match (&file.unit, &file.period) {
                (Some(u), Some(p)) => format!(" [{u} {p}]"),
                _ => String::new(),
            };
            let errors = file.findings.iter().filter(|f| f.is_error()).count();
            let warnings = file.findings.len() - errors;
            let counts = if file.findings.is_empty() {
                String::new()
            } else {
                format!(" — {errors} lỗi, {warnings} cảnh báo")
            };
            writeln!(
                out,
                "{}{who}: {status}{counts}{}",
                file.file,
                if file.superseded {
                    " (thay thế bản trước)"
                } else {
                    ""
                }
            )?;
            for finding in file.findings.iter().filter(|f| f.is_error()).take(5) {
                writeln!(out, "    {}", finding.log_line())?;
            }
        }
        writeln!(
            out,
            "{}{}",
            if dry_run {
                "[dry run: nothing stored or moved] "
            } else {
                ""
            },
            summary.report()
        )
    });
}

/// Writes a listing of many lines to standard output in one buffered
/// piece (`println!` writes each line on its own: a national pass's 8,460
/// lines were as many system calls). A closed output (`| head`) ends the
/// listing quietly: the outcome is in the exit code and the run log.
fn print_lines(write: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()>) {
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let _ = write(&mut out).and_then(|()| std::io::Write::flush(&mut out));
}

/// The files to check: a folder stands for the spreadsheets in it and its
/// subfolders, by path (what `ingest` would take from it as an inbox).
fn files_to_check(paths: &[PathBuf]) -> Result<Vec<PathBuf>, Error> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut found = discover(path, Duration::ZERO, SystemTime::now())?.ready;
            found.sort_by(|a, b| a.relative.cmp(&b.relative));
            files.extend(found.into_iter().map(|candidate| candidate.path));
        } else {
            files.push(path.clone());
        }
    }
    Ok(files)
}

fn check_command(settings: &Settings, paths: &[PathBuf], json: bool) -> Result<Outcome, Error> {
    use rayon::prelude::*;

    let files = files_to_check(paths)?;
    let today = chrono::Local::now().date_naive();
    let database = &settings.paths.database;
    let with_history = database.exists();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(settings.config.ingest.threads)
        .build()
        .map_err(Error::Threads)?;
    // Files are checked in parallel, each worker reading the stored history
    // through its own connection (nothing is written), and reported in the
    // order given.
    let results: Vec<Result<_, Error>> = pool.install(|| {
        files
            .par_iter()
            .map_init(
                || {
                    if with_history {
                        Store::open(database).map(Some)
                    } else {
                        Ok(None)
                    }
                },
                |store, path| {
                    let name = path
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    match store {
                        Ok(store) => check_path(path, &name, settings, today, store.as_ref()),
                        Err(e) => Err(Error::Database {
                            path: database.clone(),
                            message: e.to_string(),
                        }),
                    }
                },
            )
            .collect()
    });
    let mut any_rejected = false;
    let mut reports = Vec::new();
    let mut listing = Vec::new();
    for (path, checked) in files.iter().zip(results) {
        let checked = checked?;
        let status = checked.status();
        any_rejected |= status == Status::Rejected;
        if json {
            let claimed = &checked.claimed;
            reports.push(serde_json::json!({
                "file": path.display().to_string(),
                "status": status.as_str(),
                "unit": claimed.unit_code,
                "period": claimed.period.map(|p| p.to_string()),
                "form": claimed.form_code,
                "version": claimed.version,
                "findings": checked.findings,
            }));
        } else {
            listing.push((path, status, checked.findings));
        }
    }
    print_lines(|out| {
        for (path, status, findings) in &listing {
            writeln!(out, "{}: {}", path.display(), status.vietnamese())?;
            for f in findings {
                writeln!(out, "  {}", f.log_line())?;
                writeln!(out, "    {}", f.message_vi)?;
            }
        }
        Ok(())
    });
    if json {
        let text = serde_json::to_string_pretty(&reports).map_err(|e| Error::encode("check --json", e))?;
        println!("{text}");
    }
    Ok(if any_rejected {
        Outcome::Rejected
    } else {
        Outcome::Clean
    })
}

fn history_command(settings: &Settings, unit: &str, period: &str) -> Result<Outcome, Error> {
    let period = month_period(period)?;
    // The code's width follows the month: `history --unit 1840 --period
    // 2025-08` asks for commune 01840, `--unit 61 --period 2015-06` for 061.
    let level = settings
        .register
        .reporting_level(&settings.config.province.code, period.end(&settings.calendar));
    let known = |c: &String| settings.register.units().iter().any(|u| &u.code == c);
    let code = crate::domain::Register::normalize_code_for(unit, level)
        .filter(known)
        .or_else(|| crate::domain::Register::normalize_code_for(unit, crate::domain::Level::District))
        .unwrap_or_else(|| unit.to_string());
    let store = Store::open(&settings.paths.database)?;
    let submissions = store.submissions_of(&code, period)?;
    if submissions.is_empty() {
        println!("{code} {period}: nothing received");
        return Ok(Outcome::Clean);
    }
    println!("{code} {period}: {} submission(s)", submissions.len());
    let mut previous: Option<std::collections::BTreeMap<String, crate::store::StoredValue>> = None;
    for s in &submissions {
        let state = match (s.status, s.superseded_by) {
            (Status::Rejected, _) => "rejected".to_string(),
            (_, Some(by)) => format!("{} — superseded by #{by}", s.status.as_str()),
            (_, None) => format!("{} — current", s.status.as_str()),
        };
        println!(
            "#{} received {} processed {}  {}  sha256 {}…  {}",
            s.id,
            crate::domain::local_time_text(&s.received_at, settings.timezone),
            crate::domain::local_time_text(&s.processed_at, settings.timezone),
            s.file_name,
            &s.sha256[..12.min(s.sha256.len())],
            state
        );
        if s.status == Status::Rejected {
            for f in store.findings_of(s.id)?.iter().filter(|f| f.is_error()) {
                println!("    {}", f.log_line());
            }
            continue;
        }
        let values = store.values_of(s.id)?;
        if let Some(before) = &previous {
            let mut changed = 0;
            for (line, now) in &values {
                let old = before.get(line);
                let (ov, oy) = (old.and_then(|o| o.value), old.and_then(|o| o.ytd));
                if ov != now.value || oy != now.ytd {
                    changed += 1;
                    println!(
                        "    {line}: {} → {}{}",
                        show(ov),
                        show(now.value),
                        if oy != now.ytd {
                            format!("  (lũy kế {} → {})", show(oy), show(now.ytd))
                        } else {
                            String::new()
                        }
                    );
                }
            }
            if changed == 0 {
                println!("    no value changed");
            }
        }
        previous = Some(values);
    }
    Ok(Outcome::Clean)
}

fn show(value: Option<f64>) -> String {
    value.map_or_else(|| "(trống)".to_string(), |v| format!("{v}"))
}

/// `baocao run`: one ingest pass, then the report of the latest month that
/// has returns (the job cron or a person runs).
fn run_command(settings: &Settings) -> Result<Outcome, Error> {
    let options = IngestOptions {
        progress: std::io::stderr().is_terminal(),
        ..IngestOptions::default()
    };
    let summary = ingest(settings, &options)?;
    print_ingest(&summary, false);
    match crate::report::latest_period_with_returns(settings)? {
        Some(period) => {
            let report = crate::report::write_report(settings, period, None)?;
            println!("{report}");
        }
        None => println!("no accepted return yet: no report written"),
    }
    Ok(if summary.any_rejected() {
        Outcome::Rejected
    } else {
        Outcome::Clean
    })
}

/// `baocao status`: the completeness and timeliness table of a period.
fn status_command(settings: &Settings, period: Option<&str>) -> Result<Outcome, Error> {
    use crate::report::completeness::{month_statuses, rates, Rates};
    let period = match period {
        Some(text) => Period::parse(text)?,
        None => match crate::report::latest_period_with_returns(settings)? {
            Some(p) => p,
            None => {
                println!("no accepted return yet");
                return Ok(Outcome::Clean);
            }
        },
    };
    let store = Store::open(&settings.paths.database)?;
    let statuses = month_statuses(settings, &store, period)?;
    let colour = std::io::stdout().is_terminal();
    let paint = |text: String, code: &str| {
        if colour {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text
        }
    };
    let months = period.months();
    print!("{:<6} {:<28}", "Mã", "Đơn vị");
    for m in &months {
        print!(" {:>8}", m.to_string());
    }
    println!();
    let mut units: Vec<(&str, &str)> = statuses
        .iter()
        .map(|s| (s.unit_code.as_str(), s.unit_name.as_str()))
        .collect();
    units.dedup();
    for (code, name) in units {
        print!("{code:<6} {:<28}", name.chars().take(28).collect::<String>());
        for m in &months {
            let cell = statuses.iter().find(|s| s.unit_code == code && s.month == *m);
            let (text, style) = match cell {
                None => ("–".to_string(), "2"),
                Some(s) if s.is_received() && s.is_on_time() => ("đúng hạn".to_string(), "32"),
                Some(s) if s.is_received() => (format!("muộn {}n", s.days_late.unwrap_or(0)), "33"),
                Some(s) if s.latest_status == Some(Status::Rejected) => ("từ chối".to_string(), "31"),
                Some(_) => ("chưa nộp".to_string(), "31"),
            };
            print!(" {}", paint(format!("{text:>8}"), style));
        }
        println!();
    }
    let r = rates(&statuses);
    let pct = |a, b| Rates::percent(a, b).map_or("–".into(), |p| format!("{p:.1}%"));
    println!(
        "{period}: expected {}, received {} ({}), on time {} ({}), late {}, rejected only {}, revisions {}",
        r.expected,
        r.received,
        pct(r.received, r.expected),
        r.on_time,
        pct(r.on_time, r.expected),
        r.late,
        r.rejected_only,
        r.revisions
    );
    let runs = store.recent_runs(5)?;
    if !runs.is_empty() {
        println!("last runs:");
        for run in runs {
            println!(
                "  #{} {} → {} [{}] {}: seen {}, accepted {}, warnings {}, rejected {}, duplicates {} — {}",
                run.id,
                crate::domain::local_timestamp_text(&run.started_at, settings.timezone),
                run.finished_at
                    .map(|t| crate::domain::local_timestamp_text(&t, settings.timezone))
                    .unwrap_or_else(|| "(unfinished)".into()),
                run.trigger,
                run.command,
                run.counts.seen,
                run.counts.accepted,
                run.counts.warnings,
                run.counts.rejected,
                run.counts.duplicates,
                run.outcome.unwrap_or_default()
            );
        }
    }
    Ok(Outcome::Clean)
}
