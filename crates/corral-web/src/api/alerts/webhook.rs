//! The generic webhook's body in the OpenAPI document: what a webhook
//! channel POSTs (the sender in crate `corral-alerts` writes it;
//! `tests/it/api_openapi.rs` holds these shapes to its real keys). It is
//! listed under the document's `webhooks` as `alert`, with its signature
//! header.

use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::{Content, OpenApi, PathItem, Ref, Required, ResponseBuilder};
use utoipa::{PartialSchema, ToSchema};

/// What a webhook channel POSTs, as JSON (`Content-Type: application/json`).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct AlertWebhookBody {
    /// Always 1 for this shape.
    version: u32,
    /// What happened: `new_issue`, `regression`, `escalating`, `frequency`, `users`,
    /// `event_rate`, `resolved`, `assigned` or `test`.
    action: String,
    /// One line for people: `[backend] New issue: ZeroDivisionError: …`.
    summary: String,
    /// The issue's page (the project's issue list when there is no issue).
    url: String,
    /// When the alert was raised (RFC 3339).
    #[schema(format = DateTime)]
    created_at: String,
    organization: AlertWebhookOrganization,
    project: AlertWebhookProject,
    environment: Option<String>,
    release: Option<String>,
    /// The rule that fired (`null` for tests and workflow messages).
    rule: Option<AlertWebhookRule>,
    issue: Option<AlertWebhookIssue>,
    /// What a window condition counted (`frequency`, `users`, `event_rate`).
    window: Option<AlertWebhookWindow>,
    /// The event that decided it, 32 hex digits.
    event_id: Option<String>,
    /// Who did it (`resolved`, `assigned`).
    actor: Option<String>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct AlertWebhookOrganization {
    slug: String,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct AlertWebhookProject {
    id: i64,
    slug: String,
    name: String,
    /// The project's issue list.
    url: String,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct AlertWebhookRule {
    id: Option<i64>,
    name: Option<String>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct AlertWebhookIssue {
    id: i64,
    /// e.g. `BACKEND-3A`.
    short_id: String,
    title: String,
    culprit: String,
    /// `debug`, `info`, `warning`, `error` or `fatal`.
    level: String,
    status: String,
    times_seen: i64,
    #[schema(format = DateTime)]
    first_seen: String,
    #[schema(format = DateTime)]
    last_seen: String,
    /// The crashing frame, e.g. `checkout in app/views.py`.
    top_frame: Option<String>,
    /// The issue's page.
    url: String,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct AlertWebhookWindow {
    /// What was counted (counting stops a little past the threshold).
    count: i64,
    threshold: i64,
    minutes: i64,
}

/// Adds the body's schemas and the `alert` webhook to the document.
pub fn document(doc: &mut OpenApi) {
    let components = doc.components.get_or_insert_with(Default::default);
    let mut schemas = Vec::new();
    <AlertWebhookBody as ToSchema>::schemas(&mut schemas);
    schemas.push((
        AlertWebhookBody::name().into_owned(),
        AlertWebhookBody::schema(),
    ));
    for (name, schema) in [
        (
            AlertWebhookOrganization::name(),
            AlertWebhookOrganization::schema(),
        ),
        (AlertWebhookProject::name(), AlertWebhookProject::schema()),
        (AlertWebhookRule::name(), AlertWebhookRule::schema()),
        (AlertWebhookIssue::name(), AlertWebhookIssue::schema()),
        (AlertWebhookWindow::name(), AlertWebhookWindow::schema()),
    ] {
        schemas.push((name.into_owned(), schema));
    }
    for (name, schema) in schemas {
        components.schemas.insert(name, schema);
    }
    let header = |name: &str, what: &str| {
        ParameterBuilder::new()
            .name(name)
            .parameter_in(ParameterIn::Header)
            .required(Required::True)
            .description(Some(what))
            .build()
    };
    let operation = OperationBuilder::new()
        .summary(Some("An alert, POSTed to a webhook channel's URL"))
        .description(Some(
            "Verify `X-Corral-Signature` before trusting the body: `t=<unix seconds>,v1=<hex>` \
             where the hex is HMAC-SHA256 of `<t>.<raw body>` keyed with the channel's secret; \
             refuse a `t` more than five minutes from now (replays). Answer 2xx; 408, 429 and \
             5xx are retried with backoff, other answers are final.",
        ))
        .parameter(header(
            "X-Corral-Signature",
            "`t=<unix seconds>,v1=<hex HMAC-SHA256(secret, \"<t>.<body>\")>`",
        ))
        .parameter(header(
            "X-Corral-Timestamp",
            "The same unix seconds as `t` in the signature",
        ))
        .parameter(header(
            "X-Corral-Delivery",
            "The delivery's id: the same for retries of one delivery",
        ))
        .request_body(Some(
            RequestBodyBuilder::new()
                .required(Some(Required::True))
                .content(
                    "application/json",
                    Content::new(Some(Ref::from_schema_name("AlertWebhookBody"))),
                )
                .build(),
        ))
        .response(
            "200",
            ResponseBuilder::new()
                .description("Received (any 2xx)")
                .build(),
        )
        .build();
    let mut webhooks = doc.webhooks.take().unwrap_or_default();
    webhooks
        .paths
        .insert("alert".into(), PathItem::new(HttpMethod::Post, operation));
    doc.webhooks = Some(webhooks);
}
