//! Malformed documents: libxml2's message for each failure quick-xml reports, and
//! libvirt's rendering of it (the message, the offending line, a pointer under the column).

use quick_xml::errors::{Error as QxError, IllFormedError, SyntaxError};
use quick_xml::events::attributes::AttrError;

use super::dtd::{self, Entity};
use super::{is_name, Parser};
use crate::abi::virErrorNumber::VIR_ERR_XML_DETAIL;
use crate::error::{Error, ErrorDomain};
use crate::xml::build::is_blank;

/// A malformed document: libxml2's message and the byte offset it points at.
#[derive(Debug)]
pub(super) struct Malformed {
    pub(super) message: String,
    pub(super) at: usize,
    /// The line libxml2 names when it is not the line of `at`.
    pub(super) line: Option<usize>,
}

pub(super) type Parsed<T> = std::result::Result<T, Malformed>;

impl Malformed {
    pub(super) fn new(message: impl Into<String>, at: usize) -> Self {
        Malformed {
            message: message.into(),
            at,
            line: None,
        }
    }

    pub(super) fn on_line(self, line: usize) -> Self {
        Malformed {
            line: Some(line),
            ..self
        }
    }
}

/// libvirt's rendering of a libxml2 error: "url:line: message", the line it stopped on,
/// and a pointer with one dash per byte before the column.
pub(super) fn report(xml: &str, url: &str, domain: ErrorDomain, m: &Malformed) -> Error {
    let at = m.at.min(xml.len());
    let bytes = xml.as_bytes();
    let mut cur = at;
    while cur > 0 && matches!(bytes.get(cur), Some(b'\n' | b'\r')) {
        cur -= 1;
    }
    let start = bytes[..cur]
        .iter()
        .rposition(|&b| b == b'\n' || b == b'\r')
        .map_or(0, |i| i + 1);
    let end = bytes[start..]
        .iter()
        .position(|&b| b == b'\n' || b == b'\r')
        .map_or(bytes.len(), |i| start + i);
    let content = String::from_utf8_lossy(&bytes[start..end]);
    let pointer: String = bytes[start..end]
        .iter()
        .take(at.saturating_sub(start))
        .map(|&b| if b == b'\t' { '\t' } else { '-' })
        .chain(std::iter::once('^'))
        .collect();
    let content = if content.is_empty() {
        "(null)".into()
    } else {
        content
    };
    let line = m.line.unwrap_or_else(|| line_of(xml, at));
    Error::new(
        VIR_ERR_XML_DETAIL,
        domain,
        format!("{url}:{line}: {}\n{content}\n{pointer}", m.message),
    )
}

pub(super) fn line_of(xml: &str, at: usize) -> usize {
    1 + xml.as_bytes()[..at.min(xml.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
}

impl Parser<'_> {
    /// Maps a quick-xml failure to the message libxml2 gives for the same input.
    pub(super) fn malformed(&self, e: QxError) -> Malformed {
        let xml = self.xml;
        let end = xml.len();
        let at = self.bom + self.reader.error_position() as usize;
        match e {
            QxError::Syntax(SyntaxError::UnclosedTag) => {
                let tag = &xml[(at + 1).min(end)..];
                if tag.starts_with('/') {
                    return Malformed::new("expected '>'", end);
                }
                let name: String = tag
                    .chars()
                    .take_while(|&c| !c.is_whitespace() && c != '/')
                    .collect();
                if name.is_empty() || !is_name(&name) {
                    return Malformed::new("StartTag: invalid element name", at + 1);
                }
                // Cut short after an attribute name or its `=`.
                let attrs = tag[name.len()..].trim_end();
                if attrs.ends_with('=') {
                    return Malformed::new("AttValue: \" or ' expected", end);
                }
                let last = attrs.rsplit(char::is_whitespace).next().unwrap_or_default();
                if !last.is_empty() && !last.contains(['=', '\'', '"']) {
                    return Malformed::new(
                        format!("Specification mandates value for attribute {last}"),
                        end,
                    );
                }
                // Cut short right after a value, where a blank or the tag's end must come.
                // (libxml2 points at a `/` that no `>` follows.)
                let after_name = &tag[name.len()..];
                let attrs = after_name.trim_end_matches('/');
                if attrs.ends_with(['\'', '"']) {
                    let slashes = after_name.len() - attrs.len();
                    return Malformed::new("attributes construct error", end - slashes.min(1));
                }
                let line = line_of(xml, at);
                Malformed::new(
                    format!("Couldn't find end of Start Tag {name} line {line}"),
                    end,
                )
            }
            QxError::Syntax(SyntaxError::UnclosedSingleQuotedAttributeValue) => {
                Malformed::new("AttValue: ' expected", end)
            }
            QxError::Syntax(SyntaxError::UnclosedDoubleQuotedAttributeValue) => {
                // libxml2 names the single quote whichever quote opened the value.
                Malformed::new("AttValue: ' expected", end)
            }
            QxError::Syntax(SyntaxError::UnclosedComment) => {
                Malformed::new("Comment not terminated", end)
            }
            QxError::Syntax(SyntaxError::UnclosedCData) => {
                Malformed::new("Unregistered error message", end)
            }
            QxError::Syntax(SyntaxError::UnclosedPI | SyntaxError::UnclosedXmlDecl) => {
                Malformed::new("ParsePI: PI never end ...", end)
            }
            QxError::Syntax(SyntaxError::UnclosedDoctype)
            | QxError::IllFormed(IllFormedError::MissingDoctypeName) => {
                // quick-xml's view of the declaration's end may differ: read it again.
                let start = xml
                    .get(..(at + "<!DOCTYPE".len()).min(end))
                    .and_then(|h| h.rfind("<!DOCTYPE"))
                    .unwrap_or(at);
                match dtd::parse(&xml[start..], start) {
                    Err(m) => m,
                    Ok(_) => Malformed::new("DOCTYPE improperly terminated", end),
                }
            }
            QxError::Syntax(SyntaxError::InvalidBangMarkup) => {
                Malformed::new("StartTag: invalid element name", at + 1)
            }
            QxError::IllFormed(IllFormedError::MismatchedEndTag { found, .. })
                if found.starts_with(|c: char| c.is_ascii_whitespace()) =>
            {
                Malformed::new("expected '>'", at + 3)
            }
            QxError::IllFormed(IllFormedError::MismatchedEndTag { expected, found }) => {
                let line = self
                    .tree
                    .innermost()
                    .map_or(1, |open| line_of(xml, open.at));
                let close = xml[at..].find('>').map_or(end, |i| at + i + 1);
                Malformed::new(
                    format!("Opening and ending tag mismatch: {expected} line {line} and {found}"),
                    close,
                )
            }
            QxError::IllFormed(IllFormedError::UnmatchedEndTag(_)) => {
                Malformed::new("Extra content at the end of the document", at)
            }
            QxError::IllFormed(IllFormedError::DoubleHyphenInComment) => {
                // libxml2 quotes the comment up to the offending dashes.
                let start = xml
                    .get(..(at + 4).min(end))
                    .and_then(|h| h.rfind("<!--"))
                    .unwrap_or(at);
                let dashes = xml
                    .get(start + 4..)
                    .and_then(|c| c.find("--"))
                    .map_or(end, |i| start + 4 + i);
                let read = xml.get(start..dashes).unwrap_or_default();
                Malformed::new(format!("Double hyphen within comment: {read}"), dashes)
            }
            QxError::IllFormed(IllFormedError::UnclosedReference) => {
                // libxml2 stops after the entity's name.
                let name = xml.get(at + 1..).unwrap_or_default();
                let len = name.find(|c: char| {
                    !(c.is_alphanumeric() || matches!(c, '_' | ':' | '-' | '.' | '#'))
                });
                Malformed::new("EntityRef: expecting ';'", len.map_or(end, |l| at + 1 + l))
            }
            QxError::Escape(e) => self.escape_error(QxError::Escape(e), at),
            other => Malformed::new(other.to_string(), at),
        }
    }

    pub(super) fn escape_error(&self, e: QxError, at: usize) -> Malformed {
        use quick_xml::escape::EscapeError;
        match e {
            QxError::Escape(EscapeError::UnrecognizedEntity(range, name)) => {
                let external = matches!(
                    self.doctype.as_ref().and_then(|d| d.get(&name)),
                    Some(Entity::External | Entity::Unparsed)
                );
                let message = if external {
                    format!("Attribute references external entity '{name}'")
                } else {
                    format!("Entity '{name}' not defined")
                };
                Malformed::new(message, at + range.end + 1)
            }
            QxError::Escape(EscapeError::UnterminatedEntity(range)) => {
                Malformed::new("EntityRef: expecting ';'", at + range.end)
            }
            QxError::Escape(EscapeError::InvalidCharRef(_)) => {
                Malformed::new("xmlParseCharRef: invalid xmlChar value 0", at)
            }
            other => Malformed::new(other.to_string(), at),
        }
    }
}

pub(super) fn attr_error(xml: &str, e: &AttrError, at: usize, tag_end: usize) -> Malformed {
    let base = at + 1;
    match *e {
        AttrError::ExpectedEq(pos) => {
            // XML's white space only: other white space (U+00A0) may be part of a name.
            let before = xml
                .get(..base + pos)
                .unwrap_or_default()
                .trim_end_matches(|c: char| c.is_ascii() && is_blank(c as u8));
            let key_at = before.bytes().rposition(is_blank).map_or(0, |i| i + 1);
            let key = &before[key_at..];
            if !is_name(key) {
                return Malformed::new("error parsing attribute name", key_at);
            }
            Malformed::new(
                format!("Specification mandates value for attribute {key}"),
                base + pos,
            )
        }
        AttrError::ExpectedValue(pos) | AttrError::UnquotedValue(pos) => {
            Malformed::new("AttValue: \" or ' expected", base + pos)
        }
        AttrError::ExpectedQuote(_, quote) => {
            Malformed::new(format!("AttValue: {} expected", quote as char), tag_end)
        }
        // The reader checks repeated names itself; quick-xml's check is off.
        AttrError::Duplicated(pos, _) => Malformed::new("Attribute redefined", base + pos),
    }
}
