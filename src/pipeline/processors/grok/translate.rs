//! Rewrites an expanded grok expression from Oniguruma (Ruby) syntax, which
//! the pattern library and users write, into PCRE2 syntax, and numbers its
//! named groups.
//!
//! Named groups become plain numbered groups, with their original names kept
//! in a side table: grok names such as `IP:source.ip:int` or
//! `[process][pid]` are not valid PCRE2 group names. Unnamed groups become
//! non-capturing, as in Ruby when a pattern has named groups, which also
//! keeps the capture vector small. The Ruby-specific escapes and constructs
//! the libraries use are translated: `\h` (hex digit, not horizontal space),
//! `(?m)` (dot matches newline, PCRE2's `s`), nested character classes
//! (`[[[:alnum:]]_]`), `\k<name>` back-references and `\uHHHH`. Anchors are
//! handled by compiling with PCRE2's multi-line option, since Ruby's `^` and
//! `$` always match at line boundaries. Ruby's nested repeats (`.?*`, which
//! PCRE2 rejects, or `a{2}+`, which PCRE2 reads as possessive) get the
//! explicit group Ruby implies: `(?:.?)*`.

/// A named group of the translated expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedGroup {
    /// The name as written (`IP:client`, `timestamp`, `[log][level]`).
    pub name: String,
    /// Its PCRE2 capture number.
    pub index: usize,
}

/// Translation state shared by all the patterns of one processor, so capture
/// numbers are global to the combined expression.
#[derive(Debug, Default)]
pub struct Translator {
    /// Named groups in capture-number order.
    pub groups: Vec<NamedGroup>,
    captures: usize,
    /// What was emitted last, to translate quantifier sequences.
    last: Last,
    /// Output offsets of the currently open groups.
    open: Vec<usize>,
}

/// The previous item of the output, as far as quantifiers care.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Last {
    /// Start of the pattern, `(`, `|` or an anchor: nothing to repeat.
    #[default]
    Nothing,
    /// An atom starting at this output offset.
    Atom(usize),
    /// A quantified atom; `interval` if the quantifier was `{…}`.
    Quantified { start: usize, interval: bool },
    /// A quantifier with its lazy (`?`) or possessive (`+`) suffix.
    Modified(usize),
}

const HEX_CLASS: &str = "0-9a-fA-F";

impl Translator {
    /// Emits an opening capture group of our own (not user-visible) and
    /// returns its capture number.
    pub fn open_internal_group(&mut self, out: &mut String) -> usize {
        self.captures += 1;
        out.push('(');
        self.captures
    }

    /// Translates `src` and appends it to `out`.
    pub fn translate(&mut self, src: &str, out: &mut String) -> Result<(), String> {
        self.last = Last::Nothing;
        self.open.clear();
        let mut i = 0;
        while i < src.len() {
            let start = out.len();
            i = match src.as_bytes()[i] {
                b'\\' => {
                    let next = self.escape(src, i, out, false)?;
                    self.last = Last::Atom(start);
                    next
                }
                b'[' => {
                    let next = self.class(src, i, out)?;
                    self.last = Last::Atom(start);
                    next
                }
                b'(' => self.group(src, i, out)?,
                b')' => {
                    out.push(')');
                    self.last = match self.open.pop() {
                        Some(open) => Last::Atom(open),
                        None => Last::Nothing,
                    };
                    i + 1
                }
                b'|' | b'^' | b'$' => {
                    out.push(src.as_bytes()[i] as char);
                    self.last = Last::Nothing;
                    i + 1
                }
                b'*' | b'+' | b'?' => {
                    self.quantifier(&src[i..i + 1], false, out);
                    i + 1
                }
                b'{' => match interval_len(&src[i..]) {
                    Some(len) => {
                        self.quantifier(&src[i..i + len], true, out);
                        i + len
                    }
                    None => {
                        out.push('{');
                        self.last = Last::Atom(start);
                        i + 1
                    }
                },
                _ => {
                    let next = copy_char(src, i, out);
                    self.last = Last::Atom(start);
                    next
                }
            };
        }
        Ok(())
    }

    /// Emits a quantifier. In Ruby a quantifier directly after another one
    /// repeats the quantified atom (`.?*` is `(?:.?)*`), except the lazy
    /// `?` and, after `*`, `+` or `?`, the possessive `+`.
    fn quantifier(&mut self, q: &str, interval: bool, out: &mut String) {
        let nested_start = match self.last {
            Last::Nothing => {
                out.push_str(q);
                return;
            }
            Last::Atom(start) => {
                out.push_str(q);
                self.last = Last::Quantified { start, interval };
                return;
            }
            Last::Quantified {
                start,
                interval: prev_interval,
            } => {
                if q == "?" || (q == "+" && !prev_interval) {
                    out.push_str(q);
                    self.last = Last::Modified(start);
                    return;
                }
                start
            }
            Last::Modified(start) => start,
        };
        out.insert_str(nested_start, "(?:");
        out.push(')');
        out.push_str(q);
        self.last = Last::Quantified {
            start: nested_start,
            interval,
        };
    }

    /// `src[i]` is a backslash. Returns the index after the escape.
    fn escape(&mut self, src: &str, i: usize, out: &mut String, in_class: bool) -> Result<usize, String> {
        let bytes = src.as_bytes();
        let Some(&c) = bytes.get(i + 1) else {
            return Err("the pattern ends with a lone backslash".to_owned());
        };
        match c {
            b'h' => {
                out.push_str(if in_class { HEX_CLASS } else { "[0-9a-fA-F]" });
                Ok(i + 2)
            }
            b'H' if in_class => Err("`\\H` inside a character class is not supported".to_owned()),
            b'H' => {
                out.push_str("[^0-9a-fA-F]");
                Ok(i + 2)
            }
            // Ruby's \v is the vertical tab only; PCRE2's is a class.
            b'v' => {
                out.push_str("\\x0B");
                Ok(i + 2)
            }
            b'u' if bytes.get(i + 2..i + 6).is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) => {
                out.push_str("\\x{");
                out.push_str(&src[i + 2..i + 6]);
                out.push('}');
                Ok(i + 6)
            }
            b'1'..=b'9' if !in_class => Err(
                "numbered back-references (`\\1`) are not supported in grok patterns; name the group and use `\\k<name>`"
                    .to_owned(),
            ),
            b'k' | b'g' if !in_class && matches!(bytes.get(i + 2), Some(b'<' | b'\'')) => {
                let close = if bytes[i + 2] == b'<' { '>' } else { '\'' };
                let start = i + 3;
                let Some(len) = src[start..].find(close) else {
                    return Err(format!("unterminated group reference `{}`", truncate(&src[i..], 30)));
                };
                let name = &src[start..start + len];
                let index = self.group_index(name)?;
                if c == b'k' {
                    out.push_str(&format!("\\g{{{index}}}"));
                } else {
                    out.push_str(&format!("(?{index})"));
                }
                Ok(start + len + 1)
            }
            b'Q' => {
                // Quoted literal text runs to \E; nothing in it is syntax.
                let end = src[i + 2..].find("\\E").map_or(src.len(), |p| i + 2 + p + 2);
                out.push_str(&src[i..end]);
                Ok(end)
            }
            _ => {
                out.push('\\');
                Ok(copy_char(src, i + 1, out))
            }
        }
    }

    fn group_index(&self, name: &str) -> Result<usize, String> {
        if name.bytes().all(|b| b.is_ascii_digit() || b == b'-' || b == b'+') {
            return Err(format!(
                "numbered group references (`{name}`) are not supported in grok patterns; use a group name"
            ));
        }
        self.groups
            .iter()
            .find(|g| g.name == name)
            .map(|g| g.index)
            .ok_or_else(|| format!("reference to group `{name}`, which is not defined before it"))
    }

    /// `src[i]` is `[`. Copies a character class, flattening Ruby's nested
    /// classes (`[a[bc]]` is the union `[abc]`).
    fn class(&mut self, src: &str, i: usize, out: &mut String) -> Result<usize, String> {
        out.push('[');
        let mut j = i + 1;
        if src.as_bytes().get(j) == Some(&b'^') {
            out.push('^');
            j += 1;
        }
        let end = self.class_body(src, j, out, i)?;
        out.push(']');
        Ok(end)
    }

    /// Copies class members from `j` up to and including the closing `]`,
    /// which is not emitted. `open` is where the class started, for errors.
    fn class_body(&mut self, src: &str, mut j: usize, out: &mut String, open: usize) -> Result<usize, String> {
        let bytes = src.as_bytes();
        // A `]` right after `[` or `[^` is a literal in both dialects.
        if bytes.get(j) == Some(&b']') {
            out.push_str("\\]");
            j += 1;
        }
        loop {
            let Some(&b) = bytes.get(j) else {
                return Err(format!("unterminated character class `{}`", truncate(&src[open..], 30)));
            };
            j = match b {
                b']' => return Ok(j + 1),
                b'\\' => self.escape(src, j, out, true)?,
                b'[' => {
                    if let Some(len) = posix_class_len(&src[j..]) {
                        out.push_str(&src[j..j + len]);
                        j + len
                    } else if bytes.get(j + 1) == Some(&b'^') {
                        return Err(format!(
                            "negated nested character classes are not supported: `{}`",
                            truncate(&src[open..], 30)
                        ));
                    } else {
                        self.class_body(src, j + 1, out, open)?
                    }
                }
                b'&' if bytes.get(j + 1) == Some(&b'&') => {
                    return Err(format!(
                        "character class intersection (`&&`) is not supported: `{}`",
                        truncate(&src[open..], 30)
                    ));
                }
                _ => copy_char(src, j, out),
            };
        }
    }

    /// `src[i]` is `(`.
    fn group(&mut self, src: &str, i: usize, out: &mut String) -> Result<usize, String> {
        let start = out.len();
        let (next, effect) = self.group_kind(src, i, out)?;
        match effect {
            GroupEffect::Opened => {
                self.open.push(start);
                self.last = Last::Nothing;
            }
            GroupEffect::Atom => self.last = Last::Atom(start),
            GroupEffect::Nothing => {}
        }
        Ok(next)
    }

    fn group_kind(&mut self, src: &str, i: usize, out: &mut String) -> Result<(usize, GroupEffect), String> {
        let bytes = src.as_bytes();
        match bytes.get(i + 1) {
            // PCRE2 verbs such as (*FAIL) or (*SKIP).
            Some(b'*') => {
                out.push('(');
                return Ok((i + 1, GroupEffect::Opened));
            }
            Some(b'?') => {}
            _ => {
                out.push_str("(?:");
                return Ok((i + 1, GroupEffect::Opened));
            }
        }
        let Some(&kind) = bytes.get(i + 2) else {
            return Err("the pattern ends with `(?`".to_owned());
        };
        match kind {
            b'#' => match src[i..].find(')') {
                Some(close) => Ok((i + close + 1, GroupEffect::Nothing)),
                None => Err("unterminated comment `(?#`".to_owned()),
            },
            b'<' if matches!(bytes.get(i + 3), Some(b'=' | b'!')) => {
                out.push_str(&src[i..i + 4]);
                Ok((i + 4, GroupEffect::Opened))
            }
            b'<' => self.named_group(src, i + 3, '>', out),
            b'\'' => self.named_group(src, i + 3, '\'', out),
            b'P' if bytes.get(i + 3) == Some(&b'<') => self.named_group(src, i + 4, '>', out),
            b'P' if matches!(bytes.get(i + 3), Some(b'=' | b'>')) => {
                let start = i + 4;
                let Some(len) = src[start..].find(')') else {
                    return Err(format!("unterminated group reference `{}`", truncate(&src[i..], 30)));
                };
                let index = self.group_index(&src[start..start + len])?;
                if bytes[i + 3] == b'=' {
                    out.push_str(&format!("\\g{{{index}}}"));
                } else {
                    out.push_str(&format!("(?{index})"));
                }
                Ok((start + len + 1, GroupEffect::Atom))
            }
            b':' | b'=' | b'!' | b'>' => {
                out.push_str(&src[i..i + 3]);
                Ok((i + 3, GroupEffect::Opened))
            }
            b'|' => Err("branch-reset groups `(?|` are not supported in grok patterns".to_owned()),
            b'~' => Err("absent operators `(?~` are not supported".to_owned()),
            b'(' | b'R' | b'&' | b'+' | b'0'..=b'9' => Err(format!(
                "conditionals and recursion (`{}`) are not supported in grok patterns",
                truncate(&src[i..], 12)
            )),
            _ => {
                // Inline options: (?imx-imx) or (?imx-imx:...). Ruby's `m`
                // means "dot matches newline", PCRE2's `s`.
                out.push_str("(?");
                let mut j = i + 2;
                while let Some(&b) = bytes.get(j) {
                    match b {
                        b'm' => out.push('s'),
                        b'a'..=b'z' | b'A'..=b'Z' | b'-' | b'^' => out.push(b as char),
                        _ => break,
                    }
                    j += 1;
                }
                match bytes.get(j) {
                    Some(b':') => {
                        out.push(':');
                        Ok((j + 1, GroupEffect::Opened))
                    }
                    Some(b')') => {
                        out.push(')');
                        Ok((j + 1, GroupEffect::Nothing))
                    }
                    // Let PCRE2 report the malformed option group.
                    _ => Ok((j, GroupEffect::Opened)),
                }
            }
        }
    }

    /// Name starts at `start` and ends at `close`; emits a capturing group.
    fn named_group(
        &mut self,
        src: &str,
        start: usize,
        close: char,
        out: &mut String,
    ) -> Result<(usize, GroupEffect), String> {
        let Some(len) = src[start..].find(close) else {
            return Err(format!("unterminated group name `{}`", truncate(&src[start..], 30)));
        };
        let name = &src[start..start + len];
        if name.is_empty() {
            return Err("empty group name `(?<>`".to_owned());
        }
        self.captures += 1;
        self.groups.push(NamedGroup {
            name: name.to_owned(),
            index: self.captures,
        });
        out.push('(');
        Ok((start + len + 1, GroupEffect::Opened))
    }
}

/// What a `(` construct leaves behind.
enum GroupEffect {
    /// A group was opened; its `)` comes later.
    Opened,
    /// A complete atom such as `(?P=name)`.
    Atom,
    /// Nothing to repeat: a comment or an option setting.
    Nothing,
}

/// Length of an Oniguruma interval quantifier (`{n}`, `{n,}`, `{n,m}`,
/// `{,m}`) at the start of `s`; anything else is a literal `{`.
fn interval_len(s: &str) -> Option<usize> {
    let body = s.strip_prefix('{')?;
    let close = body.find('}')?;
    let inner = &body[..close];
    let (low, high) = match inner.split_once(',') {
        Some((low, high)) => (low, Some(high)),
        None => (inner, None),
    };
    let digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
    let valid = match high {
        None => !low.is_empty() && digits(low),
        Some(high) => digits(low) && digits(high) && !(low.is_empty() && high.is_empty()),
    };
    valid.then_some(close + 2)
}

/// Copies the character starting at byte `i` and returns the next index.
fn copy_char(src: &str, i: usize, out: &mut String) -> usize {
    let len = src[i..].chars().next().map_or(1, char::len_utf8);
    out.push_str(&src[i..i + len]);
    i + len
}

/// Length of a POSIX bracket such as `[:alpha:]` or `[:^digit:]` at the
/// start of `s`.
fn posix_class_len(s: &str) -> Option<usize> {
    let body = s.strip_prefix("[:")?;
    let body = body.strip_prefix('^').unwrap_or(body);
    let name_len = body.bytes().take_while(u8::is_ascii_lowercase).count();
    if name_len == 0 || !body[name_len..].starts_with(":]") {
        return None;
    }
    Some(s.len() - body.len() + name_len + 2)
}

fn truncate(s: &str, max_chars: usize) -> String {
    let mut t: String = s.chars().take(max_chars).collect();
    if t.len() < s.len() {
        t.push('…');
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tr(src: &str) -> Result<(String, Vec<NamedGroup>), String> {
        let mut t = Translator::default();
        let mut out = String::new();
        t.translate(src, &mut out)?;
        Ok((out, t.groups))
    }

    #[test]
    fn named_groups_become_numbered_and_plain_groups_non_capturing() {
        let (re, groups) = tr(r"(a)(?<IP:client>x(?<in.ner>y))(?'q'z)(?:w)(?<=a)(?<!b)(?>c)").unwrap();
        assert_eq!(re, r"(?:a)(x(y))(z)(?:w)(?<=a)(?<!b)(?>c)");
        let names: Vec<_> = groups.iter().map(|g| (g.name.as_str(), g.index)).collect();
        assert_eq!(names, vec![("IP:client", 1), ("in.ner", 2), ("q", 3)]);
    }

    #[test]
    fn ruby_specifics() {
        assert_eq!(tr(r"\h{32}").unwrap().0, r"[0-9a-fA-F]{32}");
        assert_eq!(tr(r"[\h-]\H").unwrap().0, r"[0-9a-fA-F-][^0-9a-fA-F]");
        assert_eq!(tr(r"(?m)a.b(?i-m:c)").unwrap().0, r"(?s)a.b(?i-s:c)");
        assert_eq!(tr(r"\u00e9\v").unwrap().0, r"\x{00e9}\x0B");
        assert_eq!(
            tr(r"(/[[[:alnum:]]_%!$@:.,+~-]*)+").unwrap().0,
            r"(?:/[[:alnum:]_%!$@:.,+~-]*)+"
        );
        assert_eq!(tr(r"[]a][^]b]").unwrap().0, r"[\]a][^\]b]");
        assert_eq!(tr(r"(?#comment (x)a").unwrap().0, r"a");
        assert_eq!(tr(r"\Q(a[\E(b)").unwrap().0, r"\Q(a[\E(?:b)");
        assert_eq!(tr("é[ä]").unwrap().0, "é[ä]");
    }

    #[test]
    fn ruby_nested_repeats_get_explicit_groups() {
        assert_eq!(tr(r"a.?*b").unwrap().0, r"a(?:.?)*b");
        assert_eq!(tr(r"x{2}+").unwrap().0, r"(?:x{2})+");
        assert_eq!(tr(r"(ab)?*").unwrap().0, r"(?:(?:ab)?)*");
        assert_eq!(tr(r"[ab]+*").unwrap().0, r"(?:[ab]+)*");
        // Lazy and possessive suffixes stay as they are.
        assert_eq!(tr(r"a*?b+?c??d++e?+f{1,2}?").unwrap().0, r"a*?b+?c??d++e?+f{1,2}?");
        // Not an interval: a literal brace.
        assert_eq!(tr(r"a{x}{,3}").unwrap().0, r"a{x}{,3}");
        assert_eq!(tr(r"(?i)a(?i:b)*").unwrap().0, r"(?i)a(?i:b)*");
    }

    #[test]
    fn named_backreferences() {
        let (re, _) = tr(r"(?<q>['])x\k<q>(?P=q)").unwrap();
        assert_eq!(re, r"(['])x\g{1}\g{1}");
        assert!(tr(r"\k<nope>(?<nope>a)").unwrap_err().contains("not defined before"));
    }

    #[test]
    fn unsupported_constructs_are_reported() {
        assert!(tr(r"(a)\1").unwrap_err().contains("numbered back-references"));
        assert!(tr(r"[a-z&&[^aeiou]]").unwrap_err().contains("intersection"));
        assert!(tr(r"[a[^b]]").unwrap_err().contains("negated nested"));
        assert!(tr(r"(?|a|b)").unwrap_err().contains("branch-reset"));
        assert!(tr(r"(?R)").unwrap_err().contains("recursion"));
        assert!(tr(r"[abc").unwrap_err().contains("unterminated"));
        assert!(tr(r"(?<abc").unwrap_err().contains("unterminated"));
        assert!(tr("a\\").unwrap_err().contains("backslash"));
    }

    proptest::proptest! {
        #[test]
        fn never_panics_and_balances_groups(src in r"[a-z()\[\]\\?*+{},:<>'=!#|^$.hHkPQEu0-9é-]{0,40}") {
            let mut t = Translator::default();
            let mut out = String::new();
            if t.translate(&src, &mut out).is_ok() {
                // Every named group got a distinct, increasing capture number.
                for (i, g) in t.groups.iter().enumerate() {
                    proptest::prop_assert_eq!(g.index, i + 1);
                }
            }
        }
    }
}
