//! The feedback workbook's package, written directly: two worksheets of
//! text and numbers in a fixed set of cell styles, with column widths, row
//! heights, a frozen header, internal links and a landscape A4 page.
//!
//! Everything but the two sheets and the creation time is the same in every
//! feedback workbook: those parts are compressed once per run (`SHARED`)
//! and copied into each package as they are; the sheets are deflated at
//! libdeflate's lightest level (`package.rs` says why the package is
//! written by hand). A general workbook writer builds a format table, a
//! shared string table and ten compressed parts for every file, which made
//! the feedback the largest single cost of an ingest pass.
//!
//! The cells, styles, widths, heights, panes, links and page set-up are
//! those the district received from the earlier rust_xlsxwriter build:
//! `reference.rs` (tests only) keeps that build, and the tests compare the
//! two cell by cell.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::sync::OnceLock;

use super::package::{Package, Part, TooLarge};
use crate::cell_text::{cut, MAX_CELL_TEXT};
use crate::pipeline::read::{push_a1, starts_with_escape};

/// The cell styles of a feedback workbook, by their index in `styles.xml`'s
/// `cellXfs` (index 0 is the workbook's default, never written).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Style {
    /// Bold, 14 pt.
    Title = 1,
    /// The verdict, bold 13 pt, green.
    VerdictAccepted,
    /// The verdict, bold 13 pt, amber.
    VerdictWarnings,
    /// The verdict, bold 13 pt, red.
    VerdictRejected,
    /// Bold 12 pt.
    Bold,
    /// 12 pt.
    Base,
    /// A table's header: bold, bordered, centred, wrapped, blue-grey.
    Header,
    /// A table's cell: bordered, wrapped, top-aligned.
    Cell,
    /// A cell of a line with an error: as `Cell`, shaded red.
    ErrorCell,
    /// A cell of a line with a warning: as `Cell`, shaded yellow.
    WarningCell,
    /// A link in a table: as `Cell`, blue and underlined.
    Link,
}

/// Fonts, fills, borders and cell styles, in the order of [`Style`].
const STYLES: &str = concat!(
    r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>"#,
    "\n",
    r#"<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">"#,
    r#"<fonts count="8">"#,
    r#"<font><sz val="11"/><color theme="1"/><name val="Calibri"/><family val="2"/><scheme val="minor"/></font>"#,
    r#"<font><b/><sz val="14"/><color theme="1"/><name val="Times New Roman"/><family val="2"/></font>"#,
    r#"<font><b/><sz val="13"/><color rgb="FF1E7B34"/><name val="Times New Roman"/><family val="2"/></font>"#,
    r#"<font><b/><sz val="13"/><color rgb="FF9C6500"/><name val="Times New Roman"/><family val="2"/></font>"#,
    r#"<font><b/><sz val="13"/><color rgb="FFC00000"/><name val="Times New Roman"/><family val="2"/></font>"#,
    r#"<font><b/><sz val="12"/><color theme="1"/><name val="Times New Roman"/><family val="2"/></font>"#,
    r#"<font><sz val="12"/><color theme="1"/><name val="Times New Roman"/><family val="2"/></font>"#,
    r#"<font><u/><sz val="12"/><color rgb="FF0563C1"/><name val="Times New Roman"/><family val="2"/></font>"#,
    r#"</fonts>"#,
    r#"<fills count="5">"#,
    r#"<fill><patternFill patternType="none"/></fill>"#,
    r#"<fill><patternFill patternType="gray125"/></fill>"#,
    r#"<fill><patternFill patternType="solid"><fgColor rgb="FFD9E1F2"/><bgColor indexed="64"/></patternFill></fill>"#,
    r#"<fill><patternFill patternType="solid"><fgColor rgb="FFFFC7CE"/><bgColor indexed="64"/></patternFill></fill>"#,
    r#"<fill><patternFill patternType="solid"><fgColor rgb="FFFFEB9C"/><bgColor indexed="64"/></patternFill></fill>"#,
    r#"</fills>"#,
    r#"<borders count="2">"#,
    r#"<border><left/><right/><top/><bottom/><diagonal/></border>"#,
    r#"<border><left style="thin"><color auto="1"/></left><right style="thin"><color auto="1"/></right><top style="thin"><color auto="1"/></top><bottom style="thin"><color auto="1"/></bottom><diagonal/></border>"#,
    r#"</borders>"#,
    r#"<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>"#,
    r#"<cellXfs count="12">"#,
    r#"<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>"#,
    r#"<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/>"#,
    r#"<xf numFmtId="0" fontId="2" fillId="0" borderId="0" xfId="0" applyFont="1"/>"#,
    r#"<xf numFmtId="0" fontId="3" fillId="0" borderId="0" xfId="0" applyFont="1"/>"#,
    r#"<xf numFmtId="0" fontId="4" fillId="0" borderId="0" xfId="0" applyFont="1"/>"#,
    r#"<xf numFmtId="0" fontId="5" fillId="0" borderId="0" xfId="0" applyFont="1"/>"#,
    r#"<xf numFmtId="0" fontId="6" fillId="0" borderId="0" xfId="0" applyFont="1"/>"#,
    r#"<xf numFmtId="0" fontId="5" fillId="2" borderId="1" xfId="0" applyFont="1" applyFill="1" applyBorder="1" applyAlignment="1"><alignment horizontal="center" wrapText="1"/></xf>"#,
    r#"<xf numFmtId="0" fontId="6" fillId="0" borderId="1" xfId="0" applyFont="1" applyBorder="1" applyAlignment="1"><alignment vertical="top" wrapText="1"/></xf>"#,
    r#"<xf numFmtId="0" fontId="6" fillId="3" borderId="1" xfId="0" applyFont="1" applyFill="1" applyBorder="1" applyAlignment="1"><alignment vertical="top" wrapText="1"/></xf>"#,
    r#"<xf numFmtId="0" fontId="6" fillId="4" borderId="1" xfId="0" applyFont="1" applyFill="1" applyBorder="1" applyAlignment="1"><alignment vertical="top" wrapText="1"/></xf>"#,
    r#"<xf numFmtId="0" fontId="7" fillId="0" borderId="1" xfId="0" applyFont="1" applyBorder="1" applyAlignment="1"><alignment vertical="top" wrapText="1"/></xf>"#,
    r#"</cellXfs>"#,
    r#"<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>"#,
    r#"<dxfs count="0"/><tableStyles count="0" defaultTableStyle="TableStyleMedium9" defaultPivotStyle="PivotStyleLight16"/>"#,
    r#"</styleSheet>"#,
);

/// The Office theme the fonts' theme colours refer to.
const THEME: &str = include_str!("theme1.xml");

const XML_DECLARATION: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n";
const MAIN_NS: &str = "http://schemas.openxmlformats.org/spreadsheetml/2006/main";
const REL_NS: &str = "http://schemas.openxmlformats.org/officeDocument/2006/relationships";

/// One worksheet, written row by row: rows in increasing order, the cells of
/// a row from left to right.
#[derive(Debug)]
pub(super) struct Sheet {
    data: String,
    /// The row being written (0-based), if any.
    row: Option<u32>,
    /// The last column written in the row being written.
    last_col: Option<u16>,
    /// The used area, for the `dimension` element: (last row, last column).
    extent: Option<(u32, u16)>,
    widths: Vec<(u16, f64)>,
    /// Rows above the frozen pane.
    frozen_rows: u32,
    links: Vec<Link>,
}

#[derive(Debug)]
struct Link {
    row: u32,
    col: u16,
    /// A place in the workbook: `'Sheet'!A1`.
    location: String,
    display: String,
}

impl Sheet {
    pub(super) fn new() -> Sheet {
        Sheet {
            data: String::with_capacity(32 * 1024),
            row: None,
            last_col: None,
            extent: None,
            widths: Vec::new(),
            frozen_rows: 0,
            links: Vec::new(),
        }
    }

    /// Starts row `row` (0-based), with a height in points if not the default.
    pub(super) fn row(&mut self, row: u32, height: Option<f64>) {
        debug_assert!(self.row.is_none_or(|r| r < row), "rows in order");
        self.end_row();
        self.row = Some(row);
        self.last_col = None;
        self.data.push_str("<row r=\"");
        self.data.push_str(itoa::Buffer::new().format(u64::from(row) + 1));
        self.data.push('"');
        if let Some(height) = height {
            let _ = write!(self.data, " ht=\"{height}\" customHeight=\"1\"");
        }
        self.data.push('>');
    }

    fn end_row(&mut self) {
        if self.row.is_some() {
            self.data.push_str("</row>");
        }
    }

    /// Opens a cell's element: `<c r="B4" s="5"`.
    fn open(&mut self, col: u16, style: Style) {
        let row = self.row.unwrap_or(0);
        debug_assert!(self.row.is_some(), "a cell in a row");
        debug_assert!(self.last_col.is_none_or(|c| c < col), "cells in order");
        self.last_col = Some(col);
        let (rows, cols) = self.extent.unwrap_or((0, 0));
        self.extent = Some((rows.max(row), cols.max(col)));
        self.data.push_str("<c r=\"");
        push_a1(&mut self.data, row, u32::from(col));
        self.data.push_str("\" s=\"");
        self.data.push_str(itoa::Buffer::new().format(style as u8));
        self.data.push('"');
    }

    /// A text cell; an empty text is a blank cell with the style.
    pub(super) fn text(&mut self, col: u16, text: &str, style: Style) {
        if text.is_empty() {
            self.blank(col, style);
            return;
        }
        self.open(col, style);
        self.data.push_str(" t=\"inlineStr\"><is>");
        push_t(&mut self.data, &truncated(text));
        self.data.push_str("</is></c>");
    }

    /// A text cell, as string `index` of the workbook's shared strings
    /// ([`SharedStrings`]) when that string is `text`, and in the cell
    /// otherwise (no index, or another text); an empty text is a blank
    /// cell with the style.
    pub(super) fn shared_text(
        &mut self,
        col: u16,
        text: &str,
        strings: &SharedStrings,
        index: Option<usize>,
        style: Style,
    ) {
        let Some(index) = index.filter(|&i| !text.is_empty() && strings.holds(i, text)) else {
            self.text(col, text, style);
            return;
        };
        self.open(col, style);
        self.data.push_str(" t=\"s\"><v>");
        self.data.push_str(itoa::Buffer::new().format(index));
        self.data.push_str("</v></c>");
    }

    /// A number cell; a number Excel cannot hold (NaN, infinity) is written as text.
    pub(super) fn number(&mut self, col: u16, number: f64, style: Style) {
        if !number.is_finite() {
            self.text(col, &number.to_string(), style);
            return;
        }
        self.open(col, style);
        let _ = write!(self.data, "><v>{number}</v></c>");
    }

    /// An empty cell that carries a style.
    pub(super) fn blank(&mut self, col: u16, style: Style) {
        self.open(col, style);
        self.data.push_str("/>");
    }

    /// A text cell that links to `location` (`'Sheet'!A1`) in the workbook.
    pub(super) fn link(&mut self, col: u16, text: &str, location: String, style: Style) {
        self.text(col, text, style);
        let row = self.row.unwrap_or(0);
        self.links.push(Link {
            row,
            col,
            location,
            display: text.to_string(),
        });
    }

    /// Column widths in characters, as Excel's column-width dialog takes them.
    pub(super) fn widths(&mut self, widths: &[(u16, f64)]) {
        self.widths = widths.to_vec();
    }

    /// Keeps the first `rows` rows in view when scrolling.
    pub(super) fn freeze_rows(&mut self, rows: u32) {
        self.frozen_rows = rows;
    }

    /// The worksheet part.
    fn xml(mut self, selected: bool) -> String {
        self.end_row();
        let mut xml = String::with_capacity(self.data.len() + 2048);
        xml.push_str(XML_DECLARATION);
        let _ = write!(
            xml,
            "<worksheet xmlns=\"{MAIN_NS}\" xmlns:r=\"{REL_NS}\"><sheetPr><pageSetUpPr fitToPage=\"1\"/></sheetPr>"
        );
        let (rows, cols) = self.extent.unwrap_or((0, 0));
        xml.push_str("<dimension ref=\"A1");
        if (rows, cols) != (0, 0) {
            xml.push(':');
            push_a1(&mut xml, rows, u32::from(cols));
        }
        xml.push_str("\"/><sheetViews><sheetView");
        if selected {
            xml.push_str(" tabSelected=\"1\"");
        }
        xml.push_str(" workbookViewId=\"0\"");
        if self.frozen_rows > 0 {
            xml.push_str("><pane ySplit=\"");
            let _ = write!(xml, "{}\" topLeftCell=\"", self.frozen_rows);
            push_a1(&mut xml, self.frozen_rows, 0);
            xml.push_str("\" activePane=\"bottomLeft\" state=\"frozen\"/><selection pane=\"bottomLeft\"/></sheetView>");
        } else {
            xml.push_str("/>");
        }
        xml.push_str("</sheetViews><sheetFormatPr defaultRowHeight=\"15\"/>");
        if !self.widths.is_empty() {
            xml.push_str("<cols>");
            for &(col, width) in &self.widths {
                let n = u32::from(col) + 1;
                let _ = write!(
                    xml,
                    "<col min=\"{n}\" max=\"{n}\" width=\"{}\" customWidth=\"1\"/>",
                    column_width(width)
                );
            }
            xml.push_str("</cols>");
        }
        xml.push_str("<sheetData>");
        xml.push_str(&self.data);
        xml.push_str("</sheetData>");
        if !self.links.is_empty() {
            xml.push_str("<hyperlinks>");
            for link in &self.links {
                xml.push_str("<hyperlink ref=\"");
                push_a1(&mut xml, link.row, u32::from(link.col));
                xml.push_str("\" location=\"");
                push_attribute(&mut xml, &link.location);
                xml.push_str("\" display=\"");
                push_attribute(&mut xml, &truncated(&link.display));
                xml.push_str("\"/>");
            }
            xml.push_str("</hyperlinks>");
        }
        xml.push_str(concat!(
            "<pageMargins left=\"0.7\" right=\"0.7\" top=\"0.75\" bottom=\"0.75\" header=\"0.3\" footer=\"0.3\"/>",
            "<pageSetup paperSize=\"9\" fitToHeight=\"0\" orientation=\"landscape\" horizontalDpi=\"200\" verticalDpi=\"200\"/>",
            "</worksheet>"
        ));
        xml
    }
}

/// The width stored for a width typed in Excel: whole pixels of a 7-pixel
/// character with 5 pixels of padding, in 1/256 of a character.
fn column_width(width: f64) -> f64 {
    let pixels = if width < 1.0 {
        (width * 12.0 + 0.5).trunc()
    } else {
        (width * 7.0 + 0.5).trunc() + 5.0
    };
    (pixels / 7.0 * 256.0).trunc() / 256.0
}

/// The text cut to Excel's limit, if longer, ending with an ellipsis.
fn truncated(text: &str) -> Cow<'_, str> {
    cut(text, MAX_CELL_TEXT, "…")
}

/// A `<t>` element holding `text` (already cut to Excel's limit), its
/// leading or trailing blanks kept, as a cell's inline string and a shared
/// string both hold their text.
fn push_t(out: &mut String, text: &str) {
    out.push_str("<t");
    if text.starts_with([' ', '\t', '\n']) || text.ends_with([' ', '\t', '\n']) {
        out.push_str(" xml:space=\"preserve\"");
    }
    out.push('>');
    push_text(out, text);
    out.push_str("</t>");
}

/// Cell text escaped for XML as Excel writes it: `& < >` as entities,
/// control characters (and a literal `_xHHHH_`) in Excel's `_xHHHH_` form.
/// The runs between those are copied whole: every byte looked for is ASCII
/// or the first of U+FFFE and U+FFFF (`EF BF BE`, `EF BF BF`), so each run
/// starts and ends between characters.
fn push_text(out: &mut String, text: &str) {
    let bytes = text.as_bytes();
    let mut run = 0;
    let mut i = 0;
    while i < bytes.len() {
        let escaped = match bytes[i] {
            b'\t' | b'\n' => false,
            b'&' | b'<' | b'>' | 0..=0x1F => true,
            b'_' => starts_with_escape(&bytes[i..]),
            0xEF => bytes[i + 1..].starts_with(&[0xBF, 0xBE]) || bytes[i + 1..].starts_with(&[0xBF, 0xBF]),
            _ => false,
        };
        if !escaped {
            i += 1;
            continue;
        }
        out.push_str(&text[run..i]);
        // `i` is where a character starts (an ASCII byte or the first of
        // U+FFFE or U+FFFF), so there is one.
        let c = text[i..].chars().next().unwrap_or('\u{0}');
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '_' => out.push_str("_x005F_"),
            _ => {
                let _ = write!(out, "_x{:04X}_", u32::from(c));
            }
        }
        i += c.len_utf8();
        run = i;
    }
    out.push_str(&text[run..]);
}

/// An attribute value escaped for XML.
fn push_attribute(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\n' => out.push_str("&#xA;"),
            '\u{0}'..='\u{1F}' | '\u{FFFE}' | '\u{FFFF}' => {}
            _ => out.push(c),
        }
    }
}

/// The parts every feedback workbook shares, compressed once per run.
static SHARED: OnceLock<Vec<Part>> = OnceLock::new();

/// The sheet names of every feedback workbook, in order.
pub(super) const SHEETS: [&str; 2] = ["Ket qua", super::VALUES_SHEET];

fn shared() -> &'static [Part] {
    SHARED.get_or_init(|| {
        shared_parts()
            .iter()
            .map(|(name, text)| Part::deflated_once(name, text.as_bytes()))
            .collect()
    })
}

/// Every part but the sheets and the creation time, with its name.
fn shared_parts() -> Vec<(&'static str, String)> {
    let sheets = SHEETS.len();
    let mut types = String::from(XML_DECLARATION);
    types.push_str(concat!(
        "<Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\">",
        "<Default Extension=\"rels\" ContentType=\"application/vnd.openxmlformats-package.relationships+xml\"/>",
        "<Default Extension=\"xml\" ContentType=\"application/xml\"/>",
        "<Override PartName=\"/docProps/app.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.extended-properties+xml\"/>",
        "<Override PartName=\"/docProps/core.xml\" ContentType=\"application/vnd.openxmlformats-package.core-properties+xml\"/>",
        "<Override PartName=\"/xl/styles.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml\"/>",
        "<Override PartName=\"/xl/theme/theme1.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.theme+xml\"/>",
        "<Override PartName=\"/xl/workbook.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml\"/>",
        "<Override PartName=\"/xl/sharedStrings.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml\"/>",
    ));
    for n in 1..=sheets {
        let _ = write!(
            types,
            "<Override PartName=\"/xl/worksheets/sheet{n}.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml\"/>"
        );
    }
    types.push_str("</Types>");

    let package_rels = format!(
        "{XML_DECLARATION}<Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\">\
         <Relationship Id=\"rId1\" Type=\"{REL_NS}/officeDocument\" Target=\"xl/workbook.xml\"/>\
         <Relationship Id=\"rId2\" Type=\"http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties\" Target=\"docProps/core.xml\"/>\
         <Relationship Id=\"rId3\" Type=\"{REL_NS}/extended-properties\" Target=\"docProps/app.xml\"/></Relationships>"
    );

    let mut workbook_rels = format!(
        "{XML_DECLARATION}<Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\">"
    );
    for n in 1..=sheets {
        let _ = write!(
            workbook_rels,
            "<Relationship Id=\"rId{n}\" Type=\"{REL_NS}/worksheet\" Target=\"worksheets/sheet{n}.xml\"/>"
        );
    }
    let _ = write!(
        workbook_rels,
        "<Relationship Id=\"rId{}\" Type=\"{REL_NS}/theme\" Target=\"theme/theme1.xml\"/>\
         <Relationship Id=\"rId{}\" Type=\"{REL_NS}/styles\" Target=\"styles.xml\"/>\
         <Relationship Id=\"rId{}\" Type=\"{REL_NS}/sharedStrings\" Target=\"sharedStrings.xml\"/></Relationships>",
        sheets + 1,
        sheets + 2,
        sheets + 3
    );

    let mut workbook = format!(
        "{XML_DECLARATION}<workbook xmlns=\"{MAIN_NS}\" xmlns:r=\"{REL_NS}\">\
         <fileVersion appName=\"xl\" lastEdited=\"4\" lowestEdited=\"4\" rupBuild=\"4505\"/>\
         <workbookPr defaultThemeVersion=\"124226\"/><bookViews>\
         <workbookView xWindow=\"240\" yWindow=\"15\" windowWidth=\"16095\" windowHeight=\"9660\"/></bookViews><sheets>"
    );
    for (i, name) in SHEETS.iter().enumerate() {
        workbook.push_str("<sheet name=\"");
        push_attribute(&mut workbook, name);
        let _ = write!(workbook, "\" sheetId=\"{n}\" r:id=\"rId{n}\"/>", n = i + 1);
    }
    workbook.push_str("</sheets><calcPr calcId=\"124519\" fullCalcOnLoad=\"1\"/></workbook>");

    let mut app = format!(
        "{XML_DECLARATION}<Properties xmlns=\"http://schemas.openxmlformats.org/officeDocument/2006/extended-properties\" \
         xmlns:vt=\"http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes\">\
         <Application>Microsoft Excel</Application><DocSecurity>0</DocSecurity><ScaleCrop>false</ScaleCrop>\
         <HeadingPairs><vt:vector size=\"2\" baseType=\"variant\"><vt:variant><vt:lpstr>Worksheets</vt:lpstr></vt:variant>\
         <vt:variant><vt:i4>{sheets}</vt:i4></vt:variant></vt:vector></HeadingPairs>\
         <TitlesOfParts><vt:vector size=\"{sheets}\" baseType=\"lpstr\">"
    );
    for name in SHEETS {
        app.push_str("<vt:lpstr>");
        push_text(&mut app, name);
        app.push_str("</vt:lpstr>");
    }
    app.push_str(
        "</vt:vector></TitlesOfParts><Company></Company><LinksUpToDate>false</LinksUpToDate>\
         <SharedDoc>false</SharedDoc><HyperlinksChanged>false</HyperlinksChanged><AppVersion>12.0000</AppVersion></Properties>",
    );

    vec![
        ("[Content_Types].xml", types),
        ("_rels/.rels", package_rels),
        ("docProps/app.xml", app),
        ("xl/_rels/workbook.xml.rels", workbook_rels),
        ("xl/theme/theme1.xml", THEME.to_string()),
        ("xl/styles.xml", STYLES.to_string()),
        ("xl/workbook.xml", workbook),
    ]
}

/// Texts every workbook of a kind shows (a form's codes, labels and units,
/// the headers), as the workbooks' shared strings: the part is made and
/// deflated once and copied into each package, and a cell names its string
/// by number. A national pass deflated those texts anew in each of its
/// 8,460 workbooks (the values sheet's 28 KB were two thirds labels).
#[derive(Debug)]
pub(super) struct SharedStrings {
    part: Part,
    /// The strings as the part holds them (cut to Excel's limit).
    texts: Vec<String>,
}

impl SharedStrings {
    pub(super) fn new<'t>(texts: impl IntoIterator<Item = &'t str>) -> SharedStrings {
        let mut xml = format!("{XML_DECLARATION}<sst xmlns=\"{MAIN_NS}\">");
        let mut kept = Vec::new();
        for text in texts {
            let text = truncated(text);
            xml.push_str("<si>");
            push_t(&mut xml, &text);
            xml.push_str("</si>");
            kept.push(text.into_owned());
        }
        xml.push_str("</sst>");
        SharedStrings {
            part: Part::deflated_once("xl/sharedStrings.xml", xml.as_bytes()),
            texts: kept,
        }
    }

    /// Whether string `index` is `text` (cut to Excel's limit).
    fn holds(&self, index: usize, text: &str) -> bool {
        self.texts.get(index).is_some_and(|kept| *kept == truncated(text))
    }
}

/// The package of the two sheets (in [`SHEETS`] order) and the shared
/// strings they show, created at `created` (`YYYY-MM-DDTHH:MM:SSZ`).
///
/// # Errors
/// Only if a sheet were beyond what a zip without zip64 holds (4 GiB).
pub(super) fn package(sheets: [Sheet; 2], strings: &SharedStrings, created: &str) -> Result<Vec<u8>, TooLarge> {
    let mut package = Package::with_capacity(16 * 1024);
    for part in shared() {
        package.add(part)?;
    }
    package.add(&strings.part)?;
    let core = format!(
        "{XML_DECLARATION}<cp:coreProperties xmlns:cp=\"http://schemas.openxmlformats.org/package/2006/metadata/core-properties\" \
         xmlns:dc=\"http://purl.org/dc/elements/1.1/\" xmlns:dcterms=\"http://purl.org/dc/terms/\" \
         xmlns:dcmitype=\"http://purl.org/dc/dcmitype/\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">\
         <dc:creator></dc:creator><cp:lastModifiedBy></cp:lastModifiedBy>\
         <dcterms:created xsi:type=\"dcterms:W3CDTF\">{created}</dcterms:created>\
         <dcterms:modified xsi:type=\"dcterms:W3CDTF\">{created}</dcterms:modified></cp:coreProperties>"
    );
    // A few hundred bytes: stored as they are.
    package.add(&Part::stored("docProps/core.xml", core.as_bytes()))?;
    // The sheets at libdeflate's lightest level: the values sheet's 20 KB
    // (its texts in the shared strings) shrink to 3.5 KB.
    for (i, sheet) in sheets.into_iter().enumerate() {
        let name = format!("xl/worksheets/sheet{}.xml", i + 1);
        package.add(&Part::deflated(&name, sheet.xml(i == 0).as_bytes()))?;
    }
    package.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The escape as first written, one character at a time: the second
    /// way `push_text` is checked against.
    fn escaped_char_by_char(text: &str) -> String {
        let mut out = String::new();
        let bytes = text.as_bytes();
        for (i, c) in text.char_indices() {
            match c {
                '&' => out.push_str("&amp;"),
                '<' => out.push_str("&lt;"),
                '>' => out.push_str("&gt;"),
                '\t' | '\n' => out.push(c),
                '\u{0}'..='\u{1F}' | '\u{FFFE}' | '\u{FFFF}' => {
                    let _ = write!(out, "_x{:04X}_", u32::from(c));
                }
                '_' if starts_with_escape(&bytes[i..]) => out.push_str("_x005F_"),
                _ => out.push(c),
            }
        }
        out
    }

    #[test]
    fn text_is_escaped_run_by_run_as_it_was_character_by_character() {
        let texts = [
            "",
            "Số người được hỗ trợ",
            "a & b < c > d",
            "&&<<>>",
            "tab\tand\nnew line, carriage\rreturn",
            "\u{0}\u{1}\u{7}\u{1F} control",
            "_x0041_ and _x00Zz_ and _x004_ and __x0041__ and _",
            "ends with _x0041_",
            "_",
            "\u{FFFE}\u{FFFF}\u{FFFD}\u{FEFF}",
            "ạ\u{FFFE}ạ\u{FFFF}_x1234_ạ&",
            "\u{EFBF}\u{10FFFF}\u{E000}",
        ];
        for text in texts {
            let mut out = String::new();
            push_text(&mut out, text);
            assert_eq!(out, escaped_char_by_char(text), "{text:?}");
        }
        // Every character up to U+FFFF and a few beyond, alone and between others.
        for code in (0..=0xFFFFu32).chain([0x1_0000, 0x1_F600, 0x10_FFFF]) {
            let Some(c) = char::from_u32(code) else { continue };
            let text = format!("a{c}_x00{c}_{c}");
            let mut out = String::new();
            push_text(&mut out, &text);
            assert_eq!(out, escaped_char_by_char(&text), "U+{code:04X}");
        }
    }

    #[test]
    fn a_text_beyond_excels_limit_is_cut_to_it_with_an_ellipsis_and_a_shorter_one_is_kept() {
        let long = "ạ".repeat(40_000);
        let cut = truncated(&long);
        assert_eq!(cut.chars().count(), MAX_CELL_TEXT);
        assert!(cut.ends_with('…'));
        assert!(long.starts_with(cut.trim_end_matches('…')), "the start is kept");
        // 32,767 characters of two bytes each: longer in bytes, kept whole.
        let at_limit = "ạ".repeat(MAX_CELL_TEXT);
        assert!(
            truncated(&at_limit) == at_limit.as_str(),
            "a text at the limit is kept whole"
        );
        // A workbook with such a cell is still written.
        let mut sheet = Sheet::new();
        sheet.row(0, None);
        sheet.text(0, &long, Style::Cell);
        let mut values = Sheet::new();
        values.row(0, None);
        values.number(0, f64::NAN, Style::Cell);
        let strings = SharedStrings::new([long.as_str(), ""]);
        assert!(package([sheet, values], &strings, "2026-11-30T00:00:00Z").is_ok());
    }
}
