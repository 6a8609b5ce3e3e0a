//! Sending one delivery to its channel: webhooks posted with `reqwest`, mail handed
//! to the configured SMTP server with `lettre` (tokio, rustls). Sealed URLs and
//! secrets are opened here, just before the send, and never enter an error: a
//! failure names what went wrong and the masked target only. Every send is bounded
//! by the configured timeout.

use std::sync::Arc;
use std::time::Duration;

use inquest_access::seal::Keyring;
use inquest_ops::channels::{Channel, ChannelTarget, Delivery};
use lettre::message::header::ContentType;
use lettre::message::{Mailbox, Message};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use crate::message;

/// Why a send did not go through; the message holds no secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SendError(pub String);

/// How mail leaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain SMTP (a relay on the same host or network).
    None,
    /// SMTP upgraded with STARTTLS (port 587).
    StartTls,
    /// SMTP over TLS from the first byte (port 465).
    Tls,
}

#[derive(Clone)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub from: String,
    pub username: Option<String>,
    pub password: Option<String>,
    pub tls: SmtpTls,
}

impl std::fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("from", &self.from)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("tls", &self.tls)
            .finish()
    }
}

struct Smtp {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

/// The senders of every kind, sharing one HTTP client and the SMTP transport.
#[derive(Clone)]
pub struct Senders {
    http: reqwest::Client,
    smtp: Option<Arc<Smtp>>,
    keyring: Arc<Keyring>,
    public_url: String,
    timeout: Duration,
}

impl Senders {
    /// `keyring` opens the channels' sealed URLs and secrets.
    pub fn new(
        keyring: Arc<Keyring>,
        public_url: &str,
        timeout: Duration,
        smtp: Option<&SmtpConfig>,
    ) -> Result<Senders, SendError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            // A webhook URL that redirects is not followed: the redirect could lead anywhere.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| SendError(format!("cannot build the HTTP client: {e}")))?;
        let smtp = smtp.map(|c| smtp_transport(c, timeout)).transpose()?.map(Arc::new);
        Ok(Senders { http, smtp, keyring, public_url: public_url.to_string(), timeout })
    }

    /// Sends `delivery` to `channel`, within the timeout.
    pub async fn send(&self, channel: &Channel, delivery: &Delivery) -> Result<(), SendError> {
        match tokio::time::timeout(self.timeout, self.send_inner(channel, delivery)).await {
            Ok(r) => r,
            Err(_) => Err(SendError(format!("no answer within {} s", self.timeout.as_secs()))),
        }
    }

    fn open(&self, what: &str, sealed: &str) -> Result<String, SendError> {
        self.keyring.open(sealed).map_err(|e| SendError(format!("the channel's {what} does not open: {e}")))
    }

    async fn send_inner(&self, channel: &Channel, delivery: &Delivery) -> Result<(), SendError> {
        let notice = &delivery.notice;
        match &channel.target {
            ChannelTarget::Slack { webhook_url_sealed, hint } => {
                let url = self.open("webhook URL", webhook_url_sealed)?;
                let body = message::slack(notice, &self.public_url).to_string().into_bytes();
                self.post(&url, hint, body, None, delivery).await
            }
            ChannelTarget::Webhook { url_sealed, hint, secret_sealed } => {
                let url = self.open("URL", url_sealed)?;
                let secret = secret_sealed.as_deref().map(|s| self.open("secret", s)).transpose()?;
                let body = message::webhook(notice, &self.public_url).to_string().into_bytes();
                let signature = secret.map(|s| message::signature(&s, &body));
                self.post(&url, hint, body, signature, delivery).await
            }
            ChannelTarget::Email { to } => {
                let Some(smtp) = &self.smtp else {
                    return Err(SendError("no SMTP server is configured ([notify.smtp])".into()));
                };
                let (subject, body) = message::email(notice, &self.public_url);
                let mut mail = Message::builder().from(smtp.from.clone()).subject(subject);
                for a in to {
                    let mailbox: Mailbox =
                        a.parse().map_err(|e| SendError(format!("'{a}' is not a mail address: {e}")))?;
                    mail = mail.to(mailbox);
                }
                let mail = mail
                    .header(ContentType::TEXT_PLAIN)
                    .body(body)
                    .map_err(|e| SendError(format!("cannot build the mail: {e}")))?;
                smtp.transport.send(mail).await.map_err(|e| SendError(format!("the SMTP server refused: {e}")))?;
                Ok(())
            }
        }
    }

    async fn post(
        &self,
        url: &str,
        hint: &str,
        body: Vec<u8>,
        signature: Option<String>,
        delivery: &Delivery,
    ) -> Result<(), SendError> {
        let mut req = self
            .http
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(message::DELIVERY_HEADER, delivery.delivery_id.to_string())
            .body(body);
        if let Some(s) = signature {
            req = req.header(message::SIGNATURE_HEADER, s);
        }
        // `without_url`: the URL is the credential of a webhook.
        let answer = req.send().await.map_err(|e| SendError(format!("{hint} did not answer: {}", e.without_url())))?;
        let status = answer.status();
        if status.is_success() {
            return Ok(());
        }
        Err(SendError(format!("{hint} answered {status}")))
    }
}

fn smtp_transport(c: &SmtpConfig, timeout: Duration) -> Result<Smtp, SendError> {
    let from: Mailbox =
        c.from.parse().map_err(|e| SendError(format!("notify.smtp.from '{}' is not a mail address: {e}", c.from)))?;
    let builder = match c.tls {
        SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&c.host),
        SmtpTls::StartTls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&c.host)
            .map_err(|e| SendError(format!("notify.smtp: {e}")))?,
        SmtpTls::Tls => {
            AsyncSmtpTransport::<Tokio1Executor>::relay(&c.host).map_err(|e| SendError(format!("notify.smtp: {e}")))?
        }
    };
    let mut builder = builder.port(c.port).timeout(Some(timeout));
    if let (Some(user), Some(password)) = (&c.username, &c.password) {
        builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
    }
    Ok(Smtp { transport: builder.build(), from })
}
