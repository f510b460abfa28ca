//! The last stages of a stored chunk, each on its own thread and then on
//! the storing one: the districts' feedback workbooks are written (the
//! feedback thread), put in place and the files leave the inbox (the filing
//! thread), and the store records where each went. Only files whose
//! transaction has committed get here.

use super::{iso, now_iso, FileOutcome, Filed, InHand, Stored};
use crate::atomic::Staged;
use crate::config::Settings;
use crate::error::Error;
use crate::feedback::{stage_feedback, FeedbackInput};
use crate::pipeline::filing::{file_away, relative_to};
use crate::store::{Receipt, ReceiptOutcome, Store};

/// A stored chunk whose feedback workbooks are written under temporary
/// names: not yet in place, not yet durable, its files still in the inbox.
#[derive(Debug)]
pub(super) struct FeedbackWritten {
    staged: Staged,
    stored: Vec<InHand<Stored>>,
}

/// Writes the feedback workbooks of a stored chunk, in parallel on `pool`,
/// under temporary names ([`Staged`]); [`file_chunk`] puts them in place.
///
/// # Errors
/// The first workbook that cannot be written; the chunk's temporaries are
/// removed then, and its files stay in the inbox for the next pass's heal.
pub(super) fn write_feedback(
    settings: &Settings,
    pool: &rayon::ThreadPool,
    stored: Vec<InHand<Stored>>,
) -> Result<FeedbackWritten, Error> {
    let staged = Staged::write_each(pool, &stored, |staged, item| write_feedbacks(settings, item, staged))?;
    Ok(FeedbackWritten { staged, stored })
}

/// Puts a chunk's feedback workbooks in place, durably, then moves its
/// files one after the other in arrival order: only now do they leave the
/// inbox. Runs on its own thread while the next chunk's workbooks are
/// written: it mostly waits for the disk.
///
/// One thread, whatever `threads` says: a move from the inbox to the
/// archive is a rename from one folder to another, which Linux does one at
/// a time on a file system (it holds the file system's rename lock), and
/// making the archive folders holds their parents' locks. A second filing
/// thread mostly waited for those locks: on two cores, a national pass
/// took 0.2–0.26 s more CPU time (most of it the kernel's) and 0.05–0.16 s
/// longer (medians of six runs, in two rounds).
///
/// The workbooks are made durable as one batch ([`Staged::commit`]): the
/// chunk goes to the disk together, not file by file. Each is still whole
/// under its name or absent, and all are on disk before the first file
/// leaves the inbox, so a crash before that leaves the chunk's submissions
/// unfiled and the next pass writes any missing feedback again
/// (`heal_unfiled`).
///
/// # Errors
/// [`Error::Io`]: the first feedback or file that could not be put in
/// place; what moved before is recorded by the next pass's heal.
pub(super) fn file_chunk(settings: &Settings, written: FeedbackWritten) -> Result<Vec<InHand<Filed>>, Error> {
    let FeedbackWritten { staged, stored } = written;
    staged.commit()?;
    for item in &stored {
        copy_beside(item)?;
    }
    stored
        .into_iter()
        .map(|item| {
            let to = file_away(settings, &item.file.path, &item.stage.place.stored)?;
            Ok(item.next(|stored| Filed { stored, to }))
        })
        .collect()
}

fn write_feedbacks(settings: &Settings, item: &InHand<Stored>, staged: &Staged) -> Result<(), Error> {
    let Stored {
        checked,
        rows,
        place,
        recorded,
    } = &item.stage;
    let claimed = &checked.claimed;
    let form = match (&claimed.form_code, claimed.version) {
        (Some(code), Some(version)) => settings.form(code, version),
        _ => None,
    };
    let received = iso(item.file.received);
    let input = FeedbackInput {
        file_name: &item.file.name,
        received_at: &received,
        timezone: settings.timezone,
        status: checked.status(),
        unit: claimed
            .unit_code
            .as_deref()
            .map(|code| (code, claimed.unit_name.as_deref().unwrap_or(""))),
        period: claimed.period.map(|period| period.vietnamese()),
        form,
        values: &rows.values,
        findings: &checked.findings,
        supersedes: recorded.superseded.map(|id| format!("mã lưu trữ {id}")),
    };
    stage_feedback(staged, &place.feedback, &input)
}

/// The feedback of a rejected file, beside it too.
fn copy_beside(item: &InHand<Stored>) -> Result<(), Error> {
    let place = &item.stage.place;
    if let Some(beside) = &place.feedback_beside {
        if let Some(dir) = beside.parent() {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        // The same workbook beside the rejected file: a link where the file
        // system allows one, a copy otherwise.
        if std::fs::hard_link(&place.feedback, beside).is_err() {
            std::fs::copy(&place.feedback, beside).map_err(|e| Error::io(beside, e))?;
        }
    }
    Ok(())
}

/// Records in the store that a stored file has moved to its place, and
/// logs the verdict.
pub(super) fn record_filing(
    settings: &Settings,
    store: &Store,
    run: Option<i64>,
    item: InHand<Filed>,
) -> Result<FileOutcome, Error> {
    let InHand { file, stage, .. } = item;
    let Filed { stored, to } = stage;
    let Stored { checked, recorded, .. } = stored;
    let status = checked.status();
    store.mark_filed(recorded.id)?;
    store.record_receipt(&Receipt {
        run_id: run,
        file_name: &file.name,
        sha256: &file.sha256,
        seen_at: &now_iso(),
        outcome: ReceiptOutcome::Stored(status),
        submission_id: Some(recorded.id),
        moved_to: Some(&relative_to(&settings.paths.root, &to)),
    })?;
    let claimed = checked.claimed;
    let unit = claimed.unit_code.as_deref().unwrap_or_default();
    let period = claimed.period.map(|p| p.to_string());
    let period_text = period.as_deref().unwrap_or_default();
    let errors = checked.findings.iter().filter(|f| f.is_error()).count();
    let warnings = checked.findings.len() - errors;
    let superseded = recorded.superseded.is_some();
    if status.is_accepted() {
        tracing::info!(file = %file.name, unit = %unit, period = %period_text, warnings, superseded, "Return accepted");
    } else {
        tracing::info!(file = %file.name, unit = %unit, period = %period_text, errors, warnings, "Return rejected");
    }
    for finding in &checked.findings {
        tracing::debug!(file = %file.name, unit = %unit, period = %period_text, "{}", finding.log_line());
    }
    Ok(FileOutcome {
        file: file.name,
        status: Some(status),
        duplicate: false,
        superseded,
        unit: claimed.unit_code,
        period,
        findings: checked.findings,
        filed_to: Some(to),
    })
}
