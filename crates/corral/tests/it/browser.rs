//! The web UI in a real browser: headless Chromium (Debian's `chromium` and
//! `chromium-driver`, which `cargo xtask test` requires) driven over
//! WebDriver, against `corral serve`, with an issue the real Python
//! `sentry-sdk` created.
//!
//! A person signs in through the form, finds the issue in the list, opens
//! it, reads its stack trace, resolves it and sees it leave the unresolved
//! tab for the resolved one; then the list and the issue page are looked at
//! phone-wide. Screenshots of the pages are kept under
//! `target/test-artifacts/screenshots/`.

use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use corral_testkit::browser::Chromedriver;
use corral_testkit::{ADMIN_PASSWORD, Api, Embedded, sdk};
use fantoccini::elements::Element;
use fantoccini::{Client, Locator};
use futures::FutureExt;
use serde_json::Value;

/// How long any one wait for the browser or the server may take.
const WAIT: Duration = Duration::from_secs(20);

/// The first start's admin (`corral serve` bootstraps it).
const ADMIN_EMAIL: &str = "admin@corral.local";

/// The application the SDK reports from: its own module, so its frames are
/// in-app and carry context lines.
const SHOP_INVOICES: &str = r#"
class PaymentDeclined(Exception):
    pass


def charge_card(card, amount_cents):
    raise PaymentDeclined("card " + card + " declined for " + str(amount_cents) + " cents")


def settle_invoice(invoice):
    amount_cents = 1999
    return charge_card(invoice["card"], amount_cents)
"#;

const SHOP_MAIN: &str = r#"
import os
import sys

sys.path.insert(0, os.environ["SHOP_DIR"])

import sentry_sdk

from shop import invoices

sentry_sdk.init(
    dsn=os.environ["SENTRY_DSN"],
    release="shop@2.0.1",
    environment="production",
    in_app_include=["shop"],
)
sentry_sdk.add_breadcrumb(category="checkout", message="settling invoice 17", level="info")
try:
    invoices.settle_invoice({"id": 17, "card": "4242"})
except invoices.PaymentDeclined:
    sentry_sdk.capture_exception()
sentry_sdk.flush()
print("sent")
"#;

const TITLE: &str = "PaymentDeclined: card 4242 declined for 1999 cents";

/// `target/test-artifacts/screenshots/`, under `CARGO_TARGET_DIR` when set.
fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    let dir = target.join("test-artifacts").join("screenshots");
    std::fs::create_dir_all(&dir).expect("the screenshot directory");
    dir
}

/// Waits for an element, at most [`WAIT`].
async fn element(c: &Client, css: &str) -> Element {
    match c.wait().at_most(WAIT).for_element(Locator::Css(css)).await {
        Ok(found) => found,
        Err(e) => panic!("no {css} on {}: {e}", url(c).await),
    }
}

async fn url(c: &Client) -> String {
    c.current_url()
        .await
        .map(|u| u.to_string())
        .unwrap_or_else(|e| format!("(no URL: {e})"))
}

/// The texts of every element matching `css`. A page that is being
/// replaced (a form was just sent) can drop the elements between finding and
/// reading them: then they are looked up again, for at most [`WAIT`].
async fn texts(c: &Client, css: &str) -> Vec<String> {
    let deadline = Instant::now() + WAIT;
    loop {
        match try_texts(c, css).await {
            Ok(found) => return found,
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("reading {css} on {}: {e}", url(c).await),
        }
    }
}

async fn try_texts(c: &Client, css: &str) -> Result<Vec<String>, fantoccini::error::CmdError> {
    let mut out = Vec::new();
    for e in c.find_all(Locator::Css(css)).await? {
        out.push(e.text().await?);
    }
    Ok(out)
}

/// Polls until `check` holds, at most [`WAIT`].
async fn until(c: &Client, what: &str, check: impl AsyncFn(&Client) -> bool) {
    let deadline = Instant::now() + WAIT;
    while !check(c).await {
        assert!(
            Instant::now() < deadline,
            "{what}: not so after {WAIT:?} on {}",
            url(c).await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn screenshot(c: &Client, name: &str) -> PathBuf {
    let png = c.screenshot().await.expect("a screenshot");
    assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
    let path = screenshot_dir().join(name);
    std::fs::write(&path, png).expect("saving a screenshot");
    println!("screenshot: {}", path.display());
    path
}

/// Whether the page is no wider than the window (tables scroll inside
/// their own boxes).
async fn overflow(c: &Client) -> (i64, i64) {
    let v: Value = c
        .execute(
            "return [Math.max(document.documentElement.scrollWidth, document.body.scrollWidth), document.documentElement.clientWidth];",
            vec![],
        )
        .await
        .expect("measuring the page");
    (v[0].as_i64().unwrap_or(-1), v[1].as_i64().unwrap_or(-1))
}

async fn assert_fits(c: &Client, what: &str) {
    let (content, window) = overflow(c).await;
    assert!(
        window > 0 && content <= window,
        "{what} overflows a phone-wide window: {content}px of content in {window}px"
    );
}

/// What the test does with the browser; the caller closes the browser
/// whatever happens here.
async fn walk_through(c: &Client, base_url: &str) {
    // signing in through the form
    c.goto(&format!("{base_url}/")).await.expect("open Corral");
    let email = element(c, "form.auth-form input[name=email]").await;
    assert!(
        url(c).await.contains("/login"),
        "visitors are sent to the sign-in page, not {}",
        url(c).await
    );
    email.send_keys(ADMIN_EMAIL).await.expect("type the email");
    c.find(Locator::Css("input[name=password]"))
        .await
        .expect("a password field")
        .send_keys(ADMIN_PASSWORD)
        .await
        .expect("type the password");
    c.find(Locator::Css("form.auth-form button[type=submit]"))
        .await
        .expect("a sign-in button")
        .click()
        .await
        .expect("sign in");

    // the list, with the SDK's issue
    element(c, "table.issue-list").await;
    assert!(
        url(c).await.contains("/organizations/corral/issues/"),
        "signed in, the first organization's issues: {}",
        url(c).await
    );
    let titles = texts(c, "a.issue-title").await;
    assert!(
        titles.iter().any(|t| t == TITLE),
        "the SDK's issue is listed: {titles:?}"
    );
    let list_shot = screenshot(c, "issue-list.png").await;

    // the issue page and its stack trace
    c.find(Locator::LinkText(TITLE))
        .await
        .expect("the issue's link")
        .click()
        .await
        .expect("open the issue");
    let heading = element(c, "section.exception h3.exception-type").await;
    assert_eq!(heading.text().await.unwrap(), "PaymentDeclined");
    let value = element(c, "section.exception .exception-value").await;
    assert_eq!(
        value.text().await.unwrap(),
        "card 4242 declined for 1999 cents"
    );
    let in_app = texts(c, "details.frame.in-app .frame-function").await;
    assert!(
        in_app.iter().any(|f| f == "charge_card") && in_app.iter().any(|f| f == "settle_invoice"),
        "the application's frames are shown as in-app: {in_app:?}"
    );
    // the newest in-app frame is open, with its source line highlighted
    let current = element(c, "details.frame.in-app[open] ol.context li.current").await;
    assert!(
        current
            .text()
            .await
            .unwrap()
            .contains("raise PaymentDeclined"),
        "the line that raised is highlighted"
    );
    let crumbs = texts(c, "tr.crumb .crumb-message").await;
    assert!(
        crumbs.iter().any(|m| m == "settling invoice 17"),
        "the breadcrumb: {crumbs:?}"
    );
    let issue_url = url(c).await;
    let issue_shot = screenshot(c, "issue-page.png").await;
    // the window shows the top of the page; the trace is further down
    let trace = c
        .find(Locator::Css("section.exception"))
        .await
        .expect("the exception");
    let png = trace.screenshot().await.expect("a screenshot of the trace");
    let trace_shot = screenshot_dir().join("issue-stack-trace.png");
    std::fs::write(&trace_shot, png).expect("saving a screenshot");
    println!("screenshot: {}", trace_shot.display());

    // resolving it with the button
    c.find(Locator::Css("form button[name=action][value=resolve]"))
        .await
        .expect("a Resolve button")
        .click()
        .await
        .expect("resolve");
    until(c, "the issue is resolved", async |c| {
        texts(c, "dd.status")
            .await
            .iter()
            .any(|s| s.starts_with("resolved"))
    })
    .await;
    assert!(
        texts(c, "p.notice").await.iter().any(|n| n == "Resolved."),
        "the page says so"
    );
    assert!(
        c.find(Locator::Css("form button[name=action][value=unresolve]"))
            .await
            .is_ok(),
        "a resolved issue offers Unresolve"
    );

    // it left the unresolved tab, and is in the resolved one
    c.find(Locator::Css("article.issue-page p.small a"))
        .await
        .expect("the link back to the issues")
        .click()
        .await
        .expect("back to the list");
    element(c, "nav.tabs a[aria-current=page]").await;
    let current_tab = texts(c, "nav.tabs a[aria-current=page]").await;
    assert!(
        current_tab[0].starts_with("Unresolved"),
        "the list opens on the unresolved tab: {current_tab:?}"
    );
    let titles = texts(c, "a.issue-title").await;
    assert!(
        !titles.iter().any(|t| t == TITLE),
        "a resolved issue is not unresolved: {titles:?}"
    );
    let resolved_tab = c
        .find(Locator::XPath(
            "//nav[contains(@class,'tabs')]/a[starts-with(normalize-space(.),'Resolved')]",
        ))
        .await
        .expect("the resolved tab");
    resolved_tab.click().await.expect("open the resolved tab");
    until(c, "the resolved tab is open", async |c| {
        texts(c, "nav.tabs a[aria-current=page]")
            .await
            .first()
            .is_some_and(|t| t.starts_with("Resolved"))
    })
    .await;
    let titles = texts(c, "a.issue-title").await;
    assert!(
        titles.iter().any(|t| t == TITLE),
        "the resolved tab lists it: {titles:?}"
    );

    // phone-wide: one column, nothing wider than the screen
    c.set_window_size(390, 844)
        .await
        .expect("a phone-wide window");
    c.goto(&format!(
        "{base_url}/organizations/corral/issues/?status=all"
    ))
    .await
    .expect("the list");
    element(c, "table.issue-list a.issue-title").await;
    assert_fits(c, "the issue list").await;
    let phone_shot = screenshot(c, "issue-list-phone.png").await;
    c.goto(&issue_url).await.expect("the issue page");
    element(c, "section.exception").await;
    assert_fits(c, "the issue page").await;
    screenshot(c, "issue-page-phone.png").await;

    for shot in [list_shot, issue_shot, trace_shot, phone_shot] {
        let size = std::fs::metadata(&shot).map(|m| m.len()).unwrap_or(0);
        assert!(size > 1000, "{} is a real picture", shot.display());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_read_and_resolve_an_sdk_issue_in_chromium() {
    let dir = tempfile::Builder::new()
        .prefix("corral-browser-")
        .tempdir()
        .expect("a temporary directory");
    let data = dir.path().join("data");
    let database_url = format!("sqlite://{}", data.join("corral.sqlite").display());
    let server = Embedded::start(&data, &[("DATABASE_URL", &database_url)]).await;
    let token = server
        .token
        .clone()
        .expect("the first start prints a token");

    // the real SDK reports an exception from the application's code
    let shop = dir.path().join("app");
    std::fs::create_dir_all(shop.join("shop")).expect("the app directory");
    std::fs::write(shop.join("shop/__init__.py"), "").expect("shop/__init__.py");
    std::fs::write(shop.join("shop/invoices.py"), SHOP_INVOICES).expect("shop/invoices.py");
    let shop_dir = shop.to_str().expect("a UTF-8 path");
    let out = sdk::run_python(SHOP_MAIN, &server.dsn, &[("SHOP_DIR", shop_dir)]);
    assert!(out.contains("sent"), "{out}");
    let api = Api::new(&server.base_url, &token);
    api.wait_for_issues("corral", "default", WAIT, |issues| {
        issues.iter().any(|i| i["title"] == TITLE)
    })
    .await;

    let driver = Chromedriver::start(&dir.path().join("logs")).await;
    let browser = driver.browser(&dir.path().join("profile")).await;
    let walked = AssertUnwindSafe(walk_through(&browser, &server.base_url))
        .catch_unwind()
        .await;
    if walked.is_err() {
        // what the browser showed when it failed
        if let Ok(png) = browser.screenshot().await {
            let path = screenshot_dir().join("failure.png");
            let _ = std::fs::write(&path, png);
            println!("screenshot of the failure: {}", path.display());
        }
    }
    let closed = tokio::time::timeout(WAIT, browser.close()).await;
    drop(driver);
    if let Err(panic) = walked {
        eprintln!("{}", server.process.log_tail());
        std::panic::resume_unwind(panic);
    }
    assert!(
        matches!(closed, Ok(Ok(()))),
        "the browser closed: {closed:?}"
    );

    // what the browser did is what the store holds
    let issues = api.issues("corral", "default", "is:resolved").await;
    assert!(
        issues.iter().any(|i| i["title"] == TITLE),
        "resolved through the page: {issues:#?}"
    );
}
