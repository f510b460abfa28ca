//! One function per command. `main` calls [`run`]; each command returns an
//! [`Outcome`] that becomes the exit code.

use std::path::{Path, PathBuf};

use crate::cli::{Cli, Command};
use crate::config::{self, Settings, CONFIG_FILE, DEFAULT_CONFIG};
use crate::domain::{Form, Period, Unit};
use crate::error::Error;
use crate::template::{self, CommuneRow, Identity, ReturnSpec};

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

/// The district `code` valid at the end of `period`, or an error that says
/// whether the code is unknown or only not valid then.
///
/// # Errors
/// [`Error::Unit`].
pub fn district_at_period<'a>(settings: &'a Settings, code: &str, period: &Period) -> Result<&'a Unit, Error> {
    let normal =
        crate::domain::Register::normalize_code(code, crate::domain::Level::District).ok_or_else(|| Error::Unit {
            code: code.to_string(),
            reason: "a district code is 1 to 3 digits (e.g. 061)".into(),
        })?;
    let end = period.end(&settings.calendar);
    if let Some(unit) = settings.register.district_at(&normal, end) {
        return Ok(unit);
    }
    let rows = settings.register.rows_of(crate::domain::Level::District, &normal);
    let reason = if rows.is_empty() {
        "no district has this code in the unit register".to_string()
    } else {
        let spans: Vec<String> = rows.iter().map(|u| format!("{} ({})", u.name, u.validity())).collect();
        format!(
            "not a valid district on {end}; the register has it as {}",
            spans.join(", ")
        )
    };
    Err(Error::Unit { code: normal, reason })
}

/// The blank return of one unit for one month.
///
/// # Errors
/// [`Error::Period`] when `period` is not a month, [`Error::Unit`].
pub fn blank_spec<'a>(settings: &'a Settings, unit: &Unit, period: Period) -> Result<ReturnSpec<'a>, Error> {
    let form: &Form = settings.current_form();
    let end = period.end(&settings.calendar);
    let communes = settings
        .register
        .communes_of(&unit.code, end)
        .into_iter()
        .map(|c| CommuneRow {
            code: c.code.clone(),
            name: c.name.clone(),
            flags: vec![false; form.commune_flags.len()],
        })
        .collect();
    Ok(ReturnSpec {
        form,
        province: &settings.config.province,
        identity: Identity {
            form_code: form.code.clone(),
            version: form.version,
            unit_code: unit.code.clone(),
            unit_code_as_number: false,
            unit_name: unit.name.clone(),
            period,
        },
        values: Default::default(),
        omit_lines: Vec::new(),
        extra_lines: Vec::new(),
        communes,
    })
}

/// File name of a return: `01PCMD-H_061_2015-06.xlsx`.
pub fn return_file_name(form: &Form, unit_code: &str, period: &Period) -> String {
    format!("{}_{}_{}.xlsx", form.code.replace('/', ""), unit_code, period)
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
    let units: Vec<&Unit> = if all {
        let list = settings.register.districts_at(end);
        if list.is_empty() {
            return Err(Error::Unit {
                code: "--all".into(),
                reason: format!("the register has no district valid on {end}"),
            });
        }
        list
    } else {
        let code = unit.ok_or_else(|| Error::Usage("give --unit CODE or --all".into()))?;
        vec![district_at_period(settings, code, &period)?]
    };
    let default_dir = settings.paths.root.join("blank").join(period.to_string());
    for unit in units {
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
