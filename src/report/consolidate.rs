//! Consolidation with Polars over the current (accepted, not superseded)
//! stored values: for any window of months, each unit's figure per line —
//! flows (`sum`) add their months, stocks (`last`) take the window's last
//! month — and the province as the sum of its units.
//!
//! Who counts is the [`Roster`]: the units that were reporting units in each
//! month of the window (the register decides, month by month). A unit counts
//! for the months in which it reported to the province and no others, so a
//! district that ended in June still adds its January–June flows to a year,
//! and a stock, a state at the window's end, counts only the units of the
//! last month (for the others it does not apply: "–").
//!
//! Blank is not zero: a month without a return, or a cell left blank, makes
//! the figure *incomplete*; the known part is still shown and flagged, and a
//! figure with nothing known is blank, never 0. Ratios are recomputed from
//! aggregated numerators and denominators.
//!
//! Polars does the arithmetic; Rust only moves the results into the layout
//! of the workbook.

use std::collections::HashMap;

use polars::prelude::*;
use polars::series::IsSorted;
use rayon::slice::ParallelSliceMut;

use crate::domain::{Agg, Line, Period, Unit};
use crate::error::Error;
use crate::store::{CurrentSubmission, Store};

fn polars_error(e: PolarsError) -> Error {
    Error::Consolidation(Box::new(e))
}

/// The reporting units of each month of a window, oldest month first.
#[derive(Debug, Clone, PartialEq)]
pub struct Roster {
    months: Vec<(Period, Vec<String>)>,
    /// Every unit of the window in order of first appearance, named as in
    /// the last month it reported.
    units: Vec<Unit>,
}

impl Roster {
    /// A roster from each month's reporting units (as the register gives
    /// them for the month's end).
    pub fn new(months: Vec<(Period, Vec<Unit>)>) -> Roster {
        let mut units: Vec<Unit> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        let months = months
            .into_iter()
            .map(|(month, list)| {
                let codes = list.iter().map(|u| u.code.clone()).collect();
                for unit in list {
                    match index.get(&unit.code) {
                        Some(&i) => units[i] = unit,
                        None => {
                            index.insert(unit.code.clone(), units.len());
                            units.push(unit);
                        }
                    }
                }
                (month, codes)
            })
            .collect();
        Roster { months, units }
    }

    /// Every unit that reported in some month of the window.
    pub fn units(&self) -> &[Unit] {
        &self.units
    }

    /// The codes of [`Roster::units`].
    pub fn codes(&self) -> Vec<String> {
        self.units.iter().map(|u| u.code.clone()).collect()
    }

    /// The months of the window with their reporting units' codes.
    pub fn months(&self) -> &[(Period, Vec<String>)] {
        &self.months
    }

    /// The window's last month.
    pub fn last_month(&self) -> Option<Period> {
        self.months.last().map(|(m, _)| *m)
    }

    /// Whether `unit` was a reporting unit in `month`.
    pub fn expects(&self, unit: &str, month: Period) -> bool {
        self.months
            .iter()
            .any(|(m, codes)| *m == month && codes.iter().any(|c| c == unit))
    }
}

/// The stored values of some months, one row per (unit, month, line), with
/// units and lines as small integer ids (joins and groupings on integers are
/// what keeps a 700-district year fast).
#[derive(Debug, Clone)]
pub struct StoredFrame {
    frame: DataFrame,
    unit_ids: Ids,
    line_ids: Ids,
}

/// Codes to ids (foldhash: 600,000 rows are interned twice each).
type Ids = HashMap<String, u32, foldhash::fast::RandomState>;

/// One integer for a (unit, month, line) cell: joins on one integer key
/// are several times faster in Polars than on three columns.
fn cell_key(unit: u32, month: i32, line: u32) -> u64 {
    (u64::from(unit) << 40) | ((month as u64 & 0xF_FFFF) << 20) | u64::from(line & 0xF_FFFF)
}

/// One integer for a (unit, month): whether the unit sent that month's return.
fn unit_month_key(unit: u32, month: i32) -> u64 {
    (u64::from(unit) << 32) | (month as u64 & 0xFFFF_FFFF)
}

/// The `key` column of a frame whose rows are in key order, flagged as
/// sorted when they are: Polars then joins two such frames by merging them
/// (no hash table). The flag is set only after every key is checked, since a
/// merge over keys out of order would pair the wrong cells.
fn key_column(key: Vec<u64>) -> Column {
    let sorted = key.windows(2).all(|pair| pair[0] <= pair[1]);
    let mut column = Column::new("key".into(), key);
    if sorted {
        column.set_sorted_flag(IsSorted::Ascending);
    }
    column
}

/// Interns `text`, returning its id.
fn intern(ids: &mut Ids, text: &str) -> u32 {
    if let Some(&id) = ids.get(text) {
        return id;
    }
    let id = ids.len() as u32;
    ids.insert(text.to_string(), id);
    id
}

/// Ids for `codes`; codes never seen get ids of their own (they match no
/// stored row), and the same code always the same id.
fn ids_for(ids: &mut Ids, codes: &[String]) -> Vec<u32> {
    codes.iter().map(|c| intern(ids, c)).collect()
}

/// The current values as read from the store, before they are put in key
/// order and made a frame: reading needs the store, the rest does not, so a
/// report can build its frame while the store answers its other questions.
#[derive(Debug, Default)]
pub struct StoredRows {
    units: Vec<u32>,
    months: Vec<i32>,
    lines: Vec<u32>,
    values: Vec<Option<f64>>,
    unit_ids: Ids,
    line_ids: Ids,
}

impl StoredRows {
    /// Reads the current values of every unit for the months from `first`
    /// to `last` (inclusive), making room at once for `lines_per_return`
    /// values a return (a national year's 600,000 rows grown by doubling
    /// copied them over and over into fresh memory).
    ///
    /// The later half of the submissions' values is read on a second
    /// connection beside this one: reading is most of a report's start and
    /// otherwise runs on one core. The submissions are listed on `store`, in
    /// its snapshot; their values never change once stored, so the second
    /// connection reads the same values whatever was committed since.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub fn load(store: &Store, first: Period, last: Period, lines_per_return: usize) -> Result<StoredRows, Error> {
        let submissions = store.current_submissions_between(first, last)?;
        let room = |n: usize| n.saturating_mul(lines_per_return);
        let (mine, theirs) = submissions.split_at(submissions.len().div_ceil(2));
        if theirs.is_empty() {
            return StoredRows::read(store, mine, room(mine.len()));
        }
        let reader = store.open_reader()?;
        std::thread::scope(|scope| {
            let other = scope.spawn(move || StoredRows::read(&reader, theirs, room(theirs.len())));
            let mut rows = StoredRows::read(store, mine, room(submissions.len()))?;
            let other = other.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))?;
            rows.append(other);
            Ok(rows)
        })
    }

    /// The values of `submissions`, with room made for `room` rows.
    fn read(store: &Store, submissions: &[CurrentSubmission], room: usize) -> Result<StoredRows, Error> {
        let mut rows = StoredRows::default();
        rows.reserve(room);
        // (submission, its unit's id, its month) of the values being read.
        let mut current: Option<(i64, u32, Option<i32>)> = None;
        store.for_each_value_of(submissions, |row| {
            let (unit, month) = match current {
                Some((submission, unit, month)) if submission == row.submission => (unit, month),
                _ => {
                    let unit = intern(&mut rows.unit_ids, row.unit);
                    let month = Period::parse(row.period).ok().map(|p| p.month_ordinal() as i32);
                    current = Some((row.submission, unit, month));
                    (unit, month)
                }
            };
            let Some(month) = month else {
                return;
            };
            rows.push(unit, month, row.line, row.value);
        })?;
        Ok(rows)
    }

    /// Adds `other`'s rows, its units and lines renumbered as these rows
    /// number them.
    fn append(&mut self, other: StoredRows) {
        let renumber = |mine: &mut Ids, theirs: Ids| {
            let mut to_mine = vec![0; theirs.len()];
            for (text, id) in theirs {
                to_mine[id as usize] = intern(mine, &text);
            }
            to_mine
        };
        let units = renumber(&mut self.unit_ids, other.unit_ids);
        let lines = renumber(&mut self.line_ids, other.line_ids);
        self.units.extend(other.units.iter().map(|&u| units[u as usize]));
        self.lines.extend(other.lines.iter().map(|&l| lines[l as usize]));
        self.months.extend(other.months);
        self.values.extend(other.values);
    }

    fn reserve(&mut self, rows: usize) {
        self.units.reserve(rows);
        self.months.reserve(rows);
        self.lines.reserve(rows);
        self.values.reserve(rows);
    }

    fn push(&mut self, unit: u32, month: i32, line: &str, value: Option<f64>) {
        self.units.push(unit);
        self.months.push(month);
        self.lines.push(intern(&mut self.line_ids, line));
        self.values.push(value);
    }

    /// The frame of these rows, in key order so that every window's join
    /// merges instead of hashing.
    ///
    /// # Errors
    /// A Polars error.
    pub fn into_frame(self) -> Result<StoredFrame, Error> {
        let StoredRows {
            units,
            months,
            lines,
            values,
            unit_ids,
            line_ids,
        } = self;
        let mut order: Vec<(u64, usize)> = (0..units.len())
            .map(|i| (cell_key(units[i], months[i], lines[i]), i))
            .collect();
        order.par_sort_unstable();
        let key: Vec<u64> = order.iter().map(|&(key, _)| key).collect();
        let unit_month: Vec<u64> = order
            .iter()
            .map(|&(_, i)| unit_month_key(units[i], months[i]))
            .collect();
        let months: Vec<i32> = order.iter().map(|&(_, i)| months[i]).collect();
        let values: Vec<Option<f64>> = order.iter().map(|&(_, i)| values[i]).collect();
        let frame = DataFrame::new_infer_height(vec![
            key_column(key),
            Column::new("unit_month".into(), unit_month),
            Column::new("month".into(), months),
            Column::new("value".into(), values),
        ])
        .map_err(polars_error)?;
        Ok(StoredFrame {
            frame,
            unit_ids,
            line_ids,
        })
    }
}

impl StoredFrame {
    /// Loads the current values of every unit for the months from `first`
    /// to `last` (inclusive).
    ///
    /// # Errors
    /// [`Error::Database`], or a Polars error.
    pub fn load(store: &Store, first: Period, last: Period) -> Result<StoredFrame, Error> {
        StoredRows::load(store, first, last, 0)?.into_frame()
    }

    /// Builds a frame from rows (tests).
    ///
    /// # Errors
    /// A Polars error.
    pub fn from_rows(rows: &[(&str, Period, &str, Option<f64>)]) -> Result<StoredFrame, Error> {
        let mut stored = StoredRows::default();
        for &(unit, month, line, value) in rows {
            let unit = intern(&mut stored.unit_ids, unit);
            stored.push(unit, month.month_ordinal() as i32, line, value);
        }
        stored.into_frame()
    }
}

/// One figure: the value (the known part when incomplete), whether every
/// month and cell it needs was reported, and whether it applies at all (a
/// stock of a unit that no longer reported in the window's last month does
/// not: it is shown "–" and adds nothing to the province).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Figure {
    pub value: Option<f64>,
    pub complete: bool,
    pub applies: bool,
}

impl Figure {
    /// A figure nothing is known of.
    pub const UNKNOWN: Figure = Figure {
        value: None,
        complete: false,
        applies: true,
    };

    /// A figure that does not apply (see [`Figure`]).
    pub const NOT_APPLICABLE: Figure = Figure {
        value: None,
        complete: true,
        applies: false,
    };

    /// The sum of figures: the known parts added, complete when every part
    /// is, blank when no part is known. Parts that do not apply are left out.
    pub fn sum<'a>(parts: impl IntoIterator<Item = &'a Figure>) -> Figure {
        let mut total = Figure::NOT_APPLICABLE;
        let mut any_known = false;
        let mut sum = 0.0;
        for part in parts.into_iter().filter(|p| p.applies) {
            if !total.applies {
                total = Figure {
                    value: None,
                    complete: true,
                    applies: true,
                };
            }
            total.complete &= part.complete;
            if let Some(v) = part.value {
                sum += v;
                any_known = true;
            }
        }
        if any_known {
            total.value = Some(sum);
        }
        total
    }
}

/// The months a unit's figure lacks: without an accepted return, or with
/// the line's cell left blank.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Gaps {
    pub no_return: Vec<Period>,
    pub blank: Vec<Period>,
}

impl Gaps {
    pub fn is_empty(&self) -> bool {
        self.no_return.is_empty() && self.blank.is_empty()
    }

    /// "thiếu báo cáo tháng 2015-03; ô để trống tháng 2015-04", for notes.
    pub fn vietnamese(&self) -> String {
        let list = |months: &[Period]| months.iter().map(Period::to_string).collect::<Vec<_>>().join(", ");
        let mut parts = Vec::new();
        if !self.no_return.is_empty() {
            parts.push(format!("thiếu báo cáo tháng {}", list(&self.no_return)));
        }
        if !self.blank.is_empty() {
            parts.push(format!("ô để trống trong báo cáo tháng {}", list(&self.blank)));
        }
        parts.join("; ")
    }
}

/// Every line × unit figure of one window, and the province.
#[derive(Debug, Clone, PartialEq)]
pub struct Figures {
    pub units: Vec<String>,
    pub lines: Vec<String>,
    /// Line-major: `cells[line * units.len() + unit]`, and `gaps` alike.
    cells: Vec<Figure>,
    gaps: Vec<Gaps>,
    pub province: Vec<Figure>,
}

impl Figures {
    /// The figure of line `line` (index) for unit `unit` (index).
    pub fn unit(&self, line: usize, unit: usize) -> Figure {
        self.cells[line * self.units.len() + unit]
    }

    /// What the figure of line `line` for unit `unit` (indices) lacks.
    pub fn gaps(&self, line: usize, unit: usize) -> &Gaps {
        &self.gaps[line * self.units.len() + unit]
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

    /// The codes of the units whose figure of line `line` (index) is
    /// incomplete: what the province's figure lacks.
    pub fn lacking(&self, line: usize) -> Vec<String> {
        (0..self.units.len())
            .filter(|&u| !self.unit(line, u).complete)
            .map(|u| self.units[u].clone())
            .collect()
    }
}

/// Every (unit, month, line) cell a window's figures need, as columns: the
/// months each unit reported in, for each line. Stored rows outside them do
/// not count.
#[derive(Debug, Default, PartialEq)]
struct NeededCells {
    key: Vec<u64>,
    unit_month: Vec<u64>,
    month: Vec<i32>,
    /// Whether the line is a flow (its months add up).
    flow: Vec<bool>,
    /// Where the figure goes: `line position × units + unit position`.
    order: Vec<u32>,
}

impl NeededCells {
    /// The cells of `roster`'s months for `units` and `lines`, whose ids in
    /// the stored frame are `unit_id` and `line_id` (by position), made in
    /// key order like the stored frame's rows: units by id, each unit's
    /// months oldest first, lines by id. Made in order rather than sorted:
    /// a national year's 626,000 cells sorted as tuples were the report's
    /// largest allocation.
    fn of(roster: &Roster, units: &[String], unit_id: &[u32], lines: &[&Line], line_id: &[u32]) -> NeededCells {
        let position: HashMap<&str, usize> = units.iter().enumerate().map(|(i, c)| (c.as_str(), i)).collect();
        let mut months_of: Vec<Vec<i32>> = vec![Vec::new(); units.len()];
        for (month, codes) in roster.months() {
            let m = month.month_ordinal() as i32;
            for code in codes {
                if let Some(&u) = position.get(code.as_str()) {
                    months_of[u].push(m);
                }
            }
        }
        let mut unit_order: Vec<usize> = (0..units.len()).collect();
        unit_order.sort_by_key(|&u| unit_id[u]);
        let mut line_order: Vec<usize> = (0..lines.len()).collect();
        line_order.sort_by_key(|&l| line_id[l]);
        let n = months_of.iter().map(Vec::len).sum::<usize>() * lines.len();
        let mut cells = NeededCells {
            key: Vec::with_capacity(n),
            unit_month: Vec::with_capacity(n),
            month: Vec::with_capacity(n),
            flow: Vec::with_capacity(n),
            order: Vec::with_capacity(n),
        };
        for &u in &unit_order {
            for &m in &months_of[u] {
                let unit_month = unit_month_key(unit_id[u], m);
                for &l in &line_order {
                    cells.key.push(cell_key(unit_id[u], m, line_id[l]));
                    cells.unit_month.push(unit_month);
                    cells.month.push(m);
                    cells.flow.push(lines[l].agg == Agg::Sum);
                    cells.order.push((l * units.len() + u) as u32);
                }
            }
        }
        cells
    }
}

/// The figures of `lines` for the units and months of `roster`.
///
/// # Errors
/// A Polars error.
pub fn consolidate(stored: &StoredFrame, lines: &[&Line], roster: &Roster) -> Result<Figures, Error> {
    let units = roster.codes();
    let line_codes: Vec<String> = lines.iter().map(|l| l.code.clone()).collect();
    let last_m = roster.last_month().map_or(i32::MIN, |m| m.month_ordinal() as i32);

    // Every (unit, month, line) a figure needs: the months a unit reported
    // in, for each line. Stored rows outside it do not count.
    let mut unit_ids = stored.unit_ids.clone();
    let unit_id = ids_for(&mut unit_ids, &units);
    let mut line_ids = stored.line_ids.clone();
    let line_id = ids_for(&mut line_ids, &line_codes);
    let cells = NeededCells::of(roster, &units, &unit_id, lines, &line_id);
    let needed = DataFrame::new_infer_height(vec![
        key_column(cells.key),
        Column::new("unit_month".into(), cells.unit_month),
        Column::new("month".into(), cells.month),
        Column::new("flow".into(), cells.flow),
        Column::new("order".into(), cells.order),
    ])
    .map_err(polars_error)?;

    // Which units sent a return for which months: a line without a value
    // in a month with a return is a blank cell, not a missing return.
    let first_m = roster
        .months()
        .first()
        .map_or(i32::MAX, |(m, _)| m.month_ordinal() as i32);
    let in_window = col("month").gt_eq(lit(first_m)).and(col("month").lt_eq(lit(last_m)));
    let window = stored.frame.clone().lazy().filter(in_window);
    let returned = window
        .clone()
        .select([col("unit_month")])
        .unique(None, UniqueKeepStrategy::Any)
        .with_column(lit(true).alias("returned"));
    let values = window.select([col("key"), col("value")]);
    let joined = needed
        .lazy()
        .join(values, [col("key")], [col("key")], JoinArgs::new(JoinType::Left))
        .join(
            returned,
            [col("unit_month")],
            [col("unit_month")],
            JoinArgs::new(JoinType::Left),
        )
        .collect()
        .map_err(polars_error)?;

    let null_f64 = || lit(NULL).cast(DataType::Float64);
    let is_last = col("month").eq(lit(last_m));
    let per_unit = joined
        .clone()
        .lazy()
        .group_by([col("order")])
        .agg([
            col("flow").first().alias("flow"),
            col("value").sum().alias("sum"),
            col("value").count().alias("known"),
            len().alias("months"),
            col("value").filter(is_last.clone()).first().alias("last_value"),
            is_last.clone().any(false).alias("has_last"),
        ])
        .with_columns([
            when(col("flow"))
                .then(when(col("known").gt(lit(0u32))).then(col("sum")).otherwise(null_f64()))
                .otherwise(when(col("has_last")).then(col("last_value")).otherwise(null_f64()))
                .alias("v"),
            when(col("flow"))
                .then(
                    col("known")
                        .cast(DataType::UInt32)
                        .eq(col("months").cast(DataType::UInt32)),
                )
                .otherwise(col("has_last").and(col("last_value").is_not_null()))
                .alias("complete"),
            col("flow").or(col("has_last")).alias("applies"),
        ])
        .collect()
        .map_err(polars_error)?;
    // The (unit, line, month) cells without a value: what a figure lacks.
    let missing = joined
        .lazy()
        .filter(col("value").is_null().and(col("flow").or(is_last)))
        .select([col("order"), col("month"), col("returned").is_null().alias("no_return")])
        .collect()
        .map_err(polars_error)?;

    let n = units.len() * lines.len();
    let column = |frame: &DataFrame, name: &str| frame.column(name).map_err(polars_error).cloned();
    let order = column(&per_unit, "order")?;
    let order = order.u32().map_err(polars_error)?;
    let v = column(&per_unit, "v")?;
    let v = v.f64().map_err(polars_error)?;
    let complete = column(&per_unit, "complete")?;
    let complete = complete.bool().map_err(polars_error)?;
    let applies = column(&per_unit, "applies")?;
    let applies = applies.bool().map_err(polars_error)?;

    let mut cells = vec![Figure::NOT_APPLICABLE; n];
    for i in 0..per_unit.height() {
        let (Some(o), Some(true)) = (order.get(i), applies.get(i)) else {
            continue;
        };
        cells[o as usize] = Figure {
            value: v.get(i),
            complete: complete.get(i).unwrap_or(false),
            applies: true,
        };
    }
    let mut gaps = vec![Gaps::default(); n];
    let gap_order = column(&missing, "order")?;
    let gap_month = column(&missing, "month")?;
    let gap_kind = column(&missing, "no_return")?;
    for ((o, m), no_return) in gap_order
        .u32()
        .map_err(polars_error)?
        .iter()
        .zip(gap_month.i32().map_err(polars_error)?.iter())
        .zip(gap_kind.bool().map_err(polars_error)?.iter())
    {
        let (Some(o), Some(m)) = (o, m) else { continue };
        let month = Period::from_month_ordinal(i64::from(m));
        let gap = &mut gaps[o as usize];
        if no_return.unwrap_or(true) {
            gap.no_return.push(month);
        } else {
            gap.blank.push(month);
        }
    }
    for gap in &mut gaps {
        gap.no_return.sort();
        gap.blank.sort();
    }
    let province = (0..lines.len())
        .map(|l| Figure::sum(&cells[l * units.len()..(l + 1) * units.len()]))
        .collect();
    Ok(Figures {
        units,
        lines: line_codes,
        cells,
        gaps,
        province,
    })
}

/// A ratio in percent recomputed from aggregated figures, per unit and for
/// the province; `None` (shown "–") when the denominator is zero or blank.
#[derive(Debug, Clone, PartialEq)]
pub struct Ratio {
    pub units: Vec<Option<f64>>,
    /// Whether each unit's numerator and denominator are complete.
    pub units_complete: Vec<bool>,
    pub province: Option<f64>,
    /// Whether the province's numerator is complete.
    pub numerator_complete: bool,
    /// Whether the province's denominator is complete.
    pub denominator_complete: bool,
    /// Units whose numerator or denominator is incomplete.
    pub lacking: Vec<String>,
}

impl Ratio {
    /// Whether numerator and denominator of the province are complete.
    pub fn province_complete(&self) -> bool {
        self.numerator_complete && self.denominator_complete
    }
}

/// `numerator / denominator × 100` from `figures`, never averaged.
///
/// # Errors
/// A Polars error.
pub fn ratio(figures: &Figures, numerator: &str, denominator: &str) -> Result<Ratio, Error> {
    let l_num = figures.lines.iter().position(|x| x == numerator);
    let l_den = figures.lines.iter().position(|x| x == denominator);
    let figure = |line: Option<usize>, unit: usize| line.map_or(Figure::UNKNOWN, |l| figures.unit(l, unit));
    let province = |line: Option<usize>| line.map_or(Figure::UNKNOWN, |l| figures.province[l]);
    let column_of = |line: Option<usize>| -> Vec<Option<f64>> {
        let mut out: Vec<Option<f64>> = (0..figures.units.len()).map(|u| figure(line, u).value).collect();
        out.push(province(line).value);
        out
    };
    let frame = DataFrame::new_infer_height(vec![
        Column::new("num".into(), column_of(l_num)),
        Column::new("den".into(), column_of(l_den)),
    ])
    .map_err(polars_error)?
    .lazy()
    .select([when(col("den").gt(lit(0.0)).and(col("num").is_not_null()))
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
    let province_value = values.pop().flatten();
    let units_complete: Vec<bool> = (0..figures.units.len())
        .map(|u| {
            let (n, d) = (figure(l_num, u), figure(l_den, u));
            (n.complete || !n.applies) && (d.complete || !d.applies)
        })
        .collect();
    let lacking = units_complete
        .iter()
        .enumerate()
        .filter(|(_, complete)| !**complete)
        .map(|(u, _)| figures.units[u].clone())
        .collect();
    Ok(Ratio {
        units: values,
        units_complete,
        province: province_value,
        numerator_complete: province(l_num).complete,
        denominator_complete: province(l_den).complete,
        lacking,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Level, LineKind};

    fn line(code: &str, agg: Agg) -> Line {
        Line {
            code: code.into(),
            label: code.into(),
            unit: "người".into(),
            kind: LineKind::Int,
            agg,
            ytd: false,
            required: false,
            section: "B".into(),
            parent: None,
        }
    }

    /// The values a report loads, half of them on a second connection, are
    /// every current value read on one connection, each under its own unit,
    /// month and line: the second half meets its units and lines in another
    /// order (and a line the first half never has), so ids it numbered for
    /// itself would put its values under the first half's units and lines.
    #[test]
    fn values_read_in_two_halves_on_two_connections_are_the_current_values_read_on_one() {
        use crate::store::{NewSubmission, Status, StoredValue};
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("b.db")).unwrap();
        // (unit, month, status, lines): the units and lines of the later
        // submissions in another order than the earlier ones'.
        let returns = [
            ("061", 1, Status::Accepted, vec!["A01", "A02"]),
            ("062", 1, Status::Warnings, vec!["A01", "A02"]),
            ("061", 2, Status::Rejected, vec!["A01", "A02"]),
            ("061", 2, Status::Accepted, vec!["A01", "A02"]),
            ("063", 3, Status::Accepted, vec!["B09", "A02"]),
            ("062", 2, Status::Accepted, vec!["A02", "A00"]),
            ("063", 1, Status::Accepted, vec!["B09", "A01"]),
            // Supersedes the first: its values must not be read.
            ("061", 1, Status::Accepted, vec!["A02", "A01"]),
        ];
        for (n, (unit, month, status, lines)) in returns.iter().enumerate() {
            let values: Vec<StoredValue> = lines
                .iter()
                .enumerate()
                .map(|(i, line)| StoredValue {
                    line: (*line).to_string(),
                    value: if i == 1 && n == 4 {
                        None
                    } else {
                        Some((10 * n + i) as f64)
                    },
                    ytd: None,
                    cell: None,
                })
                .collect();
            let sha = format!("s{n}");
            store
                .record_submission(&NewSubmission {
                    run_id: None,
                    file_name: &sha,
                    sha256: &sha,
                    size: 1,
                    received_at: "2015-07-01T00:00:00Z",
                    processed_at: "2015-07-01T00:00:01Z",
                    unit_code: Some(unit),
                    unit_name: None,
                    period: Some(Period::month(2015, *month)),
                    form_code: Some("01/PCMD-H"),
                    form_version: Some(1),
                    status: *status,
                    values: &values,
                    communes: &[],
                    findings: &[],
                    stored_path: &sha,
                    feedback_path: None,
                })
                .unwrap();
        }
        let (first, last) = (Period::month(2015, 1), Period::month(2015, 3));
        let mut want = Vec::new();
        let current = store.current_submissions_between(first, last).unwrap();
        store
            .for_each_value_of(&current, |v| {
                let month = Period::parse(v.period).unwrap().month_ordinal() as i32;
                want.push((v.unit.to_string(), month, v.line.to_string(), v.value));
            })
            .unwrap();
        let rows = StoredRows::load(&store, first, last, 2).unwrap();
        let text_of = |ids: &Ids| {
            let mut texts = vec![String::new(); ids.len()];
            for (text, &id) in ids {
                texts[id as usize] = text.clone();
            }
            texts
        };
        let (units, lines) = (text_of(&rows.unit_ids), text_of(&rows.line_ids));
        let mut read: Vec<(String, i32, String, Option<f64>)> = (0..rows.units.len())
            .map(|i| {
                (
                    units[rows.units[i] as usize].clone(),
                    rows.months[i],
                    lines[rows.lines[i] as usize].clone(),
                    rows.values[i],
                )
            })
            .collect();
        let order = |a: &(String, i32, String, Option<f64>), b: &(String, i32, String, Option<f64>)| {
            (&a.0, a.1, &a.2).cmp(&(&b.0, b.1, &b.2))
        };
        read.sort_by(order);
        want.sort_by(order);
        assert_eq!(want.len(), 12, "six current submissions of two values");
        assert!(want.contains(&("063".to_string(), 2015 * 12 + 2, "A02".to_string(), None)));
        assert!(want.iter().any(|w| w.2 == "A00"), "a line only the later half has");
        assert_eq!(read, want);
    }

    fn unit(code: &str) -> Unit {
        Unit {
            level: Level::District,
            code: code.into(),
            name: format!("Huyện {code}"),
            parent_code: "11".into(),
            valid_from: chrono::NaiveDate::from_ymd_opt(2000, 1, 1).unwrap_or_default(),
            valid_to: None,
            successor_code: String::new(),
        }
    }

    #[test]
    fn key_columns_are_flagged_sorted_only_when_they_are() {
        assert_eq!(key_column(vec![1, 2, 2, 9]).is_sorted_flag(), IsSorted::Ascending);
        assert_eq!(key_column(vec![1, 3, 2]).is_sorted_flag(), IsSorted::Not);
    }

    /// The needed cells, made in order, against every (unit, month, line)
    /// tuple of the roster sorted: the same cells, in key order (so the
    /// joins merge), whatever order the ids run in against the roster's
    /// units and the form's lines, and with units missing from some months.
    #[test]
    fn needed_cells_come_in_key_order_and_are_every_cell_of_the_roster() {
        let lines = [line("B01", Agg::Sum), line("A01", Agg::Last), line("B02", Agg::Sum)];
        let lines: Vec<&Line> = lines.iter().collect();
        let units: Vec<String> = ["061", "062", "063", "064"].map(String::from).to_vec();
        // Ids out of the roster's and the form's order, as when the store
        // met the codes in another order.
        let unit_id = [7, 2, 9, 0];
        let line_id = [5, 1, 3];
        let months: Vec<(Period, Vec<Unit>)> = (1..=4)
            .map(|m| {
                let month = Period::month(2015, m);
                // 064 from March only, 062 until February only.
                let list = units
                    .iter()
                    .filter(|u| !(u.as_str() == "064" && m < 3 || u.as_str() == "062" && m > 2))
                    .map(|u| unit(u))
                    .collect();
                (month, list)
            })
            .collect();
        let roster = Roster::new(months);
        assert_eq!(roster.codes(), units, "the roster keeps the units in first appearance");

        let cells = NeededCells::of(&roster, &units, &unit_id, &lines, &line_id);

        let mut tuples = Vec::new();
        for (month, codes) in roster.months() {
            let m = month.month_ordinal() as i32;
            for code in codes {
                let u = units.iter().position(|c| c == code).unwrap();
                for (l, &id) in line_id.iter().enumerate() {
                    tuples.push((cell_key(unit_id[u], m, id), u, m, l));
                }
            }
        }
        tuples.sort_unstable();
        let expected = NeededCells {
            key: tuples.iter().map(|t| t.0).collect(),
            unit_month: tuples
                .iter()
                .map(|&(_, u, m, _)| unit_month_key(unit_id[u], m))
                .collect(),
            month: tuples.iter().map(|t| t.2).collect(),
            flow: tuples.iter().map(|&(_, _, _, l)| lines[l].agg == Agg::Sum).collect(),
            order: tuples
                .iter()
                .map(|&(_, u, _, l)| (l * units.len() + u) as u32)
                .collect(),
        };
        // 4 units × 4 months, less 064's two and 062's two, × 3 lines.
        assert_eq!(cells.key.len(), 12 * 3);
        assert_eq!(cells, expected);
        assert!(cells.key.windows(2).all(|pair| pair[0] < pair[1]));
    }

    /// Every figure of random stores, rows in any order, against a direct
    /// count over the rows: a flow adds the months its unit was expected in
    /// and is complete when each of them has a value; a stock takes the last
    /// month, and applies only to the units expected then.
    #[test]
    fn figures_equal_a_direct_count_over_the_rows_in_whatever_order_they_are_stored() {
        let lines = [line("B01", Agg::Sum), line("A01", Agg::Last), line("B02", Agg::Sum)];
        let lines: Vec<&Line> = lines.iter().collect();
        let codes = ["061", "062", "063", "064", "065"];
        let months: Vec<Period> = (1..=6).map(|m| Period::month(2015, m)).collect();
        // 065 reports from March only, 064 until April only.
        let (march, april) = (Period::month(2015, 3), Period::month(2015, 4));
        let expected = |u: &str, m: Period| !(u == "065" && m < march || u == "064" && m > april);
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        for round in 0..20 {
            // (unit, month) -> whether a return is stored; (unit, month, line) -> its value.
            let mut rows = Vec::new();
            let mut returned = HashMap::new();
            let mut cell = HashMap::new();
            for &u in &codes {
                for &m in &months {
                    let sent = next(6) != 0;
                    returned.insert((u, m), sent);
                    if !sent {
                        continue;
                    }
                    for l in &lines {
                        let value = (next(5) != 0).then(|| next(40) as f64);
                        cell.insert((u, m, l.code.as_str()), value);
                        rows.push((u, m, l.code.as_str(), value));
                    }
                }
            }
            for i in (1..rows.len()).rev() {
                rows.swap(i, next(i as u64 + 1) as usize);
            }
            let stored = StoredFrame::from_rows(&rows).unwrap_or_else(|e| panic!("{e}"));
            rows.reverse();
            let reversed = StoredFrame::from_rows(&rows).unwrap_or_else(|e| panic!("{e}"));
            for window in [&months[..], &months[2..3], &months[3..6]] {
                let roster = Roster::new(
                    window
                        .iter()
                        .map(|&m| (m, codes.iter().filter(|u| expected(u, m)).map(|u| unit(u)).collect()))
                        .collect(),
                );
                let figures = consolidate(&stored, &lines, &roster).unwrap_or_else(|e| panic!("{e}"));
                let again = consolidate(&reversed, &lines, &roster).unwrap_or_else(|e| panic!("{e}"));
                assert_eq!(figures, again, "round {round}: the rows' order changes nothing");
                let last = *window.last().unwrap_or(&months[0]);
                let value = |u: &str, m: Period, l: &str| returned[&(u, m)].then(|| cell[&(u, m, l)]).flatten();
                for (l, line) in lines.iter().enumerate() {
                    for (u, code) in figures.units.iter().enumerate() {
                        let want = match line.agg {
                            Agg::Sum => {
                                let known: Vec<f64> = window
                                    .iter()
                                    .filter(|&&m| expected(code, m))
                                    .filter_map(|&m| value(code, m, &line.code))
                                    .collect();
                                let needed = window.iter().filter(|&&m| expected(code, m)).count();
                                Figure {
                                    value: (!known.is_empty()).then(|| known.iter().sum()),
                                    complete: known.len() == needed,
                                    applies: true,
                                }
                            }
                            Agg::Last if expected(code, last) => {
                                let v = value(code, last, &line.code);
                                Figure {
                                    value: v,
                                    complete: v.is_some(),
                                    applies: true,
                                }
                            }
                            Agg::Last => Figure::NOT_APPLICABLE,
                        };
                        assert_eq!(
                            figures.unit(l, u),
                            want,
                            "round {round} {} {code} {window:?}",
                            line.code
                        );
                    }
                }
            }
        }
    }
}
