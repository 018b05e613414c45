//! Reading a document into a [`Element`] tree with quick-xml, within fixed bounds, and
//! reporting malformed input the way libvirt relays libxml2's complaints: the message,
//! the offending line and a pointer under the column.

mod dtd;
mod errors;
mod prolog;

use quick_xml::escape::resolve_xml_entity;
use quick_xml::events::attributes::Attribute;
use quick_xml::events::{BytesRef, BytesStart, Event};
use quick_xml::{Reader, XmlVersion};
use std::borrow::Cow;

use super::build::{is_blank, Builder};
use super::tree::{Element, SmallStr};
use crate::abi::virErrorNumber::VIR_ERR_XML_ERROR;
use crate::error::{Error, ErrorDomain, Result};
use dtd::Entity;
use errors::{attr_error, line_of, report, Malformed, Parsed};

/// Largest document accepted; libvirt's own documents are a few kilobytes.
pub const MAX_INPUT: usize = 10 << 20;
/// Deepest nesting accepted: libxml2 refuses to open an element below 257 open ones.
pub(super) const MAX_DEPTH: usize = 257;
/// Deepest nesting of entities within entities before libxml2 sees a loop.
const MAX_ENTITY_DEPTH: usize = 40;

/// Parses `xml` into its root element. Comments, processing instructions and the DOCTYPE
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
    /// The length of the byte order mark quick-xml skips at the start without counting it
    /// in its positions: added to them to make them offsets in `xml`.
    bom: usize,
    tree: Builder,
    /// The entities of the DOCTYPE, once one was read.
    doctype: Option<dtd::Entities>,
}

impl<'a> Parser<'a> {
    fn new(xml: &'a str) -> Self {
        let mut reader = Reader::from_str(xml);
        // libxml2 refuses `--` inside comments; quick-xml checks it only when asked.
        reader.config_mut().check_comments = true;
        Parser {
            xml,
            reader,
            bom: if xml.starts_with('\u{feff}') { 3 } else { 0 },
            tree: Builder::default(),
            doctype: None,
        }
    }

    fn run(mut self) -> Parsed<Element> {
        if self.xml.is_empty() {
            return Err(Malformed::new("Document is empty", 0));
        }
        loop {
            let at = self.position();
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
                    let raw: &str = &text;
                    if let Some(i) = raw.find("]]>") {
                        // libxml2 points at the start of the text, on the line of `]]>`.
                        let line = line_of(self.xml, at + i);
                        let m = Malformed::new("Sequence ']]>' not allowed in content", at);
                        return Err(m.on_line(line));
                    }
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
                Event::Decl(_) => prolog::check_decl(at, self.bom, self.inner(at, 2))?,
                Event::PI(_) => prolog::check_pi(at, self.inner(at, 2))?,
                Event::DocType(_) => self.doctype(at)?,
                Event::Eof => return self.finish(),
            }
        }
    }

    /// Where the reader is, as an offset in `xml`.
    fn position(&self) -> usize {
        self.bom + self.reader.buffer_position() as usize
    }

    /// What lies between the markup's opening and closing (each `delimiter` bytes long) of
    /// the event that started at `at`.
    fn inner(&self, at: usize, delimiter: usize) -> &'a str {
        let end = self.position();
        &self.xml[at + delimiter..end - delimiter]
    }

    /// `<!DOCTYPE ...>`: once, before the root element.
    fn doctype(&mut self, at: usize) -> Parsed<()> {
        if self.tree.has_root() {
            return Err(Malformed::new(
                "Extra content at the end of the document",
                at,
            ));
        }
        if self.tree.depth() > 0 || self.doctype.is_some() {
            return Err(Malformed::new("StartTag: invalid element name", at + 1));
        }
        let end = self.position();
        self.doctype = Some(dtd::parse(&self.xml[at..end], at)?);
        Ok(())
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
            // libxml2 reads the longest name there and then fails on what follows it.
            let valid = (1..name.len())
                .rev()
                .find(|&n| name.is_char_boundary(n) && is_name(&name[..n]));
            return Err(match valid {
                Some(n) => Malformed::new("error parsing attribute name", at + 1 + n),
                None => Malformed::new("StartTag: invalid element name", at + 1),
            });
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
        // libxml2 reports a repeated name once it has read the whole tag.
        let mut repeated = None;
        let tag: &str = start;
        for attr in attributes {
            let attr = attr.map_err(|e| attr_error(self.xml, &e, at, tag_end))?;
            let key: &str = attr.key.as_ref();
            let key_at = at + 1 + offset_in(start, key);
            if !is_name(key) {
                return Err(Malformed::new("error parsing attribute name", key_at));
            }
            let value_at = at + 1 + offset_in(start, &attr.value);
            if let Some(i) = attr.value.find('<') {
                return Err(Malformed::new(
                    "Unescaped '<' not allowed in attributes values",
                    value_at + i,
                ));
            }
            let value = self.attr_value(&attr, value_at)?;
            if let Some((i, _)) = invalid_char(&value) {
                return Err(Malformed::new(
                    "invalid character in attribute value",
                    value_at + i,
                ));
            }
            // quick-xml reads `a='1'b='2'` as two attributes; XML wants a blank between.
            let after = value_at + attr.value.len() + 1;
            if tag
                .as_bytes()
                .get(after - at - 1)
                .is_some_and(|&b| !is_blank(b))
            {
                return Err(Malformed::new("attributes construct error", after));
            }
            if self.tree.attrs.iter().any(|(k, _)| k == key) {
                repeated = repeated.or_else(|| Some(key.to_owned()));
                continue;
            }
            self.tree
                .attrs
                .push((SmallStr::new(key), SmallStr::from(value)));
        }
        if let Some(key) = repeated {
            return Err(Malformed::new(
                format!("Attribute {key} redefined"),
                tag_end,
            ));
        }
        Ok(self.tree.element(name))
    }

    /// An attribute's value, normalized, with the DOCTYPE's internal entities replaced
    /// (and no more replacement text in all than the largest document). The value
    /// starts at byte `at`.
    fn attr_value<'v>(&self, attr: &Attribute<'v>, at: usize) -> Parsed<Cow<'v, str>> {
        let Some(entities) = &self.doctype else {
            return attr
                .normalized_value(XmlVersion::Implicit1_0)
                .map_err(|e| self.escape_error(e, at));
        };
        let mut budget = Some(MAX_INPUT);
        let value = attr.normalized_value_with(XmlVersion::Implicit1_0, MAX_ENTITY_DEPTH, |name| {
            let text = resolve_xml_entity(name).or_else(|| entities.internal(name))?;
            budget = budget?.checked_sub(text.len());
            budget.map(|_| text)
        });
        match value {
            Err(_) if budget.is_none() => Err(Malformed::new(
                "Maximum entity amplification factor exceeded",
                at,
            )),
            v => v.map_err(|e| self.escape_error(e, at)),
        }
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
        let mut out = String::new();
        let mut budget = MAX_INPUT;
        self.expand(r, end, 0, &mut budget, &mut out)?;
        Ok(out)
    }

    /// Appends what entity `name` stands for to `out`: a predefined entity's character,
    /// an internal entity's text with the entities in it expanded in turn, nothing for
    /// an external one. `end` is where libxml2 points when it fails.
    fn expand(
        &self,
        name: &str,
        end: usize,
        depth: usize,
        budget: &mut usize,
        out: &mut String,
    ) -> Parsed<()> {
        if let Some(s) = resolve_xml_entity(name) {
            out.push_str(s);
            return Ok(());
        }
        let text = match self.doctype.as_ref().and_then(|d| d.get(name)) {
            None => return Err(Malformed::new(format!("Entity '{name}' not defined"), end)),
            Some(Entity::External) => return Ok(()),
            Some(Entity::Unparsed) => {
                return Err(Malformed::new(
                    format!("Entity reference to unparsed entity {name}"),
                    end,
                ))
            }
            Some(Entity::Internal(text)) => text,
        };
        if depth >= MAX_ENTITY_DEPTH {
            return Err(Malformed::new("Detected an entity reference loop", end));
        }
        *budget = budget
            .checked_sub(text.len())
            .ok_or_else(|| Malformed::new("Maximum entity amplification factor exceeded", end))?;
        if text.contains('<') {
            // libxml2 parses such text as elements; virshim's reader does not.
            return Err(Malformed::new(
                format!("Entity '{name}' holds markup, which virshim does not expand"),
                end,
            ));
        }
        let mut rest = text.as_str();
        while let Some(i) = rest.find('&') {
            out.push_str(&rest[..i]);
            let len = rest[i..].find(';').unwrap_or(rest.len() - i);
            self.expand(&rest[i + 1..i + len], end, depth + 1, budget, out)?;
            rest = rest.get(i + len + 1..).unwrap_or_default();
        }
        out.push_str(rest);
        Ok(())
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

/// XML 1.0 `Name`, approximated on ASCII as libxml2 checks it: every non-ASCII character
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
