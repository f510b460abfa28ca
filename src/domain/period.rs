//! Reporting periods: months, quarters, half-years and years, in every
//! notation a district or a statistician writes them, with their dates under
//! the province's cut-off day and their deadlines.
//!
//! A "month" is a reporting month. Under calendar months (`cutoff_day = 1`)
//! it runs from the 1st to the last day; under Decree 09/2019/NĐ-CP
//! (`cutoff_day = 15`) month M runs from the 15th of M−1 to the 14th of M, so
//! January starts on 15 December of the year before.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, Days, NaiveDate, Utc};
use chrono_tz::Tz;
use unicode_normalization::UnicodeNormalization;

use crate::error::Error;

/// How long a period is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PeriodKind {
    Month,
    Quarter,
    HalfYear,
    Year,
}

/// A reporting period: `2026-11`, `2026Q4`, `2026S1`, `2026`.
///
/// Ordered by start month, then by length (a month sorts before the quarter
/// that starts with it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Period {
    year: i32,
    kind: PeriodKind,
    /// Month 1–12, quarter 1–4, half 1–2, or 1 for a year.
    index: u8,
}

/// The province's calendar: where a reporting month is cut and how many days
/// a district has after a period ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportingCalendar {
    /// 1 for calendar months; otherwise month M starts on this day of M−1.
    pub cutoff_day: u8,
    /// Days after the end of a period by which a return is due.
    pub due_days: u32,
}

impl Default for ReportingCalendar {
    fn default() -> Self {
        ReportingCalendar {
            cutoff_day: 1,
            due_days: 5,
        }
    }
}

impl ReportingCalendar {
    /// Checks the cut-off day is one every month has (1–28).
    ///
    /// # Errors
    /// A message naming the bad value.
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=28).contains(&self.cutoff_day) {
            return Err(format!(
                "cutoff_day must be between 1 and 28 (1 = calendar months), not {}",
                self.cutoff_day
            ));
        }
        Ok(())
    }

    /// The reporting month a date falls in under this calendar.
    pub fn month_of(&self, date: NaiveDate) -> Period {
        let calendar = Period::month(date.year(), date.month() as u8);
        if self.cutoff_day > 1 && date.day() >= u32::from(self.cutoff_day) {
            calendar.next_month()
        } else {
            calendar
        }
    }
}

impl Period {
    /// A month; `month` must be 1–12 (values outside are clamped).
    pub fn month(year: i32, month: u8) -> Period {
        Period {
            year,
            kind: PeriodKind::Month,
            index: month.clamp(1, 12),
        }
    }

    /// A quarter 1–4.
    pub fn quarter(year: i32, quarter: u8) -> Period {
        Period {
            year,
            kind: PeriodKind::Quarter,
            index: quarter.clamp(1, 4),
        }
    }

    /// A half-year 1–2.
    pub fn half_year(year: i32, half: u8) -> Period {
        Period {
            year,
            kind: PeriodKind::HalfYear,
            index: half.clamp(1, 2),
        }
    }

    /// A whole year.
    pub fn year_period(year: i32) -> Period {
        Period {
            year,
            kind: PeriodKind::Year,
            index: 1,
        }
    }

    pub fn year(&self) -> i32 {
        self.year
    }

    pub fn kind(&self) -> PeriodKind {
        self.kind
    }

    pub fn is_month(&self) -> bool {
        self.kind == PeriodKind::Month
    }

    /// The month number for a month period.
    pub fn month_number(&self) -> Option<u8> {
        self.is_month().then_some(self.index)
    }

    /// First and last month numbers covered (1–12).
    fn month_span(&self) -> (u8, u8) {
        match self.kind {
            PeriodKind::Month => (self.index, self.index),
            PeriodKind::Quarter => (self.index * 3 - 2, self.index * 3),
            PeriodKind::HalfYear => (self.index * 6 - 5, self.index * 6),
            PeriodKind::Year => (1, 12),
        }
    }

    /// The months this period contains, in order.
    pub fn months(&self) -> Vec<Period> {
        let (first, last) = self.month_span();
        (first..=last).map(|m| Period::month(self.year, m)).collect()
    }

    /// The last month of the period (the one a stock takes its value from).
    pub fn last_month(&self) -> Period {
        Period::month(self.year, self.month_span().1)
    }

    /// The first month of the period.
    pub fn first_month(&self) -> Period {
        Period::month(self.year, self.month_span().0)
    }

    /// January of the period's year (year-to-date figures start there).
    pub fn first_month_of_year(&self) -> Period {
        Period::month(self.year, 1)
    }

    /// The same period one year earlier.
    pub fn same_period_last_year(&self) -> Period {
        Period {
            year: self.year - 1,
            ..*self
        }
    }

    /// The month after this period's last month.
    pub fn next_month(&self) -> Period {
        let last = self.last_month();
        if last.index == 12 {
            Period::month(self.year + 1, 1)
        } else {
            Period::month(self.year, last.index + 1)
        }
    }

    /// The month before this period's first month.
    pub fn previous_month(&self) -> Period {
        let first = self.first_month();
        if first.index == 1 {
            Period::month(self.year - 1, 12)
        } else {
            Period::month(self.year, first.index - 1)
        }
    }

    /// Whether `month` lies inside this period.
    pub fn contains(&self, month: &Period) -> bool {
        let (first, last) = self.month_span();
        month.year == self.year && month.first_month().index >= first && month.last_month().index <= last
    }

    /// Months since year 0: a total order on months, for arithmetic.
    pub fn month_ordinal(&self) -> i64 {
        i64::from(self.year) * 12 + i64::from(self.first_month().index) - 1
    }

    /// The month whose [`Period::month_ordinal`] is `ordinal`.
    pub fn from_month_ordinal(ordinal: i64) -> Period {
        Period::month(0, 1).add_months(ordinal)
    }

    /// The month `n` months after (negative: before) this period's first month.
    pub fn add_months(&self, n: i64) -> Period {
        let ordinal = self.month_ordinal() + n;
        let year = ordinal.div_euclid(12) as i32;
        let month = (ordinal.rem_euclid(12) + 1) as u8;
        Period::month(year, month)
    }

    /// First day of the period under `calendar`.
    pub fn start(&self, calendar: &ReportingCalendar) -> NaiveDate {
        let first = self.first_month();
        if calendar.cutoff_day <= 1 {
            ymd(first.year, u32::from(first.index), 1)
        } else {
            let before = first.previous_month();
            ymd(before.year, u32::from(before.index), u32::from(calendar.cutoff_day))
        }
    }

    /// Last day of the period under `calendar` (inclusive).
    pub fn end(&self, calendar: &ReportingCalendar) -> NaiveDate {
        let next = self.next_month();
        let following = Period::month(next.year, next.index);
        following.start(calendar).pred_opt().unwrap_or(NaiveDate::MIN)
    }

    /// The last day on which a return for this period is on time.
    pub fn deadline(&self, calendar: &ReportingCalendar) -> NaiveDate {
        self.end(calendar)
            .checked_add_days(Days::new(u64::from(calendar.due_days)))
            .unwrap_or(NaiveDate::MAX)
    }

    /// Vietnamese words for the period, as printed on a form:
    /// "Tháng 11 năm 2026", "Quý IV năm 2026", "6 tháng đầu năm 2026", "Năm 2026".
    pub fn vietnamese(&self) -> String {
        match self.kind {
            PeriodKind::Month => format!("Tháng {} năm {}", self.index, self.year),
            PeriodKind::Quarter => {
                let roman = ["I", "II", "III", "IV"][usize::from(self.index - 1)];
                format!("Quý {roman} năm {}", self.year)
            }
            PeriodKind::HalfYear if self.index == 1 => format!("6 tháng đầu năm {}", self.year),
            PeriodKind::HalfYear => format!("6 tháng cuối năm {}", self.year),
            PeriodKind::Year => format!("Năm {}", self.year),
        }
    }

    /// Parses any notation the form document lists: `2026-11`, `11/2026`,
    /// `Tháng 11/2026`, `Tháng 11 năm 2026`, `2026Q4`, `Q4/2026`, `2026S1`,
    /// `2026-H1`, `2026`, or a date inside the month (`2026-11-05`,
    /// `05/11/2026`), which stands for its calendar month.
    ///
    /// # Errors
    /// [`Error::Period`] saying what was expected.
    pub fn parse(text: &str) -> Result<Period, Error> {
        let bad = |reason: &str| Error::Period {
            text: text.to_string(),
            reason: reason.to_string(),
        };
        let normal: String = text.nfc().collect::<String>().trim().to_lowercase();
        let mut s = normal.as_str();
        let mut said_month = false;
        if let Some(rest) = s.strip_prefix("tháng") {
            s = rest.trim_start();
            said_month = true;
        }
        let compact: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
        let s = compact.as_str();
        if s.is_empty() {
            return Err(bad("empty"));
        }
        // "11 năm 2026"
        if let Some((m, y)) = s.split_once(" năm ") {
            return month_from(m.trim(), y.trim()).ok_or_else(|| bad("expected a month 1–12 and a year"));
        }
        if said_month {
            let parts: Vec<&str> = s.split(['/', '-', '.']).collect();
            if let [m, y] = parts.as_slice() {
                return month_from(m, y).ok_or_else(|| bad("expected a month 1–12 and a year"));
            }
            return Err(bad("expected 'Tháng M/YYYY' or 'Tháng M năm YYYY'"));
        }
        if s.len() == 4 && s.bytes().all(|b| b.is_ascii_digit()) {
            return year_from(s)
                .map(Period::year_period)
                .ok_or_else(|| bad("year out of range"));
        }
        // 2026Q4, 2026-Q4, 2026S1, 2026-H1, Q4/2026, S1/2026
        let upper = s.to_uppercase();
        for (marker, quarter) in [('Q', true), ('S', false), ('H', false)] {
            let (n, year) = if let Some(rest) = upper.strip_prefix(marker) {
                match rest.split_once(['/', '-']) {
                    Some(pair) => pair,
                    None => continue,
                }
            } else if let Some((left, right)) = upper.split_once(marker) {
                (right, left.trim_end_matches('-'))
            } else {
                continue;
            };
            let n: u8 = n
                .trim()
                .parse()
                .map_err(|_| bad("expected a quarter 1–4 or a half 1–2"))?;
            let year = year_from(year.trim()).ok_or_else(|| bad("year out of range"))?;
            return match (quarter, n) {
                (true, 1..=4) => Ok(Period::quarter(year, n)),
                (false, 1..=2) => Ok(Period::half_year(year, n)),
                (true, _) => Err(bad("a quarter is 1–4")),
                (false, _) => Err(bad("a half-year is 1 or 2")),
            };
        }
        let parts: Vec<&str> = s.split(['/', '-', '.']).map(str::trim).collect();
        match parts.as_slice() {
            [y, m] if y.len() == 4 => month_from(m, y).ok_or_else(|| bad("expected YYYY-MM")),
            [m, y] if y.len() == 4 => month_from(m, y).ok_or_else(|| bad("expected MM/YYYY")),
            [y, m, d] if y.len() == 4 => date_month(y, m, d).ok_or_else(|| bad("not a real date")),
            [d, m, y] if y.len() == 4 => date_month(y, m, d).ok_or_else(|| bad("not a real date")),
            _ => Err(bad(
                "expected a month (2026-11, 11/2026, Tháng 11 năm 2026), a quarter (2026Q4), a half-year (2026S1) or a year (2026)",
            )),
        }
    }
}

fn ymd(year: i32, month: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(year, month, day).unwrap_or(NaiveDate::MIN)
}

fn year_from(text: &str) -> Option<i32> {
    let year: i32 = text.parse().ok()?;
    (1900..=2200).contains(&year).then_some(year)
}

fn month_from(month: &str, year: &str) -> Option<Period> {
    let m: u8 = month.trim().parse().ok()?;
    let y = year_from(year.trim())?;
    (1..=12).contains(&m).then(|| Period::month(y, m))
}

fn date_month(year: &str, month: &str, day: &str) -> Option<Period> {
    let y = year_from(year)?;
    let date = NaiveDate::from_ymd_opt(y, month.parse().ok()?, day.parse().ok()?)?;
    Some(Period::month(date.year(), date.month() as u8))
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            PeriodKind::Month => write!(f, "{}-{:02}", self.year, self.index),
            PeriodKind::Quarter => write!(f, "{}Q{}", self.year, self.index),
            PeriodKind::HalfYear => write!(f, "{}S{}", self.year, self.index),
            PeriodKind::Year => write!(f, "{}", self.year),
        }
    }
}

impl FromStr for Period {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Period::parse(s)
    }
}

impl PartialOrd for Period {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Period {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.month_ordinal(), self.kind, self.index).cmp(&(other.month_ordinal(), other.kind, other.index))
    }
}

/// An instant stored as UTC (`2015-02-05T18:30:00Z`, as the store keeps
/// arrival times) in the office's time zone. Deadlines are dates of the
/// office's calendar, so arrival dates are compared, and times shown to a
/// person, in that zone — never by the UTC date.
pub fn local_time(stored_utc: &str, zone: Tz) -> Option<DateTime<Tz>> {
    DateTime::parse_from_rfc3339(stored_utc.trim())
        .ok()
        .map(|t| t.with_timezone(&Utc).with_timezone(&zone))
}

/// "2015-02-06 01:30:00" in `zone` (logs and run lists, to the second), or
/// the stored text when it is not a time.
pub fn local_timestamp_text(stored_utc: &str, zone: Tz) -> String {
    local_time(stored_utc, zone).map_or_else(|| stored_utc.to_string(), |t| t.format("%Y-%m-%d %H:%M:%S").to_string())
}

/// "06/02/2015 01:30" in `zone`, or the stored text when it is not a time.
pub fn local_time_text(stored_utc: &str, zone: Tz) -> String {
    local_time(stored_utc, zone).map_or_else(|| stored_utc.to_string(), |t| t.format("%d/%m/%Y %H:%M").to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Period {
        match Period::parse(s) {
            Ok(p) => p,
            Err(e) => panic!("{s}: {e}"),
        }
    }

    #[test]
    fn every_month_notation_parses_to_the_same_month() {
        for text in [
            "2026-11",
            "11/2026",
            "Tháng 11/2026",
            "Tháng 11 năm 2026",
            "tháng 11 năm 2026",
            "THÁNG 11/2026",
            "Tha\u{301}ng 11/2026",
            "  2026-11  ",
            "2026-11-05",
            "05/11/2026",
        ] {
            assert_eq!(p(text), Period::month(2026, 11), "{text}");
        }
    }

    #[test]
    fn quarters_halves_and_years_parse() {
        assert_eq!(p("2026Q4"), Period::quarter(2026, 4));
        assert_eq!(p("2026-Q2"), Period::quarter(2026, 2));
        assert_eq!(p("Q3/2026"), Period::quarter(2026, 3));
        assert_eq!(p("2026S1"), Period::half_year(2026, 1));
        assert_eq!(p("2026-H2"), Period::half_year(2026, 2));
        assert_eq!(p("2026h1"), Period::half_year(2026, 1));
        assert_eq!(p("2026"), Period::year_period(2026));
    }

    #[test]
    fn bad_periods_are_refused_with_a_reason() {
        for text in [
            "",
            "2026-13",
            "13/2026",
            "2026Q5",
            "2026S3",
            "Tháng 0/2026",
            "abc",
            "31/02/2026",
            "99",
        ] {
            assert!(Period::parse(text).is_err(), "{text} should not parse");
        }
    }

    #[test]
    fn display_round_trips() {
        for text in ["2026-01", "2026-11", "2026Q4", "2026S1", "2026"] {
            assert_eq!(p(text).to_string(), text);
        }
    }

    #[test]
    fn calendar_months_start_on_the_first_and_end_on_the_last_day() {
        let cal = ReportingCalendar {
            cutoff_day: 1,
            due_days: 5,
        };
        let feb = Period::month(2024, 2);
        assert_eq!(feb.start(&cal), ymd(2024, 2, 1));
        assert_eq!(feb.end(&cal), ymd(2024, 2, 29));
        assert_eq!(feb.deadline(&cal), ymd(2024, 3, 5));
        let dec = Period::month(2026, 12);
        assert_eq!(dec.end(&cal), ymd(2026, 12, 31));
    }

    #[test]
    fn cutoff_15_runs_from_the_15th_to_the_14th_across_the_year_boundary() {
        let cal = ReportingCalendar {
            cutoff_day: 15,
            due_days: 3,
        };
        let jan = Period::month(2027, 1);
        assert_eq!(jan.start(&cal), ymd(2026, 12, 15));
        assert_eq!(jan.end(&cal), ymd(2027, 1, 14));
        assert_eq!(jan.deadline(&cal), ymd(2027, 1, 17));
        let dec = Period::month(2026, 12);
        assert_eq!(dec.start(&cal), ymd(2026, 11, 15));
        assert_eq!(dec.end(&cal), ymd(2026, 12, 14));
        let year = Period::year_period(2027);
        assert_eq!(year.start(&cal), ymd(2026, 12, 15));
        assert_eq!(year.end(&cal), ymd(2027, 12, 14));
        assert_eq!(cal.month_of(ymd(2026, 12, 20)), Period::month(2027, 1));
        assert_eq!(cal.month_of(ymd(2026, 12, 14)), Period::month(2026, 12));
    }

    #[test]
    fn periods_know_their_months() {
        assert_eq!(p("2026Q4").months(), vec![p("2026-10"), p("2026-11"), p("2026-12")]);
        assert_eq!(p("2026S1").months().len(), 6);
        assert_eq!(p("2026S1").last_month(), p("2026-06"));
        assert_eq!(p("2026").months().len(), 12);
        assert_eq!(p("2026-11").first_month_of_year(), p("2026-01"));
        assert_eq!(p("2026-01").previous_month(), p("2025-12"));
        assert_eq!(p("2026-12").next_month(), p("2027-01"));
        assert_eq!(p("2026-03").add_months(-3), p("2025-12"));
        assert!(p("2026S2").contains(&p("2026-07")));
        assert!(!p("2026S2").contains(&p("2026-06")));
        assert_eq!(p("2026Q4").same_period_last_year(), p("2025Q4"));
    }

    #[test]
    fn cutoff_day_outside_1_to_28_is_refused() {
        assert!(ReportingCalendar {
            cutoff_day: 29,
            due_days: 0
        }
        .validate()
        .is_err());
        assert!(ReportingCalendar {
            cutoff_day: 0,
            due_days: 0
        }
        .validate()
        .is_err());
        assert!(ReportingCalendar {
            cutoff_day: 15,
            due_days: 0
        }
        .validate()
        .is_ok());
    }
}
