//! The 1 July 2025 reorganisation: Bắc Kạn (06) merged into Thái Nguyên (19)
//! and the district level abolished, so from that month the communes report
//! for themselves on the same form. The register decides who reports each
//! month; templates, checks, ingest, synth, history and exports follow it.

use std::path::{Path, PathBuf};

use baocao::config::Settings;
use baocao::domain::{Level, Period};
use baocao::pipeline::check::check_path;
use baocao::pipeline::ingest::{ingest, IngestOptions};
use baocao::report::completeness::expected_units;
use baocao::store::Store;
use baocao::template::blank_spec;
use chrono::NaiveDate;

use crate::common::{baocao, baocao_ok, files_with_ext, sheet, temp_dir, text, value_right_of};

fn p(text: &str) -> Period {
    Period::parse(text).unwrap()
}

/// The built-in configuration and register, as `baocao template` uses them
/// outside a workspace.
fn built_in(dir: &Path) -> Settings {
    Settings::load(dir, false).unwrap()
}

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 20).unwrap()
}

fn shipped_register() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("templates/units/bac-kan.csv")
}

/// Writes the blank return of the register row `code` valid on `row_date`,
/// dated `period` (possibly a month the unit does not report in).
fn blank_return(settings: &Settings, dir: &Path, code: &str, level: Level, row_date: &str, period: &str) -> PathBuf {
    let date = NaiveDate::parse_from_str(row_date, "%Y-%m-%d").unwrap();
    let unit = settings.register.at(level, code, date).unwrap().clone();
    let spec = blank_spec(settings, &unit, p(period)).unwrap();
    let path = dir.join(format!("{code}_{period}.xlsx"));
    baocao::template::write_return(&path, &spec).unwrap();
    path
}

#[test]
fn the_units_expected_are_the_8_districts_until_june_2025_and_the_92_communes_of_19_after() {
    let dir = temp_dir();
    let settings = built_in(dir.path());
    assert_eq!(settings.config.province.code, "06");
    let june = expected_units(&settings, p("2025-06"));
    assert_eq!(june.len(), 8);
    assert!(june.iter().all(|u| u.level == Level::District));
    let july = expected_units(&settings, p("2025-07"));
    assert_eq!(july.len(), 92);
    assert!(july.iter().all(|u| u.level == Level::Commune && u.parent_code == "19"));
    // 2011–2025 is unchanged: the 8 districts of the time.
    let codes: Vec<String> = expected_units(&settings, p("2011-08"))
        .into_iter()
        .map(|u| u.code)
        .collect();
    assert_eq!(codes, ["058", "060", "061", "062", "063", "064", "065", "066"]);
}

#[test]
fn template_all_for_2025_08_writes_the_92_communes_blank_returns() {
    let dir = temp_dir();
    let out = dir.path().join("blank");
    let ws = dir.path().to_string_lossy().into_owned();
    let stdout = baocao_ok(
        &[
            "--workspace",
            &ws,
            "template",
            "--all",
            "--period",
            "2025-08",
            "--out",
            &out.to_string_lossy(),
        ],
        0,
    );
    let files = files_with_ext(&out, "xlsx");
    assert_eq!(files.len(), 92, "{stdout}");
    let settings = built_in(dir.path());
    let end = p("2025-08").end(&settings.calendar);
    for path in &files {
        let main = sheet(path, "Bieu01");
        let code = value_right_of(&main, "Mã đơn vị:").unwrap();
        let unit = settings.register.at(Level::Commune, &code, end).unwrap();
        assert_eq!(unit.parent_code, "19", "{}", path.display());
        let xa = sheet(path, "Xa");
        let listed: Vec<String> = xa
            .rows()
            .skip_while(|r| r.first().map(text).as_deref() != Some("Mã xã"))
            .skip(1)
            .filter(|r| r.first().is_some_and(|c| !text(c).is_empty()))
            .map(|r| text(&r[0]))
            .collect();
        assert_eq!(listed, std::slice::from_ref(&code), "{}", path.display());
    }
}

#[test]
fn a_commune_template_read_back_names_the_commune_and_the_province_agency_and_lists_itself() {
    let dir = temp_dir();
    let out = dir.path().join("01840.xlsx");
    let ws = dir.path().to_string_lossy().into_owned();
    // A commune code typed as a number: 1840 means 01840 in a commune month.
    baocao_ok(
        &[
            "--workspace",
            &ws,
            "template",
            "--unit",
            "1840",
            "--period",
            "2025-08",
            "--out",
            &out.to_string_lossy(),
        ],
        0,
    );
    let settings = built_in(dir.path());
    let main = sheet(&out, "Bieu01");
    assert_eq!(value_right_of(&main, "Biểu số:").as_deref(), Some("01/PCMD-H"));
    assert_eq!(value_right_of(&main, "Mã đơn vị:").as_deref(), Some("01840"));
    assert_eq!(value_right_of(&main, "Tên đơn vị:").as_deref(), Some("Phường Đức Xuân"));
    assert_eq!(value_right_of(&main, "Kỳ báo cáo:").as_deref(), Some("2025-08"));
    let cells: Vec<String> = main.rows().flat_map(|r| r.iter().map(text)).collect();
    assert!(cells.iter().any(|c| c == "UBND PHƯỜNG ĐỨC XUÂN"), "{cells:?}");
    let province = &settings.config.province;
    assert!(!province.commune_return_recipient.is_empty());
    let recipient = format!("Kính gửi: {}", province.commune_return_recipient);
    assert!(cells.contains(&recipient), "{cells:?}");
    assert!(cells.contains(&province.commune_agency));
    assert!(cells.iter().any(|c| c == "(Cấp xã)"));
    let xa = sheet(&out, "Xa");
    let rows: Vec<(String, String)> = xa
        .rows()
        .skip_while(|r| r.first().map(text).as_deref() != Some("Mã xã"))
        .skip(1)
        .filter(|r| r.first().is_some_and(|c| !text(c).is_empty()))
        .map(|r| (text(&r[0]), text(&r[1])))
        .collect();
    assert_eq!(rows, [("01840".to_string(), "Phường Đức Xuân".to_string())]);

    // The same code before the change is another ward, which did not report.
    let output = baocao(&["--workspace", &ws, "template", "--unit", "01840", "--period", "2025-05"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("not a valid commune"), "{stderr}");
}

#[test]
fn a_district_return_for_2025_08_is_rejected_saying_the_district_no_longer_exists() {
    let dir = temp_dir();
    let settings = built_in(dir.path());
    let path = blank_return(&settings, dir.path(), "061", Level::District, "2025-06-30", "2025-08");
    let checked = check_path(&path, "061_2025-08.xlsx", &settings, today(), None).unwrap();
    let identity: Vec<_> = checked.findings.iter().filter(|f| f.rule == 3).collect();
    assert_eq!(identity.len(), 1, "{:#?}", checked.findings);
    let finding = identity[0];
    assert!(finding.is_error());
    assert_eq!(finding.location.cell.as_deref(), Some("C11"));
    let message = &finding.message_vi;
    assert!(message.contains("Huyện Ba Bể (mã 061) không còn tồn tại"), "{message}");
    assert!(
        message.contains("30/06/2025") && message.contains("01/07/2025"),
        "{message}"
    );
    assert!(message.contains("từng xã, phường lập báo cáo riêng"), "{message}");
    // It names the communes that now cover the district's territory, from the mapping.
    let successors = settings.mapping.new_units_of_district("061");
    assert!(!successors.is_empty());
    assert!(
        message.contains(&format!("nay thuộc {} xã, phường", successors.len())),
        "{message}"
    );
    assert!(
        successors.iter().all(|c| message.contains(&format!("({c})"))),
        "{message}"
    );
    // The command line says the same, in Vietnamese, with exit code 1.
    let ws = dir.path().to_string_lossy().into_owned();
    let stdout = baocao_ok(&["--workspace", &ws, "check", &path.to_string_lossy()], 1);
    assert!(stdout.contains("không còn tồn tại"), "{stdout}");
}

#[test]
fn a_commune_return_for_2025_05_is_rejected_saying_communes_report_only_from_july() {
    let dir = temp_dir();
    let settings = built_in(dir.path());
    let path = blank_return(&settings, dir.path(), "01849", Level::Commune, "2025-07-01", "2025-05");
    let checked = check_path(&path, "01849_2025-05.xlsx", &settings, today(), None).unwrap();
    let identity: Vec<_> = checked.findings.iter().filter(|f| f.rule == 3).collect();
    assert_eq!(identity.len(), 1, "{:#?}", checked.findings);
    let message = &identity[0].message_vi;
    assert!(identity[0].is_error());
    assert!(
        message.contains("Xã Phong Quang (mã 01849, thuộc Tỉnh Thái Nguyên) chỉ là đơn vị báo cáo từ ngày 01/07/2025"),
        "{message}"
    );
    assert!(message.contains("huyện, thị xã, thành phố (8 đơn vị)"), "{message}");
    assert!(checked.claimed.period.is_some());
}

#[test]
fn a_commune_return_with_its_code_as_a_number_is_read_as_the_5_digit_commune() {
    let dir = temp_dir();
    let settings = built_in(dir.path());
    let unit = settings
        .register
        .reporting_unit("06", "01840", p("2025-08").end(&settings.calendar))
        .unwrap()
        .clone();
    let mut spec = blank_spec(&settings, &unit, p("2025-08")).unwrap();
    spec.identity.unit_code = "1840".into();
    spec.identity.unit_code_as_number = true;
    let path = dir.path().join("number.xlsx");
    baocao::template::write_return(&path, &spec).unwrap();
    let checked = check_path(&path, "number.xlsx", &settings, today(), None).unwrap();
    assert!(checked.findings.iter().all(|f| f.rule != 3), "{:#?}", checked.findings);
    assert_eq!(checked.claimed.unit_code.as_deref(), Some("01840"));
    assert_eq!(checked.claimed.unit_name.as_deref(), Some("Phường Đức Xuân"));
}

#[test]
fn a_synthetic_2025_with_the_shipped_register_ingests_600_returns_without_a_rejection() {
    let dir = temp_dir();
    let ws = dir.path().join("ws");
    let ws_text = ws.to_string_lossy().into_owned();
    let stdout = baocao_ok(
        &[
            "synth",
            "--months",
            "12",
            "--start",
            "2025-01",
            "--seed",
            "2025",
            "--register",
            &shipped_register().to_string_lossy(),
            "--out",
            &ws_text,
        ],
        0,
    );
    assert!(stdout.contains("100 units, 600 returns"), "{stdout}");
    let settings = Settings::load(&ws, true).unwrap();
    let options = IngestOptions {
        stable_seconds: Some(0),
        ..IngestOptions::default()
    };
    let summary = ingest(&settings, &options).unwrap();
    let rejected: Vec<_> = summary
        .files
        .iter()
        .filter(|f| f.findings.iter().any(|x| x.is_error()))
        .map(|f| (f.file.clone(), f.findings.iter().find(|x| x.is_error()).cloned()))
        .take(3)
        .collect();
    assert!(rejected.is_empty(), "{rejected:#?}");
    assert_eq!(summary.counts.seen, 600);
    assert_eq!(summary.counts.rejected, 0);
    assert_eq!(summary.counts.accepted + summary.counts.warnings, 600);

    let store = Store::open(&settings.paths.database).unwrap();
    for (month, units, level) in [("2025-06", 8, Level::District), ("2025-07", 92, Level::Commune)] {
        let current = store.current_submissions(&[p(month)]).unwrap();
        assert_eq!(current.len(), units, "{month}");
        let end = p(month).end(&settings.calendar);
        for s in &current {
            let code = s.unit_code.clone().unwrap();
            let unit = settings.register.reporting_unit("06", &code, end).unwrap();
            assert_eq!(unit.level, level, "{code} {month}");
        }
    }

    // history follows the month: 1840 in a commune month is 01840.
    let history = baocao_ok(
        &[
            "--workspace",
            &ws_text,
            "history",
            "--unit",
            "1840",
            "--period",
            "2025-08",
        ],
        0,
    );
    assert!(history.starts_with("01840 2025-08: 1 submission(s)"), "{history}");

    // The export carries the level and the territory: the former Bắc Kạn
    // territory (06) is the 8 districts before and 37 communes after.
    let csv_path = dir.path().join("2025.csv");
    baocao_ok(
        &[
            "--workspace",
            &ws_text,
            "export",
            "--period",
            "2025",
            "--format",
            "csv",
            "--out",
            &csv_path.to_string_lossy(),
        ],
        0,
    );
    let mut reader = csv::Reader::from_path(&csv_path).unwrap();
    let headers = reader.headers().unwrap().clone();
    let col = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let (period, unit, level, territory, former) = (
        col("period"),
        col("unit_code"),
        col("level"),
        col("territory"),
        col("former_districts"),
    );
    let mut units_by: std::collections::BTreeMap<(String, String, String), std::collections::BTreeSet<String>> =
        Default::default();
    let mut former_of_01840 = std::collections::BTreeSet::new();
    for record in reader.records() {
        let r = record.unwrap();
        let key = (r[period].to_string(), r[level].to_string(), r[territory].to_string());
        units_by.entry(key).or_default().insert(r[unit].to_string());
        if &r[unit] == "01840" {
            former_of_01840.insert(r[former].to_string());
        }
    }
    let count = |m: &str, l: &str, t: &str| {
        units_by
            .get(&(m.to_string(), l.to_string(), t.to_string()))
            .map_or(0, |s| s.len())
    };
    assert_eq!(count("2025-06", "district", "06"), 8);
    assert_eq!(
        count("2025-07", "commune", "06"),
        settings.mapping.territory_units().len()
    );
    assert_eq!(count("2025-07", "commune", "06"), 37);
    assert_eq!(count("2025-12", "commune", "19"), 55);
    assert_eq!(former_of_01840.into_iter().collect::<Vec<_>>(), ["058"]);

    // The Parquet dataset carries the same columns in each partition.
    let parquet = dir.path().join("pq");
    baocao_ok(
        &[
            "--workspace",
            &ws_text,
            "export",
            "--period",
            "2025-08",
            "--format",
            "parquet",
            "--out",
            &parquet.to_string_lossy(),
        ],
        0,
    );
    assert_eq!(files_with_ext(&parquet, "parquet").len(), 92);
    let part = parquet.join("period=2025-08").join("unit=01840").join("data.parquet");
    let file = std::fs::File::open(&part).unwrap();
    use polars::prelude::SerReader;
    let frame = polars::prelude::ParquetReader::new(file).finish().unwrap();
    let first = |name: &str| frame.column(name).unwrap().str().unwrap().get(0).map(str::to_string);
    assert_eq!(first("level").as_deref(), Some("commune"));
    assert_eq!(first("territory").as_deref(), Some("06"));
    assert_eq!(first("former_districts").as_deref(), Some("058"));
    assert_eq!(first("unit_name").as_deref(), Some("Phường Đức Xuân"));
}
