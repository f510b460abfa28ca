//! The consolidated report: hand-computed cases, properties over random
//! synthetic stores, the workbook read back with calamine and opened by
//! LibreOffice, determinism, and the `run` / `status` / `export` commands.

use std::path::Path;

use baocao::config::Settings;
use baocao::domain::Period;
use baocao::pipeline::ingest::ingest;
use baocao::report::consolidate::{consolidate, StoredFrame};
use baocao::report::{report_data, roster, write_report};
use baocao::store::{Status, Store};
use calamine::{open_workbook_auto, Data, DataType, Reader};

use crate::common::{bac_kan, baocao_ok, files_with_ext, p, submission, temp_dir, text};
use crate::ingest::{options, synth_workspace};

/// Stores one accepted return of `unit` for `month` with the given values.
fn store_return(store: &mut Store, unit: &str, month: &str, values: &[(&str, f64)], tag: &str) -> i64 {
    let values: Vec<(&str, Option<f64>)> = values.iter().map(|(l, v)| (*l, Some(*v))).collect();
    let received = format!("{month}-28T00:00:00Z");
    let new = submission(unit, month, &values, Status::Accepted, &received, tag);
    store.record_submission(&new.as_new()).unwrap().id
}

#[test]
fn a_half_year_takes_june_for_a_stock_sums_a_flow_marks_a_missing_month_and_counts_only_the_correction() {
    let dir = temp_dir();
    let settings = bac_kan(dir.path());
    let mut store = Store::open(&settings.paths.database).unwrap();
    for (m, month) in ["2015-01", "2015-02", "2015-03", "2015-04", "2015-05", "2015-06"]
        .iter()
        .enumerate()
    {
        let m = m as f64 + 1.0;
        // 061: A01 (stock) = 10 + month, B01 (flow) = month.
        store_return(
            &mut store,
            "061",
            month,
            &[("A01", 10.0 + m), ("B01", m), ("D01", 10.0), ("D02", 9.0)],
            "a",
        );
        // 062 misses March.
        if *month != "2015-03" {
            store_return(
                &mut store,
                "062",
                month,
                &[("A01", 3.0), ("B01", 2.0), ("D01", 2.0), ("D02", 1.0)],
                "a",
            );
        }
    }
    // A correction of 061's June return: A01 becomes 40.
    store_return(
        &mut store,
        "061",
        "2015-06",
        &[("A01", 40.0), ("B01", 6.0), ("D01", 10.0), ("D02", 9.0)],
        "b",
    );

    let data = report_data(&settings, &store, p("2015S1")).unwrap();
    let fig = |line: &str, unit: &str| data.current.get(line, unit).unwrap();
    assert_eq!(fig("A01", "061").value, Some(40.0), "stock: June, corrected value only");
    assert!(fig("A01", "061").complete);
    assert_eq!(fig("B01", "061").value, Some(21.0), "flow: 1+2+…+6");
    assert!(fig("B01", "061").complete);
    assert_eq!(fig("B01", "062").value, Some(10.0), "the known part: five months of 2");
    assert!(!fig("B01", "062").complete, "a missing month is incomplete, not zero");
    assert!(fig("A01", "062").complete, "June is there: the stock is complete");
    let province_b01 = data.current.province_of("B01").unwrap();
    assert!(!province_b01.complete);
    // Units that sent nothing are incomplete too.
    assert_eq!(fig("B01", "063").value, None);
    assert!(!fig("B01", "063").complete);
    // P2 = D02/D01 recomputed from sums: (9+1)/(10+2) = 83.3 %, not the 70 % average of 90 % and 50 %.
    let p2 = &data.ratios.iter().find(|r| r.target.id == "P2").unwrap().ratio;
    let province = p2.province.unwrap();
    assert!((province - 1000.0 / 12.0).abs() < 1e-9, "{province}");
    let i061 = data.units.iter().position(|u| u.code == "061").unwrap();
    assert_eq!(p2.units[i061], Some(90.0));
    let i063 = data.units.iter().position(|u| u.code == "063").unwrap();
    assert_eq!(p2.units[i063], None, "no denominator: shown as –");
    // The workbook shows the incomplete figure with a note and lists it on the completeness sheet.
    let summary = write_report(&settings, p("2015S1"), None).unwrap();
    // Of the province's 8 districts only 061 sent every month: 062 missed
    // March, the others sent nothing.
    assert_eq!((summary.units_expected, summary.units_complete), (8, 1));
    let mut wb = open_workbook_auto(&summary.path).unwrap();
    let status = wb.worksheet_range("Tình hình nộp").unwrap();
    let rows: Vec<String> = status
        .rows()
        .map(|r| r.iter().map(text).collect::<Vec<_>>().join("|"))
        .collect();
    assert!(
        rows.iter()
            .any(|r| r.starts_with("062|") && r.contains("2015-03") && r.contains("Chưa nộp")),
        "{rows:#?}"
    );
    assert!(
        rows.iter().any(|r| r.starts_with("B01|")),
        "incomplete B01 listed: {rows:#?}"
    );
}

#[test]
fn province_equals_the_sum_of_districts_and_a_year_of_flows_the_sum_of_its_months_for_random_stores() {
    for seed in [3u64, 17, 29] {
        let dir = temp_dir();
        let ws = synth_workspace(dir.path(), 4, 12, 3, seed);
        let settings = Settings::load(&ws, true).unwrap();
        ingest(&settings, &options()).unwrap();
        let store = Store::open(&settings.paths.database).unwrap();
        let form = settings.current_form();
        let lines: Vec<&baocao::domain::Line> = form.lines.iter().collect();
        let stored = StoredFrame::load(&store, p("2015-01"), p("2015-12")).unwrap();
        let window =
            |first: Period, last: Period| consolidate(&stored, &lines, &roster(&settings, first, last)).unwrap();
        for period in ["2015-05", "2015Q3", "2015S2", "2015"] {
            let period = p(period);
            let figures = window(period.first_month(), period.last_month());
            let units = figures.units.clone();
            for (l, line) in form.lines.iter().enumerate() {
                let values: Vec<Option<f64>> = (0..units.len()).map(|u| figures.unit(l, u).value).collect();
                let sum: f64 = values.iter().flatten().sum();
                let province = figures.province[l];
                if values.iter().all(Option::is_none) {
                    assert_eq!(province.value, None, "{period} {}", line.code);
                } else {
                    assert!(
                        (province.value.unwrap() - sum).abs() < 1e-6,
                        "seed {seed} {period} {}",
                        line.code
                    );
                }
                let all_complete = (0..units.len()).all(|u| figures.unit(l, u).complete);
                assert_eq!(province.complete, all_complete, "{period} {}", line.code);
            }
        }
        // The trend chart's monthly province totals are the months' consolidations.
        let data = report_data(&settings, &store, p("2015-12")).unwrap();
        for (month, values) in &data.trend {
            let one = window(*month, *month);
            for (k, line) in baocao::report::TREND_LINES.iter().enumerate() {
                assert_eq!(values[k], one.province_of(line).unwrap(), "{month} {line}");
            }
        }
        let year = window(p("2015-01"), p("2015-12"));
        let months: Vec<_> = (1..=12)
            .map(|m| window(Period::month(2015, m), Period::month(2015, m)))
            .collect();
        for (l, line) in form.lines.iter().enumerate() {
            for (u, unit) in year.units.iter().enumerate() {
                let y = year.unit(l, u);
                if line.agg == baocao::domain::Agg::Sum {
                    let total: f64 = months.iter().filter_map(|m| m.unit(l, u).value).sum();
                    let complete = months.iter().all(|m| m.unit(l, u).complete);
                    assert_eq!(y.complete, complete, "{}", line.code);
                    if let Some(value) = y.value {
                        assert!((value - total).abs() < 1e-6, "seed {seed} {} {unit}", line.code);
                    }
                } else {
                    assert_eq!(y, months[11].unit(l, u), "a stock's year is December: {}", line.code);
                }
            }
        }
    }
}

/// The completeness sheet's list of the units a province figure lacks, read
/// back as (what is lacking, unit codes) groups.
fn lacking_groups(cell: &str) -> Vec<(String, Vec<String>)> {
    cell.split(" | ")
        .map(|group| {
            let (gap, codes) = group.rsplit_once(": ").unwrap_or_else(|| panic!("{group}"));
            (gap.to_string(), codes.split(", ").map(str::to_string).collect())
        })
        .collect()
}

#[test]
fn a_year_in_which_hundreds_of_units_lack_returns_lists_them_by_what_they_lack_within_a_cell() {
    // 400 districts: one line per unit and month lacking (the list before)
    // is longer than Excel lets a cell hold, so the whole workbook failed.
    let dir = temp_dir();
    let ws = synth_workspace(dir.path(), 400, 1, 0, 5);
    let settings = Settings::load(&ws, true).unwrap();
    let summary = write_report(&settings, p("2015"), None).unwrap();
    let rows = sheet_rows(&summary.path, "Tình hình nộp");
    let year: Vec<String> = (1..=12).map(|m| format!("2015-{m:02}")).collect();
    let b01 = rows
        .iter()
        .find(|r| r[0] == "B01")
        .expect("B01 is listed as incomplete");
    let groups = lacking_groups(&b01[2]);
    assert_eq!(groups.len(), 1, "{groups:?}");
    assert_eq!(groups[0].0, format!("thiếu báo cáo tháng {}", year.join(", ")));
    assert_eq!(groups[0].1.len(), 400);

    // January in for all but every 40th file: each unit is listed once,
    // under exactly what the consolidation says it lacks.
    let mut files = files_with_ext(&settings.paths.inbox, "xlsx");
    files.sort();
    for file in files.iter().step_by(40) {
        std::fs::remove_file(file).unwrap();
    }
    ingest(&settings, &options()).unwrap();
    let summary = write_report(&settings, p("2015"), None).unwrap();
    let rows = sheet_rows(&summary.path, "Tình hình nộp");
    let store = Store::open(&settings.paths.database).unwrap();
    let data = report_data(&settings, &store, p("2015")).unwrap();
    let mut kinds = std::collections::BTreeSet::new();
    for (l, line) in data.form.lines.iter().enumerate() {
        if data.current.province[l].complete || !data.current.province[l].applies {
            continue;
        }
        let row = rows
            .iter()
            .find(|r| r[0] == line.code)
            .unwrap_or_else(|| panic!("{}", line.code));
        let groups = lacking_groups(&row[2]);
        let mut listed = std::collections::BTreeMap::new();
        for (gap, codes) in &groups {
            for code in codes {
                assert!(
                    listed.insert(code.clone(), gap.clone()).is_none(),
                    "{}: {code} twice",
                    line.code
                );
            }
        }
        let lacking: std::collections::BTreeMap<String, String> = (0..data.units.len())
            .filter(|&u| !data.current.unit(l, u).complete)
            .map(|u| (data.units[u].code.clone(), data.current.gaps(l, u).vietnamese()))
            .collect();
        assert_eq!(listed, lacking, "{}", line.code);
        let distinct: std::collections::BTreeSet<&String> = groups.iter().map(|(gap, _)| gap).collect();
        assert_eq!(distinct.len(), groups.len(), "{}: one group per kind of gap", line.code);
        kinds.extend(groups.into_iter().map(|(gap, _)| gap));
    }
    assert!(
        kinds.contains(&format!("thiếu báo cáo tháng {}", year.join(", "))),
        "{kinds:?}"
    );
    assert!(
        kinds.contains(&format!("thiếu báo cáo tháng {}", year[1..].join(", "))),
        "{kinds:?}"
    );
}

/// Rows of a sheet as text.
fn sheet_rows(path: &Path, name: &str) -> Vec<Vec<String>> {
    let mut wb = open_workbook_auto(path).unwrap();
    let range = wb.worksheet_range(name).unwrap();
    range.rows().map(|r| r.iter().map(text).collect()).collect()
}

#[test]
fn the_workbook_reads_back_with_its_sheets_header_contract_and_stored_formula_results() {
    let dir = temp_dir();
    let ws = synth_workspace(dir.path(), 4, 6, 2, 21);
    let ws_text = ws.to_string_lossy().into_owned();
    baocao_ok(&["--workspace", &ws_text, "ingest"], 1);
    let out = baocao_ok(&["--workspace", &ws_text, "report", "--period", "Tháng 6 năm 2015"], 0);
    assert!(out.contains("BaoCao_01PCMD-T_2015-06.xlsx"), "{out}");
    baocao_ok(&["--workspace", &ws_text, "report", "--period", "2015S1"], 0);
    let path = ws.join("reports/2015S1/BaoCao_01PCMD-T_2015S1.xlsx");
    let mut wb = open_workbook_auto(&path).unwrap();
    assert_eq!(
        wb.sheet_names(),
        [
            "01-PCMD-T",
            "Tiến độ kế hoạch",
            "Tình hình nộp",
            "Danh sách xã",
            "Cảnh báo",
            "Biểu đồ",
            "Nguồn"
        ]
    );
    let range = wb.worksheet_range("01-PCMD-T").unwrap();
    let formulas = wb.worksheet_formula("01-PCMD-T").unwrap();
    let rows: Vec<Vec<Data>> = range.rows().map(<[Data]>::to_vec).collect();
    let headers: Vec<usize> = rows
        .iter()
        .enumerate()
        .filter(|(_, r)| r.iter().any(|c| text(c) == "Mã số") && r.iter().any(|c| text(c) == "Toàn tỉnh"))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(headers.len(), 1, "exactly one header row with Mã số and Toàn tỉnh");
    let header = &rows[headers[0]];
    let code_col = header.iter().position(|c| text(c) == "Mã số").unwrap();
    let total_col = header.iter().position(|c| text(c) == "Toàn tỉnh").unwrap();
    let first_unit = header.iter().position(|c| text(c).starts_with("001 - ")).unwrap();
    let settings = Settings::load(&ws, true).unwrap();
    let store = Store::open(&settings.paths.database).unwrap();
    let data = report_data(&settings, &store, p("2015S1")).unwrap();
    let mut lines = 0;
    for (r, row) in rows.iter().enumerate().skip(headers[0] + 1) {
        let code = text(&row[code_col]);
        let Some(l) = data.form.line_index(&code) else { continue };
        lines += 1;
        let districts: f64 = row[first_unit..].iter().filter_map(|c| c.as_f64()).sum();
        match data.current.province[l].value {
            Some(v) => {
                let stored = row[total_col].as_f64().unwrap_or(f64::NAN);
                assert!(
                    (stored - v).abs() < 1e-6,
                    "{code}: stored result {stored} ≠ computed {v}"
                );
                assert!(
                    (stored - districts).abs() < 1e-6,
                    "{code}: {stored} ≠ Σ districts {districts}"
                );
                let (r0, c0) = formulas.start().unwrap_or((0, 0));
                let formula = formulas
                    .get(((r as u32 - r0) as usize, (total_col as u32 - c0) as usize))
                    .cloned()
                    .unwrap_or_default();
                assert!(formula.to_uppercase().starts_with("SUM("), "{code}: {formula:?}");
            }
            None => assert_eq!(text(&row[total_col]), ""),
        }
    }
    assert_eq!(lines, data.form.lines.len());
    let sources = sheet_rows(&path, "Nguồn");
    assert_eq!(
        sources
            .iter()
            .filter(|r| r.get(3).is_some_and(|s| s.len() == 64))
            .count(),
        data.sources.len()
    );
}

#[test]
fn the_same_database_gives_the_same_workbook_data_and_identical_exports() {
    let dir = temp_dir();
    let ws = synth_workspace(dir.path(), 3, 12, 1, 33);
    let ws_text = ws.to_string_lossy().into_owned();
    baocao_ok(&["--workspace", &ws_text, "ingest"], 1);
    let a = dir.path().join("a.xlsx");
    let b = dir.path().join("b.xlsx");
    baocao_ok(
        &[
            "--workspace",
            &ws_text,
            "report",
            "--period",
            "2015",
            "--out",
            &a.to_string_lossy(),
        ],
        0,
    );
    baocao_ok(
        &[
            "--workspace",
            &ws_text,
            "report",
            "--period",
            "2015",
            "--out",
            &b.to_string_lossy(),
        ],
        0,
    );
    let names = open_workbook_auto(&a).unwrap().sheet_names();
    for name in &names {
        assert_eq!(sheet_rows(&a, name), sheet_rows(&b, name), "sheet {name}");
    }
    for format in ["csv", "json"] {
        let x = dir.path().join(format!("x.{format}"));
        let y = dir.path().join(format!("y.{format}"));
        baocao_ok(
            &[
                "--workspace",
                &ws_text,
                "export",
                "--period",
                "2015",
                "--format",
                format,
                "--out",
                &x.to_string_lossy(),
            ],
            0,
        );
        baocao_ok(
            &[
                "--workspace",
                &ws_text,
                "export",
                "--period",
                "2015",
                "--format",
                format,
                "--out",
                &y.to_string_lossy(),
            ],
            0,
        );
        assert_eq!(std::fs::read(&x).unwrap(), std::fs::read(&y).unwrap(), "{format}");
    }
    let csv = std::fs::read_to_string(dir.path().join("x.csv")).unwrap();
    assert!(csv.starts_with("period,unit_code,line_code,value,ytd,status,unit_name,level,territory,former_districts\n"));
    // A district of the synthetic province 99: its level, and the territory it covers.
    assert!(csv.contains(",district,99,\n"), "{}", &csv[..300.min(csv.len())]);
    let parquet = dir.path().join("pq");
    baocao_ok(
        &[
            "--workspace",
            &ws_text,
            "export",
            "--period",
            "2015Q1",
            "--format",
            "parquet",
            "--out",
            &parquet.to_string_lossy(),
        ],
        0,
    );
    let parts = files_with_ext(&parquet, "parquet");
    let store = Store::open(&ws.join("baocao.db")).unwrap();
    let current = store
        .current_submissions(&baocao::domain::Period::quarter(2015, 1).months())
        .unwrap();
    assert!(current.len() >= 8);
    assert_eq!(
        parts.len(),
        current.len(),
        "one file per current return, Hive-partitioned"
    );
    assert!(parts
        .iter()
        .all(|p| p.to_string_lossy().contains("period=2015-0") && p.to_string_lossy().contains("/unit=0")));
    assert!(parts.iter().all(|p| std::fs::read(p).unwrap().starts_with(b"PAR1")));
}

pub fn soffice() -> Option<&'static str> {
    let found = std::process::Command::new("soffice")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if found {
        return Some("soffice");
    }
    assert!(
        std::env::var("BAOCAO_REQUIRE_LIBREOFFICE").is_err(),
        "LibreOffice (soffice) is required here: run scripts/install-deps.sh"
    );
    eprintln!("skipped: LibreOffice (soffice) is not installed; scripts/install-deps.sh installs it");
    None
}

#[test]
fn libreoffice_opens_the_report_and_its_csv_province_column_equals_what_baocao_computed() {
    let Some(soffice) = soffice() else { return };
    let dir = temp_dir();
    let ws = synth_workspace(dir.path(), 4, 3, 0, 41);
    let ws_text = ws.to_string_lossy().into_owned();
    baocao_ok(&["--workspace", &ws_text, "ingest"], 0);
    baocao_ok(&["--workspace", &ws_text, "report", "--period", "2015Q1"], 0);
    let path = ws.join("reports/2015Q1/BaoCao_01PCMD-T_2015Q1.xlsx");
    let out = dir.path().join("lo");
    let profile = format!(
        "-env:UserInstallation=file://{}",
        dir.path().join("lo-profile").display()
    );
    for target in ["pdf", "csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,false"] {
        let status = std::process::Command::new(soffice)
            .args([&profile, "--headless", "--convert-to", target, "--outdir"])
            .arg(&out)
            .arg(&path)
            .output()
            .unwrap();
        assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));
    }
    assert!(std::fs::metadata(out.join("BaoCao_01PCMD-T_2015Q1.pdf")).unwrap().len() > 1000);
    let csv = std::fs::read_to_string(out.join("BaoCao_01PCMD-T_2015Q1.csv")).unwrap();
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(csv.as_bytes());
    let rows: Vec<Vec<String>> = reader
        .records()
        .map(|r| r.unwrap().iter().map(String::from).collect())
        .collect();
    let header = rows
        .iter()
        .position(|r| r.iter().any(|c| c == "Mã số") && r.iter().any(|c| c == "Toàn tỉnh"))
        .unwrap();
    let code_col = rows[header].iter().position(|c| c == "Mã số").unwrap();
    let total_col = rows[header].iter().position(|c| c == "Toàn tỉnh").unwrap();
    let settings = Settings::load(&ws, true).unwrap();
    let store = Store::open(&settings.paths.database).unwrap();
    let data = report_data(&settings, &store, p("2015Q1")).unwrap();
    let mut compared = 0;
    for row in &rows[header + 1..] {
        let Some(code) = row.get(code_col) else { continue };
        let Some(figure) = data.current.province_of(code) else {
            continue;
        };
        let shown = row.get(total_col).cloned().unwrap_or_default();
        match figure.value {
            Some(v) => {
                let read: f64 = shown.replace(',', "").parse().unwrap_or(f64::NAN);
                assert!(
                    (read - v).abs() < 1e-6,
                    "{code}: LibreOffice shows {shown}, baocao computed {v}"
                );
            }
            None => assert_eq!(shown, ""),
        }
        compared += 1;
    }
    assert_eq!(compared, data.form.lines.len());
}

#[test]
fn run_ingests_then_reports_the_latest_month_and_a_second_run_gives_the_same_workbook() {
    let dir = temp_dir();
    let ws = synth_workspace(dir.path(), 3, 4, 0, 51);
    // Keep the originals in place, as the committed samples do.
    let config = std::fs::read_to_string(ws.join("baocao.toml")).unwrap();
    std::fs::write(
        ws.join("baocao.toml"),
        config.replace("keep_originals = false", "keep_originals = true"),
    )
    .unwrap();
    let ws_text = ws.to_string_lossy().into_owned();
    let first = baocao_ok(&["--workspace", &ws_text, "run"], 0);
    assert!(first.contains("BaoCao_01PCMD-T_2015-04.xlsx"), "{first}");
    assert_eq!(files_with_ext(&ws.join("inbox"), "xlsx").len(), 12, "originals stay");
    let path = ws.join("reports/2015-04/BaoCao_01PCMD-T_2015-04.xlsx");
    let before: Vec<_> = ["01-PCMD-T", "Tình hình nộp", "Nguồn"]
        .iter()
        .map(|s| sheet_rows(&path, s))
        .collect();
    let second = baocao_ok(&["--workspace", &ws_text, "run"], 0);
    assert!(second.contains("already stored (kept in place): 12"), "{second}");
    let after: Vec<_> = ["01-PCMD-T", "Tình hình nộp", "Nguồn"]
        .iter()
        .map(|s| sheet_rows(&path, s))
        .collect();
    assert_eq!(before, after);
    let status = baocao_ok(&["--workspace", &ws_text, "status", "--period", "2015-04"], 0);
    assert!(status.contains("expected 3, received 3"), "{status}");
}
