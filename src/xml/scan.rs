//! A fast reader for plain documents, such as the ones libvirt and virshim write: elements,
//! attributes, text and comments, without references, CDATA, declarations or carriage
//! returns. It gives up (None) on anything else, and on anything malformed, and
//! [`super::read`] then reads the document with quick-xml, which knows all of XML and
//! words errors as libxml2 does. On the documents it takes, it builds exactly the tree
//! quick-xml's reading builds (the tests compare them), in a fraction of the time:
//! quick-xml's reading was half the cost of parsing a definition.

use super::build::{is_blank, Builder};
use super::read::{invalid_char, MAX_DEPTH};
use super::tree::{Element, SmallStr};

/// The tree of `xml`, or None when it is not a plain, well-formed document.
pub fn parse(xml: &str) -> Option<Element> {
    let mut scan = Scan {
        xml,
        at: 0,
        tree: Builder::default(),
    };
    scan.blanks();
    loop {
        scan.markup()?;
        if scan.tree.has_root() {
            return scan.xml[scan.at..]
                .bytes()
                .all(is_blank)
                .then(|| scan.tree.into_root().ok())
                .flatten();
        }
        scan.text()?;
    }
}

/// Classes of bytes, as bits of [`CLASSES`]: each byte is looked at once, and classified
/// by one look-up.
const NAME_START: u8 = 1;
const NAME: u8 = 2;
/// What ends a name: white space, `/`, `>`, `=`.
const NAME_END: u8 = 4;
/// A byte of text that needs no reference, line-end normalization or check beyond this:
/// any but controls (bar tab and newline), `&`, `<` and non-ASCII.
const PLAIN: u8 = 8;
/// The same in an attribute value, where tab and newline are normalized to spaces.
const PLAIN_VALUE: u8 = 16;

/// The classes of each byte. Names are checked as `read` checks them (libxml2's rules on
/// ASCII), where every non-ASCII byte may start or continue a name.
static CLASSES: [u8; 256] = classes();

const fn classes() -> [u8; 256] {
    let mut classes = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        let mut class = 0;
        if c.is_ascii_alphabetic() || c == b'_' || c == b':' || c >= 0x80 {
            class |= NAME_START | NAME;
        }
        if c.is_ascii_digit() || c == b'-' || c == b'.' {
            class |= NAME;
        }
        if matches!(c, b' ' | b'\t' | b'\n' | b'\r' | b'/' | b'>' | b'=') {
            class |= NAME_END;
        }
        if c >= 0x20 && c < 0x80 && c != b'&' && c != b'<' {
            class |= PLAIN | PLAIN_VALUE;
        }
        if c == b'\t' || c == b'\n' {
            class |= PLAIN;
        }
        classes[b] = class;
        b += 1;
    }
    classes
}

fn class(b: u8) -> u8 {
    CLASSES[usize::from(b)]
}

struct Scan<'a> {
    xml: &'a str,
    /// Where reading stands.
    at: usize,
    tree: Builder,
}

impl<'a> Scan<'a> {
    fn rest(&self) -> &'a [u8] {
        let xml: &'a str = self.xml;
        &xml.as_bytes()[self.at..]
    }

    /// `len` bytes from where reading stands, as text, and reading past them.
    fn take(&mut self, len: usize) -> &'a str {
        let xml: &'a str = self.xml;
        let taken = &xml[self.at..self.at + len];
        self.at += len;
        taken
    }

    /// Skips white space; tells whether there was any.
    fn blanks(&mut self) -> bool {
        let n = self.rest().iter().take_while(|&&b| is_blank(b)).count();
        self.at += n;
        n > 0
    }

    /// Reads a tag or a comment, which must start here.
    fn markup(&mut self) -> Option<()> {
        match self.rest() {
            [b'<', b'/', ..] => self.end_tag(),
            [b'<', b'!', ..] => self.comment(),
            [b'<', b'?', ..] => None,
            [b'<', _, ..] => self.start_tag(),
            _ => None,
        }
    }

    /// Text up to the next markup, inside an element.
    fn text(&mut self) -> Option<()> {
        let rest = self.rest();
        let len = rest.iter().position(|&b| class(b) & PLAIN == 0)?;
        let ascii = match rest[len] {
            b'<' => true,
            b if b >= 0x80 => false,
            _ => return None,
        };
        let len = if ascii {
            len
        } else {
            // Non-ASCII text: up to the markup, checked character by character.
            let len = self.xml[self.at..].find('<')?;
            let text = &self.xml[self.at..self.at + len];
            if text.bytes().any(|b| b == b'&' || b == b'\r') || invalid_char(text).is_some() {
                return None;
            }
            len
        };
        if len > 0 {
            if self.tree.depth() == 0 {
                return None;
            }
            let text = self.take(len);
            // Blanks after a child go whatever follows (this reader never joins two runs
            // of text): the indentation of a document is dropped without being copied.
            if !(self.tree.has_children() && text.bytes().all(is_blank)) {
                self.tree.text(text);
            }
        }
        Some(())
    }

    /// A name (of an element or an attribute): an XML name ending before white space,
    /// `/`, `>` or `=`.
    fn name(&mut self) -> Option<&'a str> {
        let rest = self.rest();
        if class(*rest.first()?) & NAME_START == 0 {
            return None;
        }
        let len = rest.iter().position(|&b| class(b) & NAME == 0)?;
        if class(rest[len]) & NAME_END == 0 {
            return None;
        }
        Some(self.take(len))
    }

    fn start_tag(&mut self) -> Option<()> {
        let tag_at = self.at;
        if self.tree.has_root() || self.tree.depth() >= MAX_DEPTH {
            return None;
        }
        self.at += 1;
        let name = self.name()?;
        self.tree.attrs.clear();
        loop {
            let spaced = self.blanks();
            match self.rest() {
                [b'>', ..] => {
                    self.at += 1;
                    let element = self.tree.element(name);
                    self.tree.open(element, tag_at);
                    return Some(());
                }
                [b'/', b'>', ..] => {
                    self.at += 2;
                    let element = self.tree.element(name);
                    self.tree.empty(element);
                    return Some(());
                }
                _ if spaced => self.attribute()?,
                _ => return None,
            }
        }
    }

    /// `name='value'` or `name="value"`, with a value that needs no normalizing.
    fn attribute(&mut self) -> Option<()> {
        let key = self.name()?;
        let quote = match self.rest() {
            [b'=', q @ (b'\'' | b'"'), ..] => *q,
            _ => return None,
        };
        self.at += 2;
        let rest = self.rest();
        let len = rest
            .iter()
            .position(|&b| b == quote || class(b) & PLAIN_VALUE == 0)?;
        let len = match rest[len] {
            b if b == quote => len,
            b if b >= 0x80 => {
                // Non-ASCII: up to the quote, checked character by character.
                let len = rest.iter().position(|&b| b == quote)?;
                let value = &self.xml[self.at..self.at + len];
                let plain = !value.bytes().any(|b| b < 0x20 || matches!(b, b'<' | b'&'));
                if !plain || invalid_char(value).is_some() {
                    return None;
                }
                len
            }
            _ => return None,
        };
        if self.tree.attrs.iter().any(|(k, _)| k == key) {
            return None;
        }
        let value = self.take(len);
        self.at += 1;
        let attr = (SmallStr::new(key), SmallStr::new(value));
        self.tree.attrs.push(attr);
        Some(())
    }

    /// `</name>` closing the innermost element.
    fn end_tag(&mut self) -> Option<()> {
        let name = self.tree.innermost()?.element.name.as_bytes();
        let closes = self.rest()[2..]
            .strip_prefix(name)
            .is_some_and(|after| after.first() == Some(&b'>'));
        if !closes {
            return None;
        }
        self.at += 2 + name.len() + 1;
        self.tree.close()
    }

    /// `<!-- ... -->` inside the root, without `--` or a carriage return inside, nor a
    /// dash or `>` at either end, where quick-xml's reading is subtle.
    fn comment(&mut self) -> Option<()> {
        if !self.rest().starts_with(b"<!--") || self.tree.depth() == 0 {
            return None;
        }
        self.at += 4;
        let len = self.xml[self.at..].find("-->")?;
        let content = self.take(len);
        let odd = content.is_empty() || content.starts_with(['>', '-']) || content.ends_with('-');
        if odd || content.contains("--") || content.contains('\r') {
            return None;
        }
        self.at += 3;
        self.tree.comment(SmallStr::new(content));
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xml::read::{is_name, parse_with_quick_xml};

    /// Whatever the fast reader takes, quick-xml's reading takes too, into the same tree.
    fn same_as_quick_xml(xml: &str) -> bool {
        let Some(fast) = parse(xml) else {
            return false;
        };
        assert_eq!(parse_with_quick_xml(xml).as_ref(), Ok(&fast), "{xml:?}");
        true
    }

    #[test]
    fn byte_classes_check_names_as_the_quick_xml_reading_does() {
        for b in 0..=127u8 {
            let c = char::from(b);
            assert_eq!(
                is_name(&format!("{c}")),
                class(b) & NAME_START != 0,
                "{c:?}"
            );
            assert_eq!(is_name(&format!("a{c}")), class(b) & NAME != 0, "{c:?}");
        }
        assert!(is_name("é") && class("é".as_bytes()[0]) & NAME_START != 0);
    }

    const DOCUMENTS: &[&str] = &[
        include_str!("testdata/test-default.xml"),
        include_str!("testdata/rich-in.xml"),
        include_str!("testdata/rich-out.xml"),
        include_str!("testdata/devices-in.xml"),
        include_str!("testdata/devices-out.xml"),
        include_str!("testdata/scrambled-in.xml"),
        include_str!("testdata/scrambled-out.xml"),
        include_str!("testdata/qemu-image.xml"),
    ];

    #[test]
    fn plain_documents_are_read_fast() {
        for xml in DOCUMENTS {
            // The rich documents have references.
            assert_eq!(same_as_quick_xml(xml), !xml.contains('&'), "{xml}");
        }
        for xml in [
            "<a/>",
            " \n<a x='1' y=\"2\"/>\n ",
            "<a><b>t</b>  <!-- c --> <c/>u<d></d></a>",
            "<a>  </a>",
            "<a>x > y ]]> z</a>",
            "<a x='>' y=\"'\"/>",
            "<a:b xmlns:a='u'><é ü='ö'>€</é></a:b>",
            "<a\n\tx='1'\n/>",
        ] {
            assert!(same_as_quick_xml(xml), "{xml}");
        }
    }

    #[test]
    fn anything_else_is_left_to_quick_xml() {
        for xml in [
            "",
            "<?xml version='1.0'?><a/>",
            "<!-- c --><a/>",
            "<a/><!-- c -->",
            "<a>&amp;</a>",
            "<a x='&lt;'/>",
            "<a>\r\n</a>",
            "<a x='\t'/>",
            "<a><![CDATA[x]]></a>",
            "<a><!-- a--b --></a>",
            "<a><!----></a>",
            "<a x = '1'/>",
            "<a x='1'y='2'/>",
            "<a x='1' x='2'/>",
            "<a></b>",
            "<a></a >",
            "<a>",
            "<a/><b/>",
            "<a/>x",
            "<1a/>",
            "<a>\u{1}</a>",
            "\u{feff}<a/>",
        ] {
            assert!(parse(xml).is_none(), "{xml:?}");
        }
    }

    /// Every document one edit away from plain ones: the fast reader must take only
    /// what quick-xml reads the same way.
    #[test]
    fn near_misses_read_as_quick_xml_reads_them() {
        let inserts = [
            "<", ">", "/", "=", "'", "\"", "&", "-", "!", "?", " ", "\r", "\t", "\u{1}", "é",
            "\u{fffe}",
        ];
        // The test driver's domain at every byte, a richer one at every seventh.
        let places = |xml: &'static str, step| (0..=xml.len()).step_by(step).map(move |i| (xml, i));
        let mut fast = 0;
        for (xml, i) in places(DOCUMENTS[0], 1).chain(places(DOCUMENTS[3], 7)) {
            if !xml.is_char_boundary(i) {
                continue;
            }
            fast += usize::from(same_as_quick_xml(&xml[..i]));
            let mut without = xml.to_string();
            if i < xml.len() {
                without.remove(i);
                fast += usize::from(same_as_quick_xml(&without));
            }
            for insert in inserts {
                let with = format!("{}{insert}{}", &xml[..i], &xml[i..]);
                fast += usize::from(same_as_quick_xml(&with));
            }
        }
        assert!(fast > 1000, "the fast reader takes edited documents too");
    }
}
