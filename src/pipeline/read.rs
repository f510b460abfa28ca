//! Stage `read`: a district's file → a plain, sparse grid of cells per sheet,
//! nothing domain-specific. Every format calamine reads (xlsx, xlsm, xlsb,
//! xls, ods) comes out the same shape, so `extract` never cares which program
//! saved the file. `.xlsx`/`.xlsm` are read by the quick streaming reader of
//! `read/fast.rs` (the same cells as calamine, at a fraction of the cost), which
//! hands any file it is not sure of to calamine.
//!
//! Files arrive from outside the office, so the reader trusts nothing: the
//! format is sniffed from the content (an extension may lie), zip-based files
//! are inflated once under a byte cap before calamine sees them (zip bombs),
//! encrypted files are recognised by their container, cells are kept sparse
//! (a stray cell at XFD1048576 costs one entry, not a dense range), and a
//! panic inside the parser becomes a "corrupt file" answer, never a crash.
//! Every way a file can fail is a [`ReadProblem`] that turns into a rule-1
//! finding with Vietnamese and English text.
//!
//! Residual risk, written down: calamine's `.xls` and `.ods` readers build a
//! dense range inside their parser before we can look at it (bounded by the
//! format for `.xls`, 65 536 × 256 cells, and by calamine's 100-million-cell
//! cap for `.ods`); only `.xlsx`/`.xlsb` are streamed cell by cell.

use std::fmt;
use std::io::{Cursor, Read};
use std::ops::{Bound, RangeBounds};
use std::path::Path;
use std::sync::Arc;

use calamine::{Data, DataRef, Ods, OdsError, Reader, SheetType, Xls, XlsError, Xlsb, Xlsx};
use chrono::NaiveDateTime;

use crate::config::IngestConfig;
use crate::domain::Severity;
use crate::findings::Finding;

/// Rule number of "the file opens as a workbook" in the form document.
pub const RULE_WORKBOOK_OPENS: u32 = 1;

/// Caps that keep one hostile or broken file from exhausting the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadLimits {
    /// Largest file accepted, in bytes (checked before reading it into memory).
    pub max_file_bytes: u64,
    /// Largest total of inflated bytes of a zip-based workbook (xlsx, xlsm,
    /// xlsb, ods), declared and actually inflated.
    pub max_inflated_bytes: u64,
    /// Largest number of non-empty cells kept for one sheet.
    pub max_sheet_cells: u64,
}

impl Default for ReadLimits {
    fn default() -> Self {
        ReadLimits::from_ingest(&IngestConfig::default())
    }
}

impl ReadLimits {
    /// The limits configured under `[ingest]` in `baocao.toml`. The file-size
    /// cap has no key of its own: a file larger than the inflate cap cannot be
    /// a sensible return in any format.
    pub fn from_ingest(ingest: &IngestConfig) -> ReadLimits {
        let inflated = ingest.max_inflated_mib.saturating_mul(1024 * 1024);
        ReadLimits {
            max_file_bytes: inflated,
            max_inflated_bytes: inflated,
            max_sheet_cells: ingest.max_sheet_cells,
        }
    }
}

/// What the reader must be told about the form (its labels are `extract`'s
/// business, not the reader's): whether a cell's text is the header of the
/// return's table. Merged areas are read only on a sheet holding such a
/// cell, because finding them reads the sheet's XML a second time.
#[derive(Debug, Clone, Copy)]
pub struct TableHeader(pub fn(&str) -> bool);

/// The value of one cell, as stored in the file.
#[derive(Debug, Clone, PartialEq)]
pub enum CellValue {
    /// No value (also an empty text, and a formula whose result was never stored).
    Empty,
    Number(f64),
    /// Text, shared with the workbook's table of strings when it came from
    /// there (a return shows the same labels in every file).
    Text(Arc<str>),
    Bool(bool),
    /// An Excel error value, as Excel shows it: `#REF!`, `#DIV/0!`, …
    Error(String),
    /// A cell formatted as a date or time: the serial number as stored and,
    /// when it is a date, the date it stands for.
    DateTime {
        serial: f64,
        datetime: Option<NaiveDateTime>,
    },
}

impl CellValue {
    /// Whether the cell shows nothing.
    pub fn is_empty(&self) -> bool {
        matches!(self, CellValue::Empty)
    }

    /// The value as a reader would quote it in a message: numbers plainly,
    /// text as typed, blank as "".
    pub fn display(&self) -> String {
        match self {
            CellValue::Empty => String::new(),
            CellValue::Number(x) => format_number(*x),
            CellValue::Text(t) => t.to_string(),
            CellValue::Bool(true) => "TRUE".into(),
            CellValue::Bool(false) => "FALSE".into(),
            CellValue::Error(e) => e.clone(),
            CellValue::DateTime { datetime: Some(d), .. } => d.format("%d/%m/%Y").to_string(),
            CellValue::DateTime { serial, .. } => format_number(*serial),
        }
    }
}

/// A number without a trailing `.0` and without float noise (`12.5`, `1234`).
pub fn format_number(x: f64) -> String {
    if x.is_finite() && x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        let text = format!("{:.6}", x);
        let text = text.trim_end_matches('0').trim_end_matches('.');
        text.to_string()
    }
}

/// One non-empty cell: its stored value and, for a formula cell, the formula.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    pub value: CellValue,
    /// The formula text without its leading `=`, when the cell holds one.
    pub formula: Option<String>,
}

impl Cell {
    /// A plain value cell.
    pub fn value(value: CellValue) -> Cell {
        Cell { value, formula: None }
    }

    /// A formula whose stored result is missing: the file was never recalculated.
    pub fn is_formula_without_result(&self) -> bool {
        self.formula.is_some() && self.value.is_empty()
    }
}

/// A merged area of a sheet (0-based, inclusive); its value lives in `first`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Merge {
    pub first: (u32, u32),
    pub last: (u32, u32),
}

/// One worksheet as a sparse grid: only cells with a value or a formula.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sheet {
    pub name: String,
    /// (row, column), 0-based → cell; ordered by row, then column.
    pub cells: Grid,
    /// Merged areas, where the format reports them (xlsx, xls).
    pub merged: Vec<Merge>,
}

/// A sheet's cells by (row, column), in that order, each position once:
/// a sorted vector, since readers meet cells in order (a lookup is a
/// binary search). A map of the same shape cost a sort and a tree per sheet.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Grid {
    cells: Vec<((u32, u32), Cell)>,
}

impl Grid {
    /// The cells found in order, each position once, as the fast reader
    /// gathers them; `None` when they are not.
    pub fn from_ordered(cells: Vec<((u32, u32), Cell)>) -> Option<Grid> {
        cells
            .windows(2)
            .all(|pair| pair[0].0 < pair[1].0)
            .then_some(Grid { cells })
    }

    fn find(&self, pos: (u32, u32)) -> Result<usize, usize> {
        self.cells.binary_search_by(|(p, _)| p.cmp(&pos))
    }

    /// The cell at `pos`.
    pub fn get(&self, pos: &(u32, u32)) -> Option<&Cell> {
        self.find(*pos).ok().map(|i| &self.cells[i].1)
    }

    /// The cell at `pos`, to change.
    pub fn get_mut(&mut self, pos: &(u32, u32)) -> Option<&mut Cell> {
        self.find(*pos).ok().map(|i| &mut self.cells[i].1)
    }

    /// Puts `cell` at `pos`, replacing a cell there.
    pub fn insert(&mut self, pos: (u32, u32), cell: Cell) {
        if self.cells.last().is_none_or(|(last, _)| *last < pos) {
            self.cells.push((pos, cell));
            return;
        }
        match self.find(pos) {
            Ok(i) => self.cells[i].1 = cell,
            Err(i) => self.cells.insert(i, (pos, cell)),
        }
    }

    pub fn len(&self) -> usize {
        self.cells.len()
    }

    pub fn is_empty(&self) -> bool {
        self.cells.is_empty()
    }

    /// Every cell with its position, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&(u32, u32), &Cell)> {
        self.into_iter()
    }

    /// Every cell, in order.
    pub fn values(&self) -> impl Iterator<Item = &Cell> {
        self.cells.iter().map(|(_, cell)| cell)
    }

    /// The cells whose positions fall in `range`, in order.
    pub fn range(&self, range: impl RangeBounds<(u32, u32)>) -> impl Iterator<Item = (&(u32, u32), &Cell)> {
        let start = match range.start_bound() {
            Bound::Included(p) => self.cells.partition_point(|(q, _)| q < p),
            Bound::Excluded(p) => self.cells.partition_point(|(q, _)| q <= p),
            Bound::Unbounded => 0,
        };
        let end = match range.end_bound() {
            Bound::Included(p) => self.cells.partition_point(|(q, _)| q <= p),
            Bound::Excluded(p) => self.cells.partition_point(|(q, _)| q < p),
            Bound::Unbounded => self.cells.len(),
        };
        self.cells[start..end.max(start)].iter().map(as_pair)
    }
}

impl<'a> IntoIterator for &'a Grid {
    type Item = (&'a (u32, u32), &'a Cell);
    type IntoIter = std::iter::Map<std::slice::Iter<'a, ((u32, u32), Cell)>, fn(&'a ((u32, u32), Cell)) -> Self::Item>;

    fn into_iter(self) -> Self::IntoIter {
        self.cells.iter().map(as_pair)
    }
}

/// A grid's entry as a map's iterator gives it.
fn as_pair(entry: &((u32, u32), Cell)) -> (&(u32, u32), &Cell) {
    (&entry.0, &entry.1)
}

static EMPTY_CELL: CellValue = CellValue::Empty;

impl Sheet {
    /// The cell at (row, col), when it holds something.
    pub fn get(&self, row: u32, col: u32) -> Option<&Cell> {
        self.cells.get(&(row, col))
    }

    /// The value at (row, col); `Empty` when there is none.
    pub fn value(&self, row: u32, col: u32) -> &CellValue {
        self.get(row, col).map_or(&EMPTY_CELL, |c| &c.value)
    }

    /// The cells of one row, left to right.
    pub fn row(&self, row: u32) -> impl Iterator<Item = (u32, &Cell)> {
        self.cells
            .range((row, 0)..=(row, u32::MAX))
            .map(|(&(_, col), cell)| (col, cell))
    }

    /// Whether the sheet holds no non-empty cell.
    pub fn is_blank(&self) -> bool {
        self.cells.values().all(|c| c.value.is_empty() && c.formula.is_none())
    }

    /// The merged area whose top-left cell is (row, col).
    pub fn merge_at(&self, row: u32, col: u32) -> Option<&Merge> {
        self.merged.iter().find(|m| m.first == (row, col))
    }
}

/// Which container the workbook came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkbookFormat {
    /// Office Open XML (xlsx, xlsm).
    Xlsx,
    /// Excel binary workbook (xlsb).
    Xlsb,
    /// Excel 97–2003 (xls).
    Xls,
    /// OpenDocument spreadsheet (ods).
    Ods,
}

/// A workbook read into memory.
#[derive(Debug, Clone, PartialEq)]
pub struct Workbook {
    pub format: WorkbookFormat,
    /// Worksheets in workbook order (chart and macro sheets are left out).
    pub sheets: Vec<Sheet>,
}

impl Workbook {
    /// The sheet with this exact name.
    pub fn sheet(&self, name: &str) -> Option<&Sheet> {
        self.sheets.iter().find(|s| s.name == name)
    }

    /// Sheet names in workbook order.
    pub fn sheet_names(&self) -> Vec<String> {
        self.sheets.iter().map(|s| s.name.clone()).collect()
    }
}

/// What a file that is not a workbook appears to be, to tell the district
/// what they sent instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Pdf,
    /// A Word document (docx).
    WordDocument,
    /// A Word 97–2003 document (doc).
    OldWordDocument,
    /// A PowerPoint presentation (pptx or ppt).
    Presentation,
    /// An OpenDocument text or presentation (odt, odp).
    OpenDocumentText,
    /// A zip archive that holds no workbook.
    ZipArchive,
    /// An OLE compound file that holds no workbook.
    OleFile,
    /// A web page, often a system export saved as `.xls`.
    Html,
    /// An Excel 2003 XML spreadsheet, which the reader does not take.
    SpreadsheetXml2003,
    /// Some other XML document.
    Xml,
    Rtf,
    Image,
    /// Text (CSV and the like).
    PlainText,
    Unknown,
}

impl FileKind {
    /// Vietnamese words for what the file is.
    pub fn vietnamese(self) -> &'static str {
        match self {
            FileKind::Pdf => "tài liệu PDF",
            FileKind::WordDocument => "văn bản Word (.docx)",
            FileKind::OldWordDocument => "văn bản Word 97–2003 (.doc)",
            FileKind::Presentation => "bản trình chiếu PowerPoint",
            FileKind::OpenDocumentText => "văn bản OpenDocument (.odt/.odp)",
            FileKind::ZipArchive => "tệp nén (.zip) không chứa bảng tính",
            FileKind::OleFile => "tệp Office không phải bảng tính",
            FileKind::Html => "trang web (HTML) được đặt đuôi Excel",
            FileKind::SpreadsheetXml2003 => "bảng tính dạng XML của Excel 2003",
            FileKind::Xml => "tệp XML",
            FileKind::Rtf => "văn bản RTF",
            FileKind::Image => "tệp hình ảnh",
            FileKind::PlainText => "tệp văn bản thuần (ví dụ CSV)",
            FileKind::Unknown => "tệp không rõ định dạng",
        }
    }

    /// English words for what the file is.
    pub fn english(self) -> &'static str {
        match self {
            FileKind::Pdf => "a PDF document",
            FileKind::WordDocument => "a Word document (.docx)",
            FileKind::OldWordDocument => "a Word 97–2003 document (.doc)",
            FileKind::Presentation => "a PowerPoint presentation",
            FileKind::OpenDocumentText => "an OpenDocument text or presentation",
            FileKind::ZipArchive => "a zip archive without a workbook",
            FileKind::OleFile => "an OLE compound file without a workbook",
            FileKind::Html => "a web page (HTML) with a spreadsheet extension",
            FileKind::SpreadsheetXml2003 => "an Excel 2003 XML spreadsheet",
            FileKind::Xml => "an XML file",
            FileKind::Rtf => "an RTF document",
            FileKind::Image => "an image",
            FileKind::PlainText => "plain text (such as CSV)",
            FileKind::Unknown => "a file of unknown format",
        }
    }
}

/// Which cap a file exceeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cap {
    /// [`ReadLimits::max_file_bytes`].
    FileBytes,
    /// [`ReadLimits::max_inflated_bytes`], by the sizes the zip declares.
    DeclaredInflatedBytes,
    /// [`ReadLimits::max_inflated_bytes`], counted while inflating.
    InflatedBytes,
    /// [`ReadLimits::max_sheet_cells`].
    SheetCells,
}

impl Cap {
    fn english(self) -> &'static str {
        match self {
            Cap::FileBytes => "file size (max_file_bytes)",
            Cap::DeclaredInflatedBytes => "declared uncompressed size (max_inflated_mib)",
            Cap::InflatedBytes => "uncompressed size (max_inflated_mib)",
            Cap::SheetCells => "non-empty cells in one sheet (max_sheet_cells)",
        }
    }

    fn vietnamese(self) -> &'static str {
        match self {
            Cap::FileBytes => "dung lượng tệp",
            Cap::DeclaredInflatedBytes | Cap::InflatedBytes => "dung lượng sau khi giải nén",
            Cap::SheetCells => "số ô có dữ liệu trong một trang tính",
        }
    }
}

/// Why a file could not be read as a workbook. Each maps to a rule-1 finding.
#[derive(Debug, Clone, PartialEq)]
pub enum ReadProblem {
    /// The file could not be read from disk at all.
    Unreadable { detail: String },
    /// The content is something else than a workbook.
    NotAWorkbook { looks_like: FileKind },
    /// It starts like a workbook but is damaged or cut short.
    Corrupt { detail: String },
    /// Opening it needs a password.
    Encrypted,
    /// No worksheet, or no non-empty cell on any.
    Empty { detail: String },
    /// A cap of [`ReadLimits`] was exceeded.
    TooLarge { cap: Cap, limit: u64, found: u64 },
}

impl fmt::Display for ReadProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.english())
    }
}

impl ReadProblem {
    /// What went wrong, in English, for the log.
    pub fn english(&self) -> String {
        match self {
            ReadProblem::Unreadable { detail } => format!("the file could not be read: {detail}"),
            ReadProblem::NotAWorkbook { looks_like } => format!(
                "the file is not a workbook: it looks like {}; send the return as .xlsx, .xls or .ods",
                looks_like.english()
            ),
            ReadProblem::Corrupt { detail } => {
                format!("the workbook is damaged or incomplete and cannot be opened ({detail})")
            }
            ReadProblem::Encrypted => {
                "the workbook is encrypted with a password and cannot be read; remove the password to open and send it again"
                    .into()
            }
            ReadProblem::Empty { detail } => format!("the workbook is empty: {detail}"),
            ReadProblem::TooLarge { cap, limit, found } => format!(
                "the file is too large to process safely: {} is {found}, above the limit of {limit}",
                cap.english()
            ),
        }
    }

    /// What went wrong, in Vietnamese, for the district.
    pub fn vietnamese(&self) -> String {
        match self {
            ReadProblem::Unreadable { detail } => {
                format!("Không đọc được tệp ({detail}). Đề nghị gửi lại tệp.")
            }
            ReadProblem::NotAWorkbook { looks_like } => format!(
                "Tệp gửi đến không phải là bảng tính Excel mà là {}. Đề nghị gửi biểu báo cáo dạng tệp Excel (.xlsx, .xls) hoặc .ods.",
                looks_like.vietnamese()
            ),
            ReadProblem::Corrupt { .. } => "Tệp bảng tính bị hỏng hoặc không đầy đủ (có thể do tải về hoặc sao chép bị gián đoạn) nên không mở được. Đề nghị mở lại tệp trên máy của đơn vị, lưu lại và gửi lại.".into(),
            ReadProblem::Encrypted => "Tệp được đặt mật khẩu mở nên phần mềm không đọc được. Đề nghị gỡ mật khẩu mở tệp (vẫn có thể giữ chế độ khóa trang tính) rồi gửi lại.".into(),
            ReadProblem::Empty { .. } => "Tệp bảng tính không có dữ liệu (không có trang tính nào hoặc mọi trang đều trống). Đề nghị kiểm tra lại tệp đã gửi.".into(),
            ReadProblem::TooLarge { cap, limit, found } => format!(
                "Tệp quá lớn để xử lý an toàn: {} là {found}, vượt giới hạn {limit}. Biểu báo cáo thông thường chỉ vài chục KB; đề nghị kiểm tra tệp (xóa các ô, hình ảnh thừa) và gửi lại.",
                cap.vietnamese()
            ),
        }
    }

    /// The rule-1 finding for this problem, for the file `file`.
    pub fn to_finding(&self, file: &str, severity: Severity) -> Finding {
        let finding = Finding::new(RULE_WORKBOOK_OPENS, severity, file, self.vietnamese(), self.english());
        match self {
            ReadProblem::TooLarge { limit, found, .. } => {
                finding.value(found.to_string()).expected(format!("≤ {limit}"))
            }
            ReadProblem::NotAWorkbook { looks_like } => finding.value(looks_like.english()),
            _ => finding,
        }
    }
}

/// Reads a workbook file of any format calamine understands, whatever its
/// extension says.
///
/// # Errors
/// A [`ReadProblem`] saying why the file is not a readable workbook.
pub fn read_workbook(path: &Path, limits: &ReadLimits, tables: TableHeader) -> Result<Workbook, ReadProblem> {
    let size = std::fs::metadata(path)
        .map_err(|e| ReadProblem::Unreadable { detail: e.to_string() })?
        .len();
    if size > limits.max_file_bytes {
        return Err(ReadProblem::TooLarge {
            cap: Cap::FileBytes,
            limit: limits.max_file_bytes,
            found: size,
        });
    }
    let bytes = std::fs::read(path).map_err(|e| ReadProblem::Unreadable { detail: e.to_string() })?;
    read_workbook_bytes(bytes, limits, tables)
}

/// Reads a workbook from its bytes (see [`read_workbook`]).
///
/// # Errors
/// A [`ReadProblem`] saying why the bytes are not a readable workbook.
pub fn read_workbook_bytes(bytes: Vec<u8>, limits: &ReadLimits, tables: TableHeader) -> Result<Workbook, ReadProblem> {
    read_workbook_bytes_with(bytes, limits, tables, XlsxReader::Quick)
}

/// Which reader takes `.xlsx`/`.xlsm` files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XlsxReader {
    /// The streaming reader of [`fast`], falling back to calamine on
    /// anything it does not handle (the default).
    Quick,
    /// calamine only (to compare the two).
    Calamine,
}

/// [`read_workbook_bytes`], choosing the xlsx reader.
///
/// # Errors
/// A [`ReadProblem`] saying why the bytes are not a readable workbook.
pub fn read_workbook_bytes_with(
    bytes: Vec<u8>,
    limits: &ReadLimits,
    tables: TableHeader,
    xlsx_reader: XlsxReader,
) -> Result<Workbook, ReadProblem> {
    if bytes.is_empty() {
        return Err(ReadProblem::Empty {
            detail: "the file has 0 bytes".into(),
        });
    }
    if bytes.len() as u64 > limits.max_file_bytes {
        return Err(ReadProblem::TooLarge {
            cap: Cap::FileBytes,
            limit: limits.max_file_bytes,
            found: bytes.len() as u64,
        });
    }
    let format = match sniff(&bytes) {
        Sniffed::Zip => {
            let mut archive = zip::ZipArchive::new(Cursor::new(&bytes[..])).map_err(zip_error)?;
            let format = zip_workbook_format(&mut archive)?;
            check_zip_inflation(&mut archive, limits)?;
            if format == WorkbookFormat::Xlsx && xlsx_reader == XlsxReader::Quick {
                // A reader bug on a hostile file must cost one file, not the batch.
                match contain::contain(|| fast::read(&mut archive, limits, tables)) {
                    Ok(fast::Outcome::Sheets(sheets)) => return finish(Workbook { format, sheets }),
                    Ok(fast::Outcome::Problem(problem)) => return Err(problem),
                    Ok(fast::Outcome::Unsure) | Err(_) => {}
                }
            }
            format
        }
        Sniffed::Ole => {
            if is_encrypted_ole(&bytes) {
                return Err(ReadProblem::Encrypted);
            }
            match ole_kind(&bytes) {
                Some(kind) => return Err(ReadProblem::NotAWorkbook { looks_like: kind }),
                None => WorkbookFormat::Xls,
            }
        }
        Sniffed::Other(kind) => return Err(ReadProblem::NotAWorkbook { looks_like: kind }),
    };
    // A parser bug on a hostile file must cost one file, not the batch.
    let parsed = contain::contain(|| parse(format, bytes, limits, tables));
    let workbook = parsed.unwrap_or_else(|_| {
        Err(ReadProblem::Corrupt {
            detail: "the spreadsheet reader failed on this file".into(),
        })
    })?;
    finish(workbook)
}

/// A workbook with no worksheet, or only blank ones, is empty.
fn finish(workbook: Workbook) -> Result<Workbook, ReadProblem> {
    if workbook.sheets.is_empty() {
        return Err(ReadProblem::Empty {
            detail: "no worksheet".into(),
        });
    }
    if workbook.sheets.iter().all(Sheet::is_blank) {
        return Err(ReadProblem::Empty {
            detail: "no sheet holds a non-empty cell".into(),
        });
    }
    Ok(workbook)
}

/// The container a file's first bytes announce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sniffed {
    /// A zip archive (xlsx, xlsm, xlsb, ods — or docx, pptx, odt, …).
    Zip,
    /// An OLE compound file (xls — or doc, ppt, an encrypted xlsx, …).
    Ole,
    /// Something that is no workbook container.
    Other(FileKind),
}

const OLE_MAGIC: [u8; 8] = [0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];

/// Tells the container from the content, never from the file name.
pub fn sniff(bytes: &[u8]) -> Sniffed {
    if bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06") || bytes.starts_with(b"PK\x07\x08") {
        return Sniffed::Zip;
    }
    if bytes.starts_with(&OLE_MAGIC) {
        return Sniffed::Ole;
    }
    Sniffed::Other(other_kind(bytes))
}

fn other_kind(bytes: &[u8]) -> FileKind {
    let head = &bytes[..bytes.len().min(4096)];
    let head_text = String::from_utf8_lossy(head);
    let trimmed = head_text.trim_start_matches('\u{feff}').trim_start();
    let lower = trimmed.to_lowercase();
    if head.starts_with(b"%PDF") {
        FileKind::Pdf
    } else if head.starts_with(b"{\\rtf") {
        FileKind::Rtf
    } else if head.starts_with(b"\x89PNG")
        || head.starts_with(&[0xFF, 0xD8, 0xFF])
        || head.starts_with(b"GIF8")
        || head.starts_with(b"BM")
    {
        FileKind::Image
    } else if lower.starts_with("<!doctype html") || lower.starts_with("<html") || lower.contains("<table") {
        FileKind::Html
    } else if lower.starts_with("<?xml") || lower.starts_with('<') {
        if lower.contains("urn:schemas-microsoft-com:office:spreadsheet") || lower.contains("progid=\"excel.sheet\"") {
            FileKind::SpreadsheetXml2003
        } else if lower.contains("<html") {
            FileKind::Html
        } else {
            FileKind::Xml
        }
    } else if std::str::from_utf8(head).is_ok() && !head.contains(&0) {
        FileKind::PlainText
    } else {
        FileKind::Unknown
    }
}

/// Whether an OLE compound file is an encrypted Office Open XML package
/// (what Excel writes for "Encrypt with Password"): its directory names the
/// `EncryptionInfo` and `EncryptedPackage` streams (UTF-16LE).
pub fn is_encrypted_ole(bytes: &[u8]) -> bool {
    bytes.starts_with(&OLE_MAGIC)
        && (contains_utf16(bytes, "EncryptedPackage") || contains_utf16(bytes, "EncryptionInfo"))
}

/// For an OLE file that is clearly another Office document, what it is.
fn ole_kind(bytes: &[u8]) -> Option<FileKind> {
    if contains_utf16(bytes, "Workbook") || contains_utf16(bytes, "Book") {
        None
    } else if contains_utf16(bytes, "WordDocument") {
        Some(FileKind::OldWordDocument)
    } else if contains_utf16(bytes, "PowerPoint Document") {
        Some(FileKind::Presentation)
    } else {
        // Let the xls reader judge: an unusual writer may name things oddly.
        None
    }
}

fn contains_utf16(haystack: &[u8], needle: &str) -> bool {
    let pattern: Vec<u8> = needle.encode_utf16().flat_map(u16::to_le_bytes).collect();
    haystack.windows(pattern.len()).any(|w| w == pattern.as_slice())
}

fn zip_error(e: zip::result::ZipError) -> ReadProblem {
    match e {
        zip::result::ZipError::UnsupportedArchive(msg) if msg == zip::result::ZipError::PASSWORD_REQUIRED => {
            ReadProblem::Encrypted
        }
        zip::result::ZipError::InvalidPassword => ReadProblem::Encrypted,
        other => ReadProblem::Corrupt {
            detail: other.to_string(),
        },
    }
}

/// Which workbook a zip holds, from its entry names.
fn zip_workbook_format(archive: &mut zip::ZipArchive<Cursor<&[u8]>>) -> Result<WorkbookFormat, ReadProblem> {
    let names: Vec<String> = archive
        .file_names()
        .filter_map(Result::ok)
        .map(|n| n.to_lowercase())
        .collect();
    let has = |name: &str| names.iter().any(|n| n == name);
    if has("xl/workbook.xml") {
        return Ok(WorkbookFormat::Xlsx);
    }
    if has("xl/workbook.bin") {
        return Ok(WorkbookFormat::Xlsb);
    }
    if has("content.xml") && (has("mimetype") || has("meta-inf/manifest.xml")) {
        let mut mimetype = String::new();
        if let Ok(mut file) = archive.by_name("mimetype") {
            let _ = file.by_ref().take(200).read_to_string(&mut mimetype);
        }
        if mimetype.is_empty() || mimetype.contains("spreadsheet") {
            return Ok(WorkbookFormat::Ods);
        }
        if mimetype.contains("encrypted") {
            return Err(ReadProblem::Encrypted);
        }
        return Err(ReadProblem::NotAWorkbook {
            looks_like: FileKind::OpenDocumentText,
        });
    }
    let looks_like = if has("word/document.xml") {
        FileKind::WordDocument
    } else if names.iter().any(|n| n.starts_with("ppt/")) {
        FileKind::Presentation
    } else if has("[content_types].xml") || names.iter().any(|n| n.starts_with("xl/")) {
        // An Office package whose workbook part is missing: a damaged workbook.
        return Err(ReadProblem::Corrupt {
            detail: "the package has no workbook part".into(),
        });
    } else {
        FileKind::ZipArchive
    };
    Err(ReadProblem::NotAWorkbook { looks_like })
}

/// Rejects a zip whose entries declare more inflated bytes than the cap. A
/// bomb that declares small sizes and lies is stopped by the zip reader
/// itself while calamine reads it (see the comment below).
fn check_zip_inflation(archive: &mut zip::ZipArchive<Cursor<&[u8]>>, limits: &ReadLimits) -> Result<(), ReadProblem> {
    let cap = limits.max_inflated_bytes;
    let mut declared: u64 = 0;
    for i in 0..archive.len() {
        let entry = archive.by_index_raw(i).map_err(zip_error)?;
        declared = declared.saturating_add(entry.size());
        if declared > cap {
            return Err(ReadProblem::TooLarge {
                cap: Cap::DeclaredInflatedBytes,
                limit: cap,
                found: declared,
            });
        }
    }
    // Declared sizes are enough: the zip reader calamine uses (the same
    // crate) refuses to inflate an entry past its declared size, so a bomb
    // that lies about its size fails as corrupt while it is being read, and
    // the whole file is never inflated twice.
    Ok(())
}

fn parse(
    format: WorkbookFormat,
    bytes: Vec<u8>,
    limits: &ReadLimits,
    tables: TableHeader,
) -> Result<Workbook, ReadProblem> {
    let sheets = match format {
        WorkbookFormat::Xlsx => read_xlsx(bytes, limits, tables)?,
        WorkbookFormat::Xlsb => read_xlsb(bytes, limits)?,
        WorkbookFormat::Xls => read_xls(bytes, limits)?,
        WorkbookFormat::Ods => read_ods(bytes, limits)?,
    };
    Ok(Workbook { format, sheets })
}

fn corrupt(e: impl fmt::Display) -> ReadProblem {
    ReadProblem::Corrupt { detail: e.to_string() }
}

/// The names of the worksheets (chart, dialog and macro sheets carry no return).
fn worksheet_names(meta: &[calamine::Sheet]) -> Vec<String> {
    meta.iter()
        .filter(|s| s.typ == SheetType::WorkSheet)
        .map(|s| s.name.clone())
        .collect()
}

/// Collects cells of one sheet, refusing beyond the cell cap.
struct SheetBuilder<'a> {
    sheet: Sheet,
    limits: &'a ReadLimits,
}

impl<'a> SheetBuilder<'a> {
    fn new(name: &str, limits: &'a ReadLimits) -> Self {
        SheetBuilder {
            sheet: Sheet {
                name: name.to_string(),
                ..Sheet::default()
            },
            limits,
        }
    }

    fn put(&mut self, pos: (u32, u32), value: CellValue, formula: Option<String>) -> Result<(), ReadProblem> {
        let formula = formula.filter(|f| !f.trim().is_empty());
        if value.is_empty() && formula.is_none() {
            return Ok(());
        }
        match self.sheet.cells.get_mut(&pos) {
            Some(cell) => {
                if cell.value.is_empty() {
                    cell.value = value;
                }
                if cell.formula.is_none() {
                    cell.formula = formula;
                }
            }
            None => {
                if self.sheet.cells.len() as u64 >= self.limits.max_sheet_cells {
                    return Err(ReadProblem::TooLarge {
                        cap: Cap::SheetCells,
                        limit: self.limits.max_sheet_cells,
                        found: self.sheet.cells.len() as u64 + 1,
                    });
                }
                self.sheet.cells.insert(pos, Cell { value, formula });
            }
        }
        Ok(())
    }

    fn set_formula(&mut self, pos: (u32, u32), formula: String) -> Result<(), ReadProblem> {
        self.put(pos, CellValue::Empty, Some(formula))
    }
}

fn read_xlsx(bytes: Vec<u8>, limits: &ReadLimits, tables: TableHeader) -> Result<Vec<Sheet>, ReadProblem> {
    let mut book: Xlsx<_> = Xlsx::new(Cursor::new(bytes)).map_err(corrupt)?;
    let names = worksheet_names(book.sheets_metadata());
    let mut sheets = Vec::with_capacity(names.len());
    for name in names {
        let mut builder = SheetBuilder::new(&name, limits);
        {
            // Streaming keeps only the cells present in the XML, whatever
            // dimension the sheet declares.
            let mut reader = book.worksheet_cells_reader(&name).map_err(corrupt)?;
            while let Some(record) = reader.next_cell_with_formula().map_err(corrupt)? {
                builder.put(record.pos, from_data_ref(record.value), record.formula)?;
            }
        }
        // Merged areas matter only on a sheet with the return's table (a
        // value cell merged with its neighbour); finding them reads the
        // sheet's XML a second time, so other sheets skip it.
        if has_table_header(&builder.sheet, tables) {
            if let Ok(merges) = book.merge_cells_by_sheet_name(&name) {
                builder.sheet.merged = merges_of(merges);
            }
        }
        sheets.push(builder.sheet);
    }
    Ok(sheets)
}

/// calamine's merged areas as the sheet keeps them.
fn merges_of(areas: Vec<calamine::Dimensions>) -> Vec<Merge> {
    areas
        .into_iter()
        .map(|d| Merge {
            first: d.start,
            last: d.end,
        })
        .collect()
}

/// Whether a sheet holds the header of the return's table.
fn has_table_header(sheet: &Sheet, tables: TableHeader) -> bool {
    sheet.cells.values().any(|cell| match &cell.value {
        CellValue::Text(text) => (tables.0)(text),
        _ => false,
    })
}

fn read_xlsb(bytes: Vec<u8>, limits: &ReadLimits) -> Result<Vec<Sheet>, ReadProblem> {
    let mut book: Xlsb<_> = Xlsb::new(Cursor::new(bytes)).map_err(corrupt)?;
    let names = worksheet_names(book.sheets_metadata());
    let mut sheets = Vec::with_capacity(names.len());
    for name in names {
        let mut builder = SheetBuilder::new(&name, limits);
        {
            let mut reader = book.worksheet_cells_reader(&name).map_err(corrupt)?;
            while let Some(cell) = reader.next_cell().map_err(corrupt)? {
                let pos = cell.get_position();
                builder.put(pos, from_data_ref(cell.get_value().clone()), None)?;
            }
        }
        {
            let mut reader = book.worksheet_cells_reader(&name).map_err(corrupt)?;
            while let Some(cell) = reader.next_formula().map_err(corrupt)? {
                let pos = cell.get_position();
                builder.set_formula(pos, cell.get_value().clone())?;
            }
        }
        sheets.push(builder.sheet);
    }
    Ok(sheets)
}

fn read_xls(bytes: Vec<u8>, limits: &ReadLimits) -> Result<Vec<Sheet>, ReadProblem> {
    let mut book: Xls<_> = match Xls::new(Cursor::new(bytes)) {
        Ok(book) => book,
        Err(XlsError::Password) => return Err(ReadProblem::Encrypted),
        Err(e) => return Err(corrupt(e)),
    };
    let names = worksheet_names(book.sheets_metadata());
    let mut sheets = Vec::with_capacity(names.len());
    for name in names {
        let values = book.worksheet_range(&name).map_err(corrupt)?;
        let formulas = book.worksheet_formula(&name).map_err(corrupt)?;
        let mut builder = dense_to_sparse(&name, &values, &formulas, limits)?;
        drop(values);
        if let Ok(merges) = book.merge_cells_by_sheet_name(&name) {
            builder.sheet.merged = merges_of(merges);
        }
        sheets.push(builder.sheet);
    }
    Ok(sheets)
}

fn read_ods(bytes: Vec<u8>, limits: &ReadLimits) -> Result<Vec<Sheet>, ReadProblem> {
    let mut book: Ods<_> = match Ods::new(Cursor::new(bytes)) {
        Ok(book) => book,
        Err(OdsError::Password) => return Err(ReadProblem::Encrypted),
        Err(OdsError::CellLimitExceeded { requested, .. }) => {
            return Err(ReadProblem::TooLarge {
                cap: Cap::SheetCells,
                limit: limits.max_sheet_cells,
                found: requested as u64,
            })
        }
        Err(e) => return Err(corrupt(e)),
    };
    let names = worksheet_names(book.sheets_metadata());
    let mut sheets = Vec::with_capacity(names.len());
    for name in names {
        let values = book.worksheet_range(&name).map_err(corrupt)?;
        let formulas = book.worksheet_formula(&name).map_err(corrupt)?;
        sheets.push(dense_to_sparse(&name, &values, &formulas, limits)?.sheet);
    }
    Ok(sheets)
}

/// Keeps only the non-empty cells of a range calamine built densely, so
/// what stays in memory is sparse even when the range was not.
fn dense_to_sparse<'a>(
    name: &str,
    values: &calamine::Range<Data>,
    formulas: &calamine::Range<String>,
    limits: &'a ReadLimits,
) -> Result<SheetBuilder<'a>, ReadProblem> {
    let mut builder = SheetBuilder::new(name, limits);
    let (row0, col0) = values.start().unwrap_or((0, 0));
    for (r, c, value) in values.used_cells() {
        let pos = (row0 + r as u32, col0 + c as u32);
        builder.put(pos, from_data(value), None)?;
    }
    let (frow0, fcol0) = formulas.start().unwrap_or((0, 0));
    for (r, c, formula) in formulas.used_cells() {
        builder.set_formula((frow0 + r as u32, fcol0 + c as u32), formula.clone())?;
    }
    Ok(builder)
}

/// A text cell's value: an empty text is an empty cell. Takes an owned
/// text (copied once into the cell) or a workbook's shared string (kept
/// shared, not copied).
fn text_value(text: impl AsRef<str> + Into<Arc<str>>) -> CellValue {
    if text.as_ref().is_empty() {
        CellValue::Empty
    } else {
        CellValue::Text(text.into())
    }
}

fn from_excel_datetime(d: &calamine::ExcelDateTime) -> CellValue {
    CellValue::DateTime {
        serial: d.as_f64(),
        datetime: if d.is_datetime() { d.as_datetime() } else { None },
    }
}

fn from_iso(text: &str) -> CellValue {
    let datetime = NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
        .ok()
        .or_else(|| {
            chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
        });
    match datetime {
        Some(dt) => {
            let epoch = chrono::NaiveDate::from_ymd_opt(1899, 12, 30).and_then(|d| d.and_hms_opt(0, 0, 0));
            let serial = epoch.map_or(0.0, |e| (dt - e).num_seconds() as f64 / 86_400.0);
            CellValue::DateTime {
                serial,
                datetime: Some(dt),
            }
        }
        None => text_value(text.to_string()),
    }
}

fn from_data_ref(value: DataRef<'_>) -> CellValue {
    match value {
        DataRef::Int(i) => CellValue::Number(i as f64),
        DataRef::Float(x) => CellValue::Number(x),
        DataRef::String(s) => text_value(s),
        DataRef::SharedString(s) => text_value(s.to_string()),
        DataRef::Bool(b) => CellValue::Bool(b),
        DataRef::DateTime(d) => from_excel_datetime(&d),
        DataRef::DateTimeIso(s) => from_iso(&s),
        DataRef::DurationIso(s) => text_value(s),
        DataRef::Error(e) => CellValue::Error(e.to_string()),
        DataRef::Empty => CellValue::Empty,
    }
}

fn from_data(value: &Data) -> CellValue {
    match value {
        Data::Int(i) => CellValue::Number(*i as f64),
        Data::Float(x) => CellValue::Number(*x),
        Data::String(s) => text_value(s.clone()),
        Data::Bool(b) => CellValue::Bool(*b),
        Data::DateTime(d) => from_excel_datetime(d),
        Data::DateTimeIso(s) => from_iso(s),
        Data::DurationIso(s) => text_value(s.clone()),
        Data::Error(e) => CellValue::Error(e.to_string()),
        Data::Empty => CellValue::Empty,
    }
}

/// A cell's address: 0-based row and column, shown as Excel names it
/// ("E17"). A return's cells travel through the stages as these two
/// numbers, and are written out as text only where a message, the store or
/// a workbook names them (each was a `String` of its own before).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CellRef {
    pub row: u32,
    pub col: u32,
}

impl CellRef {
    pub fn new(row: u32, col: u32) -> CellRef {
        CellRef { row, col }
    }
}

impl fmt::Display for CellRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (letters, start) = column_letter_bytes(self.col);
        // Only ASCII capitals are ever written into `letters`.
        f.write_str(std::str::from_utf8(&letters[start..]).map_err(|_| fmt::Error)?)?;
        f.write_str(itoa::Buffer::new().format(u64::from(self.row) + 1))
    }
}

/// "E17" from a 0-based row and column.
pub fn a1(row: u32, col: u32) -> String {
    CellRef::new(row, col).to_string()
}

/// Appends "E17" for a 0-based row and column to `out`.
pub fn push_a1(out: &mut String, row: u32, col: u32) {
    push_column_letters(out, col);
    out.push_str(itoa::Buffer::new().format(u64::from(row) + 1));
}

/// Whether `bytes` starts with `_xHHHH_`, the escape Excel writes for a
/// character XML cannot hold (and, as `_x005F_`, for a literal one): the
/// reader leaves texts that hold one to calamine, the feedback writes one.
pub fn starts_with_escape(bytes: &[u8]) -> bool {
    bytes.len() >= 7
        && bytes[0] == b'_'
        && bytes[1] == b'x'
        && bytes[6] == b'_'
        && bytes[2..6].iter().all(u8::is_ascii_hexdigit)
}

/// "A", "B", …, "Z", "AA", … from a 0-based column.
pub fn column_letters(col: u32) -> String {
    let mut out = String::with_capacity(3);
    push_column_letters(&mut out, col);
    out
}

fn push_column_letters(out: &mut String, col: u32) {
    if col < 26 {
        out.push(char::from(b'A' + col as u8));
        return;
    }
    let (letters, start) = column_letter_bytes(col);
    out.extend(letters[start..].iter().map(|&l| char::from(l)));
}

/// A column's letters, right-aligned in the array, and where they start
/// (at most 7 letters for a u32 column).
fn column_letter_bytes(col: u32) -> ([u8; 7], usize) {
    let mut letters = [0u8; 7];
    let mut n = u64::from(col) + 1;
    let mut start = letters.len();
    while n > 0 {
        start -= 1;
        letters[start] = b'A' + ((n - 1) % 26) as u8;
        n = (n - 1) / 26;
    }
    (letters, start)
}

mod contain;
mod fast;
#[cfg(test)]
pub(crate) mod fixtures;
#[cfg(test)]
mod tests;
