//! Webhook delivery: renders the payload for the receiver's kind, signs it
//! where the robot supports signing, POSTs it, and classifies the answer.
//! Chat robots answer HTTP 200 even on failure and put the error in the
//! body (`errcode`, `code`), so the body is checked too.

use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;
use sha2::Sha256;

use super::Notification;
use super::retry::DeliveryError;
use super::templates::{self, Mentions, WebhookKind};
use crate::alert::config::WebhookConfig;
use crate::secret::{self, Secret};

/// A configured webhook receiver.
pub struct WebhookSender {
    kind: WebhookKind,
    url: Secret,
    secret: Option<Secret>,
    headers: HeaderMap,
    mentions: Mentions,
    client: reqwest::Client,
}

impl WebhookSender {
    /// Resolves secrets and headers.
    pub fn new(c: &WebhookConfig, kind: WebhookKind, client: reqwest::Client) -> Result<Self, String> {
        let url = secret::resolve(&c.url, &c.url_file, "url")?.ok_or("`url` or `url_file` is required")?;
        let url = Secret::new(url.expose().trim());
        let secret = secret::resolve(&c.secret, &c.secret_file, "secret")?;
        let mut headers = HeaderMap::new();
        for (k, v) in &c.headers {
            let name =
                HeaderName::from_bytes(k.as_bytes()).map_err(|_| format!("headers: `{k}` is not a header name"))?;
            let value =
                HeaderValue::from_str(v).map_err(|_| format!("headers: value of `{k}` is not a header value"))?;
            headers.insert(name, value);
        }
        Ok(WebhookSender {
            kind,
            url,
            secret,
            headers,
            mentions: Mentions {
                mobiles: c.mention_mobiles.clone(),
                all: c.mention_all,
            },
            client,
        })
    }

    /// Kind, for metrics.
    pub fn kind(&self) -> WebhookKind {
        self.kind
    }

    /// The request this sender makes for `n` at `now_ms`: URL and body.
    pub fn request(&self, n: &Notification, now_ms: i64) -> (String, Vec<u8>) {
        let mut body = templates::payload(self.kind, n, &self.mentions);
        let mut url = self.url.expose().to_owned();
        if let Some(secret) = &self.secret {
            match self.kind {
                WebhookKind::Dingtalk => {
                    let sign = dingtalk_sign(secret.expose(), now_ms);
                    let sep = if url.contains('?') { '&' } else { '?' };
                    url.push_str(&format!("{sep}timestamp={now_ms}&sign={sign}"));
                }
                WebhookKind::Feishu => {
                    let ts = now_ms / 1000;
                    body["timestamp"] = Value::String(ts.to_string());
                    body["sign"] = Value::String(feishu_sign(secret.expose(), ts));
                }
                _ => {}
            }
        }
        (url, serde_json::to_vec(&body).unwrap_or_default())
    }

    /// One delivery attempt.
    pub async fn send(&self, n: &Notification, now_ms: i64) -> Result<(), DeliveryError> {
        let (url, body) = self.request(n, now_ms);
        let mut req = self
            .client
            .post(&url)
            .headers(self.headers.clone())
            .header(CONTENT_TYPE, "application/json");
        if let (WebhookKind::Json, Some(secret)) = (self.kind, &self.secret) {
            req = req.header(
                "x-sluice-signature",
                format!("sha256={}", hex::encode(hmac(secret.expose().as_bytes(), &body))),
            );
        }
        let resp = req.body(body).send().await.map_err(|e| {
            // reqwest errors include the URL, which holds the robot's token.
            DeliveryError::Retryable(format!("request failed: {}", e.without_url()))
        })?;
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        if !(200..300).contains(&status) {
            return Err(DeliveryError::from_status(status, &text));
        }
        check_body(self.kind, &text)
    }
}

/// Looks for the robot's error code in a 200 answer.
pub fn check_body(kind: WebhookKind, body: &str) -> Result<(), DeliveryError> {
    let v: Value = match kind {
        WebhookKind::Wechat | WebhookKind::Dingtalk | WebhookKind::Feishu => {
            serde_json::from_str(body).unwrap_or(Value::Null)
        }
        _ => return Ok(()),
    };
    let code = v
        .get("errcode")
        .or_else(|| v.get("code"))
        .or_else(|| v.get("StatusCode"))
        .and_then(Value::as_i64)
        .unwrap_or(0);
    if code == 0 {
        return Ok(());
    }
    let msg = v
        .get("errmsg")
        .or_else(|| v.get("msg"))
        .or_else(|| v.get("StatusMessage"))
        .and_then(Value::as_str)
        .unwrap_or("");
    let text = format!("{} answered error {code}: {msg}", kind.name());
    // Rate limits: WeChat 45009, DingTalk 130101, Feishu 9499 / 11232.
    if matches!(code, 45009 | 130101 | 9499 | 11232) {
        Err(DeliveryError::Retryable(text))
    } else {
        Err(DeliveryError::Permanent(text))
    }
}

fn hmac(key: &[u8], msg: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(msg);
    mac.finalize().into_bytes().to_vec()
}

/// DingTalk "加签": base64 HMAC-SHA256 of `"{timestamp_ms}\n{secret}"` keyed
/// with the secret, URL-encoded.
pub fn dingtalk_sign(secret: &str, timestamp_ms: i64) -> String {
    let sig = hmac(secret.as_bytes(), format!("{timestamp_ms}\n{secret}").as_bytes());
    let b64 = base64::engine::general_purpose::STANDARD.encode(sig);
    percent_encoding::utf8_percent_encode(&b64, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// Feishu "签名校验": base64 HMAC-SHA256 of the empty message keyed with
/// `"{timestamp_s}\n{secret}"`.
pub fn feishu_sign(secret: &str, timestamp_s: i64) -> String {
    let sig = hmac(format!("{timestamp_s}\n{secret}").as_bytes(), b"");
    base64::engine::general_purpose::STANDARD.encode(sig)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dingtalk_signature_matches_the_documented_algorithm() {
        // Computed independently: python3 -c 'import hmac,hashlib,base64,urllib.parse;
        // s="SEC000";t=1700000000000;print(urllib.parse.quote(base64.b64encode(
        // hmac.new(s.encode(),f"{t}\n{s}".encode(),hashlib.sha256).digest())))'
        assert_eq!(dingtalk_sign("SEC000", 1_700_000_000_000), DINGTALK_EXPECTED);
    }

    #[test]
    fn feishu_signature_matches_the_documented_algorithm() {
        // python3 -c 'import hmac,hashlib,base64;s="SEC000";t=1700000000;
        // print(base64.b64encode(hmac.new(f"{t}\n{s}".encode(),b"",hashlib.sha256).digest()).decode())'
        assert_eq!(feishu_sign("SEC000", 1_700_000_000), FEISHU_EXPECTED);
    }

    const DINGTALK_EXPECTED: &str = "ltBBey5eZrWKh1cPzFIdz3v3xpkc4Tjx4lLsPSHqdtA%3D";
    const FEISHU_EXPECTED: &str = "QKhXycVUGrhA1dUEbXA2Vo/zGkv/W88IgYgKNA7Xmk0=";

    fn sender(kind: WebhookKind, secret: Option<&str>) -> WebhookSender {
        let c: WebhookConfig = serde_yaml::from_str(&format!(
            "{{url: 'https://oapi.dingtalk.com/robot/send?access_token=T'{}}}",
            secret.map(|s| format!(", secret: {s}")).unwrap_or_default()
        ))
        .unwrap();
        WebhookSender::new(&c, kind, reqwest::Client::new()).unwrap()
    }

    #[test]
    fn signed_requests() {
        let n = crate::alert::notify::templates::tests::sample_notification();
        let (url, _) = sender(WebhookKind::Dingtalk, Some("SEC000")).request(&n, 1_700_000_000_000);
        assert_eq!(
            url,
            format!(
                "https://oapi.dingtalk.com/robot/send?access_token=T&timestamp=1700000000000&sign={DINGTALK_EXPECTED}"
            )
        );
        let (_, body) = sender(WebhookKind::Feishu, Some("SEC000")).request(&n, 1_700_000_000_999);
        let body: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["timestamp"], "1700000000");
        assert_eq!(body["sign"], FEISHU_EXPECTED);
        let (url, _) = sender(WebhookKind::Dingtalk, None).request(&n, 1);
        assert_eq!(url, "https://oapi.dingtalk.com/robot/send?access_token=T");
    }

    #[test]
    fn robot_error_codes_are_classified() {
        assert_eq!(
            check_body(WebhookKind::Wechat, r#"{"errcode":0,"errmsg":"ok"}"#),
            Ok(())
        );
        assert!(matches!(
            check_body(
                WebhookKind::Wechat,
                r#"{"errcode":45009,"errmsg":"api freq out of limit"}"#
            ),
            Err(DeliveryError::Retryable(_))
        ));
        assert!(matches!(
            check_body(WebhookKind::Dingtalk, r#"{"errcode":310000,"errmsg":"sign not match"}"#),
            Err(DeliveryError::Permanent(m)) if m.contains("sign not match")
        ));
        assert!(matches!(
            check_body(WebhookKind::Feishu, r#"{"code":19021,"msg":"sign match fail"}"#),
            Err(DeliveryError::Permanent(_))
        ));
        assert_eq!(check_body(WebhookKind::Feishu, r#"{"StatusCode":0}"#), Ok(()));
        assert_eq!(check_body(WebhookKind::Slack, "ok"), Ok(()));
    }
}
