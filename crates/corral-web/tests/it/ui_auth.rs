//! Signing in and out, throttling, CSRF, password change and reset (with
//! mail through a real SMTP server), over real HTTP with a browser-like
//! client, on both stores.

use std::net::IpAddr;
use std::time::Duration;

use chrono::Utc;
use corral_core::StoreError;
use corral_core::model::Role;
use corral_web::session::sha256_hex;

use crate::common::{
    self, Browser, Reply, Shape, SmtpServer, TestApp, cookie_client, csrf_token_in, link_in, send,
    sign_in, user_with_password,
};

const PASSWORD: &str = "correct horse battery";

/// The `Set-Cookie` of the session, if the answer has one.
fn session_cookie(reply: &Reply) -> Option<String> {
    reply
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("corral_session="))
        .map(str::to_string)
}

async fn post_login(client: &reqwest::Client, app: &TestApp, email: &str, password: &str) -> Reply {
    send(client.post(app.url("/login")).form(&[
        ("email", email),
        ("password", password),
        ("next", "/settings/account/"),
    ]))
    .await
}

/// Whether the browser's session still works.
async fn signed_in(b: &Browser) -> bool {
    let reply = b.get("/settings/account/").await;
    match reply.status {
        200 => true,
        303 => {
            assert!(
                reply
                    .header("location")
                    .is_some_and(|l| l.starts_with("/login")),
                "signed-out visitors go to the login page"
            );
            false
        }
        other => panic!("unexpected {other}: {}", reply.body),
    }
}

/// Throttling counts in fixed 15-minute windows: a test that must stay in
/// one waits for the next when this one is about to end.
async fn fresh_login_window() {
    let left = 900 - Utc::now().timestamp().rem_euclid(900);
    if left < 60 {
        tokio::time::sleep(Duration::from_secs(left as u64 + 1)).await;
    }
}

async fn sign_in_and_out(shape: Shape) {
    let app = TestApp::start(shape).await;
    let user = user_with_password(&app, "dev@acme.test", PASSWORD, Some(Role::Member)).await;
    let client = cookie_client();

    let form = send(client.get(app.url("/login"))).await;
    assert_eq!(form.status, 200);
    assert!(form.body.contains(r#"action="/login""#), "{}", form.body);
    assert!(
        form.header("content-security-policy")
            .is_some_and(|c| c.contains("default-src 'self'")),
        "UI pages carry the security headers"
    );

    let away = send(client.get(app.url("/settings/account/"))).await;
    assert_eq!(away.status, 303);
    assert_eq!(
        away.header("location"),
        Some("/login?next=/settings/account/")
    );

    let reply = post_login(&client, &app, "Dev@Acme.test", PASSWORD).await;
    assert_eq!(reply.status, 303, "{}", reply.body);
    assert_eq!(reply.header("location"), Some("/settings/account/"));
    let cookie = session_cookie(&reply).expect("a session cookie");
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(cookie.contains(attribute), "{attribute} in {cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain http: {cookie}");
    let secret = cookie
        .trim_start_matches("corral_session=")
        .split(';')
        .next()
        .unwrap()
        .to_string();
    assert_eq!(secret.len(), 64);
    let (_, owner) = app
        .store
        .session_by_hash(&sha256_hex(&secret), Utc::now())
        .await
        .expect("the store keeps the session by the cookie's hash");
    assert_eq!(owner.id, user.id);

    let page = send(client.get(app.url("/settings/account/"))).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("dev@acme.test"));
    let csrf = csrf_token_in(&page.body).expect("a CSRF token");

    let again = send(client.get(app.url("/login?next=/settings/account/"))).await;
    assert_eq!(again.status, 303, "signed in: no form");
    assert_eq!(again.header("location"), Some("/settings/account/"));

    let refused = send(client.post(app.url("/logout")).form(&[("x", "y")])).await;
    assert_eq!(refused.status, 403, "signing out needs the CSRF token");
    let still = send(client.get(app.url("/settings/account/"))).await;
    assert_eq!(still.status, 200);

    let out = send(
        client
            .post(app.url("/logout"))
            .form(&[("csrf_token", csrf.as_str())]),
    )
    .await;
    assert_eq!(out.status, 303);
    assert_eq!(out.header("location"), Some("/login?notice=signed_out"));
    assert!(
        session_cookie(&out).is_some_and(|c| c.contains("Max-Age=0")),
        "the cookie is removed"
    );
    assert!(matches!(
        app.store
            .session_by_hash(&sha256_hex(&secret), Utc::now())
            .await,
        Err(StoreError::NotFound(_))
    ));
    let gone = send(client.get(app.url("/settings/account/"))).await;
    assert_eq!(gone.status, 303);
    let login = send(client.get(app.url("/login?notice=signed_out"))).await;
    assert!(login.body.contains("You are signed out."));

    // `next` goes only to this site
    for (next, expected) in [
        ("//evil.example/", "/"),
        ("https://evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("/organizations/acme/issues/", "/organizations/acme/issues/"),
    ] {
        let client = cookie_client();
        let reply = send(client.post(app.url("/login")).form(&[
            ("email", "dev@acme.test"),
            ("password", PASSWORD),
            ("next", next),
        ]))
        .await;
        assert_eq!(reply.status, 303);
        assert_eq!(reply.header("location"), Some(expected), "next={next}");
    }
}

async fn secure_cookie_behind_https(shape: Shape) {
    let app = TestApp::builder(shape)
        .toml(r#"base_url = "https://corral.test""#)
        .start()
        .await;
    user_with_password(&app, "dev@acme.test", PASSWORD, Some(Role::Member)).await;
    let reply = post_login(&cookie_client(), &app, "dev@acme.test", PASSWORD).await;
    assert_eq!(reply.status, 303);
    let cookie = session_cookie(&reply).expect("a session cookie");
    assert!(cookie.contains("Secure"), "{cookie}");
}

async fn bad_credentials_look_alike(shape: Shape) {
    let app = TestApp::start(shape).await;
    user_with_password(&app, "dev@acme.test", PASSWORD, Some(Role::Member)).await;
    let gone = user_with_password(&app, "gone@acme.test", PASSWORD, Some(Role::Member)).await;
    app.store.set_user_active(gone.id, false).await.unwrap();
    let client = cookie_client();
    let cases = [
        ("dev@acme.test", "wrong password"),
        ("nobody@acme.test", PASSWORD),
        ("gone@acme.test", PASSWORD),
        // the fixtures' owner has no password at all
        ("owner@acme.test", ""),
        ("not an email", PASSWORD),
    ];
    let mut answers = Vec::new();
    for (email, password) in cases {
        let reply = post_login(&client, &app, email, password).await;
        assert_eq!(reply.status, 200, "{email}: {}", reply.body);
        assert!(
            reply.body.contains("Wrong email or password."),
            "{email}: {}",
            reply.body
        );
        assert!(session_cookie(&reply).is_none(), "{email}: no session");
        answers.push(reply.body.replace(email, "EMAIL"));
    }
    assert!(
        answers.windows(2).all(|w| w[0] == w[1]),
        "the same page whatever was wrong"
    );
    assert!(
        !signed_in(&Browser {
            client,
            csrf_token: String::new(),
            base_url: app.base_url.clone()
        })
        .await
    );
}

async fn throttling(shape: Shape) {
    let app = TestApp::start(shape).await;
    user_with_password(&app, "dev@acme.test", PASSWORD, Some(Role::Member)).await;
    user_with_password(&app, "ops@acme.test", PASSWORD, Some(Role::Member)).await;
    fresh_login_window().await;
    let client = cookie_client();

    // a success clears the email's failures
    for _ in 0..4 {
        let reply = post_login(&client, &app, "ops@acme.test", "nope").await;
        assert_eq!(reply.status, 200);
    }
    let reply = post_login(&cookie_client(), &app, "ops@acme.test", PASSWORD).await;
    assert_eq!(reply.status, 303);
    let now = Utc::now();
    assert_eq!(
        app.store
            .login_failures("email:ops@acme.test", now)
            .await
            .unwrap(),
        0
    );

    // five failures per email, then 429 without looking at the password
    for i in 0..5 {
        let reply = post_login(&client, &app, "dev@acme.test", "nope").await;
        assert_eq!(reply.status, 200, "failure {i}");
    }
    let blocked = post_login(&cookie_client(), &app, "DEV@acme.test", PASSWORD).await;
    assert_eq!(blocked.status, 429, "{}", blocked.body);
    assert!(session_cookie(&blocked).is_none());
    assert!(blocked.body.contains("Too many failed sign-ins"));
    let retry: i64 = blocked
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .expect("seconds");
    assert!((1..=900).contains(&retry), "{retry}");
    let now = Utc::now();
    assert_eq!(
        app.store
            .login_failures("email:dev@acme.test", now)
            .await
            .unwrap(),
        5,
        "a throttled attempt is not another failure"
    );
    // nine failures from this address so far (4 + 5)
    assert_eq!(
        app.store.login_failures("ip:127.0.0.1", now).await.unwrap(),
        9
    );

    // another email from the same address still signs in
    let ok = post_login(&cookie_client(), &app, "ops@acme.test", PASSWORD).await;
    assert_eq!(ok.status, 303);

    // twenty failures per address: then everyone from it waits
    for _ in 9..20 {
        app.store
            .count_login_failure("ip:127.0.0.1", Utc::now())
            .await
            .unwrap();
    }
    let blocked = post_login(&cookie_client(), &app, "ops@acme.test", PASSWORD).await;
    assert_eq!(blocked.status, 429);
    assert!(blocked.header("retry-after").is_some());
}

/// A browser-like client whose connections come from `ip` (any address of
/// 127.0.0.0/8 reaches the test server): the server takes the client address
/// from the connection.
fn client_from(ip: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .local_address(ip.parse::<IpAddr>().expect("an address"))
        .timeout(Duration::from_secs(60))
        .build()
        .expect("HTTP client")
}

/// Sends every `(email, password)` sign-in from `client` at once, each on
/// its own task; the answers in the same order.
async fn sign_ins_at_once(
    app: &TestApp,
    client: &reqwest::Client,
    attempts: Vec<(String, String)>,
) -> Vec<Reply> {
    let tasks: Vec<_> = attempts
        .into_iter()
        .map(|(email, password)| {
            let request = client.post(app.url("/login")).form(&[
                ("email", email.as_str()),
                ("password", password.as_str()),
                ("next", "/"),
            ]);
            tokio::spawn(send(request))
        })
        .collect();
    let mut replies = Vec::new();
    for task in tasks {
        replies.push(task.await.expect("the request ran"));
    }
    replies
}

fn statuses(replies: &[Reply]) -> Vec<u16> {
    replies.iter().map(|r| r.status).collect()
}

fn count(replies: &[Reply], status: u16) -> usize {
    replies.iter().filter(|r| r.status == status).count()
}

/// Bursts of sign-ins are counted before any password is checked, so the
/// limits hold however many arrive at once.
async fn parallel_sign_ins_are_throttled(shape: Shape) {
    // hashers wait long enough that no attempt here is turned away as busy
    let app = TestApp::builder(shape)
        .toml("[auth]\nhash_wait_ms = 60000\n")
        .start()
        .await;
    user_with_password(&app, "dev@acme.test", PASSWORD, Some(Role::Member)).await;
    user_with_password(&app, "ops@acme.test", PASSWORD, Some(Role::Member)).await;
    fresh_login_window().await;
    let client = cookie_client();
    let key = "email-ip:127.0.0.1:dev@acme.test";

    // forty guesses at one account at once: five are checked
    let guesses = (0..40)
        .map(|i| ("dev@acme.test".to_string(), format!("guess {i}")))
        .collect();
    let replies = sign_ins_at_once(&app, &client, guesses).await;
    assert_eq!(
        (count(&replies, 200), count(&replies, 429)),
        (5, 35),
        "{:?}",
        statuses(&replies)
    );
    for reply in replies.iter().filter(|r| r.status == 200) {
        assert!(reply.body.contains("Wrong email or password."));
    }
    assert_eq!(app.store.login_failures(key, Utc::now()).await.unwrap(), 5);
    let late = post_login(&cookie_client(), &app, "dev@acme.test", PASSWORD).await;
    assert_eq!(late.status, 429, "the right password after the guesses");
    assert!(session_cookie(&late).is_none());

    // the right password sent while a burst of guesses is being answered,
    // once five of them are counted: refused as well
    let key = "email-ip:127.0.0.1:ops@acme.test";
    let guesses = (0..40)
        .map(|i| ("ops@acme.test".to_string(), format!("guess {i}")))
        .collect();
    let burst = sign_ins_at_once(&app, &client, guesses);
    let right = async {
        app.eventually(
            "five guesses counted",
            Duration::from_secs(30),
            async || {
                let n = app.store.login_failures(key, Utc::now()).await.unwrap();
                (n >= 5).then_some(())
            },
        )
        .await;
        post_login(&cookie_client(), &app, "ops@acme.test", PASSWORD).await
    };
    let (replies, right) = tokio::join!(burst, right);
    assert_eq!(right.status, 429, "{}", right.body);
    assert!(session_cookie(&right).is_none());
    assert_eq!(
        (count(&replies, 200), count(&replies, 429)),
        (5, 35),
        "{:?}",
        statuses(&replies)
    );

    // forty unknown emails at once from one address: twenty are checked
    let from = client_from("127.0.0.3");
    let guesses = (0..40)
        .map(|i| (format!("nobody{i}@acme.test"), "guess".to_string()))
        .collect();
    let replies = sign_ins_at_once(&app, &from, guesses).await;
    assert_eq!(
        (count(&replies, 200), count(&replies, 429)),
        (20, 20),
        "{:?}",
        statuses(&replies)
    );
    assert_eq!(
        app.store
            .login_failures("ip:127.0.0.3", Utc::now())
            .await
            .unwrap(),
        20
    );
}

/// Guesses from one address lock that address out of the account, not the
/// account's owner elsewhere.
async fn failures_from_one_address_do_not_lock_out_another(shape: Shape) {
    let app = TestApp::start(shape).await;
    user_with_password(&app, "dev@acme.test", PASSWORD, Some(Role::Member)).await;
    fresh_login_window().await;
    let there = client_from("127.0.0.1");
    for i in 0..5 {
        let reply = post_login(&there, &app, "dev@acme.test", "nope").await;
        assert_eq!(reply.status, 200, "failure {i}");
    }
    let blocked = post_login(&there, &app, "dev@acme.test", PASSWORD).await;
    assert_eq!(blocked.status, 429, "{}", blocked.body);

    let home = client_from("127.0.0.2");
    let reply = post_login(&home, &app, "dev@acme.test", PASSWORD).await;
    assert_eq!(reply.status, 303, "{}", reply.body);
    assert!(session_cookie(&reply).is_some());
    let still = post_login(&client_from("127.0.0.1"), &app, "dev@acme.test", PASSWORD).await;
    assert_eq!(still.status, 429, "the guessing address stays locked out");

    // guesses spread over many addresses reach the per-email limit (the
    // store stands in for them): an address with no failures still gets in,
    // one with a failure waits
    for _ in 0..100 {
        app.store
            .count_login_failure("email:dev@acme.test", Utc::now())
            .await
            .unwrap();
    }
    let guesser = client_from("127.0.0.5");
    let first = post_login(&guesser, &app, "dev@acme.test", "nope").await;
    assert_eq!(first.status, 200, "an address's first guess is checked");
    let second = post_login(&guesser, &app, "dev@acme.test", PASSWORD).await;
    assert_eq!(second.status, 429, "{}", second.body);
    let clean = post_login(&client_from("127.0.0.4"), &app, "dev@acme.test", PASSWORD).await;
    assert_eq!(clean.status, 303, "{}", clean.body);
}

/// Password hashing runs under `auth.max_concurrent_hashes`; past it (and
/// `auth.hash_wait_ms`) every password form answers 503 with Retry-After
/// and changes nothing.
async fn password_hashing_is_capped(shape: Shape) {
    let app = TestApp::builder(shape)
        .toml("[auth]\nmax_concurrent_hashes = 1\nhash_wait_ms = 0\n")
        .start()
        .await;
    let user = user_with_password(&app, "dev@acme.test", PASSWORD, Some(Role::Member)).await;
    fresh_login_window().await;

    // unknown emails are hashed (against a fixed hash) in the same turns
    let client = cookie_client();
    let attempts = (0..16)
        .map(|i| (format!("nobody{i}@acme.test"), "guess".to_string()))
        .collect();
    let replies = sign_ins_at_once(&app, &client, attempts).await;
    let (checked, busy) = (count(&replies, 200), count(&replies, 503));
    assert_eq!(checked + busy, 16, "{:?}", statuses(&replies));
    assert!(checked >= 1 && busy >= 1, "{:?}", statuses(&replies));
    for reply in replies.iter().filter(|r| r.status == 503) {
        let retry: u64 = reply
            .header("retry-after")
            .expect("Retry-After")
            .parse()
            .expect("seconds");
        assert!(retry >= 1);
    }
    assert_eq!(app.state.passwords.peak_running(), 1);
    assert_eq!(
        app.store
            .login_failures("ip:127.0.0.1", Utc::now())
            .await
            .unwrap(),
        checked as i64,
        "a sign-in turned away unchecked is no failure"
    );

    // with the one turn taken, each password form is turned away
    let turn = app.state.passwords.reserve().await.expect("a free turn");
    let busy = post_login(&cookie_client(), &app, "dev@acme.test", PASSWORD).await;
    assert_eq!(busy.status, 503, "{}", busy.body);
    assert!(busy.header("retry-after").is_some());
    assert!(session_cookie(&busy).is_none());

    let b = common::browser_for(&app, user.id).await;
    let fields = [
        ("current", PASSWORD),
        ("password", "a new password"),
        ("confirm", "a new password"),
    ];
    let change = b.submit("/settings/account/password", &fields).await;
    assert_eq!(change.status, 503, "{}", change.body);

    let link = corral_web::mail::reset_link(&app.state, user.id)
        .await
        .unwrap();
    let path = format!("/reset/{}", link.rsplit('/').next().unwrap());
    let reset_fields = [
        ("password", "brand new password"),
        ("confirm", "brand new password"),
    ];
    let reset = send(cookie_client().post(app.url(&path)).form(&reset_fields)).await;
    assert_eq!(reset.status, 503, "{}", reset.body);

    let token = corral_web::session::random_token();
    app.store
        .create_invitation(
            app.fixtures().org.id,
            "new@acme.test",
            Role::Member,
            &sha256_hex(&token),
            None,
            Utc::now() + chrono::Duration::days(1),
        )
        .await
        .unwrap();
    let accept_path = format!("/accept/{token}");
    let accept_fields = [
        ("name", "New"),
        ("password", "a long password"),
        ("confirm", "a long password"),
    ];
    let accept = send(
        cookie_client()
            .post(app.url(&accept_path))
            .form(&accept_fields),
    )
    .await;
    assert_eq!(accept.status, 503, "{}", accept.body);
    assert!(matches!(
        app.store.user_by_email("new@acme.test").await,
        Err(StoreError::NotFound(_))
    ));

    // a turn again: nothing was used up
    drop(turn);
    let reset = send(cookie_client().post(app.url(&path)).form(&reset_fields)).await;
    assert_eq!(reset.status, 303, "the link still works: {}", reset.body);
    let accept = send(
        cookie_client()
            .post(app.url(&accept_path))
            .form(&accept_fields),
    )
    .await;
    assert_eq!(accept.status, 303, "{}", accept.body);
    let reply = post_login(
        &cookie_client(),
        &app,
        "dev@acme.test",
        "brand new password",
    )
    .await;
    assert_eq!(reply.status, 303, "{}", reply.body);
    assert_eq!(app.state.passwords.peak_running(), 1);
}

/// What a forged form sends: a description, its fields, its Origin.
type Attempt<'a> = (&'a str, Vec<(&'a str, &'a str)>, Option<&'a str>);

async fn csrf_and_origin(shape: Shape) {
    let app = TestApp::start(shape).await;
    let user = user_with_password(&app, "dev@acme.test", PASSWORD, Some(Role::Member)).await;
    let b = sign_in(&app, "dev@acme.test", PASSWORD).await;
    let path = "/settings/account/name";
    let cases: [Attempt<'_>; 4] = [
        ("no token", vec![("name", "Mallory")], None),
        (
            "a wrong token",
            vec![("csrf_token", "0123456789abcdef"), ("name", "Mallory")],
            None,
        ),
        (
            "an empty token",
            vec![("csrf_token", ""), ("name", "Mallory")],
            None,
        ),
        (
            "another site's origin",
            vec![("csrf_token", b.csrf_token.as_str()), ("name", "Mallory")],
            Some("http://evil.example"),
        ),
    ];
    for (what, fields, origin) in cases {
        let mut request = b.client.post(app.url(path)).form(&fields);
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        let reply = send(request).await;
        assert_eq!(reply.status, 403, "{what}: {}", reply.body);
        let stored = app.store.user_by_id(user.id).await.unwrap();
        assert_eq!(stored.name, "dev", "{what} changed nothing");
    }
    // this site's origin and the token: accepted
    let reply = send(
        b.client
            .post(app.url(path))
            .header("origin", app.base_url.as_str())
            .form(&[("csrf_token", b.csrf_token.as_str()), ("name", "Dev")]),
    )
    .await;
    assert_eq!(reply.status, 303, "{}", reply.body);
    assert_eq!(app.store.user_by_id(user.id).await.unwrap().name, "Dev");

    // forms without a session: the origin decides
    for origin in ["http://evil.example", "null"] {
        let reply = send(
            cookie_client()
                .post(app.url("/login"))
                .header("origin", origin)
                .form(&[("email", "dev@acme.test"), ("password", PASSWORD)]),
        )
        .await;
        assert_eq!(reply.status, 403, "login from {origin}");
        assert!(session_cookie(&reply).is_none());
    }
}

async fn password_change_ends_other_sessions(shape: Shape) {
    let app = TestApp::start(shape).await;
    user_with_password(&app, "dev@acme.test", PASSWORD, Some(Role::Member)).await;
    let here = sign_in(&app, "dev@acme.test", PASSWORD).await;
    let there = sign_in(&app, "dev@acme.test", PASSWORD).await;
    let path = "/settings/account/password";

    let wrong = here
        .submit(
            path,
            &[
                ("current", "not it"),
                ("password", "a new password"),
                ("confirm", "a new password"),
            ],
        )
        .await;
    assert_eq!(wrong.status, 403);
    assert!(wrong.body.contains("The current password is wrong."));
    let mismatch = here
        .submit(
            path,
            &[
                ("current", PASSWORD),
                ("password", "a new password"),
                ("confirm", "another password"),
            ],
        )
        .await;
    assert_eq!(mismatch.status, 422);
    let short = here
        .submit(
            path,
            &[
                ("current", PASSWORD),
                ("password", "short"),
                ("confirm", "short"),
            ],
        )
        .await;
    assert_eq!(short.status, 422);
    assert!(signed_in(&there).await, "refused changes end nothing");

    let changed = here
        .submit(
            path,
            &[
                ("current", PASSWORD),
                ("password", "a new password"),
                ("confirm", "a new password"),
            ],
        )
        .await;
    assert_eq!(changed.status, 303, "{}", changed.body);
    assert_eq!(
        changed.header("location"),
        Some("/settings/account/?notice=password_changed")
    );
    assert!(signed_in(&here).await, "this session goes on");
    assert!(!signed_in(&there).await, "the other one ended");
    let old = post_login(&cookie_client(), &app, "dev@acme.test", PASSWORD).await;
    assert_eq!(old.status, 200, "the old password no longer works");
    let new = post_login(&cookie_client(), &app, "dev@acme.test", "a new password").await;
    assert_eq!(new.status, 303);

    // ending the other sessions on purpose
    let third = sign_in(&app, "dev@acme.test", "a new password").await;
    let ended = here.submit("/settings/account/sessions", &[]).await;
    assert_eq!(ended.status, 303);
    assert!(signed_in(&here).await);
    assert!(!signed_in(&third).await);
}

async fn reset_by_mail(shape: Shape) {
    let smtp = SmtpServer::start().await;
    let app = TestApp::builder(shape)
        .toml(&format!(
            "smtp_url = \"{}\"\nsmtp_from = \"Corral <corral@corral.test>\"\nbase_url = \"http://corral.test\"",
            smtp.url()
        ))
        .start()
        .await;
    let user = user_with_password(&app, "dev@acme.test", PASSWORD, Some(Role::Member)).await;
    let elsewhere = sign_in(&app, "dev@acme.test", PASSWORD).await;
    let client = cookie_client();

    let form = send(client.get(app.url("/reset"))).await;
    assert_eq!(form.status, 200);
    assert!(form.body.contains(r#"action="/reset""#), "{}", form.body);

    let ask = async |email: &str| {
        let reply = send(client.post(app.url("/reset")).form(&[("email", email)])).await;
        assert_eq!(reply.status, 200);
        reply.body.replace(email, "EMAIL")
    };
    let unknown = ask("nobody@acme.test").await;
    let known = ask("Dev@Acme.test").await;
    assert_eq!(unknown, known, "the same answer whether the account exists");
    assert!(known.contains("If an account exists for EMAIL"));

    let mail = smtp.wait_for_mail("dev@acme.test", 1).await;
    let mail = &mail[0];
    assert!(
        mail.contains("Subject: Reset your Corral password"),
        "{mail}"
    );
    assert!(mail.contains("corral@corral.test"), "{mail}");
    let link = link_in(mail, "http://corral.test/reset/").expect("a reset link in the mail");
    let path = link.trim_start_matches("http://corral.test");
    assert_eq!(path.len(), "/reset/".len() + 64, "{link}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(smtp.messages().len(), 1, "no mail for an unknown address");

    let page = send(client.get(app.url(path))).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Choose a new password"));
    // a typo does not use the link up
    let typo = send(client.post(app.url(path)).form(&[
        ("password", "brand new password"),
        ("confirm", "brand new passwort"),
    ]))
    .await;
    assert_eq!(typo.status, 422);
    let set = send(client.post(app.url(path)).form(&[
        ("password", "brand new password"),
        ("confirm", "brand new password"),
    ]))
    .await;
    assert_eq!(set.status, 303, "{}", set.body);
    assert_eq!(set.header("location"), Some("/login?notice=password_reset"));
    assert!(!signed_in(&elsewhere).await, "a reset ends every session");
    let again = send(client.post(app.url(path)).form(&[
        ("password", "third password!"),
        ("confirm", "third password!"),
    ]))
    .await;
    assert_eq!(again.status, 404, "a link works once");
    assert_eq!(
        post_login(&cookie_client(), &app, "dev@acme.test", PASSWORD)
            .await
            .status,
        200
    );
    assert_eq!(
        post_login(
            &cookie_client(),
            &app,
            "dev@acme.test",
            "brand new password"
        )
        .await
        .status,
        303
    );
    let _ = user;
}

async fn reset_links_without_mail(shape: Shape) {
    let app = TestApp::start(shape).await;
    let user = user_with_password(&app, "dev@acme.test", PASSWORD, Some(Role::Member)).await;
    let client = cookie_client();

    let page = send(client.get(app.url("/reset"))).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Ask an administrator"), "{}", page.body);
    assert!(page.body.contains("corral user reset-link"));
    assert!(
        !page.body.contains(r#"action="/reset""#),
        "no form without mail"
    );

    // the CLI's link: an hour, once
    let token_of = |link: &str| {
        link.rsplit('/')
            .next()
            .expect("a token at the end")
            .to_string()
    };
    let link = corral_web::mail::reset_link(&app.state, user.id)
        .await
        .unwrap();
    assert!(
        link.starts_with("http://localhost:8000/reset/"),
        "without a base URL the link names the default address: {link}"
    );
    let late = Utc::now() + chrono::Duration::minutes(61);
    assert!(matches!(
        app.store
            .take_password_reset(&sha256_hex(&token_of(&link)), late)
            .await,
        Err(StoreError::NotFound(_))
    ));
    let link = corral_web::mail::reset_link(&app.state, user.id)
        .await
        .unwrap();
    let in_time = Utc::now() + chrono::Duration::minutes(59);
    assert_eq!(
        app.store
            .take_password_reset(&sha256_hex(&token_of(&link)), in_time)
            .await
            .unwrap(),
        user.id
    );

    // an expired link is refused over HTTP
    let expired = corral_web::session::random_token();
    app.store
        .create_password_reset(
            &sha256_hex(&expired),
            user.id,
            Utc::now() - chrono::Duration::seconds(1),
        )
        .await
        .unwrap();
    let fields = [
        ("password", "brand new password"),
        ("confirm", "brand new password"),
    ];
    let reply = send(
        client
            .post(app.url(&format!("/reset/{expired}")))
            .form(&fields),
    )
    .await;
    assert_eq!(reply.status, 404);
    assert_eq!(
        post_login(&cookie_client(), &app, "dev@acme.test", PASSWORD)
            .await
            .status,
        303,
        "the password stayed"
    );

    // a fresh one works once
    let link = corral_web::mail::reset_link(&app.state, user.id)
        .await
        .unwrap();
    let path = format!("/reset/{}", token_of(&link));
    let first = send(client.post(app.url(&path)).form(&fields)).await;
    assert_eq!(first.status, 303);
    let second = send(client.post(app.url(&path)).form(&fields)).await;
    assert_eq!(second.status, 404);
    let bad = send(client.get(app.url("/reset/not-a-token"))).await;
    assert_eq!(bad.status, 404);
}

both_shapes!(
    sign_in_and_out,
    bad_credentials_look_alike,
    throttling,
    parallel_sign_ins_are_throttled,
    failures_from_one_address_do_not_lock_out_another,
    password_hashing_is_capped,
    csrf_and_origin,
    password_change_ends_other_sessions,
    reset_by_mail,
    reset_links_without_mail,
);
embedded_only!(secure_cookie_behind_https);
