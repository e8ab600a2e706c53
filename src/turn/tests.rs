use super::*;
use serde_json::{json, Value};

/// The tree of a handed-out value, to compare regardless of spacing.
fn tree(j: &Json) -> Value {
    serde_json::from_str(j.get()).unwrap()
}

fn text(v: Value) -> Json {
    Json::of(&v)
}

fn peer(id: &str) -> PeerId {
    PeerId::parse(id).unwrap()
}

#[test]
fn rest_credential_is_hmac_sha1_in_base64() {
    // RFC 2202, HMAC-SHA1 test case 2 (digest effcdf6a...259a7c79), base64-encoded.
    assert_eq!(
        rest_credential(b"Jefe", "what do ya want for nothing?"),
        "7/zfauXrL6LSdBbV8YTfnCWafHk="
    );
    // The REST scheme's username, as Python's hmac + hashlib.sha1 + base64 compute it:
    // base64.b64encode(hmac.new(b"north-turn-secret", b"1767225600:alice", hashlib.sha1).digest())
    assert_eq!(
        rest_credential(b"north-turn-secret", "1767225600:alice"),
        "7DeUSPZ9bgPfZZ/wyoKAlQNIkpE="
    );
}

#[test]
fn rest_entry_names_the_expiry_and_the_peer() {
    let turn = RestTurn {
        secret: "north-turn-secret".into(),
        urls: vec![
            "turn:turn.example.com:3478".into(),
            "turns:turn.example.com:5349".into(),
        ],
        ttl_s: 3600,
    };
    let entry = turn.ice_server(&peer("alice"), 1_767_222_000);
    assert_eq!(
        tree(&entry),
        json!({
            "urls": ["turn:turn.example.com:3478", "turns:turn.example.com:5349"],
            "username": "1767225600:alice",
            "credential": "7DeUSPZ9bgPfZZ/wyoKAlQNIkpE="
        })
    );
    // Another peer, another credential.
    assert_ne!(
        tree(&turn.ice_server(&peer("bob"), 1_767_222_000))["credential"],
        tree(&entry)["credential"]
    );
}

#[test]
fn secrets_stay_out_of_debug_output() {
    let rest = RestTurn {
        secret: "north-turn-secret".into(),
        urls: vec!["turn:t".into()],
        ttl_s: 60,
    };
    let cf = CloudflareTurn {
        key_id: "k".into(),
        api_token: "api-token-value".into(),
        ttl_s: 60,
        api_url: CLOUDFLARE_API_URL.into(),
        timeout_ms: 1000,
    };
    let shown = format!("{rest:?} {cf:?}");
    assert!(!shown.contains("north-turn-secret") && !shown.contains("api-token-value"));
}

fn cloudflare() -> CloudflareTurn {
    CloudflareTurn {
        key_id: "0123abcd".into(),
        api_token: "tok".into(),
        ttl_s: 3600,
        api_url: "https://rtc.live.cloudflare.com/v1/".into(),
        timeout_ms: 1500,
    }
}

#[test]
fn cloudflare_request() {
    let cf = cloudflare();
    assert_eq!(
        cf.endpoint(),
        "https://rtc.live.cloudflare.com/v1/turn/keys/0123abcd/credentials/generate-ice-servers"
    );
    assert_eq!(cf.authorization(), "Bearer tok");
    assert_eq!(cf.request_body(), r#"{"ttl":3600}"#);
    assert_eq!(cf.cache_ms(), 1_800_000);
}

#[test]
fn cloudflare_answer_keeps_the_turn_entries() {
    // The shape of Cloudflare's documented answer: STUN first, then TURN with credentials.
    let body = r#"{"iceServers":[
        {"urls":["stun:stun.cloudflare.com:3478","stun:stun.cloudflare.com:53"]},
        {"urls":["turn:turn.cloudflare.com:3478?transport=udp","turns:turn.cloudflare.com:5349?transport=tcp"],
         "username":"u-1","credential":"c-1"}]}"#;
    assert_eq!(
        parse_cloudflare_answer(body)
            .unwrap()
            .iter()
            .map(tree)
            .collect::<Vec<_>>(),
        vec![json!({
            "urls": ["turn:turn.cloudflare.com:3478?transport=udp", "turns:turn.cloudflare.com:5349?transport=tcp"],
            "username": "u-1",
            "credential": "c-1"
        })]
    );
    // A single URL string is an RTCIceServer too.
    let one = r#"{"iceServers":[{"urls":"turn:t.example:3478","username":"u","credential":"c"}]}"#;
    assert_eq!(parse_cloudflare_answer(one).unwrap().len(), 1);
}

#[test]
fn odd_cloudflare_answers_are_errors() {
    for body in [
        "",
        "not json",
        r#"{"errors":[{"message":"unauthorized"}]}"#,
        r#"{"iceServers":[]}"#,
        r#"{"iceServers":[{"urls":["stun:stun.cloudflare.com:3478"]}]}"#,
        r#"{"iceServers":[{"urls":["http://x"],"username":"u","credential":"c"}]}"#,
        r#"{"iceServers":[{"urls":[],"username":"u","credential":"c"}]}"#,
        r#"{"iceServers":[{"urls":7,"username":"u","credential":"c"}]}"#,
    ] {
        assert!(parse_cloudflare_answer(body).is_err(), "{body}");
    }
}

#[test]
fn cache_hands_out_for_its_time_and_backs_off_after_a_failure() {
    let mut cache = TurnCache::default();
    assert_eq!(cache.lookup(0), Lookup::Fetch);

    cache.store(&Err("timed out".into()), 1_000, 60_000);
    assert_eq!(cache.lookup(1_000), Lookup::Skip);
    assert_eq!(
        cache.lookup(1_000 + RETRY_AFTER_FAILURE_MS - 1),
        Lookup::Skip
    );
    assert_eq!(cache.lookup(1_000 + RETRY_AFTER_FAILURE_MS), Lookup::Fetch);

    let servers = vec![text(
        json!({"urls":"turn:t","username":"u","credential":"c"}),
    )];
    cache.store(&Ok(servers.clone()), 10_000, 60_000);
    assert_eq!(cache.lookup(10_000), Lookup::Hit(servers.clone()));
    assert_eq!(cache.lookup(69_999), Lookup::Hit(servers));
    assert_eq!(cache.lookup(70_000), Lookup::Fetch);
}

#[test]
fn turn_entries_follow_the_configured_servers() {
    let configured = text(json!([{"urls": "stun:stun.cloudflare.com:3478"}]));
    let turn = vec![text(
        json!({"urls": "turn:t", "username": "u", "credential": "c"}),
    )];
    assert_eq!(
        tree(&with_turn(&configured, turn)),
        json!([
            {"urls": "stun:stun.cloudflare.com:3478"},
            {"urls": "turn:t", "username": "u", "credential": "c"}
        ])
    );
    assert_eq!(with_turn(&text(json!([])), vec![]).get(), "[]");
    // Spacing in ICE_SERVERS is kept; what is appended still makes one array.
    let spaced = Json::parse(" [ {\"urls\": \"stun:s\"} ] ").unwrap();
    let joined = with_turn(&spaced, vec![text(json!({"urls": "turn:t"}))]);
    assert_eq!(
        tree(&joined),
        json!([{"urls": "stun:s"}, {"urls": "turn:t"}])
    );
    let empty = Json::parse("[ ]").unwrap();
    let joined = with_turn(
        &empty,
        vec![
            text(json!({"urls": "turn:a"})),
            text(json!({"urls": "turn:b"})),
        ],
    );
    assert_eq!(
        tree(&joined),
        json!([{"urls": "turn:a"}, {"urls": "turn:b"}])
    );
}
