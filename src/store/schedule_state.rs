//! Where the daemon keeps, per schedule, the instant up to which its fire
//! times have been handled. A daemon restarted after the server was off
//! compares it with the schedule to find the run it missed; without it a
//! monthly report due at 07:00 on a day the server was down would silently
//! never be written.

use rusqlite::{params, OptionalExtension};

use super::{db_error, Store};
use crate::error::Error;

/// What the database remembers of one schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleState {
    /// The cron expression the instant was recorded under: a changed
    /// expression starts afresh instead of inventing a missed run.
    pub cron: String,
    /// ISO 8601 UTC instant: every fire time up to it has been run, or was
    /// knowingly skipped.
    pub handled_until: String,
}

impl Store {
    /// The recorded state of the schedule `name`, if any.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub fn schedule_state(&self, name: &str) -> Result<Option<ScheduleState>, Error> {
        self.conn
            .query_row(
                "SELECT cron, handled_until FROM schedule_state WHERE name = ?1",
                [name],
                |r| {
                    Ok(ScheduleState {
                        cron: r.get(0)?,
                        handled_until: r.get(1)?,
                    })
                },
            )
            .optional()
            .map_err(|e| db_error(&self.path, e))
    }

    /// Records that the schedule `name` (with expression `cron`) has been
    /// handled up to `handled_until`.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub fn set_schedule_state(&self, name: &str, cron: &str, handled_until: &str) -> Result<(), Error> {
        self.conn
            .execute(
                "INSERT INTO schedule_state (name, cron, handled_until) VALUES (?1, ?2, ?3)
                 ON CONFLICT(name) DO UPDATE SET cron = excluded.cron, handled_until = excluded.handled_until",
                params![name, cron, handled_until],
            )
            .map_err(|e| db_error(&self.path, e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_state_is_recorded_and_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("baocao.db")).unwrap();
        assert_eq!(store.schedule_state("report").unwrap(), None);
        store
            .set_schedule_state("report", "0 0 7 20 * *", "2015-02-20T00:00:00Z")
            .unwrap();
        store
            .set_schedule_state("report", "0 0 7 20 * *", "2015-03-20T00:00:00Z")
            .unwrap();
        assert_eq!(
            store.schedule_state("report").unwrap(),
            Some(ScheduleState {
                cron: "0 0 7 20 * *".into(),
                handled_until: "2015-03-20T00:00:00Z".into()
            })
        );
    }
}
