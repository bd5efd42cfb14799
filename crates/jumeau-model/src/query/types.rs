//! Entity type selection expressions (ETSI GS CIM 009 §4.17): the `type` parameter.
//!
//! `Streetlight,Cabinet` or `Streetlight|Cabinet` selects entities of either type;
//! `Streetlight;Device` selects entities having both types; parentheses group, and AND (`;`)
//! binds tighter than OR (`,` and `|`). Each type name is expanded with the caller's
//! @context, so the expression holds full IRIs, as [`crate::Entity::types`] does.

use crate::{ErrorKind, NgsiError, Result};

/// The longest type expression accepted, in bytes.
pub const MAX_TYPE_EXPR_LEN: usize = 8 * 1024;

/// The deepest nesting of parentheses accepted in a type expression.
pub const MAX_TYPE_EXPR_DEPTH: usize = 32;

/// A parsed type expression over expanded type IRIs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TypeExpr {
    /// The entity has this type (expanded IRI).
    Type(String),
    /// The entity satisfies at least one of these (`,` or `|`). Never directly holds another
    /// `Or`.
    Or(Vec<TypeExpr>),
    /// The entity satisfies all of these (`;`). Never directly holds another `And`.
    And(Vec<TypeExpr>),
}

impl TypeExpr {
    /// Parses a type expression, expanding each type name with `expand`. Errors are
    /// InvalidRequest naming the position (1-based, in characters) and the offending text;
    /// TooComplexQuery beyond [`MAX_TYPE_EXPR_LEN`] bytes or [`MAX_TYPE_EXPR_DEPTH`] levels.
    pub fn parse(s: &str, expand: &dyn Fn(&str) -> String) -> Result<Self> {
        if s.len() > MAX_TYPE_EXPR_LEN {
            return Err(NgsiError::new(
                ErrorKind::TooComplexQuery,
                format!(
                    "type is {} bytes long, more than the {MAX_TYPE_EXPR_LEN} accepted; split the query",
                    s.len()
                ),
            ));
        }
        let mut p = Parser {
            chars: s.chars().collect(),
            pos: 0,
            expand,
        };
        p.skip_ws();
        if p.peek().is_none() {
            return Err(NgsiError::invalid(
                "type is empty; give one or more entity types such as Streetlight,Cabinet",
            ));
        }
        let e = p.parse_or(0)?;
        p.skip_ws();
        match p.peek() {
            None => Ok(e),
            Some(')') => Err(p.err(format!(
                "unexpected ')' at position {}: no '(' opens it; remove it or add the matching '('",
                p.pos + 1
            ))),
            Some(c) => Err(p.err(format!(
                "unexpected '{c}' at position {}; separate types with ',' or '|' (or) and ';' (and)",
                p.pos + 1
            ))),
        }
    }

    /// Whether an entity with these (expanded) types matches.
    pub fn matches(&self, types: &[String]) -> bool {
        match self {
            Self::Type(t) => types.iter().any(|x| x == t),
            Self::Or(v) => v.iter().any(|e| e.matches(types)),
            Self::And(v) => v.iter().all(|e| e.matches(types)),
        }
    }

    /// Every type named in the expression, once each, in order of appearance; an entity
    /// matching the expression has at least one of them, so an index can pre-select on them.
    pub fn mentioned(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        let mut stack = vec![self];
        while let Some(e) = stack.pop() {
            match e {
                Self::Type(t) => {
                    if !out.contains(&t.as_str()) {
                        out.push(t);
                    }
                }
                Self::Or(v) | Self::And(v) => stack.extend(v.iter().rev()),
            }
        }
        out
    }
}

/// A recursive-descent parser over characters; recursion is bounded by the depth limit.
struct Parser<'a> {
    chars: Vec<char>,
    pos: usize,
    expand: &'a dyn Fn(&str) -> String,
}

impl Parser<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    fn err(&self, msg: String) -> NgsiError {
        NgsiError::invalid(format!("type: {msg}"))
    }

    fn parse_or(&mut self, depth: usize) -> Result<TypeExpr> {
        let mut terms = vec![self.parse_and(depth)?];
        loop {
            self.skip_ws();
            if !matches!(self.peek(), Some(',' | '|')) {
                break;
            }
            self.pos += 1;
            terms.push(self.parse_and(depth)?);
        }
        Ok(join(terms, false))
    }

    fn parse_and(&mut self, depth: usize) -> Result<TypeExpr> {
        let mut terms = vec![self.parse_factor(depth)?];
        loop {
            self.skip_ws();
            if self.peek() != Some(';') {
                break;
            }
            self.pos += 1;
            terms.push(self.parse_factor(depth)?);
        }
        Ok(join(terms, true))
    }

    fn parse_factor(&mut self, depth: usize) -> Result<TypeExpr> {
        self.skip_ws();
        let start = self.pos;
        match self.peek() {
            Some('(') => {
                if depth >= MAX_TYPE_EXPR_DEPTH {
                    return Err(NgsiError::new(
                        ErrorKind::TooComplexQuery,
                        format!(
                            "type: parentheses are nested more than {MAX_TYPE_EXPR_DEPTH} levels deep at position {}; simplify the expression",
                            start + 1
                        ),
                    ));
                }
                self.pos += 1;
                let e = self.parse_or(depth + 1)?;
                self.skip_ws();
                match self.peek() {
                    Some(')') => {
                        self.pos += 1;
                        Ok(e)
                    }
                    None => Err(self.err(format!(
                        "missing ')' to close the '(' at position {}",
                        start + 1
                    ))),
                    Some(c) => Err(self.err(format!(
                        "unexpected '{c}' at position {} inside the group opened at position {}",
                        self.pos + 1,
                        start + 1
                    ))),
                }
            }
            None => Err(self.err(format!(
                "the expression ends at position {} where a type name was expected; remove the trailing separator",
                self.pos + 1
            ))),
            Some(c) if matches!(c, ',' | '|' | ';' | ')') => Err(self.err(format!(
                "expected a type name at position {} but found '{c}'; write types such as Streetlight,Cabinet",
                self.pos + 1
            ))),
            Some(_) => {
                while self
                    .peek()
                    .is_some_and(|c| !(c.is_whitespace() || matches!(c, ',' | '|' | ';' | '(' | ')')))
                {
                    self.pos += 1;
                }
                let name: String = self.chars[start..self.pos].iter().collect();
                self.skip_ws();
                if self.peek() == Some('(') {
                    return Err(self.err(format!(
                        "unexpected '(' at position {} after the type '{name}'; separate types with ',' or ';'",
                        self.pos + 1
                    )));
                }
                Ok(TypeExpr::Type((self.expand)(&name)))
            }
        }
    }
}

/// Joins terms under AND (`and`) or OR, flattening nested groups of the same kind.
fn join(terms: Vec<TypeExpr>, and: bool) -> TypeExpr {
    if terms.len() == 1 {
        if let Some(t) = terms.into_iter().next() {
            return t;
        }
        return TypeExpr::Or(Vec::new());
    }
    let mut out = Vec::with_capacity(terms.len());
    for t in terms {
        match t {
            TypeExpr::And(v) if and => out.extend(v),
            TypeExpr::Or(v) if !and => out.extend(v),
            other => out.push(other),
        }
    }
    if and {
        TypeExpr::And(out)
    } else {
        TypeExpr::Or(out)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    fn ex(s: &str) -> String {
        format!("https://example.org/{s}")
    }

    fn parse(s: &str) -> Result<TypeExpr> {
        TypeExpr::parse(s, &ex)
    }

    fn t(s: &str) -> TypeExpr {
        TypeExpr::Type(ex(s))
    }

    fn types(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| ex(s)).collect()
    }

    #[test]
    fn single_type_is_expanded() {
        assert_eq!(parse("Streetlight").unwrap(), t("Streetlight"));
        assert_eq!(parse("  Streetlight ").unwrap(), t("Streetlight"));
    }

    #[test]
    fn comma_and_bar_are_or() {
        let want = TypeExpr::Or(vec![t("A"), t("B"), t("C")]);
        assert_eq!(parse("A,B,C").unwrap(), want);
        assert_eq!(parse("A|B|C").unwrap(), want);
        assert_eq!(parse("A, B |C").unwrap(), want);
    }

    #[test]
    fn semicolon_is_and_and_binds_tighter() {
        assert_eq!(parse("A;B").unwrap(), TypeExpr::And(vec![t("A"), t("B")]));
        assert_eq!(
            parse("A;B,C").unwrap(),
            TypeExpr::Or(vec![TypeExpr::And(vec![t("A"), t("B")]), t("C")])
        );
        assert_eq!(
            parse("A,B;C").unwrap(),
            TypeExpr::Or(vec![t("A"), TypeExpr::And(vec![t("B"), t("C")])])
        );
        assert_eq!(
            parse("(A,B);C").unwrap(),
            TypeExpr::And(vec![TypeExpr::Or(vec![t("A"), t("B")]), t("C")])
        );
        assert_eq!(parse("((A))").unwrap(), t("A"));
        assert_eq!(
            parse("(A,B),C").unwrap(),
            TypeExpr::Or(vec![t("A"), t("B"), t("C")])
        );
    }

    #[test]
    fn matching() {
        let e = parse("(Streetlight,Cabinet);Device").unwrap();
        assert!(e.matches(&types(&["Device", "Streetlight"])));
        assert!(e.matches(&types(&["Cabinet", "Device", "Other"])));
        assert!(!e.matches(&types(&["Streetlight"])));
        assert!(!e.matches(&types(&["Device"])));
        assert!(!e.matches(&[]));
        assert!(parse("A|B").unwrap().matches(&types(&["B"])));
        assert!(!parse("A|B").unwrap().matches(&types(&["C"])));
        // Names are compared expanded.
        assert!(!parse("A").unwrap().matches(&["A".to_string()]));
    }

    #[test]
    fn mentioned_lists_each_type_once() {
        let e = parse("(A,B);C|A").unwrap();
        assert_eq!(
            e.mentioned(),
            vec![ex("A").as_str(), ex("B").as_str(), ex("C").as_str()]
        );
    }

    #[test]
    fn full_iris_pass_through_the_expander() {
        let id = |s: &str| s.to_string();
        let e =
            TypeExpr::parse("https://uri.etsi.org/ngsi-ld/default-context/A,ex:B", &id).unwrap();
        assert_eq!(
            e,
            TypeExpr::Or(vec![
                TypeExpr::Type("https://uri.etsi.org/ngsi-ld/default-context/A".into()),
                TypeExpr::Type("ex:B".into())
            ])
        );
    }

    #[test]
    fn errors_name_the_position() {
        for (q, needle) in [
            ("", "empty"),
            ("   ", "empty"),
            ("A,", "position 3"),
            (",A", "position 1"),
            ("A;;B", "position 3"),
            ("(A,B", "missing ')'"),
            ("A,B)", "unexpected ')' at position 4"),
            ("A B", "unexpected 'B' at position 3"),
            ("A(B)", "position 2"),
            ("()", "position 2"),
        ] {
            let err = parse(q).unwrap_err();
            assert_eq!(err.kind, ErrorKind::InvalidRequest, "{q}");
            assert!(err.detail.contains(needle), "{q}: {}", err.detail);
        }
    }

    #[test]
    fn hostile_inputs_are_refused_without_panic() {
        let deep = format!("{}A{}", "(".repeat(33), ")".repeat(33));
        assert_eq!(parse(&deep).unwrap_err().kind, ErrorKind::TooComplexQuery);
        let ok = format!("{}A{}", "(".repeat(32), ")".repeat(32));
        assert_eq!(parse(&ok).unwrap(), t("A"));
        let deeper = "(".repeat(100_000);
        assert_eq!(parse(&deeper).unwrap_err().kind, ErrorKind::TooComplexQuery);
        let long = "A,".repeat(5000);
        assert_eq!(parse(&long).unwrap_err().kind, ErrorKind::TooComplexQuery);
        for s in [
            "(((",
            ")))",
            "é;ü|日本",
            "\u{0}",
            ";",
            "|",
            "((A)",
            "A))",
            "\"A\"",
        ] {
            let _ = parse(s);
        }
    }
}
