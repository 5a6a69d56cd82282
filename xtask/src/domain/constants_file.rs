//! Reading and rewriting the release constants in `installer/src/constants.rs`.
//!
//! The file is parsed with syn and the two string literals are replaced at their byte
//! ranges, so every other byte (comments, doc comments, other constants that mention
//! the names, line endings) stays as it was, and a comment can never be hit by mistake.

use std::{fmt, ops::Range};

use syn::{Expr, Item, Lit, Type};

use crate::domain::names::tag::ReleaseTag;

pub const READYSET_TAG: &str = "READYSET_TAG";
pub const CFN_VERSION: &str = "CFN_VERSION";

/// The two constants as they are in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseConstants {
    pub readyset_tag: String,
    pub cfn_version: String,
}

/// The two constants as release names: what a release writes into the file, and what
/// a build reads out of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewConstants {
    pub readyset_tag: ReleaseTag,
    pub cfn_version: ReleaseTag,
}

impl ReleaseConstants {
    /// Both values as release names, or an error naming the one that is not and how to
    /// set it.
    pub fn tags(&self) -> anyhow::Result<NewConstants> {
        let parse = |name: &str, value: &str| {
            ReleaseTag::parse(value).map_err(|error| {
                anyhow::anyhow!(
                    "{name} in installer/src/constants.rs is not a valid release name: {error}. \
                     Set it with `cargo xtask release <name>`"
                )
            })
        };
        Ok(NewConstants {
            readyset_tag: parse(READYSET_TAG, &self.readyset_tag)?,
            cfn_version: parse(CFN_VERSION, &self.cfn_version)?,
        })
    }
}

/// A parsed constants file: its text and where the two literals are in it.
pub struct ConstantsFile<'a> {
    text: &'a str,
    readyset_tag: StringLiteral,
    cfn_version: StringLiteral,
}

#[derive(Debug, Clone)]
struct StringLiteral {
    value: String,
    bytes: Range<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConstantsError {
    Parse { line: usize, column: usize, message: String },
    Missing { name: &'static str },
    DefinedTwice { name: &'static str, lines: Vec<usize> },
    NotAStrLiteral { name: &'static str, line: usize, found: String },
    UnderCfg { name: &'static str, line: usize },
}

impl fmt::Display for ConstantsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConstantsError::Parse { line, column, message } => {
                write!(f, "it does not parse as Rust (line {line}, column {column}: {message})")
            }
            ConstantsError::Missing { name } => write!(f, "it defines no `{name}`"),
            ConstantsError::DefinedTwice { name, lines } => write!(
                f,
                "`{name}` is defined {} times (lines {}), so which one ships is ambiguous",
                lines.len(),
                lines.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
            ),
            ConstantsError::NotAStrLiteral { name, line, found } => {
                write!(f, "`{name}` on line {line} is {found}, not a `&str` string literal")
            }
            ConstantsError::UnderCfg { name, line } => {
                write!(f, "`{name}` on line {line} sits under a #[cfg] attribute, so its value depends on the build")
            }
        }?;
        write!(
            f,
            "; expected exactly one `pub const {READYSET_TAG}: &str = \"...\";` and one \
             `pub const {CFN_VERSION}: &str = \"...\";` at the top level, without #[cfg]"
        )
    }
}

impl std::error::Error for ConstantsError {}

impl<'a> ConstantsFile<'a> {
    pub fn parse(text: &'a str) -> Result<ConstantsFile<'a>, ConstantsError> {
        let file = syn::parse_file(text).map_err(|error| {
            let start = error.span().start();
            ConstantsError::Parse { line: start.line, column: start.column + 1, message: error.to_string() }
        })?;
        let mut found: Vec<(&'static str, Result<StringLiteral, ConstantsError>, usize)> = Vec::new();
        collect_definitions(&file.items, false, &mut found);
        let readyset_tag = single(&found, READYSET_TAG)?;
        let cfn_version = single(&found, CFN_VERSION)?;
        Ok(ConstantsFile { text, readyset_tag, cfn_version })
    }

    pub fn values(&self) -> ReleaseConstants {
        ReleaseConstants { readyset_tag: self.readyset_tag.value.clone(), cfn_version: self.cfn_version.value.clone() }
    }

    /// The file with the two literals replaced and nothing else changed.
    pub fn rewrite(&self, new: &NewConstants) -> String {
        // A `ReleaseTag` has no quote, backslash or control character, so it can be
        // written between plain quotes without escaping.
        let mut edits = [
            (self.readyset_tag.bytes.clone(), format!("\"{}\"", new.readyset_tag)),
            (self.cfn_version.bytes.clone(), format!("\"{}\"", new.cfn_version)),
        ];
        edits.sort_by_key(|(range, _)| std::cmp::Reverse(range.start));
        let mut text = self.text.to_owned();
        for (range, literal) in edits {
            text.replace_range(range, &literal);
        }
        text
    }
}

fn single(
    found: &[(&'static str, Result<StringLiteral, ConstantsError>, usize)],
    name: &'static str,
) -> Result<StringLiteral, ConstantsError> {
    let definitions: Vec<_> = found.iter().filter(|(n, _, _)| *n == name).collect();
    match definitions.as_slice() {
        [] => Err(ConstantsError::Missing { name }),
        [(_, literal, _)] => literal.clone(),
        many => Err(ConstantsError::DefinedTwice { name, lines: many.iter().map(|(_, _, line)| *line).collect() }),
    }
}

/// Every definition of either name, in modules too (a second one anywhere makes the
/// file ambiguous), with the literal or the reason it is not acceptable.
fn collect_definitions(
    items: &[Item],
    under_cfg: bool,
    found: &mut Vec<(&'static str, Result<StringLiteral, ConstantsError>, usize)>,
) {
    for item in items {
        let (ident, attrs, ty, expr) = match item {
            Item::Const(item) => (&item.ident, &item.attrs, &*item.ty, &*item.expr),
            Item::Static(item) => (&item.ident, &item.attrs, &*item.ty, &*item.expr),
            Item::Mod(module) => {
                if let Some((_, items)) = &module.content {
                    collect_definitions(items, under_cfg || has_cfg(&module.attrs), found);
                }
                continue;
            }
            _ => continue,
        };
        let Some(name) = [READYSET_TAG, CFN_VERSION].into_iter().find(|name| ident == name) else {
            continue;
        };
        let line = ident.span().start().line;
        let literal = if under_cfg || has_cfg(attrs) {
            Err(ConstantsError::UnderCfg { name, line })
        } else if matches!(item, Item::Static(_)) {
            Err(ConstantsError::NotAStrLiteral { name, line, found: "a static".into() })
        } else if !is_str_reference(ty) {
            Err(ConstantsError::NotAStrLiteral { name, line, found: "not of type `&str`".into() })
        } else {
            match expr {
                Expr::Lit(syn::ExprLit { lit: Lit::Str(literal), .. }) => {
                    Ok(StringLiteral { value: literal.value(), bytes: literal.span().byte_range() })
                }
                other => Err(ConstantsError::NotAStrLiteral {
                    name,
                    line,
                    found: format!("the expression `{}`", snippet(other)),
                }),
            }
        };
        found.push((name, literal, line));
    }
}

fn has_cfg(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|attr| attr.path().is_ident("cfg") || attr.path().is_ident("cfg_attr"))
}

fn is_str_reference(ty: &Type) -> bool {
    match ty {
        Type::Reference(reference) => {
            reference.mutability.is_none()
                && matches!(&*reference.elem, Type::Path(path) if path.qself.is_none() && path.path.is_ident("str"))
        }
        _ => false,
    }
}

fn snippet(expr: &Expr) -> String {
    use quote::ToTokens;
    let text = expr.to_token_stream().to_string();
    if text.chars().count() > 40 {
        format!("{}...", text.chars().take(40).collect::<String>())
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new(tag: &str, cfn: &str) -> NewConstants {
        NewConstants { readyset_tag: ReleaseTag::parse(tag).unwrap(), cfn_version: ReleaseTag::parse(cfn).unwrap() }
    }

    /// Each case: a file, the literal text of READYSET_TAG and CFN_VERSION in it, and
    /// their values. The rewrite must equal the file with just those literals replaced.
    const REWRITE_CASES: &[(&str, &str, &str, &str, &str, &str)] = &[
        (
            "plain",
            "pub const READYSET_TAG: &str = \"old\";\npub const CFN_VERSION: &str = \"old\";\n",
            "\"old\"",
            "\"old\"",
            "old",
            "old",
        ),
        (
            "doc comments, other constants mentioning the names, blank lines",
            "//! Constants.\n\n/// The tag; see READYSET_TAG = \"x\" in docs.\npub const READYSET_TAG: &str = \"v1\";\n\n\
             // CFN_VERSION: \"not this\"\npub const OTHER: &str = \"READYSET_TAG\";\n\
             pub const NOTE: &str = \"CFN_VERSION = \\\"v1\\\"\";\n/** block READYSET_TAG */\npub const CFN_VERSION: &str = \"v1\";\n\
             pub const PORTS: &[u16] = &[3306, 5432];\n",
            "\"v1\"",
            "\"v1\"",
            "v1",
            "v1",
        ),
        (
            "raw strings in other constants and in the literal itself",
            "pub const RAW: &str = r#\"READYSET_TAG = \"v0\"\"#;\npub const READYSET_TAG: &'static str = r\"v0\";\n\
             pub const CFN_VERSION: &str = r#\"v0\"#;\n",
            "r\"v0\"",
            "r#\"v0\"#",
            "v0",
            "v0",
        ),
        (
            "#[cfg] duplicates of other constants",
            "#[cfg(target_os = \"macos\")]\npub const BINARY: &str = \"mac\";\n#[cfg(not(target_os = \"macos\"))]\n\
             pub const BINARY: &str = \"linux\";\npub const READYSET_TAG: &str = \"a\";\npub const CFN_VERSION: &str = \"b\";\n",
            "\"a\"",
            "\"b\"",
            "a",
            "b",
        ),
        (
            "CRLF line endings and trailing whitespace",
            "//! x  \r\npub const READYSET_TAG: &str = \"old\";   \r\n\t\r\npub const CFN_VERSION: &str =\r\n    \"old\"; \t\r\n",
            "\"old\"",
            "\"old\"",
            "old",
            "old",
        ),
        (
            "unicode before the literals and CFN_VERSION first",
            "/// Ünïcödé — ✓\npub const CFN_VERSION: &str = \"ß\";\n/* 🚀 */ pub const READYSET_TAG: &str = \"é\";\n",
            "\"é\"",
            "\"ß\"",
            "é",
            "ß",
        ),
        (
            "escapes in the old literal, inside a module-less file with attributes",
            "#![allow(dead_code)]\n#[doc = \"x\"]\npub const READYSET_TAG: &str = \"a\\\"b\";\n#[allow(unused)]\nconst CFN_VERSION: &str = \"c\\\\d\";\n",
            "\"a\\\"b\"",
            "\"c\\\\d\"",
            "a\"b",
            "c\\d",
        ),
    ];

    #[test]
    fn rewrite_changes_only_the_two_literals() {
        for (case, text, tag_literal, cfn_literal, tag_value, cfn_value) in REWRITE_CASES {
            let file = ConstantsFile::parse(text).unwrap_or_else(|e| panic!("{case}: {e}"));
            assert_eq!(
                file.values(),
                ReleaseConstants { readyset_tag: tag_value.to_string(), cfn_version: cfn_value.to_string() },
                "{case}"
            );
            let rewritten = file.rewrite(&new("v2024.06.1", "v2024.06.1-cfn"));
            let tag_at = text.find("READYSET_TAG: &").unwrap();
            let cfn_at = text.find("CFN_VERSION: &").unwrap();
            let mut expected = text.to_string();
            let tag_pos = tag_at + text[tag_at..].find(tag_literal).unwrap();
            let cfn_pos = cfn_at + text[cfn_at..].find(cfn_literal).unwrap();
            let mut edits =
                [(tag_pos, tag_literal.len(), "\"v2024.06.1\""), (cfn_pos, cfn_literal.len(), "\"v2024.06.1-cfn\"")];
            edits.sort_by_key(|(pos, _, _)| std::cmp::Reverse(*pos));
            for (pos, len, with) in edits {
                expected.replace_range(pos..pos + len, with);
            }
            assert_eq!(rewritten, expected, "{case}");
            let again = ConstantsFile::parse(&rewritten).unwrap();
            assert_eq!(again.values().readyset_tag, "v2024.06.1", "{case}");
            assert_eq!(again.values().cfn_version, "v2024.06.1-cfn", "{case}");
        }
    }

    #[test]
    fn the_installers_constants_file_parses() {
        let text = include_str!("../../../installer/src/constants.rs");
        let file = ConstantsFile::parse(text).unwrap();
        ReleaseTag::parse(&file.values().readyset_tag).unwrap();
        ReleaseTag::parse(&file.values().cfn_version).unwrap();
    }

    #[test]
    fn every_ambiguous_or_broken_file_is_refused_with_the_reason() {
        let tag = "pub const READYSET_TAG: &str = \"a\";\n";
        let cfn = "pub const CFN_VERSION: &str = \"a\";\n";
        let cases: Vec<(&str, String, &str)> = vec![
            ("empty file", String::new(), "defines no `READYSET_TAG`"),
            ("missing CFN_VERSION", tag.into(), "defines no `CFN_VERSION`"),
            (
                "only mentioned in a comment",
                format!("// pub const CFN_VERSION: &str = \"a\";\n{tag}"),
                "defines no `CFN_VERSION`",
            ),
            ("defined twice", format!("{tag}{cfn}{tag}"), "`READYSET_TAG` is defined 2 times (lines 1, 3)"),
            (
                "again in a module",
                format!("{tag}{cfn}mod old {{ pub const CFN_VERSION: &str = \"b\"; }}\n"),
                "`CFN_VERSION` is defined 2 times",
            ),
            (
                "not a literal",
                format!("{tag}pub const CFN_VERSION: &str = READYSET_TAG;\n"),
                "is the expression `READYSET_TAG`",
            ),
            (
                "concat",
                format!("{tag}pub const CFN_VERSION: &str = concat!(\"a\", \"b\");\n"),
                "not a `&str` string literal",
            ),
            ("byte string", format!("{tag}pub const CFN_VERSION: &[u8] = b\"a\";\n"), "not of type `&str`"),
            ("a String", format!("{tag}pub const CFN_VERSION: String = String::new();\n"), "not of type `&str`"),
            ("a static", format!("{tag}pub static CFN_VERSION: &str = \"a\";\n"), "is a static"),
            (
                "under cfg",
                format!("{tag}#[cfg(feature = \"x\")]\n{cfn}"),
                "`CFN_VERSION` on line 3 sits under a #[cfg]",
            ),
            ("cfg twice", format!("#[cfg(unix)]\n{tag}#[cfg(not(unix))]\n{tag}{cfn}"), "defined 2 times"),
            ("under cfg_attr", format!("#[cfg_attr(test, allow(dead_code))]\n{tag}{cfn}"), "sits under a #[cfg]"),
            (
                "in a cfg module",
                format!("{cfn}#[cfg(test)]\nmod m {{ pub const READYSET_TAG: &str = \"a\"; }}\n"),
                "sits under a #[cfg]",
            ),
            ("does not parse", format!("{tag}pub const CFN_VERSION: &str = \"a\"\n"), "does not parse as Rust (line"),
            ("unterminated string", format!("{tag}pub const CFN_VERSION: &str = \"a;\n"), "does not parse as Rust"),
        ];
        for (case, text, reason) in cases {
            let error = match ConstantsFile::parse(&text) {
                Ok(_) => panic!("{case}: accepted"),
                Err(error) => error.to_string(),
            };
            assert!(error.contains(reason), "{case}: expected {reason:?} in {error:?}");
            assert!(error.contains("expected exactly one `pub const READYSET_TAG"), "{case}: {error}");
        }
    }
}
