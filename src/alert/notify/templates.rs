//! Payload templates: one [`Notification`] rendered for each receiver kind.
//! The generic webhook gets the notification itself; chat robots get
//! markdown (WeChat Work, DingTalk), Block Kit (Slack) or an interactive
//! card (Feishu/Lark); email gets a plain-text and an HTML body. Each chat
//! kind has a message size limit, so long parts (stack traces, samples) are
//! cut to fit rather than have the robot reject the message.

use serde_json::{Value, json};

use super::{Notification, Status};

/// Webhook payload kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookKind {
    /// The notification as JSON.
    Json,
    /// WeChat Work group robot (`msgtype: markdown`).
    Wechat,
    /// DingTalk custom robot (`msgtype: markdown`).
    Dingtalk,
    /// Slack incoming webhook (Block Kit).
    Slack,
    /// Feishu / Lark custom bot (`msg_type: interactive`).
    Feishu,
}

impl WebhookKind {
    /// Name used in config and metrics.
    pub fn name(self) -> &'static str {
        match self {
            WebhookKind::Json => "webhook",
            WebhookKind::Wechat => "wechat",
            WebhookKind::Dingtalk => "dingtalk",
            WebhookKind::Slack => "slack",
            WebhookKind::Feishu => "feishu",
        }
    }
}

/// Who to @-mention (DingTalk).
#[derive(Debug, Clone, Default)]
pub struct Mentions {
    /// Mobile numbers.
    pub mobiles: Vec<String>,
    /// Everyone.
    pub all: bool,
}

// WeChat Work rejects markdown content over 4096 bytes (errcode 40058).
const WECHAT_MAX_BYTES: usize = 4096;
// DingTalk's documented limit is 20000 bytes for markdown text.
const DINGTALK_MAX_BYTES: usize = 18_000;
// Slack: a section block's text is at most 3000 characters.
const SLACK_SECTION_MAX: usize = 3000;
// Feishu cards may be up to 30 KB; keep well inside.
const FEISHU_MAX_BYTES: usize = 20_000;
// Characters of each sample's message shown in chat messages.
const SAMPLE_MESSAGE_CHARS: usize = 200;

/// `[FIRING] rule (service.name=api)`.
pub fn title(n: &Notification) -> String {
    match n.group_label() {
        Some(g) => format!("[{}] {} ({g})", n.status.label(), n.rule),
        None => format!("[{}] {}", n.status.label(), n.rule),
    }
}

/// One line: what was counted against what.
pub fn summary(n: &Notification) -> String {
    let dur = fmt_seconds(n.window.seconds);
    match (n.status, &n.spike, n.threshold) {
        (Status::Resolved, _, _) => format!("resolved: {} in {dur} (firing since {})", n.count, n.since),
        (Status::Firing, Some(s), _) => {
            let mut cond = Vec::new();
            if let Some(f) = s.factor {
                cond.push(format!("{f}× baseline"));
            }
            if let Some(k) = s.stddevs {
                cond.push(format!("baseline + {k}σ"));
            }
            format!(
                "{} in {dur}, baseline {:.1} (σ {:.1}); limit {}",
                n.count,
                s.baseline,
                s.stddev,
                cond.join(" / ")
            )
        }
        (Status::Firing, None, Some(t)) => format!("{} in {dur} (threshold {t})", n.count),
        (Status::Firing, None, None) => format!("{} in {dur}", n.count),
    }
}

/// Renders the webhook body.
pub fn payload(kind: WebhookKind, n: &Notification, mentions: &Mentions) -> Value {
    match kind {
        WebhookKind::Json => serde_json::to_value(n).unwrap_or(Value::Null),
        WebhookKind::Wechat => json!({
            "msgtype": "markdown",
            "markdown": {"content": markdown(n, WECHAT_MAX_BYTES, false)},
        }),
        WebhookKind::Dingtalk => {
            let mut text = markdown(n, DINGTALK_MAX_BYTES, true);
            // DingTalk only notifies mentioned users whose "@mobile" appears
            // in the text.
            for m in &mentions.mobiles {
                text.push_str(&format!(" @{m}"));
            }
            json!({
                "msgtype": "markdown",
                "markdown": {"title": title(n), "text": text},
                "at": {"atMobiles": mentions.mobiles, "isAtAll": mentions.all},
            })
        }
        WebhookKind::Slack => slack(n),
        WebhookKind::Feishu => feishu(n),
    }
}

/// Markdown for the chat robots. `code_blocks`: WeChat renders fenced code
/// literally, so it gets the stack trace as a quote instead.
pub fn markdown(n: &Notification, max_bytes: usize, code_blocks: bool) -> String {
    let mut head = format!("### {}\n", title(n));
    head.push_str(&format!("**Severity:** {}  \n", n.severity));
    if let Some(d) = &n.description {
        head.push_str(&format!("**Description:** {d}  \n"));
    }
    if let Some(g) = n.group_label() {
        head.push_str(&format!("**Group:** {g}  \n"));
    }
    head.push_str(&format!("**Count:** {}  \n", summary(n)));
    head.push_str(&format!("**Window:** {} – {}  \n", n.window.start, n.window.end));
    head.push_str(&format!("**Index:** {}  \n", n.index));
    head.push_str(&format!("**Query:** `{}`  \n", n.query_string));
    if !n.request_ids.is_empty() {
        head.push_str(&format!("**Request ids:** {}  \n", n.request_ids.join(", ")));
    }
    let mut tail = String::new();
    if let Some(url) = &n.kibana_url {
        tail.push_str(&format!("\n[Open in Kibana Discover]({url})\n"));
    }
    let mut middle = String::new();
    let samples = sample_lines(n);
    if !samples.is_empty() {
        middle.push_str("\n**Samples:**\n");
        for s in &samples {
            middle.push_str(&format!("- {s}\n"));
        }
    }
    if let Some(st) = &n.stack_trace {
        middle.push_str("\n**Stack trace (first sample):**\n");
        if code_blocks {
            middle.push_str(&format!("```\n{st}\n```\n"));
        } else {
            for line in st.lines() {
                middle.push_str(&format!("> {line}\n"));
            }
        }
    }
    // The head and the link always fit; the middle is cut.
    let room = max_bytes.saturating_sub(head.len() + tail.len());
    let fence_room = if code_blocks { 5 } else { 0 };
    let mut middle = truncate_bytes(&middle, room.saturating_sub(fence_room));
    if code_blocks && middle.matches("```").count() % 2 == 1 {
        middle.push_str("\n```\n");
    }
    let mut out = head;
    out.push_str(&middle);
    out.push_str(&tail);
    truncate_bytes(&out, max_bytes)
}

/// `2024-03-01T12:00:00.123Z payment failed` for each sample.
fn sample_lines(n: &Notification) -> Vec<String> {
    n.samples
        .iter()
        .map(|s| {
            let ts = crate::alert::samples::lookup(s, "@timestamp")
                .and_then(Value::as_str)
                .unwrap_or("-");
            let msg = crate::alert::samples::lookup(s, "message")
                .and_then(Value::as_str)
                .unwrap_or("");
            let first_line = msg.lines().next().unwrap_or("");
            format!("{ts} {}", truncate_chars(first_line, SAMPLE_MESSAGE_CHARS))
        })
        .collect()
}

fn slack(n: &Notification) -> Value {
    let mut fields = vec![
        json!({"type": "mrkdwn", "text": format!("*Severity*\n{}", n.severity)}),
        json!({"type": "mrkdwn", "text": format!("*Count*\n{}", summary(n))}),
        json!({"type": "mrkdwn", "text": format!("*Window*\n{} – {}", n.window.start, n.window.end)}),
        json!({"type": "mrkdwn", "text": format!("*Index*\n{}", n.index)}),
    ];
    if let Some(g) = n.group_label() {
        fields.insert(1, json!({"type": "mrkdwn", "text": format!("*Group*\n{g}")}));
    }
    let mut blocks = vec![
        json!({"type": "header", "text": {"type": "plain_text", "text": truncate_chars(&title(n), 150)}}),
        json!({"type": "section", "fields": fields}),
    ];
    if let Some(d) = &n.description {
        blocks
            .push(json!({"type": "section", "text": {"type": "mrkdwn", "text": truncate_chars(d, SLACK_SECTION_MAX)}}));
    }
    let mut details = format!("*Query*\n`{}`", n.query_string);
    if !n.request_ids.is_empty() {
        details.push_str(&format!("\n*Request ids*\n{}", n.request_ids.join(", ")));
    }
    let samples = sample_lines(n);
    if !samples.is_empty() {
        details.push_str("\n*Samples*");
        for s in &samples {
            details.push_str(&format!("\n• {s}"));
        }
    }
    blocks.push(
        json!({"type": "section", "text": {"type": "mrkdwn", "text": truncate_chars(&details, SLACK_SECTION_MAX)}}),
    );
    if let Some(st) = &n.stack_trace {
        let body = truncate_chars(st, SLACK_SECTION_MAX - 40);
        blocks.push(json!({"type": "section", "text": {"type": "mrkdwn",
            "text": format!("*Stack trace (first sample)*\n```{body}```")}}));
    }
    if let Some(url) = &n.kibana_url {
        blocks.push(json!({"type": "actions", "elements": [
            {"type": "button", "text": {"type": "plain_text", "text": "Open in Kibana"}, "url": url}
        ]}));
    }
    json!({"text": format!("{}: {}", title(n), summary(n)), "blocks": blocks})
}

fn feishu(n: &Notification) -> Value {
    let template = match n.status {
        Status::Firing => "red",
        Status::Resolved => "green",
    };
    // lark_md: no headings; the card header carries the title.
    let md = markdown(n, FEISHU_MAX_BYTES, true);
    let body = md.split_once('\n').map(|(_, rest)| rest).unwrap_or(&md).to_owned();
    let body = match &n.kibana_url {
        Some(url) => body.replace(&format!("\n[Open in Kibana Discover]({url})\n"), ""),
        None => body,
    };
    let mut elements = vec![json!({"tag": "div", "text": {"tag": "lark_md", "content": body}})];
    if let Some(url) = &n.kibana_url {
        elements.push(json!({"tag": "action", "actions": [
            {"tag": "button", "text": {"tag": "plain_text", "content": "Open in Kibana"}, "type": "primary", "url": url}
        ]}));
    }
    json!({
        "msg_type": "interactive",
        "card": {
            "config": {"wide_screen_mode": true},
            "header": {"title": {"tag": "plain_text", "content": title(n)}, "template": template},
            "elements": elements,
        }
    })
}

/// Plain-text email body.
pub fn plain_text(n: &Notification) -> String {
    let mut out = format!("{}\n\n", title(n));
    let mut row = |k: &str, v: &str| out.push_str(&format!("{k:<12} {v}\n"));
    row("Severity:", &n.severity);
    if let Some(d) = &n.description {
        row("Description:", d);
    }
    if let Some(g) = n.group_label() {
        row("Group:", &g);
    }
    row("Count:", &summary(n));
    row("Window:", &format!("{} – {}", n.window.start, n.window.end));
    row("Index:", &n.index);
    row("Query:", &n.query_string);
    if !n.request_ids.is_empty() {
        row("Request ids:", &n.request_ids.join(", "));
    }
    if let Some(url) = &n.kibana_url {
        row("Kibana:", url);
    }
    let samples = sample_lines(n);
    if !samples.is_empty() {
        out.push_str("\nSamples:\n");
        for s in samples {
            out.push_str(&format!("  {s}\n"));
        }
    }
    if let Some(st) = &n.stack_trace {
        out.push_str("\nStack trace (first sample):\n");
        for line in st.lines() {
            out.push_str(&format!("    {line}\n"));
        }
    }
    out
}

/// HTML email body.
pub fn html(n: &Notification) -> String {
    let color = match n.status {
        Status::Firing => "#c0392b",
        Status::Resolved => "#27ae60",
    };
    let mut rows = vec![("Severity", esc(&n.severity))];
    if let Some(d) = &n.description {
        rows.push(("Description", esc(d)));
    }
    if let Some(g) = n.group_label() {
        rows.push(("Group", esc(&g)));
    }
    rows.push(("Count", esc(&summary(n))));
    rows.push(("Window", esc(&format!("{} – {}", n.window.start, n.window.end))));
    rows.push(("Index", esc(&n.index)));
    rows.push(("Query", format!("<code>{}</code>", esc(&n.query_string))));
    if !n.request_ids.is_empty() {
        rows.push(("Request ids", esc(&n.request_ids.join(", "))));
    }
    let mut out = format!(
        "<!DOCTYPE html>\n<html><body style=\"font-family:sans-serif\">\n<h2 style=\"color:{color}\">{}</h2>\n<table>\n",
        esc(&title(n))
    );
    for (k, v) in rows {
        out.push_str(&format!("<tr><th align=\"left\">{k}</th><td>{v}</td></tr>\n"));
    }
    out.push_str("</table>\n");
    if let Some(url) = &n.kibana_url {
        out.push_str(&format!(
            "<p><a href=\"{}\">Open in Kibana Discover</a></p>\n",
            esc(url)
        ));
    }
    let samples = sample_lines(n);
    if !samples.is_empty() {
        out.push_str("<h3>Samples</h3>\n<ul>\n");
        for s in samples {
            out.push_str(&format!("<li><code>{}</code></li>\n", esc(&s)));
        }
        out.push_str("</ul>\n");
    }
    if let Some(st) = &n.stack_trace {
        out.push_str(&format!(
            "<h3>Stack trace (first sample)</h3>\n<pre>{}</pre>\n",
            esc(st)
        ));
    }
    out.push_str("</body></html>\n");
    out
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// `5m`, `1m30s`, `500ms`.
pub fn fmt_seconds(secs: f64) -> String {
    let ms = (secs * 1000.0).round() as u64;
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let s = ms / 1000;
    let (h, m, sec) = (s / 3600, s % 3600 / 60, s % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if sec > 0 || out.is_empty() {
        out.push_str(&format!("{sec}s"));
    }
    out
}

/// Cuts `s` to at most `max` bytes at a character boundary, marking the cut.
pub fn truncate_bytes(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let marker = "\n…(truncated)";
    let mut end = max.saturating_sub(marker.len());
    while end > 0 && !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{marker}", &s[..end])
}

fn truncate_chars(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::alert::notify::{SpikeInfo, WindowInfo};

    /// A firing of the shape the runner builds, with fixed values.
    pub(crate) fn sample_notification() -> Notification {
        Notification {
            id: "app-error-burst/api/1709294700000/firing".into(),
            status: Status::Firing,
            rule: "app-error-burst".into(),
            kind: "frequency".into(),
            description: Some("ERROR logs from one service".into()),
            severity: "critical".into(),
            group_by: Some("service.name".into()),
            group: Some("api".into()),
            count: 42,
            threshold: Some(10),
            spike: None,
            window: WindowInfo {
                start: "2024-03-01T12:00:00.000Z".into(),
                end: "2024-03-01T12:05:00.000Z".into(),
                seconds: 300.0,
            },
            since: "2024-03-01T12:05:00.000Z".into(),
            repeat: false,
            index: "logs-app-*".into(),
            query: json!({"bool": {"filter": [{"term": {"log.level": "error"}}]}}),
            query_string: "log.level:\"error\" AND service.name:\"api\"".into(),
            samples: vec![json!({
                "@timestamp": "2024-03-01T12:00:00.123Z",
                "message": "payment failed",
                "log": {"level": "error", "logger": "app.payments"},
                "error": {"stack_trace": "Traceback (most recent call last):\n  File \"/app/payments/charge.py\", line 88, in charge\n    raise GatewayError(\"declined: code 51\")\npayments.gateway.GatewayError: declined: code 51"},
                "http": {"request": {"id": "req-1"}},
            })],
            stack_trace: Some("Traceback (most recent call last):\n  File \"/app/payments/charge.py\", line 88, in charge\n    raise GatewayError(\"declined: code 51\")\npayments.gateway.GatewayError: declined: code 51".into()),
            request_ids: vec!["req-1".into()],
            kibana_url: Some("https://kibana.example.com/app/discover#/?_g=(time:(from:'2024-03-01T12:00:00.000Z',to:'2024-03-01T12:05:00.000Z'))".into()),
        }
    }

    fn golden_dir() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/alert")
    }

    /// Compares with the golden file; `UPDATE_GOLDEN=1` rewrites it.
    fn check_golden(name: &str, actual: &str) {
        let path = golden_dir().join(name);
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            std::fs::create_dir_all(golden_dir()).unwrap();
            std::fs::write(&path, actual).unwrap();
        }
        let expected = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (run with UPDATE_GOLDEN=1 to create)", path.display()));
        assert_eq!(
            actual, expected,
            "{name} differs from the golden file (UPDATE_GOLDEN=1 rewrites it)"
        );
    }

    fn pretty(v: &Value) -> String {
        let mut s = serde_json::to_string_pretty(v).unwrap();
        s.push('\n');
        s
    }

    #[test]
    fn golden_payloads_for_every_webhook_kind() {
        let n = sample_notification();
        let mentions = Mentions {
            mobiles: vec!["13800000000".into()],
            all: false,
        };
        for kind in [
            WebhookKind::Json,
            WebhookKind::Wechat,
            WebhookKind::Dingtalk,
            WebhookKind::Slack,
            WebhookKind::Feishu,
        ] {
            check_golden(&format!("{}.json", kind.name()), &pretty(&payload(kind, &n, &mentions)));
        }
    }

    #[test]
    fn golden_resolved_and_spike() {
        let mut n = sample_notification();
        n.status = Status::Resolved;
        n.id = "app-error-burst/api/1709295000000/resolved".into();
        n.count = 2;
        check_golden(
            "slack-resolved.json",
            &pretty(&payload(WebhookKind::Slack, &n, &Mentions::default())),
        );
        let mut s = sample_notification();
        s.rule = "nginx-5xx-spike".into();
        s.kind = "spike".into();
        s.group_by = None;
        s.group = None;
        s.threshold = None;
        s.count = 120;
        s.window.seconds = 60.0;
        s.spike = Some(SpikeInfo {
            baseline: 10.5,
            stddev: 2.25,
            factor: Some(3.0),
            stddevs: Some(4.0),
        });
        check_golden(
            "webhook-spike.json",
            &pretty(&payload(WebhookKind::Json, &s, &Mentions::default())),
        );
        assert_eq!(
            summary(&s),
            "120 in 1m, baseline 10.5 (σ 2.2); limit 3× baseline / baseline + 4σ"
        );
    }

    #[test]
    fn golden_email_bodies() {
        let n = sample_notification();
        check_golden("email.txt", &plain_text(&n));
        check_golden("email.html", &html(&n));
    }

    #[test]
    fn wechat_message_stays_under_its_limit() {
        let mut n = sample_notification();
        n.stack_trace = Some("at com.example.Deep.frame(Deep.java:1)\n".repeat(500));
        let v = payload(WebhookKind::Wechat, &n, &Mentions::default());
        let content = v["markdown"]["content"].as_str().unwrap();
        assert!(content.len() <= WECHAT_MAX_BYTES, "{}", content.len());
        assert!(content.contains("(truncated)"));
        assert!(content.ends_with(&format!(
            "[Open in Kibana Discover]({})\n",
            n.kibana_url.as_ref().unwrap()
        )));
        // DingTalk keeps its code fence closed when cut.
        let d = markdown(&n, 2_000, true);
        assert_eq!(d.matches("```").count() % 2, 0, "{d}");
    }

    #[test]
    fn truncation_respects_char_boundaries() {
        let s = "错误".repeat(100);
        let t = truncate_bytes(&s, 50);
        assert!(t.len() <= 50);
        assert!(t.ends_with("(truncated)"));
        assert_eq!(fmt_seconds(300.0), "5m");
        assert_eq!(fmt_seconds(90.0), "1m30s");
        assert_eq!(fmt_seconds(0.5), "500ms");
        assert_eq!(fmt_seconds(3600.0), "1h");
    }
}
