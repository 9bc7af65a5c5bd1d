//! The mail subscribers get: the confirmation of a request, and an update. Text and
//! HTML parts from `templates/subscriptions/`; the incident's public text only, with
//! a link to its page. A confirmation carries nothing of the request but the address
//! it goes to: what was asked for is shown by the page its link opens, so no text a
//! stranger typed into the form is ever mailed in the operator's name. Every update carries `List-Unsubscribe` and
//! `List-Unsubscribe-Post: List-Unsubscribe=One-Click` (RFC 8058).
//!
//! An update's mail is rendered once ([`Composer::prepare`]); each subscriber's copy
//! differs only in its links, put in place by [`Prepared::mail`].

use std::sync::LazyLock;

use minijinja::{Environment, context};

use super::address::SubscriberId;
use super::token::{CONFIRM_TTL, Purpose, Token, TokenKey};
use super::update::Update;
use crate::mail::{Mail, header_safe};
use crate::site::render::{escape_text, to_text};
use crate::templates::RenderError;
use crate::time::Timestamp;

static TEMPLATES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    crate::templates::environment(&[
        (
            "confirm.subject.txt",
            include_str!("../../templates/subscriptions/confirm.subject.txt"),
        ),
        (
            "confirm.txt",
            include_str!("../../templates/subscriptions/confirm.txt"),
        ),
        (
            "confirm.html",
            include_str!("../../templates/subscriptions/confirm.html"),
        ),
        (
            "update.subject.txt",
            include_str!("../../templates/subscriptions/update.subject.txt"),
        ),
        (
            "update.txt",
            include_str!("../../templates/subscriptions/update.txt"),
        ),
        (
            "update.html",
            include_str!("../../templates/subscriptions/update.html"),
        ),
    ])
});

/// Published text longer than this goes into mail shortened, with the page's link.
pub const MAX_TEXT_CHARS: usize = 20_000;
/// Published HTML longer than this goes into mail as its shortened text.
pub const MAX_HTML_BYTES: usize = 64 * 1024;

pub const CONFIRM_PATH: &str = "/subscribe/confirm";
pub const UNSUBSCRIBE_PATH: &str = "/unsubscribe";
pub const MANAGE_PATH: &str = "/subscriptions";

// Where each subscriber's links go in a prepared mail: NUL never reaches a template
// from published text (it is removed first).
const UNSUBSCRIBE_MARK: &str = "\0U\0";
const MANAGE_MARK: &str = "\0M\0";

fn render(name: &str, ctx: &minijinja::Value) -> Result<String, RenderError> {
    crate::templates::render(&TEMPLATES, name, ctx)
}

/// What every mail needs: the sender, where links point, the signing key.
#[derive(Clone)]
pub struct Composer {
    pub site_title: String,
    pub from: String,
    /// `PUBLIC_API_URL`, without a trailing slash.
    pub api: String,
    /// `STATUS_PAGE_URL`, without a trailing slash.
    pub page: Option<String>,
    pub key: TokenKey,
    /// `PAGE_LANGUAGE`: the language of the mail and its dates.
    pub language: crate::i18n::Language,
}

impl Composer {
    /// A link to one of the subscription routes, with its token: for the
    /// subscription that began at `subscription` (Unix milliseconds; none for a
    /// confirmation).
    pub fn link(
        &self,
        path: &str,
        purpose: Purpose,
        id: &SubscriberId,
        subscription: Option<i64>,
        issued: Timestamp,
    ) -> String {
        let token = self.key.sign(&Token {
            purpose,
            subscriber: id.clone(),
            issued: issued.timestamp(),
            subscription,
        });
        format!("{}{path}?token={token}", self.api)
    }

    /// `<updates.<sender's domain>>`: RFC 2919's list id, by which mail clients
    /// file and offer to unsubscribe.
    fn list_id(&self) -> String {
        let domain = self
            .from
            .rsplit_once('@')
            .map_or("openmic", |(_, d)| d.trim_end_matches('>'));
        format!("{} <updates.{domain}>", header_safe(&self.site_title))
    }

    /// The mail that asks `address` to confirm its request (`change`: it is
    /// subscribed already and asked for another choice), its token issued at
    /// `issued`. What was asked for is not in it: the link's page shows it.
    pub fn confirmation(
        &self,
        address: &str,
        id: &SubscriberId,
        issued: Timestamp,
        change: bool,
    ) -> Result<Mail, RenderError> {
        let confirm_url = self.link(CONFIRM_PATH, Purpose::Confirm, id, None, issued);
        let ctx = context! {
            lang => self.language.code(),
            site_title => &self.site_title,
            address => address,
            confirm_url => confirm_url,
            hours => CONFIRM_TTL.num_hours(),
            status_page_url => &self.page,
            change => change,
        };
        let subject = render("confirm.subject.txt", &ctx)?.trim().to_owned();
        let ctx = context! { subject => &subject, ..ctx };
        Ok(Mail {
            parts: Vec::new(),
            from: self.from.clone(),
            to: vec![address.to_owned()],
            subject,
            text: render("confirm.txt", &ctx)?,
            html: render("confirm.html", &ctx)?,
            date: issued,
            message_id: format!("<confirm.{}.{}@openmic>", id.short(), issued.timestamp()),
            in_reply_to: None,
            headers: vec![("Auto-Submitted".into(), "auto-generated".into())],
        })
    }

    /// An update's mail, rendered once for every subscriber.
    pub fn prepare(&self, update: &Update) -> Result<Prepared, RenderError> {
        let clean = |s: &str| s.replace('\0', "");
        // An audience's update links into its page, under `/<audience>/`; a component's
        // state (no incident of its own) to the page itself.
        let base = self.page.as_ref().map(|p| match &update.audience {
            Some(a) => format!("{p}/{a}"),
            None => p.clone(),
        });
        let component = update.kind == super::update::UpdateKind::Component;
        let page_url = base.as_ref().map(|p| match component {
            true => format!("{p}/"),
            false => format!("{p}/{}", crate::site::incident_page_key(update.incident.id)),
        });
        let mut html = clean(&update.html);
        if let Some(p) = &base {
            // Copied uploads are linked relative to the bucket's root.
            html = html
                .replace("src=\"data/incident/", &format!("src=\"{p}/data/incident/"))
                .replace(
                    "href=\"data/incident/",
                    &format!("href=\"{p}/data/incident/"),
                );
        }
        let mut text = to_text(&html);
        if text.chars().count() > MAX_TEXT_CHARS {
            text = text.chars().take(MAX_TEXT_CHARS).collect::<String>() + " …";
        }
        if html.len() > MAX_HTML_BYTES {
            html = format!("<p>{}</p>", escape_text(&text).replace('\n', "<br>"));
        }
        let title_html = clean(&update.incident.title);
        let title = to_text(&title_html);
        let cat = crate::i18n::catalogue(self.language);
        // A component's states are named as the page names them.
        let named = |s: &str| match component {
            true => cat.text_or(&format!("status.{s}"), s).to_owned(),
            false => stage_name(cat, s),
        };
        let previous_stage_name = update
            .previous_stage
            .as_deref()
            .map(named)
            .unwrap_or_default();
        let severity = update.incident.severity.as_deref();
        let severity_name = severity.map(|s| cat.text_or(&format!("severity.{s}"), s));
        let window = update.incident.window.map(|w| {
            context! { start => cat.date_time(&w.starts_at), end => cat.date_time(&w.ends_at) }
        });
        let ctx = context! {
            lang => self.language.code(),
            window => window,
            site_title => &self.site_title,
            kind => update.kind.as_str(),
            title => &title,
            title_html => &title_html,
            stage_name => named(&update.incident.stage),
            previous_stage_name => previous_stage_name,
            severity_name => severity_name,
            components => &update.incident.components,
            html => &html,
            text => &text,
            page_url => &page_url,
            unsubscribe_url => UNSUBSCRIBE_MARK,
            manage_url => MANAGE_MARK,
        };
        let subject = header_safe(render("update.subject.txt", &ctx)?.trim());
        let ctx = context! { subject => &subject, ..ctx };
        Ok(Prepared {
            update_id: update.id.clone(),
            incident: update.incident.id,
            first: update.kind == super::update::UpdateKind::Published,
            text: render("update.txt", &ctx)?,
            html: render("update.html", &ctx)?,
            subject,
            from: self.from.clone(),
            list_id: self.list_id(),
        })
    }
}

/// A stage as the catalogue names it (`stage.identified`: `Identified`); a stage it
/// does not know, capitalised with spaces (`under_review`: `Under review`).
fn stage_name(cat: &crate::i18n::Catalogue, stage: &str) -> String {
    let known = cat.text_or(&format!("stage.{stage}"), "");
    if !known.is_empty() {
        return known.to_owned();
    }
    super::problem::capitalized(&stage.replace('_', " "))
}

/// An update's mail without its recipient.
#[derive(Debug, Clone)]
pub struct Prepared {
    update_id: String,
    incident: u64,
    /// The incident's first mail: the others of the incident reply to it.
    first: bool,
    subject: String,
    text: String,
    html: String,
    from: String,
    list_id: String,
}

impl Prepared {
    /// The copy for one subscriber, sent at `now`: its own links (for its
    /// subscription, which began at `subscription`), and threaded with the
    /// incident's other mails to it.
    pub fn mail(
        &self,
        composer: &Composer,
        to: &str,
        id: &SubscriberId,
        subscription: Option<i64>,
        now: Timestamp,
    ) -> Mail {
        let unsubscribe = composer.link(
            UNSUBSCRIBE_PATH,
            Purpose::Unsubscribe,
            id,
            subscription,
            now,
        );
        let manage = composer.link(MANAGE_PATH, Purpose::Manage, id, subscription, now);
        let fill = |body: &str| {
            body.replace(UNSUBSCRIBE_MARK, &unsubscribe)
                .replace(MANAGE_MARK, &manage)
        };
        let thread = format!("<incident-{}.{}@openmic>", self.incident, id.short());
        let (message_id, in_reply_to) = if self.first {
            (thread, None)
        } else {
            let update = hex::encode(
                &<sha2::Sha256 as sha2::Digest>::digest(self.update_id.as_bytes())[..8],
            );
            (
                format!("<update-{update}.{}@openmic>", id.short()),
                Some(thread),
            )
        };
        Mail {
            parts: Vec::new(),
            from: self.from.clone(),
            to: vec![to.to_owned()],
            subject: self.subject.clone(),
            text: fill(&self.text),
            html: fill(&self.html),
            date: now,
            message_id,
            in_reply_to,
            headers: vec![
                ("List-Unsubscribe".into(), format!("<{unsubscribe}>")),
                (
                    "List-Unsubscribe-Post".into(),
                    "List-Unsubscribe=One-Click".into(),
                ),
                ("List-Id".into(), self.list_id.clone()),
                ("Auto-Submitted".into(), "auto-generated".into()),
                ("Precedence".into(), "bulk".into()),
            ],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;
    use crate::subscriptions::update::{Subject, UpdateKind};

    /// When the tests' subscription began (Unix milliseconds).
    const SINCE: i64 = 1_796_000_000_000;

    pub(crate) fn composer() -> Composer {
        Composer {
            site_title: "Service status".into(),
            from: "status@example.com".into(),
            api: "https://api.example.com".into(),
            page: Some("https://status.example.com".into()),
            key: TokenKey::new(&Secret::new("0123456789abcdef0123456789abcdef")),
            language: crate::i18n::Language::En,
        }
    }

    fn update(kind: UpdateKind, html: &str) -> Update {
        Update {
            id: format!("7.{}", kind.as_str()),
            kind,
            at: crate::time::parse("2026-12-01T09:00:00Z").unwrap(),
            incident: Subject {
                id: 7,
                title: "API errors &amp; timeouts 🔥".into(),
                status: "opened".into(),
                stage: "identified".into(),
                components: vec!["api".into()],
                severity: Some("high".into()),
                window: None,
            },
            html: html.into(),
            previous_stage: None,
            audience: None,
        }
    }

    #[test]
    fn an_update_mail_with_its_links_and_headers() {
        let c = composer();
        let now = crate::time::parse("2026-12-01T09:01:00Z").unwrap();
        let id = SubscriberId::of("reader@example.com");
        let p = c
            .prepare(&update(
                UpdateKind::Comment,
                "<p>Fix deployed <img src=\"data/incident/7/0123456789abcdef0123456789abcdef/a.png\" alt=\"graph\">\0</p>",
            ))
            .unwrap();
        let mail = p.mail(&c, "reader@example.com", &id, Some(SINCE), now);
        assert_eq!(
            mail.subject,
            "[Service status] Update: API errors & timeouts 🔥"
        );
        let unsubscribe = c.link(
            UNSUBSCRIBE_PATH,
            Purpose::Unsubscribe,
            &id,
            Some(SINCE),
            now,
        );
        assert!(unsubscribe.starts_with("https://api.example.com/unsubscribe?token="));
        assert!(
            mail.headers
                .contains(&("List-Unsubscribe".into(), format!("<{unsubscribe}>")))
        );
        assert!(mail.headers.contains(&(
            "List-Unsubscribe-Post".into(),
            "List-Unsubscribe=One-Click".into()
        )));
        for body in [&mail.text, &mail.html] {
            assert!(body.contains(&unsubscribe), "{body}");
            assert!(
                body.contains("https://api.example.com/subscriptions?token="),
                "{body}"
            );
            assert!(
                body.contains("https://status.example.com/incidents/7.html"),
                "{body}"
            );
            assert!(!body.contains('\0'));
        }
        assert!(
            mail.text.contains("Fix deployed [image: graph]"),
            "{}",
            mail.text
        );
        assert!(
            mail.html
                .contains("src=\"https://status.example.com/data/incident/7/"),
            "{}",
            mail.html
        );
        assert!(
            mail.html.contains("API errors &amp; timeouts"),
            "{}",
            mail.html
        );
        assert_eq!(
            mail.in_reply_to.as_deref(),
            Some(format!("<incident-7.{}@openmic>", id.short()).as_str())
        );
        // The RFC 5322 form carries the headers; another reader's copy has its own links.
        let raw = String::from_utf8(mail.to_rfc5322().unwrap()).unwrap();
        assert!(
            raw.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"),
            "{raw}"
        );
        let other = p.mail(
            &c,
            "other@example.com",
            &SubscriberId::of("other@example.com"),
            Some(SINCE),
            now,
        );
        assert_ne!(other.text, mail.text);
        assert!(!other.text.contains(&unsubscribe));
    }

    /// A right-to-left override in an incident's title would make the subject read
    /// otherwise than it is: it never reaches the subject, nor the mail sent.
    #[test]
    fn no_bidirectional_control_reaches_the_subject() {
        let c = composer();
        let now = crate::time::parse("2026-12-01T09:01:00Z").unwrap();
        let id = SubscriberId::of("reader@example.com");
        let mut u = update(UpdateKind::Published, "<p>Errors.</p>");
        u.incident.title = "Invoice \u{202E}fdp.exe\u{202C} \u{2066}x\u{2069}\u{200F}".into();
        let mail = c
            .prepare(&u)
            .unwrap()
            .mail(&c, "reader@example.com", &id, Some(SINCE), now);
        assert_eq!(
            mail.subject,
            "[Service status] New incident: Invoice fdp.exe x"
        );
        let raw = String::from_utf8(mail.to_rfc5322().unwrap()).unwrap();
        assert!(!raw.contains('\u{202E}'), "{raw}");
    }

    #[test]
    fn headlines_by_kind() {
        let c = composer();
        let now = crate::time::parse("2026-12-01T09:01:00Z").unwrap();
        let id = SubscriberId::of("reader@example.com");
        let mut stage = update(UpdateKind::Stage, "");
        stage.previous_stage = Some("investigating".into());
        for (u, subject, line) in [
            (
                update(UpdateKind::Published, "<p>Errors.</p>"),
                "[Service status] New incident: API errors & timeouts 🔥",
                "A new incident was published",
            ),
            (
                stage,
                "[Service status] Identified: API errors & timeouts 🔥",
                "moved from Investigating to Identified",
            ),
            (
                update(UpdateKind::Closed, ""),
                "[Service status] Resolved: API errors & timeouts 🔥",
                "resolved and closed",
            ),
            (
                update(UpdateKind::Reopened, ""),
                "[Service status] Reopened: API errors & timeouts 🔥",
                "was reopened",
            ),
        ] {
            let mail = c
                .prepare(&u)
                .unwrap()
                .mail(&c, "reader@example.com", &id, Some(SINCE), now);
            assert_eq!(mail.subject, subject);
            assert!(mail.text.contains(line), "{}", mail.text);
            assert!(mail.html.contains(line), "{}", mail.html);
        }
    }

    #[test]
    fn long_text_is_shortened() {
        let c = composer();
        let long = format!("<p>{}</p>", "word ".repeat(30_000));
        let p = c.prepare(&update(UpdateKind::Published, &long)).unwrap();
        let mail = p.mail(
            &c,
            "r@example.com",
            &SubscriberId::of("r@example.com"),
            Some(SINCE),
            crate::time::parse("2026-12-01T09:01:00Z").unwrap(),
        );
        assert!(
            mail.text.len() < 25_000 && mail.text.contains(" …"),
            "{}",
            mail.text.len()
        );
        assert!(mail.html.len() < 40_000, "{}", mail.html.len());
        assert_eq!(
            mail.in_reply_to, None,
            "an incident's first mail starts its thread"
        );
    }

    #[test]
    fn a_confirmation_mail() {
        let c = composer();
        let now = crate::time::parse("2026-12-01T09:00:00Z").unwrap();
        let id = SubscriberId::of("reader@example.com");
        let mail = c
            .confirmation("reader@example.com", &id, now, false)
            .unwrap();
        let url = c.link(CONFIRM_PATH, Purpose::Confirm, &id, None, now);
        assert!(mail.text.contains(&url) && mail.html.contains(&url));
        assert!(
            !mail.text.contains("updates about") && !mail.text.contains("every update"),
            "what was asked for is on the link's page, not in the mail: {}",
            mail.text
        );
        assert_eq!(
            mail.subject,
            "Confirm your subscription to Service status updates"
        );
        assert!(!mail.headers.iter().any(|(n, _)| n == "List-Unsubscribe"));
        assert_eq!(
            c.key
                .verify(url.rsplit_once("token=").unwrap().1, Purpose::Confirm, now)
                .unwrap()
                .subscriber,
            id
        );
        // The links of an update name the subscription.
        let u = c.link(
            UNSUBSCRIBE_PATH,
            Purpose::Unsubscribe,
            &id,
            Some(SINCE),
            now,
        );
        let token = c
            .key
            .verify(
                u.rsplit_once("token=").unwrap().1,
                Purpose::Unsubscribe,
                now,
            )
            .unwrap();
        assert_eq!(token.subscription, Some(SINCE));
    }
}
