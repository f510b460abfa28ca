//! The daemon's schedules as the daemon uses them: the `[[daemon.schedule]]`
//! entries of `baocao.toml` checked all at once (cron expression, action,
//! period rule, time zone) so a typo is a start-up error that names the
//! entry, never a job that silently does not run; their fire times in the
//! configured time zone; the run missed while the server was off; and the
//! rule that says which period a scheduled report or reminder covers.

use std::collections::BTreeSet;
use std::str::FromStr;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use chrono_tz::Tz;
use cron::Schedule;

use crate::config::DaemonConfig;
use crate::domain::{Period, ReportingCalendar};

/// Which period a scheduled report or reminder covers, relative to the
/// reporting month the fire time falls in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeriodRule {
    PreviousMonth,
    CurrentMonth,
    PreviousQuarter,
    CurrentQuarter,
    PreviousHalfYear,
    CurrentHalfYear,
    PreviousYear,
    CurrentYear,
    /// The latest month with an accepted return (what `baocao run` reports).
    Latest,
}

/// The rules as written in `baocao.toml`.
const RULE_NAMES: [(&str, PeriodRule); 9] = [
    ("previous-month", PeriodRule::PreviousMonth),
    ("current-month", PeriodRule::CurrentMonth),
    ("previous-quarter", PeriodRule::PreviousQuarter),
    ("current-quarter", PeriodRule::CurrentQuarter),
    ("previous-half-year", PeriodRule::PreviousHalfYear),
    ("current-half-year", PeriodRule::CurrentHalfYear),
    ("previous-year", PeriodRule::PreviousYear),
    ("current-year", PeriodRule::CurrentYear),
    ("latest", PeriodRule::Latest),
];

impl PeriodRule {
    /// The rule named `text` (`previous-month`, …).
    pub fn parse(text: &str) -> Option<PeriodRule> {
        let text = text.trim().to_ascii_lowercase().replace('_', "-");
        RULE_NAMES.iter().find(|(name, _)| *name == text).map(|(_, rule)| *rule)
    }

    /// The rule's name as written in `baocao.toml`.
    pub fn name(self) -> &'static str {
        RULE_NAMES
            .iter()
            .find(|(_, rule)| *rule == self)
            .map_or("latest", |(name, _)| name)
    }

    /// The period this rule names on `today` under `calendar`: the reporting
    /// month `today` falls in (under a cut-off day of 15, 20 December is
    /// already in January's month), then the month, quarter, half-year or
    /// year containing it or the one before. `None` for [`PeriodRule::Latest`],
    /// which depends on the stored returns, not on the date.
    pub fn period_on(self, today: NaiveDate, calendar: &ReportingCalendar) -> Option<Period> {
        let month = calendar.month_of(today);
        let year = month.year();
        let number = month.month_number().unwrap_or(1);
        let quarter = Period::quarter(year, (number - 1) / 3 + 1);
        let half = Period::half_year(year, if number <= 6 { 1 } else { 2 });
        let period = match self {
            PeriodRule::CurrentMonth => month,
            PeriodRule::PreviousMonth => month.previous_month(),
            PeriodRule::CurrentQuarter => quarter,
            PeriodRule::PreviousQuarter => {
                let before = quarter.previous_month();
                Period::quarter(before.year(), (before.month_number().unwrap_or(1) - 1) / 3 + 1)
            }
            PeriodRule::CurrentHalfYear => half,
            PeriodRule::PreviousHalfYear => {
                let before = half.previous_month();
                Period::half_year(
                    before.year(),
                    if before.month_number().unwrap_or(1) <= 6 { 1 } else { 2 },
                )
            }
            PeriodRule::CurrentYear => Period::year_period(year),
            PeriodRule::PreviousYear => Period::year_period(year - 1),
            PeriodRule::Latest => return None,
        };
        Some(period)
    }
}

/// What a schedule does when it fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// An ingest pass over the inbox.
    Ingest,
    /// The consolidated workbook of the period the rule names.
    Report(PeriodRule),
    /// Log, and write `reports/missing-<period>.txt`: the units that have
    /// not reported for the period the rule names.
    Remind(PeriodRule),
}

impl Action {
    /// "ingest", "report previous-month", …
    pub fn describe(&self) -> String {
        match self {
            Action::Ingest => "ingest".into(),
            Action::Report(rule) => format!("report {}", rule.name()),
            Action::Remind(rule) => format!("remind {}", rule.name()),
        }
    }
}

/// One checked `[[daemon.schedule]]` entry.
#[derive(Debug, Clone)]
pub struct Job {
    pub name: String,
    /// The expression as written (what the schedule state is keyed on).
    pub cron: String,
    pub schedule: Schedule,
    pub action: Action,
}

impl Job {
    /// The first fire time strictly after `after`, in `zone`.
    pub fn next_after(&self, after: DateTime<Utc>, zone: Tz) -> Option<DateTime<Tz>> {
        self.schedule.after(&after.with_timezone(&zone)).next()
    }

    /// The fire time missed between `handled_until` (exclusive) and `now`
    /// (inclusive), if any: the latest one, since a missed run is run once,
    /// for the occasion it was last due.
    pub fn missed_between(&self, handled_until: DateTime<Utc>, now: DateTime<Utc>, zone: Tz) -> Option<DateTime<Tz>> {
        let first = self.next_after(handled_until, zone)?;
        if first.with_timezone(&Utc) > now {
            return None;
        }
        // The last fire time before now (searching backwards, not stepping
        // through every fire of a schedule that fires each minute).
        let latest = self
            .schedule
            .after(&(now + chrono::Duration::seconds(1)).with_timezone(&zone))
            .next_back();
        Some(match latest {
            Some(latest) if latest >= first && latest.with_timezone(&Utc) <= now => latest,
            _ => first,
        })
    }
}

/// The checked server settings.
#[derive(Debug, Clone)]
pub struct Plan {
    pub zone: Tz,
    pub jobs: Vec<Job>,
}

/// The actions a schedule may name.
const ACTIONS: &str = "ingest, report, remind";

/// Parses a cron expression. Six fields (sec min hour day month weekday)
/// or seven (… year) as the `cron` crate reads them; five fields, the
/// crontab form administrators know, run at second 0.
///
/// # Errors
/// The parser's message.
pub fn parse_cron(text: &str) -> Result<Schedule, String> {
    let fields = text.split_whitespace().count();
    let expression = if fields == 5 {
        format!("0 {}", text.trim())
    } else {
        text.trim().to_string()
    };
    Schedule::from_str(&expression).map_err(|e| e.to_string())
}

/// Checks the `[daemon]` section: the time zone, the intervals and every
/// schedule, and returns every problem at once, each naming its entry.
///
/// # Errors
/// The list of problems, ready for [`crate::error::Error::Config`].
pub fn plan(config: &DaemonConfig, zone: Tz) -> Result<Plan, Vec<String>> {
    let mut problems = Vec::new();
    if config.poll_seconds == 0 {
        problems.push(
            "[daemon] poll_seconds = 0: the inbox must be scanned at some interval (network shares deliver no events); give 1 or more".into(),
        );
    }
    let mut names = BTreeSet::new();
    let mut jobs = Vec::new();
    for (i, entry) in config.schedule.iter().enumerate() {
        let label = format!("[[daemon.schedule]] #{} {:?}", i + 1, entry.name);
        let before = problems.len();
        if entry.name.trim().is_empty() {
            problems.push(format!(
                "{label}: name is empty; every schedule needs a name (its runs are recorded under it)"
            ));
        } else if !names.insert(entry.name.trim().to_string()) {
            problems.push(format!("{label}: another schedule has the same name"));
        }
        let schedule = parse_cron(&entry.cron)
            .map_err(|e| problems.push(format!("{label}: cron {:?}: {e}", entry.cron)))
            .ok();
        let rule = match entry.period.as_deref() {
            None => None,
            Some(text) => match PeriodRule::parse(text) {
                Some(rule) => Some(rule),
                None => {
                    let known: Vec<&str> = RULE_NAMES.iter().map(|(n, _)| *n).collect();
                    problems.push(format!(
                        "{label}: period {text:?}: not a period rule; use one of {}",
                        known.join(", ")
                    ));
                    None
                }
            },
        };
        let action = match (entry.action.trim(), entry.period.is_some()) {
            ("ingest", false) => Some(Action::Ingest),
            ("ingest", true) => {
                problems.push(format!("{label}: period applies to report and remind, not to ingest"));
                None
            }
            ("report" | "remind", false) => {
                problems.push(format!(
                    "{label}: action {} needs a period rule, e.g. period = \"previous-month\"",
                    entry.action
                ));
                None
            }
            ("report", true) => rule.map(Action::Report),
            ("remind", true) => rule.map(Action::Remind),
            (other, _) => {
                problems.push(format!("{label}: action {other:?}: unknown; use one of {ACTIONS}"));
                None
            }
        };
        if let (Some(schedule), Some(action), true) = (schedule, action, problems.len() == before) {
            jobs.push(Job {
                name: entry.name.trim().to_string(),
                cron: entry.cron.trim().to_string(),
                schedule,
                action,
            });
        }
    }
    if problems.is_empty() {
        Ok(Plan { zone, jobs })
    } else {
        Err(problems)
    }
}

/// "2015-02-20T00:00:00Z".
pub fn iso_utc(time: DateTime<Utc>) -> String {
    time.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Parses [`iso_utc`]'s format (and any RFC 3339 time).
pub fn parse_utc(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text).ok().map(|t| t.with_timezone(&Utc))
}

/// The date in `zone` of an instant (what "today" is for a period rule).
pub fn local_date(time: DateTime<Utc>, zone: Tz) -> NaiveDate {
    let local = time.with_timezone(&zone);
    NaiveDate::from_ymd_opt(local.year(), local.month(), local.day()).unwrap_or(NaiveDate::MIN)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ScheduleConfig;
    use chrono::TimeZone;

    fn utc(text: &str) -> DateTime<Utc> {
        parse_utc(text).unwrap()
    }

    fn job(cron: &str) -> Job {
        Job {
            name: "t".into(),
            cron: cron.into(),
            schedule: parse_cron(cron).unwrap(),
            action: Action::Ingest,
        }
    }

    fn entry(name: &str, cron: &str, action: &str, period: Option<&str>) -> ScheduleConfig {
        ScheduleConfig {
            name: name.into(),
            cron: cron.into(),
            action: action.into(),
            period: period.map(Into::into),
        }
    }

    const HCM: Tz = chrono_tz::Asia::Ho_Chi_Minh;

    #[test]
    fn monthly_report_on_the_20th_fires_across_the_month_end_in_vietnam_time() {
        let job = job("0 0 7 20 * *");
        // 31 January 2015, 23:00 in Hà Nội.
        let after = HCM.with_ymd_and_hms(2015, 1, 31, 23, 0, 0).unwrap().with_timezone(&Utc);
        let next = job.next_after(after, HCM).unwrap();
        assert_eq!(next, HCM.with_ymd_and_hms(2015, 2, 20, 7, 0, 0).unwrap());
        // 07:00 in Vietnam is midnight UTC.
        assert_eq!(next.with_timezone(&Utc), utc("2015-02-20T00:00:00Z"));
        let then = job.next_after(next.with_timezone(&Utc), HCM).unwrap();
        assert_eq!(then.with_timezone(&Utc), utc("2015-03-20T00:00:00Z"));
    }

    #[test]
    fn a_day_31_schedule_skips_the_short_months() {
        let job = job("0 0 7 31 * *");
        let after = utc("2015-01-31T01:00:00Z");
        let fires: Vec<String> = job
            .schedule
            .after(&after.with_timezone(&HCM))
            .take(3)
            .map(|t| t.format("%Y-%m-%d %H:%M %z").to_string())
            .collect();
        assert_eq!(
            fires,
            [
                "2015-03-31 07:00 +0700",
                "2015-05-31 07:00 +0700",
                "2015-07-31 07:00 +0700"
            ]
        );
    }

    #[test]
    fn the_first_of_the_month_in_vietnam_is_still_the_last_day_in_utc() {
        // 00:30 on 1 March in Hà Nội is 17:30 on 28 February UTC: the time
        // zone, not UTC, decides which day a schedule fires on.
        let job = job("0 30 0 1 * *");
        let after = utc("2015-02-28T12:00:00Z");
        let next = job.next_after(after, HCM).unwrap();
        assert_eq!(next.with_timezone(&Utc), utc("2015-02-28T17:30:00Z"));
        let in_utc = job.schedule.after(&after).next().unwrap();
        assert_eq!(in_utc, utc("2015-03-01T00:30:00Z"));
    }

    #[test]
    fn a_five_field_crontab_expression_runs_at_second_zero() {
        let job = job("*/10 * * * *");
        let next = job.next_after(utc("2015-01-31T23:55:10Z"), HCM).unwrap();
        assert_eq!(next.with_timezone(&Utc), utc("2015-02-01T00:00:00Z"));
    }

    #[test]
    fn a_fire_time_missed_while_down_is_found_once_and_is_the_latest() {
        let job = job("0 0 7 20 * *");
        // Handled up to the January report; down until 2 March.
        let handled = utc("2015-01-20T00:00:00Z");
        let now = utc("2015-03-02T03:00:00Z");
        let missed = job.missed_between(handled, now, HCM).unwrap();
        assert_eq!(missed.with_timezone(&Utc), utc("2015-02-20T00:00:00Z"));
        // Down twice over a fire time: still one run, for the latest.
        let now = utc("2015-04-01T00:00:00Z");
        let missed = job.missed_between(handled, now, HCM).unwrap();
        assert_eq!(missed.with_timezone(&Utc), utc("2015-03-20T00:00:00Z"));
        // Nothing due since.
        assert_eq!(job.missed_between(utc("2015-03-20T00:00:00Z"), now, HCM), None);
        // A schedule firing every 2 s, down for a month: found without stepping through each.
        let fast = self::job("*/2 * * * * *");
        let missed = fast
            .missed_between(utc("2015-01-01T00:00:00Z"), utc("2015-02-01T00:00:01Z"), HCM)
            .unwrap();
        assert_eq!(missed.with_timezone(&Utc), utc("2015-02-01T00:00:00Z"));
    }

    #[test]
    fn period_rules_name_the_periods_around_the_reporting_month() {
        let calendar = ReportingCalendar::default();
        let on = |rule: &str, date: &str| {
            let date = NaiveDate::parse_from_str(date, "%Y-%m-%d").unwrap();
            PeriodRule::parse(rule)
                .unwrap()
                .period_on(date, &calendar)
                .map(|p| p.to_string())
        };
        assert_eq!(on("previous-month", "2015-03-20").as_deref(), Some("2015-02"));
        assert_eq!(on("previous-month", "2015-01-06").as_deref(), Some("2014-12"));
        assert_eq!(on("current-month", "2015-03-31").as_deref(), Some("2015-03"));
        assert_eq!(on("previous-quarter", "2015-01-10").as_deref(), Some("2014Q4"));
        assert_eq!(on("current-quarter", "2015-05-10").as_deref(), Some("2015Q2"));
        assert_eq!(on("current-half-year", "2015-07-01").as_deref(), Some("2015S2"));
        assert_eq!(on("previous-half-year", "2015-07-01").as_deref(), Some("2015S1"));
        assert_eq!(on("previous-half-year", "2015-03-01").as_deref(), Some("2014S2"));
        assert_eq!(on("current-year", "2015-12-31").as_deref(), Some("2015"));
        assert_eq!(on("previous-year", "2015-01-05").as_deref(), Some("2014"));
        assert_eq!(on("latest", "2015-01-05"), None);
        // Decree 09: month M runs from the 15th of M-1, so 20 December is in
        // January's month and December's report is the previous month.
        let decree = ReportingCalendar {
            cutoff_day: 15,
            due_days: 5,
        };
        let date = NaiveDate::from_ymd_opt(2015, 12, 20).unwrap();
        let rule = PeriodRule::PreviousMonth;
        assert_eq!(
            rule.period_on(date, &decree).map(|p| p.to_string()).as_deref(),
            Some("2015-12")
        );
        assert_eq!(
            PeriodRule::CurrentYear
                .period_on(date, &decree)
                .map(|p| p.to_string())
                .as_deref(),
            Some("2016")
        );
    }

    #[test]
    fn every_problem_of_the_schedules_is_reported_at_once_naming_its_entry() {
        let config = DaemonConfig {
            poll_seconds: 0,
            schedule: vec![
                entry("ingest", "0 */10 * * * *", "ingest", None),
                entry("monthly", "0 0 7 32 * *", "report", Some("previous-month")),
                entry("typo", "0 0 7 20 * *", "reprot", None),
                entry("rule", "0 0 8 6 * *", "remind", Some("last-month")),
                entry("ingest", "0 0 * * * *", "ingest", Some("previous-month")),
                entry("bare", "0 0 8 6 * *", "report", None),
            ],
            ..DaemonConfig::default()
        };
        let problems = plan(&config, HCM).unwrap_err();
        let all = problems.join("\n");
        assert!(all.contains("poll_seconds = 0"), "{all}");
        assert!(all.contains("#2 \"monthly\": cron \"0 0 7 32 * *\""), "{all}");
        assert!(all.contains("#3 \"typo\": action \"reprot\": unknown"), "{all}");
        assert!(
            all.contains("#4 \"rule\": period \"last-month\": not a period rule"),
            "{all}"
        );
        assert!(
            all.contains("#5 \"ingest\": another schedule has the same name"),
            "{all}"
        );
        assert!(
            all.contains("#5 \"ingest\": period applies to report and remind"),
            "{all}"
        );
        assert!(all.contains("#6 \"bare\": action report needs a period rule"), "{all}");
        assert_eq!(problems.len(), 7, "{all}");
    }

    #[test]
    fn the_default_configuration_plans_with_its_time_zone() {
        let plan = plan(&DaemonConfig::default(), HCM).unwrap();
        assert_eq!(plan.zone, HCM);
        assert!(plan.jobs.is_empty());
        let config = DaemonConfig {
            schedule: vec![entry("r", "0 0 7 20 * *", "report", Some("previous-month"))],
            ..DaemonConfig::default()
        };
        let plan = super::plan(&config, HCM).unwrap();
        assert_eq!(plan.jobs[0].action, Action::Report(PeriodRule::PreviousMonth));
    }
}
