//! A second, independent consolidation, as a test oracle for the report's
//! figures. It shares no code with `report/consolidate.rs`: it reads the
//! SQLite store with plain SQL, decides which submission is current by
//! itself (the latest accepted one of a unit and month), takes the
//! reporting units of a month straight from the register's rows and the
//! month's last day, and adds the months up in a plain loop. The report's
//! figures and incomplete flags must equal it for every unit × line and
//! every kind of period (month, quarter, half-year, year, year to date,
//! same period last year) on random stores: blank lines, missing months,
//! superseded and rejected resubmissions, units that start or end inside a
//! year, cutoff day 1 and 15, money with three decimals.
//!
//! `BAOCAO_ORACLE_CASES=2000 cargo test --release oracle` runs more cases
//! than CI's default.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use baocao::config::Settings;
use baocao::domain::{Agg, Period};
use baocao::report::consolidate::{Figure, Figures};
use baocao::report::report_data;
use baocao::store::{Status, Store};
use chrono::NaiveDate;
use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};

use crate::common::{baocao_ok, submission, temp_dir};

/// Lines the random stores fill (the rest of the form stays unreported):
/// flows and stocks, counts and money, and the parts of two plan ratios.
const LINES: [&str; 10] = ["A01", "A01.7", "B01", "B05", "C06", "C09", "D01", "D02", "F05", "F05.1"];

struct Case {
    cutoff_day: u8,
    /// code, valid_from, valid_to
    units: Vec<(String, NaiveDate, Option<NaiveDate>)>,
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn random_case(rng: &mut ChaCha8Rng) -> Case {
    let cutoff_day = if rng.next_u32().is_multiple_of(2) { 1 } else { 15 };
    let mut units = Vec::new();
    let n = 2 + (rng.next_u32() % 3) as usize;
    for i in 0..n {
        let code = format!("{:03}", 101 + i);
        // Most units exist throughout; some start or end inside 2014 or
        // 2015, on a day near the cutoff so the month they count in depends on it.
        let from = match rng.next_u32() % 4 {
            0 => {
                let m = 1 + rng.next_u32() % 12;
                let d = [1, 13, 14, 15, 28][(rng.next_u32() % 5) as usize];
                date(2014 + (rng.next_u32() % 2) as i32, m, d)
            }
            _ => date(2004, 1, 1),
        };
        let to = match rng.next_u32() % 4 {
            0 => {
                let m = 1 + rng.next_u32() % 12;
                let d = [1, 13, 14, 15, 28][(rng.next_u32() % 5) as usize];
                let end = date(2014 + (rng.next_u32() % 2) as i32, m, d);
                (end > from).then_some(end)
            }
            _ => None,
        };
        units.push((code, from, to));
    }
    Case { cutoff_day, units }
}

/// A workspace whose register is the case's units (each with one commune)
/// and whose calendar uses the case's cutoff day.
fn workspace(dir: &Path, case: &Case) -> Settings {
    let ws = dir.join("ws");
    baocao_ok(&["init", &ws.to_string_lossy()], 0);
    let mut csv = String::from("level,code,name,parent_code,valid_from,valid_to\nprovince,06,Tỉnh Thử,,2004-01-01,\n");
    for (i, (code, from, to)) in case.units.iter().enumerate() {
        let to = to.map(|d| d.to_string()).unwrap_or_default();
        csv.push_str(&format!("district,{code},Huyện {code},06,{from},{to}\n"));
        csv.push_str(&format!("commune,{:05},Xã {i},{code},{from},{to}\n", 90000 + i));
    }
    std::fs::write(ws.join("units.csv"), csv).unwrap();
    let config_path = ws.join("baocao.toml");
    let config = std::fs::read_to_string(&config_path)
        .unwrap()
        .replace("cutoff_day = 1\n", &format!("cutoff_day = {}\n", case.cutoff_day))
        .replace("register = \"\"", "register = \"units.csv\"");
    std::fs::write(&config_path, config).unwrap();
    Settings::load(&ws, true).unwrap()
}

fn random_value(rng: &mut ChaCha8Rng, line: &str) -> Option<f64> {
    if rng.next_u32().is_multiple_of(8) {
        return None; // a blank cell
    }
    if matches!(line, "B05" | "C06" | "F05" | "F05.1") {
        // Money with up to three decimals.
        Some(f64::from(rng.next_u32() % 100_000) / 1000.0)
    } else {
        Some(f64::from(rng.next_u32() % 40))
    }
}

/// Fills the store for 2014–2015: each unit and month gets nothing, one
/// return, a corrected return, a rejected resubmission, or only a rejected one.
fn fill(store: &mut Store, case: &Case, rng: &mut ChaCha8Rng) {
    let mut tag = 0;
    for n in 0..24 {
        let month = Period::month(2014, 1).add_months(n);
        for (code, _, _) in &case.units {
            let plan: &[Status] = match rng.next_u32() % 10 {
                0 => &[],
                1 => &[Status::Accepted, Status::Warnings],
                2 => &[Status::Accepted, Status::Rejected],
                3 => &[Status::Rejected],
                4 => &[Status::Warnings, Status::Accepted, Status::Rejected],
                _ => &[Status::Accepted],
            };
            for status in plan {
                tag += 1;
                let values: Vec<(&str, Option<f64>)> = LINES.iter().map(|l| (*l, random_value(rng, l))).collect();
                let received = format!("{month}-28T00:00:00Z");
                let new = submission(code, &month.to_string(), &values, *status, &received, &tag.to_string());
                store.record_submission(&new.as_new()).unwrap();
            }
        }
    }
}

/// The oracle's view of the store: the current values of each unit and
/// month, and the register.
struct Oracle {
    /// (unit, "2015-03") → line → value (None: blank)
    current: HashMap<(String, String), BTreeMap<String, Option<f64>>>,
    units: Vec<(String, NaiveDate, Option<NaiveDate>)>,
    cutoff_day: u8,
}

impl Oracle {
    fn read(db: &Path, case: &Case) -> Oracle {
        let conn = rusqlite::Connection::open(db).unwrap();
        // The latest accepted submission of each unit and month, by id.
        let mut latest: HashMap<(String, String), i64> = HashMap::new();
        let mut stmt = conn
            .prepare("SELECT id, unit_code, period, status FROM submissions ORDER BY id")
            .unwrap();
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                ))
            })
            .unwrap();
        for row in rows {
            let (id, unit, period, status) = row.unwrap();
            if status != "rejected" {
                latest.insert((unit, period), id);
            }
        }
        let mut current = HashMap::new();
        for (key, id) in latest {
            let mut values = BTreeMap::new();
            let mut stmt = conn
                .prepare("SELECT line_code, value FROM submission_values WHERE submission_id = ?1")
                .unwrap();
            let rows = stmt
                .query_map([id], |r| Ok((r.get::<_, String>(0)?, r.get::<_, Option<f64>>(1)?)))
                .unwrap();
            for row in rows {
                let (line, value) = row.unwrap();
                values.insert(line, value);
            }
            current.insert(key, values);
        }
        Oracle {
            current,
            units: case.units.clone(),
            cutoff_day: case.cutoff_day,
        }
    }

    /// The last day of a month: the calendar's, or the day before the
    /// cutoff day (Decree 09/2019: month M ends on the 14th of M).
    fn month_end(&self, month: Period) -> NaiveDate {
        let (y, m) = (month.year(), u32::from(month.month_number().unwrap()));
        if self.cutoff_day <= 1 {
            let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
            date(ny, nm, 1).pred_opt().unwrap()
        } else {
            date(y, m, u32::from(self.cutoff_day) - 1)
        }
    }

    fn reports_in(&self, unit: &str, month: Period) -> bool {
        let end = self.month_end(month);
        self.units
            .iter()
            .any(|(code, from, to)| code == unit && *from <= end && to.is_none_or(|t| end <= t))
    }

    /// A unit's figure over `months`: (value, complete, applies).
    fn figure(&self, unit: &str, line: &str, flow: bool, months: &[Period]) -> (Option<f64>, bool, bool) {
        let cell = |month: Period| -> Option<f64> {
            self.current
                .get(&(unit.to_string(), month.to_string()))
                .and_then(|values| values.get(line).copied().flatten())
        };
        if flow {
            let mut known = 0i64;
            let mut any = false;
            let mut complete = true;
            for month in months.iter().filter(|m| self.reports_in(unit, **m)) {
                match cell(*month) {
                    Some(v) => {
                        known += (v * 1000.0).round() as i64;
                        any = true;
                    }
                    None => complete = false,
                }
            }
            (any.then(|| known as f64 / 1000.0), complete, true)
        } else {
            let last = *months.last().unwrap();
            if !self.reports_in(unit, last) {
                return (None, true, false);
            }
            let v = cell(last);
            (v, v.is_some(), true)
        }
    }
}

fn near(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => (a - b).abs() <= 1e-6 * b.abs().max(1.0),
        (None, None) => true,
        _ => false,
    }
}

/// Compares one window's figures with the oracle; returns how many cells it checked.
fn compare(what: &str, figures: &Figures, oracle: &Oracle, settings: &Settings, months: &[Period]) -> usize {
    let form = settings.current_form();
    // The units counted are exactly those that reported in some month.
    let mut expected_units: Vec<String> = oracle
        .units
        .iter()
        .map(|(c, _, _)| c.clone())
        .filter(|c| months.iter().any(|m| oracle.reports_in(c, *m)))
        .collect();
    expected_units.dedup();
    let mut got_units = figures.units.clone();
    got_units.sort();
    assert_eq!(got_units, expected_units, "{what}: units");
    let mut checked = 0;
    for (l, line) in form.lines.iter().enumerate() {
        let flow = line.agg == Agg::Sum;
        let mut sum = 0.0;
        let (mut any_known, mut all_complete, mut any_applies) = (false, true, false);
        for (u, unit) in figures.units.iter().enumerate() {
            let (value, complete, applies) = oracle.figure(unit, &line.code, flow, months);
            let got: Figure = figures.unit(l, u);
            assert!(
                near(got.value, value) && got.complete == complete && got.applies == applies,
                "{what} {} {unit}: report {got:?}, oracle {value:?} complete {complete} applies {applies}",
                line.code
            );
            if applies {
                any_applies = true;
                all_complete &= complete;
                if let Some(v) = value {
                    sum += v;
                    any_known = true;
                }
            }
            checked += 1;
        }
        let province = figures.province[l];
        let expected = (any_known.then_some(sum), all_complete && any_applies, any_applies);
        assert!(
            near(province.value, expected.0)
                && (province.complete == expected.1 || !any_applies)
                && province.applies == expected.2,
            "{what} {} province: report {province:?}, oracle {expected:?}",
            line.code
        );
    }
    checked
}

fn months_of(period: Period) -> Vec<Period> {
    period.months()
}

fn random_period(rng: &mut ChaCha8Rng) -> Period {
    match rng.next_u32() % 4 {
        0 => Period::month(2015, 1 + (rng.next_u32() % 12) as u8),
        1 => Period::quarter(2015, 1 + (rng.next_u32() % 4) as u8),
        2 => Period::half_year(2015, 1 + (rng.next_u32() % 2) as u8),
        _ => Period::year_period(2015),
    }
}

#[test]
fn the_report_agrees_with_an_independent_consolidation_on_random_stores() {
    let cases: u64 = std::env::var("BAOCAO_ORACLE_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let mut cells = 0;
    for seed in 0..cases {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let case = random_case(&mut rng);
        let dir = temp_dir();
        let settings = workspace(dir.path(), &case);
        let mut store = Store::open(&settings.paths.database).unwrap();
        fill(&mut store, &case, &mut rng);
        let oracle = Oracle::read(&settings.paths.database, &case);
        for _ in 0..2 {
            let period = random_period(&mut rng);
            let data = report_data(&settings, &store, period).unwrap();
            let what = |kind: &str| format!("seed {seed} cutoff {} {period} {kind}", case.cutoff_day);
            cells += compare(
                &what("this period"),
                &data.current,
                &oracle,
                &settings,
                &months_of(period),
            );
            let ytd: Vec<Period> = (1..=period.last_month().month_number().unwrap())
                .map(|m| Period::month(2015, m))
                .collect();
            cells += compare(&what("year to date"), &data.year_to_date, &oracle, &settings, &ytd);
            let last_year = months_of(period.same_period_last_year());
            cells += compare(&what("last year"), &data.last_year, &oracle, &settings, &last_year);

            // Plan ratios from the province's numerator and denominator.
            for plan_ratio in &data.ratios {
                let t = &plan_ratio.target;
                let province = |code: &str| data.current.province_of(code).unwrap();
                let (num, den) = (province(&t.numerator), province(&t.denominator));
                let expected = match (num.value, den.value) {
                    (Some(n), Some(d)) if d > 0.0 => Some(n / d * 100.0),
                    _ => None,
                };
                assert!(near(plan_ratio.ratio.province, expected), "{} {}", what("ratio"), t.id);
                assert_eq!(
                    plan_ratio.ratio.province_complete(),
                    num.complete && den.complete,
                    "{} {}",
                    what("ratio"),
                    t.id
                );
            }

            // The completeness sheet lists the same units and months the figures count.
            let mut listed: Vec<(String, Period)> =
                data.statuses.iter().map(|s| (s.unit_code.clone(), s.month)).collect();
            listed.sort();
            let mut expected: Vec<(String, Period)> = Vec::new();
            for (code, _, _) in &case.units {
                for month in months_of(period) {
                    if oracle.reports_in(code, month) {
                        expected.push((code.clone(), month));
                    }
                }
            }
            expected.sort();
            assert_eq!(listed, expected, "{}", what("completeness"));
        }
    }
    assert!(cells > 0);
    eprintln!("oracle: {cases} random stores, {cells} unit figures compared");
}
