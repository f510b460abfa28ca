//! The plain worksheet, scanned directly: `<sheetData>` holding `<row>`s of
//! `<c>`s, each with a `<v>` and perhaps an `<f>`, then the `<mergeCell>`s;
//! and the plain shared string table, whose items are each one `<t>`.
//! That is what Excel, LibreOffice and the template write, and nearly every
//! return received. The part is checked as UTF-8 once, and the scan moves
//! from `<` to `<` without building an event per element.
//!
//! Anything else — a comment or CDATA, a namespace prefix, an inline
//! string, an entity where a value or reference is expected, a carriage
//! return, an element the layout above does not have — is
//! [`Stop::Unsure`]: the event reader in `fast.rs` reads the part instead
//! (and hands what it does not know to calamine). Both give the same cells
//! and strings; `tests.rs` checks it on every workbook the tests make.

use std::sync::Arc;

use super::{
    cell_ref, formula, range_ref, row_number, typed_value, Book, Cells, FormulaAttributes, Merge, ReadLimits,
    SharedFormula, SheetParts, Stop,
};
use crate::pipeline::read::CellValue;
use memchr::memchr;

/// A position in the part's text.
struct Scan<'x> {
    text: &'x str,
    at: usize,
}

/// One start tag: its name, its attributes' text, and whether it closes itself.
struct Tag<'x> {
    name: &'x str,
    attributes: &'x str,
    empty: bool,
}

impl<'x> Scan<'x> {
    fn rest(&self) -> &'x str {
        &self.text[self.at..]
    }

    /// Skips white space; anything else before the next `<` is not plain.
    fn skip_to_tag(&mut self) -> Result<(), Stop> {
        let bytes = self.text.as_bytes();
        let mut at = self.at;
        while at < bytes.len() && is_space(bytes[at]) {
            at += 1;
        }
        self.at = at;
        if bytes.get(at) == Some(&b'<') {
            Ok(())
        } else {
            Err(Stop::Unsure)
        }
    }

    /// Consumes `</name>` if it comes next (after white space).
    fn end_tag(&mut self, name: &str) -> Result<bool, Stop> {
        self.skip_to_tag()?;
        let rest = &self.text.as_bytes()[self.at..];
        let n = name.len();
        if rest.len() > n + 2 && rest[1] == b'/' && same(&rest[2..2 + n], name.as_bytes()) && rest[2 + n] == b'>' {
            self.at += n + 3;
            return Ok(true);
        }
        Ok(false)
    }

    /// Consumes the start tag that comes next (after white space).
    fn start_tag(&mut self) -> Result<Tag<'x>, Stop> {
        self.skip_to_tag()?;
        let rest = &self.rest()[1..];
        let name_end = rest
            .bytes()
            .position(|b| !b.is_ascii_alphanumeric())
            .ok_or(Stop::Unsure)?;
        let name = &rest[..name_end];
        if name.is_empty() {
            // `</…`, `<!…`, `<?…` or a prefixed name: not plain.
            return Err(Stop::Unsure);
        }
        let close = name_end + memchr(b'>', &rest.as_bytes()[name_end..]).ok_or(Stop::Unsure)?;
        let inside = &rest[name_end..close];
        let (attributes, empty) = match inside.as_bytes().last() {
            Some(b'/') => (&inside[..inside.len() - 1], true),
            _ => (inside, false),
        };
        if !attributes.is_empty() && !attributes.starts_with([' ', '\t', '\n']) {
            return Err(Stop::Unsure);
        }
        self.at += 1 + close + 1;
        Ok(Tag {
            name,
            attributes,
            empty,
        })
    }

    /// The text up to `</name>`, consumed with it; text with markup in it
    /// is not plain.
    fn text_until_end(&mut self, name: &str) -> Result<&'x str, Stop> {
        let rest = self.rest();
        let end = memchr(b'<', rest.as_bytes()).ok_or(Stop::Unsure)?;
        let text = &rest[..end];
        self.at += end;
        if !self.end_tag(name)? {
            return Err(Stop::Unsure);
        }
        Ok(text)
    }
}

/// The values of the attributes `names` (local names) in a tag's attribute
/// text, `name="…"` or `name='…'`, in one pass; a value with an entity is
/// not plain.
fn attributes<'x, const N: usize>(text: &'x str, names: [&str; N]) -> Result<[Option<&'x str>; N], Stop> {
    let mut found = [None; N];
    let bytes = text.as_bytes();
    let skip_space = |mut at: usize| {
        while at < bytes.len() && is_space(bytes[at]) {
            at += 1;
        }
        at
    };
    let mut at = skip_space(0);
    while at < bytes.len() {
        let key_start = at;
        while at < bytes.len() && bytes[at] != b'=' && !is_space(bytes[at]) {
            at += 1;
        }
        let key = &text[key_start..at];
        at = skip_space(at);
        if bytes.get(at) != Some(&b'=') {
            return Err(Stop::Unsure);
        }
        at = skip_space(at + 1);
        let quote = match bytes.get(at) {
            Some(&q @ (b'"' | b'\'')) => q,
            _ => return Err(Stop::Unsure),
        };
        // Values are a few bytes long: a plain loop beats a vector search.
        let close = at + 1 + bytes[at + 1..].iter().position(|&b| b == quote).ok_or(Stop::Unsure)?;
        let value = &text[at + 1..close];
        if value.bytes().any(|b| b == b'&' || b == b'<') {
            return Err(Stop::Unsure);
        }
        // By local name (`x14ac:dyDescent` is on most of Excel's rows), and
        // the last of a repeated attribute stands, as on the event path.
        let local = key
            .bytes()
            .position(|b| b == b':')
            .map_or(key, |colon| &key[colon + 1..]);
        for (name, slot) in names.iter().zip(found.iter_mut()) {
            if same(local.as_bytes(), name.as_bytes()) {
                *slot = Some(value);
            }
        }
        at = skip_space(close + 1);
    }
    Ok(found)
}

/// Whether two short names are the same, compared in place: `==` calls
/// `memcmp` for each, which cost more than the comparison itself.
#[inline]
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
}

/// White space between XML's markup (a carriage return never gets here).
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n')
}

/// The value of one attribute (see [`attributes`]).
fn attribute<'x>(text: &'x str, name: &str) -> Result<Option<&'x str>, Stop> {
    Ok(attributes(text, [name])?[0])
}

/// Text with the five named entities and character references resolved.
fn unescape(text: &str) -> Result<String, Stop> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp + 1..];
        let semi = after.find(';').ok_or(Stop::Unsure)?;
        let entity = &after[..semi];
        match entity {
            "amp" => out.push('&'),
            "lt" => out.push('<'),
            "gt" => out.push('>'),
            "quot" => out.push('"'),
            "apos" => out.push('\''),
            _ => {
                let code = match entity.strip_prefix("#x") {
                    Some(hex) => u32::from_str_radix(hex, 16),
                    None => entity.strip_prefix('#').ok_or(Stop::Unsure)?.parse(),
                }
                .map_err(|_| Stop::Unsure)?;
                out.push(char::from_u32(code).filter(|&c| c != '\0').ok_or(Stop::Unsure)?);
            }
        }
        rest = &after[semi + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// A part's text from its first `<root`, if the part is plain up to there:
/// UTF-8 (as declared), no carriage return (an XML reader would normalise
/// it), no comment, CDATA or DOCTYPE before the root that could hide or fake
/// it, and nothing named `also_not_before` there either.
fn from_root<'x>(xml: &'x [u8], root: &str, also_not_before: &str) -> Result<Scan<'x>, Stop> {
    let text = simdutf8::basic::from_utf8(xml).map_err(|_| Stop::Unsure)?;
    let text = text.strip_prefix('\u{FEFF}').unwrap_or(text);
    if text.contains('\r') {
        return Err(Stop::Unsure);
    }
    if let Some(declaration) = text.strip_prefix("<?xml") {
        let end = declaration.find("?>").ok_or(Stop::Unsure)?;
        if let Some(encoding) = attribute(&declaration[..end], "encoding")? {
            if !encoding.eq_ignore_ascii_case("utf-8") {
                return Err(Stop::Unsure);
            }
        }
    }
    let start = text.find(root).ok_or(Stop::Unsure)?;
    if text[..start].contains("<!") || text[..start].contains(also_not_before) {
        return Err(Stop::Unsure);
    }
    Ok(Scan { text, at: start })
}

/// Scans a shared string table whose items are each one `<t>` (rich text,
/// phonetic runs and the rest are the event reader's).
pub(super) fn shared_strings(xml: &[u8]) -> Result<Vec<Arc<str>>, Stop> {
    let mut scan = from_root(xml, "<sst", "<si")?;
    let sst = scan.start_tag()?;
    if sst.name != "sst" {
        return Err(Stop::Unsure);
    }
    let mut strings = Vec::new();
    if sst.empty {
        return Ok(strings);
    }
    if let Some(n) = attribute(sst.attributes, "uniqueCount")?.and_then(|n| n.parse::<usize>().ok()) {
        strings.reserve(n.min(1 << 20));
    }
    while !scan.end_tag("sst")? {
        let si = scan.start_tag()?;
        if si.name != "si" {
            return Err(Stop::Unsure);
        }
        if si.empty {
            strings.push(Arc::from(""));
            continue;
        }
        let t = scan.start_tag()?;
        if t.name != "t" {
            return Err(Stop::Unsure);
        }
        let raw = if t.empty { "" } else { scan.text_until_end("t")? };
        if !scan.end_tag("si")? {
            return Err(Stop::Unsure);
        }
        let unescaped;
        let mut text = if raw.contains('&') {
            unescaped = unescape(raw)?;
            unescaped.as_str()
        } else {
            raw
        };
        if super::has_escape(text) {
            return Err(Stop::Unsure);
        }
        if attribute(t.attributes, "space")? != Some("preserve") {
            text = text.trim_matches([' ', '\t', '\n']);
        }
        // Shared: every cell showing the string holds this one text.
        strings.push(Arc::from(text));
    }
    Ok(strings)
}

/// Scans a worksheet part; [`Stop::Unsure`] where it is not plain.
pub(super) fn worksheet(xml: &[u8], book: &Book, limits: &ReadLimits) -> Result<SheetParts, Stop> {
    // Merged areas come after the data.
    let mut scan = from_root(xml, "<sheetData", "<mergeCell")?;
    let data = scan.start_tag()?;
    if data.name != "sheetData" {
        return Err(Stop::Unsure);
    }
    let mut cells = Cells::new(limits);
    if !data.empty {
        rows(&mut scan, book, &mut cells)?;
    }
    let merged = merges(scan.rest())?;
    Ok((cells.cells, merged))
}

/// The rows of `<sheetData>`, up to and with its end tag.
fn rows(scan: &mut Scan<'_>, book: &Book, cells: &mut Cells<'_>) -> Result<(), Stop> {
    let mut shared: Vec<Option<SharedFormula>> = Vec::new();
    let mut row_index: u32 = 0;
    while !scan.end_tag("sheetData")? {
        let row = scan.start_tag()?;
        if row.name != "row" {
            return Err(Stop::Unsure);
        }
        if let Some(r) = attribute(row.attributes, "r")? {
            row_index = row_number(r.as_bytes()).ok_or(Stop::Unsure)?;
        }
        let mut col_index: u32 = 0;
        if !row.empty {
            while !scan.end_tag("row")? {
                let c = scan.start_tag()?;
                if c.name != "c" {
                    return Err(Stop::Unsure);
                }
                let [r, typ, style] = attributes(c.attributes, ["r", "t", "s"])?;
                let pos = match r {
                    Some(r) => {
                        let (row, col) = cell_ref(r.as_bytes()).ok_or(Stop::Unsure)?;
                        col_index = col;
                        (row, col)
                    }
                    None => (row_index, col_index),
                };
                if matches!(typ, Some("inlineStr" | "is")) {
                    return Err(Stop::Unsure);
                }
                let (value, formula) = if c.empty {
                    (CellValue::Empty, None)
                } else {
                    cell(scan, pos, style, typ, book, &mut shared)?
                };
                cells.push(pos, value, formula)?;
                col_index = col_index.checked_add(1).ok_or(Stop::Unsure)?;
            }
        }
        row_index = row_index.checked_add(1).ok_or(Stop::Unsure)?;
    }
    Ok(())
}

/// The `<v>` and `<f>` of a `<c>`, up to and with its end tag.
fn cell(
    scan: &mut Scan<'_>,
    pos: (u32, u32),
    style: Option<&str>,
    typ: Option<&str>,
    book: &Book,
    shared: &mut Vec<Option<SharedFormula>>,
) -> Result<(CellValue, Option<String>), Stop> {
    let mut value = CellValue::Empty;
    let mut formula_text = None;
    while !scan.end_tag("c")? {
        let child = scan.start_tag()?;
        let text = if child.empty {
            ""
        } else {
            scan.text_until_end(child.name)?
        };
        match child.name {
            "v" => {
                if text.contains('&') {
                    return Err(Stop::Unsure);
                }
                value = typed_value(text, style, typ, book)?;
            }
            "f" => {
                let [t, si, range] = attributes(child.attributes, ["t", "si", "ref"])?;
                let attributes = FormulaAttributes {
                    shared: t == Some("shared"),
                    index: si.map(str::to_string),
                    range: range.map(str::to_string),
                };
                formula_text = formula(unescape(text)?, &attributes, pos, shared)?;
            }
            _ => return Err(Stop::Unsure),
        }
    }
    Ok((value, formula_text))
}

/// The merged areas after the data: every `<mergeCell ref="…"/>`.
fn merges(rest: &str) -> Result<Vec<Merge>, Stop> {
    if rest.contains("<!") || rest.contains("<sheetData") {
        return Err(Stop::Unsure);
    }
    let mut merged = Vec::new();
    let mut from = 0;
    while let Some(found) = rest[from..].find("<mergeCell") {
        let at = from + found + "<mergeCell".len();
        from = at;
        // `<mergeCells …>` is the list, not an area.
        if !rest[at..].starts_with([' ', '\t', '\n', '/', '>']) {
            continue;
        }
        let close = rest[at..].find('>').ok_or(Stop::Unsure)?;
        let attributes = rest[at..at + close].trim_end_matches('/');
        if let Some(r) = attribute(attributes, "ref")? {
            let (first, last) = range_ref(r.as_bytes()).ok_or(Stop::Unsure)?;
            merged.push(Merge { first, last });
        }
    }
    Ok(merged)
}
