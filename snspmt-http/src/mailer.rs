//! Outgoing e-mail: a [`Mailer`] trait, SMTP through `lettre` (`SNSPMT_SMTP_URL`), and a
//! log-only default for development.
//!
//! The log-only mailer writes the mail's recipient, subject and link at INFO level on standard
//! error, so that a local operator can follow a verification link without a mail server. That
//! line holds a live single-use token: do not run production without SMTP. The SMTP mailer
//! logs nothing of a mail but failures (recipient and error, never the text or token).

use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::{Message, SmtpTransport, Transport};

use crate::log;

/// One mail to one address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    /// Plain text.
    pub text: String,
    /// The action link the mail carries, for the log-only mailer.
    pub link: Option<String>,
}

/// Sends mail. Called on the blocking pool: implementations may block.
pub trait Mailer: Send + Sync {
    fn send(&self, mail: &Mail) -> Result<(), String>;
}

/// Writes mail to the log instead of sending it (no `SNSPMT_SMTP_URL`).
pub struct LogMailer;

impl Mailer for LogMailer {
    fn send(&self, mail: &Mail) -> Result<(), String> {
        log::info(&format!(
            "mail (log only, SNSPMT_SMTP_URL unset) to {}: {}{}",
            mail.to,
            mail.subject,
            mail.link.as_deref().map(|l| format!(" — {l}")).unwrap_or_default()
        ));
        Ok(())
    }
}

/// Sends through an SMTP server.
pub struct SmtpMailer {
    transport: SmtpTransport,
    from: Mailbox,
}

impl SmtpMailer {
    /// `url`: `smtp://user:pass@host:587?tls=required`, `smtps://host:465`, `smtp://localhost:25`
    /// (lettre's URL form); `from`: `Name <addr@host>` or `addr@host`.
    pub fn new(url: &str, from: &str, timeout: Duration) -> Result<SmtpMailer, String> {
        let from: Mailbox = from.parse().map_err(|e| format!("SNSPMT_MAIL_FROM: {e}"))?;
        let transport = SmtpTransport::from_url(url)
            .map_err(|e| format!("SNSPMT_SMTP_URL: {e}"))?
            .timeout(Some(timeout))
            .build();
        Ok(SmtpMailer { transport, from })
    }
}

impl Mailer for SmtpMailer {
    fn send(&self, mail: &Mail) -> Result<(), String> {
        let to: Mailbox = mail.to.parse().map_err(|e| format!("recipient: {e}"))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(mail.subject.clone())
            .header(ContentType::TEXT_PLAIN)
            .body(mail.text.clone())
            .map_err(|e| format!("message: {e}"))?;
        self.transport.send(&message).map(drop).map_err(|e| format!("smtp: {e}"))
    }
}

/// Whether `from` is a usable sender (checked at start-up).
pub fn valid_from(from: &str) -> bool {
    from.parse::<Mailbox>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smtp_settings_are_checked() {
        assert!(SmtpMailer::new(
            "smtp://localhost:2525",
            "snspmt <no-reply@example.com>",
            Duration::from_secs(1)
        )
        .is_ok());
        assert!(SmtpMailer::new("smtp://localhost:2525", "not an address", Duration::from_secs(1)).is_err());
        assert!(SmtpMailer::new("http://nope", "a@b.c", Duration::from_secs(1)).is_err());
        assert!(valid_from("a@b.c") && !valid_from("@@"));
        let m = Mail { to: "a@b.c".into(), subject: "s".into(), text: "t".into(), link: None };
        assert!(LogMailer.send(&m).is_ok());
    }
}
