//! libvirt's configuration file syntax (`qemu.conf`, `libvirtd.conf`): `name = value`
//! entries, one a line (or separated by `;`), `#` comments; a value is a string in double
//! or single quotes (or triple double quotes, spanning lines), an integer, or a list of
//! values in brackets, which may span lines. Errors name the file and line, in libvirt's
//! words.

use std::collections::BTreeMap;
use std::path::Path;

use crate::abi::virErrorDomain::VIR_FROM_CONF;
use crate::abi::virErrorNumber::VIR_ERR_CONF_SYNTAX;
use crate::{Error, Result};

/// One value of an entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    Str(String),
    Int(i64),
    List(Vec<Value>),
}

/// The entries of `text` (the file `path`), the last of a name winning as in libvirt.
pub fn parse(text: &str, path: &Path) -> Result<BTreeMap<String, Value>> {
    let mut p = Parser {
        rest: text,
        line: 1,
        path,
    };
    let mut entries = BTreeMap::new();
    loop {
        p.blanks_and_comments(true);
        if p.rest.is_empty() {
            return Ok(entries);
        }
        let name = p.name()?;
        p.blanks_and_comments(false);
        if !p.eat('=') {
            return Err(p.error("expecting an assignment"));
        }
        p.blanks_and_comments(false);
        let value = p.value()?;
        entries.insert(name, value);
        p.blanks_and_comments(false);
        if p.eat('\n') {
            p.line += 1;
        } else if !(p.rest.is_empty() || p.eat(';')) {
            return Err(p.error("expecting a separator"));
        }
    }
}

struct Parser<'a> {
    rest: &'a str,
    line: usize,
    path: &'a Path,
}

impl Parser<'_> {
    fn error(&self, what: &str) -> Error {
        Error::new(
            VIR_ERR_CONF_SYNTAX,
            VIR_FROM_CONF,
            format!("{}:{}: {what}", self.path.display(), self.line),
        )
    }

    fn eat(&mut self, c: char) -> bool {
        match self.rest.strip_prefix(c) {
            Some(rest) => {
                self.rest = rest;
                true
            }
            None => false,
        }
    }

    /// Skips blanks and comments; newlines too when `newlines` (counting them).
    fn blanks_and_comments(&mut self, newlines: bool) {
        loop {
            let before = self.rest.len();
            self.rest = self.rest.trim_start_matches([' ', '\t', '\r']);
            if self.rest.starts_with('#') {
                let end = self.rest.find('\n').unwrap_or(self.rest.len());
                self.rest = &self.rest[end..];
            }
            if newlines && self.eat('\n') {
                self.line += 1;
            }
            if self.rest.len() == before {
                return;
            }
        }
    }

    fn name(&mut self) -> Result<String> {
        let end = self
            .rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || "_.:".contains(c)))
            .unwrap_or(self.rest.len());
        let name = &self.rest[..end];
        if !name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
            return Err(self.error("expecting a name"));
        }
        self.rest = &self.rest[end..];
        Ok(name.to_owned())
    }

    fn value(&mut self) -> Result<Value> {
        if let Some(rest) = self.rest.strip_prefix("\"\"\"") {
            let end = rest
                .find("\"\"\"")
                .ok_or_else(|| self.error("unterminated string"))?;
            self.line += rest[..end].matches('\n').count();
            self.rest = &rest[end + 3..];
            return Ok(Value::Str(rest[..end].to_owned()));
        }
        for quote in ['"', '\''] {
            if let Some(rest) = self.rest.strip_prefix(quote) {
                let end = rest
                    .find([quote, '\n'])
                    .filter(|&i| rest[i..].starts_with(quote))
                    .ok_or_else(|| self.error("unterminated string"))?;
                self.rest = &rest[end + 1..];
                return Ok(Value::Str(rest[..end].to_owned()));
            }
        }
        if self.eat('[') {
            return self.list();
        }
        let end = self
            .rest
            .char_indices()
            .find(|&(i, c)| !(c.is_ascii_digit() || (i == 0 && "+-".contains(c))))
            .map_or(self.rest.len(), |(i, _)| i);
        match self.rest[..end].parse() {
            Ok(n) => {
                self.rest = &self.rest[end..];
                Ok(Value::Int(n))
            }
            Err(_) => Err(self.error("expecting a value")),
        }
    }

    fn list(&mut self) -> Result<Value> {
        let mut items = Vec::new();
        loop {
            self.blanks_and_comments(true);
            if self.eat(']') {
                return Ok(Value::List(items));
            }
            if self.rest.is_empty() {
                return Err(self.error("list is not closed with ]"));
            }
            items.push(self.value()?);
            self.blanks_and_comments(true);
            if !self.eat(',') && !self.rest.starts_with(']') {
                return Err(self.error("expecting a separator in list"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> Result<BTreeMap<String, Value>> {
        parse(text, Path::new("/etc/qemu.conf"))
    }

    #[test]
    fn libvirts_syntax() {
        let conf = parsed(
            "# header\n\nuser = \"root\"\ngroup='root' ; max_files = 32768\n\
             cgroup_controllers = [ \"cpu\", # the CPU\n  \"memory\" ]\nnamespaces = [ ]\n\
             motd = \"\"\"two\nlines\"\"\"\nsave_image_format = \"gzip\"\n",
        )
        .unwrap();
        assert_eq!(conf["user"], Value::Str("root".into()));
        assert_eq!(conf["group"], Value::Str("root".into()));
        assert_eq!(conf["max_files"], Value::Int(32768));
        assert_eq!(
            conf["cgroup_controllers"],
            Value::List(vec![Value::Str("cpu".into()), Value::Str("memory".into())])
        );
        assert_eq!(conf["namespaces"], Value::List(vec![]));
        assert_eq!(conf["motd"], Value::Str("two\nlines".into()));
        assert_eq!(conf["save_image_format"], Value::Str("gzip".into()));
    }

    #[test]
    fn errors_name_the_line() {
        for (text, want) in [
            ("a = \"x\"\nb = \n", "/etc/qemu.conf:2: expecting a value"),
            ("a = \"x\nb = 1\n", "/etc/qemu.conf:1: unterminated string"),
            ("\n\n= 1\n", "/etc/qemu.conf:3: expecting a name"),
            ("a 1\n", "/etc/qemu.conf:1: expecting an assignment"),
            (
                "a = [ 1 2 ]\n",
                "/etc/qemu.conf:1: expecting a separator in list",
            ),
            ("a = [ 1,\n", "/etc/qemu.conf:2: list is not closed with ]"),
            ("a = 1 b = 2\n", "/etc/qemu.conf:1: expecting a separator"),
        ] {
            let err = parsed(text).unwrap_err();
            assert_eq!((err.code, err.domain), (VIR_ERR_CONF_SYNTAX, VIR_FROM_CONF));
            assert_eq!(
                err.message,
                format!("configuration file syntax error: {want}"),
                "{text:?}"
            );
        }
    }
}
