//! `baocao backup`: a consistent copy of the workspace database taken with
//! SQLite's online backup API, safe while the daemon writes. Copying
//! `baocao.db` with `cp` while the daemon runs can catch a half-written
//! page or miss what still sits in the `-wal` file; the backup API copies
//! one consistent snapshot instead. The copy is written beside the target
//! under a temporary name, checked, and only then renamed into place, so an
//! interrupted backup never leaves a truncated file under the real name.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags};

use super::db_error;
use crate::atomic::{write_atomically, Content};
use crate::error::Error;

/// What a backup wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupSummary {
    /// The backup file.
    pub path: PathBuf,
    pub bytes: u64,
    /// Submissions in the copy (a quick way to compare with the original).
    pub submissions: i64,
    pub schema_version: i64,
}

/// How long to keep retrying while the database is busy (a long write).
const BUSY_RETRIES: u32 = 600;
const BUSY_PAUSE: Duration = Duration::from_millis(100);

/// Copies the database at `database` to `out` (a single self-contained
/// file in rollback-journal mode, checked with `PRAGMA quick_check`).
///
/// # Errors
/// [`Error::Database`] when the database is missing or the copy fails its
/// check; [`Error::Io`] when the target cannot be written; [`Error::Usage`]
/// when `out` is the database itself or a folder.
pub fn backup_database(database: &Path, out: &Path) -> Result<BackupSummary, Error> {
    if !database.exists() {
        return Err(Error::Database {
            path: database.to_path_buf(),
            message: "no database yet: nothing to back up".into(),
        });
    }
    let out = crate::config::absolute(out);
    if out.is_dir() {
        return Err(Error::Usage(format!(
            "--out {}: is a folder; give a file name such as baocao-backup.db",
            out.display()
        )));
    }
    if same_file(database, &out) {
        return Err(Error::Usage(format!(
            "--out {}: is the workspace database itself",
            out.display()
        )));
    }
    let mut counts = (0, 0);
    let mut copy = |temporary: &Path| -> Result<(), Error> {
        counts = copy_to(database, temporary)?;
        Ok(())
    };
    write_atomically(&out, Content::Built(&mut copy))?;
    let (submissions, schema_version) = counts;
    let bytes = std::fs::metadata(&out).map_err(|e| Error::io(&out, e))?.len();
    Ok(BackupSummary {
        path: out,
        bytes,
        submissions,
        schema_version,
    })
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// Copies into `temporary` and checks the copy; returns (submissions, schema version).
fn copy_to(database: &Path, temporary: &Path) -> Result<(i64, i64), Error> {
    let _ = std::fs::remove_file(temporary);
    // Read-write without create: no migration runs (a newer or older binary
    // may hold the database), and a missing file is not silently made empty.
    let source = Connection::open_with_flags(
        database,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_URI | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| db_error(database, e))?;
    source
        .busy_timeout(Duration::from_secs(30))
        .map_err(|e| db_error(database, e))?;
    let mut target = Connection::open(temporary).map_err(|e| db_error(temporary, e))?;
    {
        let backup = Backup::new(&source, &mut target).map_err(|e| db_error(temporary, e))?;
        let mut retries = 0;
        loop {
            // -1: every page in one step, inside one read transaction of the
            // source; under WAL the daemon's writers carry on meanwhile.
            match backup.step(-1).map_err(|e| db_error(database, e))? {
                StepResult::Done => break,
                StepResult::More => {}
                StepResult::Busy | StepResult::Locked => {
                    retries += 1;
                    if retries > BUSY_RETRIES {
                        return Err(Error::Database {
                            path: database.to_path_buf(),
                            message: "stayed busy for a minute; try again".into(),
                        });
                    }
                    std::thread::sleep(BUSY_PAUSE);
                }
                // StepResult is non-exhaustive: treat anything new as "try again".
                _ => std::thread::sleep(BUSY_PAUSE),
            }
        }
    }
    // One self-contained file: no -wal or -shm to carry along.
    let _mode: String = target
        .query_row("PRAGMA journal_mode = DELETE", [], |r| r.get(0))
        .map_err(|e| db_error(temporary, e))?;
    let check: String = target
        .query_row("PRAGMA quick_check", [], |r| r.get(0))
        .map_err(|e| db_error(temporary, e))?;
    if check != "ok" {
        return Err(Error::Database {
            path: temporary.to_path_buf(),
            message: format!("the copy fails its integrity check: {check}"),
        });
    }
    let version: i64 = target
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|e| db_error(temporary, e))?;
    let submissions: i64 = target
        .query_row("SELECT COUNT(*) FROM submissions", [], |r| r.get(0))
        .map_err(|e| db_error(temporary, e))?;
    target.close().map_err(|(_, e)| db_error(temporary, e))?;
    Ok((submissions, version))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    #[test]
    fn backup_copies_the_database_into_one_checked_file() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("baocao.db");
        let store = Store::open(&db).unwrap();
        store
            .begin_run(crate::store::Trigger::Command, "ingest", "2015-01-01T00:00:00Z")
            .unwrap();
        let out = dir.path().join("copies/backup.db");
        let summary = backup_database(&db, &out).unwrap();
        assert_eq!(summary.path, out);
        assert_eq!(summary.submissions, 0);
        assert_eq!(summary.schema_version, store.schema_version().unwrap());
        assert!(!dir.path().join("copies/backup.db-wal").exists());
        let copy = Store::open(&out).unwrap();
        assert_eq!(copy.recent_runs(5).unwrap().len(), 1);
        let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("copies"))
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().contains(".tmp"))
            .collect();
        assert!(leftovers.is_empty());
    }

    #[test]
    fn backing_up_onto_the_database_itself_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("baocao.db");
        Store::open(&db).unwrap();
        assert!(matches!(backup_database(&db, &db), Err(Error::Usage(_))));
        assert!(matches!(
            backup_database(&dir.path().join("none.db"), &dir.path().join("x.db")),
            Err(Error::Database { .. })
        ));
    }
}
