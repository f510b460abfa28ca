//! The foundation: the form as data, the register, blank returns, `init`,
//! `check-form` and `synth`.

use std::collections::BTreeMap;
use std::path::Path;

use baocao::domain::{Agg, Form, Level, Register, RuleKind};
use chrono::NaiveDate;

use crate::common::{baocao, baocao_ok, files_with_ext, sheet, sheet_names, temp_dir, text, value_right_of};

/// The line codes of form-01-pcmd.md, in order.
const DOCUMENT_CODES: &str = "A01 A01.1 A01.2 A01.3 A01.4 A01.5 A01.6 A01.7 A02 A03 A03.1 A03.2 A03.3 A03.4 A03.5 \
A03.6 A03.7 A04 A04.1 B01 B02 B03 B04 B05 B06 B07 B08 B08.1 B08.2 B08.3 B09 B10 B11 B11.1 C01 C02 C03 C04 C05 C06 \
C07 C08 C09 C10 C11 C11.1 C11.2 C11.3 C11.4 D01 D02 D03 D04 D05 D06 E01 E02 E03 E04 E05 E06 F01 F02 F03 F04 F05 \
F05.1 F05.2 F05.3 F05.4 F05.5 F06 F07 F08";

fn form() -> Form {
    Form::embedded().unwrap_or_else(|e| panic!("{e}"))
}

/// The (code, agg) rows of the indicator tables of the form document, when
/// the shared domain folder is beside the checkout.
fn document_table() -> Option<Vec<(String, String)>> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/domain/form-01-pcmd.md");
    let text = std::fs::read_to_string(path).ok()?;
    let rows = text
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| code") && !l.starts_with("| id"))
        .filter_map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            let code = cells.get(1)?;
            let agg = cells.get(6)?;
            (code.len() >= 3 && code.as_bytes()[0].is_ascii_uppercase() && code.as_bytes()[1].is_ascii_digit())
                .then(|| (code.to_string(), agg.to_string()))
        })
        .collect();
    Some(rows)
}

#[test]
fn form_file_loads_with_no_problems_and_its_codes_are_the_documents_in_order() {
    let problems = Form::problems(baocao::domain::form::EMBEDDED_FORM);
    assert!(problems.is_empty(), "{problems:#?}");
    let form = form();
    let codes: Vec<&str> = form.lines.iter().map(|l| l.code.as_str()).collect();
    let expected: Vec<&str> = DOCUMENT_CODES.split_whitespace().collect();
    assert_eq!(codes, expected);
    assert_eq!(codes.len(), 74);
    if let Some(table) = document_table() {
        let doc_codes: Vec<&str> = table.iter().map(|(c, _)| c.as_str()).collect();
        assert_eq!(codes, doc_codes, "form file and form-01-pcmd.md disagree");
        for (code, agg) in &table {
            let line = form.line(code).unwrap_or_else(|| panic!("{code}"));
            assert_eq!(line.agg.as_str(), agg, "{code}");
        }
    }
}

#[test]
fn stocks_have_no_year_to_date_and_required_lines_are_sections_a_d_and_f03_f04() {
    let form = form();
    for line in &form.lines {
        assert_eq!(line.ytd, line.agg == Agg::Sum, "{}", line.code);
        let required = line.section == "A" || line.section == "D" || line.code == "F03" || line.code == "F04";
        assert_eq!(line.required, required, "{}", line.code);
    }
    let last: Vec<&str> = form
        .lines
        .iter()
        .filter(|l| l.agg == Agg::Last)
        .map(|l| l.code.as_str())
        .collect();
    for code in ["A01", "C09", "C11", "D04", "E06", "F03", "F04"] {
        assert!(last.contains(&code), "{code} is a stock");
    }
}

#[test]
fn every_rule_of_the_form_document_is_present() {
    let form = form();
    for id in 1..=21 {
        assert!(form.rules.iter().any(|r| r.id == id), "rule {id} missing");
    }
    let parts: Vec<(String, Vec<String>)> = form
        .rules
        .iter()
        .filter_map(|r| match &r.kind {
            RuleKind::PartsSum { parent, parts } => Some((parent.clone(), parts.clone())),
            _ => None,
        })
        .collect();
    let expected = [
        ("A01", "A01.1 A01.2 A01.3 A01.4"),
        ("A03", "A03.1 A03.2 A03.3 A03.4 A03.5 A03.6 A03.7"),
        ("B08", "B08.1 B08.2 B08.3"),
        ("C11", "C11.1 C11.2 C11.3 C11.4"),
        ("F05", "F05.1 F05.2 F05.3 F05.4 F05.5"),
        ("F05", "F06 F07 F08"),
    ];
    assert_eq!(parts.len(), expected.len());
    for (parent, list) in expected {
        let list: Vec<String> = list.split_whitespace().map(String::from).collect();
        assert!(
            parts.contains(&(parent.to_string(), list.clone())),
            "{parent} = {list:?}"
        );
    }
    let of_which: Vec<(String, String)> = form
        .rules
        .iter()
        .filter_map(|r| match &r.kind {
            RuleKind::OfWhich { parent, child } => Some((child.clone(), parent.clone())),
            _ => None,
        })
        .collect();
    for (child, parent) in [
        ("A01.5", "A01"),
        ("A01.6", "A01"),
        ("A01.7", "A01"),
        ("A04.1", "A04"),
        ("B11.1", "B11"),
    ] {
        assert!(of_which.contains(&(child.into(), parent.into())), "{child} ≤ {parent}");
    }
    // Rule 12–14 comparisons with their severities.
    let comparisons: Vec<(Vec<String>, String, String)> = form
        .rules
        .iter()
        .filter_map(|r| match &r.kind {
            RuleKind::NotGreater { left, right } => {
                Some((left.clone(), right.clone(), r.severity.as_str().to_string()))
            }
            _ => None,
        })
        .collect();
    for (left, right, severity) in [
        ("B03", "B02", "error"),
        ("B04", "B03", "error"),
        ("B06", "B03", "error"),
        ("B01", "B02", "warning"),
        ("C09", "A01.7", "error"),
        ("D02 D03", "D01", "error"),
        ("D04", "D01", "error"),
        ("D06", "D01", "warning"),
        ("E06", "A03", "warning"),
        ("F04", "F03", "error"),
        ("E01", "E02", "warning"),
    ] {
        let left: Vec<String> = left.split_whitespace().map(String::from).collect();
        assert!(
            comparisons.contains(&(left.clone(), right.to_string(), severity.to_string())),
            "{left:?} ≤ {right} ({severity})"
        );
    }
}

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap_or_else(|e| panic!("{s}: {e}"))
}

#[test]
fn blank_returns_for_every_district_in_2011_2015_and_2021_read_back_right() {
    let register = Register::embedded().unwrap_or_else(|e| panic!("{e}"));
    let form = form();
    let dir = temp_dir();
    for (period, end, communes_total) in [
        ("2011-08", "2011-08-31", 122),
        ("2015-06", "2015-06-30", 122),
        ("2021-06", "2021-06-30", 108),
    ] {
        let out = dir.path().join(period);
        let out_text = out.to_string_lossy().into_owned();
        let stdout = baocao_ok(
            &[
                "--workspace",
                &out_text,
                "template",
                "--all",
                "--period",
                period,
                "--out",
                &out_text,
            ],
            0,
        );
        let files = files_with_ext(&out, "xlsx");
        assert_eq!(files.len(), 8, "{stdout}");
        let mut total = 0;
        for path in &files {
            let names = sheet_names(path);
            assert_eq!(names, vec!["Bieu01", "Xa", "HuongDan"]);
            let main = sheet(path, "Bieu01");
            let code = value_right_of(&main, "Mã đơn vị:").unwrap_or_default();
            let unit = register
                .district_at(&code, date(end))
                .unwrap_or_else(|| panic!("{code} at {end}"));
            assert_eq!(value_right_of(&main, "Biểu số:").as_deref(), Some("01/PCMD-H"));
            assert_eq!(value_right_of(&main, "Phiên bản:").as_deref(), Some("1"));
            assert_eq!(
                value_right_of(&main, "Tên đơn vị:").as_deref(),
                Some(unit.name.as_str())
            );
            assert_eq!(value_right_of(&main, "Kỳ báo cáo:").as_deref(), Some(period));
            if code == "058" {
                let expected = if period == "2011-08" {
                    "Thị xã Bắc Kạn"
                } else {
                    "Thành Phố Bắc Kạn"
                };
                assert_eq!(unit.name, expected);
            }
            // Every line code appears exactly once in the Mã số column.
            let header = main
                .rows()
                .position(|r| r.iter().any(|c| text(c) == "Mã số"))
                .unwrap_or_else(|| panic!("no Mã số header in {}", path.display()));
            let code_col = main
                .rows()
                .nth(header)
                .and_then(|r| r.iter().position(|c| text(c) == "Mã số"))
                .unwrap_or(0);
            let mut seen: BTreeMap<String, usize> = BTreeMap::new();
            for row in main.rows().skip(header + 1) {
                if let Some(cell) = row.get(code_col) {
                    let t = text(cell);
                    if !t.is_empty() {
                        *seen.entry(t).or_default() += 1;
                    }
                }
            }
            for line in &form.lines {
                assert_eq!(seen.get(&line.code), Some(&1), "{} in {}", line.code, path.display());
            }
            assert_eq!(seen.len(), form.lines.len());
            // The commune sheet lists the register's communes at the period's end.
            let xa = sheet(path, "Xa");
            let header = xa
                .rows()
                .position(|r| r.first().map(text).as_deref() == Some("Mã xã"))
                .unwrap_or(0);
            let listed: Vec<(String, String)> = xa
                .rows()
                .skip(header + 1)
                .filter(|r| r.first().is_some_and(|c| !text(c).is_empty()))
                .map(|r| (text(&r[0]), text(&r[1])))
                .collect();
            let expected: Vec<(String, String)> = register
                .communes_of(&code, date(end))
                .iter()
                .map(|c| (c.code.clone(), c.name.clone()))
                .collect();
            assert_eq!(listed, expected, "{}", path.display());
            total += listed.len();
        }
        assert_eq!(total, communes_total, "{period}");
    }
}

#[test]
fn template_refuses_unknown_units_units_not_valid_then_and_bad_periods_with_exit_2() {
    let dir = temp_dir();
    let ws = dir.path().to_string_lossy().into_owned();
    for (args, needle) in [
        (
            vec!["template", "--unit", "099", "--period", "2015-06"],
            "no district has this code",
        ),
        (
            vec!["template", "--unit", "058", "--period", "2026-06"],
            "not a valid district",
        ),
        (vec!["template", "--unit", "061", "--period", "2015-13"], "period"),
        (vec!["template", "--unit", "061", "--period", "2015Q2"], "monthly"),
    ] {
        let mut full = vec!["--workspace", ws.as_str()];
        full.extend(args.iter().copied());
        let output = baocao(&full);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
    assert!(
        files_with_ext(dir.path(), "xlsx").is_empty(),
        "nothing written on error"
    );
}

#[test]
fn init_writes_a_commented_config_that_loads_and_the_workspace_folders() {
    let dir = temp_dir();
    let ws = dir.path().join("ws");
    let ws_text = ws.to_string_lossy().into_owned();
    baocao_ok(&["init", &ws_text], 0);
    let config = std::fs::read_to_string(ws.join("baocao.toml")).unwrap_or_default();
    assert!(config.contains("cutoff_day = 1"));
    assert!(
        config.contains("[[daemon.schedule]]"),
        "schedule entries are offered, commented"
    );
    for folder in ["inbox", "archive", "rejected", "feedback", "reports"] {
        assert!(ws.join(folder).is_dir(), "{folder}");
    }
    let settings = baocao::config::Settings::load(&ws, true).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(settings.calendar.cutoff_day, 1);
    assert_eq!(settings.config.province.name, "Bắc Kạn");
    // A second init leaves an edited configuration alone.
    std::fs::write(ws.join("baocao.toml"), config.replace("due_days = 5", "due_days = 9")).unwrap_or_default();
    baocao_ok(&["init", &ws_text], 0);
    let again = std::fs::read_to_string(ws.join("baocao.toml")).unwrap_or_default();
    assert!(again.contains("due_days = 9"));
}

#[test]
fn a_config_with_an_unknown_key_or_a_bad_cutoff_day_is_refused_naming_it() {
    let dir = temp_dir();
    let base = baocao::config::DEFAULT_CONFIG;
    for (text, needle) in [
        (base.replace("due_days = 5", "due_days = 5\ndeu_days = 3"), "deu_days"),
        (base.replace("cutoff_day = 1", "cutoff_day = 31"), "cutoff_day"),
    ] {
        std::fs::write(dir.path().join("baocao.toml"), text).unwrap_or_default();
        let ws = dir.path().to_string_lossy().into_owned();
        let output = baocao(&["--workspace", &ws, "template", "--unit", "061", "--period", "2015-06"]);
        assert_eq!(output.status.code(), Some(2));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(needle), "{stderr}");
    }
}

#[test]
fn check_form_reports_every_problem_of_a_broken_form_at_once() {
    let dir = temp_dir();
    let good = baocao::domain::form::EMBEDDED_FORM;
    let path = dir.path().join("good.toml");
    std::fs::write(&path, good).unwrap_or_default();
    let stdout = baocao_ok(&["check-form", &path.to_string_lossy()], 0);
    assert!(stdout.contains("no problems"), "{stdout}");

    // Several faults in one file: all must be reported.
    let broken = good
        .replacen("code = \"A02\"", "code = \"A01\"", 1)
        .replacen("parent = \"B08\"\nparts", "parent = \"B99\"\nparts", 1)
        .replacen("kind = \"outlier\"", "kind = \"outlierz\"", 1)
        .replacen("kind = \"value_domain\"", "kind = \"value_domain\"\ntolerance = 2", 1)
        .replacen("agg = \"last\"\nytd = false", "agg = \"last\"\nytd = true", 1)
        .replacen("parent = \"A04\"\n", "parent = \"A99\"\n", 1);
    let path = dir.path().join("broken.toml");
    std::fs::write(&path, &broken).unwrap_or_default();
    let stdout = baocao_ok(&["check-form", &path.to_string_lossy()], 1);
    for needle in [
        "line code A01 appears more than once",
        "names line B99",
        "unknown rule kind \"outlierz\"",
        "unknown key `tolerance`",
        "cannot have a year-to-date value",
        "parent A99 is not a line of the form",
    ] {
        assert!(stdout.contains(needle), "missing {needle:?} in\n{stdout}");
    }
    // Not TOML at all.
    std::fs::write(&path, "[form\ncode=").unwrap_or_default();
    let stdout = baocao_ok(&["check-form", &path.to_string_lossy()], 1);
    assert!(stdout.contains("not valid TOML"), "{stdout}");
}

#[test]
fn register_resolves_codes_by_date() {
    let register = Register::embedded().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(register.rows_of(Level::District, "058").len(), 2);
    assert!(register
        .at(Level::Commune, "01954", date("2023-04-10"))
        .is_some_and(|u| u.name == "Thị trấn Vân Tùng"));
    assert!(register
        .at(Level::Commune, "01954", date("2023-04-09"))
        .is_some_and(|u| u.name == "Xã Vân Tùng"));
}
