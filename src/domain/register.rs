//! The official unit register: every province, district and commune with its
//! code and the dates its row is valid. A code identifies a row in a dated
//! list, not a territory: Thị xã Bắc Kạn became Thành phố Bắc Kạn on
//! 12/3/2015 under the same code 058, and communes merged on 1/2/2020 kept one
//! old code under a new name. Every lookup is therefore by `(code, date)`.

use std::collections::HashMap;
use std::path::Path;

use chrono::NaiveDate;
use serde::Deserialize;
use unicode_normalization::UnicodeNormalization;

use crate::error::Error;

/// The register embedded in the binary: Bắc Kạn 2004 – 30/6/2025, then
/// Thái Nguyên's 92 commune-level units from 1/7/2025.
pub const EMBEDDED_REGISTER: &str = include_str!("../../templates/units/bac-kan.csv");

/// Administrative level of a unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Province,
    District,
    Commune,
}

impl Level {
    /// The level's word in Vietnamese, for messages.
    pub fn vietnamese(self) -> &'static str {
        match self {
            Level::Province => "tỉnh",
            Level::District => "huyện, thị xã, thành phố",
            Level::Commune => "xã, phường, thị trấn",
        }
    }

    /// The level's word in English, for the log and exports.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Province => "province",
            Level::District => "district",
            Level::Commune => "commune",
        }
    }

    /// Digits of a code at this level (national list, Decision 124/2004/QĐ-TTg).
    pub fn code_width(self) -> usize {
        match self {
            Level::Province => 2,
            Level::District => 3,
            Level::Commune => 5,
        }
    }
}

/// One row of the register.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Unit {
    pub level: Level,
    pub code: String,
    pub name: String,
    #[serde(default)]
    pub parent_code: String,
    pub valid_from: NaiveDate,
    #[serde(default)]
    pub valid_to: Option<NaiveDate>,
    /// For a unit that ceased and was taken over whole by another (a merged
    /// province): the successor's code at the same level, in force from the
    /// day after `valid_to`. Optional column; empty for most rows.
    #[serde(default)]
    pub successor_code: String,
}

impl Unit {
    /// Whether this row is in force on `date`.
    pub fn valid_on(&self, date: NaiveDate) -> bool {
        self.valid_from <= date && self.valid_to.is_none_or(|to| date <= to)
    }

    /// "2004-08-31 – 2015-03-11" for messages.
    pub fn validity(&self) -> String {
        match self.valid_to {
            Some(to) => format!("{} – {}", self.valid_from, to),
            None => format!("{} –", self.valid_from),
        }
    }
}

/// The dated unit register.
#[derive(Debug, Clone, Default)]
pub struct Register {
    units: Vec<Unit>,
    /// (level, code) → rows, and parent code → child rows: every lookup of
    /// a batch goes through these, so they are indexed once.
    by_code: HashMap<(Level, String), Vec<usize>>,
    by_parent: HashMap<String, Vec<usize>>,
}

impl Register {
    /// The Bắc Kạn register shipped with baocao.
    ///
    /// # Errors
    /// Only if the embedded file were malformed (a build defect).
    pub fn embedded() -> Result<Register, Error> {
        Register::from_csv(EMBEDDED_REGISTER, Path::new("<embedded bac-kan.csv>"))
    }

    /// Loads a register CSV (`level,code,name,parent_code,valid_from,valid_to`
    /// and optionally `successor_code`).
    ///
    /// # Errors
    /// [`Error::Io`] when unreadable, [`Error::Register`] naming the line.
    pub fn load(path: &Path) -> Result<Register, Error> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Register::from_csv(&text, path)
    }

    /// Parses a register from CSV text; `origin` names it in errors.
    ///
    /// # Errors
    /// [`Error::Register`] naming the first bad line.
    pub fn from_csv(text: &str, origin: &Path) -> Result<Register, Error> {
        // Flexible: a row may stop before the optional trailing
        // `successor_code` (a hand-edited register, a line added by a tool
        // that writes the six classic columns).
        let mut reader = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .flexible(true)
            .from_reader(text.as_bytes());
        let mut units = Vec::new();
        let bad_line = |i: usize, e: &dyn std::fmt::Display| Error::Register {
            path: origin.to_path_buf(),
            message: format!("line {}: {e}", i + 2),
        };
        let headers = reader
            .headers()
            .map_err(|e| Error::Register {
                path: origin.to_path_buf(),
                message: format!("line 1 (header): {e}"),
            })?
            .clone();
        // Columns that may be left off the end of a row.
        let optional = headers.iter().filter(|h| *h == "successor_code").count();
        for (i, record) in reader.records().enumerate() {
            let mut record = record.map_err(|e| bad_line(i, &e))?;
            if record.len() < headers.len() && record.len() + optional >= headers.len() {
                while record.len() < headers.len() {
                    record.push_field("");
                }
            }
            let mut unit: Unit = record.deserialize(Some(&headers)).map_err(|e| bad_line(i, &e))?;
            unit.name = unit.name.nfc().collect();
            if unit.code.len() != unit.level.code_width() || !unit.code.bytes().all(|b| b.is_ascii_digit()) {
                return Err(Error::Register {
                    path: origin.to_path_buf(),
                    message: format!(
                        "line {}: code {:?} should be {} digits for a {:?}",
                        i + 2,
                        unit.code,
                        unit.level.code_width(),
                        unit.level
                    ),
                });
            }
            units.push(unit);
        }
        if units.is_empty() {
            return Err(Error::Register {
                path: origin.to_path_buf(),
                message: "no units".into(),
            });
        }
        let register = Register::from_units(units);
        if let Some(problem) = register.successor_problems().into_iter().next() {
            return Err(Error::Register {
                path: origin.to_path_buf(),
                message: problem,
            });
        }
        Ok(register)
    }

    /// Builds a register from rows (synthetic registers, tests).
    pub fn from_units(units: Vec<Unit>) -> Register {
        let mut by_code: HashMap<(Level, String), Vec<usize>> = HashMap::new();
        let mut by_parent: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, unit) in units.iter().enumerate() {
            by_code.entry((unit.level, unit.code.clone())).or_default().push(i);
            by_parent.entry(unit.parent_code.clone()).or_default().push(i);
        }
        // Children by code (rows of one code in register order), so that
        // lists of children come out sorted and the first is the lowest.
        for children in by_parent.values_mut() {
            children.sort_by(|&a, &b| units[a].code.cmp(&units[b].code));
        }
        Register {
            units,
            by_code,
            by_parent,
        }
    }

    fn rows(&self, level: Level, code: &str) -> impl Iterator<Item = &Unit> {
        self.by_code
            .get(&(level, code.to_string()))
            .into_iter()
            .flatten()
            .map(|&i| &self.units[i])
    }

    /// Every row.
    pub fn units(&self) -> &[Unit] {
        &self.units
    }

    /// The row of `code` at `level` valid on `date`.
    pub fn at(&self, level: Level, code: &str, date: NaiveDate) -> Option<&Unit> {
        self.rows(level, code).find(|u| u.valid_on(date))
    }

    /// The district valid on `date` under `code`.
    pub fn district_at(&self, code: &str, date: NaiveDate) -> Option<&Unit> {
        self.at(Level::District, code, date)
    }

    /// Every row ever held under `code` at `level`, oldest first.
    pub fn rows_of(&self, level: Level, code: &str) -> Vec<&Unit> {
        let mut rows: Vec<&Unit> = self
            .units
            .iter()
            .filter(|u| u.level == level && u.code == code)
            .collect();
        rows.sort_by_key(|u| u.valid_from);
        rows
    }

    /// The province row valid on `date` (the first, if a register holds several).
    pub fn province_at(&self, date: NaiveDate) -> Option<&Unit> {
        self.units
            .iter()
            .find(|u| u.level == Level::Province && u.valid_on(date))
    }

    /// The districts valid on `date`, by code.
    pub fn districts_at(&self, date: NaiveDate) -> Vec<&Unit> {
        let mut list: Vec<&Unit> = self
            .units
            .iter()
            .filter(|u| u.level == Level::District && u.valid_on(date))
            .collect();
        list.sort_by(|a, b| a.code.cmp(&b.code));
        list
    }

    /// The communes of district `district` valid on `date`, by code.
    pub fn communes_of(&self, district: &str, date: NaiveDate) -> Vec<&Unit> {
        self.by_parent
            .get(district)
            .into_iter()
            .flatten()
            .map(|&i| &self.units[i])
            .filter(|u| u.level == Level::Commune && u.valid_on(date))
            .collect()
    }

    /// Problems with the declared successors: a successor must be a row of
    /// the same level in force on the day after its predecessor ends, and
    /// only a unit that ends can have one.
    fn successor_problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for unit in self.units.iter().filter(|u| !u.successor_code.is_empty()) {
            let Some(end) = unit.valid_to else {
                problems.push(format!(
                    "{} {} names successor {} but has no valid_to (a successor takes over the day after it ends)",
                    unit.level.as_str(),
                    unit.code,
                    unit.successor_code
                ));
                continue;
            };
            let from = end.succ_opt().unwrap_or(end);
            if self.at(unit.level, &unit.successor_code, from).is_none() {
                problems.push(format!(
                    "{} {} names successor {}, but no {} {} is valid on {from}",
                    unit.level.as_str(),
                    unit.code,
                    unit.successor_code,
                    unit.level.as_str(),
                    unit.successor_code
                ));
            }
        }
        problems
    }

    /// The province a workspace of province `code` answers to on `date`:
    /// `code`'s own row when valid then, else its declared successor (and
    /// theirs, in turn) once `code` has ended. `None` when the register holds
    /// no province `code`, or none in force on `date` along that chain.
    pub fn province_in_force(&self, code: &str, date: NaiveDate) -> Option<&Unit> {
        let mut current = code.to_string();
        // A chain of successors is short; the bound only guards a cycle.
        for _ in 0..=self.units.len() {
            if let Some(unit) = self.at(Level::Province, &current, date) {
                return Some(unit);
            }
            let ended = self
                .rows(Level::Province, &current)
                .filter(|u| u.valid_to.is_some_and(|to| to < date) && !u.successor_code.is_empty())
                .max_by_key(|u| u.valid_from)?;
            current = ended.successor_code.clone();
        }
        None
    }

    /// Whether the register holds a province with this code at any date.
    pub fn has_province(&self, code: &str) -> bool {
        self.rows(Level::Province, code).next().is_some()
    }

    /// The units one level under a province, valid on `date`, by code: the
    /// units that send a return for the month ending on `date`.
    ///
    /// The workspace's province `province` is followed to its successor
    /// when it has ended (see [`Register::province_in_force`]); the units
    /// are that province's children valid on `date` — its districts while
    /// there is a district level, its communes after. A register that holds
    /// no province `province` (an old synthetic register, a configuration
    /// that names no province of its register) falls back to every district
    /// valid on `date`, which is what baocao asked before provinces were
    /// followed.
    pub fn reporting_units(&self, province: &str, date: NaiveDate) -> Vec<&Unit> {
        if !self.has_province(province) {
            return self.districts_at(date);
        }
        self.reporting_under(province, date).collect()
    }

    /// The reporting units of `province` (which the register has) on
    /// `date`, by code.
    fn reporting_under<'a>(&'a self, province: &str, date: NaiveDate) -> impl Iterator<Item = &'a Unit> + 'a {
        self.province_in_force(province, date)
            .and_then(|in_force| self.by_parent.get(&in_force.code))
            .into_iter()
            .flatten()
            .map(|&i| &self.units[i])
            .filter(move |u| u.level != Level::Province && u.valid_on(date))
    }

    /// The reporting unit `code` of the month ending `date`, if `code` is one.
    ///
    /// The same answer as looking `code` up in [`Register::reporting_units`],
    /// from the rows of `code` alone (it is asked for every file checked).
    pub fn reporting_unit(&self, province: &str, code: &str, date: NaiveDate) -> Option<&Unit> {
        if !self.has_province(province) {
            return self.at(Level::District, code, date);
        }
        let in_force = self.province_in_force(province, date)?;
        [Level::District, Level::Commune]
            .into_iter()
            .flat_map(|level| self.rows(level, code))
            .find(|u| u.parent_code == in_force.code && u.valid_on(date))
    }

    /// The communes a reporting unit answers for on `date`: a district's
    /// communes, or the commune itself when the unit is a commune (from
    /// 1/7/2025 a commune reports for itself).
    pub fn communes_of_unit<'a>(&'a self, unit: &'a Unit, date: NaiveDate) -> Vec<&'a Unit> {
        match unit.level {
            Level::Commune => vec![unit],
            _ => self.communes_of(&unit.code, date),
        }
    }

    /// The row of `code` at any level valid on `date` (districts first,
    /// then communes, then provinces: codes of different widths never
    /// collide, this only fixes an order).
    pub fn any_level_at(&self, code: &str, date: NaiveDate) -> Option<&Unit> {
        [Level::District, Level::Commune, Level::Province]
            .into_iter()
            .find_map(|level| self.at(level, code, date))
    }

    /// The level of the units that report on `date` for province
    /// `province` (districts before a two-level reorganisation, communes
    /// after); districts when none report then.
    ///
    /// The level of the first of [`Register::reporting_units`], found
    /// without listing them (it is asked for every file checked).
    pub fn reporting_level(&self, province: &str, date: NaiveDate) -> Level {
        if !self.has_province(province) {
            return Level::District;
        }
        self.reporting_under(province, date)
            .next()
            .map_or(Level::District, |u| u.level)
    }

    /// Resolves a unit code as a return writes it for a month whose
    /// reporting units are at `level`: a number cell `61` means `061` for a
    /// district month, `1840` means `01840` for a commune month. A code with
    /// more digits than `level` takes the width of the next level that fits
    /// (a commune code in a district month), so that the message can say
    /// which unit it is.
    pub fn normalize_code_for(text: &str, level: Level) -> Option<String> {
        Register::normalize_code(text, level).or_else(|| {
            [Level::District, Level::Commune]
                .into_iter()
                .filter(|l| l.code_width() > level.code_width())
                .find_map(|l| Register::normalize_code(text, l))
        })
    }

    /// Resolves a unit code as districts write it: a number cell `61` or text
    /// `"61"` means `"061"`. Returns `None` when it is not a code at all.
    pub fn normalize_code(text: &str, level: Level) -> Option<String> {
        let trimmed = text.trim();
        let trimmed = trimmed.strip_suffix(".0").unwrap_or(trimmed);
        if trimmed.is_empty() || trimmed.len() > level.code_width() || !trimmed.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some(format!("{trimmed:0>width$}", width = level.code_width()))
    }
}

/// Whether two unit names denote the same unit: compared after NFC, case
/// folding, folding of tone-mark placement ("Hoá" = "Hóa", "Thuỷ" = "Thủy"),
/// spaces, and with or without the level word ("Huyện Ba Bể" = "Ba Bể").
pub fn names_match(a: &str, b: &str) -> bool {
    let (a, b) = (fold_name(a), fold_name(b));
    a == b || strip_level_word(&a) == strip_level_word(&b)
}

/// The comparable form of a name (see [`names_match`]).
pub fn fold_name(name: &str) -> String {
    // Tone marks move between vowels across spelling conventions; the base
    // letters with their circumflex, breve and horn do not.
    const TONES: [char; 5] = ['\u{300}', '\u{301}', '\u{303}', '\u{309}', '\u{323}'];
    let stripped: String = name.nfd().filter(|c| !TONES.contains(c)).collect();
    let folded: String = stripped.nfc().collect::<String>().to_lowercase();
    folded.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn strip_level_word(folded: &str) -> String {
    for word in [
        "thành phố",
        "thị xã",
        "thị trấn",
        "huyện",
        "quận",
        "phường",
        "xã",
        "tỉnh",
    ] {
        let prefix = fold_name(word) + " ";
        if let Some(rest) = folded.strip_prefix(prefix.as_str()) {
            return rest.to_string();
        }
    }
    folded.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap_or(NaiveDate::MIN)
    }

    fn register() -> Register {
        Register::embedded().unwrap_or_default()
    }

    #[test]
    fn communes_of_the_province_number_122_in_2011_and_108_in_2021() {
        let r = register();
        let count = |d: &str| -> usize {
            r.districts_at(date(d))
                .iter()
                .map(|u| r.communes_of(&u.code, date(d)).len())
                .sum()
        };
        assert_eq!(r.districts_at(date("2011-08-01")).len(), 8);
        assert_eq!(count("2011-08-31"), 122);
        assert_eq!(count("2021-06-30"), 108);
    }

    #[test]
    fn code_058_is_a_town_in_2011_and_a_city_in_2015() {
        let r = register();
        let town = r.district_at("058", date("2011-08-31")).map(|u| u.name.clone());
        let city = r.district_at("058", date("2015-06-30")).map(|u| u.name.clone());
        assert_eq!(town.as_deref(), Some("Thị xã Bắc Kạn"));
        assert_eq!(city.as_deref(), Some("Thành Phố Bắc Kạn"));
        assert_eq!(r.rows_of(Level::District, "058").len(), 2);
    }

    #[test]
    fn merged_communes_resolve_by_date() {
        let r = register();
        let before = r
            .at(Level::Commune, "02155", date("2019-12-31"))
            .map(|u| u.name.as_str());
        let after = r
            .at(Level::Commune, "02155", date("2020-02-01"))
            .map(|u| u.name.as_str());
        assert_eq!(before, Some("Xã Lương Hạ"));
        assert_eq!(after, Some("Thị trấn Yến Lạc"));
        assert!(r.at(Level::Commune, "02134", date("2020-02-01")).is_none());
    }

    #[test]
    fn unit_codes_written_as_numbers_are_padded() {
        assert_eq!(Register::normalize_code("61", Level::District).as_deref(), Some("061"));
        assert_eq!(
            Register::normalize_code("61.0", Level::District).as_deref(),
            Some("061")
        );
        assert_eq!(Register::normalize_code("058", Level::District).as_deref(), Some("058"));
        assert_eq!(
            Register::normalize_code("1834", Level::Commune).as_deref(),
            Some("01834")
        );
        assert_eq!(Register::normalize_code("Ba Bể", Level::District), None);
        assert_eq!(Register::normalize_code("12345", Level::District), None);
    }

    #[test]
    fn one_reporting_unit_and_the_reporting_level_are_what_the_list_of_reporting_units_holds() {
        let r = register();
        let mut codes: Vec<&str> = r.units().iter().map(|u| u.code.as_str()).collect();
        codes.extend(["999", "00000", ""]);
        codes.sort_unstable();
        codes.dedup();
        let mut checked = 0;
        for province in ["06", "19", "71"] {
            for year in 2003..=2027 {
                for month in 1..=12 {
                    let first = NaiveDate::from_ymd_opt(year, month, 1).expect("a month");
                    let end = first.checked_add_months(chrono::Months::new(1)).expect("a month") - chrono::Days::new(1);
                    for day in [first, end] {
                        let list = r.reporting_units(province, day);
                        assert!(list.windows(2).all(|w| w[0].code <= w[1].code), "{province} {day}");
                        for unit in &list {
                            let communes = r.communes_of(&unit.code, day);
                            assert!(
                                communes.windows(2).all(|w| w[0].code <= w[1].code),
                                "{} {day}",
                                unit.code
                            );
                        }
                        assert_eq!(
                            r.reporting_level(province, day),
                            list.first().map_or(Level::District, |u| u.level),
                            "{province} {day}"
                        );
                        for code in &codes {
                            let from_list = list.iter().find(|u| u.code == *code).copied();
                            assert_eq!(
                                r.reporting_unit(province, code, day),
                                from_list,
                                "{province} {code} {day}"
                            );
                            checked += usize::from(from_list.is_some());
                        }
                    }
                }
            }
        }
        // 06's districts to June 2025, 19's communes after, and 71 (no such
        // province) every district of each day.
        assert!(checked > 5_000, "{checked}");
    }

    #[test]
    fn reporting_units_are_the_8_districts_in_june_2025_and_the_92_communes_of_19_from_july() {
        let r = register();
        let june = r.reporting_units("06", date("2025-06-30"));
        let codes: Vec<&str> = june.iter().map(|u| u.code.as_str()).collect();
        assert_eq!(codes, ["058", "060", "061", "062", "063", "064", "065", "066"]);
        assert!(june.iter().all(|u| u.level == Level::District && u.parent_code == "06"));
        let july = r.reporting_units("06", date("2025-07-31"));
        assert_eq!(july.len(), 92);
        assert!(july.iter().all(|u| u.level == Level::Commune && u.parent_code == "19"));
        // A workspace of the new province sees the same units.
        assert_eq!(r.reporting_units("19", date("2025-07-31")).len(), 92);
        assert!(r.reporting_units("19", date("2025-06-30")).is_empty());
        // Before the change nothing of Thái Nguyên reports in a Bắc Kạn workspace.
        assert_eq!(r.reporting_units("06", date("2011-08-31")).len(), 8);
    }

    #[test]
    fn code_01840_is_another_ward_before_and_after_the_change() {
        let r = register();
        let before = r.at(Level::Commune, "01840", date("2025-06-30"));
        let after = r.at(Level::Commune, "01840", date("2025-07-01"));
        assert_eq!(before.map(|u| u.parent_code.as_str()), Some("058"));
        assert_eq!(after.map(|u| u.parent_code.as_str()), Some("19"));
        assert_ne!(before.map(|u| u.valid_from), after.map(|u| u.valid_from));
        assert!(r.reporting_unit("06", "01840", date("2025-06-30")).is_none());
        assert_eq!(
            r.reporting_unit("06", "01840", date("2025-08-31"))
                .map(|u| u.name.as_str()),
            Some("Phường Đức Xuân")
        );
        // A commune reports for itself: its commune list is itself.
        if let Some(unit) = after {
            let own: Vec<&str> = r
                .communes_of_unit(unit, date("2025-07-01"))
                .iter()
                .map(|u| u.code.as_str())
                .collect();
            assert_eq!(own, ["01840"]);
        }
    }

    #[test]
    fn the_successor_of_a_province_is_read_from_the_register_data() {
        let csv = "level,code,name,parent_code,valid_from,valid_to,successor_code\n\
                   province,71,Tỉnh Cũ,,2000-01-01,2010-12-31,72\n\
                   district,711,Huyện Một,71,2000-01-01,2010-12-31,\n\
                   commune,71101,Xã Một,711,2000-01-01,2010-12-31,\n\
                   province,72,Tỉnh Mới,,2011-01-01,,\n\
                   commune,72201,Xã Hai,72,2011-01-01,,\n\
                   commune,72202,Xã Ba,72,2011-01-01,,\n";
        let r = Register::from_csv(csv, Path::new("t.csv")).unwrap_or_default();
        assert_eq!(
            r.province_in_force("71", date("2011-01-01")).map(|u| u.code.as_str()),
            Some("72")
        );
        let before: Vec<&str> = r
            .reporting_units("71", date("2010-12-31"))
            .iter()
            .map(|u| u.code.as_str())
            .collect();
        let after: Vec<&str> = r
            .reporting_units("71", date("2011-01-31"))
            .iter()
            .map(|u| u.code.as_str())
            .collect();
        assert_eq!(before, ["711"]);
        assert_eq!(after, ["72201", "72202"]);
        // Without the successor the old province simply has no units after its end.
        let without = csv.replace("2010-12-31,72", "2010-12-31,");
        let r = Register::from_csv(&without, Path::new("t.csv")).unwrap_or_default();
        assert!(r.reporting_units("71", date("2011-01-31")).is_empty());
    }

    #[test]
    fn a_register_without_the_successor_column_still_loads() {
        let csv = "level,code,name,parent_code,valid_from,valid_to\n\
                   province,71,Tỉnh Cũ,,2000-01-01,\n\
                   district,711,Huyện Một,71,2000-01-01,\n";
        let r = Register::from_csv(csv, Path::new("t.csv"));
        assert_eq!(
            r.map(|r| r.reporting_units("71", date("2020-01-31")).len()).ok(),
            Some(1)
        );
    }

    #[test]
    fn a_row_without_the_trailing_successor_field_loads_and_a_short_row_is_refused() {
        let csv = "level,code,name,parent_code,valid_from,valid_to,successor_code\n\
                   province,71,Tỉnh Cũ,,2000-01-01,,\n\
                   district,711,Huyện Một,71,2000-01-01,\n\
                   district,712,Huyện Hai,71,2000-01-01,2010-12-31\n";
        let r = Register::from_csv(csv, Path::new("t.csv"));
        let r = r.map_err(|e| e.to_string());
        assert_eq!(r.map(|r| r.reporting_units("71", date("2005-01-31")).len()), Ok(2));
        let short = "level,code,name,parent_code,valid_from,valid_to\nprovince,71,Tỉnh Cũ\n";
        let err = Register::from_csv(short, Path::new("t.csv"))
            .err()
            .map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("line 2")));
    }

    #[test]
    fn a_successor_that_is_not_in_force_the_next_day_is_refused() {
        let csv = "level,code,name,parent_code,valid_from,valid_to,successor_code\n\
                   province,71,Tỉnh Cũ,,2000-01-01,2010-12-31,72\n\
                   province,72,Tỉnh Mới,,2011-02-01,,\n";
        let err = Register::from_csv(csv, Path::new("t.csv")).err().map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("successor 72") && e.contains("2011-01-01")));
    }

    #[test]
    fn unit_codes_are_padded_to_the_width_of_the_months_reporting_level() {
        assert_eq!(
            Register::normalize_code_for("1840", Level::Commune).as_deref(),
            Some("01840")
        );
        assert_eq!(
            Register::normalize_code_for("1840.0", Level::Commune).as_deref(),
            Some("01840")
        );
        assert_eq!(
            Register::normalize_code_for("61", Level::District).as_deref(),
            Some("061")
        );
        // A commune code in a district month keeps its own width.
        assert_eq!(
            Register::normalize_code_for("01840", Level::District).as_deref(),
            Some("01840")
        );
        assert_eq!(
            Register::normalize_code_for("1840", Level::District).as_deref(),
            Some("01840")
        );
        assert_eq!(Register::normalize_code_for("123456", Level::District), None);
        let r = register();
        assert_eq!(r.reporting_level("06", date("2025-06-30")), Level::District);
        assert_eq!(r.reporting_level("06", date("2025-07-31")), Level::Commune);
    }

    #[test]
    fn names_match_across_spellings_and_unicode_forms() {
        assert!(names_match("Xã Xuất Hoá", "Xã Xuất Hóa"));
        assert!(names_match("Thành Phố Bắc Kạn", "thành phố bắc kạn"));
        assert!(names_match("Huyện Ba Bể", "Ba Bể"));
        assert!(names_match("Huye\u{302}\u{323}n Ba Be\u{302}\u{309}", "Huyện Ba Bể"));
        assert!(names_match("Xã Liêm Thuỷ", "Xã Liêm Thủy"));
        assert!(!names_match("Huyện Ba Bể", "Huyện Na Rì"));
    }
}
