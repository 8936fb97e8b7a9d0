//! Kibana Discover links for the exact query and time range of a firing:
//! Discover's app state (`_a`) and global state (`_g`) in Rison, the URL
//! encoding Kibana itself writes in the address bar. The query goes in as
//! Lucene (`language:lucene`), which expresses the rule filter exactly,
//! including `query_string` conditions that KQL cannot.

use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};

use super::clock::{Millis, rfc3339};

/// Characters escaped in the fragment; Rison's own punctuation (`(`, `)`,
/// `'`, `!`, `:`, `,`) stays readable, as in Kibana's own links.
const FRAGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'&')
    .add(b'+')
    .add(b'<')
    .add(b'>')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'|')
    .add(b'\\')
    .add(b'^')
    .add(b'[')
    .add(b']')
    .add(b'=')
    .add(b'?');

/// A Rison string literal.
pub fn rison_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for ch in s.chars() {
        // Rison escapes its quote and its escape character with `!`.
        if ch == '\'' || ch == '!' {
            out.push('!');
        }
        out.push(ch);
    }
    out.push('\'');
    out
}

/// The Discover URL showing `query` (Lucene) on `data_view` over
/// `[from, to)`, sorted newest first by `timestamp_field`.
pub fn discover_url(
    base: &str,
    data_view: &str,
    query: &str,
    from: Millis,
    to: Millis,
    timestamp_field: &str,
) -> String {
    let g = format!(
        "(filters:!(),refreshInterval:(pause:!t,value:0),time:(from:{},to:{}))",
        rison_string(&rfc3339(from)),
        rison_string(&rfc3339(to))
    );
    let a = format!(
        "(columns:!(),filters:!(),index:{},interval:auto,query:(language:lucene,query:{}),sort:!(!({},desc)))",
        rison_string(data_view),
        rison_string(query),
        rison_string(timestamp_field)
    );
    format!(
        "{}/app/discover#/?_g={}&_a={}",
        base.trim_end_matches('/'),
        utf8_percent_encode(&g, FRAGMENT),
        utf8_percent_encode(&a, FRAGMENT)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rison_escapes_quote_and_bang() {
        assert_eq!(rison_string("it's!"), "'it!'s!!'");
        assert_eq!(rison_string("logs-app-*"), "'logs-app-*'");
    }

    #[test]
    fn discover_link_has_exact_range_and_query() {
        let url = discover_url(
            "https://kibana.example.com/",
            "logs-app",
            r#"log.level:"error" AND service.name:"api""#,
            1_709_294_400_000,
            1_709_294_700_000,
            "@timestamp",
        );
        assert_eq!(
            url,
            "https://kibana.example.com/app/discover#/?_g=(filters:!(),refreshInterval:(pause:!t,value:0),\
             time:(from:'2024-03-01T12:00:00.000Z',to:'2024-03-01T12:05:00.000Z'))\
             &_a=(columns:!(),filters:!(),index:'logs-app',interval:auto,\
             query:(language:lucene,query:'log.level:%22error%22%20AND%20service.name:%22api%22'),\
             sort:!(!('@timestamp',desc)))"
        );
    }
}
