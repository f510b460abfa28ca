//! Tests of `read`: every way a file can fail to be a workbook (PDF, Word,
//! truncated, empty, encrypted, too large, a zip bomb) and the cells a real
//! workbook gives (formulas, errors, dates, merges, a stray far cell, ods).

use std::io::Write;
use std::time::Instant;

use super::*;
use crate::pipeline::extract::TABLE_HEADER;
use crate::pipeline::read::fixtures::env;

fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for (name, data) in entries {
        writer.start_file(*name, options).expect("start");
        writer.write_all(data).expect("write");
    }
    writer.finish().expect("finish").into_inner()
}

fn xlsx_bytes(build: impl FnOnce(&mut rust_xlsxwriter::Worksheet)) -> Vec<u8> {
    let mut workbook = rust_xlsxwriter::Workbook::new();
    build(workbook.add_worksheet());
    workbook.save_to_buffer().expect("xlsx")
}

fn template_bytes() -> Vec<u8> {
    let env = env();
    let spec = env.valid_spec();
    let (path, _) = env.write("r.xlsx", &spec);
    std::fs::read(path).expect("bytes")
}

#[test]
fn a_pdf_renamed_xlsx_is_not_a_workbook() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("BaoCao_T6.xlsx");
    std::fs::write(
        &path,
        b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n",
    )
    .expect("write");
    let problem = read_workbook(&path, &ReadLimits::default(), TABLE_HEADER).expect_err("not a workbook");
    assert_eq!(
        problem,
        ReadProblem::NotAWorkbook {
            looks_like: FileKind::Pdf
        }
    );
    let finding = problem.to_finding("BaoCao_T6.xlsx", Severity::Error);
    assert_eq!(finding.rule, 1);
    assert!(finding.message_vi.contains("PDF"), "{}", finding.message_vi);
    assert!(finding.message_en.contains("PDF"));
}

#[test]
fn a_word_document_renamed_xlsx_says_it_is_a_word_document() {
    let bytes = zip_of(&[
        ("[Content_Types].xml", b"<Types/>"),
        ("word/document.xml", b"<w:document/>"),
    ]);
    assert_eq!(
        read_workbook_bytes(bytes, &ReadLimits::default(), TABLE_HEADER),
        Err(ReadProblem::NotAWorkbook {
            looks_like: FileKind::WordDocument
        })
    );
}

#[test]
fn other_contents_are_named() {
    assert_eq!(
        sniff(b"<html><body><table><tr><td>1</td></tr></table>"),
        Sniffed::Other(FileKind::Html)
    );
    assert_eq!(sniff(b"Ma so;Ky nay\nA01;10\n"), Sniffed::Other(FileKind::PlainText));
    assert_eq!(
        sniff(b"<?xml version=\"1.0\"?><Workbook xmlns=\"urn:schemas-microsoft-com:office:spreadsheet\">"),
        Sniffed::Other(FileKind::SpreadsheetXml2003)
    );
    assert_eq!(sniff(b"\x89PNG\r\n\x1a\n"), Sniffed::Other(FileKind::Image));
    assert_eq!(sniff(&[0u8, 159, 146, 150, 0, 1]), Sniffed::Other(FileKind::Unknown));
}

#[test]
fn a_truncated_xlsx_is_corrupt() {
    let bytes = template_bytes();
    let half = bytes[..bytes.len() / 2].to_vec();
    assert!(matches!(
        read_workbook_bytes(half, &ReadLimits::default(), TABLE_HEADER),
        Err(ReadProblem::Corrupt { .. })
    ));
}

#[test]
fn damaged_bytes_never_panic() {
    let bytes = template_bytes();
    let step = bytes.len() / 40;
    for i in 0..40 {
        let mut damaged = bytes.clone();
        let at = i * step;
        for b in damaged.iter_mut().skip(at).take(64) {
            *b ^= 0x5A;
        }
        // Any answer will do, as long as it is an answer.
        let _ = read_workbook_bytes(damaged, &ReadLimits::default(), TABLE_HEADER);
    }
}

#[test]
fn an_empty_workbook_and_an_empty_file_are_empty() {
    let bytes = xlsx_bytes(|_| {});
    assert!(matches!(
        read_workbook_bytes(bytes, &ReadLimits::default(), TABLE_HEADER),
        Err(ReadProblem::Empty { .. })
    ));
    assert!(matches!(
        read_workbook_bytes(Vec::new(), &ReadLimits::default(), TABLE_HEADER),
        Err(ReadProblem::Empty { .. })
    ));
}

#[test]
fn an_encrypted_workbook_is_recognised_by_its_container() {
    let mut bytes = OLE_MAGIC.to_vec();
    bytes.resize(1024, 0);
    for name in ["EncryptionInfo", "EncryptedPackage"] {
        bytes.extend(name.encode_utf16().flat_map(u16::to_le_bytes));
        bytes.resize(bytes.len() + 64, 0);
    }
    assert!(is_encrypted_ole(&bytes));
    assert_eq!(
        read_workbook_bytes(bytes, &ReadLimits::default(), TABLE_HEADER),
        Err(ReadProblem::Encrypted)
    );
    let finding = ReadProblem::Encrypted.to_finding("f.xlsx", Severity::Error);
    assert!(finding.message_vi.contains("mật khẩu"));
    // A Word 97 document in an OLE file is named, not tried as xls.
    let mut word = OLE_MAGIC.to_vec();
    word.resize(512, 0);
    word.extend("WordDocument".encode_utf16().flat_map(u16::to_le_bytes));
    assert!(!is_encrypted_ole(&word));
    assert_eq!(
        read_workbook_bytes(word, &ReadLimits::default(), TABLE_HEADER),
        Err(ReadProblem::NotAWorkbook {
            looks_like: FileKind::OldWordDocument
        })
    );
}

#[test]
fn a_stray_cell_at_xfd1048576_stays_sparse_and_quick() {
    let bytes = xlsx_bytes(|sheet| {
        sheet.write_string(0, 0, "Biểu số:").expect("a1");
        sheet.write_number(1_048_575, 16_383, 1.0).expect("xfd");
    });
    let started = Instant::now();
    let workbook = read_workbook_bytes(bytes, &ReadLimits::default(), TABLE_HEADER).expect("reads");
    assert!(started.elapsed().as_secs() < 5);
    let sheet = &workbook.sheets[0];
    assert_eq!(sheet.cells.len(), 2);
    assert_eq!(sheet.value(1_048_575, 16_383), &CellValue::Number(1.0));
    assert_eq!(a1(1_048_575, 16_383), "XFD1048576");
}

#[test]
fn a1_addresses_agree_with_rust_xlsxwriter_for_every_column_and_rows_far_apart() {
    use rust_xlsxwriter::utility::row_col_to_cell;
    for col in 0..16_384u16 {
        for row in [0u32, 8, 9, 99, 1_234, 1_048_575] {
            assert_eq!(
                a1(row, u32::from(col)),
                row_col_to_cell(row, col),
                "row {row}, column {col}"
            );
            // The writer the feedback sheets use, into a buffer.
            let mut pushed = String::new();
            push_a1(&mut pushed, row, u32::from(col));
            assert_eq!(pushed, row_col_to_cell(row, col), "row {row}, column {col}");
        }
        assert_eq!(
            column_letters(u32::from(col)),
            row_col_to_cell(0, col).trim_end_matches('1')
        );
    }
    assert_eq!(a1(u32::MAX, 0), "A4294967296");
    // Beyond Excel's columns, both writers agree, up to the largest
    // address (its letters worked out by hand in bijective base 26).
    for col in [16_384, 475_253, 475_254, u32::MAX] {
        let mut pushed = String::new();
        push_a1(&mut pushed, u32::MAX, col);
        assert_eq!(pushed, a1(u32::MAX, col));
    }
    assert_eq!(a1(u32::MAX, u32::MAX), "MWLQKWV4294967296");
    assert_eq!(a1(475_253, 475_253), "ZZZZ475254");
    assert_eq!(a1(0, 475_254), "AAAAA1");
}

#[test]
fn too_many_cells_in_a_sheet_is_too_large() {
    let bytes = xlsx_bytes(|sheet| {
        for row in 0..50 {
            sheet.write_number(row, 0, f64::from(row)).expect("cell");
        }
    });
    let limits = ReadLimits {
        max_sheet_cells: 20,
        ..ReadLimits::default()
    };
    assert!(matches!(
        read_workbook_bytes(bytes, &limits, TABLE_HEADER),
        Err(ReadProblem::TooLarge {
            cap: Cap::SheetCells,
            limit: 20,
            ..
        })
    ));
}

#[test]
fn a_workbook_above_the_declared_inflate_cap_is_too_large() {
    let limits = ReadLimits {
        max_inflated_bytes: 10_000,
        ..ReadLimits::default()
    };
    let problem = read_workbook_bytes(template_bytes(), &limits, TABLE_HEADER).expect_err("too large");
    assert!(
        matches!(
            problem,
            ReadProblem::TooLarge {
                cap: Cap::DeclaredInflatedBytes,
                limit: 10_000,
                ..
            }
        ),
        "{problem:?}"
    );
    let finding = problem.to_finding("f.xlsx", Severity::Error);
    assert_eq!(finding.expected.as_deref(), Some("≤ 10000"));
}

/// Rewrites every declared uncompressed size of a zip to `size`, as a bomb does.
fn lie_about_sizes(bytes: &mut [u8], size: u32) {
    let mut i = 0;
    while i + 30 <= bytes.len() {
        let offset = match &bytes[i..i + 4] {
            b"PK\x03\x04" => Some(22),
            b"PK\x01\x02" => Some(24),
            _ => None,
        };
        if let Some(offset) = offset {
            bytes[i + offset..i + offset + 4].copy_from_slice(&size.to_le_bytes());
        }
        i += 1;
    }
}

/// A zip that declares tiny sizes and inflates to megabytes: the zip crate
/// itself refuses to inflate past a declared size (a corrupt file), and the
/// byte counter stops anything that would slip through at the cap.
#[test]
fn a_sheet_that_inflates_beyond_the_cap_is_stopped_while_inflating() {
    let big = vec![b' '; 3_000_000];
    let mut bytes = zip_of(&[
        ("[Content_Types].xml", b"<Types/>"),
        ("xl/workbook.xml", b"<workbook/>"),
        ("xl/worksheets/sheet1.xml", &big),
    ]);
    assert!(bytes.len() < 100_000, "deflated to {}", bytes.len());
    lie_about_sizes(&mut bytes, 10);
    let limits = ReadLimits {
        max_inflated_bytes: 1_000_000,
        ..ReadLimits::default()
    };
    match read_workbook_bytes(bytes, &limits, TABLE_HEADER) {
        Err(ReadProblem::TooLarge {
            cap: Cap::InflatedBytes,
            ..
        })
        | Err(ReadProblem::Corrupt { .. }) => {}
        other => panic!("a lying zip must not be read: {other:?}"),
    }
}

/// Overwrites four bytes of the local and central headers of the entry
/// `name`: the CRC at 14 and 16, the uncompressed size at 22 and 24.
fn set_entry_field(bytes: &mut [u8], name: &str, local: usize, central: usize, value: u32) {
    let mut i = 0;
    while i + 46 <= bytes.len() {
        let (offset, name_at) = match &bytes[i..i + 4] {
            b"PK\x03\x04" => (local, 30),
            b"PK\x01\x02" => (central, 46),
            _ => {
                i += 1;
                continue;
            }
        };
        let length_at = if name_at == 30 { i + 26 } else { i + 28 };
        let length = usize::from(u16::from_le_bytes([bytes[length_at], bytes[length_at + 1]]));
        if bytes.get(i + name_at..i + name_at + length) == Some(name.as_bytes()) {
            bytes[i + offset..i + offset + 4].copy_from_slice(&value.to_le_bytes());
        }
        i += 1;
    }
}

/// The quick reader inflates a part whole into its declared size and checks
/// its CRC: a sheet whose CRC is wrong, or that inflates to more or fewer
/// bytes than declared, is left to calamine, and the file reads as calamine
/// reads it (here it reads the XML it finds, as Excel's repair would).
#[test]
fn a_part_that_does_not_inflate_to_its_declared_size_and_crc_is_left_to_calamine() {
    let sheet = "xl/worksheets/sheet1.xml";
    let parts = parts_of(&template_bytes());
    let (_, xml) = parts.iter().find(|(name, _)| name == sheet).expect("sheet part");
    let size = u32::try_from(xml.len()).expect("size");
    let mut wrong_crc = template_bytes();
    set_entry_field(&mut wrong_crc, sheet, 14, 16, 0x1234_5678);
    let mut smaller = template_bytes();
    set_entry_field(&mut smaller, sheet, 22, 24, size - 1);
    let mut larger = template_bytes();
    set_entry_field(&mut larger, sheet, 22, 24, size + 1);
    for (what, bytes) in [("crc", wrong_crc), ("smaller", smaller), ("larger", larger)] {
        assert!(matches!(quick_only(&bytes), fast::Outcome::Unsure), "{what}");
        let read = read_workbook_bytes(bytes.clone(), &ReadLimits::default(), TABLE_HEADER);
        let calamine = read_workbook_bytes_with(bytes, &ReadLimits::default(), TABLE_HEADER, XlsxReader::Calamine);
        assert_eq!(read, calamine, "{what}");
    }
}

/// Formulas in rows `row`..`row + 3` of column A: with a result, without
/// one, and with an error result (`#DIV/0!`, `#REF!`).
fn write_formula_cases(sheet: &mut rust_xlsxwriter::Worksheet, row: u32) {
    for (i, (formula, result)) in [
        ("=1+2", "3"),
        ("=SUM(A1:A2)", ""),
        ("=1/0", "#DIV/0!"),
        ("=#REF!+1", "#REF!"),
    ]
    .into_iter()
    .enumerate()
    {
        sheet.write_formula(row + i as u32, 0, formula).expect("formula");
        sheet.set_formula_result(row + i as u32, 0, result);
    }
}

#[test]
fn formulas_are_read_with_their_stored_results_or_lack_of_them() {
    let bytes = xlsx_bytes(|sheet| {
        sheet.write_string(0, 0, "x").expect("a1");
        write_formula_cases(sheet, 1);
    });
    let workbook = read_workbook_bytes(bytes, &ReadLimits::default(), TABLE_HEADER).expect("reads");
    let sheet = &workbook.sheets[0];
    let computed = sheet.get(1, 0).expect("A2");
    assert_eq!(computed.value, CellValue::Number(3.0));
    assert_eq!(computed.formula.as_deref(), Some("1+2"));
    let never = sheet.get(2, 0).expect("A3");
    assert!(never.is_formula_without_result(), "{never:?}");
    assert_eq!(sheet.value(3, 0), &CellValue::Error("#DIV/0!".into()));
    assert_eq!(sheet.value(4, 0), &CellValue::Error("#REF!".into()));
}

/// A merged title A1:F1, a `Mã số` header at C2 (merges are read on sheets
/// that carry the table) and a date at B3.
fn write_merge_and_date(sheet: &mut rust_xlsxwriter::Worksheet, title: &str) {
    let format = rust_xlsxwriter::Format::new();
    sheet.merge_range(0, 0, 0, 5, title, &format).expect("merge");
    sheet.write_string(1, 2, "Mã số").expect("header");
    let date_format = rust_xlsxwriter::Format::new().set_num_format("dd/mm/yyyy");
    let date = rust_xlsxwriter::ExcelDateTime::from_ymd(2015, 6, 15).expect("date");
    sheet
        .write_datetime_with_format(2, 1, &date, &date_format)
        .expect("date");
}

#[test]
fn merged_areas_and_dates_are_kept() {
    let bytes = xlsx_bytes(|sheet| write_merge_and_date(sheet, "Tiêu đề"));
    let workbook = read_workbook_bytes(bytes, &ReadLimits::default(), TABLE_HEADER).expect("reads");
    let sheet = &workbook.sheets[0];
    assert_eq!(
        sheet.merge_at(0, 0),
        Some(&Merge {
            first: (0, 0),
            last: (0, 5)
        })
    );
    match sheet.value(2, 1) {
        CellValue::DateTime { datetime: Some(dt), .. } => {
            assert_eq!(dt.date(), chrono::NaiveDate::from_ymd_opt(2015, 6, 15).expect("date"))
        }
        other => panic!("not a date: {other:?}"),
    }
}

#[test]
fn an_ods_file_reads_like_any_other() {
    let content = r#"<?xml version="1.0" encoding="UTF-8"?>
<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2">
<office:body><office:spreadsheet>
<table:table table:name="Bieu01">
<table:table-row><table:table-cell office:value-type="string"><text:p>Mã đơn vị:</text:p></table:table-cell><table:table-cell office:value-type="float" office:value="61"><text:p>61</text:p></table:table-cell></table:table-row>
<table:table-row table:number-rows-repeated="3"><table:table-cell table:number-columns-repeated="2"/></table:table-row>
<table:table-row><table:table-cell table:formula="of:=1+1"/><table:table-cell office:value-type="string"><text:p>x</text:p></table:table-cell></table:table-row>
</table:table>
</office:spreadsheet></office:body></office:document-content>"#;
    let manifest = r#"<?xml version="1.0" encoding="UTF-8"?>
<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0"><manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/></manifest:manifest>"#;
    let bytes = zip_of(&[
        ("mimetype", b"application/vnd.oasis.opendocument.spreadsheet"),
        ("content.xml", content.as_bytes()),
        ("META-INF/manifest.xml", manifest.as_bytes()),
    ]);
    let workbook = read_workbook_bytes(bytes, &ReadLimits::default(), TABLE_HEADER).expect("reads");
    assert_eq!(workbook.format, WorkbookFormat::Ods);
    let sheet = workbook.sheet("Bieu01").expect("sheet");
    assert_eq!(sheet.value(0, 1), &CellValue::Number(61.0));
    assert_eq!(sheet.value(4, 1), &CellValue::Text("x".into()));
    assert!(
        sheet.get(4, 0).is_some_and(Cell::is_formula_without_result),
        "{:?}",
        sheet.get(4, 0)
    );
}

#[test]
fn the_template_reads_with_every_sheet() {
    let workbook = read_workbook_bytes(template_bytes(), &ReadLimits::default(), TABLE_HEADER).expect("reads");
    assert_eq!(workbook.format, WorkbookFormat::Xlsx);
    assert_eq!(workbook.sheet_names(), vec!["Bieu01", "Xa", "HuongDan"]);
}

/// What the quick reader alone makes of xlsx bytes (no fallback), after
/// checking that the worksheet scanner and the event reader agree on it.
fn quick_only(bytes: &[u8]) -> fast::Outcome {
    let read = |events_only: bool| {
        fast::EVENTS_ONLY.with(|flag| flag.set(events_only));
        let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).expect("zip");
        let outcome = fast::read(&mut archive, &ReadLimits::default(), TABLE_HEADER);
        fast::EVENTS_ONLY.with(|flag| flag.set(false));
        outcome
    };
    let events = read(true);
    let scanned = read(false);
    assert_eq!(
        format!("{scanned:?}"),
        format!("{events:?}"),
        "the worksheet scanner and the event reader disagree"
    );
    scanned
}

/// How many worksheets of `bytes` the scanner reads itself.
fn scanned_sheets(bytes: &[u8]) -> usize {
    let before = fast::SCANNED.with(std::cell::Cell::get);
    quick_only(bytes);
    // `quick_only` reads once event by event, once with the scanner.
    fast::SCANNED.with(std::cell::Cell::get) - before
}

/// Whether the scanner reads the shared string table of `bytes` itself.
fn scanned_strings(bytes: &[u8]) -> bool {
    let before = fast::SCANNED_STRINGS.with(std::cell::Cell::get);
    quick_only(bytes);
    fast::SCANNED_STRINGS.with(std::cell::Cell::get) > before
}

/// A package of one worksheet, with two shared strings and a date style.
fn package_of_sheet(sheet: &str) -> Vec<u8> {
    let workbook = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Bieu01" sheetId="1" r:id="rId1"/></sheets></workbook>"#;
    let rels = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>"#;
    let strings = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="2" uniqueCount="2"><si><t>Mã số</t></si><si><t>Kỳ này</t></si></sst>"#;
    let styles = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><cellXfs count="2"><xf numFmtId="0"/><xf numFmtId="14"/></cellXfs></styleSheet>"#;
    let package = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#;
    zip_of(&[
        ("_rels/.rels", package.as_bytes()),
        ("xl/workbook.xml", workbook.as_bytes()),
        ("xl/_rels/workbook.xml.rels", rels.as_bytes()),
        ("xl/sharedStrings.xml", strings.as_bytes()),
        ("xl/styles.xml", styles.as_bytes()),
        ("xl/worksheets/sheet1.xml", sheet.as_bytes()),
    ])
}

/// A package of two worksheets whose layout parts are given: the package
/// relationships, the workbook, its relationships and the styles.
fn package_with_layout(package: &str, workbook: &str, rels: &str, styles: &str) -> Vec<u8> {
    let sheet = |value: &str| {
        format!(
            r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData><row r="1"><c r="A1" s="1"><v>{value}</v></c><c r="B1"><v>7</v></c></row></sheetData></worksheet>"#
        )
    };
    let (one, two) = (sheet("45000"), sheet("45001.5"));
    zip_of(&[
        ("_rels/.rels", package.as_bytes()),
        ("xl/workbook.xml", workbook.as_bytes()),
        ("xl/_rels/workbook.xml.rels", rels.as_bytes()),
        ("xl/styles.xml", styles.as_bytes()),
        ("xl/worksheets/sheet1.xml", one.as_bytes()),
        ("xl/worksheets/sheet2.xml", two.as_bytes()),
    ])
}

/// Each reading thread reuses the last layout it parsed while the next
/// file's layout parts are stored byte for byte the same. A file that
/// differs from the one before in any one of the four parts (its styles,
/// its date system, where its sheets are, where its workbook is) is read
/// as calamine reads it, not with the layout before.
#[test]
fn a_layout_is_reused_only_while_its_four_parts_are_the_same() {
    let package = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#;
    let workbook = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Bieu01" sheetId="1" r:id="rId1"/><sheet name="Xa" sheetId="2" r:id="rId2"/></sheets></workbook>"#;
    let rels = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet2.xml"/></Relationships>"#;
    let styles = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><cellXfs count="2"><xf numFmtId="0"/><xf numFmtId="14"/></cellXfs></styleSheet>"#;
    let base = package_with_layout(package, workbook, rels, styles);
    // Style 1 a number with two decimals instead of a date.
    let number_style = package_with_layout(
        package,
        workbook,
        rels,
        &styles.replace("numFmtId=\"14\"", "numFmtId=\"2\""),
    );
    // Dates counted from 1904.
    let from_1904 = package_with_layout(
        package,
        &workbook.replace("<sheets>", "<workbookPr date1904=\"1\"/><sheets>"),
        rels,
        styles,
    );
    // The two sheets' parts swapped.
    let swapped = package_with_layout(
        package,
        workbook,
        &rels
            .replace("sheet1.xml", "sheetX.xml")
            .replace("sheet2.xml", "sheet1.xml")
            .replace("sheetX.xml", "sheet2.xml"),
        styles,
    );
    // The workbook somewhere this reader does not look: calamine's to read.
    let elsewhere = package_with_layout(
        &package.replace("xl/workbook.xml", "xl/book.xml"),
        workbook,
        rels,
        styles,
    );

    let parsed = || fast::LAYOUTS_PARSED.with(std::cell::Cell::get);
    let sheets = |bytes: &[u8]| match quick_only(bytes) {
        fast::Outcome::Sheets(sheets) => sheets,
        other => panic!("the quick reader did not read the file: {other:?}"),
    };
    let calamine = |bytes: &[u8]| {
        read_workbook_bytes_with(
            bytes.to_vec(),
            &ReadLimits::default(),
            TABLE_HEADER,
            XlsxReader::Calamine,
        )
        .expect("calamine")
        .sheets
    };
    let first = sheets(&base);
    assert_eq!(first, calamine(&base));
    assert!(matches!(first[0].value(0, 0), CellValue::DateTime { .. }), "{first:?}");
    let before = parsed();
    // `quick_only` reads twice: both times with the layout parsed before.
    assert_eq!(sheets(&base), first);
    assert_eq!(parsed(), before, "the same layout parts are parsed again");
    for (what, bytes) in [
        ("number style", &number_style),
        ("1904", &from_1904),
        ("swapped", &swapped),
    ] {
        let before = parsed();
        let read = sheets(bytes);
        assert_eq!(read, calamine(bytes), "{what}");
        assert_ne!(read, first, "{what}: read with the layout before");
        assert_eq!(parsed(), before + 1, "{what}: parsed once, then reused");
        assert_eq!(sheets(&base), first, "{what}: the base file after it");
    }
    assert!(matches!(quick_only(&elsewhere), fast::Outcome::Unsure));
    assert_eq!(sheets(&base), first);
}

#[test]
fn the_worksheet_scanner_reads_plain_sheets_itself_and_leaves_the_rest_to_the_event_reader() {
    // Every sheet of the template and of a file rust_xlsxwriter wrote, and
    // their shared strings.
    assert_eq!(scanned_sheets(&template_bytes()), 3);
    assert!(scanned_strings(&template_bytes()));
    // Shared strings in rich text, or with an entity, a preserved space or
    // an empty item: the first goes to the event reader, the rest are scanned.
    let sst = |items: &str| {
        // The template's first three items replaced by `items`.
        let mut parts = parts_of(&template_bytes());
        for (name, data) in &mut parts {
            if name == "xl/sharedStrings.xml" {
                let old = String::from_utf8(data.clone()).expect("utf-8");
                let starts: Vec<usize> = old.match_indices("<si>").map(|(i, _)| i).collect();
                *data = format!("{}{items}{}", &old[..starts[0]], &old[starts[3]..]).into_bytes();
            }
        }
        let entries: Vec<(&str, &[u8])> = parts.iter().map(|(n, d)| (n.as_str(), d.as_slice())).collect();
        zip_of(&entries)
    };
    let rich = sst(r#"<si><r><t>Kỳ </t></r><r><t>này</t></r></si><si><t>a</t></si><si><t/></si>"#);
    assert!(!scanned_strings(&rich));
    assert_quick_equals_calamine(rich);
    let plain = sst(
        r#"<si><t>A &amp; B &#7875;</t></si><si><t xml:space="preserve"> lề </t></si><si><t>  cắt  </t></si><si/>"#,
    );
    assert!(scanned_strings(&plain));
    assert_quick_equals_calamine(plain);
    // What other writers put in plain sheets: prefixed attributes, single
    // quotes, white space between elements, self-closing rows, cells and
    // values, entities and character references in formulas, shared formulas.
    let head = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:x14ac="http://schemas.microsoft.com/office/spreadsheetml/2009/9/ac"><dimension ref="A1:D4"/>"#;
    let plain = format!(
        r#"{head}<sheetData>
  <row r="1" spans="1:4" x14ac:dyDescent="0.25"><c r="A1" t="s"><v>0</v></c><c r='B1' s='1'><v>42000</v></c><c r="C1"/><c r="D1" t="s"><v/></c></row>
  <row r="2"/>
  <row r="3">
    <c r="A3"><f t="shared" ref="A3:A4" si="0">B3&amp;"&lt;x&gt;"&#x20;</f><v>1</v></c>
    <c t="str"><f>"a" &amp; "b"</f><v>ab</v></c>
    <c><v>-1.5E-3</v></c>
  </row>
  <row><c r="A4"><f t="shared" si="0"/><v>2</v></c><c r="B4" t="b"><v>1</v></c><c r="C4" t="e"><v>#N/A</v></c></row>
</sheetData><mergeCells count="2"><mergeCell ref="A1:B1"/><mergeCell ref='C3:D4' /></mergeCells></worksheet>"#
    );
    let bytes = package_of_sheet(&plain);
    assert_eq!(scanned_sheets(&bytes), 1);
    assert_quick_equals_calamine(bytes.clone());
    let fast::Outcome::Sheets(sheets) = quick_only(&bytes) else {
        panic!("not read")
    };
    assert_eq!(sheets[0].value(0, 0), &CellValue::Text("Mã số".into()));
    assert_eq!(
        sheets[0].get(2, 0).and_then(|c| c.formula.as_deref()),
        Some(r#"B3&"<x>" "#)
    );
    assert_eq!(
        sheets[0].get(3, 0).and_then(|c| c.formula.as_deref()),
        Some(r#"B4&"<x>" "#)
    );
    assert_eq!(sheets[0].value(2, 2), &CellValue::Number(-0.0015));
    assert_eq!(sheets[0].merged.len(), 2);
    // Not plain: the event reader reads them (and calamine what it cannot).
    for not_plain in [
        plain.replace(r#"<row r="2"/>"#, r#"<!-- ghi chú --><row r="2"/>"#),
        plain.replace("<sheetData>", "<x:sheetData>"),
        plain.replace('\n', "\r\n"),
        plain.replace("<v>0</v></c><c r='B1'", "<v>0</v><extLst/></c><c r='B1'"),
        plain.replace(r#"<f>"a" &amp; "b"</f>"#, r#"<f><![CDATA["a" & "b"]]></f>"#),
        plain.replace(
            r#"<c r="A1" t="s"><v>0</v></c>"#,
            r#"<c r="A1" t="inlineStr"><is><t>Mã số</t></is></c>"#,
        ),
        plain.replace("<v>-1.5E-3</v>", "<v>&#45;1.5E-3</v>"),
    ] {
        assert_ne!(not_plain, plain);
        let bytes = package_of_sheet(&not_plain);
        assert_eq!(scanned_sheets(&bytes), 0, "{not_plain}");
        if not_plain.contains("CDATA") {
            // The event reader reads a formula in CDATA; calamine leaves it out.
            continue;
        }
        let read = read_workbook_bytes(bytes.clone(), &ReadLimits::default(), TABLE_HEADER);
        let calamine = read_workbook_bytes_with(bytes, &ReadLimits::default(), TABLE_HEADER, XlsxReader::Calamine);
        assert_eq!(read, calamine, "{not_plain}");
    }
}

/// The quick reader reads `bytes` itself and gives what calamine gives.
fn assert_quick_equals_calamine(bytes: Vec<u8>) {
    let sheets = match quick_only(&bytes) {
        fast::Outcome::Sheets(sheets) => sheets,
        other => panic!("the quick reader did not read the file: {other:?}"),
    };
    let calamine =
        read_workbook_bytes_with(bytes, &ReadLimits::default(), TABLE_HEADER, XlsxReader::Calamine).expect("calamine");
    assert_eq!(sheets, calamine.sheets);
}

#[test]
fn the_quick_reader_reads_the_template_as_calamine_does() {
    assert_quick_equals_calamine(template_bytes());
}

#[test]
fn the_quick_reader_reads_formulas_errors_dates_and_merges_as_calamine_does() {
    let bytes = xlsx_bytes(|sheet| {
        write_merge_and_date(sheet, "Tiêu đề & <tên>");
        let elapsed = rust_xlsxwriter::Format::new().set_num_format("[h]:mm:ss");
        sheet.write_number_with_format(2, 2, 1.5, &elapsed).expect("duration");
        sheet.write_string(3, 0, "  giữ khoảng trắng  ").expect("spaces");
        sheet.write_number(3, 1, 12.25).expect("number");
        sheet.write_boolean(3, 2, true).expect("bool");
        write_formula_cases(sheet, 4);
        sheet.write_formula(8, 0, "=\"a\"&\"b\"").expect("formula");
        sheet.set_formula_result(8, 0, "ab");
        sheet.write_string(1_048_575, 16_383, "xa").expect("far cell");
    });
    assert_quick_equals_calamine(bytes);
}

/// A hand-made package with what rust_xlsxwriter never writes: inline
/// strings, rich text with a phonetic run, cells and rows without a
/// reference, a shared formula, an ISO date cell, a 1904 workbook.
#[test]
fn the_quick_reader_reads_hand_made_constructs_as_calamine_does() {
    let workbook = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><workbookPr date1904="1"/><sheets><sheet name="Bi&#7875;u &amp; 1" sheetId="1" r:id="rId1"/><sheet name="Hidden" sheetId="2" state="hidden" r:id="rId2"/></sheets></workbook>"#;
    let rels = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="/xl/worksheets/sheet2.xml"/></Relationships>"#;
    let strings = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="3" uniqueCount="3"><si><t>Mã số</t></si><si><r><t>Kỳ </t></r><r><rPr><b/></rPr><t xml:space="preserve">này </t></r><rPh sb="0" eb="1"><t>ky</t></rPh></si><si><t/></si></sst>"#;
    let styles = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><numFmts count="1"><numFmt numFmtId="164" formatCode="&quot;ngày&quot; dd"/></numFmts><cellStyleXfs count="1"><xf numFmtId="14"/></cellStyleXfs><cellXfs count="3"><xf numFmtId="0"/><xf numFmtId="164"/><xf numFmtId="14"/></cellXfs></styleSheet>"#;
    let sheet1 = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>
<row r="2"><c t="s"><v>0</v></c><c t="s"><v>1</v></c><c t="s"><v>2</v></c><c t="inlineStr"><is><t> nội tuyến </t></is></c></row>
<row><c r="A3"><v>5</v></c><c r="B3"><f t="shared" ref="B3:B5" si="0">A3*2</f><v>10</v></c></row>
<row r="4"><c r="A4" s="1"><v>42000</v></c><c r="B4"><f t="shared" si="0"/></c><c r="C4" s="2"><v>1</v></c><c r="D4" t="d"><v>2015-06-15T00:00:00</v></c><c r="E4" t="e"><v>#N/A</v></c><c r="F4" t="str"><f>"x"&amp;"y"</f><v>xy</v></c><c r="G4" s="9"><v>7</v></c></row>
<row r="5"><c r="A5" t="b"><v>0</v></c><c r="B5"><f t="shared" si="0"/><v>0</v></c><c r="C5"><v>abc</v></c></row>
</sheetData><mergeCells count="1"><mergeCell ref="B2:C2"/></mergeCells></worksheet>"#;
    let sheet2 = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData><row r="1"><c r="A1"><v>1</v></c></row></sheetData><mergeCells count="1"><mergeCell ref="A1:B1"/></mergeCells></worksheet>"#;
    let content_types = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="xml" ContentType="application/xml"/></Types>"#;
    let package = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#;
    let bytes = zip_of(&[
        ("[Content_Types].xml", content_types.as_bytes()),
        ("_rels/.rels", package.as_bytes()),
        ("xl/workbook.xml", workbook.as_bytes()),
        ("xl/_rels/workbook.xml.rels", rels.as_bytes()),
        ("xl/sharedStrings.xml", strings.as_bytes()),
        ("xl/styles.xml", styles.as_bytes()),
        ("xl/worksheets/sheet1.xml", sheet1.as_bytes()),
        ("xl/worksheets/sheet2.xml", sheet2.as_bytes()),
    ]);
    assert_quick_equals_calamine(bytes.clone());
    // And what it read is what the file says.
    let fast::Outcome::Sheets(sheets) = quick_only(&bytes) else {
        panic!("not read")
    };
    assert_eq!(sheets[0].name, "Biểu & 1");
    assert_eq!(sheets[0].value(1, 1), &CellValue::Text("Kỳnày ".into()));
    assert_eq!(sheets[0].value(1, 3), &CellValue::Text("nội tuyến".into()));
    assert_eq!(sheets[0].get(3, 1).and_then(|c| c.formula.as_deref()), Some("A4*2"));
    assert_eq!(sheets[0].merged.len(), 1);
    assert!(sheets[1].merged.is_empty(), "merges are kept on table sheets only");
}

#[test]
fn the_quick_reader_leaves_what_it_does_not_know_to_calamine() {
    let bytes = xlsx_bytes(|sheet| {
        sheet.write_string(0, 0, "a_x000D_b").expect("escape");
    });
    assert!(matches!(quick_only(&bytes), fast::Outcome::Unsure));
    // The whole read still gives calamine's answer.
    let quick = read_workbook_bytes(bytes.clone(), &ReadLimits::default(), TABLE_HEADER).expect("reads");
    let calamine =
        read_workbook_bytes_with(bytes, &ReadLimits::default(), TABLE_HEADER, XlsxReader::Calamine).expect("reads");
    assert_eq!(quick, calamine);
}

/// The parts of a zip, in order, as (name, bytes).
fn parts_of(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).expect("zip");
    (0..archive.len())
        .map(|i| {
            let mut entry = archive.by_index(i).expect("entry");
            let mut data = Vec::new();
            entry.read_to_end(&mut data).expect("inflate");
            (entry.name().expect("name").to_string(), data)
        })
        .collect()
}

/// One change to a sheet's XML of the kind other programs make: a cell or
/// row without its reference, a comment between elements, two cells of a
/// row swapped, a shared string written inline.
fn mutate_sheet(xml: &str, rng: &mut impl rand_core::Rng) -> String {
    let pick = |rng: &mut dyn rand_core::Rng, n: usize| (rng.next_u64() % n.max(1) as u64) as usize;
    let cells: Vec<usize> = xml.match_indices("<c r=\"").map(|(i, _)| i).collect();
    match rng.next_u64() % 5 {
        0 => {
            // A cell without `r` (its place follows from the one before).
            let at = cells[pick(rng, cells.len())] + 2;
            let end = xml[at..].find("\" ").map_or(at, |e| at + e + 2);
            format!("{}{}", &xml[..at], &xml[end..])
        }
        1 => {
            // Rows without `r`.
            let re_end = |s: &str| s.find('"').map_or(0, |e| e + 1);
            let mut out = String::new();
            let mut rest = xml;
            while let Some(i) = rest.find("<row r=\"") {
                out.push_str(&rest[..i + 4]);
                let after = &rest[i + 8..];
                rest = &after[re_end(after)..];
            }
            out.push_str(rest);
            out
        }
        2 => {
            // A comment between two elements.
            let gaps: Vec<usize> = xml.match_indices("><").map(|(i, _)| i + 1).collect();
            let at = gaps[pick(rng, gaps.len())];
            format!("{}<!-- ghi chú -->{}", &xml[..at], &xml[at..])
        }
        3 => {
            // Two neighbouring cells swapped (out of order).
            let i = pick(rng, cells.len().saturating_sub(1));
            let (a, b) = (cells[i], cells[i + 1]);
            let end_b = xml[b..].find("</c>").map_or(b, |e| b + e + 4);
            let first = &xml[a..b];
            let second = &xml[b..end_b];
            if first.ends_with("</c>") && !second.contains("<row") {
                format!("{}{second}{first}{}", &xml[..a], &xml[end_b..])
            } else {
                xml.to_string()
            }
        }
        _ => {
            // A shared string written inline.
            let shared: Vec<usize> = xml.match_indices(" t=\"s\"><v>").map(|(i, _)| i).collect();
            let at = shared[pick(rng, shared.len())];
            let v_end = xml[at..].find("</v>").map_or(at, |e| at + e + 4);
            format!(
                "{} t=\"inlineStr\"><is><t>nội tuyến &amp; x</t></is>{}",
                &xml[..at],
                &xml[v_end..]
            )
        }
    }
}

#[test]
fn mutated_returns_read_as_calamine_reads_them() {
    use rand_core::SeedableRng;
    let template = parts_of(&template_bytes());
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(6);
    let mut quick_read = 0;
    let mut changed = 0;
    for round in 0..60 {
        let mut parts = template.clone();
        for (name, data) in &mut parts {
            if name == "xl/worksheets/sheet1.xml" {
                let mut xml = String::from_utf8(data.clone()).expect("utf-8");
                for _ in 0..1 + round % 3 {
                    xml = mutate_sheet(&xml, &mut rng);
                }
                if xml.as_bytes() != data.as_slice() {
                    changed += 1;
                }
                *data = xml.into_bytes();
            }
        }
        let entries: Vec<(&str, &[u8])> = parts.iter().map(|(n, d)| (n.as_str(), d.as_slice())).collect();
        let bytes = zip_of(&entries);
        if matches!(quick_only(&bytes), fast::Outcome::Sheets(_)) {
            quick_read += 1;
        }
        let read = read_workbook_bytes(bytes.clone(), &ReadLimits::default(), TABLE_HEADER);
        let calamine = read_workbook_bytes_with(bytes, &ReadLimits::default(), TABLE_HEADER, XlsxReader::Calamine);
        assert_eq!(read, calamine, "round {round}");
    }
    // Most mutations are the quick reader's to read; out-of-order cells are not.
    assert!(changed >= 50, "only {changed} of 60 files were changed");
    assert!(quick_read >= 30, "the quick reader read only {quick_read} of 60");
}

#[test]
fn a_grid_keeps_cells_in_row_then_column_order_whatever_order_they_come_in() {
    let cell = |x: f64| Cell::value(CellValue::Number(x));
    let number = |c: Option<&Cell>| match c.map(|c| &c.value) {
        Some(CellValue::Number(x)) => Some(*x),
        _ => None,
    };
    let mut grid = Grid::default();
    for (pos, x) in [
        ((2, 0), 20.0),
        ((0, 5), 5.0),
        ((1, 1), 11.0),
        ((0, 0), 0.0),
        ((2, 3), 23.0),
    ] {
        grid.insert(pos, cell(x));
    }
    // A second value at a taken position replaces the first.
    grid.insert((1, 1), cell(111.0));
    let order: Vec<(u32, u32)> = grid.iter().map(|(pos, _)| *pos).collect();
    assert_eq!(order, [(0, 0), (0, 5), (1, 1), (2, 0), (2, 3)]);
    assert_eq!(grid.len(), 5);
    assert_eq!(number(grid.get(&(1, 1))), Some(111.0));
    assert_eq!(number(grid.get(&(1, 2))), None);
    if let Some(c) = grid.get_mut(&(0, 5)) {
        c.value = CellValue::Number(55.0);
    }
    assert_eq!(number(grid.get(&(0, 5))), Some(55.0));

    // Ranges as a sorted map gives them: a row, everything below a row, none.
    let positions = |it: Vec<(&(u32, u32), &Cell)>| it.into_iter().map(|(p, _)| *p).collect::<Vec<_>>();
    assert_eq!(
        positions(grid.range((2, 0)..=(2, u32::MAX)).collect()),
        [(2, 0), (2, 3)]
    );
    assert_eq!(positions(grid.range((1, 0)..).collect()), [(1, 1), (2, 0), (2, 3)]);
    assert_eq!(positions(grid.range((0, 1)..(2, 0)).collect()), [(0, 5), (1, 1)]);
    assert!(grid.range((3, 0)..).next().is_none());
    assert!(grid.range((2, 5)..=(1, 0)).next().is_none());

    // Cells gathered in order make a grid as they are; out of order or a
    // position twice, none (the fast reader then hands the file on).
    let ordered = vec![((0, 0), cell(1.0)), ((0, 1), cell(2.0)), ((1, 0), cell(3.0))];
    let grid = Grid::from_ordered(ordered).expect("in order");
    assert_eq!(number(grid.get(&(1, 0))), Some(3.0));
    assert!(Grid::from_ordered(vec![((0, 1), cell(1.0)), ((0, 0), cell(2.0))]).is_none());
    assert!(Grid::from_ordered(vec![((0, 1), cell(1.0)), ((0, 1), cell(2.0))]).is_none());
}
