//! The quick path of `read` for `.xlsx`/`.xlsm`: one streaming pass over
//! each part a reader needs (the workbook and its relationships, the shared
//! strings, the number formats of `styles.xml`, each worksheet), straight
//! from the inflated bytes, with no dense range and no second pass for the
//! merged areas. The layout parts (relationships, workbook, styles) are
//! the same in every return made from one template: a thread parses them
//! once and reuses what they say while the next file's are stored byte for
//! byte the same ([`Layout`]).
//!
//! It gives exactly what the calamine path gives (the same cells, values,
//! formulas, dates and merged areas; `tests.rs` checks both on every kind of
//! file the test suite makes), and it knows where its knowledge ends: on any
//! construct it does not handle — an unknown cell type, an `_xHHHH_` escape,
//! a sheet part that is not where the relationships say, XML it cannot parse
//! — it answers [`Outcome::Unsure`] and the caller reads the file with
//! calamine instead. A file is therefore never judged by this reader alone
//! unless it reads cleanly.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io::{Cursor, Read};
use std::rc::Rc;
use std::sync::Arc;

use calamine::{DataRef, ExcelDateTime, ExcelDateTimeType};
use quick_xml::events::{BytesRef, BytesStart, Event};
use quick_xml::Reader;

mod scan;

use super::{
    from_data_ref, has_table_header, Cap, Cell, CellValue, Grid, Merge, ReadLimits, ReadProblem, Sheet, TableHeader,
};

/// What the quick path made of a file.
#[derive(Debug)]
pub(super) enum Outcome {
    /// The worksheets, in workbook order.
    Sheets(Vec<Sheet>),
    /// A cap of [`ReadLimits`] was exceeded: the answer, whatever reads it.
    Problem(ReadProblem),
    /// Something this reader does not handle: read the file with calamine.
    Unsure,
}

/// Why a pass stopped early.
enum Stop {
    Problem(ReadProblem),
    Unsure,
}

impl From<quick_xml::Error> for Stop {
    fn from(_: quick_xml::Error) -> Self {
        Stop::Unsure
    }
}

impl From<quick_xml::events::attributes::AttrError> for Stop {
    fn from(_: quick_xml::events::attributes::AttrError) -> Self {
        Stop::Unsure
    }
}

impl From<zip::result::ZipError> for Stop {
    fn from(_: zip::result::ZipError) -> Self {
        Stop::Unsure
    }
}

impl From<std::io::Error> for Stop {
    fn from(_: std::io::Error) -> Self {
        Stop::Unsure
    }
}

type Archive<'b> = zip::ZipArchive<Cursor<&'b [u8]>>;

/// Reads the worksheets of an xlsx/xlsm package (already opened, its format
/// and declared sizes already checked).
pub(super) fn read(archive: &mut Archive<'_>, limits: &ReadLimits, tables: TableHeader) -> Outcome {
    match read_sheets(archive, limits, tables) {
        Ok(sheets) => Outcome::Sheets(sheets),
        Err(Stop::Problem(problem)) => Outcome::Problem(problem),
        Err(Stop::Unsure) => Outcome::Unsure,
    }
}

/// A number format class of one cell style (`cellXfs` entry).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Other,
    DateTime,
    TimeDelta,
}

/// What every sheet needs from the rest of the package.
struct Book {
    strings: Vec<Arc<str>>,
    layout: Rc<Layout>,
}

/// What a package's relationships, workbook and styles say: the worksheets
/// in order, the date system and the number format class of each cell
/// style. Every return made from one template has these four parts byte for
/// byte the same, so each reading thread keeps the last layout it parsed
/// and reuses it while the next file's four parts, as stored in the zip,
/// are identical.
#[derive(Debug)]
struct Layout {
    entries: Vec<SheetEntry>,
    is_1904: bool,
    formats: Vec<Format>,
}

/// The parts a [`Layout`] is read from.
const LAYOUT_PARTS: [&str; 4] = [
    "_rels/.rels",
    "xl/_rels/workbook.xml.rels",
    "xl/workbook.xml",
    "xl/styles.xml",
];

thread_local! {
    /// This thread's libdeflate state, made once.
    static INFLATER: RefCell<libdeflater::Decompressor> = RefCell::new(libdeflater::Decompressor::new());
    /// The last layout this thread parsed, with its key.
    static LAST_LAYOUT: RefCell<Option<(LayoutKey, Rc<Layout>)>> = const { RefCell::new(None) };
}

/// The layout parts exactly as stored: each one's compression method, CRC
/// and sizes, and their compressed bytes. Equal keys inflate to equal
/// parts, so they parse to the same layout.
#[derive(Debug, PartialEq)]
struct LayoutKey {
    parts: [Option<(zip::CompressionMethod, u32, u64, u64)>; 4],
    raw: Vec<u8>,
}

impl LayoutKey {
    fn of(archive: &mut Archive<'_>, indices: &[Option<usize>; 4]) -> Result<LayoutKey, Stop> {
        let mut key = LayoutKey {
            parts: [None; 4],
            raw: Vec::with_capacity(2048),
        };
        for (slot, index) in key.parts.iter_mut().zip(indices) {
            let Some(index) = *index else { continue };
            let mut raw = archive.by_index_raw(index)?;
            *slot = Some((raw.compression(), raw.crc32(), raw.size(), raw.compressed_size()));
            raw.read_to_end(&mut key.raw)?;
        }
        Ok(key)
    }
}

/// Finds parts by name, without regard to case as Excel does (the exact
/// name is tried first: it is nearly always right).
struct Parts<'p, 'b> {
    archive: &'p mut Archive<'b>,
    lowercase: Option<HashMap<String, usize>>,
}

impl Parts<'_, '_> {
    fn index(&mut self, name: &str) -> Option<usize> {
        if let Some(index) = self.archive.index_for_name(name) {
            return Some(index);
        }
        let archive = &*self.archive;
        let names = self.lowercase.get_or_insert_with(|| {
            (0..archive.len())
                .filter_map(|i| {
                    archive
                        .name_for_index(i)
                        .and_then(|n| n.ok())
                        .map(|n| (n.to_lowercase(), i))
                })
                .collect()
        });
        names.get(&name.to_lowercase()).copied()
    }

    /// The inflated part at `index`, inflated whole by libdeflate into its
    /// declared size (which the caller has held to the cap) and checked
    /// against its CRC. A part that does not inflate to exactly its declared
    /// size and CRC is left to calamine, whose zip reader says what is wrong.
    fn inflate(&mut self, index: usize) -> Result<Vec<u8>, Stop> {
        let mut raw = self.archive.by_index_raw(index)?;
        let size = usize::try_from(raw.size()).map_err(|_| Stop::Unsure)?;
        let crc = raw.crc32();
        let method = raw.compression();
        let mut stored = Vec::with_capacity(usize::try_from(raw.compressed_size()).unwrap_or(0).min(1 << 24));
        raw.read_to_end(&mut stored)?;
        let bytes = match method {
            zip::CompressionMethod::Stored => stored,
            zip::CompressionMethod::Deflated => {
                let mut bytes = vec![0; size];
                let inflated = INFLATER
                    .with_borrow_mut(|inflater| inflater.deflate_decompress(&stored, &mut bytes))
                    .map_err(|_| Stop::Unsure)?;
                if inflated != size {
                    return Err(Stop::Unsure);
                }
                bytes
            }
            _ => return Err(Stop::Unsure),
        };
        if bytes.len() != size || libdeflater::crc32(&bytes) != crc {
            return Err(Stop::Unsure);
        }
        Ok(bytes)
    }

    fn part(&mut self, index: Option<usize>) -> Result<Option<Vec<u8>>, Stop> {
        index.map(|i| self.inflate(i)).transpose()
    }

    /// The package's layout: the thread's last one if the parts are the
    /// same, else parsed (and kept).
    fn layout(&mut self) -> Result<Rc<Layout>, Stop> {
        let indices = LAYOUT_PARTS.map(|name| self.index(name));
        let key = LayoutKey::of(self.archive, &indices)?;
        let known = LAST_LAYOUT.with_borrow(|last| {
            last.as_ref()
                .filter(|(last_key, _)| *last_key == key)
                .map(|(_, layout)| Rc::clone(layout))
        });
        if let Some(layout) = known {
            return Ok(layout);
        }
        let layout = Rc::new(self.parse_layout(indices)?);
        #[cfg(test)]
        LAYOUTS_PARSED.with(|n| n.set(n.get() + 1));
        LAST_LAYOUT.set(Some((key, Rc::clone(&layout))));
        Ok(layout)
    }

    fn parse_layout(&mut self, [package, workbook_rels, workbook, styles]: [Option<usize>; 4]) -> Result<Layout, Stop> {
        // The package must name `xl/workbook.xml` as its document, the one
        // place this reader looks (other layouts are calamine's to read).
        let package = self.part(package)?.ok_or(Stop::Unsure)?;
        let document = relationships(&package)?
            .into_values()
            .find(|(_, kind)| kind == "officeDocument")
            .ok_or(Stop::Unsure)?;
        if document.0.trim_start_matches('/') != "xl/workbook.xml" {
            return Err(Stop::Unsure);
        }
        let relationships = match self.part(workbook_rels)? {
            Some(xml) => relationships(&xml)?,
            None => return Err(Stop::Unsure),
        };
        let workbook = self.part(workbook)?.ok_or(Stop::Unsure)?;
        let (entries, is_1904) = workbook_sheets(&workbook, &relationships)?;
        let formats = match self.part(styles)? {
            Some(xml) => formats(&xml)?,
            None => Vec::new(),
        };
        Ok(Layout {
            entries,
            is_1904,
            formats,
        })
    }
}

fn read_sheets(archive: &mut Archive<'_>, limits: &ReadLimits, tables: TableHeader) -> Result<Vec<Sheet>, Stop> {
    let mut parts = Parts {
        archive,
        lowercase: None,
    };
    let layout = parts.layout()?;
    let strings_at = parts.index("xl/sharedStrings.xml");
    let strings = match parts.part(strings_at)? {
        Some(xml) => shared_strings(&xml)?,
        None => Vec::new(),
    };
    let book = Book {
        strings,
        layout: Rc::clone(&layout),
    };
    let mut sheets = Vec::with_capacity(layout.entries.len());
    for entry in &layout.entries {
        let SheetEntry::Worksheet { name, path } = entry else {
            continue;
        };
        let at = parts.index(path).ok_or(Stop::Unsure)?;
        let xml = parts.inflate(at)?;
        sheets.push(worksheet(name, &xml, &book, limits, tables)?);
    }
    Ok(sheets)
}

fn reader(xml: &[u8]) -> Reader<&[u8]> {
    let mut reader = Reader::from_reader(xml);
    let config = reader.config_mut();
    config.check_end_names = false;
    config.trim_text(false);
    config.check_comments = false;
    config.expand_empty_elements = true;
    reader
}

/// The raw value of an attribute (by local name, ignoring any namespace prefix).
fn attr<'a>(e: &'a BytesStart<'_>, name: &str) -> Result<Option<std::borrow::Cow<'a, str>>, Stop> {
    for a in e.attributes().with_checks(false) {
        let a = a?;
        if a.key.local_name().as_ref() == name {
            return Ok(Some(a.value));
        }
    }
    Ok(None)
}

/// An attribute value as text, with XML entities resolved.
fn attr_text(e: &BytesStart<'_>, name: &str) -> Result<Option<String>, Stop> {
    for a in e.attributes() {
        let a = a?;
        if a.key.local_name().as_ref() == name {
            return Ok(Some(
                quick_xml::escape::unescape(&a.value)
                    .map_err(|_| Stop::Unsure)?
                    .into_owned(),
            ));
        }
    }
    Ok(None)
}

/// `Id` → (`Target`, last segment of `Type`) of `xl/_rels/workbook.xml.rels`.
fn relationships(xml: &[u8]) -> Result<HashMap<String, (String, String)>, Stop> {
    let mut reader = reader(xml);
    let mut out = HashMap::new();
    loop {
        match reader.read_event()? {
            Event::Start(e) if e.local_name().as_ref() == "Relationship" => {
                let (Some(id), Some(target), Some(typ)) =
                    (attr_text(&e, "Id")?, attr_text(&e, "Target")?, attr_text(&e, "Type")?)
                else {
                    return Err(Stop::Unsure);
                };
                let kind = typ.rsplit('/').next().unwrap_or_default().to_string();
                out.insert(id, (target, kind));
            }
            Event::Eof => return Ok(out),
            _ => {}
        }
    }
}

#[derive(Debug)]
enum SheetEntry {
    Worksheet { name: String, path: String },
    Other,
}

/// The sheets of `xl/workbook.xml` in order, with their part names, and
/// whether dates count from 1904.
fn workbook_sheets(
    xml: &[u8],
    relationships: &HashMap<String, (String, String)>,
) -> Result<(Vec<SheetEntry>, bool), Stop> {
    let mut reader = reader(xml);
    let mut sheets = Vec::new();
    let mut is_1904 = false;
    loop {
        match reader.read_event()? {
            Event::Start(e) if e.local_name().as_ref() == "sheet" => {
                let name = attr_text(&e, "name")?.unwrap_or_default();
                let id = attr_text(&e, "id")?.unwrap_or_default();
                if let Some(state) = attr(&e, "state")? {
                    if !matches!(state.as_ref(), "visible" | "hidden" | "veryHidden") {
                        return Err(Stop::Unsure);
                    }
                }
                let (target, kind) = relationships.get(&id).ok_or(Stop::Unsure)?;
                let path = match target.strip_prefix('/') {
                    Some(absolute) => absolute.to_string(),
                    None => format!("xl/{target}"),
                };
                if path.contains("..") || path.contains('\\') {
                    return Err(Stop::Unsure);
                }
                sheets.push(match kind.as_str() {
                    "worksheet" => SheetEntry::Worksheet { name, path },
                    "chartsheet" | "dialogsheet" => SheetEntry::Other,
                    _ => return Err(Stop::Unsure),
                });
            }
            Event::Start(e) if e.local_name().as_ref() == "workbookPr" => {
                if let Some(v) = attr(&e, "date1904")? {
                    is_1904 = v.as_ref() == "1" || v.as_ref() == "true";
                }
            }
            Event::Eof => return Ok((sheets, is_1904)),
            _ => {}
        }
    }
}

/// Resolves an entity reference inside text (`&amp;`, `&#xA0;`, …).
fn push_entity(entity: &BytesRef<'_>, out: &mut String) -> Result<(), Stop> {
    let text = match entity.as_ref() {
        "amp" => "&",
        "lt" => "<",
        "gt" => ">",
        "quot" => "\"",
        "apos" => "'",
        _ => {
            let c = entity.resolve_char_ref()?.ok_or(Stop::Unsure)?;
            out.push(c);
            return Ok(());
        }
    };
    out.push_str(text);
    Ok(())
}

/// Whether `text` holds an `_xHHHH_` escape (left to calamine).
fn has_escape(text: &str) -> bool {
    text.as_bytes().windows(7).any(super::starts_with_escape)
}

/// The text of a string item (`<si>` or `<is>`), read up to its end tag:
/// the runs of rich text joined, phonetic runs left out, and text without
/// `xml:space="preserve"` trimmed of ASCII white space.
fn string_item(reader: &mut Reader<&[u8]>, start: &BytesStart<'_>) -> Result<String, Stop> {
    let mut out: Option<String> = None;
    let mut phonetic = false;
    loop {
        match reader.read_event()? {
            Event::Start(e) if e.local_name().as_ref() == "rPh" => phonetic = true,
            Event::End(e) if e.local_name().as_ref() == "rPh" => phonetic = false,
            Event::End(e) if e.name() == start.name() => return Ok(out.unwrap_or_default()),
            Event::Start(e) if e.local_name().as_ref() == "t" && !phonetic => {
                let preserve = matches!(attr(&e, "space")?, Some(v) if v.as_ref() == "preserve");
                let mut value = element_text(reader, &e)?;
                if has_escape(&value) {
                    return Err(Stop::Unsure);
                }
                if !preserve {
                    // Most texts have no white space around them: no copy then.
                    let trimmed = value.trim_matches([' ', '\t', '\r', '\n']);
                    if trimmed.len() != value.len() {
                        value = trimmed.to_string();
                    }
                }
                match &mut out {
                    Some(text) => text.push_str(&value),
                    None => out = Some(value),
                }
            }
            Event::Eof => return Err(Stop::Unsure),
            _ => {}
        }
    }
}

fn shared_strings(xml: &[u8]) -> Result<Vec<Arc<str>>, Stop> {
    // Plain items (one `<t>` each) are scanned directly; rich text and
    // anything else is read event by event.
    match scanned_strings(xml) {
        Err(Stop::Unsure) => shared_strings_events(xml),
        read => read,
    }
}

#[cfg(not(test))]
fn scanned_strings(xml: &[u8]) -> Result<Vec<Arc<str>>, Stop> {
    scan::shared_strings(xml)
}

#[cfg(test)]
fn scanned_strings(xml: &[u8]) -> Result<Vec<Arc<str>>, Stop> {
    if EVENTS_ONLY.with(std::cell::Cell::get) {
        return Err(Stop::Unsure);
    }
    let read = scan::shared_strings(xml);
    if read.is_ok() {
        SCANNED_STRINGS.with(|n| n.set(n.get() + 1));
    }
    read
}

fn shared_strings_events(xml: &[u8]) -> Result<Vec<Arc<str>>, Stop> {
    let mut reader = reader(xml);
    let mut strings = Vec::new();
    loop {
        match reader.read_event()? {
            Event::Start(e) if e.local_name().as_ref() == "sst" => {
                if let Some(count) = attr(&e, "uniqueCount")? {
                    if let Ok(n) = count.parse::<usize>() {
                        strings.reserve(n.min(1 << 20));
                    }
                }
            }
            Event::Start(e) if e.local_name().as_ref() == "si" => {
                strings.push(Arc::from(string_item(&mut reader, &e)?));
            }
            Event::Eof => return Ok(strings),
            _ => {}
        }
    }
}

/// The number format class of every cell style, in `cellXfs` order.
fn formats(xml: &[u8]) -> Result<Vec<Format>, Stop> {
    let mut reader = reader(xml);
    let mut custom: HashMap<String, String> = HashMap::new();
    let mut formats = Vec::new();
    let mut in_cell_xfs = false;
    loop {
        match reader.read_event()? {
            Event::Start(e) if e.local_name().as_ref() == "numFmt" => {
                if let (Some(id), Some(code)) = (attr(&e, "numFmtId")?, attr_text(&e, "formatCode")?) {
                    custom.insert(id.into_owned(), code);
                }
            }
            Event::Start(e) if e.local_name().as_ref() == "cellXfs" => in_cell_xfs = true,
            Event::End(e) if e.local_name().as_ref() == "cellXfs" => in_cell_xfs = false,
            Event::Start(e) if in_cell_xfs && e.local_name().as_ref() == "xf" => {
                formats.push(match attr(&e, "numFmtId")? {
                    None => Format::Other,
                    Some(id) => match custom.get(id.as_ref()) {
                        Some(code) => custom_format(code),
                        None => builtin_format(&id),
                    },
                });
            }
            Event::Eof => return Ok(formats),
            _ => {}
        }
    }
}

/// The class of a built-in number format (ECMA-376 18.8.30; the East Asian
/// ids are dates and times in every locale).
fn builtin_format(id: &str) -> Format {
    match id {
        "14" | "15" | "16" | "17" | "18" | "19" | "20" | "21" | "22" | "45" | "47" => Format::DateTime,
        "27" | "28" | "29" | "30" | "31" | "32" | "33" | "34" | "35" | "36" | "50" | "51" | "52" | "53" | "54"
        | "55" | "56" | "57" | "58" => Format::DateTime,
        "46" => Format::TimeDelta,
        _ => Format::Other,
    }
}

/// Whether a custom number format shows a date, a time or a duration: a
/// date or time letter outside quotes, escapes and brackets in the first
/// section, or an elapsed-time bracket (`[h]`).
fn custom_format(code: &str) -> Format {
    let mut escaped = false;
    let mut quoted = false;
    let mut brackets = 0u8;
    let mut prev = ' ';
    let mut hms = false;
    let mut ap = false;
    for s in code.chars() {
        match (s, escaped, quoted, ap, brackets) {
            (_, true, ..) => escaped = false,
            ('_' | '\\' | '*', ..) => escaped = true,
            ('"', _, true, _, _) => quoted = false,
            (_, _, true, _, _) => (),
            ('"', _, _, _, _) => quoted = true,
            (';', ..) => return Format::Other,
            ('[', ..) => brackets += 1,
            (']', .., 1) if hms => return Format::TimeDelta,
            (']', ..) => brackets = brackets.saturating_sub(1),
            ('a' | 'A', _, _, false, 0) => ap = true,
            ('p' | 'm' | '/' | 'P' | 'M', _, _, true, 0) => return Format::DateTime,
            ('d' | 'm' | 'h' | 'y' | 's' | 'D' | 'M' | 'H' | 'Y' | 'S', _, _, false, 0) => return Format::DateTime,
            _ => {
                if !(hms && s.eq_ignore_ascii_case(&prev)) {
                    hms = prev == '[' && matches!(s, 'm' | 'h' | 's' | 'M' | 'H' | 'S');
                }
            }
        }
        prev = s;
    }
    Format::Other
}

/// (row, column), 0-based, of an A1 reference; `None` unless it is one.
fn cell_ref(text: &[u8]) -> Option<(u32, u32)> {
    let mut col: u32 = 0;
    let mut i = 0;
    while i < text.len() && text[i].is_ascii_alphabetic() {
        col = col
            .checked_mul(26)?
            .checked_add(u32::from(text[i].to_ascii_uppercase() - b'A') + 1)?;
        i += 1;
    }
    let row = row_number(&text[i..])?;
    if i == 0 || col == 0 {
        return None;
    }
    Some((row, col - 1))
}

/// A 0-based row from its 1-based digits.
fn row_number(digits: &[u8]) -> Option<u32> {
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let row = digits
        .iter()
        .try_fold(0u32, |row, d| row.checked_mul(10)?.checked_add(u32::from(d - b'0')))?;
    row.checked_sub(1)
}

/// The first and last cell of a range (`A1:G1`, or one cell).
fn range_ref(text: &[u8]) -> Option<((u32, u32), (u32, u32))> {
    match text.iter().position(|&b| b == b':') {
        Some(colon) => Some((cell_ref(&text[..colon])?, cell_ref(&text[colon + 1..])?)),
        None => {
            let cell = cell_ref(text)?;
            Some((cell, cell))
        }
    }
}

/// A shared formula as written in its anchor cell.
struct SharedFormula {
    text: String,
    anchor: (u32, u32),
}

/// Text content of an element up to its end tag (formulas, `str`/`d` values).
fn element_text(reader: &mut Reader<&[u8]>, e: &BytesStart<'_>) -> Result<String, Stop> {
    let mut out = String::new();
    loop {
        match reader.read_event()? {
            Event::Text(t) => out.push_str(&t.xml10_content()),
            Event::CData(t) => out.push_str(&t.xml10_content()),
            Event::GeneralRef(r) => push_entity(&r, &mut out)?,
            Event::End(end) if end.name() == e.name() => return Ok(out),
            Event::Eof => return Err(Stop::Unsure),
            _ => {}
        }
    }
}

/// The elements of a worksheet part the reader acts on.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Name {
    SheetData,
    Row,
    Cell,
    MergeCell,
    Other,
}

impl Name {
    fn of(local: &str) -> Name {
        match local {
            "c" => Name::Cell,
            "row" => Name::Row,
            "sheetData" => Name::SheetData,
            "mergeCell" => Name::MergeCell,
            _ => Name::Other,
        }
    }
}

fn worksheet(name: &str, xml: &[u8], book: &Book, limits: &ReadLimits, tables: TableHeader) -> Result<Sheet, Stop> {
    // The plain layout nearly every file has is scanned directly; anything
    // else is read event by event.
    let (cells, merged) = match scanned(xml, book, limits) {
        Err(Stop::Unsure) => worksheet_events(xml, book, limits)?,
        read => read?,
    };
    let mut sheet = Sheet {
        name: name.to_string(),
        // Both readers gather cells in order or stop unsure.
        cells: Grid::from_ordered(cells).ok_or(Stop::Unsure)?,
        merged: Vec::new(),
    };
    // As on the calamine path, merged areas are kept on the sheets that
    // carry the return's table.
    if has_table_header(&sheet, tables) {
        sheet.merged = merged;
    }
    Ok(sheet)
}

#[cfg(not(test))]
fn scanned(xml: &[u8], book: &Book, limits: &ReadLimits) -> Result<SheetParts, Stop> {
    scan::worksheet(xml, book, limits)
}

#[cfg(test)]
thread_local! {
    /// Tests: read every worksheet and shared string table event by event
    /// (this thread only).
    pub(super) static EVENTS_ONLY: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// Tests: how many worksheets the scanner read (this thread only).
    pub(super) static SCANNED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    /// Tests: how many shared string tables the scanner read (this thread only).
    pub(super) static SCANNED_STRINGS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    /// Tests: how many layouts this thread parsed.
    pub(super) static LAYOUTS_PARSED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

#[cfg(test)]
fn scanned(xml: &[u8], book: &Book, limits: &ReadLimits) -> Result<SheetParts, Stop> {
    if EVENTS_ONLY.with(std::cell::Cell::get) {
        return Err(Stop::Unsure);
    }
    let read = scan::worksheet(xml, book, limits);
    if read.is_ok() {
        SCANNED.with(|n| n.set(n.get() + 1));
    }
    read
}

/// The cells of a worksheet in the order they come, and its merged areas.
type SheetParts = (Vec<((u32, u32), Cell)>, Vec<Merge>);

/// Gathers a sheet's cells: in row order (cells come in row order in every
/// file seen; a file whose cells come out of order, or twice, is
/// calamine's to read), the empty ones left out, within the cap.
struct Cells<'l> {
    cells: Vec<((u32, u32), Cell)>,
    limits: &'l ReadLimits,
}

impl<'l> Cells<'l> {
    fn new(limits: &'l ReadLimits) -> Self {
        Cells {
            cells: Vec::new(),
            limits,
        }
    }

    fn push(&mut self, pos: (u32, u32), value: CellValue, formula: Option<String>) -> Result<(), Stop> {
        let formula = formula.filter(|f| !f.trim().is_empty());
        if value.is_empty() && formula.is_none() {
            return Ok(());
        }
        if self.cells.len() as u64 >= self.limits.max_sheet_cells {
            return Err(Stop::Problem(ReadProblem::TooLarge {
                cap: Cap::SheetCells,
                limit: self.limits.max_sheet_cells,
                found: self.cells.len() as u64 + 1,
            }));
        }
        if self.cells.last().is_some_and(|(last, _)| *last >= pos) {
            return Err(Stop::Unsure);
        }
        self.cells.push((pos, Cell { value, formula }));
        Ok(())
    }
}

/// A worksheet read event by event.
fn worksheet_events(xml: &[u8], book: &Book, limits: &ReadLimits) -> Result<SheetParts, Stop> {
    let mut reader = reader(xml);
    let mut cells = Cells::new(limits);
    let mut merged = Vec::new();
    let mut shared: Vec<Option<SharedFormula>> = Vec::new();
    let mut row_index: u32 = 0;
    let mut col_index: u32 = 0;
    let mut in_data = false;
    let mut saw_data = false;
    loop {
        // The local name is looked at once per event (cells are most of them).
        let event = reader.read_event()?;
        let local = match &event {
            Event::Start(e) => Name::of(e.local_name().as_ref()),
            Event::End(e) => Name::of(e.local_name().as_ref()),
            Event::Eof => break,
            _ => continue,
        };
        match (event, local) {
            (Event::Start(_), Name::SheetData) => {
                in_data = true;
                saw_data = true;
            }
            (Event::End(_), Name::SheetData) => in_data = false,
            (Event::Start(e), Name::Row) if in_data => {
                if let Some(r) = attr(&e, "r")? {
                    row_index = row_number(r.as_bytes()).ok_or(Stop::Unsure)?;
                }
            }
            (Event::End(_), Name::Row) if in_data => {
                row_index = row_index.checked_add(1).ok_or(Stop::Unsure)?;
                col_index = 0;
            }
            (Event::Start(e), Name::Cell) if in_data => {
                let mut position = None;
                let mut style = None;
                let mut typ = None;
                for a in e.attributes().with_checks(false) {
                    let a = a?;
                    match a.key.local_name().as_ref() {
                        "r" => position = Some(cell_ref(a.value.as_bytes()).ok_or(Stop::Unsure)?),
                        "s" => style = Some(a.value),
                        "t" => typ = Some(a.value),
                        _ => {}
                    }
                }
                let pos = match position {
                    Some((row, col)) => {
                        col_index = col;
                        (row, col)
                    }
                    None => (row_index, col_index),
                };
                let (value, formula) = cell(
                    &mut reader,
                    &e,
                    pos,
                    style.as_deref(),
                    typ.as_deref(),
                    book,
                    &mut shared,
                )?;
                cells.push(pos, value, formula)?;
                col_index = col_index.checked_add(1).ok_or(Stop::Unsure)?;
            }
            (Event::Start(e), Name::MergeCell) => {
                if let Some(r) = attr(&e, "ref")? {
                    let (first, last) = range_ref(r.as_bytes()).ok_or(Stop::Unsure)?;
                    merged.push(Merge { first, last });
                }
            }
            _ => {}
        }
    }
    if !saw_data {
        return Err(Stop::Unsure);
    }
    Ok((cells.cells, merged))
}

/// Reads one `<c>` element after its start tag: its value and formula.
fn cell(
    reader: &mut Reader<&[u8]>,
    c: &BytesStart<'_>,
    pos: (u32, u32),
    style: Option<&str>,
    typ: Option<&str>,
    book: &Book,
    shared: &mut Vec<Option<SharedFormula>>,
) -> Result<(CellValue, Option<String>), Stop> {
    let mut value = CellValue::Empty;
    let mut formula = None;
    loop {
        match reader.read_event()? {
            Event::Start(e) => match e.local_name().as_ref() {
                "f" => formula = read_formula(reader, &e, pos, shared)?,
                "is" => {
                    let text = string_item(reader, &e)?;
                    value = from_data_ref(DataRef::String(text));
                }
                "v" if matches!(typ, Some("inlineStr" | "is")) => {
                    element_text(reader, &e)?;
                    value = CellValue::Empty;
                }
                "v" => {
                    // Nearly always one text event: read without a copy.
                    value = match reader.read_event()? {
                        Event::Text(t) => {
                            let text = t.xml10_content();
                            match reader.read_event()? {
                                Event::End(end) if end.name() == e.name() => typed_value(&text, style, typ, book)?,
                                _ => return Err(Stop::Unsure),
                            }
                        }
                        Event::End(end) if end.name() == e.name() => typed_value("", style, typ, book)?,
                        _ => return Err(Stop::Unsure),
                    };
                }
                _ => return Err(Stop::Unsure),
            },
            Event::End(e) if e.name() == c.name() => return Ok((value, formula)),
            Event::Eof => return Err(Stop::Unsure),
            _ => {}
        }
    }
}

fn read_formula(
    reader: &mut Reader<&[u8]>,
    f: &BytesStart<'_>,
    pos: (u32, u32),
    shared: &mut Vec<Option<SharedFormula>>,
) -> Result<Option<String>, Stop> {
    let text = element_text(reader, f)?;
    let attributes = FormulaAttributes {
        shared: attr(f, "t")?.as_deref() == Some("shared"),
        index: attr(f, "si")?.map(|si| si.into_owned()),
        range: attr(f, "ref")?.map(|range| range.into_owned()),
    };
    formula(text, &attributes, pos, shared)
}

/// The attributes of an `<f>` element that matter.
#[derive(Default)]
struct FormulaAttributes {
    /// `t="shared"`.
    shared: bool,
    /// `si`: the shared formula's index.
    index: Option<String>,
    /// `ref`: the range a shared formula's anchor covers.
    range: Option<String>,
}

/// A cell's formula from its `<f>` element: the text as written, or a
/// shared formula expanded from its anchor.
fn formula(
    text: String,
    f: &FormulaAttributes,
    pos: (u32, u32),
    shared: &mut Vec<Option<SharedFormula>>,
) -> Result<Option<String>, Stop> {
    if !f.shared {
        return Ok(Some(text));
    }
    let index: usize = match &f.index {
        Some(si) => si.parse().map_err(|_| Stop::Unsure)?,
        None => return Err(Stop::Unsure),
    };
    if index > 1 << 20 {
        return Err(Stop::Unsure);
    }
    match &f.range {
        Some(range) => {
            let (anchor, _) = range_ref(range.as_bytes()).ok_or(Stop::Unsure)?;
            if shared.len() <= index {
                shared.resize_with(index + 1, || None);
            }
            shared[index] = Some(SharedFormula {
                text: text.clone(),
                anchor,
            });
            Ok(Some(text))
        }
        None => match shared.get(index).and_then(Option::as_ref) {
            Some(template) => calamine::expand_shared_formula(&template.text, template.anchor, pos)
                .map(Some)
                .map_err(|_| Stop::Unsure),
            None => Ok(None),
        },
    }
}

/// The value of a `<v>` by the cell's type and style.
fn typed_value(v: &str, style: Option<&str>, typ: Option<&str>, book: &Book) -> Result<CellValue, Stop> {
    let data = match typ {
        Some("s") => {
            if v.is_empty() {
                return Ok(CellValue::Empty);
            }
            let index: usize = v.parse().unwrap_or(0);
            let text = book.strings.get(index).ok_or(Stop::Unsure)?;
            // The table's text itself, shared, not a copy.
            return Ok(super::text_value(Arc::clone(text)));
        }
        Some("b") => match v.trim() {
            "" => DataRef::Empty,
            "0" => DataRef::Bool(false),
            "1" => DataRef::Bool(true),
            t if t.eq_ignore_ascii_case("false") => DataRef::Bool(false),
            t if t.eq_ignore_ascii_case("true") => DataRef::Bool(true),
            _ => return Err(Stop::Unsure),
        },
        Some("d") => DataRef::DateTimeIso(v.to_string()),
        Some("e") => match v {
            "#DIV/0!" | "#N/A" | "#NAME?" | "#NULL!" | "#NUM!" | "#REF!" | "#VALUE!" => {
                return Ok(CellValue::Error(v.to_string()));
            }
            _ => return Err(Stop::Unsure),
        },
        Some("str") => {
            if has_escape(v) {
                return Err(Stop::Unsure);
            }
            DataRef::String(v.to_string())
        }
        Some("n") | None => {
            if v.is_empty() {
                return Ok(CellValue::Empty);
            }
            let Ok(x) = v.parse::<f64>() else {
                return match typ {
                    None if !has_escape(v) => Ok(from_data_ref(DataRef::String(v.to_string()))),
                    _ => Err(Stop::Unsure),
                };
            };
            let format = match style {
                Some(s) => book.layout.formats.get(s.parse::<usize>().unwrap_or(0)).copied(),
                None => Some(Format::Other),
            };
            match format {
                Some(Format::DateTime) => {
                    DataRef::DateTime(ExcelDateTime::new(x, ExcelDateTimeType::DateTime, book.layout.is_1904))
                }
                Some(Format::TimeDelta) => {
                    DataRef::DateTime(ExcelDateTime::new(x, ExcelDateTimeType::TimeDelta, book.layout.is_1904))
                }
                _ => DataRef::Float(x),
            }
        }
        Some(_) => return Err(Stop::Unsure),
    };
    Ok(from_data_ref(data))
}
