//! Tests of `validate`: a valid return passes clean, and each rule kind
//! fires on a planted fault at the cell a district would open.

use super::*;
use crate::pipeline::read::fixtures::{env, period, set, set_ytd, Env, UNIT};
use crate::template::{CellInput, CommuneRow, Layout, ReturnSpec};

fn check(env: &Env, spec: &ReturnSpec<'_>, history: &dyn History) -> (Checked, Layout) {
    let (path, layout) = env.write("return.xlsx", spec);
    let ctx = env.context("return.xlsx", history);
    (env.check(&path, &ctx), layout)
}

fn dump(findings: &[Finding]) -> String {
    findings
        .iter()
        .map(|f| format!("{} | {}\n", f.log_line(), f.message_vi))
        .collect()
}

fn of_rule(checked: &Checked, rule: u32) -> Vec<&Finding> {
    checked.findings.iter().filter(|f| f.rule == rule).collect()
}

/// The only finding of `rule`, which must sit on `cell` of sheet `sheet`.
fn single<'a>(checked: &'a Checked, rule: u32, sheet: &str, cell: &str) -> &'a Finding {
    let found = of_rule(checked, rule);
    assert_eq!(found.len(), 1, "rule {rule}: {}", dump(&checked.findings));
    let f = found[0];
    assert_eq!(f.location.sheet.as_deref(), Some(sheet), "{}", dump(&checked.findings));
    assert_eq!(f.location.cell.as_deref(), Some(cell), "{}", dump(&checked.findings));
    f
}

fn this_cell(layout: &Layout, code: &str) -> String {
    layout.value_cells[code].0.clone()
}

fn ytd_cell(layout: &Layout, code: &str) -> String {
    layout.value_cells[code].1.clone()
}

#[test]
fn a_valid_return_passes_with_no_findings() {
    let env = env();
    let spec = env.valid_spec();
    let (checked, _) = check(&env, &spec, &NoHistory);
    assert!(checked.findings.is_empty(), "{}", dump(&checked.findings));
    let ret = checked.return_.expect("a return");
    assert_eq!(ret.unit_code, UNIT);
    assert_eq!(ret.unit_name, "Huyện Ba Bể");
    assert_eq!(ret.period, period());
    assert_eq!(ret.values["B05"].value, Some(12.5));
    assert_eq!(ret.values["B05"].ytd, Some(20.75));
    assert_eq!(ret.values["A01"].ytd, None);
    assert_eq!(ret.values.len(), env.settings.current_form().lines.len());
    assert_eq!(ret.communes.len(), spec.communes.len());
    assert!(ret.communes[&spec.communes[0].code].flags["prostitution"]);
}

#[test]
fn parts_that_do_not_add_up_are_reported_at_the_parent() {
    let env = env();
    let mut spec = env.valid_spec();
    set(&mut spec, "A01.1", CellInput::Number(2.0));
    let (checked, layout) = check(&env, &spec, &NoHistory);
    let f = single(&checked, 10, "Bieu01", &this_cell(&layout, "A01"));
    assert_eq!(f.expected.as_deref(), Some("A01.1+A01.2+A01.3+A01.4 = 11 ≠ A01 = 10"));
    assert_eq!(f.location.line.as_deref(), Some("A01"));
    assert!(f.message_vi.starts_with(&format!(
        "Ô {} (A01 – Số người bán dâm có hồ sơ quản lý): ",
        this_cell(&layout, "A01")
    )));
    assert!(f.is_error());
    assert_eq!(checked.findings.len(), 1, "{}", dump(&checked.findings));
}

#[test]
fn the_year_to_date_column_is_checked_by_rule_18_only_as_the_form_says() {
    let env = env();
    let mut spec = env.valid_spec();
    // B08.1+B08.2+B08.3 = 6 ≠ B08 = 5 in the Lũy kế column only.
    set_ytd(&mut spec, "B08.1", CellInput::Number(3.0));
    // An "of which" above its parent, in Lũy kế only.
    set_ytd(&mut spec, "B11.1", CellInput::Number(99.0));
    let (checked, _) = check(&env, &spec, &NoHistory);
    assert!(of_rule(&checked, 10).is_empty(), "{}", dump(&checked.findings));
    assert!(of_rule(&checked, 11).is_empty(), "{}", dump(&checked.findings));
    assert!(!rejects(&checked.findings), "{}", dump(&checked.findings));
}

#[test]
fn money_parts_add_up_within_the_tolerance() {
    let env = env();
    let mut spec = env.valid_spec();
    set(&mut spec, "F05", CellInput::Number(10.5005));
    let (checked, _) = check(&env, &spec, &NoHistory);
    assert!(of_rule(&checked, 10).is_empty(), "{}", dump(&checked.findings));
}

/// A return whose spending is `total` with everything in group 1, `part`,
/// and by source all from the local budget.
fn spending(env: &Env, total: f64, part: f64) -> Checked {
    let mut spec = env.valid_spec();
    set(&mut spec, "F05", CellInput::Number(total));
    set(&mut spec, "F05.1", CellInput::Number(part));
    for code in ["F05.2", "F05.3", "F05.4", "F05.5", "F06", "F08"] {
        set(&mut spec, code, CellInput::Number(0.0));
    }
    set(&mut spec, "F07", CellInput::Number(total));
    check(env, &spec, &NoHistory).0
}

#[test]
fn money_within_a_thousandth_passes_exactly_at_the_boundary_whatever_the_float_noise() {
    let env = env();
    // 12.345 − 12.344 computes to 0.0010000000000012 in floating point:
    // a thousandth, the form's tolerance, and accepted.
    let checked = spending(&env, 12.344, 12.345);
    assert!(of_rule(&checked, 10).is_empty(), "{}", dump(&checked.findings));
    let checked = spending(&env, 100.001, 100.002);
    assert!(of_rule(&checked, 10).is_empty(), "{}", dump(&checked.findings));
    let checked = spending(&env, 0.1, 0.101);
    assert!(of_rule(&checked, 10).is_empty(), "{}", dump(&checked.findings));
    // Two thousandths apart is beyond the tolerance, at any magnitude.
    let checked = spending(&env, 12.343, 12.345);
    assert_eq!(of_rule(&checked, 10).len(), 1, "{}", dump(&checked.findings));
    let checked = spending(&env, 123456.789, 123456.791);
    assert_eq!(of_rule(&checked, 10).len(), 1, "{}", dump(&checked.findings));
    assert!(rejects(&checked.findings));
}

#[test]
fn money_of_which_and_not_greater_compare_in_exact_thousandths() {
    let env = env();
    // F06 + F07 + F08 = F05: 0.1 + 0.2 is 0.30000000000000004 in floating point.
    let mut spec = env.valid_spec();
    set(&mut spec, "F05", CellInput::Number(0.3));
    set(&mut spec, "F05.1", CellInput::Number(0.3));
    for code in ["F05.2", "F05.3", "F05.4", "F05.5", "F08"] {
        set(&mut spec, code, CellInput::Number(0.0));
    }
    set(&mut spec, "F06", CellInput::Number(0.1));
    set(&mut spec, "F07", CellInput::Number(0.2));
    let (checked, _) = check(&env, &spec, &NoHistory);
    assert!(of_rule(&checked, 10).is_empty(), "{}", dump(&checked.findings));
}

#[test]
fn an_of_which_line_above_its_parent_is_reported_at_the_child() {
    let env = env();
    let mut spec = env.valid_spec();
    set(&mut spec, "A01.5", CellInput::Number(11.0));
    let (checked, layout) = check(&env, &spec, &NoHistory);
    let f = single(&checked, 11, "Bieu01", &this_cell(&layout, "A01.5"));
    assert_eq!(f.expected.as_deref(), Some("A01.5 ≤ A01 (A01.5 = 11 > A01 = 10)"));
}

#[test]
fn the_enforcement_chain_is_checked_with_each_rules_severity() {
    let env = env();
    let mut spec = env.valid_spec();
    // B03 ≤ B02 (error), at B03.
    set(&mut spec, "B03", CellInput::Number(7.0));
    // B04 > 0 ⇔ B05 > 0 (warning), at B05.
    set(&mut spec, "B05", CellInput::Number(0.0));
    // B09 > 0 ⇒ B10 ≥ B09 (warning), at B10.
    set(&mut spec, "B10", CellInput::Number(0.0));
    let (checked, layout) = check(&env, &spec, &NoHistory);
    let found = of_rule(&checked, 12);
    assert_eq!(found.len(), 3, "{}", dump(&checked.findings));
    let at = |code: &str| {
        found
            .iter()
            .find(|f| f.location.cell.as_deref() == Some(this_cell(&layout, code).as_str()))
            .copied()
    };
    let b03 = at("B03").expect("B03 ≤ B02");
    assert!(b03.is_error());
    assert_eq!(b03.expected.as_deref(), Some("B03 ≤ B02 (B03 = 7 > B02 = 6)"));
    let b05 = at("B05").expect("B04 ⇔ B05");
    assert_eq!(b05.severity, Severity::Warning);
    let b10 = at("B10").expect("B09 ⇒ B10");
    assert_eq!(b10.severity, Severity::Warning);
}

#[test]
fn zero_sessions_with_participants_is_flagged_at_the_participants() {
    let env = env();
    let mut spec = env.valid_spec();
    set(&mut spec, "E01", CellInput::Number(0.0));
    let (checked, layout) = check(&env, &spec, &NoHistory);
    let f = single(&checked, 14, "Bieu01", &this_cell(&layout, "E02"));
    assert_eq!(f.severity, Severity::Warning);
}

#[test]
fn a_sum_of_lines_above_its_limit_is_reported_at_the_first_line() {
    let env = env();
    let mut spec = env.valid_spec();
    // D02 + D03 ≤ D01 with D01 = n: one commune too many.
    let n = spec.communes.len() as f64;
    set(&mut spec, "D02", CellInput::Number(n));
    let (checked, layout) = check(&env, &spec, &NoHistory);
    let f = single(&checked, 14, "Bieu01", &this_cell(&layout, "D02"));
    assert!(f.expected.as_deref().is_some_and(|e| e.starts_with("D02+D03 ≤ D01")));
    // The flags still count n − 1 healthy communes: rule 17 at D02 too.
    let counts = single(&checked, 17, "Bieu01", &this_cell(&layout, "D02"));
    assert!(counts.message_vi.contains("Lành mạnh, không có TNMD"));
}

#[test]
fn d01_against_the_register_says_which_list_is_right() {
    let env = env();
    let mut spec = env.valid_spec();
    let n = spec.communes.len();
    set(&mut spec, "D01", CellInput::Number(n as f64 + 1.0));
    let (checked, layout) = check(&env, &spec, &NoHistory);
    let f = single(&checked, 15, "Bieu01", &this_cell(&layout, "D01"));
    assert_eq!(f.expected, Some(format!("D01 = {n}")));
    assert!(f.message_vi.contains(&format!("có {n} xã")), "{}", f.message_vi);
    assert!(f.message_vi.contains(&format!("liệt kê {n} xã")), "{}", f.message_vi);
}

#[test]
fn communes_missing_foreign_or_listed_twice_are_errors() {
    let env = env();
    let mut spec = env.valid_spec();
    let removed = spec.communes.remove(5);
    let twice = spec.communes[4].clone();
    spec.communes.push(twice.clone());
    spec.communes.push(CommuneRow {
        code: "01936".into(),
        name: "Thị trấn Nà Phặc".into(),
        flags: vec![false; 4],
    });
    let (checked, layout) = check(&env, &spec, &NoHistory);
    let found = of_rule(&checked, 16);
    assert_eq!(found.len(), 3, "{}", dump(&checked.findings));
    let missing = found.iter().find(|f| f.location.cell.is_none()).expect("missing");
    assert!(missing.message_vi.contains(&removed.code) && missing.message_vi.contains(&removed.name));
    assert_eq!(missing.location.sheet.as_deref(), Some("Xa"));
    let foreign_row = layout.commune_rows["01936"];
    let foreign = found
        .iter()
        .find(|f| f.location.cell == Some(format!("A{foreign_row}")))
        .expect("foreign commune");
    assert!(foreign.message_vi.contains("Huyện Ngân Sơn"), "{}", foreign.message_vi);
    let duplicate = found
        .iter()
        .find(|f| f.message_en.contains("listed twice"))
        .expect("duplicate");
    assert!(duplicate.location.cell.as_deref().is_some_and(|c| c.starts_with('A')));
}

#[test]
fn a_commune_list_of_another_date_is_explained() {
    let env = env();
    let mut spec = env.valid_spec();
    let later = Period::month(2021, 6);
    spec.identity.period = later;
    let end = later.end(&env.settings.calendar);
    let mut rows: Vec<CommuneRow> = env
        .settings
        .register
        .communes_of(UNIT, end)
        .into_iter()
        .map(|u| CommuneRow {
            code: u.code.clone(),
            name: u.name.clone(),
            flags: vec![true, false, false, false],
        })
        .collect();
    rows.push(CommuneRow {
        code: "01903".into(),
        name: "Xã Cao Trĩ".into(),
        flags: vec![true, false, false, false],
    });
    spec.communes = rows;
    let (path, layout) = env.write("late.xlsx", &spec);
    let mut ctx = env.context("late.xlsx", &NoHistory);
    ctx.today = NaiveDate::from_ymd_opt(2021, 7, 10).expect("date");
    let checked = env.check(&path, &ctx);
    let row = layout.commune_rows["01903"];
    let f = single(&checked, 16, "Xa", &format!("A{row}"));
    assert!(f.message_vi.contains("31/01/2020"), "{}", f.message_vi);
}

#[test]
fn a_commune_both_healthy_and_with_prostitution_is_an_error_at_the_second_flag() {
    let env = env();
    let mut spec = env.valid_spec();
    spec.communes[1].flags = vec![true, true, true, false];
    let code = spec.communes[1].code.clone();
    let (checked, layout) = check(&env, &spec, &NoHistory);
    let row = layout.commune_rows[&code];
    let column = &layout.flag_columns["prostitution"];
    single(&checked, 16, "Xa", &format!("{column}{row}"));
    // And D03 no longer matches the flags.
    let f = single(&checked, 17, "Bieu01", &this_cell(&layout, "D03"));
    assert!(f.message_vi.contains(&spec.communes[1].name), "{}", f.message_vi);
}

#[test]
fn flag_counts_that_differ_from_their_line_name_the_communes() {
    let env = env();
    let mut spec = env.valid_spec();
    set(&mut spec, "D04", CellInput::Number(3.0));
    let (checked, layout) = check(&env, &spec, &NoHistory);
    let f = single(&checked, 17, "Bieu01", &this_cell(&layout, "D04"));
    assert!(f.message_vi.contains(&spec.communes[0].name) && f.message_vi.contains(&spec.communes[1].name));
    assert_eq!(checked.findings.len(), 1, "{}", dump(&checked.findings));
}

#[test]
fn codes_missing_duplicated_or_unknown_are_reported() {
    let env = env();
    let mut spec = env.valid_spec();
    spec.omit_lines.push("A02".into());
    spec.extra_lines
        .push(("B03".into(), "Số cơ sở vi phạm".into(), CellInput::Number(1.0)));
    spec.extra_lines
        .push(("G01".into(), "Chỉ tiêu tự thêm".into(), CellInput::Number(1.0)));
    let (checked, layout) = check(&env, &spec, &NoHistory);
    let found = of_rule(&checked, 5);
    assert_eq!(found.len(), 3, "{}", dump(&checked.findings));
    let missing = found
        .iter()
        .find(|f| f.location.line.as_deref() == Some("A02"))
        .expect("A02");
    assert!(missing.is_error() && missing.location.cell.is_none());
    let dup_cell = &layout.extra_cells[0].1;
    let dup = found
        .iter()
        .find(|f| f.location.cell.as_ref() == Some(dup_cell))
        .expect("dup");
    assert!(dup.is_error());
    let unknown_cell = &layout.extra_cells[1].1;
    let unknown = found
        .iter()
        .find(|f| f.location.cell.as_ref() == Some(unknown_cell))
        .expect("unknown");
    assert_eq!(unknown.severity, Severity::Warning);
    // The duplicate's value is not read: B03 keeps its first value.
    assert_eq!(checked.return_.as_ref().expect("return").values["B03"].value, Some(3.0));
}

#[test]
fn text_numbers_in_both_notations_are_converted_with_a_warning() {
    let env = env();
    let mut spec = env.valid_spec();
    set(&mut spec, "B05", CellInput::Text("12,5".into()));
    set(&mut spec, "F05.2", CellInput::Text("2.5".into()));
    set(&mut spec, "A04", CellInput::Text("50 người".into()));
    set(&mut spec, "E04", CellInput::Text("1.050".into()));
    set_ytd(&mut spec, "E04", CellInput::Text("1 100".into()));
    let (checked, layout) = check(&env, &spec, &NoHistory);
    let found = of_rule(&checked, 6);
    assert_eq!(found.len(), 5, "{}", dump(&checked.findings));
    assert!(found.iter().all(|f| f.severity == Severity::Warning));
    let b05 = found
        .iter()
        .find(|f| f.location.cell == Some(this_cell(&layout, "B05")))
        .expect("B05");
    assert_eq!(b05.value.as_deref(), Some("12,5"));
    assert_eq!(b05.expected.as_deref(), Some("12.5"));
    let values = &checked.return_.as_ref().expect("return").values;
    assert_eq!(values["B05"].value, Some(12.5));
    assert_eq!(values["F05.2"].value, Some(2.5));
    assert_eq!(values["A04"].value, Some(50.0));
    assert_eq!(values["E04"].value, Some(1050.0));
    assert_eq!(values["E04"].ytd, Some(1100.0));
    assert!(!rejects(&checked.findings), "{}", dump(&checked.findings));
}

fn rejects(findings: &[Finding]) -> bool {
    crate::findings::rejects(findings)
}

#[test]
fn unreadable_text_and_excel_errors_are_errors() {
    let env = env();
    let mut spec = env.valid_spec();
    set(&mut spec, "C06", CellInput::Text("1,234".into()));
    set(&mut spec, "A02", CellInput::Text("abc".into()));
    set(&mut spec, "D05", CellInput::Text("12-15".into()));
    set(&mut spec, "A04", CellInput::ErrorValue("#REF!".into()));
    set(&mut spec, "E06", CellInput::ErrorValue("#DIV/0!".into()));
    let (checked, layout) = check(&env, &spec, &NoHistory);
    let found = of_rule(&checked, 6);
    assert_eq!(found.len(), 5, "{}", dump(&checked.findings));
    assert!(found.iter().all(|f| f.is_error()));
    let c06 = found
        .iter()
        .find(|f| f.location.cell == Some(this_cell(&layout, "C06")))
        .expect("C06");
    assert!(c06.message_vi.contains("hai cách"), "{}", c06.message_vi);
    let a04 = found
        .iter()
        .find(|f| f.location.cell == Some(this_cell(&layout, "A04")))
        .expect("A04");
    assert_eq!(a04.value.as_deref(), Some("#REF!"));
    let values = &checked.return_.as_ref().expect("return").values;
    assert_eq!(values["A04"].value, None);
    // Arithmetic skips the unreadable operand instead of reading it as 0.
    assert!(of_rule(&checked, 11).is_empty(), "{}", dump(&checked.findings));
}

#[test]
fn negative_fractional_and_over_precise_values_break_the_domain() {
    let env = env();
    let mut spec = env.valid_spec();
    set(&mut spec, "A02", CellInput::Number(-1.0));
    set(&mut spec, "D05", CellInput::Number(2.5));
    set(&mut spec, "B05", CellInput::Number(12.5004));
    let (checked, layout) = check(&env, &spec, &NoHistory);
    let found = of_rule(&checked, 7);
    assert_eq!(found.len(), 3, "{}", dump(&checked.findings));
    let severity_at = |code: &str| {
        found
            .iter()
            .find(|f| f.location.cell == Some(this_cell(&layout, code)))
            .map(|f| f.severity)
    };
    assert_eq!(severity_at("A02"), Some(Severity::Error));
    assert_eq!(severity_at("D05"), Some(Severity::Error));
    assert_eq!(severity_at("B05"), Some(Severity::Warning));
}

#[test]
fn a_formula_without_a_stored_result_says_the_file_was_never_recalculated() {
    let env = env();
    let mut spec = env.valid_spec();
    set(&mut spec, "A02", CellInput::FormulaWithoutResult("=1+2".into()));
    let (checked, layout) = check(&env, &spec, &NoHistory);
    let f = single(&checked, 8, "Bieu01", &this_cell(&layout, "A02"));
    assert!(
        f.message_vi.contains("chưa được tính lại công thức"),
        "{}",
        f.message_vi
    );
    assert!(f.is_error());
    assert_eq!(checked.return_.as_ref().expect("return").values["A02"].value, None);
    // Not also reported as blank.
    assert!(of_rule(&checked, 9).is_empty(), "{}", dump(&checked.findings));
}

#[test]
fn blank_required_lines_are_errors_and_other_blanks_warnings() {
    let env = env();
    let mut spec = env.valid_spec();
    set(&mut spec, "A02", CellInput::Blank);
    set(&mut spec, "C01", CellInput::Blank);
    // A value typed in a stock's Lũy kế cell is not read.
    set_ytd(&mut spec, "A03", CellInput::Text("rác".into()));
    let (checked, layout) = check(&env, &spec, &NoHistory);
    let found = of_rule(&checked, 9);
    assert_eq!(found.len(), 2, "{}", dump(&checked.findings));
    let a02 = found
        .iter()
        .find(|f| f.location.cell == Some(this_cell(&layout, "A02")))
        .expect("A02");
    assert!(a02.is_error());
    let c01 = found
        .iter()
        .find(|f| f.location.cell == Some(this_cell(&layout, "C01")))
        .expect("C01");
    assert_eq!(c01.severity, Severity::Warning);
    assert_eq!(checked.findings.len(), 2, "{}", dump(&checked.findings));
    let values = &checked.return_.as_ref().expect("return").values;
    assert_eq!(values["C01"].value, None);
    assert_eq!(values["C01"].ytd, Some(9.0));
}

#[test]
fn a_unit_code_written_as_the_number_61_means_061() {
    let env = env();
    let mut spec = env.valid_spec();
    spec.identity.unit_code = "61".into();
    spec.identity.unit_code_as_number = true;
    let (checked, _) = check(&env, &spec, &NoHistory);
    assert!(checked.findings.is_empty(), "{}", dump(&checked.findings));
    assert_eq!(checked.return_.as_ref().expect("return").unit_code, "061");
}

#[test]
fn identity_failures_stop_before_arithmetic() {
    let env = env();
    let mut spec = env.valid_spec();
    spec.identity.unit_code = "999".into();
    spec.identity.version = 7;
    set(&mut spec, "A01.1", CellInput::Number(5.0));
    let (checked, layout) = check(&env, &spec, &NoHistory);
    assert!(checked.return_.is_none());
    let found = of_rule(&checked, 3);
    assert_eq!(found.len(), 2, "{}", dump(&checked.findings));
    assert!(found
        .iter()
        .any(|f| f.location.cell.as_ref() == Some(&layout.identity_cells["Mã đơn vị"])));
    assert!(found.iter().any(|f| f.message_en.contains("version 7")));
    assert!(of_rule(&checked, 10).is_empty());
}

#[test]
fn a_period_in_the_future_is_refused() {
    let env = env();
    let mut spec = env.valid_spec();
    spec.identity.period = Period::month(2015, 8);
    let (checked, layout) = check(&env, &spec, &NoHistory);
    assert!(checked.return_.is_none());
    let f = single(&checked, 3, "Bieu01", &layout.identity_cells["Kỳ báo cáo"]);
    assert!(f.message_en.contains("future"));
}

#[test]
fn a_unit_outside_its_validity_says_when_it_was_valid() {
    let env = env();
    let mut spec = env.valid_spec();
    spec.identity.period = Period::month(2025, 8);
    let (path, _) = env.write("late.xlsx", &spec);
    let mut ctx = env.context("late.xlsx", &NoHistory);
    ctx.today = NaiveDate::from_ymd_opt(2025, 9, 10).expect("date");
    let checked = env.check(&path, &ctx);
    let found = of_rule(&checked, 3);
    assert_eq!(found.len(), 1, "{}", dump(&checked.findings));
    assert!(found[0].message_vi.contains("30/06/2025"), "{}", found[0].message_vi);
}

#[test]
fn a_unit_name_that_does_not_match_its_code_is_a_warning() {
    let env = env();
    let mut spec = env.valid_spec();
    spec.identity.unit_name = "Huyện Na Rì".into();
    let (checked, layout) = check(&env, &spec, &NoHistory);
    let f = single(&checked, 4, "Bieu01", &layout.identity_cells["Tên đơn vị"]);
    assert_eq!(f.severity, Severity::Warning);
    assert!(checked.return_.is_some());
}

fn history_of(entries: &[(Period, &str, Option<f64>, Option<f64>)]) -> MemoryHistory {
    let mut history = MemoryHistory::new();
    for (p, code, value, ytd) in entries {
        history.insert(UNIT, *p, code, *value, *ytd);
    }
    history
}

#[test]
fn year_to_date_must_continue_last_months_stored_value() {
    let env = env();
    let spec = env.valid_spec();
    let may = Period::month(2015, 5);
    // B01: stored 2 + this month 2 = 4, but the return says 5.
    // B02: stored 9 + 6 = 15, as the return says.
    let history = history_of(&[(may, "B01", Some(1.0), Some(2.0)), (may, "B02", Some(3.0), Some(9.0))]);
    let (checked, layout) = check(&env, &spec, &history);
    let f = single(&checked, 18, "Bieu01", &ytd_cell(&layout, "B01"));
    assert_eq!(f.expected.as_deref(), Some("4"));
    assert_eq!(f.severity, Severity::Warning);
}

#[test]
fn in_january_the_year_to_date_equals_the_month() {
    let env = env();
    let mut spec = env.valid_spec();
    spec.identity.period = Period::month(2015, 1);
    let (checked, layout) = check(&env, &spec, &NoHistory);
    let found = of_rule(&checked, 18);
    assert!(found.iter().any(|f| f.location.cell == Some(ytd_cell(&layout, "B01"))));
    // B06 is 1 this month and 1 to date.
    assert!(!found.iter().any(|f| f.location.cell == Some(ytd_cell(&layout, "B06"))));
}

#[test]
fn to_date_counts_do_not_fall_within_the_year() {
    let env = env();
    let spec = env.valid_spec();
    let history = history_of(&[(Period::month(2015, 5), "D04", Some(5.0), None)]);
    let (checked, layout) = check(&env, &spec, &history);
    let f = single(&checked, 19, "Bieu01", &this_cell(&layout, "D04"));
    assert_eq!(f.expected.as_deref(), Some("≥ 5"));
}

#[test]
fn an_outlier_against_twelve_months_is_flagged_but_small_counts_stay_quiet() {
    let env = env();
    let months: Vec<Period> = (1..=12).map(|n| period().add_months(-n)).collect();
    // A02 usually 2–4; this month 40.
    let usual = [3.0, 3.0, 4.0, 3.0, 2.0, 3.0, 3.0, 4.0, 3.0, 3.0, 3.0, 3.0];
    // A01.6 a small count that is nearly always 1: its MAD is 0.
    let noisy = [1.0, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0, 2.0, 1.0, 1.0, 1.0, 1.0];
    let mut entries = Vec::new();
    for (i, p) in months.iter().enumerate() {
        entries.push((*p, "A02", Some(usual[i]), None));
        entries.push((*p, "A01.6", Some(noisy[i]), None));
    }
    let history = history_of(&entries);
    let mut spec = env.valid_spec();
    set(&mut spec, "A02", CellInput::Number(40.0));
    let (checked, layout) = check(&env, &spec, &history);
    let f = single(&checked, 20, "Bieu01", &this_cell(&layout, "A02"));
    assert_eq!(f.severity, Severity::Warning);

    // With a MAD of 0 every change is beyond 3 robust SDs; the form file's
    // min_change (10) keeps a 3 and a 7 quiet and flags a 12.
    let mut spec = env.valid_spec();
    set(&mut spec, "A01.6", CellInput::Number(3.0));
    let (checked, _) = check(&env, &spec, &history);
    assert!(of_rule(&checked, 20).is_empty(), "{}", dump(&checked.findings));
    set(&mut spec, "A01.6", CellInput::Number(7.0));
    let (checked, _) = check(&env, &spec, &history);
    assert!(of_rule(&checked, 20).is_empty(), "{}", dump(&checked.findings));
    set(&mut spec, "A01.6", CellInput::Number(12.0));
    let (checked, layout) = check(&env, &spec, &history);
    single(&checked, 20, "Bieu01", &this_cell(&layout, "A01.6"));
}

#[test]
fn the_rules_across_periods_read_a_month_alike_by_position_and_by_code() {
    // A month laid out by the form being checked is read by position; one
    // laid out by another copy of the form (another version's lines), or
    // by none, by code. The findings of rules 18–20 are the same.
    let env = env();
    let form = env.settings.forms.last().unwrap();
    let other = Form::embedded().unwrap();
    assert!(!Arc::ptr_eq(form.line_codes(), other.line_codes()));
    let months: Vec<Period> = (1..=12).map(|n| period().add_months(-n)).collect();
    let usual = [3.0, 3.0, 4.0, 3.0, 2.0, 3.0, 3.0, 4.0, 3.0, 3.0, 3.0, 3.0];
    let mut histories = [
        MemoryHistory::new(),
        MemoryHistory::laid_out_by(form),
        MemoryHistory::laid_out_by(&other),
    ];
    for history in &mut histories {
        for (i, p) in months.iter().enumerate() {
            history.insert(UNIT, *p, "A02", Some(usual[i]), None);
            // Last month's year to date of B01 (rule 18) and D04 (rule 19).
            history.insert(UNIT, *p, "B01", Some(1.0), Some(if i == 0 { 2.0 } else { 1.0 }));
            history.insert(UNIT, *p, "D04", Some(5.0), None);
            // A code no form knows stays readable by code.
            history.insert(UNIT, *p, "Z99", Some(7.0), None);
            // A blank stored value stays blank, never 0.
            history.insert(UNIT, *p, "A03", None, None);
        }
    }
    let mut spec = env.valid_spec();
    set(&mut spec, "A02", CellInput::Number(40.0));
    let mut seen = Vec::new();
    for history in &histories {
        let month = history.month(UNIT, months[0]).unwrap();
        assert_eq!(month.get("Z99").and_then(|v| v.value), Some(7.0));
        assert_eq!(month.get("A02").and_then(|v| v.value), Some(3.0));
        assert_eq!(month.get("A01"), None, "a line not stored is not there");
        let a02 = form.line_index("A02").unwrap();
        assert_eq!(month.line(form.line_codes(), a02, "A02"), month.get("A02"));
        let a03 = form.line_index("A03").unwrap();
        let blank = Some(HistoryValue { value: None, ytd: None });
        assert_eq!(month.line(form.line_codes(), a03, "A03"), blank);
        assert_eq!(month.get("A03"), blank);
        let (checked, layout) = check(&env, &spec, history);
        single(&checked, 18, "Bieu01", &ytd_cell(&layout, "B01"));
        single(&checked, 19, "Bieu01", &this_cell(&layout, "D04"));
        single(&checked, 20, "Bieu01", &this_cell(&layout, "A02"));
        seen.push(dump(&checked.findings));
    }
    assert_eq!(seen[0], seen[1]);
    assert_eq!(seen[0], seen[2]);
}

/// A03 = 28 with its seven parts as the valid return has them, scaled so
/// that A03 is `total` (the rest in A03.7).
fn with_a03(spec: &mut ReturnSpec<'_>, total: f64) {
    set(spec, "A03", CellInput::Number(total));
    set(spec, "A03.7", CellInput::Number(total - 21.0));
}

#[test]
fn a_history_of_zeros_is_judged_by_the_jump_test_alone_as_the_form_file_says() {
    let env = env();
    let months: Vec<Period> = (1..=12).map(|n| period().add_months(-n)).collect();
    // C03: 0 in ten months, 2 and 3 in two: median and MAD 0.
    let sparse = [0.0, 0.0, 2.0, 0.0, 0.0, 0.0, 3.0, 0.0, 0.0, 0.0, 0.0, 0.0];
    let entries: Vec<(Period, &str, Option<f64>, Option<f64>)> = months
        .iter()
        .zip(sparse)
        .map(|(p, v)| (*p, "C03", Some(v), None))
        .collect();
    let history = history_of(&entries);
    let mut spec = env.valid_spec();
    // 25 is not more than 10 × 3: quiet, though 25 robust SDs of 0 away.
    set(&mut spec, "C03", CellInput::Number(25.0));
    let (checked, _) = check(&env, &spec, &history);
    assert!(of_rule(&checked, 20).is_empty(), "{}", dump(&checked.findings));
    // 31 is more than 10 × 3: the jump test reports it.
    set(&mut spec, "C03", CellInput::Number(31.0));
    let (checked, layout) = check(&env, &spec, &history);
    single(&checked, 20, "Bieu01", &this_cell(&layout, "C03"));
    // Without the form file's parameter, the form's literal rule flags the 25.
    let mut forms = env.settings.forms.clone();
    for form in &mut forms {
        for rule in &mut form.rules {
            if let RuleKind::Outlier(o) = &mut rule.kind {
                o.sparse_by_jump_only = false;
            }
        }
    }
    set(&mut spec, "C03", CellInput::Number(25.0));
    let (path, _) = env.write("return.xlsx", &spec);
    let mut ctx = env.context("return.xlsx", &history);
    ctx.forms = &forms;
    let checked = env.check(&path, &ctx);
    assert_eq!(of_rule(&checked, 20).len(), 1, "{}", dump(&checked.findings));
}

#[test]
fn a03_around_fifty_jumping_to_ninety_is_an_outlier_as_the_form_says() {
    let env = env();
    let months: Vec<Period> = (1..=12).map(|n| period().add_months(-n)).collect();
    // Median 50, MAD 1: robust SD 1.48, so 3 robust SDs is 4.4. The old
    // rule wanted a distance of max(10, median) = 50 and kept quiet.
    let history_values = [49.0, 50.0, 51.0, 50.0, 52.0, 48.0, 50.0, 51.0, 49.0, 50.0, 50.0, 51.0];
    let entries: Vec<(Period, &str, Option<f64>, Option<f64>)> = months
        .iter()
        .zip(history_values)
        .map(|(p, v)| (*p, "A03", Some(v), None))
        .collect();
    let history = history_of(&entries);
    let mut spec = env.valid_spec();
    with_a03(&mut spec, 90.0);
    let (checked, layout) = check(&env, &spec, &history);
    let f = single(&checked, 20, "Bieu01", &this_cell(&layout, "A03"));
    assert_eq!(f.expected.as_deref(), Some("50 ± 4.448"));
    // 58 is 8 away: beyond 3 robust SDs but under the form file's min_change.
    let mut spec = env.valid_spec();
    with_a03(&mut spec, 58.0);
    let (checked, _) = check(&env, &spec, &history);
    assert!(of_rule(&checked, 20).is_empty(), "{}", dump(&checked.findings));
    // 61 is 11 away: reported.
    with_a03(&mut spec, 61.0);
    let (checked, _) = check(&env, &spec, &history);
    assert_eq!(of_rule(&checked, 20).len(), 1, "{}", dump(&checked.findings));
}

#[test]
fn a_jump_to_ten_times_the_largest_past_value_is_flagged_whatever_last_month_was() {
    let env = env();
    // Too few months for the robust test; the jump rule still applies.
    let history = history_of(&[
        (Period::month(2015, 3), "C03", Some(2.0), Some(3.0)),
        (Period::month(2015, 4), "C03", Some(1.0), Some(4.0)),
        (Period::month(2015, 5), "C03", Some(0.0), Some(4.0)),
    ]);
    let mut spec = env.valid_spec();
    set(&mut spec, "C03", CellInput::Number(25.0));
    set_ytd(&mut spec, "C03", CellInput::Number(29.0));
    let (checked, layout) = check(&env, &spec, &history);
    let f = single(&checked, 20, "Bieu01", &this_cell(&layout, "C03"));
    assert!(f.message_en.contains("more than 10× the largest"), "{}", f.message_en);
    assert!(of_rule(&checked, 18).is_empty(), "{}", dump(&checked.findings));

    // Last month was 1, not 0: the form's rule does not ask for a zero.
    let history = history_of(&[
        (Period::month(2015, 3), "C03", Some(2.0), Some(3.0)),
        (Period::month(2015, 4), "C03", Some(0.0), Some(3.0)),
        (Period::month(2015, 5), "C03", Some(1.0), Some(4.0)),
    ]);
    let (checked, layout) = check(&env, &spec, &history);
    single(&checked, 20, "Bieu01", &this_cell(&layout, "C03"));
    // Three months of 0 give "10× the largest" no scale: no jump.
    let zeros = history_of(&[
        (Period::month(2015, 3), "C03", Some(0.0), Some(0.0)),
        (Period::month(2015, 4), "C03", Some(0.0), Some(0.0)),
        (Period::month(2015, 5), "C03", Some(0.0), Some(0.0)),
    ]);
    let (checked, _) = check(&env, &spec, &zeros);
    assert!(of_rule(&checked, 20).is_empty(), "{}", dump(&checked.findings));
    // 19 is not more than 10 × 2, the largest past value: quiet.
    set(&mut spec, "C03", CellInput::Number(19.0));
    set_ytd(&mut spec, "C03", CellInput::Number(23.0));
    let (checked, _) = check(&env, &spec, &history);
    assert!(of_rule(&checked, 20).is_empty(), "{}", dump(&checked.findings));
}

#[test]
fn a_form_without_a_rule_kind_skips_that_check() {
    let env = env();
    let mut spec = env.valid_spec();
    set(&mut spec, "A01.1", CellInput::Number(2.0));
    let (path, _) = env.write("return.xlsx", &spec);
    let mut forms = env.settings.forms.clone();
    for form in &mut forms {
        form.rules.retain(|r| r.kind.name() != "parts_sum");
    }
    let mut ctx = env.context("return.xlsx", &NoHistory);
    ctx.forms = &forms;
    let checked = env.check(&path, &ctx);
    assert!(checked.findings.is_empty(), "{}", dump(&checked.findings));
}

#[test]
fn history_months_cover_the_outlier_window() {
    let env = env();
    let months = history_months(env.settings.current_form(), Period::month(2015, 6));
    assert_eq!(months.len(), 12);
    assert_eq!(months[0], Period::month(2015, 5));
    assert_eq!(months[11], Period::month(2014, 6));
}
