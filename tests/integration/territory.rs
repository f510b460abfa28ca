//! Reports across the change of 1/7/2025 (Bắc Kạn merged into Thái
//! Nguyên, communes reporting straight to the province), on a synthetic
//! 2025 of the shipped register: 8 districts January–June, 92 communes
//! July–December, and January 2026. Every expected figure is computed here
//! with plain SQL over the store and the mapping file read as CSV,
//! independently of the report code.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use baocao::config::Settings;
use baocao::domain::Agg;
use baocao::pipeline::ingest::{ingest, IngestOptions};
use baocao::report::{report_data, write_report};
use baocao::store::Store;

use crate::common::{baocao_ok, p, sheet, temp_dir, text};

/// The 37 new units made of former Bắc Kạn communes, from the mapping file.
fn former_bac_kan_units() -> BTreeSet<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("templates/units/bac-kan-2025-mapping.csv");
    let mut reader = csv::Reader::from_path(&path).unwrap();
    let headers = reader.headers().unwrap().clone();
    let new_code = headers.iter().position(|h| h == "new_code").unwrap();
    reader.records().map(|r| r.unwrap()[new_code].to_string()).collect()
}

/// line → sum of the current values of the units `keep` accepts, over the
/// months from `first` to `last` ("2025-01").
fn stored_sum(db: &Path, first: &str, last: &str, keep: impl Fn(&str, &str) -> bool) -> BTreeMap<String, f64> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut stmt = conn
        .prepare(
            "SELECT s.unit_code, s.period, v.line_code, v.value FROM submissions s
             JOIN submission_values v ON v.submission_id = s.id
             WHERE s.status != 'rejected' AND s.superseded_by IS NULL
             AND s.period >= ?1 AND s.period <= ?2 AND v.value IS NOT NULL",
        )
        .unwrap();
    let rows = stmt
        .query_map([first, last], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, f64>(3)?,
            ))
        })
        .unwrap();
    let mut sums = BTreeMap::new();
    for row in rows {
        let (unit, period, line, value) = row.unwrap();
        if keep(&unit, &period) {
            *sums.entry(line).or_insert(0.0) += value;
        }
    }
    sums
}

fn close(a: Option<f64>, b: Option<f64>, what: &str) {
    match (a, b) {
        (Some(a), Some(b)) => assert!((a - b).abs() <= 1e-6 * b.abs().max(1.0), "{what}: {a} ≠ {b}"),
        _ => assert_eq!(a, b, "{what}"),
    }
}

/// A synthetic 2025 and January 2026 of the shipped register, ingested.
fn year_2025(dir: &Path) -> Settings {
    let ws = dir.join("ws");
    let register = Path::new(env!("CARGO_MANIFEST_DIR")).join("templates/units/bac-kan.csv");
    baocao_ok(
        &[
            "synth",
            "--months",
            "13",
            "--start",
            "2025-01",
            "--register",
            &register.to_string_lossy(),
            "--out",
            &ws.to_string_lossy(),
        ],
        0,
    );
    let settings = Settings::load(&ws, true).unwrap();
    let options = IngestOptions {
        stable_seconds: Some(0),
        ..IngestOptions::default()
    };
    let summary = ingest(&settings, &options).unwrap();
    assert!(!summary.any_rejected(), "every return of 2025 is accepted");
    settings
}

#[test]
fn a_year_across_the_reorganisation_gives_the_whole_province_incomplete_and_the_former_territory_exact() {
    let dir = temp_dir();
    let settings = year_2025(dir.path());
    let db = settings.paths.database.clone();
    let store = Store::open(&db).unwrap();
    let conn = rusqlite::Connection::open(&db).unwrap();
    let count = |sql: &str| -> i64 { conn.query_row(sql, [], |r| r.get(0)).unwrap() };
    assert_eq!(
        count("SELECT COUNT(*) FROM submissions WHERE period BETWEEN '2025-01' AND '2025-12'"),
        600
    );
    assert_eq!(count("SELECT COUNT(*) FROM submissions WHERE status = 'rejected'"), 0);

    let former = former_bac_kan_units();
    assert_eq!(former.len(), 37);
    let is_district = |unit: &str| unit.len() == 3;
    let whole = stored_sum(&db, "2025-01", "2025-12", |_, _| true);
    let former_flows = stored_sum(&db, "2025-01", "2025-12", |unit, month| {
        (is_district(unit) && month <= "2025-06") || (former.contains(unit) && month >= "2025-07")
    });
    let december_all = stored_sum(&db, "2025-12", "2025-12", |_, _| true);
    let december_former = stored_sum(&db, "2025-12", "2025-12", |unit, _| former.contains(unit));

    let data = report_data(&settings, &store, p("2025")).unwrap();
    assert_eq!(
        data.units.len(),
        100,
        "8 districts and 92 communes, each for its months"
    );
    let territory = data.territory.as_ref().expect("the year crosses the change");
    assert_eq!(territory.change.former.code, "06");
    assert_eq!(territory.change.current.code, "19");
    assert_eq!(territory.lacking_this.len(), 6);
    let form = settings.current_form();
    for (l, line) in form.lines.iter().enumerate() {
        let province = data.current.province[l];
        let former_figure = territory.current.province[l];
        if line.agg == Agg::Sum {
            close(
                province.value,
                whole.get(&line.code).copied(),
                &format!("whole {}", line.code),
            );
            assert!(
                !province.complete,
                "whole-province flow {} lacks former Thái Nguyên's January–June",
                line.code
            );
            close(
                former_figure.value,
                former_flows.get(&line.code).copied(),
                &format!("former {}", line.code),
            );
            assert!(former_figure.complete, "former Bắc Kạn {} is exact", line.code);
        } else {
            close(
                province.value,
                december_all.get(&line.code).copied(),
                &format!("stock {}", line.code),
            );
            assert!(province.complete, "{}", line.code);
            close(
                former_figure.value,
                december_former.get(&line.code).copied(),
                &format!("former stock {}", line.code),
            );
        }
    }

    // The workbook says so on the main sheet.
    let summary = write_report(&settings, p("2025"), None).unwrap();
    let form_sheet = sheet(&summary.path, "01-PCMD-T");
    let all: Vec<String> = form_sheet
        .rows()
        .flat_map(|r| r.iter().map(text).collect::<Vec<_>>())
        .collect();
    assert!(
        all.iter().any(|c| c.contains("địa bàn thay đổi từ ngày 01/07/2025")),
        "no explanation"
    );
    assert!(all.iter().any(|c| c == "Địa bàn tỉnh Bắc Kạn cũ: kỳ này"));
    // The half-years do not straddle the change.
    let s2 = report_data(&settings, &store, p("2025S2")).unwrap();
    assert_eq!(s2.units.len(), 92);
    assert!(s2.current.province.iter().all(|f| f.complete || !f.applies));
}

#[test]
fn january_2026_against_january_2025_compares_the_former_territory_and_not_the_whole_province() {
    let dir = temp_dir();
    let settings = year_2025(dir.path());
    let db = settings.paths.database.clone();
    let store = Store::open(&db).unwrap();
    let former = former_bac_kan_units();
    let now = stored_sum(&db, "2026-01", "2026-01", |unit, _| former.contains(unit));
    let before = stored_sum(&db, "2025-01", "2025-01", |unit, _| unit.len() == 3);
    let data = report_data(&settings, &store, p("2026-01")).unwrap();
    let territory = data.territory.as_ref().expect("the comparison crosses the change");
    assert!(!territory.last_year_comparable);
    assert!(territory.lacking_this.is_empty());
    for (l, line) in settings.current_form().lines.iter().enumerate() {
        close(
            territory.current.province[l].value,
            now.get(&line.code).copied(),
            &line.code,
        );
        close(
            territory.last_year.province[l].value,
            before.get(&line.code).copied(),
            &line.code,
        );
        assert!(data.current.province[l].complete || !data.current.province[l].applies);
    }
    // The whole province's "same period last year" is "–", never the 8 districts' figure.
    let summary = write_report(&settings, p("2026-01"), None).unwrap();
    let rows: Vec<Vec<String>> = sheet(&summary.path, "01-PCMD-T")
        .rows()
        .map(|r| r.iter().map(text).collect())
        .collect();
    let header = rows.iter().find(|r| r.iter().any(|c| c == "Toàn tỉnh")).unwrap();
    let at = |title: &str| header.iter().position(|h| h == title).unwrap();
    let b01 = rows.iter().find(|r| r[2] == "B01").unwrap();
    assert_eq!(b01[at("Cùng kỳ năm trước")], "–");
    assert_eq!(b01[at("So sánh (%)")], "–");
    assert_eq!(
        b01[at("Địa bàn tỉnh Bắc Kạn cũ: cùng kỳ năm trước")],
        format!("{}", before["B01"])
    );
    // The former territory's change in percent, computed here from the SQL sums.
    let shown: f64 = b01[at("Địa bàn tỉnh Bắc Kạn cũ: so sánh (%)")].parse().unwrap();
    let expected = (now["B01"] - before["B01"]) / before["B01"] * 100.0;
    assert!((shown - expected).abs() < 1e-9, "{shown} ≠ {expected}");
    // The 92 communes each have a column, grouped by the district they came from.
    let commune_column =
        |h: &&String| h.get(..5).is_some_and(|c| c.bytes().all(|b| b.is_ascii_digit())) && h.get(5..8) == Some(" - ");
    assert_eq!(header.iter().filter(commune_column).count(), 92);
}
