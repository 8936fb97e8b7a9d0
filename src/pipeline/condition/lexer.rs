//! Turns condition source text into tokens. Field paths are assembled here
//! (dots, `?.`, `['key']` subscripts, backticks and the painless `ctx`
//! prefix) so the parser only ever sees whole paths; every token keeps its
//! byte offset so errors can name a column.

use serde_json::Number;

use super::SyntaxError;

/// Words that are operators or literals when written bare. A field with one
/// of these names must be written in backticks or with a `ctx.` prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Keyword {
    True,
    False,
    Null,
    And,
    Or,
    Not,
    In,
    Contains,
    StartsWith,
    EndsWith,
    Exists,
}

impl Keyword {
    fn from_word(word: &str) -> Option<Self> {
        Some(match word {
            "true" => Keyword::True,
            "false" => Keyword::False,
            "null" => Keyword::Null,
            "and" => Keyword::And,
            "or" => Keyword::Or,
            "not" => Keyword::Not,
            "in" => Keyword::In,
            "contains" => Keyword::Contains,
            "starts_with" => Keyword::StartsWith,
            "ends_with" => Keyword::EndsWith,
            "exists" => Keyword::Exists,
            _ => return None,
        })
    }

    pub(super) fn as_str(self) -> &'static str {
        match self {
            Keyword::True => "true",
            Keyword::False => "false",
            Keyword::Null => "null",
            Keyword::And => "and",
            Keyword::Or => "or",
            Keyword::Not => "not",
            Keyword::In => "in",
            Keyword::Contains => "contains",
            Keyword::StartsWith => "starts_with",
            Keyword::EndsWith => "ends_with",
            Keyword::Exists => "exists",
        }
    }
}

/// One segment of a field path as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Segment {
    pub(super) name: String,
    /// Byte offset where the segment starts, for errors about it.
    pub(super) pos: usize,
    /// Written as a plain word (not in backticks or `['…']`): only bare
    /// segments can name a painless method such as `contains(…)`.
    pub(super) bare: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Tok {
    /// A field path; `ctx` is true when it was written with the painless
    /// `ctx` prefix, which is already stripped from `segments`.
    Path {
        segments: Vec<Segment>,
        ctx: bool,
    },
    Str(String),
    Num(Number),
    /// A `/…/flags` literal; `pattern` already has the flags applied.
    Regex(String),
    Kw(Keyword),
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    /// `=~`: the regex matches somewhere in the string.
    Find,
    /// `==~`: the regex matches the whole string (painless semantics).
    FullMatch,
    Bang,
    AndAnd,
    OrOr,
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    Eof,
}

impl Tok {
    /// How the token is named in "found …" error messages.
    pub(super) fn describe(&self) -> String {
        match self {
            Tok::Path { segments, ctx } => {
                let joined: Vec<&str> = segments.iter().map(|s| s.name.as_str()).collect();
                match (ctx, joined.is_empty()) {
                    (true, true) => "`ctx`".to_owned(),
                    _ => format!("field `{}`", joined.join(".")),
                }
            }
            Tok::Str(s) => format!("string {}", quote(s)),
            Tok::Num(n) => format!("number {n}"),
            Tok::Regex(_) => "a regex literal".to_owned(),
            Tok::Kw(k) => format!("`{}`", k.as_str()),
            Tok::Eof => "end of input".to_owned(),
            other => format!("`{}`", other.symbol()),
        }
    }

    /// The spelling of a punctuation token.
    pub(super) fn symbol(&self) -> &'static str {
        match self {
            Tok::Eq => "==",
            Tok::Ne => "!=",
            Tok::Lt => "<",
            Tok::Le => "<=",
            Tok::Gt => ">",
            Tok::Ge => ">=",
            Tok::Find => "=~",
            Tok::FullMatch => "==~",
            Tok::Bang => "!",
            Tok::AndAnd => "&&",
            Tok::OrOr => "||",
            Tok::LParen => "(",
            Tok::RParen => ")",
            Tok::LBracket => "[",
            Tok::RBracket => "]",
            Tok::Comma => ",",
            Tok::Kw(k) => k.as_str(),
            _ => "",
        }
    }
}

/// Quotes a string for an error message, shortening long ones.
fn quote(s: &str) -> String {
    const MAX: usize = 40;
    if s.chars().count() > MAX {
        let short: String = s.chars().take(MAX).collect();
        format!("'{short}…'")
    } else {
        format!("'{s}'")
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(super) struct Token {
    pub(super) tok: Tok,
    /// Byte offset of the first character.
    pub(super) pos: usize,
}

/// Splits `src` into tokens, ending with [`Tok::Eof`].
pub(super) fn tokenize(src: &str) -> Result<Vec<Token>, SyntaxError> {
    let mut lexer = Lexer { src, pos: 0 };
    let mut tokens = Vec::new();
    loop {
        lexer.skip_whitespace();
        let pos = lexer.pos;
        let tok = lexer.next_token()?;
        let end = tok == Tok::Eof;
        tokens.push(Token { tok, pos });
        if end {
            return Ok(tokens);
        }
    }
}

fn is_word_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == '@'
}

/// Characters allowed in a bare path segment after the first one. `-` is
/// safe because the language has no arithmetic.
fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '@' || c == '-'
}

struct Lexer<'a> {
    src: &'a str,
    /// Byte offset, always on a char boundary.
    pos: usize,
}

impl Lexer<'_> {
    fn rest(&self) -> &str {
        self.src.get(self.pos..).unwrap_or("")
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn peek_second(&self) -> Option<char> {
        self.rest().chars().nth(1)
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn eat(&mut self, s: &str) -> bool {
        if self.rest().starts_with(s) {
            self.pos += s.len();
            true
        } else {
            false
        }
    }

    fn skip_whitespace(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.bump();
        }
    }

    fn err(&self, pos: usize, msg: impl Into<String>) -> SyntaxError {
        SyntaxError { pos, msg: msg.into() }
    }

    fn next_token(&mut self) -> Result<Tok, SyntaxError> {
        let pos = self.pos;
        let Some(c) = self.peek() else {
            return Ok(Tok::Eof);
        };
        // Longest operators first so `==~` is not read as `==` then `~`.
        const PUNCT: &[(&str, Tok)] = &[
            ("==~", Tok::FullMatch),
            ("==", Tok::Eq),
            ("=~", Tok::Find),
            ("!=", Tok::Ne),
            ("<=", Tok::Le),
            (">=", Tok::Ge),
            ("&&", Tok::AndAnd),
            ("||", Tok::OrOr),
            ("<", Tok::Lt),
            (">", Tok::Gt),
            ("!", Tok::Bang),
            ("(", Tok::LParen),
            (")", Tok::RParen),
            ("[", Tok::LBracket),
            ("]", Tok::RBracket),
            (",", Tok::Comma),
        ];
        for (text, tok) in PUNCT {
            if self.eat(text) {
                return Ok(tok.clone());
            }
        }
        match c {
            '\'' | '"' => self.string(c).map(Tok::Str),
            '/' => self.regex(),
            '0'..='9' => self.number(),
            '-' if self.peek_second().is_some_and(|d| d.is_ascii_digit()) => self.number(),
            '`' => self.path(),
            c if is_word_start(c) => self.word(),
            '=' => Err(self.err(pos, "`=` is not an operator; use `==` to compare")),
            '&' => Err(self.err(pos, "`&` is not an operator; use `&&` (or `and`)")),
            '|' => Err(self.err(pos, "`|` is not an operator; use `||` (or `or`)")),
            '?' => Err(self.err(pos, "`?` is only allowed in `?.` between field names")),
            other => Err(self.err(
                pos,
                format!("unexpected character `{other}`; field names with unusual characters go in backticks"),
            )),
        }
    }

    /// A keyword or a field path starting with a bare word.
    fn word(&mut self) -> Result<Tok, SyntaxError> {
        let start = self.pos;
        while self.peek().is_some_and(is_word_char) {
            self.bump();
        }
        let word = self.src.get(start..self.pos).unwrap_or("");
        if let Some(kw) = Keyword::from_word(word) {
            return Ok(Tok::Kw(kw));
        }
        self.pos = start;
        self.path()
    }

    /// A field path: segments joined by `.` or `?.`, each a bare word, a
    /// backtick-quoted path, or a `['key']` / `[0]` subscript.
    fn path(&mut self) -> Result<Tok, SyntaxError> {
        let mut segments = Vec::new();
        let mut ctx = false;
        if self.peek() == Some('`') {
            self.backtick(&mut segments)?;
        } else {
            let seg = self.bare_segment();
            // Painless conditions address the document as `ctx.…`; dropping
            // the prefix lets Elasticsearch pipelines be ported verbatim.
            if seg.name == "ctx" {
                ctx = true;
            } else {
                segments.push(seg);
            }
        }
        loop {
            let dot_pos = self.pos;
            if self.eat("?.") || (self.peek() == Some('.') && self.eat(".")) {
                match self.peek() {
                    Some('`') => self.backtick(&mut segments)?,
                    Some(c) if is_word_char(c) => segments.push(self.bare_segment()),
                    _ => {
                        return Err(self.err(dot_pos, "expected a field name after `.`"));
                    }
                }
            } else if self.peek() == Some('[') {
                self.subscript(&mut segments)?;
            } else if self.rest().starts_with("?[") {
                // Painless null-safe subscript `ctx.a?['b']`.
                self.bump();
                self.subscript(&mut segments)?;
            } else {
                break;
            }
        }
        Ok(Tok::Path { segments, ctx })
    }

    fn bare_segment(&mut self) -> Segment {
        let start = self.pos;
        while self.peek().is_some_and(is_word_char) {
            self.bump();
        }
        Segment {
            name: self.src.get(start..self.pos).unwrap_or("").to_owned(),
            pos: start,
            bare: true,
        }
    }

    /// `` `a b.c` ``: a path whose text is taken literally; dots still
    /// separate objects, as everywhere else in Sluice.
    fn backtick(&mut self, segments: &mut Vec<Segment>) -> Result<(), SyntaxError> {
        let open = self.pos;
        self.bump();
        let mut text = String::new();
        let mut seg_start = self.pos;
        loop {
            match self.bump() {
                None => return Err(self.err(open, "unterminated backtick-quoted field name")),
                Some('`') => break,
                Some('\\') => match self.bump() {
                    Some(c @ ('`' | '\\')) => text.push(c),
                    _ => {
                        return Err(self.err(self.pos, "inside backticks only \\` and \\\\ are escapes"));
                    }
                },
                Some('.') => {
                    segments.push(Segment {
                        name: std::mem::take(&mut text),
                        pos: seg_start,
                        bare: false,
                    });
                    seg_start = self.pos;
                }
                Some(c) => text.push(c),
            }
        }
        segments.push(Segment {
            name: text,
            pos: seg_start,
            bare: false,
        });
        Ok(())
    }

    /// `['key']`, `["key"]` or `[0]` right after a path.
    fn subscript(&mut self, segments: &mut Vec<Segment>) -> Result<(), SyntaxError> {
        let open = self.pos;
        self.bump();
        self.skip_whitespace();
        let pos = self.pos;
        let name = match self.peek() {
            Some(q @ ('\'' | '"')) => {
                let key = self.string(q)?;
                if key.contains('.') {
                    return Err(self.err(
                        pos,
                        format!(
                            "the key '{key}' contains a dot; Sluice field paths treat dots as nesting, so write \
                             it as a dotted path (or run `dot_expander` first)"
                        ),
                    ));
                }
                key
            }
            Some(c) if c.is_ascii_digit() => {
                let start = self.pos;
                while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                    self.bump();
                }
                self.src.get(start..self.pos).unwrap_or("").to_owned()
            }
            _ => {
                return Err(self.err(
                    pos,
                    "expected a quoted key or an array index inside `[…]` after a field",
                ));
            }
        };
        self.skip_whitespace();
        if !self.eat("]") {
            return Err(self.err(
                self.pos,
                format!("expected `]` to close the `[` at column {}", col(self.src, open)),
            ));
        }
        segments.push(Segment { name, pos, bare: false });
        Ok(())
    }

    /// A quoted string with `\n`, `\t`, `\r`, `\0`, `\\`, `\'`, `\"`, `\/`,
    /// `\uXXXX` and `\u{X…}` escapes.
    fn string(&mut self, quote_char: char) -> Result<String, SyntaxError> {
        let open = self.pos;
        self.bump();
        let mut out = String::new();
        loop {
            let Some(c) = self.bump() else {
                return Err(self.err(open, "unterminated string"));
            };
            if c == quote_char {
                return Ok(out);
            }
            if c != '\\' {
                out.push(c);
                continue;
            }
            let esc_pos = self.pos - 1;
            match self.bump() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some('r') => out.push('\r'),
                Some('0') => out.push('\0'),
                Some(c @ ('\\' | '\'' | '"' | '/')) => out.push(c),
                Some('u') => out.push(self.unicode_escape(esc_pos)?),
                Some(other) => {
                    return Err(self.err(
                        esc_pos,
                        format!("unknown escape `\\{other}` in string (to match a regex escape, use a /…/ literal)"),
                    ));
                }
                None => return Err(self.err(open, "unterminated string")),
            }
        }
    }

    fn unicode_escape(&mut self, esc_pos: usize) -> Result<char, SyntaxError> {
        let braced = self.eat("{");
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_hexdigit()) && (braced || self.pos - start < 4) {
            self.bump();
        }
        let hex = self.src.get(start..self.pos).unwrap_or("");
        let valid_len = if braced {
            (1..=6).contains(&hex.len())
        } else {
            hex.len() == 4
        };
        if !valid_len || (braced && !self.eat("}")) {
            return Err(self.err(esc_pos, "a unicode escape is `\\uXXXX` or `\\u{X…}`"));
        }
        u32::from_str_radix(hex, 16)
            .ok()
            .and_then(char::from_u32)
            .ok_or_else(|| self.err(esc_pos, format!("`\\u{hex}` is not a valid unicode character")))
    }

    /// `/pattern/flags`. Inside, `\/` is a slash; every other backslash is
    /// kept for the regex engine.
    fn regex(&mut self) -> Result<Tok, SyntaxError> {
        let open = self.pos;
        self.bump();
        let mut pattern = String::new();
        loop {
            match self.bump() {
                None => return Err(self.err(open, "unterminated regex literal (missing closing `/`)")),
                Some('/') => break,
                Some('\\') => match self.bump() {
                    Some('/') => pattern.push('/'),
                    Some(c) => {
                        pattern.push('\\');
                        pattern.push(c);
                    }
                    None => return Err(self.err(open, "unterminated regex literal (missing closing `/`)")),
                },
                Some(c) => pattern.push(c),
            }
        }
        let mut flags = String::new();
        while let Some(c) = self.peek().filter(char::is_ascii_alphabetic) {
            if !matches!(c, 'i' | 'm' | 's' | 'x') || flags.contains(c) {
                return Err(self.err(
                    self.pos,
                    format!("unknown or repeated regex flag `{c}`; the flags are i, m, s and x"),
                ));
            }
            flags.push(c);
            self.bump();
        }
        if !flags.is_empty() {
            pattern = format!("(?{flags}){pattern}");
        }
        Ok(Tok::Regex(pattern))
    }

    /// `-?digits[.digits][e[+-]digits]`: integers become i64 (or u64),
    /// anything with a fraction or exponent a finite f64.
    fn number(&mut self) -> Result<Tok, SyntaxError> {
        let start = self.pos;
        self.eat("-");
        let digits = |l: &mut Self| {
            let s = l.pos;
            while l.peek().is_some_and(|c| c.is_ascii_digit()) {
                l.bump();
            }
            l.pos > s
        };
        digits(self);
        let mut float = false;
        if self.peek() == Some('.') && self.peek_second().is_some_and(|c| c.is_ascii_digit()) {
            self.bump();
            digits(self);
            float = true;
        }
        if matches!(self.peek(), Some('e' | 'E')) {
            let save = self.pos;
            self.bump();
            if matches!(self.peek(), Some('+' | '-')) {
                self.bump();
            }
            if digits(self) {
                float = true;
            } else {
                self.pos = save;
            }
        }
        if self.peek().is_some_and(|c| is_word_char(c) || c == '.') {
            return Err(self.err(start, "invalid number"));
        }
        let text = self.src.get(start..self.pos).unwrap_or("");
        let number = if float {
            text.parse::<f64>().ok().and_then(Number::from_f64)
        } else {
            text.parse::<i64>()
                .map(Number::from)
                .or_else(|_| text.parse::<u64>().map(Number::from))
                .ok()
        };
        number
            .map(Tok::Num)
            .ok_or_else(|| self.err(start, format!("the number {text} is out of range")))
    }
}

/// 1-based character column of a byte offset (on its line).
pub(super) fn col(src: &str, pos: usize) -> usize {
    let before = src.get(..pos).unwrap_or(src);
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    before.get(line_start..).unwrap_or("").chars().count() + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(src: &str) -> Vec<Tok> {
        tokenize(src).unwrap().into_iter().map(|t| t.tok).collect()
    }

    fn path(src: &str) -> (Vec<String>, bool) {
        match toks(src).into_iter().next() {
            Some(Tok::Path { segments, ctx }) => (segments.into_iter().map(|s| s.name).collect(), ctx),
            other => panic!("`{src}` lexed as {other:?}"),
        }
    }

    #[test]
    fn paths_in_every_spelling() {
        let abc = (vec!["a".to_owned(), "b".to_owned(), "c".to_owned()], false);
        assert_eq!(path("a.b.c"), abc);
        assert_eq!(path("a?.b?.c"), abc);
        assert_eq!(path("`a.b`.c"), abc);
        assert_eq!(path("a['b'][\"c\"]"), abc);
        assert_eq!(path("a[ 'b' ]?['c']"), abc);
        let ctx = |v: &[&str]| (v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>(), true);
        assert_eq!(path("ctx.a.b.c"), ctx(&["a", "b", "c"]));
        assert_eq!(path("ctx?.a['b'].c"), ctx(&["a", "b", "c"]));
        assert_eq!(path("ctx['a b'][0]"), ctx(&["a b", "0"]));
        assert_eq!(path("ctx"), ctx(&[]));
        assert_eq!(path("`ctx`.a"), (vec!["ctx".to_owned(), "a".to_owned()], false));
        assert_eq!(path("@timestamp"), (vec!["@timestamp".to_owned()], false));
        assert_eq!(
            path("user-agent.x_1"),
            (vec!["user-agent".to_owned(), "x_1".to_owned()], false)
        );
        assert_eq!(path("`a\\`b`"), (vec!["a`b".to_owned()], false));
    }

    #[test]
    fn operators_take_the_longest_match() {
        assert_eq!(toks("a==~b")[1], Tok::FullMatch);
        assert_eq!(toks("a=~b")[1], Tok::Find);
        assert_eq!(toks("a<=b")[1], Tok::Le);
        assert_eq!(toks("!a")[0], Tok::Bang);
        assert_eq!(toks("a!=b")[1], Tok::Ne);
    }

    #[test]
    fn keywords_only_as_whole_bare_words() {
        assert_eq!(toks("in")[0], Tok::Kw(Keyword::In));
        assert_eq!(toks("in['a']")[1], Tok::LBracket);
        assert!(matches!(toks("inx")[0], Tok::Path { .. }));
        assert!(matches!(toks("ctx.in")[0], Tok::Path { .. }));
        assert_eq!(toks("a.contains").len(), 2);
    }

    #[test]
    fn numbers_strings_and_regexes() {
        assert_eq!(toks("-12")[0], Tok::Num(Number::from(-12)));
        assert_eq!(toks("18446744073709551615")[0], Tok::Num(Number::from(u64::MAX)));
        assert_eq!(toks("2.5e1")[0], Tok::Num(Number::from_f64(25.0).unwrap()));
        assert_eq!(toks(r"'a\'b'")[0], Tok::Str("a'b".to_owned()));
        assert_eq!(toks(r"/a\/b\d/")[0], Tok::Regex(r"a/b\d".to_owned()));
        assert_eq!(toks("/x/is")[0], Tok::Regex("(?is)x".to_owned()));
    }

    #[test]
    fn columns_count_characters_per_line() {
        assert_eq!(col("abc", 0), 1);
        assert_eq!(col("é == x", 3), 3);
        assert_eq!(col("a\n  b", 4), 3);
        assert_eq!(col("ab", 99), 3);
    }
}
