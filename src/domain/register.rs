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

/// The register embedded in the binary (Bắc Kạn, 2004 – 30/6/2025).
pub const EMBEDDED_REGISTER: &str = include_str!("../../templates/units/bac-kan.csv");

/// Administrative level of a unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Province,
    District,
    Commune,
}

impl Level {
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

    /// Loads a register CSV (`level,code,name,parent_code,valid_from,valid_to`).
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
        let mut reader = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .from_reader(text.as_bytes());
        let mut units = Vec::new();
        for (i, row) in reader.deserialize::<Unit>().enumerate() {
            let mut unit = row.map_err(|e| Error::Register {
                path: origin.to_path_buf(),
                message: format!("line {}: {e}", i + 2),
            })?;
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
        Ok(Register::from_units(units))
    }

    /// Builds a register from rows (synthetic registers, tests).
    pub fn from_units(units: Vec<Unit>) -> Register {
        let mut by_code: HashMap<(Level, String), Vec<usize>> = HashMap::new();
        let mut by_parent: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, unit) in units.iter().enumerate() {
            by_code.entry((unit.level, unit.code.clone())).or_default().push(i);
            by_parent.entry(unit.parent_code.clone()).or_default().push(i);
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
        let mut list: Vec<&Unit> = self
            .by_parent
            .get(district)
            .into_iter()
            .flatten()
            .map(|&i| &self.units[i])
            .filter(|u| u.level == Level::Commune && u.valid_on(date))
            .collect();
        list.sort_by(|a, b| a.code.cmp(&b.code));
        list
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
    fn names_match_across_spellings_and_unicode_forms() {
        assert!(names_match("Xã Xuất Hoá", "Xã Xuất Hóa"));
        assert!(names_match("Thành Phố Bắc Kạn", "thành phố bắc kạn"));
        assert!(names_match("Huyện Ba Bể", "Ba Bể"));
        assert!(names_match("Huye\u{302}\u{323}n Ba Be\u{302}\u{309}", "Huyện Ba Bể"));
        assert!(names_match("Xã Liêm Thuỷ", "Xã Liêm Thủy"));
        assert!(!names_match("Huyện Ba Bể", "Huyện Na Rì"));
    }
}
