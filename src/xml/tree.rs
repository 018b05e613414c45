//! A generic element tree: what a document holds, in order, so that whatever the domain
//! model does not interpret is written back as it came.

use std::borrow::Cow;

pub use super::small_str::SmallStr;

/// One child of an element.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Node {
    Element(Element),
    Text(SmallStr),
    Comment(SmallStr),
}

/// An element with its attributes in document order and its children.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Element {
    pub name: SmallStr,
    pub attrs: Vec<(SmallStr, SmallStr)>,
    pub children: Vec<Node>,
}

impl Element {
    pub fn new(name: impl Into<SmallStr>) -> Self {
        Element {
            name: name.into(),
            ..Element::default()
        }
    }

    /// Builder form of [`Element::set_attr`].
    pub fn with_attr(mut self, name: &str, value: impl Into<SmallStr>) -> Self {
        self.set_attr(name, value);
        self
    }

    /// Builder form of [`Element::push`].
    pub fn with_child(mut self, child: Element) -> Self {
        self.push(child);
        self
    }

    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Replaces the attribute's value where it stands, or appends it.
    pub fn set_attr(&mut self, name: &str, value: impl Into<SmallStr>) {
        let value = value.into();
        match self.attrs.iter_mut().find(|(k, _)| k == name) {
            Some((_, v)) => *v = value,
            None => self.attrs.push((name.into(), value)),
        }
    }

    /// Sets the attribute so that it follows the last of `after` present (or comes first),
    /// as libvirt writes attributes in a fixed order.
    pub fn set_attr_after(&mut self, after: &[&str], name: &str, value: impl Into<SmallStr>) {
        self.remove_attr(name);
        let at = self
            .attrs
            .iter()
            .rposition(|(k, _)| after.contains(&k.as_str()))
            .map_or(0, |i| i + 1);
        self.attrs.insert(at, (name.into(), value.into()));
    }

    pub fn remove_attr(&mut self, name: &str) -> Option<SmallStr> {
        let at = self.attrs.iter().position(|(k, _)| k == name)?;
        Some(self.attrs.remove(at).1)
    }

    /// The child elements, in order.
    pub fn elements(&self) -> impl Iterator<Item = &Element> {
        self.children.iter().filter_map(|n| match n {
            Node::Element(e) => Some(e),
            _ => None,
        })
    }

    pub fn elements_mut(&mut self) -> impl Iterator<Item = &mut Element> {
        self.children.iter_mut().filter_map(|n| match n {
            Node::Element(e) => Some(e),
            _ => None,
        })
    }

    /// The first child element named `name`, as libvirt's `./name[1]` lookups find it.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.elements().find(|e| e.name == name)
    }

    pub fn child_mut(&mut self, name: &str) -> Option<&mut Element> {
        self.elements_mut().find(|e| e.name == name)
    }

    /// The first child named `name`, created (appended) when missing.
    pub fn child_or_insert(&mut self, name: &str) -> &mut Element {
        let found = self
            .children
            .iter()
            .position(|n| matches!(n, Node::Element(e) if e.name == name));
        let at = found.unwrap_or_else(|| {
            self.push(Element::new(name));
            self.children.len() - 1
        });
        match &mut self.children[at] {
            Node::Element(e) => e,
            _ => unreachable!("an element was found or pushed there"),
        }
    }

    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> {
        self.elements().filter(move |e| e.name == name)
    }

    /// Appends `child`. Blank text that was all the element held goes: it was the layout
    /// of an empty element, which the writer lays out anew once there are children.
    pub fn push(&mut self, child: Element) {
        let blank =
            |n: &Node| matches!(n, Node::Text(t) if t.bytes().all(|b| b.is_ascii_whitespace()));
        if self.children.iter().all(blank) {
            self.children.clear();
        }
        self.children.push(Node::Element(child));
    }

    pub fn prepend(&mut self, child: Element) {
        self.children.insert(0, Node::Element(child));
    }

    /// The children named `name`, mutably.
    pub fn children_named_mut<'a>(
        &'a mut self,
        name: &'a str,
    ) -> impl Iterator<Item = &'a mut Element> {
        self.elements_mut().filter(move |e| e.name == name)
    }

    /// Inserts `child` before the first child element named in `before`, else appends it.
    pub fn insert_before(&mut self, before: &[&str], child: Element) {
        let at = self
            .children
            .iter()
            .position(|n| matches!(n, Node::Element(e) if before.contains(&e.name.as_str())))
            .unwrap_or(self.children.len());
        self.children.insert(at, Node::Element(child));
    }

    /// Removes every child element named `name`.
    pub fn remove_children(&mut self, name: &str) {
        self.children
            .retain(|n| !matches!(n, Node::Element(e) if e.name == name));
    }

    /// All text below this element, concatenated: XPath's `string(.)`. Borrowed when the
    /// element holds one text node or nothing, as nearly every element read for its text.
    pub fn text(&self) -> Cow<'_, str> {
        match self.children.as_slice() {
            [] => Cow::Borrowed(""),
            [Node::Text(t)] => Cow::Borrowed(t),
            _ => {
                let mut out = String::new();
                self.collect_text(&mut out);
                Cow::Owned(out)
            }
        }
    }

    fn collect_text(&self, out: &mut String) {
        for node in &self.children {
            match node {
                Node::Text(t) => out.push_str(t),
                Node::Element(e) => e.collect_text(out),
                Node::Comment(_) => {}
            }
        }
    }

    /// Replaces the content with one text node, in place when it is one already.
    pub fn set_text(&mut self, text: impl Into<SmallStr>) {
        let text = text.into();
        match self.children.as_mut_slice() {
            [Node::Text(t)] => *t = text,
            _ => self.children = vec![Node::Text(text)],
        }
    }

    /// Whether the content is exactly one text node, `text`.
    pub fn is_text(&self, text: &str) -> bool {
        matches!(self.children.as_slice(), [Node::Text(t)] if t == text)
    }

    /// Whether the element's content is mixed or pure text, which is written inline.
    pub fn has_text(&self) -> bool {
        self.children.iter().any(|n| matches!(n, Node::Text(_)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_keep_their_place() {
        let mut e = Element::new("vcpu").with_attr("current", "1");
        e.set_attr_after(&[], "placement", "static");
        e.set_attr_after(&["placement"], "cpuset", "0-1");
        let names: Vec<_> = e.attrs.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["placement", "cpuset", "current"]);
        e.set_attr("current", "2");
        assert_eq!(e.attrs[2], ("current".into(), "2".into()));
        assert_eq!(e.remove_attr("cpuset").as_deref(), Some("0-1"));
        assert_eq!(e.attr("cpuset"), None);
    }

    #[test]
    fn text_concatenates_descendants() {
        let e = Element::new("a")
            .with_child(Element::new("b").with_child(Element::new("x")))
            .with_child(Element::new("c"));
        let mut e = e;
        e.child_mut("b").unwrap().set_text("x");
        e.child_mut("c").unwrap().set_text("y");
        assert_eq!(e.text(), "xy");
        assert!(!e.has_text());
    }
}
