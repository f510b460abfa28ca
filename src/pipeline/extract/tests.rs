//! Tests of `extract`: the return is found by labels and codes in the
//! generated workbook and in one a district retyped its own way.

use std::collections::BTreeMap;

use rust_xlsxwriter::{ExcelDateTime, Format, Workbook as XlsxWorkbook};

use super::*;
use crate::pipeline::read::fixtures::{env, period, Env, UNIT, VALUES};
use crate::pipeline::read::{read_workbook, read_workbook_bytes, ReadLimits};
use crate::pipeline::validate::NoHistory;

fn dump(findings: &[Finding]) -> String {
    findings.iter().map(|f| format!("{}\n", f.log_line())).collect()
}

#[test]
fn labels_match_across_case_colons_unicode_forms_and_tone_placement() {
    assert_eq!(label_key("Mã đơn vị:"), label_key("MÃ ĐƠN VỊ"));
    assert_eq!(label_key("  Kỳ báo cáo :  "), label_key("Kỳ báo cáo"));
    assert_eq!(label_key("Luỹ kế\ntừ đầu năm"), label_key("Lũy kế từ đầu năm"));
    let nfd: String = "Tên đơn vị".nfd().collect();
    assert_eq!(label_key(&nfd), label_key("Tên đơn vị"));
    assert_ne!(label_key("Mã số"), label_key("Mã xã"));
    assert_eq!(form_code_key("01 / PCMD – H"), form_code_key("01/PCMD-H"));
}

#[test]
fn commune_marks_are_read_generously_but_not_guessed() {
    for yes in ["x", "X", " x ", "1", "có", "Có"] {
        assert_eq!(flag_of(&CellValue::Text(yes.into())), Some(true), "{yes}");
    }
    assert_eq!(flag_of(&CellValue::Number(1.0)), Some(true));
    for no in ["", "0", "không"] {
        assert_eq!(flag_of(&CellValue::Text(no.into())), Some(false), "{no}");
    }
    assert_eq!(flag_of(&CellValue::Empty), Some(false));
    assert_eq!(flag_of(&CellValue::Number(0.0)), Some(false));
    for odd in ["y", "?", "xx", "2"] {
        assert_eq!(flag_of(&CellValue::Text(odd.into())), None, "{odd}");
    }
    assert_eq!(flag_of(&CellValue::Number(2.0)), None);
}

#[test]
fn the_generated_return_is_found_by_its_labels() {
    let env = env();
    let spec = env.valid_spec();
    let (path, layout) = env.write("r.xlsx", &spec);
    let workbook = read_workbook(&path, &ReadLimits::default(), TABLE_HEADER).expect("reads");
    let extracted = extract(&workbook, &env.settings.forms, "r.xlsx");
    assert!(extracted.findings.is_empty(), "{}", dump(&extracted.findings));
    let raw = extracted.raw.expect("raw");
    assert_eq!(raw.sheet, "Bieu01");
    assert_eq!(raw.form_code.value.as_deref(), Some("01/PCMD-H"));
    assert_eq!(raw.form_code.cell, layout.identity_cells["Biểu số"]);
    assert_eq!(raw.version.as_ref().and_then(|v| v.value), Some(1));
    assert_eq!(
        raw.unit_code.as_ref().and_then(|u| u.value.clone()).as_deref(),
        Some(UNIT)
    );
    assert_eq!(raw.period.as_ref().and_then(|p| p.value), Some(period()));
    assert_eq!(raw.lines.len(), env.settings.current_form().lines.len());
    let a01 = raw.lines.iter().find(|l| l.code == "A01").expect("A01");
    assert_eq!(a01.this_period.cell.to_string(), layout.value_cells["A01"].0);
    assert_eq!(a01.this_period.content.value, CellValue::Number(10.0));
    assert_eq!(raw.commune_sheet.as_deref(), Some("Xa"));
    assert_eq!(raw.communes.len(), spec.communes.len());
    assert_eq!(raw.flag_columns, layout.flag_columns);
}

/// How the retyped workbook deviates from the generated one.
#[derive(Default)]
struct Options {
    /// Leave out the `Kỳ này` header.
    no_table_header: bool,
    /// The form code written in `Biểu số`.
    form_code: Option<&'static str>,
    /// The mark of the first commune's "awareness" flag.
    odd_mark: Option<&'static str>,
}

/// A return retyped by a district into a workbook of its own: the return is
/// the second sheet under another name, labels in other cells and spellings,
/// the unit code a number, the period a date cell, the table moved down and
/// its columns reordered, note rows inserted, a hidden row, a merged title
/// and a value cell merged with the cell to its left, the commune sheet with
/// number codes, other marks and a total row.
fn retyped(env: &Env, options: &Options) -> Vec<u8> {
    let form = env.settings.current_form();
    let end = period().end(&env.settings.calendar);
    let communes = env.settings.register.communes_of(UNIT, end);
    let n = communes.len() as f64;
    let mut values: BTreeMap<&str, (f64, Option<f64>)> = VALUES.iter().map(|(c, t, y)| (*c, (*t, *y))).collect();
    values.insert("D01", (n, None));
    values.insert("D02", (n - 1.0, None));

    let mut book = XlsxWorkbook::new();
    let plain = Format::new();
    let notes = book.add_worksheet();
    notes.set_name("Ghi chú").expect("name");
    notes
        .write_string(0, 0, "Số liệu do phòng LĐTBXH tổng hợp")
        .expect("note");

    let sheet = book.add_worksheet();
    sheet.set_name("Báo cáo tháng 6").expect("name");
    sheet
        .merge_range(0, 0, 0, 7, "UBND HUYỆN BA BỂ", &plain)
        .expect("title");
    sheet.write_string(2, 0, "Biểu số:").expect("label");
    sheet
        .write_string(2, 3, options.form_code.unwrap_or("01/PCMD-H"))
        .expect("code");
    sheet.write_string(3, 0, "Phiên bản").expect("label");
    sheet.write_number(3, 2, 1.0).expect("version");
    sheet.write_string(4, 0, "MÃ ĐƠN VỊ:").expect("label");
    sheet.write_number(4, 1, 61.0).expect("unit");
    let nfd_name: String = "Huyện Ba Bể".nfd().collect();
    sheet.write_string(5, 0, "Tên đơn vị:").expect("label");
    sheet.write_string(5, 1, &nfd_name).expect("name");
    sheet.write_string(6, 0, "Kỳ báo cáo:").expect("label");
    let date = ExcelDateTime::from_ymd(2015, 6, 15).expect("date");
    sheet
        .write_datetime_with_format(6, 1, &date, &Format::new().set_num_format("dd/mm/yyyy"))
        .expect("period");
    for row in 8..30 {
        sheet.write_string(row, 0, "(ghi chú của đơn vị)").expect("note");
    }
    // Columns: B Mã số, C Chỉ tiêu, D Đơn vị tính, E Kỳ này, G Lũy kế.
    let header = 30;
    sheet.write_string(header, 1, "Mã số").expect("h");
    sheet.write_string(header, 2, "Chỉ tiêu").expect("h");
    sheet.write_string(header, 3, "Đơn vị tính").expect("h");
    if !options.no_table_header {
        sheet.write_string(header, 4, "Kỳ này").expect("h");
    }
    sheet.write_string(header, 6, "Luỹ kế\ntừ đầu năm").expect("h");
    let mut row = header + 1;
    for (i, line) in form.lines.iter().enumerate() {
        if i % 10 == 5 {
            sheet.write_string(row, 2, "Dòng ghi chú chèn thêm").expect("note");
            row += 1;
        }
        let (this, ytd) = values.get(line.code.as_str()).copied().unwrap_or((0.0, None));
        sheet.write_string(row, 1, &line.code).expect("code");
        sheet.write_string(row, 2, &line.label).expect("label");
        if line.code == "A02" {
            // The unit cell merged with the value cell: the value sits in D.
            sheet.merge_range(row, 3, row, 4, "", &plain).expect("merge");
            sheet.write_number(row, 3, this).expect("value");
        } else {
            sheet.write_string(row, 3, &line.unit).expect("unit");
            sheet.write_number(row, 4, this).expect("value");
        }
        if let Some(ytd) = ytd {
            sheet.write_number(row, 6, ytd).expect("ytd");
        }
        if line.code == "B06" {
            sheet.set_row_hidden(row).expect("hidden");
        }
        row += 1;
    }

    let xa = book.add_worksheet();
    xa.set_name("Danh sách xã").expect("name");
    xa.write_string(0, 0, "DANH SÁCH XÃ").expect("title");
    let header = 4;
    xa.write_string(header, 0, "STT").expect("h");
    xa.write_string(header, 1, "Mã xã").expect("h");
    xa.write_string(header, 2, "Tên xã").expect("h");
    for (i, flag) in form.commune_flags.iter().enumerate() {
        xa.write_string(header, 3 + i as u16, &flag.header).expect("h");
    }
    for (i, commune) in communes.iter().enumerate() {
        let r = header + 1 + i as u32;
        xa.write_number(r, 0, i as f64 + 1.0).expect("stt");
        let code: f64 = commune.code.parse().expect("code");
        xa.write_number(r, 1, code).expect("code");
        xa.write_string(r, 2, &commune.name).expect("name");
        // healthy, prostitution, awareness, volunteer team.
        let marks: [&str; 4] = match i {
            0 => ["0", "X", options.odd_mark.unwrap_or("có"), ""],
            1 => ["x", "", "1", ""],
            2 => ["x", "", "", "có"],
            _ => ["X", "", "", ""],
        };
        for (j, mark) in marks.iter().enumerate() {
            let col = 3 + j as u16;
            if *mark == "1" {
                xa.write_number(r, col, 1.0).expect("mark");
            } else if !mark.is_empty() {
                xa.write_string(r, col, *mark).expect("mark");
            }
        }
    }
    xa.write_string(header + 1 + communes.len() as u32, 1, "Tổng cộng")
        .expect("total");
    book.save_to_buffer().expect("xlsx")
}

fn check_bytes(env: &Env, name: &str, bytes: &[u8]) -> crate::pipeline::validate::Checked {
    let path = env.dir.path().join(name);
    std::fs::write(&path, bytes).expect("write");
    let ctx = env.context(name, &NoHistory);
    env.check(&path, &ctx)
}

#[test]
fn a_retyped_workbook_with_moved_rows_and_merged_cells_reads_cleanly() {
    let env = env();
    let bytes = retyped(&env, &Options::default());
    let checked = check_bytes(&env, "retyped.xlsx", &bytes);
    assert!(checked.findings.is_empty(), "{}", dump(&checked.findings));
    let ret = checked.return_.expect("return");
    assert_eq!(ret.sheet, "Báo cáo tháng 6");
    assert_eq!(ret.unit_code, "061");
    assert_eq!(ret.period, period());
    assert_eq!(ret.values["A02"].value, Some(3.0));
    assert_eq!(ret.values["A02"].cell.col, 3, "column D: {}", ret.values["A02"].cell);
    assert_eq!(ret.values["B06"].value, Some(1.0));
    assert_eq!(ret.values["B05"].ytd, Some(20.75));
    assert_eq!(ret.values["B05"].ytd_cell.map(|c| c.col), Some(6), "column G");
    assert_eq!(ret.commune_sheet.as_deref(), Some("Danh sách xã"));
    assert!(ret.communes.contains_key("01888"));
    assert!(ret.communes["01888"].flags["prostitution"]);
    assert!(!ret.communes["01888"].flags["healthy"]);
}

#[test]
fn a_period_date_cell_and_a_number_unit_code_are_understood() {
    let env = env();
    let workbook =
        read_workbook_bytes(retyped(&env, &Options::default()), &ReadLimits::default(), TABLE_HEADER).expect("reads");
    let raw = extract(&workbook, &env.settings.forms, "r.xlsx").raw.expect("raw");
    let unit = raw.unit_code.expect("unit");
    assert_eq!((unit.read.as_str(), unit.value.as_deref()), ("61", Some("061")));
    assert_eq!(unit.cell, "B5");
    let p = raw.period.expect("period");
    assert_eq!(p.value, Some(period()));
    assert_eq!(p.read, "15/06/2015");
    assert_eq!(raw.form_code.cell, "D3");
}

#[test]
fn an_unreadable_commune_mark_is_an_error_at_its_cell() {
    let env = env();
    let bytes = retyped(
        &env,
        &Options {
            odd_mark: Some("y"),
            ..Options::default()
        },
    );
    let checked = check_bytes(&env, "mark.xlsx", &bytes);
    let marks: Vec<_> = checked.findings.iter().filter(|f| f.rule == 16).collect();
    assert_eq!(marks.len(), 1, "{}", dump(&checked.findings));
    assert_eq!(marks[0].location.cell.as_deref(), Some("F6"));
    assert_eq!(marks[0].location.sheet.as_deref(), Some("Danh sách xã"));
}

#[test]
fn a_table_without_its_header_is_a_structure_finding() {
    let env = env();
    let bytes = retyped(
        &env,
        &Options {
            no_table_header: true,
            ..Options::default()
        },
    );
    let checked = check_bytes(&env, "noheader.xlsx", &bytes);
    let structure: Vec<_> = checked.findings.iter().filter(|f| f.rule == 2).collect();
    assert_eq!(structure.len(), 1, "{}", dump(&checked.findings));
    assert!(structure[0].message_vi.contains("Kỳ này"));
    assert_eq!(structure[0].location.sheet.as_deref(), Some("Báo cáo tháng 6"));
    // Rule 5 does not also list every line as missing.
    assert!(
        !checked.findings.iter().any(|f| f.rule == 5),
        "{}",
        dump(&checked.findings)
    );
}

#[test]
fn a_workbook_of_another_form_is_not_taken_for_the_return() {
    let env = env();
    let bytes = retyped(
        &env,
        &Options {
            form_code: Some("02/PCMT-H"),
            ..Options::default()
        },
    );
    let checked = check_bytes(&env, "other.xlsx", &bytes);
    assert!(checked.return_.is_none());
    assert_eq!(checked.findings.len(), 1, "{}", dump(&checked.findings));
    let f = &checked.findings[0];
    assert_eq!(f.rule, 2);
    assert_eq!(f.value.as_deref(), Some("02/PCMT-H"));
    assert_eq!(f.location.cell.as_deref(), Some("D3"));
}

#[test]
fn a_workbook_without_labels_names_its_sheets() {
    let env = env();
    let mut book = XlsxWorkbook::new();
    let sheet = book.add_worksheet();
    sheet.set_name("Sheet1").expect("name");
    sheet.write_string(0, 0, "Số liệu tháng 6").expect("text");
    let bytes = book.save_to_buffer().expect("xlsx");
    let checked = check_bytes(&env, "plain.xlsx", &bytes);
    assert_eq!(checked.findings.len(), 1, "{}", dump(&checked.findings));
    assert_eq!(checked.findings[0].rule, 2);
    assert!(checked.findings[0].message_vi.contains("Sheet1"));
}

#[test]
fn a_label_and_its_value_in_one_cell_are_read() {
    let mut book = XlsxWorkbook::new();
    let sheet = book.add_worksheet();
    sheet.write_string(0, 0, "Biểu số 01/PCMD-H").expect("code");
    sheet.write_string(1, 0, "Mã đơn vị: 061").expect("unit");
    sheet
        .write_string(2, 0, "Kỳ báo cáo: Tháng 6 năm 2015")
        .expect("period");
    let bytes = book.save_to_buffer().expect("xlsx");
    let env = env();
    let workbook = read_workbook_bytes(bytes, &ReadLimits::default(), TABLE_HEADER).expect("reads");
    let raw = extract(&workbook, &env.settings.forms, "one.xlsx").raw.expect("raw");
    assert_eq!(raw.form_code.value.as_deref(), Some("01/PCMD-H"));
    assert_eq!(raw.unit_code.and_then(|u| u.value).as_deref(), Some("061"));
    assert_eq!(raw.period.and_then(|p| p.value), Some(period()));
}

#[test]
fn a_label_and_its_value_in_one_cell_are_read_whatever_the_spaces_between_words() {
    for text in ["  Biểu   số\t01/PCMD-H  ", "BIỂU SỐ 01/PCMD-H", "biểu số 01/PCMD-H"] {
        let mut book = XlsxWorkbook::new();
        let sheet = book.add_worksheet();
        sheet.write_string(0, 0, text).expect("code");
        let bytes = book.save_to_buffer().expect("xlsx");
        let env = env();
        let workbook = read_workbook_bytes(bytes, &ReadLimits::default(), TABLE_HEADER).expect("reads");
        let checked = extract(&workbook, &env.settings.forms, "one.xlsx");
        let read = checked.raw.map(|raw| raw.form_code.read);
        assert_eq!(read.as_deref(), Some("01/PCMD-H"), "{text:?}");
    }
}

#[test]
fn a_line_code_is_a_letter_then_digits_and_dots_in_any_case_and_spacing() {
    // Read as typed: padded, lower case, with a no-break space (a text that
    // is not ASCII, so normalised first) — the same code.
    for typed in ["A01.1", " a01.1 ", "a01.1\u{a0}", "\u{a0}A01.1"] {
        assert_eq!(line_code(typed).as_deref(), Some("A01.1"), "{typed:?}");
    }
    assert_eq!(line_code("G7").as_deref(), Some("G7"));
    // Section letters, section numbers, labels and letters with marks are not codes.
    for typed in ["A", "I", "01", "A01x", "A.01", "Mục A", "Ạ01", "A\u{301}01", "", "   "] {
        assert_eq!(line_code(typed), None, "{typed:?}");
    }
}

/// The quick test before a label comparison never turns away a text that
/// reads as the label: every text of the template, and each spelled in
/// upper and lower case, decomposed, padded with spaces and no-break
/// spaces, with a tone mark moved or leading, against the key of every
/// text. It turns away most texts (the point of it).
#[test]
fn the_quick_label_test_never_turns_away_a_text_that_reads_as_the_label() {
    let env = env();
    let (path, _) = env.write("r.xlsx", &env.valid_spec());
    let workbook = read_workbook(&path, &ReadLimits::default(), TABLE_HEADER).expect("reads");
    let mut texts: Vec<String> = workbook
        .sheets
        .iter()
        .flat_map(|sheet| sheet.cells.values())
        .filter_map(|cell| match &cell.value {
            CellValue::Text(t) => Some(t.to_string()),
            _ => None,
        })
        .collect();
    texts.extend(
        [
            LABEL_FORM_CODE,
            LABEL_VERSION,
            LABEL_UNIT_CODE,
            LABEL_UNIT_NAME,
            LABEL_PERIOD,
            "Luỹ kế",
            "Đơn vị",
            "Ấp",
            "İstanbul",
            "Ångström",
            "ẞ",
        ]
        .map(str::to_string),
    );
    texts.sort();
    texts.dedup();
    assert!(texts.len() > 100, "{} texts", texts.len());
    let mut variants = Vec::new();
    for text in &texts {
        variants.push(text.clone());
        variants.push(text.to_uppercase());
        variants.push(text.to_lowercase());
        variants.push(text.nfd().collect());
        variants.push(format!("  {text}: "));
        variants.push(format!("\u{a0}{}", text.to_uppercase()));
        // "Lũy" typed "Luỹ": the tone mark after the next letter.
        let nfd: String = text.nfd().collect();
        if let Some(at) = nfd.find('\u{303}') {
            let mut moved = nfd.clone();
            moved.remove(at);
            let next = moved[at..].chars().next().map_or(at, |c| at + c.len_utf8());
            moved.insert(next, '\u{303}');
            variants.push(moved);
        }
        // A stray tone mark before the text (folded away).
        variants.push(format!("\u{301}{text}"));
    }
    let keys: Vec<String> = texts.iter().map(|t| label_key(t)).collect();
    let (mut compared, mut turned_away) = (0usize, 0usize);
    for text in &variants {
        let own = label_key(text);
        for key in &keys {
            compared += 1;
            if !may_be_label(text, key) {
                turned_away += 1;
                assert_ne!(&own, key, "{text:?} reads as the label whose key is {key:?}");
            }
        }
    }
    assert!(
        turned_away * 10 > compared * 7,
        "{turned_away} of {compared} turned away"
    );
}
