//! The territory mapping of a reorganisation: each commune of the old
//! structure and the new unit it went into, whole. On 1/7/2025 the 108
//! communes of Bắc Kạn became 37 commune-level units of Thái Nguyên (19);
//! those 37 hold exactly the former Bắc Kạn territory, so figures for that
//! territory stay comparable across the change (the 8 districts before, the
//! 37 communes after), while district figures do not: three new units take
//! communes of two former districts.
//!
//! The mapping is data (`templates/units/bac-kan-2025-mapping.csv`, embedded,
//! or the file `[domain] mapping` names), checked against the register when
//! the register holds the new province: every old commune valid the day
//! before the change in the district the mapping says, every new unit valid
//! on the day of the change.

use std::collections::BTreeSet;
use std::path::Path;

use chrono::NaiveDate;
use serde::Deserialize;
use unicode_normalization::UnicodeNormalization;

use crate::domain::register::{Level, Register, Unit};
use crate::error::Error;

/// The mapping embedded in the binary (Bắc Kạn → Thái Nguyên, 1/7/2025).
pub const EMBEDDED_MAPPING: &str = include_str!("../../templates/units/bac-kan-2025-mapping.csv");

/// One old commune and the new unit it became.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct MappingRow {
    pub old_code: String,
    pub old_name: String,
    /// The district the old commune belonged to on the day before the change.
    pub old_district_code: String,
    pub new_code: String,
    pub new_name: String,
    pub new_province_code: String,
    /// First day of the new unit.
    pub valid_from: NaiveDate,
}

/// The old commune → new unit table of a reorganisation.
#[derive(Debug, Clone, Default)]
pub struct TerritoryMapping {
    rows: Vec<MappingRow>,
}

impl TerritoryMapping {
    /// The Bắc Kạn 2025 mapping shipped with baocao.
    ///
    /// # Errors
    /// Only if the embedded file were malformed (a build defect).
    pub fn embedded() -> Result<TerritoryMapping, Error> {
        TerritoryMapping::from_csv(EMBEDDED_MAPPING, Path::new("<embedded bac-kan-2025-mapping.csv>"))
    }

    /// Loads a mapping CSV (`old_code,old_name,old_district_code,new_code,
    /// new_name,new_province_code,valid_from`).
    ///
    /// # Errors
    /// [`Error::Io`] when unreadable, [`Error::Register`] naming the line.
    pub fn load(path: &Path) -> Result<TerritoryMapping, Error> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        TerritoryMapping::from_csv(&text, path)
    }

    /// Parses a mapping from CSV text; `origin` names it in errors.
    ///
    /// # Errors
    /// [`Error::Register`] naming the first bad line: a malformed row, or an
    /// old commune mapped twice.
    pub fn from_csv(text: &str, origin: &Path) -> Result<TerritoryMapping, Error> {
        let mut reader = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .from_reader(text.as_bytes());
        let mut rows: Vec<MappingRow> = Vec::new();
        for (i, row) in reader.deserialize::<MappingRow>().enumerate() {
            let mut row = row.map_err(|e| Error::Register {
                path: origin.to_path_buf(),
                message: format!("line {}: {e}", i + 2),
            })?;
            row.old_name = row.old_name.nfc().collect();
            row.new_name = row.new_name.nfc().collect();
            // Each old commune went whole into one new unit: two rows for
            // one old commune would count its territory twice.
            if rows
                .iter()
                .any(|r| r.old_code == row.old_code && r.valid_from == row.valid_from)
            {
                return Err(Error::Register {
                    path: origin.to_path_buf(),
                    message: format!("line {}: old commune {} is mapped twice", i + 2, row.old_code),
                });
            }
            rows.push(row);
        }
        Ok(TerritoryMapping { rows })
    }

    /// Every row.
    pub fn rows(&self) -> &[MappingRow] {
        &self.rows
    }

    /// Whether the mapping has no rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The new unit old commune `old_code` went into.
    pub fn new_unit_of(&self, old_code: &str) -> Option<&MappingRow> {
        self.rows.iter().find(|r| r.old_code == old_code)
    }

    /// The old communes that make up new unit `new_code`, by code.
    pub fn former_communes_of(&self, new_code: &str) -> Vec<&MappingRow> {
        let mut list: Vec<&MappingRow> = self.rows.iter().filter(|r| r.new_code == new_code).collect();
        list.sort_by(|a, b| a.old_code.cmp(&b.old_code));
        list
    }

    /// The former districts new unit `new_code` takes territory from, by code
    /// (one, or two for the three units made of communes of two districts).
    pub fn former_districts_of(&self, new_code: &str) -> Vec<&str> {
        let set: BTreeSet<&str> = self
            .rows
            .iter()
            .filter(|r| r.new_code == new_code)
            .map(|r| r.old_district_code.as_str())
            .collect();
        set.into_iter().collect()
    }

    /// The new units that took communes of former district `district`, by code.
    pub fn new_units_of_district(&self, district: &str) -> Vec<&str> {
        let set: BTreeSet<&str> = self
            .rows
            .iter()
            .filter(|r| r.old_district_code == district)
            .map(|r| r.new_code.as_str())
            .collect();
        set.into_iter().collect()
    }

    /// The new units made of the mapped territory (the 37 units of former
    /// Bắc Kạn), by code.
    pub fn territory_units(&self) -> Vec<&str> {
        let set: BTreeSet<&str> = self.rows.iter().map(|r| r.new_code.as_str()).collect();
        set.into_iter().collect()
    }

    /// The former districts of the mapped territory (the 8 of Bắc Kạn), by code.
    pub fn former_districts(&self) -> Vec<&str> {
        let set: BTreeSet<&str> = self.rows.iter().map(|r| r.old_district_code.as_str()).collect();
        set.into_iter().collect()
    }

    /// Whether `new_code` of province `province` is, on `date`, a unit made
    /// of the mapped territory (codes are reused: 01840 before the change is
    /// another ward, so the date and province decide).
    pub fn is_territory_unit(&self, province: &str, new_code: &str, date: NaiveDate) -> bool {
        self.rows
            .iter()
            .any(|r| r.new_code == new_code && r.new_province_code == province && r.valid_from <= date)
    }

    /// The province whose territory (as it was before the reorganisation)
    /// unit `unit` covers on `date`: for a district, its province; for a new
    /// unit made of mapped communes, the province of their former districts
    /// (06 for the 37 units of former Bắc Kạn); otherwise the unit's own
    /// province. Rows sharing a territory code add up to a territory that is
    /// the same before and after the change, which is what an analyst
    /// compares across it.
    pub fn territory_of(&self, register: &Register, unit: &Unit, date: NaiveDate) -> String {
        let province_of = |u: &Unit, on: NaiveDate| -> String {
            match u.level {
                Level::Province => u.code.clone(),
                Level::District => u.parent_code.clone(),
                Level::Commune => register
                    .at(Level::Province, &u.parent_code, on)
                    .map(|p| p.code.clone())
                    .or_else(|| {
                        register
                            .at(Level::District, &u.parent_code, on)
                            .map(|d| d.parent_code.clone())
                    })
                    .unwrap_or_else(|| u.parent_code.clone()),
            }
        };
        if unit.level == Level::Commune && self.is_territory_unit(&unit.parent_code, &unit.code, date) {
            let former = self
                .rows
                .iter()
                .filter(|r| r.new_code == unit.code && r.valid_from <= date)
                .max_by_key(|r| r.valid_from);
            if let Some(row) = former {
                let before = row.valid_from.pred_opt().unwrap_or(row.valid_from);
                if let Some(district) = register.at(Level::District, &row.old_district_code, before) {
                    return district.parent_code.clone();
                }
            }
        }
        province_of(unit, date)
    }

    /// Every disagreement with `register`, for the provinces the register
    /// holds: an old commune not valid the day before the change, or not in
    /// the district named; a new unit not valid on the day of the change, or
    /// not under the province named. A register without the new province
    /// (another province's workspace) is not the mapping's business: nothing
    /// is reported.
    pub fn problems_against(&self, register: &Register) -> Vec<String> {
        let mut problems = Vec::new();
        for r in &self.rows {
            if !register.has_province(&r.new_province_code) {
                continue;
            }
            let before = r.valid_from.pred_opt().unwrap_or(r.valid_from);
            match register.at(Level::Commune, &r.old_code, before) {
                Some(old) if old.parent_code == r.old_district_code => {}
                Some(old) => problems.push(format!(
                    "old commune {} is in district {} on {before} in the register, not {}",
                    r.old_code, old.parent_code, r.old_district_code
                )),
                None => problems.push(format!(
                    "old commune {} is not a commune of the register on {before}",
                    r.old_code
                )),
            }
            match register.at(Level::Commune, &r.new_code, r.valid_from) {
                Some(new) if new.parent_code == r.new_province_code => {}
                Some(new) => problems.push(format!(
                    "new unit {} is under {} on {} in the register, not {}",
                    r.new_code, new.parent_code, r.valid_from, r.new_province_code
                )),
                None => problems.push(format!(
                    "new unit {} is not a commune of the register on {}",
                    r.new_code, r.valid_from
                )),
            }
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapping() -> TerritoryMapping {
        TerritoryMapping::embedded().unwrap_or_default()
    }

    #[test]
    fn the_108_communes_of_bac_kan_make_37_new_units_from_its_8_districts() {
        let m = mapping();
        assert_eq!(m.rows().len(), 108);
        assert_eq!(m.territory_units().len(), 37);
        assert_eq!(m.former_districts().len(), 8);
        let districts_per_unit: Vec<usize> = m
            .territory_units()
            .iter()
            .map(|u| m.former_districts_of(u).len())
            .collect();
        assert_eq!(districts_per_unit.iter().filter(|&&n| n == 2).count(), 3);
        assert!(districts_per_unit.iter().all(|&n| n == 1 || n == 2));
    }

    #[test]
    fn the_mapping_agrees_with_the_shipped_register() {
        let register = Register::embedded().unwrap_or_default();
        assert!(register.has_province("19"));
        assert_eq!(mapping().problems_against(&register), Vec::<String>::new());
    }

    #[test]
    fn a_mapping_naming_a_wrong_district_is_caught() {
        let text = "old_code,old_name,old_district_code,new_code,new_name,new_province_code,valid_from\n\
                    01834,Phường Nguyễn Thị Minh Khai,061,01840,Phường Đức Xuân,19,2025-07-01\n";
        let m = TerritoryMapping::from_csv(text, Path::new("t.csv")).unwrap_or_default();
        let register = Register::embedded().unwrap_or_default();
        let problems = m.problems_against(&register);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("district 058"), "{problems:?}");
    }

    #[test]
    fn an_old_commune_mapped_twice_is_refused() {
        let text = "old_code,old_name,old_district_code,new_code,new_name,new_province_code,valid_from\n\
                    01834,A,058,01840,B,19,2025-07-01\n01834,A,058,01843,C,19,2025-07-01\n";
        let err = TerritoryMapping::from_csv(text, Path::new("t.csv"))
            .err()
            .map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("line 3") && e.contains("01834")));
    }

    #[test]
    fn territory_units_are_recognised_only_from_the_change() {
        let m = mapping();
        let date = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap_or(NaiveDate::MIN);
        assert!(m.is_territory_unit("19", "01840", date("2025-07-31")));
        assert!(!m.is_territory_unit("19", "01840", date("2025-06-30")));
        assert!(!m.is_territory_unit("06", "01840", date("2025-07-31")));
        assert_eq!(m.new_unit_of("01834").map(|r| r.new_code.as_str()), Some("01840"));
        assert!(m.new_units_of_district("058").contains(&"01840"));
    }

    #[test]
    fn the_territory_of_a_new_commune_of_former_bac_kan_is_06_and_of_the_others_19() {
        let m = mapping();
        let r = Register::embedded().unwrap_or_default();
        let date = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap_or(NaiveDate::MIN);
        let july = date("2025-07-31");
        let units = r.reporting_units("06", july);
        let territories: Vec<String> = units.iter().map(|u| m.territory_of(&r, u, july)).collect();
        assert_eq!(territories.iter().filter(|t| *t == "06").count(), 37);
        assert_eq!(territories.iter().filter(|t| *t == "19").count(), 55);
        let june = date("2025-06-30");
        assert!(r
            .reporting_units("06", june)
            .iter()
            .all(|u| m.territory_of(&r, u, june) == "06"));
    }
}
