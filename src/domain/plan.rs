//! The provincial plan the reports measure: its targets (ratios of return
//! lines) and its budget by task group and year, loaded from a TOML file.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::error::Error;

/// The Bắc Kạn 2011–2015 plan shipped with baocao.
pub const EMBEDDED_PLAN: &str = include_str!("../../templates/plans/bac-kan-2011-2015.toml");

/// How a ratio is judged against its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Comparison {
    /// Met when the ratio is at least the target.
    AtLeast,
    /// Met when the ratio is strictly above the target.
    Above,
    /// Shown, not judged.
    Monitor,
}

/// A plan target: `numerator / denominator` (in percent) against `target`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    pub id: String,
    pub label: String,
    pub numerator: String,
    pub denominator: String,
    #[serde(default)]
    pub target: Option<f64>,
    pub comparison: Comparison,
}

impl Target {
    /// Whether a ratio in percent meets the target; `None` when monitored only.
    pub fn is_met(&self, percent: f64) -> Option<bool> {
        match (self.comparison, self.target) {
            (Comparison::AtLeast, Some(t)) => Some(percent + 1e-9 >= t),
            (Comparison::Above, Some(t)) => Some(percent > t),
            _ => None,
        }
    }

    /// The verdict on a ratio `percent` whose numerator and denominator
    /// are complete or not. Blank parts only add to a figure, so an
    /// incomplete numerator can only raise the ratio and an incomplete
    /// denominator only lower it: a target already met with only the
    /// numerator incomplete stays met, one not met with only the
    /// denominator incomplete stays not met; otherwise the missing data
    /// could change the verdict.
    pub fn verdict(&self, percent: Option<f64>, numerator_complete: bool, denominator_complete: bool) -> Verdict {
        let complete = numerator_complete && denominator_complete;
        let Some(percent) = percent else {
            return if complete { Verdict::None } else { Verdict::Insufficient };
        };
        match self.is_met(percent) {
            None => Verdict::None,
            Some(true) if complete || denominator_complete => Verdict::Met,
            Some(false) if complete || numerator_complete => Verdict::NotMet,
            Some(_) => Verdict::Insufficient,
        }
    }
}

/// What a ratio says against its target, given what is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The target is met, and what is missing (if anything) cannot change that.
    Met,
    /// The target is not met, and what is missing cannot change that.
    NotMet,
    /// Data are missing that could change the verdict.
    Insufficient,
    /// Nothing to judge: a monitored ratio, or a zero denominator.
    None,
}

impl Verdict {
    /// The words printed in the report.
    pub fn vietnamese(self) -> &'static str {
        match self {
            Verdict::Met => "Đạt",
            Verdict::NotMet => "Chưa đạt",
            Verdict::Insufficient => "Chưa đủ số liệu",
            Verdict::None => "–",
        }
    }
}

/// One task group of the budget table, in million VND per year.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetGroup {
    pub group: u32,
    /// The return line reporting spending on this group (F05.k).
    pub line: String,
    pub label: String,
    by_year: BTreeMap<String, f64>,
}

impl BudgetGroup {
    /// Planned spending in `year`, if the plan covers it.
    pub fn planned(&self, year: i32) -> Option<f64> {
        self.by_year.get(&year.to_string()).copied()
    }

    /// Planned spending over the whole plan.
    pub fn total(&self) -> f64 {
        self.by_year.values().sum()
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct PlanHeader {
    name: String,
    decision: String,
    first_year: i32,
    last_year: i32,
}

/// The indicator that puts spending against the budget (P6 of form
/// 01/PCMD-H): its id, label and reference in percent.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetIndicator {
    pub id: String,
    pub label: String,
    pub target: f64,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct PlanFile {
    plan: PlanHeader,
    targets: Vec<Target>,
    budget_indicator: Option<BudgetIndicator>,
    budget: Vec<BudgetGroup>,
}

/// A provincial plan.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub name: String,
    pub decision: String,
    pub first_year: i32,
    pub last_year: i32,
    pub targets: Vec<Target>,
    /// How the budget table is named and judged (P6), if the plan says.
    pub budget_indicator: Option<BudgetIndicator>,
    pub budget: Vec<BudgetGroup>,
}

impl Plan {
    /// The plan embedded in the binary.
    ///
    /// # Errors
    /// Only if the embedded file were broken (a test guards it).
    pub fn embedded() -> Result<Plan, Error> {
        Plan::from_toml(EMBEDDED_PLAN, Path::new("<embedded bac-kan-2011-2015.toml>"))
    }

    /// Loads a plan file.
    ///
    /// # Errors
    /// [`Error::Io`] or [`Error::Plan`].
    pub fn load(path: &Path) -> Result<Plan, Error> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Plan::from_toml(&text, path)
    }

    /// Parses a plan; `origin` names it in errors.
    ///
    /// # Errors
    /// [`Error::Plan`] with the parser's message.
    pub fn from_toml(text: &str, origin: &Path) -> Result<Plan, Error> {
        let file: PlanFile = toml::from_str(text).map_err(|e| Error::Plan {
            path: origin.to_path_buf(),
            message: e.to_string(),
        })?;
        Ok(Plan {
            name: file.plan.name,
            decision: file.plan.decision,
            first_year: file.plan.first_year,
            last_year: file.plan.last_year,
            targets: file.targets,
            budget_indicator: file.budget_indicator,
            budget: file.budget,
        })
    }

    /// Whether `year` falls inside the plan period.
    pub fn covers(&self, year: i32) -> bool {
        (self.first_year..=self.last_year).contains(&year)
    }

    /// Planned spending of all groups in `year`.
    pub fn planned_total(&self, year: i32) -> f64 {
        self.budget.iter().filter_map(|g| g.planned(year)).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_budget_table_adds_up() {
        let plan = Plan::embedded().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(plan.budget.len(), 5);
        let totals: Vec<f64> = (2011..=2015).map(|y| plan.planned_total(y)).collect();
        assert_eq!(totals, vec![220.0, 580.0, 580.0, 600.0, 520.0]);
        let whole: f64 = plan.budget.iter().map(BudgetGroup::total).sum();
        assert_eq!(whole, 2500.0);
        assert_eq!(plan.budget[2].total(), 650.0);
        assert_eq!(
            plan.targets.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(),
            ["P1", "P2", "P3", "P4", "P5"]
        );
    }

    #[test]
    fn targets_judge_above_and_at_least() {
        let plan = Plan::embedded().unwrap_or_else(|e| panic!("{e}"));
        let p2 = &plan.targets[1];
        assert_eq!(p2.is_met(95.0), Some(false));
        assert_eq!(p2.is_met(95.5), Some(true));
        assert_eq!(plan.targets[0].is_met(100.0), Some(true));
        assert_eq!(plan.targets[4].is_met(10.0), None);
    }

    #[test]
    fn a_verdict_on_incomplete_parts_says_not_enough_data_unless_the_missing_part_cannot_change_it() {
        let plan = Plan::embedded().unwrap_or_else(|e| panic!("{e}"));
        let p3 = &plan.targets[2]; // at least 100 %
        assert_eq!(p3.verdict(Some(50.0), true, true), Verdict::NotMet);
        assert_eq!(
            p3.verdict(Some(50.0), false, true),
            Verdict::Insufficient,
            "the numerator may grow"
        );
        assert_eq!(
            p3.verdict(Some(50.0), true, false),
            Verdict::NotMet,
            "a larger denominator only lowers it"
        );
        assert_eq!(
            p3.verdict(Some(100.0), false, true),
            Verdict::Met,
            "a larger numerator only raises it"
        );
        assert_eq!(p3.verdict(Some(100.0), true, false), Verdict::Insufficient);
        assert_eq!(p3.verdict(Some(100.0), false, false), Verdict::Insufficient);
        assert_eq!(p3.verdict(None, true, true), Verdict::None);
        assert_eq!(p3.verdict(None, false, true), Verdict::Insufficient);
        assert_eq!(plan.targets[4].verdict(Some(10.0), false, false), Verdict::None);
        assert_eq!(Verdict::Insufficient.vietnamese(), "Chưa đủ số liệu");
        let p6 = plan.budget_indicator.as_ref().map(|b| (b.id.as_str(), b.target));
        assert_eq!(p6, Some(("P6", 100.0)));
    }
}
