//! How a value cell is read (rule 6): a number, a blank, or text that may be
//! a number in Vietnamese or English notation. Kept apart from the rules
//! because the notation rules are the part districts argue about, and they
//! are best read, and tested, on their own.
//!
//! The notation rule, for text typed into a value cell:
//! - spaces (also non-breaking) between groups of three digits are thousands
//!   separators: `1 234` = 1234;
//! - trailing words are units and are dropped: `5 người` = 5,
//!   `12,5 triệu đồng` = 12.5; leading words are not (`khoảng 5` is refused);
//! - a separator that occurs several times groups thousands (`1.234.567`,
//!   `1,234,567`); with both `.` and `,`, the last one (occurring once) is
//!   the decimal mark and the other groups thousands (`1.234,5`, `1,234.5`);
//! - a single `.` or `,` followed by exactly three digits, after a whole part
//!   of one to three digits not starting with 0, is a thousands separator in
//!   a count (`1.234` = `1,234` = 1234 people) but **ambiguous** in money
//!   (1.234 or 1234 million VND?), which is an error asking the district to
//!   type the number; any other single separator is the decimal mark
//!   (`12,5` = `12.5` = 12.5, `0,125` = 0.125);
//! - anything else (`abc`, `12-15`, `5%`, a lone `-`) is not a number.

use unicode_normalization::UnicodeNormalization;

use crate::domain::LineKind;
use crate::pipeline::read::{Cell, CellValue};

/// What a value cell holds, once read.
#[derive(Debug, Clone, PartialEq)]
pub enum CellRead {
    /// Nothing (also text of spaces only): not reported.
    Blank,
    /// A number cell.
    Number(f64),
    /// Text read as a number (a warning says so).
    Converted { read: String, value: f64 },
    /// Something that is not a number; `why_*` says what it is.
    Unreadable {
        read: String,
        why_vi: String,
        why_en: String,
    },
    /// An Excel error value (`#REF!`, …).
    ExcelError(String),
    /// A formula whose result was never stored; the formula text.
    FormulaWithoutResult(String),
}

impl CellRead {
    /// The number, when the cell holds one (read directly or converted).
    pub fn number(&self) -> Option<f64> {
        match self {
            CellRead::Number(x) | CellRead::Converted { value: x, .. } => Some(*x),
            _ => None,
        }
    }
}

/// Reads a value cell of a line of `kind`.
pub fn read_cell(cell: &Cell, kind: LineKind) -> CellRead {
    if let (Some(formula), CellValue::Empty) = (&cell.formula, &cell.value) {
        return CellRead::FormulaWithoutResult(formula.clone());
    }
    match &cell.value {
        CellValue::Empty => CellRead::Blank,
        CellValue::Number(x) if x.is_finite() => CellRead::Number(*x),
        CellValue::Number(x) => CellRead::Unreadable {
            read: x.to_string(),
            why_vi: "không phải là một số hữu hạn".into(),
            why_en: "not a finite number".into(),
        },
        CellValue::Text(text) => {
            if normalise_spaces(text).trim().is_empty() {
                return CellRead::Blank;
            }
            match parse_text_number(text, kind) {
                Ok(value) => CellRead::Converted {
                    read: text.to_string(),
                    value,
                },
                Err(TextProblem::Ambiguous) => CellRead::Unreadable {
                    read: text.to_string(),
                    why_vi: "là chữ và có thể hiểu theo hai cách (dấu chấm/phẩy là phần nghìn hay phần thập phân?)".into(),
                    why_en: "is text that reads two ways (is the separator thousands or decimals?)".into(),
                },
                Err(TextProblem::NotANumber) => CellRead::Unreadable {
                    read: text.to_string(),
                    why_vi: "là chữ, không đọc được thành số".into(),
                    why_en: "is text that is not a number".into(),
                },
            }
        }
        CellValue::Bool(b) => CellRead::Unreadable {
            read: if *b { "TRUE".into() } else { "FALSE".into() },
            why_vi: "chứa giá trị đúng/sai (TRUE/FALSE), không phải số".into(),
            why_en: "holds a TRUE/FALSE value, not a number".into(),
        },
        CellValue::Error(e) => CellRead::ExcelError(e.clone()),
        CellValue::DateTime { .. } => CellRead::Unreadable {
            read: cell.value.display(),
            why_vi: "chứa ngày tháng, không phải số (có thể Excel đã tự đổi số vừa nhập thành ngày; đề nghị định dạng ô là Số rồi nhập lại)".into(),
            why_en: "holds a date, not a number (Excel may have turned the typed number into a date)".into(),
        },
    }
}

/// Why a text is not read as a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextProblem {
    /// It reads as two different numbers.
    Ambiguous,
    /// It is not a number at all.
    NotANumber,
}

fn normalise_spaces(text: &str) -> String {
    text.nfc()
        .map(|c| match c {
            '\u{a0}' | '\u{202f}' | '\u{2009}' | '\u{2007}' | '\t' => ' ',
            other => other,
        })
        .collect()
}

/// Reads text as a number under the notation rule of this module.
///
/// # Errors
/// [`TextProblem`] when the text is ambiguous or not a number.
pub fn parse_text_number(text: &str, kind: LineKind) -> Result<f64, TextProblem> {
    let normal = normalise_spaces(text);
    let s = normal.trim();
    let mut end = 0;
    for (i, c) in s.char_indices() {
        let allowed = c.is_ascii_digit() || c == '.' || c == ',' || c == ' ' || (i == 0 && (c == '-' || c == '+'));
        if !allowed {
            break;
        }
        end = i + c.len_utf8();
    }
    let (number, rest) = s.split_at(end);
    let rest = rest.trim();
    let unit_words = rest.starts_with(char::is_alphabetic)
        && rest
            .chars()
            .all(|c| c.is_alphabetic() || c == ' ' || c == '.' || c == '/');
    if !rest.is_empty() && !unit_words {
        return Err(TextProblem::NotANumber);
    }
    let number = number.trim();
    let (negative, body) = match number.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, number.strip_prefix('+').unwrap_or(number)),
    };
    if !body.chars().any(|c| c.is_ascii_digit())
        || !body.starts_with(|c: char| c.is_ascii_digit() || c == '.' || c == ',')
    {
        return Err(TextProblem::NotANumber);
    }
    let body = remove_thousands_spaces(body)?;
    let magnitude = parse_separators(&body, kind)?;
    Ok(if negative { -magnitude } else { magnitude })
}

/// "1 234 567" → "1234567"; a space anywhere else makes it not a number.
fn remove_thousands_spaces(body: &str) -> Result<String, TextProblem> {
    if !body.contains(' ') {
        return Ok(body.to_string());
    }
    let parts: Vec<&str> = body.split(' ').collect();
    let first = parts[0];
    if first.is_empty() || first.len() > 3 || !first.chars().all(|c| c.is_ascii_digit()) {
        return Err(TextProblem::NotANumber);
    }
    for (i, part) in parts.iter().enumerate().skip(1) {
        let digits: String = part.chars().take_while(char::is_ascii_digit).collect();
        let last = i == parts.len() - 1;
        // Only the last group may carry a decimal part ("1 234,5").
        let tail_ok = if last {
            part.len() == 3 || part[3.min(part.len())..].starts_with(['.', ','])
        } else {
            part.len() == 3
        };
        if digits.len() != 3 || !tail_ok {
            return Err(TextProblem::NotANumber);
        }
    }
    Ok(parts.concat())
}

fn valid_grouping(parts: &[&str]) -> bool {
    let Some((first, rest)) = parts.split_first() else {
        return false;
    };
    !first.is_empty()
        && first.len() <= 3
        && !(first.len() > 1 && first.starts_with('0'))
        && first.chars().all(|c| c.is_ascii_digit())
        && rest
            .iter()
            .all(|p| p.len() == 3 && p.chars().all(|c| c.is_ascii_digit()))
}

fn digits(text: &str) -> Result<f64, TextProblem> {
    if text.is_empty() {
        return Ok(0.0);
    }
    if !text.chars().all(|c| c.is_ascii_digit()) {
        return Err(TextProblem::NotANumber);
    }
    text.parse::<f64>().map_err(|_| TextProblem::NotANumber)
}

fn decimal(whole: &str, fraction: &str) -> Result<f64, TextProblem> {
    if whole.is_empty() && fraction.is_empty() {
        return Err(TextProblem::NotANumber);
    }
    if !whole.chars().all(|c| c.is_ascii_digit()) || !fraction.chars().all(|c| c.is_ascii_digit()) {
        return Err(TextProblem::NotANumber);
    }
    format!(
        "{}.{}",
        if whole.is_empty() { "0" } else { whole },
        if fraction.is_empty() { "0" } else { fraction }
    )
    .parse::<f64>()
    .map_err(|_| TextProblem::NotANumber)
}

fn parse_separators(body: &str, kind: LineKind) -> Result<f64, TextProblem> {
    let dots = body.matches('.').count();
    let commas = body.matches(',').count();
    match (dots, commas) {
        (0, 0) => digits(body),
        (_, 0) | (0, _) => {
            let sep = if dots > 0 { '.' } else { ',' };
            let parts: Vec<&str> = body.split(sep).collect();
            if parts.len() > 2 {
                return if valid_grouping(&parts) {
                    digits(&parts.concat())
                } else {
                    Err(TextProblem::NotANumber)
                };
            }
            let (whole, fraction) = (parts[0], parts[1]);
            let looks_grouped = fraction.len() == 3 && valid_grouping(&[whole, fraction]) && whole != "0";
            if looks_grouped {
                match kind {
                    LineKind::Int => digits(&format!("{whole}{fraction}")),
                    LineKind::Money => Err(TextProblem::Ambiguous),
                }
            } else {
                decimal(whole, fraction)
            }
        }
        _ => {
            let (last_pos, decimal_mark) = match (body.rfind('.'), body.rfind(',')) {
                (Some(d), Some(c)) if d > c => (d, '.'),
                (Some(_), Some(c)) => (c, ','),
                _ => return Err(TextProblem::NotANumber),
            };
            let group_mark = if decimal_mark == '.' { ',' } else { '.' };
            if body.matches(decimal_mark).count() != 1 {
                return Err(TextProblem::NotANumber);
            }
            let (whole, fraction) = (&body[..last_pos], &body[last_pos + 1..]);
            let groups: Vec<&str> = whole.split(group_mark).collect();
            if !valid_grouping(&groups) {
                return Err(TextProblem::NotANumber);
            }
            decimal(&groups.concat(), fraction)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn int(text: &str) -> Result<f64, TextProblem> {
        parse_text_number(text, LineKind::Int)
    }

    fn money(text: &str) -> Result<f64, TextProblem> {
        parse_text_number(text, LineKind::Money)
    }

    #[test]
    fn counts_read_dots_and_commas_as_thousands() {
        assert_eq!(int("1.234"), Ok(1234.0));
        assert_eq!(int("1,234"), Ok(1234.0));
        assert_eq!(int("1.234.567"), Ok(1_234_567.0));
        assert_eq!(int("1 234"), Ok(1234.0));
        assert_eq!(int("1\u{a0}234"), Ok(1234.0));
        assert_eq!(int("5 người"), Ok(5.0));
        assert_eq!(int("  12  "), Ok(12.0));
        assert_eq!(int("1.234 lượt"), Ok(1234.0));
    }

    #[test]
    fn money_reads_both_decimal_marks_and_refuses_the_ambiguous_one() {
        assert_eq!(money("12,5"), Ok(12.5));
        assert_eq!(money("12.5"), Ok(12.5));
        assert_eq!(money("1.234,5"), Ok(1234.5));
        assert_eq!(money("1,234.5"), Ok(1234.5));
        assert_eq!(money("0,125"), Ok(0.125));
        assert_eq!(money("12,5 triệu đồng"), Ok(12.5));
        assert_eq!(money("1 234,5"), Ok(1234.5));
        assert_eq!(money("1,234"), Err(TextProblem::Ambiguous));
        assert_eq!(money("1.234"), Err(TextProblem::Ambiguous));
        assert_eq!(money("1.234.567"), Ok(1_234_567.0));
    }

    #[test]
    fn what_is_not_a_number_is_refused() {
        for text in [
            "abc",
            "12-15",
            "5%",
            "-",
            "khoảng 5",
            "1.2,3",
            "12 5",
            "1,2,3",
            "..",
            "1.234,5,6",
        ] {
            assert_eq!(int(text), Err(TextProblem::NotANumber), "{text}");
        }
    }

    #[test]
    fn a_sign_is_kept_for_the_domain_rule_to_judge() {
        assert_eq!(int("-3"), Ok(-3.0));
        assert_eq!(money("-12,5"), Ok(-12.5));
    }

    #[test]
    fn cells_read_by_their_kind() {
        let text = |t: &str| Cell::value(CellValue::Text(t.into()));
        assert_eq!(
            read_cell(&Cell::value(CellValue::Empty), LineKind::Int),
            CellRead::Blank
        );
        assert_eq!(read_cell(&text("   "), LineKind::Int), CellRead::Blank);
        assert_eq!(
            read_cell(&Cell::value(CellValue::Number(7.0)), LineKind::Int),
            CellRead::Number(7.0)
        );
        assert_eq!(
            read_cell(&text("12,5"), LineKind::Money),
            CellRead::Converted {
                read: "12,5".into(),
                value: 12.5
            }
        );
        assert_eq!(
            read_cell(&Cell::value(CellValue::Error("#REF!".into())), LineKind::Int),
            CellRead::ExcelError("#REF!".into())
        );
        let formula = Cell {
            value: CellValue::Empty,
            formula: Some("SUM(E17:E20)".into()),
        };
        assert_eq!(
            read_cell(&formula, LineKind::Int),
            CellRead::FormulaWithoutResult("SUM(E17:E20)".into())
        );
        assert!(matches!(
            read_cell(&Cell::value(CellValue::Bool(true)), LineKind::Int),
            CellRead::Unreadable { .. }
        ));
    }
}
