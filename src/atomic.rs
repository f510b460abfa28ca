//! Every file baocao writes for people or other programs — blank returns,
//! feedback workbooks, reports, exports, reminder lists, database backups —
//! appears whole or not at all. It is built under a hidden temporary name
//! beside its place, flushed to disk, then renamed over the old one: Excel
//! on a network share, a log collector or DuckDB never sees half a file, and
//! a crash or a power cut leaves at most a hidden temporary file (which
//! discovery ignores) instead of a truncated one under the real name.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::Error;

/// What to write.
pub enum Content<'a> {
    /// The whole file, in memory.
    Bytes(&'a [u8]),
    /// A file or a folder that `build` writes at the temporary path it is
    /// given (a Parquet dataset, a database backup). A folder replaces the
    /// folder at the destination as a whole.
    Built(&'a mut dyn FnMut(&Path) -> Result<(), Error>),
}

impl std::fmt::Debug for Content<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Content::Bytes(bytes) => write!(f, "Bytes({} bytes)", bytes.len()),
            Content::Built(_) => f.write_str("Built(..)"),
        }
    }
}

/// Writes `content` to `path` atomically and durably: a temporary name
/// beside `path`, every byte synced to disk, a rename, then the folder
/// synced so the rename itself survives a power cut. The folder is created
/// when missing.
///
/// # Errors
/// [`Error::Io`] naming the file, or the error of a [`Content::Built`]
/// writer; nothing is left under `path`'s name then (a failed build's
/// temporary file or folder is removed).
pub fn write_atomically(path: &Path, content: Content<'_>) -> Result<(), Error> {
    let (dir, temp) = temporary(path);
    // A look is cheaper than a mkdir that finds the folder there.
    if !dir.is_dir() {
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    }
    // A temporary left by a process killed mid-write that had the same pid.
    remove_any(&temp);
    let written = match content {
        Content::Bytes(bytes) => write_synced(&temp, bytes),
        Content::Built(build) => build(&temp).and_then(|()| sync_tree(&temp)),
    };
    if let Err(error) = written {
        remove_any(&temp);
        return Err(error);
    }
    if temp.is_dir() && path.is_dir() {
        // A rename cannot replace a folder that holds files.
        std::fs::remove_dir_all(path).map_err(|e| Error::io(path, e))?;
    }
    if let Err(e) = std::fs::rename(&temp, path) {
        remove_any(&temp);
        return Err(Error::io(path, e));
    }
    // Best effort: not every platform or file system can sync a folder.
    if let Ok(handle) = File::open(&dir) {
        let _ = handle.sync_all();
    }
    Ok(())
}

/// Files written by the thousand (the feedback workbooks of an ingest
/// chunk) and made durable together: each is written under its temporary
/// name without a sync ([`Staged::write`], from any thread), then
/// [`Staged::commit`] syncs the batch, renames each file over its place and
/// syncs the renames. The promise of [`write_atomically`] holds for every
/// file — whole under its name or not there at all — and every file is on
/// disk, under its name, when `commit` returns; but the batch goes to the
/// disk together (`Disk`) instead of one file and one folder at a
/// time. A batch dropped without a commit removes its temporaries.
#[derive(Debug, Default)]
pub struct Staged {
    /// (temporary, place), in the order written.
    files: std::sync::Mutex<Vec<(PathBuf, PathBuf)>>,
}

impl Staged {
    /// Writes one file per item on `pool` (`write` stages it) and commits
    /// the batch there: all durable when this returns. On the first error
    /// nothing more is written and the batch's temporaries are removed.
    ///
    /// # Errors
    /// The first error of `write`, or of [`Staged::commit`].
    pub fn write_all<T: Sync>(
        pool: &rayon::ThreadPool,
        items: &[T],
        write: impl Fn(&Staged, &T) -> Result<(), Error> + Sync,
    ) -> Result<(), Error> {
        let staged = Staged::write_each(pool, items, write)?;
        pool.install(|| staged.commit())
    }

    /// Writes one file per item on `pool` (`write` stages it), without
    /// committing them: nothing is in place until [`Staged::commit`], which
    /// another thread may do while this one writes the next batch. On the
    /// first error nothing more is written and the batch's temporaries are
    /// removed.
    ///
    /// # Errors
    /// The first error of `write`.
    pub fn write_each<T: Sync>(
        pool: &rayon::ThreadPool,
        items: &[T],
        write: impl Fn(&Staged, &T) -> Result<(), Error> + Sync,
    ) -> Result<Staged, Error> {
        use rayon::prelude::*;
        let staged = Staged::default();
        pool.install(|| items.par_iter().try_for_each(|item| write(&staged, item)))?;
        Ok(staged)
    }

    /// Writes `bytes` under `path`'s temporary name (the folder is created
    /// when missing); nothing is under `path` until [`Staged::commit`].
    ///
    /// # Errors
    /// [`Error::Io`] naming the file; no temporary is left then.
    pub fn write(&self, path: &Path, bytes: &[u8]) -> Result<(), Error> {
        let (dir, temp) = temporary(path);
        // A temporary left by a process killed mid-write that had the same
        // pid is truncated by the create. The folder is made when the
        // create says it is missing (a look first was a call per file).
        let created = match File::create(&temp) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
                File::create(&temp)
            }
            created => created,
        };
        let written = created
            .and_then(|mut file| file.write_all(bytes))
            .map_err(|e| Error::io(&temp, e));
        if let Err(error) = written {
            remove_any(&temp);
            return Err(error);
        }
        self.lock().push((temp, path.to_path_buf()));
        Ok(())
    }

    /// Syncs every file written, renames each over its place, then syncs
    /// the renames: both syncs cover the batch's folders at once
    /// (`Disk`).
    ///
    /// # Errors
    /// [`Error::Io`] naming the file or folder. The files renamed before
    /// the error are in place (whole); the others' temporaries are removed.
    pub fn commit(self) -> Result<(), Error> {
        let files = std::mem::take(&mut *self.lock());
        let folders: BTreeSet<&Path> = files.iter().map(|(_, path)| folder_of(path)).collect();
        let mut result = Disk::of(&folders).and_then(|disk| {
            disk.sync_written(files.iter().map(|(temp, _)| temp.as_path()))
                .map(|()| disk)
        });
        for (temp, path) in &files {
            if result.is_ok() {
                if let Err(e) = std::fs::rename(temp, path) {
                    result = Err(Error::io(path, e));
                }
            }
            if result.is_err() {
                remove_any(temp);
            }
        }
        result?.sync_renamed()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(PathBuf, PathBuf)>> {
        // A writer that panicked left the list whole: it only ever pushes.
        self.files.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        for (temp, _) in self.lock().iter() {
            remove_any(temp);
        }
    }
}

/// What a [`Staged`] batch syncs: on Linux, one folder of each file system
/// the batch's folders are on, each synced with one `syncfs` — the kernel
/// writes the batch's data, inodes and folder blocks in one pass (a
/// national ingest's chunks of hundreds of small workbooks, synced file by
/// file and folder by folder, spent about a fifth of the pass's CPU time in
/// the kernel's round trips to the disk). It also writes whatever else is
/// waiting on those file systems. Elsewhere each file, then each folder, is
/// synced (a folder best effort, as in [`write_atomically`]).
struct Disk<'a> {
    folders: Vec<&'a Path>,
}

impl<'a> Disk<'a> {
    /// # Errors
    /// [`Error::Io`] naming a folder that is not there.
    #[cfg(target_os = "linux")]
    fn of(folders: &BTreeSet<&'a Path>) -> Result<Disk<'a>, Error> {
        use std::os::unix::fs::MetadataExt;
        let mut by_device = std::collections::BTreeMap::new();
        for &folder in folders {
            let device = std::fs::metadata(folder).map_err(|e| Error::io(folder, e))?.dev();
            by_device.entry(device).or_insert(folder);
        }
        Ok(Disk {
            folders: by_device.into_values().collect(),
        })
    }

    #[cfg(not(target_os = "linux"))]
    fn of(folders: &BTreeSet<&'a Path>) -> Result<Disk<'a>, Error> {
        Ok(Disk {
            folders: folders.iter().copied().collect(),
        })
    }

    /// Puts the `files` written in the folders on the disk.
    #[cfg(target_os = "linux")]
    fn sync_written<'f>(&self, _files: impl Iterator<Item = &'f Path>) -> Result<(), Error> {
        self.sync_file_systems()
    }

    #[cfg(not(target_os = "linux"))]
    fn sync_written<'f>(&self, files: impl Iterator<Item = &'f Path>) -> Result<(), Error> {
        use rayon::prelude::*;
        let files: Vec<&Path> = files.collect();
        files.par_iter().try_for_each(|file| {
            File::open(file)
                .and_then(|handle| handle.sync_all())
                .map_err(|e| Error::io(file, e))
        })
    }

    /// Puts the names made or changed in the folders on the disk.
    #[cfg(target_os = "linux")]
    fn sync_renamed(&self) -> Result<(), Error> {
        self.sync_file_systems()
    }

    #[cfg(not(target_os = "linux"))]
    fn sync_renamed(&self) -> Result<(), Error> {
        use rayon::prelude::*;
        self.folders.par_iter().for_each(|folder| {
            if let Ok(handle) = File::open(folder) {
                let _ = handle.sync_all();
            }
        });
        Ok(())
    }

    #[cfg(target_os = "linux")]
    fn sync_file_systems(&self) -> Result<(), Error> {
        for &folder in &self.folders {
            File::open(folder)
                .and_then(|handle| rustix::fs::syncfs(&handle).map_err(std::io::Error::from))
                .map_err(|e| Error::io(folder, e))?;
        }
        Ok(())
    }
}

/// The folder `path` is in (`.` for a bare name).
fn folder_of(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

/// The folder of `path` and the temporary name beside it.
fn temporary(path: &Path) -> (PathBuf, PathBuf) {
    // The process id, asked once (a system call each time otherwise).
    static PID: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    let dir = folder_of(path).to_path_buf();
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = dir.join(format!(".{name}.{}.tmp", PID.get_or_init(std::process::id)));
    (dir, temp)
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let mut file = File::create(path).map_err(|e| Error::io(path, e))?;
    file.write_all(bytes).map_err(|e| Error::io(path, e))?;
    file.sync_all().map_err(|e| Error::io(path, e))
}

/// Syncs a file, or every file of a folder and the folder itself.
fn sync_tree(path: &Path) -> Result<(), Error> {
    if path.is_dir() {
        let entries = std::fs::read_dir(path).map_err(|e| Error::io(path, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| Error::io(path, e))?;
            sync_tree(&entry.path())?;
        }
        if let Ok(handle) = File::open(path) {
            let _ = handle.sync_all();
        }
        return Ok(());
    }
    File::open(path)
        .and_then(|file| file.sync_all())
        .map_err(|e| Error::io(path, e))
}

fn remove_any(path: &Path) {
    // Best effort: a temporary that cannot be removed is only clutter.
    let _ = if path.is_dir() {
        std::fs::remove_dir_all(path)
    } else {
        std::fs::remove_file(path)
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn bytes_replace_the_old_file_and_leave_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/a.txt");
        write_atomically(&path, Content::Bytes(b"old")).unwrap();
        write_atomically(&path, Content::Bytes(b"new")).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        assert_eq!(names(&dir.path().join("sub")), ["a.txt"]);
    }

    #[test]
    fn a_built_folder_replaces_the_old_folder_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("set");
        let mut first = |temp: &Path| -> Result<(), Error> {
            std::fs::create_dir_all(temp.join("part=1")).map_err(|e| Error::io(temp, e))?;
            std::fs::write(temp.join("part=1/data"), b"1").map_err(|e| Error::io(temp, e))
        };
        write_atomically(&path, Content::Built(&mut first)).unwrap();
        let mut second = |temp: &Path| -> Result<(), Error> {
            std::fs::create_dir_all(temp.join("part=2")).map_err(|e| Error::io(temp, e))?;
            std::fs::write(temp.join("part=2/data"), b"2").map_err(|e| Error::io(temp, e))
        };
        write_atomically(&path, Content::Built(&mut second)).unwrap();
        assert_eq!(names(&path), ["part=2"]);
        assert_eq!(names(dir.path()), ["set"]);
    }

    #[test]
    fn staged_files_appear_only_at_the_commit_and_leave_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("x/a.xlsx"), dir.path().join("y/b.xlsx"));
        write_atomically(&b, Content::Bytes(b"old")).unwrap();
        let staged = Staged::default();
        staged.write(&a, b"a").unwrap();
        staged.write(&b, b"new").unwrap();
        assert!(!a.exists());
        assert_eq!(std::fs::read(&b).unwrap(), b"old");
        staged.commit().unwrap();
        assert_eq!(std::fs::read(&a).unwrap(), b"a");
        assert_eq!(std::fs::read(&b).unwrap(), b"new");
        assert_eq!(names(&dir.path().join("x")), ["a.xlsx"]);
        assert_eq!(names(&dir.path().join("y")), ["b.xlsx"]);
    }

    #[test]
    fn a_batch_over_two_file_systems_is_in_place_on_both() {
        // The project's disk and, where there is one, a tmpfs: one sync for
        // each file system the batch's folders are on.
        let disk = tempfile::tempdir_in(Path::new(env!("CARGO_MANIFEST_DIR")).join("target")).unwrap();
        let shm = Path::new("/dev/shm");
        let memory = if shm.is_dir() {
            tempfile::tempdir_in(shm).unwrap()
        } else {
            tempfile::tempdir().unwrap()
        };
        let files: Vec<PathBuf> = [disk.path(), memory.path()]
            .iter()
            .flat_map(|root| [root.join("001/a.xlsx"), root.join("002/b.xlsx")])
            .collect();
        let staged = Staged::default();
        for (i, file) in files.iter().enumerate() {
            staged.write(file, &[b'0' + i as u8]).unwrap();
        }
        staged.commit().unwrap();
        for (i, file) in files.iter().enumerate() {
            assert_eq!(std::fs::read(file).unwrap(), [b'0' + i as u8]);
            assert_eq!(names(file.parent().unwrap()).len(), 1, "{}", file.display());
        }
        // Four folders, one sync for each file system they are on: the
        // project's disk and the tmpfs.
        #[cfg(target_os = "linux")]
        if shm.is_dir() {
            let folders: BTreeSet<&Path> = files.iter().map(|f| folder_of(f)).collect();
            let synced = Disk::of(&folders).unwrap().folders;
            assert_eq!((folders.len(), synced.len()), (4, 2), "{synced:?}");
        }
    }

    #[test]
    fn a_batch_whose_folder_went_away_says_which_and_puts_nothing_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("x/a.xlsx"), dir.path().join("y/b.xlsx"));
        let staged = Staged::default();
        staged.write(&a, b"a").unwrap();
        staged.write(&b, b"b").unwrap();
        std::fs::remove_dir_all(dir.path().join("y")).unwrap();
        let error = staged.commit().unwrap_err().to_string();
        assert!(error.contains(&dir.path().join("y").display().to_string()), "{error}");
        assert!(!a.exists());
        assert_eq!(names(&dir.path().join("x")), Vec::<String>::new());
    }

    #[test]
    fn a_staged_batch_dropped_without_a_commit_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let staged = Staged::default();
        staged.write(&dir.path().join("a.xlsx"), b"a").unwrap();
        drop(staged);
        assert!(names(dir.path()).is_empty());
    }

    #[test]
    fn a_failed_build_leaves_the_old_file_and_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.db");
        write_atomically(&path, Content::Bytes(b"old")).unwrap();
        let mut failing = |temp: &Path| -> Result<(), Error> {
            std::fs::write(temp, b"half").map_err(|e| Error::io(temp, e))?;
            Err(Error::Usage("refused".into()))
        };
        assert!(write_atomically(&path, Content::Built(&mut failing)).is_err());
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
        assert_eq!(names(dir.path()), ["a.db"]);
    }
}
