//! `corral alerts …` through the real binary, after `cli_script`'s script
//! set up organization `acme-cli` with project `api` and member
//! `dev@acme-cli.test`: channels and rules made, listed (secrets masked)
//! and deleted, what the server then serves of them, mistakes refused with
//! a clear error and a failing exit status, and the delivery log.

use std::time::Duration;

use corral_testkit::Api;
use serde_json::Value;

use crate::cli_script::Admin;

const SECRET: &str = "cli-webhook-secret-0123456789";

pub(crate) async fn alerts(admin: &Admin) {
    let hook = admin.json(&[
        "alerts",
        "channels",
        "create",
        "--org",
        "acme-cli",
        "--name",
        "ops",
        "--kind",
        "webhook",
        "--url",
        "https://hooks.example.com/corral",
        "--secret",
        SECRET,
    ]);
    assert_eq!(hook[0]["name"], "ops");
    assert_eq!(hook[0]["kind"], "webhook");
    let hook_id = hook[0]["id"].as_i64().expect("an id");
    let out = admin.ok(&[
        "alerts",
        "channels",
        "create",
        "--org",
        "acme-cli",
        "--name",
        "mail",
        "--kind",
        "email",
        "--address",
        "oncall@example.com",
        "--address",
        "boss@example.com",
        "--project-members",
    ]);
    assert!(out.starts_with("created channel mail"), "{out}");

    let listed = admin.json(&["alerts", "channels", "list", "--org", "acme-cli"]);
    let names: Vec<&str> = listed.iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["mail", "ops"]);
    assert_eq!(listed[1]["config"]["secret"], "••••6789");
    let table = admin.ok(&["alerts", "channels", "list", "--org", "acme-cli"]);
    assert!(
        table.contains("oncall@example.com") && table.contains("project members"),
        "{table}"
    );
    for text in [serde_json::to_string(&listed).unwrap(), table] {
        assert!(!text.contains(SECRET), "the secret is not printed: {text}");
    }

    // mistakes: a clear error, a failing status, nothing made
    let create = |extra: &[&'static str]| {
        let mut args = vec![
            "alerts", "channels", "create", "--org", "acme-cli", "--name", "bad",
        ];
        args.extend_from_slice(extra);
        args
    };
    let err = admin.fails(&create(&[
        "--kind",
        "webhook",
        "--url",
        "ftp://x.example.com/",
        "--secret",
        SECRET,
    ]));
    assert_eq!(err.trim(), "error: invalid url: must be http or https");
    let err = admin.fails(&create(&[
        "--kind",
        "webhook",
        "--url",
        "https://x.example.com/",
        "--secret",
        "short",
    ]));
    assert_eq!(
        err.trim(),
        "error: invalid secret: must be 16 to 256 characters"
    );
    let err = admin.fails(&create(&["--kind", "slack"]));
    assert_eq!(err.trim(), "error: a slack channel needs --url");
    let err = admin.fails(&create(&["--kind", "email"]));
    assert!(err.contains("invalid targets"), "{err}");
    let err = admin.fails(&create(&["--kind", "fax"]));
    assert!(err.contains("invalid value 'fax'"), "{err}");
    let err = admin.fails(&["alerts", "channels", "list", "--org", "nowhere"]);
    assert_eq!(err.trim(), "error: no organization nowhere");
    assert_eq!(
        admin
            .json(&["alerts", "channels", "list", "--org", "acme-cli"])
            .len(),
        2
    );

    let rule = admin.json(&[
        "alerts",
        "rules",
        "create",
        "--org",
        "acme-cli",
        "--project",
        "api",
        "--name",
        "hot",
        "--condition",
        "new_issue",
        "--condition",
        "frequency:100:5",
        "--channel",
        "ops",
        "--channel",
        &hook_id.to_string(),
        "--channel",
        "mail",
        "--interval",
        "15",
        "--environment",
        "production",
        "--level-at-least",
        "error",
    ]);
    assert_eq!(rule[0]["name"], "hot");
    assert_eq!(rule[0]["action_interval_minutes"], 15);
    assert_eq!(
        rule[0]["channel_names"],
        serde_json::json!(["ops", "mail"]),
        "once each"
    );
    assert_eq!(
        rule[0]["conditions"][1],
        serde_json::json!({"type": "frequency", "count": 100, "minutes": 5})
    );
    let rules = admin.json(&[
        "alerts",
        "rules",
        "list",
        "--org",
        "acme-cli",
        "--project",
        "api",
    ]);
    assert_eq!(rules.len(), 1);
    assert_eq!(rules[0]["filters"].as_array().unwrap().len(), 2);
    let table = admin.ok(&[
        "alerts",
        "rules",
        "list",
        "--org",
        "acme-cli",
        "--project",
        "api",
    ]);
    assert!(
        table.contains("when a new issue is seen or an issue is seen more than 100 times in 5 min if environment is production and level is at least error"),
        "{table}"
    );

    let rule_args = |extra: &[&'static str]| {
        let mut args = vec![
            "alerts",
            "rules",
            "create",
            "--org",
            "acme-cli",
            "--project",
            "api",
            "--name",
            "bad",
        ];
        args.extend_from_slice(extra);
        args
    };
    let err = admin.fails(&rule_args(&[
        "--condition",
        "sometimes",
        "--channel",
        "ops",
    ]));
    assert!(
        err.starts_with("error: unknown condition \"sometimes\"; expected new_issue"),
        "{err}"
    );
    let err = admin.fails(&rule_args(&[
        "--condition",
        "frequency:100",
        "--channel",
        "ops",
    ]));
    assert!(err.contains("unknown condition"), "{err}");
    let err = admin.fails(&rule_args(&[
        "--condition",
        "users:10:0",
        "--channel",
        "ops",
    ]));
    assert!(err.contains("invalid conditions: minutes must be"), "{err}");
    let err = admin.fails(&rule_args(&[
        "--condition",
        "new_issue",
        "--channel",
        "nope",
    ]));
    assert_eq!(
        err.trim(),
        "error: no channel \"nope\" in organization acme-cli"
    );
    let err = admin.fails(&rule_args(&["--condition", "new_issue"]));
    assert!(err.contains("--channel"), "a channel is required: {err}");
    let err = admin.fails(&rule_args(&[
        "--condition",
        "new_issue",
        "--channel",
        "ops",
        "--level-at-least",
        "loud",
    ]));
    assert!(err.contains("unknown level \"loud\""), "{err}");
    let err = admin.fails(&rule_args(&[
        "--condition",
        "new_issue",
        "--channel",
        "ops",
        "--interval",
        "0",
    ]));
    assert!(err.contains("invalid action_interval_minutes"), "{err}");
    // another organization's channel, by id, is not this one's
    admin.ok(&["org", "create", "other-cli"]);
    let theirs = admin.json(&[
        "alerts",
        "channels",
        "create",
        "--org",
        "other-cli",
        "--name",
        "theirs",
        "--kind",
        "slack",
        "--url",
        "https://hooks.example.com/theirs",
    ]);
    let theirs = theirs[0]["id"].as_i64().unwrap().to_string();
    let err = admin.fails(&[
        "alerts",
        "rules",
        "create",
        "--org",
        "acme-cli",
        "--project",
        "api",
        "--name",
        "bad",
        "--condition",
        "new_issue",
        "--channel",
        &theirs,
    ]);
    assert!(err.contains("no channel"), "{err}");
    assert_eq!(
        admin
            .json(&[
                "alerts",
                "rules",
                "list",
                "--org",
                "acme-cli",
                "--project",
                "api"
            ])
            .len(),
        1
    );

    // the server serves what the CLI made
    let token = admin.json(&["token", "create", "--email", "dev@acme-cli.test"]);
    let token = token[0]["token"].as_str().unwrap().to_string();
    let api = Api::new(admin.base_url(), &token);
    let (status, served) = api.get("/api/0/projects/acme-cli/api/rules/").await;
    assert_eq!(status, 200, "{served}");
    assert_eq!(served[0]["name"], "hot");
    let (status, channels) = api
        .get("/api/0/organizations/acme-cli/alert-channels/")
        .await;
    assert_eq!(status, 200, "{channels}");
    assert!(!channels.to_string().contains(SECRET));

    // the delivery log: a test notification queued through the server
    assert!(
        admin
            .json(&["alerts", "deliveries", "--org", "acme-cli"])
            .is_empty()
    );
    let owner = admin.json(&["token", "create", "--email", "dev@acme-cli.test"]);
    let owner = owner[0]["token"].as_str().unwrap().to_string();
    let tested = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
        .post(format!(
            "{}/api/0/organizations/acme-cli/alert-channels/{hook_id}/test/",
            admin.base_url()
        ))
        .bearer_auth(&owner)
        .send()
        .await
        .unwrap();
    assert!(
        matches!(tested.status().as_u16(), 200 | 202),
        "{}",
        tested.status()
    );
    let deliveries = admin.json(&["alerts", "deliveries", "--org", "acme-cli"]);
    assert_eq!(deliveries.len(), 1, "{deliveries:?}");
    assert_eq!(deliveries[0]["to"], "ops");
    assert_eq!(deliveries[0]["kind"], "test");
    let by_channel = admin.json(&[
        "alerts",
        "deliveries",
        "--org",
        "acme-cli",
        "--channel",
        "mail",
    ]);
    assert!(by_channel.is_empty());
    let status = deliveries[0]["status"].as_str().unwrap().to_string();
    let same = admin.json(&[
        "alerts",
        "deliveries",
        "--org",
        "acme-cli",
        "--status",
        &status,
    ]);
    assert_eq!(same.len(), 1);
    let err = admin.fails(&[
        "alerts",
        "deliveries",
        "--org",
        "acme-cli",
        "--status",
        "lost",
    ]);
    assert!(err.contains("unknown delivery status"), "{err}");

    // deleting
    let out = admin.ok(&[
        "alerts",
        "rules",
        "delete",
        "--org",
        "acme-cli",
        "--project",
        "api",
        "hot",
    ]);
    assert!(out.starts_with("deleted rule hot"), "{out}");
    assert!(
        admin
            .json(&[
                "alerts",
                "rules",
                "list",
                "--org",
                "acme-cli",
                "--project",
                "api"
            ])
            .is_empty()
    );
    let err = admin.fails(&[
        "alerts",
        "rules",
        "delete",
        "--org",
        "acme-cli",
        "--project",
        "api",
        "hot",
    ]);
    assert_eq!(err.trim(), "error: no rule \"hot\" in the project");
    admin.ok(&["alerts", "channels", "delete", "--org", "acme-cli", "ops"]);
    let left: Vec<Value> = admin.json(&["alerts", "channels", "list", "--org", "acme-cli"]);
    assert_eq!(left.len(), 1);
    assert_eq!(left[0]["name"], "mail");
}
