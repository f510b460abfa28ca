//! Synthetic workspaces for tests, demos and the benchmark: a register of N
//! district units with their communes (or a given register, followed month
//! by month: its reporting units of each month get that month's return), a
//! `baocao.toml`, and in `inbox/` the returns of those units for M months in
//! the real form, with plausible magnitudes that satisfy every rule of the
//! form — flows consistent with their year to date, stocks evolving
//! smoothly, the commune sheet consistent with section D.
//!
//! `--faults K` plants K known faults, one per return, of the kinds the
//! form's rules catch, and writes `faults.json`: file, sheet, cell, rule and
//! severity of each. The same seed gives the same files; faults draw from
//! their own random stream, so a faulted corpus differs from the clean one
//! only where the manifest says.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::config::{Settings, DEFAULT_CONFIG};
use crate::domain::{Form, LineKind, Period, Register, Severity, Unit};
use crate::error::Error;
use crate::template::{self, CellInput, CommuneRow, ReturnSpec};
use crate::template::{blank_spec, return_file_name};

/// What to generate.
#[derive(Debug, Clone)]
pub struct SynthOptions {
    /// Number of district units of a synthetic register.
    pub units: usize,
    /// Months of returns per unit.
    pub months: usize,
    /// First month.
    pub start: Period,
    /// Faults to plant (one per return).
    pub faults: usize,
    pub seed: u64,
    /// A register to use instead of a synthetic one; each month the units
    /// it says report then (see `reporting_units`) get a return.
    pub register: Option<PathBuf>,
}

/// What was generated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SynthSummary {
    pub units: usize,
    pub returns: usize,
    pub faults: usize,
}

/// One planted fault, as written to `faults.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlantedFault {
    /// Path of the return, relative to the workspace.
    pub file: String,
    pub sheet: String,
    pub cell: String,
    /// Rule number of the form document that catches it.
    pub rule: u32,
    pub severity: Severity,
    /// Line code concerned, if any.
    pub line: Option<String>,
    /// What was planted, in words.
    pub fault: String,
}

/// Generates a workspace in `out`.
///
/// # Errors
/// [`Error::Io`] and [`Error::Workbook`] when files cannot be written;
/// [`Error::Config`] when a given register does not load.
pub fn synth(out: &Path, options: &SynthOptions) -> Result<SynthSummary, Error> {
    if !options.start.is_month() {
        return Err(Error::Period {
            text: options.start.to_string(),
            reason: "--start must be a month".into(),
        });
    }
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let register_path = out.join("register.csv");
    let synthetic = options.register.is_none();
    match &options.register {
        Some(path) => {
            Register::load(path)?;
            std::fs::copy(path, &register_path).map_err(|e| Error::io(path, e))?;
        }
        None => {
            let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
            let csv = synthetic_register_csv(options.units, &mut rng);
            std::fs::write(&register_path, csv).map_err(|e| Error::io(&register_path, e))?;
        }
    }
    let config_path = out.join(crate::config::CONFIG_FILE);
    std::fs::write(&config_path, synth_config(synthetic)).map_err(|e| Error::io(&config_path, e))?;
    let settings = Settings::load(out, true)?;
    for folder in [
        &settings.paths.inbox,
        &settings.paths.archive,
        &settings.paths.rejected,
        &settings.paths.feedback,
        &settings.paths.reports,
    ] {
        std::fs::create_dir_all(folder).map_err(|e| Error::io(folder, e))?;
    }

    let months: Vec<Period> = (0..options.months as i64)
        .map(|i| options.start.add_months(i))
        .collect();
    let (units, unit_months) = reporting_series(&settings, &months);

    let series: Vec<Vec<MonthReturn>> = units
        .par_iter()
        .zip(unit_months.par_iter())
        .enumerate()
        .map(|(i, (unit, months))| simulate_unit(&settings, unit, months, unit_seed(options.seed, i)))
        .collect();

    let plan = plan_faults(&series, options.faults, options.seed);
    let inbox = settings.paths.inbox.clone();
    let written: Vec<Result<Option<PlantedFault>, Error>> = series
        .par_iter()
        .enumerate()
        .flat_map_iter(|(u, months)| months.iter().enumerate().map(move |(m, r)| (u, m, r)))
        .map(|(u, m, ret)| {
            let fault = plan.get(&(u, m)).copied();
            write_month(&settings, &inbox, &units[u], ret, fault, m)
        })
        .collect();
    let mut manifest = Vec::new();
    for result in written {
        if let Some(fault) = result? {
            manifest.push(fault);
        }
    }
    manifest.sort_by(|a, b| a.file.cmp(&b.file));
    if options.faults > 0 {
        let path = out.join("faults.json");
        let json = serde_json::to_string_pretty(&manifest).map_err(|e| Error::encode(path.display().to_string(), e))?;
        std::fs::write(&path, json).map_err(|e| Error::io(&path, e))?;
    }
    Ok(SynthSummary {
        units: units.len(),
        returns: series.iter().map(Vec::len).sum(),
        faults: manifest.len(),
    })
}

/// The units that report in `months`, following the register month by
/// month (the 8 districts of Bắc Kạn until June 2025, the 92 communes of
/// Thái Nguyên from July), each with the months it reports in. Units are
/// in the order they first report, then by code, so a register that does
/// not change gives the same units, in the same order, as it always did.
fn reporting_series(settings: &Settings, months: &[Period]) -> (Vec<Unit>, Vec<Vec<Period>>) {
    let mut units: Vec<Unit> = Vec::new();
    let mut unit_months: Vec<Vec<Period>> = Vec::new();
    let mut index: BTreeMap<(crate::domain::Level, String), usize> = BTreeMap::new();
    for month in months {
        for unit in crate::report::completeness::expected_units(settings, *month) {
            let key = (unit.level, unit.code.clone());
            let i = *index.entry(key).or_insert_with(|| {
                units.push(unit.clone());
                unit_months.push(Vec::new());
                units.len() - 1
            });
            unit_months[i].push(*month);
        }
    }
    (units, unit_months)
}

fn unit_seed(seed: u64, index: usize) -> u64 {
    seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (index as u64).wrapping_mul(0xD1B5_4A32_D192_ED03)
}

fn synth_config(synthetic_register: bool) -> String {
    let mut text = DEFAULT_CONFIG.replace("register = \"\"", "register = \"register.csv\"");
    if synthetic_register {
        text = text
            .replace("name = \"Bắc Kạn\"", "name = \"Tỉnh Mẫu\"")
            .replace("code = \"06\"", "code = \"99\"")
            .replace("UBND TỈNH BẮC KẠN", "UBND TỈNH MẪU")
            .replace("place = \"Bắc Kạn\"", "place = \"Tỉnh Mẫu\"")
            .replace("tỉnh Bắc Kạn", "tỉnh Mẫu");
    }
    format!("# Synthetic workspace made by `baocao synth`.\n{text}")
}

// ---------------------------------------------------------------------------
// Random helpers on a deterministic stream
// ---------------------------------------------------------------------------

fn uniform(rng: &mut ChaCha8Rng) -> f64 {
    (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

fn below(rng: &mut ChaCha8Rng, n: u64) -> u64 {
    if n == 0 {
        0
    } else {
        rng.next_u64() % n
    }
}

fn between(rng: &mut ChaCha8Rng, low: i64, high: i64) -> i64 {
    low + below(rng, (high - low + 1).max(1) as u64) as i64
}

fn chance(rng: &mut ChaCha8Rng, p: f64) -> bool {
    uniform(rng) < p
}

/// Poisson draws (Knuth), for small means.
fn poisson(rng: &mut ChaCha8Rng, mean: f64) -> i64 {
    if mean <= 0.0 {
        return 0;
    }
    let limit = (-mean.min(30.0)).exp();
    let mut k = 0;
    let mut p = 1.0;
    loop {
        p *= uniform(rng);
        if p <= limit {
            return k;
        }
        k += 1;
    }
}

fn binomial(rng: &mut ChaCha8Rng, n: i64, p: f64) -> i64 {
    (0..n.max(0)).filter(|_| chance(rng, p)).count() as i64
}

/// A small step of a stock: −1, 0 or +1, staying ≥ `floor`.
fn walk(rng: &mut ChaCha8Rng, value: i64, p: f64, floor: i64) -> i64 {
    if chance(rng, p) {
        (value + if chance(rng, 0.5) { 1 } else { -1 }).max(floor)
    } else {
        value.max(floor)
    }
}

// ---------------------------------------------------------------------------
// Synthetic register
// ---------------------------------------------------------------------------

const SYLLABLES: [&str; 40] = [
    "An",
    "Bình",
    "Cao",
    "Đông",
    "Hà",
    "Hòa",
    "Kim",
    "Lạc",
    "Long",
    "Minh",
    "Nam",
    "Ngọc",
    "Phú",
    "Phúc",
    "Quang",
    "Sơn",
    "Tân",
    "Thanh",
    "Thịnh",
    "Thượng",
    "Trung",
    "Văn",
    "Vân",
    "Xuân",
    "Yên",
    "Bắc",
    "Đức",
    "Hưng",
    "Lâm",
    "Lương",
    "Mỹ",
    "Nghĩa",
    "Phong",
    "Quảng",
    "Tiến",
    "Tú",
    "Vĩnh",
    "Hợp",
    "Cường",
    "Hải",
];

fn place_name(rng: &mut ChaCha8Rng) -> String {
    let a = SYLLABLES[below(rng, SYLLABLES.len() as u64) as usize];
    let mut b = SYLLABLES[below(rng, SYLLABLES.len() as u64) as usize];
    while b == a {
        b = SYLLABLES[below(rng, SYLLABLES.len() as u64) as usize];
    }
    format!("{a} {b}")
}

/// A register of `units` districts (codes 001…) with 6–20 communes each,
/// all valid from 2004-01-01 with no end.
pub fn synthetic_register_csv(units: usize, rng: &mut ChaCha8Rng) -> String {
    let mut out = String::from("level,code,name,parent_code,valid_from,valid_to\n");
    out.push_str("province,99,Tỉnh Mẫu,,2004-01-01,\n");
    let mut commune_code = 1u32;
    for d in 1..=units.min(999) {
        let code = format!("{d:03}");
        out.push_str(&format!("district,{code},Huyện {},99,2004-01-01,\n", place_name(rng)));
        let communes = between(rng, 6, 20);
        for c in 0..communes {
            let kind = if c == 0 { "Thị trấn" } else { "Xã" };
            out.push_str(&format!(
                "commune,{:05},{kind} {},{code},2004-01-01,\n",
                commune_code,
                place_name(rng)
            ));
            commune_code += 1;
        }
    }
    out
}

// ---------------------------------------------------------------------------
// Simulation of one unit's returns
// ---------------------------------------------------------------------------

/// One month of one unit, in whole units: counts as they are, money in
/// thousandths of a million VND (so sums are exact).
#[derive(Debug, Clone)]
struct MonthReturn {
    period: Period,
    /// Line code → (this month, year to date).
    values: BTreeMap<String, (i64, Option<i64>)>,
    communes: Vec<CommuneRow>,
}

#[derive(Debug, Clone, Copy, Default)]
struct CommuneState {
    healthy: bool,
    prostitution: bool,
    aware: bool,
    team: bool,
}

struct UnitState {
    size: f64,
    age: [i64; 4],
    hiv: i64,
    repeat: i64,
    treated: i64,
    hot_spots: i64,
    establishments: [i64; 7],
    staff: i64,
    models: [i64; 4],
    collaborators: i64,
    committed: i64,
    officials: i64,
    trained: i64,
    communes: BTreeMap<String, CommuneState>,
}

/// Activity of a commune-level reporting unit relative to a district's.
const COMMUNE_SHARE_OF_DISTRICT: f64 = 0.25;

fn simulate_unit(settings: &Settings, unit: &Unit, months: &[Period], seed: u64) -> Vec<MonthReturn> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    // A commune that reports for itself (from July 2025) is a share of a
    // former district: Bắc Kạn's 8 districts became 37 communes, so about
    // a quarter keeps the territory's totals of the same order across the
    // change. Drawn after the random size, so district series are unchanged.
    let share = if unit.level == crate::domain::Level::Commune {
        COMMUNE_SHARE_OF_DISTRICT
    } else {
        1.0
    };
    let size = (0.6 + uniform(&mut rng) * 1.4) * share;
    let scaled = |rng: &mut ChaCha8Rng, low: i64, high: i64| ((between(rng, low, high) as f64) * size).round() as i64;
    let mut s = UnitState {
        size,
        age: [
            i64::from(chance(&mut rng, 0.1)),
            between(&mut rng, 0, 2),
            scaled(&mut rng, 2, 8),
            scaled(&mut rng, 1, 5),
        ],
        hiv: 0,
        repeat: 0,
        treated: 0,
        hot_spots: between(&mut rng, 0, 3),
        establishments: [
            scaled(&mut rng, 5, 25),
            scaled(&mut rng, 2, 8),
            scaled(&mut rng, 2, 10),
            between(&mut rng, 0, 3),
            between(&mut rng, 0, 5),
            scaled(&mut rng, 1, 8),
            between(&mut rng, 0, 3),
        ],
        staff: 0,
        models: [
            between(&mut rng, 0, 2),
            between(&mut rng, 0, 1),
            between(&mut rng, 0, 1),
            between(&mut rng, 0, 2),
        ],
        collaborators: scaled(&mut rng, 20, 60),
        committed: 0,
        officials: between(&mut rng, 2, 6),
        trained: 0,
        communes: BTreeMap::new(),
    };
    let total_age: i64 = s.age.iter().sum();
    s.hiv = total_age / 5;
    s.repeat = total_age / 3;
    s.staff = s.establishments.iter().sum::<i64>() * between(&mut rng, 2, 3);
    s.committed = s.establishments.iter().sum::<i64>() / 2;

    let form = settings.current_form();
    let mut ytd: BTreeMap<String, i64> = BTreeMap::new();
    let mut out = Vec::with_capacity(months.len());
    for (i, period) in months.iter().enumerate() {
        let january = period.month_number() == Some(1);
        if january || i == 0 {
            ytd.clear();
        }
        let end = period.end(&settings.calendar);
        let register_communes = settings.register.communes_of_unit(unit, end);
        let values = simulate_month(&mut rng, &mut s, &register_communes, january, i == 0);
        let mut with_ytd = BTreeMap::new();
        for (code, value) in values {
            let has_ytd = form.line(&code).is_some_and(|l| l.ytd);
            let y = if has_ytd {
                let acc = ytd.entry(code.clone()).or_insert(0);
                // The first month of a series outside January carries a
                // plausible year to date from months before the series.
                if i == 0 && !january {
                    let before = period.month_number().map_or(0, |m| i64::from(m) - 1);
                    *acc += value * before;
                }
                *acc += value;
                Some(*acc)
            } else {
                None
            };
            with_ytd.insert(code, (value, y));
        }
        let flag_keys: Vec<&str> = form.commune_flags.iter().map(|f| f.key.as_str()).collect();
        let communes = register_communes
            .iter()
            .map(|c| {
                let st = s.communes.get(&c.code).copied().unwrap_or_default();
                CommuneRow {
                    code: c.code.clone(),
                    name: c.name.clone(),
                    flags: flag_keys
                        .iter()
                        .map(|k| match *k {
                            "healthy" => st.healthy,
                            "prostitution" => st.prostitution,
                            "awareness" => st.aware,
                            "volunteer_team" => st.team,
                            _ => false,
                        })
                        .collect(),
                }
            })
            .collect();
        out.push(MonthReturn {
            period: *period,
            values: with_ytd,
            communes,
        });
    }
    out
}

fn simulate_month(
    rng: &mut ChaCha8Rng,
    s: &mut UnitState,
    register_communes: &[&Unit],
    january: bool,
    first: bool,
) -> BTreeMap<String, i64> {
    let mut v: BTreeMap<String, i64> = BTreeMap::new();
    let mut put = |code: &str, value: i64| {
        v.insert(code.to_string(), value);
    };

    // A. Situation (stocks), kept consistent with the to-date counts of C09.
    for (i, part) in s.age.iter_mut().enumerate() {
        let floor = 0;
        *part = walk(rng, *part, if i == 0 { 0.05 } else { 0.15 }, floor);
    }
    let mut a01: i64 = s.age.iter().sum();
    if a01 < s.treated {
        s.age[3] += s.treated - a01;
        a01 = s.treated;
    }
    s.repeat = walk(rng, s.repeat, 0.2, s.treated).min(a01);
    s.hiv = walk(rng, s.hiv, 0.1, 0).min(a01);
    if january || first {
        s.treated = between(rng, 0, s.repeat) / 2;
    } else if s.treated < s.repeat && chance(rng, 0.3) {
        s.treated += 1;
    }
    let male = i64::from(a01 > 0 && chance(rng, 0.2));
    put("A01", a01);
    for (i, part) in s.age.iter().enumerate() {
        put(&format!("A01.{}", i + 1), *part);
    }
    put("A01.5", a01 - male);
    put("A01.6", s.hiv);
    put("A01.7", s.repeat);
    s.hot_spots = walk(rng, s.hot_spots, 0.1, 0);
    put("A02", s.hot_spots);
    for e in s.establishments.iter_mut() {
        *e = walk(rng, *e, 0.15, 0);
    }
    let a03: i64 = s.establishments.iter().sum();
    put("A03", a03);
    for (i, e) in s.establishments.iter().enumerate() {
        put(&format!("A03.{}", i + 1), *e);
    }
    s.staff = walk(rng, s.staff, 0.3, 0);
    put("A04", s.staff);
    put("A04.1", s.staff * 7 / 10);

    // B. Inspection and enforcement (flows).
    let b01 = poisson(rng, 1.5 * s.size);
    let b02 = b01 + poisson(rng, 2.0 * b01 as f64 + 0.5);
    let b03 = binomial(rng, b02, 0.2);
    let b04 = binomial(rng, b03, 0.7);
    let b06 = binomial(rng, b03, 0.1);
    let b05: i64 = (0..b04).map(|_| between(rng, 500, 30_000)).sum();
    let b07 = poisson(rng, 0.2 * s.size);
    let b08 = if b07 > 0 {
        b07 + poisson(rng, 2.0 * b07 as f64)
    } else {
        0
    };
    let b081 = (b08 + 1) / 2;
    let b083 = (b08 - b081).min(b07);
    let b082 = b08 - b081 - b083;
    let b09 = binomial(rng, b07, 0.3);
    let b10 = if b09 > 0 { b09 + poisson(rng, 0.5) } else { 0 };
    let b11 = binomial(rng, b09, 0.5);
    let b111 = binomial(rng, b11, 0.5);
    for (code, value) in [
        ("B01", b01),
        ("B02", b02),
        ("B03", b03),
        ("B04", b04),
        ("B05", b05),
        ("B06", b06),
        ("B07", b07),
        ("B08", b08),
        ("B08.1", b081),
        ("B08.2", b082),
        ("B08.3", b083),
        ("B09", b09),
        ("B10", b10),
        ("B11", b11),
        ("B11.1", b111),
    ] {
        put(code, value);
    }

    // C. Support, treatment, reintegration.
    let c05 = poisson(rng, 0.5);
    let c06: i64 = (0..c05).map(|_| between(rng, 10_000, 50_000)).sum();
    for (code, mean) in [("C01", 3.0 * s.size), ("C02", 1.0), ("C03", 0.2), ("C04", 0.5)] {
        let value = poisson(rng, mean);
        put(code, value);
    }
    put("C05", c05);
    put("C06", c06);
    for (code, mean) in [("C07", 0.5), ("C08", 0.3)] {
        let value = poisson(rng, mean);
        put(code, value);
    }
    put("C09", s.treated);
    let c10 = poisson(rng, 2.0 * s.size);
    put("C10", c10);
    for m in s.models.iter_mut() {
        *m = walk(rng, *m, 0.03, 0);
    }
    put("C11", s.models.iter().sum());
    for (i, m) in s.models.iter().enumerate() {
        put(&format!("C11.{}", i + 1), *m);
    }

    // D. Healthy communes, from the commune flags.
    let codes: BTreeSet<&str> = register_communes.iter().map(|c| c.code.as_str()).collect();
    s.communes.retain(|code, _| codes.contains(code.as_str()));
    for code in &codes {
        let state = s.communes.entry((*code).to_string()).or_insert_with(|| {
            let healthy = chance(rng, 0.9);
            CommuneState {
                healthy,
                prostitution: !healthy && chance(rng, 0.4),
                aware: chance(rng, 0.2),
                team: chance(rng, 0.5),
            }
        });
        if january {
            state.aware = chance(rng, 0.2);
        } else if !state.aware && chance(rng, 0.15) {
            state.aware = true;
        }
    }
    let count = |f: fn(&CommuneState) -> bool| s.communes.values().filter(|c| f(c)).count() as i64;
    put("D01", codes.len() as i64);
    put("D02", count(|c| c.healthy));
    put("D03", count(|c| c.prostitution));
    put("D04", count(|c| c.aware));
    s.collaborators = walk(rng, s.collaborators, 0.2, 0);
    put("D05", s.collaborators);
    put("D06", count(|c| c.team));

    // E. Information and awareness.
    let e01 = poisson(rng, 2.0 * s.size);
    let e02 = if e01 > 0 { e01 * between(rng, 20, 60) } else { 0 };
    put("E01", e01);
    put("E02", e02);
    let e03 = poisson(rng, 1.0);
    put("E03", e03);
    let e04 = if chance(rng, 0.3) { between(rng, 200, 1000) } else { 0 };
    put("E04", e04);
    let e05 = poisson(rng, 0.3);
    put("E05", e05);
    s.committed = walk(rng, s.committed, 0.2, 0).min(a03);
    put("E06", s.committed);

    // F. Capacity and budget.
    let f01 = poisson(rng, 0.2);
    put("F01", f01);
    put("F02", if f01 > 0 { f01 * between(rng, 10, 40) } else { 0 });
    if january && !first {
        s.officials = walk(rng, s.officials, 0.5, 1);
    }
    if january || first {
        s.trained = between(rng, 0, s.officials) / 2;
    } else if s.trained < s.officials && chance(rng, 0.2) {
        s.trained += 1;
    }
    put("F03", s.officials);
    put("F04", s.trained);
    let groups: Vec<i64> = (0..5)
        .map(|_| if chance(rng, 0.6) { between(rng, 0, 3000) } else { 0 })
        .collect();
    let f05: i64 = groups.iter().sum();
    let central = f05 * 3 / 10;
    let local = f05 * 6 / 10;
    put("F05", f05);
    for (i, g) in groups.iter().enumerate() {
        put(&format!("F05.{}", i + 1), *g);
    }
    put("F06", central);
    put("F07", local);
    put("F08", f05 - central - local);
    v
}

// ---------------------------------------------------------------------------
// Faults
// ---------------------------------------------------------------------------

/// The kinds of fault synth plants, each caught by one rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    PartsDoNotAddUp,
    OfWhichAboveParent,
    TrainedAboveStaff,
    NegativeCount,
    FractionalCount,
    UnreadableText,
    NumberAsText,
    FormulaWithoutResult,
    ExcelError,
    RequiredBlank,
    CommuneCountWrong,
    FlagCountWrong,
    HealthyAndProstitution,
    UnknownCommune,
    DuplicateCode,
    UnknownCode,
    UnitNameWrong,
    UnknownUnit,
    FuturePeriod,
    InspectionsAboveVisits,
    YearToDateWrong,
}

const FAULTS: [Fault; 21] = [
    Fault::PartsDoNotAddUp,
    Fault::NumberAsText,
    Fault::UnitNameWrong,
    Fault::OfWhichAboveParent,
    Fault::TrainedAboveStaff,
    Fault::NegativeCount,
    Fault::FractionalCount,
    Fault::UnreadableText,
    Fault::FormulaWithoutResult,
    Fault::ExcelError,
    Fault::RequiredBlank,
    Fault::CommuneCountWrong,
    Fault::FlagCountWrong,
    Fault::HealthyAndProstitution,
    Fault::UnknownCommune,
    Fault::DuplicateCode,
    Fault::UnknownCode,
    Fault::UnknownUnit,
    Fault::FuturePeriod,
    Fault::InspectionsAboveVisits,
    Fault::YearToDateWrong,
];

impl Fault {
    /// Faults that change a stored flow in an accepted return would upset
    /// the next month's year-to-date check; they go in a unit's last month.
    fn needs_last_month(self) -> bool {
        matches!(self, Fault::InspectionsAboveVisits | Fault::YearToDateWrong)
    }
}

/// Chooses the returns that get a fault: (unit index, month index) → fault.
fn plan_faults(series: &[Vec<MonthReturn>], count: usize, seed: u64) -> BTreeMap<(usize, usize), Fault> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0xFA01_7FA0_17FA_017F);
    let mut plan = BTreeMap::new();
    let total: usize = series.iter().map(Vec::len).sum();
    let units = series.len();
    if units == 0 || total == 0 {
        return plan;
    }
    let mut attempts = 0;
    let mut i = 0;
    while plan.len() < count.min(total) && attempts < count * 50 + 1000 {
        attempts += 1;
        let fault = FAULTS[i % FAULTS.len()];
        let u = below(&mut rng, units as u64) as usize;
        let months = series[u].len();
        if months == 0 {
            continue;
        }
        let m = if fault.needs_last_month() {
            months - 1
        } else {
            below(&mut rng, months as u64) as usize
        };
        if plan.contains_key(&(u, m)) {
            continue;
        }
        // The year-to-date check needs last month stored: no fault that
        // rejects a return may sit just before it.
        let before = m.checked_sub(1).and_then(|b| plan.get(&(u, b)));
        let after = plan.get(&(u, m + 1));
        if (fault == Fault::YearToDateWrong && before.is_some()) || after == Some(&Fault::YearToDateWrong) {
            continue;
        }
        plan.insert((u, m), fault);
        i += 1;
    }
    plan
}

/// Where a fault sits, resolved to a cell once the workbook is written.
enum Target {
    Value(String),
    Ytd(String),
    Identity(&'static str),
    CommuneCode(String),
    CommuneFlag(String, String),
    Extra(String),
}

fn cell_input(kind: LineKind, value: i64) -> CellInput {
    match kind {
        LineKind::Int => CellInput::Number(value as f64),
        LineKind::Money => CellInput::Number(value as f64 / 1000.0),
    }
}

fn write_month(
    settings: &Settings,
    inbox: &Path,
    unit: &Unit,
    ret: &MonthReturn,
    fault: Option<Fault>,
    month_index: usize,
) -> Result<Option<PlantedFault>, Error> {
    let form = settings.current_form();
    // The unit's row in force that month (a district renamed under the
    // same code, as 058 in 2015, carries its name of the month).
    let end = ret.period.end(&settings.calendar);
    let unit = settings
        .register
        .reporting_unit(&settings.config.province.code, &unit.code, end)
        .filter(|u| u.level == unit.level)
        .unwrap_or(unit);
    let mut spec: ReturnSpec<'_> = blank_spec(settings, unit, ret.period)?;
    spec.communes = ret.communes.clone();
    let mut values = ret.values.clone();
    for (code, (value, ytd)) in &values {
        let Some(line) = form.line(code) else { continue };
        let this = cell_input(line.kind, *value);
        let y = ytd.map_or(CellInput::Blank, |y| cell_input(line.kind, y));
        spec.values.insert(code.clone(), (this, y));
    }
    let planted = fault.and_then(|f| plant(form, &mut spec, &mut values, f));

    let dir = inbox.join(&unit.code);
    let path = dir.join(return_file_name(form, &unit.code, &ret.period));
    let layout = template::write_return(&path, &spec)?;
    // Returns arrive 1–9 days after the month ends (some after the
    // deadline), in period order: ingest takes them by time, then name.
    let unit_number: u64 = unit.code.bytes().map(u64::from).sum();
    let days_after = 1 + (unit_number * 7 + month_index as u64 * 3) % 9;
    let arrival = end
        .and_hms_opt(9, 0, 0)
        .map(|t| t.and_utc().timestamp() + days_after as i64 * 86_400)
        .unwrap_or(0)
        .max(0) as u64;
    let stamp = SystemTime::UNIX_EPOCH + Duration::from_secs(arrival);
    if let Ok(file) = std::fs::File::options().write(true).open(&path) {
        let _ = file.set_modified(stamp);
    }

    let Some((fault, rule, severity, target, line, description)) = planted else {
        return Ok(None);
    };
    let _ = fault;
    let (sheet, cell) = match target {
        Target::Value(code) => (layout.sheet.clone(), layout.value_cells.get(&code).map(|c| c.0.clone())),
        Target::Ytd(code) => (layout.sheet.clone(), layout.value_cells.get(&code).map(|c| c.1.clone())),
        Target::Identity(label) => (layout.sheet.clone(), layout.identity_cells.get(label).cloned()),
        Target::CommuneCode(code) => (
            layout.commune_sheet.clone(),
            layout.commune_rows.get(&code).map(|r| format!("A{r}")),
        ),
        Target::CommuneFlag(code, flag) => (
            layout.commune_sheet.clone(),
            layout
                .commune_rows
                .get(&code)
                .zip(layout.flag_columns.get(&flag))
                .map(|(r, c)| format!("{c}{r}")),
        ),
        Target::Extra(code) => (
            layout.sheet.clone(),
            layout.extra_cells.iter().find(|e| e.0 == code).map(|e| e.1.clone()),
        ),
    };
    let relative = path.strip_prefix(&settings.paths.root).unwrap_or(&path);
    Ok(Some(PlantedFault {
        file: relative.to_string_lossy().replace('\\', "/"),
        sheet,
        cell: cell.unwrap_or_default(),
        rule,
        severity,
        line,
        fault: description,
    }))
}

type Planted = (Fault, u32, Severity, Target, Option<String>, String);

/// Applies one fault to a return about to be written.
fn plant(
    form: &Form,
    spec: &mut ReturnSpec<'_>,
    values: &mut BTreeMap<String, (i64, Option<i64>)>,
    fault: Fault,
) -> Option<Planted> {
    let value_of = |values: &BTreeMap<String, (i64, Option<i64>)>, code: &str| values.get(code).map_or(0, |v| v.0);
    let set = |spec: &mut ReturnSpec<'_>, code: &str, input: CellInput| {
        if let Some(entry) = spec.values.get_mut(code) {
            entry.0 = input;
        }
    };
    let e = Severity::Error;
    let w = Severity::Warning;
    let some = |code: &str| Some(code.to_string());
    Some(match fault {
        Fault::PartsDoNotAddUp => {
            let v = value_of(values, "A03.7") + 1;
            set(spec, "A03.7", CellInput::Number(v as f64));
            (
                fault,
                10,
                e,
                Target::Value("A03".into()),
                some("A03"),
                "A03.7 raised by 1: A03.1–A03.7 no longer add up to A03".into(),
            )
        }
        Fault::OfWhichAboveParent => {
            let v = value_of(values, "A01") + 1;
            set(spec, "A01.5", CellInput::Number(v as f64));
            (
                fault,
                11,
                e,
                Target::Value("A01.5".into()),
                some("A01.5"),
                format!("A01.5 (of which female) = {v} > A01"),
            )
        }
        Fault::TrainedAboveStaff => {
            let v = value_of(values, "F03") + 1;
            set(spec, "F04", CellInput::Number(v as f64));
            (
                fault,
                14,
                e,
                Target::Value("F04".into()),
                some("F04"),
                format!("F04 = {v} > F03"),
            )
        }
        Fault::NegativeCount => {
            set(spec, "A02", CellInput::Number(-1.0));
            (fault, 7, e, Target::Value("A02".into()), some("A02"), "A02 = -1".into())
        }
        Fault::FractionalCount => {
            set(spec, "D05", CellInput::Number(value_of(values, "D05") as f64 + 0.5));
            (
                fault,
                7,
                e,
                Target::Value("D05".into()),
                some("D05"),
                "D05 not a whole number".into(),
            )
        }
        Fault::UnreadableText => {
            set(spec, "D05", CellInput::Text("không rõ".into()));
            (
                fault,
                6,
                e,
                Target::Value("D05".into()),
                some("D05"),
                "D05 = \"không rõ\"".into(),
            )
        }
        Fault::NumberAsText => {
            let v = value_of(values, "D05");
            set(spec, "D05", CellInput::Text(format!("{v} người")));
            (
                fault,
                6,
                w,
                Target::Value("D05".into()),
                some("D05"),
                format!("D05 typed as text \"{v} người\""),
            )
        }
        Fault::FormulaWithoutResult => {
            set(spec, "D05", CellInput::FormulaWithoutResult("=10+10".into()));
            (
                fault,
                8,
                e,
                Target::Value("D05".into()),
                some("D05"),
                "D05 formula saved without its result".into(),
            )
        }
        Fault::ExcelError => {
            set(spec, "D05", CellInput::ErrorValue("#REF!".into()));
            (
                fault,
                6,
                e,
                Target::Value("D05".into()),
                some("D05"),
                "D05 = #REF!".into(),
            )
        }
        Fault::RequiredBlank => {
            set(spec, "D05", CellInput::Blank);
            (
                fault,
                9,
                e,
                Target::Value("D05".into()),
                some("D05"),
                "D05 (required) left blank".into(),
            )
        }
        Fault::CommuneCountWrong => {
            let v = value_of(values, "D01") + 1;
            set(spec, "D01", CellInput::Number(v as f64));
            (
                fault,
                15,
                e,
                Target::Value("D01".into()),
                some("D01"),
                format!("D01 = {v}, one more than the register"),
            )
        }
        Fault::FlagCountWrong | Fault::HealthyAndProstitution => {
            let flag_index = |key: &str| form.commune_flags.iter().position(|f| f.key == key);
            let (healthy, prostitution, aware) = (
                flag_index("healthy")?,
                flag_index("prostitution")?,
                flag_index("awareness")?,
            );
            let room = value_of(values, "D02") + value_of(values, "D03") < value_of(values, "D01");
            let candidate = spec
                .communes
                .iter()
                .position(|c| c.flags.get(healthy) == Some(&true) && c.flags.get(prostitution) == Some(&false));
            if let (Fault::HealthyAndProstitution, true, Some(i)) = (fault, room, candidate) {
                spec.communes[i].flags[prostitution] = true;
                let d03 = value_of(values, "D03") + 1;
                set(spec, "D03", CellInput::Number(d03 as f64));
                let code = spec.communes[i].code.clone();
                let key = form.commune_flags[prostitution].key.clone();
                (
                    fault,
                    16,
                    e,
                    Target::CommuneFlag(code.clone(), key),
                    None,
                    format!("commune {code} flagged both healthy and with prostitution"),
                )
            } else {
                let row = spec.communes.first_mut()?;
                row.flags[aware] = !row.flags[aware];
                let code = row.code.clone();
                (
                    Fault::FlagCountWrong,
                    17,
                    e,
                    Target::Value("D04".into()),
                    some("D04"),
                    format!("awareness flag of commune {code} flipped: flags no longer count to D04"),
                )
            }
        }
        Fault::UnknownCommune => {
            spec.communes.push(CommuneRow {
                code: "99999".into(),
                name: "Xã Không Có".into(),
                flags: vec![false; form.commune_flags.len()],
            });
            (
                fault,
                16,
                e,
                Target::CommuneCode("99999".into()),
                None,
                "commune 99999 is not in the register".into(),
            )
        }
        Fault::DuplicateCode => {
            let v = value_of(values, "A02");
            spec.extra_lines.push((
                "A02".into(),
                "Số tụ điểm (nhập lại)".into(),
                CellInput::Number(v as f64),
            ));
            (
                fault,
                5,
                e,
                Target::Extra("A02".into()),
                some("A02"),
                "line A02 appears twice".into(),
            )
        }
        Fault::UnknownCode => {
            spec.extra_lines
                .push(("Z99".into(), "Chỉ tiêu tự thêm".into(), CellInput::Number(1.0)));
            (
                fault,
                5,
                w,
                Target::Extra("Z99".into()),
                some("Z99"),
                "unknown line code Z99".into(),
            )
        }
        Fault::UnitNameWrong => {
            spec.identity.unit_name = "Huyện Không Tên".into();
            (
                fault,
                4,
                w,
                Target::Identity("Tên đơn vị"),
                None,
                "unit name does not match the register".into(),
            )
        }
        Fault::UnknownUnit => {
            spec.identity.unit_code = "999".into();
            (
                fault,
                3,
                e,
                Target::Identity("Mã đơn vị"),
                None,
                "unit code 999 is not in the register".into(),
            )
        }
        Fault::FuturePeriod => {
            spec.identity.period = Period::month(2099, 1);
            (
                fault,
                3,
                e,
                Target::Identity("Kỳ báo cáo"),
                None,
                "period 2099-01 is in the future".into(),
            )
        }
        Fault::InspectionsAboveVisits => {
            let (b01, b01_ytd) = values.get("B01").copied().unwrap_or((0, None));
            let b02 = value_of(values, "B02");
            let new = b02 + 1;
            let ytd = b01_ytd.map(|y| y - b01 + new);
            set(spec, "B01", CellInput::Number(new as f64));
            if let (Some(entry), Some(y)) = (spec.values.get_mut("B01"), ytd) {
                entry.1 = CellInput::Number(y as f64);
            }
            values.insert("B01".into(), (new, ytd));
            (
                fault,
                12,
                w,
                Target::Value("B01".into()),
                some("B01"),
                format!("B01 = {new} > B02 = {b02}"),
            )
        }
        Fault::YearToDateWrong => {
            let (b02, ytd) = values.get("B02").copied().unwrap_or((0, None));
            let wrong = ytd.unwrap_or(b02) + 3;
            if let Some(entry) = spec.values.get_mut("B02") {
                entry.1 = CellInput::Number(wrong as f64);
            }
            (
                fault,
                18,
                w,
                Target::Ytd("B02".into()),
                some("B02"),
                format!("B02 year to date = {wrong}, 3 more than it should be"),
            )
        }
    })
}
