//! The compiled form of a condition and its evaluation against a document.
//! Evaluation borrows everything (field values, literals) and never
//! allocates, fails or panics: a type mismatch is simply `false`.

use std::cmp::Ordering;

use crate::value::{Number, Value};
use regex::Regex;

use crate::document::Document;
use crate::pipeline::field_path::FieldPath;

/// A field or a literal; literal lists are `Value::Array`.
#[derive(Debug, Clone)]
pub(super) enum Operand {
    Field(FieldPath),
    Lit(Value),
}

impl Operand {
    fn resolve<'a>(&'a self, doc: &'a Document) -> Option<&'a Value> {
        match self {
            Operand::Field(path) => path.get(doc),
            Operand::Lit(v) => Some(v),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum OrderOp {
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone)]
pub(super) enum Node {
    Const(bool),
    /// A bare field used as a condition.
    Truthy(FieldPath),
    Exists(FieldPath),
    Not(Box<Node>),
    /// `&&` chains are flattened so a long chain costs no recursion depth.
    And(Box<[Node]>),
    Or(Box<[Node]>),
    /// `==`, or `!=` when `negate`.
    Eq {
        left: Operand,
        right: Operand,
        negate: bool,
    },
    Order {
        left: Operand,
        op: OrderOp,
        right: Operand,
    },
    /// `hay contains needle`, and `needle in hay`.
    Contains {
        hay: Operand,
        needle: Operand,
    },
    StartsWith {
        subject: Operand,
        affix: Operand,
    },
    EndsWith {
        subject: Operand,
        affix: Operand,
    },
    /// `=~` and `==~` (the latter compiled anchored at both ends).
    Matches {
        subject: Operand,
        regex: Regex,
    },
}

/// Missing fields read as `null` in equality, as `ctx.a?.b` does in painless.
static NULL: Value = Value::Null;

impl Node {
    pub(super) fn eval(&self, doc: &Document) -> bool {
        match self {
            Node::Const(b) => *b,
            Node::Truthy(path) => path.get(doc).is_some_and(truthy),
            Node::Exists(path) => path.exists(doc),
            Node::Not(inner) => !inner.eval(doc),
            Node::And(items) => items.iter().all(|n| n.eval(doc)),
            Node::Or(items) => items.iter().any(|n| n.eval(doc)),
            Node::Eq { left, right, negate } => {
                let l = left.resolve(doc).unwrap_or(&NULL);
                let r = right.resolve(doc).unwrap_or(&NULL);
                values_equal(l, r) != *negate
            }
            Node::Order { left, op, right } => {
                let (Some(l), Some(r)) = (left.resolve(doc), right.resolve(doc)) else {
                    return false;
                };
                match compare(l, r) {
                    Some(ord) => match op {
                        OrderOp::Lt => ord == Ordering::Less,
                        OrderOp::Le => ord != Ordering::Greater,
                        OrderOp::Gt => ord == Ordering::Greater,
                        OrderOp::Ge => ord != Ordering::Less,
                    },
                    None => false,
                }
            }
            Node::Contains { hay, needle } => {
                let Some(hay) = hay.resolve(doc) else {
                    return false;
                };
                let needle = needle.resolve(doc).unwrap_or(&NULL);
                match (hay, needle) {
                    (Value::String(h), Value::String(n)) => h.contains(n.as_str()),
                    (Value::Array(items), n) => items.iter().any(|item| values_equal(item, n)),
                    _ => false,
                }
            }
            Node::StartsWith { subject, affix } => match (subject.resolve(doc), affix.resolve(doc)) {
                (Some(Value::String(s)), Some(Value::String(a))) => s.starts_with(a.as_str()),
                _ => false,
            },
            Node::EndsWith { subject, affix } => match (subject.resolve(doc), affix.resolve(doc)) {
                (Some(Value::String(s)), Some(Value::String(a))) => s.ends_with(a.as_str()),
                _ => false,
            },
            Node::Matches { subject, regex } => match subject.resolve(doc) {
                Some(Value::String(s)) => regex.is_match(s),
                _ => false,
            },
        }
    }

    /// True if the node reads no field, so it can be folded to a constant.
    pub(super) fn is_constant(&self) -> bool {
        let lit = |o: &Operand| matches!(o, Operand::Lit(_));
        match self {
            Node::Const(_) => true,
            Node::Truthy(_) | Node::Exists(_) => false,
            Node::Not(inner) => inner.is_constant(),
            Node::And(items) | Node::Or(items) => items.iter().all(Node::is_constant),
            Node::Eq { left, right, .. } | Node::Order { left, right, .. } => lit(left) && lit(right),
            Node::Contains { hay, needle } => lit(hay) && lit(needle),
            Node::StartsWith { subject, affix } | Node::EndsWith { subject, affix } => lit(subject) && lit(affix),
            Node::Matches { subject, .. } => lit(subject),
        }
    }
}

/// `null`, `false`, `0`, `""`, `[]` and `{}` are false; any other value is
/// true. A missing field is false too.
fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_none_or(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// JSON equality where `1 == 1.0`; strings never equal numbers.
pub(super) fn values_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Null, Value::Null) => true,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Number(x), Value::Number(y)) => compare_numbers(x, y) == Some(Ordering::Equal),
        (Value::String(x), Value::String(y)) => x == y,
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(a, b)| values_equal(a, b)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| values_equal(v, w)))
        }
        _ => false,
    }
}

/// Numbers numerically, strings by code point; anything else is unordered.
fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => compare_numbers(x, y),
        (Value::String(x), Value::String(y)) => Some(x.as_str().cmp(y.as_str())),
        _ => None,
    }
}

/// Exact for any pair of integers (i64 and u64 alike); falls back to f64
/// when either side has a fraction.
fn compare_numbers(x: &Number, y: &Number) -> Option<Ordering> {
    let int = |n: &Number| n.as_i64().map(i128::from).or_else(|| n.as_u64().map(i128::from));
    match (int(x), int(y)) {
        (Some(a), Some(b)) => Some(a.cmp(&b)),
        _ => x.as_f64()?.partial_cmp(&y.as_f64()?),
    }
}
