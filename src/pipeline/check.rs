//! The check of one file, stage by stage, the same for `baocao check`,
//! `ingest` and the daemon:
//!
//! ```text
//! receive      the file's bytes, and who it is          → Received
//! extract_one  read the workbook, find the return       → Extracted
//! check_one    every rule, against the stored history   → Checked
//! ```
//!
//! `check` runs the three in a row for each file it is given ([`check_path`]); `ingest` runs
//! `receive` and `extract_one` for many files at once on its pool (no file
//! depends on another there), then `check_one` for each unit's files in
//! arrival order against a [`StoreHistory`] that grows as the pass stores
//! returns. What ingest does next — store, feedback, filing — is in
//! `ingest.rs`.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use chrono::NaiveDate;
use sha2::{Digest, Sha256};

use crate::config::Settings;
use crate::domain::{Form, LineCodes, Period, Severity};
use crate::error::Error;
use crate::pipeline::extract::{extract, Extracted, TABLE_HEADER};
use crate::pipeline::read::{read_workbook_bytes, ReadLimits, ReadProblem};
use crate::pipeline::validate::{validate, Checked, Context, History, HistoryValue, MonthValues};
use crate::store::Store;

/// A file taken in: where it is, the name it arrived under, and what
/// identifies its content. Every later stage carries it along.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub path: PathBuf,
    /// The name it arrived under: relative to the inbox (NFC, `/`
    /// separators) for `ingest`, the file name for `check`.
    pub name: String,
    /// sha256 of the content, hex: the same content is never stored twice.
    pub sha256: String,
    pub size: u64,
    /// When it arrived: its modification time.
    pub received: SystemTime,
}

/// Reads a file once: who it is, and its bytes for [`extract_one`].
///
/// # Errors
/// The I/O error: `ingest` leaves such a file for the next pass, `check`
/// reports it as a finding ([`unreadable`]).
pub fn receive(path: &Path, name: &str) -> std::io::Result<(Received, Vec<u8>)> {
    let file = std::fs::File::open(path)?;
    let metadata = file.metadata()?;
    // The size just asked, read in one call, then whatever was added since
    // (a file's own `read_to_end` would ask its size and position again,
    // and `read_to_end` alone starts with small reads). A file that shrank
    // since is an error: it is still being written.
    let mut bytes = vec![0; usize::try_from(metadata.len()).unwrap_or(0)];
    (&file).read_exact(&mut bytes)?;
    (&file).take(u64::MAX).read_to_end(&mut bytes)?;
    let received = Received {
        path: path.to_path_buf(),
        name: name.to_string(),
        sha256: sha256_hex(&bytes),
        size: bytes.len() as u64,
        received: metadata.modified().unwrap_or_else(|_| SystemTime::now()),
    };
    Ok((received, bytes))
}

/// sha256 of bytes, hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let digest = Sha256::digest(bytes);
    let mut hex = String::with_capacity(2 * digest.len());
    for b in digest.iter() {
        // Writing to a String cannot fail.
        let _ = write!(hex, "{b:02x}");
    }
    hex
}

/// sha256 of a file, hex.
///
/// # Errors
/// [`Error::Io`].
pub fn sha256_of(path: &Path) -> Result<String, Error> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    Ok(sha256_hex(&bytes))
}

/// The caps of reading, as `baocao.toml` sets them.
pub fn read_limits(settings: &Settings) -> ReadLimits {
    ReadLimits::from_ingest(&settings.config.ingest)
}

/// Reads a received file's bytes as a workbook and finds the return in it
/// (one of `forms`). A file that does not read as a workbook gives no
/// return and one rule-1 finding saying why.
pub fn extract_one(bytes: Vec<u8>, name: &str, forms: &[Form], limits: &ReadLimits) -> Extracted {
    let read = tracing::debug_span!("read", file = %name).in_scope(|| read_workbook_bytes(bytes, limits, TABLE_HEADER));
    match read {
        Ok(workbook) => extract(&workbook, forms, name),
        Err(problem) => read_problem(&problem, name, forms),
    }
}

/// What [`extract_one`] says of a file that could not even be opened.
pub fn unreadable(error: &std::io::Error, name: &str, forms: &[Form]) -> Extracted {
    let problem = ReadProblem::Unreadable {
        detail: error.to_string(),
    };
    read_problem(&problem, name, forms)
}

fn read_problem(problem: &ReadProblem, name: &str, forms: &[Form]) -> Extracted {
    let opens = forms
        .last()
        .map_or(Severity::Error, |f| f.severity_of("workbook_opens", Severity::Error));
    Extracted {
        raw: None,
        findings: vec![problem.to_finding(name, opens)],
    }
}

/// The unit code a file names, as read: whose history its rules need.
pub fn claimed_unit(extracted: &Extracted) -> Option<&str> {
    extracted
        .raw
        .as_ref()
        .and_then(|raw| raw.unit_code.as_ref())
        .and_then(|field| field.value.as_deref())
}

/// What the rules need besides the return: the forms, the province, the
/// register, the calendar of `settings`, today, the file's name and the
/// history.
pub fn rules_context<'a>(
    settings: &'a Settings,
    today: NaiveDate,
    file: &'a str,
    history: &'a dyn History,
) -> Context<'a> {
    Context {
        forms: &settings.forms,
        province: &settings.config.province.code,
        mapping: &settings.mapping,
        register: &settings.register,
        calendar: &settings.calendar,
        today,
        file,
        history,
    }
}

/// Applies every rule of the return's form to an extracted file: the one
/// check behind `baocao check`, `ingest` and the daemon. The findings of
/// reading and extracting come first, then those of the rules.
pub fn check_one(extracted: Extracted, ctx: &Context<'_>) -> Checked {
    let Some(raw) = extracted.raw else {
        return Checked::without_return(extracted.findings);
    };
    let mut checked = validate(&raw, ctx);
    let mut findings = extracted.findings;
    findings.append(&mut checked.findings);
    checked.findings = findings;
    checked
}

/// The three stages for one file named `name` at `path`, as `baocao
/// check` runs them: the history its rules see is what `store` holds for
/// its unit (none without a store). A file that cannot be opened is a
/// finding, as a file that does not read as a workbook.
///
/// # Errors
/// [`Error::Database`] when the history cannot be loaded.
pub fn check_path(
    path: &Path,
    name: &str,
    settings: &Settings,
    today: NaiveDate,
    store: Option<&Store>,
) -> Result<Checked, Error> {
    let extracted = match receive(path, name) {
        Ok((_, bytes)) => extract_one(bytes, name, &settings.forms, &read_limits(settings)),
        Err(error) => unreadable(&error, name, &settings.forms),
    };
    let mut history = StoreHistory::for_forms(&settings.forms);
    if let (Some(store), Some(unit)) = (store, claimed_unit(&extracted)) {
        history.load_unit(store, unit)?;
    }
    Ok(check_one(extracted, &rules_context(settings, today, name, &history)))
}

/// The current stored values of the units seen so far, loaded from the
/// store one unit at a time and kept up to date as the batch stores returns.
/// Units are independent: a batch splits the history by unit to check the
/// units' files in parallel, and joins it again.
#[derive(Debug, Default)]
pub struct StoreHistory {
    /// Unit → month → line → value; a unit present here is loaded.
    units: HashMap<String, UnitMonths>,
    /// The line codes the months are laid out by (see [`MonthValues`]).
    layout: Arc<LineCodes>,
}

/// One unit's stored months.
type UnitMonths = BTreeMap<Period, MonthValues>;

impl StoreHistory {
    /// An empty history whose months are laid out by the lines of the
    /// newest of `forms` (the last: forms are in version order), the form
    /// most files are checked against; the months of another form are read
    /// by code, a little slower.
    pub fn for_forms(forms: &[Form]) -> StoreHistory {
        StoreHistory {
            units: HashMap::new(),
            layout: forms.last().map(|f| Arc::clone(f.line_codes())).unwrap_or_default(),
        }
    }

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
            let month = values.iter().map(|v| {
                let value = HistoryValue {
                    value: v.value,
                    ytd: v.ytd,
                };
                (v.line.as_str(), value)
            });
            months.insert(period, MonthValues::of(&self.layout, month));
        }
        self.units.insert(unit.to_string(), months);
        Ok(())
    }

    /// Takes one (loaded) unit out, as a history of its own.
    pub fn split_unit(&mut self, unit: &str) -> StoreHistory {
        let mut part = StoreHistory {
            units: HashMap::new(),
            layout: Arc::clone(&self.layout),
        };
        part.units
            .insert(unit.to_string(), self.units.remove(unit).unwrap_or_default());
        part
    }

    /// Puts back what [`StoreHistory::split_unit`] took out.
    pub fn join(&mut self, part: StoreHistory) {
        self.units.extend(part.units);
    }

    /// Makes a return about to be stored as accepted the current one of its
    /// month, for the files of the pass that follow it.
    pub fn remember(&mut self, checked: &Checked) {
        let Some(ret) = &checked.return_ else { return };
        let month = MonthValues::of(
            &self.layout,
            ret.values.iter().map(|(line, v)| {
                let value = HistoryValue {
                    value: v.value,
                    ytd: v.ytd,
                };
                (line.as_str(), value)
            }),
        );
        self.units
            .entry(ret.unit_code.clone())
            .or_default()
            .insert(ret.period, month);
    }
}

impl History for StoreHistory {
    fn month(&self, unit: &str, period: Period) -> Option<&MonthValues> {
        self.units.get(unit)?.get(&period)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_received_file_is_read_whole_with_its_sha256() {
        let dir = tempfile::tempdir().unwrap();
        // Larger than the first reads of an unsized read; and the digests
        // of FIPS 180-2's examples, "abc" and the empty message.
        let big: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let cases: [(&str, &[u8], Option<&str>); 3] = [
            ("big.xlsx", &big, None),
            (
                "abc.xlsx",
                b"abc",
                Some("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
            ),
            (
                "empty.xlsx",
                b"",
                Some("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
            ),
        ];
        for (name, bytes, digest) in cases {
            let path = dir.path().join(name);
            std::fs::write(&path, bytes).unwrap();
            let (received, read) = receive(&path, name).unwrap();
            assert_eq!(read, bytes, "{name}");
            assert_eq!(received.size, bytes.len() as u64);
            assert_eq!(received.sha256.len(), 64);
            if let Some(digest) = digest {
                assert_eq!(received.sha256, digest);
            }
        }
        assert!(receive(&dir.path().join("gone.xlsx"), "gone.xlsx").is_err());
    }
}
