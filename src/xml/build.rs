//! Assembling an [`Element`] tree from quick-xml's events (see `read`).
//!
//! Children of the open elements wait on one shared stack and text on one buffer: each
//! element gets its children in a vector of the right size once it closes, and the
//! whitespace between elements is never stored.

use super::tree::{Element, Node, SmallStr};

/// An element being read: its start tag (the element without children), where the tag
/// began, and where its children start on the stack of finished nodes.
pub struct Open {
    pub element: Element,
    pub at: usize,
    first_child: usize,
}

pub struct Builder {
    stack: Vec<Open>,
    nodes: Vec<Node>,
    /// The text read since the last child of the innermost open element, and whether
    /// there was any (an empty CDATA section is a text node too).
    text: String,
    has_text: bool,
    root: Option<Element>,
    /// The attributes of the start tag being read, gathered here to be moved into a
    /// vector of the right size.
    pub attrs: Vec<(SmallStr, SmallStr)>,
}

impl Default for Builder {
    /// A builder sized for a domain definition, so that reading one does not grow it.
    fn default() -> Self {
        Builder {
            stack: Vec::with_capacity(8),
            nodes: Vec::with_capacity(32),
            text: String::with_capacity(64),
            has_text: false,
            root: None,
            attrs: Vec::with_capacity(8),
        }
    }
}

impl Builder {
    /// How many elements are open.
    pub fn depth(&self) -> usize {
        self.stack.len()
    }

    /// The innermost open element.
    pub fn innermost(&self) -> Option<&Open> {
        self.stack.last()
    }

    /// Whether the root element is complete.
    pub fn has_root(&self) -> bool {
        self.root.is_some()
    }

    /// An element named `name` with the attributes gathered in `attrs`.
    pub fn element(&mut self, name: &str) -> Element {
        let mut element = Element::new(name);
        element.attrs = self.attrs.drain(..).collect();
        element
    }

    /// Opens `element`, whose start tag began at `at`.
    pub fn open(&mut self, element: Element, at: usize) {
        self.flush_text(true);
        let first_child = self.nodes.len();
        self.stack.push(Open {
            element,
            at,
            first_child,
        });
    }

    /// Adds an element without content (`<name/>`).
    pub fn empty(&mut self, element: Element) {
        self.flush_text(true);
        self.finish(element);
    }

    /// Closes the innermost element: its pending text and the children on the stack
    /// become its content. None when no element is open.
    pub fn close(&mut self) -> Option<()> {
        let open = self.stack.pop()?;
        let has_other = self.nodes.len() > open.first_child;
        self.flush_text(has_other);
        let mut element = open.element;
        element.children = self.nodes.drain(open.first_child..).collect();
        self.finish(element);
        Some(())
    }

    /// Text inside the innermost element (there must be one).
    pub fn text(&mut self, text: &str) {
        debug_assert!(!self.stack.is_empty());
        self.text.push_str(text);
        self.has_text = true;
    }

    /// A comment inside the innermost element (there must be one).
    pub fn comment(&mut self, comment: SmallStr) {
        debug_assert!(!self.stack.is_empty());
        self.flush_text(true);
        self.nodes.push(Node::Comment(comment));
    }

    /// The document's root once complete; None while an element is open or before any.
    pub fn into_root(self) -> Result<Element, Option<Open>> {
        let mut stack = self.stack;
        match stack.pop() {
            Some(open) => Err(Some(open)),
            None => self.root.ok_or(None),
        }
    }

    /// Hands a complete element to its parent, or makes it the root.
    fn finish(&mut self, element: Element) {
        if self.stack.is_empty() {
            self.root = Some(element);
        } else {
            self.nodes.push(Node::Element(element));
        }
    }

    /// Ends the pending text node of the innermost element. As libxml2 parses libvirt's
    /// documents (without blanks), whitespace-only text is dropped when the element also
    /// has other children: `beside_other` says it has.
    fn flush_text(&mut self, beside_other: bool) {
        if !std::mem::take(&mut self.has_text) {
            return;
        }
        if !(beside_other && self.text.bytes().all(is_blank)) {
            self.nodes.push(Node::Text(SmallStr::new(&self.text)));
        }
        self.text.clear();
    }
}

/// XML's white space.
pub fn is_blank(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}
