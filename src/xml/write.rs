//! Writing a tree the way libvirt does: two spaces per level, attributes in single quotes,
//! empty elements self-closed, text inline, a newline at the end. `<metadata>` content is
//! written as libxml2 dumps it for libvirt (double quotes, its own escaping).

use super::tree::{Element, Node};

/// How a subtree's markup is escaped and quoted.
#[derive(Clone, Copy)]
enum Style {
    /// libvirt's own formatter: `'` quotes; `< > & ' "` escaped everywhere.
    Libvirt,
    /// libxml2's node dump: `"` quotes; attributes also escape tab, newline and return.
    Libxml2,
}

/// The document for `root`, ending with a newline.
pub fn to_string(root: &Element) -> String {
    let mut out = String::with_capacity(4096);
    write_element(&mut out, root, None, Some(0), Style::Libvirt);
    out.push('\n');
    out
}

/// Writes `e`; `depth` is its indentation level, or None inside mixed content, where
/// (as in libxml2) nothing below a text node is laid out.
fn write_element(
    out: &mut String,
    e: &Element,
    parent: Option<&str>,
    depth: Option<usize>,
    style: Style,
) {
    out.push('<');
    out.push_str(&e.name);
    for (name, value) in &e.attrs {
        out.push(' ');
        out.push_str(name);
        match style {
            Style::Libvirt => {
                out.push_str("='");
                escape(out, value, libvirt_attr_entity);
                out.push('\'');
            }
            Style::Libxml2 => {
                out.push_str("=\"");
                escape(out, value, libxml2_attr_entity);
                out.push('"');
            }
        }
    }
    if e.children.is_empty() {
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
    for child in &e.children {
        if let Some(inner) = inner {
            out.push('\n');
            indent(out, inner);
        }
        match child {
            Node::Element(c) => write_element(out, c, Some(&e.name), inner, style),
            Node::Text(t) => match style {
                Style::Libvirt => escape(out, t, libvirt_text_entity),
                Style::Libxml2 => escape(out, t, libxml2_text_entity),
            },
            Node::Comment(c) => {
                out.push_str("<!--");
                out.push_str(c);
                out.push_str("-->");
            }
        }
    }
    if let (Some(depth), Some(_)) = (depth, inner) {
        out.push('\n');
        indent(out, depth);
    }
    close(out, e);
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
    for _ in 0..depth {
        out.push_str("  ");
    }
}

fn escape(out: &mut String, s: &str, entity: fn(char) -> Option<&'static str>) {
    for c in s.chars() {
        match entity(c) {
            Some(e) => out.push_str(e),
            None => out.push(c),
        }
    }
}

/// libvirt escapes the five markup characters. It writes a carriage return as is, which
/// the next parse reads as a newline (so a title with one no longer parses): unlike
/// libvirt, text keeps it as a reference.
fn libvirt_text_entity(c: char) -> Option<&'static str> {
    match c {
        '\'' => Some("&apos;"),
        '"' => Some("&quot;"),
        c => libxml2_text_entity(c),
    }
}

/// libvirt writes tabs and line ends in attributes as is, which the next parse turns into
/// spaces: unlike libvirt, they are kept as references so that a value survives.
fn libvirt_attr_entity(c: char) -> Option<&'static str> {
    match c {
        '\n' => Some("&#10;"),
        '\t' => Some("&#9;"),
        c => libvirt_text_entity(c),
    }
}

fn libxml2_text_entity(c: char) -> Option<&'static str> {
    match c {
        '<' => Some("&lt;"),
        '>' => Some("&gt;"),
        '&' => Some("&amp;"),
        '\r' => Some("&#13;"),
        _ => None,
    }
}

fn libxml2_attr_entity(c: char) -> Option<&'static str> {
    match c {
        '"' => Some("&quot;"),
        '\n' => Some("&#10;"),
        '\t' => Some("&#9;"),
        c => libxml2_text_entity(c),
    }
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
