//! What a scheduled report or reminder does, each recorded in the run log
//! like an ingest pass (start, end, trigger, outcome), so `baocao status`
//! and `baocao runs` show that the 07:00 report was written or why not.
//! A reminder lists the districts that owe a return: those valid at the
//! end of each month of the period (the unit register has validity dates,
//! so a district merged away is not chased) without a current accepted
//! submission for it.

use std::collections::BTreeSet;
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::schedule::{iso_utc, local_date, PeriodRule};
use crate::atomic::{write_atomically, Content};
use crate::config::Settings;
use crate::domain::Period;
use crate::error::Error;
use crate::store::{RunCounts, Status, Store, Trigger};

/// A unit that has not reported for a month.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingReturn {
    pub unit_code: String,
    pub unit_name: String,
    pub month: Period,
    /// Something was received, but every submission was rejected.
    pub only_rejected: bool,
}

/// The period `rule` names for a run due at `fire`, or `None` when the rule
/// is `latest` and no return has been accepted yet.
///
/// # Errors
/// [`Error::Database`].
pub fn period_for(settings: &Settings, rule: PeriodRule, fire: DateTime<Tz>) -> Result<Option<Period>, Error> {
    let today = local_date(fire.with_timezone(&Utc), fire.timezone());
    match rule.period_on(today, &settings.calendar) {
        Some(period) => Ok(Some(period)),
        None => crate::report::latest_period_with_returns(settings),
    }
}

/// Writes the consolidated report of the period `rule` names at `fire`.
///
/// # Errors
/// [`Error::Database`] when the run cannot be recorded; a failed report is
/// logged and recorded as the run's outcome, then returned.
pub fn report(
    settings: &Settings,
    store: &Store,
    trigger: Trigger,
    rule: PeriodRule,
    fire: DateTime<Tz>,
) -> Result<(), Error> {
    let Some(period) = period_for(settings, rule, fire)? else {
        tracing::info!(rule = rule.name(), "No accepted return yet: no report written");
        let run = store.begin_run(trigger, "report", &now())?;
        store.finish_run(run, &RunCounts::default(), "skipped: no accepted return", &now())?;
        return Ok(());
    };
    let run = store.begin_run(trigger, &format!("report {period}"), &now())?;
    match crate::report::write_report(settings, period, None) {
        Ok(summary) => {
            tracing::info!(
                period = %period,
                file = %summary.path.display(),
                units_expected = summary.units_expected,
                units_complete = summary.units_complete,
                "Report written"
            );
            store.finish_run(run, &RunCounts::default(), "ok", &now())?;
            Ok(())
        }
        Err(error) => {
            tracing::error!(period = %period, %error, "Report failed");
            store.finish_run(run, &RunCounts::default(), &format!("error: {error}"), &now())?;
            Err(error)
        }
    }
}

/// Logs the units that owe a return for the period `rule` names at `fire`
/// and writes them to `reports/missing-<period>.txt`; returns that file.
///
/// # Errors
/// [`Error::Database`]; [`Error::Io`] when the list cannot be written
/// (recorded as the run's outcome too).
pub fn remind(
    settings: &Settings,
    store: &Store,
    trigger: Trigger,
    rule: PeriodRule,
    fire: DateTime<Tz>,
) -> Result<Option<PathBuf>, Error> {
    let Some(period) = period_for(settings, rule, fire)? else {
        tracing::info!(rule = rule.name(), "No accepted return yet: no reminder");
        return Ok(None);
    };
    let run = store.begin_run(trigger, &format!("remind {period}"), &now())?;
    let result = missing_returns(settings, store, period).and_then(|missing| {
        let path = settings.paths.reports.join(format!("missing-{period}.txt"));
        let text = missing_list(settings, period, &missing, fire);
        write_atomically(&path, Content::Bytes(text.as_bytes()))?;
        Ok((path, missing))
    });
    match result {
        Ok((path, missing)) => {
            for m in &missing {
                tracing::info!(
                    unit = %m.unit_code,
                    period = %m.month,
                    only_rejected = m.only_rejected,
                    "No accepted return yet"
                );
            }
            let expected = expected_count(settings, period);
            tracing::info!(
                period = %period,
                missing = missing.len(),
                expected,
                file = %path.display(),
                "Reminder written"
            );
            store.finish_run(
                run,
                &RunCounts::default(),
                &format!("ok: {} missing", missing.len()),
                &now(),
            )?;
            Ok(Some(path))
        }
        Err(error) => {
            tracing::error!(period = %period, %error, "Reminder failed");
            store.finish_run(run, &RunCounts::default(), &format!("error: {error}"), &now())?;
            Err(error)
        }
    }
}

/// The reporting units that owe a return for each month of `period`, by month then code.
///
/// # Errors
/// [`Error::Database`].
pub fn missing_returns(settings: &Settings, store: &Store, period: Period) -> Result<Vec<MissingReturn>, Error> {
    let mut out = Vec::new();
    for month in period.months() {
        let reported: BTreeSet<String> = store
            .current_submissions(&[month])?
            .into_iter()
            .filter_map(|s| s.unit_code)
            .collect();
        for unit in crate::report::completeness::expected_units(settings, month) {
            if reported.contains(&unit.code) {
                continue;
            }
            let received = store.submissions_of(&unit.code, month)?;
            out.push(MissingReturn {
                unit_code: unit.code.clone(),
                unit_name: unit.name.clone(),
                month,
                only_rejected: !received.is_empty() && received.iter().all(|s| s.status == Status::Rejected),
            });
        }
    }
    Ok(out)
}

fn expected_count(settings: &Settings, period: Period) -> usize {
    period
        .months()
        .iter()
        .map(|m| crate::report::completeness::expected_units(settings, *m).len())
        .sum()
}

/// The text of `missing-<period>.txt`, in Vietnamese for the office.
fn missing_list(settings: &Settings, period: Period, missing: &[MissingReturn], fire: DateTime<Tz>) -> String {
    let mut text = format!(
        "Danh sách đơn vị chưa nộp báo cáo (mẫu 01/PCMD-H) — {} ({period})\n",
        period.vietnamese()
    );
    text.push_str(&format!(
        "Hạn nộp: {}. Lập lúc: {}.\n",
        period.last_month().deadline(&settings.calendar),
        fire.format("%Y-%m-%d %H:%M %:z")
    ));
    text.push_str(&format!(
        "Số báo cáo còn thiếu: {}/{}\n\n",
        missing.len(),
        expected_count(settings, period)
    ));
    if missing.is_empty() {
        text.push_str("Tất cả đơn vị đã nộp.\n");
        return text;
    }
    text.push_str("Mã\tTên đơn vị\tKỳ\tGhi chú\n");
    for m in missing {
        let note = if m.only_rejected {
            "đã nộp nhưng bị từ chối, cần nộp lại"
        } else {
            "chưa nộp"
        };
        text.push_str(&format!("{}\t{}\t{}\t{note}\n", m.unit_code, m.unit_name, m.month));
    }
    text
}

fn now() -> String {
    iso_utc(Utc::now())
}
