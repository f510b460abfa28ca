//! Finding the files to take from the inbox: spreadsheets only, in every
//! subfolder (offices sort by district), skipping Office owner files
//! (`~$…`), LibreOffice lock files (`.~lock.…#`), hidden and temporary
//! files, and files still being written (modified within the last
//! `stable_seconds`). Names are compared in NFC, so a name written in NFD by
//! macOS is the same name.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use rayon::prelude::*;
use unicode_normalization::UnicodeNormalization;

use crate::error::Error;

/// Extensions baocao reads (lower case).
pub const SPREADSHEET_EXTENSIONS: [&str; 5] = ["xlsx", "xlsm", "xls", "ods", "xlsb"];

/// A file ready to be taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub path: PathBuf,
    /// Path relative to the inbox, NFC, with `/` separators.
    pub relative: String,
    pub size: u64,
    pub modified: SystemTime,
}

/// What a look at the inbox found.
#[derive(Debug, Clone, Default)]
pub struct Discovered {
    /// Stable spreadsheets, oldest first, then by name.
    pub ready: Vec<Candidate>,
    /// Spreadsheets modified too recently: left for the next pass.
    pub unstable: Vec<PathBuf>,
    /// Files left alone, with the reason.
    pub ignored: Vec<(PathBuf, &'static str)>,
}

/// Why a file name is not taken, or `None` when it is a spreadsheet to take.
pub fn skip_reason(name: &str) -> Option<&'static str> {
    let lower = name.to_lowercase();
    if lower.starts_with("~$") {
        return Some("Office owner file");
    }
    if lower.starts_with(".~lock.") {
        return Some("LibreOffice lock file");
    }
    if lower.starts_with('.') {
        return Some("hidden or temporary file");
    }
    if lower.ends_with('~') || lower.ends_with(".tmp") || lower.ends_with(".part") || lower.ends_with(".crdownload") {
        return Some("temporary file");
    }
    let ext = lower.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
    if !SPREADSHEET_EXTENSIONS.contains(&ext) {
        return Some("not a spreadsheet (extension)");
    }
    None
}

/// Lists the inbox.
///
/// A file is ready when its modification time is at least `stable` before
/// `now` (a file being copied keeps getting a new modification time).
/// The folders of each level are listed side by side (an inbox sorted by
/// district has hundreds; a look at a file's metadata is a system call).
///
/// # Errors
/// [`Error::Io`] when the inbox or one of its folders cannot be listed.
pub fn discover(inbox: &Path, stable: Duration, now: SystemTime) -> Result<Discovered, Error> {
    let mut found = Discovered::default();
    if !inbox.exists() {
        return Ok(found);
    }
    let mut level = vec![inbox.to_path_buf()];
    while !level.is_empty() {
        let listed = level
            .par_iter()
            .map(|dir| list_folder(inbox, dir, stable, now))
            .collect::<Result<Vec<_>, Error>>()?;
        level = Vec::new();
        for (part, folders) in listed {
            found.ready.extend(part.ready);
            found.unstable.extend(part.unstable);
            found.ignored.extend(part.ignored);
            level.extend(folders);
        }
    }
    found
        .ready
        .sort_by(|a, b| (a.modified, &a.relative).cmp(&(b.modified, &b.relative)));
    found.unstable.sort();
    found.ignored.sort();
    Ok(found)
}

/// One folder's files as [`discover`] sorts them, and its subfolders.
fn list_folder(
    inbox: &Path,
    dir: &Path,
    stable: Duration,
    now: SystemTime,
) -> Result<(Discovered, Vec<PathBuf>), Error> {
    let mut found = Discovered::default();
    let mut folders = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().nfc().collect::<String>();
        let Ok(meta) = entry.metadata() else {
            // Vanished between listing and stat: it will be seen next pass.
            continue;
        };
        if meta.is_dir() {
            if name.starts_with('.') {
                found.ignored.push((path, "hidden folder"));
            } else {
                folders.push(path);
            }
            continue;
        }
        if let Some(reason) = skip_reason(&name) {
            found.ignored.push((path, reason));
            continue;
        }
        let modified = meta.modified().unwrap_or(now);
        let age = now.duration_since(modified).unwrap_or(Duration::ZERO);
        if age < stable {
            found.unstable.push(path);
            continue;
        }
        let relative = path
            .strip_prefix(inbox)
            .unwrap_or(&path)
            .components()
            .map(|c| c.as_os_str().to_string_lossy().nfc().collect::<String>())
            .collect::<Vec<_>>()
            .join("/");
        found.ready.push(Candidate {
            path,
            relative,
            size: meta.len(),
            modified,
        });
    }
    Ok((found, folders))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_temp_hidden_and_other_files_are_skipped() {
        for name in [
            "~$bao cao.xlsx",
            ".~lock.bao cao.xlsx#",
            ".hidden.xlsx",
            "a.xlsx.tmp",
            "a.xlsx~",
            "notes.pdf",
        ] {
            assert!(skip_reason(name).is_some(), "{name}");
        }
        for name in ["Báo cáo.xlsx", "a.XLSX", "b.xls", "c.ods", "d.xlsm", "e.xlsb"] {
            assert_eq!(skip_reason(name), None, "{name}");
        }
    }

    #[test]
    fn recent_files_wait_and_ready_files_come_oldest_first_in_subfolders() {
        let dir = tempfile::tempdir().unwrap();
        let inbox = dir.path();
        std::fs::create_dir_all(inbox.join("061")).unwrap();
        let old = inbox.join("061/b.xlsx");
        let older = inbox.join("a.xlsx");
        let fresh = inbox.join("c.xlsx");
        for p in [&old, &older, &fresh] {
            std::fs::write(p, b"x").unwrap();
        }
        let now = SystemTime::now();
        let set = |p: &Path, ago: u64| {
            let f = std::fs::File::options().write(true).open(p).unwrap();
            f.set_modified(now - Duration::from_secs(ago)).unwrap();
        };
        set(&old, 100);
        set(&older, 200);
        let found = discover(inbox, Duration::from_secs(5), now).unwrap();
        let names: Vec<&str> = found.ready.iter().map(|c| c.relative.as_str()).collect();
        assert_eq!(names, ["a.xlsx", "061/b.xlsx"]);
        assert_eq!(found.unstable, vec![fresh]);
    }

    /// Folders listed side by side give what one walk would: every file of
    /// every level, hidden folders left alone, and the same order whatever
    /// folder was listed first (oldest first, then by name; ties by name).
    #[test]
    fn folders_listed_side_by_side_find_every_file_in_one_order() {
        let dir = tempfile::tempdir().unwrap();
        let inbox = dir.path();
        let now = SystemTime::now();
        let mut want = Vec::new();
        for unit in 0..40 {
            for month in 1..=3 {
                let relative = format!("{unit:03}/2015/{unit:03}_{month:02}.xlsx");
                let path = inbox.join(&relative);
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(&path, b"x").unwrap();
                // Three arrival times, each shared by many files.
                let ago = 400 - 100 * month;
                let f = std::fs::File::options().write(true).open(&path).unwrap();
                f.set_modified(now - Duration::from_secs(ago)).unwrap();
                want.push((ago, relative));
            }
        }
        std::fs::create_dir_all(inbox.join(".git/objects")).unwrap();
        std::fs::write(inbox.join(".git/objects/x.xlsx"), b"x").unwrap();
        std::fs::write(inbox.join("007/notes.pdf"), b"x").unwrap();
        want.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        let found = discover(inbox, Duration::from_secs(5), now).unwrap();
        let names: Vec<&str> = found.ready.iter().map(|c| c.relative.as_str()).collect();
        let want: Vec<&str> = want.iter().map(|(_, r)| r.as_str()).collect();
        assert_eq!(names, want);
        assert_eq!(
            found.ignored,
            vec![
                (inbox.join(".git"), "hidden folder"),
                (inbox.join("007/notes.pdf"), "not a spreadsheet (extension)"),
            ]
        );
    }

    #[test]
    fn an_nfd_name_is_reported_in_nfc() {
        let dir = tempfile::tempdir().unwrap();
        let nfd = "Ba\u{300}o ca\u{301}o.xlsx";
        std::fs::write(dir.path().join(nfd), b"x").unwrap();
        let later = SystemTime::now() + Duration::from_secs(60);
        let found = discover(dir.path(), Duration::from_secs(5), later).unwrap();
        assert_eq!(found.ready.len(), 1);
        assert_eq!(found.ready[0].relative, "Bào cáo.xlsx");
    }
}
