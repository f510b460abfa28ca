//! Consolidation with Polars over the current (accepted, not superseded)
//! stored values: for any window of months, each unit's figure per line —
//! flows (`sum`) add their months, stocks (`last`) take the window's last
//! month — and the province as the sum of its units. Blank is not zero: a
//! unit missing a month, or a blank line, makes the figure *incomplete*
//! (the known part is still shown, flagged), never silently filled. Ratios
//! are recomputed from aggregated numerators and denominators.
//!
//! Polars does the arithmetic; Rust only moves the results into the layout
//! of the workbook.

use std::collections::HashMap;

use polars::prelude::*;

use crate::domain::{Agg, Form, Period};
use crate::error::Error;
use crate::store::Store;

fn polars_error(e: PolarsError) -> Error {
    Error::Consolidation(Box::new(e))
}

/// The stored values of some months, one row per (unit, month, line), with
/// units and lines as small integer ids (joins and groupings on integers are
/// what keeps a 700-district year fast).
#[derive(Debug, Clone)]
pub struct StoredFrame {
    frame: DataFrame,
    unit_ids: HashMap<String, u32>,
    line_ids: HashMap<String, u32>,
}

/// Interns `text`, returning its id.
fn intern(ids: &mut HashMap<String, u32>, text: &str) -> u32 {
    if let Some(&id) = ids.get(text) {
        return id;
    }
    let id = ids.len() as u32;
    ids.insert(text.to_string(), id);
    id
}

impl StoredFrame {
    /// Loads the current values of every unit for the months from `first`
    /// to `last` (inclusive).
    ///
    /// # Errors
    /// [`Error::Database`], or a Polars error.
    pub fn load(store: &Store, first: Period, last: Period) -> Result<StoredFrame, Error> {
        let rows = store.current_values_between(first, last)?;
        let mut unit_ids = HashMap::new();
        let mut line_ids = HashMap::new();
        let mut units = Vec::with_capacity(rows.len());
        let mut months = Vec::with_capacity(rows.len());
        let mut lines = Vec::with_capacity(rows.len());
        let mut values = Vec::with_capacity(rows.len());
        let mut last_period = (String::new(), 0i32);
        for row in rows {
            if row.period != last_period.0 {
                let Ok(period) = Period::parse(&row.period) else {
                    continue;
                };
                last_period = (row.period.clone(), period.month_ordinal() as i32);
            }
            units.push(intern(&mut unit_ids, &row.unit));
            months.push(last_period.1);
            lines.push(intern(&mut line_ids, &row.line));
            values.push(row.value);
        }
        StoredFrame::build(units, months, lines, values, unit_ids, line_ids)
    }

    fn build(
        units: Vec<u32>,
        months: Vec<i32>,
        lines: Vec<u32>,
        values: Vec<Option<f64>>,
        unit_ids: HashMap<String, u32>,
        line_ids: HashMap<String, u32>,
    ) -> Result<StoredFrame, Error> {
        let frame = DataFrame::new_infer_height(vec![
            Column::new("unit".into(), units),
            Column::new("month".into(), months),
            Column::new("line".into(), lines),
            Column::new("value".into(), values),
        ])
        .map_err(polars_error)?;
        Ok(StoredFrame {
            frame,
            unit_ids,
            line_ids,
        })
    }

    /// Builds a frame from rows (tests).
    ///
    /// # Errors
    /// A Polars error.
    pub fn from_rows(rows: &[(&str, Period, &str, Option<f64>)]) -> Result<StoredFrame, Error> {
        let mut unit_ids = HashMap::new();
        let mut line_ids = HashMap::new();
        let units = rows.iter().map(|r| intern(&mut unit_ids, r.0)).collect();
        let lines = rows.iter().map(|r| intern(&mut line_ids, r.2)).collect();
        StoredFrame::build(
            units,
            rows.iter().map(|r| r.1.month_ordinal() as i32).collect(),
            lines,
            rows.iter().map(|r| r.3).collect(),
            unit_ids,
            line_ids,
        )
    }

    /// Ids for `codes`; codes the frame has never seen get ids of their own
    /// (they match no stored row).
    fn ids(known: &HashMap<String, u32>, codes: &[String]) -> Vec<u32> {
        let mut next = known.len() as u32;
        codes
            .iter()
            .map(|c| {
                known.get(c).copied().unwrap_or_else(|| {
                    next += 1;
                    next - 1
                })
            })
            .collect()
    }

    /// The province total of each of `lines` for every month from `first`
    /// to `last`: month → values in the order of `lines` (`None` when no
    /// unit reported it).
    ///
    /// # Errors
    /// A Polars error.
    pub fn monthly_province(&self, lines: &[&str], first: Period, last: Period) -> Result<MonthlyTotals, Error> {
        let codes: Vec<String> = lines.iter().map(|s| (*s).to_string()).collect();
        let ids = StoredFrame::ids(&self.line_ids, &codes);
        let (first_m, last_m) = (first.month_ordinal() as i32, last.month_ordinal() as i32);
        let wanted = ids.iter().fold(lit(false), |acc, id| acc.or(col("line").eq(lit(*id))));
        let sums = self
            .frame
            .clone()
            .lazy()
            .filter(
                col("month")
                    .gt_eq(lit(first_m))
                    .and(col("month").lt_eq(lit(last_m)))
                    .and(wanted),
            )
            .group_by([col("month"), col("line")])
            .agg([col("value").sum().alias("sum"), col("value").count().alias("reported")])
            .collect()
            .map_err(polars_error)?;
        let month = sums
            .column("month")
            .and_then(|c| c.i32().cloned())
            .map_err(polars_error)?;
        let line = sums
            .column("line")
            .and_then(|c| c.u32().cloned())
            .map_err(polars_error)?;
        let sum = sums
            .column("sum")
            .and_then(|c| c.f64().cloned())
            .map_err(polars_error)?;
        let reported = sums
            .column("reported")
            .and_then(|c| c.cast(&DataType::UInt32))
            .map_err(polars_error)?;
        let reported = reported.u32().cloned().map_err(polars_error)?;
        let mut out: Vec<(Period, Vec<Option<f64>>)> = (first_m..=last_m)
            .map(|m| (first.add_months(i64::from(m - first_m)), vec![None; lines.len()]))
            .collect();
        for (((m, l), s), n) in month.iter().zip(line.iter()).zip(sum.iter()).zip(reported.iter()) {
            let (Some(m), Some(l)) = (m, l) else { continue };
            let (Some(slot), Some(k)) = (out.get_mut((m - first_m) as usize), ids.iter().position(|id| *id == l))
            else {
                continue;
            };
            if n.unwrap_or(0) > 0 {
                slot.1[k] = s;
            }
        }
        Ok(out)
    }
}

/// Month → province totals of some lines, in the order asked.
pub type MonthlyTotals = Vec<(Period, Vec<Option<f64>>)>;

/// One figure: the value (the known part when incomplete) and whether every
/// month and cell it needs was reported.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Figure {
    pub value: Option<f64>,
    pub complete: bool,
}

/// Every line × unit figure of one window, and the province.
#[derive(Debug, Clone, PartialEq)]
pub struct Figures {
    pub units: Vec<String>,
    pub lines: Vec<String>,
    /// Line-major: `cells[line * units.len() + unit]`.
    cells: Vec<Figure>,
    pub province: Vec<Figure>,
}

impl Figures {
    /// The figure of line `line` (index) for unit `unit` (index).
    pub fn unit(&self, line: usize, unit: usize) -> Figure {
        self.cells[line * self.units.len() + unit]
    }

    /// The figure of a line code for a unit code.
    pub fn get(&self, line: &str, unit: &str) -> Option<Figure> {
        let l = self.lines.iter().position(|x| x == line)?;
        let u = self.units.iter().position(|x| x == unit)?;
        Some(self.unit(l, u))
    }

    /// The province figure of a line code.
    pub fn province_of(&self, line: &str) -> Option<Figure> {
        let l = self.lines.iter().position(|x| x == line)?;
        Some(self.province[l])
    }
}

/// The figures of `units` for the months `first..=last`.
///
/// # Errors
/// A Polars error.
pub fn consolidate(
    stored: &StoredFrame,
    form: &Form,
    units: &[String],
    first: Period,
    last: Period,
) -> Result<Figures, Error> {
    let (first_m, last_m) = (first.month_ordinal() as i32, last.last_month().month_ordinal() as i32);
    let months = (last_m - first_m + 1).max(0) as u32;
    let lines: Vec<String> = form.lines.iter().map(|l| l.code.clone()).collect();
    let flows: Vec<bool> = form.lines.iter().map(|l| l.agg == Agg::Sum).collect();

    // Every (unit, line) expected, so a unit that sent nothing still shows.
    let unit_ids = StoredFrame::ids(&stored.unit_ids, units);
    let line_ids = StoredFrame::ids(&stored.line_ids, &lines);
    let n = units.len() * lines.len();
    let mut grid_unit = Vec::with_capacity(n);
    let mut grid_line = Vec::with_capacity(n);
    let mut grid_agg = Vec::with_capacity(n);
    let mut grid_order = Vec::with_capacity(n);
    for (l, line_id) in line_ids.iter().enumerate() {
        for (u, unit_id) in unit_ids.iter().enumerate() {
            grid_unit.push(*unit_id);
            grid_line.push(*line_id);
            grid_agg.push(flows[l]);
            grid_order.push((l * units.len() + u) as u32);
        }
    }
    let grid = DataFrame::new_infer_height(vec![
        Column::new("unit".into(), grid_unit),
        Column::new("line".into(), grid_line),
        Column::new("agg".into(), grid_agg),
        Column::new("order".into(), grid_order),
    ])
    .map_err(polars_error)?;

    let per_unit = stored
        .frame
        .clone()
        .lazy()
        .filter(col("month").gt_eq(lit(first_m)).and(col("month").lt_eq(lit(last_m))))
        .group_by([col("unit"), col("line")])
        .agg([
            col("value").sum().alias("sum"),
            col("value").null_count().alias("nulls"),
            len().alias("months"),
            col("value")
                .sort_by([col("month")], SortMultipleOptions::default())
                .last()
                .alias("last_value"),
            col("month").max().alias("last_month"),
        ]);
    let figures = grid
        .lazy()
        .join(
            per_unit,
            [col("unit"), col("line")],
            [col("unit"), col("line")],
            JoinArgs::new(JoinType::Left),
        )
        .with_columns([
            col("months")
                .fill_null(lit(0u32))
                .cast(DataType::UInt32)
                .alias("months"),
            col("nulls").fill_null(lit(0u32)).cast(DataType::UInt32).alias("nulls"),
            col("last_month").fill_null(lit(-1i32)).alias("last_month"),
        ])
        .with_columns([
            when(col("agg"))
                .then(
                    when(col("months").gt(lit(0u32)))
                        .then(col("sum"))
                        .otherwise(lit(NULL).cast(DataType::Float64)),
                )
                .otherwise(
                    when(col("last_month").eq(lit(last_m)))
                        .then(col("last_value"))
                        .otherwise(lit(NULL).cast(DataType::Float64)),
                )
                .alias("v"),
            when(col("agg"))
                .then(col("months").eq(lit(months)).and(col("nulls").eq(lit(0u32))))
                .otherwise(col("last_month").eq(lit(last_m)).and(col("last_value").is_not_null()))
                .alias("complete"),
        ])
        .sort(["order"], SortMultipleOptions::default())
        .select([col("line"), col("v"), col("complete")]);
    let province = figures
        .clone()
        .group_by([col("line")])
        .agg([
            col("v").sum().alias("v"),
            col("v").null_count().alias("blank"),
            len().alias("units"),
            col("complete").cast(DataType::UInt32).sum().alias("complete_units"),
        ])
        .with_columns([
            when(col("blank").eq(col("units")))
                .then(lit(NULL).cast(DataType::Float64))
                .otherwise(col("v"))
                .alias("v"),
            col("complete_units")
                .eq(col("units").cast(DataType::UInt32))
                .alias("complete"),
        ]);
    let figures = figures.collect().map_err(polars_error)?;
    let province = province.collect().map_err(polars_error)?;

    let v = figures
        .column("v")
        .and_then(|c| c.f64().cloned())
        .map_err(polars_error)?;
    let complete = figures
        .column("complete")
        .and_then(|c| c.bool().cloned())
        .map_err(polars_error)?;
    let cells: Vec<Figure> = v
        .iter()
        .zip(complete.iter())
        .map(|(value, complete)| Figure {
            value,
            complete: complete.unwrap_or(false),
        })
        .collect();

    let mut by_line: HashMap<u32, Figure> = HashMap::new();
    let pl = province
        .column("line")
        .and_then(|c| c.u32().cloned())
        .map_err(polars_error)?;
    let pv = province
        .column("v")
        .and_then(|c| c.f64().cloned())
        .map_err(polars_error)?;
    let pc = province
        .column("complete")
        .and_then(|c| c.bool().cloned())
        .map_err(polars_error)?;
    for ((line, value), complete) in pl.iter().zip(pv.iter()).zip(pc.iter()) {
        if let Some(line) = line {
            by_line.insert(
                line,
                Figure {
                    value,
                    complete: complete.unwrap_or(false) && !units.is_empty(),
                },
            );
        }
    }
    let province = line_ids
        .iter()
        .map(|id| {
            by_line.get(id).copied().unwrap_or(Figure {
                value: None,
                complete: false,
            })
        })
        .collect();
    Ok(Figures {
        units: units.to_vec(),
        lines,
        cells,
        province,
    })
}

/// A ratio in percent recomputed from aggregated figures: per unit and for
/// the province; `None` (shown "–") when the denominator is zero or blank.
#[derive(Debug, Clone, PartialEq)]
pub struct Ratio {
    pub units: Vec<Option<f64>>,
    pub province: Option<f64>,
    /// Whether numerator and denominator of the province are complete.
    pub province_complete: bool,
}

/// `numerator / denominator × 100` from `figures`, never averaged.
///
/// # Errors
/// A Polars error.
pub fn ratio(figures: &Figures, numerator: &str, denominator: &str) -> Result<Ratio, Error> {
    let column_of = |line: &str| -> Vec<Option<f64>> {
        let mut out: Vec<Option<f64>> = (0..figures.units.len())
            .map(|u| figures.get(line, &figures.units[u]).and_then(|f| f.value))
            .collect();
        out.push(figures.province_of(line).and_then(|f| f.value));
        out
    };
    let frame = DataFrame::new_infer_height(vec![
        Column::new("num".into(), column_of(numerator)),
        Column::new("den".into(), column_of(denominator)),
    ])
    .map_err(polars_error)?
    .lazy()
    .select([when(col("den").gt(lit(0.0)))
        .then(col("num") / col("den") * lit(100.0))
        .otherwise(lit(NULL).cast(DataType::Float64))
        .alias("ratio")])
    .collect()
    .map_err(polars_error)?;
    let mut values: Vec<Option<f64>> = frame
        .column("ratio")
        .and_then(|c| c.f64().cloned())
        .map_err(polars_error)?
        .iter()
        .collect();
    let province = values.pop().flatten();
    let complete = |line: &str| figures.province_of(line).is_some_and(|f| f.complete);
    Ok(Ratio {
        units: values,
        province,
        province_complete: complete(numerator) && complete(denominator),
    })
}

/// The change from `before` to `now` in percent; `None` when `before` is 0
/// or either is blank.
pub fn change_percent(now: Option<f64>, before: Option<f64>) -> Option<f64> {
    match (now, before) {
        (Some(n), Some(b)) if b != 0.0 => Some((n - b) / b * 100.0),
        _ => None,
    }
}

/// Whether a line aggregates as a flow.
pub fn is_flow(form: &Form, line: &str) -> bool {
    form.line(line).is_some_and(|l| l.agg == Agg::Sum)
}
