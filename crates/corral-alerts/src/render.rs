//! Message bodies per channel, from an [`AlertMessage`].
//!
//! Every message says what happened (the headline), in which project and
//! environment, how often (times seen, or what a window condition counted),
//! since when (first seen), the top frame, and links to the issue (or to
//! the project's issues when there is no one issue: event-rate alerts,
//! tests). Text from events (titles, culprits, frames) is hostile: each
//! format escapes it its own way and cuts it to that format's limits.

use chrono::{DateTime, SecondsFormat, Utc};
use corral_core::alerts::{AlertKind, AlertMessage};
use corral_protocol::Level;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

/// The generic webhook body's version; fields are only added within one version.
pub const WEBHOOK_VERSION: u32 = 1;

/// At most `max` characters of `s`, ending in `…` when cut.
pub fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// One line: control characters (newlines too) become spaces.
fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_string()
}

fn when(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// "New issue in Backend (production)".
pub fn headline(msg: &AlertMessage) -> String {
    let env = msg
        .environment
        .as_deref()
        .map(|e| format!(" ({e})"))
        .unwrap_or_default();
    one_line(&format!(
        "{} in {}{}",
        msg.kind.headline(),
        msg.project_name,
        env
    ))
}

/// What the message is about: the issue's title, else what a window counted,
/// else the project.
pub fn title(msg: &AlertMessage) -> String {
    one_line(&match (&msg.issue, &msg.window) {
        (Some(i), _) => i.title.clone(),
        (None, Some(w)) => format!("{} events in {} min", w.count, w.minutes),
        (None, None) => match msg.kind {
            AlertKind::Test => format!("Test notification for {}", msg.project_name),
            _ => msg.project_name.clone(),
        },
    })
}

/// The subject of a mail and the fallback text of chat messages.
pub fn subject(msg: &AlertMessage) -> String {
    truncate(&one_line(&msg.subject()), 250)
}

/// What a window condition counted, in words.
fn window_text(msg: &AlertMessage) -> Option<String> {
    let w = msg.window.as_ref()?;
    let what = if msg.kind == AlertKind::Users {
        "users"
    } else {
        "events"
    };
    Some(format!(
        "{} {what} in {} min (threshold {})",
        w.count, w.minutes, w.threshold
    ))
}

/// The facts every format lists, as (label, value).
pub fn facts(msg: &AlertMessage) -> Vec<(&'static str, String)> {
    let mut out = vec![(
        "Project",
        format!(
            "{} ({}/{})",
            msg.project_name, msg.org_slug, msg.project_slug
        ),
    )];
    if let Some(env) = &msg.environment {
        out.push(("Environment", env.clone()));
    }
    if let Some(issue) = &msg.issue {
        out.push(("Level", issue.level.as_str().to_string()));
        out.push((
            "Seen",
            format!(
                "{} time{}",
                issue.times_seen,
                if issue.times_seen == 1 { "" } else { "s" }
            ),
        ));
        out.push(("First seen", when(issue.first_seen)));
    }
    if let Some(w) = window_text(msg) {
        out.push(("Window", w));
    }
    if let Some(frame) = msg.issue.as_ref().and_then(|i| i.top_frame.clone()) {
        out.push(("Top frame", frame));
    }
    if let Some(release) = &msg.release {
        out.push(("Release", release.clone()));
    }
    if let Some(rule) = &msg.rule_name {
        out.push(("Rule", rule.clone()));
    }
    if let Some(actor) = &msg.actor {
        out.push(("By", actor.clone()));
    }
    out.into_iter().map(|(k, v)| (k, one_line(&v))).collect()
}

fn link_text(msg: &AlertMessage) -> String {
    match &msg.issue {
        Some(i) => format!("Open {} in Corral", i.short_id),
        None => "Open the project in Corral".to_string(),
    }
}

// --- the generic webhook -------------------------------------------------------

/// The generic webhook's JSON body (version 1). Every key is always
/// present (`null` when it does not apply); new keys may be added, none
/// removed or renamed within a version.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WebhookBody {
    /// Always 1 for this shape.
    pub version: u32,
    /// What happened: `new_issue`, `regression`, `escalating`, `frequency`,
    /// `users`, `event_rate`, `resolved`, `assigned` or `test`.
    pub action: String,
    /// One line for people: `[backend] New issue: ZeroDivisionError: …`.
    pub summary: String,
    /// The issue's page (the project's issue list when there is no issue).
    pub url: String,
    /// When the alert was raised (RFC 3339).
    pub created_at: DateTime<Utc>,
    pub organization: WebhookOrganization,
    pub project: WebhookProject,
    pub environment: Option<String>,
    pub release: Option<String>,
    /// The rule that fired (`null` for tests and workflow messages).
    pub rule: Option<WebhookRule>,
    pub issue: Option<WebhookIssue>,
    /// What a window condition counted (`frequency`, `users`, `event_rate`).
    pub window: Option<WebhookWindow>,
    /// The event that decided it, 32 hex digits.
    pub event_id: Option<String>,
    /// Who did it (`resolved`, `assigned`).
    pub actor: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WebhookOrganization {
    pub slug: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WebhookProject {
    pub id: i64,
    pub slug: String,
    pub name: String,
    pub url: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WebhookRule {
    pub id: Option<i64>,
    pub name: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WebhookIssue {
    pub id: i64,
    pub short_id: String,
    pub title: String,
    pub culprit: String,
    pub level: Level,
    pub status: String,
    pub times_seen: i64,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    pub top_frame: Option<String>,
    pub url: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WebhookWindow {
    pub count: i64,
    pub threshold: i64,
    pub minutes: i64,
}

pub fn webhook(msg: &AlertMessage) -> WebhookBody {
    WebhookBody {
        version: WEBHOOK_VERSION,
        action: msg.kind.as_str().to_string(),
        summary: subject(msg),
        url: msg.link().to_string(),
        created_at: msg.created_at,
        organization: WebhookOrganization {
            slug: msg.org_slug.clone(),
        },
        project: WebhookProject {
            id: msg.project_id,
            slug: msg.project_slug.clone(),
            name: msg.project_name.clone(),
            url: msg.project_url.clone(),
        },
        environment: msg.environment.clone(),
        release: msg.release.clone(),
        rule: (msg.rule_id.is_some() || msg.rule_name.is_some()).then(|| WebhookRule {
            id: msg.rule_id,
            name: msg.rule_name.clone(),
        }),
        issue: msg.issue.as_ref().map(|i| WebhookIssue {
            id: i.id,
            short_id: i.short_id.clone(),
            title: i.title.clone(),
            culprit: i.culprit.clone(),
            level: i.level,
            status: i.status.clone(),
            times_seen: i.times_seen,
            first_seen: i.first_seen,
            last_seen: i.last_seen,
            top_frame: i.top_frame.clone(),
            url: i.url.clone(),
        }),
        window: msg.window.as_ref().map(|w| WebhookWindow {
            count: w.count,
            threshold: w.threshold,
            minutes: w.minutes,
        }),
        event_id: msg.event_id.map(|e: Uuid| e.simple().to_string()),
        actor: msg.actor.clone(),
    }
}

/// The webhook body as the bytes that are signed and sent.
pub fn webhook_json(msg: &AlertMessage) -> Vec<u8> {
    serde_json::to_vec(&webhook(msg)).expect("a webhook body serializes")
}

// --- Slack -----------------------------------------------------------------------

/// Slack's three control characters as entities (its mrkdwn and plain text
/// read `<…>` as links and mentions: `<!channel>`).
pub fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// `text` escaped for Slack, at most `max` characters once escaped (an
/// entity is never cut in half).
fn slack_text(text: &str, max: usize) -> String {
    let mut out = String::new();
    let mut len = 0;
    let total = text.chars().count();
    for (n, c) in text.chars().enumerate() {
        let piece = match c {
            '&' => "&amp;".to_string(),
            '<' => "&lt;".to_string(),
            '>' => "&gt;".to_string(),
            c => c.to_string(),
        };
        let piece_len = piece.chars().count();
        // keep room for the ellipsis unless this is the last character
        let reserve = usize::from(n + 1 < total);
        if len + piece_len + reserve > max {
            out.push('…');
            return out;
        }
        out.push_str(&piece);
        len += piece_len;
    }
    out
}

/// A Slack incoming-webhook message: `text` (notifications, old clients)
/// and Block Kit `blocks` (header ≤ 150 characters, section text ≤ 3000,
/// ≤ 10 fields of ≤ 2000 each).
pub fn slack(msg: &AlertMessage) -> Value {
    let s = slack_text;
    let mut lead = format!("*{}*", s(&title(msg), 1500));
    if let Some(issue) = &msg.issue
        && !issue.culprit.is_empty()
    {
        lead.push('\n');
        lead.push_str(&s(&one_line(&issue.culprit), 1000));
    }
    // a section has at most 10 fields
    let fields: Vec<Value> = facts(msg)
        .into_iter()
        .take(10)
        .map(|(label, value)| {
            json!({"type": "mrkdwn", "text": format!("*{label}*\n{}", s(&value, 1900))})
        })
        .collect();
    let context = match (&msg.issue, &msg.rule_name) {
        (Some(i), Some(rule)) => format!("{} · rule {} · Corral", i.short_id, rule),
        (Some(i), None) => format!("{} · Corral", i.short_id),
        (None, Some(rule)) => format!("rule {rule} · Corral"),
        (None, None) => "Corral".to_string(),
    };
    json!({
        "text": s(&subject(msg), 3000),
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": s(&headline(msg), 150), "emoji": false}},
            {"type": "section", "text": {"type": "mrkdwn", "text": lead}},
            {"type": "section", "fields": fields},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": s(&context, 300)}]},
            {"type": "actions", "elements": [{
                "type": "button",
                "text": {"type": "plain_text", "text": link_text(msg)},
                "url": msg.link(),
                "action_id": "corral_open",
            }]},
        ],
    })
}

// --- Discord ---------------------------------------------------------------------

pub const DISCORD_TITLE_MAX: usize = 256;
pub const DISCORD_DESCRIPTION_MAX: usize = 4096;
pub const DISCORD_FIELD_VALUE_MAX: usize = 1024;
pub const DISCORD_CONTENT_MAX: usize = 2000;
/// All of an embed's text together.
pub const DISCORD_EMBED_TOTAL_MAX: usize = 6000;

/// The colour of a level (resolved is green whatever the level).
pub fn colour(msg: &AlertMessage) -> u32 {
    if msg.kind == AlertKind::Resolved {
        return 0x2EB67D;
    }
    match msg.issue.as_ref().map(|i| i.level) {
        Some(Level::Fatal) => 0x8B0000,
        Some(Level::Error) => 0xE03E2F,
        Some(Level::Warning) => 0xF2A900,
        Some(Level::Info) => 0x3B82F6,
        Some(Level::Debug) => 0x9CA3AF,
        None => 0xE03E2F,
    }
}

/// A Discord webhook message: `content` and one embed. Mentions in event
/// text (`@everyone`) are never pinged (`allowed_mentions`).
pub fn discord(msg: &AlertMessage) -> Value {
    let embed_title = truncate(
        &format!("{}: {}", msg.kind.headline(), title(msg)),
        DISCORD_TITLE_MAX,
    );
    let fields: Vec<(String, String)> = facts(msg)
        .into_iter()
        .take(25)
        .map(|(k, v)| (k.to_string(), truncate(&v, DISCORD_FIELD_VALUE_MAX)))
        .collect();
    let footer = match &msg.rule_name {
        Some(rule) => truncate(&format!("Corral · rule {rule}"), 2048),
        None => "Corral".to_string(),
    };
    let mut description = String::new();
    if let Some(issue) = &msg.issue {
        description.push_str(&issue.culprit);
    }
    // what fits beside the rest of the embed
    let used = embed_title.chars().count()
        + footer.chars().count()
        + fields
            .iter()
            .map(|(k, v)| k.chars().count() + v.chars().count())
            .sum::<usize>();
    let room = DISCORD_EMBED_TOTAL_MAX
        .saturating_sub(used)
        .min(DISCORD_DESCRIPTION_MAX);
    let description = truncate(&description, room);
    let mut embed = json!({
        "title": embed_title,
        "url": msg.link(),
        "color": colour(msg),
        "fields": fields.iter().map(|(k, v)| json!({"name": k, "value": v, "inline": k != "Top frame"})).collect::<Vec<_>>(),
        "timestamp": rfc3339(msg.created_at),
        "footer": {"text": footer},
    });
    if !description.is_empty() {
        embed["description"] = Value::String(description);
    }
    json!({
        "content": truncate(&subject(msg), DISCORD_CONTENT_MAX),
        "embeds": [embed],
        "allowed_mentions": {"parse": []},
    })
}

// --- Microsoft Teams ---------------------------------------------------------------

/// A Teams workflow-webhook message: one Adaptive Card 1.4.
pub fn teams(msg: &AlertMessage) -> Value {
    let colour = match (msg.kind, msg.issue.as_ref().map(|i| i.level)) {
        (AlertKind::Resolved, _) => "Good",
        (_, Some(Level::Warning)) => "Warning",
        (_, Some(Level::Info | Level::Debug)) => "Accent",
        _ => "Attention",
    };
    let mut body = vec![
        json!({"type": "TextBlock", "text": truncate(&headline(msg), 300), "weight": "Bolder", "size": "Medium", "color": colour, "wrap": true}),
        json!({"type": "TextBlock", "text": truncate(&title(msg), 1000), "weight": "Bolder", "wrap": true}),
    ];
    if let Some(issue) = &msg.issue
        && !issue.culprit.is_empty()
    {
        body.push(json!({"type": "TextBlock", "text": truncate(&one_line(&issue.culprit), 1000), "isSubtle": true, "wrap": true}));
    }
    body.push(json!({
        "type": "FactSet",
        "facts": facts(msg).into_iter().map(|(k, v)| json!({"title": k, "value": truncate(&v, 1000)})).collect::<Vec<_>>(),
    }));
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "body": body,
                "actions": [{"type": "Action.OpenUrl", "title": link_text(msg), "url": msg.link()}],
                "msteams": {"width": "Full"},
            },
        }],
    })
}

// --- PagerDuty ---------------------------------------------------------------------

/// PagerDuty's limit on `payload.summary`.
pub const PAGERDUTY_SUMMARY_MAX: usize = 1024;

/// The incident key: one incident per issue (or per project's event rate),
/// so a resolve closes what the trigger opened.
pub fn pagerduty_dedup_key(msg: &AlertMessage) -> String {
    match (&msg.issue, msg.kind) {
        (Some(i), _) => format!("corral-issue-{}", i.id),
        (None, AlertKind::EventRate) => format!("corral-project-{}-event-rate", msg.project_id),
        (None, kind) => format!("corral-project-{}-{}", msg.project_id, kind.as_str()),
    }
}

/// PagerDuty's severity for a level: fatal → critical, error → error,
/// warning → warning, else info (no issue: warning).
pub fn pagerduty_severity(msg: &AlertMessage) -> &'static str {
    match msg.issue.as_ref().map(|i| i.level) {
        Some(Level::Fatal) => "critical",
        Some(Level::Error) => "error",
        Some(Level::Warning) | None => "warning",
        Some(Level::Info | Level::Debug) => "info",
    }
}

/// A PagerDuty Events API v2 event: `trigger`, or `resolve` for a resolved issue.
pub fn pagerduty(msg: &AlertMessage, routing_key: &str) -> Value {
    let dedup_key = pagerduty_dedup_key(msg);
    if msg.kind == AlertKind::Resolved {
        return json!({
            "routing_key": routing_key,
            "dedup_key": dedup_key,
            "event_action": "resolve",
        });
    }
    let mut details = serde_json::Map::new();
    details.insert("headline".into(), json!(headline(msg)));
    for (label, value) in facts(msg) {
        details.insert(
            label.to_ascii_lowercase().replace(' ', "_"),
            json!(truncate(&value, 1000)),
        );
    }
    if let Some(i) = &msg.issue {
        details.insert("issue".into(), json!(i.short_id));
        details.insert("culprit".into(), json!(truncate(&i.culprit, 1000)));
        details.insert("times_seen".into(), json!(i.times_seen));
    }
    let mut payload = json!({
        "summary": truncate(&subject(msg), PAGERDUTY_SUMMARY_MAX),
        "source": format!("{}/{}", msg.org_slug, msg.project_slug),
        "severity": pagerduty_severity(msg),
        "timestamp": rfc3339(msg.created_at),
        "group": msg.project_slug,
        "class": msg.kind.as_str(),
        "custom_details": details,
    });
    if let Some(i) = &msg.issue
        && !i.culprit.is_empty()
    {
        payload["component"] = json!(truncate(&one_line(&i.culprit), 255));
    }
    json!({
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": dedup_key,
        "payload": payload,
        "links": [{"href": msg.link(), "text": link_text(msg)}],
        "client": "Corral",
        "client_url": msg.project_url,
    })
}

// --- email -------------------------------------------------------------------------

/// Text for HTML: `& < > " '` as entities.
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The end of a mail: why the reader gets it, and the links that stop it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MailFooter {
    pub note: String,
    /// (label, URL), e.g. ("Stop mail about this issue", ".../unsubscribe/<token>/issue-7").
    pub links: Vec<(String, String)>,
}

/// A rendered mail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MailBody {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// A mail: the subject, a plain-text body and an HTML body with the same content.
pub fn email(msg: &AlertMessage, footer: &MailFooter) -> MailBody {
    let head = headline(msg);
    let title = truncate(&title(msg), 2000);
    let culprit = msg
        .issue
        .as_ref()
        .map(|i| truncate(&one_line(&i.culprit), 2000))
        .filter(|c| !c.is_empty());
    let facts = facts(msg);
    let link = msg.link();
    let link_label = link_text(msg);

    let mut text = format!("{head}\n\n{title}\n");
    if let Some(c) = &culprit {
        text.push_str(c);
        text.push('\n');
    }
    text.push('\n');
    for (k, v) in &facts {
        text.push_str(&format!("{k}: {}\n", truncate(v, 2000)));
    }
    text.push_str(&format!(
        "\n{link_label}:\n{link}\n\n-- \n{}\n",
        footer.note
    ));
    for (label, url) in &footer.links {
        text.push_str(&format!("{label}: {url}\n"));
    }

    let e = html_escape;
    let mut html = String::from(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"></head>\n\
         <body style=\"font-family: -apple-system, Segoe UI, Helvetica, Arial, sans-serif; color: #1f2328;\">\n",
    );
    html.push_str(&format!(
        "<p style=\"font-size: 13px; color: #57606a; margin: 0 0 4px;\">{}</p>\n",
        e(&head)
    ));
    html.push_str(&format!(
        "<h2 style=\"margin: 0 0 4px; font-size: 18px;\"><a href=\"{}\">{}</a></h2>\n",
        e(link),
        e(&title)
    ));
    if let Some(c) = &culprit {
        html.push_str(&format!(
            "<p style=\"margin: 0 0 12px; color: #57606a;\"><code>{}</code></p>\n",
            e(c)
        ));
    }
    html.push_str("<table style=\"border-collapse: collapse; font-size: 14px;\">\n");
    for (k, v) in &facts {
        html.push_str(&format!(
            "<tr><th style=\"text-align: left; padding: 2px 12px 2px 0; color: #57606a;\">{}</th><td style=\"padding: 2px 0;\">{}</td></tr>\n",
            e(k),
            e(&truncate(v, 2000))
        ));
    }
    html.push_str("</table>\n");
    html.push_str(&format!(
        "<p style=\"margin: 16px 0;\"><a href=\"{}\" style=\"background: #1f6feb; color: #ffffff; padding: 8px 14px; border-radius: 6px; text-decoration: none;\">{}</a></p>\n",
        e(link),
        e(&link_label)
    ));
    html.push_str(&format!(
        "<hr style=\"border: none; border-top: 1px solid #d0d7de;\">\n<p style=\"font-size: 12px; color: #57606a;\">{}",
        e(&footer.note)
    ));
    for (label, url) in &footer.links {
        html.push_str(&format!(
            "<br>\n<a href=\"{}\" style=\"color: #57606a;\">{}</a>",
            e(url),
            e(label)
        ));
    }
    html.push_str("</p>\n</body></html>\n");

    MailBody {
        subject: subject(msg),
        text,
        html,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use chrono::TimeZone;
    use corral_core::alerts::{AlertIssue, AlertWindow};

    pub(crate) fn message(kind: AlertKind) -> AlertMessage {
        let t = Utc.with_ymd_and_hms(2026, 12, 7, 22, 18, 0).unwrap();
        AlertMessage {
            kind,
            rule_id: Some(4),
            rule_name: Some("Page on-call".into()),
            org_slug: "acme".into(),
            project_id: 3,
            project_slug: "backend".into(),
            project_name: "Backend".into(),
            environment: Some("production".into()),
            release: Some("1.4.2".into()),
            issue: Some(AlertIssue {
                id: 17,
                short_id: "BACKEND-H".into(),
                title: "ZeroDivisionError: division by zero".into(),
                culprit: "app.views in checkout".into(),
                level: Level::Error,
                status: "unresolved".into(),
                times_seen: 42,
                first_seen: t - chrono::Duration::hours(3),
                last_seen: t,
                top_frame: Some("app/views.py in checkout at line 42".into()),
                url: "https://corral.example/organizations/acme/issues/17/".into(),
            }),
            window: None,
            event_id: Some(Uuid::from_u128(0xabc)),
            project_url: "https://corral.example/organizations/acme/issues/?project=3".into(),
            actor: None,
            created_at: t,
        }
    }

    pub(crate) fn hostile(kind: AlertKind) -> AlertMessage {
        let mut m = message(kind);
        let issue = m.issue.as_mut().unwrap();
        issue.title = format!(
            "<script>alert(1)</script> & <!channel> @everyone \"quoted\" 'single'\r\nBcc: x@evil.example {}",
            "A".repeat(10_000)
        );
        issue.culprit = format!("<img src=x onerror=alert(2)> {}", "c".repeat(10_000));
        issue.top_frame = Some(format!("<b>frame</b> {}", "f".repeat(5_000)));
        m.environment = Some("<env>".into());
        m
    }

    #[test]
    fn facts_say_what_where_how_often_since_when_and_the_frame() {
        let m = message(AlertKind::NewIssue);
        let f = facts(&m);
        let get = |k: &str| f.iter().find(|(l, _)| *l == k).map(|(_, v)| v.clone());
        assert_eq!(get("Project").unwrap(), "Backend (acme/backend)");
        assert_eq!(get("Environment").unwrap(), "production");
        assert_eq!(get("Seen").unwrap(), "42 times");
        assert_eq!(get("First seen").unwrap(), "2026-12-07 19:18 UTC");
        assert_eq!(
            get("Top frame").unwrap(),
            "app/views.py in checkout at line 42"
        );
        assert_eq!(get("Rule").unwrap(), "Page on-call");
        assert_eq!(headline(&m), "New issue in Backend (production)");
    }

    #[test]
    fn the_webhook_body_is_stable_snake_case() {
        let m = message(AlertKind::Regression);
        let v: Value = serde_json::from_slice(&webhook_json(&m)).unwrap();
        assert_eq!(v["version"], 1);
        assert_eq!(v["action"], "regression");
        assert_eq!(
            v["url"],
            "https://corral.example/organizations/acme/issues/17/"
        );
        assert_eq!(v["organization"]["slug"], "acme");
        assert_eq!(v["project"]["id"], 3);
        assert_eq!(v["project"]["slug"], "backend");
        assert_eq!(v["issue"]["short_id"], "BACKEND-H");
        assert_eq!(v["issue"]["times_seen"], 42);
        assert_eq!(v["issue"]["level"], "error");
        assert_eq!(v["issue"]["first_seen"], "2026-12-07T19:18:00Z");
        assert_eq!(
            v["issue"]["top_frame"],
            "app/views.py in checkout at line 42"
        );
        assert_eq!(v["rule"]["name"], "Page on-call");
        assert_eq!(v["event_id"], "00000000000000000000000000000abc");
        assert_eq!(v["environment"], "production");
        // absent things are null, not missing
        assert!(v.as_object().unwrap().contains_key("window"));
        assert!(v["window"].is_null());
        assert!(v["actor"].is_null());
        // it reads back as the documented struct
        let back: WebhookBody = serde_json::from_value(v).unwrap();
        assert_eq!(back, webhook(&m));

        let mut rate = message(AlertKind::EventRate);
        rate.issue = None;
        rate.window = Some(AlertWindow {
            count: 1001,
            threshold: 1000,
            minutes: 5,
        });
        let v = serde_json::to_value(webhook(&rate)).unwrap();
        assert!(v["issue"].is_null());
        assert_eq!(v["window"]["count"], 1001);
        assert_eq!(v["url"], rate.project_url);
    }

    /// The keys of a JSON value, nested ones as `a.b`.
    fn keys(v: &Value, prefix: &str, out: &mut Vec<String>) {
        if let Value::Object(map) = v {
            for (k, child) in map {
                let key = format!("{prefix}{k}");
                keys(child, &format!("{key}."), out);
                out.push(key);
            }
        }
    }

    #[test]
    fn the_readme_shows_the_webhook_body_as_it_is() {
        let readme = include_str!("../../../README.md");
        let section = &readme[readme
            .find("### The webhook body")
            .expect("the README documents the webhook body")..];
        let start = section.find("```json\n").unwrap() + "```json\n".len();
        let end = start + section[start..].find("```").unwrap();
        let documented: Value = serde_json::from_str(&section[start..end]).unwrap();
        // it reads as the body, and has exactly the body's keys, in its order
        let parsed: WebhookBody = serde_json::from_value(documented.clone()).unwrap();
        assert_eq!(parsed.version, WEBHOOK_VERSION);
        let (mut doc, mut real) = (Vec::new(), Vec::new());
        keys(&documented, "", &mut doc);
        keys(
            &serde_json::to_value(webhook(&message(AlertKind::NewIssue))).unwrap(),
            "",
            &mut real,
        );
        assert_eq!(doc, real);
    }

    #[test]
    fn slack_blocks_escape_and_fit() {
        let m = message(AlertKind::NewIssue);
        let v = slack(&m);
        assert!(
            v["text"]
                .as_str()
                .unwrap()
                .contains("ZeroDivisionError: division by zero")
        );
        let blocks = v["blocks"].as_array().unwrap();
        let types: Vec<&str> = blocks.iter().map(|b| b["type"].as_str().unwrap()).collect();
        assert_eq!(
            types,
            ["header", "section", "section", "context", "actions"]
        );
        assert_eq!(
            blocks[4]["elements"][0]["url"],
            m.issue.as_ref().unwrap().url
        );
        let fields = blocks[2]["fields"].as_array().unwrap();
        assert!(fields.len() <= 10);
        assert!(fields.iter().any(|f| f["text"] == "*Seen*\n42 times"));

        let v = slack(&hostile(AlertKind::NewIssue));
        let all = v.to_string();
        assert!(!all.contains("<script>"), "{all}");
        assert!(!all.contains("<!channel>"));
        assert!(all.contains("&lt;script&gt;"));
        assert!(all.contains("&amp;"));
        let blocks = v["blocks"].as_array().unwrap();
        assert!(blocks[0]["text"]["text"].as_str().unwrap().chars().count() <= 150);
        assert!(blocks[1]["text"]["text"].as_str().unwrap().chars().count() <= 3000);
        for f in blocks[2]["fields"].as_array().unwrap() {
            assert!(f["text"].as_str().unwrap().chars().count() <= 2000);
        }
        assert!(v["text"].as_str().unwrap().chars().count() <= 3000);
    }

    #[test]
    fn discord_embeds_respect_the_limits_and_ping_no_one() {
        let m = message(AlertKind::NewIssue);
        let v = discord(&m);
        let embed = &v["embeds"][0];
        assert_eq!(
            embed["title"],
            "New issue: ZeroDivisionError: division by zero"
        );
        assert_eq!(embed["url"], m.issue.as_ref().unwrap().url);
        assert_eq!(embed["color"], 0xE03E2F);
        assert_eq!(embed["timestamp"], "2026-12-07T22:18:00Z");
        assert_eq!(embed["description"], "app.views in checkout");
        assert_eq!(v["allowed_mentions"]["parse"], json!([]));

        let v = discord(&hostile(AlertKind::NewIssue));
        let embed = &v["embeds"][0];
        assert!(embed["title"].as_str().unwrap().chars().count() <= DISCORD_TITLE_MAX);
        assert!(embed["description"].as_str().unwrap().chars().count() <= DISCORD_DESCRIPTION_MAX);
        let mut total = embed["title"].as_str().unwrap().chars().count()
            + embed["description"].as_str().unwrap().chars().count()
            + embed["footer"]["text"].as_str().unwrap().chars().count();
        for f in embed["fields"].as_array().unwrap() {
            let value = f["value"].as_str().unwrap().chars().count();
            assert!(value <= DISCORD_FIELD_VALUE_MAX);
            total += value + f["name"].as_str().unwrap().chars().count();
        }
        assert!(total <= DISCORD_EMBED_TOTAL_MAX, "{total}");
        assert!(v["content"].as_str().unwrap().chars().count() <= DISCORD_CONTENT_MAX);
        assert_eq!(v["allowed_mentions"]["parse"], json!([]));

        let mut resolved = message(AlertKind::Resolved);
        resolved.issue.as_mut().unwrap().level = Level::Fatal;
        assert_eq!(discord(&resolved)["embeds"][0]["color"], 0x2EB67D);
        assert_eq!(
            discord(&message(AlertKind::NewIssue))["embeds"][0]["color"],
            0xE03E2F
        );
    }

    #[test]
    fn teams_sends_an_adaptive_card() {
        let m = message(AlertKind::Escalating);
        let v = teams(&m);
        assert_eq!(v["type"], "message");
        let a = &v["attachments"][0];
        assert_eq!(a["contentType"], "application/vnd.microsoft.card.adaptive");
        let card = &a["content"];
        assert_eq!(card["type"], "AdaptiveCard");
        assert_eq!(card["version"], "1.4");
        let body = card["body"].as_array().unwrap();
        assert!(body.iter().any(
            |b| b["type"] == "TextBlock" && b["text"] == "ZeroDivisionError: division by zero"
        ));
        let facts = body.iter().find(|b| b["type"] == "FactSet").unwrap();
        assert!(
            facts["facts"]
                .as_array()
                .unwrap()
                .iter()
                .any(|f| f["title"] == "Environment" && f["value"] == "production")
        );
        assert_eq!(card["actions"][0]["type"], "Action.OpenUrl");
        assert_eq!(card["actions"][0]["url"], m.issue.as_ref().unwrap().url);
    }

    #[test]
    fn pagerduty_triggers_and_resolves_one_incident_per_issue() {
        let m = message(AlertKind::NewIssue);
        let v = pagerduty(&m, "R0UT1NGKEY");
        assert_eq!(v["routing_key"], "R0UT1NGKEY");
        assert_eq!(v["event_action"], "trigger");
        assert_eq!(v["dedup_key"], "corral-issue-17");
        let p = &v["payload"];
        assert_eq!(p["severity"], "error");
        assert_eq!(p["source"], "acme/backend");
        assert_eq!(p["component"], "app.views in checkout");
        assert_eq!(p["timestamp"], "2026-12-07T22:18:00Z");
        assert_eq!(p["class"], "new_issue");
        assert_eq!(p["custom_details"]["times_seen"], 42);
        assert_eq!(
            p["custom_details"]["top_frame"],
            "app/views.py in checkout at line 42"
        );
        assert_eq!(v["links"][0]["href"], m.issue.as_ref().unwrap().url);
        assert_eq!(v["client"], "Corral");

        let v = pagerduty(&hostile(AlertKind::NewIssue), "k");
        assert!(v["payload"]["summary"].as_str().unwrap().chars().count() <= PAGERDUTY_SUMMARY_MAX);

        let v = pagerduty(&message(AlertKind::Resolved), "R0UT1NGKEY");
        assert_eq!(
            v,
            json!({"routing_key": "R0UT1NGKEY", "dedup_key": "corral-issue-17", "event_action": "resolve"})
        );

        for (level, severity) in [
            (Level::Fatal, "critical"),
            (Level::Error, "error"),
            (Level::Warning, "warning"),
            (Level::Info, "info"),
            (Level::Debug, "info"),
        ] {
            let mut m = message(AlertKind::NewIssue);
            m.issue.as_mut().unwrap().level = level;
            assert_eq!(pagerduty(&m, "k")["payload"]["severity"], severity);
        }
        let mut rate = message(AlertKind::EventRate);
        rate.issue = None;
        assert_eq!(pagerduty_dedup_key(&rate), "corral-project-3-event-rate");
    }

    #[test]
    fn mail_bodies_carry_the_link_and_escape_everything() {
        let footer = MailFooter {
            note: "You get this as a member of acme.".into(),
            links: vec![(
                "Turn off alert mail".into(),
                "https://corral.example/unsubscribe/tok/alerts".into(),
            )],
        };
        let m = message(AlertKind::NewIssue);
        let mail = email(&m, &footer);
        assert_eq!(
            mail.subject,
            "[backend] New issue: ZeroDivisionError: division by zero (production)"
        );
        let link = &m.issue.as_ref().unwrap().url;
        assert!(mail.text.contains(link.as_str()));
        assert!(mail.html.contains(&format!("href=\"{link}\"")));
        for body in [&mail.text, &mail.html] {
            assert!(body.contains("https://corral.example/unsubscribe/tok/alerts"));
            assert!(body.contains("app/views.py in checkout at line 42"));
            assert!(body.contains("42 times"));
        }

        let mail = email(&hostile(AlertKind::NewIssue), &footer);
        assert!(!mail.html.contains("<script>"), "the title is escaped");
        assert!(!mail.html.contains("<img"));
        assert!(!mail.html.contains("<b>frame"));
        assert!(!mail.html.contains("<env>"));
        assert!(mail.html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(mail.html.contains("&quot;quoted&quot; &#39;single&#39;"));
        assert!(
            !mail.subject.contains('\n') && !mail.subject.contains('\r'),
            "no header injection through the subject"
        );
        assert!(mail.subject.chars().count() <= 250);
        assert!(mail.text.len() < 20_000, "long titles are cut");
    }

    #[test]
    fn slack_text_never_cuts_an_entity() {
        assert_eq!(slack_text("a<b", 10), "a&lt;b");
        assert_eq!(slack_text("a<b", 6), "a&lt;b");
        assert_eq!(slack_text("a<bc", 6), "a&lt;…");
        assert_eq!(slack_text("<<<<", 5), "&lt;…");
        assert!(slack_text(&"&".repeat(1000), 150).chars().count() <= 150);
    }

    #[test]
    fn truncation_counts_characters() {
        assert_eq!(truncate("héllo", 5), "héllo");
        assert_eq!(truncate("héllo wörld", 6), "héllo…");
        assert_eq!(truncate("ééé", 1), "…");
    }
}
