//! Stage `extract`: find the return inside a read workbook by its visible
//! labels and codes, never by coordinates. Districts insert rows, delete blank
//! lines, move the table down, merge title cells and retype the form into
//! workbooks of their own; all of that still reads, because the identification
//! values are found next to their labels (`Biểu số`, `Phiên bản`, `Mã đơn vị`,
//! `Tên đơn vị`, `Kỳ báo cáo`), the table by its header row (`Mã số`,
//! `Kỳ này`, `Lũy kế từ đầu năm`) and each value by its line code.
//!
//! Extraction judges nothing but structure (rule 2: the sheet, the table and
//! the commune list can be found). What was read, and the cell it was read
//! from, goes to `validate` as a [`RawReturn`], untouched, so that every later
//! finding can name its cell and quote what the district typed.

use std::borrow::Cow;
use std::collections::BTreeMap;

use chrono::Datelike;
use unicode_normalization::UnicodeNormalization;

use crate::domain::register::fold_name;
use crate::domain::{Form, Level, Period, Register, Severity};
use crate::findings::Finding;
use crate::pipeline::read::{
    a1, column_letters, format_number, Cell, CellRef, CellValue, Sheet, TableHeader, Workbook,
};

/// Rule number of "a sheet carries the return" in the form document.
pub const RULE_FORM_SHEET_FOUND: u32 = 2;

/// The labels of the identification cells, as the form document names them.
pub const LABEL_FORM_CODE: &str = "Biểu số";
pub const LABEL_VERSION: &str = "Phiên bản";
pub const LABEL_UNIT_CODE: &str = "Mã đơn vị";
pub const LABEL_UNIT_NAME: &str = "Tên đơn vị";
pub const LABEL_PERIOD: &str = "Kỳ báo cáo";
/// Headers of the table and of the commune sheet.
pub const HEADER_CODE: &str = "Mã số";
pub const HEADER_THIS_PERIOD: &str = "Kỳ này";
pub const HEADER_YTD: &str = "Lũy kế từ đầu năm";
pub const HEADER_COMMUNE_CODE: &str = "Mã xã";
pub const HEADER_COMMUNE_NAME: &str = "Tên xã";

/// How the reader knows a sheet that carries the return's table: a short
/// text reading `Mã số` (see [`TableHeader`]).
pub const TABLE_HEADER: TableHeader = TableHeader(is_code_header);

fn is_code_header(text: &str) -> bool {
    static KEY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    text.len() < 40 && is_label(text, KEY.get_or_init(|| label_key(HEADER_CODE)))
}

/// An identification value: what the cell showed, what it means (when it
/// could be understood) and where it was found.
#[derive(Debug, Clone, PartialEq)]
pub struct Field<T> {
    /// The cell's content as text, as the district sees it.
    pub read: String,
    /// The meaning, `None` when the text could not be understood.
    pub value: Option<T>,
    /// A1 address of the value cell.
    pub cell: String,
}

/// One value cell of the table: its address and raw content (an absent cell
/// reads as an empty one).
#[derive(Debug, Clone, PartialEq)]
pub struct RawValue {
    pub cell: CellRef,
    pub content: Cell,
}

/// One row of the table that carries a line code.
#[derive(Debug, Clone, PartialEq)]
pub struct RawLine {
    /// The code as written, trimmed and upper-cased (`A01.1`).
    pub code: String,
    /// The `Mã số` cell (its row is the line's row).
    pub code_cell: CellRef,
    /// The `Kỳ này` cell.
    pub this_period: RawValue,
    /// The `Lũy kế từ đầu năm` cell, when the table has that column.
    pub ytd: Option<RawValue>,
}

/// One flag cell of the commune sheet.
#[derive(Debug, Clone, PartialEq)]
pub struct RawFlag {
    /// The form's flag key (`healthy`, …).
    pub key: String,
    pub cell: CellRef,
    /// What the cell showed.
    pub read: String,
    /// Yes / no, or `None` when the mark is not one of the accepted ones.
    pub value: Option<bool>,
}

/// One row of the commune sheet with a `Mã xã`.
#[derive(Debug, Clone, PartialEq)]
pub struct RawCommune {
    /// The 5-digit code, `None` when the cell holds no code.
    pub code: Option<String>,
    /// What the `Mã xã` cell showed.
    pub code_read: String,
    /// The `Mã xã` cell (its row is the commune's row).
    pub code_cell: CellRef,
    pub name: String,
    /// One per flag column found, in the form's order.
    pub flags: Vec<RawFlag>,
}

/// Where the table's columns were found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableColumns {
    /// 0-based row of the header.
    pub header_row: u32,
    pub code_col: u32,
    pub this_col: u32,
    pub ytd_col: Option<u32>,
}

/// Everything read from a return, each piece with the cell it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct RawReturn {
    /// File name as received.
    pub file: String,
    /// Every sheet of the workbook, in order.
    pub sheet_names: Vec<String>,
    /// The sheet carrying the return.
    pub sheet: String,
    /// `Biểu số`; its value is the form code as the form definition spells it.
    pub form_code: Field<String>,
    pub version: Option<Field<u32>>,
    pub unit_code: Option<Field<String>>,
    pub unit_name: Option<Field<String>>,
    pub period: Option<Field<Period>>,
    /// `None` when the table header was not found (a rule-2 finding says so).
    pub table: Option<TableColumns>,
    /// Rows with a code, in sheet order, duplicates and unknown codes kept.
    pub lines: Vec<RawLine>,
    /// The sheet with the `Mã xã` header, when found.
    pub commune_sheet: Option<String>,
    /// Flag key → column letter on the commune sheet, for the flags found.
    pub flag_columns: BTreeMap<String, String>,
    pub communes: Vec<RawCommune>,
}

/// The outcome of extraction: the return (when a sheet carries one) and the
/// structure findings (rule 2).
#[derive(Debug, Clone, PartialEq)]
pub struct Extracted {
    pub raw: Option<RawReturn>,
    pub findings: Vec<Finding>,
}

/// The comparable form of a label or header: NFC, trimmed, without a
/// trailing colon, case-folded, inner whitespace collapsed — and with tone
/// marks set aside, because "Lũy kế" and "Luỹ kế" are both correct spellings
/// and districts type either.
pub fn label_key(text: &str) -> String {
    with_label_key(text, str::to_string)
}

/// Whether `text` reads as the label whose key is `key` (see [`label_key`]).
pub fn is_label(text: &str, key: &str) -> bool {
    may_be_label(text, key) && with_label_key(text, |k| k == key)
}

/// False only when `text` cannot read as the label whose key is `key`: the
/// first letters differ once marks and case are set aside. Finding a label
/// compares every text cell of a sheet, and most start with another letter;
/// this answers them without making their key. A text that starts with a
/// mark, or has no letter, is left to the full comparison.
fn may_be_label(text: &str, key: &str) -> bool {
    let base = |c: char| {
        if c.is_ascii() {
            return c.to_ascii_lowercase();
        }
        let first = std::iter::once(c).nfd().next().unwrap_or(c);
        first.to_lowercase().next().unwrap_or(first)
    };
    match (text.trim_start().chars().next(), key.chars().next()) {
        (Some(t), Some(k)) if !unicode_normalization::char::is_combining_mark(t) => base(t) == base(k),
        _ => true,
    }
}

/// Calls `f` with the key of `text`, without copying it.
fn with_label_key<T>(text: &str, f: impl FnOnce(&str) -> T) -> T {
    // Every return repeats the same labels and indicator texts, and finding
    // a label compares every text cell of a sheet: normalising them is most
    // of the cost of extraction, so each thread remembers the keys it made.
    // (foldhash: these keys are the sheet's own texts, not an attacker's,
    // and SipHash over every text cell was a visible part of extraction.)
    type Keys = std::collections::HashMap<String, String, foldhash::fast::FixedState>;
    thread_local! {
        static KEYS: std::cell::RefCell<Keys> = std::cell::RefCell::new(Keys::default());
    }
    KEYS.with(|keys| {
        let mut keys = keys.borrow_mut();
        if let Some(key) = keys.get(text) {
            return f(key);
        }
        let nfc: String = text.nfc().collect();
        let trimmed = nfc.trim();
        let trimmed = trimmed.strip_suffix(':').unwrap_or(trimmed).trim_end();
        let key = fold_name(trimmed);
        if keys.len() > 20_000 {
            keys.clear();
        }
        let out = f(&key);
        keys.insert(text.to_string(), key);
        out
    })
}

/// A form code as compared: upper case, no spaces, every dash a hyphen.
pub fn form_code_key(text: &str) -> String {
    text.nfc()
        .filter(|c| !c.is_whitespace())
        .map(|c| match c {
            '–' | '—' | '‐' | '‑' | '−' => '-',
            other => other,
        })
        .collect::<String>()
        .to_uppercase()
}

/// Finds the return in `workbook`: the sheet whose `Biểu số` names one of
/// `forms`, its identification values, table and commune sheet.
pub fn extract(workbook: &Workbook, forms: &[Form], file: &str) -> Extracted {
    let mut findings = Vec::new();
    let sheet_names = workbook.sheet_names();

    // Rule 2: the return is found by its form code, not by position.
    let mut candidates: Vec<(&Sheet, Field<String>)> = Vec::new();
    let mut foreign: Vec<(String, Found)> = Vec::new();
    for sheet in &workbook.sheets {
        let Some(found) = find_labelled(sheet, LABEL_FORM_CODE, true) else {
            continue;
        };
        let key = form_code_key(&found.read);
        match forms.iter().find(|f| form_code_key(&f.code) == key) {
            Some(form) => candidates.push((
                sheet,
                Field {
                    read: found.read,
                    value: Some(form.code.clone()),
                    cell: found.cell,
                },
            )),
            None => foreign.push((sheet.name.clone(), found)),
        }
    }
    if candidates.len() > 1 {
        // A copy of the return sheet left in the workbook: prefer the one
        // that also has the table.
        let with_table: Vec<usize> = candidates
            .iter()
            .enumerate()
            .filter(|(_, (sheet, _))| find_table_header(sheet).is_some())
            .map(|(i, _)| i)
            .collect();
        if with_table.len() == 1 {
            let keep = with_table[0];
            candidates = candidates.into_iter().skip(keep).take(1).collect();
        }
    }
    let known_codes: Vec<&str> = forms.iter().map(|f| f.code.as_str()).collect();
    let (sheet, form_code) = match candidates.len() {
        1 => match candidates.pop() {
            Some(found) => found,
            None => return Extracted { raw: None, findings },
        },
        0 => {
            let (vi, en, value) = match foreign.first() {
                Some((name, found)) => (
                    format!(
                        "Không tìm thấy trang tính của biểu {}: ô \"Biểu số\" ở trang \"{}\" (ô {}) ghi \"{}\", không phải mã biểu phần mềm nhận. Đề nghị dùng đúng mẫu biểu do phần mềm tạo.",
                        known_codes.join(", "),
                        name,
                        found.cell,
                        found.read
                    ),
                    format!(
                        "no sheet carries form {}: \"Biểu số\" on sheet \"{}\" ({}) reads \"{}\", which is not a known form code",
                        known_codes.join(", "),
                        name,
                        found.cell,
                        found.read
                    ),
                    Some(found.read.clone()),
                ),
                None => (
                    format!(
                        "Không tìm thấy trang tính chứa biểu báo cáo: không trang nào có ô \"Biểu số\" ghi mã biểu {} (các trang: {}). Đề nghị dùng đúng mẫu biểu do phần mềm tạo, giữ nguyên các ô nhận dạng.",
                        known_codes.join(", "),
                        sheet_names.join(", ")
                    ),
                    format!(
                        "no sheet carries the return: no \"Biểu số\" label with form code {} (sheets: {})",
                        known_codes.join(", "),
                        sheet_names.join(", ")
                    ),
                    None,
                ),
            };
            let mut finding = Finding::new(RULE_FORM_SHEET_FOUND, Severity::Error, file, vi, en)
                .expected(format!("Biểu số: {}", known_codes.join(" / ")));
            if let Some(value) = value {
                finding = finding.value(value);
            }
            if let Some((name, found)) = foreign.first() {
                finding = finding.at(name, Some(found.cell.clone()));
            }
            findings.push(finding);
            return Extracted { raw: None, findings };
        }
        _ => {
            let names: Vec<String> = candidates.iter().map(|(s, _)| format!("\"{}\"", s.name)).collect();
            findings.push(Finding::new(
                RULE_FORM_SHEET_FOUND,
                Severity::Error,
                file,
                format!(
                    "Tệp có nhiều trang tính cùng mang biểu báo cáo ({}); phần mềm không biết trang nào là số liệu chính thức. Đề nghị chỉ để lại một trang biểu trong tệp.",
                    names.join(", ")
                ),
                format!("several sheets carry the return ({}); keep one", names.join(", ")),
            ));
            return Extracted { raw: None, findings };
        }
    };

    let version = find_labelled(sheet, LABEL_VERSION, false).map(|f| Field {
        value: parse_version(&f.read),
        read: f.read,
        cell: f.cell,
    });
    let form_code_value = form_code.value.clone().unwrap_or_default();
    let form = version
        .as_ref()
        .and_then(|v| v.value)
        .and_then(|v| forms.iter().find(|f| f.code == form_code_value && f.version == v))
        .or_else(|| {
            forms
                .iter()
                .filter(|f| f.code == form_code_value)
                .max_by_key(|f| f.version)
        });
    let structure_severity = form.map_or(Severity::Error, |f| f.severity_of("form_sheet_found", Severity::Error));

    let unit_code = find_labelled_cell(sheet, LABEL_UNIT_CODE).map(|(cell, value)| {
        let read = value.display();
        Field {
            // Width by digits here (3 a district, 4–5 a commune); validate
            // settles it against the reporting level of the period.
            value: Register::normalize_code_for(&read, Level::District),
            read,
            cell,
        }
    });
    let unit_name = find_labelled(sheet, LABEL_UNIT_NAME, false).map(|f| Field {
        value: Some(f.read.trim().to_string()),
        read: f.read,
        cell: f.cell,
    });
    let period = find_labelled_cell(sheet, LABEL_PERIOD).map(|(cell, value)| Field {
        read: value.display(),
        value: period_of(&value),
        cell,
    });

    let table = find_table_header(sheet);
    let mut lines = Vec::new();
    match table {
        Some(columns) => {
            if columns.ytd_col.is_none() {
                findings.push(
                    Finding::new(
                        RULE_FORM_SHEET_FOUND,
                        structure_severity,
                        file,
                        format!(
                            "Bảng số liệu ở trang \"{}\" không có cột \"{HEADER_YTD}\" trên dòng tiêu đề (dòng {}). Đề nghị giữ nguyên tiêu đề các cột của mẫu biểu.",
                            sheet.name,
                            u64::from(columns.header_row) + 1
                        ),
                        format!(
                            "the table on sheet \"{}\" has no \"{HEADER_YTD}\" column in its header row {}",
                            sheet.name,
                            u64::from(columns.header_row) + 1
                        ),
                    )
                    .at(&sheet.name, Some(a1(columns.header_row, columns.code_col)))
                    .expected(HEADER_YTD),
                );
            }
            lines = read_lines(sheet, &columns);
        }
        None => findings.push(
            Finding::new(
                RULE_FORM_SHEET_FOUND,
                structure_severity,
                file,
                format!(
                    "Không tìm thấy bảng số liệu ở trang \"{}\": không có dòng tiêu đề chứa các cột \"{HEADER_CODE}\" và \"{HEADER_THIS_PERIOD}\". Đề nghị giữ nguyên tiêu đề các cột của mẫu biểu.",
                    sheet.name
                ),
                format!(
                    "no table on sheet \"{}\": no header row with \"{HEADER_CODE}\" and \"{HEADER_THIS_PERIOD}\"",
                    sheet.name
                ),
            )
            .at(&sheet.name, None)
            .expected(format!("{HEADER_CODE} | {HEADER_THIS_PERIOD} | {HEADER_YTD}")),
        ),
    }

    let mut raw = RawReturn {
        file: file.to_string(),
        sheet_names,
        sheet: sheet.name.clone(),
        form_code,
        version,
        unit_code,
        unit_name,
        period,
        table,
        lines,
        commune_sheet: None,
        flag_columns: BTreeMap::new(),
        communes: Vec::new(),
    };
    if let Some(form) = form {
        read_communes(workbook, sheet, form, structure_severity, &mut raw, &mut findings);
    }
    Extracted {
        raw: Some(raw),
        findings,
    }
}

/// A label's value: its text and the A1 cell it was read from.
struct Found {
    read: String,
    cell: String,
}

/// The next non-empty cell to the right of (row, col).
fn next_right(sheet: &Sheet, row: u32, col: u32) -> Option<(u32, &Cell)> {
    sheet
        .row(row)
        .find(|(c, cell)| *c > col && (!cell.value.is_empty() || cell.formula.is_some()))
}

fn text_of(value: &CellValue) -> Option<&str> {
    match value {
        CellValue::Text(t) => Some(&**t),
        _ => None,
    }
}

/// The cell holding `label` and the value cell to its right, as raw content.
/// Falls back to a label and value written in one cell ("Mã đơn vị: 061").
fn find_labelled_cell(sheet: &Sheet, label: &str) -> Option<(String, CellValue)> {
    let key = label_key(label);
    for (&(row, col), cell) in &sheet.cells {
        if text_of(&cell.value).is_some_and(|t| is_label(t, &key)) {
            if let Some((vcol, vcell)) = next_right(sheet, row, col) {
                return Some((a1(row, vcol), vcell.value.clone()));
            }
        }
    }
    for (&(row, col), cell) in &sheet.cells {
        if let Some(rest) = text_of(&cell.value).and_then(|t| same_cell_value(t, &key, false)) {
            return Some((a1(row, col), CellValue::Text(rest.into())));
        }
    }
    None
}

/// As [`find_labelled_cell`], the value as text. `loose` also accepts the
/// label and value separated by a space in one cell ("Biểu số 01/PCMD-H").
fn find_labelled(sheet: &Sheet, label: &str, loose: bool) -> Option<Found> {
    if let Some((cell, value)) = find_labelled_cell(sheet, label) {
        return Some(Found {
            read: value.display(),
            cell,
        });
    }
    if !loose {
        return None;
    }
    let key = label_key(label);
    sheet.cells.iter().find_map(|(&(row, col), cell)| {
        text_of(&cell.value)
            .and_then(|t| same_cell_value(t, &key, true))
            .map(|read| Found {
                read,
                cell: a1(row, col),
            })
    })
}

/// "Label: value" in one cell → "value" (with `loose`, "Label value" too).
fn same_cell_value(text: &str, key: &str, loose: bool) -> Option<String> {
    // The label is the start of the text: with a key, it shares the text's
    // first letter.
    if !key.is_empty() && !may_be_label(text, key) {
        return None;
    }
    if let Some((left, right)) = text.split_once(':') {
        if is_label(left, key) && !right.trim().is_empty() {
            return Some(right.trim().to_string());
        }
    }
    let label_words = key.split_whitespace().count();
    if loose && label_words > 0 {
        // The end of the text's first words, as many as the label has
        // (sliced, not joined: the key folds white space anyway).
        let end = text
            .split_whitespace()
            .nth(label_words - 1)
            .map(|word| word.as_ptr() as usize - text.as_ptr() as usize + word.len());
        if let Some(end) = end {
            let rest = &text[end..];
            if !rest.trim().is_empty() && is_label(&text[..end], key) {
                return Some(rest.split_whitespace().collect::<Vec<_>>().join(" "));
            }
        }
    }
    None
}

fn parse_version(text: &str) -> Option<u32> {
    let t = text.trim();
    let t = t.strip_prefix(['v', 'V']).unwrap_or(t);
    let t = t.strip_suffix(".0").unwrap_or(t);
    t.parse().ok()
}

/// The month a period cell stands for: any notation [`Period::parse`]
/// accepts, or a date cell inside the month.
fn period_of(value: &CellValue) -> Option<Period> {
    match value {
        CellValue::DateTime { datetime: Some(dt), .. } => {
            u8::try_from(dt.month()).ok().map(|m| Period::month(dt.year(), m))
        }
        CellValue::Text(t) => Period::parse(t).ok(),
        CellValue::Number(x) => Period::parse(&format_number(*x)).ok(),
        _ => None,
    }
}

/// The header row of the table: the first row holding both `Mã số` and
/// `Kỳ này` (a header cell merged across columns counts at its first column).
fn find_table_header(sheet: &Sheet) -> Option<TableColumns> {
    let code_key = label_key(HEADER_CODE);
    let this_key = label_key(HEADER_THIS_PERIOD);
    let ytd_key = label_key(HEADER_YTD);
    let mut rows: Vec<u32> = sheet
        .cells
        .iter()
        .filter(|(_, c)| text_of(&c.value).is_some_and(|t| is_label(t, &code_key)))
        .map(|(&(r, _), _)| r)
        .collect();
    rows.dedup();
    for row in rows {
        let mut code_col = None;
        let mut this_col = None;
        let mut ytd_col = None;
        for (col, cell) in sheet.row(row) {
            let Some(text) = text_of(&cell.value) else { continue };
            with_label_key(text, |key| {
                if key == code_key && code_col.is_none() {
                    code_col = Some(col);
                } else if key == this_key && this_col.is_none() {
                    this_col = Some(col);
                } else if key == ytd_key && ytd_col.is_none() {
                    ytd_col = Some(col);
                }
            });
        }
        if let (Some(code_col), Some(this_col)) = (code_col, this_col) {
            return Some(TableColumns {
                header_row: row,
                code_col,
                this_col,
                ytd_col,
            });
        }
    }
    None
}

/// Whether a `Mã số` cell holds a line code: a letter, then digits and dots
/// (`A01`, `A01.1`, `G7`), nothing else. Section letters and numbers are not.
fn line_code(text: &str) -> Option<String> {
    // ASCII, as nearly every code is, is its own NFC form.
    let nfc: Cow<'_, str> = if text.is_ascii() {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(text.nfc().collect())
    };
    let t = nfc.trim().to_uppercase();
    let mut chars = t.chars();
    let first = chars.next()?;
    let rest = chars.as_str();
    (first.is_ascii_alphabetic()
        && !rest.is_empty()
        && rest.len() <= 12
        && rest.starts_with(|c: char| c.is_ascii_digit())
        && rest.chars().all(|c| c.is_ascii_digit() || c == '.'))
    .then_some(t)
}

fn raw_value(sheet: &Sheet, row: u32, col: u32) -> RawValue {
    RawValue {
        cell: CellRef::new(row, col),
        content: sheet
            .get(row, col)
            .cloned()
            .unwrap_or_else(|| Cell::value(CellValue::Empty)),
    }
}

fn read_lines(sheet: &Sheet, columns: &TableColumns) -> Vec<RawLine> {
    let mut lines = Vec::new();
    let below = sheet.cells.range((columns.header_row.saturating_add(1), 0)..);
    for (&(row, col), cell) in below {
        if col != columns.code_col {
            continue;
        }
        let Some(code) = text_of(&cell.value).and_then(line_code) else {
            continue;
        };
        let mut this_period = raw_value(sheet, row, columns.this_col);
        if this_period.content.value.is_empty() && this_period.content.formula.is_none() {
            // A district that merged the value cell with a cell to its left
            // (same row) leaves the value in the merge's first cell.
            if let Some(merge) = sheet.merged.iter().find(|m| {
                m.first.0 == row
                    && m.last.0 >= row
                    && m.first.1 < columns.this_col
                    && m.first.1 > columns.code_col
                    && m.last.1 >= columns.this_col
            }) {
                this_period = raw_value(sheet, merge.first.0, merge.first.1);
            }
        }
        lines.push(RawLine {
            code,
            code_cell: CellRef::new(row, col),
            this_period,
            ytd: columns.ytd_col.map(|c| raw_value(sheet, row, c)),
        });
    }
    lines
}

/// Reads a commune flag mark: `x`, `X`, `1`, `có` (also ✓ ✔) are yes;
/// blank, `0`, `không` are no; anything else is not understood.
pub fn flag_of(value: &CellValue) -> Option<bool> {
    match value {
        CellValue::Empty => Some(false),
        CellValue::Number(x) if *x == 1.0 => Some(true),
        CellValue::Number(x) if *x == 0.0 => Some(false),
        CellValue::Bool(b) => Some(*b),
        CellValue::Text(t) => with_label_key(t, |key| match key {
            "" | "0" | "không" | "khong" => Some(false),
            "x" | "1" | "có" | "co" | "✓" | "✔" => Some(true),
            _ => None,
        }),
        _ => None,
    }
}

/// Finds the commune sheet (the one whose header row holds `Mã xã`), its flag
/// columns by the form's headers, and every row with a `Mã xã`.
fn read_communes(
    workbook: &Workbook,
    return_sheet: &Sheet,
    form: &Form,
    severity: Severity,
    raw: &mut RawReturn,
    findings: &mut Vec<Finding>,
) {
    let code_key = label_key(HEADER_COMMUNE_CODE);
    let name_key = label_key(HEADER_COMMUNE_NAME);
    // The return sheet last: a retyped workbook may hold both on one sheet.
    let order = workbook
        .sheets
        .iter()
        .filter(|s| s.name != return_sheet.name)
        .chain(std::iter::once(return_sheet));
    let mut found = None;
    for sheet in order {
        let header = sheet
            .cells
            .iter()
            .find(|(_, c)| text_of(&c.value).is_some_and(|t| is_label(t, &code_key)))
            .map(|(&pos, _)| pos);
        if let Some(pos) = header {
            found = Some((sheet, pos));
            break;
        }
    }
    let Some((sheet, (header_row, code_col))) = found else {
        let wanted = !form.commune_flags.is_empty() || form.has_rule("commune_list");
        if wanted {
            findings.push(
                Finding::new(
                    RULE_FORM_SHEET_FOUND,
                    severity,
                    &raw.file,
                    format!(
                        "Không tìm thấy danh sách xã: không trang tính nào có cột \"{HEADER_COMMUNE_CODE}\" (mẫu biểu có trang \"{}\"). Đề nghị giữ nguyên trang danh sách xã của mẫu biểu.",
                        form.commune_sheet
                    ),
                    format!(
                        "no commune list: no sheet has a \"{HEADER_COMMUNE_CODE}\" header (the form's sheet is \"{}\")",
                        form.commune_sheet
                    ),
                )
                .expected(HEADER_COMMUNE_CODE),
            );
        }
        return;
    };
    raw.commune_sheet = Some(sheet.name.clone());

    // Flag headers may sit in the header row or, under a merged group
    // title, in one of the two rows below it.
    let header_rows = header_row..=header_row.saturating_add(2);
    let mut last_header_row = header_row;
    let mut name_col = None;
    let mut flag_cols: Vec<(String, u32)> = Vec::new();
    for (col, cell) in sheet.row(header_row) {
        if text_of(&cell.value).is_some_and(|t| is_label(t, &name_key)) {
            name_col = Some(col);
            break;
        }
    }
    for flag in &form.commune_flags {
        let key = label_key(&flag.header);
        let hit = sheet
            .cells
            .range((*header_rows.start(), 0)..=(*header_rows.end(), u32::MAX))
            .find(|(_, c)| text_of(&c.value).is_some_and(|t| is_label(t, &key)))
            .map(|(&pos, _)| pos);
        match hit {
            Some((row, col)) => {
                last_header_row = last_header_row.max(row);
                flag_cols.push((flag.key.clone(), col));
                raw.flag_columns.insert(flag.key.clone(), column_letters(col));
            }
            None => findings.push(
                Finding::new(
                    RULE_FORM_SHEET_FOUND,
                    severity,
                    &raw.file,
                    format!(
                        "Trang \"{}\" không có cột \"{}\" trên dòng tiêu đề (dòng {}), nên không đếm được số xã tương ứng với chỉ tiêu {}. Đề nghị giữ nguyên tiêu đề các cột của mẫu biểu.",
                        sheet.name,
                        flag.header,
                        u64::from(header_row) + 1,
                        flag.line
                    ),
                    format!(
                        "sheet \"{}\" has no \"{}\" column in its header row {} (flags for line {})",
                        sheet.name,
                        flag.header,
                        u64::from(header_row) + 1,
                        flag.line
                    ),
                )
                .at(&sheet.name, Some(a1(header_row, code_col)))
                .expected(flag.header.clone()),
            ),
        }
    }

    for (&(row, col), cell) in sheet.cells.range((last_header_row.saturating_add(1), 0)..) {
        if col != code_col || cell.value.is_empty() {
            continue;
        }
        let code_read = cell.value.display();
        // A total or note row ("Tổng cộng") is not a commune.
        if !code_read.chars().any(|c| c.is_ascii_digit()) {
            continue;
        }
        let code = match &cell.value {
            CellValue::Number(x) if x.fract() == 0.0 && *x >= 0.0 => {
                Register::normalize_code(&format_number(*x), Level::Commune)
            }
            CellValue::Number(_) => None,
            _ => Register::normalize_code(&code_read, Level::Commune),
        };
        let name = name_col
            .map(|c| sheet.value(row, c).display().trim().to_string())
            .unwrap_or_default();
        let flags = flag_cols
            .iter()
            .map(|(key, fcol)| {
                let value = sheet.value(row, *fcol);
                RawFlag {
                    key: key.clone(),
                    cell: CellRef::new(row, *fcol),
                    read: value.display(),
                    value: flag_of(value),
                }
            })
            .collect();
        raw.communes.push(RawCommune {
            code,
            code_read,
            code_cell: CellRef::new(row, col),
            name,
            flags,
        });
    }
}

#[cfg(test)]
mod tests;
