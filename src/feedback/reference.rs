//! The feedback workbook as rust_xlsxwriter built it before `xlsx.rs`
//! wrote it directly: kept for the tests only, which compare the two
//! packages cell by cell (values, styles, widths, heights, panes, links and
//! page set-up), so what each district receives stays the same.

use std::collections::BTreeMap;
use std::io::{Cursor, Read};

use calamine::{Data, Reader as _, Xlsx};
use quick_xml::events::Event;
use rust_xlsxwriter::{Color, Format, FormatAlign, FormatBorder, Url, Workbook, Worksheet, XlsxError};

use super::{verdict, FeedbackInput, VALUES_SHEET};
use crate::domain::{Form, Severity};
use crate::findings::Finding;
use crate::store::{Status, StoredValue};

/// The workbook as the earlier build wrote it.
fn reference_bytes(input: &FeedbackInput<'_>) -> Vec<u8> {
    let mut workbook = build(input).expect("the reference builds");
    workbook.save_to_buffer().expect("the reference saves")
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
    // As the earlier build did.
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

/// Every `<name …>` element's attributes, in document order.
fn elements(xml: &str, name: &str) -> Vec<BTreeMap<String, String>> {
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut out = Vec::new();
    loop {
        match reader.read_event().expect("xml") {
            Event::Start(e) | Event::Empty(e) if e.local_name().as_ref() == name => out.push(
                e.attributes()
                    .map(|a| {
                        let a = a.expect("attribute");
                        (
                            a.key.as_ref().to_string(),
                            quick_xml::escape::unescape(&a.value).expect("value").into_owned(),
                        )
                    })
                    .collect(),
            ),
            Event::Eof => return out,
            _ => {}
        }
    }
}

/// The XML of each `<tag>` child of `<list …>` in `styles`, in order.
fn children(styles: &str, list: &str, tag: &str) -> Vec<String> {
    let start = styles.find(&format!("<{list}")).expect("list");
    let end = styles.find(&format!("</{list}>")).expect("list end");
    let body = &styles[start..end];
    let body = &body[body.find('>').expect("tag end") + 1..];
    body.split(&format!("<{tag}"))
        .skip(1)
        .map(|piece| format!("<{tag}{piece}"))
        .collect()
}

/// What a cell style looks like: its font, fill and border as XML, and its
/// alignment, resolved through `styles.xml`.
fn looks(styles: &str) -> Vec<String> {
    let fonts = children(styles, "fonts", "font>");
    let fills = children(styles, "fills", "fill>");
    let borders = children(styles, "borders", "border>");
    children(styles, "cellXfs", "xf ")
        .iter()
        .map(|xf| {
            let attrs = &elements(xf, "xf")[0];
            let pick = |list: &[String], key: &str| list[attrs[key].parse::<usize>().expect("index")].clone();
            let alignment = elements(xf, "alignment");
            format!(
                "{} | {} | {} | {:?}",
                pick(&fonts, "fontId"),
                pick(&fills, "fillId"),
                pick(&borders, "borderId"),
                alignment
            )
        })
        .collect()
}

/// Everything a district sees in a feedback workbook, part by part.
#[derive(Debug, PartialEq)]
struct Seen {
    sheets: Vec<String>,
    /// Per sheet: A1 → value.
    values: Vec<BTreeMap<String, Data>>,
    /// Per sheet: A1 → look, for every cell written (blank styled cells too).
    styles: Vec<BTreeMap<String, String>>,
    /// Per sheet: column → width.
    widths: Vec<BTreeMap<u32, String>>,
    /// Per sheet: row → height, for rows of a custom height.
    heights: Vec<BTreeMap<String, String>>,
    /// Per sheet: the sheet view, its pane, links and page set-up.
    views: Vec<Vec<Vec<BTreeMap<String, String>>>>,
    dimensions: Vec<Vec<BTreeMap<String, String>>>,
}

fn part(bytes: &[u8], name: &str) -> String {
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).expect("a zip");
    let mut text = String::new();
    zip.by_name(name).expect(name).read_to_string(&mut text).expect("text");
    text
}

fn seen(bytes: &[u8]) -> Seen {
    let mut book: Xlsx<_> = Xlsx::new(Cursor::new(bytes)).expect("calamine opens it");
    let sheets = book.sheet_names();
    let looks = looks(&part(bytes, "xl/styles.xml"));
    let mut out = Seen {
        sheets: sheets.clone(),
        values: Vec::new(),
        styles: Vec::new(),
        widths: Vec::new(),
        heights: Vec::new(),
        views: Vec::new(),
        dimensions: Vec::new(),
    };
    for (i, name) in sheets.iter().enumerate() {
        let range = book.worksheet_range(name).expect("a sheet");
        let (top, left) = range.start().unwrap_or((0, 0));
        out.values.push(
            range
                .cells()
                .filter(|(_, _, v)| **v != Data::Empty)
                .map(|(r, c, v)| (crate::pipeline::read::a1(top + r as u32, left + c as u32), v.clone()))
                .collect(),
        );
        let xml = part(bytes, &format!("xl/worksheets/sheet{}.xml", i + 1));
        out.styles.push(
            elements(&xml, "c")
                .into_iter()
                .map(|c| {
                    let s: usize = c.get("s").map_or(0, |s| s.parse().expect("s"));
                    (c["r"].clone(), looks[s].clone())
                })
                .collect(),
        );
        let mut widths = BTreeMap::new();
        for col in elements(&xml, "col") {
            let (min, max): (u32, u32) = (col["min"].parse().expect("min"), col["max"].parse().expect("max"));
            for n in min..=max {
                widths.insert(n, col["width"].clone());
            }
        }
        out.widths.push(widths);
        out.heights.push(
            elements(&xml, "row")
                .into_iter()
                .filter_map(|row| Some((row["r"].clone(), row.get("ht")?.clone())))
                .collect(),
        );
        out.views.push(
            [
                "sheetView",
                "pane",
                "selection",
                "hyperlink",
                "pageSetup",
                "pageSetUpPr",
                "pageMargins",
            ]
            .iter()
            .map(|name| elements(&xml, name))
            .collect(),
        );
        out.dimensions.push(elements(&xml, "dimension"));
    }
    out
}

fn value(line: &str, value: Option<f64>, ytd: Option<f64>) -> StoredValue {
    StoredValue {
        line: line.into(),
        value,
        ytd,
        cell: Some(format!("E{}", 20 + line.len())),
    }
}

#[test]
fn the_direct_writer_gives_what_rust_xlsxwriter_gave_cell_by_cell() {
    let form = Form::embedded().expect("the shipped form");
    let lines: Vec<String> = form.lines.iter().map(|l| l.code.clone()).collect();
    let mut values: Vec<StoredValue> = lines
        .iter()
        .enumerate()
        .map(|(i, line)| {
            let x = (i as f64) * 1.25 - 3.0;
            match i % 5 {
                0 => value(line, None, None),
                1 => value(line, Some(x), None),
                2 => value(line, Some(1e-7 * x), Some(123456789.5)),
                _ => value(line, Some(x.round()), Some(x.round() * 12.0)),
            }
        })
        .collect();
    // A line the form does not know, and one read from no cell.
    values.push(value("Z99", Some(1.0), None));
    values.push(StoredValue {
        cell: None,
        ..value("Z98", Some(2.0), Some(3.0))
    });
    let finding = |severity, line: Option<&str>, message: &str| {
        let f = Finding::new(20, severity, "f.xlsx", message, "en").at("Bieu01", Some("E21".into()));
        match line {
            Some(line) => f.line(line, "một nhãn rất dài cho chỉ tiêu này, dài hơn một dòng của cột"),
            None => f,
        }
    };
    let long = "Số liệu & <giá trị> \"không\" khớp; ".repeat(6);
    let mut odd = finding(
        Severity::Error,
        Some(&lines[3]),
        "  lề trắng, _x0041_ và \u{1}\u{7}ký tự điều khiển\t ",
    );
    odd.value = Some("12 < 13 & 14 > 1".into());
    odd.expected = Some("tổng các dòng con bằng dòng tổng, như quy định ở biểu".into());
    let findings = vec![
        finding(Severity::Error, Some(&lines[2]), "Sai."),
        finding(Severity::Warning, Some(&lines[2]), &long),
        finding(Severity::Warning, Some(&lines[7]), "Cần xem lại."),
        finding(Severity::Error, Some("X01"), "Mã số không có trong biểu."),
        finding(Severity::Error, None, "Thiếu trang."),
        odd,
    ];
    let inputs = [
        FeedbackInput {
            file_name: "01PCMD-H_061_2015-01.xlsx",
            received_at: "2015-02-05T03:00:00Z",
            timezone: chrono_tz::Asia::Ho_Chi_Minh,
            status: Status::Accepted,
            unit: Some(("061", "Huyện Ba Bể")),
            period: Some("Tháng 1 năm 2015".into()),
            form: Some(&form),
            values: &values,
            findings: &[],
            supersedes: None,
        },
        FeedbackInput {
            file_name: "báo cáo & <tháng>.xlsx",
            received_at: "2015-02-05T23:59:59Z",
            timezone: chrono_tz::Asia::Ho_Chi_Minh,
            status: Status::Rejected,
            unit: Some(("061", "Huyện Ba Bể")),
            period: Some("Tháng 1 năm 2015".into()),
            form: Some(&form),
            values: &values,
            findings: &findings,
            supersedes: Some("01PCMD-H_061_2015-01.xlsx, nhận 2015-02-01".into()),
        },
        FeedbackInput {
            file_name: "x.xlsx",
            received_at: "2015-02-05T03:00:00Z",
            timezone: chrono_tz::Asia::Ho_Chi_Minh,
            status: Status::Warnings,
            unit: None,
            period: None,
            form: None,
            values: &values[..3],
            findings: &findings[1..3],
            supersedes: None,
        },
        FeedbackInput {
            file_name: "rỗng.xlsx",
            received_at: "2015-02-05T03:00:00Z",
            timezone: chrono_tz::Asia::Ho_Chi_Minh,
            status: Status::Rejected,
            unit: None,
            period: None,
            form: None,
            values: &[],
            findings: &findings[4..5],
            supersedes: None,
        },
    ];
    for input in &inputs {
        let direct = super::feedback_bytes(std::path::Path::new("f.xlsx"), input).expect("a workbook");
        let reference = reference_bytes(input);
        let (direct, reference) = (seen(&direct), seen(&reference));
        // Not a comparison of two empty things.
        assert!(reference.values[0].len() >= 14, "{}", input.file_name);
        assert!(reference.values[1].len() >= input.values.len() * 5);
        assert_eq!(direct.sheets, reference.sheets, "{}", input.file_name);
        assert_eq!(direct.values, reference.values, "{}: values", input.file_name);
        assert_eq!(direct.styles, reference.styles, "{}: styles", input.file_name);
        assert_eq!(direct.widths, reference.widths, "{}: widths", input.file_name);
        assert_eq!(direct.heights, reference.heights, "{}: heights", input.file_name);
        assert_eq!(direct.views, reference.views, "{}: views", input.file_name);
        assert_eq!(
            direct.dimensions, reference.dimensions,
            "{}: dimensions",
            input.file_name
        );
    }
}
