//! Helpers shared by the integration tests: a temporary folder, running the
//! binary, reading a written workbook back.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use baocao::config::Settings;
use baocao::domain::Period;
use baocao::store::{NewSubmission, Status, StoredValue};
use calamine::{open_workbook_auto, Data, Range, Reader};

/// A temporary folder removed when dropped.
pub fn temp_dir() -> tempfile::TempDir {
    match tempfile::Builder::new().prefix("baocao-test-").tempdir() {
        Ok(dir) => dir,
        Err(e) => panic!("cannot create a temporary folder: {e}"),
    }
}

/// Runs `baocao ARGS` and returns its output.
pub fn baocao(args: &[&str]) -> Output {
    match Command::new(env!("CARGO_BIN_EXE_baocao")).args(args).output() {
        Ok(output) => output,
        Err(e) => panic!("cannot run baocao: {e}"),
    }
}

/// Runs `baocao ARGS`, asserting the exit code, and returns stdout.
pub fn baocao_ok(args: &[&str], code: i32) -> String {
    let output = baocao(args);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(
        output.status.code(),
        Some(code),
        "baocao {args:?}\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    stdout
}

/// A sheet of a workbook, read with calamine.
pub fn sheet(path: &Path, name: &str) -> Range<Data> {
    let mut workbook = match open_workbook_auto(path) {
        Ok(w) => w,
        Err(e) => panic!("{}: {e}", path.display()),
    };
    match workbook.worksheet_range(name) {
        Ok(range) => range,
        Err(e) => panic!("{}: sheet {name}: {e}", path.display()),
    }
}

/// Sheet names of a workbook.
pub fn sheet_names(path: &Path) -> Vec<String> {
    match open_workbook_auto(path) {
        Ok(w) => w.sheet_names(),
        Err(e) => panic!("{}: {e}", path.display()),
    }
}

/// Text of a cell as a person would read it ("" for empty).
pub fn text(data: &Data) -> String {
    match data {
        Data::Empty => String::new(),
        Data::String(s) => s.clone(),
        Data::Float(f) if f.fract() == 0.0 => format!("{}", *f as i64),
        other => other.to_string(),
    }
}

/// The value in the cell right of the first cell whose text is `label`.
pub fn value_right_of(range: &Range<Data>, label: &str) -> Option<String> {
    for row in range.rows() {
        if let Some(i) = row.iter().position(|c| text(c).trim() == label) {
            return row[i + 1..].iter().map(text).find(|t| !t.is_empty());
        }
    }
    None
}

/// Every file under `dir` with the extension `ext`, sorted.
pub fn files_with_ext(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == ext) {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// A submission as ingest records it: `unit`'s return for `month` with
/// `values` (None: a blank cell), arrived at `received_at` (UTC). `tag`
/// makes its file name and sha256 distinct. Store it with
/// `store.record_submission(&new.as_new())`.
pub fn submission(
    unit: &str,
    month: &str,
    values: &[(&str, Option<f64>)],
    status: Status,
    received_at: &str,
    tag: &str,
) -> TestSubmission {
    TestSubmission {
        file_name: format!("{unit}_{month}_{tag}.xlsx"),
        sha256: format!("{unit}-{month}-{tag}"),
        received_at: received_at.into(),
        unit: unit.into(),
        period: p(month),
        status,
        values: values
            .iter()
            .map(|(line, v)| StoredValue {
                line: (*line).into(),
                value: *v,
                ytd: None,
                cell: None,
            })
            .collect(),
    }
}

/// What a test submission owns; [`NewSubmission`] borrows it.
#[derive(Debug, Clone)]
pub struct TestSubmission {
    file_name: String,
    sha256: String,
    received_at: String,
    unit: String,
    period: Period,
    status: Status,
    values: Vec<StoredValue>,
}

impl TestSubmission {
    /// The submission to record.
    pub fn as_new(&self) -> NewSubmission<'_> {
        NewSubmission {
            run_id: None,
            file_name: &self.file_name,
            sha256: &self.sha256,
            size: 1,
            received_at: &self.received_at,
            processed_at: &self.received_at,
            unit_code: Some(&self.unit),
            unit_name: None,
            period: Some(self.period),
            form_code: Some("01/PCMD-H"),
            form_version: Some(1),
            status: self.status,
            values: &self.values,
            communes: &[],
            findings: &[],
            stored_path: "",
            feedback_path: None,
        }
    }
}

/// A period from its text.
pub fn p(text: &str) -> Period {
    Period::parse(text).unwrap()
}

/// A fresh workspace with the built-in (Bắc Kạn) configuration, loaded.
pub fn bac_kan(dir: &Path) -> Settings {
    let ws = dir.join("bk");
    baocao_ok(&["init", &ws.to_string_lossy()], 0);
    Settings::load(&ws, true).unwrap()
}
