//! The consolidated provincial report (form 01/PCMD-T): the stored returns
//! consolidated with Polars ([`consolidate`]), who reported and when
//! ([`completeness`]), and the workbook for the ministry ([`workbook`]).

pub mod completeness;
pub mod consolidate;
pub mod export;
pub mod territory;
pub mod workbook;

use std::fmt;
use std::path::{Path, PathBuf};

use crate::config::Settings;
use crate::domain::plan::{Target, Verdict};
use crate::domain::{Form, Line, Period, PeriodKind, Unit};
use crate::error::Error;
use crate::findings::Finding;
use crate::store::{Status, Store, StoredFlag, Submission};

use completeness::{month_statuses, rates, MonthStatus, Rates};
use consolidate::{consolidate, ratio, Figure, Figures, Ratio, Roster, StoredFrame, StoredRows};
use territory::{in_former_territory, TerritoryChange, TerritoryReport};

/// What writing a report did.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportSummary {
    /// The workbook written.
    pub path: PathBuf,
    pub period: Period,
    /// Units expected in some month of the period, and those with a current
    /// accepted return for every month they were expected.
    pub units_expected: usize,
    pub units_complete: usize,
    /// Lines whose province figure for the period is incomplete.
    pub incomplete_lines: Vec<String>,
}

impl fmt::Display for ReportSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} units expected, {} with every return",
            self.path.display(),
            self.units_expected,
            self.units_complete
        )?;
        match self.incomplete_lines.len() {
            0 => write!(f, "; every province figure complete"),
            n => write!(
                f,
                "; {n} province figures incomplete ({}{})",
                self.incomplete_lines
                    .iter()
                    .take(8)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", "),
                if n > 8 { ", …" } else { "" }
            ),
        }
    }
}

/// A plan target with the ratio it measures and the verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanRatio {
    pub target: Target,
    pub ratio: Ratio,
    pub verdict: Verdict,
}

/// Spending of one task group against the plan.
#[derive(Debug, Clone, PartialEq)]
pub struct BudgetRow {
    pub group: u32,
    pub label: String,
    pub line: String,
    /// Planned for the period's year (None when the plan does not cover it).
    pub planned_year: Option<f64>,
    /// Spent from January to the period's last month.
    pub spent_year: Figure,
    /// Planned from the plan's first year to the period's year (or the whole plan).
    pub planned_cumulative: f64,
    /// Spent over the same years, to the period's last month.
    pub spent_cumulative: Figure,
}

/// Month → province figure of each [`TREND_LINES`] line.
pub type Trend = Vec<(Period, Vec<Figure>)>;

/// The key flows of the trend chart: inspections, violations, people supported.
pub const TREND_LINES: [&str; 3] = ["B01", "B03", "C01"];

/// Everything the workbook shows, computed once.
#[derive(Debug, Clone)]
pub struct ReportData<'a> {
    pub settings: &'a Settings,
    pub form: &'a Form,
    pub period: Period,
    /// The units that reported in some month of the period (the register
    /// decides, month by month), named as in the last month they reported.
    pub units: Vec<Unit>,
    pub current: Figures,
    pub year_to_date: Figures,
    pub last_year: Figures,
    pub statuses: Vec<MonthStatus>,
    pub rates: Rates,
    pub ratios: Vec<PlanRatio>,
    pub budget: Vec<BudgetRow>,
    /// Unit code → the commune flags of its current return for the last month.
    pub communes: Vec<(String, Vec<StoredFlag>)>,
    pub warnings: Vec<(Submission, Finding)>,
    pub sources: Vec<Submission>,
    /// Month → province figure of each [`TREND_LINES`] line (12 months to the period).
    pub trend: Trend,
    /// Set when the trend's months cross a change of province: the trend is
    /// then the former territory's.
    pub trend_change: Option<TerritoryChange>,
    /// Set when the period or its comparison crosses a change of province.
    pub territory: Option<TerritoryReport>,
}

/// The default path of a report: `reports/<period>/BaoCao_01PCMD-T_<period>.xlsx`.
pub fn default_path(settings: &Settings, period: Period) -> PathBuf {
    settings
        .paths
        .reports
        .join(period.to_string())
        .join(format!("BaoCao_01PCMD-T_{period}.xlsx"))
}

/// The reporting units of every month from `first` to `last`: a figure
/// counts each unit for the months it reported in.
pub fn roster(settings: &Settings, first: Period, last: Period) -> Roster {
    roster_where(settings, first, last, |_, _| true)
}

/// [`roster`] keeping only the units and months `keep` accepts.
pub fn roster_where(settings: &Settings, first: Period, last: Period, keep: impl Fn(&Unit, Period) -> bool) -> Roster {
    let months = (0..=(last.month_ordinal() - first.month_ordinal()))
        .map(|n| first.add_months(n))
        .map(|month| {
            let units = completeness::expected_units(settings, month)
                .into_iter()
                .filter(|u| keep(u, month))
                .collect();
            (month, units)
        })
        .collect();
    Roster::new(months)
}

/// Computes everything a report of `period` shows.
///
/// Everything is read in one transaction, so one snapshot of the store: a
/// pass committing meanwhile cannot make the figures and the completeness
/// or the sources disagree (the later half of the stored values is read on
/// a second connection: the values of submissions this snapshot lists,
/// which never change, see [`StoredRows::load`]). The figures are
/// consolidated on other threads while this one reads who reported.
///
/// # Errors
/// [`Error::Database`], or a consolidation error.
pub fn report_data<'a>(settings: &'a Settings, store: &Store, period: Period) -> Result<ReportData<'a>, Error> {
    let form = settings.current_form();
    let plan = &settings.plan;
    let windows = Windows::of(settings, period);
    let (figures, returns) = store.in_transaction(|store| {
        let stored = StoredRows::load(store, windows.load_from, period.last_month(), form.lines.len())?;
        std::thread::scope(|scope| {
            // The frame is sorted and the windows consolidated while the
            // store is asked about the period's returns.
            let figures = scope.spawn(|| windows.consolidate(settings, &stored.into_frame()?, period));
            let returns = PeriodReturns::read(settings, store, period);
            let figures = figures.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            Ok((figures?, returns?))
        })
    })?;

    let mut ratios = Vec::new();
    for target in &plan.targets {
        let ratio = ratio(&figures.current, &target.numerator, &target.denominator)?;
        let verdict = target.verdict(ratio.province, ratio.numerator_complete, ratio.denominator_complete);
        ratios.push(PlanRatio {
            target: target.clone(),
            ratio,
            verdict,
        });
    }
    let budget = plan
        .budget
        .iter()
        .map(|group| BudgetRow {
            group: group.group,
            label: group.label.clone(),
            line: group.line.clone(),
            planned_year: group.planned(period.year()),
            spent_year: figures.year_to_date.province_of(&group.line).unwrap_or(Figure::UNKNOWN),
            planned_cumulative: (plan.first_year..=plan.last_year.min(period.year()))
                .filter_map(|y| group.planned(y))
                .sum(),
            spent_cumulative: figures
                .cumulative
                .as_ref()
                .and_then(|c| c.province_of(&group.line))
                .unwrap_or(Figure::UNKNOWN),
        })
        .collect();
    let rates = rates(&returns.statuses);
    Ok(ReportData {
        settings,
        form,
        period,
        units: windows.this.units().to_vec(),
        current: figures.current,
        year_to_date: figures.year_to_date,
        last_year: figures.last_year,
        statuses: returns.statuses,
        rates,
        ratios,
        budget,
        communes: returns.communes,
        warnings: returns.warnings,
        sources: returns.sources,
        trend: figures.trend,
        trend_change: windows.trend_change,
        territory: figures.territory,
    })
}

/// The windows of months a report consolidates, each with its roster.
struct Windows {
    /// The period itself, the year to its end, and the same period last year.
    this: Roster,
    year_to_date: Roster,
    last_year: Roster,
    /// From the plan's first month to the period's end (or the plan's),
    /// when the plan has begun.
    plan: Option<Roster>,
    /// The twelve months to the period's end, one by one: across a change of
    /// province, the former territory's units only (the whole province
    /// would jump with the new part).
    trend: Vec<(Period, Roster)>,
    trend_change: Option<TerritoryChange>,
    /// The first month any window needs.
    load_from: Period,
}

/// The consolidated figures of each of [`Windows`].
struct PeriodFigures {
    current: Figures,
    year_to_date: Figures,
    last_year: Figures,
    territory: Option<TerritoryReport>,
    cumulative: Option<Figures>,
    trend: Trend,
}

impl Windows {
    fn of(settings: &Settings, period: Period) -> Windows {
        let plan = &settings.plan;
        let last = period.last_month();
        let trend_start = last.add_months(-11);
        let plan_start = Period::month(plan.first_year, 1);
        let plan_end = if period.year() > plan.last_year {
            Period::month(plan.last_year, 12)
        } else {
            last
        };
        let last_year = period.same_period_last_year();
        let trend_change = TerritoryChange::between(settings, trend_start, last);
        let trend = (0..12)
            .map(|n| {
                let month = trend_start.add_months(n);
                let month_roster = match &trend_change {
                    Some(_) => roster_where(settings, month, month, |u, m| in_former_territory(settings, u, m)),
                    None => roster(settings, month, month),
                };
                (month, month_roster)
            })
            .collect();
        let year_start = period.first_month_of_year();
        let load_from = [trend_start, last_year.first_month(), year_start, plan_start]
            .into_iter()
            .min()
            .unwrap_or(trend_start);
        Windows {
            this: roster(settings, period.first_month(), last),
            year_to_date: roster(settings, year_start, last),
            last_year: roster(settings, last_year.first_month(), last_year.last_month()),
            plan: (plan_start <= plan_end).then(|| roster(settings, plan_start, plan_end)),
            trend,
            trend_change,
            load_from,
        }
    }

    /// Every window's figures. Each is one Polars query over the same frame;
    /// they are independent, so they run side by side. A year's period and
    /// its year to date are the same window, consolidated once.
    fn consolidate(&self, settings: &Settings, stored: &StoredFrame, period: Period) -> Result<PeriodFigures, Error> {
        let form = settings.current_form();
        let lines: Vec<&Line> = form.lines.iter().collect();
        let budget_lines: Vec<&Line> = settings.plan.budget.iter().filter_map(|g| form.line(&g.line)).collect();
        let trend_lines: Vec<&Line> = TREND_LINES.iter().filter_map(|code| form.line(code)).collect();
        let this_year = || -> Result<(Figures, Figures), Error> {
            let current = consolidate(stored, &lines, &self.this)?;
            let year_to_date = if self.year_to_date == self.this {
                current.clone()
            } else {
                consolidate(stored, &lines, &self.year_to_date)?
            };
            Ok((current, year_to_date))
        };
        // A change of province between last year and the period's end: the
        // former territory's figures beside the whole province's, whose
        // flows over months before the change lack the rest of the new
        // province.
        let comparisons = || -> Result<(Figures, Option<TerritoryReport>), Error> {
            Ok((
                consolidate(stored, &lines, &self.last_year)?,
                TerritoryReport::compute(settings, stored, &lines, period)?,
            ))
        };
        let plan_and_trend = || -> Result<(Option<Figures>, Trend), Error> {
            let cumulative = match &self.plan {
                Some(r) => Some(consolidate(stored, &budget_lines, r)?),
                None => None,
            };
            let trend = self
                .trend
                .iter()
                .map(|(month, r)| Ok((*month, consolidate(stored, &trend_lines, r)?.province)))
                .collect::<Result<_, Error>>()?;
            Ok((cumulative, trend))
        };
        let (this_year, (comparisons, plan_and_trend)) =
            rayon::join(this_year, || rayon::join(comparisons, plan_and_trend));
        let ((mut current, mut year_to_date), (last_year, territory), (cumulative, trend)) =
            (this_year?, comparisons?, plan_and_trend?);
        if let Some(t) = &territory {
            t.mark_whole_province(&lines, &mut current, &mut year_to_date);
        }
        Ok(PeriodFigures {
            current,
            year_to_date,
            last_year,
            territory,
            cumulative,
            trend,
        })
    }
}

/// Who reported in a period: each unit's status for each month, the
/// current returns used (the sources), their warnings, and the commune
/// flags of the last month's returns.
struct PeriodReturns {
    statuses: Vec<MonthStatus>,
    sources: Vec<Submission>,
    warnings: Vec<(Submission, Finding)>,
    communes: Vec<(String, Vec<StoredFlag>)>,
}

impl PeriodReturns {
    fn read(settings: &Settings, store: &Store, period: Period) -> Result<PeriodReturns, Error> {
        let statuses = month_statuses(settings, store, period)?;
        let mut sources: Vec<Submission> = statuses.iter().filter_map(|s| s.current.clone()).collect();
        sources.sort_by(|a, b| (&a.unit_code, &a.period).cmp(&(&b.unit_code, &b.period)));
        let mut warnings = Vec::new();
        for source in &sources {
            if source.status == Status::Warnings {
                for finding in store.findings_of(source.id)? {
                    warnings.push((source.clone(), finding));
                }
            }
        }
        let mut communes = Vec::new();
        for status in statuses.iter().filter(|s| s.month == period.last_month()) {
            let flags = match &status.current {
                Some(s) => store.flags_of(s.id)?,
                None => Vec::new(),
            };
            communes.push((status.unit_code.clone(), flags));
        }
        Ok(PeriodReturns {
            statuses,
            sources,
            warnings,
            communes,
        })
    }
}

/// Writes the consolidated workbook for `period` to `out` or to
/// [`default_path`], via a temporary file renamed into place.
///
/// # Errors
/// [`Error::Database`], [`Error::Workbook`], [`Error::Io`].
pub fn write_report(settings: &Settings, period: Period, out: Option<&Path>) -> Result<ReportSummary, Error> {
    let store = Store::open(&settings.paths.database)?;
    let data = report_data(settings, &store, period)?;
    let path = out.map_or_else(|| default_path(settings, period), Path::to_path_buf);
    workbook::write(&path, &data)?;
    // A unit is complete when none of its months lacks a return (one pass
    // over the statuses: a national year's 705 units each looked through
    // 8,460 of them).
    let lacking: std::collections::HashSet<&str> = data
        .statuses
        .iter()
        .filter(|s| !s.is_received())
        .map(|s| s.unit_code.as_str())
        .collect();
    let units_complete = data.units.iter().filter(|u| !lacking.contains(u.code.as_str())).count();
    let incomplete_lines = data
        .current
        .lines
        .iter()
        .zip(&data.current.province)
        .filter(|(_, f)| f.applies && !f.complete)
        .map(|(line, _)| line.clone())
        .collect();
    Ok(ReportSummary {
        path,
        period,
        units_expected: data.units.len(),
        units_complete,
        incomplete_lines,
    })
}

/// The latest month that has at least one accepted return, if any.
///
/// # Errors
/// [`Error::Database`].
pub fn latest_period_with_returns(settings: &Settings) -> Result<Option<Period>, Error> {
    let store = Store::open(&settings.paths.database)?;
    Ok(store
        .latest_accepted_period()?
        .filter(|p| p.kind() == PeriodKind::Month))
}
