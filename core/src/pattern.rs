//! CloudWatch Logs JSON filter patterns, evaluated with CloudWatch's semantics so that the
//! CIS AWS Foundations metric-filter patterns can be pasted verbatim.
//!
//! Grammar: `{ EXPR }` where `EXPR` combines comparisons with `&&`, `||` and parentheses.
//! `&&` binds tighter than `||` (so `a || b && c` is `a || (b && c)`). A comparison is
//! `SELECTOR OP VALUE`, `SELECTOR IS NULL`, `SELECTOR IS TRUE`, `SELECTOR IS FALSE`,
//! `SELECTOR NOT EXISTS` or `SELECTOR EXISTS`. Selectors are `$.a.b`, `$.a[0].b`.
//!
//! Semantics (the surprises are deliberate, they are CloudWatch's):
//! - String values (quoted, or bare words) compare with `=` and `!=` only, case-sensitively;
//!   `*` inside them matches any run of characters. They match string fields, and the JSON text
//!   of number and boolean fields.
//! - `%regex%` values match strings whose text contains a match of the regular expression.
//! - Numeric values compare numerically with `= != < > <= >=` against number fields only.
//! - A missing field matches neither `=` nor `!=`: `$.x != "a"` is false when `x` is absent.
//!   A `null` field matches `IS NULL` and `!=` (it is present and not equal) but never `=`.
//! - A key applied to an array finds nothing; use an index (`$.items[0]`).

use regex::Regex;
use serde_json::Value;

use crate::error::PatternError;
use crate::event::{Event, FieldRef, Segment, Typed};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Gt,
    Le,
    Ge,
}

#[derive(Debug, Clone)]
enum Operand {
    Text { text: String, wildcard: bool },
    Number(f64),
    Regex(Regex),
}

#[derive(Debug, Clone)]
enum Check {
    Cmp(Op, Operand),
    IsNull,
    IsTrue,
    IsFalse,
    Exists,
    NotExists,
}

#[derive(Debug, Clone)]
enum Expr {
    Or(Vec<Expr>),
    And(Vec<Expr>),
    Test {
        path: Vec<Segment>,
        // The typed field `path` names, resolved once (see `Event::typed`).
        typed: Option<Typed>,
        check: Check,
    },
}

/// A compiled filter pattern.
///
/// ```
/// use trailalerts::{Event, FilterPattern};
/// let p = FilterPattern::parse(r#"{ ($.eventName = "ConsoleLogin") && ($.additionalEventData.MFAUsed != "Yes") }"#).unwrap();
/// let ev = Event::parse(r#"{"eventName":"ConsoleLogin","additionalEventData":{"MFAUsed":"No"}}"#).unwrap();
/// assert!(p.matches(&ev));
/// let ev = Event::parse(r#"{"eventName":"ConsoleLogin"}"#).unwrap();
/// assert!(!p.matches(&ev)); // `!=` never matches a missing field
/// ```
#[derive(Debug, Clone)]
pub struct FilterPattern {
    text: String,
    expr: Expr,
}

impl FilterPattern {
    /// Parses `text`; the error gives the character offset and the problem.
    pub fn parse(text: &str) -> Result<Self, PatternError> {
        let mut p = Parser {
            chars: text.char_indices().collect(),
            i: 0,
        };
        p.ws();
        if !p.eat('{') {
            return Err(p.error("a JSON filter pattern must start with `{`"));
        }
        let expr = p.or_expr(0)?;
        p.ws();
        if !p.eat('}') {
            return Err(p.error("expected `&&`, `||` or the closing `}`"));
        }
        p.ws();
        if p.peek().is_some() {
            return Err(p.error("unexpected text after the closing `}`"));
        }
        Ok(Self {
            text: text.to_owned(),
            expr,
        })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the event matches.
    pub fn matches(&self, ev: &Event<'_>) -> bool {
        eval(&self.expr, ev)
    }

    /// The exact `eventName` values this pattern can match, when it constrains them with
    /// literal equalities (used to index alerts). `None` means "any event name".
    pub fn event_names(&self) -> Option<Vec<String>> {
        literal_names(&self.expr, "eventName")
    }

    /// Literal strings one of which the raw text of every matching event contains (for a
    /// byte-level prefilter). `None` when the pattern constrains no literal.
    pub fn required_literals(&self) -> Option<Vec<String>> {
        needles(&self.expr)
    }

    /// Sets of literals like [`FilterPattern::required_literals`], one per conjunct of a
    /// top-level `&&` (each is required), for a caller that weighs them itself.
    pub(crate) fn required_literal_sets(&self) -> Vec<Vec<String>> {
        match &self.expr {
            Expr::And(xs) => xs.iter().filter_map(needles).collect(),
            e => needles(e).into_iter().collect(),
        }
    }

    /// Like [`FilterPattern::event_names`], for `eventSource`.
    pub fn event_sources(&self) -> Option<Vec<String>> {
        literal_names(&self.expr, "eventSource")
    }

    /// Like [`FilterPattern::event_names`], for `awsRegion` (for the prefilter).
    pub(crate) fn regions(&self) -> Option<Vec<String>> {
        literal_names(&self.expr, "awsRegion")
    }
}

fn literal_names(e: &Expr, field: &str) -> Option<Vec<String>> {
    match e {
        Expr::Test {
            path,
            check:
                Check::Cmp(
                    Op::Eq,
                    Operand::Text {
                        text,
                        wildcard: false,
                    },
                ),
            ..
        } if matches!(path.as_slice(), [Segment::Key(k)] if k == field) => Some(vec![text.clone()]),
        Expr::Or(xs) => {
            let mut out = Vec::new();
            for x in xs {
                out.extend(literal_names(x, field)?);
            }
            Some(out)
        }
        Expr::And(xs) => {
            // Any conjunct that pins the name pins the whole conjunction.
            xs.iter()
                .filter_map(|x| literal_names(x, field))
                .min_by_key(Vec::len)
        }
        Expr::Test { .. } => None,
    }
}

fn needles(e: &Expr) -> Option<Vec<String>> {
    match e {
        Expr::Test {
            check: Check::Cmp(Op::Eq, Operand::Text { text, wildcard }),
            ..
        } => {
            // The longest literal run between wildcards must appear in the text.
            let lit = if *wildcard {
                text.split('*').max_by_key(|p| p.len()).unwrap_or("")
            } else {
                text.as_str()
            };
            (lit.len() >= 3 && crate::alert::verbatim(lit)).then(|| vec![lit.to_owned()])
        }
        Expr::Test {
            path,
            check: Check::Exists | Check::IsNull | Check::IsTrue | Check::IsFalse,
            ..
        } => match path.last() {
            Some(Segment::Key(k)) if k.len() >= 3 && crate::alert::verbatim(k) => {
                Some(vec![format!("\"{k}\"")])
            }
            _ => None,
        },
        Expr::Or(xs) => {
            let mut out = Vec::new();
            for x in xs {
                out.extend(needles(x)?);
            }
            Some(out)
        }
        Expr::And(xs) => xs
            .iter()
            .filter_map(needles)
            .min_by_key(|v| crate::alert::needle_cost(v)),
        Expr::Test { .. } => None,
    }
}

fn eval(e: &Expr, ev: &Event<'_>) -> bool {
    match e {
        Expr::Or(xs) => xs.iter().any(|x| eval(x, ev)),
        Expr::And(xs) => xs.iter().all(|x| eval(x, ev)),
        Expr::Test { path, typed, check } => {
            let found = match typed {
                Some(t) => ev.typed(*t),
                None => ev.lookup(path),
            };
            test(found, check)
        }
    }
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn test(found: FieldRef<'_>, check: &Check) -> bool {
    match check {
        Check::Exists => !matches!(found, FieldRef::Missing),
        Check::NotExists => matches!(found, FieldRef::Missing),
        Check::IsNull => matches!(found, FieldRef::Value(Value::Null)),
        Check::IsTrue => matches!(found, FieldRef::Value(Value::Bool(true))),
        Check::IsFalse => matches!(found, FieldRef::Value(Value::Bool(false))),
        Check::Cmp(op, operand) => {
            let is_null = matches!(found, FieldRef::Value(Value::Null));
            match operand {
                Operand::Number(want) => {
                    let FieldRef::Value(Value::Number(n)) = found else {
                        return *op == Op::Ne && is_null;
                    };
                    let Some(x) = n.as_f64() else { return false };
                    match op {
                        Op::Eq => x == *want,
                        Op::Ne => x != *want,
                        Op::Lt => x < *want,
                        Op::Gt => x > *want,
                        Op::Le => x <= *want,
                        Op::Ge => x >= *want,
                    }
                }
                Operand::Text { .. } | Operand::Regex(_) => {
                    let owned;
                    let s = match found {
                        FieldRef::Str(s) => s,
                        FieldRef::Value(v) => match scalar_text(v) {
                            Some(t) => {
                                owned = t;
                                owned.as_str()
                            }
                            None => return *op == Op::Ne && is_null,
                        },
                        FieldRef::Missing => return false,
                    };
                    let hit = match operand {
                        Operand::Text {
                            text,
                            wildcard: false,
                        } => s == text,
                        Operand::Text {
                            text,
                            wildcard: true,
                        } => wildcard_match(text, s),
                        Operand::Regex(r) => r.is_match(s),
                        Operand::Number(_) => false,
                    };
                    if *op == Op::Eq { hit } else { !hit }
                }
            }
        }
    }
}

/// Case-sensitive match where `*` in `pat` matches any run of characters.
fn wildcard_match(pat: &str, s: &str) -> bool {
    let parts: Vec<&str> = pat.split('*').collect();
    let (Some(first), Some(last)) = (parts.first(), parts.last()) else {
        return false;
    };
    if parts.len() == 1 {
        return pat == s;
    }
    if !s.starts_with(first) {
        return false;
    }
    let mut rest = &s[first.len()..];
    let middle = parts.get(1..parts.len() - 1).unwrap_or_default();
    for m in middle {
        match rest.find(m) {
            Some(i) => rest = &rest[i + m.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

struct Parser {
    chars: Vec<(usize, char)>,
    i: usize,
}

const MAX_DEPTH: usize = 64;

impl Parser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.i).map(|c| c.1)
    }
    fn peek2(&self) -> Option<char> {
        self.chars.get(self.i + 1).map(|c| c.1)
    }
    fn error(&self, msg: &str) -> PatternError {
        PatternError::new(self.i, msg)
    }
    fn ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.i += 1;
        }
    }
    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn eat2(&mut self, a: char, b: char) -> bool {
        if self.peek() == Some(a) && self.peek2() == Some(b) {
            self.i += 2;
            true
        } else {
            false
        }
    }

    fn or_expr(&mut self, depth: usize) -> Result<Expr, PatternError> {
        let mut xs = vec![self.and_expr(depth)?];
        loop {
            self.ws();
            if self.eat2('|', '|') {
                xs.push(self.and_expr(depth)?);
            } else {
                break;
            }
        }
        Ok(if xs.len() == 1 {
            xs.pop().unwrap_or(Expr::Or(vec![]))
        } else {
            Expr::Or(xs)
        })
    }

    fn and_expr(&mut self, depth: usize) -> Result<Expr, PatternError> {
        let mut xs = vec![self.unary(depth)?];
        loop {
            self.ws();
            if self.eat2('&', '&') {
                xs.push(self.unary(depth)?);
            } else {
                break;
            }
        }
        Ok(if xs.len() == 1 {
            xs.pop().unwrap_or(Expr::And(vec![]))
        } else {
            Expr::And(xs)
        })
    }

    fn unary(&mut self, depth: usize) -> Result<Expr, PatternError> {
        if depth > MAX_DEPTH {
            return Err(self.error("parentheses nested too deeply"));
        }
        self.ws();
        if self.eat('(') {
            let e = self.or_expr(depth + 1)?;
            self.ws();
            if !self.eat(')') {
                return Err(self.error("expected `)`"));
            }
            return Ok(e);
        }
        self.comparison()
    }

    fn selector(&mut self) -> Result<Vec<Segment>, PatternError> {
        if !self.eat('$') {
            return Err(self.error("expected a selector such as `$.eventName`"));
        }
        let mut path = Vec::new();
        loop {
            if self.eat('.') {
                let start = self.i;
                while self.peek().is_some_and(|c| {
                    c.is_alphanumeric() || matches!(c, '_' | '-' | '@' | ':' | '$')
                }) {
                    self.i += 1;
                }
                if self.i == start {
                    return Err(self.error("expected a field name after `.`"));
                }
                path.push(Segment::Key(
                    self.chars
                        .get(start..self.i)
                        .unwrap_or_default()
                        .iter()
                        .map(|c| c.1)
                        .collect(),
                ));
            } else if self.eat('[') {
                let start = self.i;
                while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                    self.i += 1;
                }
                let digits: String = self
                    .chars
                    .get(start..self.i)
                    .unwrap_or_default()
                    .iter()
                    .map(|c| c.1)
                    .collect();
                let idx = digits
                    .parse::<usize>()
                    .map_err(|_| self.error("expected an array index such as `[0]`"))?;
                if !self.eat(']') {
                    return Err(self.error("expected `]`"));
                }
                path.push(Segment::Index(idx));
            } else {
                break;
            }
        }
        if path.is_empty() {
            return Err(self.error("a selector needs at least one field, such as `$.eventName`"));
        }
        Ok(path)
    }

    fn keyword(&mut self, word: &str) -> bool {
        let n = word.chars().count();
        let got: String = self
            .chars
            .get(self.i..self.i + n)
            .unwrap_or_default()
            .iter()
            .map(|c| c.1)
            .collect();
        let boundary = self
            .chars
            .get(self.i + n)
            .is_none_or(|c| !c.1.is_alphanumeric());
        if got.eq_ignore_ascii_case(word) && boundary {
            self.i += n;
            true
        } else {
            false
        }
    }

    fn comparison(&mut self) -> Result<Expr, PatternError> {
        let path = self.selector()?;
        self.ws();
        let check = if self.keyword("IS") {
            self.ws();
            if self.keyword("NULL") {
                Check::IsNull
            } else if self.keyword("TRUE") {
                Check::IsTrue
            } else if self.keyword("FALSE") {
                Check::IsFalse
            } else {
                return Err(self.error("expected NULL, TRUE or FALSE after IS"));
            }
        } else if self.keyword("NOT") {
            self.ws();
            if !self.keyword("EXISTS") {
                return Err(self.error("expected EXISTS after NOT"));
            }
            Check::NotExists
        } else if self.keyword("EXISTS") {
            Check::Exists
        } else {
            let op = if self.eat2('!', '=') {
                Op::Ne
            } else if self.eat2('<', '=') {
                Op::Le
            } else if self.eat2('>', '=') {
                Op::Ge
            } else if self.eat('=') {
                Op::Eq
            } else if self.eat('<') {
                Op::Lt
            } else if self.eat('>') {
                Op::Gt
            } else {
                return Err(self.error(
                    "expected an operator (`=`, `!=`, `<`, `>`, `<=`, `>=`, IS, NOT EXISTS)",
                ));
            };
            self.ws();
            let at = self.i;
            let operand = self.operand()?;
            if !matches!(operand, Operand::Number(_)) && !matches!(op, Op::Eq | Op::Ne) {
                return Err(PatternError::new(
                    at,
                    "only `=` and `!=` apply to text; `<`, `>`, `<=`, `>=` need a number",
                ));
            }
            Check::Cmp(op, operand)
        };
        Ok(Expr::Test {
            typed: Typed::of(&path),
            path,
            check,
        })
    }

    fn operand(&mut self) -> Result<Operand, PatternError> {
        match self.peek() {
            Some('"') => {
                self.i += 1;
                let mut s = String::new();
                loop {
                    match self.peek() {
                        None => return Err(self.error("unterminated string")),
                        Some('"') => {
                            self.i += 1;
                            break;
                        }
                        Some('\\') => {
                            self.i += 1;
                            let Some(c) = self.peek() else {
                                return Err(self.error("unterminated string"));
                            };
                            s.push(c);
                            self.i += 1;
                        }
                        Some(c) => {
                            s.push(c);
                            self.i += 1;
                        }
                    }
                }
                Ok(Operand::Text {
                    wildcard: s.contains('*'),
                    text: s,
                })
            }
            Some('%') => {
                self.i += 1;
                let start = self.i;
                while self.peek().is_some_and(|c| c != '%') {
                    self.i += 1;
                }
                if !self.eat('%') {
                    return Err(
                        self.error("unterminated regular expression (expected closing `%`)")
                    );
                }
                let body: String = self
                    .chars
                    .get(start..self.i - 1)
                    .unwrap_or_default()
                    .iter()
                    .map(|c| c.1)
                    .collect();
                let re = regex::RegexBuilder::new(&body)
                    .size_limit(1 << 20)
                    .build()
                    .map_err(|e| {
                        PatternError::new(start, format!("bad regular expression: {e}"))
                    })?;
                Ok(Operand::Regex(re))
            }
            _ => {
                let start = self.i;
                while self.peek().is_some_and(|c| {
                    !c.is_whitespace()
                        && !matches!(
                            c,
                            '(' | ')' | '{' | '}' | '&' | '|' | '"' | '=' | '<' | '>' | '!'
                        )
                }) {
                    self.i += 1;
                }
                if self.i == start {
                    return Err(self.error("expected a value"));
                }
                let word: String = self
                    .chars
                    .get(start..self.i)
                    .unwrap_or_default()
                    .iter()
                    .map(|c| c.1)
                    .collect();
                if let Ok(n) = word.parse::<f64>()
                    && n.is_finite()
                    && word
                        .chars()
                        .next()
                        .is_some_and(|c| c.is_ascii_digit() || c == '-' || c == '+' || c == '.')
                {
                    return Ok(Operand::Number(n));
                }
                Ok(Operand::Text {
                    wildcard: word.contains('*'),
                    text: word,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    fn m(p: &str, ev: &str) -> bool {
        FilterPattern::parse(p)
            .unwrap()
            .matches(&Event::parse(ev).unwrap())
    }

    #[test]
    fn operators() {
        let ev = r#"{"eventName":"RunInstances","errorCode":"Client.UnauthorizedOperation","n":5,"b":true,"f":false,"z":null,
                     "responseElements":{"items":[{"id":"i-1"}]},"userIdentity":{"type":"Root"}}"#;
        assert!(m(r#"{ $.eventName = "RunInstances" }"#, ev));
        assert!(m(r#"{$.eventName=RunInstances}"#, ev));
        assert!(
            !m(r#"{ $.eventName = "runinstances" }"#, ev),
            "case-sensitive"
        );
        assert!(m(r#"{ $.errorCode = "*UnauthorizedOperation" }"#, ev));
        assert!(m(r#"{ $.errorCode = "Client.*" }"#, ev));
        assert!(m(r#"{ $.errorCode = "*Unauth*Op*" }"#, ev));
        assert!(!m(r#"{ $.errorCode = "AccessDenied*" }"#, ev));
        assert!(m(r#"{ $.n = 5 }"#, ev));
        assert!(m(
            r#"{ $.n > 4 && $.n < 6 && $.n >= 5 && $.n <= 5 && $.n != 4 }"#,
            ev
        ));
        assert!(!m(r#"{ $.n > 5 }"#, ev));
        assert!(
            m(r#"{ $.n = "5" }"#, ev),
            "text compares against a number's text"
        );
        assert!(m(r#"{ $.b IS TRUE && $.f IS FALSE && $.z IS NULL }"#, ev));
        assert!(!m(r#"{ $.missing IS NULL }"#, ev));
        assert!(m(r#"{ $.missing NOT EXISTS && $.eventName EXISTS }"#, ev));
        assert!(
            !m(r#"{ $.missing != "x" }"#, ev),
            "!= on a missing field does not match"
        );
        assert!(m(r#"{ $.z != "x" }"#, ev));
        assert!(!m(r#"{ $.z = "x" }"#, ev));
        assert!(m(r#"{ $.responseElements.items[0].id = "i-1" }"#, ev));
        assert!(
            !m(r#"{ $.responseElements.items.id = "i-1" }"#, ev),
            "arrays need an index"
        );
        assert!(m(r#"{ $.eventName = %^Run.*s$% }"#, ev));
        assert!(m(r#"{ $.eventName = %Inst% }"#, ev));
        assert!(!m(r#"{ $.eventName != %Inst% }"#, ev));
        assert!(m(
            r#"{ $.userIdentity.type = "Root" && $.userIdentity.invokedBy NOT EXISTS && $.eventType != "AwsServiceEvent" }"#,
            r#"{"eventName":"X","eventType":"AwsApiCall","userIdentity":{"type":"Root"}}"#
        ));
    }

    #[test]
    fn and_binds_tighter_than_or() {
        // CIS v2.0 4.1 as written: the exclusions apply only to the AccessDenied branch.
        let p = r#"{($.errorCode = "*UnauthorizedOperation") || ($.errorCode = "AccessDenied*") && ($.sourceIPAddress!="delivery.logs.amazonaws.com") && ($.eventName!="HeadBucket") }"#;
        assert!(m(
            p,
            r#"{"eventName":"HeadBucket","errorCode":"Client.UnauthorizedOperation"}"#
        ));
        assert!(!m(
            p,
            r#"{"eventName":"HeadBucket","errorCode":"AccessDenied","sourceIPAddress":"1.2.3.4"}"#
        ));
        assert!(m(
            p,
            r#"{"eventName":"GetObject","errorCode":"AccessDenied","sourceIPAddress":"1.2.3.4"}"#
        ));
    }

    #[test]
    fn event_name_index() {
        let p =
            FilterPattern::parse("{($.eventName=DeleteGroupPolicy)||($.eventName=PutUserPolicy)}")
                .unwrap();
        assert_eq!(
            p.event_names(),
            Some(vec!["DeleteGroupPolicy".into(), "PutUserPolicy".into()])
        );
        let p = FilterPattern::parse(
            r#"{ ($.eventName = "ConsoleLogin") && ($.additionalEventData.MFAUsed != "Yes") }"#,
        )
        .unwrap();
        assert_eq!(p.event_names(), Some(vec!["ConsoleLogin".into()]));
        let p = FilterPattern::parse(r#"{ $.errorCode = "*" || $.eventName = "X" }"#).unwrap();
        assert_eq!(p.event_names(), None);
    }

    #[test]
    fn errors_name_the_place() {
        for (p, frag) in [
            ("$.a = 1", "must start"),
            ("{ $.a = 1", "closing"),
            ("{ $.a == 1 }", "value"),
            ("{ a = 1 }", "selector"),
            ("{ $.a = \"x }", "unterminated"),
            ("{ $.a > \"x\" }", "number"),
            ("{ $.a = %(% }", "regular expression"),
            ("{ ($.a = 1 }", "`)`"),
            ("{ $.a IS MAYBE }", "NULL"),
            ("{ $.a[x] = 1 }", "index"),
        ] {
            let e = FilterPattern::parse(p).unwrap_err();
            assert!(e.to_string().contains(frag), "{p}: {e}");
        }
        let deep = format!("{{ {}$.a = 1{} }}", "(".repeat(500), ")".repeat(500));
        assert!(FilterPattern::parse(&deep).is_err());
    }
}
