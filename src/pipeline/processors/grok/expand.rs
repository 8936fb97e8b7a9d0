//! Expands grok references (`%{SYNTAX}`, `%{SYNTAX:semantic}`,
//! `%{SYNTAX:semantic:type}`) into one regular expression in Oniguruma
//! syntax, resolving names against the pattern bank, detecting undefined and
//! recursive patterns, and memoising each pattern's expansion.
//!
//! As in Elasticsearch, `%{SYNTAX:semantic…}` becomes the named group
//! `(?<SYNTAX:semantic…>…)` and `%{SYNTAX}` the plain group `(?:…)`; the
//! group name is split on `:` later, when captures are mapped to fields.

use std::collections::HashMap;

/// Longest expanded expression accepted. Mutually referencing patterns can
/// grow exponentially (A = %{B}%{B}, B = %{C}%{C}, …); the largest built-in
/// expansion is a few tens of KiB.
const MAX_EXPANDED_LEN: usize = 1 << 20;

/// One pattern definition and whether it was written by the user. User text
/// is checked strictly: a `%{` that is not a valid reference is an error.
/// Built-in text follows Elasticsearch, which leaves such text as literal
/// regex (a few built-ins rely on that never matching).
#[derive(Debug, Clone)]
pub struct Definition<'a> {
    pub regex: &'a str,
    pub user: Option<&'a str>,
}

/// Name → definition lookup: user definitions shadow built-ins.
pub struct Bank<'a> {
    pub builtin: &'a HashMap<String, String>,
    /// Name → (definition, where it came from, e.g. `pattern_definitions`).
    pub user: HashMap<&'a str, (&'a str, &'a str)>,
}

impl<'a> Bank<'a> {
    fn get(&self, name: &str) -> Option<Definition<'a>> {
        if let Some((regex, origin)) = self.user.get(name) {
            return Some(Definition {
                regex,
                user: Some(origin),
            });
        }
        self.builtin.get(name).map(|regex| Definition {
            regex: regex.as_str(),
            user: None,
        })
    }

    fn similar(&self, name: &str) -> Option<String> {
        let upper = name.to_ascii_uppercase();
        if upper != name && self.get(&upper).is_some() {
            return Some(upper);
        }
        None
    }
}

/// Expands references for one processor. Reused across its patterns so each
/// named pattern is expanded once.
pub struct Expander<'a> {
    bank: &'a Bank<'a>,
    memo: HashMap<String, String>,
    stack: Vec<String>,
}

/// A parsed `%{…}`.
struct Reference<'s> {
    name: &'s str,
    semantic: Option<&'s str>,
    has_definition: bool,
    len: usize,
}

impl<'a> Expander<'a> {
    pub fn new(bank: &'a Bank<'a>) -> Self {
        Expander {
            bank,
            memo: HashMap::new(),
            stack: Vec::new(),
        }
    }

    /// Expands a top-level pattern written by the user. `what` names it in
    /// errors (`patterns[0]`).
    pub fn expand_user(&mut self, pattern: &str, what: &str) -> Result<String, String> {
        let mut out = String::with_capacity(pattern.len() * 4);
        self.expand_into(pattern, true, what, &mut out)?;
        Ok(out)
    }

    fn expand_into(&mut self, text: &str, strict: bool, what: &str, out: &mut String) -> Result<(), String> {
        let mut rest = text;
        while let Some(at) = rest.find("%{") {
            out.push_str(&rest[..at]);
            let tail = &rest[at..];
            let Some(reference) = parse_reference(tail) else {
                if strict {
                    let shown: String = tail.chars().take(40).collect();
                    return Err(format!(
                        "{what}: malformed pattern reference `{shown}`; expected %{{NAME}}, %{{NAME:field}} or %{{NAME:field:type}}"
                    ));
                }
                out.push_str("%{");
                rest = &tail[2..];
                continue;
            };
            if reference.has_definition {
                return Err(format!(
                    "{what}: inline definitions like `%{{{}=…}}` are not supported; define the pattern in `pattern_definitions`",
                    reference.name
                ));
            }
            let expanded = self.expand_name(reference.name, what)?;
            match reference.semantic {
                Some(semantic) => {
                    out.push_str("(?<");
                    out.push_str(reference.name);
                    out.push(':');
                    out.push_str(semantic);
                    out.push('>');
                }
                None => out.push_str("(?:"),
            }
            out.push_str(&expanded);
            out.push(')');
            if out.len() > MAX_EXPANDED_LEN {
                return Err(format!(
                    "{what}: the expanded pattern exceeds {} MiB; check for patterns that reference each other many times",
                    MAX_EXPANDED_LEN >> 20
                ));
            }
            rest = &tail[reference.len..];
        }
        out.push_str(rest);
        Ok(())
    }

    fn expand_name(&mut self, name: &str, what: &str) -> Result<String, String> {
        if let Some(done) = self.memo.get(name) {
            return Ok(done.clone());
        }
        if let Some(pos) = self.stack.iter().position(|n| n == name) {
            let mut cycle = self.stack[pos..].to_vec();
            cycle.push(name.to_owned());
            return Err(format!("{what}: pattern `{name}` is recursive: {}", cycle.join(" -> ")));
        }
        let Some(definition) = self.bank.get(name) else {
            let referrer = match self.stack.last() {
                Some(parent) => format!("referenced from pattern `{parent}`"),
                None => "referenced directly".to_owned(),
            };
            let hint = match self.bank.similar(name) {
                Some(s) => format!("; did you mean `{s}`?"),
                None => String::new(),
            };
            return Err(format!("{what}: unknown grok pattern `{name}` ({referrer}){hint}"));
        };
        self.stack.push(name.to_owned());
        let mut out = String::with_capacity(definition.regex.len() * 2);
        let context = match definition.user {
            Some(origin) => format!("{what}: in pattern `{name}` ({origin})"),
            None => what.to_owned(),
        };
        let result = self.expand_into(definition.regex, definition.user.is_some(), &context, &mut out);
        self.stack.pop();
        result?;
        self.memo.insert(name.to_owned(), out.clone());
        Ok(out)
    }
}

/// Parses `%{NAME}`, `%{NAME:semantic}` or `%{NAME=definition}` at the start
/// of `s`, with Elasticsearch's grammar: the name is `[A-Za-z0-9_]+`, the
/// semantic part alphanumerics and `@ [ ] _ : . -`.
fn parse_reference(s: &str) -> Option<Reference<'_>> {
    let body = s.strip_prefix("%{")?;
    let name_len = body
        .bytes()
        .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
        .count();
    if name_len == 0 {
        return None;
    }
    let name = &body[..name_len];
    let mut pos = name_len;
    let mut semantic = None;
    if body[pos..].starts_with(':') {
        let start = pos + 1;
        let len: usize = body[start..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || matches!(c, '@' | '[' | ']' | '_' | ':' | '.' | '-'))
            .map(char::len_utf8)
            .sum();
        if len == 0 {
            return None;
        }
        semantic = Some(&body[start..start + len]);
        pos = start + len;
    }
    let mut has_definition = false;
    if body[pos..].starts_with('=') {
        let close = body[pos..].find('}')?;
        if close == 1 {
            return None;
        }
        has_definition = true;
        pos += close;
    }
    if !body[pos..].starts_with('}') {
        return None;
    }
    Some(Reference {
        name,
        semantic,
        has_definition,
        len: 2 + pos + 1,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn make_bank<'a>(builtin: &'a HashMap<String, String>, user: &[(&'a str, &'a str)]) -> Bank<'a> {
        Bank {
            builtin,
            user: user.iter().map(|(n, d)| (*n, (*d, "pattern_definitions"))).collect(),
        }
    }

    fn builtins(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(n, d)| (n.to_string(), d.to_string())).collect()
    }

    #[test]
    fn expands_nested_references() {
        let b = builtins(&[("A", "a%{B}"), ("B", "b+")]);
        let bank = make_bank(&b, &[]);
        let mut e = Expander::new(&bank);
        assert_eq!(e.expand_user("x%{A:f}y%{B}", "p").unwrap(), "x(?<A:f>a(?:b+))y(?:b+)");
        assert_eq!(e.expand_user("%{A:f.g:int}", "p").unwrap(), "(?<A:f.g:int>a(?:b+))");
        assert_eq!(e.expand_user("%{A:[a][b]}", "p").unwrap(), "(?<A:[a][b]>a(?:b+))");
    }

    #[test]
    fn user_definitions_shadow_builtins() {
        let b = builtins(&[("A", "builtin")]);
        let bank = make_bank(&b, &[("A", "mine")]);
        assert_eq!(Expander::new(&bank).expand_user("%{A}", "p").unwrap(), "(?:mine)");
    }

    #[test]
    fn unknown_and_recursive_patterns_are_named() {
        let b = builtins(&[("A", "%{B}"), ("B", "%{C}"), ("C", "%{A}"), ("D", "%{NOPE}")]);
        let bank = make_bank(&b, &[]);
        let err = Expander::new(&bank).expand_user("%{A}", "patterns[0]").unwrap_err();
        assert!(err.contains("A -> B -> C -> A"), "{err}");
        let err = Expander::new(&bank).expand_user("%{D}", "patterns[0]").unwrap_err();
        assert!(err.contains("`NOPE`") && err.contains("`D`"), "{err}");
        let b = builtins(&[("IP", "x")]);
        let bank = make_bank(&b, &[]);
        let err = Expander::new(&bank).expand_user("%{ip:client}", "p").unwrap_err();
        assert!(err.contains("did you mean `IP`"), "{err}");
    }

    #[test]
    fn malformed_references() {
        let b = builtins(&[("A", "100%{ literal"), ("B", "b")]);
        let bank = make_bank(&b, &[("U", "%{B")]);
        let mut e = Expander::new(&bank);
        // Built-ins keep ES's leniency.
        assert_eq!(e.expand_user("%{A}", "p").unwrap(), "(?:100%{ literal)");
        assert!(e.expand_user("%{B:x y}", "p").unwrap_err().contains("malformed"));
        let err = e.expand_user("%{U}", "p").unwrap_err();
        assert!(err.contains("in pattern `U` (pattern_definitions)"), "{err}");
        assert!(e.expand_user("%{B=b+}", "p").unwrap_err().contains("inline"));
    }

    #[test]
    fn exponential_growth_is_refused() {
        let mut pairs = vec![("P0".to_owned(), "xxxxxxxxxxxxxxxx".to_owned())];
        for i in 1..40 {
            pairs.push((format!("P{i}"), format!("%{{P{}}}%{{P{}}}", i - 1, i - 1)));
        }
        let b: HashMap<String, String> = pairs.into_iter().collect();
        let bank = make_bank(&b, &[]);
        assert!(
            Expander::new(&bank)
                .expand_user("%{P39}", "p")
                .unwrap_err()
                .contains("MiB")
        );
    }
}
