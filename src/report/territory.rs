//! Reports across a change of territory. On 1/7/2025 Bắc Kạn (06) was
//! merged into Thái Nguyên (19) and its communes began reporting straight to
//! the province; the register says so (a successor province, with its date)
//! and the mapping says which new units were made of the old communes.
//!
//! A period or comparison that crosses such a change has two totals:
//! - the **whole province** at the period's end (19): every stored month of
//!   every unit that reported, which for the months before the change lacks
//!   the part of the new province that did not report to this database
//!   (former Thái Nguyên) — so its flows are *incomplete*, with that reason,
//!   and its "same period last year" is not comparable ("–");
//! - the **former territory** of the workspace's own province (06): the
//!   districts before the change, the new units made of their communes
//!   after — the same ground throughout, so its figures are exact and
//!   comparable across the change.
//!
//! Which territory a unit covers is the mapping's answer
//! ([`crate::domain::TerritoryMapping::territory_of`]); nothing here knows a
//! code or a date.

use chrono::NaiveDate;

use crate::config::Settings;
use crate::domain::{Agg, Line, Period, Unit};
use crate::error::Error;
use crate::report::consolidate::{consolidate, Figures, StoredFrame};
use crate::report::roster_where;

/// The province the workspace answers to for the month `month` (its own,
/// or the successor in force at the month's end).
pub fn province_of_month(settings: &Settings, month: Period) -> Option<Unit> {
    settings
        .register
        .province_in_force(&settings.config.province.code, month.end(&settings.calendar))
        .cloned()
}

/// Whether `unit`, reporting for `month`, covers part of the workspace's
/// own former territory.
pub fn in_former_territory(settings: &Settings, unit: &Unit, month: Period) -> bool {
    settings
        .mapping
        .territory_of(&settings.register, unit, month.end(&settings.calendar))
        == settings.config.province.code
}

/// A change of the province between two months of a report.
#[derive(Debug, Clone, PartialEq)]
pub struct TerritoryChange {
    /// The workspace's own province as it was before the change (Tỉnh Bắc Kạn).
    pub former: Unit,
    /// The province at the report's last month (Tỉnh Thái Nguyên).
    pub current: Unit,
    /// The first day under `current`.
    pub changed_on: NaiveDate,
}

impl TerritoryChange {
    /// The change between `first` and `last`, if the province differs.
    pub fn between(settings: &Settings, first: Period, last: Period) -> Option<TerritoryChange> {
        let before = province_of_month(settings, first)?;
        let after = province_of_month(settings, last)?;
        if before.code == after.code {
            return None;
        }
        let former = settings
            .register
            .rows_of(crate::domain::Level::Province, &settings.config.province.code)
            .last()
            .map(|u| (*u).clone())
            .unwrap_or(before);
        Some(TerritoryChange {
            changed_on: after.valid_from,
            former,
            current: after,
        })
    }

    /// "tỉnh Bắc Kạn cũ", for headers and notes.
    pub fn former_label(&self) -> String {
        format!("{} cũ", lower_first(&self.former.name))
    }

    /// The months of `months` under an earlier province than `current`:
    /// those a whole-province flow lacks part of the territory for.
    pub fn months_before(&self, months: &[Period], settings: &Settings) -> Vec<Period> {
        months
            .iter()
            .copied()
            .filter(|m| province_of_month(settings, *m).is_none_or(|p| p.code != self.current.code))
            .collect()
    }

    /// The reason a whole-province flow over `lacking` months is incomplete.
    pub fn lacking_note(&self, lacking: &[Period]) -> String {
        format!(
            "{} mới chỉ có số liệu của {} trong các tháng trước {} ({}); phần còn lại của tỉnh chưa báo cáo vào cơ sở dữ liệu này trong các tháng đó. Xem cột \"Địa bàn {}\" (so sánh được)",
            self.current.name,
            self.former_label(),
            self.changed_on.format("%d/%m/%Y"),
            month_span(lacking),
            self.former_label()
        )
    }

    /// The sentence the main sheet carries.
    pub fn explanation(&self) -> String {
        format!(
            "Lưu ý: địa bàn thay đổi từ ngày {}: {} ({}) hợp nhất vào {} ({}), bỏ cấp huyện; từ đó các xã, phường báo cáo trực tiếp cho tỉnh. \"Toàn tỉnh\" là {} theo địa giới mới: các tháng trước {} chỉ gồm {}, nên số cộng dồn của các chỉ tiêu phát sinh được đánh dấu chưa đầy đủ và không so sánh với cùng kỳ năm trước. \"Địa bàn {}\" gồm các huyện cũ (trước {}) và các xã, phường mới lập từ các xã của chúng (từ {}): cùng một địa bàn, số liệu đầy đủ và so sánh được.",
            self.changed_on.format("%d/%m/%Y"),
            self.former.name,
            self.former.code,
            self.current.name,
            self.current.code,
            self.current.name,
            self.changed_on.format("%d/%m/%Y"),
            self.former_label(),
            self.former_label(),
            self.changed_on.format("%d/%m/%Y"),
            self.changed_on.format("%d/%m/%Y"),
        )
    }
}

/// "2025-01 – 2025-06".
fn month_span(months: &[Period]) -> String {
    match (months.first(), months.last()) {
        (Some(a), Some(b)) if a == b => a.to_string(),
        (Some(a), Some(b)) => format!("{a} – {b}"),
        _ => String::new(),
    }
}

/// "Tỉnh Bắc Kạn" → "tỉnh Bắc Kạn".
fn lower_first(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().collect::<String>() + chars.as_str(),
        None => String::new(),
    }
}

/// The workspace's former territory through a change of province: its
/// figures, exact and comparable, and what the whole province's lack.
#[derive(Debug, Clone)]
pub struct TerritoryReport {
    pub change: TerritoryChange,
    /// The former territory's figures (the province column of each).
    pub current: Figures,
    pub year_to_date: Figures,
    pub last_year: Figures,
    /// Months of the period, and of the year to date, whose whole-province
    /// flows lack the part of the territory that did not report then.
    pub lacking_this: Vec<Period>,
    pub lacking_ytd: Vec<Period>,
    /// Whether the same period last year lies wholly under the province of
    /// the period's end (else the whole province's comparison is "–").
    pub last_year_comparable: bool,
}

impl TerritoryReport {
    /// The former territory's figures of `period`, its year to date and
    /// the same period last year, when the province changed between last
    /// year and the period's end; `None` otherwise.
    ///
    /// # Errors
    /// A consolidation error.
    pub fn compute(
        settings: &Settings,
        stored: &StoredFrame,
        lines: &[&Line],
        period: Period,
    ) -> Result<Option<TerritoryReport>, Error> {
        let last = period.last_month();
        let year_start = period.first_month_of_year();
        let last_year = period.same_period_last_year();
        let Some(change) = TerritoryChange::between(settings, last_year.first_month(), last) else {
            return Ok(None);
        };
        let former = |unit: &Unit, month: Period| in_former_territory(settings, unit, month);
        let window =
            |first: Period, last: Period| consolidate(stored, lines, &roster_where(settings, first, last, former));
        let ytd_months: Vec<Period> = (0..=(last.month_ordinal() - year_start.month_ordinal()))
            .map(|n| year_start.add_months(n))
            .collect();
        Ok(Some(TerritoryReport {
            current: window(period.first_month(), last)?,
            year_to_date: window(year_start, last)?,
            last_year: window(last_year.first_month(), last_year.last_month())?,
            lacking_this: change.months_before(&period.months(), settings),
            lacking_ytd: change.months_before(&ytd_months, settings),
            last_year_comparable: change.months_before(&last_year.months(), settings).is_empty(),
            change,
        }))
    }

    /// Marks the whole province's flows incomplete where their months
    /// reach back before the change (stocks take the last month, under the
    /// new province, and stay as they are).
    pub fn mark_whole_province(&self, lines: &[&Line], current: &mut Figures, year_to_date: &mut Figures) {
        for (l, line) in lines.iter().enumerate() {
            if line.agg == Agg::Sum {
                current.province[l].complete &= self.lacking_this.is_empty();
                year_to_date.province[l].complete &= self.lacking_ytd.is_empty();
            }
        }
    }
}
