//! The reader against libvirt 9.0's answers for the same documents.

use super::*;
use crate::abi::virErrorNumber::VIR_ERR_XML_DETAIL;
use crate::xml::tree::Node;
use crate::abi::virErrorDomain::VIR_FROM_DOMAIN;

fn error(xml: &str) -> String {
    let e = parse(xml, "(domain_definition)", VIR_FROM_DOMAIN).unwrap_err();
    assert_eq!(
        (e.code, e.domain),
        (VIR_ERR_XML_DETAIL, VIR_FROM_DOMAIN),
        "{xml}"
    );
    e.message
}

// Each message is libvirt 9.0's for the same document (libxml2 2.9 underneath).
#[test]
fn malformed_documents_are_reported_like_libxml2() {
    let d = "(domain_definition)";
    for (xml, want) in [
        ("", format!("{d}:1: Document is empty\n(null)\n^")),
        ("x", format!("{d}:1: Start tag expected, '<' not found\nx\n^")),
        ("   ", format!("{d}:1: Start tag expected, '<' not found\n   \n---^")),
        ("<?xml version='1.0'?>", format!("{d}:1: Start tag expected, '<' not found\n<?xml version='1.0'?>\n---------------------^")),
        ("<!-- c -->", format!("{d}:1: Start tag expected, '<' not found\n<!-- c -->\n----------^")),
        ("<domain", format!("{d}:1: Couldn't find end of Start Tag domain line 1\n<domain\n-------^")),
        ("<domain type='te", format!("{d}:1: AttValue: ' expected\n<domain type='te\n----------------^")),
        ("<domain type=", format!("{d}:1: AttValue: \" or ' expected\n<domain type=\n-------------^")),
        ("<domain type", format!("{d}:1: Specification mandates value for attribute type\n<domain type\n------------^")),
        ("<domain type=test/>", format!("{d}:1: AttValue: \" or ' expected\n<domain type=test/>\n-------------^")),
        ("<domain type='test' type='x'/>", format!("{d}:1: Attribute type redefined\n<domain type='test' type='x'/>\n----------------------------^")),
        ("<domain type='test'><name>a", format!("{d}:1: Premature end of data in tag name line 1\n<domain type='test'><name>a\n---------------------------^")),
        ("<domain type='test'><name>a</name>", format!("{d}:1: Premature end of data in tag domain line 1\n<domain type='test'><name>a</name>\n----------------------------------^")),
        ("<domain type='test'><name>a</na", format!("{d}:1: expected '>'\n<domain type='test'><name>a</na\n-------------------------------^")),
        ("<domain type='test'><name", format!("{d}:1: Couldn't find end of Start Tag name line 1\n<domain type='test'><name\n-------------------------^")),
        ("<domain type='test'><", format!("{d}:1: StartTag: invalid element name\n<domain type='test'><\n---------------------^")),
        ("<domain type='test'><1name>a</1name></domain>", format!("{d}:1: StartTag: invalid element name\n<domain type='test'><1name>a</1name></domain>\n---------------------^")),
        ("<domain type='test' 1a='x'><name>a</name></domain>", format!("{d}:1: error parsing attribute name\n<domain type='test' 1a='x'><name>a</name></domain>\n--------------------^")),
        ("<domain type='test'><!-- x", format!("{d}:1: Comment not terminated\n<domain type='test'><!-- x\n--------------------------^")),
        ("<domain type='test'><!-- a -- b --><name>a</name></domain>", format!("{d}:1: Double hyphen within comment: <!-- a \n<domain type='test'><!-- a -- b --><name>a</name></domain>\n---------------------------^")),
        ("<domain type='test'><![CDATA[x", format!("{d}:1: Unregistered error message\n<domain type='test'><![CDATA[x\n------------------------------^")),
        ("<domain type='test'><name>a</name></nam></domain>", format!("{d}:1: Opening and ending tag mismatch: domain line 1 and nam\n<domain type='test'><name>a</name></nam></domain>\n----------------------------------------^")),
        ("<domain type='test'>\n  <name>a</name>\n </dom>", format!("{d}:3: Opening and ending tag mismatch: domain line 1 and dom\n </dom>\n-------^")),
        ("<domain type='test'>\n  <name>a</name>\n  <bad\n</domain>", format!("{d}:4: error parsing attribute name\n</domain>\n^")),
        ("<domain type='test'/><x/>", format!("{d}:1: Extra content at the end of the document\n<domain type='test'/><x/>\n---------------------^")),
        ("<domain type='test'/>junk", format!("{d}:1: Extra content at the end of the document\n<domain type='test'/>junk\n---------------------^")),
        ("<domain type='test'>\n<name>a</name>\n  </domain>\n<foo/>", format!("{d}:4: Extra content at the end of the document\n<foo/>\n^")),
        ("<domain type='test'><name>a&b</name></domain>", format!("{d}:1: EntityRef: expecting ';'\n<domain type='test'><name>a&b</name></domain>\n-----------------------------^")),
        ("<domain type='test'><name>a&am", format!("{d}:1: EntityRef: expecting ';'\n<domain type='test'><name>a&am\n------------------------------^")),
        ("<domain type='test'><name>a&bogus;</name></domain>", format!("{d}:1: Entity 'bogus' not defined\n<domain type='test'><name>a&bogus;</name></domain>\n----------------------------------^")),
        ("<domain type='test'><name>a&#0;</name></domain>", format!("{d}:1: xmlParseCharRef: invalid xmlChar value 0\n<domain type='test'><name>a&#0;</name></domain>\n-------------------------------^")),
        ("<domain type='test'><name>a&#1;</name></domain>", format!("{d}:1: xmlParseCharRef: invalid xmlChar value 1\n<domain type='test'><name>a&#1;</name></domain>\n-------------------------------^")),
        ("<domain type='test'><name>a&#x110000;</name></domain>", format!("{d}:1: xmlParseCharRef: character reference out of bounds\n<domain type='test'><name>a&#x110000;</name></domain>\n-------------------------------------^")),
        ("<domain type='test'><name>a&#xZ;</name></domain>", format!("{d}:1: CharRef: invalid hexadecimal value\n<domain type='test'><name>a&#xZ;</name></domain>\n------------------------------^")),
        ("<domain type='test'><name>a<</name></domain>", format!("{d}:1: StartTag: invalid element name\n<domain type='test'><name>a<</name></domain>\n----------------------------^")),
        ("<domain type='test'><name a='<'>a</name></domain>", format!("{d}:1: Unescaped '<' not allowed in attributes values\n<domain type='test'><name a='<'>a</name></domain>\n-----------------------------^")),
        ("<domain type='test'><name>a\u{1}</name></domain>", format!("{d}:1: PCDATA invalid Char value 1\n<domain type='test'><name>a\u{1}</name></domain>\n---------------------------^")),
        ("<domain type='test' a='\u{1}'><name>a</name></domain>", format!("{d}:1: invalid character in attribute value\n<domain type='test' a='\u{1}'><name>a</name></domain>\n-----------------------^")),
    ] {
        assert_eq!(error(xml), want, "{xml:?}");
    }
}

#[test]
fn documents_keep_text_comments_and_order() {
    let root = parse(
        "<?xml version='1.0'?>\n<!-- outside --><a x='1' y=\"&lt;&#10;\">\n  <b>t &amp; <![CDATA[<c>]]></b>\n  <!-- in -->\n  <c/>\n</a>\n",
        "(test)",
        VIR_FROM_DOMAIN,
    )
    .unwrap();
    assert_eq!(
        root.attrs,
        [("x".into(), "1".into()), ("y".into(), "<\n".into())]
    );
    assert_eq!(
        root.children.len(),
        3,
        "blank text between elements is dropped"
    );
    assert_eq!(
        root.child("b").unwrap().children,
        [Node::Text("t & <c>".into())]
    );
    assert_eq!(root.children[1], Node::Comment(" in ".into()));
    let blank = parse("<a>  </a>", "(test)", VIR_FROM_DOMAIN).unwrap();
    assert_eq!(
        blank.children,
        [Node::Text("  ".into())],
        "text alone is kept as is"
    );
}

// libxml2 refuses a 258th level ("Excessive depth in document: 256 use XML_PARSE_HUGE
// option" from libvirt 9.0) and accepts 257.
#[test]
fn depth_and_size_are_bounded() {
    let nest = |n: usize| format!("{}{}", "<a>".repeat(n), "</a>".repeat(n));
    assert!(parse(&nest(257), "(test)", VIR_FROM_DOMAIN).is_ok());
    let e = parse(&nest(258), "(test)", VIR_FROM_DOMAIN).unwrap_err();
    assert!(e
        .message
        .starts_with("(test):1: Excessive depth in document: 256 use XML_PARSE_HUGE option\n"));
    let huge = format!("<a>{}</a>", "x".repeat(MAX_INPUT));
    let e = parse(&huge, "(test)", VIR_FROM_DOMAIN).unwrap_err();
    assert_eq!((e.code, e.domain), (VIR_ERR_XML_ERROR, VIR_FROM_DOMAIN));
    assert_eq!(
        e.message,
        "XML error: document of 10485767 bytes exceeds the limit of 10485760 bytes"
    );
}
