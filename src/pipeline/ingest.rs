//! One ingest pass over the inbox. Each file makes the same journey, in
//! stages with a typed output (the file itself, [`Received`], travels along
//! in an `InHand`):
//!
//! ```text
//! discover          stable files, oldest first, then by name   → Candidate
//! receive, extract  read ahead, many files at once              → InHand<Extracted>
//! sort out          content stored before: a duplicate, or a file an
//!                   interrupted pass left to file now
//! check_one         a unit's files in arrival order, units in
//!                   parallel, against the stored history        → Checked
//!                   and made ready to store (rows, places)      → InHand<ToStore>
//! record            one transaction per chunk, in arrival order → InHand<Stored>
//! feedback          the district's workbook, under a temporary name
//! file away         the workbook in place, durably; the file
//!                   out of the inbox only now                   → InHand<Filed>
//!                   and the filing recorded                     → FileOutcome
//! ```
//!
//! The last two stages are in `ingest/finish.rs`; what a pass is told and
//! reports back, in `ingest/summary.rs`.
//!
//! A `Batch` holds what every stage of the pass shares: the settings, the
//! store, the run, today, the history and the thread pools. Files go in
//! chunks (memory stays bounded whatever the inbox holds): a reader thread
//! receives and extracts the next chunks; this thread sorts out one chunk
//! and has it checked on the check pool while it records the chunk checked
//! before (the checks need the history, which the checks themselves keep
//! up to date, not the store); a feedback thread writes the workbooks of
//! the chunk recorded before, and a filing thread puts the workbooks of the
//! chunk before that in place and moves its files (it mostly waits for the
//! disk, so it runs beside the writing; one thread, since the kernel moves
//! files between folders one at a time). Content met in the chunk checked and
//! not yet recorded counts as met: a copy of it is judged once that chunk is
//! stored. With one thread configured the pools have one thread each and
//! the code is the same.
//!
//! Crash safety: a chunk's files are stored in one transaction, all or
//! nothing; a file leaves the inbox only after that transaction commits, and
//! its filing is recorded after it moved. A pass that stops anywhere loses
//! and doubles nothing: a file still in the inbox whose sha256 is stored is
//! filed by the next pass (`filing.rs`), one whose chunk did not commit is
//! taken again as new.

mod finish;
mod summary;

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, sync_channel, SyncSender};
use std::time::{Duration, Instant, SystemTime};

use chrono::{DateTime, Local, NaiveDate, Utc};
use rayon::prelude::*;

use crate::config::Settings;
use crate::domain::Form;
use crate::error::Error;
use crate::pipeline::check::{
    check_one, claimed_unit, extract_one, read_limits, receive, rules_context, Received, StoreHistory,
};
use crate::pipeline::discover::{discover, Candidate};
use crate::pipeline::extract::Extracted;
use crate::pipeline::filing::{duplicate_place, file_away, heal_unfiled, regenerate_feedback, relative_to, Placement};
use crate::pipeline::validate::{Checked, Return};
use crate::store::{
    NewSubmission, Receipt, ReceiptOutcome, Recorded, Status, Store, StoredCommune, StoredValue, Submission,
};

use finish::{file_chunk, record_filing, write_feedback, FeedbackWritten};
use summary::PhaseClock;
pub use summary::{FileOutcome, IngestOptions, IngestSummary, Phases};

/// Set by a signal handler to stop a pass between files.
pub static STOP: AtomicBool = AtomicBool::new(false);

fn stop_requested() -> bool {
    STOP.load(Ordering::SeqCst)
}

/// Files per chunk at most: read in parallel, stored in order (one
/// transaction), then filed.
const CHUNK_FILES: usize = 256;

/// Chunks a pass is cut into at least, when it has the files: the first
/// chunk is read before anything is checked, and the last is filed after
/// everything else is stored, so a pass of two or three chunks leaves a core
/// idle for a good part of it.
const MIN_CHUNKS: usize = 8;

/// Files per chunk at least (each chunk costs a transaction and a filing).
const MIN_CHUNK_FILES: usize = 16;

/// How many files the full chunks of a pass over `files` files take: 256
/// from 2,048 files up, an eighth of the pass below that, and never fewer
/// than 16.
pub fn chunk_files(files: usize) -> usize {
    files.div_ceil(MIN_CHUNKS).clamp(MIN_CHUNK_FILES, CHUNK_FILES)
}

/// The sizes of a pass's chunks, in order, adding up to `files`. Full
/// chunks ([`chunk_files`]) in the middle, the last of them taking the rest;
/// at each end chunks of 16, 32, 64… files while they are smaller than a
/// full one. While the first chunk is read nothing else can run, and while
/// the last is stored and filed nothing else is left: small chunks there
/// keep both cores busy for more of the pass.
pub fn chunk_sizes(files: usize) -> Vec<usize> {
    let full = chunk_files(files);
    let (mut head, mut tail) = (Vec::new(), Vec::new());
    let mut left = files;
    let mut size = MIN_CHUNK_FILES;
    while size < full && left > 0 {
        for end in [&mut head, &mut tail] {
            let take = size.min(left);
            if take > 0 {
                end.push(take);
                left -= take;
            }
        }
        size *= 2;
    }
    // The middle in full chunks, the last of them taking the rest.
    let mut sizes = head;
    sizes.extend((0..left.div_ceil(full)).map(|i| full.min(left - i * full)));
    sizes.extend(tail.into_iter().rev());
    sizes
}

/// Chunks read ahead of the one being stored.
const READ_AHEAD: usize = 2;

/// Runs one ingest pass.
///
/// # Errors
/// Only failures that stop the pass: the database, the inbox unreadable,
/// a file that cannot be filed. A bad file is a finding, never an error.
pub fn ingest(settings: &Settings, options: &IngestOptions) -> Result<IngestSummary, Error> {
    let started = Instant::now();
    let pools = Pools::new(settings.config.ingest.threads)?;
    let mut batch = Batch::open(settings, options, &pools)?;
    let stable = Duration::from_secs(options.stable_seconds.unwrap_or(settings.config.ingest.stable_seconds));
    let found = discover(&settings.paths.inbox, stable, SystemTime::now())?;
    batch.summary.waiting = found.unstable.len();
    for path in &found.unstable {
        tracing::info!(file = %path.display(), "File still being written; left for the next pass");
    }
    let bar = progress_bar(options.progress, found.ready.len());
    let mut rest: &[Candidate] = &found.ready;
    let chunks: Vec<&[Candidate]> = chunk_sizes(rest.len())
        .into_iter()
        .map(|size| {
            // The sizes add up to the files (`chunk_sizes`); never past them.
            let (chunk, after) = rest.split_at(size.min(rest.len()));
            rest = after;
            chunk
        })
        .collect();
    batch.pass(&chunks, bar.as_ref())?;
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    batch.finish(started)
}

/// Three pools of the configured size: one reads ahead, one checks, one
/// writes feedback. The filing thread puts feedback in place and moves the
/// files itself, alone (`finish::file_chunk` says why). With one shared
/// pool the checks of the chunk being
/// stored queued behind the reading of the next chunks and the feedback of
/// the last; with a pool each, the system shares the cores between them.
#[derive(Debug)]
struct Pools {
    read: rayon::ThreadPool,
    check: rayon::ThreadPool,
    feedback: rayon::ThreadPool,
}

impl Pools {
    fn new(threads: usize) -> Result<Pools, Error> {
        let pool = |name: &'static str, yields: bool| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .thread_name(move |i| format!("{name}-{i}"))
                .start_handler(move |_| {
                    if yields {
                        yield_to_the_critical_path();
                    }
                })
                .build()
                .map_err(Error::Threads)
        };
        Ok(Pools {
            read: pool("read", true)?,
            check: pool("check", false)?,
            feedback: pool("feedback", true)?,
        })
    }
}

/// How much lower than the pass's other threads the reading-ahead and
/// feedback threads run (a `nice` increment).
#[cfg(target_os = "linux")]
const YIELDING_NICENESS: i32 = 5;

/// Lowers the calling thread's priority by [`YIELDING_NICENESS`], on Linux.
///
/// The pass's critical path is the storing thread and the checks it waits
/// for. Reading the next chunks is ahead of it and writing the feedback of
/// the chunks stored is behind it; when every core is busy, those threads
/// now give the critical path its turn instead of sharing the cores evenly
/// with it. On two cores a national ingest took 3–9% less time (2.57 s →
/// 2.49 s, medians of six; three rounds), and on one core the same. Only
/// this thread is lowered (Linux gives each thread its own niceness); a
/// system that refuses changes nothing.
fn yield_to_the_critical_path() {
    #[cfg(target_os = "linux")]
    {
        let me = Some(rustix::thread::gettid());
        if let Ok(nice) = rustix::process::getpriority_process(me) {
            let _ = rustix::process::setpriority_process(me, (nice + YIELDING_NICENESS).min(19));
        }
    }
}

/// A file on its way through the pass: the file, its place in its chunk's
/// arrival order, and the stage it has reached.
#[derive(Debug)]
struct InHand<T> {
    arrival: usize,
    file: Received,
    stage: T,
}

impl<T> InHand<T> {
    fn next<U>(self, stage: impl FnOnce(T) -> U) -> InHand<U> {
        InHand {
            arrival: self.arrival,
            file: self.file,
            stage: stage(self.stage),
        }
    }
}

/// A checked file made ready for its chunk's transaction: its rows and
/// places, and the paths and times the store keeps, owned here for the
/// chunk's [`NewSubmission`]s to borrow. Made on the check pool, beside
/// the checks, so that the storing thread (the pass's critical path) only
/// writes.
#[derive(Debug)]
struct ToStore {
    checked: Checked,
    rows: StoredRows,
    place: Placement,
    stored_path: String,
    feedback_path: String,
    received_at: String,
    processed_at: String,
}

impl ToStore {
    fn of(settings: &Settings, file: &Received, mut checked: Checked) -> ToStore {
        let place = Placement::of(settings, &file.name, &file.sha256, &checked.claimed, checked.status());
        let rows = checked.return_.take().map_or_else(StoredRows::default, |ret| {
            let form = settings.form(&ret.form_code, ret.version);
            StoredRows::of(ret, form)
        });
        let root = &settings.paths.root;
        ToStore {
            stored_path: relative_to(root, &place.stored),
            feedback_path: relative_to(root, &place.feedback),
            received_at: iso(file.received),
            processed_at: now_iso(),
            checked,
            rows,
            place,
        }
    }
}

impl InHand<ToStore> {
    /// What the store records: submission, values, flags, findings.
    fn new_submission(&self, run_id: Option<i64>) -> NewSubmission<'_> {
        let ready = &self.stage;
        let claimed = &ready.checked.claimed;
        NewSubmission {
            run_id,
            file_name: &self.file.name,
            sha256: &self.file.sha256,
            size: self.file.size,
            received_at: &ready.received_at,
            processed_at: &ready.processed_at,
            unit_code: claimed.unit_code.as_deref(),
            unit_name: claimed.unit_name.as_deref(),
            period: claimed.period,
            form_code: claimed.form_code.as_deref(),
            form_version: claimed.version,
            status: ready.checked.status(),
            values: &ready.rows.values,
            communes: &ready.rows.communes,
            findings: &ready.checked.findings,
            stored_path: &ready.stored_path,
            feedback_path: Some(&ready.feedback_path),
        }
    }

    /// Once the chunk's transaction has committed.
    fn stored(self, recorded: Recorded) -> InHand<Stored> {
        self.next(|ready| Stored {
            checked: ready.checked,
            rows: ready.rows,
            place: ready.place,
            recorded,
        })
    }
}

/// A checked file stored (its chunk's transaction has committed), its
/// feedback and filing still to come.
#[derive(Debug)]
struct Stored {
    checked: Checked,
    rows: StoredRows,
    place: Placement,
    recorded: Recorded,
}

/// A stored file whose feedback is written and which has left the inbox.
#[derive(Debug)]
struct Filed {
    stored: Stored,
    to: PathBuf,
}

/// A return's values and commune flags as the store keeps them and the
/// feedback lists them: blank stays `None`, lines in the form's order.
#[derive(Debug, Default)]
struct StoredRows {
    values: Vec<StoredValue>,
    communes: Vec<StoredCommune>,
}

impl StoredRows {
    fn of(ret: Return, form: Option<&Form>) -> StoredRows {
        let mut values: Vec<StoredValue> = ret
            .values
            .into_iter()
            .map(|(line, v)| StoredValue {
                line,
                value: v.value,
                ytd: v.ytd,
                cell: Some(v.cell.to_string()),
            })
            .collect();
        // The form's order, for the feedback's values sheet.
        if let Some(form) = form {
            values.sort_by_key(|v| form.line_index(&v.line).unwrap_or(usize::MAX));
        }
        let communes = ret
            .communes
            .into_iter()
            .map(|(code, commune)| StoredCommune {
                code,
                name: commune.name,
                flags: commune.flags,
            })
            .collect();
        StoredRows { values, communes }
    }
}

/// One unit's new files of a chunk with the unit's history, checked apart
/// from the other units' (no rule looks across units).
#[derive(Debug)]
struct UnitQueue<T> {
    history: StoreHistory,
    files: Vec<InHand<T>>,
}

impl UnitQueue<Extracted> {
    /// Checks the unit's files in arrival order; each accepted return
    /// becomes the history of the files after it (not in a dry run, which
    /// stores nothing). Each file is then made ready to store.
    fn check(self, settings: &Settings, today: NaiveDate, remember: bool) -> UnitQueue<ToStore> {
        let mut history = self.history;
        let mut files = Vec::with_capacity(self.files.len());
        for item in self.files {
            let InHand { arrival, file, stage } = item;
            let checked = check_one(stage, &rules_context(settings, today, &file.name, &history));
            if remember && checked.status().is_accepted() {
                history.remember(&checked);
            }
            let ready = ToStore::of(settings, &file, checked);
            files.push(InHand {
                arrival,
                file,
                stage: ready,
            });
        }
        UnitQueue { history, files }
    }
}

/// Every rule, against the history: a unit's files in arrival order, the
/// units in parallel on `pool`.
fn check_queues(
    queues: Vec<UnitQueue<Extracted>>,
    settings: &Settings,
    today: NaiveDate,
    remember: bool,
    pool: &rayon::ThreadPool,
) -> Vec<UnitQueue<ToStore>> {
    pool.install(|| {
        queues
            .into_par_iter()
            .map(|queue| queue.check(settings, today, remember))
            .collect()
    })
}

/// A chunk checked and waiting for its transaction: its new files in
/// arrival order, the second copies to judge once they are stored, and how
/// many files the chunk had.
#[derive(Debug)]
struct CheckedChunk {
    files: Vec<InHand<ToStore>>,
    repeats: Vec<Received>,
    size: usize,
}

/// A read chunk once the content stored before is dealt with.
#[derive(Debug, Default)]
struct SortedOut {
    /// Files whose content is new, in arrival order.
    fresh: Vec<InHand<Extracted>>,
    /// Second copies of content met twice in the chunk, judged once the
    /// first is stored.
    repeats: Vec<Received>,
}

/// What every stage of one pass shares.
struct Batch<'a> {
    settings: &'a Settings,
    options: &'a IngestOptions,
    store: Store,
    /// The run in the run log (none in a dry run).
    run: Option<i64>,
    /// "Today" for the not-in-the-future rule.
    today: NaiveDate,
    history: StoreHistory,
    pools: &'a Pools,
    /// Submissions stored by this pass whose files are not filed yet.
    in_flight: HashSet<i64>,
    /// The content of the chunk checked and not yet stored.
    unrecorded: HashSet<String>,
    summary: IngestSummary,
}

impl<'a> Batch<'a> {
    /// Opens the store, starts the run and files what an interrupted pass
    /// left unfiled.
    fn open(settings: &'a Settings, options: &'a IngestOptions, pools: &'a Pools) -> Result<Batch<'a>, Error> {
        let store = Store::open(&settings.paths.database)?;
        let run = if options.dry_run {
            None
        } else {
            Some(store.begin_run(options.trigger, "ingest", &now_iso())?)
        };
        let mut summary = IngestSummary {
            run_id: run,
            ..IngestSummary::default()
        };
        if !options.dry_run {
            summary.healed += heal_unfiled(settings, &store, &pools.feedback)?;
        }
        Ok(Batch {
            settings,
            options,
            store,
            run,
            today: options.today.unwrap_or_else(|| Local::now().date_naive()),
            history: StoreHistory::for_forms(&settings.forms),
            pools,
            in_flight: HashSet::new(),
            unrecorded: HashSet::new(),
            summary,
        })
    }

    /// Takes every chunk through every stage: the reader thread ahead, this
    /// thread sorting out one chunk and recording the one before while the
    /// check pool checks the first, the feedback and filing threads behind.
    fn pass(&mut self, chunks: &[&[Candidate]], bar: Option<&indicatif::ProgressBar>) -> Result<(), Error> {
        let settings = self.settings;
        let pools = self.pools;
        std::thread::scope(|scope| -> Result<(), Error> {
            let (sender, receiver) = sync_channel::<Vec<Option<InHand<Extracted>>>>(READ_AHEAD);
            scope.spawn(move || {
                for chunk in chunks {
                    if stop_requested() {
                        break;
                    }
                    let read = pools.read.install(|| {
                        chunk
                            .par_iter()
                            .enumerate()
                            .map(|(arrival, candidate)| read_ahead(settings, arrival, candidate))
                            .collect()
                    });
                    if sender.send(read).is_err() {
                        break;
                    }
                }
            });
            // Until the filing thread reports a chunk filed, its
            // submissions are in flight: stored, not yet filed. The feedback
            // thread writes a chunk's workbooks while the filing thread puts
            // the chunk's before in place and moves its files; an error of
            // either reaches this thread in the chunks' order.
            let (to_finish, finish_rx) = sync_channel::<Vec<InHand<Stored>>>(1);
            let (to_file, file_rx) = sync_channel::<Result<FeedbackWritten, Error>>(1);
            let (finished_tx, finished) = channel::<Result<Vec<InHand<Filed>>, Error>>();
            scope.spawn(move || {
                for stored in finish_rx {
                    let written = write_feedback(settings, &pools.feedback, stored);
                    let failed = written.is_err();
                    if to_file.send(written).is_err() || failed {
                        break;
                    }
                }
            });
            scope.spawn(move || {
                for written in file_rx {
                    let done = written.and_then(|written| file_chunk(settings, written));
                    let failed = done.is_err();
                    if finished_tx.send(done).is_err() || failed {
                        break;
                    }
                }
            });
            // Each chunk is checked while the one before is recorded: the
            // checks need the history, which each check keeps, and not the
            // store, which only this thread touches.
            let mut checked_before: Option<CheckedChunk> = None;
            for chunk in chunks {
                if stop_requested() {
                    break;
                }
                let waiting = Instant::now();
                let Ok(read) = receiver.recv() else { break };
                self.summary.phases.waiting += waiting.elapsed();
                let mut clock = PhaseClock::start();
                let SortedOut { fresh, repeats } = self.sort_out(read)?;
                clock.lap(&mut self.summary.phases.sort);
                let queues = self.unit_queues(fresh);
                let (today, remember) = (self.today, !self.options.dry_run);
                let checking = scope.spawn(move || check_queues(queues, settings, today, remember, &pools.check));
                if let Some(before) = checked_before.take() {
                    if !self.record_and_hand_over(before, &to_finish, bar)? {
                        break;
                    }
                }
                // What is left of the checks once the chunk before is stored.
                let mut clock = PhaseClock::start();
                let checked = checking.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
                checked_before = Some(self.rejoin(checked, repeats, chunk.len()));
                clock.lap(&mut self.summary.phases.check);
                while let Ok(done) = finished.try_recv() {
                    self.record_filed(done)?;
                }
            }
            if let Some(before) = checked_before.take() {
                self.record_and_hand_over(before, &to_finish, bar)?;
            }
            // Dropping the receiver stops the reader at its next chunk; closing
            // the finishing channel lets the feedback thread end, and then the
            // filing thread.
            drop(receiver);
            drop(to_finish);
            for done in finished {
                self.record_filed(done)?;
            }
            Ok(())
        })
    }

    /// Stores a checked chunk in one transaction, in arrival order, judges
    /// its second copies and hands what it stored to the feedback thread.
    /// False when the feedback or filing thread has stopped (on an error it
    /// reports).
    fn record_and_hand_over(
        &mut self,
        chunk: CheckedChunk,
        to_finish: &SyncSender<Vec<InHand<Stored>>>,
        bar: Option<&indicatif::ProgressBar>,
    ) -> Result<bool, Error> {
        let mut clock = PhaseClock::start();
        let CheckedChunk { files, repeats, size } = chunk;
        let stored = self.record_in_order(files)?;
        self.judge_repeats(repeats, &stored)?;
        self.unrecorded.clear();
        clock.lap(&mut self.summary.phases.record);
        if let Some(bar) = bar {
            bar.inc(size as u64);
        }
        if stored.is_empty() {
            return Ok(true);
        }
        self.in_flight.extend(stored.iter().map(|s| s.stage.recorded.id));
        let handover = Instant::now();
        let handed = to_finish.send(stored).is_ok();
        self.summary.phases.handover += handover.elapsed();
        Ok(handed)
    }

    /// Deals with the content already stored (in arrival order) and loads
    /// the history of the units the new files name.
    fn sort_out(&mut self, read: Vec<Option<InHand<Extracted>>>) -> Result<SortedOut, Error> {
        let mut sorted = SortedOut {
            fresh: Vec::with_capacity(read.len()),
            ..SortedOut::default()
        };
        let mut seen: HashSet<String> = HashSet::new();
        for item in read {
            let Some(item) = item else {
                // Gone or unreadable since discovery: the next pass will see.
                self.summary.waiting += 1;
                continue;
            };
            if self.unrecorded.contains(&item.file.sha256) || !seen.insert(item.file.sha256.clone()) {
                sorted.repeats.push(item.file);
                continue;
            }
            if let Some(known) = self.store.find_by_sha(&item.file.sha256)? {
                let same_pass = self.in_flight.contains(&known.id);
                self.handle_known(&item.file, known, same_pass)?;
                continue;
            }
            if let Some(unit) = claimed_unit(&item.stage) {
                self.history.load_unit(&self.store, unit)?;
            }
            sorted.fresh.push(item);
        }
        Ok(sorted)
    }

    /// A chunk's new files by unit, each with the unit's history taken out
    /// of the pass's until [`Batch::rejoin`] puts it back.
    fn unit_queues(&mut self, fresh: Vec<InHand<Extracted>>) -> Vec<UnitQueue<Extracted>> {
        let mut by_unit: BTreeMap<String, Vec<InHand<Extracted>>> = BTreeMap::new();
        for item in fresh {
            let unit = claimed_unit(&item.stage).unwrap_or_default().to_string();
            by_unit.entry(unit).or_default().push(item);
        }
        by_unit
            .into_iter()
            .map(|(unit, files)| UnitQueue {
                history: self.history.split_unit(&unit),
                files,
            })
            .collect()
    }

    /// Puts the checked units' histories back and the chunk's files in
    /// arrival order; until the chunk is stored, its content counts as
    /// met (a copy in the next chunk is a second copy).
    fn rejoin(&mut self, checked: Vec<UnitQueue<ToStore>>, repeats: Vec<Received>, size: usize) -> CheckedChunk {
        let mut files = Vec::new();
        for queue in checked {
            self.history.join(queue.history);
            files.extend(queue.files);
        }
        files.sort_by_key(|item| item.arrival);
        self.unrecorded = files.iter().map(|item| item.file.sha256.clone()).collect();
        CheckedChunk { files, repeats, size }
    }

    /// Stores the chunk's checked files in one transaction, in arrival
    /// order (a dry run only counts and lists them). All or nothing: on an
    /// error nothing of the chunk is stored and every file stays in the
    /// inbox. The stop flag is looked at between files while they are taken
    /// into the chunk: after a stop, the files taken before it are stored
    /// (and go on to be filed) and the rest stay in the inbox for the next
    /// pass.
    fn record_in_order(&mut self, checked: Vec<InHand<ToStore>>) -> Result<Vec<InHand<Stored>>, Error> {
        let mut taken = Vec::with_capacity(checked.len());
        for item in checked {
            if stop_requested() {
                tracing::info!("Stop requested: the remaining files stay in the inbox");
                break;
            }
            let status = item.stage.checked.status();
            self.summary.counts.seen += 1;
            match status {
                Status::Accepted => self.summary.counts.accepted += 1,
                Status::Warnings => self.summary.counts.warnings += 1,
                Status::Rejected => self.summary.counts.rejected += 1,
            }
            if self.options.dry_run {
                let checked = item.stage.checked;
                self.summary.files.push(FileOutcome {
                    file: item.file.name,
                    status: Some(status),
                    duplicate: false,
                    superseded: false,
                    unit: checked.claimed.unit_code,
                    period: checked.claimed.period.map(|p| p.to_string()),
                    findings: checked.findings,
                    filed_to: None,
                });
                continue;
            }
            taken.push(item);
        }
        let chunk: Vec<NewSubmission<'_>> = taken.iter().map(|item| item.new_submission(self.run)).collect();
        let recorded = self.store.record_chunk(&chunk)?;
        drop(chunk);
        let stored: Vec<InHand<Stored>> = taken
            .into_iter()
            .zip(recorded)
            .map(|(item, recorded)| item.stored(recorded))
            .collect();
        self.summary.counts.superseded += stored
            .iter()
            .filter(|item| item.stage.recorded.superseded.is_some())
            .count() as u64;
        Ok(stored)
    }

    /// The second copies of content met twice in one chunk, now that the
    /// first is stored: duplicates.
    fn judge_repeats(&mut self, repeats: Vec<Received>, stored_now: &[InHand<Stored>]) -> Result<(), Error> {
        for file in repeats {
            if stop_requested() {
                break;
            }
            match self.store.find_by_sha(&file.sha256)? {
                Some(known) => {
                    let same_pass = self.in_flight.contains(&known.id)
                        || stored_now.iter().any(|s| s.stage.recorded.id == known.id);
                    self.handle_known(&file, known, same_pass)?;
                }
                // A dry run stores nothing: the copy is still a duplicate.
                None => {
                    self.summary.counts.seen += 1;
                    self.summary.counts.duplicates += 1;
                }
            }
        }
        Ok(())
    }

    /// A file whose content is already stored: a duplicate, a file of an
    /// interrupted pass to file now, or (keeping originals) one to skip.
    fn handle_known(&mut self, file: &Received, known: Submission, same_pass: bool) -> Result<(), Error> {
        let settings = self.settings;
        if settings.config.ingest.keep_originals && (known.filed || same_pass) {
            self.summary.already_stored += 1;
            return Ok(());
        }
        self.summary.counts.seen += 1;
        let duplicate = known.filed || same_pass;
        if duplicate {
            self.summary.counts.duplicates += 1;
        }
        let mut outcome = FileOutcome {
            file: file.name.clone(),
            status: Some(known.status),
            duplicate: true,
            superseded: false,
            unit: known.unit_code.clone(),
            period: known.period.map(|p| p.to_string()),
            findings: Vec::new(),
            filed_to: None,
        };
        if self.options.dry_run {
            self.summary.files.push(outcome);
            return Ok(());
        }
        let target = if duplicate {
            duplicate_place(settings, &file.name, &file.sha256)
        } else {
            self.summary.healed += 1;
            settings.paths.root.join(&known.stored_path)
        };
        let moved = file_away(settings, &file.path, &target)?;
        if !duplicate {
            regenerate_feedback(settings, &self.store, &known)?;
            self.store.mark_filed(known.id)?;
        }
        let what = if duplicate {
            ReceiptOutcome::Duplicate
        } else {
            ReceiptOutcome::FiledAfterInterruption
        };
        self.store.record_receipt(&Receipt {
            run_id: self.run,
            file_name: &file.name,
            sha256: &file.sha256,
            seen_at: &now_iso(),
            outcome: what,
            submission_id: Some(known.id),
            moved_to: Some(&relative_to(&settings.paths.root, &moved)),
        })?;
        tracing::info!(file = %file.name, unit = ?known.unit_code, period = ?known.period, outcome = what.as_str(), "Already stored");
        outcome.duplicate = duplicate;
        outcome.filed_to = Some(moved);
        self.summary.files.push(outcome);
        Ok(())
    }

    /// Records in one transaction the filing of a finished chunk.
    fn record_filed(&mut self, done: Result<Vec<InHand<Filed>>, Error>) -> Result<(), Error> {
        let started = Instant::now();
        let filed = done?;
        let (settings, run) = (self.settings, self.run);
        let in_flight = &mut self.in_flight;
        let outcomes = self.store.in_transaction(|store| {
            filed
                .into_iter()
                .map(|item| {
                    in_flight.remove(&item.stage.stored.recorded.id);
                    record_filing(settings, store, run, item)
                })
                .collect::<Result<Vec<_>, Error>>()
        })?;
        self.summary.files.extend(outcomes);
        self.summary.phases.filing += started.elapsed();
        Ok(())
    }

    /// Closes the run in the run log with the pass's counts.
    fn finish(mut self, started: Instant) -> Result<IngestSummary, Error> {
        self.summary.elapsed = started.elapsed();
        let p = &self.summary.phases;
        tracing::debug!(
            waiting_s = p.waiting.as_secs_f64(),
            sort_s = p.sort.as_secs_f64(),
            check_s = p.check.as_secs_f64(),
            record_s = p.record.as_secs_f64(),
            handover_s = p.handover.as_secs_f64(),
            filing_s = p.filing.as_secs_f64(),
            "Where the storing thread spent the pass"
        );
        if let Some(id) = self.run {
            let outcome = if self.summary.any_rejected() {
                "rejected files"
            } else {
                "ok"
            };
            self.store.finish_run(id, &self.summary.counts, outcome, &now_iso())?;
        }
        Ok(self.summary)
    }
}

/// Receives and extracts one file of a chunk. `None` when it cannot be
/// read now (gone, locked): the next pass will see.
fn read_ahead(settings: &Settings, arrival: usize, candidate: &Candidate) -> Option<InHand<Extracted>> {
    match receive(&candidate.path, &candidate.relative) {
        Ok((file, bytes)) => {
            let extracted = extract_one(bytes, &file.name, &settings.forms, &read_limits(settings));
            Some(InHand {
                arrival,
                file,
                stage: extracted,
            })
        }
        Err(error) => {
            tracing::warn!(file = %candidate.relative, %error, "File could not be read; left for the next pass");
            None
        }
    }
}

fn now_iso() -> String {
    Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn iso(time: SystemTime) -> String {
    DateTime::<Utc>::from(time).format("%Y-%m-%dT%H:%M:%SZ").to_string()
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The reading-ahead and feedback threads run below the checks and
    /// the storing thread; the thread that made the pools keeps its own
    /// priority.
    #[cfg(target_os = "linux")]
    #[test]
    fn the_reading_and_feedback_threads_yield_to_the_checks_and_the_storing_thread() {
        let nice_here = || rustix::process::getpriority_process(Some(rustix::thread::gettid())).unwrap();
        let base = nice_here();
        let lowered = base + YIELDING_NICENESS;
        // A test run at the lowest priorities already has none lower to
        // show: nothing to check there.
        if lowered > 19 {
            return;
        }
        let pools = Pools::new(2).unwrap();
        for (pool, want) in [(&pools.read, lowered), (&pools.feedback, lowered), (&pools.check, base)] {
            let nices: Vec<i32> = pool.install(|| rayon::broadcast(|_| nice_here()));
            assert_eq!(nices, vec![want; 2]);
        }
        assert_eq!(nice_here(), base);
    }

    #[test]
    fn a_pass_is_cut_into_eight_chunks_or_more_of_sixteen_to_256_files() {
        for files in [1, 15, 16, 96, 127, 128, 129, 300, 576, 1200, 2047, 2048, 2049, 8460] {
            let size = chunk_files(files);
            assert!((16..=256).contains(&size), "{files} files: chunks of {size}");
            let chunks = files.div_ceil(size);
            if files >= 8 * 16 {
                assert!(chunks >= 8, "{files} files: {chunks} chunks of {size}");
            }
            if size < 256 {
                // No more than eight chunks when they are below the largest.
                assert!(chunks <= 8, "{files} files: {chunks} chunks of {size}");
            }
        }
        assert_eq!(chunk_files(8460), 256);
        assert_eq!(chunk_files(1200), 150);
        assert_eq!(chunk_files(96), 16);
    }

    #[test]
    fn a_pass_ramps_up_to_full_chunks_and_down_again_and_every_file_is_in_one_chunk() {
        for files in [
            0, 1, 15, 16, 17, 52, 96, 127, 128, 129, 300, 576, 1200, 2047, 2048, 2049, 8460,
        ] {
            let sizes = chunk_sizes(files);
            let full = chunk_files(files);
            assert_eq!(sizes.iter().sum::<usize>(), files, "{files} files: {sizes:?}");
            assert!(sizes.iter().all(|&s| (1..=full).contains(&s)), "{files}: {sizes:?}");
            // Counted the other way: the full chunks, the ramps' chunks of
            // 16, 32… below the full size, one of each at each end while the
            // files last, and one chunk for what is left over.
            let ramp: Vec<usize> = (0..).map(|i| 16 << i).take_while(|&s| s < full).collect();
            let full_chunks = sizes.iter().filter(|&&s| s == full).count();
            if files >= 2 * ramp.iter().sum::<usize>() + full {
                assert_eq!(&sizes[..ramp.len()], &ramp[..], "{files}: {sizes:?}");
                let mut down = ramp.clone();
                down.reverse();
                assert_eq!(&sizes[sizes.len() - ramp.len()..], &down[..], "{files}: {sizes:?}");
                let middle = files - 2 * ramp.iter().sum::<usize>();
                assert_eq!(full_chunks, middle / full, "{files}: {sizes:?}");
            }
            if files >= 8 * 16 {
                assert!(sizes.len() >= 8, "{files} files: {sizes:?}");
            }
        }
        assert_eq!(chunk_sizes(96), [16; 6]);
        assert_eq!(chunk_sizes(52), [16, 16, 16, 4]);
        assert_eq!(chunk_sizes(300), [16, 32, 38, 38, 38, 38, 38, 14, 32, 16]);
        assert_eq!(chunk_sizes(20), [16, 4]);
        assert!(chunk_sizes(0).is_empty());
    }
}
