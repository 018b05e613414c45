//! Reading a document into a [`Element`] tree with quick-xml, within fixed bounds, and
//! reporting malformed input the way libvirt relays libxml2's complaints: the message,
//! the offending line and a pointer under the column.

mod errors;

use quick_xml::escape::resolve_xml_entity;
use quick_xml::events::attributes::AttrError;
use quick_xml::events::{BytesRef, BytesStart, Event};
use quick_xml::{Reader, XmlVersion};

use super::build::{is_blank, Builder};
use super::tree::{Element, SmallStr};
use crate::abi::virErrorNumber::VIR_ERR_XML_ERROR;
use crate::error::{Error, ErrorDomain, Result};
use errors::{attr_error, line_of, report, Malformed, Parsed};

/// Largest document accepted; libvirt's own documents are a few kilobytes.
pub const MAX_INPUT: usize = 10 << 20;
/// Deepest nesting accepted: libxml2 refuses to open an element below 257 open ones.
pub(super) const MAX_DEPTH: usize = 257;
/// outside the root are dropped; whitespace-only text beside elements is dropped.
/// `url` names the document in messages ("(domain_definition)").
pub fn parse(xml: &str, url: &str, domain: ErrorDomain) -> Result<Element> {
    if xml.len() > MAX_INPUT {
        return Err(Error::new(
            VIR_ERR_XML_ERROR,
            domain,
            format!(
                "document of {} bytes exceeds the limit of {MAX_INPUT} bytes",
                xml.len()
            ),
        ));
    }
    Parser::new(xml)
        .run()
        .map_err(|m| report(xml, url, domain, &m))
}

/// The reader of any document, with libxml2's complaints about malformed ones.
struct Parser<'a> {
    xml: &'a str,
    reader: Reader<&'a [u8]>,
    tree: Builder,
}

impl<'a> Parser<'a> {
    fn new(xml: &'a str) -> Self {
        let mut reader = Reader::from_str(xml);
        // libxml2 refuses `--` inside comments; quick-xml checks it only when asked.
        reader.config_mut().check_comments = true;
        Parser {
            xml,
            reader,
            tree: Builder::default(),
        }
    }

    fn run(mut self) -> Parsed<Element> {
        if self.xml.is_empty() {
            return Err(Malformed::new("Document is empty", 0));
        }
        loop {
            let at = self.reader.buffer_position() as usize;
            let event = self.reader.read_event().map_err(|e| self.malformed(e))?;
            match event {
                Event::Start(start) => {
                    let element = self.start(&start, at)?;
                    self.tree.open(element, at);
                }
                Event::Empty(start) => {
                    let element = self.start(&start, at)?;
                    self.tree.empty(element);
                }
                Event::End(_) => {
                    if self.tree.close().is_none() {
                        return Err(Malformed::new(
                            "Extra content at the end of the document",
                            at,
                        ));
                    }
                }
                Event::Text(text) => {
                    let content = text.xml10_content();
                    self.text(&content, at)?;
                }
                Event::CData(cdata) => {
                    let content = cdata.xml10_content();
                    self.text(&content, at)?;
                }
                Event::GeneralRef(reference) => {
                    let resolved = self.reference(&reference, at)?;
                    self.text(&resolved, at)?;
                }
                Event::Comment(comment) => {
                    if self.tree.depth() > 0 {
                        self.tree.comment(SmallStr::from(comment.xml10_content()));
                    }
                }
                Event::Decl(_) | Event::PI(_) | Event::DocType(_) => {}
                Event::Eof => return self.finish(),
            }
        }
    }

    /// Reads a start tag: its name, and its attributes unescaped and normalized.
    fn start(&mut self, start: &BytesStart, at: usize) -> Parsed<Element> {
        let qname = start.name();
        let name: &str = qname.as_ref();
        if self.tree.has_root() {
            return Err(Malformed::new(
                "Extra content at the end of the document",
                at,
            ));
        }
        if !is_name(name) {
            return Err(Malformed::new("StartTag: invalid element name", at + 1));
        }
        if self.tree.depth() >= MAX_DEPTH {
            return Err(Malformed::new(
                format!(
                    "Excessive depth in document: {} use XML_PARSE_HUGE option",
                    MAX_DEPTH - 1
                ),
                at,
            ));
        }
        self.tree.attrs.clear();
        let tag_end = at + 1 + start.len();
        // Repeated names are checked here rather than by quick-xml, which would keep a
        // vector of the names for every tag.
        let mut attributes = start.attributes();
        attributes.with_checks(false);
        for attr in attributes {
            let attr = attr.map_err(|e| attr_error(self.xml, &e, at, tag_end))?;
            let key: &str = attr.key.as_ref();
            let key_at = at + 1 + offset_in(start, key);
            if self.tree.attrs.iter().any(|(k, _)| k == key) {
                let duplicated = AttrError::Duplicated(key_at - at - 1, 0);
                return Err(attr_error(self.xml, &duplicated, at, tag_end));
            }
            if !is_name(key) {
                return Err(Malformed::new("error parsing attribute name", key_at));
            }
            if let Some(i) = attr.value.find('<') {
                let value_at = at + 1 + offset_in(start, &attr.value);
                return Err(Malformed::new(
                    "Unescaped '<' not allowed in attributes values",
                    value_at + i,
                ));
            }
            let value = attr
                .normalized_value(XmlVersion::Implicit1_0)
                .map_err(|e| self.escape_error(e, at + 1 + offset_in(start, &attr.value)))?;
            if let Some((i, _)) = invalid_char(&value) {
                let value_at = at + 1 + offset_in(start, &attr.value);
                return Err(Malformed::new(
                    "invalid character in attribute value",
                    value_at + i,
                ));
            }
            self.tree
                .attrs
                .push((SmallStr::new(key), SmallStr::from(value)));
        }
        Ok(self.tree.element(name))
    }

    fn text(&mut self, text: &str, at: usize) -> Parsed<()> {
        if let Some((i, c)) = invalid_char(text) {
            return Err(Malformed::new(
                format!("PCDATA invalid Char value {}", c as u32),
                at + i,
            ));
        }
        if self.tree.depth() == 0 {
            return match text.bytes().position(|b| !is_blank(b)) {
                None => Ok(()),
                Some(i) if self.tree.has_root() => Err(Malformed::new(
                    "Extra content at the end of the document",
                    at + i,
                )),
                Some(i) => Err(Malformed::new("Start tag expected, '<' not found", at + i)),
            };
        }
        self.tree.text(text);
        Ok(())
    }

    /// Resolves `&name;` and `&#N;`: only XML's predefined entities exist without a DTD.
    fn reference(&self, r: &BytesRef, at: usize) -> Parsed<String> {
        let end = at + r.len() + 2;
        if let Some(number) = r.strip_prefix('#') {
            let (digits, radix, kind) = match number.strip_prefix('x') {
                Some(hex) => (hex, 16, "hexadecimal"),
                None => (number, 10, "decimal"),
            };
            if let Some(bad) = digits
                .find(|c: char| !c.is_digit(radix))
                .or(digits.is_empty().then_some(0))
            {
                let digits_at = end - 1 - digits.len();
                return Err(Malformed::new(
                    format!("CharRef: invalid {kind} value"),
                    digits_at + bad,
                ));
            }
            return match u32::from_str_radix(digits, radix)
                .ok()
                .filter(|&v| v <= 0x10FFFF)
            {
                None => Err(Malformed::new(
                    "xmlParseCharRef: character reference out of bounds",
                    end,
                )),
                Some(v) => match char::from_u32(v).filter(|&c| is_xml_char(c)) {
                    Some(c) => Ok(c.to_string()),
                    None => Err(Malformed::new(
                        format!("xmlParseCharRef: invalid xmlChar value {v}"),
                        end,
                    )),
                },
            };
        }
        match resolve_xml_entity(r) {
            Some(s) => Ok(s.to_owned()),
            None => Err(Malformed::new(
                format!("Entity '{}' not defined", &**r),
                end,
            )),
        }
    }

    fn finish(self) -> Parsed<Element> {
        let end = self.xml.len();
        match self.tree.into_root() {
            Ok(root) => Ok(root),
            Err(Some(open)) => {
                let line = line_of(self.xml, open.at);
                let name = open.element.name;
                Err(Malformed::new(
                    format!("Premature end of data in tag {name} line {line}"),
                    end,
                ))
            }
            Err(None) => Err(Malformed::new("Start tag expected, '<' not found", end)),
        }
    }
}

/// Where `part` (a slice of the tag's bytes) starts within the tag after `<`.
fn offset_in(start: &BytesStart, part: &str) -> usize {
    let whole: &str = start;
    (part.as_ptr() as usize)
        .saturating_sub(whole.as_ptr() as usize)
        .min(whole.len())
}

/// passes, so bytes can be checked alone.
pub(super) fn is_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_' || b == b':' || !b.is_ascii())
        && bytes.all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'_' | b':' | b'-' | b'.') || !b.is_ascii()
        })
}

/// XML 1.0 `Char`.
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// The first character that is not an XML `Char`, and its offset. ASCII text, which is
/// nearly all text, is checked byte by byte.
pub(super) fn invalid_char(s: &str) -> Option<(usize, char)> {
    if s.is_ascii() {
        let i = s
            .bytes()
            .position(|b| b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r'))?;
        return Some((i, char::from(s.as_bytes()[i])));
    }
    s.char_indices().find(|&(_, c)| !is_xml_char(c))
}

#[cfg(test)]
mod tests;
