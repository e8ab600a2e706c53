//! End to end: coturn's REST scheme. With `TURN_SECRET` and `TURN_URLS` set, every `welcome`
//! carries the configured STUN servers and then a TURN entry whose username names its expiry
//! and the peer's id, signed with the shared secret.

mod common;

use common::{server_with, unique_room};
use edge_signal::turn::rest_credential;
use serde_json::{json, Value};

const SECRET: &str = "e2e-turn-secret";
const VARS: &[(&str, &str)] = &[
    ("ICE_SERVERS", r#"[{"urls":"stun:stun.example.com:3478"}]"#),
    ("TURN_SECRET", SECRET),
    (
        "TURN_URLS",
        "turn:turn.example.com:3478?transport=udp,turns:turn.example.com:5349?transport=tcp",
    ),
    ("TURN_TTL_S", "900"),
];

fn now_s() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Checks the TURN entry of `welcome` and returns its username.
fn check_turn_entry(welcome: &Value) -> String {
    let servers = welcome["ice_servers"].as_array().expect("ice_servers");
    assert_eq!(servers.len(), 2, "{welcome}");
    assert_eq!(servers[0], json!({"urls": "stun:stun.example.com:3478"}));
    let turn = &servers[1];
    assert_eq!(
        turn["urls"],
        json!([
            "turn:turn.example.com:3478?transport=udp",
            "turns:turn.example.com:5349?transport=tcp"
        ])
    );
    let username = turn["username"].as_str().unwrap();
    let (expiry, peer) = username.split_once(':').unwrap();
    assert_eq!(peer, welcome["peer"].as_str().unwrap());
    let expiry: u64 = expiry.parse().unwrap();
    let expected = now_s() + 900;
    assert!(
        expiry.abs_diff(expected) <= 5,
        "expiry {expiry}, expected about {expected}"
    );
    assert_eq!(
        turn["credential"].as_str().unwrap(),
        rest_credential(SECRET.as_bytes(), username)
    );
    username.to_owned()
}

#[tokio::test]
async fn every_welcome_carries_credentials_for_its_own_peer() {
    let s = server_with(VARS);
    let room = unique_room("turn-rest");
    let (_alice, a) = s.join(&room, "peer=alice").await;
    let (_anon, b) = s.join(&room, "").await; // a server-assigned id is in the username too
    let ua = check_turn_entry(&a);
    let ub = check_turn_entry(&b);
    assert!(ua.ends_with(":alice"));
    assert_ne!(ua, ub);
}

#[tokio::test]
async fn a_resume_gets_fresh_credentials() {
    let s = server_with(VARS);
    let room = unique_room("turn-resume");
    let (_old, w) = s.join(&room, "peer=carol").await;
    check_turn_entry(&w);
    let secret = w["resume"].as_str().unwrap();
    let (_new, again) = s.join(&room, &format!("peer=carol&resume={secret}")).await;
    assert_eq!(again["resumed"], true);
    assert!(check_turn_entry(&again).ends_with(":carol"));
}

/// `GET /api/rooms/{room}/ice-servers` mints what a welcome would carry, for clients whose
/// protocol has no place for ICE servers (matchbox, PeerJS), readable from any origin.
#[tokio::test]
async fn the_ice_servers_endpoint_mints_as_a_welcome_does() {
    let s = server_with(VARS);
    let room = unique_room("turn-http");
    let resp = ureq::get(&s.http_url(&format!("/api/rooms/{room}/ice-servers")))
        .set("Origin", "https://game.example.com")
        .call()
        .unwrap();
    assert_eq!(resp.header("access-control-allow-origin"), Some("*"));
    assert_eq!(resp.header("cache-control"), Some("no-store"));
    let body: Value = serde_json::from_str(&resp.into_string().unwrap()).unwrap();
    // The same entries a welcome has, for a random id of the server's (no token here).
    let servers = &body["iceServers"];
    let username = servers[1]["username"].as_str().unwrap();
    let peer = username.split_once(':').unwrap().1;
    assert_eq!(peer.len(), 32, "{username}");
    check_turn_entry(&json!({"ice_servers": servers, "peer": peer}));
    // Each call mints anew.
    let again = s.get_json(&format!("/api/rooms/{room}/ice-servers")).1;
    assert_ne!(again["iceServers"][1]["username"], servers[1]["username"]);
}
