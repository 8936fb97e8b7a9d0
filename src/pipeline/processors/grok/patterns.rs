//! The built-in grok pattern library: Elasticsearch's `legacy` set (the
//! default, `ecs_compatibility: disabled`) and its `ecs-v1` set, embedded
//! from the vendored files under `patterns/`, plus the parser for
//! Logstash-style pattern files (`NAME regex` per line) that `patterns_dir`
//! also uses.

use std::collections::HashMap;
use std::sync::OnceLock;

/// Which built-in pattern set a grok processor starts from (ES option
/// `ecs_compatibility`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EcsCompatibility {
    /// `disabled`: the legacy field names (`clientip`, `verb`, …).
    Disabled,
    /// `v1`: ECS field names (`source.address`, `http.request.method`, …).
    V1,
}

impl EcsCompatibility {
    /// Parses the option value the way ES spells it.
    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw {
            "disabled" => Ok(EcsCompatibility::Disabled),
            "v1" => Ok(EcsCompatibility::V1),
            other => Err(format!(
                "unsupported `ecs_compatibility` mode `{other}`; accepted: `disabled` (default) or `v1`"
            )),
        }
    }
}

// Load order matters: a later file overrides a pattern of the same name, and
// these lists are the order Elasticsearch loads them in (GrokBuiltinPatterns).
const LEGACY_FILES: &[(&str, &str)] = &[
    ("aws", include_str!("patterns/legacy/aws")),
    ("bacula", include_str!("patterns/legacy/bacula")),
    ("bind", include_str!("patterns/legacy/bind")),
    ("bro", include_str!("patterns/legacy/bro")),
    ("exim", include_str!("patterns/legacy/exim")),
    ("firewalls", include_str!("patterns/legacy/firewalls")),
    ("grok-patterns", include_str!("patterns/legacy/grok-patterns")),
    ("haproxy", include_str!("patterns/legacy/haproxy")),
    ("httpd", include_str!("patterns/legacy/httpd")),
    ("java", include_str!("patterns/legacy/java")),
    ("junos", include_str!("patterns/legacy/junos")),
    ("linux-syslog", include_str!("patterns/legacy/linux-syslog")),
    ("maven", include_str!("patterns/legacy/maven")),
    (
        "mcollective-patterns",
        include_str!("patterns/legacy/mcollective-patterns"),
    ),
    ("mongodb", include_str!("patterns/legacy/mongodb")),
    ("nagios", include_str!("patterns/legacy/nagios")),
    ("postgresql", include_str!("patterns/legacy/postgresql")),
    ("rails", include_str!("patterns/legacy/rails")),
    ("redis", include_str!("patterns/legacy/redis")),
    ("ruby", include_str!("patterns/legacy/ruby")),
    ("squid", include_str!("patterns/legacy/squid")),
];

const ECS_V1_FILES: &[(&str, &str)] = &[
    ("aws", include_str!("patterns/ecs-v1/aws")),
    ("bacula", include_str!("patterns/ecs-v1/bacula")),
    ("bind", include_str!("patterns/ecs-v1/bind")),
    ("bro", include_str!("patterns/ecs-v1/bro")),
    ("exim", include_str!("patterns/ecs-v1/exim")),
    ("firewalls", include_str!("patterns/ecs-v1/firewalls")),
    ("grok-patterns", include_str!("patterns/ecs-v1/grok-patterns")),
    ("haproxy", include_str!("patterns/ecs-v1/haproxy")),
    ("httpd", include_str!("patterns/ecs-v1/httpd")),
    ("java", include_str!("patterns/ecs-v1/java")),
    ("junos", include_str!("patterns/ecs-v1/junos")),
    ("linux-syslog", include_str!("patterns/ecs-v1/linux-syslog")),
    ("maven", include_str!("patterns/ecs-v1/maven")),
    ("mcollective", include_str!("patterns/ecs-v1/mcollective")),
    ("mongodb", include_str!("patterns/ecs-v1/mongodb")),
    ("nagios", include_str!("patterns/ecs-v1/nagios")),
    ("postgresql", include_str!("patterns/ecs-v1/postgresql")),
    ("rails", include_str!("patterns/ecs-v1/rails")),
    ("redis", include_str!("patterns/ecs-v1/redis")),
    ("ruby", include_str!("patterns/ecs-v1/ruby")),
    ("squid", include_str!("patterns/ecs-v1/squid")),
    ("zeek", include_str!("patterns/ecs-v1/zeek")),
];

/// The built-in patterns of one set, name → (unexpanded) definition. Parsed
/// once per process.
pub fn builtin(ecs: EcsCompatibility) -> &'static HashMap<String, String> {
    static LEGACY: OnceLock<HashMap<String, String>> = OnceLock::new();
    static ECS_V1: OnceLock<HashMap<String, String>> = OnceLock::new();
    let (cell, files) = match ecs {
        EcsCompatibility::Disabled => (&LEGACY, LEGACY_FILES),
        EcsCompatibility::V1 => (&ECS_V1, ECS_V1_FILES),
    };
    cell.get_or_init(|| {
        let mut bank = HashMap::new();
        for (_, text) in files {
            for (name, definition) in definitions(text) {
                bank.insert(name.to_owned(), definition.to_owned());
            }
        }
        if let Some(ipv6) = bank.get_mut("IPV6") {
            ipv6.insert_str(0, IPV6_GUARD);
        }
        if let Some(ipv4) = bank.get_mut("IPV4")
            && let Some(body) = ipv4.strip_prefix(IPV4_BEFORE).and_then(|b| b.strip_suffix(IPV4_AFTER))
        {
            *ipv4 = format!("{IPV4_BEFORE}(?>{body}{IPV4_AFTER})");
        }
        bank
    })
}

/// Put in front of the built-in `IPV6`. Every alternative of that pattern
/// starts with one to four hex digits and a colon, or with a colon, so this
/// lookahead changes no match; it makes a non-IPv6 text fail at once instead
/// of after trying each of the pattern's dozens of alternatives. `IP` tries
/// `IPV6` first, so without it every IPv4 address and every word paid for
/// those attempts (a third of the nginx access line's match time).
const IPV6_GUARD: &str = "(?=[0-9A-Fa-f]{0,4}:)";

/// The built-in `IPV4` is `(?<![0-9])(?:…)(?![0-9])`; its body and the
/// closing lookahead become one atomic group. Each octet's
/// `[0-1]?[0-9]{1,2}` matches `10` or `15` two ways, so an address had up
/// to 16 ways to match the same text, and when what follows the address
/// failed (the nginx line's optional host prefix fails on most lines),
/// PCRE2 retried the rest of the line once per way. Inside the group every
/// octet is followed by a dot and the last by `(?![0-9])`, so at a given
/// start the group can end at one place only: backtracking into it could
/// never produce another match, and making it atomic changes no result
/// (the lookahead must be inside: the last octet alone can stop early, as
/// `25` of `255`). On the nginx access line it saves a fifth of the match.
const IPV4_BEFORE: &str = "(?<![0-9])";
const IPV4_AFTER: &str = "(?![0-9])";

/// The `NAME definition` pairs of a pattern file, in file order, read the way
/// Elasticsearch and Logstash read them: leading whitespace is ignored, lines
/// starting with `#` and blank lines are skipped, the name ends at the first
/// run of whitespace and the definition is the rest of the line (trailing
/// spaces included, some built-ins rely on them). A line with a name but no
/// definition is skipped, as ES does; [`parse_user_file`] reports it instead.
pub fn definitions(text: &str) -> impl Iterator<Item = (&str, &str)> {
    text.lines().filter_map(|line| match split_line(line) {
        Line::Definition(name, definition) => Some((name, definition)),
        Line::Skip | Line::NameOnly(_) => None,
    })
}

/// Parses a user-supplied pattern file (`patterns_dir`), strictly: a line
/// with a name and nothing else is an error naming the file and line.
pub fn parse_user_file(text: &str, file: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        match split_line(line) {
            Line::Skip => {}
            Line::Definition(name, definition) => out.push((name.to_owned(), definition.to_owned())),
            Line::NameOnly(name) => {
                return Err(format!(
                    "{file}, line {}: pattern `{name}` has no definition (expected `NAME regex`)",
                    i + 1
                ));
            }
        }
    }
    Ok(out)
}

enum Line<'a> {
    Skip,
    NameOnly(&'a str),
    Definition(&'a str, &'a str),
}

fn split_line(line: &str) -> Line<'_> {
    // BufferedReader.readLine (ES) also drops a trailing `\r`; `lines()` does
    // that for `\r\n` only, so strip a lone one too.
    let line = line.strip_suffix('\r').unwrap_or(line);
    let trimmed = line.trim_start();
    if trimmed.is_empty() || trimmed.starts_with('#') {
        return Line::Skip;
    }
    let Some(name_end) = trimmed.find(char::is_whitespace) else {
        return Line::NameOnly(trimmed);
    };
    let (name, rest) = trimmed.split_at(name_end);
    let definition = rest.trim_start();
    if definition.is_empty() {
        Line::NameOnly(name)
    } else {
        Line::Definition(name, definition)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_sets_load_with_their_core_patterns() {
        let legacy = builtin(EcsCompatibility::Disabled);
        let ecs = builtin(EcsCompatibility::V1);
        for name in [
            "IP",
            "HTTPDATE",
            "COMBINEDAPACHELOG",
            "SYSLOGBASE",
            "NAGIOSLOGLINE",
            "RUBY_LOGGER",
        ] {
            assert!(legacy.contains_key(name), "legacy lacks {name}");
            assert!(ecs.contains_key(name), "ecs-v1 lacks {name}");
        }
        assert!(ecs.contains_key("ZEEK_CONN"));
        assert!(!legacy.contains_key("ZEEK_CONN"));
        assert!(legacy["SYSLOGPROG"].contains("program"));
        assert!(ecs["SYSLOGPROG"].contains("process.name"));
        assert!(legacy.len() > 300, "{}", legacy.len());
    }

    #[test]
    fn trailing_spaces_are_part_of_the_definition() {
        assert!(builtin(EcsCompatibility::Disabled)["REDISLOG"].ends_with("\\* "));
    }

    #[test]
    fn file_parsing_rules() {
        let text = "# comment\n\n  INDENTED  a b \nCRLF x\r\nLONE\nTAB\tz";
        let defs: Vec<_> = definitions(text).collect();
        assert_eq!(defs, vec![("INDENTED", "a b "), ("CRLF", "x"), ("TAB", "z")]);
        let err = parse_user_file(text, "p/extra").unwrap_err();
        assert!(err.contains("p/extra, line 5") && err.contains("`LONE`"), "{err}");
    }

    #[test]
    fn ecs_mode_names() {
        assert_eq!(EcsCompatibility::parse("v1"), Ok(EcsCompatibility::V1));
        assert!(EcsCompatibility::parse("v8").unwrap_err().contains("disabled"));
    }
}
