//! Ingest: every kind of file a district sends, good and bad, and the
//! guarantees — nothing lost, nothing counted twice, one bad file never stops
//! the batch — checked against the store and the folders.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use baocao::config::Settings;
use baocao::pipeline::ingest::{ingest, IngestOptions};
use baocao::store::{Status, Store};
use baocao::synth::PlantedFault;

use crate::common::{baocao, baocao_ok, files_with_ext, temp_dir};

/// A synthetic workspace with `units` × `months` returns.
pub fn synth_workspace(dir: &Path, units: usize, months: usize, faults: usize, seed: u64) -> PathBuf {
    let ws = dir.join("ws");
    let ws_text = ws.to_string_lossy().into_owned();
    baocao_ok(
        &[
            "synth",
            "--units",
            &units.to_string(),
            "--months",
            &months.to_string(),
            "--start",
            "2015-01",
            "--faults",
            &faults.to_string(),
            "--seed",
            &seed.to_string(),
            "--out",
            &ws_text,
        ],
        0,
    );
    ws
}

fn settings(ws: &Path) -> Settings {
    Settings::load(ws, true).unwrap_or_else(|e| panic!("{e}"))
}

/// Ingest options for tests: files are taken at once, not after they
/// have been still for a while.
pub fn options() -> IngestOptions {
    IngestOptions {
        stable_seconds: Some(0),
        ..IngestOptions::default()
    }
}

fn set_old(path: &Path) {
    let file = std::fs::File::options().write(true).open(path).unwrap();
    file.set_modified(SystemTime::now() - Duration::from_secs(3600))
        .unwrap();
}

#[test]
fn planted_faults_are_found_at_the_planted_cell_with_the_planted_rule_and_nothing_else_errs() {
    let dir = temp_dir();
    let ws = synth_workspace(dir.path(), 6, 12, 21, 11);
    let manifest: Vec<PlantedFault> =
        serde_json::from_str(&std::fs::read_to_string(ws.join("faults.json")).unwrap()).unwrap();
    assert_eq!(manifest.len(), 21);
    let settings = settings(&ws);
    let summary = ingest(&settings, &options()).unwrap();
    assert_eq!(summary.counts.seen, 72);
    let store = Store::open(&settings.paths.database).unwrap();
    let planted: BTreeMap<String, &PlantedFault> = manifest
        .iter()
        .map(|f| (f.file.trim_start_matches("inbox/").to_string(), f))
        .collect();
    let mut checked = 0;
    for submission in store.all_submissions().unwrap() {
        let findings = store.findings_of(submission.id).unwrap();
        match planted.get(&submission.file_name) {
            Some(fault) => {
                let hit = findings.iter().any(|f| {
                    f.rule == fault.rule
                        && f.severity == fault.severity
                        && f.location.sheet.as_deref() == Some(fault.sheet.as_str())
                        && f.location.cell.as_deref() == Some(fault.cell.as_str())
                });
                assert!(
                    hit,
                    "{}: planted {fault:?} not found in {findings:#?}",
                    submission.file_name
                );
                let other_errors: Vec<_> = findings
                    .iter()
                    .filter(|f| {
                        f.is_error()
                            && !(f.rule == fault.rule && f.location.cell.as_deref() == Some(fault.cell.as_str()))
                    })
                    .collect();
                assert!(
                    other_errors.is_empty(),
                    "{}: unplanted errors {other_errors:#?}",
                    submission.file_name
                );
                let expected = if fault.severity == baocao::domain::Severity::Error {
                    Status::Rejected
                } else {
                    Status::Warnings
                };
                assert_eq!(submission.status, expected, "{}", submission.file_name);
                checked += 1;
            }
            None => {
                let errors: Vec<_> = findings.iter().filter(|f| f.is_error()).collect();
                assert!(
                    errors.is_empty(),
                    "{}: a clean return has errors {errors:#?}",
                    submission.file_name
                );
                // Warnings on clean synthetic data come only from the outlier rule (statistical).
                for f in &findings {
                    assert_eq!(f.rule, 20, "{}: unexpected warning {f:?}", submission.file_name);
                }
            }
        }
    }
    assert_eq!(checked, manifest.len());
}

/// The quick xlsx reader and calamine read `file` the same, cell for cell.
fn assert_readers_agree(file: &Path) {
    use baocao::pipeline::extract::TABLE_HEADER;
    use baocao::pipeline::read::{read_workbook_bytes_with, ReadLimits, XlsxReader};
    let bytes = std::fs::read(file).unwrap();
    let limits = ReadLimits::default();
    let quick = read_workbook_bytes_with(bytes.clone(), &limits, TABLE_HEADER, XlsxReader::Quick);
    let calamine = read_workbook_bytes_with(bytes, &limits, TABLE_HEADER, XlsxReader::Calamine);
    assert_eq!(quick, calamine, "{}", file.display());
}

#[test]
fn the_quick_xlsx_reader_reads_every_return_of_a_faulty_corpus_as_calamine_does() {
    let dir = temp_dir();
    let ws = synth_workspace(dir.path(), 6, 12, 40, 21);
    let files = files_with_ext(&ws.join("inbox"), "xlsx");
    assert!(files.len() >= 60, "{}", files.len());
    for file in &files {
        assert_readers_agree(file);
    }
}

#[test]
fn every_synthetic_return_satisfies_every_rule_when_read_back() {
    let dir = temp_dir();
    let ws = synth_workspace(dir.path(), 5, 14, 0, 5);
    let settings = settings(&ws);
    let summary = ingest(&settings, &options()).unwrap();
    assert_eq!(summary.counts.seen, 70);
    assert_eq!(summary.counts.rejected, 0);
    for file in &summary.files {
        for f in &file.findings {
            assert_eq!(f.rule, 20, "{}: {f:?}", file.file);
        }
    }
}

#[test]
fn synth_is_deterministic_and_faults_differ_from_the_clean_corpus_only_where_the_manifest_says() {
    let dir = temp_dir();
    let a = dir.path().join("a");
    let b = dir.path().join("b");
    let c = dir.path().join("c");
    for (out, faults) in [(&a, "0"), (&b, "0"), (&c, "8")] {
        baocao_ok(
            &[
                "synth",
                "--units",
                "3",
                "--months",
                "4",
                "--seed",
                "9",
                "--faults",
                faults,
                "--out",
                &out.to_string_lossy(),
            ],
            0,
        );
    }
    let files_a = files_with_ext(&a.join("inbox"), "xlsx");
    assert_eq!(files_a.len(), 12);
    for path in &files_a {
        let rel = path.strip_prefix(&a).unwrap();
        let same = |other: &Path| workbook_cells(&other.join(rel)) == workbook_cells(path);
        assert!(same(&b), "same seed, same data: {}", rel.display());
    }
    let manifest: Vec<PlantedFault> =
        serde_json::from_str(&std::fs::read_to_string(c.join("faults.json")).unwrap()).unwrap();
    assert_eq!(manifest.len(), 8);
    for path in &files_a {
        let rel = path.strip_prefix(&a).unwrap().to_string_lossy().replace('\\', "/");
        let clean = workbook_cells(path);
        let faulted = workbook_cells(&c.join(&rel));
        let planted: Vec<&PlantedFault> = manifest.iter().filter(|f| f.file == rel).collect();
        if planted.is_empty() {
            assert_eq!(clean, faulted, "{rel} has no planted fault but differs");
        } else {
            assert_ne!(clean, faulted, "{rel}: the planted fault is not in the file");
            for fault in planted {
                let key = (fault.sheet.clone(), fault.cell.clone());
                let differs = clean.get(&key) != faulted.get(&key);
                // Faults that add or flip content elsewhere still name a cell that exists.
                assert!(
                    differs || faulted.contains_key(&key) || clean.contains_key(&key),
                    "{rel}: {fault:?}"
                );
            }
        }
    }
}

/// (sheet, A1) → text of every non-empty cell of a workbook.
fn workbook_cells(path: &Path) -> BTreeMap<(String, String), String> {
    use calamine::{open_workbook_auto, Reader};
    let mut out = BTreeMap::new();
    let mut wb = open_workbook_auto(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    for name in wb.sheet_names() {
        let range = wb.worksheet_range(&name).unwrap();
        let (r0, c0) = range.start().unwrap_or((0, 0));
        for (r, row) in range.rows().enumerate() {
            for (c, cell) in row.iter().enumerate() {
                let t = crate::common::text(cell);
                if !t.is_empty() {
                    out.insert(
                        (
                            name.clone(),
                            baocao::template::a1(r0 + r as u32, (c0 as usize + c) as u16),
                        ),
                        t,
                    );
                }
            }
        }
    }
    out
}

#[test]
fn the_same_file_twice_changes_nothing_and_a_correction_supersedes_with_its_history() {
    let dir = temp_dir();
    let ws = synth_workspace(dir.path(), 1, 2, 0, 4);
    let settings = settings(&ws);
    let first = files_with_ext(&settings.paths.inbox, "xlsx");
    assert_eq!(first.len(), 2);
    let keep = dir.path().join("copy.xlsx");
    std::fs::copy(&first[0], &keep).unwrap();
    let summary = ingest(&settings, &options()).unwrap();
    assert_eq!(summary.counts.accepted + summary.counts.warnings, 2);

    // The same bytes again, under another name: recognised, nothing stored.
    std::fs::copy(&keep, settings.paths.inbox.join("lai-lan-nua.xlsx")).unwrap();
    set_old(&settings.paths.inbox.join("lai-lan-nua.xlsx"));
    let again = ingest(&settings, &options()).unwrap();
    assert_eq!(again.counts.duplicates, 1);
    let store = Store::open(&settings.paths.database).unwrap();
    assert_eq!(store.count_submissions().unwrap(), 2);
    assert!(
        files_with_ext(&settings.paths.inbox, "xlsx").is_empty(),
        "the duplicate left the inbox"
    );
    assert_eq!(
        files_with_ext(&settings.paths.archive.join("trung-lap"), "xlsx").len(),
        1,
        "kept, not deleted"
    );

    // A corrected resubmission: one value changed.
    let unit = store.all_submissions().unwrap()[0].unit_code.clone().unwrap();
    let period = store.all_submissions().unwrap()[0].period.unwrap();
    let corrected = settings.paths.inbox.join("sua.xlsx");
    rewrite_d05(&keep, &corrected, 7.0);
    let third = ingest(&settings, &options()).unwrap();
    assert_eq!(third.counts.superseded, 1, "{:#?}", third.files);
    let subs = store.submissions_of(&unit, period).unwrap();
    assert_eq!(subs.len(), 2);
    assert_eq!(subs[0].superseded_by, Some(subs[1].id));
    let ws_text = ws.to_string_lossy().into_owned();
    let history = baocao_ok(
        &[
            "--workspace",
            &ws_text,
            "history",
            "--unit",
            &unit,
            "--period",
            &period.to_string(),
        ],
        0,
    );
    assert!(history.contains("superseded by"), "{history}");
    assert!(history.contains("D05: "), "the changed value is listed: {history}");
}

/// Copies a return, changing the D05 value (a stock no other rule ties) to
/// `value`: the corrected file a district sends after fixing one cell.
fn rewrite_d05(from: &Path, to: &Path, value: f64) {
    let settings = Settings::load(Path::new("/nonexistent-baocao-workspace"), false).unwrap();
    let form = settings.current_form();
    // Read the original with calamine, rewrite through the generator: the
    // corrected file is what a district would send after fixing one cell.
    use calamine::{open_workbook_auto, Reader};
    let mut wb = open_workbook_auto(from).unwrap();
    let range = wb.worksheet_range(&form.sheet).unwrap();
    let mut workbook = rust_xlsxwriter::Workbook::new();
    let sheet = workbook.add_worksheet();
    sheet.set_name(&form.sheet).unwrap();
    let mut d05_row = None;
    for (r, row) in range.rows().enumerate() {
        for (c, cell) in row.iter().enumerate() {
            let t = crate::common::text(cell);
            if t == "D05" {
                d05_row = Some(r);
            }
            match cell {
                calamine::Data::Float(f) => {
                    sheet.write_number(r as u32, c as u16, *f).unwrap();
                }
                calamine::Data::Empty => {}
                _ => {
                    sheet.write_string(r as u32, c as u16, &t).unwrap();
                }
            }
        }
    }
    let row = d05_row.unwrap() as u32;
    // Kỳ này is two columns right of the code in the generated layout.
    sheet.write_number(row, 4, value).unwrap();
    let communes = wb.worksheet_range(&form.commune_sheet).unwrap();
    let sheet = workbook.add_worksheet();
    sheet.set_name(&form.commune_sheet).unwrap();
    for (r, row) in communes.rows().enumerate() {
        for (c, cell) in row.iter().enumerate() {
            let t = crate::common::text(cell);
            if !t.is_empty() {
                sheet.write_string(r as u32, c as u16, &t).unwrap();
            }
        }
    }
    workbook.save(to).unwrap();
    set_old(to);
}

#[test]
fn a_file_still_being_written_waits_for_the_next_pass() {
    let dir = temp_dir();
    let ws = synth_workspace(dir.path(), 1, 1, 0, 2);
    let settings = settings(&ws);
    let file = files_with_ext(&settings.paths.inbox, "xlsx").remove(0);
    // Just modified: not stable for 5 s.
    let f = std::fs::File::options().write(true).open(&file).unwrap();
    f.set_modified(SystemTime::now()).unwrap();
    let opts = IngestOptions {
        stable_seconds: Some(30),
        ..IngestOptions::default()
    };
    let first = ingest(&settings, &opts).unwrap();
    assert_eq!(first.counts.seen, 0);
    assert_eq!(first.waiting, 1);
    assert!(file.exists());
    set_old(&file);
    let second = ingest(&settings, &opts).unwrap();
    assert_eq!(second.counts.seen, 1);
    assert!(!file.exists(), "filed away once stable");
}

#[test]
fn a_file_name_in_nfd_is_stored_in_nfc() {
    let dir = temp_dir();
    let ws = synth_workspace(dir.path(), 1, 1, 0, 2);
    let settings = settings(&ws);
    let file = files_with_ext(&settings.paths.inbox, "xlsx").remove(0);
    let nfd = settings.paths.inbox.join("Ba\u{300}o ca\u{301}o tha\u{301}ng 1.xlsx");
    std::fs::rename(&file, &nfd).unwrap();
    let summary = ingest(&settings, &options()).unwrap();
    assert_eq!(summary.counts.seen, 1);
    assert_eq!(summary.files[0].file, "Bào cáo tháng 1.xlsx");
    let store = Store::open(&settings.paths.database).unwrap();
    assert_eq!(store.all_submissions().unwrap()[0].file_name, "Bào cáo tháng 1.xlsx");
}

#[test]
fn bad_files_are_rejected_with_a_reason_kept_with_feedback_and_the_batch_goes_on() {
    let dir = temp_dir();
    let ws = synth_workspace(dir.path(), 2, 1, 0, 3);
    let settings = settings(&ws);
    let inbox = &settings.paths.inbox;
    let good = files_with_ext(inbox, "xlsx");
    assert_eq!(good.len(), 2);
    let pdf = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\n%%EOF\n".to_vec();
    std::fs::write(inbox.join("bao-cao.xlsx"), &pdf).unwrap();
    let valid = std::fs::read(&good[0]).unwrap();
    std::fs::write(inbox.join("cut.xlsx"), &valid[..valid.len() / 2]).unwrap();
    // A Word document is a zip too, without a workbook inside.
    let mut docx = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    docx.start_file("word/document.xml", zip::write::SimpleFileOptions::default())
        .unwrap();
    std::io::Write::write_all(&mut docx, b"<w:document/>").unwrap();
    std::fs::write(inbox.join("van-ban.xlsx"), docx.finish().unwrap().into_inner()).unwrap();
    let mut empty = rust_xlsxwriter::Workbook::new();
    empty.add_worksheet();
    empty.save(inbox.join("trong.xlsx")).unwrap();
    let mut ole = vec![0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];
    ole.resize(4096, 0);
    let name: Vec<u8> = "EncryptedPackage"
        .encode_utf16()
        .flat_map(|u| u.to_le_bytes())
        .collect();
    ole[1024..1024 + name.len()].copy_from_slice(&name);
    std::fs::write(inbox.join("mat-khau.xlsx"), &ole).unwrap();
    for entry in [
        "bao-cao.xlsx",
        "cut.xlsx",
        "van-ban.xlsx",
        "trong.xlsx",
        "mat-khau.xlsx",
    ] {
        set_old(&inbox.join(entry));
    }
    let summary = ingest(&settings, &options()).unwrap();
    assert_eq!(summary.counts.seen, 7);
    assert_eq!(summary.counts.rejected, 5, "{:#?}", summary.files);
    assert_eq!(summary.counts.accepted + summary.counts.warnings, 2);
    for name in [
        "bao-cao.xlsx",
        "cut.xlsx",
        "van-ban.xlsx",
        "trong.xlsx",
        "mat-khau.xlsx",
    ] {
        let outcome = summary.files.iter().find(|f| f.file == name).unwrap();
        assert_eq!(outcome.status, Some(Status::Rejected));
        assert_eq!(outcome.findings[0].rule, 1, "{name}: {:?}", outcome.findings);
        let filed = outcome.filed_to.as_ref().unwrap();
        assert!(
            filed.starts_with(&settings.paths.rejected) && filed.exists(),
            "{name} kept in rejected/"
        );
    }
    let messages: Vec<String> = summary
        .files
        .iter()
        .flat_map(|f| f.findings.iter().map(|x| x.message_en.to_lowercase()))
        .collect();
    for needle in ["pdf", "word", "encrypt", "empty"] {
        assert!(
            messages.iter().any(|m| m.contains(needle)),
            "no message mentions {needle}: {messages:#?}"
        );
    }
    // Each rejected file has its feedback beside it.
    assert_eq!(
        files_with_ext(&settings.paths.rejected, "xlsx")
            .iter()
            .filter(|p| p.to_string_lossy().ends_with("_phanhoi.xlsx"))
            .count(),
        5
    );
    assert!(files_with_ext(inbox, "xlsx").is_empty());
}

#[test]
fn dry_run_checks_but_stores_and_moves_nothing_and_exit_codes_tell_rejections() {
    let dir = temp_dir();
    let ws = synth_workspace(dir.path(), 2, 2, 1, 6);
    let ws_text = ws.to_string_lossy().into_owned();
    let out = baocao(&["--workspace", &ws_text, "ingest", "--dry-run"]);
    assert_eq!(out.status.code(), Some(1), "a planted error rejects a file");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("dry run"), "{stdout}");
    let inbox_files = files_with_ext(&ws.join("inbox"), "xlsx");
    assert_eq!(inbox_files.len(), 4);
    // The listing, written in one piece: a line for each file, the
    // rejected one's errors under it, the summary last.
    let lines: Vec<&str> = stdout.lines().collect();
    for file in &inbox_files {
        let name = file.file_name().unwrap().to_string_lossy();
        assert_eq!(
            lines
                .iter()
                .filter(|l| l.contains(name.as_ref()) && !l.starts_with(' '))
                .count(),
            1,
            "{name}: {stdout}"
        );
    }
    assert!(
        lines.iter().any(|l| l.starts_with("    ")),
        "an error under the rejected file: {stdout}"
    );
    assert!(
        lines
            .last()
            .is_some_and(|l| l.starts_with("[dry run: nothing stored or moved] files seen: 4")),
        "{stdout}"
    );
    let store = Store::open(&ws.join("baocao.db")).unwrap();
    assert_eq!(store.count_submissions().unwrap(), 0);
    let out = baocao(&["--workspace", &ws_text, "ingest"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(store.count_submissions().unwrap(), 4);
    assert!(files_with_ext(&ws.join("inbox"), "xlsx").is_empty());
    // Nothing left: a clean pass exits 0.
    baocao_ok(&["--workspace", &ws_text, "ingest"], 0);
}

#[test]
fn check_json_lists_findings_with_sheet_and_cell_for_other_tools() {
    let dir = temp_dir();
    let ws = synth_workspace(dir.path(), 2, 3, 3, 8);
    let manifest: Vec<PlantedFault> =
        serde_json::from_str(&std::fs::read_to_string(ws.join("faults.json")).unwrap()).unwrap();
    let fault = manifest
        .iter()
        .find(|f| f.severity == baocao::domain::Severity::Error)
        .unwrap();
    let path = ws.join(&fault.file);
    let ws_text = ws.to_string_lossy().into_owned();
    let out = baocao(&["--workspace", &ws_text, "check", "--json", &path.to_string_lossy()]);
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let findings = json[0]["findings"].as_array().unwrap();
    assert!(
        findings.iter().any(|f| f["rule"] == fault.rule
            && f["location"]["cell"] == fault.cell.as_str()
            && f["location"]["sheet"] == fault.sheet.as_str()),
        "{json:#}"
    );
    assert_eq!(json[0]["status"], "rejected");
    assert!(path.exists(), "check moves nothing");
}

#[test]
fn a_crash_between_commit_and_filing_is_healed_on_the_next_pass() {
    let dir = temp_dir();
    let ws = synth_workspace(dir.path(), 1, 2, 0, 12);
    let settings = settings(&ws);
    let files = files_with_ext(&settings.paths.inbox, "xlsx");
    let keep: Vec<(PathBuf, Vec<u8>)> = files.iter().map(|p| (p.clone(), std::fs::read(p).unwrap())).collect();
    ingest(&settings, &options()).unwrap();
    // Simulate the crash: put the files back into the inbox and mark them unfiled.
    let conn = rusqlite::Connection::open(&settings.paths.database).unwrap();
    conn.execute("UPDATE submissions SET filed = 0", []).unwrap();
    for (path, bytes) in &keep {
        std::fs::write(path, bytes).unwrap();
        set_old(path);
    }
    for f in files_with_ext(&settings.paths.archive, "xlsx") {
        std::fs::remove_file(f).unwrap();
    }
    // The crash came before the feedback was written, too.
    let feedback = files_with_ext(&settings.paths.feedback, "xlsx");
    assert_eq!(feedback.len(), 2);
    for f in &feedback {
        std::fs::remove_file(f).unwrap();
    }
    let summary = ingest(&settings, &options()).unwrap();
    assert_eq!(summary.counts.duplicates, 0);
    assert_eq!(summary.healed, 2);
    let store = Store::open(&settings.paths.database).unwrap();
    assert_eq!(store.count_submissions().unwrap(), 2);
    assert!(store.unfiled().unwrap().is_empty());
    assert!(files_with_ext(&settings.paths.inbox, "xlsx").is_empty());
    assert_eq!(files_with_ext(&settings.paths.archive, "xlsx").len(), 2);
    // Written again, whole, under the same names, each naming its file.
    assert_eq!(files_with_ext(&settings.paths.feedback, "xlsx"), feedback);
    for submission in store.all_submissions().unwrap() {
        use calamine::{open_workbook_auto, Reader};
        let f = ws.join(submission.feedback_path.as_deref().unwrap());
        assert!(feedback.contains(&f), "{}", f.display());
        let mut book = open_workbook_auto(&f).unwrap();
        let sheet = book.worksheet_range("Ket qua").unwrap();
        let named = sheet
            .rows()
            .any(|row| row.iter().any(|c| c.to_string() == submission.file_name));
        assert!(named, "{} names {}", f.display(), submission.file_name);
    }
    assert!(
        !std::fs::read_dir(&settings.paths.feedback)
            .unwrap()
            .flatten()
            .any(|e| e.file_name().to_string_lossy().contains(".tmp")),
        "no temporary left"
    );
}

/// Copies a synthetic workspace's configuration, register and inbox.
fn copy_workspace(from: &Path, to: &Path) {
    std::fs::create_dir_all(to.join("inbox")).unwrap();
    for name in ["baocao.toml", "register.csv"] {
        std::fs::copy(from.join(name), to.join(name)).unwrap();
    }
    for file in files_with_ext(&from.join("inbox"), "xlsx") {
        let rel = file.strip_prefix(from).unwrap();
        let target = to.join(rel);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(&file, &target).unwrap();
        let modified = std::fs::metadata(&file).unwrap().modified().unwrap();
        std::fs::File::options()
            .write(true)
            .open(&target)
            .unwrap()
            .set_modified(modified)
            .unwrap();
    }
}

fn with_config(ws: &Path, from: &str, to: &str) {
    let path = ws.join("baocao.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "{from}");
    std::fs::write(&path, text.replace(from, to)).unwrap();
}

/// sha256 of every return filed under archive/ and rejected/ (not feedback).
fn filed_hashes(ws: &Path) -> Vec<String> {
    let mut out: Vec<String> = ["archive", "rejected"]
        .iter()
        .flat_map(|d| files_with_ext(&ws.join(d), "xlsx"))
        .filter(|p| !p.to_string_lossy().ends_with("_phanhoi.xlsx"))
        .map(|p| baocao::pipeline::check::sha256_of(&p).unwrap())
        .collect();
    out.sort();
    out
}

/// Kills of one pass, spread from its start to past its end.
const KILLS: u64 = 50;

#[test]
fn killing_ingest_at_random_moments_fifty_times_loses_and_doubles_nothing() {
    let dir = temp_dir();
    // A pass of several chunks, each stored in one transaction.
    let source = synth_workspace(dir.path(), 12, 25, 12, 77);
    let mut expected: Vec<String> = files_with_ext(&source.join("inbox"), "xlsx")
        .iter()
        .map(|p| baocao::pipeline::check::sha256_of(p).unwrap())
        .collect();
    expected.sort();
    assert_eq!(expected.len(), 300);
    // How many files are stored once each chunk has committed.
    let sizes = baocao::pipeline::ingest::chunk_sizes(300);
    assert!(sizes.len() >= 3, "at least three chunks: {sizes:?}");
    let committed: Vec<i64> = sizes
        .iter()
        .scan(0, |total, size| {
            *total += *size as i64;
            Some(*total)
        })
        .collect();
    // How long an uninterrupted pass takes here, to spread the kills over it.
    let timing = dir.path().join("timing");
    copy_workspace(&source, &timing);
    with_config(&timing, "stable_seconds = 5", "stable_seconds = 0");
    let started = std::time::Instant::now();
    baocao(&["--workspace", &timing.to_string_lossy(), "ingest"]);
    let pass_ms = started.elapsed().as_millis() as u64;
    std::fs::remove_dir_all(&timing).unwrap();
    let mut killed_mid_batch = 0;
    let mut killed_before = 0;
    for round in 0..KILLS {
        let ws = dir.path().join(format!("round{round}"));
        copy_workspace(&source, &ws);
        with_config(&ws, "stable_seconds = 5", "stable_seconds = 0");
        let ws_text = ws.to_string_lossy().into_owned();
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_baocao"))
            .args(["--workspace", &ws_text, "ingest"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // A different moment each round (7919 is prime to KILLS: each step
        // once), from the start to past the end of a pass.
        let delay = 10 + (round * 7919 % KILLS) * pass_ms * 21 / (20 * KILLS);
        std::thread::sleep(Duration::from_millis(delay));
        let _ = child.kill();
        let _ = child.wait();
        let store = Store::open(&ws.join("baocao.db")).unwrap();
        let stored = store.count_submissions().unwrap();
        // A chunk is stored whole or not at all: whole chunks, in order.
        assert!(
            stored == 0 || committed.contains(&stored),
            "round {round}: {stored} stored, part of a chunk (chunks end at {committed:?})"
        );
        // Nothing is lost even before the next pass: every file is in the
        // inbox or filed (a move is a rename).
        let in_inbox = files_with_ext(&ws.join("inbox"), "xlsx").len();
        // Inside the batch: some chunks stored and some not, or all stored
        // and some not filed yet.
        if stored > 0 && (stored < 300 || in_inbox > 0) {
            killed_mid_batch += 1;
        } else if stored == 0 {
            killed_before += 1;
        }
        assert_eq!(
            in_inbox + filed_hashes(&ws).len(),
            300,
            "round {round}: a file went missing"
        );
        drop(store);
        // The next pass finishes the job.
        let out = baocao(&["--workspace", &ws_text, "ingest"]);
        assert!(matches!(out.status.code(), Some(0 | 1)), "round {round}: {out:?}");
        let store = Store::open(&ws.join("baocao.db")).unwrap();
        assert_eq!(
            store.count_submissions().unwrap(),
            300,
            "round {round}: every file exactly once"
        );
        assert!(store.unfiled().unwrap().is_empty(), "round {round}");
        assert!(files_with_ext(&ws.join("inbox"), "xlsx").is_empty(), "round {round}");
        assert_eq!(
            filed_hashes(&ws),
            expected,
            "round {round}: filed files are the received files"
        );
        let hashes: std::collections::BTreeSet<String> =
            store.all_submissions().unwrap().into_iter().map(|s| s.sha256).collect();
        assert_eq!(hashes.len(), 300);
        // Every stored row's parent exists, as SQLite's own check finds.
        let conn = rusqlite::Connection::open(ws.join("baocao.db")).unwrap();
        let broken = conn
            .prepare("PRAGMA foreign_key_check")
            .unwrap()
            .query_map([], |r| r.get::<_, String>(0))
            .unwrap()
            .count();
        assert_eq!(broken, 0, "round {round}: rows without their parent");
        drop(conn);
        std::fs::remove_dir_all(&ws).unwrap();
    }
    eprintln!(
        "{KILLS} kills over a {pass_ms} ms pass: {killed_before} before the first commit, \
         {killed_mid_batch} inside the batch, the rest after it"
    );
    assert!(
        killed_mid_batch >= 15,
        "only {killed_mid_batch} of {KILLS} kills landed inside a batch"
    );
}

#[test]
fn one_thread_and_two_threads_store_the_same_results() {
    let dir = temp_dir();
    let source = synth_workspace(dir.path(), 6, 8, 6, 91);
    let mut exports = Vec::new();
    for threads in [1, 2] {
        let ws = dir.path().join(format!("t{threads}"));
        copy_workspace(&source, &ws);
        with_config(&ws, "threads = 0", &format!("threads = {threads}"));
        let settings = settings(&ws);
        ingest(&settings, &options()).unwrap();
        let store = Store::open(&settings.paths.database).unwrap();
        let mut rows = Vec::new();
        for s in store.all_submissions().unwrap() {
            let findings: Vec<String> = store.findings_of(s.id).unwrap().iter().map(|f| f.log_line()).collect();
            let values = store.values_of(s.id).unwrap();
            rows.push(format!(
                "{} {:?} {:?} {} {:?} {findings:?} {values:?}",
                s.file_name,
                s.unit_code,
                s.period,
                s.status.as_str(),
                s.superseded_by
            ));
        }
        exports.push(rows);
    }
    assert_eq!(exports[0], exports[1]);
}

/// (unit, period, line) → (value, year to date).
type StoredValues = BTreeMap<(String, baocao::domain::Period, String), (Option<f64>, Option<f64>)>;

#[test]
fn returns_saved_by_libreoffice_as_xlsx_xls_and_ods_ingest_with_the_original_values() {
    let Some(soffice) = crate::report::soffice() else {
        return;
    };
    let dir = temp_dir();
    let source = synth_workspace(dir.path(), 2, 3, 0, 64);
    let reference = dir.path().join("reference");
    copy_workspace(&source, &reference);
    let settings_ref = settings(&reference);
    ingest(&settings_ref, &options()).unwrap();
    let values_of = |ws: &Path| -> StoredValues {
        let store = Store::open(&ws.join("baocao.db")).unwrap();
        let mut out = BTreeMap::new();
        for s in store.all_submissions().unwrap() {
            assert!(
                s.status.is_accepted(),
                "{}: {:?}",
                s.file_name,
                store.findings_of(s.id).unwrap()
            );
            for (line, v) in store.values_of(s.id).unwrap() {
                out.insert(
                    (s.unit_code.clone().unwrap(), s.period.unwrap(), line),
                    (v.value, v.ytd),
                );
            }
        }
        out
    };
    let expected = values_of(&reference);
    assert_eq!(expected.len(), 6 * 74);
    let originals = files_with_ext(&source.join("inbox"), "xlsx");
    let profile = format!(
        "-env:UserInstallation=file://{}",
        dir.path().join("lo-profile").display()
    );
    for (ext, filter) in [
        ("xlsx", "xlsx:Calc MS Excel 2007 XML"),
        ("xls", "xls:MS Excel 97"),
        ("ods", "ods"),
    ] {
        let ws = dir.path().join(format!("as-{ext}"));
        std::fs::create_dir_all(ws.join("inbox")).unwrap();
        for name in ["baocao.toml", "register.csv"] {
            std::fs::copy(source.join(name), ws.join(name)).unwrap();
        }
        let out = std::process::Command::new(soffice)
            .args([&profile, "--headless", "--convert-to", filter, "--outdir"])
            .arg(ws.join("inbox"))
            .args(&originals)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let converted = files_with_ext(&ws.join("inbox"), ext);
        assert_eq!(converted.len(), 6, "{ext}");
        // Arrival order as the originals: by month.
        for file in &converted {
            let name = file.file_name().unwrap().to_string_lossy().into_owned();
            let month: u64 = name[name.len() - ext.len() - 3..name.len() - ext.len() - 1]
                .parse()
                .unwrap();
            let when = SystemTime::now() - Duration::from_secs(10_000 - month * 100);
            std::fs::File::options()
                .write(true)
                .open(file)
                .unwrap()
                .set_modified(when)
                .unwrap();
        }
        if ext == "xlsx" {
            // Another program's xlsx: the quick reader gives what calamine gives.
            for file in &converted {
                assert_readers_agree(file);
            }
        }
        let settings = settings(&ws);
        let summary = ingest(&settings, &options()).unwrap();
        assert_eq!(summary.counts.seen, 6, "{ext}");
        assert_eq!(
            values_of(&ws),
            expected,
            "values read from .{ext} differ from the originals"
        );
    }
}

#[test]
fn check_and_ingest_give_the_same_findings_for_every_file_of_a_faulty_corpus() {
    let dir = temp_dir();
    let ws = synth_workspace(dir.path(), 6, 4, 24, 33);
    let ws_text = ws.to_string_lossy().into_owned();
    let files: Vec<String> = files_with_ext(&ws.join("inbox"), "xlsx")
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    assert_eq!(files.len(), 24);
    // `check` first, without a database: no history. A dry run stores
    // nothing, so ingest checks every file against the same empty history.
    let mut args = vec!["--workspace", ws_text.as_str(), "check", "--json"];
    args.extend(files.iter().map(String::as_str));
    let out = baocao(&args);
    assert_eq!(out.status.code(), Some(1), "planted errors reject files");
    let checked: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    let by_check: BTreeMap<String, &serde_json::Value> = checked
        .iter()
        .map(|report| {
            let path = PathBuf::from(report["file"].as_str().unwrap());
            (path.file_name().unwrap().to_string_lossy().into_owned(), report)
        })
        .collect();
    let options = IngestOptions {
        dry_run: true,
        ..options()
    };
    let summary = ingest(&settings(&ws), &options).unwrap();
    assert_eq!(summary.files.len(), files.len());
    let mut with_findings = 0;
    for outcome in &summary.files {
        // Ingest names a file by its path in the inbox (`004/…`), check by its name.
        let name = outcome.file.rsplit('/').next().unwrap();
        let report = by_check
            .get(name)
            .unwrap_or_else(|| panic!("{} not checked", outcome.file));
        assert_eq!(
            report["status"],
            outcome.status.map(Status::as_str).unwrap(),
            "{}",
            outcome.file
        );
        assert_eq!(report["unit"], serde_json::json!(outcome.unit), "{}", outcome.file);
        assert_eq!(report["period"], serde_json::json!(outcome.period), "{}", outcome.file);
        let mut findings = outcome.findings.clone();
        for finding in &mut findings {
            assert_eq!(finding.location.file, outcome.file);
            finding.location.file = name.to_string();
        }
        assert_eq!(
            report["findings"],
            serde_json::to_value(&findings).unwrap(),
            "{}",
            outcome.file
        );
        with_findings += usize::from(!outcome.findings.is_empty());
    }
    assert!(
        with_findings >= 12,
        "the planted faults show: {with_findings} files with findings"
    );
}

#[test]
fn check_on_a_folder_checks_every_spreadsheet_in_it_as_when_the_files_are_named() {
    let dir = temp_dir();
    let ws = synth_workspace(dir.path(), 2, 3, 2, 31);
    let inbox = ws.join("inbox");
    std::fs::write(inbox.join("ghi chu.txt"), "không phải báo cáo").unwrap();
    let ws_text = ws.to_string_lossy().into_owned();
    let mut files: Vec<String> = files_with_ext(&inbox, "xlsx")
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(files.len(), 6);
    let named = {
        let mut args = vec!["--workspace", ws_text.as_str(), "check", "--json"];
        args.extend(files.iter().map(String::as_str));
        baocao(&args)
    };
    let folder = baocao(&["--workspace", &ws_text, "check", "--json", &inbox.to_string_lossy()]);
    assert_eq!(folder.status.code(), named.status.code());
    assert_eq!(named.status.code(), Some(1), "two planted faults");
    let by_named: serde_json::Value = serde_json::from_slice(&named.stdout).unwrap();
    let by_folder: serde_json::Value = serde_json::from_slice(&folder.stdout).unwrap();
    assert_eq!(by_folder.as_array().unwrap().len(), 6, "the text file is not a return");
    assert_eq!(by_folder, by_named);
}

#[test]
fn libreoffice_reads_every_cell_of_a_feedback_workbook_as_baocao_wrote_it() {
    let Some(soffice) = crate::report::soffice() else {
        return;
    };
    let dir = temp_dir();
    let ws = synth_workspace(dir.path(), 2, 3, 4, 77);
    ingest(&settings(&ws), &options()).unwrap();
    let feedback = files_with_ext(&ws.join("feedback"), "xlsx");
    assert_eq!(feedback.len(), 6);
    // A rejected file's feedback: a findings table with links, shaded rows.
    let rejected: Vec<&PathBuf> = feedback
        .iter()
        .filter(|f| workbook_cells(f).values().any(|t| t.starts_with("BÁO CÁO BỊ TỪ CHỐI")))
        .collect();
    assert!(!rejected.is_empty(), "a planted fault rejects a file");
    let out = dir.path().join("lo");
    let profile = format!(
        "-env:UserInstallation=file://{}",
        dir.path().join("lo-profile").display()
    );
    for path in [rejected[0], feedback.iter().find(|f| !rejected.contains(f)).unwrap()] {
        let status = std::process::Command::new(soffice)
            .args([&profile, "--headless", "--convert-to", "ods", "--outdir"])
            .arg(&out)
            .arg(path)
            .output()
            .unwrap();
        assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));
        let converted = out.join(path.with_extension("ods").file_name().unwrap());
        let written = workbook_cells(path);
        assert!(written.len() > 5 * 70, "{}: the values sheet is there", path.display());
        assert_eq!(workbook_cells(&converted), written, "{}", path.display());
    }
}

/// What a workspace's store says of each file: its status and findings
/// (rule, severity, cell, message), and how many submissions it holds.
fn outcomes_by_file(settings: &Settings) -> (BTreeMap<String, String>, usize) {
    let store = Store::open(&settings.paths.database).unwrap();
    let submissions = store.all_submissions().unwrap();
    let outcomes = submissions
        .iter()
        .map(|s| {
            let findings: Vec<String> = store
                .findings_of(s.id)
                .unwrap()
                .iter()
                .map(|f| format!("{} {:?} {:?} {}", f.rule, f.severity, f.location.cell, f.message_en))
                .collect();
            (s.file_name.clone(), format!("{:?} {findings:?}", s.status))
        })
        .collect();
    (outcomes, submissions.len())
}

/// A pass checks each chunk while the one before is being stored. The rules
/// across months must still see every earlier return of the pass, and a
/// copy of content from the chunk before must still be a duplicate: one
/// pass over 52 files (four chunks, 6 planted faults, a return copied into
/// the next chunk and into the last) gives each file the status and the
/// findings it gets when the same files come one pass at a time.
#[test]
fn a_pass_in_chunks_judges_every_file_as_passes_of_one_file_do() {
    let dir = temp_dir();
    let ws = synth_workspace(dir.path(), 4, 12, 6, 5);
    let settings = settings(&ws);
    let order = |settings: &Settings| {
        baocao::pipeline::discover::discover(&settings.paths.inbox, Duration::ZERO, SystemTime::now())
            .unwrap()
            .ready
    };
    let files = order(&settings);
    assert_eq!(files.len(), 48);
    assert_eq!(baocao::pipeline::ingest::chunk_sizes(52), [16, 16, 16, 4]);
    // Copies of the first file (chunk 1), placed right after the 20th and
    // the 40th: in chunks 2 and 3 of the 52.
    for (at, name) in [(19, "zz-ban-sao-1.xlsx"), (39, "zz-ban-sao-2.xlsx")] {
        let after = &files[at];
        let copy = after.path.with_file_name(name);
        std::fs::copy(&files[0].path, &copy).unwrap();
        std::fs::File::options()
            .write(true)
            .open(&copy)
            .unwrap()
            .set_modified(after.modified)
            .unwrap();
    }
    let placed = order(&settings);
    assert_eq!(placed.len(), 50);
    assert!(
        placed[20].relative.ends_with("zz-ban-sao-1.xlsx"),
        "{:?}",
        placed[20].relative
    );
    assert!(
        placed[41].relative.ends_with("zz-ban-sao-2.xlsx"),
        "{:?}",
        placed[41].relative
    );
    // Two more copies of the last file of chunk 1 at the end (chunk 4).
    for name in ["zz-ban-sao-3.xlsx", "zz-ban-sao-4.xlsx"] {
        let copy = placed[49].path.with_file_name(name);
        std::fs::copy(&placed[15].path, &copy).unwrap();
        std::fs::File::options()
            .write(true)
            .open(&copy)
            .unwrap()
            .set_modified(placed[49].modified)
            .unwrap();
    }
    let placed = order(&settings);
    assert_eq!(placed.len(), 52);

    // The same files, one pass each, in the same order.
    let one_by_one = dir.path().join("one-by-one");
    copy_workspace(&ws, &one_by_one);
    let single = self::settings(&one_by_one);
    let waiting = dir.path().join("waiting");
    for file in &placed {
        let to = waiting.join(&file.relative);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::rename(single.paths.inbox.join(&file.relative), &to).unwrap();
    }
    let mut duplicates = 0;
    for file in &placed {
        let to = single.paths.inbox.join(&file.relative);
        std::fs::rename(waiting.join(&file.relative), &to).unwrap();
        duplicates += ingest(&single, &options()).unwrap().counts.duplicates;
    }

    let summary = ingest(&settings, &options()).unwrap();
    assert_eq!(summary.counts.seen, 52);
    assert_eq!(summary.counts.duplicates, 4);
    assert_eq!(duplicates, 4);
    assert!(files_with_ext(&settings.paths.inbox, "xlsx").is_empty());
    let (chunked, stored) = outcomes_by_file(&settings);
    let (single, single_stored) = outcomes_by_file(&single);
    assert_eq!(stored, 48);
    assert_eq!(single_stored, 48);
    assert_eq!(chunked, single);
    // The planted faults are there to be judged alike: some files carry
    // findings across months.
    assert!(
        chunked.values().filter(|o| o.contains("Rejected")).count() >= 1,
        "{chunked:#?}"
    );
}

/// A pass files its chunks' files folder by folder side by side: every
/// file ends up where its submission and its receipt say, with the content
/// the submission was stored from, and the outcome of each file names that
/// same place.
#[test]
fn every_file_of_a_pass_is_filed_where_its_submission_and_receipt_say() {
    let dir = temp_dir();
    let ws = synth_workspace(dir.path(), 10, 6, 8, 19);
    let settings = settings(&ws);
    let summary = ingest(&settings, &options()).unwrap();
    assert_eq!(summary.counts.seen, 60);
    assert!(summary.counts.rejected >= 1, "some files go to rejected/");
    let store = Store::open(&settings.paths.database).unwrap();
    let submissions = store.all_submissions().unwrap();
    assert_eq!(submissions.len(), 60);
    let outcomes: BTreeMap<&str, &PathBuf> = summary
        .files
        .iter()
        .map(|f| (f.file.as_str(), f.filed_to.as_ref().unwrap()))
        .collect();
    let mut places = std::collections::BTreeSet::new();
    for s in &submissions {
        let place = ws.join(&s.stored_path);
        assert_eq!(
            baocao::pipeline::check::sha256_of(&place).unwrap(),
            s.sha256,
            "{} filed as {}",
            s.file_name,
            s.stored_path
        );
        assert_eq!(outcomes[s.file_name.as_str()], &place, "{}", s.file_name);
        assert!(places.insert(place), "{}: a place taken twice", s.stored_path);
    }
    let conn = rusqlite::Connection::open(&settings.paths.database).unwrap();
    let receipts: Vec<(String, String)> = conn
        .prepare("SELECT r.moved_to, s.stored_path FROM receipts r JOIN submissions s ON s.id = r.submission_id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(receipts.len(), 60);
    for (moved_to, stored_path) in receipts {
        assert_eq!(moved_to, stored_path);
    }
    assert!(files_with_ext(&settings.paths.inbox, "xlsx").is_empty());
}

/// A pass whose feedback cannot be written (here `feedback` is a file, not
/// a folder) stops with an error naming the place; the chunk stored before
/// the failure keeps its files in the inbox, unfiled. Once the folder can
/// be written, the next pass files every file exactly once, each with its
/// feedback workbook.
#[test]
fn a_pass_whose_feedback_cannot_be_written_stops_and_the_next_files_everything_once() {
    let dir = temp_dir();
    let ws = synth_workspace(dir.path(), 6, 6, 0, 23);
    let settings = settings(&ws);
    std::fs::remove_dir_all(&settings.paths.feedback).ok();
    std::fs::write(&settings.paths.feedback, b"not a folder").unwrap();
    let error = ingest(&settings, &options()).unwrap_err();
    // Names the folder it could not make, below the feedback path.
    let place = settings.paths.feedback.display().to_string();
    assert!(error.to_string().starts_with(&format!("{place}/")), "{error}");
    let store = Store::open(&settings.paths.database).unwrap();
    let stored = store.count_submissions().unwrap();
    assert!(stored > 0, "the first chunk was stored before its feedback failed");
    assert_eq!(store.unfiled().unwrap().len() as i64, stored, "none filed");
    assert_eq!(
        files_with_ext(&settings.paths.inbox, "xlsx").len(),
        36,
        "every file still in the inbox"
    );
    drop(store);

    std::fs::remove_file(&settings.paths.feedback).unwrap();
    ingest(&settings, &options()).unwrap();
    let store = Store::open(&settings.paths.database).unwrap();
    let submissions = store.all_submissions().unwrap();
    assert_eq!(submissions.len(), 36, "each file stored once");
    assert!(store.unfiled().unwrap().is_empty());
    assert!(files_with_ext(&settings.paths.inbox, "xlsx").is_empty());
    for s in &submissions {
        let feedback = ws.join(s.feedback_path.as_deref().unwrap());
        assert!(
            feedback.is_file(),
            "{}: no feedback at {}",
            s.file_name,
            feedback.display()
        );
        assert!(ws.join(&s.stored_path).is_file(), "{}", s.stored_path);
    }
}
