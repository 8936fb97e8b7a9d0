//! Email delivery over SMTP (STARTTLS, implicit TLS or, for a local relay,
//! plain), with optional auth, as a multipart/alternative message with a
//! plain-text and an HTML body. TLS is rustls with the webpki roots.

use std::time::Duration;

use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::Notification;
use super::retry::DeliveryError;
use super::templates;
use crate::alert::config::{EmailConfig, SmtpTls};
use crate::secret;

/// A configured SMTP receiver.
pub struct EmailSender {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    to: Vec<Mailbox>,
    subject_prefix: String,
}

impl EmailSender {
    /// Builds the transport; connects only when sending.
    pub fn new(c: &EmailConfig, timeout: Duration) -> Result<Self, String> {
        let builder = match c.tls {
            SmtpTls::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&c.host),
            SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&c.host),
            SmtpTls::None => Ok(AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&c.host)),
        }
        .map_err(|e| format!("cannot set up SMTP to {}: {e}", c.host))?;
        let port = c.port.unwrap_or(match c.tls {
            SmtpTls::Starttls => 587,
            SmtpTls::Tls => 465,
            SmtpTls::None => 25,
        });
        let mut builder = builder.port(port).timeout(Some(timeout));
        if let Some(user) = &c.username {
            let pw = secret::resolve(&c.password, &c.password_file, "password")?.unwrap_or_default();
            builder = builder.credentials(Credentials::new(user.clone(), pw.expose().to_owned()));
        }
        let from = c
            .from
            .parse()
            .map_err(|e| format!("from: `{}` is not a mailbox: {e}", c.from))?;
        let to =
            c.to.iter()
                .map(|t| t.parse().map_err(|e| format!("to: `{t}` is not a mailbox: {e}")))
                .collect::<Result<_, _>>()?;
        Ok(EmailSender {
            transport: builder.build(),
            from,
            to,
            subject_prefix: c.subject_prefix.clone(),
        })
    }

    /// The message for `n`.
    pub fn message(&self, n: &Notification) -> Result<Message, String> {
        let subject = format!(
            "{} {}: {}",
            self.subject_prefix,
            templates::title(n),
            templates::summary(n)
        );
        let mut b = Message::builder().from(self.from.clone()).subject(subject.trim());
        for to in &self.to {
            b = b.to(to.clone());
        }
        // Lets mail filters and the audit trail match a message to its alert.
        b = b.raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str("X-Sluice-Alert-Id"),
            n.id.clone(),
        ));
        b.multipart(MultiPart::alternative_plain_html(
            templates::plain_text(n),
            templates::html(n),
        ))
        .map_err(|e| format!("cannot build the message: {e}"))
    }

    /// One delivery attempt.
    pub async fn send(&self, n: &Notification) -> Result<(), DeliveryError> {
        let msg = self.message(n).map_err(DeliveryError::Permanent)?;
        match self.transport.send(msg).await {
            Ok(_) => Ok(()),
            // 5xx replies (unknown recipient, auth rejected) will not change.
            Err(e) if e.is_permanent() => Err(DeliveryError::Permanent(format!("SMTP: {e}"))),
            Err(e) => Err(DeliveryError::Retryable(format!("SMTP: {e}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn message_has_both_bodies_and_the_alert_id() {
        let c: EmailConfig = serde_yaml::from_str(
            "{host: localhost, tls: none, from: 'Sluice <alerts@example.com>', to: [oncall@example.com, b@example.com]}",
        )
        .unwrap();
        let s = EmailSender::new(&c, Duration::from_secs(5)).unwrap();
        let n = crate::alert::notify::templates::tests::sample_notification();
        let raw = String::from_utf8(s.message(&n).unwrap().formatted()).unwrap();
        assert!(
            raw.contains("Subject: [sluice] [FIRING] app-error-burst (service.name=api): 42 in 5m"),
            "{raw}"
        );
        assert!(
            raw.contains("X-Sluice-Alert-Id: app-error-burst/api/1709294700000/firing"),
            "{raw}"
        );
        assert!(raw.contains("multipart/alternative"));
        assert!(raw.contains("text/plain") && raw.contains("text/html"));
        assert!(raw.contains("To: oncall@example.com, b@example.com"), "{raw}");
    }
}
