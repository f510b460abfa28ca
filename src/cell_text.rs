//! Excel's limit on the text of a cell, and the one way baocao cuts a text
//! to it. A text built from the data (a list of units, a value echoed in a
//! message) must not make a workbook fail to write or fail to open: it is
//! cut, and the cut says so.

use std::borrow::Cow;

/// Excel's limit on the text of a cell, in UTF-16 code units (a character
/// outside the Basic Multilingual Plane, an emoji, counts twice).
pub const MAX_CELL_TEXT: usize = 32_767;

/// `text` whole when it fits `limit` UTF-16 code units, else as much of its
/// start as fits with `marker` after it, `limit` units in all.
pub fn cut<'a>(text: &'a str, limit: usize, marker: &str) -> Cow<'a, str> {
    // A UTF-16 unit takes at least one UTF-8 byte.
    if text.len() <= limit || text.encode_utf16().count() <= limit {
        return Cow::Borrowed(text);
    }
    let room = limit.saturating_sub(marker.encode_utf16().count());
    let mut used = 0;
    let end = text
        .char_indices()
        .find(|(_, c)| {
            used += c.len_utf16();
            used > room
        })
        .map_or(text.len(), |(at, _)| at);
    Cow::Owned(format!("{}{marker}", &text[..end]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_text_past_the_limit_is_cut_to_it_in_utf16_units_and_says_so() {
        let marker = " … (còn nữa)";
        let short = "thiếu báo cáo tháng 2015-01: 001";
        assert_eq!(cut(short, MAX_CELL_TEXT, marker), short, "kept whole");
        // Two UTF-16 units a character: the limit counts them, not characters.
        let at_limit = "𝔸".repeat(MAX_CELL_TEXT / 2);
        assert_eq!(cut(&at_limit, MAX_CELL_TEXT, marker), at_limit.as_str());
        // Three bytes a character: longer in bytes than the limit, kept whole.
        let wide = "ạ".repeat(MAX_CELL_TEXT);
        assert_eq!(cut(&wide, MAX_CELL_TEXT, marker), wide.as_str());
        for long in [
            "ạ, 001".repeat(10_000),
            "𝔸".repeat(MAX_CELL_TEXT),
            "ạ".repeat(MAX_CELL_TEXT + 1),
        ] {
            for limit in [MAX_CELL_TEXT, MAX_CELL_TEXT - 54] {
                let cut = cut(&long, limit, marker);
                let units = cut.encode_utf16().count();
                // An astral character that does not fit leaves one unit free.
                assert!(units <= limit && units + 1 >= limit, "{units} against {limit}");
                let kept = cut.strip_suffix(marker).expect("it says it was cut");
                assert!(long.starts_with(kept), "the start is kept");
            }
        }
    }
}
