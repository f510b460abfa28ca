//! The stored values for other systems: long format `period, unit_code,
//! line_code, value, ytd, status` as CSV, JSON, or a Hive-partitioned
//! Parquet dataset (`period=…/unit=…/data.parquet`) that DuckDB, Spark or
//! Trino read directly. Rows come in a fixed order (period, unit, form line
//! order), so the same database gives identical exports.

use std::path::{Path, PathBuf};

use polars::prelude::*;

use crate::atomic::{write_atomically, Content};
use crate::config::Settings;
use crate::domain::Period;
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
        let mut values: Vec<_> = store.values_of(s.id)?.into_values().collect();
        values.sort_by_key(|v| (form.line_index(&v.line).unwrap_or(usize::MAX), v.line.clone()));
        for v in values {
            rows.push(ExportRow {
                period: s.period.map(|p| p.to_string()).unwrap_or_default(),
                unit_code: s.unit_code.clone().unwrap_or_default(),
                line_code: v.line,
                value: v.value,
                ytd: v.ytd,
                status: s.status.as_str().to_string(),
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
    let rows = export_rows(settings, &store, period)?;
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
