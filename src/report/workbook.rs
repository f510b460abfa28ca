//! The consolidated workbook for the ministry, in Vietnamese, written with
//! rust_xlsxwriter to a temporary file renamed into place. Sheets:
//! `01-PCMD-T` (the provincial form: province, year to date, same period
//! last year, change, one column per district; the province cells are SUM
//! formulas with their computed results stored), `Tiến độ kế hoạch`,
//! `Tình hình nộp`, `Danh sách xã`, `Cảnh báo`, `Biểu đồ` and `Nguồn`.
//!
//! A reader tool relies on this: the `01-PCMD-T` sheet has exactly one
//! header row containing `Mã số` and `Toàn tỉnh`.

use std::path::Path;

use rayon::prelude::*;

use rust_xlsxwriter::{
    Chart, ChartType, Color, ConditionalFormatCell, ConditionalFormatCellRule, Format, FormatAlign, FormatBorder,
    FormatPattern, Formula, Note, Workbook, Worksheet, XlsxError,
};

use crate::atomic::{write_atomically, Content};
use crate::cell_text::{cut, MAX_CELL_TEXT};
use crate::domain::plan::{Comparison, Verdict};
use crate::domain::{local_time_text, Agg, Level, LineKind, Period};
use crate::error::Error;
use crate::report::completeness::Rates;
use crate::report::consolidate::{change_percent, Figure};
use crate::report::{PlanRatio, ReportData, TREND_LINES};
use crate::template::column_letter;

/// Name of the provincial form sheet.
pub const FORM_SHEET: &str = "01-PCMD-T";
const PLAN_SHEET: &str = "Tiến độ kế hoạch";
const COMPLETENESS_SHEET: &str = "Tình hình nộp";
const COMMUNES_SHEET: &str = "Danh sách xã";
const WARNINGS_SHEET: &str = "Cảnh báo";
const CHARTS_SHEET: &str = "Biểu đồ";
const SOURCES_SHEET: &str = "Nguồn";

/// Row (0-based) of the header of the provincial form sheet.
pub const HEADER_ROW: u32 = 8;
/// First district column of the provincial form sheet.
pub const FIRST_UNIT_COL: u16 = 8;

struct Styles {
    base: Format,
    bold: Format,
    bold_center: Format,
    italic_center: Format,
    title: Format,
    header: Format,
    section: Format,
    text: Format,
    center: Format,
    int: Format,
    money: Format,
    pct: Format,
    incomplete_pct: Format,
    incomplete_int: Format,
    incomplete_money: Format,
    shaded: Format,
    note: Format,
    good: Format,
    bad: Format,
}

impl Styles {
    fn new() -> Styles {
        let base = Format::new().set_font_name("Times New Roman").set_font_size(11);
        let cell = base
            .clone()
            .set_border(FormatBorder::Thin)
            .set_text_wrap()
            .set_align(FormatAlign::VerticalCenter);
        let incomplete = cell.clone().set_background_color(Color::RGB(0xFCE4D6));
        Styles {
            bold: base.clone().set_bold(),
            bold_center: base.clone().set_bold().set_align(FormatAlign::Center),
            italic_center: base.clone().set_italic().set_align(FormatAlign::Center),
            title: base.clone().set_bold().set_font_size(14).set_align(FormatAlign::Center),
            header: cell
                .clone()
                .set_bold()
                .set_align(FormatAlign::Center)
                .set_background_color(Color::RGB(0xD9E1F2)),
            section: cell.clone().set_bold(),
            text: cell.clone(),
            center: cell.clone().set_align(FormatAlign::Center),
            int: cell.clone().set_num_format("#,##0"),
            money: cell.clone().set_num_format("#,##0.000"),
            pct: cell.clone().set_num_format("0.0"),
            incomplete_pct: incomplete.clone().set_num_format("0.0"),
            incomplete_int: incomplete.clone().set_num_format("#,##0"),
            incomplete_money: incomplete.set_num_format("#,##0.000"),
            note: base
                .clone()
                .set_italic()
                .set_text_wrap()
                .set_align(FormatAlign::Top)
                .set_background_color(Color::RGB(0xFFF2CC)),
            shaded: cell
                .clone()
                .set_pattern(FormatPattern::Solid)
                .set_background_color(Color::RGB(0xD9D9D9)),
            good: base
                .clone()
                .set_background_color(Color::RGB(0xC6EFCE))
                .set_font_color(Color::RGB(0x006100)),
            bad: base
                .clone()
                .set_background_color(Color::RGB(0xFFC7CE))
                .set_font_color(Color::RGB(0x9C0006)),
            base,
        }
    }

    fn number(&self, kind: LineKind, complete: bool) -> &Format {
        match (kind, complete) {
            (LineKind::Int, true) => &self.int,
            (LineKind::Money, true) => &self.money,
            (LineKind::Int, false) => &self.incomplete_int,
            (LineKind::Money, false) => &self.incomplete_money,
        }
    }
}

/// Units a form sheet prints on one page width; more get a page per group.
const MAX_UNITS_ONE_PAGE: usize = 12;
/// Unit columns per printed page when the sheet is printed page by page.
const UNITS_PER_PAGE: usize = 8;

/// Where each unit's column goes on the form sheet, and the groups named
/// above them. After a change to communes reporting straight to the
/// province a report has a column per commune (92 of them), ordered and
/// grouped by the former district they were made from, the rest of the new
/// province after them, so a statistician finds a commune where its
/// district used to be and prints a group per page.
struct UnitColumns {
    /// The first unit column.
    first: u16,
    /// The column of each unit, by its index in the figures.
    cols: Vec<u16>,
    /// Group label, first and last column.
    groups: Vec<(String, u16, u16)>,
}

impl UnitColumns {
    fn new(data: &ReportData<'_>) -> UnitColumns {
        let first = if data.territory.is_some() {
            FIRST_UNIT_COL + 4
        } else {
            FIRST_UNIT_COL
        };
        let n = data.units.len();
        if !data.units.iter().any(|u| u.level == Level::Commune) {
            return UnitColumns {
                first,
                cols: (0..n).map(|i| first + i as u16).collect(),
                groups: Vec::new(),
            };
        }
        let settings = data.settings;
        let register = &settings.register;
        let name_of = |level: Level, code: &str| {
            register
                .rows_of(level, code)
                .last()
                .map_or_else(|| code.to_string(), |u| u.name.clone())
        };
        let former_districts = settings.mapping.former_districts();
        let key = |i: usize| -> (usize, String) {
            let unit = &data.units[i];
            if unit.level != Level::Commune {
                return (0, "Cấp huyện (trước khi bỏ cấp huyện)".to_string());
            }
            match settings.mapping.former_districts_of(&unit.code).first() {
                Some(d) if unit.level == Level::Commune => (
                    1 + former_districts.iter().position(|x| x == d).unwrap_or(0),
                    format!("Từ {} cũ", name_of(Level::District, d)),
                ),
                _ => (
                    usize::MAX,
                    format!("Các đơn vị khác của {}", name_of(Level::Province, &unit.parent_code)),
                ),
            }
        };
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|a, b| (key(*a).0, &data.units[*a].code).cmp(&(key(*b).0, &data.units[*b].code)));
        let mut cols = vec![0u16; n];
        let mut groups: Vec<(String, u16, u16)> = Vec::new();
        for (position, &i) in order.iter().enumerate() {
            let col = first + position as u16;
            cols[i] = col;
            let label = key(i).1;
            match groups.last_mut() {
                Some((last_label, _, last_col)) if *last_label == label => *last_col = col,
                _ => groups.push((label, col, col)),
            }
        }
        UnitColumns { first, cols, groups }
    }

    fn col(&self, unit: usize) -> u16 {
        self.cols[unit]
    }

    /// Vertical page breaks: the labels and totals on the first page, then
    /// whole groups, at most [`UNITS_PER_PAGE`] units a page.
    fn page_breaks(&self) -> Vec<u16> {
        let mut breaks = vec![self.first];
        let mut page_start = self.first;
        let groups: Vec<(u16, u16)> = if self.groups.is_empty() {
            vec![(self.first, self.first + self.cols.len().max(1) as u16 - 1)]
        } else {
            self.groups.iter().map(|(_, a, b)| (*a, *b)).collect()
        };
        for (start, end) in groups {
            if start > page_start && end - page_start >= UNITS_PER_PAGE as u16 {
                breaks.push(start);
                page_start = start;
            }
            while end - page_start >= UNITS_PER_PAGE as u16 {
                page_start += UNITS_PER_PAGE as u16;
                breaks.push(page_start);
            }
        }
        breaks.dedup();
        breaks
    }
}

/// Builds one sheet.
type BuildSheet = fn(&mut Worksheet, &ReportData<'_>, &Styles) -> Result<(), XlsxError>;

/// The workbook's sheets, in order.
const SHEETS: [BuildSheet; 7] = [
    form_sheet,
    plan_sheet,
    completeness_sheet,
    communes_sheet,
    warnings_sheet,
    charts_sheet,
    sources_sheet,
];

/// Writes the workbook to `path`.
///
/// # Errors
/// [`Error::Workbook`] or [`Error::Io`].
pub fn write(path: &Path, data: &ReportData<'_>) -> Result<(), Error> {
    let wrap = |e: XlsxError| Error::Workbook {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    // The sheets are independent until the workbook is saved (strings and
    // formats are numbered then), so they are built side by side.
    let s = Styles::new();
    let sheets = SHEETS
        .par_iter()
        .map(|build| {
            let mut sheet = Worksheet::new();
            build(&mut sheet, data, &s)?;
            Ok(sheet)
        })
        .collect::<Result<Vec<Worksheet>, XlsxError>>()
        .map_err(wrap)?;
    let mut workbook = Workbook::new();
    // The fastest deflate: a national year's workbook is 2.9 MB instead of
    // 1.6 MB, saved in about 0.1 s instead of 0.35 s (the save is the one
    // part of a report that runs on one core).
    workbook.set_zip_compression_level(1);
    for sheet in sheets {
        workbook.push_worksheet(sheet);
    }
    let bytes = workbook.save_to_buffer().map_err(wrap)?;
    write_atomically(path, Content::Bytes(&bytes))
}

/// Writes a figure: its value (the known part when incomplete) or a blank,
/// shaded when incomplete; "–" when it does not apply. `why` is the note an
/// incomplete or inapplicable figure carries.
fn write_figure(
    sheet: &mut Worksheet,
    (row, col): (u32, u16),
    figure: Figure,
    kind: LineKind,
    why: impl FnOnce() -> String,
    s: &Styles,
) -> Result<(), XlsxError> {
    if !figure.applies {
        sheet.write_string_with_format(row, col, "–", &s.center)?;
        return Ok(());
    }
    match figure.value {
        Some(v) => sheet.write_number_with_format(row, col, v, s.number(kind, figure.complete))?,
        None => sheet.write_blank(row, col, s.number(kind, figure.complete))?,
    };
    if !figure.complete {
        note(sheet, row, col, &format!("Số liệu chưa đầy đủ: {}.", why()))?;
    }
    Ok(())
}

fn note(sheet: &mut Worksheet, row: u32, col: u16, text: &str) -> Result<(), XlsxError> {
    // Excel keeps a note's text within a cell's limit, less its own framing.
    let text = cut(text, MAX_CELL_TEXT - 54, LIST_CUT);
    sheet.insert_note(row, col, &Note::new(text.as_ref()).set_author("baocao"))?;
    Ok(())
}

/// What a list cut to Excel's limit ends with.
const LIST_CUT: &str = " … (còn nữa: danh sách dài quá giới hạn ký tự của một ô Excel)";

/// The units a province figure lacks, grouped by what each lacks, for the
/// completeness sheet: "thiếu báo cáo tháng 2015-03: 062, 065 | ô để trống
/// trong báo cáo tháng 2015-04: 061". One group per kind of gap, in the
/// units' order, so a year in which most units sent nothing reads as one
/// line and fits in a cell.
fn lacking_by_gap(data: &ReportData<'_>, line: usize) -> String {
    let mut groups: Vec<(String, Vec<&str>)> = Vec::new();
    let mut group_of: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for (u, unit) in data.units.iter().enumerate() {
        if data.current.unit(line, u).complete {
            continue;
        }
        let mut gap = data.current.gaps(line, u).vietnamese();
        if gap.is_empty() {
            gap = "chưa đủ số liệu".to_string();
        }
        let at = *group_of.entry(gap.clone()).or_insert_with(|| {
            groups.push((gap, Vec::new()));
            groups.len() - 1
        });
        groups[at].1.push(&unit.code);
    }
    let text = groups
        .iter()
        .map(|(gap, codes)| format!("{gap}: {}", codes.join(", ")))
        .collect::<Vec<_>>()
        .join(" | ");
    cut(&text, MAX_CELL_TEXT, LIST_CUT).into_owned()
}

/// "3 đơn vị thiếu số liệu (061, 062, 065)".
fn lacking_units(units: &[String]) -> String {
    format!("{} đơn vị thiếu số liệu ({})", units.len(), units.join(", "))
}

/// Why a province figure is incomplete: the units it lacks, and the
/// territory it lacks across a change of province.
fn reason(units: &[String], territory: Option<String>) -> String {
    let mut parts = Vec::new();
    if !units.is_empty() {
        parts.push(format!("{}. Xem trang \"{COMPLETENESS_SHEET}\"", lacking_units(units)));
    }
    parts.extend(territory);
    parts.join("; ")
}

/// "So sánh (%)": now against before, shaded with a note when either is
/// incomplete; "–" when before is blank or 0.
fn write_change(
    sheet: &mut Worksheet,
    (row, col): (u32, u16),
    now: Figure,
    before: Figure,
    s: &Styles,
) -> Result<(), XlsxError> {
    match change_percent(now.value, before.value) {
        Some(p) if now.complete && before.complete => {
            sheet.write_number_with_format(row, col, p, &s.pct)?;
        }
        Some(p) => {
            sheet.write_number_with_format(row, col, p, &s.incomplete_pct)?;
            note(
                sheet,
                row,
                col,
                "So sánh trên số liệu chưa đầy đủ (kỳ này hoặc cùng kỳ năm trước thiếu số liệu): chỉ để tham khảo.",
            )?;
        }
        None => {
            sheet.write_string_with_format(row, col, "–", &s.center)?;
        }
    }
    Ok(())
}

fn form_sheet(sheet: &mut Worksheet, data: &ReportData<'_>, s: &Styles) -> Result<(), XlsxError> {
    let settings = data.settings;
    let province = &settings.config.province;
    let form = data.form;
    sheet.set_name(FORM_SHEET)?;
    let columns = UnitColumns::new(data);
    let first_unit = columns.first;
    let last_col = first_unit + data.units.len().max(1) as u16 - 1;
    sheet.merge_range(0, 0, 0, 2, &province.people_committee, &s.bold_center)?;
    sheet.merge_range(1, 0, 1, 2, &province.agency, &s.bold_center)?;
    sheet.merge_range(0, 4, 0, 7, "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", &s.bold_center)?;
    sheet.merge_range(1, 4, 1, 7, "Độc lập - Tự do - Hạnh phúc", &s.bold_center)?;
    sheet.merge_range(
        3,
        0,
        3,
        7,
        "BÁO CÁO THỐNG KÊ KẾT QUẢ CÔNG TÁC PHÒNG, CHỐNG MẠI DÂM",
        &s.title,
    )?;
    sheet.merge_range(
        4,
        0,
        4,
        7,
        &format!("(Biểu số {} - cấp tỉnh)", form.consolidated_code),
        &s.italic_center,
    )?;
    sheet.merge_range(5, 0, 5, 7, &data.period.vietnamese(), &s.bold_center)?;
    sheet.merge_range(
        6,
        0,
        6,
        7,
        &format!("Kính gửi: {}", province.recipient),
        &s.italic_center,
    )?;

    let headers = [
        "STT",
        "Chỉ tiêu",
        "Mã số",
        "Đơn vị tính",
        "Toàn tỉnh",
        "Lũy kế từ đầu năm",
        "Cùng kỳ năm trước",
        "So sánh (%)",
    ];
    for (col, h) in headers.iter().enumerate() {
        sheet.write_string_with_format(HEADER_ROW, col as u16, *h, &s.header)?;
    }
    if let Some(t) = &data.territory {
        let former = t.change.former_label();
        for (i, what) in ["kỳ này", "lũy kế từ đầu năm", "cùng kỳ năm trước", "so sánh (%)"]
            .iter()
            .enumerate()
        {
            let col = FIRST_UNIT_COL + i as u16;
            sheet.write_string_with_format(HEADER_ROW, col, format!("Địa bàn {former}: {what}"), &s.header)?;
            sheet.set_column_width(col, 12)?;
        }
        let last_fixed = FIRST_UNIT_COL + 3;
        sheet.merge_range(
            HEADER_ROW - 1,
            0,
            HEADER_ROW - 1,
            last_fixed,
            &t.change.explanation(),
            &s.note,
        )?;
        sheet.set_row_height(HEADER_ROW - 1, 105)?;
    }
    for (i, unit) in data.units.iter().enumerate() {
        let col = columns.col(i);
        sheet.write_string_with_format(HEADER_ROW, col, format!("{} - {}", unit.code, unit.name), &s.header)?;
        sheet.set_column_width(col, 13)?;
    }
    for (label, first, last) in &columns.groups {
        if first == last {
            sheet.write_string_with_format(HEADER_ROW - 1, *first, label, &s.header)?;
        } else {
            sheet.merge_range(HEADER_ROW - 1, *first, HEADER_ROW - 1, *last, label, &s.header)?;
        }
    }
    sheet.set_row_height(HEADER_ROW, 45)?;
    for (col, width) in [
        (0u16, 5.0),
        (1, 48.0),
        (2, 8.0),
        (3, 10.0),
        (4, 13.0),
        (5, 13.0),
        (6, 13.0),
        (7, 10.0),
    ] {
        sheet.set_column_width(col, width)?;
    }

    let mut row = HEADER_ROW + 1;
    let mut section = String::new();
    let mut stt = 0;
    for (l, line) in form.lines.iter().enumerate() {
        if line.section != section {
            section = line.section.clone();
            let title = form
                .sections
                .iter()
                .find(|x| x.id == section)
                .map(|x| x.title.clone())
                .unwrap_or_default();
            sheet.write_string_with_format(row, 0, &section, &s.section)?;
            sheet.write_string_with_format(row, 1, &title, &s.section)?;
            for col in 2..=last_col {
                sheet.write_blank(row, col, &s.section)?;
            }
            row += 1;
        }
        if line.parent.is_none() {
            stt += 1;
            sheet.write_number_with_format(row, 0, f64::from(stt), &s.center)?;
        } else {
            sheet.write_blank(row, 0, &s.center)?;
        }
        sheet.write_string_with_format(row, 1, &line.label, &s.text)?;
        sheet.write_string_with_format(row, 2, &line.code, &s.center)?;
        sheet.write_string_with_format(row, 3, &line.unit, &s.center)?;
        // Viewers do not grow rows for wrapped text written by a generator.
        let text_lines = line.label.chars().count().div_ceil(52).max(1);
        if text_lines > 1 {
            sheet.set_row_height(row, 15.0 * text_lines as f64)?;
        }

        // District columns.
        for u in 0..data.units.len() {
            let col = columns.col(u);
            let gaps = data.current.gaps(l, u);
            write_figure(
                sheet,
                (row, col),
                data.current.unit(l, u),
                line.kind,
                || gaps.vietnamese(),
                s,
            )?;
        }
        // Province: a SUM formula over the unit cells, its result stored.
        let is_flow = line.agg == Agg::Sum;
        let territory_gap = |lacking: &[Period]| -> Option<String> {
            let t = data.territory.as_ref()?;
            (is_flow && !lacking.is_empty()).then(|| t.change.lacking_note(lacking))
        };
        let province = data.current.province[l];
        let why_now = reason(
            &data.current.lacking(l),
            territory_gap(data.territory.as_ref().map_or(&[][..], |t| &t.lacking_this[..])),
        );
        match province.value {
            Some(v) if province.applies => {
                let formula = format!(
                    "=SUM({}{}:{}{})",
                    column_letter(first_unit),
                    row + 1,
                    column_letter(last_col),
                    row + 1
                );
                sheet.write_formula_with_format(
                    row,
                    4,
                    Formula::new(formula).set_result(format_result(v)),
                    s.number(line.kind, province.complete),
                )?;
                if !province.complete {
                    note(sheet, row, 4, &format!("Số liệu chưa đầy đủ: {why_now}."))?;
                }
            }
            _ => write_figure(sheet, (row, 4), province, line.kind, || why_now.clone(), s)?,
        }
        if line.ytd {
            let why_ytd = reason(
                &data.year_to_date.lacking(l),
                territory_gap(data.territory.as_ref().map_or(&[][..], |t| &t.lacking_ytd[..])),
            );
            write_figure(
                sheet,
                (row, 5),
                data.year_to_date.province[l],
                line.kind,
                || format!("lũy kế từ đầu năm, {why_ytd}"),
                s,
            )?;
        } else {
            sheet.write_blank(row, 5, &s.shaded)?;
        }
        match &data.territory {
            Some(t) if !t.last_year_comparable => {
                // The new province has no history here for its other part:
                // "–", never the smaller territory's figure under its name.
                sheet.write_string_with_format(row, 6, "–", &s.center)?;
                note(
                    sheet,
                    row,
                    6,
                    &format!(
                        "Không so sánh được: cùng kỳ năm trước thuộc {}, địa bàn khác với {} hiện nay. Xem cột \"Địa bàn {}: cùng kỳ năm trước\".",
                        t.change.former.name,
                        t.change.current.name,
                        t.change.former_label()
                    ),
                )?;
                sheet.write_string_with_format(row, 7, "–", &s.center)?;
            }
            _ => {
                let before = data.last_year.province[l];
                let lacking_before = data.last_year.lacking(l);
                write_figure(
                    sheet,
                    (row, 6),
                    before,
                    line.kind,
                    || format!("cùng kỳ năm trước, {}", lacking_units(&lacking_before)),
                    s,
                )?;
                write_change(sheet, (row, 7), province, before, s)?;
            }
        }
        if let Some(t) = &data.territory {
            let col = FIRST_UNIT_COL;
            let former = |figures: &crate::report::consolidate::Figures| figures.province[l];
            let lacking = |figures: &crate::report::consolidate::Figures| lacking_units(&figures.lacking(l));
            write_figure(
                sheet,
                (row, col),
                former(&t.current),
                line.kind,
                || lacking(&t.current),
                s,
            )?;
            if line.ytd {
                write_figure(
                    sheet,
                    (row, col + 1),
                    former(&t.year_to_date),
                    line.kind,
                    || lacking(&t.year_to_date),
                    s,
                )?;
            } else {
                sheet.write_blank(row, col + 1, &s.shaded)?;
            }
            write_figure(
                sheet,
                (row, col + 2),
                former(&t.last_year),
                line.kind,
                || lacking(&t.last_year),
                s,
            )?;
            write_change(sheet, (row, col + 3), former(&t.current), former(&t.last_year), s)?;
        }
        row += 1;
    }

    row += 1;
    sheet.merge_range(
        row,
        4,
        row,
        7,
        &format!("{}, ngày ..... tháng ..... năm .......", province.place),
        &s.italic_center,
    )?;
    row += 1;
    sheet.write_string_with_format(row, 1, "Người lập biểu", &s.bold_center)?;
    sheet.merge_range(row, 4, row, 7, "Thủ trưởng đơn vị", &s.bold_center)?;
    row += 1;
    sheet.write_string_with_format(row, 1, "(Ký, ghi rõ họ tên)", &s.italic_center)?;
    sheet.merge_range(row, 4, row, 7, "(Ký, họ tên, đóng dấu)", &s.italic_center)?;

    sheet.set_paper_size(9);
    sheet.set_landscape();
    if data.units.len() > MAX_UNITS_ONE_PAGE {
        // Too many columns for one page width to stay legible: print at a
        // fixed scale, the labels repeated on every page, a page per group
        // of units (split only when a group alone is too wide).
        sheet.set_repeat_columns(0, 3)?;
        sheet.set_print_scale(55);
        let breaks: Vec<u32> = columns.page_breaks().into_iter().map(u32::from).collect();
        sheet.set_vertical_page_breaks(&breaks)?;
    } else {
        sheet.set_print_fit_to_pages(1, 0);
    }
    sheet.set_repeat_rows(HEADER_ROW, HEADER_ROW)?;
    sheet.set_freeze_panes(HEADER_ROW + 1, 4)?;
    sheet.set_footer("&CTrang &P/&N");
    Ok(())
}

/// The stored result text of a formula: whole numbers without a decimal point.
fn format_result(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{}", (v * 1000.0).round() / 1000.0)
    }
}

fn plan_sheet(sheet: &mut Worksheet, data: &ReportData<'_>, s: &Styles) -> Result<(), XlsxError> {
    sheet.set_name(PLAN_SHEET)?;
    let plan = &data.settings.plan;
    let year = data.period.year();
    sheet.write_string_with_format(0, 0, "TIẾN ĐỘ THỰC HIỆN KẾ HOẠCH", &s.bold)?;
    sheet.write_string_with_format(1, 0, format!("{} ({})", plan.name, plan.decision), &s.base)?;
    sheet.write_string_with_format(2, 0, format!("Kỳ: {}", data.period.vietnamese()), &s.base)?;
    if !plan.covers(year) {
        sheet.write_string_with_format(
            3,
            0,
            format!(
                "Lưu ý: kế hoạch {}–{} không bao gồm năm {year}; không có kế hoạch nào của đơn vị áp dụng cho kỳ này. Các tỷ lệ dưới đây so với mục tiêu của kế hoạch đó, chỉ để tham khảo.",
                plan.first_year, plan.last_year
            ),
            &s.bold,
        )?;
    }

    let header_row = 4;
    let headers = [
        "Mã",
        "Chỉ tiêu",
        "Công thức",
        "Mục tiêu (%)",
        "Toàn tỉnh (%)",
        "Đánh giá",
    ];
    for (col, h) in headers.iter().enumerate() {
        sheet.write_string_with_format(header_row, col as u16, *h, &s.header)?;
    }
    for (i, unit) in data.units.iter().enumerate() {
        sheet.write_string_with_format(
            header_row,
            6 + i as u16,
            format!("{} - {}", unit.code, unit.name),
            &s.header,
        )?;
        sheet.set_column_width(6 + i as u16, 12)?;
    }
    let mut row = header_row + 1;
    for PlanRatio { target, ratio, verdict } in &data.ratios {
        sheet.write_string_with_format(row, 0, &target.id, &s.center)?;
        sheet.write_string_with_format(row, 1, &target.label, &s.text)?;
        sheet.write_string_with_format(
            row,
            2,
            format!("{} / {}", target.numerator, target.denominator),
            &s.center,
        )?;
        match target.target {
            Some(t) => sheet.write_number_with_format(row, 3, t, &s.pct)?,
            None => sheet.write_string_with_format(row, 3, "(theo dõi)", &s.center)?,
        };
        let province_complete = ratio.province_complete();
        match ratio.province {
            Some(p) if province_complete => sheet.write_number_with_format(row, 4, p, &s.pct)?,
            Some(p) => sheet.write_number_with_format(row, 4, p, &s.incomplete_pct)?,
            None if province_complete => sheet.write_string_with_format(row, 4, "–", &s.center)?,
            None => sheet.write_string_with_format(row, 4, "–", &s.incomplete_pct)?,
        };
        if !province_complete {
            note(
                sheet,
                row,
                4,
                &format!(
                    "Tỷ lệ tính trên số liệu chưa đầy đủ: {}.",
                    lacking_units(&ratio.lacking)
                ),
            )?;
        }
        let verdict_format = if *verdict == Verdict::Insufficient {
            &s.incomplete_pct
        } else {
            &s.center
        };
        sheet.write_string_with_format(row, 5, verdict.vietnamese(), verdict_format)?;
        for (u, value) in ratio.units.iter().enumerate() {
            let col = 6 + u as u16;
            let complete = ratio.units_complete.get(u).copied().unwrap_or(false);
            let format = if complete { &s.pct } else { &s.incomplete_pct };
            match value {
                Some(p) => sheet.write_number_with_format(row, col, *p, format)?,
                None => sheet.write_string_with_format(row, col, "–", format)?,
            };
            if !complete {
                note(sheet, row, col, "Tỷ lệ tính trên số liệu chưa đầy đủ của đơn vị.")?;
            }
        }
        if let Some(t) = target.target {
            let (good_rule, bad_rule) = match target.comparison {
                Comparison::Above => (
                    ConditionalFormatCellRule::GreaterThan(t),
                    ConditionalFormatCellRule::LessThanOrEqualTo(t),
                ),
                _ => (
                    ConditionalFormatCellRule::GreaterThanOrEqualTo(t),
                    ConditionalFormatCellRule::LessThan(t),
                ),
            };
            let good = ConditionalFormatCell::new().set_rule(good_rule).set_format(&s.good);
            let bad = ConditionalFormatCell::new().set_rule(bad_rule).set_format(&s.bad);
            // Only complete figures are coloured met / not met: an incomplete
            // one keeps its shading.
            let mut complete_cols: Vec<u16> = Vec::new();
            if province_complete {
                complete_cols.push(4);
            }
            for (u, complete) in ratio.units_complete.iter().enumerate() {
                if *complete {
                    complete_cols.push(6 + u as u16);
                }
            }
            for (first, last) in runs(&complete_cols) {
                sheet.add_conditional_format(row, first, row, last, &good)?;
                sheet.add_conditional_format(row, first, row, last, &bad)?;
            }
        }
        row += 1;
    }
    sheet.write_string_with_format(
        row,
        1,
        "Tỷ lệ tính từ tử số và mẫu số đã cộng dồn, không lấy trung bình; \"–\": mẫu số bằng 0 hoặc chưa có số liệu. Ô tô màu: số liệu chưa đầy đủ; \"Chưa đủ số liệu\": phần còn thiếu có thể làm thay đổi đánh giá.",
        &s.base,
    )?;

    row += 2;
    let (p6_id, p6_label, p6_target) = match &plan.budget_indicator {
        Some(b) => (format!("{} - ", b.id), b.label.clone(), Some(b.target)),
        None => (String::new(), "Kinh phí thực hiện so với kế hoạch".to_string(), None),
    };
    sheet.write_string_with_format(
        row,
        0,
        format!("{p6_id}{} (triệu đồng), năm {year}", p6_label.to_uppercase()),
        &s.bold,
    )?;
    if let Some(t) = p6_target {
        row += 1;
        sheet.write_string_with_format(row, 0, format!("Mức tham chiếu: {t}% kế hoạch."), &s.base)?;
    }
    row += 1;
    let headers = [
        "Nhóm",
        "Nhiệm vụ",
        "Mã số",
        &format!("Kế hoạch năm {year}") as &str,
        "Thực hiện từ đầu năm",
        "Tỷ lệ (%)",
        &format!("Kế hoạch {}–{}", plan.first_year, plan.last_year.min(year)) as &str,
        "Thực hiện lũy kế",
        "Tỷ lệ lũy kế (%)",
    ];
    for (col, h) in headers.iter().enumerate() {
        sheet.write_string_with_format(row, col as u16, *h, &s.header)?;
    }
    row += 1;
    let spending_note =
        || "kinh phí chưa báo cáo đủ (tháng thiếu báo cáo hoặc ô để trống); không tính là 0".to_string();
    let write_budget_row = |sheet: &mut Worksheet,
                            row: u32,
                            planned_year: Option<f64>,
                            spent_year: Figure,
                            planned_cumulative: f64,
                            spent_cumulative: Figure|
     -> Result<(), XlsxError> {
        match planned_year {
            Some(p) => sheet.write_number_with_format(row, 3, p, &s.money)?,
            None => sheet.write_string_with_format(row, 3, "–", &s.center)?,
        };
        write_figure(sheet, (row, 4), spent_year, LineKind::Money, spending_note, s)?;
        write_percent(
            sheet,
            (row, 5),
            percent_of(spent_year.value, planned_year),
            spent_year.complete,
            s,
        )?;
        sheet.write_number_with_format(row, 6, planned_cumulative, &s.money)?;
        write_figure(sheet, (row, 7), spent_cumulative, LineKind::Money, spending_note, s)?;
        write_percent(
            sheet,
            (row, 8),
            percent_of(spent_cumulative.value, Some(planned_cumulative)),
            spent_cumulative.complete,
            s,
        )
    };
    for b in &data.budget {
        sheet.write_number_with_format(row, 0, f64::from(b.group), &s.center)?;
        sheet.write_string_with_format(row, 1, &b.label, &s.text)?;
        sheet.write_string_with_format(row, 2, &b.line, &s.center)?;
        write_budget_row(
            sheet,
            row,
            b.planned_year,
            b.spent_year,
            b.planned_cumulative,
            b.spent_cumulative,
        )?;
        row += 1;
    }
    sheet.write_string_with_format(row, 1, "Tổng cộng", &s.section)?;
    let planned_year: Option<f64> = data.budget.iter().map(|b| b.planned_year).sum::<Option<f64>>();
    write_budget_row(
        sheet,
        row,
        planned_year,
        Figure::sum(data.budget.iter().map(|b| &b.spent_year)),
        data.budget.iter().map(|b| b.planned_cumulative).sum(),
        Figure::sum(data.budget.iter().map(|b| &b.spent_cumulative)),
    )?;
    if !plan.covers(year) {
        row += 1;
        sheet.write_string_with_format(
            row,
            1,
            format!("Kế hoạch không bao gồm năm {year}: lũy kế tính cho cả giai đoạn kế hoạch."),
            &s.base,
        )?;
    }
    for (col, width) in [
        (0u16, 6.0),
        (1, 55.0),
        (2, 10.0),
        (3, 14.0),
        (4, 14.0),
        (5, 10.0),
        (6, 14.0),
        (7, 14.0),
        (8, 12.0),
    ] {
        sheet.set_column_width(col, width)?;
    }
    sheet.set_landscape();
    sheet.set_paper_size(9);
    sheet.set_print_fit_to_pages(1, 0);
    Ok(())
}

/// Runs of consecutive columns: `[4, 6, 7, 8, 10]` → `(4,4) (6,8) (10,10)`.
fn runs(cols: &[u16]) -> Vec<(u16, u16)> {
    let mut out: Vec<(u16, u16)> = Vec::new();
    for &c in cols {
        match out.last_mut() {
            Some((_, last)) if *last + 1 == c => *last = c,
            _ => out.push((c, c)),
        }
    }
    out
}

/// `spent / planned × 100`; `None` without a plan or spending.
fn percent_of(spent: Option<f64>, planned: Option<f64>) -> Option<f64> {
    match (spent, planned) {
        (Some(s), Some(p)) if p > 0.0 => Some(s / p * 100.0),
        _ => None,
    }
}

fn write_percent(
    sheet: &mut Worksheet,
    (row, col): (u32, u16),
    percent: Option<f64>,
    complete: bool,
    s: &Styles,
) -> Result<(), XlsxError> {
    let format = if complete { &s.pct } else { &s.incomplete_pct };
    match percent {
        Some(p) => sheet.write_number_with_format(row, col, p, format)?,
        None => sheet.write_string_with_format(row, col, "–", format)?,
    };
    Ok(())
}

fn completeness_sheet(sheet: &mut Worksheet, data: &ReportData<'_>, s: &Styles) -> Result<(), XlsxError> {
    sheet.set_name(COMPLETENESS_SHEET)?;
    sheet.write_string_with_format(
        0,
        0,
        format!("TÌNH HÌNH NỘP BÁO CÁO - {}", data.period.vietnamese()),
        &s.bold,
    )?;
    let r: &Rates = &data.rates;
    let pct = |part, whole| Rates::percent(part, whole).map_or("–".to_string(), |p| format!("{p:.1}%"));
    let summary = [
        ("Số báo cáo phải nộp", r.expected.to_string()),
        (
            "Đã nhận (được chấp nhận)",
            format!("{} ({})", r.received, pct(r.received, r.expected)),
        ),
        ("Đúng hạn", format!("{} ({})", r.on_time, pct(r.on_time, r.expected))),
        ("Muộn", r.late.to_string()),
        ("Chỉ có bản bị từ chối", r.rejected_only.to_string()),
        ("Số lần gửi lại", r.revisions.to_string()),
    ];
    for (i, (label, value)) in summary.iter().enumerate() {
        sheet.write_string_with_format(1 + i as u32, 0, *label, &s.bold)?;
        sheet.write_string_with_format(1 + i as u32, 2, value, &s.base)?;
    }
    let header_row = 8;
    let headers = [
        "Mã ĐV",
        "Đơn vị",
        "Tháng",
        "Tình trạng",
        "Hạn nộp",
        "Ngày nhận",
        "Đúng hạn / muộn",
        "Số ngày muộn",
        "Kết quả kiểm tra",
        "Số lần gửi lại",
        "Tệp gần nhất",
    ];
    for (col, h) in headers.iter().enumerate() {
        sheet.write_string_with_format(header_row, col as u16, *h, &s.header)?;
    }
    let mut row = header_row + 1;
    for st in &data.statuses {
        sheet.write_string_with_format(row, 0, &st.unit_code, &s.center)?;
        sheet.write_string_with_format(row, 1, &st.unit_name, &s.text)?;
        sheet.write_string_with_format(row, 2, st.month.to_string(), &s.center)?;
        let state_format = if st.is_received() { &s.text } else { &s.incomplete_int };
        sheet.write_string_with_format(row, 3, st.state_vietnamese(), state_format)?;
        sheet.write_string_with_format(row, 4, st.deadline.format("%d/%m/%Y").to_string(), &s.center)?;
        sheet.write_string_with_format(
            row,
            5,
            st.accepted_on
                .map(|d| d.format("%d/%m/%Y").to_string())
                .unwrap_or_default(),
            &s.center,
        )?;
        let timely = match st.days_late {
            Some(0) => "Đúng hạn",
            Some(_) => "Muộn",
            None => "",
        };
        sheet.write_string_with_format(row, 6, timely, &s.center)?;
        match st.days_late {
            Some(d) if d > 0 => sheet.write_number_with_format(row, 7, d as f64, &s.int)?,
            _ => sheet.write_blank(row, 7, &s.int)?,
        };
        sheet.write_string_with_format(row, 8, st.latest_status.map(|x| x.vietnamese()).unwrap_or(""), &s.text)?;
        sheet.write_number_with_format(row, 9, st.revisions() as f64, &s.int)?;
        sheet.write_string_with_format(row, 10, st.latest_file.as_deref().unwrap_or(""), &s.text)?;
        row += 1;
    }

    // Figures that are incomplete, one line each.
    row += 1;
    sheet.write_string_with_format(row, 0, "CHỈ TIÊU TOÀN TỈNH CHƯA ĐỦ SỐ LIỆU", &s.bold)?;
    row += 1;
    for (col, h) in ["Mã số", "Chỉ tiêu", "Đơn vị thiếu số liệu"].iter().enumerate() {
        sheet.write_string_with_format(row, col as u16, *h, &s.header)?;
    }
    row += 1;
    let mut any = false;
    for (l, line) in data.form.lines.iter().enumerate() {
        let province = data.current.province[l];
        if province.complete || !province.applies {
            continue;
        }
        any = true;
        sheet.write_string_with_format(row, 0, &line.code, &s.center)?;
        sheet.write_string_with_format(row, 1, &line.label, &s.text)?;
        sheet.write_string_with_format(row, 2, lacking_by_gap(data, l), &s.text)?;
        row += 1;
    }
    if !any {
        sheet.write_string_with_format(row, 1, "Mọi chỉ tiêu đều đủ số liệu.", &s.base)?;
    }
    for (col, width) in [
        (0u16, 8.0),
        (1, 30.0),
        (2, 10.0),
        (3, 14.0),
        (4, 12.0),
        (5, 12.0),
        (6, 12.0),
        (7, 10.0),
        (8, 22.0),
        (9, 10.0),
        (10, 40.0),
    ] {
        sheet.set_column_width(col, width)?;
    }
    sheet.set_freeze_panes(header_row + 1, 0)?;
    sheet.set_landscape();
    sheet.set_paper_size(9);
    sheet.set_print_fit_to_pages(1, 0);
    Ok(())
}

fn communes_sheet(sheet: &mut Worksheet, data: &ReportData<'_>, s: &Styles) -> Result<(), XlsxError> {
    sheet.set_name(COMMUNES_SHEET)?;
    sheet.write_string_with_format(
        0,
        0,
        format!("DANH SÁCH XÃ, PHƯỜNG, THỊ TRẤN - tháng {}", data.period.last_month()),
        &s.bold,
    )?;
    let flags = &data.form.commune_flags;
    let header_row = 2;
    let mut headers = vec!["Mã ĐV".to_string(), "Đơn vị".into(), "Mã xã".into(), "Tên xã".into()];
    headers.extend(flags.iter().map(|f| f.header.clone()));
    for (col, h) in headers.iter().enumerate() {
        sheet.write_string_with_format(header_row, col as u16, h, &s.header)?;
    }
    let mut row = header_row + 1;
    for (unit_code, list) in &data.communes {
        let name = data
            .units
            .iter()
            .find(|u| &u.code == unit_code)
            .map(|u| u.name.clone())
            .unwrap_or_default();
        if list.is_empty() {
            sheet.write_string_with_format(row, 0, unit_code, &s.center)?;
            sheet.write_string_with_format(row, 1, &name, &s.text)?;
            sheet.write_string_with_format(row, 3, "(chưa có báo cáo được chấp nhận)", &s.text)?;
            row += 1;
            continue;
        }
        let mut communes: Vec<(&str, &str)> = list
            .iter()
            .map(|f| (f.commune.as_str(), f.commune_name.as_str()))
            .collect();
        communes.dedup();
        for (code, commune_name) in communes {
            sheet.write_string_with_format(row, 0, unit_code, &s.center)?;
            sheet.write_string_with_format(row, 1, &name, &s.text)?;
            sheet.write_string_with_format(row, 2, code, &s.center)?;
            sheet.write_string_with_format(row, 3, commune_name, &s.text)?;
            for (i, flag) in flags.iter().enumerate() {
                let on = list.iter().any(|f| f.commune == code && f.flag == flag.key && f.value);
                sheet.write_string_with_format(row, 4 + i as u16, if on { "x" } else { "" }, &s.center)?;
            }
            row += 1;
        }
    }
    sheet.set_column_width(1, 24)?;
    sheet.set_column_width(3, 28)?;
    for i in 0..flags.len() {
        sheet.set_column_width(4 + i as u16, 16)?;
    }
    sheet.set_freeze_panes(header_row + 1, 0)?;
    sheet.set_paper_size(9);
    sheet.set_print_fit_to_pages(1, 0);
    Ok(())
}

fn warnings_sheet(sheet: &mut Worksheet, data: &ReportData<'_>, s: &Styles) -> Result<(), XlsxError> {
    sheet.set_name(WARNINGS_SHEET)?;
    sheet.write_string_with_format(0, 0, "CẢNH BÁO TRONG CÁC BÁO CÁO ĐƯỢC CHẤP NHẬN", &s.bold)?;
    let headers = ["Mã ĐV", "Tháng", "Tệp", "Trang", "Ô", "Mã số", "Quy tắc", "Nội dung"];
    for (col, h) in headers.iter().enumerate() {
        sheet.write_string_with_format(2, col as u16, *h, &s.header)?;
    }
    let mut row = 3;
    for (submission, f) in &data.warnings {
        sheet.write_string_with_format(row, 0, submission.unit_code.as_deref().unwrap_or(""), &s.center)?;
        sheet.write_string_with_format(
            row,
            1,
            submission.period.map(|p| p.to_string()).unwrap_or_default(),
            &s.center,
        )?;
        sheet.write_string_with_format(row, 2, &submission.file_name, &s.text)?;
        sheet.write_string_with_format(row, 3, f.location.sheet.as_deref().unwrap_or(""), &s.center)?;
        sheet.write_string_with_format(row, 4, f.location.cell.as_deref().unwrap_or(""), &s.center)?;
        sheet.write_string_with_format(row, 5, f.location.line.as_deref().unwrap_or(""), &s.center)?;
        sheet.write_number_with_format(row, 6, f64::from(f.rule), &s.int)?;
        sheet.write_string_with_format(row, 7, &f.message_vi, &s.text)?;
        row += 1;
    }
    if data.warnings.is_empty() {
        sheet.write_string_with_format(row, 2, "Không có cảnh báo.", &s.base)?;
    }
    for (col, width) in [
        (0u16, 8.0),
        (1, 9.0),
        (2, 36.0),
        (3, 9.0),
        (4, 7.0),
        (5, 8.0),
        (6, 8.0),
        (7, 80.0),
    ] {
        sheet.set_column_width(col, width)?;
    }
    sheet.set_landscape();
    sheet.set_paper_size(9);
    sheet.set_print_fit_to_pages(1, 0);
    Ok(())
}

fn charts_sheet(sheet: &mut Worksheet, data: &ReportData<'_>, s: &Styles) -> Result<(), XlsxError> {
    sheet.set_name(CHARTS_SHEET)?;
    // The data behind the charts, on the sheet itself.
    sheet.write_string_with_format(0, 0, "Tháng", &s.header)?;
    for (i, code) in TREND_LINES.iter().enumerate() {
        let label = data.form.line(code).map_or("", |l| l.label.as_str());
        sheet.write_string_with_format(0, 1 + i as u16, format!("{code} {label}"), &s.header)?;
    }
    for (r, (month, values)) in data.trend.iter().enumerate() {
        let row = 1 + r as u32;
        sheet.write_string_with_format(row, 0, month.to_string(), &s.center)?;
        for (i, figure) in values.iter().enumerate() {
            write_figure(
                sheet,
                (row, 1 + i as u16),
                *figure,
                LineKind::Int,
                || format!("tổng toàn tỉnh tháng {month} thiếu số liệu của một số đơn vị"),
                s,
            )?;
        }
    }
    let trend_rows = data.trend.len() as u32;

    let p2 = data
        .ratios
        .iter()
        .find(|r| r.target.numerator == "D02" && r.target.denominator == "D01");
    let rate_row = trend_rows + 3;
    sheet.write_string_with_format(rate_row, 0, "Đơn vị", &s.header)?;
    sheet.write_string_with_format(rate_row, 1, "Tỷ lệ xã lành mạnh (%)", &s.header)?;
    sheet.write_string_with_format(rate_row, 2, "Mục tiêu (%)", &s.header)?;
    let target = p2.and_then(|r| r.target.target);
    for (i, unit) in data.units.iter().enumerate() {
        let row = rate_row + 1 + i as u32;
        sheet.write_string_with_format(row, 0, format!("{} {}", unit.code, unit.name), &s.text)?;
        let complete = p2.is_some_and(|r| r.ratio.units_complete.get(i).copied().unwrap_or(false));
        let format = if complete { &s.pct } else { &s.incomplete_pct };
        match p2.and_then(|r| r.ratio.units.get(i).copied().flatten()) {
            Some(v) => sheet.write_number_with_format(row, 1, v, format)?,
            None => sheet.write_blank(row, 1, format)?,
        };
        if !complete {
            note(sheet, row, 1, "Tỷ lệ tính trên số liệu chưa đầy đủ của đơn vị.")?;
        }
        match target {
            Some(t) => sheet.write_number_with_format(row, 2, t, &s.pct)?,
            None => sheet.write_blank(row, 2, &s.pct)?,
        };
    }
    let units = data.units.len() as u32;

    let budget_row = rate_row + units + 3;
    sheet.write_string_with_format(budget_row, 0, "Nhóm nhiệm vụ", &s.header)?;
    sheet.write_string_with_format(budget_row, 1, "Kế hoạch năm", &s.header)?;
    sheet.write_string_with_format(budget_row, 2, "Thực hiện", &s.header)?;
    for (i, b) in data.budget.iter().enumerate() {
        let row = budget_row + 1 + i as u32;
        sheet.write_string_with_format(row, 0, format!("Nhóm {} ({})", b.group, b.line), &s.text)?;
        // Blank, never 0, where the plan or the spending is not known.
        match b.planned_year {
            Some(p) => sheet.write_number_with_format(row, 1, p, &s.money)?,
            None => sheet.write_blank(row, 1, &s.money)?,
        };
        write_figure(
            sheet,
            (row, 2),
            b.spent_year,
            LineKind::Money,
            || "kinh phí chưa báo cáo đủ; không tính là 0".to_string(),
            s,
        )?;
    }
    let groups = data.budget.len() as u32;
    sheet.set_column_width(0, 30)?;
    for col in 1..=3 {
        sheet.set_column_width(col, 16)?;
    }

    let mut trend = Chart::new(ChartType::Line);
    let trend_title = match &data.trend_change {
        Some(change) => format!(
            "Diễn biến 12 tháng: kiểm tra, vi phạm, hỗ trợ (địa bàn {}, so sánh được qua ngày {})",
            change.former_label(),
            change.changed_on.format("%d/%m/%Y")
        ),
        None => "Diễn biến 12 tháng: kiểm tra, vi phạm, hỗ trợ".to_string(),
    };
    trend.title().set_name(&trend_title);
    for i in 0..TREND_LINES.len() as u16 {
        trend
            .add_series()
            .set_name((CHARTS_SHEET, 0, 1 + i))
            .set_categories((CHARTS_SHEET, 1, 0, trend_rows.max(1), 0))
            .set_values((CHARTS_SHEET, 1, 1 + i, trend_rows.max(1), 1 + i));
    }
    trend.set_width(720).set_height(300);
    sheet.insert_chart(0, 5, &trend)?;

    let mut rates = Chart::new(ChartType::Column);
    rates.title().set_name("Tỷ lệ xã lành mạnh theo đơn vị so với mục tiêu");
    rates
        .add_series()
        .set_name((CHARTS_SHEET, rate_row, 1))
        .set_categories((CHARTS_SHEET, rate_row + 1, 0, rate_row + units.max(1), 0))
        .set_values((CHARTS_SHEET, rate_row + 1, 1, rate_row + units.max(1), 1));
    let mut target_line = Chart::new(ChartType::Line);
    target_line
        .add_series()
        .set_name((CHARTS_SHEET, rate_row, 2))
        .set_categories((CHARTS_SHEET, rate_row + 1, 0, rate_row + units.max(1), 0))
        .set_values((CHARTS_SHEET, rate_row + 1, 2, rate_row + units.max(1), 2));
    rates.combine(&target_line);
    rates.set_width(720).set_height(300);
    sheet.insert_chart(16, 5, &rates)?;

    let mut budget = Chart::new(ChartType::Column);
    budget
        .title()
        .set_name("Kinh phí thực hiện so với kế hoạch, theo nhóm nhiệm vụ");
    for col in 1..=2u16 {
        budget
            .add_series()
            .set_name((CHARTS_SHEET, budget_row, col))
            .set_categories((CHARTS_SHEET, budget_row + 1, 0, budget_row + groups.max(1), 0))
            .set_values((CHARTS_SHEET, budget_row + 1, col, budget_row + groups.max(1), col));
    }
    budget.set_width(720).set_height(300);
    sheet.insert_chart(32, 5, &budget)?;
    sheet.set_landscape();
    sheet.set_paper_size(9);
    sheet.set_print_fit_to_pages(1, 0);
    Ok(())
}

fn sources_sheet(sheet: &mut Worksheet, data: &ReportData<'_>, s: &Styles) -> Result<(), XlsxError> {
    sheet.set_name(SOURCES_SHEET)?;
    sheet.write_string_with_format(0, 0, "NGUỒN SỐ LIỆU: CÁC BÁO CÁO ĐƯỢC SỬ DỤNG", &s.bold)?;
    let headers = ["Mã ĐV", "Tháng", "Tệp", "sha256", "Thời điểm nhận", "Kết quả"];
    for (col, h) in headers.iter().enumerate() {
        sheet.write_string_with_format(2, col as u16, *h, &s.header)?;
    }
    for (i, src) in data.sources.iter().enumerate() {
        let row = 3 + i as u32;
        sheet.write_string_with_format(row, 0, src.unit_code.as_deref().unwrap_or(""), &s.center)?;
        sheet.write_string_with_format(row, 1, src.period.map(|p| p.to_string()).unwrap_or_default(), &s.center)?;
        sheet.write_string_with_format(row, 2, &src.file_name, &s.text)?;
        sheet.write_string_with_format(row, 3, &src.sha256, &s.text)?;
        sheet.write_string_with_format(
            row,
            4,
            local_time_text(&src.received_at, data.settings.timezone),
            &s.center,
        )?;
        sheet.write_string_with_format(row, 5, src.status.vietnamese(), &s.text)?;
    }
    for (col, width) in [(0u16, 8.0), (1, 9.0), (2, 40.0), (3, 66.0), (4, 22.0), (5, 22.0)] {
        sheet.set_column_width(col, width)?;
    }
    sheet.set_landscape();
    sheet.set_paper_size(9);
    sheet.set_print_fit_to_pages(1, 0);
    Ok(())
}
