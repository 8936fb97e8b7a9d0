//! The Elasticsearch connection: the official `elasticsearch` crate's
//! transport, configured from the config (nodes, TLS, auth), plus the few
//! calls Sluice makes. Bulk bodies are sent pre-built and pre-compressed.

use std::time::Duration;

use anyhow::Context as _;
use bytes::Bytes;
use elasticsearch::auth::{ClientCertificate, Credentials};
use elasticsearch::cert::{Certificate, CertificateValidation};
use elasticsearch::http::headers::{AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE, HeaderMap, HeaderValue};
use elasticsearch::http::transport::{MultiNodeConnectionPool, SingleNodeConnectionPool, Transport, TransportBuilder};
use elasticsearch::http::{Method, Url};
use serde_json::Value;

use super::bulk_request::Body;
use crate::config::ElasticsearchConfig;
use crate::secret;

/// A configured client.
#[derive(Clone)]
pub struct EsClient {
    transport: Transport,
    timeout: Duration,
    /// The first node URL, for messages.
    pub url: String,
}

/// An HTTP answer.
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// Body bytes.
    pub body: Bytes,
}

impl EsClient {
    /// Builds the client; reads CA, certificates and secrets from files.
    pub fn new(c: &ElasticsearchConfig) -> anyhow::Result<Self> {
        let urls: Vec<Url> = c
            .urls
            .iter()
            .map(|u| Url::parse(u).with_context(|| format!("elasticsearch.urls: `{u}` is not a URL")))
            .collect::<anyhow::Result<_>>()?;
        let mut builder = match urls.as_slice() {
            [one] => TransportBuilder::new(SingleNodeConnectionPool::new(one.clone())),
            many => TransportBuilder::new(MultiNodeConnectionPool::round_robin(many.to_vec(), None)),
        };
        builder = builder.timeout(c.bulk.request_timeout);

        let header_auth = if let Some(user) = &c.username {
            let pw = secret::resolve(&c.password, &c.password_file, "elasticsearch.password")
                .map_err(anyhow::Error::msg)?
                .unwrap_or_default();
            Some(Credentials::Basic(user.clone(), pw.expose().to_owned()))
        } else if let Some(key) =
            secret::resolve(&c.api_key, &c.api_key_file, "elasticsearch.api_key").map_err(anyhow::Error::msg)?
        {
            Some(Credentials::EncodedApiKey(key.expose().to_owned()))
        } else {
            secret::resolve(&c.bearer_token, &c.bearer_token_file, "elasticsearch.bearer_token")
                .map_err(anyhow::Error::msg)?
                .map(|t| Credentials::Bearer(t.expose().to_owned()))
        };

        if let (Some(cert), Some(key)) = (&c.client_cert_file, &c.client_key_file) {
            let mut pem = std::fs::read(key).with_context(|| format!("cannot read client key {}", key.display()))?;
            pem.extend(
                std::fs::read(cert).with_context(|| format!("cannot read client certificate {}", cert.display()))?,
            );
            builder = builder.auth(Credentials::Certificate(ClientCertificate::Pem(pem)));
            // The transport takes one credential; with a client certificate,
            // any other auth goes in a default header.
            if let Some(h) = header_auth.map(authorization_header).transpose()? {
                builder = builder.header(AUTHORIZATION, h);
            }
        } else if let Some(creds) = header_auth {
            builder = builder.auth(creds);
        }
        if let Some(ca) = &c.ca_file {
            let pem = std::fs::read(ca).with_context(|| format!("cannot read CA file {}", ca.display()))?;
            let cert =
                Certificate::from_pem(&pem).with_context(|| format!("invalid PEM in CA file {}", ca.display()))?;
            builder = builder.cert_validation(CertificateValidation::Full(cert));
        }
        let transport = builder.build().context("cannot build the Elasticsearch client")?;
        Ok(EsClient {
            transport,
            timeout: c.bulk.request_timeout,
            url: c.urls.first().cloned().unwrap_or_default(),
        })
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        headers: HeaderMap,
        body: Option<Bytes>,
    ) -> Result<Reply, elasticsearch::Error> {
        let response = self
            .transport
            .send(method, path, headers, None::<&()>, body, Some(self.timeout))
            .await?;
        let status = response.status_code().as_u16();
        let body = response.bytes().await?;
        Ok(Reply { status, body })
    }

    /// `GET /`: cluster name and version.
    pub async fn info(&self) -> Result<Value, String> {
        let reply = self
            .send(Method::Get, "/", HeaderMap::new(), None)
            .await
            .map_err(|e| e.to_string())?;
        if !(200..300).contains(&reply.status) {
            return Err(format!("HTTP {}: {}", reply.status, excerpt(&reply.body)));
        }
        serde_json::from_slice(&reply.body).map_err(|e| format!("not an Elasticsearch answer: {e}"))
    }

    /// `POST /_bulk` with a pre-built NDJSON body.
    pub async fn bulk(&self, body: &Body) -> Result<Reply, elasticsearch::Error> {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/x-ndjson"));
        if body.gzip {
            headers.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        self.send(Method::Post, "/_bulk", headers, Some(body.bytes.clone()))
            .await
    }

    /// Any JSON request; the answer whatever its status (callers branch on
    /// 404 and 409). `Err` only when no answer came.
    pub async fn json(&self, method: Method, path: &str, body: Option<&Value>) -> Result<Reply, String> {
        let mut headers = HeaderMap::new();
        let bytes = match body {
            Some(b) => {
                headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                Some(Bytes::from(serde_json::to_vec(b).map_err(|e| e.to_string())?))
            }
            None => None,
        };
        self.send(method, path, headers, bytes).await.map_err(|e| e.to_string())
    }

    /// `PUT /_index_template/<name>`.
    pub async fn put_index_template(&self, name: &str, template: &Value) -> Result<(), String> {
        let body = Bytes::from(serde_json::to_vec(template).map_err(|e| e.to_string())?);
        let path = format!(
            "/_index_template/{}",
            percent_encoding::utf8_percent_encode(name, percent_encoding::NON_ALPHANUMERIC)
        );
        let reply = self
            .send(Method::Put, &path, HeaderMap::new(), Some(body))
            .await
            .map_err(|e| e.to_string())?;
        if (200..300).contains(&reply.status) {
            Ok(())
        } else {
            Err(format!("HTTP {}: {}", reply.status, excerpt(&reply.body)))
        }
    }
}

fn authorization_header(c: Credentials) -> anyhow::Result<HeaderValue> {
    use base64::Engine;
    let text = match c {
        Credentials::Basic(u, p) => format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
        ),
        Credentials::EncodedApiKey(k) => format!("ApiKey {k}"),
        Credentials::Bearer(t) => format!("Bearer {t}"),
        _ => anyhow::bail!("unsupported credential combination"),
    };
    let mut h = HeaderValue::from_str(&text).context("credentials contain characters not allowed in a header")?;
    h.set_sensitive(true);
    Ok(h)
}

/// The start of a response body, for error messages.
pub fn excerpt(body: &[u8]) -> String {
    let s = String::from_utf8_lossy(&body[..body.len().min(512)]);
    s.replace('\n', " ")
}
