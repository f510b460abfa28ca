//! One baocao at a time per workspace: `baocao.lock` in the workspace,
//! locked with the operating system's file lock for as long as a daemon,
//! `ingest` or `run` works there, and holding the holder's pid for the
//! message a second process prints.
//!
//! The lock itself, not the pid text, decides: the OS releases it when the
//! process ends however it ends (`kill -9`, a power cut), so a stale file
//! left behind never blocks anyone and needs no clean-up. A second process
//! does not wait: it exits with code 2 naming the holder, because the
//! daemon never lets go and a cron job that waited would hang forever; the
//! exit code tells monitoring that two schedulers are configured.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::error::Error;

/// File name of the lock inside a workspace.
pub const LOCK_FILE: &str = "baocao.lock";

/// The workspace lock, released when dropped (or when the process ends).
#[derive(Debug)]
pub struct WorkspaceLock {
    // Kept open: closing the file releases the lock.
    _file: File,
    path: PathBuf,
}

impl WorkspaceLock {
    /// Takes the lock of the workspace at `root` for `holder` (the command:
    /// "daemon", "ingest", "run"), writing this process's pid into it.
    ///
    /// # Errors
    /// [`Error::Locked`] naming the holder's pid when another process holds
    /// it; [`Error::Io`] when the file cannot be opened or the file system
    /// does not support locks (keep the workspace on a local disk).
    pub fn acquire(root: &Path, holder: &str) -> Result<WorkspaceLock, Error> {
        std::fs::create_dir_all(root).map_err(|e| Error::io(root, e))?;
        let path = root.join(LOCK_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(Error::Locked {
                    holder: describe_holder(&path),
                    path,
                });
            }
            Err(TryLockError::Error(e)) => return Err(Error::io(&path, e)),
        }
        // Only the holder writes, so the text is the holder's (the previous
        // holder's text, if any, is replaced).
        let started = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ");
        let text = format!("{}\n{holder}\n{started}\n", std::process::id());
        file.set_len(0).map_err(|e| Error::io(&path, e))?;
        file.seek(SeekFrom::Start(0)).map_err(|e| Error::io(&path, e))?;
        file.write_all(text.as_bytes()).map_err(|e| Error::io(&path, e))?;
        file.flush().map_err(|e| Error::io(&path, e))?;
        Ok(WorkspaceLock { _file: file, path })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// "pid 1234 (`baocao daemon` since 2026-01-05T07:00:00Z)" from the lock
/// file's text, or what is known of it.
fn describe_holder(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut lines = text.lines().map(str::trim);
    let pid = lines.next().and_then(|l| l.parse::<u32>().ok());
    let command = lines.next().filter(|c| !c.is_empty());
    let since = lines.next().filter(|s| !s.is_empty());
    match (pid, command, since) {
        (Some(pid), Some(command), Some(since)) => format!("pid {pid} (`baocao {command}` since {since})"),
        (Some(pid), Some(command), None) => format!("pid {pid} (`baocao {command}`)"),
        (Some(pid), None, _) => format!("pid {pid}"),
        // The holder has locked the file but not yet written its pid.
        (None, ..) => "another baocao process (pid not yet written)".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_is_refused_naming_the_pid_and_freed_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let first = WorkspaceLock::acquire(dir.path(), "daemon").unwrap();
        let second = WorkspaceLock::acquire(dir.path(), "ingest");
        match second {
            Err(Error::Locked { holder, .. }) => {
                assert!(holder.contains(&format!("pid {}", std::process::id())), "{holder}");
                assert!(holder.contains("baocao daemon"), "{holder}");
            }
            other => panic!("expected Locked, got {other:?}"),
        }
        drop(first);
        let third = WorkspaceLock::acquire(dir.path(), "ingest").unwrap();
        let text = std::fs::read_to_string(third.path()).unwrap();
        assert!(text.starts_with(&format!("{}\ningest\n", std::process::id())), "{text}");
    }

    #[test]
    fn a_lock_file_left_by_a_dead_process_does_not_block() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(LOCK_FILE), "999999\ndaemon\n2015-01-01T00:00:00Z\n").unwrap();
        let lock = WorkspaceLock::acquire(dir.path(), "daemon").unwrap();
        let text = std::fs::read_to_string(lock.path()).unwrap();
        assert!(text.starts_with(&std::process::id().to_string()), "{text}");
    }
}
