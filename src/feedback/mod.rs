//! The feedback workbook each district gets for every processed file, in
//! Vietnamese: the verdict in one line, every finding with its sheet and
//! cell, and the values as read so the district can compare them with its
//! own copy. Rows of the values sheet that carry a finding are highlighted
//! and each finding links to its row.

use std::collections::BTreeMap;
use std::path::Path;

use rust_xlsxwriter::{Color, Format, FormatAlign, FormatBorder, Url, Workbook, Worksheet, XlsxError};

use crate::atomic::{write_atomically, Content, Staged};
use crate::domain::{Form, Severity};
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
    let wrap = |e: XlsxError| Error::Workbook {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let mut workbook = build(input).map_err(wrap)?;
    workbook.save_to_buffer().map_err(wrap)
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

fn build(input: &FeedbackInput<'_>) -> Result<Workbook, XlsxError> {
    let base = Format::new().set_font_name("Times New Roman").set_font_size(12);
    let bold = base.clone().set_bold();
    let title = base.clone().set_bold().set_font_size(14);
    let verdict_color = match input.status {
        Status::Accepted => Color::RGB(0x1E7B34),
        Status::Warnings => Color::RGB(0x9C6500),
        Status::Rejected => Color::RGB(0xC00000),
    };
    let verdict_format = base.clone().set_bold().set_font_size(13).set_font_color(verdict_color);
    let header = base
        .clone()
        .set_bold()
        .set_border(FormatBorder::Thin)
        .set_text_wrap()
        .set_align(FormatAlign::Center)
        .set_background_color(Color::RGB(0xD9E1F2));
    let cell = base
        .clone()
        .set_border(FormatBorder::Thin)
        .set_text_wrap()
        .set_align(FormatAlign::Top);
    let error_cell = cell.clone().set_background_color(Color::RGB(0xFFC7CE));
    let warning_cell = cell.clone().set_background_color(Color::RGB(0xFFEB9C));
    let link = cell
        .clone()
        .set_font_color(Color::RGB(0x0563C1))
        .set_underline(rust_xlsxwriter::FormatUnderline::Single);

    let mut workbook = Workbook::new();
    // One feedback per file, thousands in a large batch: light compression
    // costs a few KB per file and saves most of the time spent writing them.
    workbook.set_zip_compression_level(1);
    let summary = workbook.add_worksheet();
    summary.set_name("Ket qua")?;
    summary.write_string_with_format(0, 0, "PHẢN HỒI KẾT QUẢ KIỂM TRA BÁO CÁO", &title)?;
    summary.write_string_with_format(1, 0, verdict(input), &verdict_format)?;
    let mut row = 3;
    let unit = input
        .unit
        .map(|(code, name)| format!("{name} ({code})"))
        .unwrap_or_else(|| "(không xác định được)".into());
    let form = input
        .form
        .map(Form::label)
        .unwrap_or_else(|| "(không xác định được)".into());
    for (label, value) in [
        ("Tệp:", input.file_name.to_string()),
        (
            "Thời điểm nhận:",
            crate::domain::local_time_text(input.received_at, input.timezone),
        ),
        ("Đơn vị:", unit),
        (
            "Kỳ báo cáo:",
            input.period.clone().unwrap_or_else(|| "(không xác định được)".into()),
        ),
        ("Biểu:", form),
        ("Kết quả:", input.status.vietnamese().to_string()),
    ] {
        summary.write_string_with_format(row, 0, label, &bold)?;
        summary.write_string_with_format(row, 1, value, &base)?;
        row += 1;
    }
    if let Some(old) = &input.supersedes {
        summary.write_string_with_format(row, 0, "Thay thế:", &bold)?;
        summary.write_string_with_format(row, 1, format!("báo cáo đã nhận trước đó ({old})"), &base)?;
        row += 1;
    }
    row += 1;

    // Row of each line on the values sheet, for links.
    let mut value_rows: BTreeMap<&str, u32> = BTreeMap::new();
    for (i, v) in input.values.iter().enumerate() {
        value_rows.insert(v.line.as_str(), i as u32 + 2);
    }

    if input.findings.is_empty() {
        summary.write_string_with_format(row, 0, "Không có sai sót nào.", &base)?;
    } else {
        let headers = [
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
        ];
        let mut rows = TableRows::default();
        for (col, h) in headers.iter().enumerate() {
            summary.write_string(row, col as u16, *h)?;
        }
        rows.push(row, &header);
        summary.set_freeze_panes(row + 1, 0)?;
        row += 1;
        let mut links = Vec::new();
        for (i, f) in input.findings.iter().enumerate() {
            let fmt = if f.severity == Severity::Error {
                &error_cell
            } else {
                &warning_cell
            };
            summary.write_number(row, 0, (i + 1) as f64)?;
            summary.write_string(row, 1, f.severity.vietnamese())?;
            summary.write_number(row, 2, f64::from(f.rule))?;
            summary.write_string(row, 3, f.location.sheet.as_deref().unwrap_or(""))?;
            summary.write_string(row, 4, f.location.cell.as_deref().unwrap_or(""))?;
            let line = f.location.line.as_deref().unwrap_or("");
            match value_rows.get(line) {
                Some(target) => links.push((
                    row,
                    Url::new(format!("internal:'{VALUES_SHEET}'!A{target}")).set_text(line),
                )),
                None => {
                    summary.write_string(row, 5, line)?;
                }
            }
            summary.write_string(row, 6, f.location.line_label.as_deref().unwrap_or(""))?;
            summary.write_string(row, 7, f.value.as_deref().unwrap_or(""))?;
            summary.write_string(row, 8, f.expected.as_deref().unwrap_or(""))?;
            summary.write_string(row, 9, &f.message_vi)?;
            rows.push(row, fmt);
            // Viewers do not grow rows for wrapped text written by a generator.
            let label = f.location.line_label.as_deref().unwrap_or("");
            let expected = f.expected.as_deref().unwrap_or("");
            let lines = [
                f.message_vi.chars().count() / 55,
                label.chars().count() / 36,
                expected.chars().count() / 26,
            ]
            .into_iter()
            .max()
            .unwrap_or(0)
                + 1;
            if lines > 1 {
                summary.set_row_height(row, 15.0 * lines as f64)?;
            }
            row += 1;
        }
        rows.apply(summary, 9)?;
        // The links to the values sheet keep their own look.
        for (row, url) in links {
            summary.write_url_with_format(row, 5, url, &link)?;
        }
    }
    for (col, width) in [
        (0u16, 18.0),
        (1, 12.0),
        (2, 8.0),
        (3, 10.0),
        (4, 8.0),
        (5, 9.0),
        (6, 40.0),
        (7, 16.0),
        (8, 30.0),
        (9, 60.0),
    ] {
        summary.set_column_width(col, width)?;
    }
    summary.set_landscape();
    summary.set_paper_size(9);
    summary.set_print_fit_to_pages(1, 0);

    let values = workbook.add_worksheet();
    write_values(values, input, &header, &cell, &error_cell, &warning_cell)?;
    Ok(workbook)
}

/// The format of each row of a table, given once its cells are written:
/// a format is looked up (hashed whole) once per run of rows alike, not
/// once per cell. Cells left empty in a row get the row's format as blanks.
#[derive(Default)]
struct TableRows<'f> {
    rows: Vec<(u32, &'f Format)>,
}

impl<'f> TableRows<'f> {
    fn push(&mut self, row: u32, format: &'f Format) {
        self.rows.push((row, format));
    }

    /// Formats columns `0..=last_col` of every row pushed.
    fn apply(&self, sheet: &mut Worksheet, last_col: u16) -> Result<(), XlsxError> {
        let mut start = 0;
        while start < self.rows.len() {
            let (first, format) = self.rows[start];
            let mut end = start + 1;
            while end < self.rows.len()
                && self.rows[end].0 == self.rows[end - 1].0 + 1
                && std::ptr::eq(self.rows[end].1, format)
            {
                end += 1;
            }
            sheet.set_range_format(first, 0, self.rows[end - 1].0, last_col, format)?;
            start = end;
        }
        Ok(())
    }
}

fn write_values(
    sheet: &mut Worksheet,
    input: &FeedbackInput<'_>,
    header: &Format,
    cell: &Format,
    error_cell: &Format,
    warning_cell: &Format,
) -> Result<(), XlsxError> {
    sheet.set_name(VALUES_SHEET)?;
    let headers = [
        "Mã số",
        "Chỉ tiêu",
        "Đơn vị tính",
        "Ô",
        "Kỳ này",
        "Lũy kế từ đầu năm",
        "Nhận xét",
    ];
    let mut rows = TableRows::default();
    for (col, h) in headers.iter().enumerate() {
        sheet.write_string(0, col as u16, *h)?;
    }
    rows.push(0, header);
    let mut worst: BTreeMap<&str, (Severity, Vec<String>)> = BTreeMap::new();
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
        let row = i as u32 + 1;
        let (fmt, note) = match worst.get(v.line.as_str()) {
            Some((Severity::Error, notes)) => (error_cell, notes.join("\n")),
            Some((Severity::Warning, notes)) => (warning_cell, notes.join("\n")),
            None => (cell, String::new()),
        };
        let line = input.form.and_then(|f| f.line(&v.line));
        sheet.write_string(row, 0, &v.line)?;
        sheet.write_string(row, 1, line.map(|l| l.label.as_str()).unwrap_or(""))?;
        sheet.write_string(row, 2, line.map(|l| l.unit.as_str()).unwrap_or(""))?;
        sheet.write_string(row, 3, v.cell.as_deref().unwrap_or(""))?;
        match v.value {
            Some(x) => sheet.write_number(row, 4, x)?,
            None => sheet.write_string(row, 4, "(trống)")?,
        };
        // A blank year to date stays a blank cell, with the row's format.
        if let Some(x) = v.ytd {
            sheet.write_number(row, 5, x)?;
        }
        sheet.write_string(row, 6, &note)?;
        rows.push(row, fmt);
    }
    rows.apply(sheet, 6)?;
    for (col, width) in [
        (0u16, 9.0),
        (1, 55.0),
        (2, 12.0),
        (3, 8.0),
        (4, 14.0),
        (5, 14.0),
        (6, 60.0),
    ] {
        sheet.set_column_width(col, width)?;
    }
    sheet.set_freeze_panes(1, 0)?;
    sheet.set_paper_size(9);
    sheet.set_landscape();
    sheet.set_print_fit_to_pages(1, 0);
    Ok(())
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
        let input = FeedbackInput {
            file_name: "f.xlsx",
            received_at: "2015-02-05T03:00:00Z",
            timezone: chrono_tz::Asia::Ho_Chi_Minh,
            status: Status::Rejected,
            unit: Some(("061", "Huyện Ba Bể")),
            period: Some("Tháng 1 năm 2015".into()),
            form: None,
            values: &values,
            findings: &findings,
            supersedes: None,
        };
        let bytes = feedback_bytes(Path::new("f.xlsx"), &input).expect("a workbook");
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
}
