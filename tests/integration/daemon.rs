//! The server mode: `baocao daemon` started as a real process on a
//! temporary synthetic workspace with fast schedules and a short stability
//! delay — files dropped into the inbox are taken, schedules run, signals
//! stop it cleanly (or at once, the second time) without losing or doubling
//! a file, one instance holds a workspace, and `backup` copies the database
//! while it runs. Every wait polls with a deadline; no fixed sleeps decide
//! an outcome.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags};

use crate::common::{baocao, files_with_ext, temp_dir};

/// A synthetic workspace whose returns wait in `stage/` (same sub-folders
/// as the inbox) until a test drops them in.
struct Workspace {
    _dir: tempfile::TempDir,
    root: PathBuf,
    stage: PathBuf,
}

impl Workspace {
    /// `baocao synth` with `units` × `months` returns; the returns are moved
    /// to `stage/` unless `leave_in_inbox`.
    fn new(units: usize, months: usize, leave_in_inbox: bool) -> Workspace {
        let dir = temp_dir();
        let root = dir.path().join("ws");
        let stage = dir.path().join("stage");
        let out = baocao(&[
            "synth",
            "--units",
            &units.to_string(),
            "--months",
            &months.to_string(),
            "--out",
            &root.to_string_lossy(),
        ]);
        assert!(out.status.success(), "synth: {}", String::from_utf8_lossy(&out.stderr));
        if !leave_in_inbox {
            std::fs::rename(root.join("inbox"), &stage).unwrap();
            std::fs::create_dir_all(root.join("inbox")).unwrap();
        }
        Workspace { _dir: dir, root, stage }
    }

    /// Rewrites baocao.toml: stability delay, poll interval, file events,
    /// and extra text (schedules) appended.
    fn configure(&self, stable_seconds: u64, poll_seconds: u64, watch_events: bool, extra: &str) {
        let path = self.root.join("baocao.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        let replaced = text
            .replace("stable_seconds = 5", &format!("stable_seconds = {stable_seconds}"))
            .replace("poll_seconds = 60", &format!("poll_seconds = {poll_seconds}"))
            .replace("watch_events = true", &format!("watch_events = {watch_events}"));
        assert_ne!(
            text, replaced,
            "the synthetic baocao.toml no longer has the expected keys"
        );
        std::fs::write(&path, format!("{replaced}\n{extra}\n")).unwrap();
    }

    fn inbox(&self) -> PathBuf {
        self.root.join("inbox")
    }

    fn database(&self) -> PathBuf {
        self.root.join("baocao.db")
    }

    /// The staged returns, by path relative to the stage.
    fn staged(&self) -> Vec<PathBuf> {
        files_with_ext(&self.stage, "xlsx")
            .into_iter()
            .map(|p| p.strip_prefix(&self.stage).unwrap().to_path_buf())
            .collect()
    }

    /// Copies a staged return into the inbox (a fresh modification time, as
    /// a file copied from a share has).
    fn drop_in(&self, relative: &Path) {
        let target = self.inbox().join(relative);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(self.stage.join(relative), target).unwrap();
    }

    fn ws(&self) -> String {
        self.root.to_string_lossy().into_owned()
    }
}

/// A running daemon; killed when dropped if still running.
struct Daemon {
    child: Child,
    log: PathBuf,
}

impl Daemon {
    fn start(ws: &Workspace) -> Daemon {
        Daemon::start_with(ws, &[])
    }

    /// Starts a daemon with extra global flags (`--log-format json`).
    fn start_with(ws: &Workspace, flags: &[&str]) -> Daemon {
        let log = ws.root.with_file_name(format!("daemon-{}.log", unique()));
        let stderr = File::create(&log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_baocao"))
            .args(flags)
            .args(["--workspace", &ws.ws(), "daemon"])
            .env_remove("RUST_LOG")
            .stdout(Stdio::null())
            .stderr(Stdio::from(stderr))
            .spawn()
            .unwrap();
        Daemon { child, log }
    }

    /// Starts a daemon and waits for it to log that it is ready.
    fn start_ready(ws: &Workspace) -> Daemon {
        let mut daemon = Daemon::start(ws);
        daemon.wait_for_log("Daemon ready", Duration::from_secs(30));
        daemon
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn wait_for_log(&mut self, needle: &str, timeout: Duration) {
        let found = wait_until(timeout, || {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "daemon exited ({status}) before logging {needle:?}:\n{}",
                    self.log_text()
                );
            }
            self.log_text().contains(needle)
        });
        assert!(
            found,
            "no {needle:?} in the daemon's log after {timeout:?}:\n{}",
            self.log_text()
        );
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -{name}");
    }

    /// Waits for the process to end; panics after `timeout`.
    fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "daemon still running {timeout:?} after being told to stop:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, then the exit status.
    fn stop(mut self) -> (ExitStatus, String) {
        self.signal("TERM");
        let status = self.wait_exit(Duration::from_secs(20));
        (status, self.log_text())
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::SeqCst)
}

/// Polls `condition` every 20 ms until it holds or `timeout` passes.
fn wait_until(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A read-only connection to a workspace database, if it exists yet.
fn open_db(path: &Path) -> Option<Connection> {
    if !path.exists() {
        return None;
    }
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).ok()?;
    conn.busy_timeout(Duration::from_secs(10)).ok()?;
    Some(conn)
}

/// sha256 → (file name, status) of every stored submission (empty when the
/// database or its tables do not exist yet).
fn stored(path: &Path) -> BTreeMap<String, (String, String)> {
    let Some(conn) = open_db(path) else {
        return BTreeMap::new();
    };
    let Ok(mut stmt) = conn.prepare("SELECT sha256, file_name, status FROM submissions") else {
        return BTreeMap::new();
    };
    stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, (r.get(1)?, r.get(2)?))))
        .map(|rows| rows.flatten().collect())
        .unwrap_or_default()
}

/// Runs of the run log: (trigger, command, outcome).
fn runs(path: &Path) -> Vec<(String, String, Option<String>)> {
    let Some(conn) = open_db(path) else { return Vec::new() };
    let Ok(mut stmt) = conn.prepare("SELECT trigger_name, command, outcome FROM runs ORDER BY id") else {
        return Vec::new();
    };
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .map(|rows| rows.flatten().collect())
        .unwrap_or_default()
}

fn sha_of(path: &Path) -> String {
    baocao::pipeline::check::sha256_of(path).unwrap()
}

/// Every staged file is stored exactly once or still in the inbox, never
/// both, never neither, and no two submissions share a file.
fn assert_each_file_once(ws: &Workspace) -> (usize, usize) {
    let stored = stored(&ws.database());
    let in_inbox: BTreeSet<String> = files_with_ext(&ws.inbox(), "xlsx").iter().map(|p| sha_of(p)).collect();
    let staged = ws.staged();
    let mut stored_count = 0;
    for relative in &staged {
        let sha = sha_of(&ws.stage.join(relative));
        let is_stored = stored.contains_key(&sha);
        let waiting = in_inbox.contains(&sha);
        assert!(
            is_stored != waiting,
            "{}: stored {is_stored}, still in the inbox {waiting}",
            relative.display()
        );
        stored_count += usize::from(is_stored);
    }
    assert_eq!(stored.len(), stored_count, "submissions that are not staged files");
    (stored_count, staged.len() - stored_count)
}

#[test]
fn dropped_files_are_ingested_within_the_delay_even_one_written_slowly() {
    let ws = Workspace::new(2, 2, false);
    // Events only: the poll (60 s) is far beyond this test's deadline.
    ws.configure(2, 60, true, "");
    let mut daemon = Daemon::start_ready(&ws);
    let staged = ws.staged();
    assert_eq!(staged.len(), 4);
    for relative in &staged[..3] {
        ws.drop_in(relative);
    }
    // The fourth arrives in pieces over ~3 s, as over a slow share: never
    // quiet for as long as the stability delay, so it must not be taken early.
    let slow = &staged[3];
    let bytes = std::fs::read(ws.stage.join(slow)).unwrap();
    let target = ws.inbox().join(slow);
    std::fs::create_dir_all(target.parent().unwrap()).unwrap();
    let mut file = File::create(&target).unwrap();
    for piece in bytes.chunks(bytes.len().div_ceil(8)) {
        file.write_all(piece).unwrap();
        file.flush().unwrap();
        std::thread::sleep(Duration::from_millis(400));
    }
    drop(file);
    let written = Instant::now();
    // Stored, then (after its feedback is written) filed out of the inbox.
    let all_in = wait_until(Duration::from_secs(20), || {
        stored(&ws.database()).len() == 4 && files_with_ext(&ws.inbox(), "xlsx").is_empty()
    });
    let delay = written.elapsed();
    assert!(all_in, "not all files stored:\n{}", daemon.log_text());
    // Stability delay (2 s) + the event burst's quiet time, with room for a loaded machine.
    assert!(delay < Duration::from_secs(12), "took {delay:?}");
    for (sha, (name, status)) in stored(&ws.database()) {
        assert_ne!(status, "rejected", "{name} ({sha}) was taken before it was complete");
    }
    assert!(runs(&ws.database()).iter().any(|(trigger, ..)| trigger == "watch"));
    daemon.wait_for_log("Return accepted", Duration::from_secs(1));
    let (status, log) = daemon.stop();
    assert_eq!(status.code(), Some(0), "{log}");
    assert!(log.contains("Daemon stopped"), "{log}");
}

#[test]
fn polling_alone_takes_files_when_events_are_disabled() {
    let ws = Workspace::new(2, 1, false);
    ws.configure(1, 1, false, "");
    let daemon = Daemon::start_ready(&ws);
    assert!(
        daemon.log_text().contains("File events disabled"),
        "{}",
        daemon.log_text()
    );
    for relative in ws.staged() {
        ws.drop_in(&relative);
    }
    let all_in = wait_until(Duration::from_secs(20), || stored(&ws.database()).len() == 2);
    assert!(all_in, "not all files stored:\n{}", daemon.log_text());
    let triggers: BTreeSet<String> = runs(&ws.database()).into_iter().map(|(t, ..)| t).collect();
    assert_eq!(triggers, BTreeSet::from(["poll".to_string()]), "{}", daemon.log_text());
    let (status, log) = daemon.stop();
    assert_eq!(status.code(), Some(0), "{log}");
}

#[test]
fn scheduled_report_and_reminder_are_written_for_the_latest_period() {
    let ws = Workspace::new(2, 2, true);
    // Unit 002 has not sent February: the reminder must name it.
    let missing = ws.root.join("inbox/002/01PCMD-H_002_2015-02.xlsx");
    assert!(missing.exists(), "synth names its files differently now");
    std::fs::remove_file(&missing).unwrap();
    ws.configure(
        1,
        60,
        true,
        r#"
[[daemon.schedule]]
name = "report"
cron = "*/2 * * * * *"
action = "report"
period = "latest"

[[daemon.schedule]]
name = "reminder"
cron = "*/2 * * * * *"
action = "remind"
period = "latest"
"#,
    );
    let daemon = Daemon::start_ready(&ws);
    // The start-up pass took the three returns before the schedules ran.
    assert_eq!(stored(&ws.database()).len(), 3, "{}", daemon.log_text());
    let report = ws.root.join("reports/2015-02/BaoCao_01PCMD-T_2015-02.xlsx");
    let reminder = ws.root.join("reports/missing-2015-02.txt");
    let written = wait_until(Duration::from_secs(20), || report.exists() && reminder.exists());
    assert!(written, "no report or reminder:\n{}", daemon.log_text());
    let (status, log) = daemon.stop();
    assert_eq!(status.code(), Some(0), "{log}");
    let names = crate::common::sheet_names(&report);
    assert!(!names.is_empty());
    let list = std::fs::read_to_string(&reminder).unwrap();
    assert!(list.contains("002\t"), "{list}");
    assert!(!list.contains("001\t"), "{list}");
    assert!(list.contains("1/2"), "{list}");
    let runs = runs(&ws.database());
    let has = |command: &str| {
        runs.iter()
            .any(|(t, c, o)| t == "schedule" && c == command && o.as_deref().is_some_and(|o| o.starts_with("ok")))
    };
    assert!(has("report 2015-02"), "{runs:?}");
    assert!(has("remind 2015-02"), "{runs:?}");
    assert!(
        log.contains("unit=002") && log.contains("No accepted return yet"),
        "{log}"
    );
}

#[test]
fn a_report_missed_while_down_runs_once_at_start_up() {
    let ws = Workspace::new(2, 1, true);
    ws.configure(
        1,
        60,
        true,
        r#"
[[daemon.schedule]]
name = "monthly report"
cron = "0 0 7 20 * *"
action = "report"
period = "latest"
"#,
    );
    let daemon = Daemon::start_ready(&ws);
    let (status, log) = daemon.stop();
    assert_eq!(status.code(), Some(0), "{log}");
    let report = ws.root.join("reports/2015-01/BaoCao_01PCMD-T_2015-01.xlsx");
    assert!(!report.exists(), "the first start has nothing to catch up on");
    // As if the daemon had last run long before a 20th at 07:00.
    let conn = Connection::open(ws.database()).unwrap();
    let changed = conn
        .execute(
            "UPDATE schedule_state SET handled_until = '2020-01-01T00:00:00Z' WHERE name = 'monthly report'",
            [],
        )
        .unwrap();
    assert_eq!(changed, 1);
    drop(conn);
    let daemon = Daemon::start_ready(&ws);
    assert!(report.exists(), "{}", daemon.log_text());
    let (status, log) = daemon.stop();
    assert_eq!(status.code(), Some(0), "{log}");
    let startup_reports = runs(&ws.database())
        .into_iter()
        .filter(|(t, c, _)| t == "startup" && c == "report 2015-01")
        .count();
    assert_eq!(startup_reports, 1, "{log}");
    assert!(log.contains("running it once now"), "{log}");
}

#[test]
fn sigterm_in_the_middle_of_a_batch_leaves_every_file_once_in_the_database_or_the_inbox() {
    // 576 returns: eight chunks of 72, each stored in one transaction.
    let ws = Workspace::new(48, 12, false);
    ws.configure(0, 60, true, "");
    // Files already in the inbox: the start-up pass takes them as one batch.
    for relative in ws.staged() {
        let target = ws.inbox().join(&relative);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(ws.stage.join(&relative), target).unwrap();
    }
    let mut daemon = Daemon::start(&ws);
    let started = wait_until(Duration::from_secs(60), || !stored(&ws.database()).is_empty());
    assert!(started, "nothing stored:\n{}", daemon.log_text());
    daemon.signal("TERM");
    let status = daemon.wait_exit(Duration::from_secs(30));
    let log = daemon.log_text();
    assert_eq!(status.code(), Some(0), "{log}");
    let (stored_count, waiting) = assert_each_file_once(&ws);
    eprintln!("SIGTERM mid-batch: {stored_count} stored, {waiting} left in the inbox");
    // The signal went out once the first chunk was stored; the pass stops
    // before storing the next, so at least the last chunk is still waiting.
    assert!(
        waiting > 0,
        "the whole batch finished before the signal arrived:\n{log}"
    );
    // The next start takes the rest: nothing lost, nothing doubled.
    let out = baocao(&["--workspace", &ws.ws(), "ingest"]);
    assert!(out.status.code() == Some(0) || out.status.code() == Some(1));
    let (stored_count, waiting) = assert_each_file_once(&ws);
    assert_eq!((stored_count, waiting), (ws.staged().len(), 0));
}

#[test]
fn a_second_signal_exits_at_once_and_corrupts_nothing() {
    let ws = Workspace::new(16, 12, false);
    ws.configure(0, 60, true, "");
    for relative in ws.staged() {
        let target = ws.inbox().join(&relative);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(ws.stage.join(&relative), target).unwrap();
    }
    let mut daemon = Daemon::start(&ws);
    let started = wait_until(Duration::from_secs(60), || !stored(&ws.database()).is_empty());
    assert!(started, "nothing stored:\n{}", daemon.log_text());
    // Two different signals back to back (two of the same kind may merge
    // into one): the second arrives long before the stored chunk is filed.
    let pid = daemon.pid();
    let status = Command::new("sh")
        .args(["-c", &format!("kill -TERM {pid}; kill -INT {pid}")])
        .status()
        .unwrap();
    assert!(status.success());
    let status = daemon.wait_exit(Duration::from_secs(10));
    let log = daemon.log_text();
    assert!(
        matches!(status.code(), Some(130) | Some(143)),
        "expected an immediate exit (130/143), got {status}:\n{log}"
    );
    assert!(!log.contains("Daemon stopped"), "{log}");
    let conn = Connection::open(ws.database()).unwrap();
    let check: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(check, "ok");
    drop(conn);
    // A file stored but not yet moved is recognised and filed; the rest is taken.
    let out = baocao(&["--workspace", &ws.ws(), "ingest"]);
    assert!(
        out.status.code() == Some(0) || out.status.code() == Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (stored_count, waiting) = assert_each_file_once(&ws);
    assert_eq!((stored_count, waiting), (ws.staged().len(), 0));
}

#[test]
fn a_second_daemon_on_the_same_workspace_is_refused_naming_the_pid() {
    let ws = Workspace::new(1, 1, false);
    ws.configure(1, 60, true, "");
    let daemon = Daemon::start_ready(&ws);
    let mut second = Daemon::start(&ws);
    let status = second.wait_exit(Duration::from_secs(20));
    let message = second.log_text();
    assert_eq!(status.code(), Some(2), "{message}");
    assert!(message.contains(&format!("pid {}", daemon.pid())), "{message}");
    assert!(message.contains("baocao.lock"), "{message}");
    let (status, log) = daemon.stop();
    assert_eq!(status.code(), Some(0), "{log}");
}

#[test]
fn an_ingest_while_the_daemon_runs_is_refused_naming_the_pid() {
    let ws = Workspace::new(1, 1, false);
    ws.configure(1, 60, true, "");
    let daemon = Daemon::start_ready(&ws);
    for args in [["ingest"].as_slice(), ["run"].as_slice()] {
        let mut full = vec!["--workspace".to_string(), ws.ws()];
        full.extend(args.iter().map(|s| s.to_string()));
        let full: Vec<&str> = full.iter().map(String::as_str).collect();
        let out = baocao(&full);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(&format!("pid {}", daemon.pid())), "{stderr}");
    }
    // A dry run stores nothing and may look meanwhile.
    let out = baocao(&["--workspace", &ws.ws(), "ingest", "--dry-run"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let (status, log) = daemon.stop();
    assert_eq!(status.code(), Some(0), "{log}");
}

#[test]
fn a_stale_lock_left_by_a_killed_daemon_does_not_block() {
    let ws = Workspace::new(1, 1, false);
    ws.configure(1, 60, true, "");
    let mut daemon = Daemon::start_ready(&ws);
    let pid = daemon.pid();
    daemon.signal("KILL");
    daemon.wait_exit(Duration::from_secs(10));
    let lock = std::fs::read_to_string(ws.root.join("baocao.lock")).unwrap();
    assert!(
        lock.starts_with(&pid.to_string()),
        "the dead daemon's pid stays in the file: {lock}"
    );
    let out = baocao(&["--workspace", &ws.ws(), "ingest"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let daemon = Daemon::start_ready(&ws);
    let (status, log) = daemon.stop();
    assert_eq!(status.code(), Some(0), "{log}");
}

#[test]
fn backup_while_the_daemon_runs_holds_the_same_submissions() {
    let ws = Workspace::new(3, 2, true);
    ws.configure(0, 60, true, "");
    let daemon = Daemon::start_ready(&ws);
    let original = stored(&ws.database());
    assert_eq!(original.len(), 6, "{}", daemon.log_text());
    let out_path = ws.root.with_file_name("backups/baocao-backup.db");
    let out = baocao(&["--workspace", &ws.ws(), "backup", "--out", &out_path.to_string_lossy()]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("6 submissions"));
    let copy = stored(&out_path);
    assert_eq!(copy, original);
    let conn = Connection::open_with_flags(&out_path, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let values: i64 = conn
        .query_row("SELECT COUNT(*) FROM submission_values", [], |r| r.get(0))
        .unwrap();
    assert!(values > 0);
    let (status, log) = daemon.stop();
    assert_eq!(status.code(), Some(0), "{log}");
}

#[test]
fn every_schedule_problem_is_a_start_up_error_naming_its_entry() {
    let ws = Workspace::new(1, 1, false);
    // (An unknown time zone is a configuration problem of every command
    // since it moved to [reporting]: see the figures tests.)
    let text = std::fs::read_to_string(ws.root.join("baocao.toml")).unwrap();
    let schedules = r#"
[[daemon.schedule]]
name = "monthly report"
cron = "0 0 7 32 * *"
action = "report"
period = "previous-month"

[[daemon.schedule]]
name = "reminder"
cron = "0 0 8 6 * *"
action = "remnd"
period = "previous-moon"
"#;
    std::fs::write(ws.root.join("baocao.toml"), format!("{text}\n{schedules}")).unwrap();
    let mut daemon = Daemon::start(&ws);
    let status = daemon.wait_exit(Duration::from_secs(20));
    let message = daemon.log_text();
    assert_eq!(status.code(), Some(2), "{message}");
    for needle in [
        "#1 \"monthly report\": cron \"0 0 7 32 * *\"",
        "#2 \"reminder\": period \"previous-moon\"",
        "#2 \"reminder\": action \"remnd\"",
    ] {
        assert!(message.contains(needle), "{needle:?} not in: {message}");
    }
    assert!(!ws.root.join("baocao.lock").exists() || !message.contains("Daemon started"));
}

#[test]
fn json_logs_name_file_unit_and_period_and_also_go_to_the_daily_log_file() {
    let ws = Workspace::new(1, 1, true);
    ws.configure(0, 60, true, "");
    let path = ws.root.join("baocao.toml");
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("log_dir = \"\"", "log_dir = \"logs\"");
    std::fs::write(&path, text).unwrap();
    let mut daemon = Daemon::start_with(&ws, &["--log-format", "json"]);
    daemon.wait_for_log("Daemon ready", Duration::from_secs(30));
    let (status, stderr) = daemon.stop();
    assert_eq!(status.code(), Some(0), "{stderr}");
    let lines: Vec<serde_json::Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let accepted = lines
        .iter()
        .find(|l| l["fields"]["message"] == "Return accepted")
        .unwrap_or_else(|| panic!("no accepted file in: {stderr}"));
    assert_eq!(accepted["fields"]["unit"], "001", "{accepted}");
    assert_eq!(accepted["fields"]["period"], "2015-01", "{accepted}");
    assert!(
        accepted["fields"]["file"]
            .as_str()
            .is_some_and(|f| f.ends_with(".xlsx")),
        "{accepted}"
    );
    let files = files_with_ext(&ws.root.join("logs"), "log");
    assert_eq!(files.len(), 1, "{files:?}");
    let name = files[0].file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with("baocao.") && name.ends_with(".log"), "{name}");
    let logged = std::fs::read_to_string(&files[0]).unwrap();
    assert!(
        logged.contains("Daemon ready") && logged.contains("Daemon stopped"),
        "{logged}"
    );
}
