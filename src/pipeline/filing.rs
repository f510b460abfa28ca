//! Where a processed file goes and how it gets there: `archive/<period>/<unit>/`
//! when accepted, `rejected/` (with a copy of its feedback) when not,
//! `archive/trung-lap/` when its content was stored before. A file is
//! filed only after what it changed in the store is committed; a pass that
//! stops in between leaves submissions marked unfiled, which the next pass
//! files ([`heal_unfiled`]) — so a crash loses and doubles nothing.

use std::path::{Path, PathBuf};

use chrono::Local;

use crate::atomic::Staged;
use crate::config::Settings;
use crate::error::Error;
use crate::feedback::{stage_feedback, write_feedback, FeedbackInput};
use crate::findings::Finding;
use crate::pipeline::check::sha256_of;
use crate::pipeline::validate::Claimed;
use crate::store::{Status, Store, StoredValue, Submission};

/// Where a stored file and its feedback go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// The file, in `archive/` or `rejected/`.
    pub stored: PathBuf,
    /// The feedback workbook, in the unit's `feedback/` folder.
    pub feedback: PathBuf,
    /// A second copy of the feedback beside a rejected file.
    pub feedback_beside: Option<PathBuf>,
}

impl Placement {
    /// The places of a file received as `name` with content `sha256`, whose
    /// check gave `status` for what it claims to be.
    pub fn of(settings: &Settings, name: &str, sha256: &str, claimed: &Claimed, status: Status) -> Placement {
        let (stem, ext) = stem_and_ext(name);
        let tag = format!("{stem}__{}_{}", stamp(), short(sha256));
        let unit_folder = claimed.unit_code.as_deref().unwrap_or("khong-ro-don-vi");
        let feedback = settings
            .paths
            .feedback
            .join(unit_folder)
            .join(format!("{tag}_phanhoi.xlsx"));
        if status == Status::Rejected {
            return Placement {
                stored: settings.paths.rejected.join(format!("{tag}.{ext}")),
                feedback,
                feedback_beside: Some(settings.paths.rejected.join(format!("{tag}_phanhoi.xlsx"))),
            };
        }
        let period = claimed
            .period
            .map_or_else(|| "khong-ro-ky".to_string(), |p| p.to_string());
        Placement {
            stored: settings
                .paths
                .archive
                .join(period)
                .join(unit_folder)
                .join(format!("{tag}.{ext}")),
            feedback,
            feedback_beside: None,
        }
    }
}

/// Where a second copy of stored content goes: `archive/trung-lap/`.
pub fn duplicate_place(settings: &Settings, name: &str, sha256: &str) -> PathBuf {
    let (stem, ext) = stem_and_ext(name);
    settings
        .paths
        .archive
        .join("trung-lap")
        .join(format!("{stem}__{}_{}.{ext}", stamp(), short(sha256)))
}

fn stamp() -> String {
    Local::now().format("%Y%m%d-%H%M%S").to_string()
}

fn short(sha256: &str) -> &str {
    sha256.get(..8).unwrap_or(sha256)
}

fn stem_and_ext(relative: &str) -> (String, String) {
    let name = relative.rsplit('/').next().unwrap_or(relative);
    match name.rsplit_once('.') {
        Some((stem, ext)) => (stem.to_string(), ext.to_lowercase()),
        None => (name.to_string(), String::new()),
    }
}

/// `path` relative to `root`, with `/` separators, as the store keeps it.
pub fn relative_to(root: &Path, path: &Path) -> String {
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
        let target = free_name(to);
        if let Some(dir) = target.parent() {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        std::fs::copy(from, &target).map_err(|e| Error::io(&target, e))?;
        Ok(target)
    } else {
        move_file(from, to)
    }
}

/// `to`, or `to` with a counter when the name is taken.
fn free_name(to: &Path) -> PathBuf {
    let mut target = to.to_path_buf();
    let mut n = 1;
    while target.exists() {
        target = numbered(to, n);
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
    #[cfg(target_os = "linux")]
    if let Some(moved) = rename_noreplace(from, to)? {
        return Ok(moved);
    }
    move_by_looking(from, to)
}

/// [`move_file`] with a look at the folder and the name before the move:
/// on systems and file systems without `RENAME_NOREPLACE`.
fn move_by_looking(from: &Path, to: &Path) -> Result<PathBuf, Error> {
    if let Some(dir) = to.parent() {
        // A look is cheaper than a mkdir that finds the folder there.
        if !dir.is_dir() {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
    }
    let target = free_name(to);
    if std::fs::rename(from, &target).is_err() {
        // Across file systems: copy, sync, then remove the original. An
        // error names the file it is about (a missing original, not the copy).
        let mut source = std::fs::File::open(from).map_err(|e| Error::io(from, e))?;
        let mut copy = std::fs::File::create_new(&target).map_err(|e| Error::io(&target, e))?;
        if let Err(e) = std::io::copy(&mut source, &mut copy).and_then(|_| copy.sync_all()) {
            // Best effort: a half copy that cannot be removed is clutter,
            // and the original is still in place.
            let _ = std::fs::remove_file(&target);
            return Err(Error::io(&target, e));
        }
        std::fs::remove_file(from).map_err(|e| Error::io(from, e))?;
    }
    Ok(target)
}

/// The move of [`move_file`] as one call that refuses a taken name
/// (`renameat2` with `RENAME_NOREPLACE`), after making the folder: one
/// `mkdir` and one rename a filed return, where a look at the folder, a
/// look at the name and the rename were three calls and left a window
/// between the look and the move. (An archive folder is a unit's month, so
/// it is nearly always new.) `None` when the file system cannot do it
/// (another device, a share without the flag): the caller moves it the
/// long way.
#[cfg(target_os = "linux")]
fn rename_noreplace(from: &Path, to: &Path) -> Result<Option<PathBuf>, Error> {
    use rustix::fs::{renameat_with, RenameFlags, CWD};
    use rustix::io::Errno;
    if let Some(dir) = to.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    let mut target = to.to_path_buf();
    let mut taken = 0;
    loop {
        match renameat_with(CWD, from, CWD, &target, RenameFlags::NOREPLACE) {
            Ok(()) => return Ok(Some(target)),
            Err(Errno::EXIST) => {
                taken += 1;
                target = numbered(to, taken);
            }
            Err(Errno::NOENT) => {
                return Err(Error::io(from, std::io::Error::from(Errno::NOENT)));
            }
            Err(_) => return Ok(None),
        }
    }
}

/// `to` with counter `n`: "a.xlsx" and 1 → "a-1.xlsx".
fn numbered(to: &Path, n: usize) -> PathBuf {
    let stem = to
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let ext = to
        .extension()
        .map(|s| format!(".{}", s.to_string_lossy()))
        .unwrap_or_default();
    to.with_file_name(format!("{stem}-{n}{ext}"))
}

/// What the feedback of a stored submission says, read back from the store
/// to write it again when a pass stopped before writing it.
struct StoredFeedback<'s> {
    path: PathBuf,
    submission: &'s Submission,
    values: Vec<StoredValue>,
    findings: Vec<Finding>,
}

impl<'s> StoredFeedback<'s> {
    /// `None` when the submission has no feedback or it is already written.
    fn missing(settings: &Settings, store: &Store, submission: &'s Submission) -> Result<Option<Self>, Error> {
        let Some(feedback) = &submission.feedback_path else {
            return Ok(None);
        };
        let path = settings.paths.root.join(feedback);
        if path.exists() {
            return Ok(None);
        }
        Ok(Some(StoredFeedback {
            path,
            submission,
            values: store.values_of(submission.id)?.into_values().collect(),
            findings: store.findings_of(submission.id)?,
        }))
    }

    fn input<'a>(&'a self, settings: &'a Settings) -> FeedbackInput<'a> {
        let submission = self.submission;
        let form = match (&submission.form_code, submission.form_version) {
            (Some(code), Some(version)) => settings.form(code, version),
            _ => None,
        };
        FeedbackInput {
            file_name: &submission.file_name,
            received_at: &submission.received_at,
            timezone: settings.timezone,
            status: submission.status,
            unit: submission.unit_code.as_deref().map(|c| (c, "")),
            period: submission.period.map(|p| p.to_string()),
            form,
            values: &self.values,
            findings: &self.findings,
            supersedes: None,
        }
    }
}

/// Writes the feedback of a stored submission again when a pass stopped
/// before writing it.
///
/// # Errors
/// [`Error::Database`], [`Error::Workbook`], [`Error::Io`].
pub fn regenerate_feedback(settings: &Settings, store: &Store, submission: &Submission) -> Result<(), Error> {
    match StoredFeedback::missing(settings, store, submission)? {
        Some(feedback) => write_feedback(&feedback.path, &feedback.input(settings)),
        None => Ok(()),
    }
}

/// Files the files of submissions stored by a pass that stopped before
/// filing them (their inbox copy is moved now, or found already moved);
/// returns how many.
///
/// Their missing feedback workbooks are written on `pool` and made durable
/// as one batch (as a pass writes a chunk's), and only then are the
/// submissions marked filed, in one transaction: a crash in between leaves
/// them unfiled for the next pass, which finds the files in place.
///
/// # Errors
/// [`Error::Database`], [`Error::Io`], or writing a feedback workbook.
pub fn heal_unfiled(settings: &Settings, store: &Store, pool: &rayon::ThreadPool) -> Result<usize, Error> {
    let mut healed = Vec::new();
    for submission in store.unfiled()? {
        let target = settings.paths.root.join(&submission.stored_path);
        let source = settings.paths.inbox.join(&submission.file_name);
        if target.exists() {
            healed.push(submission);
        } else if source.exists() && sha256_of(&source).ok().as_deref() == Some(submission.sha256.as_str()) {
            file_away(settings, &source, &target)?;
            healed.push(submission);
        }
        // Otherwise the file is found by its sha256 wherever it now sits in
        // the inbox, during the pass.
    }
    if healed.is_empty() {
        return Ok(0);
    }
    let mut missing = Vec::new();
    for submission in &healed {
        missing.extend(StoredFeedback::missing(settings, store, submission)?);
    }
    Staged::write_all(pool, &missing, |staged, feedback| {
        stage_feedback(staged, &feedback.path, &feedback.input(settings))
    })?;
    store.in_transaction(|store| healed.iter().try_for_each(|submission| store.mark_filed(submission.id)))?;
    Ok(healed.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_move_makes_its_folder_and_never_overwrites_a_taken_name() {
        // The one-call move (`renameat2` on Linux) and the long way, alike.
        let ways: [Move; 2] = [move_file, move_by_looking];
        for move_one in ways {
            moves_as_a_filing_should(move_one);
        }
    }

    type Move = fn(&Path, &Path) -> Result<PathBuf, Error>;

    fn moves_as_a_filing_should(move_one: Move) {
        let dir = tempfile::tempdir().unwrap();
        let to = dir.path().join("archive/2015-01/001/a.xlsx");
        let mut moved = Vec::new();
        for content in ["first", "second", "third"] {
            let from = dir.path().join("inbox.xlsx");
            std::fs::write(&from, content).unwrap();
            moved.push(move_one(&from, &to).unwrap());
            assert!(!from.exists(), "the source is gone");
        }
        let names: Vec<String> = moved
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["a.xlsx", "a-1.xlsx", "a-2.xlsx"]);
        for (path, content) in moved.iter().zip(["first", "second", "third"]) {
            assert_eq!(std::fs::read_to_string(path).unwrap(), content);
        }
        // A missing source is an error naming it; no file is made.
        let gone = dir.path().join("gone.xlsx");
        let error = move_one(&gone, &dir.path().join("elsewhere/b.xlsx")).unwrap_err();
        assert!(error.to_string().contains("gone.xlsx"), "{error}");
        assert!(!dir.path().join("elsewhere/b.xlsx").exists());
    }
}
