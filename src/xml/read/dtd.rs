//! The document type declaration: libxml2 reads the entities its internal subset declares
//! and nothing else from it (no external subset, no default attributes). An entity
//! declared with `SYSTEM` or `PUBLIC` is never read: a reference to it in text
//! contributes nothing, as in libvirt, which does not ask libxml2 to load them.

use super::errors::{Malformed, Parsed};
use super::is_name;
use crate::xml::build::is_blank;

/// The general entities a document declares, the first declaration of a name winning.
#[derive(Default)]
pub(super) struct Entities(Vec<(String, Entity)>);

pub(super) enum Entity {
    /// The replacement text, character references already replaced.
    Internal(String),
    /// `SYSTEM` or `PUBLIC`: never loaded.
    External,
    /// An external entity with `NDATA`: not XML at all.
    Unparsed,
}

impl Entities {
    pub(super) fn get(&self, name: &str) -> Option<&Entity> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, e)| e)
    }

    /// The replacement text of internal entity `name`, for attribute values.
    pub(super) fn internal(&self, name: &str) -> Option<&str> {
        match self.get(name) {
            Some(Entity::Internal(text)) => Some(text),
            _ => None,
        }
    }
}

/// Reads `<!DOCTYPE ...>`, which starts at byte `at` of the document.
pub(super) fn parse(decl: &str, at: usize) -> Parsed<Entities> {
    // quick-xml takes `<!doctype` in any case, and reports a cut one as one; libxml2 takes
    // only `<!DOCTYPE` for a declaration, and anything else after `<!` for a bad tag.
    if !decl.starts_with("<!DOCTYPE") {
        return Err(Malformed::new("StartTag: invalid element name", at + 1));
    }
    let mut s = Scan {
        text: decl,
        pos: "<!DOCTYPE".len(),
        base: at,
    };
    s.skip_blanks();
    if s.name().is_none() {
        return Err(s.error("xmlParseDocTypeDecl : no DOCTYPE name !"));
    }
    s.skip_blanks();
    if s.peek() != Some(b'[') && s.peek() != Some(b'>') {
        s.external_id()?;
        s.skip_blanks();
    }
    let mut entities = Entities::default();
    if s.peek() == Some(b'[') {
        s.pos += 1;
        s.internal_subset(&mut entities)?;
        s.skip_blanks();
    }
    if s.peek() != Some(b'>') {
        return Err(s.error("DOCTYPE improperly terminated"));
    }
    Ok(entities)
}

struct Scan<'a> {
    text: &'a str,
    pos: usize,
    base: usize,
}

impl<'a> Scan<'a> {
    fn error(&self, message: impl Into<String>) -> Malformed {
        Malformed::new(message, self.base + self.pos)
    }

    fn rest(&self) -> &'a str {
        self.text.get(self.pos..).unwrap_or_default()
    }

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    /// Skips blanks; tells whether there were any.
    fn skip_blanks(&mut self) -> bool {
        let start = self.pos;
        while self.peek().is_some_and(is_blank) {
            self.pos += 1;
        }
        self.pos > start
    }

    fn name(&mut self) -> Option<&'a str> {
        let rest = self.rest();
        let len = rest
            .find(|c: char| c.is_ascii() && !(c.is_ascii_alphanumeric() || "_:-.".contains(c)))
            .unwrap_or(rest.len());
        let name = &rest[..len];
        if !is_name(name) {
            return None;
        }
        self.pos += len;
        Some(name)
    }

    /// A quoted literal: its content.
    fn literal(&mut self) -> Option<&'a str> {
        let quote = self.peek().filter(|&q| q == b'"' || q == b'\'')? as char;
        let len = self.rest()[1..].find(quote)?;
        let value = &self.rest()[1..1 + len];
        self.pos += len + 2;
        Some(value)
    }

    /// `SYSTEM 'uri'` or `PUBLIC 'id' 'uri'`; nothing else may stand there.
    fn external_id(&mut self) -> Parsed<()> {
        let literals = if self.rest().starts_with("SYSTEM") {
            1
        } else if self.rest().starts_with("PUBLIC") {
            2
        } else {
            return Err(self.error("DOCTYPE improperly terminated"));
        };
        self.pos += "SYSTEM".len();
        for _ in 0..literals {
            if !self.skip_blanks() {
                return Err(self.error("Space required after the Public Identifier"));
            }
            if self.literal().is_none() {
                return Err(self.error("SystemLiteral \" or ' expected"));
            }
        }
        Ok(())
    }

    fn markup_error(&self) -> Malformed {
        self.error("internal error: xmlParseInternalSubset: error detected in Markup declaration\n")
    }

    /// Declarations up to the closing `]`.
    fn internal_subset(&mut self, entities: &mut Entities) -> Parsed<()> {
        loop {
            self.skip_blanks();
            let rest = self.rest();
            if rest.starts_with(']') {
                self.pos += 1;
                return Ok(());
            }
            if rest.starts_with("<!--") {
                let len = rest.find("-->").ok_or_else(|| self.markup_error())?;
                self.pos += len + 3;
            } else if rest.starts_with("<?") {
                let len = rest.find("?>").ok_or_else(|| self.markup_error())?;
                self.pos += len + 2;
            } else if rest.starts_with("<!ENTITY") {
                self.entity(entities)?;
            } else if ["<!ELEMENT", "<!ATTLIST", "<!NOTATION"]
                .iter()
                .any(|d| rest.starts_with(d))
            {
                self.skip_declaration()?;
            } else if rest.starts_with('%') {
                // A parameter entity reference: its declarations are not read.
                let len = rest.find(';').ok_or_else(|| self.markup_error())?;
                self.pos += len + 1;
            } else {
                return Err(self.markup_error());
            }
        }
    }

    /// Skips `<!ELEMENT`, `<!ATTLIST` or `<!NOTATION` up to its `>`, minding quotes.
    fn skip_declaration(&mut self) -> Parsed<()> {
        let start = self.pos;
        while let Some(b) = self.peek() {
            match b {
                b'>' => {
                    self.pos += 1;
                    return Ok(());
                }
                b'"' | b'\'' => {
                    if self.literal().is_none() {
                        break;
                    }
                }
                _ => self.pos += 1,
            }
        }
        self.pos = start;
        Err(self.markup_error())
    }

    /// `<!ENTITY [%] name (value | external id [NDATA name]) >`.
    fn entity(&mut self, entities: &mut Entities) -> Parsed<()> {
        self.pos += "<!ENTITY".len();
        if !self.skip_blanks() {
            return Err(self.error("Space required after '<!ENTITY'"));
        }
        let parameter = self.peek() == Some(b'%');
        if parameter {
            self.pos += 1;
            self.skip_blanks();
        }
        let name = self
            .name()
            .ok_or_else(|| self.error("xmlParseEntityDecl: no name"))?;
        if !self.skip_blanks() {
            return Err(self.error("Space required after the entity name"));
        }
        let entity = if matches!(self.peek(), Some(b'"' | b'\'')) {
            let start = self.pos;
            let raw = self
                .literal()
                .ok_or_else(|| self.error("EntityValue: \" or ' expected"))?;
            let close = self.base + self.pos;
            Entity::Internal(entity_value(raw, start + self.base + 1, close)?)
        } else {
            self.external_id()?;
            let blank = self.skip_blanks();
            if blank && self.rest().starts_with("NDATA") {
                self.pos += "NDATA".len();
                self.skip_blanks();
                self.name()
                    .ok_or_else(|| self.error("Space required after 'NDATA'"))?;
                Entity::Unparsed
            } else {
                Entity::External
            }
        };
        self.skip_blanks();
        if self.peek() != Some(b'>') {
            return Err(self.error(format!("xmlParseEntityDecl: entity {name} not terminated")));
        }
        self.pos += 1;
        if !parameter && entities.get(name).is_none() {
            entities.0.push((name.to_owned(), entity));
        }
        Ok(())
    }
}

/// An entity's literal value, `raw` starting at document offset `at` and closed at
/// `close`: character references are replaced now, entity references kept for their use.
fn entity_value(raw: &str, at: usize, close: usize) -> Parsed<String> {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(i) = rest.find(['&', '%']) {
        out.push_str(&rest[..i]);
        let offset = at + (raw.len() - rest.len()) + i;
        if rest.as_bytes()[i] == b'%' {
            return Err(Malformed::new(
                "PEReferences forbidden in internal subset",
                offset,
            ));
        }
        let after = &rest[i + 1..];
        let end = after.find(';').filter(|&e| {
            let r = &after[..e];
            r.strip_prefix('#').map_or(is_name(r), |n| !n.is_empty())
        });
        let Some(end) = end else {
            return Err(Malformed::new(
                "EntityValue: '&' forbidden except for entities references",
                close,
            ));
        };
        let reference = &after[..end];
        match reference.strip_prefix('#') {
            Some(number) => {
                let value = match number.strip_prefix('x') {
                    Some(hex) => u32::from_str_radix(hex, 16).ok(),
                    None => number.parse().ok(),
                };
                let c = value.and_then(char::from_u32).ok_or_else(|| {
                    Malformed::new(
                        format!(
                            "xmlParseCharRef: invalid xmlChar value {}",
                            value.unwrap_or(0)
                        ),
                        offset,
                    )
                })?;
                out.push(c);
            }
            None => {
                out.push('&');
                out.push_str(reference);
                out.push(';');
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}
