//! Test fixtures shared by the read, extract and validate tests: a
//! workspace with the built-in configuration, a return that passes every
//! rule, and the context to check it in. Faults are planted by editing the
//! spec before writing it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;

use crate::config::Settings;
use crate::domain::Period;
use crate::pipeline::check::{check_one, extract_one, receive, unreadable};
use crate::pipeline::read::ReadLimits;
use crate::pipeline::validate::{Checked, Context, History};
use crate::template::{blank_spec, write_return, CellInput, Layout, ReturnSpec};

/// The unit of the fixture returns (Huyện Ba Bể).
pub(crate) const UNIT: &str = "061";

/// June 2015.
pub(crate) fn period() -> Period {
    Period::month(2015, 6)
}

/// A day after June 2015.
pub(crate) fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2015, 7, 10).unwrap_or(NaiveDate::MIN)
}

/// Every value of a valid return: (code, this period, year to date).
pub(crate) const VALUES: &[(&str, f64, Option<f64>)] = &[
    ("A01", 10.0, None),
    ("A01.1", 1.0, None),
    ("A01.2", 2.0, None),
    ("A01.3", 3.0, None),
    ("A01.4", 4.0, None),
    ("A01.5", 8.0, None),
    ("A01.6", 1.0, None),
    ("A01.7", 2.0, None),
    ("A02", 3.0, None),
    ("A03", 28.0, None),
    ("A03.1", 1.0, None),
    ("A03.2", 2.0, None),
    ("A03.3", 3.0, None),
    ("A03.4", 4.0, None),
    ("A03.5", 5.0, None),
    ("A03.6", 6.0, None),
    ("A03.7", 7.0, None),
    ("A04", 50.0, None),
    ("A04.1", 30.0, None),
    ("B01", 2.0, Some(5.0)),
    ("B02", 6.0, Some(15.0)),
    ("B03", 3.0, Some(6.0)),
    ("B04", 2.0, Some(4.0)),
    ("B05", 12.5, Some(20.75)),
    ("B06", 1.0, Some(1.0)),
    ("B07", 1.0, Some(2.0)),
    ("B08", 3.0, Some(5.0)),
    ("B08.1", 1.0, Some(2.0)),
    ("B08.2", 1.0, Some(2.0)),
    ("B08.3", 1.0, Some(1.0)),
    ("B09", 1.0, Some(1.0)),
    ("B10", 2.0, Some(2.0)),
    ("B11", 1.0, Some(1.0)),
    ("B11.1", 0.0, Some(0.0)),
    ("C01", 5.0, Some(9.0)),
    ("C02", 2.0, Some(3.0)),
    ("C03", 1.0, Some(1.0)),
    ("C04", 1.0, Some(2.0)),
    ("C05", 2.0, Some(3.0)),
    ("C06", 30.0, Some(45.5)),
    ("C07", 1.0, Some(1.0)),
    ("C08", 1.0, Some(1.0)),
    ("C09", 2.0, None),
    ("C10", 3.0, Some(4.0)),
    ("C11", 4.0, None),
    ("C11.1", 1.0, None),
    ("C11.2", 1.0, None),
    ("C11.3", 1.0, None),
    ("C11.4", 1.0, None),
    // D01 and D02 depend on the number of communes: see `valid_spec`.
    ("D03", 1.0, None),
    ("D04", 2.0, None),
    ("D05", 40.0, None),
    ("D06", 1.0, None),
    ("E01", 2.0, Some(4.0)),
    ("E02", 100.0, Some(200.0)),
    ("E03", 1.0, Some(2.0)),
    ("E04", 50.0, Some(100.0)),
    ("E05", 1.0, Some(1.0)),
    ("E06", 5.0, None),
    ("F01", 1.0, Some(2.0)),
    ("F02", 10.0, Some(20.0)),
    ("F03", 8.0, None),
    ("F04", 5.0, None),
    ("F05", 10.5, Some(21.0)),
    ("F05.1", 2.0, Some(4.0)),
    ("F05.2", 2.5, Some(5.0)),
    ("F05.3", 3.0, Some(6.0)),
    ("F05.4", 1.0, Some(2.0)),
    ("F05.5", 2.0, Some(4.0)),
    ("F06", 3.0, Some(6.0)),
    ("F07", 7.5, Some(15.0)),
    ("F08", 0.0, Some(0.0)),
];

/// A workspace with the built-in configuration.
pub(crate) struct Env {
    pub dir: tempfile::TempDir,
    pub settings: Settings,
}

pub(crate) fn env() -> Env {
    let dir = tempfile::tempdir().expect("temp dir");
    let settings = Settings::load(dir.path(), false).expect("built-in settings");
    Env { dir, settings }
}

impl Env {
    /// A return of [`UNIT`] for [`period`] that passes every rule.
    pub(crate) fn valid_spec(&self) -> ReturnSpec<'_> {
        let end = period().end(&self.settings.calendar);
        let unit = self.settings.register.district_at(UNIT, end).expect("unit 061");
        let mut spec = blank_spec(&self.settings, unit, period()).expect("blank spec");
        let n = spec.communes.len() as f64;
        let mut values: BTreeMap<String, (CellInput, CellInput)> = BTreeMap::new();
        for (code, this, ytd) in VALUES {
            let ytd = ytd.map_or(CellInput::Blank, CellInput::Number);
            values.insert((*code).to_string(), (CellInput::Number(*this), ytd));
        }
        values.insert("D01".into(), (CellInput::Number(n), CellInput::Blank));
        values.insert("D02".into(), (CellInput::Number(n - 1.0), CellInput::Blank));
        spec.values = values;
        // Flags in form order: healthy, prostitution, awareness, volunteer team.
        for (i, commune) in spec.communes.iter_mut().enumerate() {
            commune.flags = match i {
                0 => vec![false, true, true, false],
                1 => vec![true, false, true, false],
                2 => vec![true, false, false, true],
                _ => vec![true, false, false, false],
            };
        }
        spec
    }

    /// Writes `spec` as `name` in the workspace.
    pub(crate) fn write(&self, name: &str, spec: &ReturnSpec<'_>) -> (PathBuf, Layout) {
        let path = self.dir.path().join(name);
        let layout = write_return(&path, spec).expect("write return");
        (path, layout)
    }

    /// The context to check a file named `file` in.
    pub(crate) fn context<'a>(&'a self, file: &'a str, history: &'a dyn History) -> Context<'a> {
        Context {
            forms: &self.settings.forms,
            province: &self.settings.config.province.code,
            mapping: &self.settings.mapping,
            register: &self.settings.register,
            calendar: &self.settings.calendar,
            today: today(),
            file,
            history,
        }
    }

    /// Checks the file at `path` in `ctx` through the stages ingest and
    /// `check` use (its forms both find and check the return).
    pub(crate) fn check(&self, path: &Path, ctx: &Context<'_>) -> Checked {
        let extracted = match receive(path, ctx.file) {
            Ok((_, bytes)) => extract_one(bytes, ctx.file, ctx.forms, &ReadLimits::default()),
            Err(error) => unreadable(&error, ctx.file, ctx.forms),
        };
        check_one(extracted, ctx)
    }
}

/// Sets one value of a spec.
pub(crate) fn set(spec: &mut ReturnSpec<'_>, code: &str, this: CellInput) {
    let entry = spec
        .values
        .entry(code.to_string())
        .or_insert((CellInput::Blank, CellInput::Blank));
    entry.0 = this;
}

/// Sets one year-to-date value of a spec.
pub(crate) fn set_ytd(spec: &mut ReturnSpec<'_>, code: &str, ytd: CellInput) {
    let entry = spec
        .values
        .entry(code.to_string())
        .or_insert((CellInput::Blank, CellInput::Blank));
    entry.1 = ytd;
}
