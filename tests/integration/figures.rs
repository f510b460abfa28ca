//! Figures a director can sign: one hand-made case per way a figure could
//! be printed wrong without a warning — a blank shown as 0, a deadline
//! judged by the UTC date, a unit that ended inside the period dropped, a
//! verdict on incomplete data, missing spending counted as 0 — each
//! asserting the number or verdict a statistician would check, in the
//! computed data and in the workbook read back.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use baocao::config::Settings;
use baocao::domain::plan::Verdict;
use baocao::domain::Period;
use baocao::report::completeness::month_statuses;
use baocao::report::{report_data, write_report};
use baocao::store::{Status, Store};
use calamine::{open_workbook_auto, Data, Reader};

use crate::common::{bac_kan, p, submission, temp_dir, text};

/// Makes every stored file's sha256 distinct.
static NEXT: AtomicUsize = AtomicUsize::new(0);

const DISTRICTS: [&str; 8] = ["058", "060", "061", "062", "063", "064", "065", "066"];

/// Stores an accepted return of `unit` for `month` that arrived at
/// `received_at` (UTC, as the store keeps it).
fn store_at(store: &mut Store, unit: &str, month: &str, values: &[(&str, Option<f64>)], received_at: &str) -> i64 {
    let tag = NEXT.fetch_add(1, Ordering::Relaxed).to_string();
    let new = submission(unit, month, values, Status::Accepted, received_at, &tag);
    store.record_submission(&new.as_new()).unwrap().id
}

fn store(store: &mut Store, unit: &str, month: &str, values: &[(&str, Option<f64>)]) -> i64 {
    store_at(store, unit, month, values, &format!("{month}-28T00:00:00Z"))
}

/// Rows of a sheet as text cells.
fn rows(path: &Path, sheet: &str) -> Vec<Vec<String>> {
    let mut wb = open_workbook_auto(path).unwrap();
    let range = wb.worksheet_range(sheet).unwrap();
    range.rows().map(|r| r.iter().map(text).collect()).collect()
}

/// The row of the form sheet whose `Mã số` is `code`, and the header row.
fn form_row(path: &Path, code: &str) -> (Vec<String>, Vec<String>) {
    let all = rows(path, "01-PCMD-T");
    let header = all.iter().find(|r| r.iter().any(|c| c == "Toàn tỉnh")).unwrap().clone();
    let row = all
        .iter()
        .find(|r| r.get(2).map(String::as_str) == Some(code))
        .unwrap()
        .clone();
    (header, row)
}

fn column(header: &[String], title: &str) -> usize {
    header.iter().position(|h| h.starts_with(title)).unwrap()
}

#[test]
fn a_flow_every_district_left_blank_is_blank_and_incomplete_for_the_province_not_zero() {
    let dir = temp_dir();
    let settings = bac_kan(dir.path());
    let mut db = Store::open(&settings.paths.database).unwrap();
    for unit in DISTRICTS {
        // B03 (not required) left blank by every district; B02 reported.
        store(
            &mut db,
            unit,
            "2015-01",
            &[("B02", Some(4.0)), ("B03", None), ("A01", Some(2.0))],
        );
    }
    let data = report_data(&settings, &db, p("2015-01")).unwrap();
    let b03 = data.current.province_of("B03").unwrap();
    assert_eq!(b03.value, None, "blank is not zero");
    assert!(!b03.complete);
    for unit in DISTRICTS {
        let f = data.current.get("B03", unit).unwrap();
        assert_eq!((f.value, f.complete), (None, false), "{unit}");
    }
    assert_eq!(data.current.province_of("B02").unwrap().value, Some(32.0));
    assert!(data.current.province_of("B02").unwrap().complete);
    // P5 = B03 / B02 has no numerator: "–", not 0 %.
    let p5 = data.ratios.iter().find(|r| r.target.id == "P5").unwrap();
    assert_eq!(p5.ratio.province, None);
    assert!(!p5.ratio.province_complete());

    let summary = write_report(&settings, p("2015-01"), None).unwrap();
    assert!(summary.incomplete_lines.contains(&"B03".to_string()));
    assert!(!summary.incomplete_lines.contains(&"B02".to_string()));
    assert!(
        summary.to_string().contains("province figures incomplete (A01.1"),
        "{summary}"
    );
    let (header, row) = form_row(&summary.path, "B03");
    assert_eq!(row[column(&header, "Toàn tỉnh")], "", "an empty cell, not 0");
    assert_eq!(row[column(&header, "061")], "");
    // The completeness sheet names B03 and why each district lacks it.
    let status = rows(&summary.path, "Tình hình nộp");
    let listed = status
        .iter()
        .find(|r| r.first().map(String::as_str) == Some("B03"))
        .unwrap();
    // One group: every district left the same cell blank in the same month.
    let mut districts = DISTRICTS.to_vec();
    districts.sort_unstable();
    assert_eq!(
        listed[2],
        format!("ô để trống trong báo cáo tháng 2015-01: {}", districts.join(", ")),
        "{listed:?}"
    );
}

#[test]
fn timeliness_is_judged_by_the_office_calendar_around_midnight_on_the_deadline_day() {
    let dir = temp_dir();
    let settings = bac_kan(dir.path());
    let mut db = Store::open(&settings.paths.database).unwrap();
    // January 2015 is due on 05/02/2015 (calendar months, 5 days).
    // 058: 05/02 23:59 in Hanoi = 05/02 16:59 UTC: on time.
    store_at(&mut db, "058", "2015-01", &[("B01", Some(1.0))], "2015-02-05T16:59:00Z");
    // 060: 06/02 00:00 in Hanoi = 05/02 17:00 UTC: one day late, though its UTC date is the 5th.
    store_at(&mut db, "060", "2015-01", &[("B01", Some(1.0))], "2015-02-05T17:00:00Z");
    // 061: 06/02 01:30 in Hanoi = 05/02 18:30 UTC: late.
    store_at(&mut db, "061", "2015-01", &[("B01", Some(1.0))], "2015-02-05T18:30:00Z");
    // 062: 05/02 00:30 in Hanoi = 04/02 17:30 UTC: on time.
    store_at(&mut db, "062", "2015-01", &[("B01", Some(1.0))], "2015-02-04T17:30:00Z");
    let statuses = month_statuses(&settings, &db, p("2015-01")).unwrap();
    let of = |unit: &str| statuses.iter().find(|s| s.unit_code == unit).unwrap();
    assert_eq!(of("058").days_late, Some(0));
    assert_eq!(of("060").days_late, Some(1));
    assert_eq!(of("061").days_late, Some(1));
    assert_eq!(of("062").days_late, Some(0));
    assert_eq!(
        of("061").accepted_on.map(|d| d.to_string()).as_deref(),
        Some("2015-02-06")
    );

    // The workbook shows the local date and time.
    let summary = write_report(&settings, p("2015-01"), None).unwrap();
    let status = rows(&summary.path, "Tình hình nộp");
    let r061 = status.iter().find(|r| r[0] == "061").unwrap();
    assert!(r061.contains(&"06/02/2015".to_string()), "{r061:?}");
    assert!(r061.contains(&"Muộn".to_string()), "{r061:?}");
    let sources = rows(&summary.path, "Nguồn");
    assert!(
        sources.iter().any(|r| r[0] == "061" && r[4] == "06/02/2015 01:30"),
        "{sources:?}"
    );

    // Another office's time zone moves the same instant to another day.
    let config_path = settings.paths.root.join("baocao.toml");
    let config = std::fs::read_to_string(&config_path).unwrap();
    std::fs::write(&config_path, config.replace("Asia/Ho_Chi_Minh", "UTC")).unwrap();
    let utc = Settings::load(&settings.paths.root, true).unwrap();
    let statuses = month_statuses(&utc, &db, p("2015-01")).unwrap();
    let r061 = statuses.iter().find(|s| s.unit_code == "061").unwrap();
    assert_eq!(r061.days_late, Some(0));
}

#[test]
fn an_old_configuration_with_the_time_zone_under_daemon_still_works_and_a_conflict_is_an_error() {
    let dir = temp_dir();
    let settings = bac_kan(dir.path());
    let config_path = settings.paths.root.join("baocao.toml");
    let config = std::fs::read_to_string(&config_path).unwrap();
    let without = config.replace("timezone = \"Asia/Ho_Chi_Minh\"\n", "");
    let old = without.replace("[daemon]\n", "[daemon]\ntimezone = \"Asia/Bangkok\"\n");
    std::fs::write(&config_path, &old).unwrap();
    let loaded = Settings::load(&settings.paths.root, true).unwrap();
    assert_eq!(loaded.timezone, chrono_tz::Asia::Bangkok);
    let both = config.replace("[daemon]\n", "[daemon]\ntimezone = \"Asia/Bangkok\"\n");
    std::fs::write(&config_path, &both).unwrap();
    let error = Settings::load(&settings.paths.root, true).unwrap_err().to_string();
    assert!(error.contains("disagree"), "{error}");
    std::fs::write(&config_path, config.replace("Asia/Ho_Chi_Minh", "Asia/Hanoi_City")).unwrap();
    let error = Settings::load(&settings.paths.root, true).unwrap_err().to_string();
    assert!(error.contains("[reporting] timezone \"Asia/Hanoi_City\""), "{error}");
}

/// A workspace whose register ends district 066 on 30/6/2015 and starts a
/// new district 067 on 1/7/2015 (made of its territory).
fn split_year(dir: &Path) -> Settings {
    let settings = bac_kan(dir);
    let shipped = baocao::domain::register::EMBEDDED_REGISTER;
    let columns = shipped.lines().next().unwrap().split(',').count();
    let mut register = String::new();
    for line in shipped.lines() {
        if line.starts_with("district,066,") {
            register.push_str(&line.replace("2025-06-30", "2015-06-30"));
            register.push_str(&format!(
                "\ndistrict,067,Huyện Mới,06,2015-07-01{}\n",
                ",".repeat(columns - 5)
            ));
        } else {
            register.push_str(line);
            register.push('\n');
        }
    }
    std::fs::write(settings.paths.root.join("units.csv"), register).unwrap();
    let config_path = settings.paths.root.join("baocao.toml");
    let config = std::fs::read_to_string(&config_path).unwrap();
    std::fs::write(
        &config_path,
        config.replace("register = \"\"", "register = \"units.csv\""),
    )
    .unwrap();
    Settings::load(&settings.paths.root, true).unwrap()
}

#[test]
fn a_unit_that_ended_inside_the_year_counts_for_the_months_it_reported() {
    let dir = temp_dir();
    let settings = split_year(dir.path());
    let mut db = Store::open(&settings.paths.database).unwrap();
    for m in 1..=12u8 {
        let month = Period::month(2015, m).to_string();
        for unit in DISTRICTS {
            if unit == "066" && m > 6 {
                continue;
            }
            store(
                &mut db,
                unit,
                &month,
                &[("B01", Some(1.0)), ("A01", Some(f64::from(m)))],
            );
        }
        if m > 6 {
            store(&mut db, "067", &month, &[("B01", Some(10.0)), ("A01", Some(100.0))]);
        }
    }
    let data = report_data(&settings, &db, p("2015")).unwrap();
    let codes: Vec<&str> = data.units.iter().map(|u| u.code.as_str()).collect();
    assert!(codes.contains(&"066") && codes.contains(&"067"), "{codes:?}");
    // 066: its six months; 067: its six; the province: 7 × 12 + 6 + 60.
    let b01 = |unit: &str| data.current.get("B01", unit).unwrap();
    assert_eq!((b01("066").value, b01("066").complete), (Some(6.0), true));
    assert_eq!((b01("067").value, b01("067").complete), (Some(60.0), true));
    let province = data.current.province_of("B01").unwrap();
    assert_eq!(
        (province.value, province.complete),
        (Some(7.0 * 12.0 + 6.0 + 60.0), true)
    );
    // A stock is December's: 066 no longer applies, 067 does.
    let a01 = data.current.get("A01", "066").unwrap();
    assert!(!a01.applies && a01.value.is_none());
    let province = data.current.province_of("A01").unwrap();
    assert_eq!((province.value, province.complete), (Some(7.0 * 12.0 + 100.0), true));
    // The first half-year is 066's alone; the completeness sheet agrees month by month.
    let s1 = report_data(&settings, &db, p("2015S1")).unwrap();
    assert!(!s1.units.iter().any(|u| u.code == "067"));
    assert_eq!(data.statuses.iter().filter(|s| s.unit_code == "066").count(), 6);
    assert_eq!(data.statuses.iter().filter(|s| s.unit_code == "067").count(), 6);
    assert!(data.statuses.iter().all(|s| s.is_received()));
    // "Cùng kỳ năm trước" of 2016-03 (nothing stored) is blank, not 0.
    let next = report_data(&settings, &db, p("2016")).unwrap();
    let before = next.last_year.province_of("B01").unwrap();
    assert_eq!((before.value, before.complete), (Some(150.0), true));

    // The workbook: 066's stock cell says "–"; the province's SUM over the columns.
    let summary = write_report(&settings, p("2015"), None).unwrap();
    let (header, row) = form_row(&summary.path, "A01");
    assert_eq!(row[column(&header, "066")], "–");
    assert_eq!(row[column(&header, "Toàn tỉnh")], "184");
    let (header, row) = form_row(&summary.path, "B01");
    assert_eq!(row[column(&header, "066")], "6");
    assert_eq!(row[column(&header, "067")], "60");
    assert_eq!(row[column(&header, "Toàn tỉnh")], "150");
}

#[test]
fn a_plan_ratio_with_an_unknown_part_is_shaded_and_says_not_enough_data_instead_of_not_met() {
    let dir = temp_dir();
    let settings = bac_kan(dir.path());
    let mut db = Store::open(&settings.paths.database).unwrap();
    for unit in DISTRICTS {
        // P3 = C09 / A01.7: 1 of 2 known per district = 50 %, but 065's C09 is blank.
        let c09 = if unit == "065" { None } else { Some(1.0) };
        store(&mut db, unit, "2015-06", &[("C09", c09), ("A01.7", Some(2.0))]);
    }
    let data = report_data(&settings, &db, p("2015-06")).unwrap();
    let p3 = data.ratios.iter().find(|r| r.target.id == "P3").unwrap();
    assert_eq!(p3.ratio.province, Some(7.0 / 16.0 * 100.0));
    assert!(!p3.ratio.numerator_complete && p3.ratio.denominator_complete);
    assert_eq!(p3.ratio.lacking, vec!["065".to_string()]);
    assert_eq!(p3.verdict, Verdict::Insufficient, "065's C09 could bring it to 100 %");
    let summary = write_report(&settings, p("2015-06"), None).unwrap();
    let plan = rows(&summary.path, "Tiến độ kế hoạch");
    let row = plan.iter().find(|r| r[0] == "P3").unwrap();
    assert_eq!(row[5], "Chưa đủ số liệu", "{row:?}");

    // With every part known the same figures are judged.
    store(&mut db, "065", "2015-06", &[("C09", Some(1.0)), ("A01.7", Some(2.0))]);
    let data = report_data(&settings, &db, p("2015-06")).unwrap();
    let p3 = data.ratios.iter().find(|r| r.target.id == "P3").unwrap();
    assert_eq!(p3.verdict, Verdict::NotMet);
}

#[test]
fn missing_spending_is_not_counted_as_zero_and_the_budget_is_p6_against_its_reference() {
    let dir = temp_dir();
    let settings = bac_kan(dir.path());
    let mut db = Store::open(&settings.paths.database).unwrap();
    for unit in DISTRICTS {
        let f051 = if unit == "060" { None } else { Some(1.5) };
        store(&mut db, unit, "2015-01", &[("F05.1", f051), ("B01", Some(2.0))]);
        store(&mut db, unit, "2014-01", &[("B01", Some(1.0))]);
    }
    let data = report_data(&settings, &db, p("2015-01")).unwrap();
    let group1 = &data.budget[0];
    assert_eq!(group1.spent_year.value, Some(7.0 * 1.5));
    assert!(!group1.spent_year.complete);
    let summary = write_report(&settings, p("2015-01"), None).unwrap();
    let plan = rows(&summary.path, "Tiến độ kế hoạch");
    assert!(
        plan.iter().any(|r| r[0].starts_with("P6 - ")),
        "the budget section is named P6: {plan:?}"
    );
    assert!(plan.iter().any(|r| r[0].contains("100% kế hoạch")), "{plan:?}");
    // P6 of group 1 in 2015: 7 × 1.5 spent against the seed plan's 100
    // million (its table, §III) = 10.5 %, shaded as incomplete.
    let group1_row = plan.iter().find(|r| r[2] == "F05.1").unwrap();
    assert_eq!(group1_row[3], "100");
    assert_eq!(group1_row[5], "10.5");
    // The total of spending is the known part, not a sum with zeros presented as complete.
    let total = plan.iter().find(|r| r[1] == "Tổng cộng").unwrap();
    assert_eq!(total[4], "10.5");
    // The chart's data leave unknown spending blank.
    let charts = rows(&summary.path, "Biểu đồ");
    let group2 = charts.iter().find(|r| r[0].starts_with("Nhóm 2")).unwrap();
    assert_eq!(group2[2], "", "{group2:?}");
    // "So sánh (%)" on B01 is complete (2 × 8 against 1 × 8): 100 %, no note needed.
    let (header, row) = form_row(&summary.path, "B01");
    assert_eq!(row[column(&header, "So sánh")], "100");
    let mut wb = open_workbook_auto(&summary.path).unwrap();
    let range = wb.worksheet_range("01-PCMD-T").unwrap();
    assert!(range.rows().any(|r| r
        .iter()
        .any(|c| matches!(c, Data::String(s) if s == "Cùng kỳ năm trước"))));
}

#[test]
fn cumulative_spending_adds_every_month_since_the_plan_began_and_a_blank_makes_it_incomplete() {
    let dir = temp_dir();
    let settings = bac_kan(dir.path());
    let mut db = Store::open(&settings.paths.database).unwrap();
    let first_year = settings.plan.first_year;
    assert!(first_year < 2015, "the plan began before 2015");
    // Every district, every month from the plan's first January to June
    // 2015, spends half its month number on group 1 (F05.1); Pác Nặm left
    // March 2013 blank. The expected total is summed here, month by month.
    let mut expected = 0.0;
    let mut months = 0;
    for year in first_year..=2015 {
        for month in 1..=12u32 {
            if year == 2015 && month > 6 {
                break;
            }
            months += 1;
            for unit in DISTRICTS {
                let spent = (unit != "060" || year != 2013 || month != 3).then_some(f64::from(month) * 0.5);
                expected += spent.unwrap_or(0.0);
                store(&mut db, unit, &format!("{year}-{month:02}"), &[("F05.1", spent)]);
            }
        }
    }
    assert_eq!(months, (2015 - first_year) * 12 + 6);
    let data = report_data(&settings, &db, p("2015-06")).unwrap();
    let group1 = &data.budget[0];
    assert_eq!(group1.line, "F05.1");
    assert!((group1.spent_cumulative.value.unwrap() - expected).abs() < 1e-9);
    assert!(!group1.spent_cumulative.complete, "one blank cell: incomplete");
    // The year so far (January to June 2015) alone.
    let year: f64 = (1..=6).map(|m| f64::from(m) * 0.5 * 8.0).sum();
    assert!((group1.spent_year.value.unwrap() - year).abs() < 1e-9);
    assert!(group1.spent_year.complete);
    // The workbook prints the same total.
    let summary = write_report(&settings, p("2015-06"), None).unwrap();
    let plan = rows(&summary.path, "Tiến độ kế hoạch");
    let row = plan.iter().find(|r| r[2] == "F05.1").unwrap();
    let printed: f64 = row[7].parse().unwrap();
    assert!((printed - expected).abs() < 1e-6, "{row:?}");

    // Pác Nặm sends March 2013 again with the cell filled, and Ba Bể May
    // 2012 with 10 instead of 2.5: complete, and each resubmission replaces
    // its return, it is not added to it.
    store(&mut db, "060", "2013-03", &[("F05.1", Some(4.0))]);
    store(&mut db, "061", "2012-05", &[("F05.1", Some(10.0))]);
    let data = report_data(&settings, &db, p("2015-06")).unwrap();
    let group1 = &data.budget[0];
    let corrected = expected + 4.0 + (10.0 - 2.5);
    assert!((group1.spent_cumulative.value.unwrap() - corrected).abs() < 1e-9);
    assert!(group1.spent_cumulative.complete);
}
