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
use crate::domain::{Form, Period, PeriodKind, Unit};
use crate::error::Error;
use crate::findings::Finding;
use crate::store::{Status, Store, StoredFlag, Submission};

use completeness::{month_statuses, rates, MonthStatus, Rates};
use consolidate::{consolidate, ratio, Figure, Figures, Ratio, Roster, StoredFrame};
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
    pub trend: Vec<(Period, Vec<Figure>)>,
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
/// # Errors
/// [`Error::Database`], or a consolidation error.
pub fn report_data<'a>(settings: &'a Settings, store: &Store, period: Period) -> Result<ReportData<'a>, Error> {
    let form = settings.current_form();
    let lines: Vec<&crate::domain::Line> = form.lines.iter().collect();
    let plan = &settings.plan;

    let last = period.last_month();
    let year_start = period.first_month_of_year();
    let last_year = period.same_period_last_year();
    let trend_start = last.add_months(-11);
    let plan_start = Period::month(plan.first_year, 1);
    let plan_end = if period.year() > plan.last_year {
        Period::month(plan.last_year, 12)
    } else {
        last
    };
    let load_from = [trend_start, last_year.first_month(), year_start, plan_start]
        .into_iter()
        .min()
        .unwrap_or(trend_start);
    let stored = StoredFrame::load(store, load_from, last)?;

    let this_roster = roster(settings, period.first_month(), last);
    let current = consolidate(&stored, &lines, &this_roster)?;
    let year_to_date = consolidate(&stored, &lines, &roster(settings, year_start, last))?;
    let last_year_figures = consolidate(
        &stored,
        &lines,
        &roster(settings, last_year.first_month(), last_year.last_month()),
    )?;

    // A change of province between last year and the period's end: the
    // former territory's figures beside the whole province's, whose flows
    // over months before the change lack the rest of the new province.
    let territory = TerritoryReport::compute(settings, &stored, &lines, period)?;
    let mut current = current;
    let mut year_to_date = year_to_date;
    if let Some(t) = &territory {
        t.mark_whole_province(&lines, &mut current, &mut year_to_date);
    }

    let mut ratios = Vec::new();
    for target in &plan.targets {
        let ratio = ratio(&current, &target.numerator, &target.denominator)?;
        let verdict = target.verdict(ratio.province, ratio.numerator_complete, ratio.denominator_complete);
        ratios.push(PlanRatio {
            target: target.clone(),
            ratio,
            verdict,
        });
    }
    let budget_lines: Vec<&crate::domain::Line> = plan.budget.iter().filter_map(|g| form.line(&g.line)).collect();
    let cumulative = if plan_start <= plan_end {
        Some(consolidate(
            &stored,
            &budget_lines,
            &roster(settings, plan_start, plan_end),
        )?)
    } else {
        None
    };
    let budget = plan
        .budget
        .iter()
        .map(|group| BudgetRow {
            group: group.group,
            label: group.label.clone(),
            line: group.line.clone(),
            planned_year: group.planned(period.year()),
            spent_year: year_to_date.province_of(&group.line).unwrap_or(Figure::UNKNOWN),
            planned_cumulative: (plan.first_year..=plan.last_year.min(period.year()))
                .filter_map(|y| group.planned(y))
                .sum(),
            spent_cumulative: cumulative
                .as_ref()
                .and_then(|c| c.province_of(&group.line))
                .unwrap_or(Figure::UNKNOWN),
        })
        .collect();

    // Twelve months on the same ground: across a change of province, the
    // former territory (the whole province would jump with the new part).
    let trend_lines: Vec<&crate::domain::Line> = TREND_LINES.iter().filter_map(|code| form.line(code)).collect();
    let trend_change = TerritoryChange::between(settings, trend_start, last);
    let mut trend = Vec::new();
    for n in 0..12 {
        let month = trend_start.add_months(n);
        let month_roster = match &trend_change {
            Some(_) => roster_where(settings, month, month, |u, m| in_former_territory(settings, u, m)),
            None => roster(settings, month, month),
        };
        let figures = consolidate(&stored, &trend_lines, &month_roster)?;
        trend.push((month, figures.province));
    }

    let statuses = month_statuses(settings, store, period)?;
    let rates = rates(&statuses);
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
    for status in statuses.iter().filter(|s| s.month == last) {
        let flags = match &status.current {
            Some(s) => store.flags_of(s.id)?,
            None => Vec::new(),
        };
        communes.push((status.unit_code.clone(), flags));
    }
    Ok(ReportData {
        settings,
        form,
        period,
        units: this_roster.units().to_vec(),
        current,
        year_to_date,
        last_year: last_year_figures,
        statuses,
        rates,
        ratios,
        budget,
        communes,
        warnings,
        sources,
        trend,
        trend_change,
        territory,
    })
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
    let units_complete = data
        .units
        .iter()
        .filter(|u| {
            data.statuses
                .iter()
                .filter(|s| s.unit_code == u.code)
                .all(MonthStatus::is_received)
        })
        .count();
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
