//! `baocao daemon`, the server mode: the office's server runs it for months.
//! It takes returns from the inbox as soon as they are stable (file events,
//! and a scan every `poll_seconds` for network shares that deliver none),
//! runs the schedules of `baocao.toml` (ingest passes, the monthly report,
//! reminders) in the configured time zone, runs once at start-up what was
//! missed while the server was off, holds the workspace lock so no second
//! daemon or `ingest` interferes, and on SIGTERM/SIGINT finishes the file in
//! hand and exits 0. It calls the same `ingest` and `write_report` as the
//! commands: one pipeline, not one per entry point. One thread does all the
//! work, in turn; the signal and file-event threads only wake it.
//!
//! Modules: [`schedule`] (cron, period rules, missed runs), [`watch`]
//! (events and inbox listings), [`lock`] (one instance per workspace),
//! `shutdown` (signals), `actions` (report, reminder), `logging`.

mod actions;
pub mod lock;
mod logging;
pub mod schedule;
mod shutdown;
pub mod watch;

use std::panic::AssertUnwindSafe;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

pub use actions::{missing_returns, MissingReturn};
pub use lock::WorkspaceLock;

use crate::config::{Settings, CONFIG_FILE};
use crate::error::Error;
use crate::pipeline::ingest::{ingest, IngestOptions};
use crate::store::{Store, Trigger};
use schedule::{iso_utc, parse_utc, Action, Job, Plan};
use shutdown::stop_requested;
use watch::{InboxWatcher, Snapshot};

/// What wakes the daemon's loop besides its own timers.
#[derive(Debug)]
pub enum Wake {
    /// Something changed in the inbox.
    InboxChanged,
    /// The watch broke or lost events: recreate it and look at the inbox.
    WatchError(String),
    /// SIGTERM or SIGINT.
    Signal,
}

/// How the daemon was started from the command line.
#[derive(Debug, Clone, Default)]
pub struct DaemonOptions {
    /// `-v` count: 0 logs at info, more at debug.
    pub verbose: u8,
    /// `--log-format json`.
    pub json_logs: bool,
}

/// After a file event, wait this long for the burst to end (a copy of many
/// files, a file written in pieces) before looking.
const QUIET: Duration = Duration::from_millis(700);
/// … but never longer than this after the first event of a burst.
const QUIET_AT_MOST: Duration = Duration::from_secs(5);
/// Longest sleep: the wall clock (which cron follows) may be changed or the
/// machine suspended while a monotonic timer waits.
const MAX_SLEEP: Duration = Duration::from_secs(20);
/// Margin after the moment a file becomes stable, for coarse file times.
const STABLE_MARGIN: Duration = Duration::from_millis(300);

/// Runs the daemon until SIGTERM or SIGINT.
///
/// # Errors
/// [`Error::Config`] listing every problem of the `[daemon]` section;
/// [`Error::Locked`] when another baocao holds the workspace; errors that
/// stop it from starting (database, signal handlers). Once started it
/// never stops on an error: a failed pass or report is logged, recorded
/// and tried again.
pub fn run(settings: &Settings, options: &DaemonOptions) -> Result<(), Error> {
    let plan = schedule::plan(&settings.config.daemon, settings.timezone).map_err(|problems| Error::Config {
        path: settings.paths.root.join(CONFIG_FILE),
        problems,
    })?;
    let lock = WorkspaceLock::acquire(&settings.paths.root, "daemon")?;
    let log_dir = logging::init(settings, options.verbose, options.json_logs)?;
    let (wake_tx, wake_rx) = mpsc::channel();
    shutdown::install(wake_tx.clone())?;
    let inbox = &settings.paths.inbox;
    std::fs::create_dir_all(inbox).map_err(|e| Error::io(inbox, e))?;
    let store = Store::open(&settings.paths.database)?;
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        pid = std::process::id(),
        workspace = %settings.paths.root.display(),
        inbox = %inbox.display(),
        timezone = %plan.zone,
        poll_seconds = settings.config.daemon.poll_seconds,
        watch_events = settings.config.daemon.watch_events,
        stable_seconds = settings.config.ingest.stable_seconds,
        log_dir = %log_dir.as_deref().map(|d| d.display().to_string()).unwrap_or_default(),
        lock = %lock.path().display(),
        "Daemon started"
    );
    let mut daemon = Daemon::new(settings, plan, store, wake_tx, wake_rx);
    daemon.start();
    daemon.serve();
    tracing::info!("Daemon stopped");
    drop(lock);
    Ok(())
}

/// Prints the last `limit` runs of the run log (what `baocao runs` and
/// `baocao status` show), newest first.
///
/// # Errors
/// [`Error::Database`].
pub fn print_recent_runs(settings: &Settings, limit: usize) -> Result<(), Error> {
    if !settings.paths.database.exists() {
        println!("no run yet");
        return Ok(());
    }
    let store = Store::open(&settings.paths.database)?;
    let runs = store.recent_runs(limit)?;
    if runs.is_empty() {
        println!("no run yet");
    }
    for run in runs {
        let c = run.counts;
        let files = if c.seen > 0 || run.command.starts_with("ingest") {
            format!(
                " seen {}, accepted {}, warnings {}, rejected {}, duplicates {}, superseded {} —",
                c.seen, c.accepted, c.warnings, c.rejected, c.duplicates, c.superseded
            )
        } else {
            String::new()
        };
        println!(
            "#{} {} → {} [{}] {}:{} {}",
            run.id,
            crate::domain::local_timestamp_text(&run.started_at, settings.timezone),
            run.finished_at
                .map(|t| crate::domain::local_timestamp_text(&t, settings.timezone))
                .unwrap_or_else(|| "(unfinished)".into()),
            run.trigger,
            run.command,
            files,
            run.outcome.unwrap_or_else(|| "(no outcome: interrupted)".into())
        );
    }
    Ok(())
}

/// A schedule and its next fire time (`None`: it will not fire again).
#[derive(Debug)]
struct Scheduled {
    job: Job,
    next: Option<DateTime<Utc>>,
}

/// The daemon's state between wake-ups.
#[derive(Debug)]
struct Daemon<'a> {
    settings: &'a Settings,
    zone: Tz,
    jobs: Vec<Scheduled>,
    store: Store,
    wake_tx: Sender<Wake>,
    wake_rx: Receiver<Wake>,
    watcher: Option<InboxWatcher>,
    /// When to try again to set up a watch that failed.
    watcher_retry: Option<Instant>,
    /// The inbox as the last pass left it (`None`: not looked at yet).
    seen: Option<Snapshot>,
    stable: Duration,
    poll: Duration,
    next_poll: Instant,
    /// First and last file event of the burst not yet looked at.
    burst: Option<(Instant, Instant)>,
    /// When a file still being written becomes stable.
    recheck: Option<Instant>,
}

impl<'a> Daemon<'a> {
    fn new(settings: &'a Settings, plan: Plan, store: Store, wake_tx: Sender<Wake>, wake_rx: Receiver<Wake>) -> Self {
        let poll = Duration::from_secs(settings.config.daemon.poll_seconds.max(1));
        Daemon {
            settings,
            zone: plan.zone,
            jobs: plan.jobs.into_iter().map(|job| Scheduled { job, next: None }).collect(),
            store,
            wake_tx,
            wake_rx,
            watcher: None,
            watcher_retry: None,
            seen: None,
            stable: Duration::from_secs(settings.config.ingest.stable_seconds),
            poll,
            next_poll: Instant::now() + poll,
            burst: None,
            recheck: None,
        }
    }

    /// The watch, the start-up pass, the runs missed while down, the first
    /// fire times.
    fn start(&mut self) {
        if self.settings.config.daemon.watch_events {
            self.start_watcher();
        } else {
            tracing::info!(
                poll_seconds = self.poll.as_secs(),
                "File events disabled (watch_events = false): scanning the inbox at each poll"
            );
        }
        self.look(Trigger::Startup);
        self.run_missed();
        let now = Utc::now();
        for scheduled in &mut self.jobs {
            scheduled.next = scheduled.job.next_after(now, self.zone).map(|t| t.with_timezone(&Utc));
            tracing::info!(
                schedule = %scheduled.job.name,
                cron = %scheduled.job.cron,
                action = %scheduled.job.action.describe(),
                next = %scheduled.next.map(|t| local(t, self.zone)).unwrap_or_else(|| "never".into()),
                "Schedule"
            );
        }
        tracing::info!(schedules = self.jobs.len(), "Daemon ready");
    }

    /// Until a stop is requested: run what is due, look at the inbox when
    /// told to or at each poll, then sleep until the next thing to do.
    fn serve(&mut self) {
        loop {
            if stop_requested() {
                break;
            }
            self.run_due_jobs();
            if stop_requested() {
                break;
            }
            let now = Instant::now();
            let burst_over = self
                .burst
                .is_some_and(|(first, last)| now >= last + QUIET || now >= first + QUIET_AT_MOST);
            let stable_now = self.recheck.is_some_and(|at| now >= at);
            if now >= self.next_poll {
                self.look(Trigger::Poll);
            } else if burst_over || stable_now {
                // A file found still being written by a poll is taken by the
                // poll's follow-up look: say so when no events are involved.
                let events = self.settings.config.daemon.watch_events;
                self.look(if events { Trigger::Watch } else { Trigger::Poll });
            }
            if self.watcher_retry.is_some_and(|at| Instant::now() >= at) {
                self.start_watcher();
            }
            if stop_requested() {
                break;
            }
            match self.wake_rx.recv_timeout(self.time_to_next_thing()) {
                Ok(Wake::InboxChanged) => {
                    let now = Instant::now();
                    self.burst = Some(self.burst.map_or((now, now), |(first, _)| (first, now)));
                }
                Ok(Wake::WatchError(error)) => {
                    tracing::warn!(%error, "File watch failed: recreating it and scanning the inbox");
                    self.watcher = None;
                    self.start_watcher();
                    // Events may have been lost: look now.
                    self.recheck = Some(Instant::now());
                }
                Ok(Wake::Signal) | Err(RecvTimeoutError::Timeout) => {}
                // Cannot happen while `self` holds a sender; do not spin if it does.
                Err(RecvTimeoutError::Disconnected) => std::thread::sleep(Duration::from_millis(200)),
            }
        }
    }

    fn time_to_next_thing(&self) -> Duration {
        let now = Instant::now();
        let mut at = now + MAX_SLEEP;
        at = at.min(self.next_poll);
        if let Some((first, last)) = self.burst {
            at = at.min((last + QUIET).min(first + QUIET_AT_MOST));
        }
        for instant in [self.recheck, self.watcher_retry].into_iter().flatten() {
            at = at.min(instant);
        }
        let wall = Utc::now();
        for next in self.jobs.iter().filter_map(|s| s.next) {
            let wait = (next - wall).to_std().unwrap_or(Duration::ZERO);
            at = at.min(now + wait);
        }
        // Whole milliseconds, rounded up, so a timer never fires just early.
        at.saturating_duration_since(now) + Duration::from_millis(1)
    }

    fn start_watcher(&mut self) {
        match InboxWatcher::start(&self.settings.paths.inbox, self.wake_tx.clone()) {
            Ok(watcher) => {
                if self.watcher_retry.is_some() {
                    tracing::info!("File watch restored");
                    self.recheck = Some(Instant::now());
                }
                self.watcher = Some(watcher);
                self.watcher_retry = None;
            }
            Err(error) => {
                // Polling still finds every file; retry the watch at each poll.
                tracing::warn!(%error, poll_seconds = self.poll.as_secs(), "File watch unavailable: scanning at each poll meanwhile");
                self.watcher = None;
                self.watcher_retry = Some(Instant::now() + self.poll);
            }
        }
    }

    /// Lists the inbox; runs a pass when a stable file is there that no pass
    /// has seen as it is now.
    fn look(&mut self, trigger: Trigger) {
        self.burst = None;
        self.recheck = None;
        if trigger == Trigger::Poll {
            self.next_poll = Instant::now() + self.poll;
        }
        let current = match Snapshot::take(&self.settings.paths.inbox, self.stable) {
            Ok(snapshot) => snapshot,
            Err(error) => {
                tracing::warn!(%error, "Inbox could not be listed; trying again at the next poll");
                return;
            }
        };
        let news = match &self.seen {
            Some(seen) => current.has_news_since(seen),
            None => current.has_stable(),
        };
        if news {
            self.pass(trigger, current);
        } else {
            self.schedule_recheck(&current);
        }
    }

    /// One ingest pass, then a listing of what it left.
    fn pass(&mut self, trigger: Trigger, before: Snapshot) {
        let options = IngestOptions {
            trigger,
            ..IngestOptions::default()
        };
        let settings = self.settings;
        match guarded("an ingest pass", || ingest(settings, &options)) {
            Ok(summary) => {
                let c = &summary.counts;
                tracing::info!(
                    %trigger,
                    run = summary.run_id.unwrap_or_default(),
                    seen = c.seen,
                    accepted = c.accepted,
                    warnings = c.warnings,
                    rejected = c.rejected,
                    duplicates = c.duplicates,
                    superseded = c.superseded,
                    waiting = summary.waiting,
                    seconds = summary.elapsed.as_secs_f64(),
                    "Ingest pass finished"
                );
                match Snapshot::take(&settings.paths.inbox, self.stable) {
                    Ok(after) => {
                        self.schedule_recheck(&after);
                        self.seen = Some(after.seen_by_pass_from(&before));
                    }
                    Err(error) => tracing::warn!(%error, "Inbox could not be listed after the pass"),
                }
            }
            // The listing is not recorded as seen: the next poll tries again.
            Err(error) => tracing::error!(%trigger, %error, "Ingest pass failed; trying again at the next poll"),
        }
    }

    fn schedule_recheck(&mut self, snapshot: &Snapshot) {
        self.recheck = snapshot
            .next_stable_in(self.stable)
            .map(|wait| Instant::now() + wait + STABLE_MARGIN);
    }

    /// At start-up: a schedule whose fire time passed while the daemon was
    /// down runs once now (for the occasion it was last due), if
    /// `run_missed`; every schedule is then recorded as handled up to now.
    fn run_missed(&mut self) {
        let run_missed = self.settings.config.daemon.run_missed;
        for i in 0..self.jobs.len() {
            if stop_requested() {
                return;
            }
            let job = self.jobs[i].job.clone();
            let now = Utc::now();
            let state = match self.store.schedule_state(&job.name) {
                Ok(state) => state,
                Err(error) => {
                    tracing::error!(schedule = %job.name, %error, "Schedule state could not be read");
                    continue;
                }
            };
            let handled = state
                .filter(|s| s.cron == job.cron)
                .and_then(|s| parse_utc(&s.handled_until));
            if let Some(missed) = handled.and_then(|h| job.missed_between(h, now, self.zone)) {
                let fire = local(missed.with_timezone(&Utc), self.zone);
                if !run_missed {
                    tracing::info!(schedule = %job.name, missed = %fire, "Run missed while down; not run (run_missed = false)");
                } else if job.action == Action::Ingest {
                    tracing::info!(schedule = %job.name, missed = %fire, "Ingest missed while down: the start-up pass covered it");
                } else {
                    tracing::info!(schedule = %job.name, missed = %fire, "Run missed while down: running it once now");
                    self.run_job(&job, Trigger::Startup, missed);
                }
            }
            self.record_handled(&job, now);
        }
    }

    fn run_due_jobs(&mut self) {
        for i in 0..self.jobs.len() {
            if stop_requested() {
                return;
            }
            let Some(due) = self.jobs[i].next else { continue };
            if due > Utc::now() {
                continue;
            }
            let job = self.jobs[i].job.clone();
            self.run_job(&job, Trigger::Schedule, due.with_timezone(&self.zone));
            self.record_handled(&job, due);
            // From now, not from `due`: fire times that passed during a long
            // run are not run one after another to catch up.
            self.jobs[i].next = job.next_after(Utc::now(), self.zone).map(|t| t.with_timezone(&Utc));
        }
    }

    fn record_handled(&self, job: &Job, until: DateTime<Utc>) {
        if let Err(error) = self.store.set_schedule_state(&job.name, &job.cron, &iso_utc(until)) {
            tracing::error!(schedule = %job.name, %error, "Schedule state could not be recorded");
        }
    }

    fn run_job(&mut self, job: &Job, trigger: Trigger, fire: DateTime<Tz>) {
        tracing::info!(
            schedule = %job.name,
            action = %job.action.describe(),
            due = %fire.format("%Y-%m-%d %H:%M:%S %:z"),
            %trigger,
            "Scheduled run"
        );
        let settings = self.settings;
        let result = match job.action {
            Action::Ingest => {
                let before = Snapshot::take(&settings.paths.inbox, self.stable).unwrap_or_default();
                self.pass(trigger, before);
                Ok(())
            }
            Action::Report(rule) => {
                let store = &self.store;
                guarded("a scheduled report", || {
                    actions::report(settings, store, trigger, rule, fire)
                })
            }
            Action::Remind(rule) => {
                let store = &self.store;
                guarded("a reminder", || {
                    actions::remind(settings, store, trigger, rule, fire).map(|_| ())
                })
            }
        };
        if let Err(error) = result {
            tracing::error!(schedule = %job.name, %error, "Scheduled run failed; it runs again at its next time");
        }
    }
}

/// Runs `work`, turning a panic (a bug) into an error so one bad run does
/// not end a daemon that must run for months.
fn guarded<T>(what: &str, work: impl FnOnce() -> Result<T, Error>) -> Result<T, Error> {
    match std::panic::catch_unwind(AssertUnwindSafe(work)) {
        Ok(result) => result,
        Err(panic) => {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            Err(Error::Internal {
                during: what.to_string(),
                message,
            })
        }
    }
}

/// An instant as local time in the schedules' zone.
fn local(time: DateTime<Utc>, zone: Tz) -> String {
    time.with_timezone(&zone).format("%Y-%m-%d %H:%M:%S %:z").to_string()
}
