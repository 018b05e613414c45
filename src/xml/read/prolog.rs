//! The XML declaration and processing instructions, checked as libxml2 checks them:
//! quick-xml reports both without looking inside.

use super::errors::{Malformed, Parsed};
use super::is_name;
use crate::xml::build::is_blank;

/// Encoding names that need no conversion of the text (the input is UTF-8 already).
const UTF8_NAMES: &[&str] = &["UTF-8", "UTF8"];

/// Checks `<?xml ...?>` found at byte `at` (`decl` is what lies between `<?`
/// and `?>`): it must open the document (at byte `start`, after any byte order mark), and its version, encoding and standalone
/// declarations must be libxml2's.
pub(super) fn check_decl(at: usize, start: usize, decl: &str) -> Parsed<()> {
    if at != start {
        return Err(Malformed::new(
            "XML declaration allowed only at the start of the document",
            at + 5,
        ));
    }
    // `<?xml?>` is no declaration but a processing instruction with a reserved name.
    if !decl.as_bytes().get(3).is_some_and(|&b| is_blank(b)) {
        return check_pi(at, decl);
    }
    let mut s = Cursor {
        text: decl,
        pos: 3,
        base: at + 2,
    };
    s.skip_blanks();
    match s.pseudo_attr("version")? {
        None => {
            return Err(s.error("Malformed declaration expecting version"));
        }
        Some((version, end)) => {
            let num = version_num(version);
            if num != version.len() {
                return Err(Malformed::new(
                    "String not closed expecting \" or '",
                    end - version.len() - 1 + num,
                ));
            }
            if !version.starts_with("1.") {
                return Err(Malformed::new(
                    format!("Unsupported version '{version}'"),
                    end,
                ));
            }
        }
    }
    if s.after_value()? {
        return Ok(());
    }
    if let Some((encoding, end)) = s.pseudo_attr("encoding")? {
        let valid = encoding
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic())
            && encoding
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if !valid {
            return Err(Malformed::new(
                "Invalid XML encoding name",
                end - encoding.len() - 1,
            ));
        }
        if !is_known_encoding(encoding) {
            return Err(Malformed::new(
                format!("Unsupported encoding {encoding}"),
                end,
            ));
        }
        if s.after_value()? {
            return Ok(());
        }
    }
    s.skip_blanks();
    if let Some((standalone, end)) = s.pseudo_attr("standalone")? {
        if standalone != "yes" && standalone != "no" {
            return Err(Malformed::new(
                "standalone accepts only 'yes' or 'no'",
                end - standalone.len() - 1,
            ));
        }
    }
    s.skip_blanks();
    if s.at_end() {
        Ok(())
    } else {
        Err(s.error("parsing XML declaration: '?>' expected"))
    }
}

/// Checks the target of `<?target ...?>` at byte `at` (`pi` lies between `<?` and `?>`).
pub(super) fn check_pi(at: usize, pi: &str) -> Parsed<()> {
    let len = pi
        .find(|c: char| c.is_ascii_whitespace())
        .unwrap_or(pi.len());
    let target = &pi[..len];
    if target == "xml" {
        return Err(Malformed::new(
            "XML declaration allowed only at the start of the document",
            at + 5,
        ));
    }
    if target.eq_ignore_ascii_case("xml") {
        return Err(Malformed::new("Invalid PI name", at + 2 + len));
    }
    // The target is the longest name the text starts with.
    let name_len = (1..=len)
        .rev()
        .find(|&n| target.is_char_boundary(n) && is_name(&target[..n]))
        .unwrap_or(0);
    if name_len == 0 {
        return Err(Malformed::new("xmlParsePI : no target name", at + 2));
    }
    if name_len < len {
        return Err(Malformed::new(
            format!("ParsePI: PI {} space expected", &target[..name_len]),
            at + 2 + name_len,
        ));
    }
    Ok(())
}

/// libxml2's `VersionNum`: a digit, a dot and digits; returns the length it covers.
fn version_num(v: &str) -> usize {
    let b = v.as_bytes();
    if b.len() < 2 || !b[0].is_ascii_digit() || b[1] != b'.' {
        return usize::from(b.first().is_some_and(u8::is_ascii_digit));
    }
    2 + b[2..].iter().take_while(|c| c.is_ascii_digit()).count()
}

/// Whether libxml2 could convert from `name`: UTF-8 needs nothing, anything else is
/// whatever iconv knows (libxml2 asks iconv for what it does not handle itself).
fn is_known_encoding(name: &str) -> bool {
    if UTF8_NAMES.iter().any(|n| n.eq_ignore_ascii_case(name)) {
        return true;
    }
    let Ok(from) = std::ffi::CString::new(name) else {
        return false;
    };
    // SAFETY: both arguments are NUL-terminated strings; the descriptor is closed at once.
    unsafe {
        let cd = libc::iconv_open(c"UTF-8".as_ptr(), from.as_ptr());
        if cd as isize == -1 {
            return false;
        }
        libc::iconv_close(cd);
    }
    true
}

/// A position in the declaration's text, `base` being the text's offset in the document.
struct Cursor<'a> {
    text: &'a str,
    pos: usize,
    base: usize,
}

impl<'a> Cursor<'a> {
    fn error(&self, message: &str) -> Malformed {
        Malformed::new(message, self.base + self.pos)
    }

    fn at_end(&self) -> bool {
        self.pos >= self.text.len()
    }

    fn blank_next(&self) -> bool {
        self.text
            .as_bytes()
            .get(self.pos)
            .is_some_and(|&b| is_blank(b))
    }

    /// After a value: true at the declaration's end, else past the blank that must
    /// separate it from what follows.
    fn after_value(&mut self) -> Parsed<bool> {
        if self.at_end() {
            return Ok(true);
        }
        if !self.blank_next() {
            return Err(self.error("Blank needed here"));
        }
        self.skip_blanks();
        Ok(false)
    }

    fn skip_blanks(&mut self) {
        while self.blank_next() {
            self.pos += 1;
        }
    }

    /// `name = 'value'` if the text goes on with `name`: the value, and the document
    /// offset just after its closing quote.
    fn pseudo_attr(&mut self, name: &str) -> Parsed<Option<(&'a str, usize)>> {
        if !self.text[self.pos..].starts_with(name) {
            return Ok(None);
        }
        self.pos += name.len();
        self.skip_blanks();
        if self.text.as_bytes().get(self.pos) != Some(&b'=') {
            return Err(self.error("Specification mandates value for attribute"));
        }
        self.pos += 1;
        self.skip_blanks();
        let quote = match self.text.as_bytes().get(self.pos) {
            Some(&q @ (b'\'' | b'"')) => q as char,
            _ => return Err(self.error("String not started expecting ' or \"")),
        };
        self.pos += 1;
        let start = self.pos;
        let Some(len) = self.text[start..].find(quote) else {
            return Err(Malformed::new(
                "String not closed expecting \" or '",
                self.base + self.text.len(),
            ));
        };
        self.pos = start + len + 1;
        Ok(Some((&self.text[start..start + len], self.base + self.pos)))
    }
}
