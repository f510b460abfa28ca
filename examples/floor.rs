//! The floor of the benchmark (`bench/run.sh`): the least work any xlsx
//! reader must do on the corpus. It opens every `.xlsx` file under the given
//! folders, inflates the parts a reader of form 01/PCMD-H needs —
//! `xl/workbook.xml` and its relationships (to find the sheets by name),
//! `xl/sharedStrings.xml`, and the sheets `Bieu01` and `Xa` — and runs them
//! through quick-xml's streaming tokeniser, counting events. It extracts
//! nothing: no cell is decoded, no number parsed, nothing is stored.
//!
//! ```text
//! cargo build --release --example floor
//! target/release/examples/floor [--threads N] [--all-sheets] [--sheet NAME]... DIR...
//! ```
//!
//! `--threads N` reads files on N threads (rayon); `--all-sheets` tokenises
//! every worksheet instead of the named ones.

use std::collections::HashMap;
use std::io::{Cursor, Read};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use quick_xml::events::Event;
use quick_xml::Reader;
use rayon::prelude::*;

type Archive = zip::ZipArchive<Cursor<Vec<u8>>>;

/// What tokenising one file found.
#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    files: u64,
    parts: u64,
    events: u64,
    inflated_bytes: u64,
}

impl Tally {
    fn add(self, other: Tally) -> Tally {
        Tally {
            files: self.files + other.files,
            parts: self.parts + other.parts,
            events: self.events + other.events,
            inflated_bytes: self.inflated_bytes + other.inflated_bytes,
        }
    }
}

#[derive(Debug)]
struct Options {
    threads: usize,
    all_sheets: bool,
    sheets: Vec<String>,
    dirs: Vec<PathBuf>,
}

fn parse_args() -> Result<Options, String> {
    let mut options = Options {
        threads: 1,
        all_sheets: false,
        sheets: Vec::new(),
        dirs: Vec::new(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--threads" => {
                let n = args.next().ok_or("--threads needs a number")?;
                options.threads = n.parse().map_err(|_| format!("--threads {n}: not a number"))?;
            }
            "--all-sheets" => options.all_sheets = true,
            "--sheet" => options.sheets.push(args.next().ok_or("--sheet needs a name")?),
            "-h" | "--help" => {
                return Err("usage: floor [--threads N] [--all-sheets] [--sheet NAME]... DIR...".into());
            }
            _ => options.dirs.push(PathBuf::from(arg)),
        }
    }
    if options.dirs.is_empty() {
        return Err("usage: floor [--threads N] [--all-sheets] [--sheet NAME]... DIR...".into());
    }
    if options.sheets.is_empty() {
        options.sheets = vec!["Bieu01".into(), "Xa".into()];
    }
    Ok(options)
}

/// Every `.xlsx` file under `dir`, in name order.
fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            collect_files(&path, out)?;
        } else if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("xlsx")) {
            out.push(path);
        }
    }
    Ok(())
}

thread_local! {
    /// This thread's libdeflate state, made once.
    static INFLATER: std::cell::RefCell<libdeflater::Decompressor> =
        std::cell::RefCell::new(libdeflater::Decompressor::new());
}

/// The part `name`, inflated whole by libdeflate into its declared size as
/// baocao's reader does (`None` when the package has no such part).
fn inflate(archive: &mut Archive, name: &str) -> Result<Option<Vec<u8>>, String> {
    let mut raw = match archive.by_name_raw(name.as_bytes()) {
        Ok(raw) => raw,
        Err(zip::result::ZipError::FileNotFound) => return Ok(None),
        Err(e) => return Err(format!("{name}: {e}")),
    };
    let size = usize::try_from(raw.size()).map_err(|e| format!("{name}: {e}"))?;
    let deflated = raw.compression() == zip::CompressionMethod::Deflated;
    let mut stored = Vec::new();
    raw.read_to_end(&mut stored).map_err(|e| format!("{name}: {e}"))?;
    if !deflated {
        return Ok(Some(stored));
    }
    let mut bytes = vec![0; size];
    let n = INFLATER
        .with_borrow_mut(|inflater| inflater.deflate_decompress(&stored, &mut bytes))
        .map_err(|e| format!("{name}: {e}"))?;
    bytes.truncate(n);
    Ok(Some(bytes))
}

/// Tokenises one part of the archive, calling `on_start` for each start or
/// empty element (only the workbook and its relationships need it).
fn tokenise(
    archive: &mut Archive,
    name: &str,
    tally: &mut Tally,
    mut on_start: impl FnMut(&quick_xml::events::BytesStart<'_>),
) -> Result<(), String> {
    let Some(xml) = inflate(archive, name)? else {
        return Ok(());
    };
    let mut reader = Reader::from_reader(xml.as_slice());
    loop {
        match reader.read_event() {
            Ok(Event::Eof) => break,
            Ok(Event::Start(e) | Event::Empty(e)) => {
                on_start(&e);
                tally.events += 1;
            }
            Ok(_) => tally.events += 1,
            Err(e) => return Err(format!("{name}: {e}")),
        }
    }
    tally.parts += 1;
    tally.inflated_bytes += xml.len() as u64;
    Ok(())
}

fn attribute(e: &quick_xml::events::BytesStart<'_>, key: &str) -> Option<String> {
    e.attributes()
        .flatten()
        .find(|a| a.key.as_ref() == key || a.key.local_name().into_inner() == key)
        .map(|a| a.value.into_owned())
}

/// The worksheet parts to tokenise: those of the wanted sheet names (or all).
fn sheet_parts(archive: &mut Archive, options: &Options, tally: &mut Tally) -> Result<Vec<String>, String> {
    let mut sheets: Vec<(String, String)> = Vec::new();
    tokenise(archive, "xl/workbook.xml", tally, |e| {
        if e.local_name().into_inner() == "sheet" {
            if let (Some(name), Some(id)) = (attribute(e, "name"), attribute(e, "r:id")) {
                sheets.push((name, id));
            }
        }
    })?;
    let mut targets: HashMap<String, String> = HashMap::new();
    tokenise(archive, "xl/_rels/workbook.xml.rels", tally, |e| {
        if e.local_name().into_inner() == "Relationship" {
            if let (Some(id), Some(target)) = (attribute(e, "Id"), attribute(e, "Target")) {
                targets.insert(id, target);
            }
        }
    })?;
    Ok(sheets
        .into_iter()
        .filter(|(name, _)| options.all_sheets || options.sheets.iter().any(|s| s == name))
        .filter_map(|(_, id)| targets.get(&id).cloned())
        .map(|target| match target.strip_prefix('/') {
            Some(absolute) => absolute.to_string(),
            None => format!("xl/{target}"),
        })
        .collect())
}

fn floor_file(path: &Path, options: &Options) -> Result<Tally, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut tally = Tally {
        files: 1,
        ..Tally::default()
    };
    let parts = sheet_parts(&mut archive, options, &mut tally).map_err(|e| format!("{}: {e}", path.display()))?;
    tokenise(&mut archive, "xl/sharedStrings.xml", &mut tally, |_| {})
        .map_err(|e| format!("{}: {e}", path.display()))?;
    for part in parts {
        tokenise(&mut archive, &part, &mut tally, |_| {}).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(tally)
}

fn run(options: &Options) -> Result<(Tally, f64), String> {
    let mut files = Vec::new();
    for dir in &options.dirs {
        collect_files(dir, &mut files).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(options.threads.max(1))
        .build()
        .map_err(|e| e.to_string())?;
    let started = Instant::now();
    let tally = pool.install(|| {
        files
            .par_iter()
            .map(|path| floor_file(path, options))
            .try_reduce(Tally::default, |a, b| Ok(a.add(b)))
    })?;
    Ok((tally, started.elapsed().as_secs_f64()))
}

fn main() -> ExitCode {
    let options = match parse_args() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    match run(&options) {
        Ok((tally, seconds)) => {
            println!(
                "floor: {} files, {} parts, {} XML events, {:.1} MiB inflated, {:.3} s on {} thread(s)",
                tally.files,
                tally.parts,
                tally.events,
                tally.inflated_bytes as f64 / (1024.0 * 1024.0),
                seconds,
                options.threads.max(1)
            );
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("floor: {message}");
            ExitCode::from(1)
        }
    }
}
