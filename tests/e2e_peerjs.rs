//! End to end: the PeerJS endpoint (`docs/peerjs.md`) frame by frame, as peerjs-server 1.0
//! answers the `peerjs` client, on a signed deployment with an origin list and discovery on (so
//! those paths are covered too). The real `peerjs` client in a browser is
//! `tests/browser/peerjs.test.mjs`.

mod common;

use common::{server_with, unique_room, Client, Server};
use edge_signal::auth::{mint, peerjs_room_claim, Claims};
use serde_json::{json, Value};

const SECRET: &str = "peerjs-test-secret";
const APP: &str = "https://app.example";
const EXPIRE_MS: u64 = 1500;

fn server() -> &'static Server {
    server_with(&[
        ("AUTH_SECRET", SECRET),
        ("ALLOWED_ORIGINS", APP),
        ("PEERJS_EXPIRE_MS", "1500"),
        ("PEERJS_DISCOVERY", "true"),
    ])
}

/// A signed PeerJS token for `id` on `key`; `salt` makes another token for the same peer. The
/// same arguments give the same token all run long (its expiry counts from the first call, not
/// from now: a takeover presents "the same token" only if it is byte for byte the same, and two
/// calls a second apart used to mint two).
fn token(key: &str, id: &str, salt: u64) -> String {
    static BASE: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let base = *BASE.get_or_init(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    });
    let exp = base + 600 + salt;
    mint(
        SECRET.as_bytes(),
        &Claims {
            room: peerjs_room_claim(key),
            peer: Some(id.into()),
            exp,
            nbf: None,
            meta: None,
        },
    )
}

fn encode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Opens `/peerjs/peerjs?key=..&id=..&token=..&version=1.5.5` from the app's origin.
async fn socket(s: &Server, key: &str, id: &str, token: &str) -> Client {
    let path = format!(
        "/peerjs/peerjs?key={}&id={}&token={}&version=1.5.5",
        encode(key),
        encode(id),
        encode(token)
    );
    s.connect_path(&path, &[("Origin", APP)])
        .await
        .map(|(c, _)| c)
        .expect("PeerJS upgrades are always accepted")
}

/// A peer that got `OPEN`.
async fn open(s: &Server, key: &str, id: &str) -> Client {
    let mut c = socket(s, key, id, &token(key, id, 0)).await;
    assert_eq!(c.recv().await, json!({"type": "OPEN"}), "{id}");
    c
}

/// The `ERROR` a refused socket gets, and its close code.
async fn refused(c: &mut Client) -> (String, u16) {
    let error = c.recv().await;
    assert_eq!(error["type"], "ERROR", "{error}");
    let msg = error["payload"]["msg"].as_str().unwrap().to_owned();
    (msg, c.recv_close().await)
}

fn key() -> String {
    unique_room("pj")
}

#[tokio::test]
async fn messages_are_relayed_with_the_senders_id_in_order() {
    let s = server();
    let k = key();
    let mut a = open(s, &k, "alice 1").await;
    let mut b = open(s, &k, "bob").await;
    let payload = json!({"sdp": {"type": "offer", "sdp": "v=0\r\n"}, "type": "data", "connectionId": "dc_1", "label": "é"});
    // A forged src is replaced.
    a.send_json(json!({"type": "OFFER", "src": "mallory", "dst": "bob", "payload": payload}))
        .await;
    assert_eq!(
        b.recv().await,
        json!({"type": "OFFER", "src": "alice 1", "dst": "bob", "payload": payload})
    );
    b.send_json(json!({"type": "ANSWER", "dst": "alice 1", "payload": {"n": 0}}))
        .await;
    assert_eq!(
        a.recv().await,
        json!({"type": "ANSWER", "src": "bob", "dst": "alice 1", "payload": {"n": 0}})
    );
    // Candidates keep their order from one sender to one recipient.
    for n in 0..60 {
        a.send_json(json!({"type": "CANDIDATE", "dst": "bob", "payload": {"n": n}}))
            .await;
    }
    for n in 0..60 {
        assert_eq!(b.recv().await["payload"]["n"], n);
    }
    // LEAVE is relayed too (the client sends it when a connection closes).
    a.send_json(json!({"type": "LEAVE", "dst": "bob", "payload": {"connectionId": "dc_1"}}))
        .await;
    assert_eq!(b.recv().await["type"], "LEAVE");
}

#[tokio::test]
async fn the_exact_heartbeat_is_answered_by_the_runtime_and_others_are_silent() {
    let s = server();
    let k = key();
    let mut a = open(s, &k, "a").await;
    a.send_text(r#"{"type":"HEARTBEAT"}"#).await;
    assert_eq!(a.recv_text().await, r#"{"type":"HEARTBEAT"}"#);
    a.send_text(r#"{ "type": "HEARTBEAT" }"#).await;
    a.expect_silence(300).await;
}

#[tokio::test]
async fn a_message_for_an_absent_peer_waits_for_it() {
    let s = server();
    let k = key();
    let mut a = open(s, &k, "a").await;
    a.send_json(json!({"type": "OFFER", "dst": "late", "payload": {"n": 1}}))
        .await;
    a.send_json(json!({"type": "CANDIDATE", "dst": "late", "payload": {"n": 2}}))
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let mut late = socket(s, &k, "late", &token(&k, "late", 0)).await;
    assert_eq!(late.recv().await, json!({"type": "OPEN"}));
    assert_eq!(late.recv().await["payload"]["n"], 1);
    assert_eq!(late.recv().await["payload"]["n"], 2);
    // And the sender is not told it expired.
    a.expect_silence(EXPIRE_MS + 1000).await;
}

#[tokio::test]
async fn a_message_for_a_peer_that_never_comes_expires_to_its_sender() {
    let s = server();
    let k = key();
    let mut a = open(s, &k, "a").await;
    let started = std::time::Instant::now();
    a.send_json(json!({"type": "OFFER", "dst": "ghost", "payload": {}}))
        .await;
    a.send_json(json!({"type": "CANDIDATE", "dst": "ghost", "payload": {}}))
        .await;
    // LEAVE and EXPIRE for an absent peer are dropped, not held.
    a.send_json(json!({"type": "LEAVE", "dst": "nobody"})).await;
    assert_eq!(
        a.recv().await,
        json!({"type": "EXPIRE", "src": "ghost", "dst": "a"})
    );
    assert!(started.elapsed().as_millis() as u64 >= EXPIRE_MS - 100);
    // One per sender, and nothing for the LEAVE.
    a.expect_silence(EXPIRE_MS + 1000).await;
    // The held messages were dropped: a later connect gets only OPEN.
    let mut ghost = open(s, &k, "ghost").await;
    ghost.expect_silence(300).await;
}

#[tokio::test]
async fn another_token_gets_id_taken_and_the_same_token_takes_over() {
    let s = server();
    let k = key();
    let mut a1 = open(s, &k, "a").await;
    let mut b = open(s, &k, "b").await;
    let mut other = socket(s, &k, "a", &token(&k, "a", 7)).await;
    assert_eq!(
        other.recv().await,
        json!({"type": "ID-TAKEN", "payload": {"msg": "ID is taken"}})
    );
    assert_eq!(other.recv_close().await, 4002);
    b.send_json(json!({"type": "OFFER", "dst": "a", "payload": 1}))
        .await;
    assert_eq!(a1.recv().await["payload"], 1);
    // The client's reconnect(): the same id and token.
    let mut a2 = socket(s, &k, "a", &token(&k, "a", 0)).await;
    assert_eq!(a2.recv().await, json!({"type": "OPEN"}));
    assert_eq!(a1.recv_close().await, 4009);
    b.send_json(json!({"type": "OFFER", "dst": "a", "payload": 2}))
        .await;
    assert_eq!(a2.recv().await["payload"], 2);
}

#[tokio::test]
async fn a_closed_peer_frees_its_id() {
    let s = server();
    let k = key();
    let a = open(s, &k, "a").await;
    a.close().await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let _again = open_with(s, &k, "a", 9).await;
}

async fn open_with(s: &Server, key: &str, id: &str, salt: u64) -> Client {
    let mut c = socket(s, key, id, &token(key, id, salt)).await;
    assert_eq!(c.recv().await, json!({"type": "OPEN"}), "{id}");
    c
}

#[tokio::test]
async fn keys_are_separate() {
    let s = server();
    let (k1, k2) = (key(), key());
    let mut a = open(s, &k1, "a").await;
    let mut b2 = open(s, &k2, "b").await;
    a.send_json(json!({"type": "OFFER", "dst": "b", "payload": {}}))
        .await;
    assert_eq!(
        a.recv().await,
        json!({"type": "EXPIRE", "src": "b", "dst": "a"})
    );
    b2.expect_silence(200).await;
    // A token for one key does not open the same id on another.
    let mut wrong = socket(s, &k2, "a", &token(&k1, "a", 0)).await;
    let (msg, code) = refused(&mut wrong).await;
    assert_eq!(code, 4003);
    assert!(msg.contains("another room"), "{msg}");
}

#[tokio::test]
async fn bad_frames_get_error_and_the_peer_carries_on() {
    let s = server();
    let k = key();
    let mut a = open(s, &k, "a").await;
    let mut b = open(s, &k, "b").await;
    for bad in [
        "not json",
        "[1,2]",
        r#"{"dst":"b"}"#,
        r#"{"type":"WHAT","dst":"b"}"#,
        r#"{"type":"OFFER","payload":{}}"#,
        r#"{"type":"OFFER","dst":"b/../x","payload":{}}"#,
        r#"{"type":"OPEN","dst":"b"}"#,
    ] {
        a.send_text(bad).await;
        let error = a.recv().await;
        assert_eq!(error["type"], "ERROR", "{bad}: {error}");
        assert!(error["payload"]["msg"]
            .as_str()
            .unwrap()
            .starts_with("Invalid message"));
    }
    b.expect_silence(200).await;
    a.send_json(json!({"type": "ANSWER", "dst": "b", "payload": "ok"}))
        .await;
    assert_eq!(b.recv().await["payload"], "ok");
}

#[tokio::test]
async fn binary_oversized_and_goodbye_close_the_socket_only() {
    let s = server();
    let k = key();
    let mut b = open(s, &k, "b").await;
    let mut a = open(s, &k, "a").await;
    a.send_binary(vec![1, 2, 3]).await;
    assert_eq!(a.recv_close().await, 1003);
    let mut a = open_with(s, &k, "a", 1).await;
    let big = json!({"type": "OFFER", "dst": "b", "payload": "x".repeat(70_000)});
    a.send_json(big).await;
    assert_eq!(a.recv_close().await, 1009);
    let mut a = open_with(s, &k, "a", 2).await;
    a.send_text(r#"{"type":"LEAVE"}"#).await;
    assert_eq!(a.recv_close().await, 1000);
    // b never heard any of it, and still works.
    b.expect_silence(200).await;
    let mut c = open(s, &k, "c").await;
    c.send_json(json!({"type": "OFFER", "dst": "b", "payload": 1}))
        .await;
    assert_eq!(b.recv().await["src"], "c");
}

#[tokio::test]
async fn bad_joins_get_error_and_a_close() {
    let s = server();
    let k = key();
    let t = token(&k, "a", 0);
    for (query, code, says) in [
        (format!("key={k}&id=a"), 1008, "No id, token, or key"),
        (format!("key={k}&token={t}"), 1008, "No id, token, or key"),
        (format!("key=a.b&id=a&token={t}"), 1008, "Invalid key"),
        (format!("key={k}&id=a%21&token={t}"), 1008, "Invalid id"),
        (format!("key={k}&id=%20a&token={t}"), 1008, "Invalid id"),
        (format!("key={k}&id=a&token=a%20b"), 1008, "Invalid token"),
        (format!("key={k}&id=a&token=unsigned"), 4003, "unauthorized"),
        (format!("key={k}&id=b&token={t}"), 4003, "another peer"),
    ] {
        let mut c = s
            .connect_path(&format!("/peerjs/peerjs?{query}"), &[("Origin", APP)])
            .await
            .map(|(c, _)| c)
            .unwrap();
        let (msg, got) = refused(&mut c).await;
        assert_eq!(got, code, "{query}: {msg}");
        assert!(msg.contains(says), "{query}: {msg}");
    }
    let mut foreign = s
        .connect_path(
            &format!("/peerjs/peerjs?key={k}&id=a&token={t}"),
            &[("Origin", "https://evil.example")],
        )
        .await
        .map(|(c, _)| c)
        .unwrap();
    let (msg, code) = refused(&mut foreign).await;
    assert_eq!(code, 1008);
    assert!(msg.contains("origin"), "{msg}");
    // None of them took the id.
    let _a = open(s, &k, "a").await;
}

#[tokio::test]
async fn http_endpoints_answer_any_origin() {
    let s = server();
    let k = key();
    let (status, id) = s.get(&format!("/peerjs/{k}/id")).unwrap();
    assert_eq!(status, 200);
    assert_eq!(id.len(), 36, "{id}");
    assert!(edge_signal::protocol::peerjs::valid_id(&id));
    let (status, other) = s.get(&format!("/peerjs/{k}/id")).unwrap();
    assert_eq!(status, 200);
    assert_ne!(id, other);
    for path in [
        format!("/peerjs/{k}/id"),
        format!("/peerjs/{k}/peers"),
        format!("/peerjs/{k}/ice-servers?id=a"),
    ] {
        let resp = match ureq::get(&s.http_url(&path)).set("Origin", APP).call() {
            Ok(resp) | Err(ureq::Error::Status(_, resp)) => resp,
            Err(e) => panic!("{path}: {e}"),
        };
        // ALLOWED_ORIGINS is set: the answer names the allowed origin, not `*`.
        assert_eq!(
            resp.header("access-control-allow-origin"),
            Some(APP),
            "{path}"
        );
        assert_eq!(resp.header("vary"), Some("Origin"), "{path}");
    }

    assert_eq!(s.get("/peerjs/peerjs").unwrap().0, 400);
    assert_eq!(s.get("/peerjs/a.b/id").unwrap().0, 400);

    // ICE servers need the peer's token on a signed deployment.
    let (status, body) = s.get(&format!("/peerjs/{k}/ice-servers?id=a")).unwrap();
    assert_eq!(status, 401, "{body}");
    let t = token(&k, "a", 0);
    let (status, body) = s
        .get(&format!("/peerjs/{k}/ice-servers?id=a&token={t}"))
        .unwrap();
    assert_eq!(status, 200, "{body}");
    let servers: Value = serde_json::from_str(&body).unwrap();
    assert!(servers["iceServers"][0]["urls"].is_string(), "{servers}");
    let (status, _) = s
        .get(&format!("/peerjs/{k}/ice-servers?id=b&token={t}"))
        .unwrap();
    assert_eq!(status, 401);
}

#[tokio::test]
async fn discovery_lists_the_connected_ids_of_a_key() {
    let s = server();
    let k = key();
    let a = open(s, &k, "a").await;
    let _b = open(s, &k, "b b").await;
    let _other_key = open(s, &key(), "c").await;
    let listed = |want: &[&str]| {
        let want: Vec<String> = want.iter().map(|s| s.to_string()).collect();
        let path = format!("/peerjs/{k}/peers");
        async move {
            for _ in 0..50 {
                let (status, body) = s.get(&path).unwrap();
                assert_eq!(status, 200, "{body}");
                let mut ids: Vec<String> = serde_json::from_str(&body).unwrap();
                ids.sort();
                if ids == want {
                    return;
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            panic!("{path} never listed {want:?}: {:?}", s.get(&path));
        }
    };
    listed(&["a", "b b"]).await;
    a.close().await;
    listed(&["b b"]).await;
}

#[tokio::test]
async fn a_peer_object_woken_from_hibernation_still_relays() {
    // Idle objects with only hibernatable sockets are evicted after the runtime's 10 s; the next
    // frame or delivery rebuilds the peer from its socket's attachment (logged `peer_restored`).
    let s = server();
    let k = key();
    let mut a = open(s, &k, "a").await;
    let mut b = open(s, &k, "b").await;
    tokio::time::sleep(std::time::Duration::from_secs(12)).await;
    a.send_json(json!({"type": "OFFER", "dst": "b", "payload": "after"}))
        .await;
    assert_eq!(b.recv().await["payload"], "after");
    b.send_json(json!({"type": "ANSWER", "dst": "a", "payload": "back"}))
        .await;
    assert_eq!(a.recv().await["payload"], "back");
    // Both objects really were evicted and rebuilt.
    for id in ["a", "b"] {
        let line = format!(r#""event":"peer_restored","room":"peerjs/{k}/{id}""#);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while s.log_count(&line) == 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "{id}'s object was never evicted and restored"
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
}

/// A takeover with the same token keeps the id's message budget (hardening, second round,
/// item 8: it used to start over with a full one, so reconnecting lifted the rate limit).
#[tokio::test]
async fn a_takeover_keeps_the_message_budget() {
    let s = server();
    let k = key();
    let mut a1 = open(s, &k, "a").await;
    // The default burst is 500 messages: spend it on messages to itself.
    let offer = json!({"type": "OFFER", "dst": "a", "payload": 0}).to_string();
    for _ in 0..500 {
        a1.send_text(offer.clone()).await;
    }
    // Every one handled (they come back to it) before the takeover.
    for _ in 0..500 {
        assert_eq!(a1.recv().await["type"], "OFFER");
    }
    let mut a2 = socket(s, &k, "a", &token(&k, "a", 0)).await;
    let mut refused = 0;
    let mut opened = false;
    for _ in 0..40 {
        a2.send_text(offer.clone()).await;
    }
    while let Some(event) = a2
        .next_event_within(std::time::Duration::from_millis(1500))
        .await
    {
        let common::Event::Text(t) = event else { break };
        let v: Value = serde_json::from_str(&t).unwrap();
        match v["type"].as_str() {
            Some("OPEN") => opened = true,
            Some("ERROR") => refused += 1,
            _ => {}
        }
    }
    assert!(opened, "the takeover was not seated");
    assert!(refused > 0, "the takeover started with a full budget");
}

/// Frames arriving within `ms`, parsed.
async fn frames_within(c: &mut Client, ms: u64) -> Vec<Value> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_millis(ms);
    let mut out = Vec::new();
    while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
        match c.next_event_within(left).await {
            Some(common::Event::Text(t)) => out.push(serde_json::from_str(&t).unwrap()),
            Some(other) => panic!("{other:?}"),
            None => break,
        }
    }
    out
}

#[tokio::test]
async fn one_sender_wakes_a_bounded_number_of_absent_ids() {
    let s = server();
    let k = key();
    let mut a = open(s, &k, "a").await;
    for i in 0..40 {
        a.send_json(json!({"type": "OFFER", "dst": format!("ghost-{i}"), "payload": {}}))
            .await;
    }
    // 32 wake their ids' objects (and expire after the expiry, one per ghost); 8 are answered
    // EXPIRE at once (the client's non-fatal peer-unavailable); the socket stays.
    let at_once = frames_within(&mut a, EXPIRE_MS / 2).await;
    let later = frames_within(&mut a, EXPIRE_MS + 2000).await;
    for f in at_once.iter().chain(&later) {
        assert_eq!(f["type"], "EXPIRE", "{f}");
    }
    assert_eq!(
        (at_once.len(), later.len()),
        (8, 32),
        "{at_once:?} {later:?}"
    );
    // An id already reached is not a wake: held, then one EXPIRE.
    a.send_json(json!({"type": "CANDIDATE", "dst": "ghost-3", "payload": {}}))
        .await;
    assert_eq!(
        a.recv().await,
        json!({"type": "EXPIRE", "src": "ghost-3", "dst": "a"})
    );
}

#[tokio::test]
async fn one_sender_parks_a_bounded_number_of_bytes() {
    let s = server();
    let k = key();
    let mut a = open(s, &k, "a").await;
    let big = "x".repeat(60 << 10);
    let started = std::time::Instant::now();
    for i in 0..6 {
        a.send_json(json!({"type": "OFFER", "dst": format!("late-{i}"), "payload": big}))
            .await;
    }
    // Four fit the 256 KiB a sender may park; the other two are not held, and come back as
    // EXPIRE at once rather than after the expiry.
    let first = a.recv().await;
    let second = a.recv().await;
    assert!(
        started.elapsed().as_millis() < EXPIRE_MS as u128,
        "{first} {second}"
    );
    let mut early = vec![first, second];
    early.sort_by_key(|f| f["src"].as_str().unwrap().to_owned());
    assert_eq!(
        early,
        vec![
            json!({"type": "EXPIRE", "src": "late-4", "dst": "a"}),
            json!({"type": "EXPIRE", "src": "late-5", "dst": "a"})
        ]
    );
    // The four held ones reach their peers when they connect.
    for i in 0..4 {
        let id = format!("late-{i}");
        let mut late = socket(s, &k, &id, &token(&k, &id, 0)).await;
        assert_eq!(late.recv().await, json!({"type": "OPEN"}));
        assert_eq!(
            late.recv().await["payload"].as_str().unwrap().len(),
            big.len()
        );
    }
    a.expect_silence(EXPIRE_MS + 500).await;
}
