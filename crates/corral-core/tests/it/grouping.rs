//! What groups together and what does not.

use chrono::Utc;
use corral_core::{GROUPING_CONFIG, grouping_components, grouping_hashes, normalize};
use corral_protocol::Event;
use serde_json::{Value, json};

/// The hashes of an event as the digest computes them (after normalization).
fn hashes(value: Value) -> Vec<String> {
    let mut event: Event = serde_json::from_value(value).unwrap();
    normalize(&mut event, Utc::now());
    grouping_hashes(&event, GROUPING_CONFIG)
        .into_iter()
        .map(|h| h.hash)
        .collect()
}

fn shares_a_hash(a: &[String], b: &[String]) -> bool {
    a.iter().any(|h| b.contains(h))
}

fn python_error(ty: &str, value: &str, frames: Value) -> Value {
    json!({
        "platform": "python",
        "exception": {"values": [{"type": ty, "value": value, "stacktrace": {"frames": frames}}]},
    })
}

fn frame(module: &str, function: &str, lineno: u32, in_app: bool) -> Value {
    json!({
        "module": module,
        "filename": format!("{}.py", module.replace('.', "/")),
        "abs_path": format!("/srv/app/{}.py", module.replace('.', "/")),
        "function": function,
        "lineno": lineno,
        "context_line": format!("    line {lineno}"),
        "in_app": in_app,
    })
}

#[test]
fn hashes_are_32_lowercase_hex_with_the_config() {
    let mut event: Event = serde_json::from_value(json!({"message": "hello"})).unwrap();
    normalize(&mut event, Utc::now());
    let hashes = grouping_hashes(&event, "corral:test");
    assert_eq!(hashes.len(), 1);
    assert_eq!(hashes[0].config, "corral:test");
    assert_eq!(hashes[0].hash.len(), 32);
    assert!(
        hashes[0]
            .hash
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    );
}

#[test]
fn same_error_from_other_line_numbers_groups_together() {
    let a = python_error(
        "ZeroDivisionError",
        "division by zero",
        json!([
            frame("shop.views", "checkout", 10, true),
            frame("shop.cart", "total", 42, true)
        ]),
    );
    let b = python_error(
        "ZeroDivisionError",
        "division by zero",
        json!([
            frame("shop.views", "checkout", 12, true),
            frame("shop.cart", "total", 57, true)
        ]),
    );
    assert_eq!(hashes(a), hashes(b));
}

#[test]
fn different_exception_types_do_not_group() {
    let frames = json!([frame("shop.views", "checkout", 10, true)]);
    let a = python_error("ZeroDivisionError", "x", frames.clone());
    let b = python_error("KeyError", "x", frames);
    assert!(!shares_a_hash(&hashes(a), &hashes(b)));
}

#[test]
fn different_code_paths_do_not_group() {
    let a = python_error(
        "KeyError",
        "'id'",
        json!([frame("shop.views", "checkout", 10, true)]),
    );
    let b = python_error(
        "KeyError",
        "'id'",
        json!([frame("shop.views", "refund", 10, true)]),
    );
    assert!(!shares_a_hash(&hashes(a), &hashes(b)));
}

#[test]
fn numbers_and_ids_in_values_and_messages_do_not_split() {
    let error = |value: &str| json!({"exception": [{"type": "LookupError", "value": value}]});
    assert_eq!(
        hashes(error(
            "order 1234 of user 0b8b0c5e-8f5c-4a89-9b6a-2f7d0c1e4a11 not found"
        )),
        hashes(error(
            "order 98 of user 6f1d2c3b-0000-4a89-9b6a-2f7d0c1e4a11 not found"
        ))
    );
    assert_ne!(
        hashes(error("order 1234 not found")),
        hashes(error("order 1234 was cancelled"))
    );

    let message = |text: &str| json!({"message": text});
    assert_eq!(
        hashes(message(
            "Timeout after 30s talking to 10.0.0.7:6379 at 2026-11-02T10:00:00Z"
        )),
        hashes(message(
            "Timeout after 5s talking to 10.0.0.9:6379 at 2026-11-03T23:59:59Z"
        ))
    );
    assert_ne!(hashes(message("cache miss")), hashes(message("cache hit")));
}

#[test]
fn same_message_template_with_other_params_groups_together() {
    let log = |params: Value| json!({"logentry": {"message": "user %s failed to log in from %s", "params": params}});
    assert_eq!(
        hashes(log(json!(["alice", "Paris"]))),
        hashes(log(json!(["bob", "Lima"])))
    );
    let other = json!({"logentry": {"message": "user %s logged out", "params": ["alice"]}});
    assert_ne!(hashes(log(json!(["alice", "Paris"]))), hashes(other));
}

#[test]
fn a_fingerprint_merges_different_errors() {
    let a = python_error(
        "ConnectionError",
        "refused",
        json!([frame("shop.db", "connect", 1, true)]),
    );
    let b = python_error(
        "TimeoutError",
        "timed out",
        json!([frame("shop.cache", "get", 1, true)]),
    );
    assert_ne!(hashes(a.clone()), hashes(b.clone()));

    let with = |mut event: Value| {
        event["fingerprint"] = json!(["database-unreachable"]);
        event
    };
    assert_eq!(hashes(with(a)), hashes(with(b)));
}

#[test]
fn default_plus_an_extra_part_splits_by_the_part() {
    let error = |fingerprint: Value| {
        let mut event = python_error(
            "PaymentError",
            "declined",
            json!([frame("shop.pay", "charge", 1, true)]),
        );
        event["fingerprint"] = fingerprint;
        event
    };
    let plain = hashes(error(Value::Null));
    let only_default = hashes(error(json!(["{{ default }}"])));
    let visa = hashes(error(json!(["{{ default }}", "visa"])));
    let visa_again = hashes(error(json!(["{{default}}", "visa"])));
    let amex = hashes(error(json!(["{{ default }}", "amex"])));
    assert_eq!(plain, only_default, "{{ default }} alone is the default");
    assert_eq!(visa, visa_again, "both spellings of the variable");
    assert_ne!(visa, amex);
    assert!(!shares_a_hash(&visa, &plain));
    assert!(!shares_a_hash(&visa, &amex));
}

#[test]
fn fingerprint_variables() {
    let error = |ty: &str, fingerprint: Value| json!({"exception": [{"type": ty, "value": "v"}], "transaction": "/pay", "fingerprint": fingerprint});
    // by transaction: different types merge
    assert_eq!(
        hashes(error("A", json!(["{{ transaction }}"]))),
        hashes(error("B", json!(["{{ transaction }}"])))
    );
    // by type: different types split
    assert_ne!(
        hashes(error("A", json!(["{{ type }}", "{{ transaction }}"]))),
        hashes(error("B", json!(["{{ type }}", "{{ transaction }}"])))
    );
}

#[test]
fn in_app_frames_decide_and_library_frames_do_not() {
    let event = |library: &str| {
        python_error(
            "ValueError",
            "bad",
            json!([
                frame(library, "dispatch", 1, false),
                frame("shop.views", "checkout", 2, true),
                frame("shop.forms", "clean", 3, true),
                frame(&format!("{library}.validators"), "validate", 4, false),
            ]),
        )
    };
    let django = hashes(event("django.core"));
    let flask = hashes(event("flask.app"));
    assert_eq!(django[0], flask[0], "the in-app frames are the same");
    assert_eq!(django.len(), 2, "in-app and full-stack descriptions");
    assert_ne!(django[1], flask[1]);

    let other_app_code = python_error(
        "ValueError",
        "bad",
        json!([
            frame("django.core", "dispatch", 1, false),
            frame("shop.views", "refund", 2, true),
            frame("shop.forms", "clean", 3, true),
            frame("django.core.validators", "validate", 4, false),
        ]),
    );
    assert!(!shares_a_hash(&django, &hashes(other_app_code)));

    // without in-app frames, every frame counts
    let no_app = |library: &str| {
        python_error(
            "ValueError",
            "bad",
            json!([
                frame(library, "dispatch", 1, false),
                frame("lib.x", "y", 2, false)
            ]),
        )
    };
    assert_ne!(hashes(no_app("django.core")), hashes(no_app("flask.app")));
    assert_eq!(hashes(no_app("django.core")).len(), 1);
}

#[test]
fn a_chained_exception_hashes_every_exception_of_the_chain() {
    let chain = |cause: &str| {
        json!({"platform": "python", "exception": {"values": [
            {"type": cause, "value": "inner", "stacktrace": {"frames": [frame("shop.db", "query", 1, true)]}},
            {"type": "ServiceError", "value": "outer", "stacktrace": {"frames": [frame("shop.api", "handle", 1, true)]}},
        ]}})
    };
    assert_eq!(
        hashes(chain("OperationalError")),
        hashes(chain("OperationalError"))
    );
    assert!(!shares_a_hash(
        &hashes(chain("OperationalError")),
        &hashes(chain("IntegrityError"))
    ));
    let outer_only = json!({"platform": "python", "exception": {"values": [
        {"type": "ServiceError", "value": "outer", "stacktrace": {"frames": [frame("shop.api", "handle", 1, true)]}},
    ]}});
    assert!(!shares_a_hash(
        &hashes(chain("OperationalError")),
        &hashes(outer_only)
    ));
}

#[test]
fn generated_names_do_not_split() {
    let java = |lambda: &str, proxy: &str| {
        json!({"platform": "java", "exception": [{"type": "java.lang.IllegalStateException", "value": "x",
        "stacktrace": {"frames": [
            {"module": format!("com.acme.Service$$Lambda${lambda}"), "function": "apply", "in_app": true},
            {"module": "com.acme.Service", "function": format!("lambda$process${lambda}"), "in_app": true},
            {"module": format!("jdk.proxy2.$Proxy{proxy}"), "function": "invoke", "in_app": false},
        ]}}]})
    };
    assert_eq!(
        hashes(java("12/0x0000000800c02a00", "31")),
        hashes(java("97/0x0000000800d1b440", "7"))
    );

    let node = |function: &str| {
        json!({"platform": "node", "exception": [{"type": "TypeError", "value": "x",
        "stacktrace": {"frames": [
            {"filename": "/app/src/index.js", "function": function, "in_app": true},
            {"filename": "/app/src/run.js", "function": "run", "in_app": true},
        ]}}]})
    };
    assert_eq!(
        hashes(node("Object.<anonymous>")),
        hashes(node("Module.<anonymous>"))
    );
}

#[test]
fn bundle_hashes_and_deploy_paths_do_not_split() {
    let js = |bundle: &str| {
        json!({"platform": "javascript", "exception": [{"type": "TypeError", "value": "x is undefined",
        "stacktrace": {"frames": [
            {"filename": format!("https://shop.example/static/js/{bundle}"), "function": "render", "in_app": true},
        ]}}]})
    };
    assert_eq!(
        hashes(js("main.3f9a2c1b.chunk.js")),
        hashes(js("main.a81c0e77.chunk.js"))
    );
    let ruby = |root: &str, gem: &str| {
        json!({"platform": "ruby", "exception": [{"type": "NoMethodError", "value": "x",
        "stacktrace": {"frames": [
            {"filename": format!("{root}/app/controllers/orders_controller.rb"), "function": "create", "in_app": true},
            {"filename": format!("{gem} lib/action_controller/metal.rb"), "function": "dispatch", "in_app": false},
        ]}}]})
    };
    assert_eq!(
        hashes(ruby("/srv/releases/20261101", "actionpack (7.0.1)")),
        hashes(ruby("/home/dev/shop", "actionpack (7.1.0)"))
    );
}

#[test]
fn anonymous_minified_frames_fall_back_to_the_value() {
    let minified = |value: &str, col: u32| {
        json!({"platform": "javascript", "exception": [{"type": "Error", "value": value,
        "stacktrace": {"frames": [
            {"filename": "http://127.0.0.1:8080/dist/bundle.js", "function": "?", "in_app": true, "lineno": 2, "colno": col},
        ]}}]})
    };
    assert_eq!(
        hashes(minified("this is an error", 74008)),
        hashes(minified("this is an error", 11))
    );
    assert_ne!(
        hashes(minified("this is an error", 1)),
        hashes(minified("another error", 1))
    );
}

#[test]
fn recursion_depth_does_not_split() {
    let recursive = |depth: usize| {
        let mut frames = vec![frame("shop.tree", "walk", 1, true); depth];
        frames.insert(0, frame("shop.main", "main", 1, true));
        python_error(
            "RecursionError",
            "maximum recursion depth exceeded",
            json!(frames),
        )
    };
    assert_eq!(hashes(recursive(3)), hashes(recursive(950)));
}

#[test]
fn transactions_are_not_grouped() {
    assert!(hashes(json!({"type": "transaction", "transaction": "/"})).is_empty());
}

#[test]
fn events_without_anything_group_together() {
    assert_eq!(hashes(json!({})), hashes(json!({"level": "warning"})));
    assert_ne!(hashes(json!({})), hashes(json!({"message": "m"})));
}

#[test]
fn hashes_are_stable_across_runs_and_builds() {
    // Stored issues are found again by these hashes: a change here regroups
    // every project. Change GROUPING_CONFIG instead of this value.
    let event = python_error(
        "ZeroDivisionError",
        "division by zero",
        json!([
            frame("django.core.handlers.base", "_get_response", 1, false),
            frame("errors.views", "get", 2, true)
        ]),
    );
    let mut parsed: Event = serde_json::from_value(event).unwrap();
    normalize(&mut parsed, Utc::now());
    assert_eq!(
        grouping_components(&parsed),
        vec![
            vec![
                "exception",
                "ZeroDivisionError",
                "frames",
                "errors.views",
                "get"
            ],
            vec![
                "exception",
                "ZeroDivisionError",
                "frames",
                "django.core.handlers.base",
                "_get_response",
                "errors.views",
                "get"
            ],
        ]
    );
    let hashes: Vec<String> = grouping_hashes(&parsed, GROUPING_CONFIG)
        .into_iter()
        .map(|h| h.hash)
        .collect();
    assert_eq!(
        hashes,
        vec![GOLDEN_APP_HASH.to_owned(), GOLDEN_SYSTEM_HASH.to_owned()]
    );
}

/// MD5 of the length-prefixed components above, computed outside Rust
/// (Python's hashlib) from the documented encoding `<byte length>:<bytes>`.
const GOLDEN_APP_HASH: &str = "f12c6693cbec54ea34abc60684eaaa8c";
const GOLDEN_SYSTEM_HASH: &str = "599f301fe930864f7912004fbee74da2";
