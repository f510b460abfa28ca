//! One ingest pass over the inbox: discover stable files, read and check
//! them in parallel, then — in a deterministic order (received time, then
//! name) — check them against the stored history, store each in its own
//! transaction, write the district's feedback workbook and only then file
//! the file away. A crash anywhere loses and doubles nothing: a file still
//! in the inbox whose sha256 is stored is filed on the next pass.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use chrono::{DateTime, Local, Utc};
use rayon::prelude::*;
use sha2::{Digest, Sha256};

use crate::config::Settings;
use crate::domain::Period;
use crate::error::Error;
use crate::feedback::{write_feedback, FeedbackInput};
use crate::findings::Finding;
use crate::pipeline::check::{finish_check, precheck_bytes, CheckedFile, Prechecked, StoreHistory};
use crate::pipeline::discover::{discover, Candidate};
use crate::store::{NewSubmission, Receipt, Recorded, RunCounts, Status, Store, Submission};

/// How an ingest pass is run.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// Check and report, store and move nothing.
    pub dry_run: bool,
    /// What started the pass ("command", "schedule", "watch").
    pub trigger: String,
    /// Show a progress bar (a terminal and many files).
    pub progress: bool,
    /// Override of the stability delay (tests, the daemon's own timing).
    pub stable_seconds: Option<u64>,
    /// "Today" for the not-in-the-future rule (tests pin it).
    pub today: Option<chrono::NaiveDate>,
}

impl Default for IngestOptions {
    fn default() -> Self {
        IngestOptions {
            dry_run: false,
            trigger: "command".into(),
            progress: false,
            stable_seconds: None,
            today: None,
        }
    }
}

/// What happened to one file.
#[derive(Debug, Clone, PartialEq)]
pub struct FileOutcome {
    pub file: String,
    pub status: Option<Status>,
    pub duplicate: bool,
    pub superseded: bool,
    pub unit: Option<String>,
    pub period: Option<String>,
    pub findings: Vec<Finding>,
    pub filed_to: Option<PathBuf>,
}

/// The summary of a pass.
#[derive(Debug, Clone, Default)]
pub struct IngestSummary {
    pub counts: RunCounts,
    /// Files left for later: still being written.
    pub waiting: usize,
    /// Files healed: stored by an earlier pass that stopped before filing them.
    pub healed: usize,
    /// Files left in place by `keep_originals` that were stored before.
    pub already_stored: usize,
    pub files: Vec<FileOutcome>,
    pub elapsed: Duration,
    pub run_id: Option<i64>,
    /// Where the storing thread spent the pass (for the log).
    pub phases: Phases,
}

/// Time the storing thread of a pass spent in each phase.
#[derive(Debug, Clone, Default)]
pub struct Phases {
    /// Waiting for the reader thread.
    pub waiting: Duration,
    /// Sorting a chunk into known and new content, loading the history.
    pub sort: Duration,
    /// Checking every rule (on the pool).
    pub check: Duration,
    /// Storing, one transaction per file.
    pub record: Duration,
    /// Waiting to hand a stored chunk to the finishing thread (feedback
    /// workbooks, moving the files).
    pub handover: Duration,
    /// Recording that the files have moved.
    pub filing: Duration,
}

impl IngestSummary {
    /// Whether any file was rejected (exit code 1).
    pub fn any_rejected(&self) -> bool {
        self.counts.rejected > 0
    }

    /// One paragraph for the terminal.
    pub fn report(&self) -> String {
        let c = &self.counts;
        format!(
            "files seen: {}, accepted: {}, accepted with warnings: {}, rejected: {}, duplicates: {}, superseded: {}{}{}{} — {:.2} s",
            c.seen,
            c.accepted,
            c.warnings,
            c.rejected,
            c.duplicates,
            c.superseded,
            if self.waiting > 0 { format!(", still being written: {}", self.waiting) } else { String::new() },
            if self.healed > 0 { format!(", filed after an interrupted pass: {}", self.healed) } else { String::new() },
            if self.already_stored > 0 { format!(", already stored (kept in place): {}", self.already_stored) } else { String::new() },
            self.elapsed.as_secs_f64()
        )
    }
}

/// Set by a signal handler to stop a pass between files.
pub static STOP: AtomicBool = AtomicBool::new(false);

fn now_iso() -> String {
    Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn iso(time: SystemTime) -> String {
    DateTime::<Utc>::from(time).format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// sha256 of a file, hex.
///
/// # Errors
/// [`Error::Io`].
pub fn sha256_of(path: &Path) -> Result<String, Error> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    Ok(sha256_hex(&bytes))
}

/// sha256 of bytes, hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Where files go once stored.
struct Destinations {
    stored: PathBuf,
    feedback: PathBuf,
    /// A second copy of the feedback beside a rejected file.
    feedback_beside: Option<PathBuf>,
}

fn stem_and_ext(relative: &str) -> (String, String) {
    let name = relative.rsplit('/').next().unwrap_or(relative);
    match name.rsplit_once('.') {
        Some((stem, ext)) => (stem.to_string(), ext.to_lowercase()),
        None => (name.to_string(), String::new()),
    }
}

fn destinations(settings: &Settings, checked: &CheckedFile, status: Status, relative: &str, sha: &str) -> Destinations {
    let (stem, ext) = stem_and_ext(relative);
    let stamp = Local::now().format("%Y%m%d-%H%M%S");
    let tag = format!("{stem}__{stamp}_{}", &sha[..8.min(sha.len())]);
    let unit_folder = checked.unit_code.clone().unwrap_or_else(|| "khong-ro-don-vi".into());
    let feedback = settings
        .paths
        .feedback
        .join(&unit_folder)
        .join(format!("{tag}_phanhoi.xlsx"));
    match status {
        Status::Rejected => Destinations {
            stored: settings.paths.rejected.join(format!("{tag}.{ext}")),
            feedback,
            feedback_beside: Some(settings.paths.rejected.join(format!("{tag}_phanhoi.xlsx"))),
        },
        _ => {
            let period = checked
                .period
                .map(|p| p.to_string())
                .unwrap_or_else(|| "khong-ro-ky".into());
            Destinations {
                stored: settings
                    .paths
                    .archive
                    .join(period)
                    .join(&unit_folder)
                    .join(format!("{tag}.{ext}")),
                feedback,
                feedback_beside: None,
            }
        }
    }
}

fn relative_to(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .to_string_lossy()
        .replace('\\', "/")
}

/// Files a received file: moves it, or copies it when the workspace keeps
/// originals in place.
///
/// # Errors
/// [`Error::Io`].
pub fn file_away(settings: &Settings, from: &Path, to: &Path) -> Result<PathBuf, Error> {
    if settings.config.ingest.keep_originals {
        let target = free_name(to, &|p| p.exists());
        if let Some(dir) = target.parent() {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        std::fs::copy(from, &target).map_err(|e| Error::io(&target, e))?;
        Ok(target)
    } else {
        move_file(from, to)
    }
}

fn free_name(to: &Path, taken: &dyn Fn(&Path) -> bool) -> PathBuf {
    let mut target = to.to_path_buf();
    let mut n = 1;
    while taken(&target) {
        let stem = to
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let ext = to
            .extension()
            .map(|s| format!(".{}", s.to_string_lossy()))
            .unwrap_or_default();
        target = to.with_file_name(format!("{stem}-{n}{ext}"));
        n += 1;
    }
    target
}

/// Moves a file, never overwriting: a name already taken gets a counter.
/// Falls back to copy-and-remove across file systems (network shares).
///
/// # Errors
/// [`Error::Io`].
pub fn move_file(from: &Path, to: &Path) -> Result<PathBuf, Error> {
    if let Some(dir) = to.parent() {
        // A look is cheaper than a mkdir that finds the folder there.
        if !dir.is_dir() {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
    }
    let target = free_name(to, &|p| p.exists());
    if std::fs::rename(from, &target).is_err() {
        std::fs::copy(from, &target).map_err(|e| Error::io(&target, e))?;
        let file = std::fs::File::open(&target).map_err(|e| Error::io(&target, e))?;
        file.sync_all().map_err(|e| Error::io(&target, e))?;
        std::fs::remove_file(from).map_err(|e| Error::io(from, e))?;
    }
    Ok(target)
}

/// Runs one ingest pass.
///
/// # Errors
/// Only failures that stop the pass: the database, the inbox unreadable.
/// A bad file is a finding, never an error.
pub fn ingest(settings: &Settings, options: &IngestOptions) -> Result<IngestSummary, Error> {
    let started = Instant::now();
    let mut summary = IngestSummary::default();
    let mut store = Store::open(&settings.paths.database)?;
    let run_id = if options.dry_run {
        None
    } else {
        Some(store.begin_run(
            &options.trigger,
            if options.dry_run { "ingest --dry-run" } else { "ingest" },
            &now_iso(),
        )?)
    };
    summary.run_id = run_id;
    if !options.dry_run {
        summary.healed += heal_unfiled(settings, &store)?;
    }

    let stable = Duration::from_secs(options.stable_seconds.unwrap_or(settings.config.ingest.stable_seconds));
    let found = discover(&settings.paths.inbox, stable, SystemTime::now())?;
    summary.waiting = found.unstable.len();
    for path in &found.unstable {
        tracing::info!(file = %path.display(), "File still being written; left for the next pass");
    }

    let today = options.today.unwrap_or_else(|| Local::now().date_naive());
    let bar = progress_bar(options.progress, found.ready.len());
    // Three pools of the configured size: one reads ahead, one checks, one
    // writes feedback. With one shared pool the checks of the chunk being
    // stored queued behind the reading of the next chunks and the feedback
    // of the last; with three, the system shares the cores between them.
    let new_pool = |name: &'static str| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(settings.config.ingest.threads)
            .thread_name(move |i| format!("{name}-{i}"))
            .build()
            .map_err(|e| Error::Usage(format!("thread pool: {e}")))
    };
    let pool = new_pool("check")?;
    let read_pool = new_pool("read")?;
    let feedback_pool = new_pool("feedback")?;
    let mut history = StoreHistory::default();
    // Chunks bound the memory a pass holds, whatever the size of the inbox.
    // A reader thread keeps reading and extracting the next chunks on the
    // pool (at most READ_AHEAD chunks ahead), while this thread checks each
    // chunk against the history and stores it, in order: the pool has work
    // to do while the store writes.
    let chunks: Vec<&[Candidate]> = found.ready.chunks(CHUNK_FILES).collect();
    if pool.current_num_threads() == 1 {
        // One thread: the same stages one after the other, on one core.
        let mut in_flight = HashSet::new();
        for chunk in &chunks {
            if STOP.load(Ordering::SeqCst) {
                break;
            }
            let loaded: Vec<Loaded> = chunk.iter().map(|candidate| load(candidate, settings)).collect();
            let stored = store_chunk(
                settings,
                options,
                &mut store,
                run_id,
                today,
                &mut history,
                &mut summary,
                &pool,
                &in_flight,
                chunk,
                loaded,
            )?;
            in_flight.extend(stored.iter().map(|p| p.recorded.id));
            let done = finish_chunk(settings, &feedback_pool, stored);
            record_filed(settings, &store, run_id, &mut summary, &mut in_flight, done)?;
            if let Some(bar) = &bar {
                bar.inc(chunk.len() as u64);
            }
        }
    } else {
        std::thread::scope(|scope| -> Result<(), Error> {
            let (sender, receiver) = std::sync::mpsc::sync_channel::<Vec<Loaded>>(READ_AHEAD);
            let pool = &pool;
            let read_pool = &read_pool;
            let feedback_pool = &feedback_pool;
            let reader_chunks = &chunks;
            scope.spawn(move || {
                for chunk in reader_chunks {
                    if STOP.load(Ordering::SeqCst) {
                        break;
                    }
                    let loaded: Vec<Loaded> =
                        read_pool.install(|| chunk.par_iter().map(|candidate| load(candidate, settings)).collect());
                    if sender.send(loaded).is_err() {
                        break;
                    }
                }
            });
            // A finishing thread writes the feedback of each stored chunk (on
            // the pool) and moves its files, while this thread stores the next
            // chunk; this thread then records the filing. Until then the chunk's
            // submissions are "in flight": stored, not yet filed.
            let (to_finish, finish_rx) = std::sync::mpsc::sync_channel::<Vec<Pending>>(1);
            let (finished_tx, finished) = std::sync::mpsc::channel::<Result<Vec<Moved>, Error>>();
            scope.spawn(move || {
                for stored in finish_rx {
                    let done = finish_chunk(settings, feedback_pool, stored);
                    let failed = done.is_err();
                    if finished_tx.send(done).is_err() || failed {
                        break;
                    }
                }
            });
            let mut in_flight: HashSet<i64> = HashSet::new();
            for chunk in &chunks {
                if STOP.load(Ordering::SeqCst) {
                    break;
                }
                let waiting = Instant::now();
                let Ok(loaded) = receiver.recv() else { break };
                summary.phases.waiting += waiting.elapsed();
                let stored = store_chunk(
                    settings,
                    options,
                    &mut store,
                    run_id,
                    today,
                    &mut history,
                    &mut summary,
                    pool,
                    &in_flight,
                    chunk,
                    loaded,
                )?;
                if !stored.is_empty() {
                    in_flight.extend(stored.iter().map(|p| p.recorded.id));
                    let handover = Instant::now();
                    if to_finish.send(stored).is_err() {
                        // The finishing thread stopped on an error: it is waiting below.
                        break;
                    }
                    summary.phases.handover += handover.elapsed();
                }
                while let Ok(done) = finished.try_recv() {
                    record_filed(settings, &store, run_id, &mut summary, &mut in_flight, done)?;
                }
                if let Some(bar) = &bar {
                    bar.inc(chunk.len() as u64);
                }
            }
            // Dropping the receiver stops the reader at its next chunk; closing
            // the finishing channel lets the finishing thread end.
            drop(receiver);
            drop(to_finish);
            for done in finished {
                record_filed(settings, &store, run_id, &mut summary, &mut in_flight, done)?;
            }
            Ok(())
        })?;
    }
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }

    summary.elapsed = started.elapsed();
    let p = &summary.phases;
    tracing::debug!(
        waiting_s = p.waiting.as_secs_f64(),
        sort_s = p.sort.as_secs_f64(),
        check_s = p.check.as_secs_f64(),
        record_s = p.record.as_secs_f64(),
        handover_s = p.handover.as_secs_f64(),
        filing_s = p.filing.as_secs_f64(),
        "Where the storing thread spent the pass"
    );
    if let Some(id) = run_id {
        let outcome = if summary.any_rejected() { "rejected files" } else { "ok" };
        store.finish_run(id, &summary.counts, outcome, &now_iso())?;
    }
    Ok(summary)
}

/// A file read ahead: its sha256 and what reading and extracting gave
/// (`None` when it could not be read now).
type Loaded = Option<(String, Prechecked)>;

/// Checks one chunk of read files against the history, stores each in its
/// own transaction, writes the feedback in parallel, then files them.
#[allow(clippy::too_many_arguments)]
fn store_chunk(
    settings: &Settings,
    options: &IngestOptions,
    store: &mut Store,
    run_id: Option<i64>,
    today: chrono::NaiveDate,
    history: &mut StoreHistory,
    summary: &mut IngestSummary,
    pool: &rayon::ThreadPool,
    in_flight: &HashSet<i64>,
    chunk: &[Candidate],
    loaded: Vec<Loaded>,
) -> Result<Vec<Pending>, Error> {
    // Then one by one, in arrival order, against the stored history.
    // What is already stored is sorted out first, in arrival order.
    let mut clock = PhaseClock::start();
    let mut fresh: Vec<Fresh<'_>> = Vec::new();
    let mut repeats: Vec<(&Candidate, String)> = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    for (index, (candidate, loaded)) in chunk.iter().zip(loaded).enumerate() {
        let Some((sha, pre)) = loaded else {
            // Gone or unreadable since discovery: the next pass will see.
            summary.waiting += 1;
            continue;
        };
        if !seen.insert(sha.clone()) {
            // The same content twice in one chunk: judged once the first is stored.
            repeats.push((candidate, sha));
            continue;
        }
        if let Some(known) = store.find_by_sha(&sha)? {
            let same_pass = in_flight.contains(&known.id);
            handle_known(
                settings, store, run_id, options, candidate, &sha, known, same_pass, summary,
            )?;
            continue;
        }
        let unit = pre
            .raw
            .as_ref()
            .and_then(|raw| raw.unit_code.as_ref())
            .and_then(|field| field.value.clone())
            .unwrap_or_default();
        if !unit.is_empty() {
            history.load_unit(store, &unit)?;
        }
        fresh.push(Fresh {
            index,
            candidate,
            sha,
            pre,
            unit,
        });
    }

    clock.lap(&mut summary.phases.sort);
    // Every rule, against the history: a unit's files in arrival order, the
    // units in parallel (no rule looks across units).
    let mut by_unit: BTreeMap<String, Vec<Fresh<'_>>> = BTreeMap::new();
    for item in fresh {
        by_unit.entry(item.unit.clone()).or_default().push(item);
    }
    let parts: Vec<(StoreHistory, Vec<Fresh<'_>>)> = by_unit
        .into_iter()
        .map(|(unit, items)| (history.split_unit(&unit), items))
        .collect();
    let checked_parts: Vec<(StoreHistory, Vec<CheckedInChunk<'_>>)> = pool.install(|| {
        parts
            .into_par_iter()
            .map(|(mut part, items)| {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    // With the history preloaded, checking needs no store and cannot fail.
                    let Ok(checked) =
                        finish_check(item.pre, &item.candidate.relative, settings, today, &mut part, None)
                    else {
                        continue;
                    };
                    if !options.dry_run && Status::of(&checked.findings).is_accepted() {
                        part.remember(&checked);
                    }
                    out.push((item.index, item.candidate, item.sha, checked));
                }
                (part, out)
            })
            .collect()
    });
    let mut checked_files = Vec::new();
    for (part, files) in checked_parts {
        history.join(part);
        checked_files.extend(files);
    }
    checked_files.sort_by_key(|(index, ..)| *index);

    clock.lap(&mut summary.phases.check);
    // Then each is stored in its own transaction, in arrival order.
    let mut stored_now: Vec<Pending> = Vec::new();
    for (_, candidate, sha, checked) in checked_files {
        if STOP.load(Ordering::SeqCst) {
            tracing::info!("Stop requested: the remaining files stay in the inbox");
            break;
        }
        summary.counts.seen += 1;
        let status = Status::of(&checked.findings);
        match status {
            Status::Accepted => summary.counts.accepted += 1,
            Status::Warnings => summary.counts.warnings += 1,
            Status::Rejected => summary.counts.rejected += 1,
        }
        if options.dry_run {
            summary.files.push(FileOutcome {
                file: candidate.relative.clone(),
                status: Some(status),
                duplicate: false,
                superseded: false,
                unit: checked.unit_code.clone(),
                period: checked.period.map(|p| p.to_string()),
                findings: checked.findings,
                filed_to: None,
            });
            continue;
        }
        let pending = record(settings, store, run_id, candidate, &sha, checked, status)?;
        if pending.recorded.superseded.is_some() {
            summary.counts.superseded += 1;
        }
        stored_now.push(pending);
    }
    for (candidate, sha) in repeats {
        if STOP.load(Ordering::SeqCst) {
            break;
        }
        match store.find_by_sha(&sha)? {
            Some(known) => {
                let same_pass = in_flight.contains(&known.id) || stored_now.iter().any(|p| p.recorded.id == known.id);
                handle_known(
                    settings, store, run_id, options, candidate, &sha, known, same_pass, summary,
                )?;
            }
            // A dry run stores nothing: the copy is still a duplicate.
            None => {
                summary.counts.seen += 1;
                summary.counts.duplicates += 1;
            }
        }
    }
    clock.lap(&mut summary.phases.record);
    Ok(stored_now)
}

/// Records in one transaction the filing of a finished chunk.
fn record_filed(
    settings: &Settings,
    store: &Store,
    run_id: Option<i64>,
    summary: &mut IngestSummary,
    in_flight: &mut HashSet<i64>,
    done: Result<Vec<Moved>, Error>,
) -> Result<(), Error> {
    let started = Instant::now();
    let moved = done?;
    let filed = store.in_transaction(|store| {
        moved
            .into_iter()
            .map(|m| {
                in_flight.remove(&m.pending.recorded.id);
                record_filing(settings, store, run_id, m)
            })
            .collect::<Result<Vec<_>, Error>>()
    })?;
    summary.files.extend(filed);
    summary.phases.filing += started.elapsed();
    Ok(())
}

/// A stored file whose feedback is written and whose file has moved.
struct Moved {
    pending: Pending,
    to: PathBuf,
}

/// Writes the feedback workbooks of a stored chunk (in parallel), then
/// moves its files: only now do they leave the inbox.
fn finish_chunk(settings: &Settings, pool: &rayon::ThreadPool, stored: Vec<Pending>) -> Result<Vec<Moved>, Error> {
    let written: Vec<Result<(), Error>> =
        pool.install(|| stored.par_iter().map(|p| write_feedbacks(settings, p)).collect());
    for result in written {
        result?;
    }
    let mut moved = Vec::with_capacity(stored.len());
    for pending in stored {
        match file_away(settings, &pending.candidate.path, &pending.dest.stored) {
            Ok(to) => moved.push(Moved { pending, to }),
            // What moved before the error is recorded by the next pass's heal.
            Err(error) => return Err(error),
        }
    }
    Ok(moved)
}

/// Measures the phases of storing a chunk, for the log.
struct PhaseClock(Instant);

impl PhaseClock {
    fn start() -> PhaseClock {
        PhaseClock(Instant::now())
    }

    /// Adds the time since the last lap to `total`.
    fn lap(&mut self, total: &mut Duration) {
        let now = Instant::now();
        *total += now - self.0;
        self.0 = now;
    }
}

/// Files per chunk: read in parallel, stored in order, then filed.
const CHUNK_FILES: usize = 256;

/// Chunks read ahead of the one being stored.
const READ_AHEAD: usize = 2;

/// Reads a file once: its sha256 and what reading and extracting gave.
/// `None` when it cannot be read now (gone, locked).
fn load(candidate: &Candidate, settings: &Settings) -> Option<(String, Prechecked)> {
    match std::fs::read(&candidate.path) {
        Ok(bytes) => {
            let sha = sha256_hex(&bytes);
            Some((sha, precheck_bytes(bytes, &candidate.relative, settings)))
        }
        Err(error) => {
            tracing::warn!(file = %candidate.relative, %error, "File could not be read; left for the next pass");
            None
        }
    }
}

/// A file whose content is already stored: a duplicate, a file of an
/// interrupted pass to file now, or (keeping originals) one to skip.
#[allow(clippy::too_many_arguments)]
fn handle_known(
    settings: &Settings,
    store: &Store,
    run_id: Option<i64>,
    options: &IngestOptions,
    candidate: &Candidate,
    sha: &str,
    stored: Submission,
    same_pass: bool,
    summary: &mut IngestSummary,
) -> Result<(), Error> {
    if settings.config.ingest.keep_originals && (stored.filed || same_pass) {
        summary.already_stored += 1;
        return Ok(());
    }
    summary.counts.seen += 1;
    let duplicate = stored.filed || same_pass;
    if duplicate {
        summary.counts.duplicates += 1;
    }
    if options.dry_run {
        summary.files.push(FileOutcome {
            file: candidate.relative.clone(),
            status: Some(stored.status),
            duplicate: true,
            superseded: false,
            unit: stored.unit_code.clone(),
            period: stored.period.clone(),
            findings: Vec::new(),
            filed_to: None,
        });
        return Ok(());
    }
    let target = if duplicate {
        let (stem, ext) = stem_and_ext(&candidate.relative);
        let stamp = Local::now().format("%Y%m%d-%H%M%S");
        settings
            .paths
            .archive
            .join("trung-lap")
            .join(format!("{stem}__{stamp}_{}.{ext}", &sha[..8.min(sha.len())]))
    } else {
        summary.healed += 1;
        settings.paths.root.join(&stored.stored_path)
    };
    let moved = file_away(settings, &candidate.path, &target)?;
    if !duplicate {
        regenerate_feedback(settings, store, &stored)?;
        store.mark_filed(stored.id)?;
    }
    let outcome = if duplicate {
        "duplicate"
    } else {
        "filed after interruption"
    };
    store.record_receipt(&Receipt {
        run_id,
        file_name: &candidate.relative,
        sha256: sha,
        seen_at: &now_iso(),
        outcome,
        submission_id: Some(stored.id),
        moved_to: Some(&relative_to(&settings.paths.root, &moved)),
    })?;
    tracing::info!(file = %candidate.relative, unit = ?stored.unit_code, period = ?stored.period, outcome, "Already stored");
    summary.files.push(FileOutcome {
        file: candidate.relative.clone(),
        status: Some(stored.status),
        duplicate,
        superseded: false,
        unit: stored.unit_code.clone(),
        period: stored.period.clone(),
        findings: Vec::new(),
        filed_to: Some(moved),
    });
    Ok(())
}

/// A checked file with its position in the chunk, its file and sha256.
type CheckedInChunk<'a> = (usize, &'a Candidate, String, CheckedFile);

/// A file read in this pass whose content is not stored yet.
struct Fresh<'a> {
    /// Position in its chunk (arrival order).
    index: usize,
    candidate: &'a Candidate,
    sha: String,
    pre: Prechecked,
    /// The unit code the file names, as read ("" when none).
    unit: String,
}

/// A file stored in this pass, waiting for its feedback and filing.
struct Pending {
    candidate: Candidate,
    sha: String,
    checked: CheckedFile,
    status: Status,
    dest: Destinations,
    recorded: Recorded,
}

/// Stores one checked file in its own transaction.
fn record(
    settings: &Settings,
    store: &mut Store,
    run_id: Option<i64>,
    candidate: &Candidate,
    sha: &str,
    checked: CheckedFile,
    status: Status,
) -> Result<Pending, Error> {
    let dest = destinations(settings, &checked, status, &candidate.relative, sha);
    let root = &settings.paths.root;
    let new = NewSubmission {
        run_id,
        file_name: candidate.relative.clone(),
        sha256: sha.to_string(),
        size: candidate.size,
        received_at: iso(candidate.modified),
        processed_at: now_iso(),
        unit_code: checked.unit_code.clone(),
        unit_name: checked.unit_name.clone(),
        period: checked.period.map(|p| p.to_string()),
        form_code: checked.form_code.clone(),
        form_version: checked.form_version,
        status,
        values: checked.values.clone(),
        flags: checked.flags.clone(),
        findings: checked.findings.clone(),
        stored_path: relative_to(root, &dest.stored),
        feedback_path: Some(relative_to(root, &dest.feedback)),
    };
    let recorded = store.record_submission(&new)?;
    Ok(Pending {
        candidate: candidate.clone(),
        sha: sha.to_string(),
        checked,
        status,
        dest,
        recorded,
    })
}

fn write_feedbacks(settings: &Settings, p: &Pending) -> Result<(), Error> {
    let checked = &p.checked;
    let form = match (&checked.form_code, checked.form_version) {
        (Some(code), Some(version)) => settings.form(code, version),
        _ => None,
    };
    let unit = checked
        .unit_code
        .as_deref()
        .map(|code| (code, checked.unit_name.as_deref().unwrap_or("")));
    let received = iso(p.candidate.modified);
    let input = FeedbackInput {
        file_name: &p.candidate.relative,
        received_at: &received,
        timezone: settings.timezone,
        status: p.status,
        unit,
        period: checked.period.map(|period| period.vietnamese()),
        form,
        values: &checked.values,
        findings: &checked.findings,
        supersedes: p.recorded.superseded.map(|id| format!("mã lưu trữ {id}")),
    };
    write_feedback(&p.dest.feedback, &input)?;
    if let Some(beside) = &p.dest.feedback_beside {
        if let Some(dir) = beside.parent() {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        // The same workbook beside the rejected file: a link where the file
        // system allows one, a copy otherwise.
        if std::fs::hard_link(&p.dest.feedback, beside).is_err() {
            std::fs::copy(&p.dest.feedback, beside).map_err(|e| Error::io(beside, e))?;
        }
    }
    Ok(())
}

/// Records in the store that a stored file has moved to its place.
fn record_filing(settings: &Settings, store: &Store, run_id: Option<i64>, m: Moved) -> Result<FileOutcome, Error> {
    let Moved { pending: p, to: moved } = m;
    store.mark_filed(p.recorded.id)?;
    store.record_receipt(&Receipt {
        run_id,
        file_name: &p.candidate.relative,
        sha256: &p.sha,
        seen_at: &now_iso(),
        outcome: p.status.as_str(),
        submission_id: Some(p.recorded.id),
        moved_to: Some(&relative_to(&settings.paths.root, &moved)),
    })?;
    let checked = p.checked;
    let unit_code = checked.unit_code.clone().unwrap_or_default();
    let period = checked.period.map(|x| x.to_string()).unwrap_or_default();
    let errors = checked.findings.iter().filter(|f| f.is_error()).count();
    let warnings = checked.findings.len() - errors;
    let superseded = p.recorded.superseded.is_some();
    if p.status.is_accepted() {
        tracing::info!(file = %p.candidate.relative, unit = %unit_code, period = %period, warnings, superseded, "Return accepted");
    } else {
        tracing::info!(file = %p.candidate.relative, unit = %unit_code, period = %period, errors, warnings, "Return rejected");
    }
    for finding in &checked.findings {
        tracing::debug!(file = %p.candidate.relative, unit = %unit_code, period = %period, "{}", finding.log_line());
    }
    Ok(FileOutcome {
        file: p.candidate.relative,
        status: Some(p.status),
        duplicate: false,
        superseded: p.recorded.superseded.is_some(),
        unit: checked.unit_code,
        period: checked.period.map(|x| x.to_string()),
        findings: checked.findings,
        filed_to: Some(moved),
    })
}

/// Writes the feedback of a stored submission again when a pass stopped
/// before writing it.
fn regenerate_feedback(settings: &Settings, store: &Store, submission: &Submission) -> Result<(), Error> {
    let Some(feedback) = &submission.feedback_path else {
        return Ok(());
    };
    let path = settings.paths.root.join(feedback);
    if path.exists() {
        return Ok(());
    }
    let values: Vec<_> = store.values_of(submission.id)?.into_values().collect();
    let findings = store.findings_of(submission.id)?;
    let form = match (&submission.form_code, submission.form_version) {
        (Some(code), Some(version)) => settings.form(code, version),
        _ => None,
    };
    let input = FeedbackInput {
        file_name: &submission.file_name,
        received_at: &submission.received_at,
        timezone: settings.timezone,
        status: submission.status,
        unit: submission.unit_code.as_deref().map(|c| (c, "")),
        period: submission.period.clone(),
        form,
        values: &values,
        findings: &findings,
        supersedes: None,
    };
    write_feedback(&path, &input)
}

/// Files the files of submissions stored by a pass that stopped before
/// filing them (their inbox copy is moved now, or found already moved).
fn heal_unfiled(settings: &Settings, store: &Store) -> Result<usize, Error> {
    let mut healed = 0;
    for submission in store.unfiled()? {
        let target = settings.paths.root.join(&submission.stored_path);
        let source = settings.paths.inbox.join(&submission.file_name);
        if target.exists() {
            regenerate_feedback(settings, store, &submission)?;
            store.mark_filed(submission.id)?;
            healed += 1;
        } else if source.exists() && sha256_of(&source).ok().as_deref() == Some(submission.sha256.as_str()) {
            file_away(settings, &source, &target)?;
            regenerate_feedback(settings, store, &submission)?;
            store.mark_filed(submission.id)?;
            healed += 1;
        }
        // Otherwise the file is found by its sha256 wherever it now sits in
        // the inbox, during discovery.
    }
    Ok(healed)
}

fn progress_bar(enabled: bool, total: usize) -> Option<indicatif::ProgressBar> {
    if !enabled || total < 20 {
        return None;
    }
    let bar = indicatif::ProgressBar::new(total as u64);
    if let Ok(style) = indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} tệp  {elapsed_precise}") {
        bar.set_style(style);
    }
    Some(bar)
}

/// Months before `period` to look back for the across-period rules.
pub fn lookback(period: Period, months: u32) -> Vec<String> {
    (1..=i64::from(months))
        .map(|i| period.add_months(-i).to_string())
        .collect()
}
