//! What a firing shows from its sample documents: the head of the first
//! sample's stack trace and the request/trace ids found in the samples.

use serde_json::Value;

/// The value at a dotted path, whether the document nests it
/// (`{"error":{"stack_trace":…}}`) or has the dotted key itself.
pub fn lookup<'a>(doc: &'a Value, path: &str) -> Option<&'a Value> {
    if let Some(v) = doc.get(path) {
        return Some(v);
    }
    let (head, rest) = path.split_once('.')?;
    // Try every split point so `a.b.c` finds `{"a.b": {"c": …}}` too.
    if let Some(v) = doc.get(head).and_then(|inner| lookup(inner, rest)) {
        return Some(v);
    }
    let mut split = head.len();
    while let Some(pos) = path[split + 1..].find('.') {
        split += 1 + pos;
        let (h, r) = (&path[..split], &path[split + 1..]);
        if let Some(v) = doc.get(h).and_then(|inner| lookup(inner, r)) {
            return Some(v);
        }
    }
    None
}

/// The first `max_lines` lines of the first field in `fields` that the
/// first sample has as a string.
pub fn stack_trace(samples: &[Value], fields: &[String], max_lines: usize) -> Option<String> {
    let first = samples.first()?;
    let text = fields.iter().find_map(|f| lookup(first, f).and_then(Value::as_str))?;
    let mut lines = text.lines();
    let mut out: Vec<&str> = lines.by_ref().take(max_lines).collect();
    let more = lines.count();
    if more > 0 {
        out.push("…");
    }
    let joined = out.join("\n");
    (!joined.trim().is_empty()).then_some(joined)
}

/// Distinct values of `fields` in the samples, in order of appearance.
pub fn request_ids(samples: &[Value], fields: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in samples {
        for f in fields {
            let v = match lookup(s, f) {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Number(n)) => n.to_string(),
                _ => continue,
            };
            if !out.contains(&v) {
                out.push(v);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn lookup_handles_nested_and_dotted_keys() {
        let d = json!({"error": {"stack_trace": "a"}, "http.request": {"id": "r1"}, "trace.id": "t1"});
        assert_eq!(lookup(&d, "error.stack_trace"), Some(&json!("a")));
        assert_eq!(lookup(&d, "http.request.id"), Some(&json!("r1")));
        assert_eq!(lookup(&d, "trace.id"), Some(&json!("t1")));
        assert_eq!(lookup(&d, "error.missing"), None);
        assert_eq!(lookup(&json!("scalar"), "a.b"), None);
    }

    #[test]
    fn stack_trace_is_cut_to_the_first_lines() {
        let trace: Vec<String> = (0..60).map(|i| format!("line {i}")).collect();
        let samples = vec![json!({"error": {"stack_trace": trace.join("\n")}, "message": "m"})];
        let fields = vec!["error.stack_trace".to_owned(), "message".to_owned()];
        let st = stack_trace(&samples, &fields, 50).unwrap();
        assert_eq!(st.lines().count(), 51);
        assert!(st.starts_with("line 0\n") && st.ends_with("line 49\n…"));
        // Falls back to the message.
        assert_eq!(
            stack_trace(&[json!({"message": "boom"})], &fields, 50).as_deref(),
            Some("boom")
        );
        assert_eq!(stack_trace(&[], &fields, 50), None);
        assert_eq!(
            stack_trace(&[json!({"error": {"stack_trace": 3}})], &fields[..1], 50),
            None
        );
    }

    #[test]
    fn request_ids_are_distinct_and_ordered() {
        let samples = vec![
            json!({"http": {"request": {"id": "r1"}}, "trace": {"id": "t1"}}),
            json!({"http": {"request": {"id": "r1"}}}),
            json!({"http": {"request": {"id": "r2"}}}),
        ];
        let fields = vec!["http.request.id".to_owned(), "trace.id".to_owned()];
        assert_eq!(request_ids(&samples, &fields), ["r1", "t1", "r2"]);
    }
}
