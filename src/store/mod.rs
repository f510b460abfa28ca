//! The system of record: one SQLite file per workspace (WAL mode, schema
//! migrations versioned in code). Every submission with its values, commune
//! flags and findings is stored whole or not at all: ingest stores a chunk
//! of files (up to 256) in one transaction. Nothing is ever deleted, and a
//! resubmission supersedes the earlier return instead of replacing it, so
//! the history of every figure can be shown.

pub mod backup;
mod schedule_state;
mod schema;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};
use rusqlite::{params, Connection, OptionalExtension, Transaction};

use crate::domain::{Period, Severity};
use crate::error::Error;
use crate::findings::{Finding, Location};

pub use schedule_state::ScheduleState;

/// Status of a stored submission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// Accepted with no warnings.
    Accepted,
    /// Accepted, with warnings.
    Warnings,
    /// Rejected: kept with its findings, counts for nothing.
    Rejected,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Accepted => "accepted",
            Status::Warnings => "warnings",
            Status::Rejected => "rejected",
        }
    }

    /// The status spelled `text` in the database, `None` for any other word.
    pub fn parse(text: &str) -> Option<Status> {
        match text {
            "accepted" => Some(Status::Accepted),
            "warnings" => Some(Status::Warnings),
            "rejected" => Some(Status::Rejected),
            _ => None,
        }
    }

    /// Whether the submission's values enter the totals.
    pub fn is_accepted(self) -> bool {
        self != Status::Rejected
    }

    /// "Chấp nhận" / "Chấp nhận, có cảnh báo" / "Bị từ chối".
    pub fn vietnamese(self) -> &'static str {
        match self {
            Status::Accepted => "Chấp nhận",
            Status::Warnings => "Chấp nhận, có cảnh báo",
            Status::Rejected => "Bị từ chối",
        }
    }

    /// From the findings of a checked file.
    pub fn of(findings: &[Finding]) -> Status {
        if findings.iter().any(|f| f.severity == Severity::Error) {
            Status::Rejected
        } else if findings.is_empty() {
            Status::Accepted
        } else {
            Status::Warnings
        }
    }
}

/// An unknown word in the database is an error, never a guess: a status
/// read as "rejected" by mistake would drop a district's figures silently.
impl FromSql for Status {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        let text = value.as_str()?;
        Status::parse(text).ok_or_else(|| FromSqlError::Other(format!("unknown submission status {text:?}").into()))
    }
}

impl ToSql for Status {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.as_str()))
    }
}

/// Periods are stored in their canonical notation (`2015-06`), which sorts
/// in time order; one that does not parse is an error.
impl FromSql for Period {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        let text = value.as_str()?;
        Period::parse(text).map_err(|e| FromSqlError::Other(Box::new(e)))
    }
}

impl ToSql for Period {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.to_string()))
    }
}

/// What started a run, as the run log records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Trigger {
    /// A person or cron ran a command.
    Command,
    /// A schedule of the daemon fired.
    Schedule,
    /// The daemon's folder watch saw a file arrive.
    Watch,
    /// The daemon's periodic look at the inbox.
    Poll,
    /// The daemon starting (its first look, a run missed while down).
    Startup,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Command => "command",
            Trigger::Schedule => "schedule",
            Trigger::Watch => "watch",
            Trigger::Poll => "poll",
            Trigger::Startup => "startup",
        }
    }

    /// The trigger spelled `text` in the database, `None` for any other word.
    pub fn parse(text: &str) -> Option<Trigger> {
        [
            Trigger::Command,
            Trigger::Schedule,
            Trigger::Watch,
            Trigger::Poll,
            Trigger::Startup,
        ]
        .into_iter()
        .find(|t| t.as_str() == text)
    }
}

impl std::fmt::Display for Trigger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromSql for Trigger {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        let text = value.as_str()?;
        Trigger::parse(text).ok_or_else(|| FromSqlError::Other(format!("unknown run trigger {text:?}").into()))
    }
}

/// One value of a return as stored: blank stays `None`, never zero.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredValue {
    pub line: String,
    pub value: Option<f64>,
    pub ytd: Option<f64>,
    pub cell: Option<String>,
}

/// One commune flag as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFlag {
    pub commune: String,
    pub commune_name: String,
    pub flag: String,
    pub value: bool,
}

/// One commune of a return to store: its code, its name as written and its
/// flags (key → yes / no), in one row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCommune {
    pub code: String,
    pub name: String,
    pub flags: BTreeMap<String, bool>,
}

impl StoredCommune {
    /// The flags as the store keeps them: a JSON object of flag key → 1 or 0.
    /// Written by hand (a serde_json map was 1.5% of a national pass), each
    /// key escaped by serde_json.
    fn flags_json(&self) -> rusqlite::Result<String> {
        let failed = |e: Box<dyn std::error::Error + Send + Sync>| rusqlite::Error::ToSqlConversionFailure(e);
        let mut json = Vec::with_capacity(2 + self.flags.keys().map(|k| k.len() + 5).sum::<usize>());
        json.push(b'{');
        for (i, (key, &value)) in self.flags.iter().enumerate() {
            if i > 0 {
                json.push(b',');
            }
            serde_json::to_writer(&mut json, key).map_err(|e| failed(Box::new(e)))?;
            json.extend_from_slice(if value { b":1" } else { b":0" });
        }
        json.push(b'}');
        String::from_utf8(json).map_err(|e| failed(Box::new(e)))
    }
}

/// A file to record: what was read from it and what was found, borrowed
/// from the stages that produced it (nothing is copied to store it).
#[derive(Debug, Clone)]
pub struct NewSubmission<'a> {
    pub run_id: Option<i64>,
    /// Path relative to the inbox, as received.
    pub file_name: &'a str,
    pub sha256: &'a str,
    pub size: u64,
    /// ISO 8601 time the file arrived (its modification time).
    pub received_at: &'a str,
    pub processed_at: &'a str,
    pub unit_code: Option<&'a str>,
    pub unit_name: Option<&'a str>,
    pub period: Option<Period>,
    pub form_code: Option<&'a str>,
    pub form_version: Option<u32>,
    pub status: Status,
    pub values: &'a [StoredValue],
    pub communes: &'a [StoredCommune],
    pub findings: &'a [Finding],
    /// Where the file will be filed (archive/ or rejected/), relative to the workspace.
    pub stored_path: &'a str,
    pub feedback_path: Option<&'a str>,
}

/// A stored submission, as listed by `history` and the reports.
#[derive(Debug, Clone, PartialEq)]
pub struct Submission {
    pub id: i64,
    pub file_name: String,
    pub sha256: String,
    pub size: u64,
    pub received_at: String,
    pub processed_at: String,
    pub unit_code: Option<String>,
    pub period: Option<Period>,
    pub form_code: Option<String>,
    pub form_version: Option<u32>,
    pub status: Status,
    pub superseded_by: Option<i64>,
    pub stored_path: String,
    pub feedback_path: Option<String>,
    pub filed: bool,
}

/// What recording a submission did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recorded {
    pub id: i64,
    /// The earlier current submission this one superseded.
    pub superseded: Option<i64>,
}

/// Counts of one run, for the run log.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunCounts {
    pub seen: u64,
    pub accepted: u64,
    pub warnings: u64,
    pub rejected: u64,
    pub duplicates: u64,
    pub superseded: u64,
}

/// One current value of one unit and month, borrowed from the row being read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CurrentValue<'a> {
    /// The submission the value is from (its values come together).
    pub submission: i64,
    pub unit: &'a str,
    pub period: &'a str,
    pub line: &'a str,
    pub value: Option<f64>,
}

/// A current submission of a window of months: the return counted for its
/// unit and month.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrentSubmission {
    pub id: i64,
    pub unit: String,
    pub period: String,
}

/// What a run did with a file it looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReceiptOutcome {
    /// Stored now, with this status.
    Stored(Status),
    /// Its content was stored before: filed under `archive/trung-lap/`.
    Duplicate,
    /// Stored by a pass that stopped before filing it: filed now.
    FiledAfterInterruption,
}

impl ReceiptOutcome {
    /// As the receipts table keeps it.
    pub fn as_str(self) -> &'static str {
        match self {
            ReceiptOutcome::Stored(status) => status.as_str(),
            ReceiptOutcome::Duplicate => "duplicate",
            ReceiptOutcome::FiledAfterInterruption => "filed after interruption",
        }
    }
}

/// A file a run looked at, for the audit trail.
#[derive(Debug, Clone)]
pub struct Receipt<'a> {
    pub run_id: Option<i64>,
    pub file_name: &'a str,
    pub sha256: &'a str,
    pub seen_at: &'a str,
    pub outcome: ReceiptOutcome,
    pub submission_id: Option<i64>,
    pub moved_to: Option<&'a str>,
}

/// A row of the run log.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRecord {
    pub id: i64,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub trigger: Trigger,
    pub command: String,
    pub counts: RunCounts,
    pub outcome: Option<String>,
}

/// The workspace database.
#[derive(Debug)]
pub struct Store {
    conn: Connection,
    path: PathBuf,
}

const SUBMISSION_COLUMNS: &str = "id, file_name, sha256, size, received_at, processed_at, unit_code, period, \
     form_code, form_version, status, superseded_by, stored_path, feedback_path, filed";

fn submission_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Submission> {
    Ok(Submission {
        id: row.get(0)?,
        file_name: row.get(1)?,
        sha256: row.get(2)?,
        size: row.get::<_, i64>(3)? as u64,
        received_at: row.get(4)?,
        processed_at: row.get(5)?,
        unit_code: row.get(6)?,
        period: row.get(7)?,
        form_code: row.get(8)?,
        form_version: row.get(9)?,
        status: row.get(10)?,
        superseded_by: row.get(11)?,
        stored_path: row.get(12)?,
        feedback_path: row.get(13)?,
        filed: row.get::<_, i64>(14)? != 0,
    })
}

impl Store {
    /// Opens (creating if needed) the database at `path`, in WAL mode, and
    /// runs any migrations not yet applied.
    ///
    /// # Errors
    /// [`Error::Database`] naming the file.
    pub fn open(path: &Path) -> Result<Store, Error> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        let conn = Connection::open(path).map_err(|e| db_error(path, e))?;
        let mut store = Store {
            conn,
            path: path.to_path_buf(),
        };
        store.configure()?;
        store.migrate()?;
        Ok(store)
    }

    fn err(&self) -> impl Fn(rusqlite::Error) -> Error + '_ {
        move |e| db_error(&self.path, e)
    }

    fn configure(&mut self) -> Result<(), Error> {
        // Room for the multi-row inserts of every size a return needs
        // (see `insert_rows`) besides the other statements.
        self.conn.set_prepared_statement_cache_capacity(128);
        // FULL: a commit is on the disk when it returns (the log is synced
        // at every commit, not only at checkpoints). A return's file leaves
        // the inbox only after its chunk's commit, so a power cut then
        // cannot take the return out of the store while its file is already
        // filed away; an ingest pass commits a few hundred times at most.
        self.conn
            .execute_batch(
                "PRAGMA journal_mode = WAL;
                 PRAGMA synchronous = FULL;
                 PRAGMA foreign_keys = ON;
                 PRAGMA busy_timeout = 30000;",
            )
            .map_err(self.err())
    }

    fn migrate(&mut self) -> Result<(), Error> {
        let path = self.path.clone();
        let version: i64 = self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| db_error(&path, e))?;
        let known = schema::MIGRATIONS.len() as i64;
        if version > known {
            return Err(Error::Database {
                path,
                message: format!("schema version {version} is newer than this baocao knows ({known}); upgrade baocao"),
            });
        }
        for (i, sql) in schema::MIGRATIONS.iter().enumerate().skip(version as usize) {
            let tx = self.conn.transaction().map_err(|e| db_error(&path, e))?;
            tx.execute_batch(sql).map_err(|e| db_error(&path, e))?;
            tx.pragma_update(None, "user_version", (i + 1) as i64)
                .map_err(|e| db_error(&path, e))?;
            tx.commit().map_err(|e| db_error(&path, e))?;
        }
        Ok(())
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The schema version in force.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub fn schema_version(&self) -> Result<i64, Error> {
        self.conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(self.err())
    }

    /// Starts a run in the run log.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub fn begin_run(&self, trigger: Trigger, command: &str, started_at: &str) -> Result<i64, Error> {
        self.conn
            .execute(
                "INSERT INTO runs (started_at, trigger_name, command) VALUES (?1, ?2, ?3)",
                params![started_at, trigger.as_str(), command],
            )
            .map_err(self.err())?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Closes a run with its counts and outcome.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub fn finish_run(&self, id: i64, counts: &RunCounts, outcome: &str, finished_at: &str) -> Result<(), Error> {
        self.conn
            .execute(
                "UPDATE runs SET finished_at = ?2, files_seen = ?3, accepted = ?4, warnings = ?5, rejected = ?6,
                 duplicates = ?7, superseded = ?8, outcome = ?9 WHERE id = ?1",
                params![
                    id,
                    finished_at,
                    counts.seen as i64,
                    counts.accepted as i64,
                    counts.warnings as i64,
                    counts.rejected as i64,
                    counts.duplicates as i64,
                    counts.superseded as i64,
                    outcome
                ],
            )
            .map_err(self.err())?;
        Ok(())
    }

    /// The last `limit` runs, newest first.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub fn recent_runs(&self, limit: usize) -> Result<Vec<RunRecord>, Error> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT id, started_at, finished_at, trigger_name, command, files_seen, accepted, warnings,
                 rejected, duplicates, superseded, outcome FROM runs ORDER BY id DESC LIMIT ?1",
            )
            .map_err(self.err())?;
        let rows = stmt
            .query_map([limit as i64], |r| {
                Ok(RunRecord {
                    id: r.get(0)?,
                    started_at: r.get(1)?,
                    finished_at: r.get(2)?,
                    trigger: r.get(3)?,
                    command: r.get(4)?,
                    counts: RunCounts {
                        seen: r.get::<_, i64>(5)? as u64,
                        accepted: r.get::<_, i64>(6)? as u64,
                        warnings: r.get::<_, i64>(7)? as u64,
                        rejected: r.get::<_, i64>(8)? as u64,
                        duplicates: r.get::<_, i64>(9)? as u64,
                        superseded: r.get::<_, i64>(10)? as u64,
                    },
                    outcome: r.get(11)?,
                })
            })
            .map_err(self.err())?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(self.err())
    }

    /// The submission stored for a file with this sha256, if any.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub fn find_by_sha(&self, sha256: &str) -> Result<Option<Submission>, Error> {
        self.conn
            .prepare_cached(&format!(
                "SELECT {SUBMISSION_COLUMNS} FROM submissions WHERE sha256 = ?1"
            ))
            .and_then(|mut stmt| stmt.query_row([sha256], submission_from_row).optional())
            .map_err(self.err())
    }

    /// Records one checked file — submission, values, flags, findings, and
    /// the superseding of the earlier current return of the same unit and
    /// period — in one transaction.
    ///
    /// # Errors
    /// [`Error::Database`]; nothing is written then.
    pub fn record_submission(&mut self, new: &NewSubmission<'_>) -> Result<Recorded, Error> {
        let mut recorded = self.record_chunk(std::slice::from_ref(new))?;
        recorded.pop().ok_or_else(|| Error::Database {
            path: self.path.clone(),
            message: "a submission was recorded without an id".into(),
        })
    }

    /// Records a chunk of checked files in one transaction, in the order
    /// given: for each its submission, values, flags and findings, and the
    /// superseding of the earlier current return of the same unit and
    /// period — which may be a file earlier in the same chunk (the
    /// transaction sees its own rows). All or nothing: when any file fails,
    /// nothing of the chunk is written. Returns what recording each file
    /// did, in the chunk's order.
    ///
    /// # Errors
    /// [`Error::Database`]; nothing of the chunk is written then.
    pub fn record_chunk(&mut self, chunk: &[NewSubmission<'_>]) -> Result<Vec<Recorded>, Error> {
        if chunk.is_empty() {
            return Ok(Vec::new());
        }
        let path = self.path.clone();
        let failed = |e| db_error(&path, e);
        // Every row of a chunk refers to a submission inserted just before
        // it in the same transaction (or to the run begun before it), so the
        // foreign keys hold by construction; looking each of a national
        // year's million rows' parent up again took about a twentieth of
        // the pass's CPU. The check is off while the chunk is stored and on again after
        // (a pragma outside a transaction), whether it committed or not.
        self.conn.pragma_update(None, "foreign_keys", false).map_err(failed)?;
        let stored = (|| {
            // Dropped without a commit on an error: rolled back.
            let tx = self.conn.transaction()?;
            let recorded = chunk
                .iter()
                .map(|new| insert_submission(&tx, new))
                .collect::<rusqlite::Result<Vec<_>>>()?;
            tx.commit()?;
            Ok(recorded)
        })();
        let checked_again = self.conn.pragma_update(None, "foreign_keys", true);
        let recorded = stored.map_err(failed)?;
        checked_again.map_err(failed)?;
        Ok(recorded)
    }

    /// Runs `work` in one transaction: committed when it succeeds, rolled
    /// back when it fails. Used to record the filing of a whole chunk of
    /// files at once (the chunk's data was committed by [`Store::record_chunk`]
    /// before its files moved), and to read a report from one snapshot
    /// (every read in it sees the store as at its first read).
    ///
    /// # Errors
    /// [`Error::Database`], or the error of `work`.
    pub fn in_transaction<T>(&self, work: impl FnOnce(&Store) -> Result<T, Error>) -> Result<T, Error> {
        self.conn.execute_batch("BEGIN").map_err(self.err())?;
        match work(self) {
            Ok(value) => {
                self.conn.execute_batch("COMMIT").map_err(self.err())?;
                Ok(value)
            }
            Err(error) => {
                let _ = self.conn.execute_batch("ROLLBACK");
                Err(error)
            }
        }
    }

    /// Marks a submission's file as filed at its stored path.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub fn mark_filed(&self, id: i64) -> Result<(), Error> {
        self.conn
            .prepare_cached("UPDATE submissions SET filed = 1 WHERE id = ?1")
            .and_then(|mut stmt| stmt.execute([id]))
            .map_err(self.err())?;
        Ok(())
    }

    /// Submissions whose file has not been filed yet (a crash between the
    /// commit and the move).
    ///
    /// # Errors
    /// [`Error::Database`].
    pub fn unfiled(&self) -> Result<Vec<Submission>, Error> {
        self.select_submissions("filed = 0 ORDER BY id", [])
    }

    /// Logs a file seen by a run.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub fn record_receipt(&self, receipt: &Receipt<'_>) -> Result<(), Error> {
        self.conn
            .prepare_cached(
                "INSERT INTO receipts (run_id, file_name, sha256, seen_at, outcome, submission_id, moved_to)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )
            .and_then(|mut stmt| {
                stmt.execute(params![
                    receipt.run_id,
                    receipt.file_name,
                    receipt.sha256,
                    receipt.seen_at,
                    receipt.outcome.as_str(),
                    receipt.submission_id,
                    receipt.moved_to
                ])
            })
            .map_err(self.err())?;
        Ok(())
    }

    fn select_submissions<P: rusqlite::Params>(&self, clause: &str, params: P) -> Result<Vec<Submission>, Error> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!("SELECT {SUBMISSION_COLUMNS} FROM submissions WHERE {clause}"))
            .map_err(self.err())?;
        let rows = stmt.query_map(params, submission_from_row).map_err(self.err())?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(self.err())
    }

    /// Every submission of one unit and period, oldest first.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub fn submissions_of(&self, unit: &str, period: Period) -> Result<Vec<Submission>, Error> {
        self.select_submissions("unit_code = ?1 AND period = ?2 ORDER BY id", params![unit, period])
    }

    /// Every submission of every unit for the months `first..=last`, oldest
    /// first: [`Store::submissions_of`] for all of them in one query.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub fn submissions_between(&self, first: Period, last: Period) -> Result<Vec<Submission>, Error> {
        self.select_submissions(
            "period >= ?1 AND period <= ?2 AND length(period) = 7 AND unit_code IS NOT NULL ORDER BY id",
            [first, last],
        )
    }

    /// Every submission, oldest first.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub fn all_submissions(&self) -> Result<Vec<Submission>, Error> {
        self.select_submissions("1 = 1 ORDER BY id", [])
    }

    /// The current (accepted, not superseded) submissions of the months
    /// `periods`, for every unit.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub fn current_submissions(&self, periods: &[Period]) -> Result<Vec<Submission>, Error> {
        let mut out = Vec::new();
        for period in periods {
            out.extend(self.select_submissions(
                "period = ?1 AND status != 'rejected' AND superseded_by IS NULL ORDER BY unit_code",
                [period],
            )?);
        }
        Ok(out)
    }

    /// The values of one submission, by line code.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub fn values_of(&self, submission: i64) -> Result<BTreeMap<String, StoredValue>, Error> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT line_code, value, ytd, cell FROM submission_values WHERE submission_id = ?1")
            .map_err(self.err())?;
        let rows = stmt
            .query_map([submission], |r| {
                Ok(StoredValue {
                    line: r.get(0)?,
                    value: r.get(1)?,
                    ytd: r.get(2)?,
                    cell: r.get(3)?,
                })
            })
            .map_err(self.err())?;
        let mut out = BTreeMap::new();
        for row in rows {
            let v = row.map_err(self.err())?;
            out.insert(v.line.clone(), v);
        }
        Ok(out)
    }

    /// The commune flags of one submission, one per commune and flag, read
    /// through the `commune_flags` view of its stored communes.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub fn flags_of(&self, submission: i64) -> Result<Vec<StoredFlag>, Error> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT commune_code, commune_name, flag, value FROM commune_flags WHERE submission_id = ?1
                 ORDER BY commune_code, flag",
            )
            .map_err(self.err())?;
        let rows = stmt
            .query_map([submission], |r| {
                Ok(StoredFlag {
                    commune: r.get(0)?,
                    commune_name: r.get::<_, Option<String>>(1)?.unwrap_or_default(),
                    flag: r.get(2)?,
                    value: r.get::<_, i64>(3)? != 0,
                })
            })
            .map_err(self.err())?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(self.err())
    }

    /// The findings of one submission, in the order they were found.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub fn findings_of(&self, submission: i64) -> Result<Vec<Finding>, Error> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT f.rule, f.severity, s.file_name, f.sheet, f.cell, f.line_code, f.line_label, f.value,
                 f.expected, f.message_vi, f.message_en
                 FROM findings f JOIN submissions s ON s.id = f.submission_id
                 WHERE f.submission_id = ?1 ORDER BY f.id",
            )
            .map_err(self.err())?;
        let rows = stmt
            .query_map([submission], |r| {
                let severity: String = r.get(1)?;
                Ok(Finding {
                    rule: r.get::<_, i64>(0)? as u32,
                    severity: if severity == "error" {
                        Severity::Error
                    } else {
                        Severity::Warning
                    },
                    location: Location {
                        file: r.get(2)?,
                        sheet: r.get(3)?,
                        cell: r.get(4)?,
                        line: r.get(5)?,
                        line_label: r.get(6)?,
                    },
                    value: r.get(7)?,
                    expected: r.get(8)?,
                    message_vi: r.get(9)?,
                    message_en: r.get(10)?,
                })
            })
            .map_err(self.err())?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(self.err())
    }

    /// The current values of one unit for the given months: period → line → value.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub fn unit_history(
        &self,
        unit: &str,
        periods: &[Period],
    ) -> Result<BTreeMap<Period, BTreeMap<String, StoredValue>>, Error> {
        let mut out = BTreeMap::new();
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT id FROM submissions WHERE unit_code = ?1 AND period = ?2 AND status != 'rejected'
                 AND superseded_by IS NULL",
            )
            .map_err(self.err())?;
        for period in periods {
            let id: Option<i64> = stmt
                .query_row(params![unit, period], |r| r.get(0))
                .optional()
                .map_err(self.err())?;
            if let Some(id) = id {
                out.insert(*period, self.values_of(id)?);
            }
        }
        Ok(out)
    }

    /// Every current (accepted, not superseded) value of one unit: period → values.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub fn unit_current_values(&self, unit: &str) -> Result<Vec<(Period, Vec<StoredValue>)>, Error> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT s.period, v.line_code, v.value, v.ytd, v.cell FROM submissions s
                 JOIN submission_values v ON v.submission_id = s.id
                 WHERE s.unit_code = ?1 AND s.status != 'rejected' AND s.superseded_by IS NULL AND s.period IS NOT NULL
                 ORDER BY s.period",
            )
            .map_err(self.err())?;
        let rows = stmt
            .query_map([unit], |r| {
                Ok((
                    r.get::<_, Period>(0)?,
                    StoredValue {
                        line: r.get(1)?,
                        value: r.get(2)?,
                        ytd: r.get(3)?,
                        cell: r.get(4)?,
                    },
                ))
            })
            .map_err(self.err())?;
        let mut out: Vec<(Period, Vec<StoredValue>)> = Vec::new();
        for row in rows {
            let (period, value) = row.map_err(self.err())?;
            match out.last_mut() {
                Some((p, values)) if *p == period => values.push(value),
                _ => out.push((period, vec![value])),
            }
        }
        Ok(out)
    }

    /// The latest month with an accepted, current return.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub fn latest_accepted_period(&self) -> Result<Option<Period>, Error> {
        self.conn
            .query_row(
                "SELECT MAX(period) FROM submissions WHERE status != 'rejected' AND superseded_by IS NULL",
                [],
                |r| r.get(0),
            )
            .map_err(self.err())
    }

    /// The current submissions of the months `first..=last` (period strings
    /// `YYYY-MM` sort in time order), in the order of their ids: one a unit
    /// and month, neither rejected nor superseded. Read their values with
    /// [`Store::for_each_value_of`], in the same transaction when the store
    /// may change.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub fn current_submissions_between(&self, first: Period, last: Period) -> Result<Vec<CurrentSubmission>, Error> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT id, unit_code, period FROM submissions
                 WHERE status != 'rejected' AND superseded_by IS NULL AND unit_code IS NOT NULL
                 AND period >= ?1 AND period <= ?2 AND length(period) = 7
                 ORDER BY id",
            )
            .map_err(self.err())?;
        let submissions = stmt
            .query_map([first, last], |row| {
                Ok(CurrentSubmission {
                    id: row.get(0)?,
                    unit: row.get(1)?,
                    period: row.get(2)?,
                })
            })
            .map_err(self.err())?
            .collect::<rusqlite::Result<_>>()
            .map_err(self.err())?;
        Ok(submissions)
    }

    /// The values of `submissions` (in the order of their ids, as
    /// [`Store::current_submissions_between`] gives them), a submission's together
    /// in line-code order, each lent to `visit`, not copied (three texts a
    /// row for 600,000 rows).
    ///
    /// One pass over the values stored between the first and last of their
    /// ids, in primary-key order, walked beside them: the values of any
    /// other submission in that range (rejected, superseded, another
    /// window's) are passed over. A join asked SQLite to read each
    /// submission's unit and period with each of its values, twice the work
    /// for a national year.
    ///
    /// A submission's values are written in the transaction that stores it
    /// and are never changed or deleted, so any connection that sees the
    /// submissions reads the same values: a second connection
    /// ([`Store::open_reader`]) may read some of them beside this one.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub fn for_each_value_of(
        &self,
        submissions: &[CurrentSubmission],
        mut visit: impl FnMut(CurrentValue<'_>),
    ) -> Result<(), Error> {
        let (Some(low), Some(high)) = (submissions.first(), submissions.last()) else {
            return Ok(());
        };
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT submission_id, line_code, value FROM submission_values
                 WHERE submission_id BETWEEN ?1 AND ?2 ORDER BY submission_id, line_code",
            )
            .map_err(self.err())?;
        let mut rows = stmt.query([low.id, high.id]).map_err(self.err())?;
        let mut next = submissions.iter().peekable();
        while let Some(row) = rows.next().map_err(self.err())? {
            let id: i64 = row.get(0).map_err(self.err())?;
            // Both in id order: step past the submissions before this row's.
            while next.next_if(|s| s.id < id).is_some() {}
            let Some(submission) = next.peek().filter(|s| s.id == id) else {
                continue;
            };
            visit(CurrentValue {
                submission: id,
                unit: &submission.unit,
                period: &submission.period,
                line: borrowed_text(row, 1).map_err(self.err())?,
                value: row.get(2).map_err(self.err())?,
            });
        }
        Ok(())
    }

    /// A second connection to this database, for reading only (a report
    /// reads half of its values on it, beside this one). It sees what is
    /// committed when it first reads, which may be later than this
    /// connection's snapshot: read on it only what cannot have changed
    /// since (see [`Store::for_each_value_of`]).
    ///
    /// # Errors
    /// [`Error::Database`] naming the file.
    pub fn open_reader(&self) -> Result<Store, Error> {
        let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&self.path, flags).map_err(self.err())?;
        conn.busy_timeout(std::time::Duration::from_secs(30))
            .map_err(self.err())?;
        Ok(Store {
            conn,
            path: self.path.clone(),
        })
    }

    /// Number of submissions stored.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub fn count_submissions(&self) -> Result<i64, Error> {
        self.conn
            .query_row("SELECT COUNT(*) FROM submissions", [], |r| r.get(0))
            .map_err(self.err())
    }
}

/// Column `i` of `row` as text, borrowed from the row.
fn borrowed_text<'r>(row: &'r rusqlite::Row<'_>, i: usize) -> rusqlite::Result<&'r str> {
    row.get_ref(i)?
        .as_str()
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e)))
}

/// One file's rows, inside the caller's transaction; the statements are
/// prepared once per connection and reused for every file of a chunk.
fn insert_submission(tx: &Transaction<'_>, new: &NewSubmission) -> rusqlite::Result<Recorded> {
    tx.prepare_cached(
        "INSERT INTO submissions (run_id, file_name, sha256, size, received_at, processed_at, unit_code, unit_name,
         period, form_code, form_version, status, stored_path, feedback_path)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
    )?
    .execute(params![
        new.run_id,
        new.file_name,
        new.sha256,
        new.size as i64,
        new.received_at,
        new.processed_at,
        new.unit_code,
        new.unit_name,
        new.period,
        new.form_code,
        new.form_version,
        new.status,
        new.stored_path,
        new.feedback_path,
    ])?;
    let id = tx.last_insert_rowid();
    {
        insert_rows(
            tx,
            "INSERT INTO submission_values (submission_id, line_code, value, ytd, cell) VALUES ",
            5,
            new.values,
            |stmt, at, v| {
                stmt.raw_bind_parameter(at + 1, id)?;
                stmt.raw_bind_parameter(at + 2, &v.line)?;
                stmt.raw_bind_parameter(at + 3, v.value)?;
                stmt.raw_bind_parameter(at + 4, v.ytd)?;
                stmt.raw_bind_parameter(at + 5, &v.cell)
            },
        )?;
        insert_rows(
            tx,
            "INSERT OR REPLACE INTO submission_communes (submission_id, commune_code, commune_name, flags) VALUES ",
            4,
            new.communes,
            |stmt, at, c| {
                stmt.raw_bind_parameter(at + 1, id)?;
                stmt.raw_bind_parameter(at + 2, &c.code)?;
                stmt.raw_bind_parameter(at + 3, &c.name)?;
                stmt.raw_bind_parameter(at + 4, c.flags_json()?)
            },
        )?;
        let mut stmt = tx.prepare_cached(
            "INSERT INTO findings (submission_id, rule, severity, sheet, cell, line_code, line_label, value, expected,
             message_vi, message_en) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        )?;
        for f in new.findings {
            stmt.execute(params![
                id,
                f.rule,
                f.severity.as_str(),
                f.location.sheet,
                f.location.cell,
                f.location.line,
                f.location.line_label,
                f.value,
                f.expected,
                f.message_vi,
                f.message_en
            ])?;
        }
    }
    let mut superseded = None;
    if new.status.is_accepted() {
        if let (Some(unit), Some(period)) = (&new.unit_code, &new.period) {
            superseded = tx
                .prepare_cached(
                    "SELECT id FROM submissions WHERE unit_code = ?1 AND period = ?2 AND status != 'rejected'
                     AND superseded_by IS NULL AND id != ?3",
                )?
                .query_row(params![unit, period, id], |r| r.get::<_, i64>(0))
                .optional()?;
            if let Some(old) = superseded {
                tx.prepare_cached("UPDATE submissions SET superseded_by = ?1 WHERE id = ?2")?
                    .execute(params![id, old])?;
            }
        }
    }
    Ok(Recorded { id, superseded })
}

/// Rows a statement inserts at once. A return has about 130 value and
/// flag rows; one statement per row spent most of storing's time preparing
/// and stepping statements rather than writing rows.
const ROWS_PER_INSERT: usize = 64;

/// Inserts `rows` with `head` ("INSERT INTO t (a, b) VALUES ") followed by
/// up to [`ROWS_PER_INSERT`] groups of `columns` parameters; `bind` binds
/// one row's parameters after the `at` already bound (1-based: `at + 1` is
/// its first). The rows go in the order given, as one statement per row did.
fn insert_rows<T>(
    tx: &Transaction<'_>,
    head: &str,
    columns: usize,
    rows: &[T],
    bind: impl Fn(&mut rusqlite::Statement<'_>, usize, &T) -> rusqlite::Result<()>,
) -> rusqlite::Result<()> {
    let group = format!("({})", vec!["?"; columns].join(", "));
    // The statement's text for a batch of `n` rows, made again only when
    // `n` changes (full batches, then the rest).
    let (mut sql, mut sql_rows) = (String::new(), 0);
    for batch in rows.chunks(ROWS_PER_INSERT) {
        if sql_rows != batch.len() {
            sql = format!("{head}{}", vec![group.as_str(); batch.len()].join(", "));
            sql_rows = batch.len();
        }
        let mut stmt = tx.prepare_cached(&sql)?;
        for (i, row) in batch.iter().enumerate() {
            bind(&mut stmt, i * columns, row)?;
        }
        stmt.raw_execute()?;
    }
    Ok(())
}

fn db_error(path: &Path, e: rusqlite::Error) -> Error {
    Error::Database {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The values, file name and stored path a test submission borrows.
    struct Owned {
        values: Vec<StoredValue>,
        file_name: String,
        stored_path: String,
    }

    fn owned(sha: &str, a01: Option<f64>) -> Owned {
        Owned {
            values: vec![
                StoredValue {
                    line: "A01".into(),
                    value: a01,
                    ytd: None,
                    cell: Some("E17".into()),
                },
                StoredValue {
                    line: "A02".into(),
                    value: None,
                    ytd: None,
                    cell: Some("E25".into()),
                },
            ],
            file_name: format!("{sha}.xlsx"),
            stored_path: format!("archive/{sha}.xlsx"),
        }
    }

    /// A June 2015 return of unit 061 borrowing `owned`.
    fn june<'a>(owned: &'a Owned, sha: &'a str, status: Status) -> NewSubmission<'a> {
        NewSubmission {
            run_id: None,
            file_name: &owned.file_name,
            sha256: sha,
            size: 10,
            received_at: "2015-07-01T00:00:00Z",
            processed_at: "2015-07-01T00:00:01Z",
            unit_code: Some("061"),
            unit_name: Some("Huyện Ba Bể"),
            period: Some(Period::month(2015, 6)),
            form_code: Some("01/PCMD-H"),
            form_version: Some(1),
            status,
            values: &owned.values,
            communes: &[],
            findings: &[],
            stored_path: &owned.stored_path,
            feedback_path: None,
        }
    }

    fn record(store: &mut Store, sha: &str, status: Status, a01: Option<f64>) -> Result<Recorded, Error> {
        let owned = owned(sha, a01);
        store.record_submission(&june(&owned, sha, status))
    }

    /// Submissions of April to August 2015 for 061, 062 and a return without
    /// a unit, `rounds` times over: one to three a unit and month, in turn
    /// accepted, rejected and with warnings (a later accepted one supersedes
    /// the one before).
    fn record_months(store: &mut Store, rounds: usize) {
        let mut n = 0;
        for round in 0..rounds {
            for month in 4..=8 {
                for (u, unit) in [Some("061"), Some("062"), None].iter().enumerate() {
                    for status in [Status::Accepted, Status::Rejected, Status::Warnings]
                        .iter()
                        .take(1 + (month + u + round) % 3)
                    {
                        n += 1;
                        let sha = format!("s{n}");
                        let owned = owned(&sha, Some(n as f64));
                        let mut new = june(&owned, &sha, *status);
                        new.unit_code = *unit;
                        new.period = Some(Period::month(2015, month as u8));
                        store.record_submission(&new).unwrap();
                    }
                }
            }
        }
    }

    fn count(store: &Store, table: &str) -> i64 {
        store
            .conn
            .query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn every_value_and_flag_row_is_stored_whatever_the_number_of_rows_per_statement() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("b.db")).unwrap();
        let mut stored_communes_so_far = 0;
        for (i, n) in [0usize, 1, 63, 64, 65, 128, 129, 200].into_iter().enumerate() {
            let sha = format!("sha{i}");
            let mut owned = owned(&sha, None);
            owned.values = (0..n)
                .map(|k| StoredValue {
                    line: format!("L{k:03}"),
                    value: (k % 3 != 0).then_some(k as f64 + 0.125),
                    ytd: (k % 5 == 0).then_some(k as f64 * 2.0),
                    cell: (k % 7 != 0).then(|| format!("E{}", k + 10)),
                })
                .collect();
            // n communes; the flag keys need escaping in JSON (a quote, a
            // backslash, Vietnamese), and a commune's flags vary in number.
            let keys = ["healthy", "co \"te nan\"", "tuyên\\truyền", "f3"];
            let mut communes: Vec<StoredCommune> = (0..n)
                .map(|k| StoredCommune {
                    code: format!("{:05}", 7 * k % 1000),
                    name: format!("Xã {k}"),
                    flags: keys
                        .iter()
                        .take(1 + k % 4)
                        .enumerate()
                        .map(|(j, key)| (key.to_string(), (k + j) % 3 == 0))
                        .collect(),
                })
                .collect();
            // The same commune twice: the later row stands, as when each
            // row had its own statement.
            if let Some(first) = communes.first().cloned() {
                communes.push(StoredCommune {
                    name: "Xã lặp lại".into(),
                    flags: first.flags.iter().map(|(k, v)| (k.clone(), !v)).collect(),
                    ..first
                });
            }
            let mut new = june(&owned, &sha, Status::Rejected);
            new.communes = &communes;
            let recorded = store.record_submission(&new).unwrap();

            let values = store.values_of(recorded.id).unwrap();
            assert_eq!(values.len(), n, "{n} values");
            for v in &owned.values {
                assert_eq!(values.get(&v.line), Some(v), "{n} values");
            }
            // One flag row per commune and flag, the later commune standing.
            let mut expected: BTreeMap<(String, String), StoredFlag> = BTreeMap::new();
            let mut last: BTreeMap<&str, &StoredCommune> = BTreeMap::new();
            for c in &communes {
                last.insert(&c.code, c);
            }
            for c in last.values() {
                for (key, &value) in &c.flags {
                    let flag = StoredFlag {
                        commune: c.code.clone(),
                        commune_name: c.name.clone(),
                        flag: key.clone(),
                        value,
                    };
                    expected.insert((c.code.clone(), key.clone()), flag);
                }
            }
            // One row per commune, not per flag.
            stored_communes_so_far += last.len();
            assert_eq!(count(&store, "submission_communes") as usize, stored_communes_so_far);
            let stored = store.flags_of(recorded.id).unwrap();
            assert_eq!(stored, expected.into_values().collect::<Vec<_>>(), "{n} flags");
        }
    }

    #[test]
    fn the_submissions_of_months_in_one_query_are_those_of_each_unit_and_month() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("b.db")).unwrap();
        record_months(&mut store, 1);
        let (first, last) = (Period::month(2015, 5), Period::month(2015, 7));
        let all = store.submissions_between(first, last).unwrap();
        let mut grouped: BTreeMap<(String, Period), Vec<i64>> = BTreeMap::new();
        for s in &all {
            grouped
                .entry((s.unit_code.clone().unwrap(), s.period.unwrap()))
                .or_default()
                .push(s.id);
        }
        let mut each: BTreeMap<(String, Period), Vec<i64>> = BTreeMap::new();
        for unit in ["061", "062"] {
            for month in (5..=7).map(|m| Period::month(2015, m)) {
                let ids: Vec<i64> = store
                    .submissions_of(unit, month)
                    .unwrap()
                    .iter()
                    .map(|s| s.id)
                    .collect();
                if !ids.is_empty() {
                    each.insert((unit.to_string(), month), ids);
                }
            }
        }
        assert_eq!(grouped, each);
        assert_eq!(grouped.len(), 6, "two units, three months");
    }

    /// The current values of a window, read in one pass over the values
    /// between the window's first and last submission, against the current
    /// submissions listed one by one: rejected, superseded and other
    /// months' submissions stored among them are passed over.
    #[test]
    fn the_current_values_of_a_window_are_those_of_its_current_submissions_only() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("b.db")).unwrap();
        record_months(&mut store, 3);
        let (first, last) = (Period::month(2015, 5), Period::month(2015, 7));
        let mut read: Vec<(i64, String, String, String, Option<f64>)> = Vec::new();
        let current = store.current_submissions_between(first, last).unwrap();
        store
            .for_each_value_of(&current, |v| {
                read.push((v.submission, v.unit.into(), v.period.into(), v.line.into(), v.value));
            })
            .unwrap();
        let mut want = Vec::new();
        for s in store.submissions_between(first, last).unwrap() {
            if s.status == Status::Rejected || s.superseded_by.is_some() || s.unit_code.is_none() {
                continue;
            }
            for (line, v) in store.values_of(s.id).unwrap() {
                let period = s.period.map(|p| p.to_string()).unwrap_or_default();
                want.push((s.id, s.unit_code.clone().unwrap_or_default(), period, line, v.value));
            }
        }
        want.sort_by(|a, b| (a.0, &a.3).cmp(&(b.0, &b.3)));
        assert_eq!(read, want, "in submission order, a submission's lines in code order");
        assert_eq!(
            read.iter()
                .map(|r| r.0)
                .collect::<std::collections::BTreeSet<_>>()
                .len(),
            6,
            "two units, three months"
        );
    }

    #[test]
    fn a_resubmission_supersedes_and_blank_stays_null() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("b.db")).unwrap();
        assert_eq!(store.schema_version().unwrap(), schema::MIGRATIONS.len() as i64);
        let june = Period::month(2015, 6);
        let first = record(&mut store, "a", Status::Accepted, Some(5.0)).unwrap();
        assert_eq!(first.superseded, None);
        let rejected = record(&mut store, "b", Status::Rejected, Some(6.0)).unwrap();
        assert_eq!(rejected.superseded, None, "a rejected resubmission supersedes nothing");
        let second = record(&mut store, "c", Status::Warnings, Some(7.0)).unwrap();
        assert_eq!(second.superseded, Some(first.id));
        let history = store.unit_history("061", &[june]).unwrap();
        let values = &history[&june];
        assert_eq!(values["A01"].value, Some(7.0));
        assert_eq!(values["A02"].value, None, "blank is not zero");
        assert_eq!(store.submissions_of("061", june).unwrap().len(), 3);
        // The same sha256 cannot be stored twice.
        assert!(record(&mut store, "a", Status::Accepted, Some(5.0)).is_err());
        assert_eq!(store.count_submissions().unwrap(), 3);
        assert_eq!(store.latest_accepted_period().unwrap(), Some(june));
    }

    /// What a report reads of June: every current value of the unit, and
    /// its submissions.
    fn june_as_read(store: &Store) -> (Vec<(String, String, Option<f64>)>, usize) {
        let june = Period::month(2015, 6);
        let mut values = Vec::new();
        let current = store.current_submissions_between(june, june).unwrap();
        store
            .for_each_value_of(&current, |v| {
                values.push((v.unit.to_string(), v.line.to_string(), v.value));
            })
            .unwrap();
        values.sort_by(|a, b| a.1.cmp(&b.1));
        (values, store.submissions_of("061", june).unwrap().len())
    }

    #[test]
    fn reads_in_one_transaction_see_one_snapshot_while_another_connection_commits() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.db");
        let mut writer = Store::open(&path).unwrap();
        record(&mut writer, "a", Status::Accepted, Some(5.0)).unwrap();
        let reader = Store::open(&path).unwrap();
        let before = june_as_read(&reader);
        assert_eq!(before.0[0], ("061".to_string(), "A01".to_string(), Some(5.0)));
        assert_eq!(before.1, 1);
        let during = reader
            .in_transaction(|r| {
                let first = june_as_read(r);
                // A resubmission committed by another connection meanwhile.
                record(&mut writer, "c", Status::Accepted, Some(7.0)).unwrap();
                Ok((first, june_as_read(r)))
            })
            .unwrap();
        assert_eq!(during.0, before);
        assert_eq!(
            during.1, before,
            "a read in the same transaction saw the other connection's commit"
        );
        let after = june_as_read(&reader);
        assert_eq!(after.0[0].2, Some(7.0));
        assert_eq!(after.1, 2);
    }

    /// The submissions listed in one connection's snapshot, their values
    /// read on a second connection opened after another committed a
    /// resubmission: the same values as the snapshot's, not the new ones.
    /// This guards what the report's second connection relies on: storing
    /// a resubmission must not change or delete the values it supersedes.
    #[test]
    fn a_reader_opened_later_reads_the_values_of_the_submissions_listed_in_a_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.db");
        let mut writer = Store::open(&path).unwrap();
        record(&mut writer, "a", Status::Accepted, Some(5.0)).unwrap();
        let store = Store::open(&path).unwrap();
        let june = Period::month(2015, 6);
        let values_on = |on: &Store, submissions: &[CurrentSubmission]| {
            let mut values = Vec::new();
            on.for_each_value_of(submissions, |v| values.push((v.line.to_string(), v.value)))
                .unwrap();
            values
        };
        let (listed, mine, theirs) = store
            .in_transaction(|store| {
                let listed = store.current_submissions_between(june, june)?;
                let mine = values_on(store, &listed);
                record(&mut writer, "c", Status::Accepted, Some(7.0)).unwrap();
                let reader = store.open_reader()?;
                let theirs = values_on(&reader, &listed);
                Ok((listed, mine, theirs))
            })
            .unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(mine, vec![("A01".to_string(), Some(5.0)), ("A02".to_string(), None)]);
        assert_eq!(theirs, mine, "the reader read the resubmission's values");
        let now = store.current_submissions_between(june, june).unwrap();
        assert_ne!(now, listed, "the resubmission is current once the snapshot ends");
        assert_eq!(values_on(&store.open_reader().unwrap(), &now)[0].1, Some(7.0));
    }

    #[test]
    fn a_chunk_is_stored_in_its_order_and_a_later_file_supersedes_an_earlier_one_of_the_same_chunk() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("b.db")).unwrap();
        let june_2015 = Period::month(2015, 6);
        let (a, b, c) = (owned("a", Some(5.0)), owned("b", Some(6.0)), owned("c", Some(7.0)));
        let recorded = store
            .record_chunk(&[
                june(&a, "a", Status::Accepted),
                june(&b, "b", Status::Rejected),
                june(&c, "c", Status::Warnings),
            ])
            .unwrap();
        assert_eq!(recorded.len(), 3);
        assert!(recorded[0].id < recorded[1].id && recorded[1].id < recorded[2].id);
        assert_eq!(recorded[0].superseded, None);
        assert_eq!(
            recorded[1].superseded, None,
            "a rejected resubmission supersedes nothing"
        );
        assert_eq!(recorded[2].superseded, Some(recorded[0].id));
        let submissions = store.submissions_of("061", june_2015).unwrap();
        assert_eq!(submissions[0].superseded_by, Some(recorded[2].id));
        assert_eq!(submissions[2].superseded_by, None);
        let history = store.unit_history("061", &[june_2015]).unwrap();
        assert_eq!(history[&june_2015]["A01"].value, Some(7.0));
        assert!(store.record_chunk(&[]).unwrap().is_empty());
        assert_foreign_keys_hold_and_are_checked(&store);
    }

    /// Every stored row's parent exists (SQLite's own check over the whole
    /// database) and the connection checks foreign keys again.
    fn assert_foreign_keys_hold_and_are_checked(store: &Store) {
        let broken: Vec<(String, i64)> = store
            .conn
            .prepare("PRAGMA foreign_key_check")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(broken.is_empty(), "rows without their parent: {broken:?}");
        let on: bool = store.conn.query_row("PRAGMA foreign_keys", [], |r| r.get(0)).unwrap();
        assert!(on, "foreign keys are checked again after a chunk");
        // And the check bites: a value of a submission that does not exist.
        let orphan = store.conn.execute(
            "INSERT INTO submission_values (submission_id, line_code, value) VALUES (999999, 'A01', 1)",
            [],
        );
        assert!(orphan.is_err(), "{orphan:?}");
    }

    #[test]
    fn a_commit_is_synced_to_the_disk_before_it_returns() {
        // Files leave the inbox after their chunk's commit: the commit must
        // survive a power cut, not only a crash of the process (WAL with
        // synchronous = FULL; NORMAL syncs only at checkpoints).
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("b.db")).unwrap();
        let mode: String = store.conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
        let synchronous: i64 = store.conn.query_row("PRAGMA synchronous", [], |r| r.get(0)).unwrap();
        assert_eq!((mode.as_str(), synchronous), ("wal", 2));
    }

    #[test]
    fn a_chunk_that_fails_in_the_middle_leaves_nothing_of_it_stored() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("b.db")).unwrap();
        let june_2015 = Period::month(2015, 6);
        let first = record(&mut store, "a", Status::Accepted, Some(5.0)).unwrap();
        let (b, again, c) = (owned("b", Some(6.0)), owned("a", Some(5.0)), owned("c", Some(7.0)));
        // "b" supersedes "a", then the second file fails (content already
        // stored: the sha256 is unique), then "c" would supersede "b".
        let chunk = [
            june(&b, "b", Status::Accepted),
            june(&again, "a", Status::Accepted),
            june(&c, "c", Status::Accepted),
        ];
        let error = store.record_chunk(&chunk).unwrap_err();
        assert!(error.to_string().contains("UNIQUE"), "{error}");
        assert_foreign_keys_hold_and_are_checked(&store);
        assert_eq!(store.count_submissions().unwrap(), 1);
        assert_eq!(
            count(&store, "submission_values"),
            2,
            "only the first return's two values"
        );
        assert!(store.find_by_sha("b").unwrap().is_none());
        let kept = store.submissions_of("061", june_2015).unwrap();
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].superseded_by, None, "the superseding is undone too");
        let history = store.unit_history("061", &[june_2015]).unwrap();
        assert_eq!(history[&june_2015]["A01"].value, Some(5.0));
        // The store goes on: the chunk without the failing file is stored whole.
        let recorded = store.record_chunk(&[chunk[0].clone(), chunk[2].clone()]).unwrap();
        assert_eq!(recorded[0].superseded, Some(first.id));
        assert_eq!(recorded[1].superseded, Some(recorded[0].id));
        assert_eq!(store.count_submissions().unwrap(), 3);
        assert_foreign_keys_hold_and_are_checked(&store);
    }

    #[test]
    fn an_unknown_status_or_trigger_in_the_database_is_an_error_not_a_guess() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("b.db")).unwrap();
        let run = store
            .begin_run(Trigger::Watch, "ingest", "2015-07-01T00:00:00Z")
            .unwrap();
        assert_eq!(store.recent_runs(1).unwrap()[0].trigger, Trigger::Watch);
        let id = record(&mut store, "a", Status::Accepted, Some(5.0)).unwrap().id;
        assert_eq!(store.all_submissions().unwrap()[0].status, Status::Accepted);
        // As a newer baocao, or a hand edit past the schema's check, would leave it.
        store
            .conn
            .execute_batch("PRAGMA ignore_check_constraints = ON")
            .unwrap();
        store
            .conn
            .execute("UPDATE submissions SET status = 'accepted-later' WHERE id = ?1", [id])
            .unwrap();
        let error = store.all_submissions().unwrap_err();
        assert!(error.to_string().contains("accepted-later"), "{error}");
        store
            .conn
            .execute("UPDATE runs SET trigger_name = 'cron' WHERE id = ?1", [run])
            .unwrap();
        let error = store.recent_runs(1).unwrap_err();
        assert!(error.to_string().contains("cron"), "{error}");
    }

    #[test]
    fn reopening_runs_no_migration_twice() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.db");
        drop(Store::open(&path).unwrap());
        let store = Store::open(&path).unwrap();
        assert_eq!(store.schema_version().unwrap(), schema::MIGRATIONS.len() as i64);
    }

    #[test]
    fn a_version_2_database_keeps_every_commune_flag_when_its_communes_move_to_one_row_each() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.db");
        // A database as the build before migration 3 left it: one row per
        // commune and flag.
        let mut old: Vec<(i64, String, Option<String>, String, i64)> = Vec::new();
        for submission in 1..=3_i64 {
            for commune in 0..(4 * submission) {
                for (j, flag) in ["healthy", "prostitution", "aware", "team"].iter().enumerate() {
                    if (commune as usize + j) % 5 == 4 {
                        continue; // a commune without one of the flags
                    }
                    let name = (commune % 3 != 0).then(|| format!("Xã số {commune}"));
                    let value = (submission + commune + j as i64) % 2;
                    old.push((submission, format!("{commune:05}"), name, flag.to_string(), value));
                }
            }
        }
        {
            let conn = rusqlite::Connection::open(&path).unwrap();
            for (i, sql) in schema::MIGRATIONS.iter().take(2).enumerate() {
                conn.execute_batch(sql).unwrap();
                conn.pragma_update(None, "user_version", (i + 1) as i64).unwrap();
            }
            for submission in 1..=3_i64 {
                conn.execute(
                    "INSERT INTO submissions (id, file_name, sha256, size, received_at, processed_at, status,
                     stored_path) VALUES (?1, 'f.xlsx', ?1, 1, 't', 't', 'accepted', 'archive/f.xlsx')",
                    [submission],
                )
                .unwrap();
            }
            for row in &old {
                conn.execute(
                    "INSERT INTO commune_flags VALUES (?1, ?2, ?3, ?4, ?5)",
                    rusqlite::params![row.0, row.1, row.2, row.3, row.4],
                )
                .unwrap();
            }
        }
        let store = Store::open(&path).unwrap();
        assert_eq!(store.schema_version().unwrap(), 3);
        for submission in 1..=3_i64 {
            let mut expected: Vec<StoredFlag> = old
                .iter()
                .filter(|r| r.0 == submission)
                .map(|r| StoredFlag {
                    commune: r.1.clone(),
                    commune_name: r.2.clone().unwrap_or_default(),
                    flag: r.3.clone(),
                    value: r.4 != 0,
                })
                .collect();
            expected.sort_by(|a, b| (&a.commune, &a.flag).cmp(&(&b.commune, &b.flag)));
            assert_eq!(store.flags_of(submission).unwrap(), expected, "submission {submission}");
            let communes: i64 = store
                .conn
                .query_row(
                    "SELECT COUNT(*) FROM submission_communes WHERE submission_id = ?1",
                    [submission],
                    |r| r.get(0),
                )
                .unwrap();
            assert_eq!(communes, 4 * submission, "one row per commune");
        }
        // The view answers as the table did, to a query written against it.
        let healthy: i64 = store
            .conn
            .query_row(
                "SELECT COUNT(*) FROM commune_flags WHERE flag = 'healthy' AND value = 1",
                [],
                |r| r.get(0),
            )
            .unwrap();
        let counted = old.iter().filter(|r| r.3 == "healthy" && r.4 == 1).count() as i64;
        assert_eq!(healthy, counted);
    }
}
