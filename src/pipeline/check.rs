//! The check of one file, split where the batch needs it: [`precheck`]
//! (read and extract, independent of every other file, run in parallel) and
//! [`finish_check`] (every rule, including those across periods, against the
//! history the store holds at that moment, run in order). [`check_file`]
//! does both for `baocao check`.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use chrono::NaiveDate;

use crate::config::Settings;
use crate::domain::{Period, Severity};
use crate::error::Error;
use crate::findings::Finding;
use crate::pipeline::extract::{extract, RawReturn};
use crate::pipeline::read::{read_workbook, read_workbook_bytes, ReadLimits, ReadProblem, Workbook};
use crate::pipeline::validate::{validate, Context, History, HistoryValue};
use crate::store::{Store, StoredFlag, StoredValue};

/// What reading and extracting one file gave.
#[derive(Debug, Clone)]
pub struct Prechecked {
    pub raw: Option<RawReturn>,
    pub findings: Vec<Finding>,
}

/// A fully checked file, in the shape the store and the feedback take.
#[derive(Debug, Clone, Default)]
pub struct CheckedFile {
    pub unit_code: Option<String>,
    pub unit_name: Option<String>,
    pub period: Option<Period>,
    pub form_code: Option<String>,
    pub form_version: Option<u32>,
    /// Blank stays `None`, never zero.
    pub values: Vec<StoredValue>,
    pub flags: Vec<StoredFlag>,
    pub findings: Vec<Finding>,
}

fn limits(settings: &Settings) -> ReadLimits {
    ReadLimits::from_ingest(&settings.config.ingest)
}

/// Reads and extracts one file (no rules across files).
pub fn precheck(path: &Path, file: &str, settings: &Settings) -> Prechecked {
    let read = tracing::debug_span!("read", file = %file).in_scope(|| read_workbook(path, &limits(settings)));
    interpret(read, file, settings)
}

/// Reads and extracts a file already in memory.
pub fn precheck_bytes(bytes: Vec<u8>, file: &str, settings: &Settings) -> Prechecked {
    let read = tracing::debug_span!("read", file = %file).in_scope(|| read_workbook_bytes(bytes, &limits(settings)));
    interpret(read, file, settings)
}

fn interpret(read: Result<Workbook, ReadProblem>, file: &str, settings: &Settings) -> Prechecked {
    let opens = settings.current_form().severity_of("workbook_opens", Severity::Error);
    match read {
        Err(problem) => Prechecked {
            raw: None,
            findings: vec![problem.to_finding(file, opens)],
        },
        Ok(workbook) => {
            let extracted = extract(&workbook, &settings.forms, file);
            Prechecked {
                raw: extracted.raw,
                findings: extracted.findings,
            }
        }
    }
}

/// The current stored values of the units seen so far, loaded from the
/// store one unit at a time and kept up to date as the batch stores returns.
/// Units are independent: a batch splits the history by unit to check the
/// units' files in parallel, and joins it again.
#[derive(Debug, Default)]
pub struct StoreHistory {
    /// Unit → month → line → value; a unit present here is loaded.
    units: HashMap<String, UnitMonths>,
}

/// One unit's stored months.
type UnitMonths = BTreeMap<Period, BTreeMap<String, HistoryValue>>;

impl StoreHistory {
    /// Loads a unit's current values from the store, once.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub fn load_unit(&mut self, store: &Store, unit: &str) -> Result<(), Error> {
        if self.units.contains_key(unit) {
            return Ok(());
        }
        let mut months = UnitMonths::new();
        for (period, values) in store.unit_current_values(unit)? {
            let Ok(period) = Period::parse(&period) else { continue };
            let month = values
                .into_iter()
                .map(|v| {
                    (
                        v.line,
                        HistoryValue {
                            value: v.value,
                            ytd: v.ytd,
                        },
                    )
                })
                .collect();
            months.insert(period, month);
        }
        self.units.insert(unit.to_string(), months);
        Ok(())
    }

    /// Takes one (loaded) unit out, as a history of its own.
    pub fn split_unit(&mut self, unit: &str) -> StoreHistory {
        let mut part = StoreHistory::default();
        part.units
            .insert(unit.to_string(), self.units.remove(unit).unwrap_or_default());
        part
    }

    /// Puts back what [`StoreHistory::split_unit`] took out.
    pub fn join(&mut self, part: StoreHistory) {
        self.units.extend(part.units);
    }

    /// Makes a newly stored, accepted return the current one of its month.
    pub fn remember(&mut self, checked: &CheckedFile) {
        if let (Some(unit), Some(period)) = (&checked.unit_code, checked.period) {
            let month = checked
                .values
                .iter()
                .map(|v| {
                    (
                        v.line.clone(),
                        HistoryValue {
                            value: v.value,
                            ytd: v.ytd,
                        },
                    )
                })
                .collect();
            self.units.entry(unit.clone()).or_default().insert(period, month);
        }
    }
}

impl History for StoreHistory {
    fn month(&self, unit: &str, period: Period) -> Option<&BTreeMap<String, HistoryValue>> {
        self.units.get(unit)?.get(&period)
    }
}

/// Applies every rule to a prechecked file, with `history` (loaded from
/// `store` for the file's unit when a store is given).
///
/// # Errors
/// [`Error::Database`] when the history cannot be loaded.
pub fn finish_check(
    pre: Prechecked,
    file: &str,
    settings: &Settings,
    today: NaiveDate,
    history: &mut StoreHistory,
    store: Option<&Store>,
) -> Result<CheckedFile, Error> {
    let mut out = CheckedFile {
        findings: pre.findings,
        ..CheckedFile::default()
    };
    let Some(raw) = pre.raw else {
        return Ok(out);
    };
    // What the file says, kept even when identity fails (feedback folder).
    out.unit_code = raw.unit_code.as_ref().and_then(|f| f.value.clone());
    out.unit_name = raw.unit_name.as_ref().and_then(|f| f.value.clone());
    out.period = raw.period.as_ref().and_then(|f| f.value);
    out.form_code = Some(
        raw.form_code
            .value
            .clone()
            .unwrap_or_else(|| raw.form_code.read.clone()),
    );
    out.form_version = raw.version.as_ref().and_then(|f| f.value);
    if let (Some(store), Some(unit)) = (store, &out.unit_code) {
        history.load_unit(store, unit)?;
    }
    let ctx = Context {
        forms: &settings.forms,
        province: &settings.config.province.code,
        mapping: &settings.mapping,
        register: &settings.register,
        calendar: &settings.calendar,
        today,
        file,
        history: &*history,
        limits: limits(settings),
    };
    let checked = validate(&raw, &ctx);
    out.findings.extend(checked.findings);
    if let Some(ret) = checked.return_ {
        out.unit_code = Some(ret.unit_code.clone());
        out.unit_name = Some(ret.unit_name.clone());
        out.period = Some(ret.period);
        out.form_code = Some(ret.form_code.clone());
        out.form_version = Some(ret.version);
        out.values = ret
            .values
            .iter()
            .map(|(code, v)| StoredValue {
                line: code.clone(),
                value: v.value,
                ytd: v.ytd,
                cell: Some(v.cell.clone()),
            })
            .collect();
        // Keep the form's order for the feedback's values sheet.
        if let Some(form) = settings.form(&ret.form_code, ret.version) {
            out.values
                .sort_by_key(|v| form.line_index(&v.line).unwrap_or(usize::MAX));
        }
        out.flags = ret
            .communes
            .iter()
            .flat_map(|(code, c)| {
                c.flags.iter().map(move |(flag, value)| StoredFlag {
                    commune: code.clone(),
                    commune_name: c.name.clone(),
                    flag: flag.clone(),
                    value: *value,
                })
            })
            .collect();
    }
    Ok(out)
}

/// Reads, extracts and checks one file against every rule, with the
/// history of `store` when given.
///
/// # Errors
/// [`Error::Database`] when the history cannot be loaded.
pub fn check_file(
    path: &Path,
    file: &str,
    settings: &Settings,
    today: NaiveDate,
    store: Option<&Store>,
) -> Result<CheckedFile, Error> {
    let pre = precheck(path, file, settings);
    let mut history = StoreHistory::default();
    finish_check(pre, file, settings, today, &mut history, store)
}
