//! The consolidated provincial report (form 01/PCMD-T): the stored returns
//! consolidated with Polars ([`consolidate`]), who reported and when
//! ([`completeness`]), and the workbook for the ministry ([`workbook`]).

pub mod completeness;
pub mod consolidate;
pub mod export;
pub mod workbook;

use std::path::{Path, PathBuf};

use crate::config::Settings;
use crate::domain::plan::Target;
use crate::domain::{Form, Period, PeriodKind, Unit};
use crate::error::Error;
use crate::findings::Finding;
use crate::store::{Status, Store, StoredFlag, Submission};

use completeness::{month_statuses, rates, MonthStatus, Rates};
use consolidate::{consolidate, ratio, Figure, Figures, Ratio, StoredFrame};

/// What writing a report did.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportSummary {
    /// The workbook written.
    pub path: PathBuf,
    pub period: Period,
    /// Units expected and units with a current accepted return for every month.
    pub units_expected: usize,
    pub units_complete: usize,
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
pub const TREND_LINES: [(&str, &str); 3] = [
    ("B01", "Số cuộc kiểm tra liên ngành"),
    ("B03", "Số cơ sở vi phạm"),
    ("C01", "Số lượt người bán dâm được tư vấn, hỗ trợ"),
];

/// Everything the workbook shows, computed once.
#[derive(Debug, Clone)]
pub struct ReportData<'a> {
    pub settings: &'a Settings,
    pub form: &'a Form,
    pub period: Period,
    /// Districts valid at the period's end, by code, with their names then.
    pub units: Vec<Unit>,
    pub current: Figures,
    pub year_to_date: Figures,
    pub last_year: Figures,
    pub statuses: Vec<MonthStatus>,
    pub rates: Rates,
    pub ratios: Vec<(Target, Ratio)>,
    pub budget: Vec<BudgetRow>,
    /// Unit code → the commune flags of its current return for the last month.
    pub communes: Vec<(String, Vec<StoredFlag>)>,
    pub warnings: Vec<(Submission, Finding)>,
    pub sources: Vec<Submission>,
    /// Month → province value of each [`TREND_LINES`] line (12 months to the period).
    pub trend: Vec<(Period, Vec<Option<f64>>)>,
}

/// The default path of a report: `reports/<period>/BaoCao_01PCMD-T_<period>.xlsx`.
pub fn default_path(settings: &Settings, period: Period) -> PathBuf {
    settings
        .paths
        .reports
        .join(period.to_string())
        .join(format!("BaoCao_01PCMD-T_{period}.xlsx"))
}

/// Computes everything a report of `period` shows.
///
/// # Errors
/// [`Error::Database`], or a consolidation error.
pub fn report_data<'a>(settings: &'a Settings, store: &Store, period: Period) -> Result<ReportData<'a>, Error> {
    let form = settings.current_form();
    let units: Vec<Unit> = completeness::expected_units(settings, period.last_month());
    let codes: Vec<String> = units.iter().map(|u| u.code.clone()).collect();
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
    let load_from = [
        trend_start,
        last_year.first_month(),
        year_start.add_months(-12),
        plan_start,
    ]
    .into_iter()
    .min()
    .unwrap_or(trend_start);
    let stored = StoredFrame::load(store, load_from, last)?;

    let current = consolidate(&stored, form, &codes, period.first_month(), last)?;
    let year_to_date = consolidate(&stored, form, &codes, year_start, last)?;
    let last_year_figures = consolidate(&stored, form, &codes, last_year.first_month(), last_year.last_month())?;

    let mut ratios = Vec::new();
    for target in &plan.targets {
        ratios.push((target.clone(), ratio(&current, &target.numerator, &target.denominator)?));
    }
    let cumulative = if plan_start <= plan_end {
        Some(consolidate(&stored, form, &codes, plan_start, plan_end)?)
    } else {
        None
    };
    let missing = Figure {
        value: None,
        complete: false,
    };
    let budget = plan
        .budget
        .iter()
        .map(|group| BudgetRow {
            group: group.group,
            label: group.label.clone(),
            line: group.line.clone(),
            planned_year: group.planned(period.year()),
            spent_year: year_to_date.province_of(&group.line).unwrap_or(missing),
            planned_cumulative: (plan.first_year..=plan.last_year.min(period.year()))
                .filter_map(|y| group.planned(y))
                .sum(),
            spent_cumulative: cumulative
                .as_ref()
                .and_then(|c| c.province_of(&group.line))
                .unwrap_or(missing),
        })
        .collect();

    let trend_lines: Vec<&str> = TREND_LINES.iter().map(|(line, _)| *line).collect();
    let trend = stored.monthly_province(&trend_lines, trend_start, last)?;

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
        units,
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
    Ok(ReportSummary {
        path,
        period,
        units_expected: data.units.len(),
        units_complete,
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
