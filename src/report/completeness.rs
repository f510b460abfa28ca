//! Who reported and when: for every unit expected in a period and every
//! month of it, whether a return was received and accepted, on time or how
//! many days late, with how many revisions, and the last file name. Also the
//! sources — every current submission a report is built from.

use std::collections::HashMap;

use chrono::NaiveDate;

use crate::config::Settings;
use crate::domain::{local_time, Period, Unit};
use crate::error::Error;
use crate::store::{Status, Store, Submission};

/// One unit in one month.
#[derive(Debug, Clone, PartialEq)]
pub struct MonthStatus {
    pub unit_code: String,
    pub unit_name: String,
    pub month: Period,
    /// The current accepted submission, if any.
    pub current: Option<Submission>,
    /// Every submission received for this unit and month, oldest first.
    pub received: usize,
    /// Status of the latest submission received.
    pub latest_status: Option<Status>,
    pub latest_file: Option<String>,
    /// Date the first accepted return arrived, in the office's time zone.
    pub accepted_on: Option<NaiveDate>,
    pub deadline: NaiveDate,
    /// Days after the deadline the first accepted return arrived (0 = on time).
    pub days_late: Option<i64>,
}

impl MonthStatus {
    pub fn is_received(&self) -> bool {
        self.current.is_some()
    }

    pub fn is_on_time(&self) -> bool {
        self.days_late == Some(0)
    }

    /// Revisions after the first submission.
    pub fn revisions(&self) -> usize {
        self.received.saturating_sub(1)
    }

    /// "Đã nộp" / "Bị từ chối" / "Chưa nộp".
    pub fn state_vietnamese(&self) -> &'static str {
        match (&self.current, self.latest_status) {
            (Some(_), _) => "Đã nộp",
            (None, Some(Status::Rejected)) => "Bị từ chối",
            _ => "Chưa nộp",
        }
    }
}

/// Counts for the whole period.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rates {
    pub expected: usize,
    pub received: usize,
    pub on_time: usize,
    pub late: usize,
    pub rejected_only: usize,
    pub revisions: usize,
}

impl Rates {
    pub fn percent(part: usize, whole: usize) -> Option<f64> {
        (whole > 0).then(|| part as f64 / whole as f64 * 100.0)
    }
}

/// The units expected to report for a month: the units one level under the
/// workspace's province (its successor's, once it has ended) valid at the
/// month's end — districts, or after a two-level reorganisation communes.
/// Every command that asks "who must report" asks this.
pub fn expected_units(settings: &Settings, month: Period) -> Vec<Unit> {
    settings
        .register
        .reporting_units(&settings.config.province.code, month.end(&settings.calendar))
        .into_iter()
        .cloned()
        .collect()
}

/// The status of every expected unit in every month of `period`, by unit
/// then month.
///
/// # Errors
/// [`Error::Database`].
pub fn month_statuses(settings: &Settings, store: &Store, period: Period) -> Result<Vec<MonthStatus>, Error> {
    let mut out = Vec::new();
    // Every submission of the period's months in one query, by unit and month.
    let mut by_return: HashMap<(String, Period), Vec<Submission>> = HashMap::new();
    for s in store.submissions_between(period.first_month(), period.last_month())? {
        if let (Some(unit), Some(month)) = (s.unit_code.clone(), s.period) {
            by_return.entry((unit, month)).or_default().push(s);
        }
    }
    for month in period.months() {
        let deadline = month.deadline(&settings.calendar);
        for unit in expected_units(settings, month) {
            let submissions = by_return
                .get(&(unit.code.clone(), month))
                .map_or(&[][..], Vec::as_slice);
            let current = submissions
                .iter()
                .find(|s| s.status.is_accepted() && s.superseded_by.is_none())
                .cloned();
            let first_accepted = submissions.iter().find(|s| s.status.is_accepted());
            // The office's calendar decides: a file of 06/02 01:30 in Hanoi
            // is 05/02 in UTC, and late against a deadline of 05/02.
            let accepted_on = first_accepted
                .and_then(|s| local_time(&s.received_at, settings.timezone))
                .map(|t| t.date_naive());
            let days_late = accepted_on.map(|d| (d - deadline).num_days().max(0));
            let latest = submissions.last();
            out.push(MonthStatus {
                unit_code: unit.code.clone(),
                unit_name: unit.name.clone(),
                month,
                current,
                received: submissions.len(),
                latest_status: latest.map(|s| s.status),
                latest_file: latest.map(|s| s.file_name.clone()),
                accepted_on,
                deadline,
                days_late,
            });
        }
    }
    out.sort_by(|a, b| (a.unit_code.as_str(), a.month).cmp(&(b.unit_code.as_str(), b.month)));
    Ok(out)
}

/// The period's expected, received, on-time, late counts.
pub fn rates(statuses: &[MonthStatus]) -> Rates {
    let mut r = Rates {
        expected: statuses.len(),
        ..Rates::default()
    };
    for s in statuses {
        if s.is_received() {
            r.received += 1;
            if s.is_on_time() {
                r.on_time += 1;
            } else {
                r.late += 1;
            }
        } else if s.latest_status == Some(Status::Rejected) {
            r.rejected_only += 1;
        }
        r.revisions += s.revisions();
    }
    r
}

/// Months of `period` a unit has no current accepted return for.
pub fn missing_months(statuses: &[MonthStatus], unit: &str) -> Vec<Period> {
    statuses
        .iter()
        .filter(|s| s.unit_code == unit && !s.is_received())
        .map(|s| s.month)
        .collect()
}
