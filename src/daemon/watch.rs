//! Noticing new files in the inbox: file events from the operating system
//! (the `notify` crate, recursive, because offices sort returns into
//! per-district folders) only make the daemon look sooner; what it looks at
//! is always a listing of the inbox, because network shares (SMB/NFS, which
//! statisticians use) deliver no events at all and an event queue can
//! overflow. The listing — every spreadsheet with its size, modification
//! time and whether it is stable yet — is compared with the one left after
//! the last pass: only a difference starts a pass, so the daemon's own
//! moves out of the inbox, reads of the files, and files kept in place
//! (`keep_originals`) do not start empty passes.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::mpsc::Sender;
use std::time::{Duration, SystemTime};

use notify::event::{AccessKind, AccessMode};
use notify::{Event, EventKind, RecommendedWatcher, RecursiveMode, Watcher};

use super::Wake;
use crate::error::Error;
use crate::pipeline::discover::discover;

/// A live watch on the inbox; dropping it stops the watch.
#[derive(Debug)]
pub struct InboxWatcher {
    _watcher: RecommendedWatcher,
}

impl InboxWatcher {
    /// Watches `inbox` and everything below it, sending [`Wake::InboxChanged`]
    /// on each change and [`Wake::WatchError`] when events were lost or the
    /// watch broke.
    ///
    /// # Errors
    /// The watcher's error (for example the inotify watch limit), as text.
    pub fn start(inbox: &Path, wake: Sender<Wake>) -> Result<InboxWatcher, String> {
        let root = inbox.to_path_buf();
        let handler = move |event: notify::Result<Event>| {
            let message = match event {
                Ok(event) => classify(&root, &event),
                Err(error) => Some(Wake::WatchError(error.to_string())),
            };
            if let Some(message) = message {
                // The daemon is gone when the receiver is: nothing to tell.
                let _ = wake.send(message);
            }
        };
        let mut watcher = notify::recommended_watcher(handler).map_err(|e| e.to_string())?;
        watcher
            .watch(inbox, RecursiveMode::Recursive)
            .map_err(|e| e.to_string())?;
        Ok(InboxWatcher { _watcher: watcher })
    }
}

/// What an event means for the daemon, if anything.
fn classify(root: &Path, event: &Event) -> Option<Wake> {
    if event.need_rescan() {
        return Some(Wake::WatchError("events were lost (queue overflow)".into()));
    }
    match event.kind {
        // Reads (our own, a virus scanner's) change nothing.
        EventKind::Access(AccessKind::Open(_) | AccessKind::Read | AccessKind::Close(AccessMode::Read)) => None,
        EventKind::Access(AccessKind::Close(AccessMode::Execute)) => None,
        // The inbox itself removed or moved: the watch is dead; make a new one.
        EventKind::Remove(_) | EventKind::Modify(notify::event::ModifyKind::Name(_))
            if event.paths.iter().any(|p| p == root) =>
        {
            Some(Wake::WatchError("the inbox folder was removed or renamed".into()))
        }
        _ => Some(Wake::InboxChanged),
    }
}

/// One spreadsheet in the inbox as the daemon compares listings.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Entry {
    path: PathBuf,
    size: u64,
    modified: SystemTime,
    /// Old enough to be taken (the ingest stability rule).
    stable: bool,
}

/// A listing of the inbox's spreadsheets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    entries: BTreeSet<Entry>,
}

impl Snapshot {
    /// Lists the inbox with the ingest's own discovery and stability rule.
    ///
    /// # Errors
    /// [`Error::Io`] when the inbox cannot be listed.
    pub fn take(inbox: &Path, stable: Duration) -> Result<Snapshot, Error> {
        let now = SystemTime::now();
        let found = discover(inbox, stable, now)?;
        let mut entries = BTreeSet::new();
        for candidate in found.ready {
            entries.insert(Entry {
                path: candidate.path,
                size: candidate.size,
                modified: candidate.modified,
                stable: true,
            });
        }
        for path in found.unstable {
            // Vanished since the listing: it is not there to wait for.
            let Ok(meta) = std::fs::metadata(&path) else { continue };
            entries.insert(Entry {
                size: meta.len(),
                modified: meta.modified().unwrap_or(now),
                path,
                stable: false,
            });
        }
        Ok(Snapshot { entries })
    }

    /// Whether some file is ready to be taken.
    pub fn has_stable(&self) -> bool {
        self.entries.iter().any(|e| e.stable)
    }

    /// Number of spreadsheets listed.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the inbox holds no spreadsheet.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether this listing holds a stable file the `seen` listing did not
    /// hold as it is now: something a pass has not looked at yet.
    pub fn has_news_since(&self, seen: &Snapshot) -> bool {
        self.entries.iter().any(|e| e.stable && !seen.entries.contains(e))
    }

    /// The entries of this listing that `before` held too: what a pass that
    /// started from `before` has seen. A file that arrived during the pass
    /// stays news for the next look.
    pub fn seen_by_pass_from(self, before: &Snapshot) -> Snapshot {
        Snapshot {
            entries: self
                .entries
                .into_iter()
                .filter(|e| before.entries.contains(e))
                .collect(),
        }
    }

    /// How long until the first file still being written becomes stable
    /// (if it is not written to again), or `None` when none is waiting.
    pub fn next_stable_in(&self, stable: Duration) -> Option<Duration> {
        let now = SystemTime::now();
        self.entries
            .iter()
            .filter(|e| !e.stable)
            .map(|e| {
                let ready_at = e.modified + stable;
                ready_at.duration_since(now).unwrap_or(Duration::ZERO)
            })
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(path: &Path, ago: u64) {
        std::fs::write(path, b"x").unwrap();
        let file = std::fs::File::options().write(true).open(path).unwrap();
        file.set_modified(SystemTime::now() - Duration::from_secs(ago)).unwrap();
    }

    #[test]
    fn a_listing_finds_news_only_where_a_stable_file_is_new_or_changed() {
        let dir = tempfile::tempdir().unwrap();
        let inbox = dir.path();
        std::fs::create_dir_all(inbox.join("061")).unwrap();
        touch(&inbox.join("061/a.xlsx"), 100);
        touch(&inbox.join("b.xlsx"), 0);
        std::fs::write(inbox.join("notes.txt"), b"ignored").unwrap();
        let stable = Duration::from_secs(5);
        let first = Snapshot::take(inbox, stable).unwrap();
        assert_eq!(first.len(), 2);
        assert!(first.has_stable());
        assert!(first.has_news_since(&Snapshot::default()));
        assert!(!first.has_news_since(&first));
        let wait = first.next_stable_in(stable).unwrap();
        assert!(wait <= stable && wait > Duration::from_secs(3), "{wait:?}");
        // b.xlsx becomes stable: that is news, though nothing else changed.
        touch(&inbox.join("b.xlsx"), 100);
        let second = Snapshot::take(inbox, stable).unwrap();
        assert!(second.has_news_since(&first));
        assert_eq!(second.next_stable_in(stable), None);
        // A file the pass did not start from stays news after it.
        touch(&inbox.join("c.xlsx"), 100);
        let after = Snapshot::take(inbox, stable).unwrap().seen_by_pass_from(&second);
        assert_eq!(after.len(), 2);
        assert!(Snapshot::take(inbox, stable).unwrap().has_news_since(&after));
    }

    #[test]
    fn reads_are_ignored_and_a_removed_inbox_breaks_the_watch() {
        let root = PathBuf::from("/w/inbox");
        let read = Event::new(EventKind::Access(AccessKind::Open(AccessMode::Read))).add_path(root.join("a.xlsx"));
        assert!(classify(&root, &read).is_none());
        let written = Event::new(EventKind::Access(AccessKind::Close(AccessMode::Write))).add_path(root.join("a.xlsx"));
        assert!(matches!(classify(&root, &written), Some(Wake::InboxChanged)));
        let created = Event::new(EventKind::Create(notify::event::CreateKind::File)).add_path(root.join("a.xlsx"));
        assert!(matches!(classify(&root, &created), Some(Wake::InboxChanged)));
        let gone = Event::new(EventKind::Remove(notify::event::RemoveKind::Folder)).add_path(root.clone());
        assert!(matches!(classify(&root, &gone), Some(Wake::WatchError(_))));
    }
}
