//! Times the stages of ingest one by one on a folder of returns, one thread,
//! to show where the time of `baocao ingest` goes (see bench/README.md):
//! reading the file, reading the workbook (the quick xlsx reader and
//! calamine), and extracting and checking the return.
//!
//! ```text
//! cargo run --release --example stages -- WORKSPACE
//! ```

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use baocao::pipeline::extract::TABLE_HEADER;
use baocao::pipeline::read::{read_workbook_bytes_with, ReadLimits, XlsxReader};

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut entries: Vec<_> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            files(&path, out);
        } else if path.extension().is_some_and(|e| e == "xlsx") {
            out.push(path);
        }
    }
}

fn main() -> ExitCode {
    let Some(workspace) = std::env::args().nth(1).map(PathBuf::from) else {
        eprintln!("usage: stages WORKSPACE");
        return ExitCode::from(2);
    };
    let settings = match baocao::config::Settings::load(&workspace, true) {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("stages: {e}");
            return ExitCode::from(2);
        }
    };
    let mut paths = Vec::new();
    files(&settings.paths.inbox, &mut paths);
    let limits = ReadLimits::from_ingest(&settings.config.ingest);

    let started = Instant::now();
    let bytes: Vec<Vec<u8>> = paths.iter().filter_map(|p| std::fs::read(p).ok()).collect();
    let read_files = started.elapsed();

    let time = |reader: XlsxReader| -> Duration {
        let started = Instant::now();
        for b in &bytes {
            let _ = std::hint::black_box(read_workbook_bytes_with(b.clone(), &limits, TABLE_HEADER, reader));
        }
        started.elapsed()
    };
    let calamine = time(XlsxReader::Calamine);
    let quick = time(XlsxReader::Quick);

    let started = Instant::now();
    for (path, b) in paths.iter().zip(&bytes) {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let _ = std::hint::black_box(baocao::pipeline::check::extract_one(
            b.clone(),
            &name,
            &settings.forms,
            &limits,
        ));
    }
    let precheck = started.elapsed();

    let per = |d: Duration| d.as_secs_f64() * 1e6 / bytes.len().max(1) as f64;
    println!("{} files", bytes.len());
    println!(
        "read files      {:>8.3} s  {:>7.1} µs/file",
        read_files.as_secs_f64(),
        per(read_files)
    );
    println!(
        "calamine        {:>8.3} s  {:>7.1} µs/file",
        calamine.as_secs_f64(),
        per(calamine)
    );
    println!(
        "quick reader    {:>8.3} s  {:>7.1} µs/file",
        quick.as_secs_f64(),
        per(quick)
    );
    println!(
        "read + extract  {:>8.3} s  {:>7.1} µs/file",
        precheck.as_secs_f64(),
        per(precheck)
    );
    ExitCode::SUCCESS
}
