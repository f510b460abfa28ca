//! The feedback workbook each district gets for every processed file, in
//! Vietnamese: the verdict in one line, every finding with its sheet and
//! cell, and the values as read so the district can compare them with its
//! own copy. Rows of the values sheet that carry a finding are highlighted
//! and each finding links to its row.

mod package;
#[cfg(test)]
mod reference;
mod xlsx;

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::Path;
use std::rc::Rc;
use std::sync::{Arc, Weak};

use xlsx::{SharedStrings, Sheet, Style};

use crate::atomic::{write_atomically, Content, Staged};
use crate::domain::{Form, LineCodes, Severity};
use crate::error::Error;
use crate::findings::Finding;
use crate::store::{Status, StoredValue};

/// What the feedback says about one file.
#[derive(Debug, Clone)]
pub struct FeedbackInput<'a> {
    /// File name as received.
    pub file_name: &'a str,
    /// Arrival time as stored (UTC), shown in `timezone`.
    pub received_at: &'a str,
    pub timezone: chrono_tz::Tz,
    pub status: Status,
    pub unit: Option<(&'a str, &'a str)>,
    pub period: Option<String>,
    /// The form the file was read with, when known.
    pub form: Option<&'a Form>,
    pub values: &'a [StoredValue],
    pub findings: &'a [Finding],
    /// An earlier submission this one replaces.
    pub supersedes: Option<String>,
}

const VALUES_SHEET: &str = "So lieu da doc";

/// Writes the feedback workbook to `path` (temporary file, then rename).
///
/// # Errors
/// [`Error::Workbook`] or [`Error::Io`].
pub fn write_feedback(path: &Path, input: &FeedbackInput<'_>) -> Result<(), Error> {
    write_atomically(path, Content::Bytes(&feedback_bytes(path, input)?))
}

/// Writes the feedback workbook into a batch (see [`Staged`]): under its
/// temporary name now, under `path` once the batch is committed.
///
/// # Errors
/// [`Error::Workbook`] or [`Error::Io`].
pub fn stage_feedback(staged: &Staged, path: &Path, input: &FeedbackInput<'_>) -> Result<(), Error> {
    staged.write(path, &feedback_bytes(path, input)?)
}

fn feedback_bytes(path: &Path, input: &FeedbackInput<'_>) -> Result<Vec<u8>, Error> {
    let created = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let strings = strings_of(input.form);
    xlsx::package(
        [summary_sheet(input), values_sheet(input, &strings)],
        &strings,
        &created,
    )
    .map_err(|e| Error::Workbook {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// The values sheet's column headers.
const VALUES_HEADERS: [&str; 7] = [
    "Mã số",
    "Chỉ tiêu",
    "Đơn vị tính",
    "Ô",
    "Kỳ này",
    "Lũy kế từ đầu năm",
    "Nhận xét",
];

/// The shared string of the code (`0`), label (`1`) or unit (`2`) of the
/// form's line at `position`, in [`form_strings`]' order.
fn line_string(position: usize, which: usize) -> usize {
    VALUES_HEADERS.len() + 3 * position + which
}

/// The texts every feedback workbook of `form` shows: the values sheet's
/// headers, then each line's code, label and unit, in form order.
fn form_strings(form: Option<&Form>) -> SharedStrings {
    let lines = form.map_or(&[][..], |f| &f.lines[..]);
    let texts = VALUES_HEADERS.into_iter().chain(
        lines
            .iter()
            .flat_map(|l| [l.code.as_str(), l.label.as_str(), l.unit.as_str()]),
    );
    SharedStrings::new(texts)
}

/// Shared strings made, by the form they were made for (none: a file whose
/// form is not known), on each thread that writes feedback.
type MadeStrings = Vec<(Option<Weak<LineCodes>>, Rc<SharedStrings>)>;

thread_local! {
    static MADE_STRINGS: RefCell<MadeStrings> = const { RefCell::new(Vec::new()) };
}

/// [`form_strings`] of `form`, made once per form on each thread. A form is
/// known by its line codes (`Arc`, shared by a form and its clones only): a
/// form dropped and another made at its place is not taken for it, since
/// the weak reference kept here no longer upgrades.
fn strings_of(form: Option<&Form>) -> Rc<SharedStrings> {
    let key = form.map(Form::line_codes);
    let same = |made: &Option<Weak<LineCodes>>| match (made, key) {
        (None, None) => true,
        (Some(made), Some(codes)) => made.upgrade().is_some_and(|made| Arc::ptr_eq(&made, codes)),
        _ => false,
    };
    MADE_STRINGS.with_borrow_mut(|made| {
        if let Some((_, strings)) = made.iter().find(|(k, _)| same(k)) {
            return Rc::clone(strings);
        }
        let strings = Rc::new(form_strings(form));
        // A pass meets one form or two; a few are kept.
        if made.len() >= 4 {
            made.remove(0);
        }
        made.push((key.map(Arc::downgrade), Rc::clone(&strings)));
        strings
    })
}

/// The verdict in one Vietnamese sentence.
pub fn verdict(input: &FeedbackInput<'_>) -> String {
    let errors = input.findings.iter().filter(|f| f.severity == Severity::Error).count();
    let warnings = input.findings.len() - errors;
    match input.status {
        Status::Accepted => "BÁO CÁO ĐƯỢC CHẤP NHẬN: không phát hiện sai sót.".to_string(),
        Status::Warnings => {
            format!("BÁO CÁO ĐƯỢC CHẤP NHẬN, CÓ {warnings} CẢNH BÁO: đề nghị đơn vị kiểm tra lại các ô nêu dưới đây.")
        }
        Status::Rejected => format!(
            "BÁO CÁO BỊ TỪ CHỐI: có {errors} lỗi{}. Đề nghị đơn vị sửa các ô nêu dưới đây và gửi lại.",
            if warnings > 0 {
                format!(" và {warnings} cảnh báo")
            } else {
                String::new()
            }
        ),
    }
}

/// The first sheet: the verdict, what was received, and every finding.
fn summary_sheet(input: &FeedbackInput<'_>) -> Sheet {
    let mut sheet = Sheet::new();
    sheet.row(0, None);
    sheet.text(0, "PHẢN HỒI KẾT QUẢ KIỂM TRA BÁO CÁO", Style::Title);
    sheet.row(1, None);
    let verdict_style = match input.status {
        Status::Accepted => Style::VerdictAccepted,
        Status::Warnings => Style::VerdictWarnings,
        Status::Rejected => Style::VerdictRejected,
    };
    sheet.text(0, &verdict(input), verdict_style);
    let mut row = 3;
    let unknown = || "(không xác định được)".to_string();
    let unit = input
        .unit
        .map(|(code, name)| format!("{name} ({code})"))
        .unwrap_or_else(unknown);
    let form = input.form.map(Form::label).unwrap_or_else(unknown);
    let mut facts = vec![
        ("Tệp:", input.file_name.to_string()),
        (
            "Thời điểm nhận:",
            crate::domain::local_time_text(input.received_at, input.timezone),
        ),
        ("Đơn vị:", unit),
        ("Kỳ báo cáo:", input.period.clone().unwrap_or_else(unknown)),
        ("Biểu:", form),
        ("Kết quả:", input.status.vietnamese().to_string()),
    ];
    if let Some(old) = &input.supersedes {
        facts.push(("Thay thế:", format!("báo cáo đã nhận trước đó ({old})")));
    }
    for (label, value) in facts {
        sheet.row(row, None);
        sheet.text(0, label, Style::Bold);
        sheet.text(1, &value, Style::Base);
        row += 1;
    }
    row += 1;

    if input.findings.is_empty() {
        sheet.row(row, None);
        sheet.text(0, "Không có sai sót nào.", Style::Base);
    } else {
        // Row of each line on the values sheet (1-based), for links.
        let value_rows: HashMap<&str, usize> = input
            .values
            .iter()
            .enumerate()
            .map(|(i, v)| (v.line.as_str(), i + 2))
            .collect();
        sheet.row(row, None);
        for (col, header) in [
            "STT",
            "Mức độ",
            "Quy tắc",
            "Trang",
            "Ô",
            "Mã số",
            "Chỉ tiêu",
            "Giá trị đọc được",
            "Yêu cầu",
            "Nội dung",
        ]
        .into_iter()
        .enumerate()
        {
            sheet.text(col as u16, header, Style::Header);
        }
        sheet.freeze_rows(row + 1);
        row += 1;
        for (i, f) in input.findings.iter().enumerate() {
            let style = if f.severity == Severity::Error {
                Style::ErrorCell
            } else {
                Style::WarningCell
            };
            let label = f.location.line_label.as_deref().unwrap_or("");
            let expected = f.expected.as_deref().unwrap_or("");
            sheet.row(row, row_height(&f.message_vi, label, expected));
            sheet.number(0, (i + 1) as f64, style);
            sheet.text(1, f.severity.vietnamese(), style);
            sheet.number(2, f64::from(f.rule), style);
            sheet.text(3, f.location.sheet.as_deref().unwrap_or(""), style);
            sheet.text(4, f.location.cell.as_deref().unwrap_or(""), style);
            let line = f.location.line.as_deref().unwrap_or("");
            match value_rows.get(line) {
                Some(target) => sheet.link(5, line, format!("'{VALUES_SHEET}'!A{target}"), Style::Link),
                None => sheet.text(5, line, style),
            }
            sheet.text(6, label, style);
            sheet.text(7, f.value.as_deref().unwrap_or(""), style);
            sheet.text(8, expected, style);
            sheet.text(9, &f.message_vi, style);
            row += 1;
        }
    }
    sheet.widths(&[
        (0, 18.0),
        (1, 12.0),
        (2, 8.0),
        (3, 10.0),
        (4, 8.0),
        (5, 9.0),
        (6, 40.0),
        (7, 16.0),
        (8, 30.0),
        (9, 60.0),
    ]);
    sheet
}

/// The height of a finding's row: viewers do not grow rows for wrapped text
/// written by a generator, so it is estimated from the longest text for the
/// width of its column.
fn row_height(message: &str, label: &str, expected: &str) -> Option<f64> {
    let lines = [
        message.chars().count() / 55,
        label.chars().count() / 36,
        expected.chars().count() / 26,
    ]
    .into_iter()
    .max()
    .unwrap_or(0)
        + 1;
    (lines > 1).then_some(15.0 * lines as f64)
}

/// The second sheet: every value as read, the lines with a finding shaded
/// and the findings' messages beside them.
fn values_sheet(input: &FeedbackInput<'_>, strings: &SharedStrings) -> Sheet {
    let mut sheet = Sheet::new();
    sheet.row(0, None);
    for (col, header) in VALUES_HEADERS.into_iter().enumerate() {
        sheet.shared_text(col as u16, header, strings, Some(col), Style::Header);
    }
    let mut worst: HashMap<&str, (Severity, Vec<String>)> = HashMap::new();
    for f in input.findings {
        if let Some(line) = f.location.line.as_deref() {
            let entry = worst.entry(line).or_insert((Severity::Warning, Vec::new()));
            if f.severity == Severity::Error {
                entry.0 = Severity::Error;
            }
            entry.1.push(format!("{}: {}", f.severity.vietnamese(), f.message_vi));
        }
    }
    for (i, v) in input.values.iter().enumerate() {
        let (style, note) = match worst.get(v.line.as_str()) {
            Some((Severity::Error, notes)) => (Style::ErrorCell, notes.join("\n")),
            Some((Severity::Warning, notes)) => (Style::WarningCell, notes.join("\n")),
            None => (Style::Cell, String::new()),
        };
        let position = input.form.and_then(|f| f.line_index(&v.line));
        let line = input.form.zip(position).map(|(f, p)| &f.lines[p]);
        // A line of another form has no shared string: its code is written
        // in the cell (as is any text the string is not).
        let at = |which| position.map(|p| line_string(p, which));
        sheet.row(i as u32 + 1, None);
        sheet.shared_text(0, &v.line, strings, at(0), style);
        sheet.shared_text(1, line.map(|l| l.label.as_str()).unwrap_or(""), strings, at(1), style);
        sheet.shared_text(2, line.map(|l| l.unit.as_str()).unwrap_or(""), strings, at(2), style);
        sheet.text(3, v.cell.as_deref().unwrap_or(""), style);
        match v.value {
            Some(x) => sheet.number(4, x, style),
            None => sheet.text(4, "(trống)", style),
        }
        // A blank year to date stays a blank cell, with the row's style.
        match v.ytd {
            Some(x) => sheet.number(5, x, style),
            None => sheet.blank(5, style),
        }
        sheet.text(6, &note, style);
    }
    sheet.widths(&[
        (0, 9.0),
        (1, 55.0),
        (2, 12.0),
        (3, 8.0),
        (4, 14.0),
        (5, 14.0),
        (6, 60.0),
    ]);
    sheet.freeze_rows(1);
    sheet
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::io::{Cursor, Read};

    use quick_xml::events::Event;

    use super::*;

    fn part(bytes: &[u8], name: &str) -> String {
        let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).expect("a zip");
        let mut text = String::new();
        zip.by_name(name).expect(name).read_to_string(&mut text).expect("text");
        text
    }

    /// The feedback workbook of unit 061's January 2015 file `f.xlsx`.
    fn workbook(status: Status, form: Option<&Form>, values: &[StoredValue], findings: &[Finding]) -> Vec<u8> {
        let input = FeedbackInput {
            file_name: "f.xlsx",
            received_at: "2015-02-05T03:00:00Z",
            timezone: chrono_tz::Asia::Ho_Chi_Minh,
            status,
            unit: Some(("061", "Huyện Ba Bể")),
            period: Some("Tháng 1 năm 2015".into()),
            form,
            values,
            findings,
            supersedes: None,
        };
        feedback_bytes(Path::new("f.xlsx"), &input).expect("a workbook")
    }

    /// Every `<name …>` element's attributes, in order.
    fn elements(xml: &str, name: &str) -> Vec<HashMap<String, String>> {
        let mut reader = quick_xml::Reader::from_str(xml);
        // Pieces of a part are read too.
        reader.config_mut().check_end_names = false;
        let mut out = Vec::new();
        loop {
            match reader.read_event().expect("xml") {
                Event::Start(e) | Event::Empty(e) if e.local_name().as_ref() == name => out.push(
                    e.attributes()
                        .map(|a| {
                            let a = a.expect("attribute");
                            (a.key.local_name().as_ref().to_string(), a.value.to_string())
                        })
                        .collect(),
                ),
                Event::Eof => return out,
                _ => {}
            }
        }
    }

    /// (fill colour, has a border) of a cell style index.
    fn look(styles: &str, xf: usize) -> (Option<String>, bool) {
        let fills: Vec<Option<String>> = {
            // The fills in order, by the colour of their pattern (if any).
            let start = styles.find("<fills").expect("fills");
            let end = styles.find("</fills>").expect("fills end");
            styles[start..end]
                .split("<fill>")
                .skip(1)
                .map(|fill| {
                    let fill = fill.replace("</fill>", "");
                    elements(&fill, "fgColor").first().and_then(|c| c.get("rgb").cloned())
                })
                .collect()
        };
        let cell_xfs = {
            let start = styles.find("<cellXfs").expect("cellXfs");
            let end = styles.find("</cellXfs>").expect("cellXfs end");
            elements(&styles[start..end], "xf")
        };
        let style = &cell_xfs[xf];
        let fill = style
            .get("fillId")
            .and_then(|i| fills[i.parse::<usize>().expect("id")].clone());
        (fill, style.get("borderId").is_some_and(|b| b != "0"))
    }

    #[test]
    fn every_cell_of_a_flagged_line_is_shaded_blank_cells_too_and_the_other_lines_are_not() {
        let values = [
            ("A01", Some(5.0), Some(9.0)),
            ("A02", None, None),
            ("A03", Some(7.0), None),
        ]
        .map(|(line, value, ytd)| StoredValue {
            line: line.into(),
            value,
            ytd,
            cell: Some("E20".into()),
        });
        let finding = |severity, line: &str| {
            Finding::new(20, severity, "f.xlsx", "vi", "en")
                .at("Bieu01", Some("E21".into()))
                .line(line, "nhãn")
        };
        let findings = [finding(Severity::Error, "A02"), finding(Severity::Warning, "A03")];
        let bytes = workbook(Status::Rejected, None, &values, &findings);
        let styles = part(&bytes, "xl/styles.xml");
        let sheet = part(&bytes, "xl/worksheets/sheet2.xml");
        let cells = elements(&sheet, "c");
        let row_looks = |row: u32| -> Vec<(Option<String>, bool)> {
            cells
                .iter()
                .filter(|c| c["r"].trim_start_matches(char::is_alphabetic) == row.to_string())
                .map(|c| look(&styles, c.get("s").map_or(0, |s| s.parse().expect("s"))))
                .collect()
        };
        // Values sheet: header, then A01, A02 (error), A03 (warning); 7 columns each.
        for (row, fill) in [(2, None), (3, Some("FFFFC7CE")), (4, Some("FFFFEB9C"))] {
            let looks = row_looks(row);
            assert_eq!(looks.len(), 7, "row {row}: every column has a cell");
            for (fill_found, border) in looks {
                assert_eq!(fill_found.as_deref(), fill, "row {row}");
                assert!(border, "row {row}: bordered");
            }
        }
        assert!(row_looks(1)
            .iter()
            .all(|(fill, border)| fill.as_deref() == Some("FFD9E1F2") && *border));
        // Summary sheet: the findings table's rows shaded by severity, the
        // line code a link in its own look.
        let summary = part(&bytes, "xl/worksheets/sheet1.xml");
        let cells = elements(&summary, "c");
        let shaded = |colour: &str| {
            cells
                .iter()
                .filter(|c| {
                    look(&styles, c.get("s").map_or(0, |s| s.parse().expect("s")))
                        .0
                        .as_deref()
                        == Some(colour)
                })
                .count()
        };
        // 10 columns, the line code's cell a link (no shading).
        assert_eq!(shaded("FFFFC7CE"), 9);
        assert_eq!(shaded("FFFFEB9C"), 9);
        assert_eq!(elements(&summary, "hyperlink").len(), 2);
    }

    /// The form's texts go into the shared strings in [`line_string`]'s
    /// order and the values sheet names them by number; a line the form
    /// does not have keeps its code in the cell. Read back, each cell shows
    /// its own line's text (calamine resolves the numbers), as the
    /// reference test checks for whole workbooks.
    #[test]
    fn the_values_sheet_names_the_forms_texts_by_number_and_writes_the_others_in_the_cell() {
        let form = Form::embedded().expect("the shipped form");
        let values: Vec<StoredValue> = [form.lines[0].code.as_str(), "Z99", form.lines[5].code.as_str()]
            .iter()
            .map(|line| StoredValue {
                line: (*line).into(),
                value: Some(1.0),
                ytd: None,
                cell: Some("E20".into()),
            })
            .collect();
        let bytes = workbook(Status::Accepted, Some(&form), &values, &[]);
        let strings: Vec<String> = {
            let sst = part(&bytes, "xl/sharedStrings.xml");
            let mut reader = quick_xml::Reader::from_str(&sst);
            let mut out = Vec::new();
            let mut text = None;
            loop {
                match reader.read_event().expect("xml") {
                    Event::Start(e) if e.local_name().as_ref() == "t" => text = Some(String::new()),
                    Event::Text(t) => {
                        if let Some(text) = &mut text {
                            text.push_str(&t.xml10_content());
                        }
                    }
                    Event::GeneralRef(r) => {
                        if let Some(text) = &mut text {
                            text.push_str(match r.as_ref() {
                                "amp" => "&",
                                "lt" => "<",
                                "gt" => ">",
                                other => panic!("an entity the writer does not use: {other}"),
                            });
                        }
                    }
                    Event::End(e) if e.local_name().as_ref() == "t" => out.extend(text.take()),
                    Event::Eof => break,
                    _ => {}
                }
            }
            out
        };
        assert_eq!(strings.len(), VALUES_HEADERS.len() + 3 * form.lines.len());
        assert_eq!(strings[..VALUES_HEADERS.len()], VALUES_HEADERS.map(String::from));
        for (p, line) in form.lines.iter().enumerate() {
            assert_eq!(strings[line_string(p, 0)], line.code);
            assert_eq!(strings[line_string(p, 1)], line.label);
            assert_eq!(strings[line_string(p, 2)], line.unit);
        }
        let sheet = part(&bytes, "xl/worksheets/sheet2.xml");
        let cells: HashMap<String, HashMap<String, String>> =
            elements(&sheet, "c").into_iter().map(|c| (c["r"].clone(), c)).collect();
        let shared = |cell: &str| cells[cell].get("t").map(String::as_str) == Some("s");
        assert!(["A1", "B1", "G1", "A2", "B2", "C2", "A4", "B4", "C4"]
            .iter()
            .all(|c| shared(c)));
        assert_eq!(
            cells["A3"].get("t").map(String::as_str),
            Some("inlineStr"),
            "Z99 is not the form's"
        );
        assert!(!shared("B3") && !shared("C3"), "no label nor unit for Z99");
        assert!(!shared("D2"), "the cell read stays in the cell");
        use calamine::Reader as _;
        let mut book: calamine::Xlsx<_> = calamine::Xlsx::new(Cursor::new(&bytes)).expect("opens");
        let range = book.worksheet_range(VALUES_SHEET).expect("values sheet");
        let text = |row: u32, col: u32| range.get_value((row, col)).map(|v| v.to_string()).unwrap_or_default();
        assert_eq!(
            (text(1, 0), text(1, 1), text(1, 2)),
            (
                form.lines[0].code.clone(),
                form.lines[0].label.clone(),
                form.lines[0].unit.clone()
            )
        );
        assert_eq!(text(2, 0), "Z99");
        assert_eq!(
            (text(3, 0), text(3, 1)),
            (form.lines[5].code.clone(), form.lines[5].label.clone())
        );
    }

    /// One table of strings per form and thread: the same form (or a clone
    /// of it) gets the one made before, another form or none its own.
    #[test]
    fn shared_strings_are_made_once_per_form() {
        let form = Form::embedded().expect("the shipped form");
        let clone = form.clone();
        let other = Form::embedded().expect("the shipped form");
        let first = strings_of(Some(&form));
        assert!(Rc::ptr_eq(&first, &strings_of(Some(&form))));
        assert!(Rc::ptr_eq(&first, &strings_of(Some(&clone))));
        assert!(!Rc::ptr_eq(&first, &strings_of(Some(&other))));
        assert!(!Rc::ptr_eq(&first, &strings_of(None)));
        assert!(Rc::ptr_eq(&strings_of(None), &strings_of(None)));
    }
}
