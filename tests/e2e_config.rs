//! End to end: a deployment with a bad setting. The error is clear (HTTP 500 naming the
//! variable) on the requests it affects, and never a silent fallback to a default.

mod common;

use common::server_with;
use serde_json::Value;

const BAD: &[(&str, &str)] = &[("ROOM_CAPACITY", "lots"), ("ADMIN_SECRET", "cfg-admin")];

fn assert_config_error(status: u16, body: &str) {
    assert_eq!(status, 500, "{body}");
    let v: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
    assert_eq!(v["error"], "server_misconfigured", "{body}");
    let message = v["message"].as_str().unwrap();
    assert!(
        message.contains("ROOM_CAPACITY") && message.contains("lots"),
        "{message}"
    );
}

/// Joins and room info fail with a 500 that names the variable; nothing is silently defaulted.
#[tokio::test]
async fn a_bad_setting_is_a_500_naming_the_variable() {
    let s = server_with(BAD);
    let (status, body) = s.refusal("/rooms/cfg?peer=alice");
    assert_config_error(status, &body);
    let (status, body) = s.get("/api/rooms/cfg").unwrap();
    assert_config_error(status, &body);
    // The readiness probe says so too (its liveness twin, /healthz, does not: below).
    let (status, body) = s.get("/readyz").unwrap();
    assert_config_error(status, &body);
}

/// The admin API checks its secret before the settings: without it a request learns nothing,
/// not even that a setting is bad (control v1: "checked before anything else").
#[tokio::test]
async fn the_admin_secret_is_checked_before_the_settings() {
    let s = server_with(BAD);
    let (status, body) = s.request("GET", "/api/admin/rooms/cfg", &[], None);
    assert_eq!(status, 401, "{body}");
    let auth = [("Authorization", "Bearer cfg-admin")];
    let (status, body) = s.request("GET", "/api/admin/rooms/cfg", &auth, None);
    assert_config_error(status, &body);
}

/// Requests the setting does not affect still work.
#[tokio::test]
async fn unaffected_routes_still_answer() {
    let s = server_with(BAD);
    assert_eq!(s.get("/healthz").unwrap(), (200, "ok".to_owned()));
    assert_eq!(s.get("/rooms/cfg").unwrap().0, 200);
    // Request syntax is still checked first: a bad room name is a 400, not a 500.
    assert_eq!(s.get("/api/rooms/bad.name").unwrap().0, 400);
}
