//! Recursive-descent parser and load-time type checker: tokens in, a
//! [`Node`] tree out, with every regex compiled and every comparison
//! between literals checked (and folded to a constant).
//!
//! Precedence, tightest first: `!`/`not`, comparisons, `&&`/`and`,
//! `||`/`or`. Comparisons take values (fields and literals) on both sides,
//! never conditions, so `!a == b` is rejected rather than silently read as
//! `(!a) == b`.

use crate::value::Value;
use regex::{Regex, RegexBuilder};

use super::SyntaxError;
use super::eval::{Node, Operand, OrderOp};
use super::lexer::{Keyword, Segment, Tok, Token, col};
use crate::document::Document;
use crate::pipeline::field_path::FieldPath;

/// Deepest nesting of parentheses and negations. Parsing, evaluation and
/// dropping the tree all recurse, so this keeps a hostile expression from
/// overflowing the stack; real conditions rarely nest beyond 5.
pub(super) const MAX_DEPTH: usize = 64;

/// Compiled regexes are capped well below the crate's default (10 MiB) so a
/// few conditions cannot hold large automata per pipeline.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

pub(super) fn parse(src: &str, tokens: Vec<Token>) -> Result<Node, SyntaxError> {
    let mut p = Parser {
        src,
        tokens,
        i: 0,
        depth: 0,
    };
    if p.peek() == &Tok::Eof {
        return Err(p.err_here("the condition is empty; expected an expression such as `field == 'value'`"));
    }
    let node = p.or_expr("a condition")?;
    let tok = p.peek();
    if tok != &Tok::Eof {
        let msg = if tok == &Tok::RParen {
            "found `)` without a matching `(`".to_owned()
        } else {
            format!("expected `&&`, `||` or end of input, found {}", tok.describe())
        };
        return Err(p.err_here(msg));
    }
    Ok(node)
}

/// What a primary expression turned out to be; only the caller knows
/// whether it needs a value or a condition.
enum Term {
    Value(Operand),
    /// A regex literal, legal only right of `=~`/`==~`.
    Regex(String),
    Cond(Node),
}

/// The static type of a literal, for load-time checks and messages.
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "object",
    }
}

#[derive(Clone, Copy)]
enum CmpOp {
    Eq,
    Ne,
    Order(OrderOp),
    Contains,
    In,
    StartsWith,
    EndsWith,
    Find,
    FullMatch,
}

impl CmpOp {
    fn from_tok(tok: &Tok) -> Option<Self> {
        Some(match tok {
            Tok::Eq => CmpOp::Eq,
            Tok::Ne => CmpOp::Ne,
            Tok::Lt => CmpOp::Order(OrderOp::Lt),
            Tok::Le => CmpOp::Order(OrderOp::Le),
            Tok::Gt => CmpOp::Order(OrderOp::Gt),
            Tok::Ge => CmpOp::Order(OrderOp::Ge),
            Tok::Find => CmpOp::Find,
            Tok::FullMatch => CmpOp::FullMatch,
            Tok::Kw(Keyword::Contains) => CmpOp::Contains,
            Tok::Kw(Keyword::In) => CmpOp::In,
            Tok::Kw(Keyword::StartsWith) => CmpOp::StartsWith,
            Tok::Kw(Keyword::EndsWith) => CmpOp::EndsWith,
            _ => return None,
        })
    }

    fn symbol(self) -> &'static str {
        match self {
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
            CmpOp::Order(OrderOp::Lt) => "<",
            CmpOp::Order(OrderOp::Le) => "<=",
            CmpOp::Order(OrderOp::Gt) => ">",
            CmpOp::Order(OrderOp::Ge) => ">=",
            CmpOp::Contains => "contains",
            CmpOp::In => "in",
            CmpOp::StartsWith => "starts_with",
            CmpOp::EndsWith => "ends_with",
            CmpOp::Find => "=~",
            CmpOp::FullMatch => "==~",
        }
    }
}

/// Painless methods accepted on fields so Elasticsearch conditions port
/// unchanged; each maps onto an operator.
const METHODS: &str = "contains, startsWith, endsWith, containsKey";

struct Parser<'a> {
    src: &'a str,
    tokens: Vec<Token>,
    i: usize,
    depth: usize,
}

impl Parser<'_> {
    fn peek(&self) -> &Tok {
        self.tokens.get(self.i).map_or(&Tok::Eof, |t| &t.tok)
    }

    fn pos(&self) -> usize {
        self.tokens
            .get(self.i)
            .or_else(|| self.tokens.last())
            .map_or(self.src.len(), |t| t.pos)
    }

    fn advance(&mut self) -> Tok {
        let tok = self.peek().clone();
        if self.i < self.tokens.len() {
            self.i += 1;
        }
        tok
    }

    fn err_here(&self, msg: impl Into<String>) -> SyntaxError {
        SyntaxError {
            pos: self.pos(),
            msg: msg.into(),
        }
    }

    fn err_at(&self, pos: usize, msg: impl Into<String>) -> SyntaxError {
        SyntaxError { pos, msg: msg.into() }
    }

    fn col(&self, pos: usize) -> usize {
        col(self.src, pos)
    }

    fn enter(&mut self) -> Result<(), SyntaxError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.err_here(format!(
                "the expression is nested more than {MAX_DEPTH} levels deep (parentheses and negations)"
            )));
        }
        Ok(())
    }

    fn or_expr(&mut self, expected: &str) -> Result<Node, SyntaxError> {
        let mut items = vec![self.and_expr(expected)?];
        while matches!(self.peek(), Tok::OrOr | Tok::Kw(Keyword::Or)) {
            let op = self.advance().symbol();
            items.push(self.and_expr(&format!("a condition after `{op}`"))?);
        }
        Ok(if items.len() == 1 {
            items.swap_remove(0)
        } else {
            Node::Or(items.into_boxed_slice())
        })
    }

    fn and_expr(&mut self, expected: &str) -> Result<Node, SyntaxError> {
        let pos = self.pos();
        let first = self.comparison(expected)?;
        let mut items = vec![self.as_condition(first, pos)?];
        while matches!(self.peek(), Tok::AndAnd | Tok::Kw(Keyword::And)) {
            let op = self.advance().symbol();
            let pos = self.pos();
            let term = self.comparison(&format!("a condition after `{op}`"))?;
            items.push(self.as_condition(term, pos)?);
        }
        Ok(if items.len() == 1 {
            items.swap_remove(0)
        } else {
            Node::And(items.into_boxed_slice())
        })
    }

    /// A term used where a condition is needed: a bare field tests
    /// truthiness, `true`/`false` are constants, other literals are errors.
    fn as_condition(&self, term: Term, pos: usize) -> Result<Node, SyntaxError> {
        match term {
            Term::Cond(node) => Ok(node),
            Term::Value(Operand::Field(path)) => Ok(Node::Truthy(path)),
            Term::Value(Operand::Lit(Value::Bool(b))) => Ok(Node::Const(b)),
            Term::Value(Operand::Lit(v)) => Err(self.err_at(
                pos,
                format!(
                    "a {} on its own is not a condition; compare it with a field, e.g. `field == …`",
                    kind(&v)
                ),
            )),
            Term::Regex(_) => {
                Err(self.err_at(pos, "a regex literal on its own is not a condition; use `field =~ /…/`"))
            }
        }
    }

    fn comparison(&mut self, expected: &str) -> Result<Term, SyntaxError> {
        let left_pos = self.pos();
        let left = self.unary(expected)?;
        if self.peek() == &Tok::Kw(Keyword::Exists) {
            let pos = self.pos();
            self.advance();
            return match left {
                Term::Value(Operand::Field(path)) => Ok(Term::Cond(Node::Exists(path))),
                _ => Err(self.err_at(pos, "`exists` must follow a field name, as in `user.name exists`")),
            };
        }
        let Some(op) = CmpOp::from_tok(self.peek()) else {
            return Ok(left);
        };
        let op_pos = self.pos();
        self.advance();
        let right_pos = self.pos();
        let right = self.unary(&format!("a value after `{}`", op.symbol()))?;
        let node = self.build(op, op_pos, (left, left_pos), (right, right_pos))?;
        if CmpOp::from_tok(self.peek()).is_some() {
            return Err(self.err_here(format!(
                "comparisons cannot be chained; join them with `&&`, as in `a {} b && b {} c`",
                op.symbol(),
                self.peek().symbol()
            )));
        }
        Ok(Term::Cond(node))
    }

    fn unary(&mut self, expected: &str) -> Result<Term, SyntaxError> {
        if !matches!(self.peek(), Tok::Bang | Tok::Kw(Keyword::Not)) {
            return self.primary(expected);
        }
        let op = self.advance().symbol();
        self.enter()?;
        let pos = self.pos();
        let inner = self.unary(&format!("a condition after `{op}`"))?;
        let node = self.as_condition(inner, pos)?;
        self.depth -= 1;
        Ok(Term::Cond(match node {
            Node::Const(b) => Node::Const(!b),
            other => Node::Not(Box::new(other)),
        }))
    }

    fn primary(&mut self, expected: &str) -> Result<Term, SyntaxError> {
        let pos = self.pos();
        let start = self.i;
        match self.advance() {
            Tok::LParen => {
                self.enter()?;
                let node = self.or_expr("a condition after `(`")?;
                if self.peek() != &Tok::RParen {
                    return Err(self.err_here(format!(
                        "expected `)` to close the `(` at column {}, found {}",
                        self.col(pos),
                        self.peek().describe()
                    )));
                }
                self.advance();
                self.depth -= 1;
                Ok(Term::Cond(node))
            }
            Tok::Str(s) => Ok(Term::Value(Operand::Lit(Value::from(s)))),
            Tok::Num(n) => Ok(Term::Value(Operand::Lit(Value::Number(n)))),
            Tok::Kw(Keyword::True) => Ok(Term::Value(Operand::Lit(Value::Bool(true)))),
            Tok::Kw(Keyword::False) => Ok(Term::Value(Operand::Lit(Value::Bool(false)))),
            Tok::Kw(Keyword::Null) => Ok(Term::Value(Operand::Lit(Value::Null))),
            Tok::LBracket => self.list(pos),
            Tok::Regex(pattern) => Ok(Term::Regex(pattern)),
            Tok::Kw(Keyword::Exists) => {
                if self.advance() != Tok::LParen {
                    return Err(self.err_at(pos, "`exists` is written `exists(field)`"));
                }
                let path = self.field_argument("exists")?;
                self.close_call("exists", pos)?;
                Ok(Term::Cond(Node::Exists(path)))
            }
            Tok::Path { segments, ctx } => {
                if self.peek() == &Tok::LParen {
                    return self.method_call(segments, ctx, pos);
                }
                Ok(Term::Value(Operand::Field(self.field_path(&segments, pos)?)))
            }
            other => {
                self.i = start;
                Err(self.err_here(format!("expected {expected}, found {}", other.describe())))
            }
        }
    }

    /// `[v, …]` of scalar literals; a trailing comma is allowed.
    fn list(&mut self, open: usize) -> Result<Term, SyntaxError> {
        let mut items = Vec::new();
        loop {
            if self.peek() == &Tok::RBracket {
                self.advance();
                return Ok(Term::Value(Operand::Lit(Value::Array(items))));
            }
            let pos = self.pos();
            let item = match self.advance() {
                Tok::Str(s) => Value::from(s),
                Tok::Num(n) => Value::Number(n),
                Tok::Kw(Keyword::True) => Value::Bool(true),
                Tok::Kw(Keyword::False) => Value::Bool(false),
                Tok::Kw(Keyword::Null) => Value::Null,
                Tok::LBracket => return Err(self.err_at(pos, "lists cannot contain lists")),
                Tok::Path { .. } => {
                    return Err(self.err_at(
                        pos,
                        "list items must be literals (strings, numbers, true, false, null), not fields",
                    ));
                }
                other => {
                    return Err(self.err_at(
                        pos,
                        format!(
                            "expected a list item or `]` to close the `[` at column {}, found {}",
                            self.col(open),
                            other.describe()
                        ),
                    ));
                }
            };
            items.push(item);
            match self.peek() {
                Tok::Comma => {
                    self.advance();
                }
                Tok::RBracket => {}
                other => {
                    return Err(self.err_here(format!(
                        "expected `,` or `]` to close the `[` at column {}, found {}",
                        self.col(open),
                        other.describe()
                    )));
                }
            }
        }
    }

    fn field_path(&self, segments: &[Segment], pos: usize) -> Result<FieldPath, SyntaxError> {
        if segments.is_empty() {
            return Err(self.err_at(
                pos,
                "`ctx` on its own is not a field; write `ctx.field` or just `field`",
            ));
        }
        let names: Vec<&str> = segments.iter().map(|s| s.name.as_str()).collect();
        if let Some(empty) = segments.iter().find(|s| s.name.is_empty()) {
            return Err(self.err_at(empty.pos, "a field path cannot contain an empty name"));
        }
        FieldPath::parse(&names.join(".")).map_err(|e| self.err_at(pos, e))
    }

    /// The field inside `exists(…)`.
    fn field_argument(&mut self, func: &str) -> Result<FieldPath, SyntaxError> {
        let pos = self.pos();
        match self.peek().clone() {
            Tok::Path { segments, .. } => {
                self.advance();
                self.field_path(&segments, pos)
            }
            other => Err(self.err_at(pos, format!("`{func}` takes a field name, found {}", other.describe()))),
        }
    }

    fn close_call(&mut self, func: &str, open: usize) -> Result<(), SyntaxError> {
        if self.peek() != &Tok::RParen {
            return Err(self.err_here(format!(
                "expected `)` to close `{func}(` at column {}, found {}",
                self.col(open),
                self.peek().describe()
            )));
        }
        self.advance();
        Ok(())
    }

    /// `field.contains(x)`, `field.startsWith(x)`, `field.endsWith(x)` and
    /// `ctx.containsKey('k')` / `field.containsKey('k')`, as in painless.
    fn method_call(&mut self, mut segments: Vec<Segment>, ctx: bool, pos: usize) -> Result<Term, SyntaxError> {
        let method = match segments.pop() {
            Some(seg) if seg.bare => seg,
            Some(seg) => {
                return Err(self.err_at(seg.pos, "a quoted field name cannot be called; expected an operator"));
            }
            None => {
                return Err(self.err_at(pos, "`ctx` cannot be called; expected `ctx.field`"));
            }
        };
        let method_pos = method.pos;
        let known = ["contains", "startsWith", "endsWith", "containsKey"].contains(&method.name.as_str());
        let on_ctx = ctx && method.name == "containsKey";
        if known && segments.is_empty() && !on_ctx {
            return Err(self.err_at(
                method_pos,
                format!(
                    "`{}(…)` must be called on a field, as in `field.{}(…)`",
                    method.name, method.name
                ),
            ));
        }
        let op = match method.name.as_str() {
            "contains" => CmpOp::Contains,
            "startsWith" => CmpOp::StartsWith,
            "endsWith" => CmpOp::EndsWith,
            "containsKey" => {
                self.advance();
                let arg_pos = self.pos();
                let key = match self.advance() {
                    Tok::Str(key) if !key.is_empty() && !key.contains('.') => key,
                    _ => {
                        return Err(self.err_at(arg_pos, "`containsKey` takes one quoted key without dots"));
                    }
                };
                self.close_call("containsKey", method_pos)?;
                segments.push(Segment {
                    name: key,
                    pos: arg_pos,
                    bare: false,
                });
                return Ok(Term::Cond(Node::Exists(self.field_path(&segments, pos)?)));
            }
            other => {
                return Err(self.err_at(
                    method_pos,
                    format!("unknown function `{other}`; conditions support only {METHODS} and exists(field)"),
                ));
            }
        };
        let subject = Term::Value(Operand::Field(self.field_path(&segments, pos)?));
        self.advance();
        let arg_pos = self.pos();
        let arg = self.unary(&format!("an argument for `{}`", method.name))?;
        self.close_call(&method.name, method_pos)?;
        Ok(Term::Cond(self.build(
            op,
            method_pos,
            (subject, pos),
            (arg, arg_pos),
        )?))
    }

    /// Type-checks one comparison and builds its node; a comparison between
    /// two literals is folded to a constant.
    fn build(
        &self,
        op: CmpOp,
        op_pos: usize,
        (left, left_pos): (Term, usize),
        (right, right_pos): (Term, usize),
    ) -> Result<Node, SyntaxError> {
        let sym = op.symbol();
        let left = self.value_side(left, left_pos, op, "left")?;
        let node = match op {
            CmpOp::Find | CmpOp::FullMatch => {
                let regex = self.regex_side(right, right_pos, op)?;
                self.check_literal(&left, left_pos, sym, &["string"])?;
                Node::Matches { subject: left, regex }
            }
            _ => {
                let right = self.value_side(right, right_pos, op, "right")?;
                self.value_op(op, op_pos, (left, left_pos), (right, right_pos))?
            }
        };
        Ok(fold(node))
    }

    /// The operators that take a value on both sides.
    fn value_op(
        &self,
        op: CmpOp,
        op_pos: usize,
        (left, left_pos): (Operand, usize),
        (right, right_pos): (Operand, usize),
    ) -> Result<Node, SyntaxError> {
        let sym = op.symbol();
        Ok(match op {
            CmpOp::Eq | CmpOp::Ne => {
                for (side, pos) in [(&left, left_pos), (&right, right_pos)] {
                    if let Operand::Lit(v @ Value::Array(_)) = side {
                        return Err(self.err_at(
                            pos,
                            format!("`{sym}` cannot compare with a {}; use `in` to test membership", kind(v)),
                        ));
                    }
                }
                self.check_same_kind(&left, &right, op_pos, sym)?;
                Node::Eq {
                    left,
                    right,
                    negate: matches!(op, CmpOp::Ne),
                }
            }
            CmpOp::Order(order) => {
                self.check_literal(&left, left_pos, sym, &["number", "string"])?;
                self.check_literal(&right, right_pos, sym, &["number", "string"])?;
                self.check_same_kind(&left, &right, op_pos, sym)?;
                Node::Order { left, op: order, right }
            }
            CmpOp::StartsWith | CmpOp::EndsWith => {
                self.check_literal(&left, left_pos, sym, &["string"])?;
                self.check_literal(&right, right_pos, sym, &["string"])?;
                if matches!(op, CmpOp::StartsWith) {
                    Node::StartsWith {
                        subject: left,
                        affix: right,
                    }
                } else {
                    Node::EndsWith {
                        subject: left,
                        affix: right,
                    }
                }
            }
            CmpOp::Contains => self.contains(left, left_pos, right, right_pos, sym)?,
            CmpOp::In => self.contains(right, right_pos, left, left_pos, sym)?,
            CmpOp::Find | CmpOp::FullMatch => {
                return Err(self.err_at(op_pos, format!("`{sym}` needs a pattern on the right")));
            }
        })
    }

    /// `hay contains needle` (and `needle in hay`): hay is a string, a list
    /// or a field; needle is a single value.
    fn contains(
        &self,
        hay: Operand,
        hay_pos: usize,
        needle: Operand,
        needle_pos: usize,
        sym: &str,
    ) -> Result<Node, SyntaxError> {
        self.check_literal(&hay, hay_pos, sym, &["string", "list"])?;
        if let Operand::Lit(v @ Value::Array(_)) = &needle {
            return Err(self.err_at(
                needle_pos,
                format!(
                    "`{sym}` looks for a single value, not a {}; combine several tests with `||`",
                    kind(v)
                ),
            ));
        }
        if let (Operand::Lit(Value::String(_)), Operand::Lit(v)) = (&hay, &needle)
            && !v.is_string()
        {
            return Err(self.err_at(
                needle_pos,
                format!("a string can only contain a string, not a {}", kind(v)),
            ));
        }
        Ok(Node::Contains { hay, needle })
    }

    fn value_side(&self, term: Term, pos: usize, op: CmpOp, side: &str) -> Result<Operand, SyntaxError> {
        let sym = op.symbol();
        match term {
            Term::Value(v) => Ok(v),
            Term::Regex(_) => Err(self.err_at(pos, "a regex literal can only be used right of `=~` or `==~`")),
            Term::Cond(node) => {
                let hint = if matches!(node, Node::Not(_) | Node::Const(_)) {
                    format!(
                        " (`!` applies only to what directly follows it; write `!(a {sym} b)` to negate a comparison)"
                    )
                } else {
                    String::new()
                };
                Err(self.err_at(
                    pos,
                    format!("the {side} side of `{sym}` must be a field or a value, not a condition{hint}"),
                ))
            }
        }
    }

    /// The pattern right of `=~`/`==~`: a regex or string literal, compiled
    /// now so a bad pattern fails at load time.
    fn regex_side(&self, term: Term, pos: usize, op: CmpOp) -> Result<Regex, SyntaxError> {
        let pattern = match term {
            Term::Regex(p) => p,
            Term::Value(Operand::Lit(Value::String(s))) => s.to_string(),
            Term::Value(Operand::Field(_)) => {
                return Err(self.err_at(
                    pos,
                    format!(
                        "the right side of `{}` must be a regex literal (/…/) or a string, not a field: patterns are \
                         compiled at load time",
                        op.symbol()
                    ),
                ));
            }
            Term::Value(Operand::Lit(v)) => {
                return Err(self.err_at(
                    pos,
                    format!(
                        "expected a regex literal (/…/) or a string after `{}`, found a {}",
                        op.symbol(),
                        kind(&v)
                    ),
                ));
            }
            Term::Cond(_) => {
                return Err(self.err_at(
                    pos,
                    format!(
                        "expected a regex literal (/…/) or a string after `{}`, found a condition",
                        op.symbol()
                    ),
                ));
            }
        };
        // Anchored with \A…\z rather than ^…$ so the `m` flag cannot turn a
        // full match into a per-line match.
        let source = match op {
            CmpOp::FullMatch => format!("\\A(?:{pattern})\\z"),
            _ => pattern,
        };
        RegexBuilder::new(&source)
            .size_limit(REGEX_SIZE_LIMIT)
            .build()
            .map_err(|e| self.err_at(pos, format!("invalid regular expression: {}", one_line(&e.to_string()))))
    }

    /// A literal operand must be one of `allowed` kinds; fields are checked
    /// at run time.
    fn check_literal(&self, operand: &Operand, pos: usize, sym: &str, allowed: &[&str]) -> Result<(), SyntaxError> {
        match operand {
            Operand::Lit(v) if !allowed.contains(&kind(v)) => Err(self.err_at(
                pos,
                format!("`{sym}` needs a {} here, found a {}", allowed.join(" or a "), kind(v)),
            )),
            _ => Ok(()),
        }
    }

    /// Two literals of different kinds can never compare equal or ordered,
    /// so writing them is a mistake.
    fn check_same_kind(&self, left: &Operand, right: &Operand, pos: usize, sym: &str) -> Result<(), SyntaxError> {
        if let (Operand::Lit(l), Operand::Lit(r)) = (left, right)
            && kind(l) != kind(r)
        {
            return Err(self.err_at(
                pos,
                format!("cannot compare a {} with a {} using `{sym}`", kind(l), kind(r)),
            ));
        }
        Ok(())
    }
}

/// Replaces a node that reads no field by its value.
fn fold(node: Node) -> Node {
    if node.is_constant() && !matches!(node, Node::Const(_)) {
        Node::Const(node.eval(&Document::default()))
    } else {
        node
    }
}

/// The regex crate's errors span several lines with a caret diagram; the
/// compiler's messages are single-line.
fn one_line(msg: &str) -> String {
    msg.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.chars().all(|c| c == '^' || c == ' '))
        .collect::<Vec<_>>()
        .join(" ")
}
