//! The district's return workbook, as the form document describes it: the
//! official header, labelled identification cells, the table of lines with
//! their `Mã số`, the commune sheet and the instructions. `baocao template`
//! writes it blank; `baocao synth` writes it filled (and, on request, with
//! planted faults), so both go through this one writer.
//!
//! Readers never rely on this layout: they find values by labels and codes.

use std::collections::BTreeMap;
use std::path::Path;

use rust_xlsxwriter::{
    Color, DataValidation, DataValidationErrorStyle, DataValidationRule, DocProperties, Format, FormatAlign,
    FormatBorder, FormatPattern, ProtectionOptions, Workbook, Worksheet, XlsxError,
};

use crate::config::ProvinceConfig;
use crate::domain::{Form, Level, LineKind, Period};
use crate::error::Error;

/// What is written in one input cell.
#[derive(Debug, Clone, PartialEq)]
pub enum CellInput {
    Blank,
    Number(f64),
    /// Text, as a district types a number into a text cell ("1.234", "5 người").
    Text(String),
    /// A formula saved without its computed result (a file never recalculated).
    FormulaWithoutResult(String),
    /// A formula whose stored result is an Excel error (`#REF!`, `#DIV/0!`).
    ErrorValue(String),
}

/// The identification cells, as text (synth may plant a wrong value).
#[derive(Debug, Clone, PartialEq)]
pub struct Identity {
    pub form_code: String,
    pub version: u32,
    /// Written as text (`"061"`) unless `unit_code_as_number`.
    pub unit_code: String,
    pub unit_code_as_number: bool,
    pub unit_name: String,
    /// The unit's level: a commune's return (from 1/7/2025) names the
    /// commune's office and the province's receiving agency in its header.
    pub level: Level,
    pub period: Period,
}

/// One commune row of the commune sheet.
#[derive(Debug, Clone, PartialEq)]
pub struct CommuneRow {
    pub code: String,
    pub name: String,
    /// One per form commune flag, in the form's order.
    pub flags: Vec<bool>,
}

/// Everything that goes into one return workbook.
#[derive(Debug, Clone)]
pub struct ReturnSpec<'a> {
    pub form: &'a Form,
    pub province: &'a ProvinceConfig,
    pub identity: Identity,
    /// Line code → (this period, year to date). Missing codes are blank.
    pub values: BTreeMap<String, (CellInput, CellInput)>,
    /// Lines left out of the table entirely (planted fault: a missing code).
    pub omit_lines: Vec<String>,
    /// Rows added after the last line: (code, label, value). Planted
    /// faults: a duplicated or unknown code.
    pub extra_lines: Vec<(String, String, CellInput)>,
    pub communes: Vec<CommuneRow>,
}

/// Where things were written, for manifests and tests.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Layout {
    pub sheet: String,
    /// Line code → (A1 cell of "Kỳ này", A1 cell of "Lũy kế").
    pub value_cells: BTreeMap<String, (String, String)>,
    pub commune_sheet: String,
    /// Commune code → row (1-based) on the commune sheet.
    pub commune_rows: BTreeMap<String, u32>,
    /// Flag key → column letter on the commune sheet.
    pub flag_columns: BTreeMap<String, String>,
    /// Label → A1 cell of the identification value.
    pub identity_cells: BTreeMap<String, String>,
    /// Extra rows: (code, A1 cell of the code, A1 cell of "Kỳ này").
    pub extra_cells: Vec<(String, String, String)>,
}

/// Row (0-based) of the table header in the generated workbook.
pub const TABLE_HEADER_ROW: u32 = 14;

const COL_STT: u16 = 0;
const COL_LABEL: u16 = 1;
const COL_CODE: u16 = 2;
const COL_UNIT: u16 = 3;
const COL_VALUE: u16 = 4;
const COL_YTD: u16 = 5;
const COL_NOTE: u16 = 6;

/// "E17" from 0-based row and column.
pub fn a1(row: u32, col: u16) -> String {
    crate::pipeline::read::a1(row, u32::from(col))
}

/// "A", "B", …, "AA" from a 0-based column.
pub fn column_letter(col: u16) -> String {
    crate::pipeline::read::column_letters(u32::from(col))
}

struct Styles {
    bold_center: Format,
    center: Format,
    italic_center: Format,
    title: Format,
    label: Format,
    id_value: Format,
    header: Format,
    section: Format,
    line_label: Format,
    cell: Format,
    cell_center: Format,
    input_int: Format,
    input_money: Format,
    input_text: Format,
    shaded: Format,
    wrap: Format,
}

impl Styles {
    fn new() -> Styles {
        let base = Format::new().set_font_name("Times New Roman").set_font_size(12);
        let border = base.clone().set_border(FormatBorder::Thin).set_text_wrap();
        Styles {
            bold_center: base.clone().set_bold().set_align(FormatAlign::Center),
            center: base.clone().set_align(FormatAlign::Center),
            italic_center: base.clone().set_italic().set_align(FormatAlign::Center),
            title: base
                .clone()
                .set_bold()
                .set_font_size(14)
                .set_align(FormatAlign::Center)
                .set_text_wrap(),
            label: base.clone().set_bold().set_align(FormatAlign::Right),
            id_value: base
                .clone()
                .set_border(FormatBorder::Thin)
                .set_background_color(Color::RGB(0xFFF2CC))
                .set_num_format("@"),
            header: border
                .clone()
                .set_bold()
                .set_align(FormatAlign::Center)
                .set_align(FormatAlign::VerticalCenter)
                .set_background_color(Color::RGB(0xD9E1F2)),
            section: border.clone().set_bold(),
            line_label: border.clone(),
            cell: border.clone(),
            cell_center: border.clone().set_align(FormatAlign::Center),
            input_int: border
                .clone()
                .set_unlocked()
                .set_num_format("#,##0")
                .set_background_color(Color::RGB(0xFFFFFF)),
            input_money: border
                .clone()
                .set_unlocked()
                .set_num_format("#,##0.000")
                .set_background_color(Color::RGB(0xFFFFFF)),
            input_text: border.clone().set_unlocked(),
            shaded: border
                .clone()
                .set_pattern(FormatPattern::Solid)
                .set_background_color(Color::RGB(0xBFBFBF)),
            wrap: base.clone().set_text_wrap().set_align(FormatAlign::Top),
        }
    }
}

fn xlsx(path: &Path) -> impl Fn(XlsxError) -> Error + '_ {
    move |e| Error::Workbook {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// Writes one return workbook to `path` (via a temporary file renamed into
/// place, so a crash never leaves half a workbook) and says where each value
/// went.
///
/// # Errors
/// [`Error::Workbook`] when rust_xlsxwriter refuses, [`Error::Io`] when the
/// file cannot be written.
pub fn write_return(path: &Path, spec: &ReturnSpec<'_>) -> Result<Layout, Error> {
    let (mut workbook, layout) = build_return(spec).map_err(xlsx(path))?;
    let bytes = workbook.save_to_buffer().map_err(xlsx(path))?;
    crate::atomic::write_atomically(path, crate::atomic::Content::Bytes(&bytes))?;
    Ok(layout)
}

fn build_return(spec: &ReturnSpec<'_>) -> Result<(Workbook, Layout), XlsxError> {
    let styles = Styles::new();
    let form = spec.form;
    let mut workbook = Workbook::new();
    workbook.set_properties(
        &DocProperties::new()
            .set_title(format!("Biểu {} - {}", form.code, spec.identity.unit_name))
            .set_company(spec.province.agency_for(spec.identity.level).to_string())
            .set_comment(format!(
                "{} {} {}",
                form.label(),
                spec.identity.unit_code,
                spec.identity.period
            )),
    );
    let mut layout = Layout {
        sheet: form.sheet.clone(),
        commune_sheet: form.commune_sheet.clone(),
        ..Layout::default()
    };

    let sheet = workbook.add_worksheet();
    sheet.set_name(&form.sheet)?;
    write_main_sheet(sheet, spec, &styles, &mut layout)?;

    let communes = workbook.add_worksheet();
    communes.set_name(&form.commune_sheet)?;
    write_commune_sheet(communes, spec, &styles, &mut layout)?;

    let help = workbook.add_worksheet();
    help.set_name(&form.instructions_sheet)?;
    write_instructions(help, spec, &styles)?;

    Ok((workbook, layout))
}

fn protection() -> ProtectionOptions {
    ProtectionOptions {
        select_locked_cells: true,
        select_unlocked_cells: true,
        format_columns: true,
        format_rows: true,
        ..ProtectionOptions::default()
    }
}

fn write_main_sheet(
    sheet: &mut Worksheet,
    spec: &ReturnSpec<'_>,
    s: &Styles,
    layout: &mut Layout,
) -> Result<(), XlsxError> {
    let form = spec.form;
    let id = &spec.identity;
    sheet.set_column_width(COL_STT, 6)?;
    sheet.set_column_width(COL_LABEL, 52)?;
    sheet.set_column_width(COL_CODE, 9)?;
    sheet.set_column_width(COL_UNIT, 12)?;
    sheet.set_column_width(COL_VALUE, 13)?;
    sheet.set_column_width(COL_YTD, 13)?;
    sheet.set_column_width(COL_NOTE, 16)?;

    let unit_header = format!("UBND {}", id.unit_name.to_uppercase());
    sheet.merge_range(0, COL_STT, 0, COL_LABEL, &unit_header, &s.bold_center)?;
    sheet.merge_range(
        1,
        COL_STT,
        1,
        COL_LABEL,
        spec.province.agency_for(id.level),
        &s.bold_center,
    )?;
    sheet.merge_range(
        0,
        COL_CODE,
        0,
        COL_NOTE,
        "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
        &s.bold_center,
    )?;
    sheet.merge_range(1, COL_CODE, 1, COL_NOTE, "Độc lập - Tự do - Hạnh phúc", &s.bold_center)?;
    sheet.merge_range(3, COL_STT, 3, COL_NOTE, &form.title, &s.title)?;
    let subtitle = match id.level {
        Level::Commune if !form.commune_subtitle.is_empty() => &form.commune_subtitle,
        _ => &form.subtitle,
    };
    sheet.merge_range(4, COL_STT, 4, COL_NOTE, subtitle, &s.italic_center)?;
    sheet.merge_range(5, COL_STT, 5, COL_NOTE, &id.period.vietnamese(), &s.bold_center)?;
    sheet.merge_range(
        6,
        COL_STT,
        6,
        COL_NOTE,
        &format!("Kính gửi: {}", spec.province.recipient_for(id.level)),
        &s.center,
    )?;

    // Identification cells: a label, then the value in the next cell.
    let id_rows: [(&str, u32); 5] = [
        ("Biểu số:", 8),
        ("Phiên bản:", 9),
        ("Mã đơn vị:", 10),
        ("Tên đơn vị:", 11),
        ("Kỳ báo cáo:", 12),
    ];
    for (label, row) in id_rows {
        sheet.write_string_with_format(row, COL_LABEL, label, &s.label)?;
        layout
            .identity_cells
            .insert(label.trim_end_matches(':').to_string(), a1(row, COL_CODE));
    }
    sheet.write_string_with_format(8, COL_CODE, &id.form_code, &s.id_value)?;
    sheet.write_number_with_format(9, COL_CODE, f64::from(id.version), &s.id_value)?;
    if id.unit_code_as_number {
        let n: f64 = id.unit_code.parse().unwrap_or(0.0);
        sheet.write_number_with_format(10, COL_CODE, n, &s.id_value)?;
    } else {
        sheet.write_string_with_format(10, COL_CODE, &id.unit_code, &s.id_value)?;
    }
    sheet.merge_range(11, COL_CODE, 11, COL_YTD, &id.unit_name, &s.id_value)?;
    sheet.write_string_with_format(12, COL_CODE, id.period.to_string(), &s.id_value)?;
    sheet.write_string(12, COL_UNIT, format!("({})", id.period.vietnamese()))?;

    let header_row = TABLE_HEADER_ROW;
    for (col, text) in [
        (COL_STT, "STT"),
        (COL_LABEL, "Chỉ tiêu"),
        (COL_CODE, "Mã số"),
        (COL_UNIT, "Đơn vị tính"),
        (COL_VALUE, "Kỳ này"),
        (COL_YTD, "Lũy kế từ đầu năm"),
        (COL_NOTE, "Ghi chú"),
    ] {
        sheet.write_string_with_format(header_row, col, text, &s.header)?;
    }
    sheet.set_row_height(header_row, 32)?;

    let mut row = header_row + 1;
    let mut stt = 0;
    let mut current_section = String::new();
    let mut int_cells: Vec<String> = Vec::new();
    let mut money_cells: Vec<String> = Vec::new();
    for line in &form.lines {
        if spec.omit_lines.contains(&line.code) {
            continue;
        }
        if line.section != current_section {
            current_section = line.section.clone();
            let title = form
                .sections
                .iter()
                .find(|sec| sec.id == line.section)
                .map(|sec| sec.title.clone())
                .unwrap_or_default();
            sheet.write_string_with_format(row, COL_STT, &line.section, &s.section)?;
            sheet.merge_range(row, COL_LABEL, row, COL_NOTE, &title, &s.section)?;
            row += 1;
        }
        if line.parent.is_none() {
            stt += 1;
            sheet.write_number_with_format(row, COL_STT, f64::from(stt), &s.cell_center)?;
        } else {
            sheet.write_blank(row, COL_STT, &s.cell_center)?;
        }
        let label_format = if line.parent.is_some() {
            s.line_label.clone().set_indent(1)
        } else {
            s.line_label.clone()
        };
        sheet.write_string_with_format(row, COL_LABEL, &line.label, &label_format)?;
        // Viewers do not grow rows for wrapped text written by a generator.
        let text_lines = line.label.chars().count().div_ceil(55).max(1);
        if text_lines > 1 {
            sheet.set_row_height(row, 15.75 * text_lines as f64)?;
        }
        sheet.write_string_with_format(row, COL_CODE, &line.code, &s.cell_center)?;
        sheet.write_string_with_format(row, COL_UNIT, &line.unit, &s.cell_center)?;
        let input = match line.kind {
            LineKind::Int => &s.input_int,
            LineKind::Money => &s.input_money,
        };
        let (this, ytd) = spec
            .values
            .get(&line.code)
            .cloned()
            .unwrap_or((CellInput::Blank, CellInput::Blank));
        write_input(sheet, row, COL_VALUE, &this, input)?;
        let cells = match line.kind {
            LineKind::Int => &mut int_cells,
            LineKind::Money => &mut money_cells,
        };
        cells.push(a1(row, COL_VALUE));
        if line.ytd {
            write_input(sheet, row, COL_YTD, &ytd, input)?;
            cells.push(a1(row, COL_YTD));
        } else {
            // Stocks have no year to date: shaded and locked.
            write_input(sheet, row, COL_YTD, &ytd, &s.shaded)?;
        }
        sheet.write_blank(row, COL_NOTE, &s.input_text)?;
        layout
            .value_cells
            .insert(line.code.clone(), (a1(row, COL_VALUE), a1(row, COL_YTD)));
        row += 1;
    }
    for (code, label, value) in &spec.extra_lines {
        sheet.write_blank(row, COL_STT, &s.cell_center)?;
        sheet.write_string_with_format(row, COL_LABEL, label, &s.line_label)?;
        sheet.write_string_with_format(row, COL_CODE, code, &s.cell_center)?;
        sheet.write_blank(row, COL_UNIT, &s.cell_center)?;
        write_input(sheet, row, COL_VALUE, value, &s.input_int)?;
        sheet.write_blank(row, COL_YTD, &s.input_int)?;
        sheet.write_blank(row, COL_NOTE, &s.input_text)?;
        layout
            .extra_cells
            .push((code.clone(), a1(row, COL_CODE), a1(row, COL_VALUE)));
        row += 1;
    }

    add_validation(sheet, &int_cells, LineKind::Int)?;
    add_validation(sheet, &money_cells, LineKind::Money)?;

    // Signature blocks.
    row += 1;
    sheet.merge_range(
        row,
        COL_VALUE,
        row,
        COL_NOTE,
        "......, ngày ..... tháng ..... năm .......",
        &s.italic_center,
    )?;
    row += 1;
    sheet.write_string_with_format(row, COL_LABEL, "Người lập biểu", &s.bold_center)?;
    sheet.merge_range(row, COL_VALUE, row, COL_NOTE, "Thủ trưởng đơn vị", &s.bold_center)?;
    row += 1;
    sheet.write_string_with_format(row, COL_LABEL, "(Ký, ghi rõ họ tên)", &s.italic_center)?;
    sheet.merge_range(
        row,
        COL_VALUE,
        row,
        COL_NOTE,
        "(Ký, họ tên, đóng dấu)",
        &s.italic_center,
    )?;

    sheet.set_paper_size(9);
    sheet.set_portrait();
    sheet.set_print_fit_to_pages(1, 0);
    sheet.set_margins(0.5, 0.4, 0.6, 0.6, 0.3, 0.3);
    sheet.set_print_center_horizontally(true);
    sheet.set_repeat_rows(header_row, header_row)?;
    sheet.set_print_area(0, COL_STT, row, COL_NOTE)?;
    sheet.set_freeze_panes(header_row + 1, 0)?;
    sheet.set_footer("&CTrang &P/&N");
    sheet.protect_with_options(&protection());
    Ok(())
}

fn write_input(sheet: &mut Worksheet, row: u32, col: u16, input: &CellInput, format: &Format) -> Result<(), XlsxError> {
    match input {
        CellInput::Blank => sheet.write_blank(row, col, format).map(|_| ()),
        CellInput::Number(x) => sheet.write_number_with_format(row, col, *x, format).map(|_| ()),
        CellInput::Text(t) => sheet.write_string_with_format(row, col, t, format).map(|_| ()),
        CellInput::FormulaWithoutResult(f) => {
            sheet.write_formula_with_format(row, col, f.as_str(), format)?;
            sheet.set_formula_result(row, col, "");
            Ok(())
        }
        CellInput::ErrorValue(error) => {
            sheet.write_formula_with_format(row, col, "=1/0", format)?;
            sheet.set_formula_result(row, col, error.as_str());
            Ok(())
        }
    }
}

fn add_validation(sheet: &mut Worksheet, cells: &[String], kind: LineKind) -> Result<(), XlsxError> {
    let Some(first) = cells.first() else {
        return Ok(());
    };
    let (title, message, error) = match kind {
        LineKind::Int => (
            "Số nguyên ≥ 0",
            "Nhập số nguyên không âm (0 nếu không có). Để trống nếu chưa có số liệu.",
            "Ô này chỉ nhận số nguyên từ 0 trở lên, không nhập chữ hoặc số âm.",
        ),
        LineKind::Money => (
            "Triệu đồng, ≥ 0",
            "Nhập số tiền bằng triệu đồng, tối đa 3 chữ số thập phân (0 nếu không có). Để trống nếu chưa có số liệu.",
            "Ô này chỉ nhận số từ 0 trở lên (triệu đồng), không nhập chữ hoặc số âm.",
        ),
    };
    let rule = match kind {
        LineKind::Int => DataValidation::new().allow_whole_number(DataValidationRule::GreaterThanOrEqualTo(0)),
        LineKind::Money => DataValidation::new().allow_decimal_number(DataValidationRule::GreaterThanOrEqualTo(0.0)),
    };
    let validation = rule
        .set_input_title(title)?
        .set_input_message(message)?
        .set_error_title("Giá trị không hợp lệ")?
        .set_error_message(error)?
        .set_error_style(DataValidationErrorStyle::Stop)
        .set_multi_range(cells.join(" "));
    let (row, col) = parse_a1(first);
    sheet.add_data_validation(row, col, row, col, &validation)?;
    Ok(())
}

/// (row, col), 0-based, from "E17".
pub fn parse_a1(cell: &str) -> (u32, u16) {
    let letters: String = cell.chars().take_while(char::is_ascii_alphabetic).collect();
    let digits = &cell[letters.len()..];
    let col = letters
        .bytes()
        .fold(0u32, |acc, b| acc * 26 + u32::from(b.to_ascii_uppercase() - b'A' + 1))
        .saturating_sub(1) as u16;
    let row = digits.parse::<u32>().unwrap_or(1).saturating_sub(1);
    (row, col)
}

fn write_commune_sheet(
    sheet: &mut Worksheet,
    spec: &ReturnSpec<'_>,
    s: &Styles,
    layout: &mut Layout,
) -> Result<(), XlsxError> {
    let form = spec.form;
    let flags = &form.commune_flags;
    let note_col = 2 + flags.len() as u16;
    sheet.merge_range(
        0,
        0,
        0,
        note_col,
        &format!(
            "DANH SÁCH XÃ, PHƯỜNG, THỊ TRẤN - {}",
            spec.identity.unit_name.to_uppercase()
        ),
        &s.title,
    )?;
    sheet.merge_range(
        1,
        0,
        1,
        note_col,
        &format!(
            "{} - đánh dấu x vào ô tương ứng (để trống nếu không)",
            spec.identity.period.vietnamese()
        ),
        &s.italic_center,
    )?;
    let header_row = 3;
    sheet.write_string_with_format(header_row, 0, "Mã xã", &s.header)?;
    sheet.write_string_with_format(header_row, 1, "Tên xã", &s.header)?;
    for (i, flag) in flags.iter().enumerate() {
        let col = 2 + i as u16;
        sheet.write_string_with_format(header_row, col, &flag.header, &s.header)?;
        sheet.set_column_width(col, 16)?;
        layout.flag_columns.insert(flag.key.clone(), column_letter(col));
    }
    sheet.write_string_with_format(header_row, note_col, "Ghi chú", &s.header)?;
    sheet.set_row_height(header_row, 48)?;
    sheet.set_column_width(0, 9)?;
    sheet.set_column_width(1, 30)?;
    sheet.set_column_width(note_col, 16)?;

    let flag_format = s.input_text.clone().set_align(FormatAlign::Center);
    let mut row = header_row + 1;
    for commune in &spec.communes {
        sheet.write_string_with_format(row, 0, &commune.code, &s.cell_center)?;
        sheet.write_string_with_format(row, 1, &commune.name, &s.cell)?;
        for i in 0..flags.len() {
            let col = 2 + i as u16;
            if commune.flags.get(i).copied().unwrap_or(false) {
                sheet.write_string_with_format(row, col, "x", &flag_format)?;
            } else {
                sheet.write_blank(row, col, &flag_format)?;
            }
        }
        sheet.write_blank(row, note_col, &s.input_text)?;
        layout.commune_rows.insert(commune.code.clone(), row + 1);
        row += 1;
    }
    if row > header_row + 1 && !flags.is_empty() {
        let validation = DataValidation::new()
            .allow_list_strings(&["x"])?
            .set_input_title("Đánh dấu")?
            .set_input_message("Nhập x nếu đúng, để trống nếu không.")?
            .set_error_title("Giá trị không hợp lệ")?
            .set_error_message("Chỉ nhập x hoặc để trống.")?;
        sheet.add_data_validation(header_row + 1, 2, row - 1, 1 + flags.len() as u16, &validation)?;
    }
    sheet.set_paper_size(9);
    sheet.set_print_fit_to_pages(1, 0);
    sheet.set_repeat_rows(header_row, header_row)?;
    sheet.protect_with_options(&protection());
    Ok(())
}

fn write_instructions(sheet: &mut Worksheet, spec: &ReturnSpec<'_>, s: &Styles) -> Result<(), XlsxError> {
    let form = spec.form;
    sheet.set_column_width(0, 110)?;
    let lines = [
        format!("HƯỚNG DẪN ĐIỀN BIỂU {} (phiên bản {})", form.code, form.version),
        String::new(),
        format!(
            "1. Biểu này do phần mềm tạo sẵn cho {} ({}), kỳ báo cáo {}. Không sửa các ô Biểu số, Phiên bản, Mã đơn vị, Kỳ báo cáo.",
            spec.identity.unit_name,
            spec.identity.unit_code,
            spec.identity.period.vietnamese().to_lowercase()
        ),
        "2. Chỉ nhập số vào các ô trắng của cột \"Kỳ này\" và \"Lũy kế từ đầu năm\". Cột Lũy kế được tô xám ở các chỉ tiêu thời điểm (mục A, D và các chỉ tiêu cộng dồn): không nhập.".into(),
        "3. Số người, số cơ sở, số cuộc… là số nguyên từ 0 trở lên. Số tiền tính bằng triệu đồng, tối đa 3 chữ số thập phân (ví dụ 12,5 là mười hai triệu năm trăm nghìn đồng).".into(),
        "4. Ô để trống nghĩa là chưa có số liệu, khác với 0 (không có). Các chỉ tiêu mục A, D và F03, F04 bắt buộc phải nhập.".into(),
        "5. Các dòng chi tiết (–) phải cộng đúng bằng dòng tổng; dòng \"Trong đó\" không lớn hơn dòng tổng.".into(),
        "6. \"Lũy kế từ đầu năm\" = lũy kế tháng trước + kỳ này (tháng 1: bằng kỳ này).".into(),
        format!(
            "7. Trang \"{}\": đánh dấu x cho từng xã. Số xã đánh dấu ở mỗi cột phải bằng chỉ tiêu tương ứng (D02, D03, D04, D06). Một xã không thể vừa lành mạnh vừa có tệ nạn mại dâm.",
            form.commune_sheet
        ),
        "8. Không thêm, bớt hoặc đổi Mã số các chỉ tiêu. Có thể chèn dòng ghi chú, nhưng mỗi Mã số chỉ xuất hiện một lần.".into(),
        "9. Lưu tệp dạng .xlsx (hoặc .xls, .ods) và gửi về đơn vị nhận báo cáo. Nếu dùng công thức, hãy để Excel tính lại trước khi lưu.".into(),
        "10. Phần mềm sẽ gửi lại bảng phản hồi, chỉ rõ từng ô có sai sót (tên trang và địa chỉ ô) để đơn vị sửa và gửi lại.".into(),
    ];
    for (i, text) in lines.iter().enumerate() {
        let format = if i == 0 { &s.bold_center } else { &s.wrap };
        sheet.write_string_with_format(i as u32, 0, text, format)?;
    }
    sheet.set_paper_size(9);
    sheet.set_print_fit_to_pages(1, 0);
    Ok(())
}

/// The blank return of one unit for one month: the current form, the
/// province's header, the unit's communes valid at the month's end.
///
/// # Errors
/// None today; kept fallible for the registers and forms still to come.
pub fn blank_spec<'a>(
    settings: &'a crate::config::Settings,
    unit: &crate::domain::Unit,
    period: Period,
) -> Result<ReturnSpec<'a>, Error> {
    let form: &Form = settings.current_form();
    let end = period.end(&settings.calendar);
    let communes = settings
        .register
        .communes_of_unit(unit, end)
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
            level: unit.level,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a1_addresses_round_trip() {
        assert_eq!(a1(0, 0), "A1");
        assert_eq!(a1(16, 4), "E17");
        assert_eq!(column_letter(26), "AA");
        assert_eq!(parse_a1("E17"), (16, 4));
        assert_eq!(parse_a1("AA3"), (2, 26));
    }
}
