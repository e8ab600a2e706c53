//! End to end: `WEBHOOK_URL` without `WEBHOOK_SECRET` (control v1: both or neither). Every
//! request that reads the settings is a 500 naming the missing one, so a deployment never runs
//! with webhooks silently off; `/healthz` (liveness) still answers.

mod common;

use common::server_with;
use serde_json::Value;

#[tokio::test]
async fn a_webhook_url_alone_is_a_500_naming_the_secret() {
    let s = server_with(&[("WEBHOOK_URL", "http://127.0.0.1:9/hook")]);
    for path in ["/api/rooms/cfg", "/readyz"] {
        let (status, body) = s.get(path).unwrap();
        assert_eq!(status, 500, "{path}: {body}");
        let v: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
        assert_eq!(v["error"], "server_misconfigured", "{body}");
        let message = v["message"].as_str().unwrap();
        assert!(message.contains("WEBHOOK_SECRET"), "{message}");
    }
    let (status, body) = s.refusal("/rooms/cfg?peer=alice");
    assert_eq!(status, 500, "{body}");
    assert!(body.contains("WEBHOOK_SECRET"), "{body}");
    assert_eq!(s.get("/healthz").unwrap(), (200, "ok".to_owned()));
}
