//! Writing a tree the way libvirt does: two spaces per level, attributes in single quotes,
//! empty elements self-closed, text inline, a newline at the end. `<metadata>` content is
//! written as libxml2 dumps it for libvirt (double quotes, its own escaping).
//!
//! The changes a format asks for (the running domain's `id`, secrets left out) are made
//! while writing, so that formatting never copies the tree.

use super::seclabel;
use super::tree::{Element, Node};

/// How a subtree's markup is escaped and quoted.
#[derive(Clone, Copy)]
enum Style {
    /// libvirt's own formatter: `'` quotes; `< > & ' "` escaped everywhere.
    Libvirt,
    /// libxml2's node dump: `"` quotes; attributes also escape tab, newline and return.
    Libxml2,
}

/// What to write differently from the tree.
#[derive(Clone, Copy, Default)]
pub struct Edits<'a> {
    /// An `id` attribute for the root, after its `type` (replacing any `id` it has).
    pub id: Option<&'a str>,
    /// A subtree (the root's `<devices>`) written without secrets: no `passwd` on
    /// `<graphics>`, no `<cookies>` in a `<source>`.
    pub hide_secrets_in: Option<&'a Element>,
    /// The persistent form: a device's `<seclabel>` that relabels without a label of its
    /// own is left out of every `<source>`, as libvirt leaves it out (see `seclabel`).
    pub inactive: bool,
}

/// The document for `root`, ending with a newline.
pub fn to_string(root: &Element) -> String {
    to_string_with(root, Edits::default())
}

/// The document for `root` changed by `edits`, ending with a newline.
pub fn to_string_with(root: &Element, edits: Edits) -> String {
    let mut writer = Writer {
        out: String::with_capacity(4096),
        edits,
    };
    writer.element(root, None, Some(0), Style::Libvirt, false);
    writer.out.push('\n');
    writer.out
}

struct Writer<'a> {
    out: String,
    edits: Edits<'a>,
}

impl Writer<'_> {
    /// Writes `e`; `depth` is its indentation level, or None inside mixed content, where
    /// (as in libxml2) nothing below a text node is laid out. `hide` tells that `e` is
    /// in the subtree written without secrets.
    fn element(
        &mut self,
        e: &Element,
        parent: Option<&str>,
        depth: Option<usize>,
        style: Style,
        hide: bool,
    ) {
        let hide = hide
            || self
                .edits
                .hide_secrets_in
                .is_some_and(|h| std::ptr::eq(h, e));
        let out = &mut self.out;
        out.push('<');
        out.push_str(&e.name);
        let skip = (hide && e.name == "graphics")
            .then(|| e.attrs.iter().position(|(k, _)| k == "passwd"))
            .flatten();
        let id = self
            .edits
            .id
            .filter(|_| parent.is_none() && depth == Some(0));
        write_attrs(out, e, style, skip, id);
        let in_source = e.name == "source";
        let (hides_cookies, hides_labels) = (hide && in_source, self.edits.inactive && in_source);
        let visible = |n: &&Node| match n {
            Node::Element(c) => {
                !(hides_cookies && c.name == "cookies"
                    || hides_labels && seclabel::inactive_hides(c))
            }
            _ => true,
        };
        if !e.children.iter().any(|n| visible(&n)) {
            match depth {
                Some(depth) if keeps_open(parent, &e.name) => {
                    out.push_str(">\n");
                    indent(out, depth);
                    close(out, e);
                }
                _ => out.push_str("/>"),
            }
            return;
        }
        out.push('>');
        let style = if e.name == "metadata" && parent == Some("domain") {
            Style::Libxml2
        } else {
            style
        };
        let inner = depth.filter(|_| !e.has_text()).map(|d| d + 1);
        for child in e.children.iter().filter(visible) {
            if let Some(inner) = inner {
                self.out.push('\n');
                indent(&mut self.out, inner);
            }
            match child {
                Node::Element(c) => self.element(c, Some(&e.name), inner, style, hide),
                Node::Text(t) => match style {
                    Style::Libvirt => escape(&mut self.out, t, Escape::LibvirtText),
                    Style::Libxml2 => escape(&mut self.out, t, Escape::Libxml2Text),
                },
                Node::Comment(c) => {
                    self.out.push_str("<!--");
                    self.out.push_str(c);
                    self.out.push_str("-->");
                }
            }
        }
        let out = &mut self.out;
        if let (Some(depth), Some(_)) = (depth, inner) {
            out.push('\n');
            indent(out, depth);
        }
        close(out, e);
    }
}

/// Writes the attributes of `e`, less the one at `skip`, with `id` after the last `type`
/// (or first), in place of any `id` of its own.
fn write_attrs(out: &mut String, e: &Element, style: Style, skip: Option<usize>, id: Option<&str>) {
    let own_id = id.and_then(|_| e.attrs.iter().position(|(k, _)| k == "id"));
    let id_after = id.map(|_| {
        e.attrs
            .iter()
            .enumerate()
            .rposition(|(i, (k, _))| Some(i) != own_id && k == "type")
    });
    if let (Some(id), Some(None)) = (id, id_after) {
        write_attr(out, "id", id, style);
    }
    for (i, (name, value)) in e.attrs.iter().enumerate() {
        if Some(i) == skip || Some(i) == own_id {
            continue;
        }
        write_attr(out, name, value, style);
        if let (Some(id), Some(Some(after))) = (id, id_after) {
            if after == i {
                write_attr(out, "id", id, style);
            }
        }
    }
}

fn write_attr(out: &mut String, name: &str, value: &str, style: Style) {
    out.push(' ');
    out.push_str(name);
    match style {
        Style::Libvirt => {
            out.push_str("='");
            escape(out, value, Escape::LibvirtAttr);
            out.push('\'');
        }
        Style::Libxml2 => {
            out.push_str("=\"");
            escape(out, value, Escape::Libxml2Attr);
            out.push('"');
        }
    }
}

fn close(out: &mut String, e: &Element) {
    out.push_str("</");
    out.push_str(&e.name);
    out.push('>');
}

/// Containers libvirt always writes with an opening and a closing tag.
fn keeps_open(parent: Option<&str>, name: &str) -> bool {
    matches!(
        (parent, name),
        (Some("domain"), "devices") | (Some("devices"), "redirdev")
    )
}

fn indent(out: &mut String, depth: usize) {
    const SPACES: &str = "                                                                ";
    let mut width = 2 * depth;
    while width > 0 {
        let step = width.min(SPACES.len());
        out.push_str(&SPACES[..step]);
        width -= step;
    }
}

/// Which characters each kind of content escapes, as bits of [`ESCAPES`].
#[derive(Clone, Copy)]
enum Escape {
    /// libvirt's text: `< > & ' "` and carriage return.
    LibvirtText = 1,
    /// libvirt's attributes: the same, tab and newline.
    LibvirtAttr = 2,
    /// libxml2's text: `< > &` and carriage return.
    Libxml2Text = 4,
    /// libxml2's attributes: `< > & "`, carriage return, tab and newline.
    Libxml2Attr = 8,
}

/// For each byte, the kinds of content that escape it: one look-up per byte finds the
/// few characters to replace, and the runs between them are copied whole.
static ESCAPES: [u8; 256] = escapes();

const fn escapes() -> [u8; 256] {
    let mut table = [0u8; 256];
    let (text, attr) = (Escape::LibvirtText as u8, Escape::LibvirtAttr as u8);
    let (dump_text, dump_attr) = (Escape::Libxml2Text as u8, Escape::Libxml2Attr as u8);
    let all = text | attr | dump_text | dump_attr;
    table[b'<' as usize] = all;
    table[b'>' as usize] = all;
    table[b'&' as usize] = all;
    table[b'\r' as usize] = all;
    table[b'\'' as usize] = text | attr;
    table[b'"' as usize] = text | attr | dump_attr;
    table[b'\n' as usize] = attr | dump_attr;
    table[b'\t' as usize] = attr | dump_attr;
    table
}

/// The reference that replaces an escaped character. libvirt writes a carriage return
/// as is, which the next parse reads as a newline (so a title with one no longer
/// parses), and tabs and line ends in attributes as is, which the next parse turns into
/// spaces: unlike libvirt, they are kept as references so that a value survives.
fn reference(b: u8) -> &'static str {
    match b {
        b'<' => "&lt;",
        b'>' => "&gt;",
        b'&' => "&amp;",
        b'\'' => "&apos;",
        b'"' => "&quot;",
        b'\r' => "&#13;",
        b'\n' => "&#10;",
        b'\t' => "&#9;",
        _ => unreachable!("only the characters in ESCAPES are escaped"),
    }
}

/// Writes `s`, escaped as `kind` of content escapes it.
fn escape(out: &mut String, s: &str, kind: Escape) {
    let mask = kind as u8;
    let mut run = 0;
    for (i, b) in s.bytes().enumerate() {
        if ESCAPES[usize::from(b)] & mask != 0 {
            out.push_str(&s[run..i]);
            out.push_str(reference(b));
            run = i + 1;
        }
    }
    out.push_str(&s[run..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn el(name: &str) -> Element {
        Element::new(name)
    }

    #[test]
    fn layout_and_escaping_follow_libvirt() {
        let mut title = el("title");
        title.set_text("My \"title\" & <stuff> it's\r");
        let mut mixed = el("p");
        mixed.children = vec![
            Node::Text("a".into()),
            Node::Element(el("b").with_child(el("c"))),
        ];
        let root = el("domain")
            .with_attr("type", "test")
            .with_child(title)
            .with_child(el("source").with_attr("file", "/x\ny\t'\""))
            .with_child(mixed)
            .with_child(el("devices"));
        assert_eq!(
            to_string(&root),
            "<domain type='test'>\n  <title>My &quot;title&quot; &amp; &lt;stuff&gt; it&apos;s&#13;</title>\n  \
             <source file='/x&#10;y&#9;&apos;&quot;'/>\n  <p>a<b><c/></b></p>\n  <devices>\n  </devices>\n</domain>\n"
        );
    }

    // The edits give what editing a copy of the tree and writing it gave.
    #[test]
    fn edits_are_the_tree_edited() {
        let mut source = el("source").with_attr("protocol", "http");
        source.children = vec![
            Node::Element(el("cookies").with_child(el("cookie"))),
            Node::Element(el("host").with_attr("name", "h")),
            Node::Element(el("cookies")),
        ];
        let graphics = el("graphics")
            .with_attr("type", "vnc")
            .with_attr("passwd", "pw")
            .with_attr("keymap", "fr");
        let disk = el("disk")
            .with_child(source)
            .with_child(el("source").with_child(el("cookies")));
        let devices = el("devices").with_child(disk).with_child(graphics);
        let root = el("domain")
            .with_attr("name", "x")
            .with_attr("type", "test")
            .with_attr("id", "7")
            .with_child(el("graphics").with_attr("passwd", "kept outside devices"))
            .with_child(devices.clone())
            .with_child(devices);

        let mut edited = root.clone();
        edited.set_attr_after(&["type"], "id", "3");
        let first = edited.child_mut("devices").unwrap();
        for dev in first.elements_mut() {
            dev.remove_attr("passwd");
            for source in dev.children_named_mut("source") {
                source.remove_children("cookies");
            }
        }
        let edits = Edits {
            id: Some("3"),
            hide_secrets_in: root.child("devices"),
            inactive: false,
        };
        assert_eq!(to_string_with(&root, edits), to_string(&edited));
        assert!(to_string(&edited).contains("<source/>"));
    }

    // As libvirt 9.0 printed `<metadata>` given with single quotes and mixed content.
    #[test]
    fn metadata_is_dumped_like_libxml2() {
        let mut foo = el("app1:foo").with_attr("xmlns:app1", "http://app1.org/app1/");
        foo.set_text("fooish");
        let mut bar = el("app2:bar").with_attr("xmlns:app2", "http://app1.org/app2/");
        bar.children = vec![
            Node::Element(el("x").with_attr("y", "1")),
            Node::Text("barish".into()),
        ];
        let mut nested = el("m:a").with_attr("k", "v\nw<>'\"");
        nested.children = vec![Node::Element(el("m:c")), Node::Comment(" cm ".into())];
        let root = el("domain").with_child(
            el("metadata")
                .with_child(foo)
                .with_child(bar)
                .with_child(nested),
        );
        assert_eq!(
            to_string(&root),
            "<domain>\n  <metadata>\n    <app1:foo xmlns:app1=\"http://app1.org/app1/\">fooish</app1:foo>\n    \
             <app2:bar xmlns:app2=\"http://app1.org/app2/\"><x y=\"1\"/>barish</app2:bar>\n    \
             <m:a k=\"v&#10;w&lt;&gt;'&quot;\">\n      <m:c/>\n      <!-- cm -->\n    </m:a>\n  </metadata>\n</domain>\n"
        );
    }
}
