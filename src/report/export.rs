//! The stored values for other systems: long format `period, unit_code,
//! line_code, value, ytd, status, unit_name, level, territory,
//! former_districts` as CSV, JSON, or a Hive-partitioned Parquet dataset
//! (`period=…/unit=…/data.parquet`) that DuckDB, Spark or Trino read
//! directly. Rows come in a fixed order (period, unit, form line order), so
//! the same database gives identical exports.
//!
//! The last four columns let an analyst compare across the 1/7/2025
//! reorganisation without baocao: `level` says whether a row is a district's
//! or a commune's return; `territory` is the province whose former territory
//! the unit covers (06 for the 8 districts of Bắc Kạn before and the 37
//! communes made of them after, 19 for the rest of Thái Nguyên), so summing
//! by `territory` gives figures comparable across the change;
//! `former_districts` names, for a new commune of former Bắc Kạn, the former
//! district(s) its communes came from.

use std::path::{Path, PathBuf};

use polars::prelude::*;

use crate::atomic::{write_atomically, Content};
use crate::config::Settings;
use crate::domain::{Level, Period, Unit};
use crate::error::Error;
use crate::store::Store;

/// Output format of `baocao export`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    Csv,
    Json,
    Parquet,
}

/// One exported row.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ExportRow {
    pub period: String,
    pub unit_code: String,
    pub line_code: String,
    pub value: Option<f64>,
    pub ytd: Option<f64>,
    pub status: String,
    /// The unit's name in the register at the month's end.
    pub unit_name: String,
    /// `district` or `commune` (a commune reports for itself from 1/7/2025).
    pub level: String,
    /// The province whose former territory the unit covers (see the module
    /// documentation): sum by it to compare across a reorganisation.
    pub territory: String,
    /// For a new unit made of communes of former districts: those districts'
    /// codes, `;`-separated; empty otherwise.
    pub former_districts: String,
}

/// What the export says about one unit in one month.
struct UnitColumns {
    name: String,
    level: String,
    territory: String,
    former_districts: String,
}

/// The unit `code` reported as in `month`, resolved by `(code, date)`: the
/// reporting unit of that month, or whatever the register holds under the
/// code then (a return stored before a register change).
fn unit_columns(settings: &Settings, code: &str, month: &str) -> UnitColumns {
    let end = Period::parse(month).ok().map(|p| p.end(&settings.calendar));
    let register = &settings.register;
    let unit: Option<&Unit> = end.and_then(|end| {
        register
            .reporting_unit(&settings.config.province.code, code, end)
            .or_else(|| register.any_level_at(code, end))
    });
    match (unit, end) {
        (Some(unit), Some(end)) => {
            let mapping = &settings.mapping;
            let former_districts =
                if unit.level == Level::Commune && mapping.is_territory_unit(&unit.parent_code, &unit.code, end) {
                    mapping.former_districts_of(&unit.code).join(";")
                } else {
                    String::new()
                };
            UnitColumns {
                name: unit.name.clone(),
                level: unit.level.as_str().to_string(),
                territory: mapping.territory_of(register, unit, end),
                former_districts,
            }
        }
        _ => UnitColumns {
            name: String::new(),
            level: String::new(),
            territory: String::new(),
            former_districts: String::new(),
        },
    }
}

/// The current values of every month of `period`, in export order.
///
/// # Errors
/// [`Error::Database`].
pub fn export_rows(settings: &Settings, store: &Store, period: Period) -> Result<Vec<ExportRow>, Error> {
    let form = settings.current_form();
    let mut submissions = store.current_submissions(&period.months())?;
    submissions.sort_by(|a, b| (&a.period, &a.unit_code).cmp(&(&b.period, &b.unit_code)));
    let mut rows = Vec::new();
    for s in submissions {
        let period = s.period.map(|p| p.to_string()).unwrap_or_default();
        let unit_code = s.unit_code.clone().unwrap_or_default();
        let unit = unit_columns(settings, &unit_code, &period);
        let mut values: Vec<_> = store.values_of(s.id)?.into_values().collect();
        values.sort_by_key(|v| (form.line_index(&v.line).unwrap_or(usize::MAX), v.line.clone()));
        for v in values {
            rows.push(ExportRow {
                period: period.clone(),
                unit_code: unit_code.clone(),
                line_code: v.line,
                value: v.value,
                ytd: v.ytd,
                status: s.status.as_str().to_string(),
                unit_name: unit.name.clone(),
                level: unit.level.clone(),
                territory: unit.territory.clone(),
                former_districts: unit.former_districts.clone(),
            });
        }
    }
    Ok(rows)
}

/// Where an export goes by default: `reports/<period>/export_<period>.<ext>`
/// (a folder for Parquet).
pub fn default_export_path(settings: &Settings, period: Period, format: ExportFormat) -> PathBuf {
    let dir = settings.paths.reports.join(period.to_string());
    match format {
        ExportFormat::Csv => dir.join(format!("export_{period}.csv")),
        ExportFormat::Json => dir.join(format!("export_{period}.json")),
        ExportFormat::Parquet => dir.join(format!("parquet_{period}")),
    }
}

/// Writes the export; returns the path and the number of rows.
///
/// # Errors
/// [`Error::Database`], [`Error::Io`], or a Parquet writing error.
pub fn export(
    settings: &Settings,
    period: Period,
    format: ExportFormat,
    out: Option<&Path>,
) -> Result<(PathBuf, usize), Error> {
    let store = Store::open(&settings.paths.database)?;
    // One snapshot, as for the report.
    let rows = store.in_transaction(|store| export_rows(settings, store, period))?;
    let path = out.map_or_else(|| default_export_path(settings, period, format), Path::to_path_buf);
    match format {
        ExportFormat::Csv => {
            let mut writer = csv::Writer::from_writer(Vec::new());
            for row in &rows {
                writer
                    .serialize(row)
                    .map_err(|e| Error::encode(format!("CSV {}", path.display()), e))?;
            }
            let bytes = writer
                .into_inner()
                .map_err(|e| Error::encode(format!("CSV {}", path.display()), e.into_error()))?;
            write_atomically(&path, Content::Bytes(&bytes))?;
        }
        ExportFormat::Json => {
            let bytes =
                serde_json::to_vec_pretty(&rows).map_err(|e| Error::encode(format!("JSON {}", path.display()), e))?;
            write_atomically(&path, Content::Bytes(&bytes))?;
        }
        ExportFormat::Parquet => write_parquet(&path, &rows)?,
    }
    Ok((path, rows.len()))
}

/// Writes the Hive-partitioned dataset as a whole: a reader never sees
/// some partitions of the new export beside some of the old.
fn write_parquet(dir: &Path, rows: &[ExportRow]) -> Result<(), Error> {
    write_atomically(dir, Content::Built(&mut |temp: &Path| write_partitions(temp, rows)))
}

fn write_partitions(temp: &Path, rows: &[ExportRow]) -> Result<(), Error> {
    std::fs::create_dir_all(temp).map_err(|e| Error::io(temp, e))?;
    let mut start = 0;
    while start < rows.len() {
        let (period, unit) = (&rows[start].period, &rows[start].unit_code);
        let end = rows[start..]
            .iter()
            .position(|r| &r.period != period || &r.unit_code != unit)
            .map_or(rows.len(), |n| start + n);
        let part = &rows[start..end];
        let folder = temp.join(format!("period={period}")).join(format!("unit={unit}"));
        let file_path = folder.join("data.parquet");
        let parquet = |e: PolarsError| Error::encode(format!("Parquet {}", file_path.display()), e);
        let mut frame = DataFrame::new_infer_height(vec![
            Column::new(
                "line_code".into(),
                part.iter().map(|r| r.line_code.clone()).collect::<Vec<_>>(),
            ),
            Column::new("value".into(), part.iter().map(|r| r.value).collect::<Vec<_>>()),
            Column::new("ytd".into(), part.iter().map(|r| r.ytd).collect::<Vec<_>>()),
            Column::new(
                "status".into(),
                part.iter().map(|r| r.status.clone()).collect::<Vec<_>>(),
            ),
            Column::new(
                "unit_name".into(),
                part.iter().map(|r| r.unit_name.clone()).collect::<Vec<_>>(),
            ),
            Column::new("level".into(), part.iter().map(|r| r.level.clone()).collect::<Vec<_>>()),
            Column::new(
                "territory".into(),
                part.iter().map(|r| r.territory.clone()).collect::<Vec<_>>(),
            ),
            Column::new(
                "former_districts".into(),
                part.iter().map(|r| r.former_districts.clone()).collect::<Vec<_>>(),
            ),
        ])
        .map_err(parquet)?;
        std::fs::create_dir_all(&folder).map_err(|e| Error::io(&folder, e))?;
        let file = std::fs::File::create(&file_path).map_err(|e| Error::io(&file_path, e))?;
        ParquetWriter::new(file)
            .with_compression(ParquetCompression::Uncompressed)
            .finish(&mut frame)
            .map_err(parquet)?;
        start = end;
    }
    Ok(())
}
