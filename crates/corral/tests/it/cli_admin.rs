//! Admin commands against a running embedded server.

use std::time::Duration;

use corral_testkit::{ADMIN_PASSWORD, Embedded};

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

async fn sign_in(base: &str, email: &str, password: &str) -> reqwest::StatusCode {
    client()
        .post(format!("{base}/login"))
        .form(&[("email", email), ("password", password), ("next", "/")])
        .send()
        .await
        .unwrap()
        .status()
}

/// `corral user reset-link` prints a one-time link that sets a new password.
#[tokio::test]
async fn a_reset_link_from_the_cli_sets_a_new_password() {
    let dir = tempfile::tempdir().unwrap();
    let server = Embedded::start(dir.path(), &[]).await;
    let email = corral::serve::DEFAULT_ADMIN_EMAIL;
    assert_eq!(sign_in(&server.base_url, email, ADMIN_PASSWORD).await, 303);

    let link = server.cli(&[
        "user",
        "reset-link",
        "--email",
        email,
        "--base-url",
        &server.base_url,
    ]);
    let link = link.trim();
    assert!(
        link.starts_with(&format!("{}/reset/", server.base_url)),
        "{link}"
    );
    let page = client().get(link).send().await.unwrap();
    assert_eq!(page.status(), 200);

    let new_password = "a brand new password";
    let set = client()
        .post(link)
        .form(&[("password", new_password), ("confirm", new_password)])
        .send()
        .await
        .unwrap();
    assert!(
        set.status().is_success() || set.status().is_redirection(),
        "{}",
        set.status()
    );
    assert_eq!(sign_in(&server.base_url, email, new_password).await, 303);
    assert_ne!(
        sign_in(&server.base_url, email, ADMIN_PASSWORD).await,
        303,
        "the old password is gone"
    );
    // the link works once
    let again = client()
        .post(link)
        .form(&[
            ("password", "yet another password"),
            ("confirm", "yet another password"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 404);
    // an unknown user is an error, not a link
    let out = std::process::Command::new(corral_testkit::bin("corral"))
        .args([
            "--data-dir",
            dir.path().to_str().unwrap(),
            "user",
            "reset-link",
            "--email",
            "nobody@example.com",
        ])
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    assert!(!out.status.success());
}
